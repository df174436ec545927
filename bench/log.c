/*
 * log.c (bench) - throughput of the log: appends without fsync, appends
 * with a seal every 1000 records, the auditor's full verify, and the
 * latency of inclusion and consistency proofs on a large log. Prints one
 * "name value unit" line per figure; bench/run sets them beside sha256sum.
 *
 * usage: bench-log DIR RECORDS PROOF_RECORDS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/error.h"
#include "attest/log.h"
#include "attest/verify.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A realistic step record: about 330 bytes. */
static int step_record(char *buf, size_t n, uint64_t step)
{
    return snprintf(
        buf, n,
        "{\"type\":\"step\",\"step\":%llu,\"batch\":[[0,%llu,64]],\"batch_sha256\":"
        "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","
        "\"lr\":0.0003,\"lr_bits\":\"3f33a92a30553261\",\"loss\":"
        "2.5,\"loss_bits\":\"4004000000000000\",\"time\":\"2026-11-26T08:00:00.000000Z\"}",
        (unsigned long long)step, (unsigned long long)(step % 1000) * 64);
}

static const char *prelude[] = {
    "{\"type\":\"init\",\"seed\":1,\"initializer\":\"bench\"}",
    "{\"type\":\"shard\",\"id\":0,\"name\":\"s\",\"size\":128000,\"sha256\":"
    "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\",\"layout\":"
    "\"tokens-u16le\",\"samples\":64000}",
    NULL};

static int fill(const char *path, attest_signer *s, uint64_t records, uint64_t seal_every,
                double *seconds)
{
    attest_log *log;
    char rec[512];
    remove(path);
    if (attest_log_create(&log, path, s, "{}", NULL) != 0) {
        fprintf(stderr, "create: %s\n", attest_log_errmsg(log));
        return 1;
    }
    for (int i = 0; prelude[i]; i++)
        attest_log_append(log, prelude[i], strlen(prelude[i]), NULL);
    double t0 = now();
    for (uint64_t i = 1; attest_log_count(log) < records; i++) {
        int n = step_record(rec, sizeof rec, i);
        if (attest_log_append(log, rec, (size_t)n, NULL) != 0) {
            fprintf(stderr, "append: %s\n", attest_log_errmsg(log));
            return 1;
        }
        if (seal_every && attest_log_count(log) % seal_every == 0 &&
            attest_log_seal(log, s, NULL) != 0) {
            fprintf(stderr, "seal: %s\n", attest_log_errmsg(log));
            return 1;
        }
    }
    if (attest_log_seal(log, s, NULL) != 0) return 1;
    attest_log_free(log);
    *seconds = now() - t0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR RECORDS PROOF_RECORDS\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    uint64_t records = strtoull(argv[2], NULL, 10), big = strtoull(argv[3], NULL, 10);
    char plain[512], sealed[512], large[512];
    snprintf(plain, sizeof plain, "%s/plain.log", dir);
    snprintf(sealed, sizeof sealed, "%s/sealed.log", dir);
    snprintf(large, sizeof large, "%s/large.log", dir);
    attest_signer *s;
    attest_verifier *v;
    char *vkey;
    double t;
    if (attest_signer_generate(&s, "example.com/bench") != 0) return 1;
    attest_signer_vkey(s, &vkey);
    attest_verifier_parse(&v, vkey, NULL, 0);
    free(vkey);

    if (fill(plain, s, records, 0, &t)) return 1;
    printf("append_unsynced %.0f records/s\n", (double)records / t);
    if (fill(sealed, s, records, 1000, &t)) return 1;
    printf("append_seal_every_1000 %.0f records/s\n", (double)records / t);

    attest_report *r;
    double t0 = now();
    int rc = attest_verify_log(&r, plain, v);
    t = now() - t0;
    attest_report_free(r);
    if (rc) return 1;
    printf("verify_seconds %.3f s\n", t);
    printf("verify_file %s path\n", plain);

    // Proof latency on a large log: open (caches present) plus one proof.
    if (fill(large, s, big, 0, &t)) return 1;
    printf("large_log_records %llu records\n", (unsigned long long)big);
    uint8_t proof[128][32];
    size_t n;
    double worst = 0, total = 0;
    srand(1);
    for (int i = 0; i < 200; i++) {
        attest_log *log;
        uint64_t idx = ((uint64_t)rand() << 31 | (uint64_t)rand()) % big;
        t0 = now();
        if (attest_log_open(&log, large, ATTEST_LOG_READ) != 0 ||
            attest_log_prove(log, idx, big, proof, &n) != 0 ||
            attest_log_consistency(log, idx + 1, big, proof, &n) != 0) {
            fprintf(stderr, "prove: %s\n", attest_log_errmsg(log));
            return 1;
        }
        attest_log_free(log);
        t = now() - t0;
        total += t;
        if (t > worst) worst = t;
    }
    printf("open_and_prove_mean %.3f ms\n", total / 200 * 1e3);
    printf("open_and_prove_worst %.3f ms\n", worst * 1e3);
    attest_signer_free(s);
    attest_verifier_free(v);
    return 0;
}
