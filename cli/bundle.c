/*
 * bundle.c (cli) - `attest bundle create|extract|list`: packs a run (log,
 * public key, TPM trust files, and as asked shards, checkpoints and the
 * code commit as a git bundle made with the git CLI) into one file
 * (format/BUNDLE.md), unpacks it, lists its manifest. The format itself is
 * the library's (format/bundle.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "attest/bundle.h"
#include "attest/digest.h"
#include "attest/error.h"
#include "attest/log.h"
#include "attest/note.h"
#include "cli/bundle.h"
#include "cli/cli.h"

extern char **environ;

static const char usage[] =
    "usage: attest bundle create LOG -o RUN.attest [--pub KEY.pub] [--with-data [--data DIR]]\n"
    "                     [--with-checkpoints all|none|first,last|STEP,... [--checkpoints DIR]]\n"
    "                     [--with-code REPO] [--tpm-ca CA.pem ...] [--enrollment-key AUDITOR.pub]\n"
    "                     [--level 1-19] [--threads T] [--quiet]\n"
    "       attest bundle extract RUN.attest -o DIR\n"
    "       attest bundle list RUN.attest\n"
    "\n"
    "create packs one run into one zstd-compressed file (format/BUNDLE.md) that an\n"
    "auditor verifies with `attest verify RUN.attest` and nothing else: the log,\n"
    "the run's public key (default: run.pub beside LOG; never the secret key),\n"
    "the TPM trust files when given, and as asked the shard files the log names\n"
    "(--with-data, from --data, default LOG's directory /data), the checkpoint\n"
    "files it names (--with-checkpoints: all, none, first, last or step numbers,\n"
    "comma-separated; from --checkpoints, default LOG's directory /checkpoints)\n"
    "and the commit of its code record as a git bundle (--with-code REPO, made\n"
    "with the git command). Members are streamed and hashed, never held in memory.\n"
    "extract checks every member's size and SHA-256 against the manifest and\n"
    "writes them under DIR (created; it must not exist). list prints the manifest.\n"
    "A progress bar goes to stderr when it is a terminal, unless --quiet.\n"
    "Exit status: 0 done, 2 error (a damaged bundle names the member).\n";

/* ----------------------------------------------------------------- shared */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_progress(void *ctx, uint64_t done, uint64_t total, const char *name)
{
    static double t0, last;
    static int drawn;
    if (!isatty(2)) return;
    double t = now_s();
    if (done == 0) t0 = t, drawn = 0;
    if (done < total && t - last < 0.1 && drawn) return;
    last = t;
    drawn = 1;
    int width = 30, fill = total ? (int)((double)done / (double)total * width) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double mb = (double)done / 1e6, rate = t > t0 ? mb / (t - t0) : 0;
    fprintf(stderr, "\r\033[K%s [%s] %5.1f%% %.0f/%.0f MB %.0f MB/s %.40s", (const char *)ctx, bar,
            total ? 100.0 * (double)done / (double)total : 100.0, mb, (double)total / 1e6, rate,
            name);
    if (done >= total && !name[0]) fputc('\n', stderr);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void cli_rmtree(const char *dir)
{
    if (dir) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int exit_of(int rc)
{
    return rc == ATTEST_EVERIFY ? EXIT_FAILED : EXIT_USAGE;
}

int cli_bundle_unpack(const char *path, int show_progress, char **dir, attest_bundle **b)
{
    const char *tmp = getenv("TMPDIR");
    char *d = NULL;
    *dir = NULL;
    *b = NULL;
    if (asprintf(&d, "%s/attest-bundle-XXXXXX", tmp && tmp[0] ? tmp : "/tmp") < 0)
        return cli_error("out of memory");
    if (!mkdtemp(d)) {
        int e = errno;
        free(d);
        return cli_error("cannot make a temporary directory: %s", strerror(e));
    }
    attest_bundle_options o = ATTEST_BUNDLE_OPTIONS_INIT;
    if (show_progress) {
        o.progress = cli_progress;
        o.progress_ctx = (void *)"extracting";
    }
    int rc = attest_bundle_read(b, path, d, &o);
    if (rc) {
        cli_error("%s: %s", path, attest_bundle_errmsg(*b));
        attest_bundle_free(*b);
        *b = NULL;
        cli_rmtree(d);
        free(d);
        return EXIT_USAGE;
    }
    *dir = d;
    return 0;
}

/* DIR/name beside the log, malloc'd. */
static char *beside(const char *log, const char *name)
{
    char *copy = strdup(log), *out = NULL;
    if (copy && asprintf(&out, "%s/%s", dirname(copy), name) < 0) out = NULL;
    free(copy);
    return out;
}

/* Runs argv without a shell; 0 when it exits 0. */
static int run(char *const argv[])
{
    pid_t pid;
    int st;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) return -1;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int cli_bundle_code(const char *dir, attest_bundle *b, char **code_dir)
{
    *code_dir = NULL;
    for (size_t i = 0; i < attest_bundle_count(b); i++) {
        const attest_bundle_member *m = attest_bundle_get(b, i);
        if (strcmp(m->role, "code") != 0) continue;
        char *src = NULL, *dst = NULL;
        if (asprintf(&src, "%s/%s", dir, m->name) < 0) return EXIT_USAGE;
        if (asprintf(&dst, "%s/code-tree", dir) < 0) {
            free(src);
            return EXIT_USAGE;
        }
        char *clone[] = {"git", "clone", "-q", src, dst, NULL};
        int rc = run(clone);
        free(src);
        if (rc != 0) {
            free(dst);
            return cli_error("the bundle's code member %s does not clone with git", m->name);
        }
        *code_dir = dst;
        return 0;
    }
    return 0;
}

/* ----------------------------------------------------------------- create */

typedef struct runfiles {
    json_t *shards; /* names */
    json_t *ckpts;  /* [step, name] */
    char commit[41];
    int dirty;
} runfiles;

static int read_log(const char *path, runfiles *f)
{
    attest_log *log = NULL;
    int rc = attest_log_open(&log, path, ATTEST_LOG_READ);
    if (rc) {
        cli_error("%s: %s", path, log ? attest_log_errmsg(log) : attest_strerror(rc));
        attest_log_free(log);
        return EXIT_USAGE;
    }
    uint64_t n = attest_log_count(log);
    for (uint64_t i = 0; i < n && !rc; i++) {
        char *text = NULL;
        size_t len;
        if ((rc = attest_log_get(log, i, &text, &len)) != 0) {
            cli_error("%s: record %" PRIu64 ": %s", path, i, attest_log_errmsg(log));
            break;
        }
        json_t *rec = json_loadb(text, len, 0, NULL);
        free(text);
        const char *type = json_string_value(json_object_get(rec, "type"));
        const char *name = json_string_value(json_object_get(rec, "name"));
        if (type && strcmp(type, "shard") == 0)
            json_array_append_new(f->shards, json_string(name));
        else if (type && strcmp(type, "checkpoint") == 0) {
            if (!name) {
                rc = cli_error("%s: record %" PRIu64 ": a checkpoint without a file name", path, i);
                json_decref(rec);
                break;
            }
            json_array_append_new(f->ckpts, json_pack("[O, s]", json_object_get(rec, "step"), name));
        } else if (type && strcmp(type, "code") == 0) {
            snprintf(f->commit, sizeof f->commit, "%s",
                     json_string_value(json_object_get(rec, "commit")));
            f->dirty = json_is_true(json_object_get(rec, "dirty"));
        }
        json_decref(rec);
    }
    attest_log_free(log);
    return rc ? EXIT_USAGE : 0;
}

/* Which checkpoints --with-checkpoints picks: keep[i] for f->ckpts[i]. */
static int pick(const char *sel, const runfiles *f, uint8_t *keep)
{
    size_t n = json_array_size(f->ckpts);
    if (strcmp(sel, "none") == 0) return 0;
    char *copy = strdup(sel), *save = NULL;
    if (!copy) return cli_error("out of memory");
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        uint64_t step;
        int found = 0;
        if (strcmp(t, "all") == 0) {
            memset(keep, 1, n);
            found = 1;
        } else if (strcmp(t, "first") == 0 || strcmp(t, "last") == 0) {
            if (n) keep[t[0] == 'f' ? 0 : n - 1] = 1;
            found = n > 0;
        } else if (cli_u64(t, &step) == 0) {
            for (size_t i = 0; i < n; i++)
                if ((uint64_t)json_integer_value(json_array_get(json_array_get(f->ckpts, i), 0)) ==
                    step)
                    keep[i] = found = 1;
        } else {
            free(copy);
            return cli_usage(usage, "--with-checkpoints takes all, none, first, last or step "
                                    "numbers, comma-separated");
        }
        if (!found) {
            cli_error("--with-checkpoints: the log has no checkpoint \"%s\"", t);
            free(copy);
            return EXIT_USAGE;
        }
    }
    free(copy);
    return 0;
}

/*
 * git bundle of the commit into tmp/code.bundle: a temporary bare repository
 * fetches it as branch attest-code, its HEAD, so that `git clone` checks it out.
 */
static int git_bundle(const char *repo, const char *commit, const char *tmp, char **out)
{
    char *bare = NULL, *file = NULL, *spec = NULL;
    int rc = EXIT_USAGE;
    if (asprintf(&bare, "%s/code.git", tmp) < 0 || asprintf(&file, "%s/code.bundle", tmp) < 0 ||
        asprintf(&spec, "%s:refs/heads/attest-code", commit) < 0)
        goto done;
    char *init[] = {"git", "init", "-q", "--bare", bare, NULL};
    char *fetch[] = {"git", "-C", bare, "fetch", "-q", "--no-tags", (char *)repo, spec, NULL};
    char *head[] = {"git", "-C", bare, "symbolic-ref", "HEAD", "refs/heads/attest-code", NULL};
    char *pack[] = {"git",  "-C", bare, "bundle", "create", "-q", file, "HEAD",
                    "refs/heads/attest-code", NULL};
    if (run(init) != 0 || run(fetch) != 0 || run(head) != 0 || run(pack) != 0) {
        cli_error("--with-code: git could not bundle commit %s from %s", commit, repo);
        goto done;
    }
    *out = file;
    file = NULL;
    rc = 0;
done:
    free(bare);
    free(file);
    free(spec);
    return rc;
}

static int add(attest_bundle_writer *w, const char *role, const char *name, const char *file)
{
    int rc = attest_bundle_writer_add(w, role, name, file);
    if (rc) cli_error("%s", attest_bundle_writer_errmsg(w));
    return rc;
}

static int add_in(attest_bundle_writer *w, const char *role, const char *prefix, const char *dir,
                  const char *name)
{
    char *member = NULL, *file = NULL;
    int rc = ATTEST_ENOMEM;
    if (asprintf(&member, "%s/%s", prefix, name) >= 0 && asprintf(&file, "%s/%s", dir, name) >= 0)
        rc = add(w, role, member, file);
    else
        cli_error("out of memory");
    free(member);
    free(file);
    return rc;
}

static int create(int argc, char **argv)
{
    const char *log = NULL, *out = NULL, *pub = NULL, *data = NULL, *ckdir = NULL, *sel = "none";
    const char *repo = NULL, *enroll = NULL, *cas[16];
    size_t n_cas = 0;
    int with_data = 0, quiet = 0, rc = EXIT_USAGE;
    uint64_t v;
    attest_bundle_options o = ATTEST_BUNDLE_OPTIONS_INIT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--pub") == 0 && i + 1 < argc)
            pub = argv[++i];
        else if (strcmp(argv[i], "--with-data") == 0)
            with_data = 1;
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--with-checkpoints") == 0 && i + 1 < argc)
            sel = argv[++i];
        else if (strcmp(argv[i], "--checkpoints") == 0 && i + 1 < argc)
            ckdir = argv[++i];
        else if (strcmp(argv[i], "--with-code") == 0 && i + 1 < argc)
            repo = argv[++i];
        else if (strcmp(argv[i], "--tpm-ca") == 0 && i + 1 < argc && n_cas < 16)
            cas[n_cas++] = argv[++i];
        else if (strcmp(argv[i], "--enrollment-key") == 0 && i + 1 < argc)
            enroll = argv[++i];
        else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc) {
            if (cli_u64(argv[++i], &v) != 0 || v < 1 || v > 19)
                return cli_usage(usage, "--level takes 1 to 19");
            o.level = (int)v;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (cli_u64(argv[++i], &v) != 0 || v < 1 || v > 64)
                return cli_usage(usage, "--threads takes 1 to 64");
            o.threads = (unsigned)v;
        } else if (strcmp(argv[i], "--quiet") == 0)
            quiet = 1;
        else if (argv[i][0] == '-')
            return cli_usage(usage, "unknown option \"%s\"", argv[i]);
        else if (!log)
            log = argv[i];
        else
            return cli_usage(usage, "unexpected argument \"%s\"", argv[i]);
    }
    if (!log || !out) return cli_usage(usage, "LOG and -o RUN.attest are required");
    if (!quiet) {
        o.progress = cli_progress;
        o.progress_ctx = (void *)"bundling";
    }

    runfiles f = {json_array(), json_array(), "", 0};
    attest_bundle_writer *w = NULL;
    attest_verifier *key = NULL;
    char *pub_def = NULL, *data_def = NULL, *ck_def = NULL, *tmp = NULL, *code = NULL;
    uint8_t *keep = NULL;
    char err[256];
    if (!f.shards || !f.ckpts) goto nomem;
    if ((rc = read_log(log, &f)) != 0) goto done;
    rc = EXIT_USAGE;
    if (!pub && !(pub = pub_def = beside(log, "run.pub"))) goto nomem;
    // Only a key that parses as a verifier key goes in: never the secret run.key.
    if (attest_verifier_load(&key, pub, err, sizeof err) != 0) {
        cli_error("%s: %s (a bundle carries the public key only)", pub, err);
        goto done;
    }
    if (!(keep = calloc(json_array_size(f.ckpts) + 1, 1))) goto nomem;
    if ((rc = pick(sel, &f, keep)) != 0) goto done;
    rc = EXIT_USAGE;
    if (attest_bundle_writer_create(&w, out, &o) != 0) {
        cli_error("%s", attest_bundle_writer_errmsg(w));
        goto done;
    }
    if (add(w, "log", "run.log", log) || add(w, "public-key", "run.pub", pub)) goto done;
    if (enroll && add(w, "enrollment-key", "tpm/enrollment.pub", enroll)) goto done;
    for (size_t i = 0; i < n_cas; i++) {
        char *copy = strdup(cas[i]), *member = NULL;
        int bad = !copy || asprintf(&member, "tpm/%s", basename(copy)) < 0;
        if (bad) member = NULL;
        bad = bad || add(w, "tpm-ca", member, cas[i]) != 0;
        free(copy);
        free(member);
        if (bad) goto done;
    }
    if (with_data) {
        if (!data && !(data = data_def = beside(log, "data"))) goto nomem;
        for (size_t i = 0; i < json_array_size(f.shards); i++)
            if (add_in(w, "shard", "data", data, json_string_value(json_array_get(f.shards, i))))
                goto done;
    }
    if (!ckdir && !(ckdir = ck_def = beside(log, "checkpoints"))) goto nomem;
    for (size_t i = 0; i < json_array_size(f.ckpts); i++)
        if (keep[i] && add_in(w, "checkpoint", "checkpoints", ckdir,
                              json_string_value(json_array_get(json_array_get(f.ckpts, i), 1))))
            goto done;
    if (repo) {
        const char *t = getenv("TMPDIR");
        char member[64];
        if (!f.commit[0]) {
            cli_error("--with-code: the log has no code record");
            goto done;
        }
        if (f.dirty)
            fprintf(stderr, "attest bundle: the code record says the work tree was dirty: the "
                            "bundle holds commit %s, not the uncommitted changes\n",
                    f.commit);
        if (asprintf(&tmp, "%s/attest-code-XXXXXX", t && t[0] ? t : "/tmp") < 0) goto nomem;
        if (!mkdtemp(tmp)) {
            free(tmp);
            tmp = NULL;
            cli_error("cannot make a temporary directory: %s", strerror(errno));
            goto done;
        }
        if (git_bundle(repo, f.commit, tmp, &code) != 0) goto done;
        snprintf(member, sizeof member, "code/%s.bundle", f.commit);
        if (add(w, "code", member, code)) goto done;
    }
    if (attest_bundle_writer_packed(w, "data", with_data ? "all" : "none") ||
        attest_bundle_writer_packed(w, "checkpoints", sel) ||
        attest_bundle_writer_packed(w, "code", repo ? "git-bundle" : "none"))
        goto nomem;
    if (attest_bundle_writer_finish(w) != 0) {
        cli_error("%s", attest_bundle_writer_errmsg(w));
        goto done;
    }
    rc = 0;
    goto done;
