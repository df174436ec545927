/*
 * attest/log.h - the append-only, signed Merkle log of one training run.
 *
 * A log is one file (format/LOG.md): a header, then records, each a
 * compact JSON object in a checksummed frame. Leaf i of an RFC 6962 tree is
 * the exact stored bytes of record i; a `seal` record holds the signed C2SP
 * checkpoint of every record before it. Two cache files beside the log
 * (LOG.idx, LOG.tree) make proofs fast; they are rebuilt when missing.
 *
 * Handles: one attest_log per open file. A handle is not thread-safe: use
 * it from one thread at a time. Only one process may hold a log open for
 * appending (an exclusive lock; others get ATTEST_ELOCKED). Any number of
 * readers may open it alongside.
 *
 * Errors: every function returns 0 or a negative ATTEST_E* code; the
 * handle keeps a one-line reason (attest_log_errmsg) that names the file
 * and, where one is involved, the record index. On error the log file is
 * unchanged, with two exceptions that the functions below name: running
 * out of memory after a record was written (the record is in the file; the
 * handle refuses further appends: reopen the log), and a failed fsync after
 * a seal (the seal is in the file but may not be durable).
 */
#ifndef ATTEST_LOG_H
#define ATTEST_LOG_H

#include "attest/common.h"

#include <stddef.h>
#include <stdint.h>

#include "attest/merkle.h"
#include "attest/note.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attest_log attest_log;

/* How a log is opened. */
enum attest_log_mode {
    ATTEST_LOG_READ = 0,  /* read records and prove; never writes the log */
    ATTEST_LOG_APPEND = 1 /* exclusive writer: repairs a torn tail, appends, seals */
};

/*
 * Creates a new log at `path` (which must not exist) and writes its `run`
 * record: a fresh run id, this toolkit's version, origin and public key of
 * `signer`, and `config_json` (a JSON object, or NULL for {}) as the
 * claimed configuration. When replay_json is not NULL it is stored as the
 * replay recipe. The file and its directory are fsync'd. The log is left
 * open for appending in *out.
 *
 * As with attest_log_open, *out is set even on failure (unless memory ran
 * out) so that attest_log_errmsg can say why; free it with attest_log_free.
 * Returns 0, ATTEST_EEXIST, ATTEST_EFORMAT (config is not a JSON object),
 * ATTEST_EIO, ATTEST_ENOMEM.
 */
ATTEST_API int attest_log_create(attest_log **out, const char *path, const attest_signer *signer,
                                 const char *config_json, const char *replay_json);

/*
 * Opens an existing log. In ATTEST_LOG_APPEND mode every record is read and
 * checked (frames, schema, order rules, seal signatures and roots), and a
 * torn last frame is cut off: its bytes are first saved to
 * "<path>.torn.<offset>" and attest_log_notice says so. In ATTEST_LOG_READ
 * mode only the records the caches do not cover are read, and a torn tail
 * is ignored (and reported by attest_log_notice).
 *
 * *out is set even on failure (unless memory ran out); free it with
 * attest_log_free. Returns 0, ATTEST_ENOTFOUND, ATTEST_ELOCKED,
 * ATTEST_EFORMAT (not a log, or a record breaks the schema or the rules),
 * ATTEST_EVERSION, ATTEST_ECORRUPT (a damaged frame: errmsg names the
 * record), ATTEST_EVERIFY (a seal that does not match the log), ATTEST_EIO.
 */
ATTEST_API int attest_log_open(attest_log **out, const char *path, enum attest_log_mode mode);

/*
 * Appends one record (a JSON object of `len` bytes, stored exactly as
 * given) after checking it against the schema and the order rules. `seal`
 * and `run` records are refused: use attest_log_seal / attest_log_create.
 * On return the record is in the OS page cache (not fsync'd). *index, if
 * not NULL, receives its index. Returns 0, ATTEST_EINVAL (read-only
 * handle, or a seal/run record), ATTEST_EFORMAT (reason in errmsg),
 * ATTEST_EIO (the log is unchanged), ATTEST_ENOMEM (the record may be in the file: see above).
 */
ATTEST_API int attest_log_append(attest_log *log, const char *json, size_t len, uint64_t *index);

/*
 * Appends a `seal` record holding the checkpoint of every record before it,
 * signed by `signer` (which must be the run's key), then fsyncs the log
 * and its caches. *index, if not NULL, receives the seal's index (which is
 * also the sealed tree size). Returns 0, ATTEST_EINVAL (read-only handle,
 * or not the run's key), ATTEST_EIO (when the fsync after the write failed,
 * the seal record is in the file: do not seal again before reopening the
 * log and looking), ATTEST_ENOMEM.
 */
