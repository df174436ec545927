/*
 * logindex.c - the cache files beside a log: LOG.idx (frame offsets) and
 * LOG.tree (stored Merkle hashes), with an in-memory tail.
 *
 * Nothing here is trusted: log.c checks the cache against the log when it
 * opens it, and every proof is checked against a signed root before it is
 * handed out. This file only stores and fetches fixed-size entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/error.h"
#include "attest/merkle.h"
#include "format/io.h"
#include "format/logindex.h"

#define HEADER 16

static const uint8_t idx_magic[8] = {0x89, 'A', 'T', 'I', 'D', 'X', '\r', '\n'};
static const uint8_t tree_magic[8] = {0x89, 'A', 'T', 'T', 'R', 'E', '\r', '\n'};

struct attest_logindex {
    int idx_fd, tree_fd;
    int writable;
    uint64_t n_file, n;
    uint64_t *toff; /* offsets of records n_file..n */
    size_t toff_cap;
    uint8_t (*thash)[32]; /* stored hashes from stored_count(n_file) on */
    size_t thash_n, thash_cap;
};

/* Opens one cache file; returns the number of whole entries, or -1 for "unusable". */
static int64_t open_cache(int *fd, const char *path, const uint8_t magic[8], size_t entry,
                          int writable)
{
    uint8_t hdr[HEADER] = {0};
    struct stat st;
    *fd = open(path, writable ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0644);
    if (*fd < 0 || fstat(*fd, &st) != 0) goto unusable;
    if (st.st_size == 0 && writable) {
        memcpy(hdr, magic, 8);
        hdr[8] = 1;
        if (attest_io_pwrite(*fd, hdr, HEADER, 0) != 0) goto unusable;
        return 0;
    }
    if (st.st_size < HEADER || attest_io_pread(*fd, hdr, HEADER, 0) != 0 ||
        memcmp(hdr, magic, 8) != 0 || hdr[8] != 1)
        goto unusable;
    return (int64_t)(((uint64_t)st.st_size - HEADER) / entry);
unusable:
    // A damaged cache is rebuilt from scratch (writer) or ignored (reader).
    if (*fd >= 0 && writable && ftruncate(*fd, 0) == 0) {
        memcpy(hdr, magic, 8);
        hdr[8] = 1;
        memset(hdr + 9, 0, HEADER - 9);
        if (attest_io_pwrite(*fd, hdr, HEADER, 0) == 0) return 0;
    }
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return -1;
}

int attest_logindex_open(attest_logindex **out, const char *log_path, int writable)
{
    attest_logindex *ix = calloc(1, sizeof *ix);
    size_t plen = strlen(log_path);
    char *path = malloc(plen + 6);
    if (!ix || !path) {
        free(ix);
        free(path);
        return ATTEST_ENOMEM;
    }
    ix->writable = writable;
    snprintf(path, plen + 6, "%s.idx", log_path);
    int64_t n_idx = open_cache(&ix->idx_fd, path, idx_magic, 8, writable);
    snprintf(path, plen + 6, "%s.tree", log_path);
    int64_t n_hash = open_cache(&ix->tree_fd, path, tree_magic, 32, writable);
    free(path);
    uint64_t n = 0;
    if (n_idx > 0 && n_hash > 0) {
        n = (uint64_t)n_idx;
        while (n > 0 && attest_merkle_stored_count(n) > (uint64_t)n_hash)
            n--;
    }
    if (ix->idx_fd < 0 || ix->tree_fd < 0) n = 0;
    ix->n_file = ix->n = n;
    attest_logindex_shrink(ix, n);
    *out = ix;
    return 0;
}

void attest_logindex_free(attest_logindex *ix)
{
    if (!ix) return;
    if (ix->idx_fd >= 0) close(ix->idx_fd);
    if (ix->tree_fd >= 0) close(ix->tree_fd);
    free(ix->toff);
    free(ix->thash);
    free(ix);
}

uint64_t attest_logindex_file_count(const attest_logindex *ix)
{
    return ix->n_file;
}

uint64_t attest_logindex_count(const attest_logindex *ix)
{
    return ix->n;
}

uint64_t attest_logindex_pending(const attest_logindex *ix)
{
    return ix->n - ix->n_file;
}

int attest_logindex_shrink(attest_logindex *ix, uint64_t n)
{
    if (n < ix->n_file) ix->n_file = n;
    // The memory tail always continues the files, so it goes too.
    ix->n = ix->n_file;
    ix->thash_n = 0;
    if (ix->writable && ix->idx_fd >= 0 && ix->tree_fd >= 0) {
        if (ftruncate(ix->idx_fd, (off_t)(HEADER + 8 * ix->n_file)) != 0 ||
            ftruncate(ix->tree_fd, (off_t)(HEADER + 32 * attest_merkle_stored_count(ix->n_file))) !=
                0)
            return ATTEST_EIO;
    }
    return 0;
}

