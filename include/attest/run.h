/*
 * attest/run.h - the recording API a training loop calls: one call per
 * fact (code, init, shard, step, checkpoint, note), seals and close.
 *
 * Calls return at once. Facts that need hashing (files, buffers, the git
 * work tree) are hashed by a pool of threads; a writer thread appends the
 * records to the log in the order the loop reported them, each once its
 * digests are known, and seals every N records or T seconds when asked.
 * The training thread waits only in attest_run_flush/attest_run_close, or
 * when the copies of in-memory buffers waiting to be hashed reach the
 * memory bound.
 *
 * Errors never stop the training process: a call that cannot even queue
 * its fact returns a code; a fact that fails later (unreadable shard, full
 * disk) is reported by attest_run_status and by attest_run_close, and the
 * facts after it are still recorded. Library code never exits or prints.
 *
 * Thread-safety: the record calls of one run may come from several
 * threads; their order in the log is the order in which the calls were
 * made. Ownership: strings and buffers passed in are copied (or hashed)
 * before the call returns unless the call says otherwise.
 */
#ifndef ATTEST_RUN_H
#define ATTEST_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "attest/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attest_run attest_run;

/* Options of attest_run_open. Start from ATTEST_RUN_OPTIONS_INIT. */
typedef struct attest_run_options {
    unsigned version;            /* ATTEST_RUN_OPTIONS_VERSION */
    uint64_t seal_every_records; /* seal after this many records (0: never by count) */
    double seal_every_seconds;   /* seal when this long passed since the last seal (0: never) */
    unsigned hash_threads;       /* hashing threads (0: 2) */
    uint64_t memory_bound;       /* bytes of buffer copies waiting to be hashed (0: 256 MiB) */
    const char *replay_json;     /* replay recipe stored in the run record (new logs), or NULL */
    unsigned flags;              /* ATTEST_RUN_NEW: fail with ATTEST_EEXIST if the log exists */
    const char *tpm_tcti;        /* anchor seals in this TPM ("swtpm:host=...,port=...",
                                    "device:/dev/tpmrm0"); NULL: $ATTEST_TCTI if set, else none */
    const char *tpm_enrollment;  /* file of the AK's enrollment note (attest tpm enroll), stored
                                    with the EK certificate in the tpm record; NULL:
                                    $ATTEST_TPM_ENROLLMENT if set, else none */
} attest_run_options;

#define ATTEST_RUN_NEW 1u

#define ATTEST_RUN_OPTIONS_VERSION 1
#define ATTEST_RUN_OPTIONS_INIT                                                                    \
    {                                                                                              \
        ATTEST_RUN_OPTIONS_VERSION, 0, 0.0, 0, 0, NULL, 0, NULL, NULL                              \
    }

/*
 * Opens a run that records into the log at `log_path`: creates the log
 * (with config_json, a JSON object or NULL for {}, as the claimed
 * configuration) or, when it exists, reopens it to go on recording (a
 * resumed run; config_json is then ignored). `key_path` is the signer key
 * file; it may be NULL for a run that never seals (the CLI's `attest
 * record`). Returns 0, or the code of attest_log_create/attest_log_open
 * (then *out is NULL and, when errmsg is not NULL, a malloc'd reason is
 * stored there), ATTEST_EINVAL for a key that is not the log's key.
 * With a TPM (opts->tpm_tcti or $ATTEST_TCTI), the run connects to it,
 * defines its NV indexes, records a `tpm` record (once per log) and
 * anchors every seal; a TPM that cannot be used fails the open (the reason
 * names the TCTI). A seal whose anchoring fails is written without
 * evidence and the failure is reported by attest_run_status.
 */
ATTEST_API int attest_run_open(attest_run **out, const char *log_path, const char *key_path,
                               const char *config_json, const attest_run_options *opts,
                               char **errmsg);

/*
 * code: the git repository containing repo_path (HEAD commit, tree,
 * branch, remotes, dirty flag and the digest of every uncommitted change).
 */
ATTEST_API int attest_run_code(attest_run *run, const char *repo_path);

/*
 * init: the initialization seed, initializer name and version (NULL: none),
 * the data-order seed (when has_data_seed) and the initial checkpoint file
 * (hashed; NULL: none). Must come before the first step.
 */
ATTEST_API int attest_run_init(attest_run *run, uint64_t seed, const char *initializer,
                               const char *initializer_version, int has_data_seed,
                               uint64_t data_seed, const char *checkpoint_path);

