/*
 * Tests of format/log.c, format/frame.c and format/logindex.c through the
 * public API: torn tails ([LOG-9]), tampering ([LOG-10]), the writer lock
 * ([LOG-12]), failed writes leaving the log unchanged ([LOG-11]), and the
 * cache files ([LOG-30]).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/error.h"
#include "attest/log.h"
#include "attest/verify.h"
#include "tests/harness.h"

static char dir[64];
static attest_signer *signer;
static attest_verifier *verifier;

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int note(attest_log *log, const char *text)
{
    char rec[256];
    snprintf(rec, sizeof rec, "{\"type\":\"note\",\"text\":\"%s\"}", text);
    return attest_log_append(log, rec, strlen(rec), NULL);
}

/* A log of `n` records (run, notes), sealed at the end when `seal`. */
static void make_log(const char *path, int n, int seal)
{
    attest_log *log;
    char name[32];
    unlink(path);
    CHECK_EQ_INT(attest_log_create(&log, path, signer, "{\"model\":\"t\"}", NULL), 0);
    for (int i = 1; i < n; i++) {
        snprintf(name, sizeof name, "record %d", i);
        CHECK_EQ_INT(note(log, name), 0);
    }
    if (seal) CHECK_EQ_INT(attest_log_seal(log, signer, NULL), 0);
    attest_log_free(log);
}

static int verify_rc(const char *path)
{
    attest_report *r = NULL;
    int rc = attest_verify_log(&r, path, verifier);
    attest_report_free(r);
    return rc;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    return (uint8_t *)harness_slurp(path, len);
}

