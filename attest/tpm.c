/*
 * tpm.c - seals anchored in a TPM 2.0 through tpm2-tss ESAPI: the
 * endorsement-hierarchy attestation key, the per-run NV extend and counter
 * indexes, and the extend + increment + NV_Certify of one seal (attest/TPM.md).
 * It produces evidence and checks only that the TPM certified the indexes it
 * was asked to; verifying evidence is the verifier's job. Password sessions
 * only (all auth values are empty); no object stays loaded between calls.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <jansson.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "attest/error.h"
#include "format/text.h"
#include "attest/tpm.h"
#include "attest/tss.h"

_Static_assert(ATTEST_TPM_NAME_MAX >= sizeof(TPMU_NAME), "name buffer");
_Static_assert(ATTEST_TPM_PUBLIC_MAX >= sizeof(TPM2B_PUBLIC), "public buffer");
_Static_assert(ATTEST_TPM_ATTEST_MAX >= sizeof(TPM2B_ATTEST), "attest buffer");
_Static_assert(ATTEST_TPM_SIGNATURE_MAX >= sizeof(TPMT_SIGNATURE), "signature buffer");

#define NV_PROBES 8 /* slots tried per run before giving up */

/* Part of the AK template: makes our AK differ from other fixed-template keys. */
/* Hashed with the run id into the NV indexes' authPolicy and slot. */
static const char NV_LABEL[] = "attest-tpm-nv-v1";

/* Read and write with the index's own (empty) auth; no dictionary-attack lockout. */
#define NV_ATTRS (TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA)

struct attest_tpm {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    /* ESYS handles of the indexes the last seal used (ESYS-side only: no TPM slot). */
    uint32_t nv_handle[2];
    ESYS_TR nv_tr[2];
};

static int sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, a, alen) &&
             EVP_DigestUpdate(c, b, blen) && EVP_DigestFinal_ex(c, out, NULL);
    EVP_MD_CTX_free(c);
    return ok ? 0 : ATTEST_ECRYPTO;
}

int attest_tpm_open(attest_tpm **out, const char *tcti, char *err, size_t errsz)
{
    attest_tpm *t = NULL;
    TPMS_CAPABILITY_DATA *cap = NULL;
    TSS2_RC r;
    int rc = 0;

    if (!out) return attest_text_fail(err, errsz, ATTEST_EINVAL, "attest_tpm_open: out is NULL");
    *out = NULL;
    if (!tcti) tcti = getenv("ATTEST_TCTI");
    if (!tcti || !*tcti)
        return attest_text_fail(err, errsz, ATTEST_EINVAL,
                                "no TPM given: pass a TCTI or set ATTEST_TCTI");
    t = calloc(1, sizeof *t);
    if (!t) return attest_text_fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    t->nv_tr[0] = t->nv_tr[1] = ESYS_TR_NONE;

    r = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
    if (r != TSS2_RC_SUCCESS) {
        char what[300];
        snprintf(what, sizeof what, "TCTI \"%s\"", tcti);
        rc = attest_tss_fail(err, errsz, r, what);
        goto done;
    }
    r = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "Esys_Initialize");
        goto done;
    }
    /* Firmware (or swtpm --flags startup-clear) has normally started the TPM already;
     * asking first avoids a TPM error, which tpm2-tss would log. */
    r = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                           TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1, NULL, &cap);
    if (r == TPM2_RC_INITIALIZE) {
        r = Esys_Startup(t->esys, TPM2_SU_CLEAR);
        if (r == TPM2_RC_INITIALIZE) r = TSS2_RC_SUCCESS; /* started meanwhile */
        if (r != TSS2_RC_SUCCESS) {
            rc = attest_tss_fail(err, errsz, r, "TPM2_Startup");
            goto done;
        }
    } else if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "TPM2_GetCapability");
        goto done;
    }
    *out = t;
    t = NULL;
