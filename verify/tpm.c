/*
 * tpm.c - the auditor's check of TPM evidence in a log (verify/tpm.h).
 *
 * Pins the AK and the run's NV index Names from the `tpm` record, then checks
 * each seal's two NV certifications with OpenSSL and follows the chain, the
 * counter and the TPM clock from seal to seal. It talks to no TPM and does not
 * judge the EK or where the AK came from (provenance is later work).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/error.h"
#include "format/text.h"
#include "attest/tpm.h"
#include "format/live.h"
#include "verify/tpm.h"

#define NAME_LEN 34  /* 0x000b || SHA-256 */
#define MAX_NOTES 64 /* notes kept; the rest are counted */

struct attest_tpm_verifier {
    int have_run;
    uint8_t run_id[16]; /* the NV indexes' Names derive from it (attest/TPM.md) */
    int have_key;
    uint64_t key_index;
    EVP_PKEY *ak;
    uint8_t ak_name[NAME_LEN];
    uint8_t ak_qname[NAME_LEN]; /* qualified Name: what TPMS_ATTEST.qualifiedSigner holds */
    uint8_t extend_name[NAME_LEN];
    uint8_t counter_name[NAME_LEN];

    uint8_t chain[32]; /* the extend index as the anchored seals so far make it */
    uint64_t anchored, unanchored;
    uint64_t counter_first, counter_last, counter_gaps;
    uint64_t clock; /* ms, of the last certification */
    uint32_t reset, restart;
    uint64_t epochs, attested_ms;
    int have_time;
    double time_first, time_last;
    json_t *notes;
    uint64_t notes_dropped;
    json_t *points; /* per anchored seal: [record, attested s, claimed s or null] */
    int live;       /* checking a live quote (messages) */
};

/* The state a seal moves forward; committed only when the whole seal checks. */
typedef struct progress {
    uint8_t chain[32];
    uint64_t counter_last, counter_gaps;
    uint64_t clock;
    uint32_t reset, restart;
    uint64_t epochs, attested_ms;
} progress;

static void note(attest_tpm_verifier *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(attest_tpm_verifier *v, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    if (json_array_size(v->notes) >= MAX_NOTES) {
        v->notes_dropped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* A note lost to a failed allocation is counted like a dropped one. */
    if (json_array_append_new(v->notes, json_string(msg)) != 0) v->notes_dropped++;
}

static void sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, a, alen);
    crypto_hash_sha256_update(&st, b, blen);
    crypto_hash_sha256_final(&st, out);
}

/* Decodes lowercase hex of at most `max` bytes; -1 on anything else. */
static int unhex(const char *hex, uint8_t *out, size_t max, size_t *len)
{
    size_t n = strlen(hex);
    if (n == 0 || n % 2 || n / 2 > max) return -1;
    for (size_t i = 0; i < n; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'))) return -1;
    return sodium_hex2bin(out, max, hex, n, NULL, len, NULL) == 0 && *len == n / 2 ? 0 : -1;
}

/* A member that is lowercase hex of at most `max` bytes. */
static int hex_member(const json_t *obj, const char *key, uint8_t *out, size_t max, size_t *len)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? unhex(s, out, max, len) : -1;
}

/* 1 when `obj` is an object whose members are exactly `keys` (NULL-terminated). */
static int exact_members(const json_t *obj, const char *const *keys)
{
    size_t n = 0;
    if (!json_is_object(obj)) return 0;
    for (; keys[n]; n++)
        if (!json_object_get(obj, keys[n])) return 0;
    return json_object_size(obj) == n;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* "YYYY-MM-DDTHH:MM:SS[.F]Z" (format/LOG.md) as seconds since 1970; -1 if malformed. */
static int parse_time(const char *s, double *out)
{
    struct tm tm = {0};
    int used = 0;
    double frac = 0, scale = 0.1;
    if (strlen(s) < 20 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &used) != 6 ||
        used != 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
        return -1;
    s += used;
    if (*s == '.') {
        int digits = 0;
        for (s++; *s >= '0' && *s <= '9'; s++, digits++, scale /= 10)
            frac += (*s - '0') * scale;
        if (digits < 1 || digits > 9) return -1;
    }
    if (strcmp(s, "Z") != 0) return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    *out = (double)t + frac;
    return 0;
}

/* The AK's OpenSSL key from a P-256 point (coordinates left-padded to 32 bytes). */
static int ak_pkey(const TPMS_ECC_POINT *q, EVP_PKEY **out)
{
    uint8_t point[65] = {4};
    OSSL_PARAM_BLD *b = NULL;
    OSSL_PARAM *p = NULL;
    EVP_PKEY_CTX *c = NULL;
    int rc = ATTEST_ECRYPTO;

    memcpy(point + 1 + 32 - q->x.size, q->x.buffer, q->x.size);
    memcpy(point + 33 + 32 - q->y.size, q->y.buffer, q->y.size);
    *out = NULL;
    b = OSSL_PARAM_BLD_new();
    c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!b || !c ||
        !OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) ||
        (p = OSSL_PARAM_BLD_to_param(b)) == NULL || EVP_PKEY_fromdata_init(c) != 1)
        goto done;
    /* A point off the curve is refused here: the record is wrong, not OpenSSL. */
    rc = EVP_PKEY_fromdata(c, out, EVP_PKEY_PUBLIC_KEY, p) == 1 ? 0 : ATTEST_EVERIFY;
