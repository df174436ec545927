/*
 * Tests of format/record.c (the v1 schema, [LOG-6], [LOG-13]..[LOG-16])
 * and format/rules.c (the order rules, [LOG-20]..[LOG-28]).
 */
#include <stdint.h>

#include "attest/error.h"
#include "attest/merkle.h"
#include "format/record.h"
#include "tests/harness.h"

#define Z "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define STEP(n, batch)                                                                             \
    "{\"type\":\"step\",\"step\":" #n ",\"batch\":" batch ",\"batch_sha256\":\"" Z                 \
    "\",\"lr\":0.5,\"lr_bits\":\"3f000000\",\"loss\":1,\"loss_bits\":\"3f800000\"}"

static char err[512];

/* Parses one record as record `index`; returns the code, keeps the reason in err. */
static int parse(const char *json, uint64_t index)
{
    json_t *rec;
    err[0] = '\0';
    int rc = attest_record_parse(&rec, json, strlen(json), index, err, sizeof err);
    if (!rc) json_decref(rec);
    return rc;
}

static int rejects(const char *json, const char *why)
{
    int rc = parse(json, 3);
    if (rc != ATTEST_EFORMAT || !strstr(err, why)) {
        printf("# %s\n#   rc %d, err \"%s\", expected \"%s\"\n", json, rc, err, why);
        return 0;
    }
    return 1;
}

static void test_valid_records_of_every_type(void)
{
    const char *good[] = {
        "{\"type\":\"code\",\"commit\":\"4b825dc642cb6eb9a060e54bf8d69288fbee4904\",\"dirty\":true,"
        "\"diff_sha256\":\"" Z "\",\"remotes\":[],\"path\":\"/src\",\"branch\":\"\"}",
        "{\"type\":\"init\",\"seed\":9223372036854775807,\"initializer\":\"x\"}",
        "{\"type\":\"shard\",\"id\":0,\"name\":\"a.zst\",\"size\":1,\"sha256\":\"" Z
        "\",\"layout\":\"jsonl\",\"samples\":1,\"compression\":\"zstd\",\"content_size\":5,"
        "\"content_sha256\":\"" Z "\"}",
        STEP(1, "[[0,0,1]]"),
        "{\"type\":\"step\",\"step\":1,\"batch\":[],\"batch_sha256\":\"" Z "\",\"lr\":0.1,"
        "\"lr_bits\":\"3fb999999999999a\",\"loss\":null,\"loss_bits\":\"7ff0000000000000\","
        "\"user\":{\"tokens\":4096}}",
        "{\"type\":\"checkpoint\",\"step\":0,\"sha256\":\"" Z
        "\",\"size\":8,\"tensors\":[{\"name\":"
        "\"w\",\"dtype\":\"BF16\",\"shape\":[],\"sha256\":\"" Z "\"}]}",
        "{\"type\":\"end\",\"steps\":0,\"reason\":\"\"}",
        "{\"type\":\"note\",\"text\":\"resumed\",\"time\":\"2026-11-26T08:00:00Z\"}",
        "{ \"type\" : \"note\" , \"text\" : \"spaces are allowed\" }",
        "{\"type\":\"note\",\"text\":\"\\u00e9t\\u00e9 \xc3\xa9t\xc3\xa9\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc = parse(good[i], 1);
        if (rc) printf("# %s: %s\n", good[i], err);
        CHECK_EQ_INT(rc, 0);
    }
}

/* [LOG-6] */
static void test_json_shape(void)
{
    CHECK(rejects("", "empty"));
    CHECK(rejects("[1]", "must begin with '{'"));
    CHECK(rejects("{\"type\":\"note\",\"text\":\"a\"} x", "must begin with '{' and end with '}'"));
    CHECK(rejects(" {\"type\":\"note\",\"text\":\"a\"}", "must begin with '{'"));
    CHECK(rejects("{\"type\":\"note\",\"text\":\"a\"}x}", "invalid JSON"));
    CHECK(rejects("{\"type\":\"note\",\"text\":\"a\",\"text\":\"b\"}", "duplicate"));
    CHECK(rejects("{\"type\":\"note\",\"text\":\"a\\u0000b\"}", "invalid JSON"));
    CHECK(rejects("{\"type\":\"note\",\"text\":\"a\"}\n", "control byte 0x0a at offset 26"));
    CHECK(rejects("{\"type\":\"note\",\"text\":\"\xff\"}", "invalid JSON"));
    CHECK(rejects("{\"type\":\"note\",\"text\":\"a\x7f\"}", "control byte 0x7f"));
}

