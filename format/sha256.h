/*
 * sha256.h - internal: streaming SHA-256 over OpenSSL EVP, for the
 * hashing jobs that feed one digest from many reads.
 */
#ifndef ATTEST_SHA256_H
#define ATTEST_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct attest_sha256_ctx {
    void *ctx; /* EVP_MD_CTX */
} attest_sha256_ctx;

int attest_sha256_begin(attest_sha256_ctx *c);
int attest_sha256_update(attest_sha256_ctx *c, const void *data, size_t len);
/* Writes the digest and releases the context (also on failure). */
int attest_sha256_end(attest_sha256_ctx *c, uint8_t out[32]);
/* Releases a context without a digest. */
void attest_sha256_abort(attest_sha256_ctx *c);

#endif