done:
    Esys_Free(cap);
    attest_tpm_free(t);
    return rc;
}

void attest_tpm_free(attest_tpm *tpm)
{
    if (!tpm) return;
    if (tpm->esys) Esys_Finalize(&tpm->esys);
    if (tpm->tcti) Tss2_TctiLdr_Finalize(&tpm->tcti);
    free(tpm);
}

/* The fixed AK template: same TPM + same template = same key (TPM2_CreatePrimary is a KDF). */
/* Loads the AK; the caller flushes *handle. pub may be NULL. */
static int load_ak(attest_tpm *tpm, ESYS_TR *handle, TPM2B_PUBLIC **pub, char *err, size_t errsz)
{
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    TSS2_RC r;

    memset(&sens, 0, sizeof sens);
    attest_tss_ak_template(&tmpl);
    r = Esys_CreatePrimary(tpm->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, handle, pub, NULL, NULL,
                           NULL);
    if (r != TSS2_RC_SUCCESS) {
        *handle = ESYS_TR_NONE;
        return attest_tss_fail(err, errsz, r, "TPM2_CreatePrimary (attestation key)");
    }
    return 0;
}

static void flush(attest_tpm *tpm, ESYS_TR *handle)
{
    if (*handle != ESYS_TR_NONE) Esys_FlushContext(tpm->esys, *handle);
    *handle = ESYS_TR_NONE;
}

int attest_tpm_ak(attest_tpm *tpm, attest_tpm_key *ak, char *err, size_t errsz)
{
    ESYS_TR h = ESYS_TR_NONE;
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_NAME *name = NULL;
    size_t off = 0;
    TSS2_RC r;
    int rc;

    if (!tpm || !ak)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "attest_tpm_ak: NULL argument");
    memset(ak, 0, sizeof *ak);
    if ((rc = load_ak(tpm, &h, &pub, err, errsz)) != 0) goto done;
    r = Esys_TR_GetName(tpm->esys, h, &name);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "Esys_TR_GetName (attestation key)");
        goto done;
    }
    r = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, ak->pub, sizeof ak->pub, &off);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "marshalling the attestation key");
        goto done;
    }
    ak->pub_len = off;
    memcpy(ak->name, name->name, name->size);
    ak->name_len = name->size;
done:
    flush(tpm, &h);
    Esys_Free(pub);
    Esys_Free(name);
    if (rc) memset(ak, 0, sizeof *ak);
    return rc;
}

/* Drops the cached ESYS handles. ESYS_TR_FromTPMPublic returns the one ESYS_TR a TPM handle
 * already has, so closing any ESYS_TR of the same index would leave the cache dangling. */
static void nv_forget(attest_tpm *tpm)
{
    for (int k = 0; k < 2; k++)
        if (tpm->nv_tr[k] != ESYS_TR_NONE) Esys_TR_Close(tpm->esys, &tpm->nv_tr[k]);
    tpm->nv_tr[0] = tpm->nv_tr[1] = ESYS_TR_NONE;
}

static void nv_template(TPM2B_NV_PUBLIC *p, uint32_t handle, int counter, const uint8_t policy[32])
{
    memset(p, 0, sizeof *p);
    p->nvPublic.nvIndex = handle;
    p->nvPublic.nameAlg = TPM2_ALG_SHA256;
    p->nvPublic.attributes =
        ((TPMA_NV)(counter ? TPM2_NT_COUNTER : TPM2_NT_EXTEND) << TPMA_NV_TPM2_NT_SHIFT) | NV_ATTRS;
    /* No policy session can reach this digest: it only ties the index to the run. */
    p->nvPublic.authPolicy.size = 32;
    memcpy(p->nvPublic.authPolicy.buffer, policy, 32);
    p->nvPublic.dataSize = counter ? 8 : 32;
}