/* [LOG-13] [LOG-15] */
static void test_fields_and_types(void)
{
    CHECK(rejects("{\"text\":\"a\"}", "record 3: missing field \"type\""));
    CHECK(rejects("{\"type\":7}", "field \"type\": expected a string, got an integer"));
    CHECK(rejects("{\"type\":\"weights\"}", "record 3: unknown type \"weights\""));
    CHECK(rejects("{\"type\":\"note\"}", "record 3 (note): missing field \"text\""));
    CHECK(rejects("{\"type\":\"note\",\"text\":\"\"}", "expected a non-empty string"));
    CHECK(rejects("{\"type\":\"note\",\"text\":\"a\",\"extra\":1}", "unknown field \"extra\""));
    CHECK(rejects("{\"type\":\"init\",\"seed\":-1,\"initializer\":\"x\"}",
                  "expected an integer >= 0"));
    CHECK(rejects("{\"type\":\"init\",\"seed\":1.0,\"initializer\":\"x\"}", "got a real number"));
    CHECK(rejects("{\"type\":\"init\",\"seed\":99999999999999999999,\"initializer\":\"x\"}",
                  "invalid JSON"));
    CHECK(rejects("{\"type\":\"code\",\"commit\":\"4B825DC642CB6EB9A060E54BF8D69288FBEE4904\","
                  "\"dirty\":false}",
                  "40 or 64 lowercase hex"));
    CHECK(rejects("{\"type\":\"code\",\"commit\":\"4b825d\",\"dirty\":false}", "git object id"));
    CHECK(rejects("{\"type\":\"code\",\"commit\":\"4b825dc642cb6eb9a060e54bf8d69288fbee4904\","
                  "\"dirty\":\"no\"}",
                  "expected true or false"));
    CHECK(rejects("{\"type\":\"code\",\"commit\":\"4b825dc642cb6eb9a060e54bf8d69288fbee4904\","
                  "\"dirty\":true}",
                  "a dirty \"code\" record needs \"diff_sha256\""));
    CHECK(rejects("{\"type\":\"code\",\"commit\":\"4b825dc642cb6eb9a060e54bf8d69288fbee4904\","
                  "\"dirty\":false,\"remotes\":[{\"name\":\"o\"}]}",
                  "field \"remotes\"[0]"));
    CHECK(rejects("{\"type\":\"shard\",\"id\":0,\"name\":\"a\",\"size\":1,\"sha256\":\"" Z
                  "\",\"layout\":\"parquet\",\"samples\":1}",
                  "unknown layout \"parquet\""));
    CHECK(rejects("{\"type\":\"shard\",\"id\":0,\"name\":\"a\",\"size\":1,\"sha256\":\"" Z
                  "\",\"layout\":\"bytes\",\"samples\":1,\"compression\":\"zstd\"}",
                  "go with \"compression\""));
    CHECK(rejects("{\"type\":\"shard\",\"id\":0,\"name\":\"a\",\"size\":1,\"sha256\":\"" Z
                  "\",\"layout\":\"bytes\",\"samples\":1,\"compression\":\"gzip\","
                  "\"content_size\":1,\"content_sha256\":\"" Z "\"}",
                  "unknown \"gzip\""));
    CHECK(rejects(STEP(1, "[[0,0,0]]"), "count >= 1"));
    CHECK(rejects(STEP(1, "[[0,0]]"), "field \"batch\"[0]"));
    CHECK(rejects(STEP(1, "[[0,-1,1]]"), "field \"batch\"[0]"));
    CHECK(rejects("{\"type\":\"checkpoint\",\"step\":0,\"sha256\":\"" Z "\",\"size\":8,\"tensors\":"
                  "[{\"name\":\"w\",\"dtype\":\"F32\",\"shape\":[2,-1],\"sha256\":\"" Z "\"}]}",
                  "field \"tensors\"[0]"));
    CHECK(rejects("{\"type\":\"checkpoint\",\"step\":0,\"sha256\":\"" Z "\",\"size\":8,\"tensors\":"
                  "[{\"name\":\"w\",\"dtype\":\"F32\",\"shape\":[2],\"sha256\":\"" Z
                  "\",\"x\":1}]}",
                  "field \"tensors\"[0]"));
}

