/*
 * io.c - pread/pwrite until the whole buffer is transferred. Nothing else:
 * what the bytes mean and when to fsync are the callers' business.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/error.h"
#include "format/io.h"
#include "format/text.h"

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

int attest_io_read_file(const char *path, uint8_t **buf, uint64_t *size, char *err, size_t errsz)
{
    *buf = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return attest_text_fail(err, errsz, errno == ENOENT ? ATTEST_ENOTFOUND : ATTEST_EIO,
                                "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: not a readable regular file", path);
    } else if (!(*buf = malloc(st.st_size ? (size_t)st.st_size : 1))) {
        rc = attest_text_fail(err, errsz, ATTEST_ENOMEM, "%s: out of memory (%lld bytes)", path,
                              (long long)st.st_size);
    } else if (attest_io_pread(fd, *buf, (size_t)st.st_size, 0) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", path,
                              errno == EIO ? "the file shrank while it was read" : strerror(errno));
        free(*buf);
        *buf = NULL;
    } else {
        *size = (uint64_t)st.st_size;
    }
    close(fd);
    return rc;
}
