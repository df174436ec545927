/*
 * attest/export.h - standard statements about a verified log.
 *
 * attest_export_intoto writes an in-toto Statement v1 whose subjects are
 * the final checkpoint file(s) of the run and whose predicate (type
 * ATTEST_EXPORT_PREDICATE_TYPE, format/EXPORT.md) summarizes the sealed
 * part of the log: run, code, data, initialization, steps, checkpoints,
 * seals and the signed tree root. The statement is wrapped in a DSSE
 * envelope signed with the run key. A log is exported only after
 * attest_verify_log_ex passed on it: an export is a statement about a
 * verified log, and it says nothing about records after the last seal.
 *
 * Functions take an optional error buffer (err, errsz) that receives a
 * one-line English reason on failure. Thread-safety: independent calls
 * may run in parallel.
 */
#ifndef ATTEST_EXPORT_H
#define ATTEST_EXPORT_H

#include "attest/common.h"

#include <stddef.h>

#include "attest/note.h"
#include "attest/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The in-toto statement type, the predicate type and the DSSE payload type. */
#define ATTEST_EXPORT_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define ATTEST_EXPORT_PREDICATE_TYPE "https://attest.dev/training-run/v1"
#define ATTEST_EXPORT_PAYLOAD_TYPE "application/vnd.in-toto+json"

/*
 * Verifies the log at `path` with the run's public key `key` (and the
 * auditor's TPM trust anchors in opts, which may be NULL; opts->replay is
 * honoured too), then builds the in-toto statement of its sealed records
 * as compact JSON in *statement (malloc'd, NUL-terminated; free with
 * free()).
 *
 * Returns 0; ATTEST_EVERIFY when the log does not verify with key, or
 * changed between the verification and the reading (err gives the first
 * failure); ATTEST_ENOTFOUND when the file is missing or no checkpoint
 * record is sealed (an in-toto statement needs a subject); ATTEST_EINVAL,
 * ATTEST_EIO, ATTEST_EFORMAT, ATTEST_ECORRUPT, ATTEST_EVERSION,
 * ATTEST_ECRYPTO, ATTEST_ENOMEM when it could not be checked or built.
 * On failure *statement is NULL.
 */
ATTEST_API ATTEST_CHECK_RESULT int attest_export_statement(char **statement, const char *path,
                                                           const attest_verifier *key,
                                                           const attest_verify_options *opts,
                                                           char *err, size_t errsz);

/*
 * attest_export_statement, wrapped in a DSSE envelope (payloadType
 * ATTEST_EXPORT_PAYLOAD_TYPE) signed with `signer`, which must be the run
 * key: the public key of `key` and of the log's run record. When key is
 * NULL the signer's own public key verifies the log. *envelope receives
 * the envelope as one line of compact JSON, without newline (malloc'd;
 * free with free()). Returns the codes of attest_export_statement, and
 * ATTEST_EVERIFY when signer is not the key the log verified with.
 */
ATTEST_API ATTEST_CHECK_RESULT int attest_export_intoto(char **envelope, const char *path,
                                                        const attest_signer *signer,
                                                        const attest_verifier *key,
                                                        const attest_verify_options *opts,
                                                        char *err, size_t errsz);

/*
 * Opens an envelope written by attest_export_intoto (len bytes, no NUL
 * needed): checks that its payloadType is ATTEST_EXPORT_PAYLOAD_TYPE and
 * that a signature by `key` verifies over the DSSE PAE, and returns the
 * statement in *statement (malloc'd; free with free()) when statement is
 * not NULL. It does not interpret the statement. Returns 0, ATTEST_EINVAL,
 * ATTEST_EFORMAT (malformed envelope, other payload type), ATTEST_EVERIFY
 * (no signature by key verifies), ATTEST_ECRYPTO or ATTEST_ENOMEM.
 */
ATTEST_API ATTEST_CHECK_RESULT int attest_export_open(const char *envelope, size_t len,
                                                      const attest_verifier *key, char **statement,
                                                      char *err, size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
