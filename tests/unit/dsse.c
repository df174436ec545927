/*
 * dsse.c - tests of format/dsse.c (DSSE envelopes) and verify/export.c.
 *
 * Pins the PAE to the example of the DSSE specification (protocol.md),
 * checks envelopes against libsodium's Ed25519 over our PAE, tampering
 * with payload, payloadType and signature, the base64 forms verifiers must
 * accept, malformed envelopes, and the export of format/vectors/example.log
 * (refused with a key that is not the run's, or a damaged log).
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "attest/error.h"
#include "attest/export.h"
#include "attest/note.h"
#include "format/dsse.h"
#include "tests/harness.h"

#define LOG_NAME "example.com/ml-training-log"
/* RFC 8032 section 7.1 TEST 1: the key of format/vectors/example.log */
static const uint8_t seed1[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
                                  0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
                                  0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};

static attest_signer *signer(const char *name, uint8_t fill)
{
    uint8_t seed[32];
    attest_signer *s = NULL;
    memset(seed, fill, sizeof seed);
    CHECK_EQ_INT(attest_signer_from_seed(&s, name, fill ? seed : seed1), 0);
    return s;
}

static attest_verifier *verifier_of(const attest_signer *s)
{
    char *vkey = NULL;
    attest_verifier *v = NULL;
    CHECK_EQ_INT(attest_signer_vkey(s, &vkey), 0);
    CHECK_EQ_INT(attest_verifier_parse(&v, vkey, NULL, 0), 0);
    free(vkey);
    return v;
}

/* [EXP-5] DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world"). */
static void test_pae_vector(void)
{
    static const char want[] = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";
    uint8_t *pae = NULL;
    size_t n = 0;
    CHECK_EQ_INT(attest_dsse_pae(&pae, &n, "http://example.com/HelloWorld",
                                 (const uint8_t *)"hello world", 11),
                 0);
    CHECK_EQ_INT(n, strlen(want));
    CHECK(pae && memcmp(pae, want, strlen(want)) == 0);
    free(pae);

    // Empty type and body: lengths are "0", each field still framed by single spaces.
    CHECK_EQ_INT(attest_dsse_pae(&pae, &n, "", NULL, 0), 0);
    CHECK_EQ_INT(n, strlen("DSSEv1 0  0 "));
    CHECK(pae && memcmp(pae, "DSSEv1 0  0 ", n) == 0);
    free(pae);

    // The body is bytes: a NUL inside is counted, not a terminator.
    CHECK_EQ_INT(attest_dsse_pae(&pae, &n, "t", (const uint8_t *)"a\0b", 3), 0);
    CHECK_EQ_INT(n, strlen("DSSEv1 1 t 3 ") + 3);
    CHECK(pae && memcmp(pae, "DSSEv1 1 t 3 a\0b", n) == 0);
    free(pae);
    CHECK_EQ_INT(attest_dsse_pae(&pae, &n, NULL, NULL, 0), ATTEST_EINVAL);
}

/* [EXP-6] The keyid is SHA-256 of the raw public key, in lowercase hex. */
static void test_keyid(void)
{
    attest_signer *s = signer(LOG_NAME, 0);
    char hex[ATTEST_DSSE_KEYID_LEN + 1], want[ATTEST_DSSE_KEYID_LEN + 1];
    uint8_t h[32];
    crypto_hash_sha256(h, attest_signer_public_key(s), 32);
    sodium_bin2hex(want, sizeof want, h, sizeof h);
    CHECK_EQ_INT(attest_dsse_keyid(hex, attest_signer_public_key(s)), 0);
    CHECK_STR(hex, want);
    attest_signer_free(s);
}

