/*
 * io.h - internal: whole reads and writes at an offset, retried on EINTR
 * and short transfers. Used by the log file and its caches.
 */
#ifndef ATTEST_FORMAT_IO_H
#define ATTEST_FORMAT_IO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all len bytes at `at`. 0, or -1 with errno set (ENOSPC for a zero-byte write). */
int attest_io_pwrite(int fd, const void *buf, size_t len, uint64_t at);

/* Reads all len bytes at `at`. 0, or -1 with errno set (EIO when the file ends first). */
int attest_io_pread(int fd, void *buf, size_t len, uint64_t at);

#endif