ATTEST_API int attest_log_seal(attest_log *log, const attest_signer *signer, uint64_t *index);

/*
 * An anchor for a seal: given the SHA-256 of the signed checkpoint note,
 * returns in *evidence a malloc'd JSON object (the seal's "tpm" member,
 * format/LOG.md) or leaves it NULL to seal without evidence. Returns 0 or a
 * negative code (then the seal is written without evidence).
 */
typedef int (*attest_log_anchor_fn)(void *ctx, const uint8_t digest[32], char **evidence);

/* attest_log_seal, with the evidence `anchor` gives stored in the seal record. */
ATTEST_API int attest_log_seal_anchored(attest_log *log, const attest_signer *signer,
                                        attest_log_anchor_fn anchor, void *ctx, uint64_t *index);

/* Flushes the caches and fsyncs the log without sealing. */
ATTEST_API int attest_log_sync(attest_log *log);

/* Number of records (whole frames) in the log. */
ATTEST_API uint64_t attest_log_count(const attest_log *log);

/*
 * The exact stored bytes of record `index`, as a malloc'd buffer (free
 * with free()), NUL-terminated for convenience; *len excludes the NUL.
 * The frame check and the record schema are checked first. Returns 0,
 * ATTEST_ENOTFOUND, ATTEST_ECORRUPT (damaged frame), ATTEST_EFORMAT (the
 * record breaks the schema), ATTEST_EIO, ATTEST_ENOMEM.
 */
ATTEST_API int attest_log_get(attest_log *log, uint64_t index, char **data, size_t *len);

/*
 * The signed checkpoint note of the seal at tree size `size` (0: the
 * latest seal), malloc'd (free with free()). A seal of tree size N is
 * record N, so this reads one record (the latest: the records after it).
 * Returns 0, ATTEST_ENOTFOUND (no such seal), ATTEST_ECORRUPT, ATTEST_EIO.
 */
ATTEST_API int attest_log_checkpoint(attest_log *log, uint64_t size, char **note);

/* Root hash of the first `size` records (size <= attest_log_count). */
ATTEST_API int attest_log_root(attest_log *log, uint64_t size, uint8_t root[ATTEST_HASH_SIZE]);

/*
 * Inclusion proof of record `index` in the tree of the first `size`
 * records (index < size <= count). The proof is checked against the
 * recomputed root before it is returned. proof must hold
 * ATTEST_MERKLE_MAX_INCLUSION hashes.
 */
ATTEST_API int attest_log_prove(attest_log *log, uint64_t index, uint64_t size,
                                uint8_t proof[][ATTEST_HASH_SIZE], size_t *len);

/*
 * Consistency proof between the trees of the first old_size and size
 * records (old_size <= size <= count). proof must hold
 * ATTEST_MERKLE_MAX_CONSISTENCY hashes.
 */
ATTEST_API int attest_log_consistency(attest_log *log, uint64_t old_size, uint64_t size,
                                      uint8_t proof[][ATTEST_HASH_SIZE], size_t *len);

/*
 * READ mode: stops using the cache files and re-reads every frame (into
 * memory). For a caller whose cached answer (a root, a proof) disagrees
 * with a signed checkpoint: the cache may be damaged, the log may not.
 * attest_log_get does it by itself when a cached offset is wrong.
 */
ATTEST_API int attest_log_reload(attest_log *log);

/* The reason for the last failure on this handle ("" when none). */
ATTEST_API const char *attest_log_errmsg(const attest_log *log);

/*
 * What opening the log had to do (a torn tail cut off or ignored, caches
 * rebuilt), or NULL when nothing happened worth saying.
 */
ATTEST_API const char *attest_log_notice(const attest_log *log);

/* Number of `step` records (APPEND mode; 0 in READ mode). */
ATTEST_API uint64_t attest_log_step_count(const attest_log *log);

/* The run's origin (key name), valid once the log is open. */
ATTEST_API const char *attest_log_origin(const attest_log *log);

/*
 * Flushes the caches, releases the lock and frees the handle. Does not
 * seal: records after the last seal stay unsealed. NULL is a no-op.
 */
ATTEST_API void attest_log_free(attest_log *log);

#ifdef __cplusplus
}
#endif
#endif