done:
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(c);
    return rc;
}

/* 1 when `sig` is the AK's ECDSA signature over `msg`, 0 when not, <0 when OpenSSL failed. */
static int ecdsa_ok(EVP_PKEY *key, const TPMS_SIGNATURE_ECDSA *e, const uint8_t *msg, size_t len)
{
    BIGNUM *r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
    BIGNUM *s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
    ECDSA_SIG *es = ECDSA_SIG_new();
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    int ok = ATTEST_ECRYPTO, derlen;

    if (!r || !s || !es || !m || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        goto done;
    }
    if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0 ||
        EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, key) != 1)
        goto done;
    ok = EVP_DigestVerify(m, der, (size_t)derlen, msg, len) == 1;
done:
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(m);
    return ok;
}

int attest_tpm_verifier_new(attest_tpm_verifier **out)
{
    if (!out) return ATTEST_EINVAL;
    *out = NULL;
    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    attest_tpm_verifier *v = calloc(1, sizeof *v);
    if (!v || !(v->notes = json_array())) {
        free(v);
        return ATTEST_ENOMEM;
    }
    *out = v;
    return 0;
}

void attest_tpm_verifier_free(attest_tpm_verifier *v)
{
    if (!v) return;
    EVP_PKEY_free(v->ak);
    json_decref(v->notes);
    json_decref(v->points);
    free(v);
}

/* A Name member: 0x000b || 32 bytes. */
static int name_member(const json_t *rec, const char *key, uint8_t out[NAME_LEN])
{
    size_t len = 0;
    return hex_member(rec, key, out, NAME_LEN, &len) == 0 && len == NAME_LEN &&
                   be16(out) == TPM2_ALG_SHA256
               ? 0
               : -1;
}

/* An NV index handle member (0x01xxxxxx). */
static int handle_member(const json_t *rec, const char *key)
{
    const json_t *h = json_object_get(rec, key);
    json_int_t x = json_is_integer(h) ? json_integer_value(h) : -1;
    return x >= 0 && x <= 0xffffffff && (x >> 24) == TPM2_HT_NV_INDEX ? 0 : -1;
}

void attest_tpm_verifier_run(attest_tpm_verifier *v, const uint8_t run_id[16])
{
    memcpy(v->run_id, run_id, 16);
    v->have_run = 1;
}

/*
 * The Name an index of this run must have once written: its whole public area is fixed by
 * the run id, the handle and its kind, so a look-alike (an ordinary index the prover could
 * write at will) has another Name.
 */
static int expected_nv_name(const attest_tpm_verifier *v, uint32_t handle, int counter,
                            uint8_t name[NAME_LEN])
{
    static const char label[] = "attest-tpm-nv-v1";
    TPMS_NV_PUBLIC p;
    uint8_t buf[sizeof p];
    size_t off = 0;
    memset(&p, 0, sizeof p);
    p.nvIndex = handle;
    p.nameAlg = TPM2_ALG_SHA256;
    p.attributes =
        ((TPMA_NV)(counter ? TPM2_NT_COUNTER : TPM2_NT_EXTEND) << TPMA_NV_TPM2_NT_SHIFT) |
        TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA | TPMA_NV_WRITTEN;
    p.authPolicy.size = 32;
    sha256_2(label, sizeof label - 1, v->run_id, 16, p.authPolicy.buffer);
    p.dataSize = counter ? 8 : 32;
    if (Tss2_MU_TPMS_NV_PUBLIC_Marshal(&p, buf, sizeof buf, &off) != TSS2_RC_SUCCESS) return -1;
    name[0] = 0x00;
    name[1] = 0x0b;
    sha256_2(buf, off, "", 0, name + 2);
    return 0;
}

