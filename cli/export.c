/*
 * export.c (cli) - `attest export LOG --format in-toto --key RUN.key`:
 * parses arguments, calls attest_export_intoto (include/attest/export.h)
 * and writes the DSSE envelope, one JSON line, to stdout or -o FILE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/error.h"
#include "attest/export.h"
#include "attest/note.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: attest export LOG --format in-toto --key RUN.key [--pub RUN.pub] [-o FILE]\n"
    "                     [--tpm-ca CA.pem ... --enrollment-key AUDITOR.pub]\n"
    "\n"
    "Verifies LOG with the run's public key (--pub, or the public half of\n"
    "--key), then writes an in-toto Statement v1 of the sealed run (subjects:\n"
    "the final checkpoint files; predicate https://attest.dev/training-run/v1,\n"
    "format/EXPORT.md) in a DSSE envelope signed with the run key --key.\n"
    "Writes one JSON line to stdout, or to FILE (replaced) with -o. With\n"
    "--enrollment-key (and --tpm-ca), the TPM's attestation key must be\n"
    "enrolled as for `attest verify`, and the statement says it was checked.\n"
    "Exit status: 0 exported, 1 the log does not verify, 2 other errors.\n";

int cmd_export(int argc, char **argv)
{
    const char *path = NULL, *format = NULL, *keyfile = NULL, *pub = NULL, *out = NULL;
    const char *enroll = NULL, *cas[16];
    size_t n_cas = 0;
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--format") == 0                 ? &format
                            : strcmp(a, "--key") == 0                  ? &keyfile
                            : strcmp(a, "--pub") == 0                  ? &pub
                            : strcmp(a, "-o") == 0                     ? &out
                            : strcmp(a, "--enrollment-key") == 0       ? &enroll
                            : strcmp(a, "--tpm-ca") == 0 && n_cas < 16 ? &cas[n_cas++]
                                                                       : NULL;
        if (strcmp(a, "--tpm-ca") == 0 && !slot)
            return cli_usage(usage, "at most 16 --tpm-ca files");
        if (slot && i + 1 >= argc) return cli_usage(usage, "%s needs a value", a);
        if (slot)
            *slot = argv[++i];
        else if (a[0] == '-')
            return cli_usage(usage, "unknown option \"%s\"", a);
        else if (!path)
            path = a;
        else
            return cli_usage(usage, "unexpected argument \"%s\"", a);
    }
    if (!path || !format || !keyfile)
        return cli_usage(usage, "LOG, --format and --key are required");
    if (n_cas && !enroll)
        return cli_usage(usage, "--tpm-ca needs --enrollment-key: a public EK certificate alone "
                                "proves nothing about the AK");
    if (strcmp(format, "in-toto") != 0)
        return cli_usage(usage, "--format \"%s\": the only format is in-toto", format);

    attest_signer *signer = NULL;
    attest_verifier *key = NULL, *enroll_key = NULL;
    attest_verify_options opts = ATTEST_VERIFY_OPTIONS_INIT;
    char err[1200], *envelope = NULL;
    int rc = EXIT_USAGE, code;
    if (attest_signer_load(&signer, keyfile, err, sizeof err) != 0) {
        cli_error("%s: %s", keyfile, err);
        goto done;
    }
    if (pub && attest_verifier_load(&key, pub, err, sizeof err) != 0) {
        cli_error("%s: %s", pub, err);
        goto done;
    }
    if (enroll && attest_verifier_load(&enroll_key, enroll, err, sizeof err) != 0) {
        cli_error("%s: %s", enroll, err);
        goto done;
    }
    opts.tpm_ca_files = cas;
    opts.n_tpm_ca_files = n_cas;
    opts.enroll_key = enroll_key;
    code = attest_export_intoto(&envelope, path, signer, key, &opts, err, sizeof err);
    if (code) {
        cli_error("export refused: %s", code == ATTEST_ENOMEM ? attest_strerror(code) : err);
        rc = code == ATTEST_EVERIFY || code == ATTEST_ECORRUPT ? EXIT_FAILED : EXIT_USAGE;
        goto done;
    }
    FILE *f = out ? fopen(out, "w") : stdout;
    int bad = !f || fprintf(f, "%s\n", envelope) < 0;
    if (f && f != stdout) bad |= fclose(f) != 0;
    if (f == stdout) bad |= fflush(stdout) != 0;
    if (bad) {
        cli_error("%s: cannot write the envelope", out ? out : "stdout");
        if (out) unlink(out);
        goto done;
    }
    rc = 0;
done:
    free(envelope);
    attest_signer_free(signer);
    attest_verifier_free(key);
    attest_verifier_free(enroll_key);
    return rc;
}
