/*
 * run.c - the recorder behind attest/run.h: turns each reported fact into a
 * record, hands its hashing to the pool, and has one writer thread append
 * the records in the order the facts were reported, sealing when asked.
 *
 * Jobs fill plain fields of their fact; only the writer thread builds the
 * final JSON and touches the log. Nothing here hashes on the caller's
 * thread, exits, or prints.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "attest/digest.h"
#include "attest/error.h"
#include "attest/git.h"
#include "attest/log.h"
#include "attest/pool.h"
#include "attest/run.h"
#include "attest/safetensors.h"
#include "attest/shard.h"
#include "attest/enroll.h"
#include "attest/tpm.h"

enum fact_kind { K_RECORD, K_SEAL };

/* Batches up to this size are hashed on the caller's thread (about 0.1 ms with SHA-NI). */
#define INLINE_HASH_MAX (256u << 10)

/* Copy buffers kept for reuse, and the largest one kept. */
#define SPARE_BUFFERS 8
#define SPARE_MAX (64u << 20)
enum job_kind { J_CODE, J_FILE, J_SHARD_FILE, J_SHARD_BUF, J_BUFFER, J_TENSORS, J_TENSOR_GROUP };

struct fact {
    enum fact_kind kind;
    json_t *rec; /* the record, completed by finalize() on the writer thread */
    int pending; /* jobs still running (under run->mu) */
    int rc;      /* first job failure */
    char err[512];
    const char *what; /* for messages: "shard 3", "checkpoint of step 200" */
    char what_buf[96];
    /* job inputs and results; each job writes only its own fields */
    char *path;
    uint8_t *buf;
    size_t len, cap;
    enum attest_layout layout;
    json_t *git;
    uint8_t digest[32];
    uint64_t size;
    int have_digest;
    const char *digest_key; /* record field for `digest` */
    attest_shard_facts shard;
    int have_shard;
    attest_safetensors *st;
    uint8_t (*tensor_digest)[32];
    struct fact *next;
};

struct job {
    enum job_kind kind;
    attest_run *run;
    struct fact *f;
    size_t first, count; /* J_TENSOR_GROUP: tensors [first, first + count) */
};