int attest_tpm_verifier_key(attest_tpm_verifier *v, uint64_t index, const json_t *rec, char *err,
                            size_t errsz)
{
    uint8_t pubbuf[ATTEST_TPM_PUBLIC_MAX], name[NAME_LEN], given[NAME_LEN];
    uint8_t ext[NAME_LEN], ctr[NAME_LEN], qn[4 + NAME_LEN];
    size_t len = 0, off = 0;
    TPM2B_PUBLIC pub = {0}; /* tpm2-tss refuses to unmarshal into a TPM2B with size != 0 */
    EVP_PKEY *key = NULL;
    int rc;

    if (!v || !rec) return attest_text_fail(err, errsz, ATTEST_EINVAL, "tpm record: NULL argument");
    if (v->have_key)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "record %" PRIu64
                                ": a second tpm record (the first is record %" PRIu64 ")",
                                index, v->key_index);
    if (v->anchored || v->unanchored)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "record %" PRIu64 ": tpm record after the first seal", index);
    if (hex_member(rec, "ak_public", pubbuf, sizeof pubbuf, &len) != 0 || len < 2 ||
        be16(pubbuf) != len - 2 ||
        Tss2_MU_TPM2B_PUBLIC_Unmarshal(pubbuf, len, &off, &pub) != TSS2_RC_SUCCESS || off != len)
        return attest_text_fail(
            err, errsz, ATTEST_EVERIFY,
            "tpm record %" PRIu64 ": ak_public is not a marshalled TPM2B_PUBLIC", index);

    const TPMT_PUBLIC *p = &pub.publicArea;
    const TPMS_ECC_PARMS *e = &p->parameters.eccDetail;
    const TPMA_OBJECT must = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                             TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED |
                             TPMA_OBJECT_SIGN_ENCRYPT;
    if (p->type != TPM2_ALG_ECC || p->nameAlg != TPM2_ALG_SHA256 ||
        (p->objectAttributes & must) != must || (p->objectAttributes & TPMA_OBJECT_DECRYPT) ||
        e->curveID != TPM2_ECC_NIST_P256 || e->scheme.scheme != TPM2_ALG_ECDSA ||
        e->scheme.details.ecdsa.hashAlg != TPM2_ALG_SHA256 ||
        e->symmetric.algorithm != TPM2_ALG_NULL || e->kdf.scheme != TPM2_ALG_NULL ||
        p->unique.ecc.x.size > 32 || p->unique.ecc.y.size > 32)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "tpm record %" PRIu64
                                ": ak_public is not an ECC P-256 fixedTPM restricted "
                                "signing key with ECDSA-SHA256",
                                index);
    /* The Name hashes the marshalled TPMT_PUBLIC: the TPM2B's bytes after its size. */
    name[0] = 0x00;
    name[1] = 0x0b;
    sha256_2(pubbuf + 2, len - 2, "", 0, name + 2);
    if (name_member(rec, "ak_name", given) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "tpm record %" PRIu64 ": ak_name is not a SHA-256 Name in hex",
                                index);
    if (memcmp(given, name, NAME_LEN) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "tpm record %" PRIu64 ": ak_name does not match ak_public", index);
    if (handle_member(rec, "extend_index") != 0 || handle_member(rec, "counter_index") != 0 ||
        json_equal(json_object_get(rec, "extend_index"), json_object_get(rec, "counter_index")))
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "tpm record %" PRIu64
                                ": extend_index and counter_index must be two NV "
                                "index handles",
                                index);
    if (name_member(rec, "extend_name", ext) != 0 || name_member(rec, "counter_name", ctr) != 0 ||
        memcmp(ext, ctr, NAME_LEN) == 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "tpm record %" PRIu64
                                ": extend_name and counter_name must be two SHA-256 "
                                "Names in hex",
                                index);
    if (v->have_run) {
        uint8_t want_ext[NAME_LEN], want_ctr[NAME_LEN];
        uint32_t he = (uint32_t)json_integer_value(json_object_get(rec, "extend_index"));
        uint32_t hc = (uint32_t)json_integer_value(json_object_get(rec, "counter_index"));
        if (expected_nv_name(v, he, 0, want_ext) != 0 || expected_nv_name(v, hc, 1, want_ctr) != 0)
            return attest_text_fail(err, errsz, ATTEST_ECRYPTO,
                                    "tpm record %" PRIu64 ": cannot marshal an NV public area",
                                    index);
        if (memcmp(ext, want_ext, NAME_LEN) != 0 || memcmp(ctr, want_ctr, NAME_LEN) != 0)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "tpm record %" PRIu64
                                    ": extend_name or counter_name is not the Name of this run's "
                                    "extend index or counter (type, attributes, policy, size)",
                                    index);
    }
    if ((rc = ak_pkey(&p->unique.ecc, &key)) != 0)
        return attest_text_fail(err, errsz, rc, "tpm record %" PRIu64 ": ak_public: %s", index,
                                rc == ATTEST_EVERIFY ? "the point is not on P-256"
                                                     : "OpenSSL cannot make the key");

    /* The AK is an endorsement primary: its qualified Name is H(TPM_RH_ENDORSEMENT || Name). */
    qn[0] = 0x40;
    qn[1] = qn[2] = 0x00;
    qn[3] = 0x0b;
    memcpy(qn + 4, name, NAME_LEN);
    v->ak_qname[0] = 0x00;
    v->ak_qname[1] = 0x0b;
    sha256_2(qn, sizeof qn, "", 0, v->ak_qname + 2);

    v->ak = key;
    memcpy(v->ak_name, name, NAME_LEN);
    memcpy(v->extend_name, ext, NAME_LEN);
    memcpy(v->counter_name, ctr, NAME_LEN);
    v->have_key = 1;
    v->key_index = index;
    return 0;
}

