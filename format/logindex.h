/*
 * logindex.h - internal: the two cache files beside a log (LOG.idx, the
 * offset of every record; LOG.tree, the stored Merkle hashes) plus an
 * in-memory tail for records not yet written to them (format/LOG.md
 * section 9). They are derived data: deleting them loses nothing.
 */
#ifndef ATTEST_FORMAT_LOGINDEX_H
#define ATTEST_FORMAT_LOGINDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct attest_logindex attest_logindex;

/*
 * Opens the cache files of the log at log_path. When writable, creates
 * missing ones and trims partial entries; otherwise missing or unreadable
 * files simply give an empty cache. Never fails for a damaged cache (it
 * starts empty); only ATTEST_ENOMEM.
 */
int attest_logindex_open(attest_logindex **out, const char *log_path, int writable);
void attest_logindex_free(attest_logindex *ix);

/* Records covered by the files, and in all (files + memory). */
uint64_t attest_logindex_file_count(const attest_logindex *ix);
uint64_t attest_logindex_count(const attest_logindex *ix);

/* Forgets the file entries from record n on (the log holds fewer records). */
int attest_logindex_shrink(attest_logindex *ix, uint64_t n);

/* Adds the next record: its frame offset and the stored hashes it creates. */
int attest_logindex_push(attest_logindex *ix, uint64_t offset, const uint8_t (*stored)[32],
                         size_t n_stored);

/* Offset of record `index`'s frame. */
int attest_logindex_offset(attest_logindex *ix, uint64_t index, uint64_t *offset);

/* An attest_merkle_read_fn over ctx = attest_logindex *. */
int attest_logindex_hash(void *ctx, uint64_t index, uint8_t out[32]);

/*
 * Writes the in-memory tail to the files (and fsyncs them when sync).
 * A read-only cache ignores this. On failure the cache stays usable from
 * memory and the files are trimmed back.
 */
int attest_logindex_flush(attest_logindex *ix, int sync);

/* Records held only in memory. */
uint64_t attest_logindex_pending(const attest_logindex *ix);

/*
 * Does the cache hold exactly this for record `index` (< file count): its
 * frame offset and the stored hashes its append created? 1 yes, 0 no.
 */
int attest_logindex_matches(attest_logindex *ix, uint64_t index, uint64_t offset,
                            const uint8_t (*stored)[32], size_t n_stored);

/*
 * Writes the whole cache (held in memory: nothing in files) as new cache
 * files beside log_path, through temporary names renamed into place, so a
 * reader needs no lock. Best effort: returns 0 or ATTEST_EIO.
 */
int attest_logindex_publish(attest_logindex *ix, const char *log_path);

#endif