struct attest_run {
    attest_log *log;
    attest_signer *signer;
    attest_pool *pool;
    attest_run_options opts;
    pthread_t writer;
    int writer_started;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* queue, job completion, memory, progress */
    struct fact *head, *tail;
    uint64_t queued, done; /* facts reported, facts written or failed */
    uint64_t mem_used;
    int stopping;
    int first_rc;
    char first_err[640];
    uint64_t failed;
    attest_tpm *tpm; /* NULL: seals are not anchored */
    attest_tpm_nv nv;
    uint64_t since_seal;
    uint64_t records; /* the log's record count, as the writer last saw it */
    double last_seal;
    /* Copy buffers kept for reuse: a fresh allocation of a large buffer costs
       page faults and mmap/munmap contention on the caller's thread. */
    struct spare {
        uint8_t *buf;
        size_t cap;
    } spare[SPARE_BUFFERS];
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *utc_now(void)
{
    struct timespec ts;
    struct tm tm;
    char date[24], out[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof out, "%.19s.%06dZ", date, (int)(ts.tv_nsec / 1000));
    return json_string(out);
}

static json_t *hex_digest(const uint8_t d[32])
{
    char hex[65];
    attest_sha256_hex(d, hex);
    return json_string(hex);
}

/* A float and its binary64 bits ([LOG-14]). */
static void set_float(json_t *rec, const char *name, double v)
{
    char key[48], bits[17];
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    snprintf(bits, sizeof bits, "%016llx", (unsigned long long)b);
    snprintf(key, sizeof key, "%s_bits", name);
    json_object_set_new(rec, name, isfinite(v) ? json_real(v) : json_null());
    json_object_set_new(rec, key, json_string(bits));
}

/* Keeps the first failure for attest_run_status; the caller holds run->mu. */
static void note_failure(attest_run *run, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note_failure(attest_run *run, int rc, const char *fmt, ...)
{
    run->failed++;
    if (run->first_rc) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->first_err, sizeof run->first_err, fmt, ap);
    va_end(ap);
    run->first_rc = rc;
}

static void free_fact(struct fact *f)
{
    json_decref(f->rec);
    json_decref(f->git);
    free(f->path);
    free(f->buf);
    attest_safetensors_free(f->st);
    free(f->tensor_digest);
    free(f);
}

/* A job ends: records its failure and wakes the writer when the fact is complete. */
static void job_done(attest_run *run, struct fact *f, int rc, const char *err)
{
    pthread_mutex_lock(&run->mu);
    if (rc && !f->rc) {
        f->rc = rc;
        snprintf(f->err, sizeof f->err, "%s", err);
    }
    if (--f->pending == 0) pthread_cond_broadcast(&run->changed);
    pthread_mutex_unlock(&run->mu);
}

static void run_job(void *arg);

/* Keeps a copy buffer for reuse, or frees it; the caller holds run->mu. */
static void keep_spare(attest_run *run, uint8_t *buf, size_t cap)
{
    for (int i = 0; buf && cap <= SPARE_MAX && i < SPARE_BUFFERS; i++) {
        if (!run->spare[i].buf) {
            run->spare[i].buf = buf;
            run->spare[i].cap = cap;
            return;
        }
    }
    free(buf);
}

/* A spare buffer of at least len bytes, or NULL; the caller holds run->mu. */
static uint8_t *take_spare(attest_run *run, size_t len, size_t *cap)
{
    int best = -1;
    for (int i = 0; i < SPARE_BUFFERS; i++)
        if (run->spare[i].buf && run->spare[i].cap >= len &&
            (best < 0 || run->spare[i].cap < run->spare[best].cap))
            best = i;
    if (best < 0) return NULL;
    uint8_t *buf = run->spare[best].buf;
    *cap = run->spare[best].cap;
    run->spare[best].buf = NULL;
    return buf;
}

static int submit_job(attest_run *run, struct fact *f, enum job_kind kind, size_t first,
                      size_t count)
{
    struct job *j = calloc(1, sizeof *j);
    if (j) {
        j->kind = kind;
        j->run = run;
        j->f = f;
        j->first = first;
        j->count = count;
        if (attest_pool_submit(run->pool, run_job, j) == 0) return 0;
        free(j);
    }
    if (f->buf && (kind == J_BUFFER || kind == J_SHARD_BUF)) {
        pthread_mutex_lock(&run->mu);
        run->mem_used -= f->len;
        keep_spare(run, f->buf, f->cap);
        f->buf = NULL;
        pthread_mutex_unlock(&run->mu);
    }
    job_done(run, f, ATTEST_ENOMEM, "out of memory queueing a hashing job");
    return ATTEST_ENOMEM;
}

/* Per-tensor digests: parse the header here, then hash groups of tensors in parallel. */
static int tensors_job(struct job *j, char *err, size_t errsz)
{
    struct fact *f = j->f;
    int rc = attest_safetensors_open(&f->st, f->path, err, errsz);
    if (rc) return rc;
    size_t n = attest_safetensors_count(f->st);
    f->tensor_digest = calloc(n ? n : 1, 32);
    if (!f->tensor_digest) return ATTEST_ENOMEM;
    unsigned groups = j->run->opts.hash_threads > 1 ? j->run->opts.hash_threads - 1 : 1;
    uint64_t total = 0, share, acc = 0;
    for (size_t i = 0; i < n; i++) {
        const attest_tensor_info *t = attest_safetensors_tensor(f->st, i);
        total += t->end - t->begin;
    }
    share = total / groups + 1;
    // Groups of consecutive tensors of about equal bytes, one job each.
    size_t first = 0;
    for (size_t i = 0; i < n; i++) {
        const attest_tensor_info *t = attest_safetensors_tensor(f->st, i);
        acc += t->end - t->begin;
        if (acc >= share || i + 1 == n) {
            pthread_mutex_lock(&j->run->mu);
            f->pending++;
            pthread_mutex_unlock(&j->run->mu);
            submit_job(j->run, f, J_TENSOR_GROUP, first, i + 1 - first);
            first = i + 1;
            acc = 0;
        }
    }
    return 0;
}

static int tensor_group_job(struct job *j, char *err, size_t errsz)
{
    struct fact *f = j->f;
    uint64_t base = attest_safetensors_data_offset(f->st);
    for (size_t i = j->first; i < j->first + j->count; i++) {
        const attest_tensor_info *t = attest_safetensors_tensor(f->st, i);
        char why[400];
        int rc = attest_sha256_file(f->path, base + t->begin, t->end - t->begin,
                                    f->tensor_digest[i], NULL, why, sizeof why);
        if (rc) {
            snprintf(err, errsz, "tensor \"%s\": %s", t->name, why);
            return rc;
        }
    }
    return 0;
}

static void run_job(void *arg)
{
    struct job *j = arg;
    struct fact *f = j->f;
    char err[480] = "";
    int rc = 0;
    switch (j->kind) {
    case J_CODE:
        rc = attest_git_code_record(f->path, &f->git, err, sizeof err);
        break;
    case J_FILE:
        rc = attest_sha256_file(f->path, 0, UINT64_MAX, f->digest, &f->size, err, sizeof err);
        f->have_digest = rc == 0;
        break;
    case J_SHARD_FILE:
        rc = attest_shard_file(f->path, f->layout, &f->shard, err, sizeof err);
        f->have_shard = rc == 0;
        break;
    case J_SHARD_BUF:
    case J_BUFFER:
        if (j->kind == J_SHARD_BUF)
            rc =
                attest_shard_buffer(f->what, f->buf, f->len, f->layout, &f->shard, err, sizeof err);
        else
            rc = attest_sha256(f->buf, f->len, f->digest);
        f->have_shard = j->kind == J_SHARD_BUF && rc == 0;
        f->have_digest = j->kind == J_BUFFER && rc == 0;
        // The copy is no longer needed: give its memory back to the bound.
        pthread_mutex_lock(&j->run->mu);
        j->run->mem_used -= f->len;
        keep_spare(j->run, f->buf, f->cap);
        f->buf = NULL;
        pthread_cond_broadcast(&j->run->changed);
        pthread_mutex_unlock(&j->run->mu);
        break;
    case J_TENSORS:
        rc = tensors_job(j, err, sizeof err);
        break;
    case J_TENSOR_GROUP:
        rc = tensor_group_job(j, err, sizeof err);
        break;
    }
    job_done(j->run, f, rc, err);
    free(j);
}

/* Writer thread: adds what the jobs computed to the record. */
static int finalize(attest_run *run, struct fact *f)
{
    json_t *rec = f->rec;
    if (f->git) {
        // The git facts come first in the record; the time stays.
        json_t *time = json_incref(json_object_get(rec, "time"));
        json_object_clear(rec);
        json_object_update(rec, f->git);
        if (time) json_object_set_new(rec, "time", time);
    }
    if (f->have_digest && f->digest_key)
        json_object_set_new(rec, f->digest_key, hex_digest(f->digest));
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (f->have_digest && strcmp(type, "checkpoint") == 0)
        json_object_set_new(rec, "size", json_integer((json_int_t)f->size));
    if (f->have_shard) {
        json_object_set_new(rec, "size", json_integer((json_int_t)f->shard.size));
        json_object_set_new(rec, "sha256", hex_digest(f->shard.sha256));
        json_object_set_new(rec, "layout", json_string(attest_layout_name(f->layout)));
        json_object_set_new(rec, "samples", json_integer((json_int_t)f->shard.samples));
        if (f->shard.zstd) {
            json_object_set_new(rec, "compression", json_string("zstd"));
            json_object_set_new(rec, "content_size",
                                json_integer((json_int_t)f->shard.content_size));
            json_object_set_new(rec, "content_sha256", hex_digest(f->shard.content_sha256));
        }
    }
    if (strcmp(type, "end") == 0)
        json_object_set_new(rec, "steps",
                            json_integer((json_int_t)attest_log_step_count(run->log)));
    if (f->st) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < attest_safetensors_count(f->st); i++) {
            const attest_tensor_info *t = attest_safetensors_tensor(f->st, i);
            json_t *shape = json_array();
            for (size_t k = 0; k < t->rank; k++)
                json_array_append_new(shape, json_integer((json_int_t)t->shape[k]));
            json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:o}", "name", t->name, "dtype",
                                                 t->dtype, "shape", shape, "sha256",
                                                 hex_digest(f->tensor_digest[i])));
        }
        json_object_set_new(rec, "tensors", arr);
    }
    return 0;
}

