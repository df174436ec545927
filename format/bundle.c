/*
 * bundle.c - the bundle format (format/BUNDLE.md): writer and reader. Both
 * stream: members go from file to zstd (and back) in fixed-size chunks and
 * are hashed on the way, so memory does not grow with the bundle. The
 * reader refuses names that could leave its directory before it writes
 * anything. It knows nothing of what the members mean.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zstd.h>

#include "attest/bundle.h"
#include "attest/digest.h"
#include "attest/error.h"
#include "format/sha256.h"

#define MAGIC_LEN 24
#define MANIFEST_MAX (16u << 20)
#define MEMBERS_MAX (1u << 20)
#define NAME_MAX_LEN 1024
#define WINDOW_LOG_MAX 23
#define CHUNK (1u << 20)
#define PROGRESS_EVERY (8u << 20)

/* [BUNDLE-1]: a skippable zstd frame (magic 0x184D2A5A, 16 bytes of content). */
static const uint8_t magic[MAGIC_LEN - 2] = {0x5a, 0x2a, 0x4d, 0x18, 0x10, 0x00, 0x00, 0x00,
                                             'a',  't',  't',  'e',  's',  't',  '-',  'b',
                                             'u',  'n',  'd',  'l',  'e',  0x00};
#define VERSION 1

/* [BUNDLE-7]: the roles, the directory each one's names live in, and how many there may be. */
static const struct role {
    const char *role, *prefix; /* prefix: the directory, or the exact name when `exact` */
    int exact, single;
} roles[] = {
    {"log", "run.log", 1, 1},
    {"public-key", "run.pub", 1, 1},
    {"enrollment-key", "tpm/enrollment.pub", 1, 1},
    {"tpm-ca", "tpm/", 0, 0},
    {"shard", "data/", 0, 0},
    {"checkpoint", "checkpoints/", 0, 0},
    {"code", "code/", 0, 1},
};

static const struct role *role_of(const char *role)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(roles[i].role, role) == 0) return &roles[i];
    return NULL;
}

static int fail(char *msg, size_t msz, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *msg, size_t msz, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msz, fmt, ap);
    va_end(ap);
    return rc;
}

/* [BUNDLE-8]: NULL when `name` is a valid name for `role`, else why not. */
static const char *name_problem(const char *role, const char *name)
{
    const struct role *r = role_of(role);
    size_t n = strlen(name);
    if (!r) return "has an unknown role";
    if (n == 0 || n > NAME_MAX_LEN) return "is empty or longer than 1024 bytes";
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x21 || name[i] > 0x7e || name[i] == '\\')
            return "holds a byte outside printable ASCII, a space or a backslash";
    if (r->exact) return strcmp(name, r->prefix) == 0 ? NULL : "is not the name of its role";
    size_t p = strlen(r->prefix);
    if (strncmp(name, r->prefix, p) != 0) return "is not in the directory of its role";
    const char *leaf = name + p;
    if (!leaf[0] || strchr(leaf, '/')) return "is not one file name inside that directory";
    if (strcmp(leaf, ".") == 0 || strcmp(leaf, "..") == 0) return "is \".\" or \"..\"";
    return NULL;
}

