/*
 * checkpoint.c - the C2SP tlog-checkpoint body: origin, tree size, root hash.
 *
 * Formats the three lines we sign and parses bodies read back, extension lines
 * included. It neither signs nor verifies (note.c does) and does not check the
 * root against a tree (merkle.c does).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "attest/error.h"
#include "attest/note.h"
#include "format/text.h"

#define B64 sodium_base64_VARIANT_ORIGINAL
#define ROOT_B64_LEN 44 /* base64 of a 32-byte hash */

/* Extension lines are opaque to us, but must be non-empty text. */
static int extension_ok(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20) return 0;
    return 1;
}

/* Canonical decimal: digits only, no leading zero but in "0", at most UINT64_MAX. */
static int parse_size(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || (n > 1 && s[0] == '0')) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Canonical padded base64 of exactly 32 bytes. */
static int parse_root(const char *s, size_t n, uint8_t root[32])
{
    char enc[ROOT_B64_LEN + 1];
    size_t got = 0;

    if (n != ROOT_B64_LEN || attest_text_b64_decode(s, n, root, 32, &got, enc) != 0) return -1;
    return got == 32 ? 0 : -1;
}

int attest_checkpoint_format(const char *origin, uint64_t size, const uint8_t root[32], char **text)
{
    char b64[ROOT_B64_LEN + 1];
    size_t n, cap;

    if (!text) return ATTEST_EINVAL;
    *text = NULL;
    if (!origin || !root) return ATTEST_EINVAL;
    n = strnlen(origin, ATTEST_NOTE_NAME_MAX + 1);
    /* The origin is also the log's key name, so it follows the key name rule of note.h. */
    if (attest_text_name_problem(origin, n) != NULL) return ATTEST_EINVAL;
    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    sodium_bin2base64(b64, sizeof b64, root, 32, B64);
    /* origin, newline, up to 20 digits, newline, root, newline, NUL */
    cap = n + 1 + 20 + 1 + ROOT_B64_LEN + 1 + 1;
    *text = malloc(cap);
    if (!*text) return ATTEST_ENOMEM;
    snprintf(*text, cap, "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
    return 0;
}

int attest_checkpoint_parse(const char *text, size_t len, attest_checkpoint *out, char *err,
                            size_t errsz)
{
    static const char *const names[3] = {"origin", "size", "root"};
    attest_checkpoint cp;
    uint8_t empty[crypto_hash_sha256_BYTES];
    const char *line = text, *end = text + len;
    size_t nline = 0;

    if (!text || !out)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "checkpoint: no text or result given");
    if (sodium_init() < 0)
        return attest_text_fail(err, errsz, ATTEST_ECRYPTO,
                                "checkpoint: libsodium failed to initialise");
    if (len == 0 || text[len - 1] != '\n')
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "checkpoint: text does not end in a newline");
    memset(&cp, 0, sizeof cp);
    for (; line < end; nline++) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t n = (size_t)(eol - line);

        if (nline == 0) {
            if (attest_text_name_problem(line, n) != NULL)
                return attest_text_fail(
                    err, errsz, ATTEST_EFORMAT,
                    "checkpoint: origin must be 1-255 printable ASCII bytes, no '+'");
            memcpy(cp.origin, line, n);
        } else if (nline == 1) {
            if (parse_size(line, n, &cp.size) != 0)
                return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                        "checkpoint: size is not a canonical decimal below 2^64 "
                                        "(no sign, no leading zero)");
        } else if (nline == 2) {
            if (parse_root(line, n, cp.root) != 0)
                return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                        "checkpoint: root is not canonical base64 of 32 bytes");
        } else if (!extension_ok(line, n)) {
            return attest_text_fail(
                err, errsz, ATTEST_EFORMAT,
                "checkpoint: extension line %zu is empty or has a control character", nline - 2);
        }
        line = eol + 1;
    }
    if (nline < 3)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "checkpoint: missing %s line",
                                names[nline]);
    /* An empty tree has the RFC 6962 root SHA-256(""), as tlog-witness requires. */
    crypto_hash_sha256(empty, (const unsigned char *)"", 0);
    if (cp.size == 0 && memcmp(cp.root, empty, sizeof empty) != 0)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "checkpoint: size 0 with a root other than SHA-256(\"\")");
    *out = cp;
    return 0;
}
