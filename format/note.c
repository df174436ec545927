/*
 * note.c - C2SP signed notes: signs note text with a signer and opens a
 * signed note against one verifier. Keys come from key.c and note bodies are
 * read by checkpoint.c. Only Ed25519 (0x01) signatures are verified; lines by
 * other keys or algorithms are checked for syntax and otherwise skipped.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "attest/error.h"
#include "attest/note.h"
#include "format/key.h"
#include "format/text.h"

#define B64 sodium_base64_VARIANT_ORIGINAL
#define SIG_PAYLOAD_LEN 68         /* key ID || Ed25519 signature */
#define SIG_PAYLOAD_MIN 5          /* key ID and at least one byte, as Go's note.Open */
#define SIG_PREFIX "\xe2\x80\x94 " /* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN 4

/* Unicode White_Space outside ASCII; C2SP forbids it in key names on signature lines. */
static int unicode_space(uint32_t c)
{
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* C2SP rule for names on signature lines (already valid UTF-8 without controls): wider than
 * our key names so that other keys' lines, e.g. witnesses with Unicode names, still parse. */
static int sig_name_ok(const char *name, size_t n)
{
    const unsigned char *u = (const unsigned char *)name;
    uint32_t cp;

    if (n == 0) return 0;
    for (size_t i = 0; i < n;) {
        size_t k = attest_text_utf8_decode(u + i, n - i, &cp);
        if (k == 0 || cp == ' ' || cp == '+' || unicode_space(cp)) return 0;
        i += k;
    }
    return 1;
}

/* Note text rule for signing: UTF-8, no control byte (DEL included) but '\n', ends in '\n',
 * no empty line. Stricter than what we open, so that every verifier accepts our notes. */
static int sign_text_ok(const char *text, size_t len)
{
    size_t at;

    if (len == 0 || text[len - 1] != '\n' || text[0] == '\n') return 0;
    if (attest_text_utf8_problem(text, len, &at) != NULL || memchr(text, 0x7f, len) != NULL)
        return 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (text[i] == '\n' && text[i + 1] == '\n') return 0;
    return 1;
}

int attest_signer_sign(const attest_signer *s, const char *text, size_t len, char **note)
{
    uint8_t payload[SIG_PAYLOAD_LEN];
    char b64[sodium_base64_ENCODED_LEN(SIG_PAYLOAD_LEN, B64)];
    size_t namelen, b64len, total;
    char *out, *p;

    if (!note) return ATTEST_EINVAL;
    *note = NULL;
    if (!s || !text || !sign_text_ok(text, len)) return ATTEST_EINVAL;
    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    namelen = strlen(s->name);
    b64len = sizeof b64 - 1;
    total = len + 1 + SIG_PREFIX_LEN + namelen + 1 + b64len + 1;
    if (total < len) return ATTEST_EINVAL;
    out = malloc(total + 1);
    if (!out) return ATTEST_ENOMEM;
    memcpy(payload, s->id, 4);
    crypto_sign_detached(payload + 4, NULL, (const unsigned char *)text, len, s->sk);
    sodium_bin2base64(b64, sizeof b64, payload, sizeof payload, B64);
    p = out;
    memcpy(p, text, len);
    p += len;
    *p++ = '\n';
    memcpy(p, SIG_PREFIX, SIG_PREFIX_LEN);
    p += SIG_PREFIX_LEN;
    memcpy(p, s->name, namelen);
    p += namelen;
    *p++ = ' ';
    memcpy(p, b64, b64len);
    p += b64len;
    *p++ = '\n';
    *p = '\0';
    *note = out;
    return 0;
}

int attest_note_open(const char *note, size_t len, const attest_verifier *v, char **text, char *err,
                     size_t errsz)
{
    const char *sigs, *line, *why;
    size_t at, textlen, siglen, vnamelen, nlines = 0, matched = 0;
    uint8_t *bin = NULL;
    char *enc = NULL, hex[9];
    int rc = 0;

    if (text) *text = NULL;
    if (!note || !v)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "note: no note or verifier given");
    if (sodium_init() < 0)
        return attest_text_fail(err, errsz, ATTEST_ECRYPTO, "note: libsodium failed to initialise");
    if ((why = attest_text_utf8_problem(note, len, &at)) != NULL)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "note: %s at byte %zu", why, at);
    /* The text ends at the last blank line: a text may hold blank lines, signatures not. */
    for (textlen = len; textlen >= 2; textlen--)
        if (note[textlen - 2] == '\n' && note[textlen - 1] == '\n') break;
    if (textlen < 2)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "note: no blank line before the signatures");
    textlen--;
    sigs = note + textlen + 1;
    siglen = len - textlen - 1;
    if (siglen == 0)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "note: no signature lines");
    if (sigs[siglen - 1] != '\n')
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "note: last signature line has no final newline");
    bin = malloc(siglen);
    enc = malloc(siglen + 1);
    if (!bin || !enc) {
        rc = attest_text_fail(err, errsz, ATTEST_ENOMEM, "note: out of memory");
        goto done;
    }
    vnamelen = strlen(v->name);
    sodium_bin2hex(hex, sizeof hex, v->id, 4);
    for (line = sigs; line < sigs + siglen;) {
        const char *eol = memchr(line, '\n', (size_t)(sigs + siglen - line)), *name, *sp, *b64;
        size_t namelen, binlen = 0;

        if (++nlines > ATTEST_NOTE_MAX_SIGNATURES) {
            rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "note: more than %d signature lines",
                                  ATTEST_NOTE_MAX_SIGNATURES);
            goto done;
        }
        if ((size_t)(eol - line) < SIG_PREFIX_LEN ||
            memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) != 0) {
            rc = attest_text_fail(
                err, errsz, ATTEST_EFORMAT,
                "note: signature line %zu: does not start with an em dash and a space", nlines);
            goto done;
        }
        name = line + SIG_PREFIX_LEN;
        sp = memchr(name, ' ', (size_t)(eol - name));
        namelen = sp ? (size_t)(sp - name) : 0;
        if (!sp || !sig_name_ok(name, namelen)) {
            rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "note: signature line %zu: %s",
                                  nlines, sp ? "invalid key name" : "no space after the key name");
            goto done;
        }
        b64 = sp + 1;
        if (attest_text_b64_decode(b64, (size_t)(eol - b64), bin, siglen, &binlen, enc) != 0) {
            rc = attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                  "note: signature line %zu: malformed base64", nlines);
            goto done;
        }
        if (binlen < SIG_PAYLOAD_MIN) {
            rc = attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                  "note: signature line %zu: signature of %zu bytes is too short",
                                  nlines, binlen);
            goto done;
        }
        line = eol + 1;
        /* Lines by other keys (witnesses, other algorithms) are not ours to judge. */
        if (namelen != vnamelen || memcmp(name, v->name, namelen) != 0 ||
            memcmp(bin, v->id, 4) != 0)
            continue;
        matched++;
        /* Remember the first bad line but keep going: a malformed later line wins. */
        if (rc == 0 && binlen != SIG_PAYLOAD_LEN)
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "note: signature line %zu by %s+%s is %zu bytes, expected %d",
                                  nlines, v->name, hex, binlen, SIG_PAYLOAD_LEN);
        else if (rc == 0 && crypto_sign_verify_detached(bin + 4, (const unsigned char *)note,
                                                        textlen, v->pk) != 0)
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "note: signature line %zu by %s+%s does not verify", nlines,
                                  v->name, hex);
    }
    if (rc != 0) goto done;
    if (matched == 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY, "note: no signature by %s+%s", v->name,
                              hex);
        goto done;
    }
    if (text) {
        *text = malloc(textlen + 1);
        if (!*text) {
            rc = attest_text_fail(err, errsz, ATTEST_ENOMEM, "note: out of memory");
            goto done;
        }
        memcpy(*text, note, textlen);
        (*text)[textlen] = '\0';
    }
done:
    free(bin);
    free(enc);
    return rc;
}
