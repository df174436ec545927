/*
 * enroll.c - credential activation binding the AK to the certified EK
 * (attest/enroll.h): the EK certificate and EK primary on the TPM side, a
 * software TPM2_MakeCredential (OpenSSL) on the auditor's side, and
 * TPM2_ActivateCredential back on the TPM. Password and policy sessions only;
 * every transient object and session is flushed on every path.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "attest/enroll.h"
#include "attest/tss.h"
#include "attest/error.h"
#include "format/text.h"

_Static_assert(ATTEST_ENROLL_BLOB_MAX >= sizeof(TPM2B_ID_OBJECT), "blob buffer");
_Static_assert(ATTEST_ENROLL_SECRET_MAX >= sizeof(TPM2B_ENCRYPTED_SECRET), "secret buffer");

/* TCG EK Credential Profile, template L-1: PolicySecret(TPM_RH_ENDORSEMENT). */
static const uint8_t EK_POLICY[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

#define NV_CHUNK 512 /* bytes per TPM2_NV_Read: below any TPM's NV_BUFFER_MAX */

typedef struct conn {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
} conn;

static int conn_open(conn *c, const char *tcti, char *err, size_t errsz)
{
    TSS2_RC r;
    memset(c, 0, sizeof *c);
    if (!tcti) tcti = getenv("ATTEST_TCTI");
    if (!tcti || !*tcti)
        return attest_text_fail(err, errsz, ATTEST_EINVAL,
                                "no TPM given: pass a TCTI or set ATTEST_TCTI");
    r = Tss2_TctiLdr_Initialize(tcti, &c->tcti);
    if (r != TSS2_RC_SUCCESS) {
        c->tcti = NULL;
        return attest_tss_fail(err, errsz, r, "TCTI");
    }
    r = Esys_Initialize(&c->esys, c->tcti, NULL);
    if (r != TSS2_RC_SUCCESS) {
        c->esys = NULL;
        Tss2_TctiLdr_Finalize(&c->tcti);
        return attest_tss_fail(err, errsz, r, "Esys_Initialize");
    }
    return 0;
}

static void conn_close(conn *c)
{
    if (c->esys) Esys_Finalize(&c->esys);
    if (c->tcti) Tss2_TctiLdr_Finalize(&c->tcti);
}

static void flush(conn *c, ESYS_TR *h)
{
    if (*h != ESYS_TR_NONE) Esys_FlushContext(c->esys, *h);
    *h = ESYS_TR_NONE;
}

static void ek_template(TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof *t);
    TPMT_PUBLIC *p = &t->publicArea;
    p->type = TPM2_ALG_RSA;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                          TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    p->authPolicy.size = 32;
    memcpy(p->authPolicy.buffer, EK_POLICY, 32);
    p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
    p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
    p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    p->parameters.rsaDetail.keyBits = 2048;
    p->parameters.rsaDetail.exponent = 0;
    p->unique.rsa.size = 256; /* zeros */
}

/* An endorsement-hierarchy primary from `tmpl`; the caller flushes *h. */
static int primary(conn *c, const TPM2B_PUBLIC *tmpl, ESYS_TR *h, TPM2B_PUBLIC **pub,
                   const char *what, char *err, size_t errsz)
{
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    memset(&sens, 0, sizeof sens);
    TSS2_RC r =
        Esys_CreatePrimary(c->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, &sens, tmpl, &outside, &pcrs, h, pub, NULL, NULL, NULL);
    if (r != TSS2_RC_SUCCESS) {
        *h = ESYS_TR_NONE;
        char buf[96];
        snprintf(buf, sizeof buf, "TPM2_CreatePrimary (%s)", what);
        return attest_tss_fail(err, errsz, r, buf);
    }
    return 0;
}

