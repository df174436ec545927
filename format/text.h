/*
 * text.h - internal: the text rules that key.c, note.c and checkpoint.c
 * share: key names, canonical base64, UTF-8, and the one-line reasons
 * written to a caller's error buffer.
 */
#ifndef ATTEST_FORMAT_TEXT_H
#define ATTEST_FORMAT_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes a printf-formatted one-line reason to err (when err is not NULL and
 * errsz > 0, truncating to fit) and returns code, so that callers can write
 * `return attest_text_fail(err, errsz, ATTEST_EFORMAT, "...")`.
 */
int attest_text_fail(char *err, size_t errsz, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * NULL if name[0..n) is a valid key name (1..255 bytes of printable ASCII
 * 0x21-0x7E other than '+', see attest/note.h), else a static phrase saying
 * what is wrong with it ("is empty", "contains '+'", ...).
 */
const char *attest_text_name_problem(const char *name, size_t n);

/*
 * Decodes s[0..n) as standard padded base64 into bin (cap bytes), the count
 * in *binlen. Returns 0, or -1 unless every character is used and the bytes
 * re-encode to exactly s, so only the canonical form is read. scratch must
 * hold at least n + 1 bytes; it receives the re-encoding, which the caller
 * wipes when the bytes are secret.
 */
int attest_text_b64_decode(const char *s, size_t n, uint8_t *bin, size_t cap, size_t *binlen,
                           char *scratch);

/*
 * Length of the UTF-8 sequence at s (n > 0 bytes left) with its code point
 * in *cp, or 0 if it is not the shortest encoding of a Unicode scalar value.
 */
size_t attest_text_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/*
 * NULL if s[0..n) is UTF-8 with no ASCII control byte but '\n' (the rule of
 * Go's note.Open); else "invalid UTF-8" or "control character", with the
 * offending byte offset in *at.
 */
const char *attest_text_utf8_problem(const char *s, size_t n, size_t *at);

#endif
