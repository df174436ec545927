/*
 * keygen.c - `attest keygen NAME -o PREFIX`: writes PREFIX.key (signer
 * key, mode 0600) and PREFIX.pub (verifier key) in the note key formats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/error.h"
#include "attest/note.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: attest keygen NAME -o PREFIX\n"
    "\n"
    "Creates an Ed25519 signing key named NAME (the log's origin, e.g.\n"
    "example.com/my-training-run: printable ASCII, no spaces, no '+').\n"
    "Writes PREFIX.key (secret, mode 0600) and PREFIX.pub (public); refuses\n"
    "to overwrite either.\n";

int cmd_keygen(int argc, char **argv)
{
    const char *name = NULL, *prefix = NULL;
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            prefix = argv[++i];
        else if (argv[i][0] == '-')
            return cli_usage(usage, "unknown option \"%s\"", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return cli_usage(usage, "unexpected argument \"%s\"", argv[i]);
    }
    if (!name || !prefix) return cli_usage(usage, "NAME and -o PREFIX are required");

    attest_signer *s = NULL;
    char err[256], *vkey = NULL;
    size_t plen = strlen(prefix) + 5;
    char *keypath = malloc(plen), *pubpath = malloc(plen);
    int rc = EXIT_USAGE, code;
    if (!keypath || !pubpath) goto done;
    snprintf(keypath, plen, "%s.key", prefix);
    snprintf(pubpath, plen, "%s.pub", prefix);
    if (access(pubpath, F_OK) == 0) {
        cli_error("%s: already exists; not overwriting", pubpath);
        goto done;
    }
    if ((code = attest_signer_generate(&s, name)) != 0) {
        cli_error("key name \"%s\": %s (printable ASCII, no spaces, no '+', at most %d bytes)",
                  name, attest_strerror(code), ATTEST_NOTE_NAME_MAX);
        goto done;
    }
    if ((code = attest_signer_save(s, keypath, err, sizeof err)) != 0) {
        cli_error("%s: %s", keypath, err);
        goto done;
    }
    FILE *f = NULL;
    if (attest_signer_vkey(s, &vkey) != 0 || !(f = fopen(pubpath, "wx")) ||
        fprintf(f, "%s\n", vkey) < 0 || fclose(f) != 0) {
        cli_error("%s: cannot write the public key", pubpath);
        unlink(keypath);
        goto done;
    }
    printf("%s\n", vkey);
    rc = 0;
done:
    free(vkey);
    free(keypath);
    free(pubpath);
    attest_signer_free(s);
    return rc;
}