/* The Name of the index once written: nameAlg || SHA-256(TPMS_NV_PUBLIC with WRITTEN set). */
static int nv_name(const TPM2B_NV_PUBLIC *p, uint8_t name[ATTEST_TPM_NAME_MAX], size_t *len,
                   char *err, size_t errsz)
{
    TPMS_NV_PUBLIC w = p->nvPublic;
    uint8_t buf[sizeof(TPMS_NV_PUBLIC)];
    size_t off = 0;
    TSS2_RC r;

    w.attributes |= TPMA_NV_WRITTEN;
    r = Tss2_MU_TPMS_NV_PUBLIC_Marshal(&w, buf, sizeof buf, &off);
    if (r != TSS2_RC_SUCCESS)
        return attest_tss_fail(err, errsz, r, "marshalling an NV public area");
    name[0] = TPM2_ALG_SHA256 >> 8;
    name[1] = TPM2_ALG_SHA256 & 0xff;
    if (sha256(buf, off, "", 0, name + 2))
        return attest_text_fail(err, errsz, ATTEST_ECRYPTO, "SHA-256 failed in libcrypto");
    *len = 34;
    return 0;
}

/* Whether an NV index is defined, without the TPM error (and tpm2-tss log) of reading it. */
static int nv_exists(attest_tpm *tpm, uint32_t handle, int *exists, char *err, size_t errsz)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TSS2_RC r = Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   TPM2_CAP_HANDLES, handle, 1, NULL, &cap);
    if (r != TSS2_RC_SUCCESS) return attest_tss_fail(err, errsz, r, "TPM2_GetCapability (handles)");
    *exists = cap->data.handles.count > 0 && cap->data.handles.handle[0] == handle;
    Esys_Free(cap);
    return 0;
}

enum nv_state { NV_ABSENT, NV_OURS, NV_OURS_WRONG, NV_FOREIGN };

/* Classifies the index at `handle` against the template `want`. */
static int nv_classify(attest_tpm *tpm, const TPM2B_NV_PUBLIC *want, enum nv_state *st, char *err,
                       size_t errsz)
{
    ESYS_TR tr = ESYS_TR_NONE;
    TPM2B_NV_PUBLIC *pub = NULL;
    const TPMS_NV_PUBLIC *w = &want->nvPublic;
    int exists, rc;
    TSS2_RC r;

    if ((rc = nv_exists(tpm, w->nvIndex, &exists, err, errsz)) != 0) return rc;
    if (!exists) {
        *st = NV_ABSENT;
        return 0;
    }
    r = Esys_TR_FromTPMPublic(tpm->esys, w->nvIndex, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
    if (r == TSS2_RC_SUCCESS)
        r = Esys_NV_ReadPublic(tpm->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "TPM2_NV_ReadPublic");
        goto done;
    }
    const TPMS_NV_PUBLIC *h = &pub->nvPublic;
    if (h->authPolicy.size != w->authPolicy.size ||
        memcmp(h->authPolicy.buffer, w->authPolicy.buffer, w->authPolicy.size) != 0)
        *st = NV_FOREIGN;
    else if (h->nameAlg != w->nameAlg || (h->attributes & ~TPMA_NV_WRITTEN) != w->attributes ||
             h->dataSize != w->dataSize)
        *st = NV_OURS_WRONG;
    else
        *st = NV_OURS;
done:
    if (tr != ESYS_TR_NONE) Esys_TR_Close(tpm->esys, &tr);
    Esys_Free(pub);
    return rc;
}

static int nv_define(attest_tpm *tpm, const TPM2B_NV_PUBLIC *p, char *err, size_t errsz)
{
    TPM2B_AUTH auth = {0};
    ESYS_TR tr = ESYS_TR_NONE;
    TSS2_RC r = Esys_NV_DefineSpace(tpm->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                    ESYS_TR_NONE, &auth, p, &tr);
    if (r != TSS2_RC_SUCCESS) {
        char what[64];
        snprintf(what, sizeof what, "TPM2_NV_DefineSpace 0x%08x", (unsigned)p->nvPublic.nvIndex);
        return attest_tss_fail(err, errsz, r, what);
    }
    Esys_TR_Close(tpm->esys, &tr);
    return 0;
}