/* Checks one certification `which` ("extend" or "counter") of index `name`, holding `size`
 * bytes, made for `digest`; fills *a. */
static int check_cert(attest_tpm_verifier *v, uint64_t index, const char *which, const json_t *obj,
                      const uint8_t digest[32], const uint8_t *name, uint16_t size, TPMS_ATTEST *a,
                      char *err, size_t errsz)
{
    uint8_t abuf[ATTEST_TPM_ATTEST_MAX], sbuf[ATTEST_TPM_SIGNATURE_MAX];
    size_t alen = 0, slen = 0, off = 0, off2 = 0, off3 = 0;
    TPM2B_ATTEST att = {0};
    TPMT_SIGNATURE sig;

    memset(a, 0, sizeof *a);
    memset(&sig, 0, sizeof sig);
    if (hex_member(obj, "attest", abuf, sizeof abuf, &alen) != 0 ||
        hex_member(obj, "signature", sbuf, sizeof sbuf, &slen) != 0)
        return attest_text_fail(
            err, errsz, ATTEST_EVERIFY,
            "seal %" PRIu64 ": tpm.%s: attest or signature is not lowercase hex", index, which);
    if (Tss2_MU_TPM2B_ATTEST_Unmarshal(abuf, alen, &off, &att) != TSS2_RC_SUCCESS || off != alen ||
        Tss2_MU_TPMS_ATTEST_Unmarshal(att.attestationData, att.size, &off2, a) != TSS2_RC_SUCCESS ||
        off2 != att.size)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "seal %" PRIu64 ": tpm.%s.attest is not a marshalled TPM2B_ATTEST",
                                index, which);
    if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(sbuf, slen, &off3, &sig) != TSS2_RC_SUCCESS ||
        off3 != slen || sig.sigAlg != TPM2_ALG_ECDSA ||
        sig.signature.ecdsa.hash != TPM2_ALG_SHA256 || sig.signature.ecdsa.signatureR.size > 32 ||
        sig.signature.ecdsa.signatureS.size > 32)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "seal %" PRIu64
                                ": tpm.%s.signature is not a marshalled ECDSA-SHA256 "
                                "TPMT_SIGNATURE",
                                index, which);
    int ok = ecdsa_ok(v->ak, &sig.signature.ecdsa, att.attestationData, att.size);
    if (ok < 0)
        return attest_text_fail(err, errsz, ok, "seal %" PRIu64 ": tpm.%s: OpenSSL failed", index,
                                which);
    if (!ok)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "seal %" PRIu64 ": tpm.%s: the AK's signature does not verify",
                                index, which);
    if (a->magic != TPM2_GENERATED_VALUE || a->type != TPM2_ST_ATTEST_NV)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "seal %" PRIu64
                                ": tpm.%s: not a TPM-generated NV certification (magic "
                                "%08" PRIx32 ", type %04x)",
                                index, which, a->magic, a->type);
    if (a->qualifiedSigner.size != NAME_LEN ||
        memcmp(a->qualifiedSigner.name, v->ak_qname, NAME_LEN) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "seal %" PRIu64 ": tpm.%s: qualifiedSigner is not the pinned AK",
                                index, which);
    if (a->extraData.size != 32 || memcmp(a->extraData.buffer, digest, 32) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "seal %" PRIu64 ": tpm.%s: qualifying data is not %s", index, which,
                                v->live ? "the digest of this nonce and this log head (a quote "
                                          "made for another nonce or another head)"
                                        : "SHA-256 of this seal's checkpoint (evidence of "
                                          "another seal, or the note changed)");
    const TPMS_NV_CERTIFY_INFO *nv = &a->attested.nv;
    if (nv->indexName.size != NAME_LEN || memcmp(nv->indexName.name, name, NAME_LEN) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "seal %" PRIu64
                                ": tpm.%s: certifies an NV index whose Name is not the "
                                "pinned %s_name (another run's index?)",
                                index, which, which);
    if (nv->offset != 0 || nv->nvContents.size != size)
        return attest_text_fail(
            err, errsz, ATTEST_EVERIFY,
            "seal %" PRIu64 ": tpm.%s: certifies %u bytes at offset %u, not the whole "
            "index (%u bytes)",
            index, which, (unsigned)nv->nvContents.size, (unsigned)nv->offset, (unsigned)size);
    return 0;
}

