/*
 * shard.c - hashes a data shard as stored and, for zstd streams, as
 * decompressed (libzstd), and counts its samples by layout. It does not
 * decide which samples a step used: that is the training loop's report.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "attest/error.h"
#include "format/sha256.h"
#include "attest/shard.h"

#define CHUNK (1u << 20)

static const uint8_t zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

struct scan {
    const char *name;
    enum attest_layout layout;
    attest_sha256_ctx raw, content;
    ZSTD_DStream *z;
    uint8_t *out;
    uint64_t size, content_size, lines;
    int started, last_newline, in_frame;
    char *err;
    size_t errsz;
};

const char *attest_layout_name(enum attest_layout layout)
{
    switch (layout) {
    case ATTEST_LAYOUT_BYTES:
        return "bytes";
    case ATTEST_LAYOUT_TOKENS_U16LE:
        return "tokens-u16le";
    case ATTEST_LAYOUT_TOKENS_U32LE:
        return "tokens-u32le";
    case ATTEST_LAYOUT_JSONL:
        return "jsonl";
    }
    return NULL;
}

static int content(struct scan *s, const uint8_t *p, size_t n)
{
    s->content_size += n;
    if (s->layout == ATTEST_LAYOUT_JSONL) {
        for (const uint8_t *q = p; (q = memchr(q, '\n', (size_t)(p + n - q))) != NULL; q++)
            s->lines++;
        if (n) s->last_newline = p[n - 1] == '\n';
    }
    return s->z ? attest_sha256_update(&s->content, p, n) : 0;
}

static int feed(struct scan *s, const uint8_t *p, size_t n)
{
    if (!s->started && n) {
        s->started = 1;
        // A zstd stream is known by its magic number; its content is hashed too.
        if (n >= 4 && memcmp(p, zstd_magic, 4) == 0) {
            s->z = ZSTD_createDStream();
            s->out = malloc(ZSTD_DStreamOutSize());
            if (!s->z || !s->out || attest_sha256_begin(&s->content) != 0) return ATTEST_ENOMEM;
            ZSTD_initDStream(s->z);
        }
    }
    s->size += n;
    int rc = attest_sha256_update(&s->raw, p, n);
    if (rc || !s->z) return rc ? rc : content(s, p, n);
    ZSTD_inBuffer in = {p, n, 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer out = {s->out, ZSTD_DStreamOutSize(), 0};
        size_t r = ZSTD_decompressStream(s->z, &out, &in);
        if (ZSTD_isError(r)) {
            snprintf(s->err, s->errsz, "%s: zstd stream damaged near byte %llu: %s", s->name,
                     (unsigned long long)(s->size - n + in.pos), ZSTD_getErrorName(r));
            return ATTEST_EFORMAT;
        }
        s->in_frame = r != 0;
        if ((rc = content(s, s->out, out.pos)) != 0) return rc;
    }
    return 0;
}

static int finish(struct scan *s, attest_shard_facts *f)
{
    static const unsigned unit[] = {1, 2, 4, 0};
    int rc = 0;
    memset(f, 0, sizeof *f);
    if (s->z && s->in_frame) {
        snprintf(s->err, s->errsz, "%s: the zstd stream is cut short", s->name);
        return ATTEST_EFORMAT;
    }
    f->size = s->size;
    f->zstd = s->z != NULL;
    f->content_size = s->content_size;
    if (s->layout == ATTEST_LAYOUT_JSONL) {
        f->samples = s->lines + (s->content_size && !s->last_newline);
    } else if (s->content_size % unit[s->layout]) {
        snprintf(s->err, s->errsz, "%s: %llu bytes is not a whole number of %s samples", s->name,
                 (unsigned long long)s->content_size, attest_layout_name(s->layout));
        return ATTEST_EFORMAT;
    } else {
        f->samples = s->content_size / unit[s->layout];
    }
    rc = attest_sha256_end(&s->raw, f->sha256);
    if (!rc && s->z) rc = attest_sha256_end(&s->content, f->content_sha256);
    return rc;
}

static int scan_begin(struct scan *s, const char *name, enum attest_layout layout, char *err,
                      size_t errsz)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->layout = layout;
    s->err = err;
    s->errsz = errsz;
    if (!attest_layout_name(layout)) {
        snprintf(err, errsz, "%s: unknown layout %d", name, (int)layout);
        return ATTEST_EINVAL;
    }
    return attest_sha256_begin(&s->raw);
}

static void scan_end(struct scan *s)
{
    attest_sha256_abort(&s->raw);
    attest_sha256_abort(&s->content);
    ZSTD_freeDStream(s->z);
    free(s->out);
}

int attest_shard_buffer(const char *name, const void *data, size_t len, enum attest_layout layout,
                        attest_shard_facts *out, char *err, size_t errsz)
{
    struct scan s;
    int rc = scan_begin(&s, name, layout, err, errsz);
    if (!rc) rc = feed(&s, data, len);
    if (!rc) rc = finish(&s, out);
    scan_end(&s);
    return rc;
}

int attest_shard_file(const char *path, enum attest_layout layout, attest_shard_facts *out,
                      char *err, size_t errsz)
{
    struct scan s;
    uint8_t *buf = malloc(CHUNK);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 ? (errno == ENOENT ? ATTEST_ENOTFOUND : ATTEST_EIO) : buf ? 0 : ATTEST_ENOMEM;
    if (fd < 0) snprintf(err, errsz, "%s: %s", path, strerror(errno));
    if (!rc)
        rc = scan_begin(&s, path, layout, err, errsz);
    else
        memset(&s, 0, sizeof s);
    if (fd >= 0) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (!rc) {
        ssize_t got = read(fd, buf, CHUNK);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            snprintf(err, errsz, "%s: %s", path, strerror(errno));
            rc = ATTEST_EIO;
        } else if (got == 0) {
            rc = finish(&s, out);
            break;
        } else {
            rc = feed(&s, buf, (size_t)got);
        }
    }
    scan_end(&s);
    free(buf);
    if (fd >= 0) close(fd);
    return rc;
}
