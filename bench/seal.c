/*
 * seal.c (bench) - what a TPM-anchored seal costs next to a plain one:
 * 100 seals of each on one log, median and worst, the TPM named by the
 * TCTI argument (bench/run starts a swtpm). Prints "name value unit".
 *
 * usage: bench-seal DIR TCTI
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/attest.h"
#include "attest/tpm.h"

#define N 100

static attest_tpm *tpm;
static attest_tpm_nv nv;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The evidence itself is what the recorder stores; its size does not change the cost. */
static int anchor(void *ctx, const uint8_t digest[32], char **evidence)
{
    attest_tpm_evidence ev;
    (void)ctx;
    *evidence = NULL;
    return attest_tpm_seal(tpm, &nv, digest, &ev, NULL, 0);
}

static void run(attest_log *log, attest_signer *s, int anchored, const char *name)
{
    double t[N];
    for (int i = 0; i < N; i++) {
        attest_log_append(log, "{\"type\":\"note\",\"text\":\"x\"}", 26, NULL);
        double t0 = now();
        if (attest_log_seal_anchored(log, s, anchored ? anchor : NULL, NULL, NULL) != 0) exit(1);
        t[i] = now() - t0;
    }
    qsort(t, N, sizeof *t, cmp);
    printf("%s_median %.3f ms\n%s_worst %.3f ms\n", name, t[N / 2] * 1e3, name, t[N - 1] * 1e3);
}

int main(int argc, char **argv)
{
    char path[512], err[400];
    if (argc != 3) return fprintf(stderr, "usage: %s DIR TCTI\n", argv[0]), 2;
    snprintf(path, sizeof path, "%s/seal.log", argv[1]);
    remove(path);
    attest_signer *s;
    attest_log *log;
    attest_tpm_key ak;
    uint8_t run_id[16] = {1, 2, 3};
    if (attest_signer_generate(&s, "example.com/bench-seal") != 0 ||
        attest_log_create(&log, path, s, NULL, NULL) != 0)
        return 1;
    if (attest_tpm_open(&tpm, argv[2], err, sizeof err) != 0 ||
        attest_tpm_ak(tpm, &ak, err, sizeof err) != 0 ||
        attest_tpm_define(tpm, run_id, &nv, err, sizeof err) != 0)
        return fprintf(stderr, "tpm: %s\n", err), 1;
    run(log, s, 0, "seal_plain");
    run(log, s, 1, "seal_tpm_anchored");
    attest_tpm_free(tpm);
    attest_log_free(log);
    attest_signer_free(s);
    return 0;
}
