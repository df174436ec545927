/*
 * Tests of format/safetensors.c against format/SAFETENSORS.md ([ST-1]..[ST-16]):
 * the byte-exact vectors of the safetensors project (safetensors/src/tensor.rs),
 * a hand-built file for each reader rule, writer round trips, and files read
 * and written by Python's standard library, an implementation we did not write.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attest/error.h"
#include "attest/safetensors.h"
#include "tests/harness.h"

#define PY "/usr/bin/python3"

static char err[512];
static char dir[] = "/tmp/attest-st-XXXXXX";

static const char *tmp(const char *name)
{
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

/* A file: the 8-byte little-endian length of hdr, hdr, then datalen bytes 0, 1, 2, ... */
static uint8_t *mk(const char *hdr, size_t hlen, size_t datalen, size_t *len)
{
    uint8_t *b = malloc(8 + hlen + datalen + 1);
    if (!b) abort();
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    for (size_t i = 0; i < datalen; i++)
        b[8 + hlen + i] = (uint8_t)i;
    *len = 8 + hlen + datalen;
    return b;
}

/* Parses a whole file held in memory. */
static int parse(const uint8_t *b, size_t len, attest_safetensors **st)
{
    err[0] = '\0';
    return attest_safetensors_parse(st, b, len, len, NULL, err, sizeof err);
}

static int rejects_raw(const uint8_t *b, size_t len, const char *why)
{
    attest_safetensors *st = NULL;
    int rc = parse(b, len, &st);
    if (rc != ATTEST_EFORMAT || !strstr(err, why) || st) {
        printf("# %.*s\n#   rc %d, err \"%s\", expected \"%s\"\n", (int)len, (const char *)b, rc,
               err, why);
        attest_safetensors_free(st);
        return 0;
    }
    return 1;
}

static int rejects(const char *hdr, size_t datalen, const char *why)
{
    size_t len;
    uint8_t *b = mk(hdr, strlen(hdr), datalen, &len);
    int ok = rejects_raw(b, len, why);
    free(b);
    return ok;
}

/* The parsed file, or NULL (and a note) if it is rejected. */
static attest_safetensors *accepts(const char *hdr, size_t datalen)
{
    attest_safetensors *st = NULL;
    size_t len;
    uint8_t *b = mk(hdr, strlen(hdr), datalen, &len);
    if (parse(b, len, &st) != 0) printf("# %s\n#   rejected: %s\n", hdr, err);
    free(b);
    return st;
}

/* "name dtype [shape] begin end" of tensor i, or "" */
static const char *desc(const attest_safetensors *st, size_t i)
{
    static char buf[512];
    const attest_tensor_info *t = attest_safetensors_tensor(st, i);
    size_t o;
    if (!t) return "";
    o = (size_t)snprintf(buf, sizeof buf, "%s %s [", t->name, t->dtype);
    for (size_t j = 0; j < t->rank; j++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%llu", j ? "," : "",
                              (unsigned long long)t->shape[j]);
    snprintf(buf + o, sizeof buf - o, "] %llu %llu", (unsigned long long)t->begin,
             (unsigned long long)t->end);
    return buf;
}

/* safetensors tensor.rs test_serialization: "attn.0" F32 [1, 2, 3], no padding (N = 64). */
static const uint8_t serialization[] = {
    64,  0,   0,   0,   0,   0,  0,  0,  123, 34, 97,  116, 116, 110, 46,  48,  34,  58,  123, 34,
    100, 116, 121, 112, 101, 34, 58, 34, 70,  51, 50,  34,  44,  34,  115, 104, 97,  112, 101, 34,
    58,  91,  49,  44,  50,  44, 51, 93, 44,  34, 100, 97,  116, 97,  95,  111, 102, 102, 115, 101,
    116, 115, 34,  58,  91,  48, 44, 50, 52,  93, 125, 125, 0,   0,   0,   0,   0,   0,   128, 63,
    0,   0,   0,   64,  0,   0,  64, 64, 0,   0,  128, 64,  0,   0,   160, 64};

/* test_serialization_forced_alignement: "attn0" F32 [1, 1, 2, 3], 7 spaces of padding. */
static const uint8_t forced_alignment[] = {
    72,  0,   0,   0,   0,   0,   0,   0,   123, 34, 97, 116, 116, 110, 48,  34,  58,  123,
    34,  100, 116, 121, 112, 101, 34,  58,  34,  70, 51, 50,  34,  44,  34,  115, 104, 97,
    112, 101, 34,  58,  91,  49,  44,  49,  44,  50, 44, 51,  93,  44,  34,  100, 97,  116,
    97,  95,  111, 102, 102, 115, 101, 116, 115, 34, 58, 91,  48,  44,  50,  52,  93,  125,
    125, 32,  32,  32,  32,  32,  32,  32,  0,   0,  0,  0,   0,   0,   128, 63,  0,   0,
    0,   64,  0,   0,   64,  64,  0,   0,   128, 64, 0,  0,   160, 64};

/* test_empty: no tensors, then no tensors and {"framework": "pt"}. */
static const uint8_t empty[] = {8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32};
static const uint8_t empty_meta[] = {40,  0,   0,   0,   0,   0,   0,   0,   123, 34,  95,  95,
                                     109, 101, 116, 97,  100, 97,  116, 97,  95,  95,  34,  58,
                                     123, 34,  102, 114, 97,  109, 101, 119, 111, 114, 107, 34,
                                     58,  34,  112, 116, 34,  125, 125, 32,  32,  32,  32,  32};

static const float six[] = {0, 1, 2, 3, 4, 5};

/* Writes one file with our writer and compares it with the expected bytes. */
static void writes_exactly(const char *name, const char *dtype, size_t rank, const uint64_t *shape,
                           const void *data, uint64_t size, const char *const *meta,
                           const uint8_t *want, size_t wantlen)
{
    attest_tensor_view v = {name, dtype, rank, shape, data, size};
    size_t len = 0;
    char *got;
    CHECK_EQ_INT(attest_safetensors_write(tmp("w"), &v, name ? 1 : 0, meta, err, sizeof err), 0);
    got = harness_slurp(tmp("w"), &len);
    CHECK(got && len == wantlen && memcmp(got, want, len) == 0);
    free(got);
}

