/*
 * Tests of verify/tpm.c on real evidence: a swtpm started by scripts/swtpm
 * seals made-up notes through attest/tpm.c; the test builds the log's `tpm`
 * and seal records itself and checks that an honest run verifies and that
 * each kind of tampering (bytes, replay, another run, rolled-back TPM state,
 * clock going back, a wrong AK Name) fails for the right reason. One evidence
 * is also checked with tpm2_checkquote. Skipped when swtpm is not installed.
 */
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <tss2/tss2_mu.h>

#include "attest/error.h"
#include "attest/tpm.h"
#include "tests/harness.h"
#include "tests/swtpm.h"
#include "verify/tpm.h"

static char top[256];  /* the mkdtemp folder */
static char tcti[128]; /* of the running swtpm */
static char err[512];

/* ------------------------------------------------------------------ swtpm */

static int swtpm_start(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/x", top);
    return harness_swtpm_start(dir, tcti, sizeof tcti);
}

/* "stop" (a kill: power loss) or "shutdown" (TPM2_Shutdown first: a reboot). */
static int swtpm_stop(const char *how)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/x", top);
    return harness_swtpm_stop(how, dir);
}

/* Copies the TPM state aside ("save") or back over the current one ("restore"). */
static int swtpm_state(const char *what)
{
    char cmd[1024];
    if (strcmp(what, "save") == 0)
        snprintf(cmd, sizeof cmd, "rm -rf '%s/saved' && cp -a '%s/x/state' '%s/saved'", top, top,
                 top);
    else
        snprintf(cmd, sizeof cmd, "rm -rf '%s/x/state' && cp -a '%s/saved' '%s/x/state'", top, top,
                 top);
    return system(cmd);
}

/* -------------------------------------------------------------- the "log" */

enum { MAXSEALS = 8 };

/* The records a log would hold: the tpm record, then seals (note, evidence or NULL, time). */
typedef struct run {
    uint8_t id[16];
    attest_tpm_key ak;
    attest_tpm_nv nv;
    json_t *key;
    char note[MAXSEALS][96];
    char time[MAXSEALS][40];
    json_t *ev[MAXSEALS];
    attest_tpm_evidence raw[MAXSEALS];
    int n;
} run;

static json_t *hexstr(const uint8_t *b, size_t len)
{
    char *h = malloc(2 * len + 1);
    sodium_bin2hex(h, 2 * len + 1, b, len);
    json_t *s = json_string(h);
    free(h);
    return s;
}

static json_t *cert_json(const attest_tpm_cert *c)
{
    return json_pack("{s:o, s:o}", "attest", hexstr(c->attest, c->attest_len), "signature",
                     hexstr(c->sig, c->sig_len));
}

/* Opens the TPM, pins AK and indexes of run `id` and builds the tpm record. */
static void run_init(run *r, uint8_t tag)
{
    attest_tpm *tpm = NULL;
    memset(r, 0, sizeof *r);
    r->id[0] = tag;
    r->id[15] = 0x5e;
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_ak(tpm, &r->ak, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_define(tpm, r->id, &r->nv, err, sizeof err), 0);
    attest_tpm_free(tpm);
    r->key = json_pack(
        "{s:s, s:o, s:o, s:I, s:o, s:I, s:o, s:s}", "type", "tpm", "ak_public",
        hexstr(r->ak.pub, r->ak.pub_len), "ak_name", hexstr(r->ak.name, r->ak.name_len),
        "extend_index", (json_int_t)r->nv.extend_handle, "extend_name",
        hexstr(r->nv.extend_name, r->nv.extend_name_len), "counter_index",
        (json_int_t)r->nv.counter_handle, "counter_name",
        hexstr(r->nv.counter_name, r->nv.counter_name_len), "time", "2024-05-01T12:00:00Z");
    CHECK(r->key != NULL);
}

static void run_free(run *r)
{
    json_decref(r->key);
    for (int i = 0; i < r->n; i++)
        json_decref(r->ev[i]);
}

