/*
 * transcript.h - internal: checks a live session's transcript (cli/live.c)
 * against the log: its quote (verify/tpm.c attest_tpm_verifier_live) is of
 * the log's latest seal and was made for its nonce; its selection and
 * results are what this verifier's own replay with that nonce gives.
 */
#ifndef ATTEST_VERIFY_TRANSCRIPT_H
#define ATTEST_VERIFY_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "verify/tpm.h"

/*
 * Parses the transcript text; fills the nonce (malloc'd) and the number of
 * segments the session drew. Returns 0 or ATTEST_EVERIFY (err: what is
 * malformed), ATTEST_ENOMEM.
 */
int attest_transcript_parse(const char *text, json_t **out, uint8_t **nonce, size_t *nonce_len,
                            uint64_t *segments, char *err, size_t errsz);

/*
 * The quote: of the seal of tree size `last_size` whose note is
 * `last_note`, by this run's TPM, for the transcript's nonce, with nothing
 * sealed after. Adds "live" to the report. Returns 0, ATTEST_EVERIFY.
 */
int attest_transcript_quote(const json_t *t, attest_tpm_verifier *tv, uint64_t last_size,
                            const char *last_note, json_t *report, char *err, size_t errsz);

/*
 * The session's selection and results against this verifier's replay
 * report (report["replay"]): same segments, same reasons, same results.
 */
int attest_transcript_results(const json_t *t, const json_t *replay, char *err, size_t errsz);

#endif
