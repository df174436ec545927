/*
 * verify.c - `attest verify LOG --pub PREFIX.pub [--json] [--replay N ...]`:
 * prints the verdict of attest_verify_log_ex and exits 0 (verified), 1
 * (failed) or 2 (could not check).
 */
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/error.h"
#include "attest/verify.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: attest verify LOG --pub PREFIX.pub [--json] [--tpm-ca CA.pem ...]\n"
    "                     [--enrollment-key AUDITOR.pub]\n"
    "                     [--replay N|all [--nonce HEX] [--data DIR] [--checkpoints DIR]\n"
    "                      [--threads T] [--external-replay [--code DIR]\n"
    "                      [--replay-timeout SECONDS]] [--quiet]]\n"
    "\n"
    "Checks LOG from its first byte to its last without trusting any cache:\n"
    "frames and checksums, every record's schema and order rules, that the run\n"
    "record holds the key in PREFIX.pub, every seal's signature and its root\n"
    "against the tree recomputed from the records before it. Records after the\n"
    "last seal are reported as unsealed. --json prints the report as JSON.\n"
    "Seals anchored in a TPM are checked too (certifications, AK signature,\n"
    "extend chain, counter, clock). --tpm-ca (repeatable): the EK certificate\n"
    "recorded in the log must chain to these CA certificates. --enrollment-key:\n"
    "the AK must carry an enrollment signed by this key (attest tpm enroll).\n"
    "\n"
    "--replay N re-executes training (verify/REPLAY.md): every shard and\n"
    "checkpoint file is checked against the log (--data, --checkpoints: default\n"
    "LOG's directory /data and /checkpoints), the initial weights are\n"
    "regenerated from the committed seed, then segments between checkpoints are\n"
    "replayed: the first, N drawn from SHA-256(last seal || nonce) (--nonce: the\n"
    "auditor's hex nonce, so the prover could not predict the draw), and the\n"
    "max(1, ceil(N/2)) with the largest weight updates (`all`: every segment).\n"
    "Runs of"
    "the built-in engine replay bit for bit on --threads T (default 1; the\n"
    "result never depends on it). A run that names its own replay command is\n"
    "replayed only with --external-replay (the command is the prover's code;\n"
    "--code DIR is that code for {code}; --replay-timeout per call, default\n"
    "600). Progress goes to stderr unless --quiet.\n"
    "Exit status: 0 verified, 1 failed, 2 could not check.\n";

static void progress(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "attest verify: %s\n", line);
}

static int hex_nonce(const char *hex, uint8_t **out, size_t *len)
{
    size_t n = strlen(hex);
    if (!n || n % 2 || n > 1024 || strspn(hex, "0123456789abcdefABCDEF") != n) return -1;
    if (!(*out = malloc(n / 2))) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        (*out)[i] = (uint8_t)v;
    }
    *len = n / 2;
    return 0;
}

/* DIR/name beside the log, malloc'd. */
static char *beside(const char *log, const char *name)
{
    char *copy = strdup(log), *out = NULL;
    if (copy) {
        const char *dir = dirname(copy);
        size_t n = strlen(dir) + strlen(name) + 2;
        if ((out = malloc(n)) != NULL) snprintf(out, n, "%s/%s", dir, name);
    }
    free(copy);
    return out;
}