/* Appends `count` seals; `tpm_seal` 0 leaves a seal unanchored (no TPM command at all). */
static void run_seal(run *r, int count, int tpm_seal)
{
    attest_tpm *tpm = NULL;
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    for (int i = 0; i < count && r->n < MAXSEALS; i++) {
        int k = r->n++;
        uint8_t digest[32];
        snprintf(r->note[k], sizeof r->note[k],
                 "attest.test/run-%02x\n%d\nroot%d=\n\n— key sig%d\n", r->id[0], k + 1, k, k);
        snprintf(r->time[k], sizeof r->time[k], "2024-05-01T12:00:%02d.25Z", 10 + k);
        if (!tpm_seal) continue;
        crypto_hash_sha256(digest, (const uint8_t *)r->note[k], strlen(r->note[k]));
        int rc = attest_tpm_seal(tpm, &r->nv, digest, &r->raw[k], err, sizeof err);
        CHECK_EQ_INT(rc, 0);
        if (rc) printf("# seal: %s\n", err);
        r->ev[k] = json_pack("{s:o, s:o}", "extend", cert_json(&r->raw[k].extend), "counter",
                             cert_json(&r->raw[k].counter));
    }
    attest_tpm_free(tpm);
}

/* Feeds the tpm record (log index 0) and the seals (log index k + 1); returns the first
 * failure's code, its reason in err and its seal in *at (-1 for the tpm record). */
static int verify(const run *r, json_t *const *ev, attest_tpm_verifier **out, int *at)
{
    attest_tpm_verifier *v = NULL;
    int rc = attest_tpm_verifier_new(&v);
    *at = -1;
    err[0] = '\0';
    if (rc == 0) attest_tpm_verifier_run(v, r->id);
    if (rc == 0) rc = attest_tpm_verifier_key(v, 0, r->key, err, sizeof err);
    for (int k = 0; rc == 0 && k < r->n; k++) {
        *at = k;
        rc = attest_tpm_verifier_seal(v, (uint64_t)k + 1, r->note[k], ev[k], r->time[k], err,
                                      sizeof err);
    }
    if (rc) printf("# %s\n", err);
    if (out)
        *out = v;
    else
        attest_tpm_verifier_free(v);
    return rc;
}

/* verify() expecting ATTEST_EVERIFY at seal `want_at` with `want` in the reason. */
static void expect_failure(const run *r, json_t *const *ev, int want_at, const char *want)
{
    int at;
    CHECK_EQ_INT(verify(r, ev, NULL, &at), ATTEST_EVERIFY);
    CHECK_EQ_INT(at, want_at);
    CHECK(strstr(err, want) != NULL);
}

/* Flips bit 0 of the byte at `pos` (negative: from the end) of hex member `key` of ev. */
static json_t *flip(const json_t *ev, const char *cert, const char *key, long pos)
{
    json_t *c = json_deep_copy(ev);
    json_t *o = json_object_get(c, cert);
    char *h = strdup(json_string_value(json_object_get(o, key)));
    long n = (long)strlen(h) / 2;
    long at = 2 * (pos < 0 ? n + pos : pos) + 1;
    int nib = h[at] <= '9' ? h[at] - '0' : h[at] - 'a' + 10;
    h[at] = "0123456789abcdef"[nib ^ 1];
    json_object_set_new(o, key, json_string(h));
    free(h);
    return c;
}

