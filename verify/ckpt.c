/*
 * ckpt.c - reads a checkpoint file whole and checks it against its
 * `checkpoint` record, then serves its tensors and the norms the replay
 * report needs. It does not decide what a difference means (replay.c does).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/digest.h"
#include "attest/error.h"
#include "format/io.h"
#include "format/text.h"
#include "verify/ckpt.h"

struct vckpt {
    char *path;
    uint8_t *buf;
    uint64_t size;
    attest_safetensors *st;
};

static void hex_of(const uint8_t *data, uint64_t len, char out[65])
{
    uint8_t d[32];
    if (attest_sha256(data, (size_t)len, d) != 0) memset(d, 0, sizeof d);
    attest_sha256_hex(d, out);
}

/* The tensor list of the record against the file: same names, dtypes, shapes, digests. */
static int check_tensors(vckpt *c, const json_t *rec, uint64_t index, char *err, size_t errsz)
{
    const json_t *list = json_object_get(rec, "tensors");
    size_t i;
    const json_t *t;
    if (json_array_size(list) != attest_safetensors_count(c->st))
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "%s: holds %zu tensors, record %llu lists %zu", c->path,
                                attest_safetensors_count(c->st), (unsigned long long)index,
                                json_array_size(list));
    json_array_foreach(list, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        const uint8_t *data;
        const attest_tensor_info *info = vckpt_find(c, name, &data);
        if (!info)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "%s: tensor %s of record %llu is missing", c->path, name,
                                    (unsigned long long)index);
        const json_t *shape = json_object_get(t, "shape");
        int same = strcmp(info->dtype, json_string_value(json_object_get(t, "dtype"))) == 0 &&
                   json_array_size(shape) == info->rank;
        for (size_t k = 0; same && k < info->rank; k++)
            same = (uint64_t)json_integer_value(json_array_get(shape, k)) == info->shape[k];
        if (!same)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "%s: tensor %s has another dtype or shape than record %llu "
                                    "says",
                                    c->path, name, (unsigned long long)index);
        char hex[65];
        hex_of(data, info->end - info->begin, hex);
        if (strcmp(hex, json_string_value(json_object_get(t, "sha256"))) != 0)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "%s: tensor %s was changed after it was recorded (its "
                                    "SHA-256 is not the one record %llu holds)",
                                    c->path, name, (unsigned long long)index);
    }
    return 0;
}

int vckpt_load(vckpt **out, const char *path, const json_t *rec, uint64_t index, char *err,
               size_t errsz)
{
    *out = NULL;
    vckpt *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return attest_text_fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    }
    int rc = attest_io_read_file(path, &c->buf, &c->size, err, errsz);
    if (rc) goto fail;
    if (rec) {
        uint64_t want = (uint64_t)json_integer_value(json_object_get(rec, "size"));
        char hex[65];
        if (c->size != want) {
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "%s: %llu bytes, record %llu says %llu: not the recorded file",
                                  path, (unsigned long long)c->size, (unsigned long long)index,
                                  (unsigned long long)want);
            goto fail;
        }
        hex_of(c->buf, c->size, hex);
        if (strcmp(hex, json_string_value(json_object_get(rec, "sha256"))) != 0) {
            // Name the tensor that changed when the file still parses.
            char why[512] = "";
            if (attest_safetensors_parse(&c->st, c->buf, c->size, c->size, NULL, why,
                                         sizeof why) == 0 &&
                check_tensors(c, rec, index, err, errsz) != 0) {
                rc = ATTEST_EVERIFY;
                goto fail;
            }
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "%s: its SHA-256 is not the one record %llu holds: the file "
                                  "was changed after it was recorded%s%s",
                                  path, (unsigned long long)index, why[0] ? " (" : "",
                                  why[0] ? "and is no longer safetensors)" : "");
            goto fail;
        }
    }
    char why[512];
    if (!c->st && attest_safetensors_parse(&c->st, c->buf, c->size, c->size, NULL, why,
                                           sizeof why) != 0) {
        rc = attest_text_fail(err, errsz, rec ? ATTEST_EVERIFY : ATTEST_EFORMAT,
                              "%s: not a safetensors file: %s", path, why);
        goto fail;
    }
    if (rec && (rc = check_tensors(c, rec, index, err, errsz)) != 0) goto fail;
    *out = c;
    return 0;
fail:
    vckpt_free(c);
    return rc;
}