static void write_all(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_EQ_INT(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static void remove_caches(const char *path)
{
    char p[256];
    snprintf(p, sizeof p, "%s.idx", path);
    unlink(p);
    snprintf(p, sizeof p, "%s.tree", path);
    unlink(p);
}

/* [LOG-10] Changing any byte of a sealed log never verifies. */
static void test_flip_every_byte_fails_verify(void)
{
    char path[128], copy[128];
    size_t len;
    path_in(path, sizeof path, "tamper.log");
    path_in(copy, sizeof copy, "tamper-copy.log");
    make_log(path, 6, 1);
    CHECK_EQ_INT(verify_rc(path), 0);
    uint8_t *orig = read_all(path, &len);
    CHECK(orig != NULL && len > 500);
    int passed = 0;
    for (size_t i = 0; orig && i < len; i++) {
        static const uint8_t masks[] = {0xff, 0x01, 0x80};
        for (size_t m = 0; m < sizeof masks; m++) {
            orig[i] ^= masks[m];
            write_all(copy, orig, len);
            if (verify_rc(copy) == 0) {
                printf("# flipping byte %zu with 0x%02x still verifies\n", i, masks[m]);
                passed++;
            }
            orig[i] ^= masks[m];
        }
    }
    CHECK_EQ_INT(passed, 0);
    free(orig);
}

/* Truncating the log anywhere inside its last frame is a torn tail. */
static void test_torn_tail_every_offset(void)
{
    char path[128], copy[128], torn[160];
    size_t len, len_before;
    path_in(path, sizeof path, "torn.log");
    path_in(copy, sizeof copy, "torn-copy.log");
    make_log(path, 4, 1);
    // The frame of the last record: a note appended after the seal.
    attest_log *log;
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    attest_log_free(log);
    uint8_t *before = read_all(path, &len_before);
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    CHECK_EQ_INT(note(log, "the last record, to be torn"), 0);
    attest_log_free(log);
    uint8_t *full = read_all(path, &len);
    CHECK(full && before && len > len_before);
    int bad = 0;
    for (size_t cut = len_before + 1; full && cut < len; cut++) {
        remove_caches(copy);
        write_all(copy, full, cut);
        // [LOG-9] the auditor's check refuses a torn file and says so.
        attest_report *r = NULL;
        char *text = NULL;
        if (attest_verify_log(&r, copy, verifier) != ATTEST_EVERIFY) bad++;
        attest_report_text(r, &text);
        if (!text || !strstr(text, "torn frame")) bad++;
        free(text);
        attest_report_free(r);
        // A reader ignores the torn bytes and says so.
        CHECK_EQ_INT(attest_log_open(&log, copy, ATTEST_LOG_READ), 0);
        if (attest_log_count(log) != 5 || !attest_log_notice(log) ||
            !strstr(attest_log_notice(log), "ignored"))
            bad++;
        attest_log_free(log);
        // The writer cuts them off, keeps them in a side file, and the log verifies again.
        CHECK_EQ_INT(attest_log_open(&log, copy, ATTEST_LOG_APPEND), 0);
        if (attest_log_count(log) != 5 || !attest_log_notice(log) ||
            !strstr(attest_log_notice(log), "recovered"))
            bad++;
        attest_log_free(log);
        snprintf(torn, sizeof torn, "%s.torn.%zu", copy, len_before);
        size_t tlen;
        uint8_t *saved = read_all(torn, &tlen);
        if (!saved || tlen != cut - len_before || memcmp(saved, full + len_before, tlen) != 0)
            bad++;
        free(saved);
        unlink(torn);
        struct stat st;
        if (stat(copy, &st) != 0 || (size_t)st.st_size != len_before) bad++;
        if (verify_rc(copy) != 0) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    free(full);
    free(before);
}

/* A zero-filled tail (file extended, data never written) is torn too. */
static void test_zero_tail_is_torn(void)
{
    char path[128];
    path_in(path, sizeof path, "zero.log");
    make_log(path, 3, 1);
    int fd = open(path, O_WRONLY | O_APPEND);
    uint8_t zeros[100] = {0};
    CHECK_EQ_INT(write(fd, zeros, sizeof zeros), sizeof zeros);
    close(fd);
    attest_log *log;
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    CHECK(attest_log_notice(log) && strstr(attest_log_notice(log), "zero-filled"));
    CHECK_EQ_INT(attest_log_count(log), 4);
    attest_log_free(log);
    CHECK_EQ_INT(verify_rc(path), 0);
}

/* A damaged length in the middle is corruption, never a torn tail: records after it stay. */
static void test_bad_middle_length_is_corrupt(void)
{
    char path[128];
    size_t len;
    path_in(path, sizeof path, "mid.log");
    make_log(path, 6, 1);
    uint8_t *buf = read_all(path, &len);
    // Record 1 starts after the header and record 0's frame.
    uint32_t n0 = buf[16] | buf[17] << 8 | buf[18] << 16 | (uint32_t)buf[19] << 24;
    size_t at = 16 + 12 + n0;
    buf[at + 2] = 0x01; // the length now runs past the end of the file
    write_all(path, buf, len);
    remove_caches(path);
    attest_log *log;
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), ATTEST_ECORRUPT);
    CHECK(strstr(attest_log_errmsg(log), "record 1") != NULL);
    attest_log_free(log);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (size_t)st.st_size == len);
    free(buf);
}

/* [LOG-12] Two writers: the second is refused. */
static void test_second_writer_is_locked_out(void)
{
    char path[128];
    path_in(path, sizeof path, "lock.log");
    make_log(path, 2, 0);
    attest_log *a, *b, *c;
    CHECK_EQ_INT(attest_log_open(&a, path, ATTEST_LOG_APPEND), 0);
    CHECK_EQ_INT(attest_log_open(&b, path, ATTEST_LOG_APPEND), ATTEST_ELOCKED);
    CHECK(strstr(attest_log_errmsg(b), "another process") != NULL);
    CHECK_EQ_INT(attest_log_open(&c, path, ATTEST_LOG_READ), 0);
    CHECK_EQ_INT(attest_log_count(c), 2);
    CHECK_EQ_INT(note(c, "readers cannot append"), ATTEST_EINVAL);
    attest_log_free(a);
    attest_log_free(b);
    attest_log_free(c);
}