nomem:
    rc = cli_error("out of memory");
done:
    attest_bundle_writer_free(w);
    attest_verifier_free(key);
    if (tmp) cli_rmtree(tmp);
    free(tmp);
    free(code);
    free(keep);
    free(pub_def);
    free(data_def);
    free(ck_def);
    json_decref(f.shards);
    json_decref(f.ckpts);
    return rc;
}

/* ----------------------------------------------------------- extract, list */

static int extract(int argc, char **argv)
{
    const char *path = NULL, *out = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = 1;
        else if (argv[i][0] == '-')
            return cli_usage(usage, "unknown option \"%s\"", argv[i]);
        else if (!path)
            path = argv[i];
        else
            return cli_usage(usage, "unexpected argument \"%s\"", argv[i]);
    }
    if (!path || !out) return cli_usage(usage, "RUN.attest and -o DIR are required");
    if (mkdir(out, 0755) != 0) return cli_error("%s: %s", out, strerror(errno));
    attest_bundle_options o = ATTEST_BUNDLE_OPTIONS_INIT;
    if (!quiet) {
        o.progress = cli_progress;
        o.progress_ctx = (void *)"extracting";
    }
    attest_bundle *b = NULL;
    int rc = attest_bundle_read(&b, path, out, &o);
    if (rc) cli_error("%s: %s", path, attest_bundle_errmsg(b));
    attest_bundle_free(b);
    return rc ? exit_of(rc) : 0;
}

