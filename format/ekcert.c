/*
 * ekcert.c - TPM endorsement-key certificates and enrollment notes: checks
 * an EK certificate against CA certificates (OpenSSL), and writes the text
 * an auditor signs when an AK answered its credential-activation challenge
 * for that EK. Shared by the recorder's enrollment and the verifier.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "attest/error.h"
#include "format/ekcert.h"

#define ENROLLMENT_HEADER "attest-tpm-enrollment/v1"

int attest_ekcert_enrollment_text(const char *ak_name_hex, const uint8_t *ek_cert,
                                  size_t ek_cert_len, char **text)
{
    uint8_t d[32];
    char hex[65];
    crypto_hash_sha256(d, ek_cert, ek_cert_len);
    sodium_bin2hex(hex, sizeof hex, d, sizeof d);
    size_t n = strlen(ak_name_hex) + 200;
    *text = malloc(n);
    if (!*text) return ATTEST_ENOMEM;
    snprintf(*text, n, "%s\nak %s\nek-certificate-sha256 %s\n", ENROLLMENT_HEADER, ak_name_hex,
             hex);
    return 0;
}

/* EK certificates carry a critical subject alternative name (TPM manufacturer attributes)
   that OpenSSL does not understand; that error is passed over for the EK certificate itself
   (depth 0) only, and every other check still runs. */
static int pass_unknown_critical(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION &&
        X509_STORE_CTX_get_error_depth(ctx) == 0)
        return 1;
    return ok;
}

/* The EK certificate must chain to one of the auditor's CA certificates. */
int attest_ekcert_check(const uint8_t *der, size_t len, const char *const *ca_files, size_t n_ca,
                        char *issuer, size_t issuersz, char *err, size_t errsz)
{
    const uint8_t *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    if (cert && p != der + len) { // trailing bytes would make the recorded certificate malleable
        X509_free(cert);
        cert = NULL;
    }
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = ATTEST_ENOMEM;
    if (!cert) {
        snprintf(err, errsz, "the EK certificate is not a DER X.509 certificate");
        rc = ATTEST_EVERIFY;
        goto done;
    }
    if (!store || !ctx) goto done;
    for (size_t i = 0; i < n_ca; i++) {
        FILE *f = fopen(ca_files[i], "r");
        X509 *ca;
        int n = 0;
        if (!f) {
            snprintf(err, errsz, "%s: cannot read the CA certificate", ca_files[i]);
            rc = ATTEST_EIO;
            goto done;
        }
        while ((ca = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
            X509_STORE_add_cert(store, ca);
            X509_free(ca);
            n++;
        }
        fclose(f);
        if (n == 0) {
            snprintf(err, errsz, "%s: no PEM certificate in it", ca_files[i]);
            rc = ATTEST_EIO;
            goto done;
        }
    }
    // The auditor may trust an intermediate CA (the vendor's issuing CA) directly.
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    X509_STORE_set_verify_cb(store, pass_unknown_critical);
    if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) goto done;
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY);
    if (X509_verify_cert(ctx) != 1) {
        snprintf(err, errsz, "the EK certificate does not chain to the given CA certificates: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        rc = ATTEST_EVERIFY;
        goto done;
    }
    if (issuer) X509_NAME_oneline(X509_get_issuer_name(cert), issuer, (int)issuersz);
    rc = 0;
done:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(cert);
    return rc;
}