static int read_ek_cert(conn *c, uint8_t *out, size_t *len, char *err, size_t errsz)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPM2B_NV_PUBLIC *pub = NULL;
    ESYS_TR nv = ESYS_TR_NONE;
    int rc = 0;
    TSS2_RC r = Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   TPM2_CAP_HANDLES, ATTEST_ENROLL_EK_NV, 1, NULL, &cap);
    if (r != TSS2_RC_SUCCESS) return attest_tss_fail(err, errsz, r, "TPM2_GetCapability (handles)");
    int exists = cap->data.handles.count > 0 && cap->data.handles.handle[0] == ATTEST_ENROLL_EK_NV;
    Esys_Free(cap);
    if (!exists)
        return attest_text_fail(err, errsz, ATTEST_ENOTFOUND, "no EK certificate at NV 0x%08x",
                                (unsigned)ATTEST_ENROLL_EK_NV);
    r = Esys_TR_FromTPMPublic(c->esys, ATTEST_ENROLL_EK_NV, ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, &nv);
    if (r == TSS2_RC_SUCCESS)
        r = Esys_NV_ReadPublic(c->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "TPM2_NV_ReadPublic (EK certificate)");
        goto done;
    }
    size_t total = pub->nvPublic.dataSize;
    if (total == 0 || total > ATTEST_ENROLL_CERT_MAX) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "EK certificate of %zu bytes", total);
        goto done;
    }
    for (size_t off = 0; off < total;) {
        TPM2B_MAX_NV_BUFFER *data = NULL;
        uint16_t n = (uint16_t)(total - off < NV_CHUNK ? total - off : NV_CHUNK);
        r = Esys_NV_Read(c->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, n, (uint16_t)off, &data);
        if (r != TSS2_RC_SUCCESS) {
            rc = attest_tss_fail(err, errsz, r, "TPM2_NV_Read (EK certificate)");
            goto done;
        }
        if (data->size != n) {
            Esys_Free(data);
            rc = attest_text_fail(err, errsz, ATTEST_EIO, "TPM2_NV_Read returned %u of %u bytes",
                                  (unsigned)data->size, (unsigned)n);
            goto done;
        }
        memcpy(out + off, data->buffer, n);
        Esys_Free(data);
        off += n;
    }
    *len = total;
done:
    if (nv != ESYS_TR_NONE) Esys_TR_Close(c->esys, &nv);
    Esys_Free(pub);
    return rc;
}

/* The certificate's RSA key; checks it is modulus (256 bytes) and, if exponent != 0, e. */
static int cert_key(const uint8_t *der, size_t len, const uint8_t *modulus, uint32_t exponent,
                    EVP_PKEY **key_out, char *err, size_t errsz)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    BIGNUM *n = NULL, *e = NULL;
    uint8_t nb[ATTEST_ENROLL_RSA_BYTES];
    int rc = 0;

    if (!x || p != der + len) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT,
                              "the EK certificate does not parse as DER X.509");
        goto done;
    }
    EVP_PKEY *key = X509_get0_pubkey(x);
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) != 2048) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT,
                              "the EK certificate's key is not RSA 2048");
        goto done;
    }
    if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) ||
        BN_bn2binpad(n, nb, sizeof nb) != (int)sizeof nb) {
        rc =
            attest_text_fail(err, errsz, ATTEST_ECRYPTO, "reading the EK certificate's key failed");
        goto done;
    }
    if (CRYPTO_memcmp(nb, modulus, sizeof nb) != 0 || (exponent && !BN_is_word(e, exponent))) {
        rc =
            attest_text_fail(err, errsz, ATTEST_EVERIFY, "the EK certificate's key is not this EK");
        goto done;
    }
    if (key_out) {
        if (!EVP_PKEY_up_ref(key)) {
            rc = attest_text_fail(err, errsz, ATTEST_ECRYPTO, "EVP_PKEY_up_ref failed");
            goto done;
        }
        *key_out = key;
    }
done:
    BN_free(n);
    BN_free(e);
    X509_free(x);
    return rc;
}

