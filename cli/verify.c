/*
 * verify.c - `attest verify LOG --pub PREFIX.pub [--json]`: prints the
 * verdict of attest_verify_log and exits 0 (verified), 1 (failed) or 2
 * (could not check).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/error.h"
#include "attest/verify.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: attest verify LOG --pub PREFIX.pub [--json] [--tpm-ca CA.pem ...]\n"
    "                     [--enrollment-key AUDITOR.pub]\n"
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
    "Exit status: 0 verified, 1 failed, 2 could not check.\n";

int cmd_verify(int argc, char **argv)
{
    const char *path = NULL, *pub = NULL, *enroll = NULL;
    const char *cas[16];
    size_t n_cas = 0;
    int json = 0;
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
    int rc = attest_verify_log_ex(&report, path, key, &opts);
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
