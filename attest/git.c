/*
 * git.c - the `code` record: HEAD commit, tree, branch, remotes and the
 * digest of uncommitted changes of the repository that holds a path, read
 * with libgit2 (format/LOG.md section 5).
 * It only reads: no index refresh, no lock, nothing written to .git. Ignored
 * files and submodule contents are not part of the digest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>
#include <sodium.h>

#include "attest/error.h"
#include "format/text.h"
#include "attest/git.h"

#define CHUNK (64 * 1024)

/* libgit2 keeps its last error per thread; NOMEMORY is ours to report as such. */
static int git_fail(char *err, size_t errsz, const char *what)
{
    const git_error *e = git_error_last();
    if (e && e->klass == GIT_ERROR_NOMEMORY)
        return attest_text_fail(err, errsz, ATTEST_ENOMEM, "%s: out of memory", what);
    return attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", what,
                            e && e->message ? e->message : "libgit2 failed");
}

static int set(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new(obj, key, value) ? ATTEST_ENOMEM : 0;
}

/* Paths, branch and remote names are bytes to git; JSON strings must be UTF-8. */
static int set_str(json_t *obj, const char *key, const char *value, char *err, size_t errsz)
{
    json_t *v = json_string(value);
    if (!v) {
        /* json_string fails for memory or for bad UTF-8; the unchecked one only for memory. */
        json_t *probe = json_string_nocheck(value);
        if (!probe) return ATTEST_ENOMEM;
        json_decref(probe);
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s \"%s\" is not valid UTF-8", key,
                                value);
    }
    return set(obj, key, v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Hashes the regular file at `full` in chunks: training trees hold big files. */
static int hash_file(unsigned char digest[crypto_hash_sha256_BYTES], const char mode[7],
                     const char *full, unsigned char *buf, char *err, size_t errsz)
{
    crypto_hash_sha256_state st;
    struct stat sb;
    int rc = 0;
    /* O_NONBLOCK: a file swapped for a FIFO after lstat must not hang the run. */
    int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", full, strerror(errno));
    if (fstat(fd, &sb) < 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", full, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode) || strcmp(mode, (sb.st_mode & S_IXUSR) ? "100755" : "100644")) {
        rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: changed while being read", full);
        goto done;
    }
    crypto_hash_sha256_init(&st);
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", full, strerror(errno));
            goto done;
        }
        if (n == 0) break;
        crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
    }
    crypto_hash_sha256_final(&st, digest);
done:
    close(fd);
    return rc;
}

/* Hashes a symlink's target string, as git stores it as the blob. */
static int hash_link(unsigned char digest[crypto_hash_sha256_BYTES], const char *full,
                     const struct stat *sb, char *err, size_t errsz)
{
    size_t cap = (size_t)sb->st_size + 1;
    char *target = NULL;
    int rc = 0;
    for (;;) {
        char *nt = realloc(target, cap);
        if (!nt) {
            rc = ATTEST_ENOMEM;
            goto done;
        }
        target = nt;
        ssize_t n = readlink(full, target, cap);
        if (n < 0) {
            rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", full, strerror(errno));
            goto done;
        }
        /* A filled buffer may mean a truncated target: the link changed since lstat. */
        if ((size_t)n < cap) {
            crypto_hash_sha256(digest, (const unsigned char *)target, (unsigned long long)n);
            break;
        }
        cap *= 2;
    }
done:
    free(target);
    return rc;
}

/* Feeds the manifest line `<path> NUL <mode> NUL <content> LF` of one changed path. */
static int manifest_line(crypto_hash_sha256_state *manifest, const char *workdir, const char *rel,
                         unsigned char *buf, char *err, size_t errsz)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    char content[crypto_hash_sha256_BYTES * 2 + 1] = "deleted";
    const char *mode = "000000";
    struct stat sb;
    int rc = 0;
    size_t wl = strlen(workdir), rl = strlen(rel);
    char *full = malloc(wl + rl + 1);
    if (!full) return ATTEST_ENOMEM;
    memcpy(full, workdir, wl);
    memcpy(full + wl, rel, rl + 1);

    if (lstat(full, &sb) < 0) {
        /* ENOTDIR: a parent folder was replaced by a file, so the path is gone too. */
        if (errno != ENOENT && errno != ENOTDIR) {
            rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", full, strerror(errno));
            goto done;
        }
    } else if (S_ISLNK(sb.st_mode)) {
        mode = "120000";
        if ((rc = hash_link(digest, full, &sb, err, errsz)) < 0) goto done;
        sodium_bin2hex(content, sizeof content, digest, sizeof digest);
    } else if (S_ISREG(sb.st_mode)) {
        /* git's rule: the owner's execute bit alone decides 100755. */
        mode = (sb.st_mode & S_IXUSR) ? "100755" : "100644";
        if ((rc = hash_file(digest, mode, full, buf, err, errsz)) < 0) goto done;
        sodium_bin2hex(content, sizeof content, digest, sizeof digest);
    }
    /* Anything else (a folder where a file was) holds no file at this path: "deleted". */

    crypto_hash_sha256_update(manifest, (const unsigned char *)rel, rl + 1);
    crypto_hash_sha256_update(manifest, (const unsigned char *)mode, 7);
    crypto_hash_sha256_update(manifest, (const unsigned char *)content, strlen(content));
    crypto_hash_sha256_update(manifest, (const unsigned char *)"\n", 1);
