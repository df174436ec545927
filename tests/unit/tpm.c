/*
 * Tests of attest/tpm.c against a real swtpm started by scripts/swtpm on a
 * free port with a fresh state: no leaked transient objects, a stable AK,
 * per-run NV slots (collisions, resume), seals whose certified chain equals
 * one computed with OpenSSL from an all-zero start, counters that step by 1,
 * and ECDSA signatures checked with OpenSSL (and failing on a flipped byte).
 * Prints the median cost of a seal. Skipped when swtpm is not installed.
 */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "attest/error.h"
#include "attest/tpm.h"
#include "tests/harness.h"
#include "tests/swtpm.h"

static char top[256];  /* the mkdtemp folder */
static char tcti[128]; /* of the running swtpm */
static char err[512];

static const uint8_t RUN_A[16] = {0xa1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t RUN_T[16] = {0x7e, 'b', 'e', 'n', 'c', 'h'};

/* ------------------------------------------------------------------ swtpm */

static int swtpm_start(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/x", top);
    return harness_swtpm_start(dir, tcti, sizeof tcti);
}

/* "stop" (a kill: power loss to the TPM) or "shutdown" (TPM2_Shutdown first: a reboot). */
static int swtpm_stop(const char *how)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/x", top);
    return harness_swtpm_stop(how, dir);
}

/* A plain ESYS connection of the test's own (only while no attest_tpm is open: swtpm
 * serves one client at a time). */
static ESYS_CONTEXT *raw_open(TSS2_TCTI_CONTEXT **t)
{
    ESYS_CONTEXT *ec = NULL;
    if (Tss2_TctiLdr_Initialize(tcti, t) != TSS2_RC_SUCCESS) return NULL;
    if (Esys_Initialize(&ec, *t, NULL) != TSS2_RC_SUCCESS) {
        Tss2_TctiLdr_Finalize(t);
        return NULL;
    }
    return ec;
}

static void raw_close(ESYS_CONTEXT *ec, TSS2_TCTI_CONTEXT *t)
{
    Esys_Finalize(&ec);
    Tss2_TctiLdr_Finalize(&t);
}

/* TPM2_TRANSIENT_FIRST, whose tpm2-tss macro shifts an int into the sign bit (UBSan). */
#define TRANSIENT_FIRST 0x80000000u

/* TPM2_PT_HR_TRANSIENT_AVAIL and the number of loaded transient objects. */
static int transients(uint32_t *avail, uint32_t *loaded)
{
    TSS2_TCTI_CONTEXT *t;
    TPMS_CAPABILITY_DATA *a = NULL, *h = NULL;
    ESYS_CONTEXT *ec = raw_open(&t);
    int rc = -1;
    if (!ec) return -1;
    if (Esys_GetCapability(ec, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                           TPM2_PT_HR_TRANSIENT_AVAIL, 1, NULL, &a) == TSS2_RC_SUCCESS &&
        Esys_GetCapability(ec, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                           TRANSIENT_FIRST, 16, NULL, &h) == TSS2_RC_SUCCESS &&
        a->data.tpmProperties.count == 1 &&
        a->data.tpmProperties.tpmProperty[0].property == TPM2_PT_HR_TRANSIENT_AVAIL) {
        *avail = a->data.tpmProperties.tpmProperty[0].value;
        *loaded = h->data.handles.count;
        rc = 0;
    }
    Esys_Free(a);
    Esys_Free(h);
    raw_close(ec, t);
    return rc;
}

