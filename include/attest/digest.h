/*
 * attest/digest.h - SHA-256 of memory and of files, with the CPU's SHA
 * instructions where it has them (OpenSSL libcrypto). The digests are
 * plain SHA-256: equal to what sha256sum and Python's hashlib print.
 *
 * Thread-safety: every function is reentrant.
 */
#ifndef ATTEST_DIGEST_H
#define ATTEST_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "attest/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SHA-256 of len bytes at data. Returns 0, or ATTEST_ECRYPTO. */
ATTEST_API int attest_sha256(const void *data, size_t len, uint8_t out[32]);

/*
 * SHA-256 of `len` bytes of the file at `path` from `offset` (len
 * UINT64_MAX: to the end of the file); *size (if not NULL) receives the
 * number of bytes hashed. Returns 0, ATTEST_ENOTFOUND, ATTEST_EIO (err
 * names the file and the failure; a file shorter than offset + len is an
 * error), ATTEST_ECRYPTO.
 */
ATTEST_API int attest_sha256_file(const char *path, uint64_t offset, uint64_t len, uint8_t out[32],
                                  uint64_t *size, char *err, size_t errsz);

/* Lowercase hex of a 32-byte digest into out (65 bytes with the NUL). */
ATTEST_API void attest_sha256_hex(const uint8_t digest[32], char out[65]);

#ifdef __cplusplus
}
#endif
#endif