/* Sign, decode, verify; the signature is libsodium's Ed25519 over the PAE we computed. */
static void test_round_trip(void)
{
    static const char type[] = "application/vnd.in-toto+json", body[] = "{\"_type\":\"x\"}";
    attest_signer *s = signer(LOG_NAME, 0);
    attest_verifier *v = verifier_of(s);
    attest_dsse_envelope env;
    char *json = NULL, err[256] = "";
    uint8_t *pae = NULL;
    size_t pae_len = 0;

    CHECK_EQ_INT(attest_dsse_sign(&json, s, type, (const uint8_t *)body, strlen(body)), 0);
    CHECK(json && !strchr(json, '\n'));
    CHECK_EQ_INT(attest_dsse_decode(&env, json, strlen(json), err, sizeof err), 0);
    CHECK_STR(env.payload_type, type);
    CHECK_EQ_INT(env.payload_len, strlen(body));
    CHECK(env.payload && memcmp(env.payload, body, strlen(body)) == 0);
    CHECK_EQ_INT(env.n_sigs, 1);
    CHECK_EQ_INT(env.n_sigs ? env.sigs[0].sig_len : 0, 64);
    CHECK_EQ_INT(attest_dsse_pae(&pae, &pae_len, type, (const uint8_t *)body, strlen(body)), 0);
    CHECK(env.n_sigs && crypto_sign_verify_detached(env.sigs[0].sig, pae, pae_len,
                                                    attest_verifier_public_key(v)) == 0);
    CHECK_EQ_INT(attest_dsse_verify(&env, v, err, sizeof err), 0);

    // The whole envelope is what the specification names: no other members.
    json_t *j = json_loads(json, 0, NULL);
    CHECK(j && json_object_size(j) == 3);
    CHECK(json_object_size(json_array_get(json_object_get(j, "signatures"), 0)) == 2);
    json_decref(j);

    attest_dsse_envelope_clear(&env);
    attest_dsse_envelope_clear(NULL);
    free(pae);
    free(json);
    attest_verifier_free(v);
    attest_signer_free(s);
}

/* Re-encodes env with `change` applied to a JSON copy; returns the verify result. */
static int verify_changed(const char *json, const attest_verifier *v, const char *member,
                          const char *value)
{
    json_t *j = json_loads(json, 0, NULL);
    attest_dsse_envelope env;
    char *out, err[256] = "";
    int rc;
    if (strcmp(member, "sig") == 0)
        json_object_set_new(json_array_get(json_object_get(j, "signatures"), 0), "sig",
                            json_string(value));
    else
        json_object_set_new(j, member, json_string(value));
    out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    rc = attest_dsse_decode(&env, out, strlen(out), err, sizeof err);
    if (rc == 0) rc = attest_dsse_verify(&env, v, err, sizeof err);
    if (rc == ATTEST_EVERIFY) CHECK(strstr(err, "no signature") != NULL);
    attest_dsse_envelope_clear(&env);
    free(out);
    return rc;
}

static void test_tamper(void)
{
    static const char body[] = "hello world";
    attest_signer *s = signer(LOG_NAME, 0), *other = signer(LOG_NAME, 7);
    attest_verifier *v = verifier_of(s), *vo = verifier_of(other);
    char *json = NULL, b64[128];
    attest_dsse_envelope env;

    CHECK_EQ_INT(attest_dsse_sign(&json, s, "http://example.com/HelloWorld", (const uint8_t *)body,
                                  strlen(body)),
                 0);
    // Unchanged, re-encoded: still verifies.
    sodium_bin2base64(b64, sizeof b64, (const uint8_t *)body, strlen(body),
                      sodium_base64_VARIANT_ORIGINAL);
    CHECK_EQ_INT(verify_changed(json, v, "payload", b64), 0);
    // One payload byte changed ("hello worle").
    sodium_bin2base64(b64, sizeof b64, (const uint8_t *)"hello worle", 11,
                      sodium_base64_VARIANT_ORIGINAL);
    CHECK_EQ_INT(verify_changed(json, v, "payload", b64), ATTEST_EVERIFY);
    // The payload type changed: the PAE binds it.
    CHECK_EQ_INT(verify_changed(json, v, "payloadType", "http://example.com/HelloWorlD"),
                 ATTEST_EVERIFY);
    // A signature of the wrong length, and a zeroed one.
    CHECK_EQ_INT(verify_changed(json, v, "sig", "AAAA"), ATTEST_EVERIFY);
    uint8_t zero[64] = {0};
    sodium_bin2base64(b64, sizeof b64, zero, sizeof zero, sodium_base64_VARIANT_ORIGINAL);
    CHECK_EQ_INT(verify_changed(json, v, "sig", b64), ATTEST_EVERIFY);
    // Another key (same name) does not verify it.
    CHECK_EQ_INT(attest_dsse_decode(&env, json, strlen(json), NULL, 0), 0);
    CHECK_EQ_INT(attest_dsse_verify(&env, vo, NULL, 0), ATTEST_EVERIFY);
    attest_dsse_envelope_clear(&env);

    free(json);
    attest_verifier_free(v);
    attest_verifier_free(vo);
    attest_signer_free(s);
    attest_signer_free(other);
}

