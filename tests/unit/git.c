/*
 * Tests of attest/git.c (the `code` record and the digest of uncommitted
 * changes, format/LOG.md section 5) on real repositories made with the git
 * command line. Expected ids come from `git rev-parse`, expected digests
 * from a manifest built with printf and hashed with `sha256sum`.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "attest/error.h"
#include "attest/git.h"
#include "tests/harness.h"

/*
 * libgit2 1.5 leaks a PCRE2 match block on every config regex that does not
 * match (git_remote_list, insteadOf lookups; libgit2 PR #6382, first in 1.6).
 * We never call PCRE2 ourselves, so its allocations are kept out of the report.
 */
__attribute__((visibility("default"))) const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpcre2-8.so\n";
}

static char top[64];   /* the mkdtemp folder; HOME points here */
static char repo[256]; /* the repository of the current test */
static char err[512];
static int nrepo;

#define GIT "git -c user.name=t -c user.email=t@e -c init.defaultBranch=main -C "

/* Runs a shell command made from fmt; returns its exit status (0 is success). */
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc) printf("# command failed (%d): %s\n", rc, cmd);
    return rc;
}

/* Runs a shell command and returns its first output line without LF (static buffer). */
static const char *out(const char *fmt, ...)
{
    static char line[4096];
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    line[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return line;
    if (!fgets(line, sizeof line, p)) line[0] = '\0';
    pclose(p);
    line[strcspn(line, "\n")] = '\0';
    return line;
}

/* A fresh repository with one commit of a.txt and b.txt on branch main. */
static int make_repo(void)
{
    snprintf(repo, sizeof repo, "%s/r%d", top, ++nrepo);
    return sh("mkdir %s && " GIT "%s init -q -b main && printf 'alpha\\n' > %s/a.txt && "
              "printf 'beta\\n' > %s/b.txt && " GIT "%s add -A && " GIT "%s commit -q -m one",
              repo, repo, repo, repo, repo, repo);
}

/* Reads the record of `path`; returns the code and keeps the record in *rec. */
static int record(const char *path, json_t **rec)
{
    err[0] = '\0';
    return attest_git_code_record(path, rec, err, sizeof err);
}

static const char *str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

/* The diff_sha256 of the repo now, "" when clean or on error. */
static const char *digest(char buf[65])
{
    json_t *rec = NULL;
    buf[0] = '\0';
    if (record(repo, &rec) == 0 && json_is_true(json_object_get(rec, "dirty")) &&
        str(rec, "diff_sha256"))
        snprintf(buf, 65, "%s", str(rec, "diff_sha256"));
    json_decref(rec);
    return buf;
}

/*
 * The expected digest, built by the shell: `lines` is a list of shell
 * snippets from the F/L/D macros below, one per changed path, in order.
 */
static const char *expected(const char *lines)
{
    return out("cd %s && { %s } | sha256sum | cut -c1-64", repo, lines);
}
#define HEX "| cut -c1-64 | tr -d '\\n'; printf '\\n';"
#define F(path, mode) "printf '%s\\000%s\\000' '" path "' " mode "; sha256sum < '" path "' " HEX
#define L(path)                                                                                    \
    "printf '%s\\000120000\\000' '" path "'; "                                                     \
    "printf %s \"$(readlink '" path "')\" | sha256sum " HEX
#define D(path) "printf '%s\\000000000\\000deleted\\n' '" path "';"

static void test_clean_repository(void)
{
    json_t *rec = NULL;
    CHECK(make_repo() == 0);
    CHECK(sh(GIT "%s remote add zeta https://example.com/z.git && " GIT
                 "%s remote add alpha git@example.com:a.git",
             repo, repo) == 0);
    CHECK_EQ_INT(record(repo, &rec), 0);
    CHECK_STR(str(rec, "type"), "code");
    CHECK_STR(str(rec, "commit"), out("git -C %s rev-parse HEAD", repo));
    CHECK_STR(str(rec, "tree"), out("git -C %s rev-parse 'HEAD^{tree}'", repo));
    CHECK_STR(str(rec, "branch"), "main");
    CHECK_STR(str(rec, "path"), out("git -C %s rev-parse --show-toplevel", repo));
    CHECK(json_is_false(json_object_get(rec, "dirty")));
    CHECK(json_object_get(rec, "diff_sha256") == NULL);
    json_t *remotes = json_object_get(rec, "remotes");
    CHECK_EQ_INT(json_array_size(remotes), 2);
    CHECK_STR(str(json_array_get(remotes, 0), "name"), "alpha");
    CHECK_STR(str(json_array_get(remotes, 0), "url"), "git@example.com:a.git");
    CHECK_STR(str(json_array_get(remotes, 1), "name"), "zeta");
    CHECK_STR(str(json_array_get(remotes, 1), "url"), "https://example.com/z.git");
    /* Keys in the order of the spec's table for writers. */
    char *text = json_dumps(rec, JSON_COMPACT);
    CHECK(text && !strncmp(text, "{\"type\":\"code\",\"commit\":", 24));
    CHECK(text && strstr(text, "\"branch\":\"main\",\"remotes\":[{\"name\":\"alpha\",\"url\":"));
    CHECK(text && strstr(text, "\"dirty\":false,\"path\":"));
    free(text);
    json_decref(rec);

    /* A folder inside the work tree names the same repository. */
    char sub[300];
    snprintf(sub, sizeof sub, "%s/src/deep", repo);
    CHECK(sh("mkdir -p %s", sub) == 0);
    CHECK_EQ_INT(record(sub, &rec), 0);
    CHECK_STR(str(rec, "path"), out("git -C %s rev-parse --show-toplevel", repo));
    CHECK_STR(str(rec, "commit"), out("git -C %s rev-parse HEAD", repo));
    CHECK(json_is_false(json_object_get(rec, "dirty"))); /* empty folders are not changes */
    CHECK_EQ_INT(json_array_size(json_object_get(rec, "remotes")), 2);
    json_decref(rec);
}

static void test_no_remotes_is_an_empty_array(void)
{
    json_t *rec = NULL;
    CHECK(make_repo() == 0);
    CHECK_EQ_INT(record(repo, &rec), 0);
    CHECK(json_is_array(json_object_get(rec, "remotes")));
    CHECK_EQ_INT(json_array_size(json_object_get(rec, "remotes")), 0);
    json_decref(rec);
}

static void test_modified_file(void)
{
    json_t *rec = NULL;
    char d[65];
    CHECK(make_repo() == 0);
    CHECK(sh("printf 'changed\\n' > %s/a.txt", repo) == 0);
    CHECK_EQ_INT(record(repo, &rec), 0);
    CHECK(json_is_true(json_object_get(rec, "dirty")));
    CHECK_STR(str(rec, "diff_sha256"), expected(F("a.txt", "100644")));
    /* diff_sha256 sits between dirty and path. */
    char *text = json_dumps(rec, JSON_COMPACT);
    CHECK(text && strstr(text, "\"dirty\":true,\"diff_sha256\":\""));
    CHECK(text && strstr(text, "\",\"path\":\""));
    free(text);
    json_decref(rec);

    /* Files past one 64 KiB read chunk are hashed whole. */
    CHECK(sh("yes 0123456789 | head -c 200001 > %s/b.txt", repo) == 0);
    CHECK_STR(digest(d), expected(F("a.txt", "100644") F("b.txt", "100644")));
}

static void test_same_size_same_second_edit(void)
{
    char d[65];
    CHECK(make_repo() == 0);
    /* Same size and likely the same mtime second as the index entry: stat alone can't tell. */
    CHECK(
        sh("touch -r %s/a.txt %s/when && printf 'ALPHA\\n' > %s/a.txt && touch -r %s/when %s/a.txt",
           repo, top, repo, top, repo) == 0);
    CHECK_STR(digest(d), expected(F("a.txt", "100644")));
}

static void test_staged_change(void)
{
    char d[65];
    CHECK(make_repo() == 0);
    CHECK(sh("printf 'staged\\n' > %s/b.txt && " GIT "%s add b.txt", repo, repo) == 0);
    CHECK_STR(digest(d), expected(F("b.txt", "100644")));
    /* Staged, then reverted in the work tree: what ran is the commit. */
    CHECK(sh("printf 'beta\\n' > %s/b.txt", repo) == 0);
    CHECK_STR(digest(d), "");
}

static void test_untracked_and_ignored(void)
{
    json_t *rec = NULL;
    char d[65];
    CHECK(make_repo() == 0);
    CHECK(sh("printf 'build/\\n*.log\\n' > %s/.gitignore && " GIT "%s add .gitignore && " GIT
             "%s commit -q -m ignore",
             repo, repo, repo) == 0);
    CHECK(sh("mkdir %s/build && printf x > %s/build/out.o && printf y > %s/run.log", repo, repo,
             repo) == 0);
    CHECK_EQ_INT(record(repo, &rec), 0);
    CHECK(json_is_false(json_object_get(rec, "dirty")));
    CHECK(json_object_get(rec, "diff_sha256") == NULL);
    json_decref(rec);

    /* Untracked files count, also deep inside untracked folders. */
    CHECK(sh("mkdir -p %s/new/deeper && printf n > %s/new/deeper/n.py && printf m > %s/m.py", repo,
             repo, repo) == 0);
    CHECK_STR(digest(d), expected(F("m.py", "100644") F("new/deeper/n.py", "100644")));
}

static void test_deleted_file(void)
{
    char d[65];
    CHECK(make_repo() == 0);
    CHECK(sh("rm %s/a.txt", repo) == 0);
    CHECK_STR(digest(d), expected(D("a.txt")));
    /* A deletion staged with git rm is the same change of the work tree. */
    CHECK(sh(GIT "%s rm -q a.txt", repo) == 0);
    CHECK_STR(digest(d), expected(D("a.txt")));
}

static void test_mode_change(void)
{
    char d[65];
    CHECK(make_repo() == 0);
    CHECK(sh("chmod +x %s/b.txt", repo) == 0);
    CHECK_STR(digest(d), expected(F("b.txt", "100755")));
    CHECK(strstr(out("cd %s && git diff --raw", repo), "100644 100755") != NULL);
}

static void test_symlink(void)
{
    char d[65];
    CHECK(make_repo() == 0);
    CHECK(sh("ln -s a.txt %s/link && ln -s /no/such/target %s/dangling", repo, repo) == 0);
    CHECK_STR(digest(d), expected(L("dangling") L("link")));
    /* A committed link retargeted, and a file replaced by a link (a typechange). */
    CHECK(sh(GIT "%s add -A && " GIT "%s commit -q -m links && ln -sfn b.txt %s/link && "
                 "rm %s/a.txt && ln -s b.txt %s/a.txt",
             repo, repo, repo, repo, repo) == 0);
    CHECK_STR(digest(d), expected(L("a.txt") L("link")));
}

static void test_digest_tracks_content(void)
{
    char d1[65], d2[65], d3[65];
    CHECK(make_repo() == 0);
    CHECK(sh("printf 'one\\n' > %s/a.txt", repo) == 0);
    digest(d1);
    CHECK(sh("printf 'two\\n' > %s/a.txt", repo) == 0);
    digest(d2);
    CHECK(sh("printf 'one\\n' > %s/a.txt", repo) == 0);
    digest(d3);
    CHECK(strlen(d1) == 64 && strlen(d2) == 64);
    CHECK(strcmp(d1, d2) != 0);
    CHECK_STR(d3, d1);

    /* The same edit in another clone of the same commit gives the same digest. */
    char first[256];
    snprintf(first, sizeof first, "%s", repo);
    snprintf(repo, sizeof repo, "%s/r%d", top, ++nrepo);
    CHECK(sh("git clone -q %s %s && printf 'one\\n' > %s/a.txt", first, repo, repo) == 0);
    CHECK_STR(digest(d2), d1);
}

static void test_detached_head(void)
{
    json_t *rec = NULL;
    CHECK(make_repo() == 0);
    CHECK(sh(GIT "%s commit -q --allow-empty -m two && " GIT "%s checkout -q --detach HEAD~1", repo,
             repo) == 0);
    CHECK_EQ_INT(record(repo, &rec), 0);
    CHECK_STR(str(rec, "branch"), "");
    CHECK_STR(str(rec, "commit"), out("git -C %s rev-parse HEAD", repo));
    CHECK(json_is_false(json_object_get(rec, "dirty")));
    json_decref(rec);
}

static void test_other_branch(void)
{
    json_t *rec = NULL;
    CHECK(make_repo() == 0);
    CHECK(sh(GIT "%s checkout -q -b feature/x", repo) == 0);
    CHECK_EQ_INT(record(repo, &rec), 0);
    CHECK_STR(str(rec, "branch"), "feature/x");
    json_decref(rec);
}

static void test_submodule_and_nested_repository_ignored(void)
{
    json_t *rec = NULL;
    char inner[300];
    CHECK(make_repo() == 0);
    snprintf(inner, sizeof inner, "%s", repo);
    CHECK(make_repo() == 0);
    CHECK(sh(GIT "%s -c protocol.file.allow=always submodule add -q %s sub >/dev/null && " GIT
                 "%s commit -q -m sub && printf 'x\\n' > %s/sub/a.txt",
             repo, inner, repo, repo) == 0);
    CHECK_EQ_INT(record(repo, &rec), 0);
    CHECK(json_is_false(json_object_get(rec, "dirty")));
    json_decref(rec);

    /* An untracked nested repository is a submodule not yet registered. */
    CHECK(sh("git clone -q %s %s/vendor && printf 'y\\n' > %s/vendor/new.txt", inner, repo, repo) ==
          0);
    CHECK_EQ_INT(record(repo, &rec), 0);
    CHECK(json_is_false(json_object_get(rec, "dirty")));
    json_decref(rec);
}

static void test_file_and_folder_swapped(void)
{
    char d[65];
    CHECK(make_repo() == 0);
    CHECK(sh("mkdir %s/src && printf s > %s/src/s.c && " GIT "%s add -A && " GIT
             "%s commit -q -m src",
             repo, repo, repo, repo) == 0);
    /* A file that became a folder is gone as a file; its new files are added. */
    CHECK(sh("rm %s/a.txt && mkdir %s/a.txt && printf z > %s/a.txt/z", repo, repo, repo) == 0);
    CHECK_STR(digest(d), expected(D("a.txt") F("a.txt/z", "100644")));
    /* A folder that became a file: the file is new, what was inside is gone. */
    CHECK(sh("rm -r %s/a.txt && printf 'alpha\\n' > %s/a.txt && rm -r %s/src && printf f > %s/src",
             repo, repo, repo, repo) == 0);
    CHECK_STR(digest(d), expected(F("src", "100644") D("src/s.c")));
}

static void test_not_a_repository(void)
{
    json_t *rec = (json_t *)1;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/plain", top);
    CHECK(sh("mkdir %s", dir) == 0);
    CHECK_EQ_INT(record(dir, &rec), ATTEST_ENOTFOUND);
    CHECK(rec == NULL);
    CHECK(strstr(err, dir) != NULL);
    CHECK(strstr(err, "not inside a git repository") != NULL);
}

static void test_no_commit_yet(void)
{
    json_t *rec = (json_t *)1;
    snprintf(repo, sizeof repo, "%s/r%d", top, ++nrepo);
    CHECK(sh("mkdir %s && " GIT "%s init -q -b main && printf x > %s/f", repo, repo, repo) == 0);
    CHECK_EQ_INT(record(repo, &rec), ATTEST_EFORMAT);
    CHECK(rec == NULL);
    CHECK(strstr(err, "no commit") != NULL);
}

static void test_path_not_utf8(void)
{
    json_t *rec = (json_t *)1;
    /* JSON cannot hold the byte 0xff; the record is refused, not mangled. */
    snprintf(repo, sizeof repo, "%s/latin1-\xff", top);
    CHECK(sh("mkdir %s && " GIT "%s init -q -b main && " GIT "%s commit -q --allow-empty -m e",
             repo, repo, repo) == 0);
    CHECK_EQ_INT(record(repo, &rec), ATTEST_EFORMAT);
    CHECK(rec == NULL);
    CHECK(strstr(err, "UTF-8") != NULL);
}

static void test_bare_repository(void)
{
    json_t *rec = (json_t *)1;
    CHECK(make_repo() == 0);
    char bare[300];
    snprintf(bare, sizeof bare, "%s.git", repo);
    CHECK(sh("git clone -q --bare %s %s", repo, bare) == 0);
    CHECK_EQ_INT(record(bare, &rec), ATTEST_EFORMAT);
    CHECK(rec == NULL);
    CHECK(strstr(err, "bare") != NULL);
}

int main(void)
{
    snprintf(top, sizeof top, "/tmp/attest-git-XXXXXX");
    if (!mkdtemp(top)) {
        printf("not ok - mkdtemp\n");
        return 1;
    }
    /* Only the test's own settings: no user or system config, no inherited repo. */
    setenv("HOME", top, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("LC_ALL", "C", 1);
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("GIT_DIR");
    unsetenv("GIT_WORK_TREE");
    unsetenv("GIT_INDEX_FILE");
    unsetenv("GIT_CEILING_DIRECTORIES");

    RUN(test_clean_repository);
    RUN(test_no_remotes_is_an_empty_array);
    RUN(test_modified_file);
    RUN(test_same_size_same_second_edit);
    RUN(test_staged_change);
    RUN(test_untracked_and_ignored);
    RUN(test_deleted_file);
    RUN(test_mode_change);
    RUN(test_symlink);
    RUN(test_digest_tracks_content);
    RUN(test_detached_head);
    RUN(test_other_branch);
    RUN(test_submodule_and_nested_repository_ignored);
    RUN(test_file_and_folder_swapped);
    RUN(test_not_a_repository);
    RUN(test_no_commit_yet);
    RUN(test_bare_repository);
    RUN(test_path_not_utf8);

    sh("rm -rf %s", top);
    HARNESS_EXIT();
}
