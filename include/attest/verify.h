/*
 * attest/verify.h - the auditor's check of a log.
 *
 * attest_verify_log reads a log file from start to end on its own (it
 * trusts no cache file and no earlier open) and checks, in order: the file
 * header and every frame checksum; every record against the schema and
 * the order rules; that the run record carries the auditor's key; every
 * seal's signature with that key and its root against the tree recomputed
 * from the records before it (so consecutive seals are consistent by
 * construction). Records after the last seal are reported as unsealed.
 *
 * Thread-safety: independent calls may run in parallel.
 */
#ifndef ATTEST_VERIFY_H
#define ATTEST_VERIFY_H

#include "attest/common.h"

#include "attest/note.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attest_report attest_report;

/*
 * Replay of sampled training segments (verify/REPLAY.md): after the log
 * checks pass, the checkpoint and shard files are checked against the log,
 * the initialization is regenerated, and the chosen segments are re-run by
 * the built-in engine (bit for bit) or by the run's own replay command
 * (within the run's tolerance) when allow_command is set.
 */
typedef struct attest_replay_options {
    uint64_t segments;         /* N: segments drawn uniformly from the challenge */
    const uint8_t *nonce;      /* the auditor's nonce (may be NULL: predictable choice) */
    size_t nonce_len;
    const char *data_dir;       /* where the shard files are, by their logged names */
    const char *checkpoint_dir; /* where the checkpoint files are, by their logged names */
    unsigned threads;           /* engine threads (0: 1); never changes a result */
    int allow_command;          /* 1: the auditor allows running the run's replay command */
    const char *code_dir;       /* the prover's code, for "{code}" in the command */
    unsigned timeout_s;         /* time limit of one command run (0: 600 s) */
    /* Progress lines ("segment 3/7: steps 301-400 ...") as the work goes; may be NULL. */
    void (*progress)(void *ctx, const char *line);
    void *progress_ctx;
    /*
     * Version 3: files left out on purpose (a bundle packed without them,
     * format/BUNDLE.md [BUNDLE-10]), each with the reason to report, e.g.
     * "the bundle holds no checkpoints". When set, a shard (checkpoint)
     * file that does not exist under data_dir (checkpoint_dir) is not an
     * error: it and every check that needs it are reported as not checked,
     * and the result is ATTEST_EPARTIAL if everything else passed. NULL: a
     * missing file is an error ("could not check"), as in versions 1 and 2.
     */
    const char *data_absent;
    const char *checkpoints_absent;
    /*
     * Version 5: where the built-in engine replays: NULL or "cpu", or "cuda"
     * (an NVIDIA GPU; the same bits, engine/ENGINE.md). Asking for "cuda"
     * where no GPU can be used is an error that says why.
     */
    const char *device;
    /*
     * Version 5: the run-to-model test (verify/SOUNDNESS.md): a model file
     * (safetensors with the run's parameter tensors) whose losses on
     * model_examples training examples (0: 4000) must follow the committed
     * data order. Built-in engine runs only. NULL: no test.
     */
    const char *model;
    size_t model_examples;
} attest_replay_options;

/* What the auditor brings besides the run key. Start from ATTEST_VERIFY_OPTIONS_INIT. */
typedef struct attest_verify_options {
    unsigned version;                  /* ATTEST_VERIFY_OPTIONS_VERSION (1 to 5) */
    const char *const *tpm_ca_files;   /* PEM files of the TPM vendors' CA certificates */
    size_t n_tpm_ca_files;             /* when > 0, the EK certificate must chain to them */
    const attest_verifier *enroll_key; /* when set, the AK must be enrolled by this key */
    const attest_replay_options *replay; /* version 2: replay segments when not NULL */
    /*
     * Version 4: the text of a live session's transcript (attest live). Its
     * TPM quote must be of the log's latest seal, by the run's TPM, for its
     * nonce, with no seal after; then the segments its nonce draws are
     * replayed with `replay`'s files and must give the transcript's
     * results. The transcript's nonce and segment count replace replay's.
     */
    const char *transcript;
} attest_verify_options;

#define ATTEST_VERIFY_OPTIONS_VERSION 5
#define ATTEST_VERIFY_OPTIONS_INIT                                                                 \
    {                                                                                              \
        ATTEST_VERIFY_OPTIONS_VERSION, NULL, 0, NULL, NULL, NULL                                   \
    }

/*
 * Verifies the log at `path` with the run's public key `key`. *out
 * receives a report in every case but out-of-memory (free it with
 * attest_report_free). Returns 0 when everything checked passed,
 * ATTEST_EVERIFY when the log is wrong (the report names the first
 * failure: record index, offset, reason), or another code when it could
 * not be checked (missing file, I/O error, not a log, unknown version).
 * With replay options of version 3 that declare files absent, it may also
 * return ATTEST_EPARTIAL: nothing failed, but part of what was asked was
 * not checked (the report's verdict is "partial" and its "not_checked"
 * list says what and why). ATTEST_EVERIFY wins over ATTEST_EPARTIAL.
 */
ATTEST_API ATTEST_CHECK_RESULT int attest_verify_log(attest_report **out, const char *path,
                                                     const attest_verifier *key);

/*
 * attest_verify_log with the auditor's TPM trust anchors: the EK certificate
 * recorded in the `tpm` record must chain to one of the CA files, and the
 * AK must carry an enrollment signed by enroll_key. opts may be NULL.
 */
ATTEST_API ATTEST_CHECK_RESULT int attest_verify_log_ex(attest_report **out, const char *path,
                                                        const attest_verifier *key,
                                                        const attest_verify_options *opts);

/* 1 when the verdict is "verified". */
ATTEST_API int attest_report_passed(const attest_report *r);

/* The report as one JSON object (malloc'd; free with free()). */
ATTEST_API int attest_report_json(const attest_report *r, char **out);

/*
 * The report as one self-contained HTML page (no network: inline CSS and SVG
 * plots), malloc'd; free with free().
 */
ATTEST_API int attest_report_html(const attest_report *r, char **out);

/* The report as text for people (malloc'd; free with free()). */
ATTEST_API int attest_report_text(const attest_report *r, char **out);

/* Frees a report. NULL is a no-op. */
ATTEST_API void attest_report_free(attest_report *r);

#ifdef __cplusplus
}
#endif
#endif