/* 1 when one of report.tpm's notes contains `s`. */
static int has_note(const json_t *t, const char *s)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(t, "notes"), i,
                       n) if (strstr(json_string_value(n), s)) return 1;
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_honest(void)
{
    run r;
    attest_tpm_verifier *v = NULL;
    json_t *rep = json_object();
    char line[200];
    int at;

    struct timespec pause = {0, 250 * 1000 * 1000};
    run_init(&r, 0x01);
    run_seal(&r, 2, 1);
    nanosleep(&pause, NULL);
    run_seal(&r, 3, 1);
    CHECK_EQ_INT(verify(&r, r.ev, &v, &at), 0);
    CHECK_EQ_INT(attest_tpm_verifier_report(v, rep, line, sizeof line), 0);
    printf("# %s\n", line);
    json_t *t = json_object_get(rep, "tpm");
    CHECK(json_is_true(json_object_get(t, "anchored")));
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "seals_anchored")), 5);
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "seals_unanchored")), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "counter_first")), r.raw[0].counter_value);
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "counter_last")), r.raw[4].counter_value);
    CHECK_EQ_INT(r.raw[4].counter_value, r.raw[0].counter_value + 4);
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "counter_gaps")), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "epochs")), 1);
    /* The TPM clock saw the pause (and not much more). */
    double att = json_real_value(json_object_get(t, "attested_seconds"));
    CHECK(att >= 0.24 && att < 30);
    CHECK(json_real_value(json_object_get(t, "claimed_seconds")) == 4.0);
    CHECK_EQ_INT(json_array_size(json_object_get(t, "notes")), 0);
    CHECK(strncmp(line, "TPM-anchored: 5 of 5 seals, counter ", 36) == 0);
    CHECK(strstr(line, " 1 epoch, ") != NULL);
    /* A second tpm record is refused, and leaves the verifier usable. */
    CHECK_EQ_INT(attest_tpm_verifier_key(v, 9, r.key, err, sizeof err), ATTEST_EVERIFY);
    CHECK(strstr(err, "a second tpm record") != NULL);
    attest_tpm_verifier_free(v);
    attest_tpm_verifier_free(NULL);

    /* No tpm record, no evidence: not anchored. */
    CHECK_EQ_INT(attest_tpm_verifier_new(&v), 0);
    CHECK_EQ_INT(attest_tpm_verifier_seal(v, 1, "x", NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_verifier_report(v, rep, line, sizeof line), 0);
    CHECK_STR(line, "not TPM-anchored");
    CHECK(json_is_false(json_object_get(json_object_get(rep, "tpm"), "anchored")));
    /* Evidence without a tpm record fails. */
    CHECK_EQ_INT(attest_tpm_verifier_seal(v, 2, r.note[0], r.ev[0], NULL, err, sizeof err),
                 ATTEST_EVERIFY);
    CHECK(strstr(err, "no tpm record") != NULL);
    attest_tpm_verifier_free(v);
    json_decref(rep);
    run_free(&r);
}

static void test_tampered_bytes(void)
{
    run r;
    json_t *ev[MAXSEALS];
    run_init(&r, 0x02);
    run_seal(&r, 5, 1);
    memcpy(ev, r.ev, sizeof ev);

    /* A byte of the certified contents (last byte of the extend chain). */
    ev[1] = flip(r.ev[1], "extend", "attest", -1);
    expect_failure(&r, ev, 1, "tpm.extend: the AK's signature does not verify");
    json_decref(ev[1]);
    ev[1] = r.ev[1];
    /* A byte of the counter's clock. */
    ev[2] = flip(r.ev[2], "counter", "attest", 60);
    expect_failure(&r, ev, 2, "tpm.counter: the AK's signature does not verify");
    json_decref(ev[2]);
    ev[2] = r.ev[2];
    /* The last byte of S. */
    ev[3] = flip(r.ev[3], "extend", "signature", -1);
    expect_failure(&r, ev, 3, "tpm.extend: the AK's signature does not verify");
    json_decref(ev[3]);
    ev[3] = r.ev[3];
    /* Uppercase hex and trailing bytes are refused. */
    json_t *c = json_deep_copy(r.ev[0]);
    json_t *o = json_object_get(c, "counter");
    char buf[2 * ATTEST_TPM_ATTEST_MAX + 8];
    snprintf(buf, sizeof buf, "%s00", json_string_value(json_object_get(o, "attest")));
    json_object_set_new(o, "attest", json_string(buf));
    ev[0] = c;
    expect_failure(&r, ev, 0, "tpm.counter.attest is not a marshalled TPM2B_ATTEST");
    json_decref(c);
    c = json_deep_copy(r.ev[0]);
    json_object_set_new(c, "extra", json_true());
    ev[0] = c;
    expect_failure(&r, ev, 0, "tpm must be {extend, counter}");
    json_decref(c);
    run_free(&r);
}

static void test_replay_and_changed_note(void)
{
    run r;
    json_t *ev[MAXSEALS];
    run_init(&r, 0x03);
    run_seal(&r, 5, 1);
    memcpy(ev, r.ev, sizeof ev);
    ev[2] = r.ev[1]; /* seal 2's evidence at seal 3 */
    expect_failure(&r, ev, 2, "qualifying data is not SHA-256 of this seal's checkpoint");
    memcpy(ev, r.ev, sizeof ev);
    r.note[3][0] = 'A';
    expect_failure(&r, ev, 3, "tpm.extend: qualifying data is not SHA-256");
    run_free(&r);
}