done:
    free(full);
    return rc;
}

/*
 * Compares HEAD's tree with the work tree (not the index: the work tree is
 * what ran) and hashes the sorted manifest of changed paths into hex_out;
 * *dirty is 0 and hex_out untouched when nothing changed.
 */
static int diff_digest(int *dirty, char hex_out[crypto_hash_sha256_BYTES * 2 + 1],
                       git_repository *repo, git_tree *tree, const char *workdir, char *err,
                       size_t errsz)
{
    git_diff_options opts;
    git_diff *diff = NULL;
    const char **paths = NULL;
    unsigned char *buf = NULL;
    crypto_hash_sha256_state manifest;
    unsigned char digest[crypto_hash_sha256_BYTES];
    size_t n, npaths = 0;
    int rc = 0;

    *dirty = 0;
    /* The function, not GIT_DIFF_OPTIONS_INIT: the macro leaves fields -Wextra flags. */
    if (git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION) < 0) {
        rc = git_fail(err, errsz, "diff options");
        goto done;
    }
    opts.flags =
        GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS | GIT_DIFF_IGNORE_SUBMODULES;
    if (git_diff_tree_to_workdir(&diff, repo, tree, &opts) < 0) {
        rc = git_fail(err, errsz, "diff against the work tree");
        goto done;
    }
    n = git_diff_num_deltas(diff);
    if (n == 0) goto done;
    if (!(paths = malloc(2 * n * sizeof *paths)) || !(buf = malloc(CHUNK))) {
        rc = ATTEST_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const git_diff_delta *d = git_diff_get_delta(diff, i);
        /* An untracked folder comes whole only when it is a nested repository:
         * like a submodule, its contents are another repository's record. */
        if (d->status == GIT_DELTA_UNTRACKED && d->new_file.mode == GIT_FILEMODE_TREE) continue;
        if (d->old_file.path) paths[npaths++] = d->old_file.path;
        if (d->new_file.path) paths[npaths++] = d->new_file.path;
    }
    qsort(paths, npaths, sizeof *paths, cmp_str);

    crypto_hash_sha256_init(&manifest);
    for (size_t i = 0; i < npaths; i++) {
        /* A typechange comes as delete + add of one path; it is one line. */
        if (i > 0 && !strcmp(paths[i], paths[i - 1])) continue;
        if ((rc = manifest_line(&manifest, workdir, paths[i], buf, err, errsz)) < 0) goto done;
        *dirty = 1;
    }
    crypto_hash_sha256_final(&manifest, digest);
    if (*dirty) sodium_bin2hex(hex_out, crypto_hash_sha256_BYTES * 2 + 1, digest, sizeof digest);
done:
    free(buf);
    free(paths);
    git_diff_free(diff);
    return rc;
}

static int remotes_array(json_t **out, git_repository *repo, char *err, size_t errsz)
{
    git_strarray names = {NULL, 0};
    git_remote *remote = NULL;
    json_t *arr = NULL;
    int rc = 0;

    if (git_remote_list(&names, repo) < 0) {
        rc = git_fail(err, errsz, "list remotes");
        goto done;
    }
    qsort(names.strings, names.count, sizeof *names.strings, cmp_str);
    if (!(arr = json_array())) {
        rc = ATTEST_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < names.count; i++) {
        if (git_remote_lookup(&remote, repo, names.strings[i]) < 0) {
            rc = git_fail(err, errsz, names.strings[i]);
            goto done;
        }
        const char *url = git_remote_url(remote);
        json_t *r = json_object();
        if (!r || json_array_append_new(arr, r)) {
            rc = ATTEST_ENOMEM;
            goto done;
        }
        if ((rc = set_str(r, "name", names.strings[i], err, errsz)) < 0 ||
            (rc = set_str(r, "url", url ? url : "", err, errsz)) < 0)
            goto done;
        git_remote_free(remote);
        remote = NULL;
    }
    *out = arr;
    arr = NULL;
done:
    git_remote_free(remote);
    git_strarray_dispose(&names);
    json_decref(arr);
    return rc;
}