/* TPM2_NV_Read of a whole index with its own auth; returns the TPM's response code. */
static TSS2_RC raw_nv_read(uint32_t handle, uint16_t size, uint8_t *out)
{
    TSS2_TCTI_CONTEXT *t;
    ESYS_TR tr = ESYS_TR_NONE;
    TPM2B_MAX_NV_BUFFER *data = NULL;
    ESYS_CONTEXT *ec = raw_open(&t);
    if (!ec) return TSS2_BASE_RC_IO_ERROR;
    TSS2_RC r = Esys_TR_FromTPMPublic(ec, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
    if (r == TSS2_RC_SUCCESS)
        r = Esys_NV_Read(ec, tr, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, size, 0, &data);
    if (r == TSS2_RC_SUCCESS) memcpy(out, data->buffer, data->size < size ? data->size : size);
    Esys_Free(data);
    raw_close(ec, t);
    return r;
}

/* TPM2_NV_UndefineSpace with owner auth, as an owner cleaning up would. */
static int raw_undefine(uint32_t handle)
{
    TSS2_TCTI_CONTEXT *t;
    ESYS_TR tr = ESYS_TR_NONE;
    ESYS_CONTEXT *ec = raw_open(&t);
    if (!ec) return -1;
    TSS2_RC r = Esys_TR_FromTPMPublic(ec, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
    if (r == TSS2_RC_SUCCESS)
        r = Esys_NV_UndefineSpace(ec, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  ESYS_TR_NONE);
    raw_close(ec, t);
    return r == TSS2_RC_SUCCESS ? 0 : -1;
}

/* --------------------------------------------------------------- verifier */

static void sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    CHECK(c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, a, alen) &&
          EVP_DigestUpdate(c, b, blen) && EVP_DigestFinal_ex(c, out, NULL));
    EVP_MD_CTX_free(c);
}

/* The AK's public key from its marshalled TPM2B_PUBLIC (04 || x || y on P-256). */
static EVP_PKEY *ak_pkey(const attest_tpm_key *ak)
{
    TPM2B_PUBLIC pub = {0}; /* tpm2-tss refuses to unmarshal into a TPM2B with size != 0 */
    size_t off = 0;
    uint8_t point[65];
    EVP_PKEY *key = NULL;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ak->pub, ak->pub_len, &off, &pub) != TSS2_RC_SUCCESS ||
        off != ak->pub_len)
        return NULL;
    const TPMS_ECC_POINT *q = &pub.publicArea.unique.ecc;
    if (pub.publicArea.type != TPM2_ALG_ECC || q->x.size != 32 || q->y.size != 32) return NULL;
    point[0] = 4;
    memcpy(point + 1, q->x.buffer, 32);
    memcpy(point + 33, q->y.buffer, 32);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *p = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (b && c && OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) &&
        (p = OSSL_PARAM_BLD_to_param(b)) != NULL && EVP_PKEY_fromdata_init(c) == 1 &&
        EVP_PKEY_fromdata(c, &key, EVP_PKEY_PUBLIC_KEY, p) != 1)
        key = NULL;
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(c);
    return key;
}

/* 1 when cert->sig is a valid ECDSA-SHA256 signature by `key` over the TPMS_ATTEST bytes. */
static int sig_ok(EVP_PKEY *key, const attest_tpm_cert *cert)
{
    TPM2B_ATTEST att = {0};
    TPMT_SIGNATURE sig;
    size_t off = 0, off2 = 0;
    unsigned char *der = NULL;
    int ok = 0;
    if (Tss2_MU_TPM2B_ATTEST_Unmarshal(cert->attest, cert->attest_len, &off, &att) ||
        off != cert->attest_len ||
        Tss2_MU_TPMT_SIGNATURE_Unmarshal(cert->sig, cert->sig_len, &off2, &sig) ||
        off2 != cert->sig_len || sig.sigAlg != TPM2_ALG_ECDSA ||
        sig.signature.ecdsa.hash != TPM2_ALG_SHA256)
        return 0;
    const TPMS_SIGNATURE_ECDSA *e = &sig.signature.ecdsa;
    BIGNUM *r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
    BIGNUM *s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
    ECDSA_SIG *es = ECDSA_SIG_new();
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (!r || !s || !es || !m || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        goto done;
    }
    int derlen = i2d_ECDSA_SIG(es, &der);
    ok = derlen > 0 && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, key) == 1 &&
         EVP_DigestVerify(m, der, (size_t)derlen, att.attestationData, att.size) == 1;
done:
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(m);
    return ok;
}

/* Parses a certification; 0 when it is a well-formed TPMS_ATTEST of type NV. */
static int parse(const attest_tpm_cert *cert, TPMS_ATTEST *a)
{
    TPM2B_ATTEST att = {0};
    size_t off = 0, off2 = 0;
    if (Tss2_MU_TPM2B_ATTEST_Unmarshal(cert->attest, cert->attest_len, &off, &att) ||
        off != cert->attest_len ||
        Tss2_MU_TPMS_ATTEST_Unmarshal(att.attestationData, att.size, &off2, a) || off2 != att.size)
        return -1;
    return 0;
}

