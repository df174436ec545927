/*
 * shard.h - internal: the facts of a `shard` record: size and SHA-256 as
 * stored, the zstd-decompressed size and SHA-256 when the shard is a zstd
 * stream, and the number of samples its layout gives.
 */
#ifndef ATTEST_SHARD_H
#define ATTEST_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "attest/run.h"

typedef struct attest_shard_facts {
    uint64_t size, samples, content_size;
    uint8_t sha256[32], content_sha256[32];
    int zstd; /* content_* are set only when the stored bytes are zstd */
} attest_shard_facts;

/* Facts of a shard file. Returns 0, ATTEST_ENOTFOUND, ATTEST_EIO, ATTEST_EFORMAT (err says why). */
int attest_shard_file(const char *path, enum attest_layout layout, attest_shard_facts *out,
                      char *err, size_t errsz);

/* Facts of a shard in memory (`name` is used in messages). */
int attest_shard_buffer(const char *name, const void *data, size_t len, enum attest_layout layout,
                        attest_shard_facts *out, char *err, size_t errsz);

/* The layout's name in records ("tokens-u16le", ...). */
const char *attest_layout_name(enum attest_layout layout);

#endif
