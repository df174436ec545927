/*
 * anchor.c - the auditor's enrollment of a TPM's AK (include/attest/anchor.h):
 * EK certificate check, software MakeCredential, ActivateCredential on the
 * TPM, comparison, signed enrollment note. The TPM commands are enroll.c's;
 * the certificate check and the note text are format/ekcert.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "attest/anchor.h"
#include "attest/enroll.h"
#include "attest/error.h"
#include "format/ekcert.h"

int attest_tpm_enroll(const char *tcti, const char *const *ca_files, size_t n_ca,
                      const attest_signer *auditor, char **enrollment, char *err, size_t errsz)
{
    attest_enroll_req *req = calloc(1, sizeof *req);
    attest_enroll_chal *ch = calloc(1, sizeof *ch);
    uint8_t secret[32], answer[32];
    char why[400], name_hex[2 * ATTEST_TPM_NAME_MAX + 1], *text = NULL;
    int rc = ATTEST_ENOMEM;
    if (enrollment) *enrollment = NULL;
    if (!tcti || !auditor || !enrollment || (!ca_files && n_ca)) {
        rc = ATTEST_EINVAL;
        goto done;
    }
    if (!req || !ch) goto done;
    if ((rc = attest_enroll_request(tcti, req, why, sizeof why)) != 0) {
        snprintf(err, errsz, "TPM %s: %s", tcti, why);
        goto done;
    }
    // A certificate that does not chain to the vendor's CA proves nothing about the EK.
    if (n_ca && (rc = attest_ekcert_check(req->ek_cert, req->ek_cert_len, ca_files, n_ca, NULL, 0,
                                          why, sizeof why)) != 0) {
        snprintf(err, errsz, "%s", why);
        goto done;
    }
    if ((rc = attest_enroll_challenge(req, req->ak.name, req->ak.name_len, secret, ch, why,
                                      sizeof why)) != 0 ||
        (rc = attest_enroll_activate(tcti, ch, answer, why, sizeof why)) != 0) {
        snprintf(err, errsz, "credential activation: %s", why);
        if (rc == ATTEST_EIO && strstr(why, "tpm:")) rc = ATTEST_EVERIFY;
        goto done;
    }
    if (sodium_memcmp(secret, answer, sizeof secret) != 0) {
        snprintf(err, errsz, "credential activation: the TPM recovered another secret");
        rc = ATTEST_EVERIFY;
        goto done;
    }
    sodium_bin2hex(name_hex, sizeof name_hex, req->ak.name, req->ak.name_len);
    if ((rc = attest_ekcert_enrollment_text(name_hex, req->ek_cert, req->ek_cert_len, &text)) !=
            0 ||
        (rc = attest_signer_sign(auditor, text, strlen(text), enrollment)) != 0)
        snprintf(err, errsz, "signing the enrollment: %s", attest_strerror(rc));
done:
    sodium_memzero(secret, sizeof secret);
    free(text);
    free(req);
    free(ch);
    return rc;
}