static void test_other_run(void)
{
    run a, b;
    json_t *ev[MAXSEALS];
    run_init(&a, 0x04);
    run_init(&b, 0x05);
    run_seal(&a, 3, 1);
    /* Run b seals run a's third note on its own indexes. */
    run_seal(&b, 3, 1);
    memcpy(b.note[2], a.note[2], sizeof a.note[2]);
    attest_tpm *tpm = NULL;
    uint8_t digest[32];
    attest_tpm_evidence e;
    crypto_hash_sha256(digest, (const uint8_t *)a.note[2], strlen(a.note[2]));
    CHECK_EQ_INT(attest_tpm_open(&tpm, tcti, err, sizeof err), 0);
    CHECK_EQ_INT(attest_tpm_seal(tpm, &b.nv, digest, &e, err, sizeof err), 0);
    attest_tpm_free(tpm);
    memcpy(ev, a.ev, sizeof ev);
    ev[2] =
        json_pack("{s:o, s:o}", "extend", cert_json(&e.extend), "counter", cert_json(&e.counter));
    expect_failure(&a, ev, 2,
                   "tpm.extend: certifies an NV index whose Name is not the pinned "
                   "extend_name");
    json_decref(ev[2]);
    run_free(&a);
    run_free(&b);
}

/* The NV Names must be this run's: a look-alike index (another run id, or an ordinary index
   the prover could write at will) has another Name. */
static void test_nv_names_of_another_run(void)
{
    run r;
    int at;
    run_init(&r, 0x5a);
    run_seal(&r, 1, 1);
    CHECK_EQ_INT(verify(&r, r.ev, NULL, &at), 0);
    r.id[0] ^= 0x01;
    CHECK_EQ_INT(verify(&r, r.ev, NULL, &at), ATTEST_EVERIFY);
    CHECK(strstr(err, "is not the Name of this run's extend index or counter") != NULL);
    r.id[0] ^= 0x01;
    run_free(&r);
}

static void test_wrong_ak_name(void)
{
    run r;
    int at;
    run_init(&r, 0x06);
    run_seal(&r, 1, 1);
    json_t *good = json_deep_copy(r.key);
    json_t *bad = json_deep_copy(r.key);
    char *h = strdup(json_string_value(json_object_get(r.key, "ak_name")));
    h[10] = h[10] == '0' ? '1' : '0';
    json_object_set_new(bad, "ak_name", json_string(h));
    free(h);
    json_decref(r.key);
    r.key = bad;
    CHECK_EQ_INT(verify(&r, r.ev, NULL, &at), ATTEST_EVERIFY);
    CHECK_EQ_INT(at, -1);
    CHECK(strstr(err, "tpm record 0: ak_name does not match ak_public") != NULL);
    /* One Name pinned for both indexes. */
    r.key = json_deep_copy(good);
    json_decref(bad);
    json_object_set_new(r.key, "extend_name", json_object_get(good, "counter_name"));
    json_incref(json_object_get(good, "counter_name"));
    CHECK_EQ_INT(verify(&r, r.ev, NULL, &at), ATTEST_EVERIFY);
    CHECK(strstr(err, "extend_name and counter_name must be two") != NULL);
    json_decref(r.key);
    r.key = good;
    CHECK_EQ_INT(verify(&r, r.ev, NULL, &at), 0);
    run_free(&r);
}

/* A seal whose anchoring never reached the TPM is noted; one whose extend happened but
 * whose evidence is missing breaks the chain at the next anchored seal. */
