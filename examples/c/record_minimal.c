/*
 * record_minimal.c - the smallest instrumented "training loop": records a
 * shard, the init, a few steps and a checkpoint, seals, and checks that
 * the recorder reported no failure. Build: cc record_minimal.c
 * $(pkg-config --cflags --libs attest). Run: record_minimal DIR
 * (DIR/run.key must exist: attest keygen example.com/minimal -o DIR/run).
 */
#include <stdio.h>
#include <string.h>

#include <attest/attest.h>

int main(int argc, char **argv)
{
    char log[512], key[512], shard[512], ckpt[512], msg[512], *err = NULL;
    if (argc != 2) return fprintf(stderr, "usage: %s DIR\n", argv[0]), 2;
    snprintf(log, sizeof log, "%s/run.log", argv[1]);
    snprintf(key, sizeof key, "%s/run.key", argv[1]);
    snprintf(shard, sizeof shard, "%s/shard.bin", argv[1]);
    snprintf(ckpt, sizeof ckpt, "%s/step-3.safetensors", argv[1]);

    unsigned char data[4096];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7);
    FILE *f = fopen(shard, "wb");
    if (!f || fwrite(data, 1, sizeof data, f) != sizeof data || fclose(f)) return 2;

    attest_run_options opts = ATTEST_RUN_OPTIONS_INIT;
    opts.seal_every_records = 4;
    attest_run *run;
    if (attest_run_open(&run, log, key, "{\"model\":\"minimal\"}", &opts, &err) != 0)
        return fprintf(stderr, "attest: %s\n", err), 1;

    attest_run_shard_file(run, 0, shard, "shard.bin", ATTEST_LAYOUT_BYTES);
    attest_run_init(run, 42, "minimal/1", NULL, 1, 7, NULL);
    float w = 1.0f;
    for (uint64_t s = 1; s <= 3; s++) {
        attest_sample_ref ref = {0, (s - 1) * 64, 64};
        attest_step step = ATTEST_STEP_INIT;
        step.step = s;
        step.refs = &ref;
        step.n_refs = 1;
        step.batch = data + ref.first;
        step.batch_len = (size_t)ref.count;
        step.lr = 0.1;
        step.loss = (double)(w * w);
        attest_run_step(run, &step);
        w -= 0.1f * 2 * w;
    }
    uint64_t shape[1] = {1};
    attest_tensor_view t = {"w", "F32", 1, shape, &w, sizeof w};
    if (attest_safetensors_write(ckpt, &t, 1, NULL, NULL, 0) != 0) return 2;
    attest_run_checkpoint(run, 3, ckpt, 0);
    attest_run_end(run, "finished");

    int rc = attest_run_close(run, msg, sizeof msg, NULL);
    if (rc)
        fprintf(stderr, "attest: %s\n", msg);
    else
        printf("recorded %s\n", log);
    return rc ? 1 : 0;
}