static int unhex(const char *s, uint8_t out[32])
{
    if (!s || strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64) return -1;
    for (int i = 0; i < 32; i++) {
        int hi = s[2 * i] <= '9' ? s[2 * i] - '0' : s[2 * i] - 'a' + 10;
        int lo = s[2 * i + 1] <= '9' ? s[2 * i + 1] - '0' : s[2 * i + 1] - 'a' + 10;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static ssize_t read_some(int fd, void *buf, size_t len)
{
    ssize_t r;
    do
        r = read(fd, buf, len);
    while (r < 0 && errno == EINTR);
    return r;
}

static int get_options(attest_bundle_options *o, const attest_bundle_options *in)
{
    attest_bundle_options def = ATTEST_BUNDLE_OPTIONS_INIT;
    *o = def;
    if (!in) return 0;
    if (in->version != ATTEST_BUNDLE_OPTIONS_VERSION) return ATTEST_EINVAL;
    *o = *in;
    if (o->level == 0) o->level = 3;
    return o->level < 1 || o->level > 19 ? ATTEST_EINVAL : 0;
}

/* ---------------------------------------------------------------- writer */

typedef struct wmember {
    char *role, *name, *file;
    uint64_t size;
    uint8_t sha256[32];
} wmember;

struct attest_bundle_writer {
    char *path, *tmp;
    int fd;
    attest_bundle_options o;
    ZSTD_CCtx *z;
    wmember *m;
    size_t n, cap;
    json_t *packed;
    uint64_t done, total, next_progress;
    uint8_t *in, *out;
    char msg[600];
};

int attest_bundle_writer_create(attest_bundle_writer **out, const char *path,
                                const attest_bundle_options *opts)
{
    attest_bundle_writer *w = calloc(1, sizeof *w);
    *out = w;
    if (!w) return ATTEST_ENOMEM;
    w->fd = -1;
    if (!path || get_options(&w->o, opts) != 0)
        return fail(w->msg, sizeof w->msg, ATTEST_EINVAL, "invalid bundle options");
    size_t n = strlen(path) + 16;
    if (!(w->path = strdup(path)) || !(w->tmp = malloc(n)) || !(w->packed = json_object()) ||
        !(w->in = malloc(CHUNK)) || !(w->out = malloc(ZSTD_CStreamOutSize())) ||
        !(w->z = ZSTD_createCCtx()))
        return fail(w->msg, sizeof w->msg, ATTEST_ENOMEM, "out of memory");
    snprintf(w->tmp, n, "%s.tmp-XXXXXX", path);
    if ((w->fd = mkstemp(w->tmp)) < 0) {
        free(w->tmp);
        w->tmp = NULL;
        return fail(w->msg, sizeof w->msg, ATTEST_EIO, "%s: cannot create: %s", path,
                    strerror(errno));
    }
    fchmod(w->fd, 0644); // mkstemp made it 0600; a bundle is meant to be handed out
    ZSTD_CCtx_setParameter(w->z, ZSTD_c_compressionLevel, w->o.level);
    ZSTD_CCtx_setParameter(w->z, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(w->z, ZSTD_c_contentSizeFlag, 1);
    // Workers are an option of libzstd's build; without them it compresses on this thread.
    if (w->o.threads > 1) ZSTD_CCtx_setParameter(w->z, ZSTD_c_nbWorkers, (int)w->o.threads);
    return 0;
}

/* Size and SHA-256 of a file, read in chunks. */
static int hash_file(const char *file, uint8_t *buf, uint64_t *size, uint8_t sha[32], char *msg,
                     size_t msz)
{
    attest_sha256_ctx c;
    int fd = open(file, O_RDONLY | O_CLOEXEC), rc = 0;
    struct stat st;
    if (fd < 0)
        return fail(msg, msz, errno == ENOENT ? ATTEST_ENOTFOUND : ATTEST_EIO, "%s: %s", file,
                    strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(msg, msz, ATTEST_EIO, "%s: not a regular file", file);
    }
    if (attest_sha256_begin(&c) != 0) {
        close(fd);
        return fail(msg, msz, ATTEST_ECRYPTO, "SHA-256 is not available");
    }
    *size = 0;
    for (;;) {
        ssize_t r = read_some(fd, buf, CHUNK);
        if (r < 0) {
            rc = fail(msg, msz, ATTEST_EIO, "%s: %s", file, strerror(errno));
            break;
        }
        if (r == 0) break;
        attest_sha256_update(&c, buf, (size_t)r);
        *size += (uint64_t)r;
    }
    close(fd);
    if (rc) {
        attest_sha256_abort(&c);
        return rc;
    }
    return attest_sha256_end(&c, sha);
}

int attest_bundle_writer_add(attest_bundle_writer *w, const char *role, const char *name,
                             const char *file)
{
    const char *why = role && name ? name_problem(role, name) : "is missing";
    w->msg[0] = 0;
    if (why)
        return fail(w->msg, sizeof w->msg, ATTEST_EINVAL, "member \"%s\" (%s) %s", name ? name : "",
                    role ? role : "", why);
    const struct role *r = role_of(role);
    for (size_t i = 0; i < w->n; i++) {
        if (strcmp(w->m[i].name, name) == 0)
            return fail(w->msg, sizeof w->msg, ATTEST_EINVAL, "member \"%s\" is already in the "
                        "bundle", name);
        if (r->single && strcmp(w->m[i].role, role) == 0)
            return fail(w->msg, sizeof w->msg, ATTEST_EINVAL, "the bundle already has its %s",
                        role);
    }
    if (w->n == MEMBERS_MAX)
        return fail(w->msg, sizeof w->msg, ATTEST_EINVAL, "more than %u members", MEMBERS_MAX);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        wmember *nm = realloc(w->m, cap * sizeof *nm);
        if (!nm) return fail(w->msg, sizeof w->msg, ATTEST_ENOMEM, "out of memory");
        w->m = nm;
        w->cap = cap;
    }
    wmember *m = &w->m[w->n];
    memset(m, 0, sizeof *m);
    int rc = hash_file(file, w->in, &m->size, m->sha256, w->msg, sizeof w->msg);
    if (rc) return rc;
    if (!(m->role = strdup(role)) || !(m->name = strdup(name)) || !(m->file = strdup(file))) {
        free(m->role);
        free(m->name);
        free(m->file);
        return fail(w->msg, sizeof w->msg, ATTEST_ENOMEM, "out of memory");
    }
    w->n++;
    w->total += m->size;
    return 0;
}

int attest_bundle_writer_packed(attest_bundle_writer *w, const char *what, const char *value)
{
    if (!what || !value || !what[0])
        return fail(w->msg, sizeof w->msg, ATTEST_EINVAL, "invalid \"packed\" entry");
    return json_object_set_new(w->packed, what, json_string(value)) == 0
               ? 0
               : fail(w->msg, sizeof w->msg, ATTEST_ENOMEM, "out of memory");
}

static void progress(attest_bundle_options *o, uint64_t done, uint64_t total, const char *name,
                     uint64_t *next, int force)
{
    if (!o->progress || (!force && done < *next)) return;
    *next = done + PROGRESS_EVERY;
    o->progress(o->progress_ctx, done, total, name);
}

/* Compresses len bytes into the current frame; end: closes the frame. */
static int compress(attest_bundle_writer *w, const void *data, size_t len, int end)
{
    ZSTD_inBuffer in = {data, len, 0};
    ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
        ZSTD_outBuffer out = {w->out, ZSTD_CStreamOutSize(), 0};
        size_t left = ZSTD_compressStream2(w->z, &out, &in, mode);
        if (ZSTD_isError(left))
            return fail(w->msg, sizeof w->msg, ATTEST_EIO, "zstd: %s", ZSTD_getErrorName(left));
        if (out.pos && write_all(w->fd, w->out, out.pos) != 0)
            return fail(w->msg, sizeof w->msg, ATTEST_EIO, "%s: %s", w->path, strerror(errno));
        if (end ? left == 0 : in.pos == in.size) return 0;
    }
}

/* [BUNDLE-5]: one frame per member, the file hashed again as it goes. */
static int pack(attest_bundle_writer *w, const wmember *m)
{
    attest_sha256_ctx c;
    uint8_t sha[32];
    uint64_t got = 0;
    int rc = 0, fd = open(m->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(w->msg, sizeof w->msg, ATTEST_EIO, "%s: %s", m->file, strerror(errno));
    if (attest_sha256_begin(&c) != 0) {
        close(fd);
        return fail(w->msg, sizeof w->msg, ATTEST_ECRYPTO, "SHA-256 is not available");
    }
    ZSTD_CCtx_setPledgedSrcSize(w->z, m->size);
    for (;;) {
        ssize_t r = read_some(fd, w->in, CHUNK);
        if (r < 0) {
            rc = fail(w->msg, sizeof w->msg, ATTEST_EIO, "%s: %s", m->file, strerror(errno));
            break;
        }
        if (r == 0 || got + (uint64_t)r > m->size) {
            got += (uint64_t)r;
            break;
        }
        got += (uint64_t)r;
        attest_sha256_update(&c, w->in, (size_t)r);
        if ((rc = compress(w, w->in, (size_t)r, got == m->size)) != 0) break;
        w->done += (uint64_t)r;
        progress(&w->o, w->done, w->total, m->name, &w->next_progress, 0);
    }
    close(fd);
    if (rc) {
        attest_sha256_abort(&c);
        return rc;
    }
    if (attest_sha256_end(&c, sha) != 0 || got != m->size || memcmp(sha, m->sha256, 32) != 0)
        return fail(w->msg, sizeof w->msg, ATTEST_EVERIFY,
                    "%s changed while it was being bundled (member %s)", m->file, m->name);
    return 0;
}

static char *manifest_text(attest_bundle_writer *w)
{
    json_t *members = json_array();
    json_t *man = json_pack("{s:s, s:i, s:s, s:O, s:o}", "format", "attest-bundle", "version",
                            VERSION, "created_by", "attest " ATTEST_VERSION_STRING, "packed",
                            w->packed, "members", members);
    if (!man) return NULL;
    for (size_t i = 0; i < w->n; i++) {
        char h[65];
        attest_sha256_hex(w->m[i].sha256, h);
        json_array_append_new(members, json_pack("{s:s, s:s, s:I, s:s}", "role", w->m[i].role,
                                                 "name", w->m[i].name, "size",
                                                 (json_int_t)w->m[i].size, "sha256", h));
    }
    char *text = json_array_size(members) == w->n ? json_dumps(man, JSON_PRESERVE_ORDER) : NULL;
    json_decref(man);
    return text;
}

int attest_bundle_writer_finish(attest_bundle_writer *w)
{
    int rc = 0, have_log = 0;
    w->msg[0] = 0;
    if (w->fd < 0) return fail(w->msg, sizeof w->msg, ATTEST_EINVAL, "the bundle is not open");
    for (size_t i = 0; i < w->n; i++) have_log |= strcmp(w->m[i].role, "log") == 0;
    if (!have_log) return fail(w->msg, sizeof w->msg, ATTEST_EINVAL, "a bundle needs its log");
    char *man = manifest_text(w);
    if (!man) return fail(w->msg, sizeof w->msg, ATTEST_ENOMEM, "out of memory");
    size_t mlen = strlen(man);
    uint8_t head[MAGIC_LEN], len8[8];
    memcpy(head, magic, sizeof magic);
    head[MAGIC_LEN - 2] = VERSION & 0xff;
    head[MAGIC_LEN - 1] = VERSION >> 8;
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)mlen >> (8 * i));
    if (mlen > MANIFEST_MAX)
        rc = fail(w->msg, sizeof w->msg, ATTEST_EINVAL, "the manifest is over 16 MiB");
    else if (write_all(w->fd, head, sizeof head) != 0)
        rc = fail(w->msg, sizeof w->msg, ATTEST_EIO, "%s: %s", w->path, strerror(errno));
    if (!rc) {
        ZSTD_CCtx_setPledgedSrcSize(w->z, 8 + mlen);
        rc = compress(w, len8, 8, 0);
    }
    if (!rc) rc = compress(w, man, mlen, 1);
    free(man);
    progress(&w->o, 0, w->total, "manifest", &w->next_progress, 1);
    for (size_t i = 0; !rc && i < w->n; i++)
        if (w->m[i].size) rc = pack(w, &w->m[i]);
    if (!rc) progress(&w->o, w->done, w->total, "", &w->next_progress, 1);
    if (!rc && (fsync(w->fd) != 0 || close(w->fd) != 0))
        rc = fail(w->msg, sizeof w->msg, ATTEST_EIO, "%s: %s", w->path, strerror(errno));
    if (!rc) {
        w->fd = -1;
        if (rename(w->tmp, w->path) != 0)
            rc = fail(w->msg, sizeof w->msg, ATTEST_EIO, "%s: %s", w->path, strerror(errno));
        else {
            free(w->tmp);
            w->tmp = NULL;
        }
    }
    return rc;
}