static void test_missing_evidence(void)
{
    run r;
    attest_tpm_verifier *v = NULL;
    json_t *rep = json_object();
    char line[200];
    int at;

    run_init(&r, 0x07);
    run_seal(&r, 2, 1);
    run_seal(&r, 1, 0);
    run_seal(&r, 2, 1);
    CHECK_EQ_INT(verify(&r, r.ev, &v, &at), 0);
    CHECK_EQ_INT(attest_tpm_verifier_report(v, rep, line, sizeof line), 0);
    printf("# %s\n", line);
    json_t *t = json_object_get(rep, "tpm");
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "seals_anchored")), 4);
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "seals_unanchored")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "counter_gaps")), 0);
    CHECK(strncmp(line, "TPM-anchored: 4 of 5 seals", 26) == 0);
    CHECK(has_note(t, "seal 3: no TPM evidence"));
    attest_tpm_verifier_free(v);
    json_decref(rep);

    /* Seal 6's extend happened, its record lost the evidence: seal 7 cannot match. */
    run_seal(&r, 2, 1);
    json_t *ev[MAXSEALS];
    memcpy(ev, r.ev, sizeof ev);
    ev[5] = NULL;
    expect_failure(&r, ev, 6, "seal 7: extend index holds a digest no seal records");
    run_free(&r);
}

/* TPM state copied while running, two more seals, then the copy restored (a new boot):
 * the counter repeats. */
static void test_counter_rollback(void)
{
    run r;
    int at;
    attest_tpm_verifier *v = NULL;
    json_t *rep = json_object();
    char line[200];

    run_init(&r, 0x08);
    run_seal(&r, 2, 1);
    CHECK_EQ_INT(swtpm_state("save"), 0);
    run_seal(&r, 2, 1);
    CHECK_EQ_INT(swtpm_stop("stop"), 0);
    CHECK_EQ_INT(swtpm_state("restore"), 0);
    CHECK_EQ_INT(swtpm_start(), 0);
    run_seal(&r, 1, 1);
    CHECK_EQ_INT(r.raw[4].counter_value, r.raw[2].counter_value);
    expect_failure(&r, r.ev, 4, "seal 5: counter");
    CHECK(strstr(err, "does not exceed the previous seal's") != NULL);
    /* The first four verify; the reboot at seal 5 would be a new epoch. */
    r.n = 4;
    CHECK_EQ_INT(verify(&r, r.ev, &v, &at), 0);
    CHECK_EQ_INT(attest_tpm_verifier_report(v, rep, line, sizeof line), 0);
    CHECK(strstr(line, " 1 epoch, ") != NULL);
    attest_tpm_verifier_free(v);
    json_decref(rep);
    r.n = 5;
    run_free(&r);
}

/* Orderly reboot, state copied; seals; power loss and the copy restored: the TPM boots
 * with the same resetCount and an earlier clock. */
static void test_clock_backwards(void)
{
    run r;
    int at;
    attest_tpm_verifier *v = NULL;
    json_t *rep = json_object();
    char line[200];
    struct timespec pause = {0, 700 * 1000 * 1000};

    run_init(&r, 0x09);
    run_seal(&r, 2, 1);
    CHECK_EQ_INT(swtpm_stop("shutdown"), 0);
    CHECK_EQ_INT(swtpm_state("save"), 0);
    CHECK_EQ_INT(swtpm_start(), 0);
    nanosleep(&pause, NULL);
    run_seal(&r, 2, 1);
    CHECK_EQ_INT(swtpm_stop("stop"), 0);
    CHECK_EQ_INT(swtpm_state("restore"), 0);
    CHECK_EQ_INT(swtpm_start(), 0);
    run_seal(&r, 1, 1);
    expect_failure(&r, r.ev, 4, "TPM clock went backwards at seal 5");
    /* The first four verify, in two epochs. */
    r.n = 4;
    CHECK_EQ_INT(verify(&r, r.ev, &v, &at), 0);
    CHECK_EQ_INT(attest_tpm_verifier_report(v, rep, line, sizeof line), 0);
    printf("# %s\n", line);
    json_t *t = json_object_get(rep, "tpm");
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "epochs")), 2);
    CHECK(has_note(t, "seal 3: TPM rebooted before it (resetCount "));
    attest_tpm_verifier_free(v);
    json_decref(rep);
    r.n = 5;
    run_free(&r);
}