int attest_tpm_define(attest_tpm *tpm, const uint8_t run_id[16], attest_tpm_nv *nv, char *err,
                      size_t errsz)
{
    uint8_t policy[32];
    TPM2B_NV_PUBLIC want[2];
    enum nv_state st[2];
    int chosen = -1, empty = -1, rc = 0;

    if (!tpm || !run_id || !nv)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "attest_tpm_define: NULL argument");
    memset(nv, 0, sizeof *nv);
    nv_forget(tpm);
    if (sha256(NV_LABEL, sizeof NV_LABEL - 1, run_id, 16, policy))
        return attest_text_fail(err, errsz, ATTEST_ECRYPTO, "SHA-256 failed in libcrypto");
    unsigned start = (unsigned)policy[0] << 8 | policy[1];

    /* Probe every slot: a resumed run's indexes may lie past a slot freed since. */
    for (int i = 0; i < NV_PROBES && chosen < 0; i++) {
        uint32_t base = ATTEST_TPM_NV_BASE + 2 * ((start + (unsigned)i) & 0xffff);
        for (int k = 0; k < 2; k++) {
            nv_template(&want[k], base + (uint32_t)k, k, policy);
            if ((rc = nv_classify(tpm, &want[k], &st[k], err, errsz)) != 0) return rc;
            if (st[k] == NV_OURS_WRONG)
                return attest_text_fail(
                    err, errsz, ATTEST_EEXIST,
                    "NV index 0x%08x belongs to this run but has other attributes",
                    (unsigned)(base + (uint32_t)k));
        }
        if (st[0] == NV_OURS || st[1] == NV_OURS) {
            if (st[0] == NV_FOREIGN || st[1] == NV_FOREIGN)
                return attest_text_fail(
                    err, errsz, ATTEST_EEXIST,
                    "NV indexes 0x%08x/0x%08x: one is this run's, one another's", (unsigned)base,
                    (unsigned)(base + 1));
            chosen = i;
        } else if (st[0] == NV_ABSENT && st[1] == NV_ABSENT && empty < 0) {
            empty = i;
        }
    }
    if (chosen < 0 && empty < 0)
        return attest_text_fail(err, errsz, ATTEST_EEXIST, "all %d NV slots of this run are taken",
                                NV_PROBES);
    if (chosen < 0) {
        chosen = empty;
        st[0] = st[1] = NV_ABSENT;
    }
    uint32_t base = ATTEST_TPM_NV_BASE + 2 * ((start + (unsigned)chosen) & 0xffff);
    for (int k = 0; k < 2; k++) {
        nv_template(&want[k], base + (uint32_t)k, k, policy);
        if (st[k] == NV_ABSENT && (rc = nv_define(tpm, &want[k], err, errsz)) != 0) return rc;
    }
    nv->extend_handle = base;
    nv->counter_handle = base + 1;
    if ((rc = nv_name(&want[0], nv->extend_name, &nv->extend_name_len, err, errsz)) != 0 ||
        (rc = nv_name(&want[1], nv->counter_name, &nv->counter_name_len, err, errsz)) != 0)
        memset(nv, 0, sizeof *nv);
    return rc;
}

