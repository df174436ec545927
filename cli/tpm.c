/*
 * tpm.c (cli) - `attest tpm enroll`: the auditor's challenge of a TPM's
 * attestation key (include/attest/anchor.h), written as an enrollment
 * note that a training run records and `attest verify` checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/anchor.h"
#include "attest/error.h"
#include "attest/note.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: attest tpm enroll --tcti TCTI --key AUDITOR.key -o ENROLLMENT [--ca CA.pem ...]\n"
    "\n"
    "The auditor's challenge of the TPM at TCTI: checks its EK certificate against\n"
    "the vendor CA certificates (--ca, repeatable), makes a credential for its\n"
    "attestation key under the EK, has the TPM activate it, and when the TPM\n"
    "recovers the secret writes an enrollment note signed with AUDITOR.key.\n"
    "A run records it with ATTEST_TPM_ENROLLMENT=ENROLLMENT (and ATTEST_TCTI);\n"
    "attest verify --tpm-ca CA.pem --enrollment-key AUDITOR.pub checks it.\n";

int cmd_tpm(int argc, char **argv)
{
    const char *tcti = NULL, *key = NULL, *out = NULL, *cas[16];
    size_t n_cas = 0;
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "enroll") != 0)
        return cli_usage(usage, "unknown subcommand \"tpm %s\"", argv[1]);
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) return cli_usage(usage, "%s needs a value", argv[i]);
        if (strcmp(argv[i], "--tcti") == 0)
            tcti = argv[++i];
        else if (strcmp(argv[i], "--key") == 0)
            key = argv[++i];
        else if (strcmp(argv[i], "-o") == 0)
            out = argv[++i];
        else if (strcmp(argv[i], "--ca") == 0 && n_cas < 16)
            cas[n_cas++] = argv[++i];
        else
            return cli_usage(usage, "unknown option \"%s\"", argv[i]);
    }
    if (!tcti || !key || !out) return cli_usage(usage, "--tcti, --key and -o are required");
    attest_signer *s = NULL;
    char err[512], *note = NULL;
    if (attest_signer_load(&s, key, err, sizeof err) != 0) return cli_error("%s: %s", key, err);
    int code = attest_tpm_enroll(tcti, cas, n_cas, s, &note, err, sizeof err);
    attest_signer_free(s);
    if (code)
        return code == ATTEST_EVERIFY ? (cli_error("%s", err), EXIT_FAILED) : cli_error("%s", err);
    FILE *f = fopen(out, "wx");
    int rc = 0;
    if (!f || fputs(note, f) < 0 || fclose(f) != 0)
        rc = cli_error("%s: cannot write (exists?)", out);
    else
        printf("enrolled: %s", note);
    free(note);
    return rc;
}
