/*
 * Fuzz target: the bundle reader (format/BUNDLE.md). Each input is read
 * twice from a memory file: checking only, then extracting into a fresh
 * temporary directory. Both reads must agree; a bundle that reads must
 * leave exactly its members, at their sizes, and nothing else, under the
 * directory. The directory is removed after each input.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t entries;

static int count(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)st;
    (void)flag;
    if (ftw->level > 2) abort(); // [BUNDLE-8]: a role's directory and a file, no deeper
    entries++;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("bundle", MFD_CLOEXEC);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size)) abort();
    attest_bundle *b = NULL;
    lseek(fd, 0, SEEK_SET);
    int rc = attest_bundle_read_fd(&b, fd, NULL, NULL);
    if (!b || (rc == 0) != (attest_bundle_count(b) > 0 && attest_bundle_errmsg(b)[0] == 0)) abort();
    attest_bundle_free(b);

    char dir[] = "/tmp/attest-fuzz-bundle-XXXXXX";
    if (!mkdtemp(dir)) abort();
    lseek(fd, 0, SEEK_SET);
    int rc2 = attest_bundle_read_fd(&b, fd, dir, NULL);
    if (rc2 != rc) abort();
    entries = 0;
    if (nftw(dir, count, 8, FTW_PHYS) != 0) abort();
    if (rc == 0) {
        size_t dirs = 0;
        for (size_t i = 0; i < attest_bundle_count(b); i++) {
            const attest_bundle_member *m = attest_bundle_get(b, i);
            char path[2048];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, m->name);
            if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != m->size)
                abort();
        }
        static const char *subs[] = {"data", "checkpoints", "tpm", "code"};
        for (size_t i = 0; i < 4; i++) {
            char path[2048];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
            dirs += lstat(path, &st) == 0;
        }
        if (entries != 1 + dirs + attest_bundle_count(b)) abort(); // nothing but the members
    }
    attest_bundle_free(b);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    close(fd);
    return 0;
}