/* [ST-1] [ST-12] [ST-13] [ST-14]: our reader and writer agree with the project's bytes. */
static void test_upstream_vectors(void)
{
    static const uint64_t s123[] = {1, 2, 3}, s1123[] = {1, 1, 2, 3};
    static const char *const fw[] = {"framework", "pt", NULL};
    attest_safetensors *st = NULL;

    CHECK_EQ_INT(parse(serialization, sizeof serialization, &st), 0);
    CHECK_EQ_INT(attest_safetensors_count(st), 1);
    CHECK_STR(desc(st, 0), "attn.0 F32 [1,2,3] 0 24");
    CHECK_EQ_INT(attest_safetensors_data_offset(st), 72);
    attest_safetensors_free(st);
    CHECK_EQ_INT(parse(forced_alignment, sizeof forced_alignment, &st), 0);
    CHECK_STR(desc(st, 0), "attn0 F32 [1,1,2,3] 0 24");
    CHECK_EQ_INT(attest_safetensors_data_offset(st), 80);
    attest_safetensors_free(st);
    CHECK_EQ_INT(parse(empty, sizeof empty, &st), 0);
    CHECK_EQ_INT(attest_safetensors_count(st), 0);
    attest_safetensors_free(st);
    CHECK_EQ_INT(parse(empty_meta, sizeof empty_meta, &st), 0);
    CHECK_STR(attest_safetensors_metadata(st, "framework"), "pt");
    CHECK(attest_safetensors_metadata(st, "format") == NULL);
    attest_safetensors_free(st);

    writes_exactly("attn.0", "F32", 3, s123, six, 24, NULL, serialization, sizeof serialization);
    writes_exactly("attn0", "F32", 4, s1123, six, 24, NULL, forced_alignment,
                   sizeof forced_alignment);
    writes_exactly(NULL, NULL, 0, NULL, NULL, 0, NULL, empty, sizeof empty);
    writes_exactly(NULL, NULL, 0, NULL, NULL, 0, fw, empty_meta, sizeof empty_meta);
}

#define TEST_I32(shape, offs)                                                                      \
    "{\"test\":{\"dtype\":\"I32\",\"shape\":" shape ",\"data_offsets\":" offs "}}"

/* The other reader cases of tensor.rs, each with the rule that decides it. */
static void test_upstream_cases(void)
{
    attest_safetensors *st;

    st = accepts(TEST_I32("[]", "[0,4]"), 4); /* test_empty_shapes_allowed [ST-10] */
    CHECK_STR(desc(st, 0), "test I32 [] 0 4");
    attest_safetensors_free(st);
    st = accepts(TEST_I32("[2,2]", "[0,16]"), 16); /* test_deserialization */
    CHECK_STR(desc(st, 0), "test I32 [2,2] 0 16");
    attest_safetensors_free(st);
    st = accepts(TEST_I32("[2,0]", "[0, 0]"), 0); /* test_zero_sized_tensor */
    CHECK_STR(desc(st, 0), "test I32 [2,0] 0 0");
    attest_safetensors_free(st);

    /* test_invalid_info [ST-10] */
    CHECK(rejects(TEST_I32("[2,2]", "[0, 4]"), 4,
                  "tensor \"test\": data_offsets [0, 4] hold 4 bytes, but shape [2, 2] of I32 "
                  "needs 16"));
    /* test_validation_overflow: 2^64-2 is not a JSON integer we accept [ST-8]; the product
     * of 2 x (2^63-1) x 32 bits overflows [ST-10]. */
    CHECK(rejects(TEST_I32("[2,18446744073709551614]", "[0,16]"), 16, "too big integer"));
    CHECK(rejects(TEST_I32("[2,9223372036854775807]", "[0,16]"), 16,
                  "shape [2, 9223372036854775807] of I32 overflows 64 bits"));
    /* test_metadata_incomplete_buffer [ST-11] */
    CHECK(rejects(TEST_I32("[2,2]", "[0,16]"), 16 + 34,
                  "tensors end at data offset 16 (file offset 84), but the file is 118 bytes"));
    CHECK(rejects(TEST_I32("[2,2]", "[0,16]"), 14, "but the file is 82 bytes"));
    /* test_json_attack: ten tensors on the same bytes [ST-9] */
    {
        char h[1024];
        size_t o = (size_t)snprintf(h, sizeof h, "{");
        for (int i = 0; i < 10; i++)
            o += (size_t)snprintf(h + o, sizeof h - o,
                                  "%s\"weight_%d\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                                  "\"data_offsets\":[0,16]}",
                                  i ? "," : "", i);
        snprintf(h + o, sizeof h - o, "}");
        CHECK(rejects(h, 16, "begin at 0, but tensor \"weight_0\" ends at 16 (overlap)"));
    }
    /* test_header_too_large [ST-2] */
    {
        size_t len;
        uint8_t *b = mk(TEST_I32("[2,2]", "[0,16]"), 60, 16, &len);
        b[5] = b[6] = b[7] = 0xff;
        CHECK(rejects_raw(b, len, "header length 18446742974197923900 exceeds the limit"));
        free(b);
    }
    CHECK(rejects_raw((const uint8_t *)"", 0, "file is 0 bytes, too short")); /* [ST-1] */
    CHECK(rejects_raw((const uint8_t *)"<\0\0\0\0\0\0\0", 8,
                      "header length 60 runs past the end of the file (8 bytes)")); /* [ST-2] */
    CHECK(rejects_raw((const uint8_t *)"\1\0\0\0\0\0\0\0\xff", 9,
                      "header does not begin with '{'")); /* non-UTF-8 [ST-3] */
    CHECK(rejects_raw((const uint8_t *)"\1\0\0\0\0\0\0\0{", 9,
                      "header JSON at file offset")); /* not JSON [ST-3] */
    /* test_whitespace_padded_header: the project pads with any JSON whitespace; we, as its
     * README, accept spaces only [ST-3]. */
    CHECK(rejects_raw((const uint8_t *)"\6\0\0\0\0\0\0\0{}\r \t\n", 14,
                      "byte 0x0d at file offset 10 follows the JSON object"));
}