int attest_enroll_request(const char *tcti, attest_enroll_req *out, char *err, size_t errsz)
{
    attest_tpm *tpm = NULL;
    conn c = {0};
    ESYS_TR ek = ESYS_TR_NONE, ak = ESYS_TR_NONE;
    TPM2B_PUBLIC tmpl, *ekpub = NULL, *akpub = NULL;
    TPM2B_NAME *akname = NULL;
    uint8_t buf[ATTEST_TPM_PUBLIC_MAX];
    size_t off = 0;
    TSS2_RC r;
    int rc;

    if (!out)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "attest_enroll_request: out is NULL");
    memset(out, 0, sizeof *out);
    /* The AK as attest_tpm makes it (this also starts the TPM if needed). */
    if ((rc = attest_tpm_open(&tpm, tcti, err, errsz)) != 0) return rc;
    rc = attest_tpm_ak(tpm, &out->ak, err, errsz);
    attest_tpm_free(tpm);
    if (rc) goto done;

    if ((rc = conn_open(&c, tcti, err, errsz)) != 0) goto done;
    if ((rc = read_ek_cert(&c, out->ek_cert, &out->ek_cert_len, err, errsz)) != 0) goto done;
    ek_template(&tmpl);
    if ((rc = primary(&c, &tmpl, &ek, &ekpub, "endorsement key", err, errsz)) != 0) goto done;
    flush(&c, &ek);
    const TPMT_PUBLIC *ep = &ekpub->publicArea;
    if (ep->type != TPM2_ALG_RSA || ep->unique.rsa.size != ATTEST_ENROLL_RSA_BYTES) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "the EK is not RSA 2048");
        goto done;
    }
    memcpy(out->ek_modulus, ep->unique.rsa.buffer, ATTEST_ENROLL_RSA_BYTES);
    out->ek_exponent =
        ep->parameters.rsaDetail.exponent ? ep->parameters.rsaDetail.exponent : 65537;
    r = Tss2_MU_TPM2B_PUBLIC_Marshal(ekpub, out->ek_pub, sizeof out->ek_pub, &off);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "marshalling the EK");
        goto done;
    }
    out->ek_pub_len = off;
    if ((rc = cert_key(out->ek_cert, out->ek_cert_len, out->ek_modulus, out->ek_exponent, NULL, err,
                       errsz)) != 0)
        goto done;

    /* The same AK on this connection (the template copy here must agree with tpm.c). */
    attest_tss_ak_template(&tmpl);
    if ((rc = primary(&c, &tmpl, &ak, &akpub, "attestation key", err, errsz)) != 0) goto done;
    r = Esys_TR_GetName(c.esys, ak, &akname);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "Esys_TR_GetName (attestation key)");
        goto done;
    }
    off = 0;
    r = Tss2_MU_TPM2B_PUBLIC_Marshal(akpub, buf, sizeof buf, &off);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "marshalling the attestation key");
        goto done;
    }
    if (off != out->ak.pub_len || memcmp(buf, out->ak.pub, off) != 0 ||
        akname->size != out->ak.name_len || memcmp(akname->name, out->ak.name, akname->size) != 0)
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the AK template here differs from attest/tpm.c's");
done:
    flush(&c, &ek);
    flush(&c, &ak);
    Esys_Free(ekpub);
    Esys_Free(akpub);
    Esys_Free(akname);
    conn_close(&c);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

/* ------------------------------------------------------------ MakeCredential */

/* KDFa (TPM 2.0 Part 1, 11.4.10.2) with HMAC-SHA256; bits a multiple of 8, at most 512. */
static int kdfa(const uint8_t *key, size_t keylen, const char *label, const uint8_t *u, size_t ulen,
                const uint8_t *v, size_t vlen, uint32_t bits, uint8_t *out)
{
    uint8_t msg[4 + 32 + 1 + 2 * ATTEST_TPM_NAME_MAX + 4];
    size_t llen = strlen(label) + 1; /* with the NUL */
    size_t need = bits / 8, done = 0;
    if (4 + llen + ulen + vlen + 4 > sizeof msg) return ATTEST_EINVAL;
    for (uint32_t i = 1; done < need; i++) {
        size_t m = 0;
        uint8_t h[32];
        unsigned hl = 0;
        msg[m++] = (uint8_t)(i >> 24), msg[m++] = (uint8_t)(i >> 16);
        msg[m++] = (uint8_t)(i >> 8), msg[m++] = (uint8_t)i;
        memcpy(msg + m, label, llen), m += llen;
        if (ulen) memcpy(msg + m, u, ulen), m += ulen;
        if (vlen) memcpy(msg + m, v, vlen), m += vlen;
        msg[m++] = (uint8_t)(bits >> 24), msg[m++] = (uint8_t)(bits >> 16);
        msg[m++] = (uint8_t)(bits >> 8), msg[m++] = (uint8_t)bits;
        if (!HMAC(EVP_sha256(), key, (int)keylen, msg, m, h, &hl) || hl != 32)
            return ATTEST_ECRYPTO;
        size_t take = need - done < 32 ? need - done : 32;
        memcpy(out + done, h, take);
        done += take;
        OPENSSL_cleanse(h, sizeof h);
    }
    return 0;
}