/* attest_log_anchor_fn: extends, counts and certifies the seal in the TPM. */
static int anchor(void *ctx, const uint8_t digest[32], char **evidence)
{
    attest_run *run = ctx;
    attest_tpm_evidence ev;
    char err[400];
    int rc = attest_tpm_seal(run->tpm, &run->nv, digest, &ev, err, sizeof err);
    if (rc) {
        pthread_mutex_lock(&run->mu);
        note_failure(run, rc, "seal: TPM anchoring failed, sealed without evidence: %s", err);
        pthread_mutex_unlock(&run->mu);
        return rc;
    }
    *evidence = attest_tpm_evidence_text(&ev);
    return *evidence ? 0 : ATTEST_ENOMEM;
}

/* Writer thread, run->mu not held. */
static void write_seal(attest_run *run)
{
    uint64_t index;
    if (!run->signer) {
        pthread_mutex_lock(&run->mu);
        note_failure(run, ATTEST_EINVAL, "seal: this run was opened without a signer key");
        pthread_mutex_unlock(&run->mu);
        return;
    }
    int rc = attest_log_seal_anchored(run->log, run->signer, run->tpm ? anchor : NULL, run, &index);
    pthread_mutex_lock(&run->mu);
    if (rc)
        note_failure(run, rc, "seal: %s", attest_log_errmsg(run->log));
    else
        run->since_seal = 0;
    run->records = attest_log_count(run->log);
    run->last_seal = mono_now();
    pthread_mutex_unlock(&run->mu);
}

static void write_fact(attest_run *run, struct fact *f)
{
    if (f->kind == K_SEAL) {
        write_seal(run);
        return;
    }
    if (f->rc) {
        pthread_mutex_lock(&run->mu);
        note_failure(run, f->rc, "%s: %s", f->what, f->err);
        pthread_mutex_unlock(&run->mu);
        return;
    }
    finalize(run, f);
    char *text = json_dumps(f->rec, JSON_COMPACT);
    int rc = text ? attest_log_append(run->log, text, strlen(text), NULL) : ATTEST_ENOMEM;
    free(text);
    pthread_mutex_lock(&run->mu);
    if (rc)
        note_failure(run, rc, "%s: %s", f->what,
                     rc == ATTEST_ENOMEM ? "out of memory" : attest_log_errmsg(run->log));
    else
        run->since_seal++;
    run->records = attest_log_count(run->log);
    int seal = !rc && run->signer && run->opts.seal_every_records &&
               run->since_seal >= run->opts.seal_every_records;
    pthread_mutex_unlock(&run->mu);
    if (seal) write_seal(run);
}

