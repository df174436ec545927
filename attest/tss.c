/*
 * tss.c - the attestation key's template and tpm2-tss error mapping, shared
 * by attest/tpm.c (seals) and attest/enroll.c (enrollment) so that both make
 * the same AK. No TPM commands here.
 */
#include <string.h>

#include <tss2/tss2_rc.h>

#include "attest/error.h"
#include "attest/tss.h"
#include "format/text.h"

static const char AK_LABEL[] = "attest-ak-v1";

/* TSS errors are I/O to us (the TPM is a device) except for the TSS's own allocations. */
int attest_tss_fail(char *err, size_t errsz, TSS2_RC rc, const char *what)
{
    int code = ATTEST_EIO;
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER &&
        (rc & ~TSS2_RC_LAYER_MASK) == TSS2_BASE_RC_MEMORY)
        code = ATTEST_ENOMEM;
    return attest_text_fail(err, errsz, code, "%s: %s (0x%x)", what, Tss2_RC_Decode(rc),
                            (unsigned)rc);
}

void attest_tss_ak_template(TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof *t);
    t->publicArea.type = TPM2_ALG_ECC;
    t->publicArea.nameAlg = TPM2_ALG_SHA256;
    t->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                     TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
                                     TPMA_OBJECT_NODA;
    TPMS_ECC_PARMS *p = &t->publicArea.parameters.eccDetail;
    p->symmetric.algorithm = TPM2_ALG_NULL; /* a restricted signing key refuses any other */
    p->scheme.scheme = TPM2_ALG_ECDSA;
    p->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->curveID = TPM2_ECC_NIST_P256;
    p->kdf.scheme = TPM2_ALG_NULL;
    t->publicArea.unique.ecc.x.size = sizeof AK_LABEL - 1;
    memcpy(t->publicArea.unique.ecc.x.buffer, AK_LABEL, sizeof AK_LABEL - 1);
}