/* [ST-1] [ST-2]: a short head asks for exactly the bytes it needs. */
static void test_incremental(void)
{
    attest_safetensors *st = NULL;
    uint64_t needed = 0;
    size_t len;
    uint8_t *b = mk(TEST_I32("[2,2]", "[0,16]"), 60, 16, &len);

    for (size_t k = 0; k < 68; k++) {
        int rc = attest_safetensors_parse(&st, b, k, len, &needed, err, sizeof err);
        if (rc != ATTEST_EINVAL || needed != (k < 8 ? 8u : 68u) || st) {
            printf("# head of %zu bytes: rc %d, needed %llu\n", k, rc, (unsigned long long)needed);
            CHECK(0);
        }
    }
    CHECK_EQ_INT(attest_safetensors_parse(&st, b, 68, len, &needed, err, sizeof err), 0);
    CHECK_EQ_INT(needed, 0);
    attest_safetensors_free(st);
    st = NULL;
    /* The cap is checked before the bytes are asked for. */
    b[0] = 0x01;
    b[1] = 0xe1;
    b[2] = 0xf5;
    b[3] = 0x05; /* 100000001 */
    CHECK_EQ_INT(attest_safetensors_parse(&st, b, 8, 1ull << 40, &needed, err, sizeof err),
                 ATTEST_EFORMAT);
    CHECK(strstr(err, "header length 100000001 exceeds the limit of 100000000 bytes") != NULL);
    b[0] = 0x00; /* exactly 100000000 */
    CHECK_EQ_INT(attest_safetensors_parse(&st, b, 8, 1ull << 40, &needed, err, sizeof err),
                 ATTEST_EINVAL);
    CHECK_EQ_INT(needed, 100000008);
    CHECK_EQ_INT(attest_safetensors_parse(&st, NULL, 8, 8, NULL, err, sizeof err), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_safetensors_parse(NULL, b, 8, 8, NULL, err, sizeof err), ATTEST_EINVAL);
    free(b);
}

#define T(name, dtype, shape, offs)                                                                \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offs "}"
#define ONE(name, dtype, shape, offs) "{" T(name, dtype, shape, offs) "}"

/* [ST-3] [ST-4]: the JSON text and its padding. */
static void test_header_text(void)
{
    attest_safetensors *st;

    CHECK(rejects("", 0, "header does not begin with '{': it is empty"));
    CHECK(rejects(" {}", 0, "header does not begin with '{'"));
    CHECK(rejects("[]", 0, "header does not begin with '{'"));
    CHECK(rejects("{}\n", 0, "byte 0x0a at file offset 10 follows the JSON object"));
    CHECK(rejects("{}  \t  ", 0, "byte 0x09 at file offset 12"));
    CHECK(rejects("{} x", 0, "header JSON at file offset"));
    CHECK(rejects("{}}", 0, "header JSON"));
    CHECK(rejects("{\"a\":1", 0, "header JSON"));
    {
        size_t len;
        uint8_t *b = mk("{}\0 ", 4, 0, &len);
        CHECK(rejects_raw(b, len, "header JSON"));
        free(b);
    }
    st = accepts("{}      ", 0);
    CHECK(st != NULL);
    attest_safetensors_free(st);
    st = accepts("{ \"w\" :\n\t{ \"dtype\" : \"U8\", \"shape\" : [ 2 ],\r\n "
                 "\"data_offsets\" : [ 0 , 2 ] } }   ",
                 2);
    CHECK_STR(desc(st, 0), "w U8 [2] 0 2");
    attest_safetensors_free(st);
    /* Names are any JSON string: escapes are decoded, UTF-8 is kept. */
    st = accepts(ONE("\\u00e9\\t\\\"x\\\" \xe2\x82\xac", "U8", "[1]", "[0,1]"), 1);
    CHECK_STR(desc(st, 0), "\xc3\xa9\t\"x\" \xe2\x82\xac U8 [1] 0 1");
    attest_safetensors_free(st);
    /* [ST-4] */
    CHECK(rejects("{" T("a", "U8", "[1]", "[0,1]") "," T("a", "U8", "[1]", "[1,2]") "}", 2,
                  "duplicate object key"));
    CHECK(rejects("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],"
                  "\"data_offsets\":[0,1]}}",
                  1, "duplicate object key"));
    CHECK(rejects("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate object key"));
    CHECK(rejects(ONE("\xff", "U8", "[1]", "[0,1]"), 1, "header JSON"));
    CHECK(rejects(ONE("\xc0\xae", "U8", "[1]", "[0,1]"), 1, "header JSON"));
    CHECK(rejects(ONE("a\\u0000b", "U8", "[1]", "[0,1]"), 1, "header JSON"));
    CHECK(rejects(ONE("a\\ud800", "U8", "[1]", "[0,1]"), 1, "header JSON"));
    CHECK(rejects(ONE("a\x01", "U8", "[1]", "[0,1]"), 1, "header JSON"));
}

/* [ST-5] */
static void test_metadata(void)
{
    attest_safetensors *st =
        accepts("{\"__metadata__\":{\"format\":\"pt\",\"empty\":\"\",\"\xc3\xa9\":\"\\u00e9\"}," T(
                    "w", "BF16", "[]", "[0,2]") "}",
                2);
    CHECK_EQ_INT(attest_safetensors_count(st), 1);
    CHECK_STR(attest_safetensors_metadata(st, "format"), "pt");
    CHECK_STR(attest_safetensors_metadata(st, "empty"), "");
    CHECK_STR(attest_safetensors_metadata(st, "\xc3\xa9"), "\xc3\xa9");
    CHECK(attest_safetensors_metadata(st, "w") == NULL);
    CHECK(attest_safetensors_metadata(st, NULL) == NULL);
    CHECK(attest_safetensors_metadata(NULL, "format") == NULL);
    attest_safetensors_free(st);
    st = accepts("{\"__metadata__\":{}}", 0);
    CHECK(st != NULL && attest_safetensors_count(st) == 0);
    attest_safetensors_free(st);

    CHECK(rejects("{\"__metadata__\":{\"epoch\":3}}", 0,
                  "header: \"__metadata__\" key \"epoch\": value is not a string"));
    CHECK(rejects("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", 0, "value is not a string"));
    CHECK(rejects("{\"__metadata__\":{\"a\":null}}", 0, "value is not a string"));
    CHECK(rejects("{\"__metadata__\":null}", 0, "\"__metadata__\" is not a JSON object"));
    CHECK(rejects("{\"__metadata__\":[\"a\",\"b\"]}", 0, "is not a JSON object"));
    CHECK(rejects("{\"__metadata__\":\"pt\"}", 0, "is not a JSON object"));
}

