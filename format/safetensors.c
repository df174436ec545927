/*
 * safetensors.c - a strict reader and a writer of safetensors files
 * (format/SAFETENSORS.md). The reader parses and checks the header only: it
 * never reads, maps or hashes tensor data. The writer builds the header with
 * jansson and replaces the target file atomically. Neither converts dtypes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "attest/error.h"
#include "attest/safetensors.h"

#define META_KEY "__metadata__"
#define QUOTED_MAX 96                                     /* name bytes kept in a message */
#define SHAPE_TEXT (ATTEST_SAFETENSORS_MAX_RANK * 22 + 4) /* "[" 16 x "u64, " "]" */

struct attest_safetensors {
    attest_tensor_info *t; /* sorted by (begin, end, name) */
    size_t n;
    char **meta; /* key, value, key, value, ... */
    size_t nmeta;
    uint64_t data_offset;
};

static const struct dtype {
    const char *name;
    unsigned bits;
} dtypes[] = {
    {"BOOL", 8},    {"U8", 8},          {"I8", 8},          {"F8_E5M2", 8}, {"F8_E4M3", 8},
    {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},
    {"F16", 16},    {"BF16", 16},       {"I32", 32},        {"U32", 32},    {"F32", 32},
    {"F64", 64},    {"I64", 64},        {"U64", 64},        {"C64", 64},    {"F4", 4},
    {"F6_E2M3", 6}, {"F6_E3M2", 6},
};

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errsz, int rc,
                                                      const char *fmt, ...)
{
    if (err && errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static const struct dtype *dtype_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0) return &dtypes[i];
    return NULL;
}

unsigned attest_safetensors_dtype_bits(const char *dtype)
{
    const struct dtype *d = dtype_find(dtype);
    return d ? d->bits : 0;
}