/* Follows the clock to certification `a`; counts epochs and attested time. */
static int follow_clock(attest_tpm_verifier *v, progress *g, uint64_t index, const TPMS_ATTEST *a,
                        char *err, size_t errsz)
{
    const TPMS_CLOCK_INFO *c = &a->clockInfo;
    if (g->epochs == 0) {
        g->epochs = 1;
    } else if (c->resetCount == g->reset && c->restartCount == g->restart) {
        if (c->clock < g->clock)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "TPM clock went backwards at seal %" PRIu64 " (%" PRIu64
                                    " ms -> %" PRIu64 " ms within one boot: TPM state restored?)",
                                    index, g->clock, (uint64_t)c->clock);
        g->attested_ms += c->clock - g->clock;
    } else {
        g->epochs++;
        note(v,
             "seal %" PRIu64 ": TPM rebooted before it (resetCount %" PRIu32 " -> %" PRIu32
             ", restartCount %" PRIu32 " -> %" PRIu32 ")",
             index, g->reset, c->resetCount, g->restart, c->restartCount);
    }
    g->clock = c->clock;
    g->reset = c->resetCount;
    g->restart = c->restartCount;
    return 0;
}

int attest_tpm_verifier_seal(attest_tpm_verifier *v, uint64_t index, const char *note_text,
                             const json_t *tpm, const char *seal_time, char *err, size_t errsz)
{
    static const char *const top_keys[] = {"extend", "counter", NULL};
    static const char *const cert_keys[] = {"attest", "signature", NULL};
    uint8_t digest[32], want[32];
    TPMS_ATTEST ea, ca;
    double t = 0;
    int rc;

    if (!v || !note_text)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "tpm seal: NULL argument");
    if (seal_time && parse_time(seal_time, &t) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "seal %" PRIu64 ": time is not an RFC 3339 UTC time", index);
    if (!tpm) {
        if (v->anchored) note(v, "seal %" PRIu64 ": no TPM evidence after anchored seals", index);
        v->unanchored++;
        return 0;
    }
    if (!v->have_key)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "seal %" PRIu64 ": TPM evidence but no tpm record before it",
                                index);
    if (!exact_members(tpm, top_keys) ||
        !exact_members(json_object_get(tpm, "extend"), cert_keys) ||
        !exact_members(json_object_get(tpm, "counter"), cert_keys))
        return attest_text_fail(
            err, errsz, ATTEST_EVERIFY,
            "seal %" PRIu64 ": tpm must be {extend, counter}, each {attest, signature}", index);

    crypto_hash_sha256(digest, (const unsigned char *)note_text, strlen(note_text));
    if ((rc = check_cert(v, index, "extend", json_object_get(tpm, "extend"), digest, v->extend_name,
                         32, &ea, err, errsz)) != 0 ||
        (rc = check_cert(v, index, "counter", json_object_get(tpm, "counter"), digest,
                         v->counter_name, 8, &ca, err, errsz)) != 0)
        return rc;

    progress g = {.counter_last = v->counter_last,
                  .counter_gaps = v->counter_gaps,
                  .clock = v->clock,
                  .reset = v->reset,
                  .restart = v->restart,
                  .epochs = v->epochs,
                  .attested_ms = v->attested_ms};
    memcpy(g.chain, v->chain, 32);
    /* Notes of a seal that then fails would mislead: keep them apart until the end. */
    json_t *saved = v->notes;
    uint64_t dropped = v->notes_dropped;
    if (!(v->notes = json_copy(saved))) {
        v->notes = saved;
        return attest_text_fail(err, errsz, ATTEST_ENOMEM, "seal %" PRIu64 ": out of memory",
                                index);
    }
    /* The extend index is certified before the counter (attest/TPM.md). */
    if ((rc = follow_clock(v, &g, index, &ea, err, errsz)) != 0 ||
        (rc = follow_clock(v, &g, index, &ca, err, errsz)) != 0)
        goto done;
    /* The flag stays NO for a whole boot after a power loss: once per epoch is enough. */
    if ((ea.clockInfo.safe != TPM2_YES || ca.clockInfo.safe != TPM2_YES) && g.epochs != v->epochs)
        note(v,
             "seal %" PRIu64 ": TPM clock not safe in this boot (it may have gone back after a "
             "power loss)",
             index);

    uint64_t counter = 0;
    for (int k = 0; k < 8; k++)
        counter = counter << 8 | ca.attested.nv.nvContents.buffer[k];
    if (v->anchored && counter <= g.counter_last) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "seal %" PRIu64 ": counter %" PRIu64
                              " does not exceed the previous seal's %" PRIu64
                              " (TPM state rolled back, or the counter index replaced)",
                              index, counter, g.counter_last);
        goto done;
    }
    if (v->anchored && counter > g.counter_last + 1) {
        g.counter_gaps++;
        note(v,
             "seal %" PRIu64 ": counter went %" PRIu64 " -> %" PRIu64
             " (incremented in between by something else)",
             index, g.counter_last, counter);
    }
    g.counter_last = counter;

    sha256_2(g.chain, 32, digest, 32, want);
    if (memcmp(ea.attested.nv.nvContents.buffer, want, 32) != 0) {
        uint8_t fresh[32], zero[32] = {0};
        sha256_2(zero, 32, digest, 32, fresh);
        rc = attest_text_fail(
            err, errsz, ATTEST_EVERIFY,
            "seal %" PRIu64 ": extend index holds a digest no seal records (it is not the "
            "chain of the anchored seals%s)",
            index,
            v->anchored && memcmp(ea.attested.nv.nvContents.buffer, fresh, 32) == 0
                ? "; it starts from zero here: index recreated"
                : "");
        goto done;
    }
    memcpy(g.chain, want, 32);

    if (seal_time) {
        if (!v->have_time) v->time_first = t;
        v->time_last = t;
        v->have_time = 1;
    }
    if (!v->anchored) v->counter_first = counter;
    v->anchored++;
    memcpy(v->chain, g.chain, 32);
    v->counter_last = g.counter_last;
    v->counter_gaps = g.counter_gaps;
    v->clock = g.clock;
    v->reset = g.reset;
    v->restart = g.restart;
    v->epochs = g.epochs;
    v->attested_ms = g.attested_ms;
    if (!v->points) v->points = json_array();
    if (json_array_size(v->points) < 10000)
        json_array_append_new(v->points,
                              json_pack("[I, f, o]", (json_int_t)index,
                                        (double)g.attested_ms / 1000.0,
                                        seal_time ? json_real(t - v->time_first) : json_null()));
    json_decref(saved);
    return 0;
