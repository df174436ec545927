/*
 * dsse.c - DSSE v1.0 envelopes: the pre-authentication encoding (PAE),
 * Ed25519 signing with the run's signer key, JSON encoding and decoding of
 * the envelope, and verification against one verifier key. It knows
 * nothing of in-toto or of what the payload says (verify/export.c does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "attest/error.h"
#include "attest/note.h"
#include "format/dsse.h"
#include "format/key.h"
#include "format/text.h"

#define PAE_PREFIX "DSSEv1"

int attest_dsse_pae(uint8_t **out, size_t *out_len, const char *type, const uint8_t *body,
                    size_t body_len)
{
    char head[64], mid[32];

    if (!out || !out_len || !type || (!body && body_len > 0)) return ATTEST_EINVAL;
    *out = NULL;
    size_t tlen = strlen(type);
    int h = snprintf(head, sizeof head, PAE_PREFIX " %zu ", tlen);
    int m = snprintf(mid, sizeof mid, " %zu ", body_len);
    if (h < 0 || m < 0) return ATTEST_EINVAL;
    size_t n = (size_t)h + tlen + (size_t)m + body_len;
    uint8_t *p = malloc(n ? n : 1);
    if (!p) return ATTEST_ENOMEM;
    memcpy(p, head, (size_t)h);
    memcpy(p + h, type, tlen);
    memcpy(p + (size_t)h + tlen, mid, (size_t)m);
    if (body_len) memcpy(p + (size_t)h + tlen + (size_t)m, body, body_len);
    *out = p;
    *out_len = n;
    return 0;
}

int attest_dsse_keyid(char hex[ATTEST_DSSE_KEYID_LEN + 1], const uint8_t pk[32])
{
    uint8_t h[crypto_hash_sha256_BYTES];

    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    crypto_hash_sha256(h, pk, 32);
    sodium_bin2hex(hex, ATTEST_DSSE_KEYID_LEN + 1, h, sizeof h);
    return 0;
}

/* Standard padded base64 of n bytes, malloc'd, or NULL. */
static char *b64_encode(const uint8_t *bin, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    if (s) sodium_bin2base64(s, cap, bin, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

int attest_dsse_sign(char **envelope, const attest_signer *s, const char *type, const uint8_t *body,
                     size_t body_len)
{
    uint8_t *pae = NULL, sig[crypto_sign_BYTES];
    size_t pae_len;
    char keyid[ATTEST_DSSE_KEYID_LEN + 1], *payload = NULL, *sig64 = NULL;
    json_t *env = NULL;
    int rc;

    if (!envelope || !s || !type || !*type || (!body && body_len > 0)) return ATTEST_EINVAL;
    *envelope = NULL;
    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    if ((rc = attest_dsse_pae(&pae, &pae_len, type, body, body_len)) != 0) return rc;
    crypto_sign_detached(sig, NULL, pae, pae_len, s->sk);
    rc = ATTEST_ENOMEM;
    if (attest_dsse_keyid(keyid, s->pk) != 0) {
        rc = ATTEST_ECRYPTO;
        goto done;
    }
    if (!(payload = b64_encode(body, body_len)) || !(sig64 = b64_encode(sig, sizeof sig)))
        goto done;
    env = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "payloadType", type, "payload", payload,
                    "signatures", "keyid", keyid, "sig", sig64);
    if (!env || !(*envelope = json_dumps(env, JSON_COMPACT))) goto done;
    rc = 0;
done:
    json_decref(env);
    free(pae);
    free(payload);
    free(sig64);
    return rc;
}

/*
 * Decodes base64 in any of the four forms DSSE verifiers must accept
 * (standard or URL-safe alphabet, padded or not) into a malloc'd buffer
 * with one extra NUL byte. Returns 0, ATTEST_EFORMAT (not base64) or ATTEST_ENOMEM.
 */
static int b64_decode(const char *s, uint8_t **out, size_t *out_len)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    size_t n = strlen(s), got;
    const char *end;
    uint8_t *bin = malloc(n / 4 * 3 + 4);

    if (!bin) return ATTEST_ENOMEM;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        if (sodium_base642bin(bin, n / 4 * 3 + 3, s, n, NULL, &got, &end, variants[i]) == 0 &&
            end == s + n) {
            bin[got] = 0;
            *out = bin;
            *out_len = got;
            return 0;
        }
    }
    free(bin);
    return ATTEST_EFORMAT;
}