/* [LOG-11] A write that fails (file size limit: a full disk) leaves the log as it was. */
static void test_failed_write_leaves_log_unchanged(void)
{
    char path[128];
    struct rlimit old, lim;
    struct stat st;
    path_in(path, sizeof path, "full.log");
    make_log(path, 3, 1);
    attest_log *log;
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    CHECK_EQ_INT(stat(path, &st), 0);
    off_t size = st.st_size;
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 20;
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = note(log, "this record does not fit in twenty bytes");
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ_INT(rc, ATTEST_EIO);
    CHECK(strstr(attest_log_errmsg(log), "record 4") != NULL);
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_size, size);
    CHECK_EQ_INT(attest_log_count(log), 4);
    // The handle goes on working once there is room again.
    CHECK_EQ_INT(note(log, "now it fits"), 0);
    CHECK_EQ_INT(attest_log_seal(log, signer, NULL), 0);
    attest_log_free(log);
    CHECK_EQ_INT(verify_rc(path), 0);
}

/* Checks every inclusion proof of a sealed log against its root. */
static int proofs_ok(attest_log *log, uint64_t size)
{
    uint8_t proof[64][32], root[32], leaf[32];
    size_t n, len;
    char *data;
    if (attest_log_root(log, size, root) != 0) return 0;
    for (uint64_t i = 0; i < size; i++) {
        if (attest_log_prove(log, i, size, proof, &n) != 0) return 0;
        if (attest_log_get(log, i, &data, &len) != 0) return 0;
        attest_merkle_leaf_hash(leaf, data, len);
        free(data);
        if (attest_merkle_verify_inclusion(i, size, leaf, proof[0], n, root) != 0) return 0;
    }
    return 1;
}

/* [LOG-30] The caches are rebuilt when missing, behind, or damaged. */
static void test_caches_rebuild(void)
{
    char path[128], p[160];
    uint8_t root_a[32], root_b[32];
    path_in(path, sizeof path, "cache.log");
    make_log(path, 300, 1);
    attest_log *log;
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_READ), 0);
    CHECK(attest_log_notice(log) == NULL);
    CHECK_EQ_INT(attest_log_root(log, 300, root_a), 0);
    CHECK(proofs_ok(log, 300));
    attest_log_free(log);

    remove_caches(path);
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_READ), 0);
    CHECK_EQ_INT(attest_log_count(log), 301);
    CHECK_EQ_INT(attest_log_root(log, 300, root_b), 0);
    CHECK(memcmp(root_a, root_b, 32) == 0);
    attest_log_free(log);
    snprintf(p, sizeof p, "%s.tree", path);
    CHECK(access(p, F_OK) == 0); // the reader wrote them back

    // Damage the last stored hash: the check at open notices and rebuilds.
    struct stat st;
    CHECK_EQ_INT(stat(p, &st), 0);
    int fd = open(p, O_WRONLY);
    CHECK_EQ_INT(pwrite(fd, "garbage!", 8, st.st_size - 32), 8);
    close(fd);
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_READ), 0);
    CHECK(attest_log_notice(log) && strstr(attest_log_notice(log), "rebuilt"));
    CHECK(proofs_ok(log, 300));
    attest_log_free(log);

    // Caches that lag behind (a crash before they were flushed) are caught up.
    snprintf(p, sizeof p, "%s.idx", path);
    CHECK_EQ_INT(truncate(p, 16 + 8 * 100), 0);
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    CHECK_EQ_INT(attest_log_count(log), 301);
    CHECK(proofs_ok(log, 300));
    attest_log_free(log);
}