static int oaep_encrypt(EVP_PKEY *key, const uint8_t *in, size_t inlen, uint8_t *out,
                        size_t *outlen)
{
    static const char label[] = "IDENTITY"; /* the NUL is part of the label */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    unsigned char *l = OPENSSL_malloc(sizeof label);
    int ok = ctx && l && EVP_PKEY_encrypt_init(ctx) > 0 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) > 0 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0;
    if (ok) {
        memcpy(l, label, sizeof label);
        ok = EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, sizeof label) > 0;
        if (ok) l = NULL; /* owned by ctx now */
    }
    ok = ok && EVP_PKEY_encrypt(ctx, out, outlen, in, inlen) > 0;
    OPENSSL_free(l);
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : ATTEST_ECRYPTO;
}

static int aes128_cfb(const uint8_t key[16], const uint8_t *in, size_t len, uint8_t *out)
{
    static const uint8_t iv[16] = {0};
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, f = 0;
    int ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_cfb128(), NULL, key, iv) &&
             EVP_EncryptUpdate(c, out, &n, in, (int)len) && EVP_EncryptFinal_ex(c, out + n, &f) &&
             (size_t)(n + f) == len;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : ATTEST_ECRYPTO;
}

int attest_enroll_challenge(const attest_enroll_req *req, const uint8_t *ak_name,
                            size_t ak_name_len, uint8_t secret[32], attest_enroll_chal *out,
                            char *err, size_t errsz)
{
    EVP_PKEY *ek = NULL;
    uint8_t seed[32], sym[16], hkey[32], cred[34], enc[34], hmac[32];
    uint8_t encseed[ATTEST_ENROLL_RSA_BYTES];
    size_t enclen = sizeof encseed;
    unsigned hl = 0;
    int rc;

    if (!req || !ak_name || !secret || !out)
        return attest_text_fail(err, errsz, ATTEST_EINVAL,
                                "attest_enroll_challenge: NULL argument");
    memset(out, 0, sizeof *out);
    if (ak_name_len != 34 || ak_name[0] != (TPM2_ALG_SHA256 >> 8) ||
        ak_name[1] != (TPM2_ALG_SHA256 & 0xff))
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "the AK Name is not a SHA-256 Name");
    if (req->ek_cert_len == 0 || req->ek_cert_len > sizeof req->ek_cert)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "the request has no EK certificate");
    if ((rc = cert_key(req->ek_cert, req->ek_cert_len, req->ek_modulus, req->ek_exponent, &ek, err,
                       errsz)) != 0)
        return rc;

    if (RAND_bytes(secret, 32) != 1 || RAND_bytes(seed, sizeof seed) != 1) {
        rc = attest_text_fail(err, errsz, ATTEST_ECRYPTO, "RAND_bytes failed");
        goto done;
    }
    /* credential = TPM2B_DIGEST(secret); encIdentity = AES-128-CFB(KDFa STORAGE, IV 0). */
    cred[0] = 0, cred[1] = 32;
    memcpy(cred + 2, secret, 32);
    if (oaep_encrypt(ek, seed, sizeof seed, encseed, &enclen) != 0 || enclen != sizeof encseed ||
        kdfa(seed, sizeof seed, "STORAGE", ak_name, ak_name_len, NULL, 0, 128, sym) != 0 ||
        aes128_cfb(sym, cred, sizeof cred, enc) != 0 ||
        kdfa(seed, sizeof seed, "INTEGRITY", NULL, 0, NULL, 0, 256, hkey) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_ECRYPTO, "MakeCredential: libcrypto failed");
        goto done;
    }
    /* outerHMAC = HMAC-SHA256(hmacKey, encIdentity || Name). */
    {
        uint8_t m[sizeof enc + ATTEST_TPM_NAME_MAX];
        memcpy(m, enc, sizeof enc);
        memcpy(m + sizeof enc, ak_name, ak_name_len);
        if (!HMAC(EVP_sha256(), hkey, sizeof hkey, m, sizeof enc + ak_name_len, hmac, &hl) ||
            hl != 32) {
            rc = attest_text_fail(err, errsz, ATTEST_ECRYPTO, "MakeCredential: HMAC failed");
            goto done;
        }
    }
    /* TPM2B_ID_OBJECT: size || TPM2B_DIGEST(outerHMAC) || encIdentity. */
    size_t body = 2 + 32 + sizeof enc, o = 0;
    out->blob[o++] = (uint8_t)(body >> 8), out->blob[o++] = (uint8_t)body;
    out->blob[o++] = 0, out->blob[o++] = 32;
    memcpy(out->blob + o, hmac, 32), o += 32;
    memcpy(out->blob + o, enc, sizeof enc), o += sizeof enc;
    out->blob_len = o;
    /* TPM2B_ENCRYPTED_SECRET: size || RSA-OAEP(seed). */
    out->secret[0] = (uint8_t)(enclen >> 8), out->secret[1] = (uint8_t)enclen;
    memcpy(out->secret + 2, encseed, enclen);
    out->secret_len = 2 + enclen;
    rc = 0;
