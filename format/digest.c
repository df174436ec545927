/*
 * digest.c - SHA-256 of memory and of file ranges through OpenSSL's EVP
 * interface (SHA-NI where the CPU has it). It reads files in large
 * sequential chunks; it knows nothing of what the bytes mean.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "attest/digest.h"
#include "attest/error.h"
#include "format/sha256.h"

#define CHUNK (4u << 20)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void fetch_md(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int attest_sha256_begin(attest_sha256_ctx *c)
{
    pthread_once(&once, fetch_md);
    c->ctx = sha256_md ? EVP_MD_CTX_new() : NULL;
    if (!c->ctx || EVP_DigestInit_ex2(c->ctx, sha256_md, NULL) != 1) {
        EVP_MD_CTX_free(c->ctx);
        c->ctx = NULL;
        return ATTEST_ECRYPTO;
    }
    return 0;
}

int attest_sha256_update(attest_sha256_ctx *c, const void *data, size_t len)
{
    return EVP_DigestUpdate(c->ctx, data, len) == 1 ? 0 : ATTEST_ECRYPTO;
}

int attest_sha256_end(attest_sha256_ctx *c, uint8_t out[32])
{
    unsigned n = 0;
    int ok = EVP_DigestFinal_ex(c->ctx, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(c->ctx);
    c->ctx = NULL;
    return ok ? 0 : ATTEST_ECRYPTO;
}

void attest_sha256_abort(attest_sha256_ctx *c)
{
    EVP_MD_CTX_free(c->ctx);
    c->ctx = NULL;
}

int attest_sha256(const void *data, size_t len, uint8_t out[32])
{
    attest_sha256_ctx c;
    int rc = attest_sha256_begin(&c);
    if (rc) return rc;
    if ((rc = attest_sha256_update(&c, data, len)) != 0) {
        attest_sha256_abort(&c);
        return rc;
    }
    return attest_sha256_end(&c, out);
}

int attest_sha256_file(const char *path, uint64_t offset, uint64_t len, uint8_t out[32],
                       uint64_t *size, char *err, size_t errsz)
{
    attest_sha256_ctx c = {0};
    uint8_t *buf = NULL;
    uint64_t done = 0;
    int rc = ATTEST_ENOMEM;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err) snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? ATTEST_ENOTFOUND : ATTEST_EIO;
    }
    // Sequential reads: the kernel reads ahead; the page cache is not our business.
    posix_fadvise(fd, (off_t)offset, len == UINT64_MAX ? 0 : (off_t)len, POSIX_FADV_SEQUENTIAL);
    if (!(buf = malloc(CHUNK))) goto done;
    if ((rc = attest_sha256_begin(&c)) != 0) goto done;
    while (done < len) {
        size_t want = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)(offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = ATTEST_EIO;
            if (err)
                snprintf(err, errsz, "%s: read at offset %llu: %s", path,
                         (unsigned long long)(offset + done), strerror(errno));
            goto done;
        }
        if (got == 0) {
            if (len == UINT64_MAX) break;
            rc = ATTEST_EIO;
            if (err)
                snprintf(err, errsz, "%s: ends at %llu bytes, before offset %llu", path,
                         (unsigned long long)(offset + done), (unsigned long long)(offset + len));
            goto done;
        }
        if ((rc = attest_sha256_update(&c, buf, (size_t)got)) != 0) goto done;
        done += (uint64_t)got;
    }
    rc = attest_sha256_end(&c, out);
    if (!rc && size) *size = done;
done:
    if (rc) attest_sha256_abort(&c);
    if (rc == ATTEST_ECRYPTO && err) snprintf(err, errsz, "%s: SHA-256 failed in libcrypto", path);
    free(buf);
    close(fd);
    return rc;
}

void attest_sha256_hex(const uint8_t digest[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}
