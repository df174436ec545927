/*
 * Tests of attest/enroll.c against two swtpms started by scripts/swtpm:
 * request (EK certificate + EK + AK) -> software MakeCredential ->
 * ActivateCredential gives the secret back; the EK certificate chains to the
 * local CA that scripts/swtpm kept; a credential made for another AK Name,
 * for another TPM's EK, or tampered with is refused by the TPM; no transient
 * object or session is left loaded. Skipped when swtpm is not installed.
 */
#include <stdint.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "attest/enroll.h"
#include "attest/error.h"
#include "attest/tpm.h"
#include "tests/harness.h"
#include "tests/swtpm.h"

static char top[256];
static char tcti_a[128], tcti_b[128];
static char err[512];

static int swtpm_start(const char *name, char *tcti, size_t n)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/%s", top, name);
    return harness_swtpm_start(dir, tcti, n);
}

static void swtpm_stop(const char *name)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/%s", top, name);
    harness_swtpm_stop("stop", dir);
}

/* Transient objects and sessions loaded in the TPM (both must be 0 after any call). */
static int loaded(const char *tcti, uint32_t *objects, uint32_t *sessions)
{
    TSS2_TCTI_CONTEXT *t = NULL;
    ESYS_CONTEXT *ec = NULL;
    TPMS_CAPABILITY_DATA *h = NULL, *s = NULL;
    int rc = -1;
    if (Tss2_TctiLdr_Initialize(tcti, &t) != TSS2_RC_SUCCESS) return -1;
    if (Esys_Initialize(&ec, t, NULL) == TSS2_RC_SUCCESS &&
        Esys_GetCapability(ec, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                           0x80000000u, 16, NULL, &h) == TSS2_RC_SUCCESS &&
        Esys_GetCapability(ec, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                           0x03000000u, 16, NULL, &s) == TSS2_RC_SUCCESS) {
        *objects = h->data.handles.count;
        *sessions = s->data.handles.count;
        rc = 0;
    }
    Esys_Free(h);
    Esys_Free(s);
    if (ec) Esys_Finalize(&ec);
    Tss2_TctiLdr_Finalize(&t);
    return rc;
}

static void check_clean(const char *tcti)
{
    uint32_t o = 99, s = 99;
    CHECK_EQ_INT(loaded(tcti, &o, &s), 0);
    CHECK_EQ_INT(o, 0);
    CHECK_EQ_INT(s, 0);
}

static attest_enroll_req req_a, req_b;

static void test_request(void)
{
    attest_tpm *tpm = NULL;
    attest_tpm_key ak;
    CHECK_EQ_INT(attest_enroll_request(tcti_a, &req_a, err, sizeof err), 0);
    if (*err) printf("# %s\n", err);
    check_clean(tcti_a);
    CHECK(req_a.ek_cert_len > 0);
    CHECK(req_a.ek_pub_len > 256);
    CHECK_EQ_INT(req_a.ek_exponent, 65537);
    CHECK_EQ_INT(req_a.ak.name_len, 34);
    /* The AK is the one attest_tpm uses. */
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti_a, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_ak(tpm, &ak, err, sizeof err), 0);
    attest_tpm_free(tpm);
    CHECK(ak.name_len == req_a.ak.name_len && memcmp(ak.name, req_a.ak.name, ak.name_len) == 0);
    CHECK(ak.pub_len == req_a.ak.pub_len && memcmp(ak.pub, req_a.ak.pub, ak.pub_len) == 0);
    /* The same again: the EK is a deterministic primary. */
    attest_enroll_req again;
    CHECK_EQ_INT(attest_enroll_request(tcti_a, &again, err, sizeof err), 0);
    CHECK(memcmp(&again, &req_a, sizeof again) == 0);

    CHECK_EQ_INT(attest_enroll_request(tcti_b, &req_b, err, sizeof err), 0);
    CHECK(memcmp(req_a.ek_modulus, req_b.ek_modulus, sizeof req_a.ek_modulus) != 0);
    CHECK(memcmp(req_a.ak.name, req_b.ak.name, 34) != 0);
    printf("# EK certificate %zu bytes, EK public %zu bytes, AK Name %02x%02x%02x%02x...\n",
           req_a.ek_cert_len, req_a.ek_pub_len, req_a.ak.name[0], req_a.ak.name[1],
           req_a.ak.name[2], req_a.ak.name[3]);
}