done:
    json_decref(v->notes);
    v->notes = saved;
    v->notes_dropped = dropped;
    return rc;
}

int attest_tpm_verifier_report(attest_tpm_verifier *v, json_t *report, char *line, size_t linesz)
{
    if (!v || !json_is_object(report)) return ATTEST_EINVAL;
    int any = v->anchored > 0;
    json_t *notes = json_copy(v->notes);
    if (notes && v->notes_dropped) {
        char msg[64];
        snprintf(msg, sizeof msg, "%" PRIu64 " more notes", v->notes_dropped);
        json_array_append_new(notes, json_string(msg));
    }
    json_t *claimed = any && v->have_time ? json_real(v->time_last - v->time_first) : json_null();
    json_t *o = json_pack(
        "{s:b, s:I, s:I, s:o, s:o, s:I, s:I, s:o, s:o, s:o}", "anchored", any, "seals_anchored",
        (json_int_t)v->anchored, "seals_unanchored", (json_int_t)v->unanchored, "counter_first",
        any ? json_integer((json_int_t)v->counter_first) : json_null(), "counter_last",
        any ? json_integer((json_int_t)v->counter_last) : json_null(), "counter_gaps",
        (json_int_t)v->counter_gaps, "epochs", (json_int_t)v->epochs, "attested_seconds",
        any ? json_real((double)v->attested_ms / 1000.0) : json_null(), "claimed_seconds", claimed,
        "notes", notes);
    if (o && v->points) json_object_set(o, "seal_times", v->points);
    if (!o || json_object_set_new(report, "tpm", o) != 0) return ATTEST_ENOMEM;
    if (line && linesz) {
        if (!any) {
            snprintf(line, linesz, "not TPM-anchored");
        } else {
            char claim[48] = "";
            if (v->have_time)
                snprintf(claim, sizeof claim, " over %.1f s claimed", v->time_last - v->time_first);
            snprintf(line, linesz,
                     "TPM-anchored: %" PRIu64 " of %" PRIu64 " seals, counter %" PRIu64 "..%" PRIu64
                     ", %" PRIu64 " epoch%s, %.1f s attested%s",
                     v->anchored, v->anchored + v->unanchored, v->counter_first, v->counter_last,
                     v->epochs, v->epochs == 1 ? "" : "s", (double)v->attested_ms / 1000.0, claim);
        }
    }
    return 0;
}