static int list(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') return cli_usage(usage, "list takes RUN.attest");
    attest_bundle *b = NULL;
    int rc = attest_bundle_read(&b, argv[1], NULL, NULL);
    if (rc) {
        cli_error("%s: %s", argv[1], attest_bundle_errmsg(b));
        attest_bundle_free(b);
        return exit_of(rc);
    }
    for (size_t i = 0; i < attest_bundle_count(b); i++) {
        const attest_bundle_member *m = attest_bundle_get(b, i);
        char hex[65];
        attest_sha256_hex(m->sha256, hex);
        printf("%s  %-14s %12" PRIu64 "  %s\n", hex, m->role, m->size, m->name);
    }
    static const char *kinds[] = {"data", "checkpoints", "code"};
    for (size_t i = 0; i < 3; i++)
        if (attest_bundle_packed(b, kinds[i]))
            printf("packed %s: %s\n", kinds[i], attest_bundle_packed(b, kinds[i]));
    attest_bundle_free(b);
    return 0;
}

int cmd_bundle(int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "create") == 0) return create(argc - 1, argv + 1);
    if (strcmp(argv[1], "extract") == 0) return extract(argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0) return list(argc - 1, argv + 1);
    return cli_usage(usage, "unknown bundle command \"%s\"", argv[1]);
}