/* X509_verify_cert of the EK certificate of `req` against DIR/ca of swtpm `name`. */
static int verify_ek_cert(const attest_enroll_req *req, const char *name)
{
    char path[512];
    const char *files[2] = {"issuercert.pem", "swtpm-localca-rootca-cert.pem"};
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    const unsigned char *p = req->ek_cert;
    X509 *cert = d2i_X509(NULL, &p, (long)req->ek_cert_len);
    int ok = -1;
    if (!store || !ctx || !cert) goto done;
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s/ca/%s", top, name, files[i]);
        FILE *f = fopen(path, "r");
        X509 *ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
        if (f) fclose(f);
        if (!ca || !X509_STORE_add_cert(store, ca)) {
            printf("# cannot load %s\n", path);
            X509_free(ca);
            goto done;
        }
        X509_free(ca);
    }
    if (!X509_STORE_CTX_init(ctx, store, cert, NULL)) goto done;
    ok = X509_verify_cert(ctx) == 1 ? 0 : 1;
    if (ok)
        printf("# EK certificate against %s: %s\n", name,
               X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
done:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(cert);
    return ok;
}

static void test_ek_cert_chain(void)
{
    CHECK_EQ_INT(verify_ek_cert(&req_a, "a"), 0);
    CHECK_EQ_INT(verify_ek_cert(&req_b, "b"), 0);
    CHECK_EQ_INT(verify_ek_cert(&req_a, "b"), 1); /* another CA */
}

static void test_activate(void)
{
    attest_enroll_chal ch;
    uint8_t secret[32], got[32];
    memset(got, 0, sizeof got);
    CHECK_EQ_INT(attest_enroll_challenge(&req_a, req_a.ak.name, req_a.ak.name_len, secret, &ch, err,
                                         sizeof err),
                 0);
    CHECK_EQ_INT(ch.blob_len, 2 + 2 + 32 + 34);
    CHECK_EQ_INT(ch.secret_len, 2 + 256);
    CHECK_EQ_INT(attest_enroll_activate(tcti_a, &ch, got, err, sizeof err), 0);
    if (*err) printf("# %s\n", err);
    CHECK(memcmp(secret, got, 32) == 0);
    check_clean(tcti_a);
    /* B too, with its own request. */
    CHECK_EQ_INT(attest_enroll_challenge(&req_b, req_b.ak.name, req_b.ak.name_len, secret, &ch, err,
                                         sizeof err),
                 0);
    memset(got, 0, sizeof got);
    CHECK_EQ_INT(attest_enroll_activate(tcti_b, &ch, got, err, sizeof err), 0);
    CHECK(memcmp(secret, got, 32) == 0);
}

static void test_other_ak(void)
{
    attest_enroll_chal ch;
    uint8_t secret[32], got[32], name[34];
    memcpy(name, req_a.ak.name, 34);
    name[33] ^= 1;
    CHECK_EQ_INT(attest_enroll_challenge(&req_a, name, 34, secret, &ch, err, sizeof err), 0);
    err[0] = '\0';
    CHECK_EQ_INT(attest_enroll_activate(tcti_a, &ch, got, err, sizeof err), ATTEST_EVERIFY);
    printf("# another AK Name: %s\n", err);
    check_clean(tcti_a);
    /* B's AK Name under A's EK: A has no such AK. */
    CHECK_EQ_INT(attest_enroll_challenge(&req_a, req_b.ak.name, 34, secret, &ch, err, sizeof err),
                 0);
    CHECK_EQ_INT(attest_enroll_activate(tcti_a, &ch, got, err, sizeof err), ATTEST_EVERIFY);
}

