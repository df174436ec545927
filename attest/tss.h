/*
 * tss.h - internal: what the ESAPI modules (tpm.c, enroll.c) share: the
 * attestation key's template and the mapping of tpm2-tss errors.
 */
#ifndef ATTEST_TSS_H
#define ATTEST_TSS_H

#include <stddef.h>

#include <tss2/tss2_esys.h>

/* The AK: ECC P-256 restricted ECDSA-SHA256 signing key, endorsement primary, fixed label. */
void attest_tss_ak_template(TPM2B_PUBLIC *t);

/* Writes "what: <tpm2-tss reason>" to err; ATTEST_ENOMEM for the TSS's own allocations, else
 * ATTEST_EIO. */
int attest_tss_fail(char *err, size_t errsz, TSS2_RC rc, const char *what);

#endif