/* Everything a verifier checks of one certification of index `name` holding `want`. */
static void check_cert(EVP_PKEY *key, const attest_tpm_cert *cert, const uint8_t digest[32],
                       const uint8_t *name, size_t name_len, const uint8_t *want, size_t len,
                       TPMS_ATTEST *a)
{
    CHECK(sig_ok(key, cert));
    CHECK(parse(cert, a) == 0);
    CHECK(a->magic == TPM2_GENERATED_VALUE);
    CHECK(a->type == TPM2_ST_ATTEST_NV);
    CHECK(a->extraData.size == 32 && memcmp(a->extraData.buffer, digest, 32) == 0);
    CHECK(a->attested.nv.indexName.size == name_len &&
          memcmp(a->attested.nv.indexName.name, name, name_len) == 0);
    CHECK_EQ_INT(a->attested.nv.offset, 0);
    CHECK(a->attested.nv.nvContents.size == len &&
          memcmp(a->attested.nv.nvContents.buffer, want, len) == 0);
    CHECK_EQ_INT(a->clockInfo.safe, TPM2_YES);
}

/* A chain verifier: seals `n` digests and checks each against the running chain. */
typedef struct chain {
    uint8_t value[32];
    uint64_t counter;
    uint64_t clock;
    uint32_t reset, restart;
    int seals;
} chain;

static void seal_and_check(attest_tpm *tpm, const attest_tpm_nv *nv, EVP_PKEY *key, chain *c, int n)
{
    for (int i = 0; i < n; i++) {
        attest_tpm_evidence ev;
        uint8_t digest[32], be[8];
        TPMS_ATTEST a;
        char msg[32];
        int len = snprintf(msg, sizeof msg, "checkpoint %d", c->seals);
        sha256_2(msg, (size_t)len, "", 0, digest);
        int rc = attest_tpm_seal(tpm, nv, digest, &ev, err, sizeof err);
        CHECK_EQ_INT(rc, 0);
        if (rc) {
            printf("# seal: %s\n", err);
            return;
        }
        sha256_2(c->value, 32, digest, 32, c->value); /* NV_Extend: H(old || data) */
        CHECK(memcmp(ev.chain, c->value, 32) == 0);
        if (c->seals > 0) CHECK_EQ_INT(ev.counter_value, c->counter + 1);
        c->counter = ev.counter_value;
        for (int k = 0; k < 8; k++)
            be[k] = (uint8_t)(c->counter >> (56 - 8 * k));

        check_cert(key, &ev.extend, digest, nv->extend_name, nv->extend_name_len, c->value, 32, &a);
        if (c->seals > 0) {
            CHECK(a.clockInfo.clock >= c->clock);
            CHECK_EQ_INT(a.clockInfo.resetCount, c->reset);
            CHECK_EQ_INT(a.clockInfo.restartCount, c->restart);
        }
        c->clock = a.clockInfo.clock;
        c->reset = a.clockInfo.resetCount;
        c->restart = a.clockInfo.restartCount;
        check_cert(key, &ev.counter, digest, nv->counter_name, nv->counter_name_len, be, 8, &a);
        CHECK(a.clockInfo.clock >= c->clock);
        CHECK_EQ_INT(a.clockInfo.resetCount, c->reset);
        c->seals++;
    }
}

/* ------------------------------------------------------------------ tests */

static void test_open_close_no_leak(void)
{
    uint32_t avail0 = 0, loaded0 = 9, avail = 0, loaded = 9;
    CHECK(transients(&avail0, &loaded0) == 0);
    CHECK_EQ_INT(loaded0, 0);
    for (int i = 0; i < 5; i++) {
        attest_tpm *tpm = NULL;
        attest_tpm_key ak;
        CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
        CHECK_EQ_INT(attest_tpm_ak(tpm, &ak, err, sizeof err), 0);
        attest_tpm_free(tpm);
    }
    CHECK(transients(&avail, &loaded) == 0);
    CHECK_EQ_INT(avail, avail0);
    CHECK_EQ_INT(loaded, 0);
    attest_tpm_free(NULL);
}

