/*
 * Tests of the recorder (attest/run.c, pool.c, shard.c, digest.c): facts in
 * reporting order whatever their hashing time, failures that never stop the
 * process, seals by count and by time, the memory bound, digests equal to
 * sha256sum's, zstd shards, sample counts, resumed runs.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zstd.h>

#include "attest/attest.h"
#include "tests/harness.h"

static char dir[64], keyp[128], pubp[128];

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, len, f) == len);
    if (f) fclose(f);
}

/* The log's records as one JSON array (through the public API). */
static json_t *records(const char *log_path)
{
    attest_log *log;
    json_t *all = json_array();
    if (attest_log_open(&log, log_path, ATTEST_LOG_READ) != 0) {
        printf("# open %s: %s\n", log_path, attest_log_errmsg(log));
        attest_log_free(log);
        return all;
    }
    for (uint64_t i = 0; i < attest_log_count(log); i++) {
        char *data;
        size_t len;
        if (attest_log_get(log, i, &data, &len) != 0) break;
        json_array_append_new(all, json_loadb(data, len, 0, NULL));
        free(data);
    }
    attest_log_free(log);
    return all;
}

static const char *type_at(json_t *recs, size_t i)
{
    return json_string_value(json_object_get(json_array_get(recs, i), "type"));
}

static int verifies(const char *log_path)
{
    attest_verifier *v;
    attest_report *r = NULL;
    if (attest_verifier_load(&v, pubp, NULL, 0) != 0) return 0;
    int rc = attest_verify_log(&r, log_path, v);
    if (rc) {
        char *text = NULL;
        attest_report_text(r, &text);
        printf("# %s", text ? text : "?");
        free(text);
    }
    attest_report_free(r);
    attest_verifier_free(v);
    return rc == 0;
}

static attest_run *open_run(const char *name, attest_run_options *opts)
{
    char log[128], *err = NULL;
    attest_run *run = NULL;
    path_in(log, sizeof log, name);
    unlink(log);
    int rc = attest_run_open(&run, log, keyp, "{\"model\":\"test\"}", opts, &err);
    if (rc) printf("# attest_run_open: %s\n", err ? err : "?");
    free(err);
    return run;
}

static char *sha256sum(const char *path, char out[65])
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    out[0] = '\0';
    if (p) {
        if (fscanf(p, "%64s", out) != 1) out[0] = '\0';
        pclose(p);
    }
    return out;
}

/* A slow checkpoint followed by quick notes: the log keeps the reporting order. */
static void test_order_is_reporting_order(void)
{
    char ckpt[128], log[128];
    path_in(ckpt, sizeof ckpt, "big.safetensors");
    size_t n = 48u << 20;
    uint8_t *big = malloc(n);
    CHECK(big != NULL);
    if (!big) return;
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 31 + (i >> 13));
    uint64_t shape[2] = {n / 8, 2};
    attest_tensor_view t[2] = {{"a", "F32", 2, shape, big, n}, {"b", "U8", 1, shape, big, n / 8}};
    CHECK_EQ_INT(attest_safetensors_write(ckpt, t, 2, NULL, NULL, 0), 0);
    attest_run *run = open_run("order.log", NULL);
    CHECK(run != NULL);
    if (!run) return;
    CHECK_EQ_INT(attest_run_checkpoint(run, 0, ckpt, 0), 0);
    for (int i = 0; i < 50; i++) {
        char text[32];
        snprintf(text, sizeof text, "note %d", i);
        CHECK_EQ_INT(attest_run_note(run, text), 0);
    }
    CHECK_EQ_INT(attest_run_close(run, NULL, 0, NULL), 0);
    path_in(log, sizeof log, "order.log");
    json_t *recs = records(log);
    CHECK_STR(type_at(recs, 1), "checkpoint");
    for (int i = 0; i < 50; i++) {
        char text[32];
        snprintf(text, sizeof text, "note %d", i);
        CHECK_STR(json_string_value(json_object_get(json_array_get(recs, (size_t)i + 2), "text")),
                  text);
    }
    // Digests: the file's is sha256sum's; each tensor's is that of its bytes.
    json_t *cp = json_array_get(recs, 1);
    char want[65], hex[65];
    uint8_t d[32];
    CHECK_STR(json_string_value(json_object_get(cp, "sha256")), sha256sum(ckpt, want));
    CHECK_EQ_INT(json_integer_value(json_object_get(cp, "size")) > (json_int_t)n, 1);
    json_t *tensors = json_object_get(cp, "tensors");
    CHECK_EQ_INT(json_array_size(tensors), 2);
    attest_sha256(big, n, d);
    attest_sha256_hex(d, hex);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tensors, 0), "sha256")), hex);
    attest_sha256(big, n / 8, d);
    attest_sha256_hex(d, hex);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tensors, 1), "sha256")), hex);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tensors, 1), "dtype")), "U8");
    CHECK_STR(type_at(recs, json_array_size(recs) - 1), "seal");
    json_decref(recs);
    CHECK(verifies(log));
    free(big);
    unlink(ckpt);
}