int cmd_verify(int argc, char **argv)
{
    const char *path = NULL, *pub = NULL, *enroll = NULL;
    const char *cas[16];
    size_t n_cas = 0;
    int json = 0, quiet = 0, replay = 0;
    attest_replay_options ro = {0};
    const char *nonce = NULL;
    char *data_dir = NULL, *ckpt_dir = NULL;
    uint64_t v;
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pub") == 0 && i + 1 < argc)
            pub = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--tpm-ca") == 0 && i + 1 < argc && n_cas < 16)
            cas[n_cas++] = argv[++i];
        else if (strcmp(argv[i], "--enrollment-key") == 0 && i + 1 < argc)
            enroll = argv[++i];
        else if (strcmp(argv[i], "--replay") == 0 && i + 1 < argc) {
            replay = 1;
            if (strcmp(argv[++i], "all") == 0)
                ro.segments = UINT64_MAX;
            else if (cli_u64(argv[i], &ro.segments) != 0)
                return cli_usage(usage, "--replay takes a number of segments or \"all\"");
        } else if (strcmp(argv[i], "--nonce") == 0 && i + 1 < argc)
            nonce = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            ro.data_dir = argv[++i];
        else if (strcmp(argv[i], "--checkpoints") == 0 && i + 1 < argc)
            ro.checkpoint_dir = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (cli_u64(argv[++i], &v) != 0 || v < 1 || v > 256)
                return cli_usage(usage, "--threads takes a number from 1 to 256");
            ro.threads = (unsigned)v;
        } else if (strcmp(argv[i], "--external-replay") == 0)
            ro.allow_command = 1;
        else if (strcmp(argv[i], "--code") == 0 && i + 1 < argc)
            ro.code_dir = argv[++i];
        else if (strcmp(argv[i], "--replay-timeout") == 0 && i + 1 < argc) {
            if (cli_u64(argv[++i], &v) != 0 || v < 1 || v > 86400 * 7)
                return cli_usage(usage, "--replay-timeout takes seconds, 1 or more");
            ro.timeout_s = (unsigned)v;
        } else if (strcmp(argv[i], "--quiet") == 0)
            quiet = 1;
        else if (argv[i][0] == '-')
            return cli_usage(usage, "unknown option \"%s\"", argv[i]);
        else if (!path)
            path = argv[i];
        else
            return cli_usage(usage, "unexpected argument \"%s\"", argv[i]);
    }
    if (!path || !pub) return cli_usage(usage, "LOG and --pub are required");
    if (n_cas && !enroll)
        return cli_usage(usage, "--tpm-ca needs --enrollment-key: a public EK certificate alone "
                                "proves nothing about the AK");
    if (!replay && (nonce || ro.data_dir || ro.checkpoint_dir || ro.threads || ro.allow_command ||
                    ro.code_dir || ro.timeout_s))
        return cli_usage(usage, "--nonce, --data, --checkpoints, --threads, --external-replay, "
                                "--code and --replay-timeout go with --replay");
    if (nonce && hex_nonce(nonce, (uint8_t **)&ro.nonce, &ro.nonce_len) != 0)
        return cli_usage(usage, "--nonce takes 1 to 512 bytes in hex");
    if (replay) {
        if (!ro.data_dir) ro.data_dir = data_dir = beside(path, "data");
        if (!ro.checkpoint_dir) ro.checkpoint_dir = ckpt_dir = beside(path, "checkpoints");
        if (!quiet) ro.progress = progress;
    }

    attest_verifier *key = NULL;
    attest_report *report = NULL;
    char err[256], *text = NULL;
    if (attest_verifier_load(&key, pub, err, sizeof err) != 0) return cli_error("%s: %s", pub, err);
    attest_verifier *enroll_key = NULL;
    if (enroll && attest_verifier_load(&enroll_key, enroll, err, sizeof err) != 0) {
        attest_verifier_free(key);
        return cli_error("%s: %s", enroll, err);
    }
    attest_verify_options opts = ATTEST_VERIFY_OPTIONS_INIT;
    opts.tpm_ca_files = cas;
    opts.n_tpm_ca_files = n_cas;
    opts.enroll_key = enroll_key;
    opts.replay = replay ? &ro : NULL;
    int rc = attest_verify_log_ex(&report, path, key, &opts);
    free((void *)ro.nonce);
    free(data_dir);
    free(ckpt_dir);
    attest_verifier_free(key);
    attest_verifier_free(enroll_key);
    if (!report) return cli_error("out of memory");
    if ((json ? attest_report_json(report, &text) : attest_report_text(report, &text)) == 0) {
        fputs(text, rc == 0 || rc == ATTEST_EVERIFY ? stdout : stderr);
        if (json) fputc('\n', rc == 0 || rc == ATTEST_EVERIFY ? stdout : stderr);
    }
    free(text);
    attest_report_free(report);
    return rc == 0 ? EXIT_VERIFIED : rc == ATTEST_EVERIFY ? EXIT_FAILED : EXIT_USAGE;
}