static void test_open_errors(void)
{
    attest_tpm *tpm = (attest_tpm *)&tpm;
    CHECK_EQ_INT(attest_tpm_open(NULL, tcti, err, sizeof err), ATTEST_EINVAL);
    unsetenv("ATTEST_TCTI");
    CHECK_EQ_INT(attest_tpm_open(&tpm, NULL, err, sizeof err), ATTEST_EINVAL);
    CHECK(tpm == NULL);
    CHECK(strstr(err, "ATTEST_TCTI") != NULL);
    CHECK_EQ_INT(attest_tpm_open(&tpm, "nosuchtcti:x", err, sizeof err), ATTEST_EIO);
    CHECK(tpm == NULL);
    /* The environment variable is used when no TCTI is passed. */
    setenv("ATTEST_TCTI", tcti, 1);
    CHECK_EQ_INT(attest_tpm_open(&tpm, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_ak(NULL, NULL, err, sizeof err), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_tpm_define(tpm, NULL, NULL, err, sizeof err), ATTEST_EINVAL);
    attest_tpm_free(tpm);
    unsetenv("ATTEST_TCTI");
}

static void test_ak_stable(void)
{
    attest_tpm *tpm = NULL;
    attest_tpm_key a, b;
    TPM2B_PUBLIC pub = {0};
    size_t off = 0;
    uint8_t buf[sizeof(TPMT_PUBLIC)], name[34] = {0x00, 0x0b};

    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_ak(tpm, &a, err, sizeof err), 0);
    attest_tpm_free(tpm);
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_ak(tpm, &b, err, sizeof err), 0);
    attest_tpm_free(tpm);
    CHECK(a.pub_len == b.pub_len && memcmp(a.pub, b.pub, a.pub_len) == 0);
    CHECK(a.name_len == 34 && b.name_len == 34 && memcmp(a.name, b.name, 34) == 0);

    CHECK(Tss2_MU_TPM2B_PUBLIC_Unmarshal(a.pub, a.pub_len, &off, &pub) == TSS2_RC_SUCCESS);
    CHECK(off == a.pub_len);
    const TPMT_PUBLIC *p = &pub.publicArea;
    CHECK(p->type == TPM2_ALG_ECC && p->nameAlg == TPM2_ALG_SHA256);
    CHECK(p->objectAttributes ==
          (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
           TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
           TPMA_OBJECT_NODA));
    CHECK(p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256);
    CHECK(p->parameters.eccDetail.scheme.scheme == TPM2_ALG_ECDSA);
    CHECK(p->parameters.eccDetail.symmetric.algorithm == TPM2_ALG_NULL);
    /* The Name is recomputed here: 0x000b || SHA-256(marshalled TPMT_PUBLIC). */
    off = 0;
    CHECK(Tss2_MU_TPMT_PUBLIC_Marshal(p, buf, sizeof buf, &off) == TSS2_RC_SUCCESS);
    sha256_2(buf, off, "", 0, name + 2);
    CHECK(memcmp(a.name, name, 34) == 0);
    EVP_PKEY *key = ak_pkey(&a);
    CHECK(key != NULL);
    EVP_PKEY_free(key);
}

/* Define, 5 seals, close, resume with 2 more: one chain, one counter, no leaks. */
static void test_seal_chain_and_resume(void)
{
    attest_tpm *tpm = NULL;
    attest_tpm_key ak;
    attest_tpm_nv nv, nv2;
    chain c = {{0}, 0, 0, 0, 0, 0};
    uint8_t buf[32];
    uint32_t avail0 = 0, loaded0 = 9, avail = 0, loaded = 9;

    CHECK(transients(&avail0, &loaded0) == 0);
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_ak(tpm, &ak, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, RUN_A, &nv, err, sizeof err), 0);
    attest_tpm_free(tpm);
    CHECK(nv.extend_handle >= ATTEST_TPM_NV_BASE &&
          nv.extend_handle < ATTEST_TPM_NV_BASE + 0x20000);
    CHECK_EQ_INT(nv.extend_handle % 2, 0);
    CHECK_EQ_INT(nv.counter_handle, nv.extend_handle + 1);
    CHECK_EQ_INT(nv.extend_name_len, 34);
    CHECK(memcmp(nv.extend_name, nv.counter_name, 34) != 0);

    /* A fresh extend index cannot be read (TPM_RC_NV_UNINITIALIZED): no initial value shows. */
    CHECK_EQ_INT(raw_nv_read(nv.extend_handle, 32, buf), TPM2_RC_NV_UNINITIALIZED);
    CHECK_EQ_INT(raw_nv_read(nv.counter_handle, 8, buf), TPM2_RC_NV_UNINITIALIZED);

    EVP_PKEY *key = ak_pkey(&ak);
    CHECK(key != NULL);
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    seal_and_check(tpm, &nv, key, &c, 5); /* the first extend gives H(0^32 || d1) */
    attest_tpm_free(tpm);
    CHECK_EQ_INT(c.seals, 5);
    /* The chain as the TPM holds it, read by another client. */
    CHECK_EQ_INT(raw_nv_read(nv.extend_handle, 32, buf), 0);
    CHECK(memcmp(buf, c.value, 32) == 0);

    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, RUN_A, &nv2, err, sizeof err), 0);
    CHECK(memcmp(&nv, &nv2, sizeof nv) == 0);
    seal_and_check(tpm, &nv2, key, &c, 2);
    attest_tpm_free(tpm);
    CHECK_EQ_INT(c.seals, 7);

    CHECK(transients(&avail, &loaded) == 0);
    CHECK_EQ_INT(avail, avail0);
    CHECK_EQ_INT(loaded, 0);
    EVP_PKEY_free(key);
}