/* Proofs from a writer handle, before and after its caches are flushed. */
static void test_proofs_large_log(void)
{
    char path[128];
    path_in(path, sizeof path, "large.log");
    make_log(path, 70000, 0);
    attest_log *log;
    uint8_t proof[128][32], r1[32], r2[32];
    size_t n;
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    CHECK_EQ_INT(attest_log_seal(log, signer, NULL), 0);
    for (uint64_t i = 0; i < 10; i++)
        CHECK_EQ_INT(note(log, "after the seal"), 0);
    uint64_t sizes[] = {1, 2, 1000, 65536, 65537, 70000, 70011};
    for (size_t a = 0; a < 7; a++) {
        for (size_t b = a; b < 7; b++) {
            CHECK_EQ_INT(attest_log_consistency(log, sizes[a], sizes[b], proof, &n), 0);
            CHECK_EQ_INT(attest_log_root(log, sizes[a], r1), 0);
            CHECK_EQ_INT(attest_log_root(log, sizes[b], r2), 0);
            CHECK_EQ_INT(attest_merkle_verify_consistency(sizes[a], sizes[b], r1, r2, proof[0], n),
                         0);
        }
        uint64_t idx = sizes[a] - 1;
        CHECK_EQ_INT(attest_log_prove(log, idx, 70011, proof, &n), 0);
    }
    attest_log_free(log);
    CHECK_EQ_INT(verify_rc(path), 0);
}

/* The writer re-checks seals on open: a seal whose root is wrong is refused. */
static void test_open_rejects_wrong_order(void)
{
    char path[128];
    size_t len;
    path_in(path, sizeof path, "order.log");
    make_log(path, 3, 1);
    attest_log *log;
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    const char *step = "{\"type\":\"step\",\"step\":1,\"batch\":[],\"batch_sha256\":"
                       "\"0000000000000000000000000000000000000000000000000000000000000000\","
                       "\"lr\":0.5,\"lr_bits\":\"3f000000\",\"loss\":1,\"loss_bits\":\"3f800000\"}";
    CHECK_EQ_INT(attest_log_append(log, step, strlen(step), NULL), ATTEST_EFORMAT);
    CHECK(strstr(attest_log_errmsg(log), "no \"init\" record before the first step") != NULL);
    CHECK(strstr(attest_log_errmsg(log), "order.log: record 4") != NULL);
    attest_log_free(log);
    uint8_t *buf = read_all(path, &len);
    CHECK(buf != NULL);
    free(buf);
}

/* A torn tail cut below what the cache lists: later appends and seals stay valid. */
static void test_torn_cut_below_cache(void)
{
    char path[128];
    size_t len;
    path_in(path, sizeof path, "tornc.log");
    make_log(path, 6, 0); // run + 5 notes, cached, unsealed
    uint8_t *buf = read_all(path, &len);
    uint32_t n0 = buf[16] | buf[17] << 8 | buf[18] << 16 | (uint32_t)buf[19] << 24;
    size_t rec1 = 16 + 12 + n0;
    uint32_t n1 =
        buf[rec1] | buf[rec1 + 1] << 8 | buf[rec1 + 2] << 16 | (uint32_t)buf[rec1 + 3] << 24;
    // Record 2 becomes the torn tail: cut the file inside it.
    write_all(path, buf, rec1 + 12 + n1 + 7);
    attest_log *log;
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    CHECK_EQ_INT(attest_log_count(log), 2);
    CHECK_EQ_INT(note(log, "after the repair"), 0);
    CHECK_EQ_INT(attest_log_seal(log, signer, NULL), 0);
    attest_log_free(log);
    CHECK_EQ_INT(verify_rc(path), 0);
    free(buf);
}

/* [LOG-9] (d): a last frame with zero bytes where data should be is torn, and recovered. */
static void test_partly_zero_last_frame(void)
{
    char path[128];
    size_t len;
    path_in(path, sizeof path, "pzero.log");
    make_log(path, 4, 1);
    attest_log *log;
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    CHECK_EQ_INT(note(log, "this record's last blocks never reached the disk"), 0);
    attest_log_free(log);
    uint8_t *buf = read_all(path, &len);
    memset(buf + len - 30, 0, 30);
    write_all(path, buf, len);
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    CHECK(attest_log_notice(log) && strstr(attest_log_notice(log), "zero bytes"));
    CHECK_EQ_INT(attest_log_count(log), 5);
    attest_log_free(log);
    CHECK_EQ_INT(verify_rc(path), 0);
    free(buf);
}

