/*
 * checkpoint.c (bench) - recording a large safetensors checkpoint (whole
 * file + per-tensor SHA-256) and how long the training thread is blocked
 * by each record call. Prints "name value unit" lines; bench/run sets the
 * recording time beside openssl, sha256sum and b3sum on the same file.
 *
 * usage: bench-checkpoint DIR MIB THREADS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/attest.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR MIB THREADS\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    size_t mib = strtoul(argv[2], NULL, 10), per = 32u << 20, n = mib / 32;
    unsigned threads = (unsigned)strtoul(argv[3], NULL, 10);
    char ckpt[512], log[512], key[512], err[256], *msg = NULL;
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
    snprintf(log, sizeof log, "%s/bench.log", dir);
    snprintf(key, sizeof key, "%s/bench.key", dir);

    // n tensors of 32 MiB, distinct contents.
    uint8_t *data = malloc(per * 2);
    attest_tensor_view *t = calloc(n, sizeof *t);
    char(*names)[48] = calloc(n, 48);
    uint64_t shape[2] = {per / 4 / 1024, 1024};
    if (!data || !t || !names) return 1;
    for (size_t i = 0; i < per * 2; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 24);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], 48, "layers.%zu.weight", i);
        t[i] = (attest_tensor_view){names[i], "F32", 2, shape, data + (i % 64) * (per / 64), per};
    }
    if (attest_safetensors_write(ckpt, t, n, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "write: %s\n", err);
        return 1;
    }
    printf("checkpoint_file %s path\n", ckpt);

    attest_signer *s;
    if (attest_signer_generate(&s, "example.com/bench") != 0 || attest_signer_save(s, key, NULL, 0))
        return 1;
    attest_signer_free(s);
    attest_run_options opts = ATTEST_RUN_OPTIONS_INIT;
    opts.hash_threads = threads;
    attest_run *run;
    remove(log);
    if (attest_run_open(&run, log, key, NULL, &opts, &msg) != 0) {
        fprintf(stderr, "open: %s\n", msg);
        return 1;
    }
    attest_run_flush(run);

    // Warm the page cache as the peers will find it: the file was just written.
    uint8_t d[32];
    attest_sha256_file(ckpt, 0, UINT64_MAX, d, NULL, NULL, 0);
    double t0 = now();
    attest_run_checkpoint(run, 0, ckpt, 0);
    double call = now() - t0;
    attest_run_flush(run);
    double total = now() - t0;
    printf("checkpoint_record_seconds %.3f s\n", total);
    printf("checkpoint_call_blocked %.3f ms\n", call * 1e3);

    // Step calls: a 128 KiB batch copied for hashing, as a loop would report it.
    attest_sample_ref ref = {0, 0, 65536};
    attest_step st = ATTEST_STEP_INIT;
    double worst = 0, sum = 0;
    int over = 0;
    attest_run_shard_buffer(run, 0, "shard", data, per, ATTEST_LAYOUT_TOKENS_U16LE);
    attest_run_init(run, 1, "bench", NULL, 0, 0, NULL);
    for (int i = 1; i <= 1000; i++) {
        st.step = (uint64_t)i;
        st.refs = &ref;
        st.n_refs = 1;
        st.batch = data + (size_t)i * 1024;
        st.batch_len = 128u << 10;
        st.lr = 1e-3;
        st.loss = 2.0 / i;
        t0 = now();
        attest_run_step(run, &st);
        double dt = now() - t0;
        sum += dt;
        if (dt > worst) worst = dt;
        over += dt > 1e-3;
    }
    printf("step_call_blocked_mean %.4f ms\n", sum / 1000 * 1e3);
    printf("step_call_blocked_worst %.4f ms\n", worst * 1e3);
    printf("step_calls_over_1ms %d of 1000\n", over);
    // The peer: the same loop hashing the same bytes directly (this machine's noise floor).
    worst = sum = 0;
    over = 0;
    for (int i = 1; i <= 1000; i++) {
        t0 = now();
        attest_sha256(data + (size_t)i * 1024, 128u << 10, d);
        double dt = now() - t0;
        sum += dt;
        if (dt > worst) worst = dt;
        over += dt > 1e-3;
    }
    printf("plain_sha256_128k_mean %.4f ms\n", sum / 1000 * 1e3);
    printf("plain_sha256_128k_worst %.4f ms\n", worst * 1e3);
    printf("plain_sha256_128k_over_1ms %d of 1000\n", over);
    int rc = attest_run_close(run, err, sizeof err, NULL);
    if (rc) fprintf(stderr, "close: %s\n", err);
    free(data);
    free(t);
    free(names);
    return rc ? 1 : 0;
}