/* What a verifier must reject: a flipped byte of the attestation or of the signature,
 * evidence checked against another key. */
static void test_tampering(void)
{
    attest_tpm *tpm = NULL;
    attest_tpm_key ak;
    attest_tpm_nv nv;
    attest_tpm_evidence ev;
    uint8_t digest[32];
    TPMS_ATTEST a;

    sha256_2("tamper", 6, "", 0, digest);
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_ak(tpm, &ak, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, RUN_A, &nv, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_seal(tpm, &nv, digest, &ev, err, sizeof err), 0);
    attest_tpm_free(tpm);

    EVP_PKEY *key = ak_pkey(&ak);
    CHECK(key && sig_ok(key, &ev.extend) && sig_ok(key, &ev.counter));
    for (size_t i = 2; i < ev.extend.attest_len; i += 7) { /* every 7th byte after the size */
        attest_tpm_cert bad = ev.extend;
        bad.attest[i] ^= 0x01;
        if (sig_ok(key, &bad)) {
            CHECK(!"a flipped attest byte verified");
            printf("# flipped byte %zu verified\n", i);
            break;
        }
    }
    attest_tpm_cert bad = ev.counter;
    bad.sig[bad.sig_len - 1] ^= 0x80; /* the last byte of s */
    CHECK(!sig_ok(key, &bad));
    /* The extraData of the honest evidence is the digest, not another. */
    CHECK(parse(&ev.extend, &a) == 0);
    digest[0] ^= 1;
    CHECK(memcmp(a.extraData.buffer, digest, 32) != 0);

    /* A key of another "TPM" (here: a software P-256 key) does not verify it. */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    CHECK(other && !sig_ok(other, &ev.extend));
    EVP_PKEY_free(other);
    EVP_PKEY_free(key);
}

/* Seals on missing indexes fail cleanly and leave nothing loaded. */
static void test_seal_errors(void)
{
    attest_tpm *tpm = NULL;
    attest_tpm_nv nv, bad;
    attest_tpm_evidence ev;
    uint8_t digest[32] = {1};
    uint32_t avail0 = 0, loaded0 = 9, avail = 0, loaded = 9;

    CHECK(transients(&avail0, &loaded0) == 0);
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, RUN_A, &nv, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_seal(tpm, NULL, digest, &ev, err, sizeof err), ATTEST_EINVAL);
    bad = nv;
    bad.extend_handle = ATTEST_TPM_NV_BASE + 0x1fffe; /* nobody's */
    CHECK_EQ_INT(attest_tpm_seal(tpm, &bad, digest, &ev, err, sizeof err), ATTEST_ENOTFOUND);
    CHECK(strstr(err, "0x0151fffe") != NULL);
    /* Names that are not the indexes' (another run's, say): certified, then refused. */
    bad = nv;
    bad.extend_name[5] ^= 1;
    CHECK_EQ_INT(attest_tpm_seal(tpm, &bad, digest, &ev, err, sizeof err), ATTEST_EVERIFY);
    CHECK(strstr(err, "after the extend") != NULL);
    /* The extend and counter swapped: NV_Extend on a counter is refused by the TPM. */
    bad = nv;
    bad.extend_handle = nv.counter_handle;
    bad.counter_handle = nv.extend_handle;
    CHECK_EQ_INT(attest_tpm_seal(tpm, &bad, digest, &ev, err, sizeof err), ATTEST_EIO);
    CHECK(strstr(err, "TPM2_NV_Extend") != NULL);
    attest_tpm_free(tpm);
    CHECK(transients(&avail, &loaded) == 0);
    CHECK_EQ_INT(avail, avail0);
    CHECK_EQ_INT(loaded, 0);
}