/* [ST-6] [ST-7] [ST-8]: the members of a tensor entry. */
static void test_entries(void)
{
    static const struct {
        const char *name;
        unsigned bits;
    } table[] = {{"BOOL", 8},    {"U8", 8},      {"I8", 8},          {"F8_E5M2", 8},
                 {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8},
                 {"I16", 16},    {"U16", 16},    {"F16", 16},        {"BF16", 16},
                 {"I32", 32},    {"U32", 32},    {"F32", 32},        {"F64", 64},
                 {"I64", 64},    {"U64", 64},    {"C64", 64},        {"F4", 4},
                 {"F6_E2M3", 6}, {"F6_E3M2", 6}};
    char h[256], shape[80];

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        attest_safetensors *st;
        CHECK_EQ_INT(attest_safetensors_dtype_bits(table[i].name), table[i].bits);
        /* Eight elements of every dtype hold a whole number of bytes. */
        snprintf(h, sizeof h, "{\"x\":{\"dtype\":\"%s\",\"shape\":[2,4],\"data_offsets\":[0,%u]}}",
                 table[i].name, table[i].bits);
        st = accepts(h, table[i].bits);
        CHECK(st && strcmp(attest_safetensors_tensor(st, 0)->dtype, table[i].name) == 0);
        attest_safetensors_free(st);
    }
    CHECK_EQ_INT(attest_safetensors_dtype_bits("f32"), 0);
    CHECK_EQ_INT(attest_safetensors_dtype_bits(""), 0);
    CHECK_EQ_INT(attest_safetensors_dtype_bits(NULL), 0);
    CHECK(rejects(ONE("model.w", "f32", "[1]", "[0,4]"), 4,
                  "tensor \"model.w\": unknown dtype \"f32\""));
    CHECK(rejects(ONE("w", "Q4_K", "[1]", "[0,4]"), 4, "unknown dtype \"Q4_K\""));
    CHECK(rejects(ONE("w", "F32 ", "[1]", "[0,4]"), 4, "unknown dtype \"F32 \""));
    CHECK(rejects("{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                  "tensor \"w\": dtype is not a string"));

    /* [ST-6] */
    CHECK(rejects("{\"w\":[0,4]}", 4, "tensor \"w\": entry is not a JSON object"));
    CHECK(rejects("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing \"dtype\""));
    CHECK(rejects("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing \"shape\""));
    CHECK(rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing \"data_offsets\""));
    CHECK(rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"sha\":\"\"}}",
                  4, "tensor \"w\": unknown field \"sha\""));

    /* [ST-8] */
    CHECK(rejects(ONE("w", "F32", "1", "[0,4]"), 4, "tensor \"w\": shape is not an array"));
    CHECK(rejects(ONE("w", "F32", "[1,-1]", "[0,4]"), 4, "shape[1] is not an integer >= 0"));
    CHECK(rejects(ONE("w", "F32", "[1.0]", "[0,4]"), 4, "shape[0] is not an integer >= 0"));
    CHECK(rejects(ONE("w", "F32", "[1e0]", "[0,4]"), 4, "shape[0] is not an integer >= 0"));
    CHECK(rejects(ONE("w", "F32", "[\"1\"]", "[0,4]"), 4, "shape[0] is not an integer >= 0"));
    CHECK(rejects(ONE("w", "F32", "[null]", "[0,4]"), 4, "shape[0] is not an integer >= 0"));
    CHECK(rejects(ONE("w", "F32", "[1]", "[0]"), 4, "data_offsets is not an array of two"));
    CHECK(rejects(ONE("w", "F32", "[1]", "[0,4,4]"), 4, "data_offsets is not an array of two"));
    CHECK(rejects(ONE("w", "F32", "[1]", "{}"), 4, "data_offsets is not an array of two"));
    CHECK(rejects(ONE("w", "F32", "[1]", "[-0.0,4]"), 4, "data_offsets[0] is not an integer"));
    CHECK(rejects(ONE("w", "F32", "[1]", "[0,-4]"), 4, "data_offsets[1] is not an integer"));
    CHECK(rejects(ONE("w", "F32", "[1]", "[0,9223372036854775808]"), 4, "too big integer"));
    /* Rank 16 is the most we take; the sixteen 1s hold one element. */
    snprintf(shape, sizeof shape, "[%s]", "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1");
    snprintf(h, sizeof h, ONE("w", "U8", "%s", "[0,1]"), shape);
    attest_safetensors *st = accepts(h, 1);
    CHECK(st && attest_safetensors_tensor(st, 0)->rank == 16);
    attest_safetensors_free(st);
    snprintf(h, sizeof h, ONE("w", "U8", "[1,%s", "[0,1]"), shape + 1);
    CHECK(rejects(h, 1, "tensor \"w\": rank 17 exceeds the maximum of 16"));
}

