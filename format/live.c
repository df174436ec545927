/*
 * live.c - the digest a live session's TPM quote signs (format/live.h).
 */
#include <string.h>

#include "attest/error.h"
#include "format/live.h"
#include "format/sha256.h"

int attest_live_digest(const uint8_t *nonce, size_t nonce_len, const char *note, uint8_t out[32])
{
    attest_sha256_ctx c;
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)nonce_len >> (56 - 8 * i));
    if (attest_sha256_begin(&c) != 0) return ATTEST_ENOMEM;
    if (attest_sha256_update(&c, "attest-live-v1\n", 15) != 0 ||
        attest_sha256_update(&c, len, 8) != 0 ||
        (nonce_len && attest_sha256_update(&c, nonce, nonce_len) != 0) ||
        attest_sha256_update(&c, note, strlen(note)) != 0) {
        attest_sha256_abort(&c);
        return ATTEST_ENOMEM;
    }
    return attest_sha256_end(&c, out) != 0 ? ATTEST_ENOMEM : 0;
}