/* A cache whose offsets were swapped: get still returns the right records. */
static void test_swapped_cache_offsets(void)
{
    char path[128], p[160];
    path_in(path, sizeof path, "swap.log");
    make_log(path, 8, 1);
    snprintf(p, sizeof p, "%s.idx", path);
    int fd = open(p, O_RDWR);
    uint8_t a[8], b[8];
    CHECK_EQ_INT(pread(fd, a, 8, 16 + 8 * 3), 8);
    CHECK_EQ_INT(pread(fd, b, 8, 16 + 8 * 5), 8);
    CHECK_EQ_INT(pwrite(fd, b, 8, 16 + 8 * 3), 8);
    CHECK_EQ_INT(pwrite(fd, a, 8, 16 + 8 * 5), 8);
    close(fd);
    attest_log *log;
    char *data;
    size_t len;
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_READ), 0);
    CHECK_EQ_INT(attest_log_get(log, 3, &data, &len), 0);
    CHECK(data && strstr(data, "record 3") != NULL);
    free(data);
    attest_log_free(log);
    // The writer finds the bad entries at open and rewrites the cache from there.
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_APPEND), 0);
    CHECK(attest_log_notice(log) && strstr(attest_log_notice(log), "from record 3"));
    attest_log_free(log);
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_READ), 0);
    CHECK_EQ_INT(attest_log_get(log, 5, &data, &len), 0);
    CHECK(data && strstr(data, "record 5") != NULL);
    CHECK(attest_log_notice(log) == NULL);
    free(data);
    attest_log_free(log);
}

static void test_create_errors(void)
{
    char path[128];
    attest_log *log;
    path_in(path, sizeof path, "nodir/x.log");
    CHECK_EQ_INT(attest_log_create(&log, path, signer, NULL, NULL), ATTEST_EIO);
    CHECK(strstr(attest_log_errmsg(log), "nodir/x.log") != NULL);
    attest_log_free(log);
    path_in(path, sizeof path, "missing.log");
    CHECK_EQ_INT(attest_log_open(&log, path, ATTEST_LOG_READ), ATTEST_ENOTFOUND);
    attest_log_free(log);
    path_in(path, sizeof path, "cfg.log");
    CHECK_EQ_INT(attest_log_create(&log, path, signer, "{\"a\":1,\"a\":2}", NULL), ATTEST_EFORMAT);
    attest_log_free(log);
    CHECK(access(path, F_OK) != 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/attest-log-XXXXXX");
    if (!mkdtemp(dir)) return 2;
    if (attest_signer_generate(&signer, "example.com/unit-log") != 0) return 2;
    char *vkey;
    attest_signer_vkey(signer, &vkey);
    attest_verifier_parse(&verifier, vkey, NULL, 0);
    free(vkey);
    RUN(test_flip_every_byte_fails_verify);
    RUN(test_torn_tail_every_offset);
    RUN(test_zero_tail_is_torn);
    RUN(test_bad_middle_length_is_corrupt);
    RUN(test_second_writer_is_locked_out);
    RUN(test_failed_write_leaves_log_unchanged);
    RUN(test_caches_rebuild);
    RUN(test_proofs_large_log);
    RUN(test_open_rejects_wrong_order);
    RUN(test_create_errors);
    RUN(test_torn_cut_below_cache);
    RUN(test_partly_zero_last_frame);
    RUN(test_swapped_cache_offsets);
    attest_signer_free(signer);
    attest_verifier_free(verifier);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 2;
    HARNESS_EXIT();
}