done:
    OPENSSL_cleanse(seed, sizeof seed);
    OPENSSL_cleanse(sym, sizeof sym);
    OPENSSL_cleanse(hkey, sizeof hkey);
    OPENSSL_cleanse(cred, sizeof cred);
    EVP_PKEY_free(ek);
    if (rc) {
        OPENSSL_cleanse(secret, 32);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

/* ------------------------------------------------------ ActivateCredential */

int attest_enroll_activate(const char *tcti, const attest_enroll_chal *ch, uint8_t secret[32],
                           char *err, size_t errsz)
{
    TPM2B_ID_OBJECT blob;
    TPM2B_ENCRYPTED_SECRET enc;
    TPM2B_PUBLIC tmpl;
    TPM2B_DIGEST *info = NULL;
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
    TPM2B_NONCE nonce = {0};
    TPM2B_DIGEST cphash = {0};
    TPM2B_NONCE ref = {0};
    ESYS_TR ek = ESYS_TR_NONE, ak = ESYS_TR_NONE, sess = ESYS_TR_NONE;
    conn c = {0};
    size_t off = 0;
    TSS2_RC r;
    int rc;

    if (!ch || !secret)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "attest_enroll_activate: NULL argument");
    memset(&blob, 0, sizeof blob);
    memset(&enc, 0, sizeof enc);
    if (ch->blob_len > sizeof ch->blob || ch->secret_len > sizeof ch->secret ||
        Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(ch->blob, ch->blob_len, &off, &blob) != TSS2_RC_SUCCESS ||
        off != ch->blob_len ||
        (off = 0, Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(ch->secret, ch->secret_len, &off,
                                                           &enc) != TSS2_RC_SUCCESS) ||
        off != ch->secret_len)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "the challenge does not unmarshal");

    if ((rc = conn_open(&c, tcti, err, errsz)) != 0) return rc;
    attest_tss_ak_template(&tmpl);
    if ((rc = primary(&c, &tmpl, &ak, NULL, "attestation key", err, errsz)) != 0) goto done;
    ek_template(&tmpl);
    if ((rc = primary(&c, &tmpl, &ek, NULL, "endorsement key", err, errsz)) != 0) goto done;
    r = Esys_StartAuthSession(c.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &sess);
    if (r != TSS2_RC_SUCCESS) {
        sess = ESYS_TR_NONE;
        rc = attest_tss_fail(err, errsz, r, "TPM2_StartAuthSession");
        goto done;
    }
    r = Esys_PolicySecret(c.esys, ESYS_TR_RH_ENDORSEMENT, sess, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                          ESYS_TR_NONE, &nonce, &cphash, &ref, 0, NULL, NULL);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "TPM2_PolicySecret (endorsement)");
        goto done;
    }
    r = Esys_ActivateCredential(c.esys, ak, ek, ESYS_TR_PASSWORD, sess, ESYS_TR_NONE, &blob, &enc,
                                &info);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "TPM2_ActivateCredential");
        if ((r & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER) rc = ATTEST_EVERIFY;
        goto done;
    }
    if (info->size != 32) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY, "the credential holds %u bytes, not 32",
                              (unsigned)info->size);
        goto done;
    }
    memcpy(secret, info->buffer, 32);
done:
    flush(&c, &sess);
    flush(&c, &ek);
    flush(&c, &ak);
    if (info) OPENSSL_cleanse(info->buffer, sizeof info->buffer);
    Esys_Free(info);
    conn_close(&c);
    return rc;
}
