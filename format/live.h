/*
 * live.h - internal: what a live session's TPM quote signs. The quote's
 * qualifying data binds the auditor's nonce to the log head the session
 * verified: SHA-256("attest-live-v1\n" || u64be(nonce length) || nonce ||
 * the signed checkpoint note of the latest seal).
 */
#ifndef ATTEST_FORMAT_LIVE_H
#define ATTEST_FORMAT_LIVE_H

#include <stddef.h>
#include <stdint.h>

/* Fills out; returns 0 or ATTEST_ENOMEM. */
int attest_live_digest(const uint8_t *nonce, size_t nonce_len, const char *note,
                       uint8_t out[32]);

#endif