static void test_other_ek(void)
{
    attest_enroll_chal ch;
    uint8_t secret[32], got[32];
    /* Made for B's EK with A's AK Name: A cannot decrypt the seed. */
    attest_enroll_req mixed = req_b;
    mixed.ak = req_a.ak;
    CHECK_EQ_INT(attest_enroll_challenge(&mixed, req_a.ak.name, 34, secret, &ch, err, sizeof err),
                 0);
    err[0] = '\0';
    CHECK_EQ_INT(attest_enroll_activate(tcti_a, &ch, got, err, sizeof err), ATTEST_EVERIFY);
    printf("# another TPM's EK: %s\n", err);
    check_clean(tcti_a);
    /* A request whose modulus is not the certificate's key is refused. */
    mixed = req_a;
    mixed.ek_modulus[100] ^= 1;
    CHECK_EQ_INT(attest_enroll_challenge(&mixed, req_a.ak.name, 34, secret, &ch, err, sizeof err),
                 ATTEST_EVERIFY);
}

static void test_tampered(void)
{
    attest_enroll_chal ch, bad;
    uint8_t secret[32], got[32];
    CHECK_EQ_INT(attest_enroll_challenge(&req_a, req_a.ak.name, 34, secret, &ch, err, sizeof err),
                 0);
    const size_t at[3] = {10, 50, ch.blob_len - 1};
    for (int i = 0; i < 3; i++) {
        bad = ch;
        bad.blob[at[i]] ^= 0x40;
        CHECK_EQ_INT(attest_enroll_activate(tcti_a, &bad, got, err, sizeof err), ATTEST_EVERIFY);
    }
    bad = ch;
    bad.secret[100] ^= 1;
    CHECK_EQ_INT(attest_enroll_activate(tcti_a, &bad, got, err, sizeof err), ATTEST_EVERIFY);
    bad = ch;
    bad.blob_len--;
    CHECK_EQ_INT(attest_enroll_activate(tcti_a, &bad, got, err, sizeof err), ATTEST_EFORMAT);
    check_clean(tcti_a);
    /* The untouched one still works. */
    CHECK_EQ_INT(attest_enroll_activate(tcti_a, &ch, got, err, sizeof err), 0);
    CHECK(memcmp(secret, got, 32) == 0);
}

static void test_errors(void)
{
    attest_enroll_chal ch;
    uint8_t secret[32];
    CHECK_EQ_INT(attest_enroll_request(tcti_a, NULL, err, sizeof err), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_enroll_challenge(&req_a, req_a.ak.name, 33, secret, &ch, err, sizeof err),
                 ATTEST_EINVAL);
    CHECK_EQ_INT(attest_enroll_activate(tcti_a, NULL, secret, err, sizeof err), ATTEST_EINVAL);
    static attest_enroll_req r;
    CHECK_EQ_INT(attest_enroll_request("swtpm:host=127.0.0.1,port=1", &r, err, sizeof err),
                 ATTEST_EIO);
}

int main(void)
{
    if (system("command -v swtpm >/dev/null 2>&1 && command -v swtpm_setup >/dev/null 2>&1")) {
        printf("ok - enroll tests # SKIP swtpm not installed\n");
        return 0;
    }
    setenv("TSS2_LOG", "all+none", 0);
    const char *tmp = getenv("TMPDIR");
    snprintf(top, sizeof top, "%s/attest-enroll-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(top)) {
        printf("not ok - mkdtemp %s\n", top);
        return 1;
    }
    if (swtpm_start("a", tcti_a, sizeof tcti_a) != 0 ||
        swtpm_start("b", tcti_b, sizeof tcti_b) != 0) {
        printf("not ok - scripts/swtpm start %s/{a,b}\n", top);
        swtpm_stop("a");
        return 1;
    }
    RUN(test_request);
    RUN(test_ek_cert_chain);
    RUN(test_activate);
    RUN(test_other_ak);
    RUN(test_other_ek);
    RUN(test_tampered);
    RUN(test_errors);
    swtpm_stop("a");
    swtpm_stop("b");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    if (system(cmd) != 0) printf("# could not remove %s\n", top);
    HARNESS_EXIT();
}
