/*
 * io.h - internal: whole reads and writes at an offset, retried on EINTR
 * and short transfers, and whole-file reads. Used by the log file and its
 * caches, and by the verifier for shard and checkpoint files.
 */
#ifndef ATTEST_FORMAT_IO_H
#define ATTEST_FORMAT_IO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all len bytes at `at`. 0, or -1 with errno set (ENOSPC for a zero-byte write). */
int attest_io_pwrite(int fd, const void *buf, size_t len, uint64_t at);

/* Reads all len bytes at `at`. 0, or -1 with errno set (EIO when the file ends first). */
int attest_io_pread(int fd, void *buf, size_t len, uint64_t at);

/*
 * Reads the regular file at `path` whole into a malloc'd buffer (*buf, at
 * least 1 byte allocated, *size its length). Returns 0, ATTEST_ENOTFOUND,
 * ATTEST_EIO (not a regular file, read error, the file shrank),
 * ATTEST_ENOMEM; err names the path and the reason.
 */
int attest_io_read_file(const char *path, uint8_t **buf, uint64_t *size, char *err, size_t errsz);

#endif