const char *attest_bundle_writer_errmsg(const attest_bundle_writer *w)
{
    return w ? w->msg : "out of memory";
}

void attest_bundle_writer_free(attest_bundle_writer *w)
{
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (w->tmp) unlink(w->tmp);
    for (size_t i = 0; i < w->n; i++) {
        free(w->m[i].role);
        free(w->m[i].name);
        free(w->m[i].file);
    }
    free(w->m);
    free(w->tmp);
    free(w->path);
    free(w->in);
    free(w->out);
    json_decref(w->packed);
    ZSTD_freeCCtx(w->z);
    free(w);
}

/* ---------------------------------------------------------------- reader */

struct attest_bundle {
    attest_bundle_member *m;
    size_t n;
    json_t *manifest;
    char msg[600];
};

/* The reader's position in the decompressed body ([BUNDLE-3]). */
typedef struct rstate {
    attest_bundle *b;
    attest_bundle_options o;
    int dirfd;
    uint8_t len8[8];
    char *man;
    uint64_t mlen, have; /* bytes of the length field + manifest, or of the current member */
    int phase;           /* 0 length, 1 manifest, 2 members, 3 done */
    size_t cur;          /* current member */
    size_t ended;        /* the member whose frame must end next (SIZE_MAX: the manifest's) */
    int fd;              /* its output file, or -1 */
    attest_sha256_ctx sha;
    int sha_open, need_frame_end;
    uint64_t done, total, next_progress;
} rstate;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* [BUNDLE-6] to [BUNDLE-9]: the manifest, checked whole before any member is written. */
static int parse_manifest(rstate *s)
{
    attest_bundle *b = s->b;
    char *msg = b->msg;
    size_t msz = sizeof b->msg;
    json_error_t je;
    json_t *man = json_loadb(s->man, (size_t)s->mlen, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(man)) {
        json_decref(man);
        return fail(msg, msz, ATTEST_EFORMAT, "the manifest is not a JSON object: %s", je.text);
    }
    b->manifest = man;
    const char *key;
    json_t *v;
    json_object_foreach(man, key, v)
    {
        if (strcmp(key, "format") && strcmp(key, "version") && strcmp(key, "created_by") &&
            strcmp(key, "packed") && strcmp(key, "members"))
            return fail(msg, msz, ATTEST_EFORMAT, "the manifest has an unknown member \"%s\"", key);
    }
    if (!json_is_string(json_object_get(man, "format")) ||
        strcmp(json_string_value(json_object_get(man, "format")), "attest-bundle") != 0)
        return fail(msg, msz, ATTEST_EFORMAT, "the manifest's format is not \"attest-bundle\"");
    if (!json_is_integer(json_object_get(man, "version")) ||
        json_integer_value(json_object_get(man, "version")) != VERSION)
        return fail(msg, msz, ATTEST_EVERSION, "the manifest's version is not 1");
    if ((v = json_object_get(man, "created_by")) && !json_is_string(v))
        return fail(msg, msz, ATTEST_EFORMAT, "the manifest's created_by is not a string");
    json_t *packed = json_object_get(man, "packed");
    if (packed && !json_is_object(packed))
        return fail(msg, msz, ATTEST_EFORMAT, "the manifest's packed is not an object");
    json_object_foreach(packed, key, v)
    {
        if (!json_is_string(v))
            return fail(msg, msz, ATTEST_EFORMAT, "packed.%s is not a string", key);
    }
    json_t *members = json_object_get(man, "members");
    size_t n = json_array_size(members);
    if (!json_is_array(members) || n == 0 || n > MEMBERS_MAX)
        return fail(msg, msz, ATTEST_EFORMAT, "the manifest's members are not an array of 1 to "
                    "%u entries", MEMBERS_MAX);
    const char **names = malloc(n * sizeof *names);
    if (!names || !(b->m = calloc(n, sizeof *b->m))) {
        free(names);
        return fail(msg, msz, ATTEST_ENOMEM, "out of memory");
    }
    int rc = 0;
    size_t counts[sizeof roles / sizeof roles[0]] = {0};
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *e = json_array_get(members, i);
        attest_bundle_member *m = &b->m[i];
        json_t *size = json_object_get(e, "size");
        m->role = json_string_value(json_object_get(e, "role"));
        m->name = json_string_value(json_object_get(e, "name"));
        const char *why = NULL;
        if (!json_is_object(e) || json_object_size(e) != 4 || !m->role || !m->name ||
            !json_is_integer(size) || json_integer_value(size) < 0 ||
            unhex(json_string_value(json_object_get(e, "sha256")), m->sha256) != 0)
            rc = fail(msg, msz, ATTEST_EFORMAT, "manifest member %zu is not {role, name, size, "
                      "sha256}", i);
        else if ((why = name_problem(m->role, m->name)) != NULL)
            rc = fail(msg, msz, ATTEST_EFORMAT, "manifest member %zu: \"%s\" (%s) %s", i, m->name,
                      m->role, why);
        else {
            const struct role *r = role_of(m->role);
            size_t k = (size_t)(r - roles);
            m->size = (uint64_t)json_integer_value(size);
            if (r->single && counts[k]++)
                rc = fail(msg, msz, ATTEST_EFORMAT, "the manifest has more than one %s", m->role);
            else if (s->total + m->size < s->total)
                rc = fail(msg, msz, ATTEST_EFORMAT, "the members' sizes overflow");
            s->total += m->size;
        }
        names[i] = m->name;
    }
    if (!rc && counts[0] != 1) rc = fail(msg, msz, ATTEST_EFORMAT, "the manifest has no log");
    if (!rc) {
        qsort(names, n, sizeof *names, cmp_names);
        for (size_t i = 1; i < n && !rc; i++)
            if (strcmp(names[i - 1], names[i]) == 0)
                rc = fail(msg, msz, ATTEST_EFORMAT, "the manifest names \"%s\" twice", names[i]);
    }
    free(names);
    if (!rc) b->n = n;
    return rc;
}