/* [EXP-7] Verifiers MUST accept standard and URL-safe base64 (DSSE envelope.md), padded or not. */
static void test_base64_forms(void)
{
    // 0xfb 0xff: "+/8=" in standard base64, "-_8=" URL-safe.
    static const uint8_t body[] = {0xfb, 0xff};
    attest_signer *s = signer(LOG_NAME, 0);
    attest_verifier *v = verifier_of(s);
    char *json = NULL;
    static const int forms[] = {sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                sodium_base64_VARIANT_URLSAFE,
                                sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    CHECK_EQ_INT(attest_dsse_sign(&json, s, "t", body, sizeof body), 0);
    CHECK(strstr(json, "\"payload\":\"+/8=\"") != NULL);
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char b64[16];
        sodium_bin2base64(b64, sizeof b64, body, sizeof body, forms[i]);
        CHECK_EQ_INT(verify_changed(json, v, "payload", b64), 0);
    }
    CHECK_EQ_INT(verify_changed(json, v, "payload", "+/8"), 0);
    CHECK_EQ_INT(verify_changed(json, v, "payload", "+/8=="), ATTEST_EFORMAT);
    CHECK_EQ_INT(verify_changed(json, v, "payload", "+/8=x"), ATTEST_EFORMAT);
    free(json);
    attest_verifier_free(v);
    attest_signer_free(s);
}

static void test_decode_rejects(void)
{
    static const char *bad[] = {
        "",
        "[]",
        "{\"payload\":\"\",\"signatures\":[{\"sig\":\"\"}]}",
        "{\"payloadType\":1,\"payload\":\"\",\"signatures\":[{\"sig\":\"\"}]}",
        "{\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"\"}]}",
        "{\"payloadType\":\"t\",\"payload\":\"!!\",\"signatures\":[{\"sig\":\"\"}]}",
        "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[]}",
        "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":{}}",
        "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{}]}",
        "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"keyid\":1,\"sig\":\"\"}]}",
        "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[\"x\"]}",
        "{\"payloadType\":\"t\",\"payloadType\":\"u\",\"payload\":\"\",\"signatures\":[{\"sig\":"
        "\"\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        attest_dsse_envelope env;
        char err[256] = "";
        int rc = attest_dsse_decode(&env, bad[i], strlen(bad[i]), err, sizeof err);
        if (rc != ATTEST_EFORMAT) printf("# envelope %zu: rc %d\n", i, rc);
        CHECK_EQ_INT(rc, ATTEST_EFORMAT);
        CHECK(err[0] != '\0');
        CHECK(env.payload_type == NULL && env.sigs == NULL && env.n_sigs == 0);
    }
    // Unknown members are ignored; keyid is optional.
    static const char ok[] = "{\"payloadType\":\"t\",\"payload\":\"\",\"x\":1,"
                             "\"signatures\":[{\"sig\":\"\",\"y\":2}]}";
    attest_dsse_envelope env;
    CHECK_EQ_INT(attest_dsse_decode(&env, ok, strlen(ok), NULL, 0), 0);
    CHECK_STR(env.n_sigs ? env.sigs[0].keyid : NULL, "");
    attest_dsse_envelope_clear(&env);
}

/* A copy of format/vectors/example.log in a fresh directory; NULL on failure. */
static char *example_copy(char *dir, size_t dirsz, int damage)
{
    size_t len = 0;
    char *bytes = harness_slurp("format/vectors/example.log", &len);
    static char path[512];
    snprintf(dir, dirsz, "/tmp/attest-dsse-XXXXXX");
    if (!bytes || !mkdtemp(dir)) {
        free(bytes);
        return NULL;
    }
    // A byte inside record 1 (the code record), which the seals sign.
    if (damage && len > 400) bytes[400] ^= 0x01;
    snprintf(path, sizeof path, "%s/example.log", dir);
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(bytes, 1, len, f) != len;
    if (f) bad |= fclose(f) != 0;
    free(bytes);
    return bad ? NULL : path;
}