/* The slot of a run. */
static unsigned slot_of(const uint8_t run_id[16])
{
    uint8_t h[32];
    sha256_2("attest-tpm-nv-v1", 16, run_id, 16, h);
    return (unsigned)h[0] << 8 | h[1];
}

/* Two runs whose slots collide get different indexes; both resume to their own, also
 * after the first run's indexes were undefined. */
static void test_slot_collision(void)
{
    uint8_t run_b[16] = {0xb0};
    attest_tpm *tpm = NULL;
    attest_tpm_nv a, b, a2, b2;
    unsigned want = slot_of(RUN_A);
    uint32_t n;
    for (n = 0; n < 10000000; n++) {
        memcpy(run_b + 1, &n, sizeof n);
        if (slot_of(run_b) == want) break;
    }
    CHECK(slot_of(run_b) == want);

    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, RUN_A, &a, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, run_b, &b, err, sizeof err), 0);
    CHECK_EQ_INT(a.extend_handle, ATTEST_TPM_NV_BASE + 2 * want);
    CHECK_EQ_INT(b.extend_handle, ATTEST_TPM_NV_BASE + 2 * ((want + 1) & 0xffff));
    CHECK(memcmp(a.extend_name, b.extend_name, 34) != 0);
    attest_tpm_free(tpm);

    /* The owner frees run A's slot; run B still finds its own, one slot on. */
    CHECK(raw_undefine(a.extend_handle) == 0);
    CHECK(raw_undefine(a.counter_handle) == 0);
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, run_b, &b2, err, sizeof err), 0);
    CHECK(memcmp(&b, &b2, sizeof b) == 0);
    /* Run A gets its slot back, with the same Names (they follow from run id and handle). */
    CHECK_EQ_INT(attest_tpm_define(tpm, RUN_A, &a2, err, sizeof err), 0);
    CHECK(memcmp(&a, &a2, sizeof a) == 0);
    attest_tpm_free(tpm);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Median cost of a seal (and of making the AK, which each seal does), 100 each. */
static void test_seal_cost(void)
{
    enum { N = 100 };
    attest_tpm *tpm = NULL;
    attest_tpm_nv nv;
    attest_tpm_key ak;
    attest_tpm_evidence ev;
    double seal[N], akt[N];
    uint8_t digest[32] = {0};
    int failures = 0;

    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, RUN_T, &nv, err, sizeof err), 0);
    for (int i = 0; i < N; i++) {
        digest[0] = (uint8_t)i;
        double t0 = now_ms();
        failures += attest_tpm_seal(tpm, &nv, digest, &ev, err, sizeof err) != 0;
        double t1 = now_ms();
        failures += attest_tpm_ak(tpm, &ak, err, sizeof err) != 0;
        seal[i] = t1 - t0;
        akt[i] = now_ms() - t1;
    }
    attest_tpm_free(tpm);
    CHECK_EQ_INT(failures, 0);
    CHECK_EQ_INT(ev.counter_value >= N, 1);
    qsort(seal, N, sizeof seal[0], cmp_double);
    qsort(akt, N, sizeof akt[0], cmp_double);
    printf("# attest_tpm_seal: median %.3f ms (min %.3f, max %.3f) over %d seals; of which "
           "making the AK (CreatePrimary + flush): median %.3f ms; swtpm on 127.0.0.1\n",
           (seal[N / 2 - 1] + seal[N / 2]) / 2, seal[0], seal[N - 1], N,
           (akt[N / 2 - 1] + akt[N / 2]) / 2);
}

/* Seals d1, stops the TPM `how`, starts it again on the same state, seals d2: the NV chain
 * and counter go on, the AK is the same, and resetCount moves by one, so clockInfo is real
 * (endorsement-hierarchy AK). a1/a2: the extend certifications before and after. */