void attest_dsse_envelope_clear(attest_dsse_envelope *env)
{
    if (!env) return;
    for (size_t i = 0; i < env->n_sigs; i++) {
        free(env->sigs[i].keyid);
        free(env->sigs[i].sig);
    }
    free(env->sigs);
    free(env->payload_type);
    free(env->payload);
    memset(env, 0, sizeof *env);
}

/* Decodes the base64 string member `key` of obj; reasons go to err. */
static int member_b64(const json_t *obj, const char *key, const char *what, uint8_t **out,
                      size_t *len, char *err, size_t errsz)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: \"%s\" is missing or not a string",
                                what, key);
    int rc = b64_decode(s, out, len);
    if (rc == ATTEST_ENOMEM) return rc;
    if (rc)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: \"%s\" is not base64", what, key);
    return 0;
}

int attest_dsse_decode(attest_dsse_envelope *out, const char *json, size_t len, char *err,
                       size_t errsz)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    if (!out || !json) return ATTEST_EINVAL;
    memset(out, 0, sizeof *out);
    if (!(root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)))
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "envelope is not JSON: %s (line %d)",
                                jerr.text, jerr.line);
    rc = ATTEST_EFORMAT;
    const char *type = json_string_value(json_object_get(root, "payloadType"));
    const json_t *sigs = json_object_get(root, "signatures");
    if (!json_is_object(root) || !type) {
        attest_text_fail(err, errsz, rc, "envelope: \"payloadType\" is missing or not a string");
        goto done;
    }
    if (!json_is_array(sigs) || json_array_size(sigs) == 0 ||
        json_array_size(sigs) > ATTEST_DSSE_MAX_SIGNATURES) {
        attest_text_fail(err, errsz, rc, "envelope: \"signatures\" must be an array of 1 to %d",
                         ATTEST_DSSE_MAX_SIGNATURES);
        goto done;
    }
    if (!(out->payload_type = strdup(type)) ||
        !(out->sigs = calloc(json_array_size(sigs), sizeof *out->sigs))) {
        rc = ATTEST_ENOMEM;
        goto done;
    }
    if ((rc = member_b64(root, "payload", "envelope", &out->payload, &out->payload_len, err,
                         errsz)) != 0)
        goto done;
    for (size_t i = 0; i < json_array_size(sigs); i++) {
        const json_t *sj = json_array_get(sigs, i);
        attest_dsse_signature *sg = &out->sigs[out->n_sigs];
        const char *keyid = json_string_value(json_object_get(sj, "keyid"));
        char what[48];
        snprintf(what, sizeof what, "signature %zu", i);
        if (!json_is_object(sj) || (json_object_get(sj, "keyid") && !keyid)) {
            rc = attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                  "%s: not an object with a string keyid", what);
            goto done;
        }
        if (!(sg->keyid = strdup(keyid ? keyid : ""))) {
            rc = ATTEST_ENOMEM;
            goto done;
        }
        out->n_sigs++;
        if ((rc = member_b64(sj, "sig", what, &sg->sig, &sg->sig_len, err, errsz)) != 0) goto done;
    }
    rc = 0;
done:
    json_decref(root);
    if (rc) attest_dsse_envelope_clear(out);
    return rc;
}

int attest_dsse_verify(const attest_dsse_envelope *env, const attest_verifier *v, char *err,
                       size_t errsz)
{
    uint8_t *pae;
    size_t pae_len;
    int rc;

    if (!env || !v || !env->payload_type) return ATTEST_EINVAL;
    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    if ((rc = attest_dsse_pae(&pae, &pae_len, env->payload_type, env->payload, env->payload_len)) !=
        0)
        return rc;
    rc = ATTEST_EVERIFY;
    // keyids are unauthenticated hints: try every signature of the right length.
    for (size_t i = 0; i < env->n_sigs && rc; i++)
        if (env->sigs[i].sig_len == crypto_sign_BYTES &&
            crypto_sign_verify_detached(env->sigs[i].sig, pae, pae_len, v->pk) == 0)
            rc = 0;
    free(pae);
    if (rc)
        attest_text_fail(err, errsz, rc, "no signature of the envelope verifies with the key %s",
                         v->name);
    return rc;
}
