/*
 * record.c - parses one log record and checks it against the v1 schema.
 *
 * A record is one JSON object (no duplicate keys, no control bytes) whose
 * "type" selects a field table; unknown fields, missing required fields and
 * wrongly typed values are errors that name the record index and the field.
 * Rules between records (order, references) live in rules.c.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "attest/error.h"
#include "format/record.h"
#include "format/text.h"

enum ftype {
    F_STR,     /* any string */
    F_NAME,    /* non-empty string */
    F_SHA256,  /* 64 lowercase hex digits */
    F_GITOID,  /* 40 or 64 lowercase hex digits */
    F_RUNID,   /* 32 lowercase hex digits */
    F_UINT,    /* integer >= 0 */
    F_NUMNULL, /* number, or null when the value is not finite */
    F_BITS,    /* 8 or 16 lowercase hex digits: IEEE-754 bits */
    F_BOOL,
    F_OBJ,
    F_ARR,
    F_TIME, /* RFC 3339 UTC: YYYY-MM-DDTHH:MM:SS[.fraction]Z */
    F_HEX   /* non-empty, even number of lowercase hex digits */
};

struct field {
    const char *name;
    enum ftype type;
    int required;
};

struct rtype {
    const char *name;
    const struct field *fields;
    int (*extra)(const json_t *rec, uint64_t index, char *err, size_t errsz);
};

#define TIME_FIELD                                                                                 \
    {                                                                                              \
        "time", F_TIME, 0                                                                          \
    }
#define END_FIELDS                                                                                 \
    {                                                                                              \
        NULL, F_STR, 0                                                                             \
    }

static const struct field run_fields[] = {{"type", F_NAME, 1},
                                          {"run_id", F_RUNID, 1},
                                          {"version", F_NAME, 1},
                                          {"origin", F_NAME, 1},
                                          {"public_key", F_NAME, 1},
                                          {"config", F_OBJ, 1},
                                          {"replay", F_OBJ, 0},
                                          TIME_FIELD,
                                          END_FIELDS};

static const struct field code_fields[] = {{"type", F_NAME, 1},
                                           {"commit", F_GITOID, 1},
                                           {"dirty", F_BOOL, 1},
                                           {"tree", F_GITOID, 0},
                                           {"branch", F_STR, 0},
                                           {"remotes", F_ARR, 0},
                                           {"diff_sha256", F_SHA256, 0},
                                           {"path", F_STR, 0},
                                           TIME_FIELD,
                                           END_FIELDS};

static const struct field init_fields[] = {{"type", F_NAME, 1},
                                           {"seed", F_UINT, 1},
                                           {"initializer", F_NAME, 1},
                                           {"initializer_version", F_STR, 0},
                                           {"checkpoint_sha256", F_SHA256, 0},
                                           {"data_seed", F_UINT, 0},
                                           TIME_FIELD,
                                           END_FIELDS};

static const struct field shard_fields[] = {{"type", F_NAME, 1},
                                            {"id", F_UINT, 1},
                                            {"name", F_NAME, 1},
                                            {"size", F_UINT, 1},
                                            {"sha256", F_SHA256, 1},
                                            {"layout", F_NAME, 1},
                                            {"samples", F_UINT, 1},
                                            {"compression", F_NAME, 0},
                                            {"content_size", F_UINT, 0},
                                            {"content_sha256", F_SHA256, 0},
                                            TIME_FIELD,
                                            END_FIELDS};

static const struct field step_fields[] = {{"type", F_NAME, 1},
                                           {"step", F_UINT, 1},
                                           {"batch", F_ARR, 1},
                                           {"batch_sha256", F_SHA256, 1},
                                           {"lr", F_NUMNULL, 1},
                                           {"lr_bits", F_BITS, 1},
                                           {"loss", F_NUMNULL, 1},
                                           {"loss_bits", F_BITS, 1},
                                           {"grad_norm", F_NUMNULL, 0},
                                           {"grad_norm_bits", F_BITS, 0},
                                           {"user", F_OBJ, 0},
                                           TIME_FIELD,
                                           END_FIELDS};

static const struct field checkpoint_fields[] = {
    {"type", F_NAME, 1}, {"step", F_UINT, 1}, {"sha256", F_SHA256, 1},
    {"size", F_UINT, 1}, {"name", F_STR, 0},  {"tensors", F_ARR, 1},
    TIME_FIELD,          END_FIELDS};

static const struct field seal_fields[] = {
    {"type", F_NAME, 1}, {"size", F_UINT, 1}, {"checkpoint", F_NAME, 1},
    {"tpm", F_OBJ, 0},   TIME_FIELD,          END_FIELDS};

