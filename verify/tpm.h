/*
 * tpm.h - internal: the auditor's check of a log's TPM evidence
 * (attest/TPM.md, DESIGN.md section 6).
 *
 * A verifier is fed the log's `tpm` record and then every seal in log
 * order. It pins the attestation key (AK) and the Names of the run's two NV
 * indexes from the `tpm` record, checks each seal's two TPM2_NV_Certify
 * certifications (signature, qualifying data = SHA-256 of the signed note,
 * index Names, contents), recomputes the extend index's chain from the log,
 * and follows the counter and the TPM clock across seals. It uses no TPM.
 *
 * Errors: 0, ATTEST_EVERIFY (the log is wrong; err names the record and the
 * field), ATTEST_EINVAL (a NULL argument), ATTEST_ENOMEM, ATTEST_ECRYPTO
 * (OpenSSL failed: could not check). A failed call leaves the verifier as it
 * was. err may be NULL when errsz is 0.
 */
#ifndef ATTEST_VERIFY_TPM_H
#define ATTEST_VERIFY_TPM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct attest_tpm_verifier attest_tpm_verifier;

/* A new verifier in *out (free it with attest_tpm_verifier_free). Returns 0, ATTEST_EINVAL,
 * ATTEST_ENOMEM; on error *out is NULL. */
int attest_tpm_verifier_new(attest_tpm_verifier **out);

/*
 * The run id (record 0): with it, the NV Names of the tpm record must be
 * those of this run's extend index and counter, rebuilt from the run id,
 * handles and fixed attributes. attest verify always gives it.
 */
void attest_tpm_verifier_run(attest_tpm_verifier *v, const uint8_t run_id[16]);

/* Frees the verifier; NULL is a no-op. */
void attest_tpm_verifier_free(attest_tpm_verifier *v);

/*
 * The `tpm` record `rec` at log index `index`: pins the AK (ak_public must be an
 * ECC P-256 restricted signing key, ECDSA-SHA256, whose Name is ak_name) and the
 * two index Names. A second `tpm` record, or one after an anchored seal, is
 * ATTEST_EVERIFY. rec is only read.
 */
__attribute__((warn_unused_result)) int attest_tpm_verifier_key(attest_tpm_verifier *v,
                                                                uint64_t index, const json_t *rec,
                                                                char *err, size_t errsz);

/*
 * The seal at log index `index`: `note` is the signed checkpoint as stored in its
 * "checkpoint" member (SHA-256 of it is the qualifying data), `tpm` its "tpm" member
 * or NULL (an unanchored seal: counted and noted, not a failure), `seal_time` its
 * "time" member or NULL. Seals must be given in log order, each once.
 * ATTEST_EVERIFY when the evidence does not check (err says which seal and what).
 */
__attribute__((warn_unused_result)) int
attest_tpm_verifier_seal(attest_tpm_verifier *v, uint64_t index, const char *note,
                         const json_t *tpm, const char *seal_time, char *err, size_t errsz);

/*
 * Sets report["tpm"] to {"anchored", "seals_anchored", "seals_unanchored",
 * "counter_first", "counter_last", "counter_gaps", "epochs", "attested_seconds",
 * "claimed_seconds", "notes"} (counter and time members are null when no seal is
 * anchored; claimed_seconds also when the anchored seals carry no time) and writes a
 * one-line summary to `line` (linesz bytes, may be 0). Returns 0, ATTEST_EINVAL,
 * ATTEST_ENOMEM (report then unchanged).
 */
int attest_tpm_verifier_report(attest_tpm_verifier *v, json_t *report, char *line, size_t linesz);

/*
 * A live session's quote (attest_live_quote, include/attest/anchor.h), after
 * every seal of the log went through attest_tpm_verifier_seal: both
 * certifications by the pinned AK, qualifying data from this nonce and the
 * note of the log head of tree size `size`, and contents equal to the chain
 * and counter the anchored seals left (so no seal came after). *after_s: TPM
 * seconds between the last seal and the quote (-1 when the TPM rebooted in
 * between). Returns 0, ATTEST_EVERIFY (err says what), ATTEST_ENOMEM.
 */
int attest_tpm_verifier_live(attest_tpm_verifier *v, uint64_t size, const char *note_text,
                             const uint8_t *nonce, size_t nonce_len, const json_t *tpm,
                             double *after_s, char *err, size_t errsz);

#endif
