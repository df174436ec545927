/*
 * provenance.h - internal: whose TPM anchored a run. Checks the EK
 * certificate recorded in the `tpm` record against the auditor's CA
 * certificates, and the enrollment note (an auditor's signed statement that
 * this AK answered a credential-activation challenge for this EK).
 */
#ifndef ATTEST_VERIFY_PROVENANCE_H
#define ATTEST_VERIFY_PROVENANCE_H

#include <stddef.h>
#include <jansson.h>

#include "attest/verify.h"

/*
 * Checks the `tpm` record `rec` (log index `index`) with what the auditor
 * gave in opts (CA files, enrollment key). Adds {"ek_issuer", "enrolled_by"}
 * to `report`. Returns 0, ATTEST_EVERIFY (err says what does not hold, or
 * that the log lacks what the auditor asked for), ATTEST_EIO (a CA file
 * cannot be read), ATTEST_ENOMEM.
 */
int attest_provenance_check(uint64_t index, const json_t *rec, const attest_verify_options *opts,
                            json_t *report, char *err, size_t errsz);

#endif