static const struct field end_fields[] = {
    {"type", F_NAME, 1}, {"steps", F_UINT, 1}, {"reason", F_STR, 0}, TIME_FIELD, END_FIELDS};

static const struct field note_fields[] = {
    {"type", F_NAME, 1}, {"text", F_NAME, 1}, TIME_FIELD, END_FIELDS};

static int is_lower_hex(const char *s, size_t want)
{
    size_t n = strlen(s);
    if (n != want) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* RFC 3339 in UTC with a 'Z', as every writer of ours produces it. */
static int is_utc_time(const char *s)
{
    if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' ||
        !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return 0;
    if (num2(s + 5) < 1 || num2(s + 5) > 12 || num2(s + 8) < 1 || num2(s + 8) > 31 ||
        num2(s + 11) > 23 || num2(s + 14) > 59 || num2(s + 17) > 60)
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++)
            n++;
        if (n < 1 || n > 9) return 0;
    }
    return p[0] == 'Z' && p[1] == '\0';
}

int attest_record_bits(const char *hex, double *value)
{
    size_t n = strlen(hex);
    if (!is_lower_hex(hex, n) || (n != 8 && n != 16)) return ATTEST_EFORMAT;
    uint64_t bits = 0;
    for (size_t i = 0; i < n; i++)
        bits = bits << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
    if (n == 8) {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        *value = (double)f;
    } else {
        memcpy(value, &bits, sizeof *value);
    }
    return 0;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static const char *ftype_want(enum ftype t)
{
    switch (t) {
    case F_STR:
        return "a string";
    case F_NAME:
        return "a non-empty string";
    case F_SHA256:
        return "64 lowercase hex digits (SHA-256)";
    case F_GITOID:
        return "40 or 64 lowercase hex digits (git object id)";
    case F_RUNID:
        return "32 lowercase hex digits";
    case F_UINT:
        return "an integer >= 0";
    case F_NUMNULL:
        return "a number or null";
    case F_BITS:
        return "8 or 16 lowercase hex digits (IEEE-754 bits)";
    case F_BOOL:
        return "true or false";
    case F_OBJ:
        return "an object";
    case F_ARR:
        return "an array";
    case F_TIME:
        return "an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.f]Z)";
    case F_HEX:
        return "an even number of lowercase hex digits";
    }
    return "?";
}

static int type_ok(enum ftype t, const json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    switch (t) {
    case F_STR:
        return s != NULL;
    case F_NAME:
        return s && *s;
    case F_SHA256:
        return s && is_lower_hex(s, 64);
    case F_GITOID:
        return s && (is_lower_hex(s, 40) || is_lower_hex(s, 64));
    case F_RUNID:
        return s && is_lower_hex(s, 32);
    case F_UINT:
        return json_is_integer(v) && json_integer_value(v) >= 0;
    case F_NUMNULL:
        return json_is_number(v) || json_is_null(v);
    case F_BITS:
        return s && (is_lower_hex(s, 8) || is_lower_hex(s, 16));
    case F_BOOL:
        return json_is_boolean(v);
    case F_OBJ:
        return json_is_object(v);
    case F_ARR:
        return json_is_array(v);
    case F_TIME:
        return s && is_utc_time(s);
    case F_HEX:
        return s && *s && strlen(s) % 2 == 0 && is_lower_hex(s, strlen(s));
    }
    return 0;
}

/* A float stored as a number and as its bits must agree ([LOG-14]). */
static int check_float(const json_t *rec, const char *name, const char *bits_name, uint64_t index,
                       char *err, size_t errsz)
{
    const json_t *num = json_object_get(rec, name);
    const json_t *bits = json_object_get(rec, bits_name);
    if (!num && !bits) return 0;
    if (!num || !bits)
        return attest_text_fail(
            err, errsz, ATTEST_EFORMAT, "record %llu: field \"%s\" needs \"%s\" beside it",
            (unsigned long long)index, num ? name : bits_name, num ? bits_name : name);
    const char *hex = json_string_value(bits);
    double exact;
    attest_record_bits(hex, &exact);
    if (!isfinite(exact)) {
        if (!json_is_null(num))
            return attest_text_fail(
                err, errsz, ATTEST_EFORMAT, "record %llu: field \"%s\" must be null: \"%s\" is %s",
                (unsigned long long)index, name, bits_name, isnan(exact) ? "NaN" : "infinite");
        return 0;
    }
    if (json_is_null(num))
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu: field \"%s\" is null but \"%s\" is finite",
                                (unsigned long long)index, name, bits_name);
    double v = json_number_value(num);
    int same = strlen(hex) == 8 ? (float)v == (float)exact : v == exact;
    if (!same)
        return attest_text_fail(
            err, errsz, ATTEST_EFORMAT,
            "record %llu: field \"%s\" (%.17g) does not equal \"%s\" (%s = %.17g)",
            (unsigned long long)index, name, v, bits_name, hex, exact);
    return 0;
}

