/*
 * frame.c - the file header and record frames of a log, and a buffered
 * reader that walks them.
 *
 * The reader decides whether a file ends cleanly, in a torn frame (an
 * interrupted append: [LOG-9]) or in a damaged one; it never skips a frame.
 * What to do about a torn tail is the caller's choice (log.c, verify).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/error.h"
#include "attest/merkle.h"
#include "format/frame.h"
#include "format/record.h"

static const uint8_t magic[8] = {0x89, 'A', 'T', 'L', 'O', 'G', '\r', '\n'};

struct attest_frame_reader {
    int fd;
    uint64_t pos, end, index; /* next frame's offset and record number */
    uint8_t *buf;
    size_t cap, lo, hi; /* buf[lo..hi) holds the file bytes from pos on */
    char msg[256];
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t attest_frame_length(const uint8_t buf[4])
{
    return (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
           (uint32_t)buf[3] << 24;
}

void attest_frame_header(uint8_t out[ATTEST_LOG_HEADER_SIZE])
{
    memcpy(out, magic, 8);
    put32(out + 8, ATTEST_LOG_VERSION);
    put32(out + 12, 0);
}

int attest_frame_header_check(const uint8_t *buf, size_t len, char *err, size_t errsz)
{
    if (len < ATTEST_LOG_HEADER_SIZE || memcmp(buf, magic, 8) != 0) {
        if (err) snprintf(err, errsz, "not an attest log (bad magic)");
        return ATTEST_EFORMAT;
    }
    uint32_t version = attest_frame_length(buf + 8);
    if (version != ATTEST_LOG_VERSION) {
        if (err)
            snprintf(err, errsz, "log format version %u; this build reads version %d", version,
                     ATTEST_LOG_VERSION);
        return ATTEST_EVERSION;
    }
    if (attest_frame_length(buf + 12) != 0) {
        if (err) snprintf(err, errsz, "reserved header bytes are not zero");
        return ATTEST_EFORMAT;
    }
    return 0;
}

void attest_frame_encode(uint8_t *out, const void *payload, size_t len, const uint8_t leaf[32])
{
    put32(out, (uint32_t)len);
    memcpy(out + 4, payload, len);
    memcpy(out + 4 + len, leaf, 8);
}

/* A plausible length: records are 1..ATTEST_RECORD_MAX bytes ([LOG-3]). */
static int length_ok(uint32_t len)
{
    return len >= 2 && len <= ATTEST_RECORD_MAX;
}

int attest_frame_check(const uint8_t *buf, size_t size, const uint8_t **payload, size_t *len,
                       uint8_t leaf[32])
{
    if (size < ATTEST_FRAME_OVERHEAD) return ATTEST_ECORRUPT;
    uint32_t n = attest_frame_length(buf);
    if (!length_ok(n) || (size_t)n + ATTEST_FRAME_OVERHEAD != size) return ATTEST_ECORRUPT;
    attest_merkle_leaf_hash(leaf, buf + 4, n);
    if (memcmp(leaf, buf + 4 + n, 8) != 0) return ATTEST_ECORRUPT;
    *payload = buf + 4;
    *len = n;
    return 0;
}

int attest_frame_reader_new(attest_frame_reader **out, int fd, uint64_t offset, uint64_t end,
                            uint64_t index)
{
    attest_frame_reader *r = calloc(1, sizeof *r);
    if (!r) return ATTEST_ENOMEM;
    r->cap = 1u << 20;
    r->buf = malloc(r->cap);
    if (!r->buf) {
        free(r);
        return ATTEST_ENOMEM;
    }
    r->fd = fd;
    r->pos = offset;
    r->end = end;
    r->index = index;
    *out = r;
    return 0;
}

void attest_frame_reader_free(attest_frame_reader *r)
{
    if (!r) return;
    free(r->buf);
    free(r);
}

uint64_t attest_frame_reader_offset(const attest_frame_reader *r)
{
    return r->pos;
}

const char *attest_frame_reader_message(const attest_frame_reader *r)
{
    return r->msg;
}

/* Makes buf[lo..hi) hold at least `want` bytes from pos (fewer at the end of file). */
static int fill(attest_frame_reader *r, size_t want)
{
    if (r->hi - r->lo >= want) return 0;
    if (want > r->cap) {
        uint8_t *nb = malloc(want);
        if (!nb) return ATTEST_ENOMEM;
        memcpy(nb, r->buf + r->lo, r->hi - r->lo);
        free(r->buf);
        r->buf = nb;
        r->cap = want;
    } else {
        memmove(r->buf, r->buf + r->lo, r->hi - r->lo);
    }
    r->hi -= r->lo;
    r->lo = 0;
    while (r->hi < r->cap) {
        uint64_t at = r->pos + r->hi;
        if (at >= r->end) break;
        size_t room = r->cap - r->hi;
        if (room > r->end - at) room = (size_t)(r->end - at);
        ssize_t got = pread(r->fd, r->buf + r->hi, room, (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            snprintf(r->msg, sizeof r->msg, "read at offset %llu: %s", (unsigned long long)at,
                     strerror(errno));
            return ATTEST_EIO;
        }
        if (got == 0) break;
        r->hi += (size_t)got;
        if (r->hi - r->lo >= want) break;
    }
    return 0;
}

/* Does a whole, valid frame start anywhere in p[1..n)? Then the first one was not torn. */
static int later_frame(const uint8_t *p, size_t n)
{
    uint8_t leaf[32];
    // next_ctrl: where the next byte that no record may hold is. Only candidates whose payload
    // has none are hashed; their payloads cannot overlap (each length prefix holds a 0x00 or
    // 0x01 byte), so the hashing is linear in n, whatever the bytes.
    size_t *next_ctrl = malloc((n + 1) * sizeof *next_ctrl);
    if (!next_ctrl) return 1; // cannot tell: never call it torn
    next_ctrl[n] = n;
    for (size_t i = n; i-- > 0;)
        next_ctrl[i] = p[i] < 0x20 || p[i] == 0x7f ? i : next_ctrl[i + 1];
    int found = 0;
    for (size_t i = 1; !found && i + ATTEST_FRAME_OVERHEAD + 2 <= n; i++) {
        uint32_t len = attest_frame_length(p + i);
        if (!length_ok(len) || len + (size_t)ATTEST_FRAME_OVERHEAD > n - i) continue;
        if (p[i + 4] != '{' || p[i + 3 + len] != '}' || next_ctrl[i + 4] < i + 4 + len) continue;
        attest_merkle_leaf_hash(leaf, p + i + 4, len);
        found = memcmp(leaf, p + i + 4 + len, 8) == 0;
    }
    free(next_ctrl);
    return found;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

static int torn(attest_frame_reader *r, const char *why)
{
    snprintf(r->msg, sizeof r->msg,
             "torn frame at offset %llu (record %llu): %s; %llu bytes after the last whole record",
             (unsigned long long)r->pos, (unsigned long long)r->index, why,
             (unsigned long long)(r->end - r->pos));
    return ATTEST_FRAME_TORN;
}

static int bad(attest_frame_reader *r, const char *why)
{
    snprintf(r->msg, sizeof r->msg, "record %llu (frame at offset %llu): %s",
             (unsigned long long)r->index, (unsigned long long)r->pos, why);
    return ATTEST_FRAME_BAD;
}

int attest_frame_next(attest_frame_reader *r, const uint8_t **payload, size_t *len,
                      uint64_t *offset, uint8_t leaf[32])
{
    r->msg[0] = '\0';
    if (r->pos >= r->end) return ATTEST_FRAME_END;
    uint64_t left = r->end - r->pos;
    int rc = fill(r, 4);
    if (rc) return rc;
    if (left < 4) return torn(r, "the length prefix is cut short");
    uint32_t n = attest_frame_length(r->buf + r->lo);
    if (!length_ok(n)) {
        // A tail of zeros is an append the file system extended but never wrote.
        if (left <= ATTEST_RECORD_MAX + (uint64_t)ATTEST_FRAME_OVERHEAD) {
            rc = fill(r, (size_t)left);
            if (rc) return rc;
            if (all_zero(r->buf + r->lo, (size_t)left)) return torn(r, "zero-filled tail");
        }
        char why[80];
        snprintf(why, sizeof why, "invalid frame length %u", n);
        return bad(r, why);
    }
    size_t size = (size_t)n + ATTEST_FRAME_OVERHEAD;
    if (left < size) {
        rc = fill(r, (size_t)left);
        if (rc) return rc;
        if (later_frame(r->buf + r->lo, (size_t)left))
            return bad(r, "frame length runs over the frames that follow it");
        return torn(r, "the frame runs past the end of the file");
    }
    rc = fill(r, size);
    if (rc) return rc;
    if (r->hi - r->lo < size) {
        snprintf(r->msg, sizeof r->msg, "offset %llu: file shrank while being read",
                 (unsigned long long)r->pos);
        return ATTEST_EIO;
    }
    const uint8_t *p = r->buf + r->lo;
    attest_merkle_leaf_hash(leaf, p + 4, n);
    if (memcmp(leaf, p + 4 + n, 8) != 0) {
        // Zero bytes in the last frame: blocks the file system allocated but never wrote.
        if (r->pos + size == r->end && memchr(p + 4, 0, n))
            return torn(r, "the last frame holds zero bytes where its data should be");
        return bad(r, "checksum mismatch");
    }
    *payload = p + 4;
    *len = n;
    *offset = r->pos;
    r->lo += size;
    r->pos += size;
    r->index++;
    return ATTEST_FRAME_OK;
}
