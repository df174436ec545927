/*
 * enroll.h - internal: binding the attestation key (AK, attest/tpm.h) to a
 * certified endorsement key (EK) by an auditor's challenge, TPM2 credential
 * activation (TPM 2.0 Part 1, 24: MakeCredential / ActivateCredential).
 *
 *   TPM side:     attest_enroll_request   EK certificate + EK public + AK public/Name
 *   auditor side: (checks the EK certificate against the vendor CA, the AK
 *                 attributes and its Name) attest_enroll_challenge: a software
 *                 TPM2_MakeCredential with OpenSSL, no TPM needed
 *   TPM side:     attest_enroll_activate  returns the secret only if the AK with
 *                 that Name is loaded in the TPM that holds that EK
 *   auditor side: compares the secret; the enrollment (EK cert, AK public) can
 *                 then be recorded and re-checked offline.
 *
 * The EK is the RSA-2048 EK of the TCG EK Credential Profile (template L-1,
 * certificate at NV 0x01c00002), created as a primary on each call: nothing
 * is stored in the TPM, and every transient object and session a call makes
 * is flushed before it returns. Each TPM-side call opens its own connection
 * (swtpm serves one client at a time: close any attest_tpm first).
 * Errors: 0 or a negative ATTEST_E* code, a one-line reason in err.
 */
#ifndef ATTEST_ENROLL_H
#define ATTEST_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "attest/tpm.h"

#define ATTEST_ENROLL_EK_NV 0x01c00002u /* RSA 2048 EK certificate (TCG EK profile) */
#define ATTEST_ENROLL_CERT_MAX 2048     /* DER EK certificate */
#define ATTEST_ENROLL_RSA_BYTES 256     /* RSA 2048 modulus */
#define ATTEST_ENROLL_BLOB_MAX 512      /* a marshalled TPM2B_ID_OBJECT (>= sizeof TPM2B_ID_OBJECT) */
#define ATTEST_ENROLL_SECRET_MAX 514    /* a marshalled TPM2B_ENCRYPTED_SECRET */

typedef struct attest_enroll_req {
    uint8_t ek_cert[ATTEST_ENROLL_CERT_MAX]; /* DER, as read from NV 0x01c00002 */
    size_t ek_cert_len;
    uint8_t ek_pub[ATTEST_TPM_PUBLIC_MAX]; /* Tss2_MU_TPM2B_PUBLIC_Marshal of the EK */
    size_t ek_pub_len;
    uint8_t ek_modulus[ATTEST_ENROLL_RSA_BYTES]; /* big-endian, = the certificate's key */
    uint32_t ek_exponent;                        /* 65537 (the template's 0 resolved) */
    attest_tpm_key ak;                           /* exactly as attest_tpm_ak gives it */
} attest_enroll_req;

typedef struct attest_enroll_chal {
    uint8_t blob[ATTEST_ENROLL_BLOB_MAX]; /* TPM2B_ID_OBJECT: size || (32-bit HMAC TPM2B || encIdentity) */
    size_t blob_len;
    uint8_t secret[ATTEST_ENROLL_SECRET_MAX]; /* TPM2B_ENCRYPTED_SECRET: size || RSA-OAEP(seed) */
    size_t secret_len;
} attest_enroll_chal;

/*
 * TPM side: reads the EK certificate, creates the EK and the AK, checks that
 * the certificate's public key is the EK's, fills *out. Returns 0,
 * ATTEST_EINVAL, ATTEST_ENOTFOUND (no EK certificate in NV), ATTEST_EFORMAT
 * (the certificate does not parse or is not RSA), ATTEST_EVERIFY (the
 * certificate's key is not this TPM's EK), ATTEST_EIO, ATTEST_ENOMEM.
 */
int attest_enroll_request(const char *tcti, attest_enroll_req *out, char *err, size_t errsz);

/*
 * Auditor side, software only: draws a random 32-byte secret into `secret`
 * and makes the credential for the object named ak_name (nameAlg || digest,
 * SHA-256 only) under the EK of req (the key of req->ek_cert, which must equal
 * req->ek_modulus). The caller must have checked req->ek_cert against its CAs
 * and that req->ak.pub is an acceptable AK that hashes to ak_name. Returns 0,
 * ATTEST_EINVAL, ATTEST_EFORMAT, ATTEST_EVERIFY (cert key != ek_modulus),
 * ATTEST_ECRYPTO.
 */
int attest_enroll_challenge(const attest_enroll_req *req, const uint8_t *ak_name,
                            size_t ak_name_len, uint8_t secret[32], attest_enroll_chal *out,
                            char *err, size_t errsz);

/*
 * TPM side: TPM2_ActivateCredential of *ch with the AK and the EK (policy
 * session with PolicySecret(endorsement)). On success secret holds the
 * recovered secret. Returns 0, ATTEST_EINVAL, ATTEST_EFORMAT (ch does not
 * unmarshal), ATTEST_EVERIFY (the TPM refused the credential: made for
 * another AK or another EK, or tampered; err has the TPM's reason),
 * ATTEST_EIO, ATTEST_ENOMEM.
 */
int attest_enroll_activate(const char *tcti, const attest_enroll_chal *ch, uint8_t secret[32],
                           char *err, size_t errsz);

#endif