int attest_tpm_verifier_live(attest_tpm_verifier *v, uint64_t size, const char *note_text,
                             const uint8_t *nonce, size_t nonce_len, const json_t *tpm,
                             double *after_s, char *err, size_t errsz)
{
    uint8_t digest[32];
    TPMS_ATTEST ea, ca;
    int rc;
    if (!v->have_key || v->anchored == 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "the log has no TPM-anchored seal: a live quote proves nothing");
    if ((rc = attest_live_digest(nonce, nonce_len, note_text, digest)) != 0) return rc;
    v->live = 1;
    rc = check_cert(v, size, "extend", json_object_get(tpm, "extend"), digest, v->extend_name, 32,
                    &ea, err, errsz);
    if (!rc)
        rc = check_cert(v, size, "counter", json_object_get(tpm, "counter"), digest,
                        v->counter_name, 8, &ca, err, errsz);
    v->live = 0;
    if (rc) return rc;
    // The chain certified now must be the one the anchored seals give: no seal after this head.
    if (memcmp(ea.attested.nv.nvContents.buffer, v->chain, 32) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "the TPM's extend index holds another chain than the log's "
                                "anchored seals give: the run sealed more since (or the quote "
                                "is of another head)");
    uint64_t counter = 0;
    for (int i = 0; i < 8; i++)
        counter = counter << 8 | ca.attested.nv.nvContents.buffer[i];
    if (counter != v->counter_last)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "the TPM's counter is %" PRIu64
                                ", the last anchored seal left %" PRIu64,
                                counter, v->counter_last);
    const TPMS_CLOCK_INFO *c = &ea.clockInfo;
    *after_s = -1;
    if (c->resetCount == v->reset && c->restartCount == v->restart) {
        if (c->clock < v->clock)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "the quote's TPM clock is before the last seal's (%" PRIu64
                                    " ms < %" PRIu64 " ms): TPM state restored?",
                                    (uint64_t)c->clock, v->clock);
        *after_s = (double)(c->clock - v->clock) / 1000.0;
    }
    return 0;
}
