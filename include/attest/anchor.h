/*
 * attest/anchor.h - enrolling a TPM's attestation key with an auditor, so
 * that a verifier can tell whose TPM anchored a run (format/LOG.md,
 * record "tpm"; DESIGN.md, "TPM anchoring").
 *
 * The auditor challenges the TPM: it checks the EK certificate against the
 * vendor CA certificates, makes a credential for the AK's Name under the
 * EK's public key (TPM2_MakeCredential, in software), and only a TPM that
 * holds both that EK and that AK can recover the secret
 * (TPM2_ActivateCredential). The auditor then signs an enrollment note
 * naming the AK and the EK certificate. The recorder stores the note and
 * the EK certificate in the run's `tpm` record; `attest verify
 * --tpm-ca ... --enrollment-key ...` checks both offline.
 */
#ifndef ATTEST_ANCHOR_H
#define ATTEST_ANCHOR_H

#include <stddef.h>
#include <stdint.h>

#include "attest/common.h"
#include "attest/note.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Runs the whole challenge against the TPM at `tcti` (the auditor and the
 * TPM's host side by side, as in a live session) and, when the TPM answers
 * it, returns the enrollment note signed by `auditor` in *enrollment
 * (malloc'd). Returns 0, ATTEST_EVERIFY (the EK certificate does not chain
 * to the CA files, or the TPM did not recover the secret: err says which),
 * ATTEST_EIO (the TPM cannot be reached, a CA file cannot be read),
 * ATTEST_ENOMEM.
 */
ATTEST_API int attest_tpm_enroll(const char *tcti, const char *const *ca_files, size_t n_ca,
                                 const attest_signer *auditor, char **enrollment, char *err,
                                 size_t errsz);

/*
 * Live verification, the training host's half: a fresh quote of the run
 * whose log is at log_path. The TPM named by tcti (NULL: $ATTEST_TCTI)
 * certifies the run's two NV indexes as they are (nothing is written), with
 * qualifying data SHA-256("attest-live-v1\n" || u64be(nonce_len) || nonce ||
 * the latest seal's signed note). *quote_json receives a malloc'd JSON
 * object {"size": tree size of that seal, "checkpoint": its note, "nonce":
 * hex, "tpm": {"extend": {"attest", "signature"}, "counter": {...}}} that
 * `attest verify --transcript` checks: the chain it certifies must be the
 * one the log's anchored seals give, so the quote is younger than the nonce
 * and no seal came after the head it names. Returns 0, ATTEST_EINVAL (no
 * nonce), ATTEST_ENOTFOUND (no seal, or no tpm record), a log error, a TPM
 * error (ATTEST_EIO), ATTEST_ENOMEM; err says why.
 */
ATTEST_API int attest_live_quote(const char *log_path, const char *tcti, const uint8_t *nonce,
                                 size_t nonce_len, char **quote_json, char *err, size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