static int extra_code(const json_t *rec, uint64_t index, char *err, size_t errsz)
{
    const json_t *remotes = json_object_get(rec, "remotes");
    size_t i;
    const json_t *r;
    json_array_foreach(remotes, i, r)
    {
        const json_t *name = json_object_get(r, "name"), *url = json_object_get(r, "url");
        if (!json_is_object(r) || json_object_size(r) != 2 || !json_is_string(name) ||
            !json_is_string(url))
            return attest_text_fail(
                err, errsz, ATTEST_EFORMAT,
                "record %llu: field \"remotes\"[%zu]: expected {\"name\": string, \"url\": string}",
                (unsigned long long)index, i);
    }
    if (json_is_true(json_object_get(rec, "dirty")) && !json_object_get(rec, "diff_sha256"))
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu: a dirty \"code\" record needs \"diff_sha256\"",
                                (unsigned long long)index);
    return 0;
}

static const char *const layouts[] = {"bytes", "tokens-u16le", "tokens-u32le", "jsonl", NULL};

static int extra_shard(const json_t *rec, uint64_t index, char *err, size_t errsz)
{
    const char *layout = json_string_value(json_object_get(rec, "layout"));
    int known = 0;
    for (int i = 0; layouts[i]; i++)
        known |= strcmp(layout, layouts[i]) == 0;
    if (!known)
        return attest_text_fail(
            err, errsz, ATTEST_EFORMAT,
            "record %llu: field \"layout\": unknown layout \"%s\" (bytes, tokens-u16le, "
            "tokens-u32le, jsonl)",
            (unsigned long long)index, layout);
    const json_t *comp = json_object_get(rec, "compression");
    int zstd = comp != NULL;
    if (comp && strcmp(json_string_value(comp), "zstd") != 0)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu: field \"compression\": unknown \"%s\" (zstd)",
                                (unsigned long long)index, json_string_value(comp));
    if (zstd != (json_object_get(rec, "content_sha256") != NULL) ||
        zstd != (json_object_get(rec, "content_size") != NULL))
        return attest_text_fail(
            err, errsz, ATTEST_EFORMAT,
            "record %llu: \"content_sha256\" and \"content_size\" go with \"compression\", "
            "and only with it",
            (unsigned long long)index);
    return 0;
}

static int extra_step(const json_t *rec, uint64_t index, char *err, size_t errsz)
{
    const json_t *batch = json_object_get(rec, "batch");
    size_t i;
    const json_t *ref;
    json_array_foreach(batch, i, ref)
    {
        int ok = json_is_array(ref) && json_array_size(ref) == 3;
        for (size_t k = 0; ok && k < 3; k++)
            ok = type_ok(F_UINT, json_array_get(ref, k));
        if (!ok || json_integer_value(json_array_get(ref, 2)) == 0)
            return attest_text_fail(
                err, errsz, ATTEST_EFORMAT,
                "record %llu: field \"batch\"[%zu]: expected [shard id, first sample, "
                "count >= 1]",
                (unsigned long long)index, i);
    }
    int rc = check_float(rec, "lr", "lr_bits", index, err, errsz);
    if (!rc) rc = check_float(rec, "loss", "loss_bits", index, err, errsz);
    if (!rc) rc = check_float(rec, "grad_norm", "grad_norm_bits", index, err, errsz);
    return rc;
}

static int extra_checkpoint(const json_t *rec, uint64_t index, char *err, size_t errsz)
{
    const json_t *tensors = json_object_get(rec, "tensors");
    size_t i;
    const json_t *t;
    json_array_foreach(tensors, i, t)
    {
        const json_t *shape = json_object_get(t, "shape");
        int ok = json_is_object(t) && json_object_size(t) == 4 &&
                 type_ok(F_NAME, json_object_get(t, "name")) &&
                 type_ok(F_NAME, json_object_get(t, "dtype")) && json_is_array(shape) &&
                 type_ok(F_SHA256, json_object_get(t, "sha256"));
        for (size_t k = 0; ok && k < json_array_size(shape); k++)
            ok = type_ok(F_UINT, json_array_get(shape, k));
        if (!ok)
            return attest_text_fail(
                err, errsz, ATTEST_EFORMAT,
                "record %llu: field \"tensors\"[%zu]: expected {\"name\", \"dtype\", "
                "\"shape\": [integers], \"sha256\"}",
                (unsigned long long)index, i);
    }
    return 0;
}