void vckpt_free(vckpt *c)
{
    if (!c) return;
    attest_safetensors_free(c->st);
    free(c->buf);
    free(c->path);
    free(c);
}

const char *vckpt_path(const vckpt *c)
{
    return c->path;
}

size_t vckpt_count(const vckpt *c)
{
    return attest_safetensors_count(c->st);
}

const attest_tensor_info *vckpt_tensor(const vckpt *c, size_t i, const uint8_t **data)
{
    const attest_tensor_info *t = attest_safetensors_tensor(c->st, i);
    if (t && data) *data = c->buf + attest_safetensors_data_offset(c->st) + t->begin;
    return t;
}

const attest_tensor_info *vckpt_find(const vckpt *c, const char *name, const uint8_t **data)
{
    for (size_t i = 0; name && i < vckpt_count(c); i++) {
        const attest_tensor_info *t = vckpt_tensor(c, i, data);
        if (strcmp(t->name, name) == 0) return t;
    }
    return NULL;
}

int vckpt_is_float(const char *dtype)
{
    return strcmp(dtype, "F64") == 0 || strcmp(dtype, "F32") == 0 || strcmp(dtype, "F16") == 0 ||
           strcmp(dtype, "BF16") == 0;
}

static double half_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return h & 0x8000 ? -v : v;
}

double vckpt_value(const char *dtype, const uint8_t *data, uint64_t i)
{
    if (strcmp(dtype, "F64") == 0) {
        double d;
        memcpy(&d, data + 8 * i, 8);
        return d;
    }
    if (strcmp(dtype, "F32") == 0) {
        float f;
        memcpy(&f, data + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, data + 2 * i, 2);
    if (strcmp(dtype, "F16") == 0) return half_value(h);
    uint32_t bits = (uint32_t)h << 16; // BF16: the top half of a binary32
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint64_t vckpt_numel(const attest_tensor_info *t)
{
    uint64_t n = 1;
    for (size_t k = 0; k < t->rank; k++) n *= t->shape[k];
    return n;
}

int vckpt_same_layout(const attest_tensor_info *a, const attest_tensor_info *b)
{
    if (strcmp(a->dtype, b->dtype) != 0 || a->rank != b->rank) return 0;
    for (size_t k = 0; k < a->rank; k++)
        if (a->shape[k] != b->shape[k]) return 0;
    return 1;
}

int vckpt_is_weight(const attest_tensor_info *t, const char *prefix)
{
    return vckpt_is_float(t->dtype) && strncmp(t->name, prefix, strlen(prefix)) == 0 &&
           strncmp(t->name, "adam.", 5) != 0 && strncmp(t->name, "optim.", 6) != 0;
}

double vckpt_rel_update(const vckpt *a, const vckpt *b, const char *prefix)
{
    double num = 0, den = 0;
    int any = 0;
    for (size_t i = 0; i < vckpt_count(a); i++) {
        const uint8_t *x = NULL, *y = NULL;
        const attest_tensor_info *ta = vckpt_tensor(a, i, &x);
        if (!vckpt_is_weight(ta, prefix)) continue;
        const attest_tensor_info *tb = vckpt_find(b, ta->name, &y);
        if (!tb || !vckpt_same_layout(ta, tb)) continue;
        any = 1;
        for (uint64_t k = 0, n = vckpt_numel(ta); k < n; k++) {
            double u = vckpt_value(ta->dtype, x, k), v = vckpt_value(ta->dtype, y, k);
            num += (v - u) * (v - u);
            den += u * u;
        }
    }
    if (!any) return -1;
    return den > 0 ? sqrt(num) / sqrt(den) : (num > 0 ? INFINITY : 0);
}

double vckpt_rel_error(const attest_tensor_info *t, const uint8_t *x, const uint8_t *y)
{
    double num = 0, den = 0;
    for (uint64_t k = 0, n = vckpt_numel(t); k < n; k++) {
        double u = vckpt_value(t->dtype, x, k), v = vckpt_value(t->dtype, y, k);
        if (u != u || v != v) {
            if (!(u != u && v != v)) return INFINITY; // NaN on one side only
            continue;
        }
        if (v - v == 0) den += v * v; // finite
        if (u == v) continue;         // also equal infinities
        num += (u - v) * (u - v);
    }
    if (num == 0) return 0;
    return sqrt(num) / (den > 1e-300 ? sqrt(den) : 1e-150);
}