int attest_logindex_push(attest_logindex *ix, uint64_t offset, const uint8_t (*stored)[32],
                         size_t n_stored)
{
    size_t k = (size_t)(ix->n - ix->n_file);
    if (k == ix->toff_cap) {
        size_t cap = ix->toff_cap ? ix->toff_cap * 2 : 1024;
        uint64_t *no = realloc(ix->toff, cap * sizeof *no);
        if (!no) return ATTEST_ENOMEM;
        ix->toff = no;
        ix->toff_cap = cap;
    }
    if (ix->thash_n + n_stored > ix->thash_cap) {
        size_t cap = ix->thash_cap ? ix->thash_cap * 2 : 2048;
        while (cap < ix->thash_n + n_stored)
            cap *= 2;
        uint8_t(*nh)[32] = realloc(ix->thash, cap * sizeof *nh);
        if (!nh) return ATTEST_ENOMEM;
        ix->thash = nh;
        ix->thash_cap = cap;
    }
    ix->toff[k] = offset;
    memcpy(ix->thash[ix->thash_n], stored, n_stored * 32);
    ix->thash_n += n_stored;
    ix->n++;
    return 0;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int attest_logindex_offset(attest_logindex *ix, uint64_t index, uint64_t *offset)
{
    if (index >= ix->n) return ATTEST_ENOTFOUND;
    if (index >= ix->n_file) {
        *offset = ix->toff[index - ix->n_file];
        return 0;
    }
    uint8_t b[8];
    if (attest_io_pread(ix->idx_fd, b, 8, HEADER + 8 * index) != 0) return ATTEST_EIO;
    *offset = get64(b);
    return 0;
}

int attest_logindex_hash(void *ctx, uint64_t index, uint8_t out[32])
{
    attest_logindex *ix = ctx;
    uint64_t in_file = attest_merkle_stored_count(ix->n_file);
    if (index >= in_file) {
        if (index - in_file >= ix->thash_n) return ATTEST_ENOTFOUND;
        memcpy(out, ix->thash[index - in_file], 32);
        return 0;
    }
    return attest_io_pread(ix->tree_fd, out, 32, HEADER + 32 * index) == 0 ? 0 : ATTEST_EIO;
}

int attest_logindex_flush(attest_logindex *ix, int sync)
{
    if (!ix->writable || ix->idx_fd < 0 || ix->tree_fd < 0) return 0;
    size_t k = (size_t)(ix->n - ix->n_file);
    uint8_t *offs = malloc(k * 8 + 1);
    if (!offs) return ATTEST_ENOMEM;
    for (size_t i = 0; i < k; i++)
        for (int b = 0; b < 8; b++)
            offs[8 * i + b] = (uint8_t)(ix->toff[i] >> (8 * b));
    uint64_t h0 = attest_merkle_stored_count(ix->n_file);
    int failed = attest_io_pwrite(ix->idx_fd, offs, k * 8, HEADER + 8 * ix->n_file) != 0 ||
                 attest_io_pwrite(ix->tree_fd, ix->thash, ix->thash_n * 32, HEADER + 32 * h0) != 0;
    free(offs);
    if (!failed && sync) failed = fsync(ix->idx_fd) != 0 || fsync(ix->tree_fd) != 0;
    if (failed) {
        // Trim any partial entries so the files again describe n_file records.
        if (ftruncate(ix->idx_fd, (off_t)(HEADER + 8 * ix->n_file)) != 0 ||
            ftruncate(ix->tree_fd, (off_t)(HEADER + 32 * h0)) != 0) {
            close(ix->idx_fd);
            close(ix->tree_fd);
            ix->idx_fd = ix->tree_fd = -1;
        }
        return ATTEST_EIO;
    }
    ix->n_file = ix->n;
    ix->thash_n = 0;
    return 0;
}

int attest_logindex_matches(attest_logindex *ix, uint64_t index, uint64_t offset,
                            const uint8_t (*stored)[32], size_t n_stored)
{
    uint8_t b[8], h[64][32];
    if (index >= ix->n_file || n_stored > 64) return 0;
    if (attest_io_pread(ix->idx_fd, b, 8, HEADER + 8 * index) != 0 || get64(b) != offset) return 0;
    uint64_t first = attest_merkle_stored_count(index);
    if (attest_io_pread(ix->tree_fd, h, 32 * n_stored, HEADER + 32 * first) != 0) return 0;
    return memcmp(h, stored, 32 * n_stored) == 0;
}

/* Writes one cache file under a temporary name and renames it into place. */
static int publish_file(const char *path, const uint8_t magic[8], const void *data, size_t len)
{
    size_t plen = strlen(path) + 32;
    char *tmp = malloc(plen);
    uint8_t hdr[HEADER] = {0};
    if (!tmp) return ATTEST_ENOMEM;
    snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
    memcpy(hdr, magic, 8);
    hdr[8] = 1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd >= 0 && attest_io_pwrite(fd, hdr, HEADER, 0) == 0 &&
                     attest_io_pwrite(fd, data, len, HEADER) == 0
                 ? 0
                 : ATTEST_EIO;
    if (fd >= 0) close(fd);
    if (!rc && rename(tmp, path) != 0) rc = ATTEST_EIO;
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

int attest_logindex_publish(attest_logindex *ix, const char *log_path)
{
    if (ix->n_file != 0) return 0;
    size_t k = (size_t)ix->n, plen = strlen(log_path) + 6;
    uint8_t *offs = malloc(k * 8 + 1);
    char *path = malloc(plen);
    int rc = ATTEST_ENOMEM;
    if (offs && path) {
        for (size_t i = 0; i < k; i++)
            for (int b = 0; b < 8; b++)
                offs[8 * i + b] = (uint8_t)(ix->toff[i] >> (8 * b));
        // The tree first: a cache whose offsets outrun its hashes is trimmed on open.
        snprintf(path, plen, "%s.tree", log_path);
        rc = publish_file(path, tree_magic, ix->thash, ix->thash_n * 32);
        snprintf(path, plen, "%s.idx", log_path);
        if (!rc) rc = publish_file(path, idx_magic, offs, k * 8);
    }
    free(offs);
    free(path);
    return rc;
}
