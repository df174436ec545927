/*
 * data.c - the verifier's copy of the run's data: each shard file read
 * whole, checked against its record, decompressed when it is a zstd
 * stream, and kept in memory so that batches can be rebuilt from the
 * references of step records.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "attest/digest.h"
#include "attest/error.h"
#include "format/io.h"
#include "format/text.h"
#include "verify/data.h"

typedef struct shard {
    uint64_t id, samples;
    unsigned width;   /* bytes per sample; 0 for jsonl */
    uint64_t *lines;  /* jsonl: offset of each line, plus the content size */
    uint8_t *content; /* decompressed bytes */
    uint64_t len;
    char *path;
} shard;

struct vdata {
    shard *s;
    size_t n, cap;
};

int vdata_new(vdata **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : ATTEST_ENOMEM;
}

void vdata_free(vdata *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->s[i].content);
        free(d->s[i].lines);
        free(d->s[i].path);
    }
    free(d->s);
    free(d);
}

static int digest_is(const uint8_t *data, uint64_t len, const char *want)
{
    uint8_t d[32];
    char hex[65];
    if (attest_sha256(data, (size_t)len, d) != 0) return 0;
    attest_sha256_hex(d, hex);
    return want && strcmp(hex, want) == 0;
}

static int unzstd(shard *s, const uint8_t *in, uint64_t in_len, uint64_t want, char *err,
                  size_t errsz)
{
    if (!(s->content = malloc(want ? want : 1)))
        return attest_text_fail(err, errsz, ATTEST_ENOMEM, "%s: out of memory", s->path);
    ZSTD_DStream *z = ZSTD_createDStream();
    if (!z) return attest_text_fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    ZSTD_inBuffer ib = {in, (size_t)in_len, 0};
    ZSTD_outBuffer ob = {s->content, (size_t)want, 0};
    size_t r = 1;
    while (ib.pos < ib.size) {
        r = ZSTD_decompressStream(z, &ob, &ib);
        if (ZSTD_isError(r) || (ob.pos == ob.size && ib.pos < ib.size && r != 0)) break;
    }
    ZSTD_freeDStream(z);
    if (ZSTD_isError(r) || ib.pos < ib.size || r != 0 || ob.pos != want)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "%s: does not decompress to the recorded %llu bytes%s%s", s->path,
                                (unsigned long long)want, ZSTD_isError(r) ? ": " : "",
                                ZSTD_isError(r) ? ZSTD_getErrorName(r) : "");
    s->len = want;
    return 0;
}

