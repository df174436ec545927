/*
 * provenance.c - whose TPM anchored a run: the EK certificate against the
 * auditor's CA certificates (OpenSSL), and the enrollment note that binds
 * the AK to that EK (an auditor's signed-note, format/LOG.md "tpm"). It
 * does not check the seals' evidence (verify/tpm.c does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "attest/error.h"
#include "attest/note.h"
#include "format/ekcert.h"
#include "verify/provenance.h"

/* Strict hex (lowercase, even, non-empty) into a malloc'd buffer; NULL with *bad set if not hex. */
static uint8_t *from_hex(const char *hex, size_t *len, int *bad)
{
    size_t n = hex ? strlen(hex) : 0;
    *bad = !n || n % 2 || strspn(hex, "0123456789abcdef") != n;
    if (*bad) return NULL;
    uint8_t *b = malloc(n / 2);
    if (b && sodium_hex2bin(b, n / 2, hex, n, NULL, len, NULL) != 0) {
        free(b);
        *bad = 1;
        return NULL;
    }
    return b;
}

/* The enrollment note must be signed by the auditor's key and name this AK and EK. */
static int check_enrollment(uint64_t index, const json_t *rec, const uint8_t *der, size_t len,
                            const attest_verify_options *opts, json_t *report, char *err,
                            size_t errsz)
{
    const char *note = json_string_value(json_object_get(rec, "enrollment"));
    const char *ak = json_string_value(json_object_get(rec, "ak_name"));
    char *text = NULL, *want = NULL, why[256];
    if (!note) {
        snprintf(err, errsz, "record %llu (tpm): the AK is not enrolled (no \"enrollment\")",
                 (unsigned long long)index);
        return ATTEST_EVERIFY;
    }
    int rc = attest_note_open(note, strlen(note), opts->enroll_key, &text, why, sizeof why);
    if (rc) {
        snprintf(err, errsz, "record %llu (tpm): enrollment: %s", (unsigned long long)index, why);
        return rc == ATTEST_ENOMEM ? rc : ATTEST_EVERIFY;
    }
    if ((rc = attest_ekcert_enrollment_text(ak, der, len, &want)) != 0) goto done;
    if (strcmp(text, want) != 0) {
        snprintf(err, errsz,
                 "record %llu (tpm): the enrollment is for another AK or EK certificate",
                 (unsigned long long)index);
        rc = ATTEST_EVERIFY;
        goto done;
    }
    json_object_set_new(report, "enrolled_by", json_string(attest_verifier_name(opts->enroll_key)));
done:
    free(text);
    free(want);
    return rc;
}

int attest_provenance_check(uint64_t index, const json_t *rec, const attest_verify_options *opts,
                            json_t *report, char *err, size_t errsz)
{
    if (!opts || (!opts->n_tpm_ca_files && !opts->enroll_key)) return 0;
    // A genuine EK certificate is public: next to an AK it proves nothing without the enrollment.
    if (!opts->enroll_key) {
        snprintf(err, errsz, "the TPM CA certificates need the enrollment key beside them");
        return ATTEST_EINVAL;
    }
    size_t len = 0;
    const char *hex = json_string_value(json_object_get(rec, "ek_certificate"));
    if (!hex) {
        snprintf(err, errsz, "record %llu (tpm): no \"ek_certificate\" to check",
                 (unsigned long long)index);
        return ATTEST_EVERIFY;
    }
    int bad;
    uint8_t *der = from_hex(hex, &len, &bad);
    if (!der && bad) {
        snprintf(err, errsz, "record %llu (tpm): \"ek_certificate\" is not lowercase hex",
                 (unsigned long long)index);
        return ATTEST_EVERIFY;
    }
    if (!der) return ATTEST_ENOMEM;
    int rc = 0;
    if (opts->n_tpm_ca_files) {
        char issuer[256], why[400];
        rc = attest_ekcert_check(der, len, opts->tpm_ca_files, opts->n_tpm_ca_files, issuer,
                                 sizeof issuer, why, sizeof why);
        if (rc)
            snprintf(err, errsz, "record %llu (tpm): %s", (unsigned long long)index, why);
        else
            json_object_set_new(report, "ek_issuer", json_string(issuer));
    }
    if (!rc && opts->enroll_key)
        rc = check_enrollment(index, rec, der, len, opts, report, err, errsz);
    free(der);
    return rc;
}