/* [ST-9] [ST-11] [ST-12]: the tensors tile the data buffer, whatever the header order. */
static void test_tiling(void)
{
    attest_safetensors *st =
        accepts("{" T("c", "U8", "[3]", "[5,8]") "," T("z2", "BOOL", "[0]", "[5,5]") "," T(
                    "a", "I16", "[2]",
                    "[0,4]") "," T("z0", "I64", "[4,0]",
                                   "[0,0]") "," T("b", "U8", "[]",
                                                  "[4,5]") "," T("z3", "U8", "[0]",
                                                                 "[8,8]") "," T("z1", "F32", "[0]",
                                                                                "[5,5]") "}",
                8);
    static const char *const want[] = {"z0 I64 [4,0] 0 0", "a I16 [2] 0 4",   "b U8 [] 4 5",
                                       "z1 F32 [0] 5 5",   "z2 BOOL [0] 5 5", "c U8 [3] 5 8",
                                       "z3 U8 [0] 8 8"};
    CHECK_EQ_INT(attest_safetensors_count(st), 7);
    for (size_t i = 0; i < 7; i++)
        CHECK_STR(desc(st, i), want[i]);
    CHECK(attest_safetensors_tensor(st, 7) == NULL);
    CHECK(attest_safetensors_tensor(NULL, 0) == NULL);
    CHECK_EQ_INT(attest_safetensors_count(NULL), 0);
    CHECK_EQ_INT(attest_safetensors_data_offset(NULL), 0);
    attest_safetensors_free(st);
    attest_safetensors_free(NULL);

    CHECK(rejects(ONE("w", "U8", "[4]", "[4,8]"), 8,
                  "tensor \"w\": data_offsets [4, 8] begin at 4, but the data buffer starts at 0 "
                  "(hole)"));
    CHECK(rejects("{" T("a", "U8", "[4]", "[0,4]") "," T("b", "U8", "[2]", "[6,8]") "}", 8,
                  "tensor \"b\": data_offsets [6, 8] begin at 6, but tensor \"a\" ends at 4 "
                  "(hole)"));
    CHECK(rejects("{" T("a", "U8", "[4]", "[0,4]") "," T("b", "U8", "[6]", "[2,8]") "}", 8,
                  "tensor \"b\": data_offsets [2, 8] begin at 2, but tensor \"a\" ends at 4 "
                  "(overlap)"));
    CHECK(rejects("{" T("a", "U8", "[4]", "[0,4]") "," T("z", "U8", "[0]", "[2,2]") "}", 4,
                  "tensor \"z\": data_offsets [2, 2] begin at 2, but tensor \"a\" ends at 4"));
    CHECK(rejects("{" T("a", "U8", "[4]", "[0,4]") "," T("z", "U8", "[0]", "[9,9]") "}", 4,
                  "tensor \"z\": data_offsets [9, 9] begin at 9, but tensor \"a\" ends at 4 "
                  "(hole)"));
    CHECK(rejects(ONE("w", "U8", "[0]", "[4,0]"), 0,
                  "tensor \"w\": data_offsets [4, 0] end before they begin"));
    CHECK(rejects("{" T("a", "U8", "[4]", "[0,4]") "," T("b", "U8", "[0]", "[4,2]") "}", 4,
                  "tensor \"b\": data_offsets [4, 2] end before they begin"));
    /* [ST-11] */
    CHECK(rejects("{}", 1, "tensors end at data offset 0 (file offset 10), but the file is 11"));
    CHECK(rejects(ONE("w", "U8", "[0]", "[0,0]"), 3, "tensors end at data offset 0"));
    CHECK(rejects(ONE("w", "U8", "[4]", "[0,4]"), 5, "tensors end at data offset 4"));
}

/* [ST-10]: bytes = prod(shape) x bits / 8, whole bytes, no overflow. */
static void test_sizes(void)
{
    attest_safetensors *st;

    CHECK(rejects(ONE("model.layers.0.w", "F32", "[2,2]", "[0,12]"), 12, ""));
    CHECK_STR(err, "tensor \"model.layers.0.w\": data_offsets [0, 12] hold 12 bytes, but shape "
                   "[2, 2] of F32 needs 16");
    CHECK(rejects(ONE("w", "F32", "[2,2]", "[0,20]"), 20, "hold 20 bytes, but shape [2, 2]"));
    CHECK(rejects(ONE("w", "F32", "[]", "[0,0]"), 0, "hold 0 bytes, but shape [] of F32 needs 4"));
    CHECK(rejects(ONE("w", "F4", "[3]", "[0,2]"), 2,
                  "tensor \"w\": shape [3] of F4 holds 12 bits, not a whole number of bytes"));
    CHECK(rejects(ONE("w", "F6_E3M2", "[5]", "[0,4]"), 4, "holds 30 bits"));
    CHECK(rejects(ONE("w", "F6_E2M3", "[]", "[0,1]"), 1, "holds 6 bits"));
    st = accepts(ONE("w", "F4", "[2,3]", "[0,3]"), 3);
    CHECK(st != NULL);
    attest_safetensors_free(st);
    st = accepts(ONE("w", "F6_E2M3", "[4]", "[0,3]"), 3);
    CHECK(st != NULL);
    attest_safetensors_free(st);
    /* Elements first, then bits, as the project: a zero dimension wins over a huge one. */
    st = accepts(ONE("w", "F32", "[4611686018427387904,0]", "[0,0]"), 0);
    CHECK(st != NULL);
    attest_safetensors_free(st);
    CHECK(rejects(ONE("w", "U8", "[4294967296,4294967296]", "[0,0]"), 0, "overflows 64 bits"));
    CHECK(rejects(ONE("w", "U8", "[4294967296,4294967296,0]", "[0,0]"), 0, "overflows"));
    CHECK(rejects(ONE("w", "F64", "[2305843009213693952]", "[0,0]"), 0, "overflows 64 bits"));
    CHECK(
        rejects(ONE("w", "U8", "[1152921504606846976]", "[0,0]"), 0, "needs 1152921504606846976"));
}

/* Messages quote names safely: escapes for quotes and control bytes, long names cut. */
static void test_message_names(void)
{
    char h[600], name[301];

    CHECK(rejects(ONE("a\\\"b\\nc\\\\", "X", "[1]", "[0,1]"), 1,
                  "tensor \"a\\\"b\\x0ac\\\\\": unknown dtype \"X\""));
    memset(name, 'n', 300);
    name[300] = '\0';
    snprintf(h, sizeof h, ONE("%s", "X", "[1]", "[0,1]"), name);
    CHECK(rejects(h, 1, "nnn...\": unknown dtype"));
    CHECK(strlen(err) < 200);
}