/* A name for a message: in quotes, control bytes escaped, cut at a character boundary. */
static const char *quoted(char *buf, size_t bufsz, const char *s)
{
    size_t o = 0, cut = 1;

    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) != 0x80) cut = o;
        if (o + 8 >= bufsz || o > QUOTED_MAX) {
            memcpy(buf + cut, "...\"", 5);
            return buf;
        }
        if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(buf + o, bufsz - o, "\\x%02x", *p);
        } else {
            buf[o++] = (char)*p;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static const char *shape_text(char *buf, size_t bufsz, const uint64_t *shape, size_t rank)
{
    size_t o = (size_t)snprintf(buf, bufsz, "[");
    for (size_t i = 0; i < rank && o < bufsz; i++)
        o += (size_t)snprintf(buf + o, bufsz - o, "%s%llu", i ? ", " : "",
                              (unsigned long long)shape[i]);
    if (o < bufsz) snprintf(buf + o, bufsz - o, "]");
    return buf;
}

/* [ST-10] for tensor q: `bytes` (said by what) against shape x dtype, product of the shape
 * first, as the safetensors project (so [2^62, 0] of F32 is 0 bytes, not an overflow). */
static int check_size(const char *q, const uint64_t *shape, size_t rank, const struct dtype *d,
                      uint64_t bytes, const char *what, int rc, char *err, size_t errsz)
{
    char sh[SHAPE_TEXT];
    uint64_t v = 1;
    int over = 0;

    for (size_t i = 0; i < rank; i++) {
        over |= shape[i] != 0 && v > UINT64_MAX / shape[i];
        v *= shape[i];
    }
    over |= v > UINT64_MAX / d->bits;
    v *= d->bits;
    shape_text(sh, sizeof sh, shape, rank);
    if (over)
        return fail(err, errsz, rc, "tensor %s: shape %s of %s overflows 64 bits", q, sh, d->name);
    if (v % 8)
        return fail(err, errsz, rc,
                    "tensor %s: shape %s of %s holds %llu bits, not a whole number of bytes", q, sh,
                    d->name, (unsigned long long)v);
    if (bytes != v / 8)
        return fail(err, errsz, rc, "tensor %s: %s %llu bytes, but shape %s of %s needs %llu", q,
                    what, (unsigned long long)bytes, sh, d->name, (unsigned long long)(v / 8));
    return 0;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A JSON integer 0..2^63-1 (floats like 1.0 are not integers). */
static int json_uint(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int parse_metadata(attest_safetensors *st, json_t *m, char *err, size_t errsz)
{
    const char *key;
    json_t *v;
    char q[128];

    if (!json_is_object(m))
        return fail(err, errsz, ATTEST_EFORMAT, "header: \"" META_KEY "\" is not a JSON object");
    st->meta = calloc(2 * json_object_size(m) + 1, sizeof *st->meta);
    if (!st->meta) return fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    json_object_foreach(m, key, v)
    {
        if (!json_is_string(v))
            return fail(err, errsz, ATTEST_EFORMAT,
                        "header: \"" META_KEY "\" key %s: value is not a string",
                        quoted(q, sizeof q, key));
        st->meta[2 * st->nmeta] = strdup(key);
        st->meta[2 * st->nmeta + 1] = strdup(json_string_value(v));
        st->nmeta++;
        if (!st->meta[2 * st->nmeta - 2] || !st->meta[2 * st->nmeta - 1])
            return fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_entry(attest_tensor_info *t, const char *name, json_t *e, char *err, size_t errsz)
{
    const struct dtype *d;
    const char *field;
    json_t *v, *dt, *shape, *offs;
    char q[128];

    quoted(q, sizeof q, name);
    if (!json_is_object(e))
        return fail(err, errsz, ATTEST_EFORMAT, "tensor %s: entry is not a JSON object", q);
    json_object_foreach(e, field, v)
    {
        if (strcmp(field, "dtype") && strcmp(field, "shape") && strcmp(field, "data_offsets")) {
            char fq[128];
            return fail(err, errsz, ATTEST_EFORMAT, "tensor %s: unknown field %s", q,
                        quoted(fq, sizeof fq, field));
        }
    }
    dt = json_object_get(e, "dtype");
    shape = json_object_get(e, "shape");
    offs = json_object_get(e, "data_offsets");
    if (!dt || !shape || !offs)
        return fail(err, errsz, ATTEST_EFORMAT, "tensor %s: missing \"%s\"", q,
                    !dt      ? "dtype"
                    : !shape ? "shape"
                             : "data_offsets");
    if (!json_is_string(dt))
        return fail(err, errsz, ATTEST_EFORMAT, "tensor %s: dtype is not a string", q);
    d = dtype_find(json_string_value(dt));
    if (!d) {
        char dq[128];
        return fail(err, errsz, ATTEST_EFORMAT, "tensor %s: unknown dtype %s", q,
                    quoted(dq, sizeof dq, json_string_value(dt)));
    }
    t->dtype = d->name;
    if (!json_is_array(shape))
        return fail(err, errsz, ATTEST_EFORMAT, "tensor %s: shape is not an array", q);
    t->rank = json_array_size(shape);
    if (t->rank > ATTEST_SAFETENSORS_MAX_RANK)
        return fail(err, errsz, ATTEST_EFORMAT, "tensor %s: rank %zu exceeds the maximum of %d", q,
                    t->rank, ATTEST_SAFETENSORS_MAX_RANK);
    for (size_t i = 0; i < t->rank; i++)
        if (json_uint(json_array_get(shape, i), &t->shape[i]))
            return fail(err, errsz, ATTEST_EFORMAT, "tensor %s: shape[%zu] is not an integer >= 0",
                        q, i);
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return fail(err, errsz, ATTEST_EFORMAT,
                    "tensor %s: data_offsets is not an array of two integers", q);
    for (size_t i = 0; i < 2; i++)
        if (json_uint(json_array_get(offs, i), i ? &t->end : &t->begin))
            return fail(err, errsz, ATTEST_EFORMAT,
                        "tensor %s: data_offsets[%zu] is not an integer >= 0", q, i);
    t->name = strdup(name);
    if (!t->name) return fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    return 0;
}

static int by_offsets(const void *pa, const void *pb)
{
    const attest_tensor_info *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* [ST-9] [ST-10] [ST-11] on the sorted tensors. */
static int check_layout(const attest_safetensors *st, uint64_t file_size, char *err, size_t errsz)
{
    uint64_t pos = 0;
    char q[128], pq[128], prev[160], what[64];
    int rc;

    for (size_t i = 0; i < st->n; i++) {
        const attest_tensor_info *t = &st->t[i];
        unsigned long long b = t->begin, e = t->end;

        quoted(q, sizeof q, t->name);
        if (t->end < t->begin)
            return fail(err, errsz, ATTEST_EFORMAT,
                        "tensor %s: data_offsets [%llu, %llu] end before they begin", q, b, e);
        if (t->begin != pos) {
            if (i)
                snprintf(prev, sizeof prev, "tensor %s ends",
                         quoted(pq, sizeof pq, st->t[i - 1].name));
            return fail(err, errsz, ATTEST_EFORMAT,
                        "tensor %s: data_offsets [%llu, %llu] begin at %llu, but %s at %llu (%s)",
                        q, b, e, b, i ? prev : "the data buffer starts", (unsigned long long)pos,
                        t->begin < pos ? "overlap" : "hole");
        }
        snprintf(what, sizeof what, "data_offsets [%llu, %llu] hold", b, e);
        rc = check_size(q, t->shape, t->rank, dtype_find(t->dtype), e - b, what, ATTEST_EFORMAT,
                        err, errsz);
        if (rc) return rc;
        pos = t->end;
    }
    if (st->data_offset + pos != file_size)
        return fail(err, errsz, ATTEST_EFORMAT,
                    "tensors end at data offset %llu (file offset %llu), but the file is %llu "
                    "bytes",
                    (unsigned long long)pos, (unsigned long long)(st->data_offset + pos),
                    (unsigned long long)file_size);
    return 0;
}

/* [ST-3] .. [ST-8]: the N header bytes at h (file offset 8). */
static int parse_header(attest_safetensors *st, const uint8_t *h, size_t n, char *err, size_t errsz)
{
    json_error_t je;
    json_t *root, *v;
    const char *key;
    size_t m = n;
    int rc = 0;

    if (n == 0 || h[0] != '{')
        return fail(err, errsz, ATTEST_EFORMAT, "header does not begin with '{'%s",
                    n ? "" : ": it is empty");
    while (m > 0 && h[m - 1] == ' ')
        m--;
    root = json_loadb((const char *)h, m, JSON_REJECT_DUPLICATES, &je);
    // jansson leaves the text empty when an allocation fails (and rarely says so by its code).
    if (!root && (json_error_code(&je) == json_error_out_of_memory || je.text[0] == '\0'))
        return fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    if (!root)
        return fail(err, errsz, ATTEST_EFORMAT, "header JSON at file offset %llu: %s",
                    8ull + (unsigned long long)(je.position > 0 ? je.position : 0), je.text);
    // jansson skips any JSON whitespace after the object; only spaces may pad the header.
    if (h[m - 1] != '}') {
        size_t at = m;
        while (h[at - 1] != '}')
            at--;
        while (h[at] == ' ')
            at++;
        rc = fail(err, errsz, ATTEST_EFORMAT,
                  "header: byte 0x%02x at file offset %llu follows the JSON object; only spaces "
                  "(0x20) may pad the header",
                  h[at], 8ull + (unsigned long long)at);
        goto done;
    }
    st->t = calloc(json_object_size(root) + 1, sizeof *st->t);
    if (!st->t) {
        rc = fail(err, errsz, ATTEST_ENOMEM, "out of memory");
        goto done;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, META_KEY) == 0)
            rc = parse_metadata(st, v, err, errsz);
        else if ((rc = parse_entry(&st->t[st->n], key, v, err, errsz)) == 0)
            st->n++;
        if (rc) goto done;
    }
    qsort(st->t, st->n, sizeof *st->t, by_offsets);
done:
    json_decref(root);
    return rc;
}

int attest_safetensors_parse(attest_safetensors **out, const uint8_t *head, size_t len,
                             uint64_t file_size, uint64_t *needed, char *err, size_t errsz)
{
    attest_safetensors *st;
    uint64_t n;
    int rc;

    if (needed) *needed = 0;
    if (err && errsz) err[0] = '\0';
    if (!out || (!head && len)) return fail(err, errsz, ATTEST_EINVAL, "invalid argument");
    *out = NULL;
    // [ST-1] [ST-2], in the order of the safetensors project's checks.
    if (file_size < 8)
        return fail(err, errsz, ATTEST_EFORMAT,
                    "file is %llu bytes, too short for the 8-byte header length",
                    (unsigned long long)file_size);
    if (len < 8) {
        if (needed) *needed = 8;
        return fail(err, errsz, ATTEST_EINVAL, "need the first 8 bytes of the file, got %zu", len);
    }
    n = le64(head);
    if (n > ATTEST_SAFETENSORS_MAX_HEADER)
        return fail(err, errsz, ATTEST_EFORMAT, "header length %llu exceeds the limit of %u bytes",
                    (unsigned long long)n, ATTEST_SAFETENSORS_MAX_HEADER);
    if (8 + n > file_size)
        return fail(err, errsz, ATTEST_EFORMAT,
                    "header length %llu runs past the end of the file (%llu bytes)",
                    (unsigned long long)n, (unsigned long long)file_size);
    if (len < 8 + n) {
        if (needed) *needed = 8 + n;
        return fail(err, errsz, ATTEST_EINVAL, "need the first %llu bytes of the file, got %zu",
                    (unsigned long long)(8 + n), len);
    }
    st = calloc(1, sizeof *st);
    if (!st) return fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    st->data_offset = 8 + n;
    rc = parse_header(st, head + 8, (size_t)n, err, errsz);
    if (!rc) rc = check_layout(st, file_size, err, errsz);
    if (rc) {
        attest_safetensors_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

/* Reads the first n bytes of the file; -1 (errno set) if it has fewer. */
static int read_head(int fd, uint8_t *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO; // the file shrank under us
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

int attest_safetensors_open(attest_safetensors **out, const char *path, char *err, size_t errsz)
{
    uint8_t *buf = NULL, *nb;
    uint64_t need = 8, size;
    struct stat sb;
    size_t k;
    int fd, rc;

    if (err && errsz) err[0] = '\0';
    if (!out || !path) return fail(err, errsz, ATTEST_EINVAL, "invalid argument");
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); // a FIFO must not block us
    if (fd < 0)
        return fail(err, errsz, errno == ENOENT ? ATTEST_ENOTFOUND : ATTEST_EIO, "open %s: %s",
                    path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        rc = fail(err, errsz, ATTEST_EIO, "stat %s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = fail(err, errsz, ATTEST_EIO, "%s: not a regular file", path);
        goto done;
    }
    size = (uint64_t)sb.st_size;
    // The parser asks for 8 bytes, then for 8 + N once N has passed its checks.
    do {
        k = (size_t)(need < size ? need : size);
        if (!(nb = realloc(buf, k ? k : 1))) {
            rc = fail(err, errsz, ATTEST_ENOMEM, "out of memory");
            goto done;
        }
        buf = nb;
        if (read_head(fd, buf, k)) {
            rc = fail(err, errsz, ATTEST_EIO, "read %s: %s", path, strerror(errno));
            goto done;
        }
        rc = attest_safetensors_parse(out, buf, k, size, &need, err, errsz);
    } while (rc == ATTEST_EINVAL && need > k);
done:
    free(buf);
    close(fd);
    return rc;
}

size_t attest_safetensors_count(const attest_safetensors *st)
{
    return st ? st->n : 0;
}

const attest_tensor_info *attest_safetensors_tensor(const attest_safetensors *st, size_t i)
{
    return st && i < st->n ? &st->t[i] : NULL;
}

uint64_t attest_safetensors_data_offset(const attest_safetensors *st)
{
    return st ? st->data_offset : 0;
}

const char *attest_safetensors_metadata(const attest_safetensors *st, const char *key)
{
    if (!st || !key) return NULL;
    for (size_t i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}

void attest_safetensors_free(attest_safetensors *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->n; i++)
        free((char *)st->t[i].name);
    for (size_t i = 0; i < 2 * st->nmeta; i++)
        free(st->meta[i]);
    free(st->meta);
    free(st->t);
    free(st);
}

/* A JSON string: 0, ATTEST_EINVAL (s is not UTF-8) or ATTEST_ENOMEM. */
static int jstring(json_t **out, const char *s)
{
    json_t *probe;

    *out = json_string(s);
    if (*out) return 0;
    // json_string fails on bad UTF-8 and on allocation; the unchecked variant tells them apart.
    probe = json_string_nocheck(s);
    json_decref(probe);
    return probe ? ATTEST_EINVAL : ATTEST_ENOMEM;
}

static int add_metadata(json_t *hdr, const char *const *kv, char *err, size_t errsz)
{
    json_t *m = json_object(), *v;
    char q[128];
    int rc;

    if (json_object_set_new_nocheck(hdr, META_KEY, m))
        return fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    for (size_t i = 0; kv[i]; i += 2) {
        quoted(q, sizeof q, kv[i]);
        if (!kv[i + 1]) return fail(err, errsz, ATTEST_EINVAL, "metadata key %s has no value", q);
        if (json_object_get(m, kv[i]))
            return fail(err, errsz, ATTEST_EINVAL, "metadata key %s appears twice", q);
        if ((rc = jstring(&v, kv[i])) != 0)
            return fail(err, errsz, rc, "metadata key %s is not valid UTF-8", q);
        json_decref(v);
        if ((rc = jstring(&v, kv[i + 1])) != 0)
            return fail(err, errsz, rc, "metadata key %s: value is not valid UTF-8", q);
        if (json_object_set_new_nocheck(m, kv[i], v))
            return fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    }
    return 0;
}

/* Checks tensor i against [ST-7], [ST-8], [ST-10], then appends its entry at offset *off. */
static int add_tensor(json_t *hdr, const attest_tensor_view *t, size_t i, uint64_t *off, char *err,
                      size_t errsz)
{
    const struct dtype *d;
    json_t *e, *shape, *offs, *k;
    char q[128], dq[128];
    int rc, bad = 0;

    if (!t->name) return fail(err, errsz, ATTEST_EINVAL, "tensor %zu: name is NULL", i);
    quoted(q, sizeof q, t->name);
    if (strcmp(t->name, META_KEY) == 0)
        return fail(err, errsz, ATTEST_EINVAL, "tensor %s: the name is reserved for metadata", q);
    if (json_object_get(hdr, t->name))
        return fail(err, errsz, ATTEST_EINVAL, "tensor %s: the name appears twice", q);
    if (!(d = dtype_find(t->dtype)))
        return fail(err, errsz, ATTEST_EINVAL, "tensor %s: unknown dtype %s", q,
                    t->dtype ? quoted(dq, sizeof dq, t->dtype) : "NULL");
    if (t->rank > ATTEST_SAFETENSORS_MAX_RANK)
        return fail(err, errsz, ATTEST_EINVAL, "tensor %s: rank %zu exceeds the maximum of %d", q,
                    t->rank, ATTEST_SAFETENSORS_MAX_RANK);
    if (t->rank && !t->shape) return fail(err, errsz, ATTEST_EINVAL, "tensor %s: shape is NULL", q);
    for (size_t j = 0; j < t->rank; j++)
        if (t->shape[j] > (uint64_t)INT64_MAX)
            return fail(err, errsz, ATTEST_EINVAL, "tensor %s: shape[%zu] exceeds 2^63-1", q, j);
    if ((rc = check_size(q, t->shape, t->rank, d, t->size, "size is", ATTEST_EINVAL, err, errsz)))
        return rc;
    if (t->size && !t->data) return fail(err, errsz, ATTEST_EINVAL, "tensor %s: data is NULL", q);
    if (t->size > (uint64_t)INT64_MAX - *off)
        return fail(err, errsz, ATTEST_EINVAL,
                    "tensor %s: the data buffer would exceed 2^63-1 bytes", q);
    if ((rc = jstring(&k, t->name)) != 0)
        return fail(err, errsz, rc, "tensor %s: the name is not valid UTF-8", q);
    json_decref(k);

    e = json_object();
    shape = json_array();
    offs = json_array();
    for (size_t j = 0; shape && j < t->rank; j++)
        bad |= json_array_append_new(shape, json_integer((json_int_t)t->shape[j]));
    bad |= json_array_append_new(offs, json_integer((json_int_t)*off));
    bad |= json_array_append_new(offs, json_integer((json_int_t)(*off + t->size)));
    // The set calls take over shape and offs even when they fail.
    bad |= json_object_set_new_nocheck(e, "dtype", json_string_nocheck(d->name));
    bad |= json_object_set_new_nocheck(e, "shape", shape);
    bad |= json_object_set_new_nocheck(e, "data_offsets", offs);
    if (bad || json_object_set_new_nocheck(hdr, t->name, e)) {
        if (bad) json_decref(e);
        return fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    }
    *off += t->size;
    return 0;
}

static int write_all(int fd, const void *buf, uint64_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n > (1u << 30) ? (size_t)1 << 30 : (size_t)n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        p += w;
        n -= (uint64_t)w;
    }
    return 0;
}

/* fsync of a directory, so that a rename in it is durable. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc, e;

    if (fd < 0) return -1;
    rc = fsync(fd);
    e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* [ST-16] N, the header text and its padding, then the data, to "<path>.tmp.<pid>"; fsync;
 * rename over path; fsync the directory. */
static int write_file(const char *path, const char *text, size_t len, size_t pad,
                      const attest_tensor_view *tensors, size_t n, char *err, size_t errsz)
{
    size_t plen = strlen(path);
    const char *slash = strrchr(path, '/');
    char *tmp = malloc(2 * plen + 40), *dir;
    uint8_t le[8];
    int fd = -1, rc = 0, renamed = 0;

    if (!tmp) return fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    // Named now, so that nothing is left to allocate once the file is renamed.
    dir = tmp + plen + 32;
    snprintf(dir, plen + 8, "%.*s", slash ? (int)(slash == path ? 1 : slash - path) : 1,
             slash ? path : ".");
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = fail(err, errsz, ATTEST_EIO, "create %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)((uint64_t)(len + pad) >> (8 * i));
    if (write_all(fd, le, 8) || write_all(fd, text, len) || write_all(fd, "        ", pad)) goto io;
    for (size_t i = 0; i < n; i++)
        if (tensors[i].size && write_all(fd, tensors[i].data, tensors[i].size)) goto io;
    if (fsync(fd)) goto io;
    rc = close(fd);
    fd = -1;
    if (rc) goto io;
    if (rename(tmp, path)) {
        rc = fail(err, errsz, ATTEST_EIO, "rename %s to %s: %s", tmp, path, strerror(errno));
        goto done;
    }
    renamed = 1;
    if (sync_dir(dir)) rc = fail(err, errsz, ATTEST_EIO, "fsync %s: %s", dir, strerror(errno));
    goto done;
io:
    rc = fail(err, errsz, ATTEST_EIO, "write %s: %s", tmp, strerror(errno));
done:
    if (fd >= 0) close(fd);
    if (!renamed) unlink(tmp);
    free(tmp);
    return rc;
}

int attest_safetensors_write(const char *path, const attest_tensor_view *tensors, size_t n,
                             const char *const *metadata, char *err, size_t errsz)
{
    json_t *hdr = NULL;
    char *text = NULL;
    uint64_t off = 0;
    size_t len, pad;
    int rc = 0;

    if (err && errsz) err[0] = '\0';
    if (!path || (n && !tensors)) return fail(err, errsz, ATTEST_EINVAL, "invalid argument");
    if (!(hdr = json_object())) return fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    // [ST-13]: "__metadata__" first, then the tensors in the order given.
    if (metadata && (rc = add_metadata(hdr, metadata, err, errsz)) != 0) goto done;
    for (size_t i = 0; i < n; i++)
        if ((rc = add_tensor(hdr, &tensors[i], i, &off, err, errsz)) != 0) goto done;
    if (!(text = json_dumps(hdr, JSON_COMPACT))) {
        rc = fail(err, errsz, ATTEST_ENOMEM, "out of memory");
        goto done;
    }
    len = strlen(text);
    pad = (8 - len % 8) % 8; // [ST-14]
    if (len + pad > ATTEST_SAFETENSORS_MAX_HEADER)
        rc = fail(err, errsz, ATTEST_EINVAL, "the header would be %zu bytes, over the limit of %u",
                  len + pad, ATTEST_SAFETENSORS_MAX_HEADER);
    else
        rc = write_file(path, text, len, pad, tensors, n, err, errsz);
done:
    free(text);
    json_decref(hdr);
    return rc;
}