/* ESYS handles of the run's two indexes, kept while the same pair is sealed again. */
static int nv_trs(attest_tpm *tpm, const attest_tpm_nv *nv, char *err, size_t errsz)
{
    const uint32_t want[2] = {nv->extend_handle, nv->counter_handle};
    int exists, rc = 0;
    TSS2_RC r;

    if (tpm->nv_tr[0] != ESYS_TR_NONE && tpm->nv_tr[1] != ESYS_TR_NONE &&
        tpm->nv_handle[0] == want[0] && tpm->nv_handle[1] == want[1])
        return 0;
    nv_forget(tpm);
    if (want[0] == want[1])
        return attest_text_fail(err, errsz, ATTEST_EINVAL,
                                "the extend and counter index are one (0x%08x)", (unsigned)want[0]);
    for (int k = 0; k < 2; k++) {
        if ((rc = nv_exists(tpm, want[k], &exists, err, errsz)) != 0) goto done;
        if (!exists) {
            rc = attest_text_fail(err, errsz, ATTEST_ENOTFOUND, "NV index 0x%08x is not defined",
                                  (unsigned)want[k]);
            goto done;
        }
        r = Esys_TR_FromTPMPublic(tpm->esys, want[k], ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  &tpm->nv_tr[k]);
        if (r != TSS2_RC_SUCCESS) {
            tpm->nv_tr[k] = ESYS_TR_NONE;
            rc = attest_tss_fail(err, errsz, r, "Esys_TR_FromTPMPublic");
            goto done;
        }
        tpm->nv_handle[k] = want[k];
    }
done:
    if (rc) nv_forget(tpm);
    return rc;
}

/* NV_Certify of all `size` bytes of index `nv` by the AK; the contents go to `contents`. */
static int certify(attest_tpm *tpm, ESYS_TR ak, ESYS_TR nv, uint16_t size, const uint8_t digest[32],
                   const uint8_t *name, size_t name_len, attest_tpm_cert *cert, uint8_t *contents,
                   char *err, size_t errsz)
{
    TPM2B_DATA qualifying = {.size = 32};
    TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_ECDSA};
    TPM2B_ATTEST *att = NULL;
    TPMT_SIGNATURE *sig = NULL;
    TPMS_ATTEST a;
    size_t off = 0;
    TSS2_RC r;
    int rc = 0;

    memcpy(qualifying.buffer, digest, 32);
    scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    /* An explicit size: size 0 at offset 0 asks a TPM 1.59+ for a digest (ST_ATTEST_NV_DIGEST). */
    r = Esys_NV_Certify(tpm->esys, ak, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                        &qualifying, &scheme, size, 0, &att, &sig);
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "TPM2_NV_Certify");
        goto done;
    }
    r = Tss2_MU_TPM2B_ATTEST_Marshal(att, cert->attest, sizeof cert->attest, &off);
    if (r == TSS2_RC_SUCCESS) {
        cert->attest_len = off;
        off = 0;
        r = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, cert->sig, sizeof cert->sig, &off);
        cert->sig_len = off;
    }
    if (r == TSS2_RC_SUCCESS) {
        off = 0;
        r = Tss2_MU_TPMS_ATTEST_Unmarshal(att->attestationData, att->size, &off, &a);
    }
    if (r != TSS2_RC_SUCCESS) {
        rc = attest_tss_fail(err, errsz, r, "marshalling the certification");
        goto done;
    }
    const TPMS_NV_CERTIFY_INFO *nvi = &a.attested.nv;
    if (a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_NV || a.extraData.size != 32 ||
        memcmp(a.extraData.buffer, digest, 32) != 0 || nvi->indexName.size != name_len ||
        memcmp(nvi->indexName.name, name, name_len) != 0 || nvi->offset != 0 ||
        nvi->nvContents.size != size) {
        rc = attest_text_fail(
            err, errsz, ATTEST_EVERIFY,
            "the TPM certified something else than NV index Name %02x%02x%02x%02x...", name[0],
            name[1], name[2], name[3]);
        goto done;
    }
    memcpy(contents, nvi->nvContents.buffer, size);
done:
    Esys_Free(att);
    Esys_Free(sig);
    return rc;
}