/* tpm2_checkquote (tpm2-tools) agrees on one certification. */
static void test_checkquote(void)
{
    run r;
    char dir[300], path[400], cmd[2048], hex[65];
    uint8_t digest[32], point[65] = {4};
    TPM2B_PUBLIC pub = {0};
    size_t off = 0;

    if (system("command -v tpm2_checkquote >/dev/null 2>&1")) {
        printf("# SKIP tpm2_checkquote not installed\n");
        return;
    }
    run_init(&r, 0x0a);
    run_seal(&r, 1, 1);
    snprintf(dir, sizeof dir, "%s/cq", top);
    CHECK(mkdir(dir, 0700) == 0);

    CHECK(Tss2_MU_TPM2B_PUBLIC_Unmarshal(r.ak.pub, r.ak.pub_len, &off, &pub) == 0);
    memcpy(point + 1, pub.publicArea.unique.ecc.x.buffer, 32);
    memcpy(point + 33, pub.publicArea.unique.ecc.y.buffer, 32);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *key = NULL;
    CHECK(EVP_PKEY_fromdata_init(c) == 1 &&
          EVP_PKEY_fromdata(c, &key, EVP_PKEY_PUBLIC_KEY, p) == 1);
    snprintf(path, sizeof path, "%s/ak.pem", dir);
    FILE *f = fopen(path, "w");
    CHECK(f && PEM_write_PUBKEY(f, key) == 1);
    if (f) fclose(f);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);

    const attest_tpm_cert *certs[2] = {&r.raw[0].extend, &r.raw[0].counter};
    crypto_hash_sha256(digest, (const uint8_t *)r.note[0], strlen(r.note[0]));
    sodium_bin2hex(hex, sizeof hex, digest, 32);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/attest%d.bin", dir, i);
        f = fopen(path, "wb");
        CHECK(f && fwrite(certs[i]->attest + 2, 1, certs[i]->attest_len - 2, f) ==
                       certs[i]->attest_len - 2);
        if (f) fclose(f);
        snprintf(path, sizeof path, "%s/sig%d.bin", dir, i);
        f = fopen(path, "wb");
        CHECK(f && fwrite(certs[i]->sig, 1, certs[i]->sig_len, f) == certs[i]->sig_len);
        if (f) fclose(f);
        snprintf(cmd, sizeof cmd,
                 "tpm2_checkquote -u '%s/ak.pem' -m '%s/attest%d.bin' -s '%s/sig%d.bin' -q %s "
                 "-g sha256 >'%s/out' 2>&1",
                 dir, dir, i, dir, i, hex, dir);
        int cq = system(cmd);
        CHECK_EQ_INT(cq, 0);
        if (cq) {
            snprintf(cmd, sizeof cmd, "sed 's/^/# /' '%s/out'", dir);
            if (system(cmd) != 0) printf("# no output\n");
        }
        /* And it refuses another nonce. */
        char keep = hex[0];
        hex[0] = keep == '0' ? '1' : '0';
        snprintf(cmd, sizeof cmd,
                 "tpm2_checkquote -u '%s/ak.pem' -m '%s/attest%d.bin' -s '%s/sig%d.bin' -q %s "
                 "-g sha256 >'%s/out' 2>&1",
                 dir, dir, i, dir, i, hex, dir);
        CHECK(system(cmd) != 0);
        hex[0] = keep;
    }
    run_free(&r);
}

int main(void)
{
    if (system("command -v swtpm >/dev/null 2>&1 && command -v swtpm_setup >/dev/null 2>&1")) {
        printf("ok - tpm_verify tests # SKIP swtpm not installed\n");
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(top, sizeof top, "%s/attest-tpmv-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(top)) {
        printf("not ok - mkdtemp %s\n", top);
        return 1;
    }
    if (swtpm_start() != 0) {
        printf("not ok - scripts/swtpm start %s/x\n", top);
        return 1;
    }
    RUN(test_honest);
    RUN(test_tampered_bytes);
    RUN(test_replay_and_changed_note);
    RUN(test_other_run);
    RUN(test_wrong_ak_name);
    RUN(test_nv_names_of_another_run);
    RUN(test_missing_evidence);
    RUN(test_checkquote);
    RUN(test_counter_rollback);
    RUN(test_clock_backwards);
    swtpm_stop("stop");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    if (system(cmd) != 0) printf("# could not remove %s\n", top);
    HARNESS_EXIT();
}