static void *writer_main(void *arg)
{
    attest_run *run = arg;
    pthread_mutex_lock(&run->mu);
    for (;;) {
        struct fact *f = run->head;
        if (f && f->pending == 0) {
            run->head = f->next;
            if (!run->head) run->tail = NULL;
            pthread_mutex_unlock(&run->mu);
            write_fact(run, f);
            free_fact(f);
            pthread_mutex_lock(&run->mu);
            run->done++;
            pthread_cond_broadcast(&run->changed);
            continue;
        }
        if (!f && run->stopping) break;
        double every = run->opts.seal_every_seconds;
        if (every > 0 && run->since_seal > 0 && run->signer &&
            mono_now() - run->last_seal >= every) {
            pthread_mutex_unlock(&run->mu);
            write_seal(run);
            pthread_mutex_lock(&run->mu);
            continue;
        }
        if (every > 0) {
            // Wake up in time for the next timed seal.
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double wait = run->since_seal > 0 ? run->last_seal + every - mono_now() : every;
            if (wait < 0.001) wait = 0.001;
            ts.tv_sec += (time_t)wait;
            ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&run->changed, &run->mu, &ts);
        } else {
            pthread_cond_wait(&run->changed, &run->mu);
        }
    }
    pthread_mutex_unlock(&run->mu);
    return NULL;
}

/* Adds a fact to the queue (its jobs not yet submitted: pending counts them). */
static void enqueue(attest_run *run, struct fact *f, int jobs)
{
    pthread_mutex_lock(&run->mu);
    f->pending = jobs;
    if (run->tail)
        run->tail->next = f;
    else
        run->head = f;
    run->tail = f;
    run->queued++;
    pthread_cond_broadcast(&run->changed);
    pthread_mutex_unlock(&run->mu);
}