/* Sample layouts of a shard. */
enum attest_layout {
    ATTEST_LAYOUT_BYTES = 0,        /* a sample is one byte */
    ATTEST_LAYOUT_TOKENS_U16LE = 1, /* a sample is one little-endian u16 token */
    ATTEST_LAYOUT_TOKENS_U32LE = 2, /* a sample is one little-endian u32 token */
    ATTEST_LAYOUT_JSONL = 3         /* a sample is one line of JSON */
};

/*
 * Seeds are recorded as JSON integers and must be below 2^63 (ATTEST_EINVAL
 * otherwise): reduce a full 64-bit seed (torch.seed()) before recording it
 * and seeding with it.
 */

/*
 * shard: a data file, hashed as stored (SHA-256 equal to sha256sum's) and,
 * when it is zstd-compressed (detected by its magic), also after
 * decompression; samples are counted in the (decompressed) content
 * according to the layout. `name` is how the log names it (NULL: the
 * file's base name); `id` is the number steps use.
 */
ATTEST_API int attest_run_shard_file(attest_run *run, uint64_t id, const char *path,
                                     const char *name, enum attest_layout layout);

/* shard from memory: the bytes are copied (counted against the memory bound). */
ATTEST_API int attest_run_shard_buffer(attest_run *run, uint64_t id, const char *name,
                                       const void *data, size_t len, enum attest_layout layout);

/* One [shard id, first sample, count] reference of a batch. */
typedef struct attest_sample_ref {
    uint64_t shard, first, count;
} attest_sample_ref;

/* One optimizer step. Start from ATTEST_STEP_INIT. */
typedef struct attest_step {
    unsigned version;              /* ATTEST_STEP_VERSION */
    uint64_t step;                 /* step number, increasing */
    const attest_sample_ref *refs; /* the batch's samples, in the order the model read them */
    size_t n_refs;
    const void *batch; /* the exact batch bytes the model consumed (copied, hashed) */
    size_t batch_len;
    const uint8_t *batch_sha256; /* or their digest (32 bytes): exactly one of the two */
    double lr, loss;             /* stored with their binary64 bits */
    int has_grad_norm;
    double grad_norm;
    const char *user_json; /* a JSON object of loop-specific fields, or NULL */
} attest_step;

#define ATTEST_STEP_VERSION 1
#define ATTEST_STEP_INIT                                                                           \
    {                                                                                              \
        ATTEST_STEP_VERSION, 0, NULL, 0, NULL, 0, NULL, 0.0, 0.0, 0, 0.0, NULL                     \
    }

/* step: one optimizer update. */
ATTEST_API int attest_run_step(attest_run *run, const attest_step *step);

/* Flags of attest_run_checkpoint. */
#define ATTEST_CHECKPOINT_RAW 1u /* not safetensors: whole-file digest only */

/*
 * checkpoint: a safetensors file written after `step` (0: the initial
 * weights): SHA-256 of the whole file and of each tensor's data. The file
 * must not change until its record is written (attest_run_flush).
 */
ATTEST_API int attest_run_checkpoint(attest_run *run, uint64_t step, const char *path,
                                     unsigned flags);

/* note: free text for the log ("resumed after a node failure"). */
ATTEST_API int attest_run_note(attest_run *run, const char *text);

/* seal: signs every record reported before this call (fsync'd when written). */
ATTEST_API int attest_run_seal(attest_run *run);

/* end: the run finished (`reason` may be NULL); only seals may follow. */
ATTEST_API int attest_run_end(attest_run *run, const char *reason);

/* Waits until every fact reported so far is written (or failed). Returns attest_run_status. */
ATTEST_API int attest_run_flush(attest_run *run);

/*
 * The first error of the facts processed so far (0 if none). Its reason is
 * copied into msg (msgsz bytes, truncated, NUL-terminated; "" when none)
 * and the number of facts that failed into *failed. msg and failed may be
 * NULL. Safe to call from any thread.
 */
ATTEST_API int attest_run_status(attest_run *run, char *msg, size_t msgsz, uint64_t *failed);

/*
 * Flushes, seals what is unsealed (when the run has a key and anything was
 * written since the last seal), stops the threads and frees the run. The
 * final status (the seal at close included) is returned and copied out as
 * by attest_run_status. NULL run is a no-op returning 0.
 */
ATTEST_API int attest_run_close(attest_run *run, char *msg, size_t msgsz, uint64_t *failed);

/* Waits for the facts reported so far (attest_run_flush), then returns the log's record count. */
ATTEST_API uint64_t attest_run_records(attest_run *run);

#ifdef __cplusplus
}
#endif
#endif
