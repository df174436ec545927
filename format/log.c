/*
 * log.c - the log file: create, open (with torn-tail repair), append, seal,
 * read records and serve proofs.
 *
 * The byte layout is frame.c's, the record rules record.c's and rules.c's,
 * the tree merkle.c's and the cache files logindex.c's; this file holds the
 * handle, the lock and the order of writes that keeps sealed records safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "attest/error.h"
#include "attest/log.h"
#include "format/frame.h"
#include "format/io.h"
#include "format/logindex.h"
#include "format/record.h"

/* Records kept only in memory before the caches are written out. */
#define CACHE_FLUSH_EVERY 65536
/* How long a writer waits for another writer's lock before giving up. */
#define LOCK_WAIT_MS 2000

struct attest_log {
    char *path;
    int fd;
    enum attest_log_mode mode;
    int broken;   /* a failure left memory and file out of step: reopen */
    uint64_t end; /* offset just past the last whole frame */
    attest_logindex *ix;
    attest_merkle_frontier fr; /* APPEND mode: the tree of every record */
    attest_rules *rules;       /* APPEND mode */
    char origin[ATTEST_NOTE_NAME_MAX + 1];
    char err[640];
    char notice[512];
};

static int set_err(attest_log *h, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_err(attest_log *h, int rc, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(h->err, sizeof h->err, "%s: %s", h->path, msg);
    return rc;
}

static void utc_now(char out[40])
{
    struct timespec ts;
    struct tm tm;
    char date[24];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%.19s.%06dZ", date, (int)(ts.tv_nsec / 1000));
}

static int fsync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return -1;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (dfd < 0) return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

static attest_log *new_handle(const char *path, enum attest_log_mode mode)
{
    attest_log *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->path = strdup(path);
    if (!h->path) {
        free(h);
        return NULL;
    }
    h->fd = -1;
    h->mode = mode;
    attest_merkle_frontier_init(&h->fr);
    return h;
}

static int lock_writer(attest_log *h)
{
    for (int waited = 0;; waited += 50) {
        if (flock(h->fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return set_err(h, ATTEST_EIO, "lock: %s", strerror(errno));
        if (waited >= LOCK_WAIT_MS)
            return set_err(h, ATTEST_ELOCKED, "another process is appending to this log");
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Reads the frame at `offset` whole; on success *buf is malloc'd. */
static int read_frame(attest_log *h, uint64_t index, uint64_t offset, uint8_t **buf,
                      const uint8_t **payload, size_t *len, uint8_t leaf[32])
{
    uint8_t lenbuf[4];
    *buf = NULL;
    if (attest_io_pread(h->fd, lenbuf, 4, offset) != 0)
        return set_err(h, ATTEST_EIO, "record %llu: read at offset %llu: %s",
                       (unsigned long long)index, (unsigned long long)offset, strerror(errno));
    uint32_t n = attest_frame_length(lenbuf);
    if (n > ATTEST_RECORD_MAX || offset + n + ATTEST_FRAME_OVERHEAD > h->end)
        return set_err(h, ATTEST_ECORRUPT,
                       "record %llu (frame at offset %llu): invalid frame length %u",
                       (unsigned long long)index, (unsigned long long)offset, n);
    size_t size = (size_t)n + ATTEST_FRAME_OVERHEAD;
    *buf = malloc(size + 1);
    if (!*buf) return set_err(h, ATTEST_ENOMEM, "out of memory");
    if (attest_io_pread(h->fd, *buf, size, offset) != 0) {
        free(*buf);
        *buf = NULL;
        return set_err(h, ATTEST_EIO, "record %llu: read at offset %llu: %s",
                       (unsigned long long)index, (unsigned long long)offset, strerror(errno));
    }
    if (attest_frame_check(*buf, size, payload, len, leaf) != 0) {
        free(*buf);
        *buf = NULL;
        return set_err(h, ATTEST_ECORRUPT, "record %llu (frame at offset %llu): checksum mismatch",
                       (unsigned long long)index, (unsigned long long)offset);
    }
    return 0;
}

/* Does the cache entry for record i match the log? (offset, leaf hash) */
static int cache_entry_ok(attest_log *h, uint64_t i, uint64_t *frame_end)
{
    uint64_t off;
    uint8_t *buf, leaf[32], stored[32];
    const uint8_t *payload;
    size_t len;
    if (attest_logindex_offset(h->ix, i, &off) != 0 || off < ATTEST_LOG_HEADER_SIZE ||
        (i == 0 && off != ATTEST_LOG_HEADER_SIZE) || off >= h->end)
        return 0;
    if (read_frame(h, i, off, &buf, &payload, &len, leaf) != 0) return 0;
    free(buf);
    h->err[0] = '\0';
    if (attest_logindex_hash(h->ix, attest_merkle_stored_index(0, i), stored) != 0) return 0;
    *frame_end = off + len + ATTEST_FRAME_OVERHEAD;
    return memcmp(stored, leaf, 32) == 0;
}

/* The frontier of the first n records, from the cache's stored hashes. */
static int frontier_from_cache(attest_log *h, uint64_t n)
{
    attest_merkle_frontier_init(&h->fr);
    for (unsigned l = 0; l < 64; l++) {
        if (!(n >> l & 1)) continue;
        int rc =
            attest_logindex_hash(h->ix, attest_merkle_stored_index(l, (n >> l) - 1), h->fr.hash[l]);
        if (rc) return set_err(h, rc, "reading the tree cache: %s", attest_strerror(rc));
    }
    h->fr.size = n;
    return 0;
}

/* Adds a record that is now in the file to the tree and the cache. */
static int track(attest_log *h, uint64_t offset, const uint8_t leaf[32])
{
    uint8_t stored[64][ATTEST_HASH_SIZE];
    size_t n_stored;
    int rc = attest_merkle_frontier_append(&h->fr, leaf, stored, &n_stored);
    if (!rc) rc = attest_logindex_push(h->ix, offset, (const uint8_t(*)[32])stored, n_stored);
    if (rc) {
        h->broken = 1;
        return set_err(h, rc, "record %llu: %s; reopen the log", (unsigned long long)h->fr.size,
                       attest_strerror(rc));
    }
    return 0;
}

/* Saves the bytes of a torn tail beside the log, then cuts them off. */
static int cut_torn_tail(attest_log *h, uint64_t from, uint64_t size, const char *why)
{
    size_t n = (size_t)(size - from);
    char *name = malloc(strlen(h->path) + 48);
    uint8_t *bytes = malloc(n ? n : 1);
    int rc = ATTEST_ENOMEM, fd = -1;
    if (!name || !bytes) goto done;
    if (attest_io_pread(h->fd, bytes, n, from) != 0) {
        rc = set_err(h, ATTEST_EIO, "reading the torn tail: %s", strerror(errno));
        goto done;
    }
    sprintf(name, "%s.torn.%llu", h->path, (unsigned long long)from);
    fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    for (int k = 1; fd < 0 && errno == EEXIST && k < 1000; k++) {
        sprintf(name, "%s.torn.%llu.%d", h->path, (unsigned long long)from, k);
        fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0 || attest_io_pwrite(fd, bytes, n, 0) != 0 || fsync(fd) != 0) {
        rc = set_err(h, ATTEST_EIO, "saving the torn tail to %s: %s", name, strerror(errno));
        goto done;
    }
    // The saved bytes must be durable, name included, before they leave the log.
    if (fsync_dir(name) != 0 || ftruncate(h->fd, (off_t)from) != 0 || fsync(h->fd) != 0) {
        rc = set_err(h, ATTEST_EIO, "cutting the torn tail: %s", strerror(errno));
        goto done;
    }
    snprintf(h->notice, sizeof h->notice, "recovered: %s; its %zu bytes were saved to %s", why, n,
             name);
    rc = 0;
done:
    if (fd >= 0) close(fd);
    free(name);
    free(bytes);
    return rc;
}

/* APPEND mode: checks one scanned record against the rules and the tree. */
static int admit(attest_log *h, uint64_t index, const uint8_t *payload, size_t len)
{
    json_t *rec;
    char why[512];
    int rc = attest_record_parse(&rec, payload, len, index, why, sizeof why);
    if (rc) return set_err(h, rc, "%s", why);
    rc = attest_rules_check(h->rules, index, rec, why, sizeof why);
    if (rc) {
        json_decref(rec);
        return set_err(h, rc, "%s", why);
    }
    if (strcmp(attest_record_type(rec), "seal") == 0) {
        uint8_t root[32];
        attest_merkle_frontier_root(&h->fr, root);
        if (memcmp(root, attest_rules_last_checked_seal(h->rules)->root, 32) != 0) {
            json_decref(rec);
            return set_err(
                h, ATTEST_EVERIFY,
                "record %llu (seal): the signed root does not match the records before it",
                (unsigned long long)index);
        }
    }
    attest_rules_apply(h->rules, index, rec);
    if (index == 0)
        snprintf(h->origin, sizeof h->origin, "%s",
                 json_string_value(json_object_get(rec, "origin")));
    json_decref(rec);
    return 0;
}

/*
 * Reads the frames from `offset` on; APPEND mode also checks every record
 * and compares what the cache holds for it, dropping the cache from the
 * first record it gets wrong.
 */
static int scan(attest_log *h, uint64_t offset, uint64_t index, uint64_t size)
{
    attest_frame_reader *r;
    const uint8_t *payload;
    size_t len;
    uint64_t at;
    uint8_t leaf[32];
    uint64_t cached = attest_logindex_count(h->ix);
    int rc = attest_frame_reader_new(&r, h->fd, offset, size, index);
    if (rc) return set_err(h, rc, "out of memory");
    for (;;) {
        int st = attest_frame_next(r, &payload, &len, &at, leaf);
        if (st < 0) {
            rc = set_err(h, st, "%s", attest_frame_reader_message(r));
            break;
        }
        if (st == ATTEST_FRAME_END) break;
        if (st == ATTEST_FRAME_BAD) {
            rc = set_err(h, ATTEST_ECORRUPT, "%s", attest_frame_reader_message(r));
            break;
        }
        if (st == ATTEST_FRAME_TORN) {
            uint64_t from = attest_frame_reader_offset(r);
            if (h->mode == ATTEST_LOG_APPEND) {
                rc = cut_torn_tail(h, from, size, attest_frame_reader_message(r));
            } else {
                snprintf(h->notice, sizeof h->notice, "ignored: %s",
                         attest_frame_reader_message(r));
            }
            break;
        }
        if (h->mode == ATTEST_LOG_APPEND && (rc = admit(h, index, payload, len)) != 0) break;
        if (index < cached) {
            // Records the cache covers are compared with it, not re-added.
            uint8_t stored[64][ATTEST_HASH_SIZE];
            size_t n_stored;
            attest_merkle_frontier_append(&h->fr, leaf, stored, &n_stored);
            if (h->mode == ATTEST_LOG_APPEND &&
                !attest_logindex_matches(h->ix, index, at, (const uint8_t(*)[32])stored,
                                         n_stored)) {
                attest_logindex_shrink(h->ix, index);
                cached = index;
                snprintf(h->notice, sizeof h->notice,
                         "the cache files were wrong from record %llu on; rebuilt them",
                         (unsigned long long)index);
                if ((rc = attest_logindex_push(h->ix, at, (const uint8_t(*)[32])stored,
                                               n_stored)) != 0) {
                    set_err(h, rc, "out of memory");
                    break;
                }
            }
        } else if ((rc = track(h, at, leaf)) != 0) {
            break;
        }
        index++;
    }
    // A torn tail may have taken records the cache still lists.
    if (!rc && attest_logindex_count(h->ix) > index) attest_logindex_shrink(h->ix, index);
    h->end = attest_frame_reader_offset(r);
    attest_frame_reader_free(r);
    return rc;
}

/* READ mode: forgets the cache files and re-reads every frame into memory. */
static int reload(attest_log *h)
{
    if (h->mode != ATTEST_LOG_READ) return 0;
    attest_logindex_shrink(h->ix, 0);
    attest_merkle_frontier_init(&h->fr);
    snprintf(h->notice, sizeof h->notice, "the cache files disagreed with the log; not used");
    return scan(h, ATTEST_LOG_HEADER_SIZE, 0, h->end);
}

int attest_log_reload(attest_log *log)
{
    if (!log) return ATTEST_EINVAL;
    int rc = reload(log);
    if (!rc) log->err[0] = '\0';
    return rc;
}

static int read_origin(attest_log *h)
{
    char *rec;
    size_t len;
    json_t *obj;
    int rc = attest_log_get(h, 0, &rec, &len);
    if (rc) return rc;
    char why[512];
    rc = attest_record_parse(&obj, rec, len, 0, why, sizeof why);
    free(rec);
    if (rc) return set_err(h, rc, "%s", why);
    if (strcmp(attest_record_type(obj), "run") != 0) {
        json_decref(obj);
        return set_err(h, ATTEST_EFORMAT, "record 0: the first record must be \"run\"");
    }
    snprintf(h->origin, sizeof h->origin, "%s", json_string_value(json_object_get(obj, "origin")));
    json_decref(obj);
    return 0;
}

int attest_log_open(attest_log **out, const char *path, enum attest_log_mode mode)
{
    attest_log *h = new_handle(path, mode);
    int rc, have_lock = 0;
    uint8_t hdr[ATTEST_LOG_HEADER_SIZE];
    struct stat st;
    char why[200];
    *out = h;
    if (!h) return ATTEST_ENOMEM;
    if (sodium_init() < 0) return set_err(h, ATTEST_ECRYPTO, "libsodium failed to initialise");
    h->fd = open(path, (mode == ATTEST_LOG_APPEND ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (h->fd < 0)
        return set_err(h, errno == ENOENT ? ATTEST_ENOTFOUND : ATTEST_EIO, "%s", strerror(errno));
    if (mode == ATTEST_LOG_APPEND) {
        if ((rc = lock_writer(h)) != 0) return rc;
        have_lock = 1;
        if ((rc = attest_rules_new(&h->rules)) != 0) return set_err(h, rc, "out of memory");
    }
    if (fstat(h->fd, &st) != 0) return set_err(h, ATTEST_EIO, "%s", strerror(errno));
    if ((uint64_t)st.st_size < ATTEST_LOG_HEADER_SIZE ||
        attest_io_pread(h->fd, hdr, sizeof hdr, 0) != 0)
        return set_err(h, ATTEST_EFORMAT, "not an attest log (shorter than its header)");
    if ((rc = attest_frame_header_check(hdr, sizeof hdr, why, sizeof why)) != 0)
        return set_err(h, rc, "%s", why);
    h->end = (uint64_t)st.st_size;
    if ((rc = attest_logindex_open(&h->ix, path, have_lock)) != 0)
        return set_err(h, rc, "out of memory");

    uint64_t cached = attest_logindex_file_count(h->ix), from = ATTEST_LOG_HEADER_SIZE;
    uint64_t first_end, last_end = 0;
    if (cached > 0 &&
        !(cache_entry_ok(h, 0, &first_end) && cache_entry_ok(h, cached - 1, &last_end))) {
        attest_logindex_shrink(h->ix, 0);
        snprintf(h->notice, sizeof h->notice,
                 "the cache files did not match the log; rebuilt them");
        cached = 0;
    }
    if (mode == ATTEST_LOG_APPEND) {
        rc = scan(h, ATTEST_LOG_HEADER_SIZE, 0, (uint64_t)st.st_size);
    } else {
        if (cached > 0) {
            from = last_end;
            if ((rc = frontier_from_cache(h, cached)) != 0) return rc;
        }
        rc = scan(h, from, cached, (uint64_t)st.st_size);
    }
    if (rc) return rc;
    if (attest_log_count(h) == 0) return set_err(h, ATTEST_EFORMAT, "the log has no records");
    if (mode == ATTEST_LOG_READ && (rc = read_origin(h)) != 0) return rc;
    if (have_lock) attest_logindex_flush(h->ix, 1);
    // A reader that had to read everything leaves caches behind for the next one, lock-free.
    if (mode == ATTEST_LOG_READ && cached == 0) attest_logindex_publish(h->ix, path);
    h->err[0] = '\0';
    return 0;
}

/* Writes one record (already checked) and adds it to the tree. */
static int write_record(attest_log *h, const char *json, size_t len)
{
    uint64_t index = attest_log_count(h);
    uint8_t leaf[32];
    uint8_t *frame = malloc(len + ATTEST_FRAME_OVERHEAD);
    if (!frame) return set_err(h, ATTEST_ENOMEM, "out of memory");
    attest_merkle_leaf_hash(leaf, json, len);
    attest_frame_encode(frame, json, len, leaf);
    int failed = attest_io_pwrite(h->fd, frame, len + ATTEST_FRAME_OVERHEAD, h->end) != 0;
    int saved = errno;
    free(frame);
    if (failed) {
        // Leave no partial frame behind: the log must stay as it was.
        if (ftruncate(h->fd, (off_t)h->end) != 0) h->broken = 1;
        return set_err(h, ATTEST_EIO, "appending record %llu: %s", (unsigned long long)index,
                       strerror(saved));
    }
    int rc = track(h, h->end, leaf);
    h->end += len + ATTEST_FRAME_OVERHEAD;
    if (!rc && attest_logindex_pending(h->ix) >= CACHE_FLUSH_EVERY) attest_logindex_flush(h->ix, 0);
    return rc;
}

/* Parses, checks, writes and applies one record; `internal` allows run and seal. */
static int append_record(attest_log *h, const char *json, size_t len, int internal, uint64_t *index)
{
    json_t *rec;
    char why[512];
    uint64_t i = attest_log_count(h);
    if (h->mode != ATTEST_LOG_APPEND) return set_err(h, ATTEST_EINVAL, "the log is open read-only");
    if (h->broken)
        return set_err(h, ATTEST_EIO,
                       "an earlier failure left this handle unusable; reopen the log");
    int rc = attest_record_parse(&rec, json, len, i, why, sizeof why);
    if (rc) return set_err(h, rc, "%s", why);
    const char *type = attest_record_type(rec);
    if (!internal && (strcmp(type, "seal") == 0 || strcmp(type, "run") == 0)) {
        rc = set_err(h, ATTEST_EINVAL, "record %llu: \"%s\" records are written by %s",
                     (unsigned long long)i, type,
                     type[0] == 's' ? "attest_log_seal" : "attest_log_create");
        goto done;
    }
    rc = attest_rules_check(h->rules, i, rec, why, sizeof why);
    if (rc) {
        set_err(h, rc, "%s", why);
        goto done;
    }
    if ((rc = write_record(h, json, len)) != 0) goto done;
    attest_rules_apply(h->rules, i, rec);
    if (index) *index = i;
done:
    json_decref(rec);
    return rc;
}

int attest_log_append(attest_log *log, const char *json, size_t len, uint64_t *index)
{
    if (!log || !json) return ATTEST_EINVAL;
    return append_record(log, json, len, 0, index);
}

/* Serialises a record built with jansson, then appends it. */
static int append_json(attest_log *h, json_t *rec, uint64_t *index)
{
    if (!rec) return set_err(h, ATTEST_ENOMEM, "out of memory");
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (!text) return set_err(h, ATTEST_ENOMEM, "out of memory");
    int rc = append_record(h, text, strlen(text), 1, index);
    free(text);
    return rc;
}

int attest_log_create(attest_log **out, const char *path, const attest_signer *signer,
                      const char *config_json, const char *replay_json)
{
    attest_log *h = new_handle(path, ATTEST_LOG_APPEND);
    uint8_t hdr[ATTEST_LOG_HEADER_SIZE], id[16];
    char run_id[33], now[40], *vkey = NULL;
    json_t *config = NULL, *replay = NULL;
    json_error_t je;
    int rc, created = 0;
    *out = h;
    if (!h) return ATTEST_ENOMEM;
    if (!signer) return set_err(h, ATTEST_EINVAL, "no signer key");
    if (sodium_init() < 0) return set_err(h, ATTEST_ECRYPTO, "libsodium failed to initialise");
    config = json_loads(config_json ? config_json : "{}", JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(config)) {
        rc = set_err(h, ATTEST_EFORMAT, "config: expected a JSON object%s%s", config ? "" : ": ",
                     config ? "" : je.text);
        goto done;
    }
    if (replay_json) {
        replay = json_loads(replay_json, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(replay)) {
            rc = set_err(h, ATTEST_EFORMAT, "replay recipe: expected a JSON object");
            goto done;
        }
    }
    h->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (h->fd < 0) {
        rc = set_err(h, errno == EEXIST ? ATTEST_EEXIST : ATTEST_EIO, "%s", strerror(errno));
        goto done;
    }
    created = 1;
    if ((rc = lock_writer(h)) != 0) goto done;
    attest_frame_header(hdr);
    if (attest_io_pwrite(h->fd, hdr, sizeof hdr, 0) != 0) {
        rc = set_err(h, ATTEST_EIO, "writing the header: %s", strerror(errno));
        goto done;
    }
    h->end = sizeof hdr;
    if ((rc = attest_rules_new(&h->rules)) != 0 ||
        (rc = attest_logindex_open(&h->ix, path, 1)) != 0 ||
        (rc = attest_logindex_shrink(h->ix, 0)) != 0 ||
        (rc = attest_signer_vkey(signer, &vkey)) != 0) {
        set_err(h, rc, "%s", attest_strerror(rc));
        goto done;
    }
    randombytes_buf(id, sizeof id);
    sodium_bin2hex(run_id, sizeof run_id, id, sizeof id);
    utc_now(now);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "type", "run", "run_id", run_id,
                            "version", ATTEST_VERSION_STRING, "origin", attest_signer_name(signer),
                            "public_key", vkey, "config", config);
    if (rec && replay) json_object_set(rec, "replay", replay);
    if (rec) json_object_set_new(rec, "time", json_string(now));
    snprintf(h->origin, sizeof h->origin, "%s", attest_signer_name(signer));
    if ((rc = append_json(h, rec, NULL)) != 0) goto done;
    if (fsync(h->fd) != 0 || fsync_dir(path) != 0) {
        rc = set_err(h, ATTEST_EIO, "fsync: %s", strerror(errno));
        goto done;
    }
    attest_logindex_flush(h->ix, 1);
done:
    if (rc && created) unlink(path);
    free(vkey);
    json_decref(config);
    json_decref(replay);
    return rc;
}

int attest_log_seal(attest_log *log, const attest_signer *signer, uint64_t *index)
{
    return attest_log_seal_anchored(log, signer, NULL, NULL, index);
}

int attest_log_seal_anchored(attest_log *log, const attest_signer *signer,
                             attest_log_anchor_fn anchor, void *ctx, uint64_t *index)
{
    attest_log *h = log;
    uint8_t root[32];
    char *text = NULL, *note = NULL, now[40];
    if (!h || !signer) return ATTEST_EINVAL;
    if (h->mode != ATTEST_LOG_APPEND) return set_err(h, ATTEST_EINVAL, "the log is open read-only");
    const attest_verifier *key = attest_rules_run_key(h->rules);
    if (!key || strcmp(attest_verifier_name(key), attest_signer_name(signer)) != 0 ||
        sodium_memcmp(attest_verifier_public_key(key), attest_signer_public_key(signer), 32) != 0)
        return set_err(h, ATTEST_EINVAL, "the seal key \"%s\" is not the run's key",
                       attest_signer_name(signer));
    uint64_t size = attest_log_count(h);
    attest_merkle_frontier_root(&h->fr, root);
    int rc = attest_checkpoint_format(h->origin, size, root, &text);
    if (!rc) rc = attest_signer_sign(signer, text, strlen(text), &note);
    if (rc) {
        set_err(h, rc, "signing the checkpoint: %s", attest_strerror(rc));
        goto done;
    }
    utc_now(now);
    json_t *seal =
        json_pack("{s:s, s:I, s:s}", "type", "seal", "size", (json_int_t)size, "checkpoint", note);
    if (seal && anchor) {
        // The anchor (a TPM) vouches for exactly this signed checkpoint.
        uint8_t digest[32];
        char *evidence = NULL;
        crypto_hash_sha256(digest, (const uint8_t *)note, strlen(note));
        if (anchor(ctx, digest, &evidence) == 0 && evidence) {
            json_t *ev = json_loads(evidence, JSON_REJECT_DUPLICATES, NULL);
            if (json_is_object(ev)) json_object_set(seal, "tpm", ev);
            json_decref(ev);
        }
        free(evidence);
    }
    if (seal) json_object_set_new(seal, "time", json_string(now));
    rc = append_json(h, seal, index);
    if (rc) goto done;
    // A seal is durable before it is reported: the file first, then its caches.
    if (fsync(h->fd) != 0) {
        rc = set_err(h, ATTEST_EIO, "fsync after seal %llu: %s", (unsigned long long)size,
                     strerror(errno));
        goto done;
    }
    attest_logindex_flush(h->ix, 1);
done:
    free(text);
    free(note);
    return rc;
}

int attest_log_sync(attest_log *log)
{
    if (!log) return ATTEST_EINVAL;
    if (log->mode != ATTEST_LOG_APPEND) return 0;
    if (fsync(log->fd) != 0) return set_err(log, ATTEST_EIO, "fsync: %s", strerror(errno));
    attest_logindex_flush(log->ix, 1);
    return 0;
}

uint64_t attest_log_count(const attest_log *log)
{
    return log && log->ix ? attest_logindex_count(log->ix) : 0;
}

int attest_log_get(attest_log *log, uint64_t index, char **data, size_t *len)
{
    uint64_t off;
    uint8_t *buf, leaf[32], cached_leaf[32];
    const uint8_t *payload;
    *data = NULL;
    if (index >= attest_log_count(log))
        return set_err(log, ATTEST_ENOTFOUND, "no record %llu (the log has %llu)",
                       (unsigned long long)index, (unsigned long long)attest_log_count(log));
    for (int attempt = 0;; attempt++) {
        int rc = attest_logindex_offset(log->ix, index, &off);
        if (!rc)
            rc = attest_logindex_hash(log->ix, attest_merkle_stored_index(0, index), cached_leaf);
        if (rc)
            return set_err(log, rc, "record %llu: reading the cache files",
                           (unsigned long long)index);
        rc = read_frame(log, index, off, &buf, &payload, len, leaf);
        if (!rc && memcmp(leaf, cached_leaf, 32) == 0) break;
        free(buf);
        // A cache that points at the wrong frame is the cache's fault, not the log's.
        if (attest_logindex_file_count(log->ix) <= index || log->mode != ATTEST_LOG_READ || attempt)
            return rc ? rc
                      : set_err(log, ATTEST_ECORRUPT,
                                "record %llu: the cache files disagree with the log",
                                (unsigned long long)index);
        if ((rc = reload(log)) != 0) return rc;
    }
    // Records are checked on read as on append ([LOG-15]): a bad one is never handed out.
    json_t *rec;
    char why[512];
    int rc = attest_record_parse(&rec, payload, *len, index, why, sizeof why);
    if (rc) {
        free(buf);
        return set_err(log, rc, "%s", why);
    }
    json_decref(rec);
    memmove(buf, payload, *len);
    buf[*len] = '\0';
    *data = (char *)buf;
    return 0;
}

/* Reads record `index` and returns it parsed if it is a seal. */
static int get_seal(attest_log *h, uint64_t index, json_t **seal)
{
    char *data, why[512];
    size_t len;
    json_t *rec;
    *seal = NULL;
    int rc = attest_log_get(h, index, &data, &len);
    if (rc) return rc;
    rc = attest_record_parse(&rec, data, len, index, why, sizeof why);
    free(data);
    if (rc) return set_err(h, rc, "%s", why);
    if (strcmp(attest_record_type(rec), "seal") == 0)
        *seal = rec;
    else
        json_decref(rec);
    return 0;
}

int attest_log_checkpoint(attest_log *log, uint64_t size, char **note)
{
    json_t *seal = NULL;
    *note = NULL;
    uint64_t n = attest_log_count(log);
    if (size == 0) {
        // The latest seal is near the end: search backwards.
        for (uint64_t i = n; i-- > 0 && !seal;) {
            int rc = get_seal(log, i, &seal);
            if (rc) return rc;
        }
        if (!seal) return set_err(log, ATTEST_ENOTFOUND, "the log has no seal yet");
    } else {
        // A seal of tree size N is record N ([LOG-21]).
        int rc = size < n ? get_seal(log, size, &seal) : 0;
        if (rc) return rc;
        if (!seal)
            return set_err(log, ATTEST_ENOTFOUND, "no seal of tree size %llu",
                           (unsigned long long)size);
    }
    *note = strdup(json_string_value(json_object_get(seal, "checkpoint")));
    json_decref(seal);
    return *note ? 0 : set_err(log, ATTEST_ENOMEM, "out of memory");
}

int attest_log_root(attest_log *log, uint64_t size, uint8_t root[ATTEST_HASH_SIZE])
{
    if (size > attest_log_count(log))
        return set_err(log, ATTEST_EINVAL, "tree size %llu is larger than the log (%llu)",
                       (unsigned long long)size, (unsigned long long)attest_log_count(log));
    int rc = attest_merkle_tree_hash(size, attest_logindex_hash, log->ix, root);
    return rc ? set_err(log, rc, "reading the tree cache: %s", attest_strerror(rc)) : 0;
}

int attest_log_prove(attest_log *log, uint64_t index, uint64_t size,
                     uint8_t proof[][ATTEST_HASH_SIZE], size_t *len)
{
    uint8_t root[32], leaf[32];
    char *data;
    size_t dlen;
    if (index >= size || size > attest_log_count(log))
        return set_err(log, ATTEST_EINVAL,
                       "cannot prove record %llu in a tree of size %llu (log has %llu)",
                       (unsigned long long)index, (unsigned long long)size,
                       (unsigned long long)attest_log_count(log));
    int rc = attest_merkle_prove_inclusion(index, size, attest_logindex_hash, log->ix, proof, len);
    if (!rc) rc = attest_log_root(log, size, root);
    if (rc) return log->err[0] ? rc : set_err(log, rc, "proof: %s", attest_strerror(rc));
    if ((rc = attest_log_get(log, index, &data, &dlen)) != 0) return rc;
    attest_merkle_leaf_hash(leaf, data, dlen);
    free(data);
    if (attest_merkle_verify_inclusion(index, size, leaf, proof[0], *len, root) != 0)
        return set_err(log, ATTEST_ECORRUPT,
                       "the tree cache disagrees with record %llu; delete %s.tree and %s.idx",
                       (unsigned long long)index, log->path, log->path);
    return 0;
}

int attest_log_consistency(attest_log *log, uint64_t old_size, uint64_t size,
                           uint8_t proof[][ATTEST_HASH_SIZE], size_t *len)
{
    uint8_t r1[32], r2[32];
    if (old_size > size || size > attest_log_count(log))
        return set_err(log, ATTEST_EINVAL, "no consistency proof from %llu to %llu (log has %llu)",
                       (unsigned long long)old_size, (unsigned long long)size,
                       (unsigned long long)attest_log_count(log));
    int rc =
        attest_merkle_prove_consistency(old_size, size, attest_logindex_hash, log->ix, proof, len);
    if (!rc) rc = attest_log_root(log, old_size, r1);
    if (!rc) rc = attest_log_root(log, size, r2);
    if (rc) return log->err[0] ? rc : set_err(log, rc, "proof: %s", attest_strerror(rc));
    if (attest_merkle_verify_consistency(old_size, size, r1, r2, proof[0], *len) != 0)
        return set_err(log, ATTEST_ECORRUPT,
                       "the tree cache is inconsistent; delete %s.tree and %s.idx", log->path,
                       log->path);
    return 0;
}

const char *attest_log_errmsg(const attest_log *log)
{
    return log ? log->err : "out of memory";
}

const char *attest_log_notice(const attest_log *log)
{
    return log && log->notice[0] ? log->notice : NULL;
}

uint64_t attest_log_step_count(const attest_log *log)
{
    attest_rules_summary sum;
    if (!log || !log->rules) return 0;
    attest_rules_summarize(log->rules, &sum);
    return sum.steps;
}

const char *attest_log_origin(const attest_log *log)
{
    return log ? log->origin : "";
}

void attest_log_free(attest_log *log)
{
    if (!log) return;
    if (log->ix && log->mode == ATTEST_LOG_APPEND && !log->broken)
        attest_logindex_flush(log->ix, 0);
    attest_logindex_free(log->ix);
    attest_rules_free(log->rules);
    if (log->fd >= 0) close(log->fd); // also releases the lock
    free(log->path);
    free(log);
}