static void reboot(const char *how, uint8_t tag, TPMS_ATTEST *a1, TPMS_ATTEST *a2)
{
    attest_tpm *tpm = NULL;
    attest_tpm_key ak, ak2;
    attest_tpm_nv nv, nv2;
    attest_tpm_evidence ev1, ev2;
    uint8_t d1[32] = {tag, 1}, d2[32] = {tag, 2}, value[32];

    memset(a1, 0, sizeof *a1);
    memset(a2, 0, sizeof *a2);
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_ak(tpm, &ak, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, RUN_A, &nv, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_seal(tpm, &nv, d1, &ev1, err, sizeof err), 0);
    attest_tpm_free(tpm);

    CHECK_EQ_INT(swtpm_stop(how), 0);
    CHECK_EQ_INT(swtpm_start(), 0);

    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_ak(tpm, &ak2, err, sizeof err), 0);
    CHECK(ak.pub_len == ak2.pub_len && memcmp(ak.pub, ak2.pub, ak.pub_len) == 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, RUN_A, &nv2, err, sizeof err), 0);
    CHECK(memcmp(&nv, &nv2, sizeof nv) == 0);
    CHECK_EQ_INT(attest_tpm_seal(tpm, &nv2, d2, &ev2, err, sizeof err), 0);
    attest_tpm_free(tpm);

    sha256_2(ev1.chain, 32, d2, 32, value);
    CHECK(memcmp(ev2.chain, value, 32) == 0);
    CHECK_EQ_INT(ev2.counter_value, ev1.counter_value + 1);
    EVP_PKEY *key = ak_pkey(&ak);
    CHECK(key && sig_ok(key, &ev2.extend) && sig_ok(key, &ev2.counter));
    EVP_PKEY_free(key);
    CHECK(parse(&ev1.extend, a1) == 0 && parse(&ev2.extend, a2) == 0);
    CHECK_EQ_INT(a2->clockInfo.resetCount, a1->clockInfo.resetCount + 1);
    CHECK_EQ_INT(a2->clockInfo.restartCount, a1->clockInfo.restartCount);
    printf("# %s: resetCount %u -> %u, restartCount %u -> %u, clock %llu -> %llu ms, "
           "safe %d -> %d\n",
           how, a1->clockInfo.resetCount, a2->clockInfo.resetCount, a1->clockInfo.restartCount,
           a2->clockInfo.restartCount, (unsigned long long)a1->clockInfo.clock,
           (unsigned long long)a2->clockInfo.clock, a1->clockInfo.safe, a2->clockInfo.safe);
}

/* TPM2_Shutdown(CLEAR) then start (an OS reboot): the clock was saved and stays safe. */
static void test_reboot_orderly(void)
{
    TPMS_ATTEST a1, a2;
    reboot("shutdown", 0x5d, &a1, &a2);
    CHECK(a2.clockInfo.clock >= a1.clockInfo.clock);
    CHECK_EQ_INT(a2.clockInfo.safe, TPM2_YES);
}

/* swtpm killed (a power loss): the TPM says its clock may have gone back (safe = NO). */
static void test_power_loss(void)
{
    TPMS_ATTEST a1, a2;
    reboot("stop", 0x9f, &a1, &a2);
    CHECK_EQ_INT(a2.clockInfo.safe, TPM2_NO);
}

int main(void)
{
    if (system("command -v swtpm >/dev/null 2>&1 && command -v swtpm_setup >/dev/null 2>&1")) {
        printf("ok - tpm tests # SKIP swtpm not installed\n");
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(top, sizeof top, "%s/attest-tpm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(top)) {
        printf("not ok - mkdtemp %s\n", top);
        return 1;
    }
    if (swtpm_start() != 0) {
        printf("not ok - scripts/swtpm start %s/x\n", top);
        return 1;
    }
    printf("# %s\n", tcti);
    RUN(test_open_close_no_leak);
    RUN(test_open_errors);
    RUN(test_ak_stable);
    RUN(test_seal_chain_and_resume);
    RUN(test_tampering);
    RUN(test_seal_errors);
    RUN(test_slot_collision);
    RUN(test_seal_cost);
    RUN(test_reboot_orderly);
    RUN(test_power_loss);
    swtpm_stop("stop");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    if (system(cmd) != 0) printf("# could not remove %s\n", top);
    HARNESS_EXIT();
}