/* A fact that fails (missing file) is reported; the ones after it are recorded. */
static void test_failures_are_reported_not_fatal(void)
{
    char log[128];
    char msg[640];
    uint64_t failed;
    attest_run *run = open_run("fail.log", NULL);
    CHECK(run != NULL);
    if (!run) return;
    CHECK_EQ_INT(attest_run_shard_file(run, 0, "/nonexistent/shard.bin", NULL, ATTEST_LAYOUT_BYTES),
                 0);
    CHECK_EQ_INT(attest_run_note(run, "after the failure"), 0);
    CHECK_EQ_INT(attest_run_flush(run), ATTEST_ENOTFOUND);
    CHECK_EQ_INT(attest_run_status(run, msg, sizeof msg, &failed), ATTEST_ENOTFOUND);
    CHECK(strstr(msg, "shard 0") && strstr(msg, "/nonexistent/shard.bin"));
    CHECK_EQ_INT(failed, 1);
    // Invalid arguments are refused at once.
    CHECK_EQ_INT(attest_run_shard_file(run, 1, "x", NULL, (enum attest_layout)9), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_run_note(run, ""), ATTEST_EINVAL);
    attest_step s = ATTEST_STEP_INIT;
    CHECK_EQ_INT(attest_run_step(run, &s), ATTEST_EINVAL); // no batch, no digest
    uint8_t some[4] = {0};
    s.batch = some;
    s.batch_len = sizeof some;
    s.batch_sha256 = some;
    CHECK_EQ_INT(attest_run_step(run, &s), ATTEST_EINVAL); // both
    s.batch = NULL;
    // A step on a shard that never made it into the log: refused by the log's rules.
    uint8_t zero[32] = {0};
    attest_sample_ref ref = {0, 0, 1};
    CHECK_EQ_INT(attest_run_init(run, 1, "x", NULL, 0, 0, NULL), 0);
    s.step = 1;
    s.refs = &ref;
    s.n_refs = 1;
    s.batch_sha256 = zero;
    CHECK_EQ_INT(attest_run_step(run, &s), 0);
    attest_run_flush(run);
    attest_run_status(run, msg, sizeof msg, &failed);
    CHECK_EQ_INT(failed, 2);
    char err[640];
    CHECK_EQ_INT(attest_run_close(run, err, sizeof err, &failed), ATTEST_ENOTFOUND);
    CHECK(strstr(err, "/nonexistent/shard.bin") != NULL);
    CHECK_EQ_INT(failed, 2);
    path_in(log, sizeof log, "fail.log");
    json_t *recs = records(log);
    CHECK_STR(type_at(recs, 1), "note");
    CHECK_STR(type_at(recs, 2), "init");
    json_decref(recs);
    CHECK(verifies(log));
}

/* A full disk (here: a file size limit) fails appends; the process lives on. */
static void test_full_disk(void)
{
    char log[128];
    struct rlimit old, lim;
    struct stat st;
    attest_run *run = open_run("full.log", NULL);
    CHECK(run != NULL);
    if (!run) return;
    attest_run_flush(run);
    path_in(log, sizeof log, "full.log");
    CHECK_EQ_INT(stat(log, &st), 0);
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size + 200;
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(attest_run_note(run, "filling the disk up"), 0);
    char msg[640];
    uint64_t failed;
    CHECK_EQ_INT(attest_run_flush(run), ATTEST_EIO);
    attest_run_status(run, msg, sizeof msg, &failed);
    CHECK(strstr(msg, "note") && strstr(msg, "appending record"));
    CHECK(failed > 10);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ_INT(attest_run_note(run, "room again"), 0);
    attest_run_close(run, NULL, 0, NULL);
    json_t *recs = records(log);
    CHECK_STR(
        json_string_value(json_object_get(json_array_get(recs, json_array_size(recs) - 2), "text")),
        "room again");
    json_decref(recs);
    CHECK(verifies(log));
}