static const struct field tpm_fields[] = {{"type", F_NAME, 1},
                                          {"ak_public", F_HEX, 1},
                                          {"ak_name", F_HEX, 1},
                                          {"extend_index", F_UINT, 1},
                                          {"extend_name", F_HEX, 1},
                                          {"counter_index", F_UINT, 1},
                                          {"counter_name", F_HEX, 1},
                                          {"ek_certificate", F_HEX, 0},
                                          {"enrollment", F_NAME, 0},
                                          TIME_FIELD,
                                          END_FIELDS};

/* A seal's TPM evidence: {"extend": {"attest", "signature"}, "counter": {...}}, all hex. */
static int extra_seal(const json_t *rec, uint64_t index, char *err, size_t errsz)
{
    const json_t *tpm = json_object_get(rec, "tpm");
    static const char *const parts[] = {"extend", "counter"};
    if (!tpm) return 0;
    int ok = json_object_size(tpm) == 2;
    for (int i = 0; ok && i < 2; i++) {
        const json_t *c = json_object_get(tpm, parts[i]);
        ok = json_is_object(c) && json_object_size(c) == 2 &&
             type_ok(F_HEX, json_object_get(c, "attest")) &&
             type_ok(F_HEX, json_object_get(c, "signature"));
    }
    if (!ok)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu (seal): field \"tpm\": expected {\"extend\": "
                                "{\"attest\", \"signature\"}, \"counter\": {...}} in hex",
                                (unsigned long long)index);
    return 0;
}

static const struct rtype rtypes[] = {
    {"run", run_fields, NULL},         {"code", code_fields, extra_code},
    {"init", init_fields, NULL},       {"shard", shard_fields, extra_shard},
    {"step", step_fields, extra_step}, {"checkpoint", checkpoint_fields, extra_checkpoint},
    {"seal", seal_fields, extra_seal}, {"end", end_fields, NULL},
    {"note", note_fields, NULL},       {"tpm", tpm_fields, NULL},
};

static const struct field *find_field(const struct field *fields, const char *name)
{
    for (; fields->name; fields++)
        if (strcmp(fields->name, name) == 0) return fields;
    return NULL;
}

static int check_schema(const json_t *rec, uint64_t index, char *err, size_t errsz)
{
    unsigned long long ix = (unsigned long long)index;
    const json_t *type = json_object_get(rec, "type");
    if (!type)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "record %llu: missing field \"type\"",
                                ix);
    if (!json_is_string(type))
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu: field \"type\": expected a string, got %s", ix,
                                json_kind(type));
    const struct rtype *rt = NULL;
    for (size_t i = 0; i < sizeof rtypes / sizeof rtypes[0]; i++)
        if (strcmp(rtypes[i].name, json_string_value(type)) == 0) rt = &rtypes[i];
    if (!rt)
        return attest_text_fail(
            err, errsz, ATTEST_EFORMAT,
            "record %llu: unknown type \"%s\" (run, code, init, shard, step, checkpoint, "
            "seal, end, note)",
            ix, json_string_value(type));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)rec, key, v)
    {
        const struct field *f = find_field(rt->fields, key);
        if (!f)
            return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                    "record %llu (%s): unknown field \"%s\"", ix, rt->name, key);
        if (!type_ok(f->type, v))
            return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                    "record %llu (%s): field \"%s\": expected %s, got %s", ix,
                                    rt->name, key, ftype_want(f->type), json_kind(v));
    }
    for (const struct field *f = rt->fields; f->name; f++)
        if (f->required && !json_object_get(rec, f->name))
            return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                    "record %llu (%s): missing field \"%s\"", ix, rt->name,
                                    f->name);
    return rt->extra ? rt->extra(rec, index, err, errsz) : 0;
}

int attest_record_parse(json_t **out, const void *data, size_t len, uint64_t index, char *err,
                        size_t errsz)
{
    unsigned long long ix = (unsigned long long)index;
    *out = NULL;
    if (len == 0) return attest_text_fail(err, errsz, ATTEST_EFORMAT, "record %llu: empty", ix);
    if (len > ATTEST_RECORD_MAX)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu: %zu bytes, more than the limit of %u", ix, len,
                                ATTEST_RECORD_MAX);
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] == 0x7f)
            return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                    "record %llu: control byte 0x%02x at offset %zu", ix, p[i], i);
    if (p[0] != '{' || p[len - 1] != '}')
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu: must begin with '{' and end with '}' ([LOG-6])", ix);
    json_error_t je;
    json_t *rec = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!rec)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu: invalid JSON at byte %d: %s", ix, je.position,
                                je.text);
    if (!json_is_object(rec)) {
        json_decref(rec);
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "record %llu: expected a JSON object",
                                ix);
    }
    int rc = check_schema(rec, index, err, errsz);
    if (rc) {
        json_decref(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

const char *attest_record_type(const json_t *rec)
{
    return json_string_value(json_object_get(rec, "type"));
}