/* The tensors of the writer tests: every kind of shape, in an order that is not by name. */
static const uint8_t bytes34[34] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
                                    25, 26, 27, 28, 29, 30, 31, 32, 33, 34};
static const uint64_t s23[] = {2, 3}, s04[] = {0, 4}, s5[] = {5};
static const attest_tensor_view views[] = {
    {"w", "F32", 2, s23, bytes34, 24},
    {"scalar", "BF16", 0, NULL, bytes34 + 24, 2},
    {"empty", "I64", 2, s04, NULL, 0},
    {"nibbles", "F4", 2, s23, bytes34 + 26, 3},
    {"\xc3\xa9t\xc3\xa9", "U8", 1, s5, bytes34 + 29, 5},
};
static const char *const views_meta[] = {"format", "pt", "step", "100", NULL};

/* No "<path>.tmp.<pid>" is left in the test directory. */
static int no_temp_files(void)
{
    return system("ls -a \"$ATTEST_ST_DIR\" | grep -q tmp") != 0;
}

/* [ST-13] [ST-14]: what the writer writes reads back the same, bytes included. */
static void test_write_round_trip(void)
{
    static const char *const want[] = {"w F32 [2,3] 0 24", "scalar BF16 [] 24 26",
                                       "empty I64 [0,4] 26 26", "nibbles F4 [2,3] 26 29",
                                       "\xc3\xa9t\xc3\xa9 U8 [5] 29 34"};
    static const char head[] = "{\"__metadata__\":{\"format\":\"pt\",\"step\":\"100\"},\"w\":{"
                               "\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},";
    attest_safetensors *st = NULL;
    size_t len = 0;
    char *raw;

    CHECK_EQ_INT(attest_safetensors_write(tmp("rt"), views, 5, views_meta, err, sizeof err), 0);
    CHECK_EQ_INT(attest_safetensors_open(&st, tmp("rt"), err, sizeof err), 0);
    CHECK_EQ_INT(attest_safetensors_count(st), 5);
    for (size_t i = 0; i < 5; i++)
        CHECK_STR(desc(st, i), want[i]);
    CHECK_STR(attest_safetensors_metadata(st, "format"), "pt");
    CHECK_STR(attest_safetensors_metadata(st, "step"), "100");
    raw = harness_slurp(tmp("rt"), &len);
    CHECK(raw != NULL);
    if (raw && st) {
        uint64_t off = attest_safetensors_data_offset(st);
        CHECK_EQ_INT(off % 8, 0);
        CHECK_EQ_INT(len, off + 34);
        CHECK(memcmp(raw + off, bytes34, 34) == 0);
        CHECK(memcmp(raw + 8, head, strlen(head)) == 0);
        size_t e = (size_t)off;
        while (e > 8 && raw[e - 1] == ' ')
            e--;
        CHECK(raw[e - 1] == '}' && off - e < 8); /* fewer than 8 spaces of padding */
    }
    free(raw);
    attest_safetensors_free(st);
    CHECK(no_temp_files());
}

static int writer_rejects(const attest_tensor_view *v, size_t n, const char *const *meta,
                          const char *why)
{
    size_t blen = 0, alen = 0;
    char *before = harness_slurp(tmp("keep"), &blen), *after;
    int rc = attest_safetensors_write(tmp("keep"), v, n, meta, err, sizeof err), ok;

    after = harness_slurp(tmp("keep"), &alen);
    /* The file in place is untouched and no temporary file is left. */
    ok = rc == ATTEST_EINVAL && strstr(err, why) && before && after && blen == alen &&
         memcmp(before, after, alen) == 0 && no_temp_files();
    if (!ok) printf("#   rc %d, err \"%s\", expected \"%s\"\n", rc, err, why);
    free(before);
    free(after);
    return ok;
}

/* [ST-15]: the writer refuses what the reader would refuse, and names the tensor. */
static void test_write_rejects(void)
{
    static const uint64_t s2[] = {2}, s3[] = {3}, big[] = {1ull << 62, 8}, huge[] = {1ull << 63},
                          max[] = {(1ull << 61) - 1},
                          s17[17] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const char *const odd[] = {"format", NULL}, *const twice[] = {"k", "1", "k", "2", NULL},
                             *const badu[] = {"k", "\xff", NULL};
    static const uint8_t d[16] = {0};
    static const struct {
        attest_tensor_view second;
        const char *why;
    } cases[] = {
        {{"a", "U8", 1, s2, d, 2}, "tensor \"a\": the name appears twice"},
        {{"__metadata__", "U8", 1, s2, d, 2}, "tensor \"__metadata__\": the name is reserved"},
        {{NULL, "U8", 1, s2, d, 2}, "tensor 1: name is NULL"},
        {{"b\xff", "U8", 1, s2, d, 2}, "tensor \"b\xff\": the name is not valid UTF-8"},
        {{"b", "f16", 1, s2, d, 2}, "tensor \"b\": unknown dtype \"f16\""},
        {{"b", NULL, 1, s2, d, 2}, "tensor \"b\": unknown dtype NULL"},
        {{"b", "F16", 1, s2, d, 2}, "tensor \"b\": size is 2 bytes, but shape [2] of F16 needs 4"},
        {{"b", "F4", 1, s3, d, 2}, "shape [3] of F4 holds 12 bits, not a whole number of bytes"},
        {{"b", "U8", 2, big, d, 2}, "shape [4611686018427387904, 8] of U8 overflows 64 bits"},
        {{"b", "U8", 1, huge, d, 2}, "tensor \"b\": shape[0] exceeds 2^63-1"},
        {{"b", "U8", 17, s17, d, 1}, "tensor \"b\": rank 17 exceeds the maximum of 16"},
        {{"b", "U8", 1, NULL, d, 2}, "tensor \"b\": shape is NULL"},
        {{"b", "U8", 1, s2, NULL, 2}, "tensor \"b\": data is NULL"},
    };
    attest_tensor_view v[2] = {{"a", "U8", 1, s2, d, 2}, {"b", "U8", 1, s2, d, 2}};

    CHECK_EQ_INT(attest_safetensors_write(tmp("keep"), v, 2, NULL, err, sizeof err), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        v[1] = cases[i].second;
        CHECK(writer_rejects(v, 2, NULL, cases[i].why));
    }
    v[1] = (attest_tensor_view){"b", "U8", 1, s2, d, 2};
    {
        /* Each tensor is under 2^61 bytes (2^64 bits); five are over 2^63 - 1 together. */
        static const char *const names[] = {"t0", "t1", "t2", "t3", "t4"};
        attest_tensor_view five[5];
        for (int i = 0; i < 5; i++)
            five[i] = (attest_tensor_view){names[i], "U8", 1, max, d, max[0]};
        CHECK(writer_rejects(five, 5, NULL, "tensor \"t4\": the data buffer would exceed"));
    }
    CHECK(writer_rejects(v, 2, odd, "metadata key \"format\" has no value"));
    CHECK(writer_rejects(v, 2, twice, "metadata key \"k\" appears twice"));
    CHECK(writer_rejects(v, 2, badu, "metadata key \"k\": value is not valid UTF-8"));
    CHECK_EQ_INT(attest_safetensors_write(NULL, v, 2, NULL, err, sizeof err), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_safetensors_write(tmp("keep"), NULL, 2, NULL, err, sizeof err),
                 ATTEST_EINVAL);
}

