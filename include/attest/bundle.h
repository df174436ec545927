/*
 * attest/bundle.h - one file that carries a run to an offline auditor
 * (format/BUNDLE.md): the log, the run's public key, optionally the TPM
 * trust files, shards, checkpoints and the code commit, as one zstd stream
 * with a manifest (role, name, size, SHA-256 of every member) before the
 * members. Writing and reading stream: no member is ever held in memory.
 *
 * Thread-safety: a handle is used by one thread at a time; independent
 * handles may be used in parallel.
 */
#ifndef ATTEST_BUNDLE_H
#define ATTEST_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "attest/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct attest_bundle_writer attest_bundle_writer;
typedef struct attest_bundle attest_bundle;

/* One member as the manifest lists it. Strings belong to the handle. */
typedef struct attest_bundle_member {
    const char *role; /* "log", "public-key", "tpm-ca", "enrollment-key", "shard", "checkpoint", "code" */
    const char *name; /* relative path in the bundle, e.g. "data/shard-000.bin" */
    uint64_t size;
    uint8_t sha256[32];
} attest_bundle_member;

/* Options of both directions. Start from ATTEST_BUNDLE_OPTIONS_INIT; NULL means defaults. */
typedef struct attest_bundle_options {
    unsigned version; /* ATTEST_BUNDLE_OPTIONS_VERSION */
    int level;        /* zstd level 1-19 when writing (0: 3) */
    unsigned threads; /* zstd worker threads when writing (0: one) */
    /*
     * Called as bytes of members go through (done and total over all
     * members, name of the member being processed); may be NULL.
     */
    void (*progress)(void *ctx, uint64_t done, uint64_t total, const char *name);
    void *progress_ctx;
} attest_bundle_options;

#define ATTEST_BUNDLE_OPTIONS_VERSION 1
#define ATTEST_BUNDLE_OPTIONS_INIT                                                                 \
    {                                                                                              \
        ATTEST_BUNDLE_OPTIONS_VERSION, 0, 0, NULL, NULL                                            \
    }

/*
 * Starts a bundle to be written at `path` (written under a temporary name
 * beside it and renamed by attest_bundle_writer_finish, so that no partial
 * bundle is ever left at `path`; an existing file is replaced). opts may be
 * NULL. *out is set even on failure unless memory ran out. Returns 0,
 * ATTEST_EINVAL, ATTEST_EIO, ATTEST_ENOMEM.
 */
ATTEST_API int attest_bundle_writer_create(attest_bundle_writer **out, const char *path,
                                           const attest_bundle_options *opts);

/*
 * Adds the file at `file` as a member `role`/`name` (format/BUNDLE.md
 * [BUNDLE-7] to [BUNDLE-9] say which names go with which role). The file
 * is hashed now and hashed again as it is packed; a file that changed in
 * between fails attest_bundle_writer_finish. Returns 0, ATTEST_EINVAL (a
 * name or role the format refuses, a duplicate), ATTEST_ENOTFOUND,
 * ATTEST_EIO, ATTEST_ENOMEM; on error the bundle is unchanged.
 */
ATTEST_API int attest_bundle_writer_add(attest_bundle_writer *w, const char *role,
                                        const char *name, const char *file);

/*
 * Records in the manifest's "packed" object what the bundle holds of a
 * kind by construction ("data" "all"/"none", "checkpoints" "all"/"none"/a
 * selection, "code" "git-bundle"/"none"), so that a verifier can say why
 * a file is absent. Returns 0, ATTEST_EINVAL, ATTEST_ENOMEM.
 */
ATTEST_API int attest_bundle_writer_packed(attest_bundle_writer *w, const char *what,
                                           const char *value);

/*
 * Writes the manifest and every member, fsyncs and renames the bundle into
 * place. Returns 0, ATTEST_EVERIFY (a member file changed since it was
 * added), ATTEST_EIO, ATTEST_ENOMEM; on error nothing is left at the path.
 */
ATTEST_API int attest_bundle_writer_finish(attest_bundle_writer *w);

/* Why the last call failed ("" when none). */
ATTEST_API const char *attest_bundle_writer_errmsg(const attest_bundle_writer *w);

/* Frees the writer; an unfinished bundle's temporary file is removed. NULL is a no-op. */
ATTEST_API void attest_bundle_writer_free(attest_bundle_writer *w);

/*
 * 1 when the file at `path` starts with the bundle magic ([BUNDLE-1]), 0
 * when not or when it cannot be read.
 */
ATTEST_API int attest_bundle_is(const char *path);

/*
 * Reads the bundle at `path` to its end, checking its magic, version,
 * manifest and every member's size and SHA-256 against the manifest. With
 * `dir` (an existing, empty directory) the members are written under it
 * by their names; with dir NULL nothing is written. No file is ever
 * created outside `dir`, and names that would ([BUNDLE-8]) are refused
 * before any member is written. *out is set even on failure unless memory
 * ran out; free it with attest_bundle_free. Returns 0, ATTEST_EFORMAT (not
 * a bundle, a bad manifest, a refused name), ATTEST_EVERSION,
 * ATTEST_ECORRUPT (damaged or truncated stream, a member whose size or
 * SHA-256 is not the manifest's: the message names the member),
 * ATTEST_ENOTFOUND, ATTEST_EIO, ATTEST_ENOMEM. On error, files already
 * written under dir stay there: the caller removes the directory.
 */
ATTEST_API ATTEST_CHECK_RESULT int attest_bundle_read(attest_bundle **out, const char *path,
                                                      const char *dir,
                                                      const attest_bundle_options *opts);

/* attest_bundle_read from an open file descriptor (read from its current position). */
ATTEST_API ATTEST_CHECK_RESULT int attest_bundle_read_fd(attest_bundle **out, int fd,
                                                         const char *dir,
                                                         const attest_bundle_options *opts);

/* Number of members in the manifest (0 before it was read). */
ATTEST_API size_t attest_bundle_count(const attest_bundle *b);

/* Member i (0 <= i < count), or NULL. */
ATTEST_API const attest_bundle_member *attest_bundle_get(const attest_bundle *b, size_t i);

/* The manifest's "packed" value for `what` ("data", "checkpoints", "code"), or NULL. */
ATTEST_API const char *attest_bundle_packed(const attest_bundle *b, const char *what);

/* Why the read failed ("" when it did not). */
ATTEST_API const char *attest_bundle_errmsg(const attest_bundle *b);

/* Frees a bundle handle (not the files written). NULL is a no-op. */
ATTEST_API void attest_bundle_free(attest_bundle *b);

#ifdef __cplusplus
}
#endif
#endif