static void remove_copy(const char *dir)
{
    static const char *files[] = {"example.log", "example.log.idx", "example.log.tree"};
    char p[600];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* [EXP-1] [EXP-2] [EXP-8]: the example log exports; the envelope opens with the run key and
 * names its checkpoint; other signers and damaged logs are refused. */
static void test_export_example(void)
{
    char dir[64], err[1200] = "", *env = NULL, *st = NULL;
    const char *path = example_copy(dir, sizeof dir, 0);
    attest_signer *s = signer(LOG_NAME, 0), *other = signer(LOG_NAME, 7);
    attest_verifier *v = verifier_of(s);
    CHECK(path != NULL);
    if (!path) goto done;
    int rc = attest_export_intoto(&env, path, s, v, NULL, err, sizeof err);
    if (rc) printf("# %s\n", err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(attest_export_open(env, env ? strlen(env) : 0, v, &st, err, sizeof err), 0);
    json_t *j = st ? json_loads(st, 0, NULL) : NULL;
    CHECK_STR(json_string_value(json_object_get(j, "_type")), ATTEST_EXPORT_STATEMENT_TYPE);
    CHECK_STR(json_string_value(json_object_get(j, "predicateType")), ATTEST_EXPORT_PREDICATE_TYPE);
    const json_t *pred = json_object_get(j, "predicate");
    CHECK_EQ_INT(json_array_size(json_object_get(j, "subject")), 1);
    // The sealed tree of the example is 10 records (the last seal is record 10).
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(pred, "log"), "tree_size")),
                 10);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(pred, "seals"), "count")), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(pred, "steps"), "count")), 2);
    CHECK_EQ_INT(json_array_size(json_object_get(pred, "data")), 1);
    // The values of the worked example in format/EXPORT.md section 4 ([EXP-6], [EXP-8], [EXP-10]).
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(json_object_get(pred, "log"), "root"), "sha256")),
              "0335e5446076414659d843e75ba31dfc4441e55ae411ffb949f2ee42dcc772c6");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(j, "subject"), 0), "name")),
              "step-2.safetensors");
    CHECK(env && strstr(env, "\"keyid\":\"21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef"
                             "47f9721b9\"") != NULL);
    json_decref(j);
    free(st);
    st = NULL;

    // The envelope does not open with another key, nor as another payload type.
    attest_verifier *vo = verifier_of(other);
    CHECK_EQ_INT(attest_export_open(env, strlen(env), vo, NULL, NULL, 0), ATTEST_EVERIFY);
    attest_verifier_free(vo);
    char *other_type = NULL;
    CHECK_EQ_INT(attest_dsse_sign(&other_type, s, "text/plain", (const uint8_t *)"{}", 2), 0);
    CHECK_EQ_INT(attest_export_open(other_type, strlen(other_type), v, &st, NULL, 0),
                 ATTEST_EFORMAT);
    CHECK(st == NULL);
    free(other_type);
    free(env);
    env = NULL;

    // A signer that is not the run key is refused, with or without a verifier key.
    CHECK_EQ_INT(attest_export_intoto(&env, path, other, v, NULL, err, sizeof err), ATTEST_EVERIFY);
    CHECK(env == NULL);
    CHECK_EQ_INT(attest_export_intoto(&env, path, other, NULL, NULL, err, sizeof err),
                 ATTEST_EVERIFY);
    CHECK(strstr(err, "does not verify") != NULL);
    CHECK_EQ_INT(attest_export_intoto(&env, "/nonexistent/x.log", s, v, NULL, err, sizeof err),
                 ATTEST_ENOTFOUND);
    CHECK_EQ_INT(attest_export_intoto(NULL, path, s, v, NULL, NULL, 0), ATTEST_EINVAL);
    remove_copy(dir);

    // A damaged log is not exported.
    path = example_copy(dir, sizeof dir, 1);
    CHECK(path != NULL);
    if (path) {
        CHECK_EQ_INT(attest_export_intoto(&env, path, s, v, NULL, err, sizeof err), ATTEST_EVERIFY);
        CHECK(strstr(err, "does not verify") != NULL);
        CHECK(env == NULL);
    }
done:
    if (path) remove_copy(dir);
    free(env);
    attest_verifier_free(v);
    attest_signer_free(s);
    attest_signer_free(other);
}

int main(void)
{
    if (sodium_init() < 0) {
        printf("not ok - sodium_init\n");
        return 1;
    }
    RUN(test_pae_vector);
    RUN(test_keyid);
    RUN(test_round_trip);
    RUN(test_tamper);
    RUN(test_base64_forms);
    RUN(test_decode_rejects);
    RUN(test_export_example);
    HARNESS_EXIT();
}