int attest_git_code_record(const char *path, json_t **out, char *err, size_t errsz)
{
    git_repository *repo = NULL;
    git_reference *head = NULL;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    json_t *rec = NULL, *remotes = NULL;
    char commit_hex[GIT_OID_HEXSZ + 1], tree_hex[GIT_OID_HEXSZ + 1];
    char diff_hex[crypto_hash_sha256_BYTES * 2 + 1];
    const char *workdir, *branch;
    char *workpath = NULL;
    size_t wl;
    int dirty = 0, detached, rc = 0, git_rc;

    if (err && errsz) err[0] = '\0';
    if (!out || !path)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "no path or no output given");
    *out = NULL;
    if (sodium_init() < 0)
        return attest_text_fail(err, errsz, ATTEST_ECRYPTO, "libsodium failed to initialise");
    if (git_libgit2_init() < 0) return git_fail(err, errsz, "libgit2 init");

    if ((git_rc = git_repository_open_ext(&repo, path, 0, NULL)) < 0) {
        if (git_rc == GIT_ENOTFOUND)
            rc = attest_text_fail(err, errsz, ATTEST_ENOTFOUND, "%s: not inside a git repository",
                                  path);
        else
            rc = git_fail(err, errsz, path);
        goto done;
    }
    workdir = git_repository_workdir(repo);
    if (git_repository_is_bare(repo) || !workdir) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: a bare repository has no work tree",
                              path);
        goto done;
    }
    if ((git_rc = git_repository_head(&head, repo)) < 0) {
        if (git_rc == GIT_EUNBORNBRANCH)
            rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: repository has no commit yet",
                                  workdir);
        else
            rc = git_fail(err, errsz, "HEAD");
        goto done;
    }
    if ((detached = git_repository_head_detached(repo)) < 0 ||
        git_reference_peel((git_object **)&commit, head, GIT_OBJECT_COMMIT) < 0 ||
        git_commit_tree(&tree, commit) < 0) {
        rc = git_fail(err, errsz, "HEAD");
        goto done;
    }
    git_oid_tostr(commit_hex, sizeof commit_hex, git_commit_id(commit));
    git_oid_tostr(tree_hex, sizeof tree_hex, git_tree_id(tree));
    branch = detached ? "" : git_reference_shorthand(head);

    if ((rc = remotes_array(&remotes, repo, err, errsz)) < 0) goto done;
    if ((rc = diff_digest(&dirty, diff_hex, repo, tree, workdir, err, errsz)) < 0) goto done;

    /* libgit2 ends the work dir with '/'; the record names the folder itself. */
    wl = strlen(workdir);
    if (!(workpath = strdup(workdir))) {
        rc = ATTEST_ENOMEM;
        goto done;
    }
    if (wl > 1 && workpath[wl - 1] == '/') workpath[wl - 1] = '\0';

    /* Keys in the order of format/LOG.md's table: jansson keeps insertion order. */
    if (!(rec = json_object())) {
        rc = ATTEST_ENOMEM;
        goto done;
    }
    if ((rc = set_str(rec, "type", "code", err, errsz)) < 0 ||
        (rc = set_str(rec, "commit", commit_hex, err, errsz)) < 0 ||
        (rc = set_str(rec, "tree", tree_hex, err, errsz)) < 0 ||
        (rc = set_str(rec, "branch", branch, err, errsz)) < 0)
        goto done;
    rc = set(rec, "remotes", remotes);
    remotes = NULL;
    if (rc < 0 || (rc = set(rec, "dirty", json_boolean(dirty))) < 0 ||
        (dirty && (rc = set_str(rec, "diff_sha256", diff_hex, err, errsz)) < 0) ||
        (rc = set_str(rec, "path", workpath, err, errsz)) < 0)
        goto done;
    *out = rec;
    rec = NULL;
done:
    if (rc == ATTEST_ENOMEM && err && errsz && !err[0])
        attest_text_fail(err, errsz, rc, "out of memory");
    json_decref(rec);
    json_decref(remotes);
    free(workpath);
    git_tree_free(tree);
    git_commit_free(commit);
    git_reference_free(head);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return rc;
}