/* Opens dir/name for writing (name is checked: at most one directory level), never following a link. */
static int open_member(rstate *s, const attest_bundle_member *m)
{
    char sub[NAME_MAX_LEN + 1];
    const char *slash = strchr(m->name, '/');
    int at = s->dirfd, fd;
    if (slash) {
        snprintf(sub, sizeof sub, "%.*s", (int)(slash - m->name), m->name);
        if (mkdirat(s->dirfd, sub, 0755) != 0 && errno != EEXIST) return -1;
        if ((at = openat(s->dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            return -1;
    }
    fd = openat(at, slash ? slash + 1 : m->name,
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (at != s->dirfd) close(at);
    return fd;
}

static int member_fail(rstate *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int member_fail(rstate *s, int rc, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const attest_bundle_member *m = &s->b->m[s->cur];
    return fail(s->b->msg, sizeof s->b->msg, rc, "member %zu (%s, %s): %s", s->cur, m->name,
                m->role, what);
}

/* Starts the next member, skipping empty ones (they have no frame). */
static int next_member(rstate *s)
{
    for (; s->cur < s->b->n; s->cur++) {
        const attest_bundle_member *m = &s->b->m[s->cur];
        s->have = 0;
        if (s->dirfd >= 0 && (s->fd = open_member(s, m)) < 0)
            return member_fail(s, ATTEST_EIO, "cannot create: %s", strerror(errno));
        if (attest_sha256_begin(&s->sha) != 0)
            return member_fail(s, ATTEST_ECRYPTO, "SHA-256 is not available");
        s->sha_open = 1;
        if (m->size) return 0;
        uint8_t d[32];
        s->sha_open = 0;
        if (attest_sha256_end(&s->sha, d) != 0 || memcmp(d, m->sha256, 32) != 0)
            return member_fail(s, ATTEST_ECORRUPT, "its SHA-256 is not the manifest's");
        if (s->fd >= 0) close(s->fd);
        s->fd = -1;
    }
    s->phase = 3;
    return 0;
}

static int end_member(rstate *s)
{
    const attest_bundle_member *m = &s->b->m[s->cur];
    uint8_t d[32];
    s->sha_open = 0;
    if (attest_sha256_end(&s->sha, d) != 0)
        return member_fail(s, ATTEST_ECRYPTO, "SHA-256 failed");
    if (memcmp(d, m->sha256, 32) != 0)
        return member_fail(s, ATTEST_ECORRUPT, "its SHA-256 is not the manifest's: the member "
                           "was damaged or changed");
    if (s->fd >= 0 && close(s->fd) != 0) {
        s->fd = -1;
        return member_fail(s, ATTEST_EIO, "%s", strerror(errno));
    }
    s->fd = -1;
    s->need_frame_end = 1;
    s->ended = s->cur;
    progress(&s->o, s->done, s->total, m->name, &s->next_progress, 1);
    s->cur++;
    return next_member(s);
}

/* Takes n decompressed bytes. */
static int consume(rstate *s, const uint8_t *p, size_t n)
{
    while (n) {
        if (s->need_frame_end) {
            if (s->ended == SIZE_MAX)
                return fail(s->b->msg, sizeof s->b->msg, ATTEST_ECORRUPT,
                            "the manifest's frame holds more bytes than the manifest");
            s->cur = s->ended;
            return member_fail(s, ATTEST_ECORRUPT, "its frame holds more bytes than the "
                               "manifest's size %llu", (unsigned long long)s->b->m[s->cur].size);
        }
        if (s->phase == 3)
            return fail(s->b->msg, sizeof s->b->msg, ATTEST_ECORRUPT, "bytes after the last member");
        if (s->phase == 0) {
            size_t k = n < 8 - s->have ? n : 8 - (size_t)s->have;
            memcpy(s->len8 + s->have, p, k);
            s->have += k;
            p += k;
            n -= k;
            if (s->have < 8) continue;
            s->mlen = 0;
            for (int i = 7; i >= 0; i--) s->mlen = s->mlen << 8 | s->len8[i];
            if (s->mlen == 0 || s->mlen > MANIFEST_MAX)
                return fail(s->b->msg, sizeof s->b->msg, ATTEST_EFORMAT,
                            "the manifest length %llu is not 1 to 16 MiB",
                            (unsigned long long)s->mlen);
            if (!(s->man = malloc((size_t)s->mlen)))
                return fail(s->b->msg, sizeof s->b->msg, ATTEST_ENOMEM, "out of memory");
            s->have = 0;
            s->phase = 1;
        } else if (s->phase == 1) {
            size_t k = n < s->mlen - s->have ? n : (size_t)(s->mlen - s->have);
            memcpy(s->man + s->have, p, k);
            s->have += k;
            p += k;
            n -= k;
            if (s->have < s->mlen) continue;
            int rc = parse_manifest(s);
            if (rc) return rc;
            s->phase = 2;
            s->cur = 0;
            s->need_frame_end = 1;
            s->ended = SIZE_MAX;
            progress(&s->o, 0, s->total, "manifest", &s->next_progress, 1);
            if ((rc = next_member(s)) != 0) return rc;
        } else {
            const attest_bundle_member *m = &s->b->m[s->cur];
            size_t k = n < m->size - s->have ? n : (size_t)(m->size - s->have);
            attest_sha256_update(&s->sha, p, k);
            if (s->fd >= 0 && write_all(s->fd, p, k) != 0)
                return member_fail(s, ATTEST_EIO, "cannot write: %s", strerror(errno));
            s->have += k;
            s->done += k;
            p += k;
            n -= k;
            progress(&s->o, s->done, s->total, m->name, &s->next_progress, 0);
            if (s->have == m->size) {
                int rc = end_member(s);
                if (rc) return rc;
            }
        }
    }
    return 0;
}

/* Where the stream stopped, for a truncation or a frame that ended early. */
static int stopped(rstate *s, const char *what)
{
    if (s->phase < 2)
        return fail(s->b->msg, sizeof s->b->msg, ATTEST_ECORRUPT, "%s in the manifest", what);
    if (s->phase == 3 && !s->need_frame_end)
        return fail(s->b->msg, sizeof s->b->msg, ATTEST_ECORRUPT,
                    "bytes after the last member (%s)", what);
    if (s->need_frame_end) {
        if (s->ended == SIZE_MAX)
            return fail(s->b->msg, sizeof s->b->msg, ATTEST_ECORRUPT, "%s in the manifest's frame",
                        what);
        s->cur = s->ended;
        return member_fail(s, ATTEST_ECORRUPT, "%s at the end of its frame", what);
    }
    return member_fail(s, ATTEST_ECORRUPT, "%s after %llu of its %llu bytes", what,
                       (unsigned long long)s->have, (unsigned long long)s->b->m[s->cur].size);
}

int attest_bundle_is(const char *path)
{
    uint8_t head[MAGIC_LEN];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t r = read_some(fd, head, sizeof head);
    close(fd);
    return r == (ssize_t)sizeof head && memcmp(head, magic, sizeof magic) == 0;
}

int attest_bundle_read_fd(attest_bundle **out, int fd, const char *dir,
                          const attest_bundle_options *opts)
{
    attest_bundle *b = calloc(1, sizeof *b);
    rstate s = {.b = b, .dirfd = -1, .fd = -1};
    ZSTD_DCtx *z = NULL;
    uint8_t *in = NULL, *outbuf = NULL, head[MAGIC_LEN];
    size_t got = 0, last = 0;
    int rc = 0;
    *out = b;
    if (!b) return ATTEST_ENOMEM;
    if (get_options(&s.o, opts) != 0)
        return fail(b->msg, sizeof b->msg, ATTEST_EINVAL, "invalid bundle options");
    if (!(in = malloc(ZSTD_DStreamInSize())) || !(outbuf = malloc(ZSTD_DStreamOutSize())) ||
        !(z = ZSTD_createDCtx())) {
        rc = fail(b->msg, sizeof b->msg, ATTEST_ENOMEM, "out of memory");
        goto done;
    }
    ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, WINDOW_LOG_MAX);
    if (dir && (s.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = fail(b->msg, sizeof b->msg, ATTEST_EIO, "%s: %s", dir, strerror(errno));
        goto done;
    }
    while (got < sizeof head) {
        ssize_t r = read_some(fd, head + got, sizeof head - got);
        if (r < 0) {
            rc = fail(b->msg, sizeof b->msg, ATTEST_EIO, "read: %s", strerror(errno));
            goto done;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got < sizeof head || memcmp(head, magic, sizeof magic) != 0) {
        rc = fail(b->msg, sizeof b->msg, ATTEST_EFORMAT, "not an attest bundle (no bundle magic)");
        goto done;
    }
    if (head[MAGIC_LEN - 2] != VERSION || head[MAGIC_LEN - 1] != 0) {
        rc = fail(b->msg, sizeof b->msg, ATTEST_EVERSION, "bundle version %u is not 1",
                  head[MAGIC_LEN - 2] | head[MAGIC_LEN - 1] << 8);
        goto done;
    }
    last = 1; // no frame decoded yet
    for (;;) {
        ssize_t r = read_some(fd, in, ZSTD_DStreamInSize());
        if (r < 0) {
            rc = fail(b->msg, sizeof b->msg, ATTEST_EIO, "read: %s", strerror(errno));
            goto done;
        }
        if (r == 0) break;
        ZSTD_inBuffer zin = {in, (size_t)r, 0};
        while (zin.pos < zin.size) {
            ZSTD_outBuffer zout = {outbuf, ZSTD_DStreamOutSize(), 0};
            last = ZSTD_decompressStream(z, &zout, &zin);
            if (ZSTD_isError(last)) {
                char why[200];
                snprintf(why, sizeof why, "zstd: %s", ZSTD_getErrorName(last));
                rc = stopped(&s, why);
                goto done;
            }
            if ((rc = consume(&s, outbuf, zout.pos)) != 0) goto done;
            if (last == 0) { // a frame ended here: it must end where the manifest or a member does
                if (s.phase < 2 || (s.phase == 2 && !s.need_frame_end)) {
                    rc = stopped(&s, "its frame ends");
                    goto done;
                }
                s.need_frame_end = 0;
            }
        }
    }
    if (last != 0 || s.phase != 3) rc = stopped(&s, "the bundle is truncated");
done:
    if (s.sha_open) attest_sha256_abort(&s.sha);
    if (s.fd >= 0) close(s.fd);
    if (s.dirfd >= 0) close(s.dirfd);
    free(s.man);
    free(in);
    free(outbuf);
    ZSTD_freeDCtx(z);
    return rc;
}

int attest_bundle_read(attest_bundle **out, const char *path, const char *dir,
                       const attest_bundle_options *opts)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        attest_bundle *b = calloc(1, sizeof *b);
        int code = errno == ENOENT ? ATTEST_ENOTFOUND : ATTEST_EIO;
        *out = b;
        if (!b) return ATTEST_ENOMEM;
        return fail(b->msg, sizeof b->msg, code, "%s: %s", path, strerror(errno));
    }
    int rc = attest_bundle_read_fd(out, fd, dir, opts);
    close(fd);
    return rc;
}

size_t attest_bundle_count(const attest_bundle *b)
{
    return b ? b->n : 0;
}

const attest_bundle_member *attest_bundle_get(const attest_bundle *b, size_t i)
{
    return b && i < b->n ? &b->m[i] : NULL;
}

const char *attest_bundle_packed(const attest_bundle *b, const char *what)
{
    return b ? json_string_value(json_object_get(json_object_get(b->manifest, "packed"), what))
             : NULL;
}

const char *attest_bundle_errmsg(const attest_bundle *b)
{
    return b ? b->msg : "out of memory";
}

void attest_bundle_free(attest_bundle *b)
{
    if (!b) return;
    json_decref(b->manifest);
    free(b->m);
    free(b);
}