static void test_seal_by_count_and_time(void)
{
    char log[128];
    attest_run_options opts = ATTEST_RUN_OPTIONS_INIT;
    opts.seal_every_records = 3;
    attest_run *run = open_run("count.log", &opts);
    CHECK(run != NULL);
    if (!run) return;
    for (int i = 0; i < 7; i++)
        attest_run_note(run, "n");
    attest_run_close(run, NULL, 0, NULL);
    path_in(log, sizeof log, "count.log");
    json_t *recs = records(log);
    // A seal after every 3 records the run appended: run, n, n, n, seal, n, n, n, seal, n, seal.
    CHECK_STR(type_at(recs, 4), "seal");
    CHECK_STR(type_at(recs, 8), "seal");
    CHECK_EQ_INT(json_array_size(recs), 11);
    CHECK_STR(type_at(recs, json_array_size(recs) - 1), "seal");
    json_decref(recs);
    CHECK(verifies(log));

    attest_run_options timed = ATTEST_RUN_OPTIONS_INIT;
    timed.seal_every_seconds = 0.2;
    run = open_run("time.log", &timed);
    CHECK(run != NULL);
    if (!run) return;
    attest_run_note(run, "then nothing for a while");
    usleep(600 * 1000);
    path_in(log, sizeof log, "time.log");
    json_t *mid = records(log);
    CHECK_STR(type_at(mid, 2), "seal"); // sealed by the timer, with no call
    json_decref(mid);
    attest_run_close(run, NULL, 0, NULL);
}

/* Buffers larger than the bound in total still all get recorded, in order. */
static void test_memory_bound(void)
{
    char log[128], hex[65];
    uint8_t d[32];
    attest_run_options opts = ATTEST_RUN_OPTIONS_INIT;
    opts.memory_bound = 1u << 20;
    attest_run *run = open_run("mem.log", &opts);
    CHECK(run != NULL);
    if (!run) return;
    size_t n = 600u << 10;
    uint8_t *buf = malloc(n);
    for (int k = 0; k < 8; k++) {
        memset(buf, k, n);
        char name[32];
        snprintf(name, sizeof name, "buf-%d", k);
        CHECK_EQ_INT(
            attest_run_shard_buffer(run, (uint64_t)k, name, buf, n, ATTEST_LAYOUT_TOKENS_U32LE), 0);
    }
    CHECK_EQ_INT(attest_run_close(run, NULL, 0, NULL), 0);
    path_in(log, sizeof log, "mem.log");
    json_t *recs = records(log);
    for (int k = 0; k < 8; k++) {
        json_t *r = json_array_get(recs, (size_t)k + 1);
        memset(buf, k, n);
        attest_sha256(buf, n, d);
        attest_sha256_hex(d, hex);
        CHECK_STR(json_string_value(json_object_get(r, "sha256")), hex);
        CHECK_EQ_INT(json_integer_value(json_object_get(r, "samples")), n / 4);
        CHECK_EQ_INT(json_integer_value(json_object_get(r, "id")), k);
    }
    json_decref(recs);
    free(buf);
}

