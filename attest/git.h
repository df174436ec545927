/*
 * git.h - internal: the facts of the `code` record, read with libgit2
 * (format/LOG.md section 5, "code", and "The digest of uncommitted
 * changes").
 */
#ifndef ATTEST_GIT_H
#define ATTEST_GIT_H

#include <stddef.h>
#include <jansson.h>

/*
 * Builds the `code` record of the git repository that contains `path` (a
 * work tree or any folder inside it): {"type":"code", "commit", "tree",
 * "branch" ("" when HEAD is detached), "remotes": [{"name","url"}...] sorted
 * by name, "dirty", "diff_sha256" (present exactly when dirty), "path" (the
 * work tree's absolute path)}. On success *out is a new JSON object.
 * Returns 0, ATTEST_EINVAL (NULL path or out), ATTEST_ENOTFOUND (the path
 * does not exist or is not inside a git repository: err says so and names
 * the path), ATTEST_EFORMAT (a bare repository, HEAD has no commit yet, or
 * a path, branch or remote that is not valid UTF-8), ATTEST_EIO (libgit2
 * failed, e.g. a repository owned by another user: err has its message),
 * ATTEST_ECRYPTO, ATTEST_ENOMEM.
 */
int attest_git_code_record(const char *path, json_t **out, char *err, size_t errsz);

#endif