static struct fact *new_fact(const char *type, const char *what_fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct fact *new_fact(const char *type, const char *what_fmt, ...)
{
    struct fact *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->rec = json_pack("{s:s}", "type", type);
    if (!f->rec) {
        free(f);
        return NULL;
    }
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(f->what_buf, sizeof f->what_buf, what_fmt, ap);
    va_end(ap);
    f->what = f->what_buf;
    return f;
}

/* Finishes a record call: adds the time, queues the fact and its one job (if any). */
static int submit(attest_run *run, struct fact *f, int has_job, enum job_kind kind)
{
    json_object_set_new(f->rec, "time", utc_now());
    enqueue(run, f, has_job);
    if (has_job) submit_job(run, f, kind, 0, 0);
    return 0;
}

/* Copies a buffer under the memory bound, waiting for room when it is reached. */
static uint8_t *copy_bounded(attest_run *run, const void *data, size_t len, size_t *cap)
{
    pthread_mutex_lock(&run->mu);
    while (run->mem_used > 0 && run->mem_used + len > run->opts.memory_bound)
        pthread_cond_wait(&run->changed, &run->mu);
    run->mem_used += len;
    uint8_t *copy = take_spare(run, len, cap);
    pthread_mutex_unlock(&run->mu);
    if (!copy) {
        *cap = len ? len : 1;
        copy = malloc(*cap);
    }
    if (copy) {
        memcpy(copy, data, len);
    } else {
        pthread_mutex_lock(&run->mu);
        run->mem_used -= len;
        pthread_mutex_unlock(&run->mu);
    }
    return copy;
}

int attest_run_code(attest_run *run, const char *repo_path)
{
    if (!run || !repo_path) return ATTEST_EINVAL;
    struct fact *f = new_fact("code", "code (%.80s)", repo_path);
    if (!f || !(f->path = strdup(repo_path))) {
        if (f) free_fact(f);
        return ATTEST_ENOMEM;
    }
    return submit(run, f, 1, J_CODE);
}

int attest_run_init(attest_run *run, uint64_t seed, const char *initializer,
                    const char *initializer_version, int has_data_seed, uint64_t data_seed,
                    const char *checkpoint_path)
{
    if (!run || !initializer || !*initializer || seed > INT64_MAX || data_seed > INT64_MAX)
        return ATTEST_EINVAL;
    struct fact *f = new_fact("init", "init");
    if (!f) return ATTEST_ENOMEM;
    json_object_set_new(f->rec, "seed", json_integer((json_int_t)seed));
    json_object_set_new(f->rec, "initializer", json_string(initializer));
    if (initializer_version)
        json_object_set_new(f->rec, "initializer_version", json_string(initializer_version));
    if (has_data_seed)
        json_object_set_new(f->rec, "data_seed", json_integer((json_int_t)data_seed));
    if (checkpoint_path && !(f->path = strdup(checkpoint_path))) {
        free_fact(f);
        return ATTEST_ENOMEM;
    }
    f->digest_key = "checkpoint_sha256";
    return submit(run, f, checkpoint_path != NULL, J_FILE);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int attest_run_shard_file(attest_run *run, uint64_t id, const char *path, const char *name,
                          enum attest_layout layout)
{
    if (!run || !path || !attest_layout_name(layout) || id > INT64_MAX) return ATTEST_EINVAL;
    struct fact *f = new_fact("shard", "shard %llu (%.60s)", (unsigned long long)id, path);
    if (!f || !(f->path = strdup(path))) {
        if (f) free_fact(f);
        return ATTEST_ENOMEM;
    }
    json_object_set_new(f->rec, "id", json_integer((json_int_t)id));
    json_object_set_new(f->rec, "name", json_string(name ? name : base_name(path)));
    f->layout = layout;
    return submit(run, f, 1, J_SHARD_FILE);
}

int attest_run_shard_buffer(attest_run *run, uint64_t id, const char *name, const void *data,
                            size_t len, enum attest_layout layout)
{
    if (!run || !name || !*name || (!data && len) || !attest_layout_name(layout) || id > INT64_MAX)
        return ATTEST_EINVAL;
    struct fact *f = new_fact("shard", "shard %llu (%.60s)", (unsigned long long)id, name);
    if (!f) return ATTEST_ENOMEM;
    if (!(f->buf = copy_bounded(run, data, len, &f->cap))) {
        free_fact(f);
        return ATTEST_ENOMEM;
    }
    f->len = len;
    json_object_set_new(f->rec, "id", json_integer((json_int_t)id));
    json_object_set_new(f->rec, "name", json_string(name));
    f->layout = layout;
    return submit(run, f, 1, J_SHARD_BUF);
}

int attest_run_step(attest_run *run, const attest_step *s)
{
    if (!run || !s || s->version != ATTEST_STEP_VERSION || !s->batch == !s->batch_sha256 ||
        (!s->refs && s->n_refs) || s->step > INT64_MAX)
        return ATTEST_EINVAL;
    json_t *user = NULL;
    if (s->user_json) {
        user = json_loads(s->user_json, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(user)) {
            json_decref(user);
            return ATTEST_EINVAL;
        }
    }
    struct fact *f = new_fact("step", "step %llu", (unsigned long long)s->step);
    json_t *batch = json_array();
    if (!f || !batch) {
        json_decref(user);
        json_decref(batch);
        if (f) free_fact(f);
        return ATTEST_ENOMEM;
    }
    for (size_t i = 0; i < s->n_refs; i++)
        json_array_append_new(batch, json_pack("[I, I, I]", (json_int_t)s->refs[i].shard,
                                               (json_int_t)s->refs[i].first,
                                               (json_int_t)s->refs[i].count));
    json_object_set_new(f->rec, "step", json_integer((json_int_t)s->step));
    json_object_set_new(f->rec, "batch", batch);
    if (!s->batch) json_object_set_new(f->rec, "batch_sha256", hex_digest(s->batch_sha256));
    set_float(f->rec, "lr", s->lr);
    set_float(f->rec, "loss", s->loss);
    if (s->has_grad_norm) set_float(f->rec, "grad_norm", s->grad_norm);
    if (user) json_object_set_new(f->rec, "user", user);
    if (s->batch && s->batch_len <= INLINE_HASH_MAX) {
        // Hashing a small batch here costs less, and less predictably little, than handing a copy
        // to a thread.
        uint8_t d[32];
        if (attest_sha256(s->batch, s->batch_len, d) != 0) {
            free_fact(f);
            return ATTEST_ECRYPTO;
        }
        json_object_set_new(f->rec, "batch_sha256", hex_digest(d));
    } else if (s->batch) {
        if (!(f->buf = copy_bounded(run, s->batch, s->batch_len, &f->cap))) {
            free_fact(f);
            return ATTEST_ENOMEM;
        }
        f->len = s->batch_len;
        f->digest_key = "batch_sha256";
    }
    return submit(run, f, f->buf != NULL, J_BUFFER);
}

int attest_run_checkpoint(attest_run *run, uint64_t step, const char *path, unsigned flags)
{
    if (!run || !path || step > INT64_MAX || (flags & ~ATTEST_CHECKPOINT_RAW)) return ATTEST_EINVAL;
    struct fact *f =
        new_fact("checkpoint", "checkpoint of step %llu (%.60s)", (unsigned long long)step, path);
    if (!f || !(f->path = strdup(path))) {
        if (f) free_fact(f);
        return ATTEST_ENOMEM;
    }
    json_object_set_new(f->rec, "step", json_integer((json_int_t)step));
    json_object_set_new(f->rec, "name", json_string(base_name(path)));
    if (flags & ATTEST_CHECKPOINT_RAW) json_object_set_new(f->rec, "tensors", json_array());
    f->digest_key = "sha256";
    json_object_set_new(f->rec, "time", utc_now());
    // The whole-file digest and the per-tensor digests run side by side.
    int raw = (flags & ATTEST_CHECKPOINT_RAW) != 0;
    enqueue(run, f, raw ? 1 : 2);
    submit_job(run, f, J_FILE, 0, 0);
    if (!raw) submit_job(run, f, J_TENSORS, 0, 0);
    return 0;
}

int attest_run_note(attest_run *run, const char *text)
{
    if (!run || !text || !*text) return ATTEST_EINVAL;
    struct fact *f = new_fact("note", "note");
    if (!f) return ATTEST_ENOMEM;
    json_object_set_new(f->rec, "text", json_string(text));
    if (!json_object_get(f->rec, "text")) {
        free_fact(f);
        return ATTEST_EINVAL; // not UTF-8
    }
    return submit(run, f, 0, J_BUFFER);
}

int attest_run_end(attest_run *run, const char *reason)
{
    if (!run) return ATTEST_EINVAL;
    struct fact *f = new_fact("end", "end");
    if (!f) return ATTEST_ENOMEM;
    // The number of steps is known only when the writer gets there: finalize() asks the log.
    json_object_set_new(f->rec, "steps", json_integer(0));
    if (reason) json_object_set_new(f->rec, "reason", json_string(reason));
    return submit(run, f, 0, J_BUFFER);
}

int attest_run_seal(attest_run *run)
{
    if (!run) return ATTEST_EINVAL;
    if (!run->signer) return ATTEST_EINVAL;
    struct fact *f = calloc(1, sizeof *f);
    if (!f) return ATTEST_ENOMEM;
    f->kind = K_SEAL;
    f->what = "seal";
    enqueue(run, f, 0);
    return 0;
}

int attest_run_status(attest_run *run, char *msg, size_t msgsz, uint64_t *failed)
{
    if (!run) return ATTEST_EINVAL;
    pthread_mutex_lock(&run->mu);
    int rc = run->first_rc;
    if (msg && msgsz) snprintf(msg, msgsz, "%s", run->first_err);
    if (failed) *failed = run->failed;
    pthread_mutex_unlock(&run->mu);
    return rc;
}

int attest_run_flush(attest_run *run)
{
    if (!run) return ATTEST_EINVAL;
    pthread_mutex_lock(&run->mu);
    uint64_t target = run->queued;
    while (run->done < target)
        pthread_cond_wait(&run->changed, &run->mu);
    pthread_mutex_unlock(&run->mu);
    return attest_run_status(run, NULL, 0, NULL);
}

uint64_t attest_run_records(attest_run *run)
{
    if (!run) return 0;
    attest_run_flush(run);
    pthread_mutex_lock(&run->mu);
    uint64_t n = run->records;
    pthread_mutex_unlock(&run->mu);
    return n;
}

static int open_fail(char **errmsg, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int open_fail(char **errmsg, int rc, const char *fmt, ...)
{
    if (errmsg) {
        char msg[800];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        *errmsg = strdup(msg);
    }
    return rc;
}

/* Connects the run to its TPM: the AK, the run's NV indexes, and a `tpm` record once per log. */
static int setup_tpm(attest_run *run, const char *tcti, const char *enrollment_path, char **errmsg)
{
    attest_tpm_key ak;
    char err[400], *rec = NULL, *enrollment = NULL;
    size_t len;
    uint8_t run_id[16] = {0};
    attest_enroll_req *req = NULL;
    int rc;
    if (enrollment_path) {
        // Read before the run's own connection: a TPM without resource manager serves one.
        FILE *f = fopen(enrollment_path, "r");
        enrollment = f ? calloc(1, 4096) : NULL;
        size_t got = enrollment ? fread(enrollment, 1, 4095, f) : 0;
        if (f) fclose(f);
        req = calloc(1, sizeof *req);
        if (!got || !req) {
            free(enrollment);
            free(req);
            return open_fail(errmsg, ATTEST_EIO, "%s: cannot read the enrollment", enrollment_path);
        }
        if ((rc = attest_enroll_request(tcti, req, err, sizeof err)) != 0) {
            free(enrollment);
            free(req);
            return open_fail(errmsg, rc, "TPM %s: %s", tcti, err);
        }
    }
    rc = attest_tpm_open(&run->tpm, tcti, err, sizeof err);
    if (!rc) rc = attest_tpm_ak(run->tpm, &ak, err, sizeof err);
    if (rc) {
        free(enrollment);
        free(req);
        return open_fail(errmsg, rc, "TPM %s: %s", tcti, err);
    }
    if (enrollment) {
        char name_hex[2 * ATTEST_TPM_NAME_MAX + 1], want[2 * ATTEST_TPM_NAME_MAX + 8];
        sodium_bin2hex(name_hex, sizeof name_hex, ak.name, ak.name_len);
        snprintf(want, sizeof want, "\nak %s\n", name_hex);
        if (!strstr(enrollment, want)) {
            free(enrollment);
            free(req);
            return open_fail(errmsg, ATTEST_EINVAL,
                             "%s: the enrollment is not for this TPM's AK %s", enrollment_path,
                             name_hex);
        }
    }
    if ((rc = attest_log_get(run->log, 0, &rec, &len)) != 0) {
        free(enrollment);
        free(req);
        return open_fail(errmsg, rc, "%s", attest_log_errmsg(run->log));
    }
    json_t *obj = json_loadb(rec, len, 0, NULL);
    const char *hex = json_string_value(json_object_get(obj, "run_id"));
    for (int i = 0; hex && i < 16; i++) {
        unsigned v = 0;
        if (sscanf(hex + 2 * i, "%2x", &v) == 1) run_id[i] = (uint8_t)v;
    }
    json_decref(obj);
    free(rec);
    if ((rc = attest_tpm_define(run->tpm, run_id, &run->nv, err, sizeof err)) != 0) {
        free(enrollment);
        free(req);
        return open_fail(errmsg, rc, "TPM %s: %s", tcti, err);
    }
    // A resumed log has its tpm record near the start already.
    // A resumed log has its tpm record already: it must be this TPM's, or seals would not verify.
    uint64_t n = attest_log_count(run->log);
    for (uint64_t i = 1; i < n; i++) {
        if (attest_log_get(run->log, i, &rec, &len) != 0) break;
        json_t *old = json_loadb(rec, len, 0, NULL);
        free(rec);
        const char *type = json_string_value(json_object_get(old, "type"));
        int is_tpm = type && strcmp(type, "tpm") == 0, same = 0;
        if (is_tpm) {
            json_t *now = json_object();
            attest_tpm_put_hex(now, "ak_name", ak.name, ak.name_len);
            attest_tpm_put_hex(now, "extend_name", run->nv.extend_name, run->nv.extend_name_len);
            attest_tpm_put_hex(now, "counter_name", run->nv.counter_name, run->nv.counter_name_len);
            same = json_equal(json_object_get(old, "ak_name"), json_object_get(now, "ak_name")) &&
                   json_equal(json_object_get(old, "extend_name"),
                              json_object_get(now, "extend_name")) &&
                   json_equal(json_object_get(old, "counter_name"),
                              json_object_get(now, "counter_name"));
            json_decref(now);
        }
        int seal = type && strcmp(type, "seal") == 0;
        json_decref(old);
        if (is_tpm || seal) {
            free(enrollment);
            free(req);
            if (is_tpm && !same)
                return open_fail(
                    errmsg, ATTEST_EINVAL,
                    "TPM %s: this log was anchored in another TPM (or other NV indexes)", tcti);
            if (seal)
                return open_fail(errmsg, ATTEST_EINVAL,
                                 "TPM %s: this log was sealed without a TPM before; it cannot be "
                                 "anchored from the middle",
                                 tcti);
            return 0;
        }
    }
    json_t *t = json_pack("{s:s}", "type", "tpm");
    attest_tpm_put_hex(t, "ak_public", ak.pub, ak.pub_len);
    attest_tpm_put_hex(t, "ak_name", ak.name, ak.name_len);
    json_object_set_new(t, "extend_index", json_integer(run->nv.extend_handle));
    attest_tpm_put_hex(t, "extend_name", run->nv.extend_name, run->nv.extend_name_len);
    json_object_set_new(t, "counter_index", json_integer(run->nv.counter_handle));
    attest_tpm_put_hex(t, "counter_name", run->nv.counter_name, run->nv.counter_name_len);
    if (req) {
        attest_tpm_put_hex(t, "ek_certificate", req->ek_cert, req->ek_cert_len);
        json_object_set_new(t, "enrollment", json_string(enrollment));
    }
    free(enrollment);
    free(req);
    json_object_set_new(t, "time", utc_now());
    char *text = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    rc = text ? attest_log_append(run->log, text, strlen(text), NULL) : ATTEST_ENOMEM;
    free(text);
    return rc ? open_fail(errmsg, rc, "%s", attest_log_errmsg(run->log)) : 0;
}

/* The signer must be the key of the run record (record 0). */
static int check_key(attest_run *run, char **errmsg)
{
    char *rec = NULL, *vkey = NULL;
    size_t len;
    int rc = attest_log_get(run->log, 0, &rec, &len);
    if (rc) return open_fail(errmsg, rc, "%s", attest_log_errmsg(run->log));
    json_t *obj = json_loadb(rec, len, 0, NULL);
    const char *logged = json_string_value(json_object_get(obj, "public_key"));
    rc = attest_signer_vkey(run->signer, &vkey);
    if (!rc && (!logged || strcmp(logged, vkey) != 0))
        rc = open_fail(errmsg, ATTEST_EINVAL, "the key %s is not this log's key %s", vkey,
                       logged ? logged : "(none)");
    json_decref(obj);
    free(rec);
    free(vkey);
    return rc;
}

/* Frees what a run holds; its threads have stopped (or never started). */
static void free_run(attest_run *run)
{
    attest_pool_free(run->pool);
    for (int i = 0; i < SPARE_BUFFERS; i++)
        free(run->spare[i].buf);
    attest_tpm_free(run->tpm);
    attest_log_free(run->log);
    attest_signer_free(run->signer);
    pthread_mutex_destroy(&run->mu);
    pthread_cond_destroy(&run->changed);
    free(run);
}

int attest_run_open(attest_run **out, const char *log_path, const char *key_path,
                    const char *config_json, const attest_run_options *opts, char **errmsg)
{
    attest_run *run;
    char err[300];
    int rc, resumed = 0;
    if (errmsg) *errmsg = NULL;
    if (!out || !log_path || (opts && opts->version != ATTEST_RUN_OPTIONS_VERSION))
        return open_fail(errmsg, ATTEST_EINVAL, "invalid arguments");
    *out = NULL;
    if (!(run = calloc(1, sizeof *run))) return open_fail(errmsg, ATTEST_ENOMEM, "out of memory");
    attest_run_options defaults = ATTEST_RUN_OPTIONS_INIT;
    run->opts = opts ? *opts : defaults;
    if (!run->opts.hash_threads) run->opts.hash_threads = 2;
    if (!run->opts.memory_bound) run->opts.memory_bound = 256u << 20;
    pthread_mutex_init(&run->mu, NULL);
    pthread_cond_init(&run->changed, NULL);
    run->last_seal = mono_now();
    if (key_path && (rc = attest_signer_load(&run->signer, key_path, err, sizeof err)) != 0) {
        rc = open_fail(errmsg, rc, "%s: %s", key_path, err);
        goto fail;
    }
    if (access(log_path, F_OK) == 0 && (run->opts.flags & ATTEST_RUN_NEW)) {
        rc = open_fail(errmsg, ATTEST_EEXIST, "%s: the log already exists", log_path);
        goto fail;
    } else if (access(log_path, F_OK) == 0) {
        rc = attest_log_open(&run->log, log_path, ATTEST_LOG_APPEND);
        resumed = 1;
    } else if (!run->signer) {
        rc = open_fail(errmsg, ATTEST_EINVAL, "%s: a new log needs the signer key", log_path);
        goto fail;
    } else {
        rc =
            attest_log_create(&run->log, log_path, run->signer, config_json, run->opts.replay_json);
    }
    if (rc) {
        rc = open_fail(errmsg, rc, "%s",
                       run->log ? attest_log_errmsg(run->log) : attest_strerror(rc));
        goto fail;
    }
    if (run->signer && (rc = check_key(run, errmsg)) != 0) goto fail;
    const char *tcti = run->opts.tpm_tcti ? run->opts.tpm_tcti : getenv("ATTEST_TCTI");
    const char *enroll =
        run->opts.tpm_enrollment ? run->opts.tpm_enrollment : getenv("ATTEST_TPM_ENROLLMENT");
    if (tcti && *tcti &&
        (rc = setup_tpm(run, tcti, enroll && *enroll ? enroll : NULL, errmsg)) != 0)
        goto fail;
    run->records = attest_log_count(run->log);
    // A resumed log whose last record is not a seal has unsealed records: close seals them.
    char *last = NULL;
    size_t last_len;
    if (resumed && attest_log_get(run->log, run->records - 1, &last, &last_len) == 0 &&
        !strstr(last, "\"type\":\"seal\""))
        run->since_seal = 1;
    free(last);
    if ((rc = attest_pool_new(&run->pool, run->opts.hash_threads)) != 0) {
        rc = open_fail(errmsg, rc, "starting %u hashing threads failed", run->opts.hash_threads);
        goto fail;
    }
    if (pthread_create(&run->writer, NULL, writer_main, run) != 0) {
        rc = open_fail(errmsg, ATTEST_EIO, "starting the writer thread failed");
        goto fail;
    }
    run->writer_started = 1;
    run->opts.replay_json = NULL; // not ours to keep
    run->opts.tpm_tcti = NULL;
    run->opts.tpm_enrollment = NULL;
    *out = run;
    return 0;
fail:
    free_run(run);
    return rc;
}

int attest_run_close(attest_run *run, char *msg, size_t msgsz, uint64_t *failed)
{
    if (msg && msgsz) *msg = '\0';
    if (failed) *failed = 0;
    if (!run) return 0;
    attest_run_flush(run);
    pthread_mutex_lock(&run->mu);
    int unsealed = run->since_seal > 0;
    pthread_mutex_unlock(&run->mu);
    // What was recorded is signed before the recorder goes away.
    if (unsealed && run->signer && attest_run_seal(run) == 0) attest_run_flush(run);
    pthread_mutex_lock(&run->mu);
    run->stopping = 1;
    pthread_cond_broadcast(&run->changed);
    pthread_mutex_unlock(&run->mu);
    if (run->writer_started) pthread_join(run->writer, NULL);
    attest_pool_free(run->pool);
    run->pool = NULL;
    int rc = attest_run_status(run, msg, msgsz, failed);
    free_run(run);
    return rc;
}