/* [LOG-14] */
static void test_float_bits(void)
{
    double v;
    CHECK_EQ_INT(attest_record_bits("3f800000", &v), 0);
    CHECK(v == 1.0);
    CHECK_EQ_INT(attest_record_bits("3fb999999999999a", &v), 0);
    CHECK(v == 0.1);
    CHECK_EQ_INT(attest_record_bits("3F800000", &v), ATTEST_EFORMAT);
    CHECK_EQ_INT(attest_record_bits("3f8000", &v), ATTEST_EFORMAT);
    // binary32 bits: the number must round to the same float (0.1f prints as 0.100000001).
    CHECK_EQ_INT(parse("{\"type\":\"step\",\"step\":1,\"batch\":[],\"batch_sha256\":\"" Z
                       "\",\"lr\":0.1,\"lr_bits\":\"3dcccccd\",\"loss\":0.100000001,\"loss_bits\":"
                       "\"3dcccccd\"}",
                       1),
                 0);
    // binary64 bits: exact.
    CHECK(rejects("{\"type\":\"step\",\"step\":1,\"batch\":[],\"batch_sha256\":\"" Z
                  "\",\"lr\":0.100000001,\"lr_bits\":\"3fb999999999999a\",\"loss\":1,\"loss_bits\":"
                  "\"3f800000\"}",
                  "does not equal \"lr_bits\""));
    CHECK(rejects("{\"type\":\"step\",\"step\":1,\"batch\":[],\"batch_sha256\":\"" Z
                  "\",\"lr\":0.5,\"lr_bits\":\"3f000000\",\"loss\":1,\"loss_bits\":\"7fc00000\"}",
                  "field \"loss\" must be null: \"loss_bits\" is NaN"));
    CHECK(
        rejects("{\"type\":\"step\",\"step\":1,\"batch\":[],\"batch_sha256\":\"" Z
                "\",\"lr\":0.5,\"lr_bits\":\"3f000000\",\"loss\":null,\"loss_bits\":\"3f800000\"}",
                "is null but \"loss_bits\" is finite"));
    CHECK(rejects("{\"type\":\"step\",\"step\":1,\"batch\":[],\"batch_sha256\":\"" Z
                  "\",\"lr\":0.5,\"lr_bits\":\"3f000000\",\"loss\":1,\"loss_bits\":\"3f800000\","
                  "\"grad_norm\":1}",
                  "field \"grad_norm\" needs \"grad_norm_bits\" beside it"));
}

/* [LOG-16] */
static void test_time_format(void)
{
    const char *good[] = {"2026-11-26T08:00:00Z", "2026-11-26T23:59:60.123456789Z",
                          "2026-01-01T00:00:00.5Z"};
    const char *bad[] = {
        "2026-11-26 08:00:00Z",  "2026-11-26T08:00:00+01:00",       "2026-13-01T00:00:00Z",
        "2026-11-26T08:00:00.Z", "2026-11-26T08:00:00.1234567890Z", "26-11-26T08:00:00Z",
        "2026-11-26T24:00:00Z"};
    char rec[160];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(rec, sizeof rec, "{\"type\":\"note\",\"text\":\"a\",\"time\":\"%s\"}", good[i]);
        CHECK_EQ_INT(parse(rec, 1), 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(rec, sizeof rec, "{\"type\":\"note\",\"text\":\"a\",\"time\":\"%s\"}", bad[i]);
        CHECK(rejects(rec, "RFC 3339"));
    }
}