/* A seal (write: extend, increment, certify) or a quote (certify only). */
static int certify_run(attest_tpm *tpm, const attest_tpm_nv *nv, const uint8_t digest[32],
                       attest_tpm_evidence *ev, int write, char *err, size_t errsz)
{
    ESYS_TR ak = ESYS_TR_NONE, ext, ctr;
    TPM2B_MAX_NV_BUFFER data = {.size = 32};
    uint8_t count[8];
    int extended = 0, rc;
    TSS2_RC r;

    if (!tpm || !nv || !digest || !ev)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "attest_tpm_seal/quote: NULL argument");
    memset(ev, 0, sizeof *ev);
    if ((rc = nv_trs(tpm, nv, err, errsz)) != 0) return rc;
    ext = tpm->nv_tr[0];
    ctr = tpm->nv_tr[1];
    /* The AK first: if it cannot be made, the TPM is left as it was. */
    if ((rc = load_ak(tpm, &ak, NULL, err, errsz)) != 0) goto done;

    memcpy(data.buffer, digest, 32);
    if (write) {
        r = Esys_NV_Extend(tpm->esys, ext, ext, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           &data);
        if (r != TSS2_RC_SUCCESS) {
            rc = attest_tss_fail(err, errsz, r, "TPM2_NV_Extend");
            goto done;
        }
        extended = 1;
        r = Esys_NV_Increment(tpm->esys, ctr, ctr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
        if (r != TSS2_RC_SUCCESS) {
            rc = attest_tss_fail(err, errsz, r, "TPM2_NV_Increment");
            goto done;
        }
    }
    if ((rc = certify(tpm, ak, ext, 32, digest, nv->extend_name, nv->extend_name_len, &ev->extend,
                      ev->chain, err, errsz)) != 0 ||
        (rc = certify(tpm, ak, ctr, 8, digest, nv->counter_name, nv->counter_name_len, &ev->counter,
                      count, err, errsz)) != 0)
        goto done;
    for (int i = 0; i < 8; i++)
        ev->counter_value = ev->counter_value << 8 | count[i];
done:
    flush(tpm, &ak);
    if (rc) {
        memset(ev, 0, sizeof *ev);
        size_t n = err && errsz ? strlen(err) : 0;
        if (extended && err && n + 1 < errsz)
            snprintf(err + n, errsz - n, " (after the extend: the TPM chain holds this digest)");
    }
    return rc;
}

int attest_tpm_seal(attest_tpm *tpm, const attest_tpm_nv *nv, const uint8_t digest[32],
                    attest_tpm_evidence *ev, char *err, size_t errsz)
{
    return certify_run(tpm, nv, digest, ev, 1, err, errsz);
}

int attest_tpm_quote(attest_tpm *tpm, const attest_tpm_nv *nv, const uint8_t digest[32],
                     attest_tpm_evidence *ev, char *err, size_t errsz)
{
    return certify_run(tpm, nv, digest, ev, 0, err, errsz);
}

void attest_tpm_put_hex(json_t *obj, const char *key, const uint8_t *b, size_t n)
{
    char *hex = malloc(2 * n + 1);
    static const char digits[] = "0123456789abcdef";
    if (!hex) return;
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[b[i] >> 4];
        hex[2 * i + 1] = digits[b[i] & 15];
    }
    hex[2 * n] = '\0';
    json_object_set_new(obj, key, json_string(hex));
    free(hex);
}

char *attest_tpm_evidence_text(const attest_tpm_evidence *ev)
{
    json_t *e = json_object(), *c = json_object(), *tpm = json_object();
    attest_tpm_put_hex(e, "attest", ev->extend.attest, ev->extend.attest_len);
    attest_tpm_put_hex(e, "signature", ev->extend.sig, ev->extend.sig_len);
    attest_tpm_put_hex(c, "attest", ev->counter.attest, ev->counter.attest_len);
    attest_tpm_put_hex(c, "signature", ev->counter.sig, ev->counter.sig_len);
    json_object_set_new(tpm, "extend", e);
    json_object_set_new(tpm, "counter", c);
    char *text = json_dumps(tpm, JSON_COMPACT);
    json_decref(tpm);
    return text;
}