int vdata_add(vdata *d, const char *dir, const json_t *rec, uint64_t index, char *err,
              size_t errsz)
{
    const char *name = json_string_value(json_object_get(rec, "name"));
    const char *layout = json_string_value(json_object_get(rec, "layout"));
    unsigned long long ix = (unsigned long long)index;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        shard *ns = realloc(d->s, cap * sizeof *ns);
        if (!ns) return ATTEST_ENOMEM;
        d->s = ns;
        d->cap = cap;
    }
    shard *s = &d->s[d->n];
    memset(s, 0, sizeof *s);
    s->id = (uint64_t)json_integer_value(json_object_get(rec, "id"));
    s->samples = (uint64_t)json_integer_value(json_object_get(rec, "samples"));
    s->width = strcmp(layout, "bytes") == 0          ? 1
               : strcmp(layout, "tokens-u16le") == 0 ? 2
               : strcmp(layout, "tokens-u32le") == 0 ? 4
                                                     : 0;
    if (strchr(name, '/') || strcmp(name, "..") == 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "record %llu (shard %llu): name \"%s\" is not a plain file name",
                                ix, (unsigned long long)s->id, name);
    size_t plen = strlen(dir) + strlen(name) + 2;
    if (!(s->path = malloc(plen))) return ATTEST_ENOMEM;
    snprintf(s->path, plen, "%s/%s", dir, name);
    uint8_t *raw = NULL;
    uint64_t size = 0;
    int rc = attest_io_read_file(s->path, &raw, &size, err, errsz);
    if (rc) goto fail;
    if (size != (uint64_t)json_integer_value(json_object_get(rec, "size"))) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "%s: %llu bytes, record %llu (shard %llu) says %llu: the shard "
                              "changed after it was recorded",
                              s->path, (unsigned long long)size, ix, (unsigned long long)s->id,
                              (unsigned long long)json_integer_value(json_object_get(rec, "size")));
        goto fail;
    }
    if (!digest_is(raw, size, json_string_value(json_object_get(rec, "sha256")))) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "%s: its SHA-256 is not the one record %llu (shard %llu) holds: "
                              "the shard changed after it was recorded",
                              s->path, ix, (unsigned long long)s->id);
        goto fail;
    }
    if (json_object_get(rec, "compression")) {
        uint64_t want = (uint64_t)json_integer_value(json_object_get(rec, "content_size"));
        rc = unzstd(s, raw, size, want, err, errsz);
        free(raw);
        raw = NULL;
        if (rc) goto fail;
        if (!digest_is(s->content, s->len,
                       json_string_value(json_object_get(rec, "content_sha256")))) {
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "%s: the decompressed content's SHA-256 is not the one record "
                                  "%llu holds",
                                  s->path, ix);
            goto fail;
        }
    } else {
        s->content = raw;
        s->len = size;
        raw = NULL;
    }
    if (s->width == 0) { // jsonl: index the lines
        if (!(s->lines = malloc((s->samples + 1) * sizeof *s->lines))) {
            rc = ATTEST_ENOMEM;
            goto fail;
        }
        uint64_t k = 0, at = 0;
        s->lines[k++] = 0;
        for (; at < s->len && k <= s->samples; at++)
            if (s->content[at] == '\n' && at + 1 < s->len) s->lines[k++] = at + 1;
        s->lines[s->samples] = s->len;
    }
    d->n++;
    return 0;
fail:
    free(raw);
    free(s->content);
    free(s->lines);
    free(s->path);
    memset(s, 0, sizeof *s);
    return rc;
}

size_t vdata_count(const vdata *d)
{
    return d->n;
}

static const shard *find(const vdata *d, uint64_t id)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->s[i].id == id) return &d->s[i];
    return NULL;
}

const char *vdata_path(const vdata *d, uint64_t id, uint64_t *samples)
{
    const shard *s = find(d, id);
    if (s && samples) *samples = s->samples;
    return s ? s->path : NULL;
}

int vdata_batch(const vdata *d, const json_t *batch, uint8_t **out, size_t *len, char *err,
                size_t errsz)
{
    size_t i, total = 0;
    const json_t *ref;
    *out = NULL;
    *len = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t at = 0;
        json_array_foreach(batch, i, ref)
        {
            uint64_t id = (uint64_t)json_integer_value(json_array_get(ref, 0));
            uint64_t first = (uint64_t)json_integer_value(json_array_get(ref, 1));
            uint64_t count = (uint64_t)json_integer_value(json_array_get(ref, 2));
            const shard *s = find(d, id);
            if (!s || first > s->samples || count > s->samples - first) {
                free(*out);
                *out = NULL;
                return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                        "batch reference %zu [%llu, %llu, %llu] is outside its "
                                        "shard",
                                        i, (unsigned long long)id, (unsigned long long)first,
                                        (unsigned long long)count);
            }
            uint64_t b = s->width ? first * s->width : s->lines[first];
            uint64_t e = s->width ? (first + count) * s->width : s->lines[first + count];
            if (pass) memcpy(*out + at, s->content + b, (size_t)(e - b));
            at += (size_t)(e - b);
        }
        if (!pass) {
            total = at;
            if (!(*out = malloc(total ? total : 1))) return ATTEST_ENOMEM;
        }
    }
    *len = total;
    return 0;
}
