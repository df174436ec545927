/*
 * Fuzz target: the key, signed-note and checkpoint parsers. Each input is
 * parsed as a verifier key and a signer key (NUL-terminated copy), as a
 * checkpoint body, and opened as a signed note with the fixed key of the
 * derived checkpoints (shared/vectors/note_vectors.json). Keys that parse
 * must print back as the input and sign notes that open.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/error.h"
#include "attest/note.h"

#define VKEY "example.com/ml-training-log+fcb1c62c+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Key text is canonical: what parsed must print as the input, less one final newline. */
static void check_key_text(const char *in, char *text)
{
    size_t n = strlen(in);

    if (n > 0 && in[n - 1] == '\n') n--;
    if (!text || strlen(text) != n || memcmp(text, in, n) != 0) abort();
}

/* A parsed signer's notes open with its own verifier key. */
static void check_signer(const attest_signer *s)
{
    static const char body[] = "fuzz\n1\n";
    attest_verifier *v = NULL;
    char *vkey = NULL, *note = NULL;

    if (attest_signer_vkey(s, &vkey) != 0 || attest_verifier_parse(&v, vkey, NULL, 0) != 0 ||
        attest_signer_sign(s, body, strlen(body), &note) != 0 ||
        attest_note_open(note, strlen(note), v, NULL, NULL, 0) != 0)
        abort();
    free(note);
    free(vkey);
    attest_verifier_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attest_verifier *v = NULL, *fixed = NULL;
    attest_signer *s = NULL;
    attest_checkpoint cp;
    char err[256], *in, *text = NULL;
    int rc;

    in = malloc(size + 1);
    if (!in) return 0;
    memcpy(in, data, size);
    in[size] = '\0';

    if (attest_verifier_parse(&v, in, err, sizeof err) == 0) {
        if (attest_verifier_text(v, &text) == 0) check_key_text(in, text);
        free(text);
        text = NULL;
    }
    if (attest_signer_parse(&s, in, err, sizeof err) == 0) {
        if (attest_signer_text(s, &text) == 0) check_key_text(in, text);
        attest_secret_free(text);
        text = NULL;
        check_signer(s);
    }

    /* These take a length: pass the input itself, so that ASan sees a read past its end. */
    (void)attest_checkpoint_parse((const char *)data, size, &cp, err, sizeof err);
    if (attest_verifier_parse(&fixed, VKEY, err, sizeof err) != 0) abort();
    rc = attest_note_open((const char *)data, size, fixed, &text, err, sizeof err);
    if (rc == 0) {
        (void)attest_checkpoint_parse(text, strlen(text), &cp, err, sizeof err);
        free(text);
    }
    /* No text out-parameter and no room for a reason: the same answer. */
    if (attest_note_open((const char *)data, size, fixed, NULL, NULL, 0) != rc) abort();

    attest_verifier_free(fixed);
    attest_verifier_free(v);
    attest_signer_free(s);
    free(in);
    return 0;
}