/* Feeds records to the rules in order; returns the code of the last one. */
static int feed(attest_rules *st, const char *const *recs, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *rec;
        err[0] = '\0';
        rc = attest_record_parse(&rec, recs[i], strlen(recs[i]), i, err, sizeof err);
        if (rc) return rc;
        rc = attest_rules_check(st, i, rec, err, sizeof err);
        if (!rc) attest_rules_apply(st, i, rec);
        json_decref(rec);
    }
    return rc;
}

static char run_rec[600];

/* A sequence run + rest must fail at its last record with `why`. */
static int order_fails(const char *const *rest, size_t n, int want, const char *why)
{
    const char *recs[16] = {run_rec};
    for (size_t i = 0; i < n; i++)
        recs[i + 1] = rest[i];
    attest_rules *st;
    attest_rules_new(&st);
    int rc = feed(st, recs, n + 1);
    attest_rules_free(st);
    if (rc != want || !strstr(err, why)) {
        printf("#   rc %d, err \"%s\", expected %d and \"%s\"\n", rc, err, want, why);
        return 0;
    }
    return 1;
}

#define FAILS(want, why, ...)                                                                      \
    do {                                                                                           \
        const char *rest_[] = {__VA_ARGS__};                                                       \
        CHECK(order_fails(rest_, sizeof rest_ / sizeof rest_[0], want, why));                      \
    } while (0)

#define INIT "{\"type\":\"init\",\"seed\":1,\"initializer\":\"x\"}"
#define SHARD0                                                                                     \
    "{\"type\":\"shard\",\"id\":0,\"name\":\"a\",\"size\":8,\"sha256\":\"" Z                       \
    "\",\"layout\":\"tokens-u16le\",\"samples\":4}"

static void test_order_rules(void)
{
    attest_rules *st;
    const char *init_first[] = {INIT};
    attest_rules_new(&st);
    CHECK_EQ_INT(feed(st, init_first, 1), ATTEST_EFORMAT);
    CHECK(strstr(err, "record 0: the first record must be \"run\", not \"init\"") != NULL);
    attest_rules_free(st);
    FAILS(ATTEST_EFORMAT, "record 1: a second \"run\" record", run_rec);
    FAILS(ATTEST_EFORMAT, "no \"init\" record before the first step", SHARD0, STEP(1, "[[0,0,1]]"));
    FAILS(ATTEST_EFORMAT, "a second \"init\"", INIT, INIT);
    FAILS(ATTEST_EFORMAT, "shard id 0 is already recorded", SHARD0, SHARD0);
    FAILS(ATTEST_EFORMAT, "batch[1] uses shard 1, not recorded before", INIT, SHARD0,
          STEP(1, "[[0,0,1],[1,0,1]]"));
    FAILS(ATTEST_EFORMAT, "samples 3..4 are past the end of shard 0 (4 samples)", INIT, SHARD0,
          STEP(1, "[[0,3,2]]"));
    FAILS(ATTEST_EFORMAT, "step numbers must increase (previous step 5)", INIT, SHARD0,
          STEP(5, "[[0,0,1]]"), STEP(5, "[[0,1,1]]"));
    FAILS(ATTEST_EFORMAT, "step 3 is after the last recorded step 1", INIT, SHARD0,
          STEP(1, "[[0,0,1]]"),
          "{\"type\":\"checkpoint\",\"step\":3,\"sha256\":\"" Z "\",\"size\":0,\"tensors\":[]}");
    FAILS(ATTEST_EFORMAT, "\"steps\" is 2 but 1 steps were recorded", INIT, SHARD0,
          STEP(1, "[[0,0,1]]"), "{\"type\":\"end\",\"steps\":2}");
    FAILS(ATTEST_EFORMAT, "only seals may follow \"end\"", "{\"type\":\"end\",\"steps\":0}",
          "{\"type\":\"note\",\"text\":\"late\"}");
    FAILS(ATTEST_EFORMAT, "field \"size\" is 1, must be its index 2", INIT,
          "{\"type\":\"seal\",\"size\":1,\"checkpoint\":\"x\"}");
}

