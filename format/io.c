/*
 * io.c - pread/pwrite until the whole buffer is transferred. Nothing else:
 * what the bytes mean and when to fsync are the callers' business.
 */
#include <errno.h>
#include <unistd.h>

#include "format/io.h"

int attest_io_pwrite(int fd, const void *buf, size_t len, uint64_t at)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = pwrite(fd, p, len, (off_t)at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            return -1;
        }
        p += w;
        len -= (size_t)w;
        at += (uint64_t)w;
    }
    return 0;
}

int attest_io_pread(int fd, void *buf, size_t len, uint64_t at)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)at);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO;
            return -1;
        }
        p += r;
        len -= (size_t)r;
        at += (uint64_t)r;
    }
    return 0;
}
