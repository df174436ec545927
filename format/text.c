/*
 * text.c - text rules shared by the key, note and checkpoint parsers: key
 * name validity, strict canonical base64, UTF-8 decoding and validation, and
 * formatting of error-buffer reasons. It knows nothing of keys, signatures or
 * checkpoint lines; the rules specific to one format stay in that format's
 * file.
 */
#include <stdarg.h>
#include <stdio.h>

#include <sodium.h>

#include "attest/note.h"
#include "format/text.h"

#define B64 sodium_base64_VARIANT_ORIGINAL

int attest_text_fail(char *err, size_t errsz, int code, const char *fmt, ...)
{
    if (err && errsz > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *attest_text_name_problem(const char *name, size_t n)
{
    if (n == 0) return "is empty";
    if (n > ATTEST_NOTE_NAME_MAX) return "is longer than 255 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '+') return "contains '+'";
        if (c < 0x21 || c > 0x7e) return "contains a byte outside printable ASCII";
    }
    return NULL;
}

int attest_text_b64_decode(const char *s, size_t n, uint8_t *bin, size_t cap, size_t *binlen,
                           char *scratch)
{
    const char *end = NULL;

    if (n == 0 || sodium_base642bin(bin, cap, s, n, NULL, binlen, &end, B64) != 0 || end != s + n)
        return -1;
    if (sodium_base64_ENCODED_LEN(*binlen, B64) != n + 1) return -1;
    sodium_bin2base64(scratch, n + 1, bin, *binlen, B64);
    return sodium_memcmp(scratch, s, n) == 0 ? 0 : -1;
}

size_t attest_text_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t k;
    uint32_t c;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        k = 2;
        c = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        k = 3;
        c = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        k = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (k == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) return 0;
    if (k == 4 && (c < 0x10000 || c > 0x10ffff)) return 0;
    *cp = c;
    return k;
}

const char *attest_text_utf8_problem(const char *s, size_t n, size_t *at)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cp;

    for (size_t i = 0; i < n;) {
        size_t k = attest_text_utf8_decode(u + i, n - i, &cp);
        *at = i;
        if (k == 0) return "invalid UTF-8";
        if (cp < 0x20 && cp != '\n') return "control character";
        i += k;
    }
    return NULL;
}
