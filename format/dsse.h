/*
 * dsse.h - internal: DSSE v1.0 envelopes (secure-systems-lab/dsse,
 * protocol.md and envelope.md) signed and opened with the run's Ed25519
 * keys of attest/note.h. verify/export.c wraps in-toto statements in them;
 * the unit tests pin the PAE against the specification's example.
 *
 * Envelope JSON: {"payloadType": T, "payload": base64(body),
 * "signatures": [{"keyid": K, "sig": base64(Ed25519(PAE(T, body)))}]}.
 * We write standard padded base64 and read standard or URL-safe base64,
 * padded or not, as the specification requires of verifiers. keyid is a
 * hint only (never trusted): attest writes the lowercase hex SHA-256 of the
 * 32-byte raw Ed25519 public key (format/EXPORT.md).
 */
#ifndef ATTEST_FORMAT_DSSE_H
#define ATTEST_FORMAT_DSSE_H

#include <stddef.h>
#include <stdint.h>

#include "attest/note.h"

/* Most signatures an envelope may carry before it is refused as malformed. */
#define ATTEST_DSSE_MAX_SIGNATURES 100
/* Length of a keyid as attest writes it: 64 hex digits. */
#define ATTEST_DSSE_KEYID_LEN 64

/*
 * PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body,
 * LEN the decimal byte count without leading zeros, SP one 0x20 byte.
 * *out receives a malloc'd buffer (free with free()) of *out_len bytes.
 * Returns 0, ATTEST_EINVAL (NULL argument) or ATTEST_ENOMEM.
 */
int attest_dsse_pae(uint8_t **out, size_t *out_len, const char *type, const uint8_t *body,
                    size_t body_len);

/*
 * The keyid attest writes for the Ed25519 public key pk: lowercase hex
 * SHA-256 of the 32 raw bytes, NUL-terminated in hex (65 bytes).
 * Returns 0 or ATTEST_ECRYPTO.
 */
int attest_dsse_keyid(char hex[ATTEST_DSSE_KEYID_LEN + 1], const uint8_t pk[32]);

/*
 * Signs body (body_len bytes) as payload type `type` with s and encodes the
 * envelope as compact JSON without a trailing newline in *envelope
 * (malloc'd, NUL-terminated; free with free()). Returns 0, ATTEST_EINVAL
 * (NULL argument, empty type), ATTEST_ECRYPTO or ATTEST_ENOMEM.
 */
int attest_dsse_sign(char **envelope, const attest_signer *s, const char *type, const uint8_t *body,
                     size_t body_len);

/* One signature of a decoded envelope. */
typedef struct attest_dsse_signature {
    char *keyid;  /* "" when the member is absent */
    uint8_t *sig; /* decoded signature bytes */
    size_t sig_len;
} attest_dsse_signature;

/* A decoded (not yet verified) envelope. */
typedef struct attest_dsse_envelope {
    char *payload_type;
    uint8_t *payload; /* decoded body, NUL-terminated for convenience (not counted) */
    size_t payload_len;
    attest_dsse_signature *sigs;
    size_t n_sigs;
} attest_dsse_envelope;

/*
 * Decodes envelope JSON (len bytes, no NUL needed) into *out, which the
 * caller releases with attest_dsse_envelope_clear. Unknown members are
 * ignored. Returns 0, ATTEST_EINVAL, ATTEST_ENOMEM, or ATTEST_EFORMAT (not
 * JSON, a required member missing or of the wrong type, bad base64, no
 * signature or more than ATTEST_DSSE_MAX_SIGNATURES) with a reason in err;
 * on failure *out is left empty.
 */
int attest_dsse_decode(attest_dsse_envelope *out, const char *json, size_t len, char *err,
                       size_t errsz);

/* Frees what attest_dsse_decode put in env and zeroes it; NULL is a no-op. */
void attest_dsse_envelope_clear(attest_dsse_envelope *env);

/*
 * Checks that at least one signature of env is v's Ed25519 signature of
 * PAE(payload_type, payload). keyids are not looked at. Returns 0,
 * ATTEST_EINVAL, ATTEST_ENOMEM, ATTEST_ECRYPTO, or ATTEST_EVERIFY (no
 * signature verifies) with a reason in err.
 */
ATTEST_CHECK_RESULT int attest_dsse_verify(const attest_dsse_envelope *env,
                                           const attest_verifier *v, char *err, size_t errsz);

#endif