static void test_shards_zstd_and_layouts(void)
{
    char log[128], raw[128], zst[128], jl[128], odd[128], want[65], hex[65];
    uint8_t d[32];
    path_in(raw, sizeof raw, "text.jsonl");
    path_in(zst, sizeof zst, "text.jsonl.zst");
    path_in(jl, sizeof jl, "open.jsonl");
    path_in(odd, sizeof odd, "odd.bin");
    const char *text = "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n";
    write_file(raw, text, strlen(text));
    write_file(jl, "{}\n{}", 5);
    write_file(odd, "abc", 3);
    size_t cap = ZSTD_compressBound(strlen(text));
    void *comp = malloc(cap);
    size_t clen = ZSTD_compress(comp, cap, text, strlen(text), 3);
    CHECK(!ZSTD_isError(clen));
    write_file(zst, comp, clen);
    free(comp);
    attest_run *run = open_run("shards.log", NULL);
    CHECK(run != NULL);
    if (!run) return;
    attest_run_shard_file(run, 0, raw, NULL, ATTEST_LAYOUT_JSONL);
    attest_run_shard_file(run, 1, zst, "text.zst", ATTEST_LAYOUT_JSONL);
    attest_run_shard_file(run, 2, jl, NULL, ATTEST_LAYOUT_JSONL);
    attest_run_shard_file(run, 3, odd, NULL, ATTEST_LAYOUT_TOKENS_U16LE);
    char msg[640];
    attest_run_flush(run);
    CHECK_EQ_INT(attest_run_status(run, msg, sizeof msg, NULL), ATTEST_EFORMAT);
    CHECK(strstr(msg, "3 bytes is not a whole number of tokens-u16le samples") != NULL);
    attest_run_close(run, NULL, 0, NULL);
    path_in(log, sizeof log, "shards.log");
    json_t *recs = records(log);
    json_t *a = json_array_get(recs, 1), *z = json_array_get(recs, 2), *o = json_array_get(recs, 3);
    CHECK_STR(json_string_value(json_object_get(a, "name")), "text.jsonl");
    CHECK_STR(json_string_value(json_object_get(a, "sha256")), sha256sum(raw, want));
    CHECK_EQ_INT(json_integer_value(json_object_get(a, "samples")), 3);
    CHECK(json_object_get(a, "compression") == NULL);
    CHECK_STR(json_string_value(json_object_get(z, "sha256")), sha256sum(zst, want));
    CHECK_STR(json_string_value(json_object_get(z, "compression")), "zstd");
    attest_sha256(text, strlen(text), d);
    attest_sha256_hex(d, hex);
    CHECK_STR(json_string_value(json_object_get(z, "content_sha256")), hex);
    CHECK_EQ_INT(json_integer_value(json_object_get(z, "content_size")), strlen(text));
    CHECK_EQ_INT(json_integer_value(json_object_get(z, "samples")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "samples")), 2); // no final newline
    CHECK_EQ_INT(json_array_size(recs), 5);                             // run, 3 shards, seal
    json_decref(recs);
}

/* A run reopened on its log goes on; a run with another key is refused. */
static void test_resume_and_wrong_key(void)
{
    char log[128], other[128], *err = NULL;
    attest_run *run = open_run("resume.log", NULL);
    CHECK(run != NULL);
    if (!run) return;
    attest_run_note(run, "first session");
    attest_run_close(run, NULL, 0, NULL);
    path_in(log, sizeof log, "resume.log");
    CHECK_EQ_INT(attest_run_open(&run, log, keyp, NULL, NULL, &err), 0);
    attest_run_note(run, "resumed after a node failure");
    CHECK_EQ_INT(attest_run_close(run, NULL, 0, NULL), 0);
    json_t *recs = records(log);
    CHECK_EQ_INT(json_array_size(recs), 5); // run, note, seal, note, seal
    json_decref(recs);
    CHECK(verifies(log));

    attest_signer *s;
    path_in(other, sizeof other, "other.key");
    attest_signer_generate(&s, "example.com/run-test");
    attest_signer_save(s, other, NULL, 0);
    attest_signer_free(s);
    CHECK_EQ_INT(attest_run_open(&run, log, other, NULL, NULL, &err), ATTEST_EINVAL);
    CHECK(run == NULL && err && strstr(err, "is not this log's key"));
    free(err);
    CHECK_EQ_INT(attest_run_open(&run, "/nonexistent/dir/x.log", keyp, NULL, NULL, &err),
                 ATTEST_EIO);
    CHECK(err && strstr(err, "/nonexistent/dir/x.log"));
    free(err);
    attest_run_options only_new = ATTEST_RUN_OPTIONS_INIT;
    only_new.flags = ATTEST_RUN_NEW;
    CHECK_EQ_INT(attest_run_open(&run, log, keyp, NULL, &only_new, &err), ATTEST_EEXIST);
    CHECK(err && strstr(err, "already exists"));
    free(err);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/attest-run-XXXXXX");
    if (!mkdtemp(dir)) return 2;
    attest_signer *s;
    char *vkey;
    path_in(keyp, sizeof keyp, "run.key");
    path_in(pubp, sizeof pubp, "run.pub");
    if (attest_signer_generate(&s, "example.com/run-test") != 0 ||
        attest_signer_save(s, keyp, NULL, 0) != 0 || attest_signer_vkey(s, &vkey) != 0)
        return 2;
    write_file(pubp, vkey, strlen(vkey));
    free(vkey);
    attest_signer_free(s);
    RUN(test_order_is_reporting_order);
    RUN(test_failures_are_reported_not_fatal);
    RUN(test_full_disk);
    RUN(test_seal_by_count_and_time);
    RUN(test_memory_bound);
    RUN(test_shards_zstd_and_layouts);
    RUN(test_resume_and_wrong_key);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 2;
    HARNESS_EXIT();
}
