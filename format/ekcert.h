/*
 * ekcert.h - internal: EK certificates and enrollment notes (format/LOG.md,
 * record "tpm"), shared by the recorder and the verifier.
 */
#ifndef ATTEST_FORMAT_EKCERT_H
#define ATTEST_FORMAT_EKCERT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The text of an enrollment note: "attest-tpm-enrollment/v1\nak <hex Name>\n
 * ek-certificate-sha256 <hex>\n" (malloc'd).
 */
int attest_ekcert_enrollment_text(const char *ak_name_hex, const uint8_t *ek_cert,
                                  size_t ek_cert_len, char **text);

/*
 * Checks that a DER EK certificate chains to the CA certificates in the PEM
 * files (an intermediate CA may be trusted directly). On success writes the
 * issuer's name into issuer (if not NULL). Returns 0, ATTEST_EVERIFY (err
 * says why), ATTEST_EIO (a CA file cannot be read), ATTEST_ENOMEM.
 */
int attest_ekcert_check(const uint8_t *der, size_t len, const char *const *ca_files, size_t n_ca,
                        char *issuer, size_t issuersz, char *err, size_t errsz);

#endif