/* [ST-16] I/O: missing files and directories, non-files, files replaced whole. */
static void test_files(void)
{
    static const uint64_t s1[] = {1};
    static const uint64_t s8k[] = {8192};
    static uint8_t zeros[8192];
    attest_tensor_view v = {"x", "U8", 1, s1, "A", 1}, bigv = {"big", "U8", 1, s8k, zeros, 8192};
    attest_safetensors *st = NULL;
    struct rlimit old, lim;
    char cwd[1024];
    FILE *f;

    CHECK_EQ_INT(attest_safetensors_open(&st, tmp("missing"), err, sizeof err), ATTEST_ENOTFOUND);
    CHECK(st == NULL && strstr(err, "missing") != NULL);
    CHECK_EQ_INT(attest_safetensors_open(&st, dir, err, sizeof err), ATTEST_EIO);
    CHECK_EQ_INT(attest_safetensors_write(tmp("no/such/dir"), &v, 1, NULL, err, sizeof err),
                 ATTEST_EIO);
    CHECK(strstr(err, "no/such/dir") != NULL);
    /* A second write replaces the first. */
    CHECK_EQ_INT(attest_safetensors_write(tmp("twice"), &v, 1, NULL, err, sizeof err), 0);
    v.name = "y";
    CHECK_EQ_INT(attest_safetensors_write(tmp("twice"), &v, 1, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(attest_safetensors_open(&st, tmp("twice"), err, sizeof err), 0);
    CHECK_STR(desc(st, 0), "y U8 [1] 0 1");
    attest_safetensors_free(st);
    st = NULL;
    /* Short and truncated files give the same reasons as in memory. */
    f = fopen(tmp("short"), "wb");
    if (f) {
        fwrite("\x08\0\0", 1, 3, f);
        fclose(f);
    }
    CHECK_EQ_INT(attest_safetensors_open(&st, tmp("short"), err, sizeof err), ATTEST_EFORMAT);
    CHECK(strstr(err, "file is 3 bytes, too short") != NULL);
    CHECK(truncate(tmp("twice"), 20) == 0);
    CHECK_EQ_INT(attest_safetensors_open(&st, tmp("twice"), err, sizeof err), ATTEST_EFORMAT);
    CHECK(strstr(err, "runs past the end of the file (20 bytes)") != NULL);
    CHECK(st == NULL);
    /* A path without a directory part lands in the working directory. */
    if (getcwd(cwd, sizeof cwd) && chdir(dir) == 0) {
        CHECK_EQ_INT(attest_safetensors_write("rel", &v, 1, NULL, err, sizeof err), 0);
        CHECK_EQ_INT(attest_safetensors_open(&st, "rel", err, sizeof err), 0);
        CHECK_EQ_INT(attest_safetensors_count(st), 1);
        attest_safetensors_free(st);
        st = NULL;
        CHECK(chdir(cwd) == 0);
    }
    /* A write that fails half way (the file size limit) leaves the old file and no temp. */
    CHECK_EQ_INT(attest_safetensors_write(tmp("full"), &v, 1, NULL, err, sizeof err), 0);
    signal(SIGXFSZ, SIG_IGN);
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 4096;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK_EQ_INT(attest_safetensors_write(tmp("full"), &bigv, 1, NULL, err, sizeof err),
                 ATTEST_EIO);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    CHECK(strstr(err, "write ") != NULL && strstr(err, ".tmp.") != NULL);
    CHECK(no_temp_files());
    CHECK_EQ_INT(attest_safetensors_open(&st, tmp("full"), err, sizeof err), 0);
    CHECK_STR(desc(st, 0), "y U8 [1] 0 1");
    attest_safetensors_free(st);
}

/* Python's standard library: reads our file as the format says (struct + json). */
#define PY_READ                                                                                    \
    "import json, struct, sys\n"                                                                   \
    "b = open(sys.argv[1], \"rb\").read()\n"                                                       \
    "n = struct.unpack(\"<Q\", b[:8])[0]\n"                                                        \
    "assert n % 8 == 0 and b[8:9] == b\"{\"\n"                                                     \
    "h = json.loads(b[8:8 + n].decode(\"utf-8\"))\n"                                               \
    "m = h.pop(\"__metadata__\", {})\n"                                                            \
    "print(\" \".join(k + \"=\" + m[k] for k in m))\n"                                             \
    "for k, v in h.items():\n"                                                                     \
    "    s, e = v[\"data_offsets\"]\n"                                                             \
    "    print(k, v[\"dtype\"], v[\"shape\"], s, e, b[8 + n + s:8 + n + e].hex())\n"               \
    "print(len(b) - 8 - n)\n"

/* ... and writes one as the format says, names out of data order, JSON with spaces. */
#define PY_WRITE                                                                                   \
    "import json, struct, sys\n"                                                                   \
    "h = {\"b\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [2, 6]},\n"                \
    "     \"__metadata__\": {\"format\": \"np\", \"note\": \"\\u00e9\"},\n"                        \
    "     \"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]},\n"                 \
    "     \"z\": {\"dtype\": \"C64\", \"shape\": [0, 3], \"data_offsets\": [6, 6]}}\n"             \
    "t = json.dumps(h).encode()\n"                                                                 \
    "t += b\" \" * (-len(t) % 8)\n"                                                                \
    "open(sys.argv[1], \"wb\").write(struct.pack(\"<Q\", len(t)) + t + bytes(range(6)))\n"

static int have_python(void)
{
    if (access(PY, X_OK) == 0) return 1;
    printf("# %s not found: the Python cross-checks are skipped\n", PY);
    return 0;
}

static void test_python_reads_ours(void)
{
    static const char want[] =
        "format=pt step=100\n"
        "w F32 [2, 3] 0 24 0102030405060708090a0b0c0d0e0f101112131415161718\n"
        "scalar BF16 [] 24 26 191a\n"
        "empty I64 [0, 4] 26 26 \n"
        "nibbles F4 [2, 3] 26 29 1b1c1d\n"
        "\xc3\xa9t\xc3\xa9 U8 [5] 29 34 1e1f202122\n"
        "34\n";
    char cmd[2048], out[2048];
    size_t n = 0;
    FILE *p;

    if (!have_python()) return;
    CHECK_EQ_INT(attest_safetensors_write(tmp("py-in"), views, 5, views_meta, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd, "PYTHONIOENCODING=utf-8 %s -c '%s' %s", PY, PY_READ, tmp("py-in"));
    p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CHECK_EQ_INT(pclose(p), 0);
    CHECK_STR(out, want);
}

/* The safetensors package itself, where /usr/bin/python3 has it (dtypes it has long known). */
#define PY_PACKAGE                                                                                 \
    "import sys\nimport numpy as np\n"                                                             \
    "from safetensors import safe_open\nfrom safetensors.numpy import save_file\n"                 \
    "f = safe_open(sys.argv[1], \"np\")\n"                                                         \
    "print(sorted(f.keys()), f.metadata(), f.get_tensor(\"w\").tobytes().hex())\n"                 \
    "save_file({\"b\": np.arange(5, dtype=np.int64), \"a\": np.zeros((2, 3), np.float32)},\n"      \
    "          sys.argv[2], metadata={\"format\": \"np\"})\n"

static void test_safetensors_package(void)
{
    static const char want[] = "['empty', 'scalar', 'w', '\xc3\xa9t\xc3\xa9'] {'format': 'pt', "
                               "'step': '100'} 0102030405060708090a0b0c0d0e0f101112131415161718\n";
    const attest_tensor_view classic[] = {views[0], views[1], views[2], views[4]};
    attest_safetensors *st = NULL;
    char cmd[2048], out[1024];
    size_t n;
    int rc;
    FILE *p;

    if (!have_python()) return;
    CHECK_EQ_INT(attest_safetensors_write(tmp("st-in"), classic, 4, views_meta, err, sizeof err),
                 0);
    snprintf(cmd, sizeof cmd,
             "%s -c 'import safetensors, numpy' 2>/dev/null || exit 77; "
             "PYTHONIOENCODING=utf-8 %s -c '" PY_PACKAGE "' %s %s",
             PY, PY, tmp("st-in"), tmp("st-out"));
    p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    rc = pclose(p);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
        printf("# python safetensors package not installed: its cross-check is skipped\n");
        return;
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_STR(out, want);
    /* Its writer orders tensors by dtype, then name: look them up by name. */
    CHECK_EQ_INT(attest_safetensors_open(&st, tmp("st-out"), err, sizeof err), 0);
    CHECK_EQ_INT(attest_safetensors_count(st), 2);
    CHECK_STR(attest_safetensors_metadata(st, "format"), "np");
    for (size_t i = 0; i < attest_safetensors_count(st); i++) {
        const char *d = desc(st, i);
        CHECK(strstr(d, "a F32 [2,3] ") == d || strstr(d, "b I64 [5] ") == d);
    }
    attest_safetensors_free(st);
}

static void test_python_writes(void)
{
    char cmd[2048];
    attest_safetensors *st = NULL;

    if (!have_python()) return;
    snprintf(cmd, sizeof cmd, "%s -c '%s' %s", PY, PY_WRITE, tmp("py-out"));
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(attest_safetensors_open(&st, tmp("py-out"), err, sizeof err), 0);
    if (!st) printf("# %s\n", err);
    CHECK_EQ_INT(attest_safetensors_count(st), 3);
    CHECK_STR(desc(st, 0), "a U8 [2] 0 2");
    CHECK_STR(desc(st, 1), "b F16 [2] 2 6");
    CHECK_STR(desc(st, 2), "z C64 [0,3] 6 6");
    CHECK_STR(attest_safetensors_metadata(st, "format"), "np");
    CHECK_STR(attest_safetensors_metadata(st, "note"), "\xc3\xa9");
    CHECK_EQ_INT(attest_safetensors_data_offset(st) % 8, 0);
    attest_safetensors_free(st);
}

int main(void)
{
    char cmd[128];

    if (!mkdtemp(dir)) return 2;
    setenv("ATTEST_ST_DIR", dir, 1);
    RUN(test_upstream_vectors);
    RUN(test_upstream_cases);
    RUN(test_incremental);
    RUN(test_header_text);
    RUN(test_metadata);
    RUN(test_entries);
    RUN(test_tiling);
    RUN(test_sizes);
    RUN(test_message_names);
    RUN(test_write_round_trip);
    RUN(test_write_rejects);
    RUN(test_files);
    RUN(test_python_reads_ours);
    RUN(test_python_writes);
    RUN(test_safetensors_package);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("# could not remove %s\n", dir);
    HARNESS_EXIT();
}