/* [LOG-21] [LOG-28] Seal signatures and origins. */
static void test_seal_rules(attest_signer *s, attest_signer *other)
{
    uint8_t root[32] = {1};
    char *text, *note;
    json_t *j;
    // A seal signed by the run key over the right size is accepted.
    attest_checkpoint_format(attest_signer_name(s), 1, root, &text);
    attest_signer_sign(s, text, strlen(text), &note);
    j = json_pack("{s:s,s:i,s:s}", "type", "seal", "size", 1, "checkpoint", note);
    char *good = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(note);
    const char *seq[] = {run_rec, good};
    attest_rules *st;
    attest_rules_new(&st);
    CHECK_EQ_INT(feed(st, seq, 2), 0);
    CHECK(memcmp(attest_rules_last_checked_seal(st)->root, root, 32) == 0);
    attest_rules_free(st);

    // Another key with the same name: the signature does not verify.
    attest_signer_sign(other, text, strlen(text), &note);
    j = json_pack("{s:s,s:i,s:s}", "type", "seal", "size", 1, "checkpoint", note);
    char *forged = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(note);
    CHECK(order_fails((const char *[]){forged}, 1, ATTEST_EVERIFY,
                      "record 1 (seal): checkpoint signature"));
    free(text);

    // The checkpoint's size must be the seal's index too.
    attest_checkpoint_format(attest_signer_name(s), 2, root, &text);
    attest_signer_sign(s, text, strlen(text), &note);
    j = json_pack("{s:s,s:i,s:s}", "type", "seal", "size", 1, "checkpoint", note);
    char *wrong = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    CHECK(order_fails((const char *[]){wrong}, 1, ATTEST_EFORMAT, "checkpoint size 2, must be 1"));
    free(text);
    free(note);
    free(good);
    free(forged);
    free(wrong);
}

static void test_run_origin_is_key_name(attest_signer *s)
{
    char *vkey, rec[600];
    attest_signer_vkey(s, &vkey);
    snprintf(rec, sizeof rec,
             "{\"type\":\"run\",\"run_id\":\"00112233445566778899aabbccddeeff\",\"version\":\"0\","
             "\"origin\":\"example.com/elsewhere\",\"public_key\":\"%s\",\"config\":{}}",
             vkey);
    free(vkey);
    attest_rules *st;
    attest_rules_new(&st);
    const char *seq[] = {rec};
    CHECK_EQ_INT(feed(st, seq, 1), ATTEST_EFORMAT);
    CHECK(strstr(err, "origin \"example.com/elsewhere\" is not the key name") != NULL);
    attest_rules_free(st);
    const char *bad_key = "{\"type\":\"run\",\"run_id\":\"00112233445566778899aabbccddeeff\","
                          "\"version\":\"0\",\"origin\":\"a\",\"public_key\":\"a+00000000+AAAA\","
                          "\"config\":{}}";
    attest_rules_new(&st);
    CHECK_EQ_INT(feed(st, &bad_key, 1), ATTEST_EFORMAT);
    CHECK(strstr(err, "field \"public_key\"") != NULL);
    attest_rules_free(st);
}

int main(void)
{
    attest_signer *s, *other;
    char *vkey;
    if (attest_signer_generate(&s, "example.com/rules") != 0 ||
        attest_signer_generate(&other, "example.com/rules") != 0)
        return 2;
    attest_signer_vkey(s, &vkey);
    snprintf(run_rec, sizeof run_rec,
             "{\"type\":\"run\",\"run_id\":\"00112233445566778899aabbccddeeff\",\"version\":\"0\","
             "\"origin\":\"example.com/rules\",\"public_key\":\"%s\",\"config\":{}}",
             vkey);
    free(vkey);
    RUN(test_valid_records_of_every_type);
    RUN(test_json_shape);
    RUN(test_fields_and_types);
    RUN(test_float_bits);
    RUN(test_time_format);
    RUN(test_order_rules);
    harness_failed_now = 0;
    test_seal_rules(s, other);
    printf("%s - test_seal_rules\n", harness_failed_now ? "not ok" : "ok");
    harness_failures += harness_failed_now;
    harness_failed_now = 0;
    test_run_origin_is_key_name(s);
    printf("%s - test_run_origin_is_key_name\n", harness_failed_now ? "not ok" : "ok");
    harness_failures += harness_failed_now;
    attest_signer_free(s);
    attest_signer_free(other);
    HARNESS_EXIT();
}
