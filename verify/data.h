/*
 * data.h - internal: the run's data shards as the verifier sees them:
 * every file checked against its `shard` record (size, SHA-256, and for
 * zstd files the decompressed size and digest), its content held in
 * memory, and the bytes of a batch rebuilt from a step's references.
 */
#ifndef ATTEST_VERIFY_DATA_H
#define ATTEST_VERIFY_DATA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct vdata vdata;

/* An empty set of shards. */
int vdata_new(vdata **out);
void vdata_free(vdata *d);

/*
 * Reads and checks the file of shard record `rec` (log record `index`) from
 * directory `dir`. Returns 0, ATTEST_EVERIFY (the file is not the recorded
 * one: err says how), ATTEST_ENOTFOUND, ATTEST_EIO, ATTEST_ENOMEM.
 */
int vdata_add(vdata *d, const char *dir, const json_t *rec, uint64_t index, char *err,
              size_t errsz);

/* Number of shards added; the path and sample count of the one with this id (NULL if none). */
size_t vdata_count(const vdata *d);
const char *vdata_path(const vdata *d, uint64_t id, uint64_t *samples);

/*
 * The batch bytes of a step: the samples each [shard, first, count] names,
 * in order, concatenated (a token is its stored bytes, a jsonl sample its
 * line with its LF). *out is malloc'd. Returns 0, ATTEST_EVERIFY (a
 * reference outside its shard), ATTEST_ENOMEM.
 */
int vdata_batch(const vdata *d, const json_t *batch, uint8_t **out, size_t *len, char *err,
                size_t errsz);

#endif
