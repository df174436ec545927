/*
 * export.c - the in-toto statement of a verified log (format/EXPORT.md),
 * signed as a DSSE envelope with the run key. Runs the auditor's check
 * first, then summarizes the records the last seal signs and binds the
 * summary to that seal's root. It does not re-hash checkpoint or shard
 * files: their digests are the ones the log recorded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "attest/error.h"
#include "attest/export.h"
#include "attest/log.h"
#include "attest/merkle.h"
#include "attest/note.h"
#include "attest/verify.h"
#include "format/dsse.h"
#include "format/text.h"

/* The predicate under construction, and what the walk over the records has seen. */
struct summary {
    json_t *run, *code, *data, *init, *checkpoints, *end, *ak_name;
    uint64_t steps, last_step, seals, anchored;
    uint64_t final_step; /* greatest checkpoint step */
    int have_checkpoint;
};

/* Copies the members named in keys (NULL-terminated) that rec has into out. */
static int copy(json_t *out, const json_t *rec, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(rec, *keys);
        if (v && json_object_set(out, *keys, v) != 0) return ATTEST_ENOMEM;
    }
    return 0;
}

/* A new object holding the listed members of rec, appended to arr (or stored in *slot). */
static int pick(json_t *arr, json_t **slot, const json_t *rec, const char *const *keys)
{
    json_t *o = json_object();
    if (!o || copy(o, rec, keys) != 0) {
        json_decref(o);
        return ATTEST_ENOMEM;
    }
    if (slot) {
        json_decref(*slot);
        *slot = o;
        return 0;
    }
    return json_array_append_new(arr, o) == 0 ? 0 : ATTEST_ENOMEM;
}

static const char *const run_keys[] = {"run_id", "origin", "public_key", "version", NULL};
static const char *const code_keys[] = {"commit",      "tree",    "branch", "dirty",
                                        "diff_sha256", "remotes", "path",   NULL};
static const char *const shard_keys[] = {
    "id",      "name",        "size",         "sha256",         "layout",
    "samples", "compression", "content_size", "content_sha256", NULL};
static const char *const init_keys[] = {"seed",      "initializer",       "initializer_version",
                                        "data_seed", "checkpoint_sha256", NULL};
static const char *const ckpt_keys[] = {"step", "name", "sha256", "size", NULL};
static const char *const end_keys[] = {"steps", "reason", NULL};

static uint64_t u64(const json_t *rec, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(rec, key));
}

/* Adds one sealed record to the summary. The verifier has checked its schema. */
static int add_record(struct summary *s, const json_t *rec)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!type) return ATTEST_EFORMAT;
    if (strcmp(type, "run") == 0) return pick(NULL, &s->run, rec, run_keys);
    if (strcmp(type, "code") == 0) return pick(s->code, NULL, rec, code_keys);
    if (strcmp(type, "shard") == 0) return pick(s->data, NULL, rec, shard_keys);
    if (strcmp(type, "init") == 0) return pick(NULL, &s->init, rec, init_keys);
    if (strcmp(type, "end") == 0) return pick(NULL, &s->end, rec, end_keys);
    if (strcmp(type, "step") == 0) {
        s->steps++;
        s->last_step = u64(rec, "step");
    } else if (strcmp(type, "checkpoint") == 0) {
        uint64_t step = u64(rec, "step");
        if (!s->have_checkpoint || step > s->final_step) s->final_step = step;
        s->have_checkpoint = 1;
        return pick(s->checkpoints, NULL, rec, ckpt_keys);
    } else if (strcmp(type, "seal") == 0) {
        s->seals++;
        s->anchored += json_object_get(rec, "tpm") != NULL;
    } else if (strcmp(type, "tpm") == 0) {
        json_decref(s->ak_name);
        s->ak_name = json_incref(json_object_get(rec, "ak_name"));
    }
    return 0;
}

/* The subjects: every checkpoint record of the greatest checkpoint step. */
static json_t *subjects(const struct summary *s)
{
    json_t *arr = json_array(), *c;
    size_t i;
    if (!arr) return NULL;
    json_array_foreach(s->checkpoints, i, c)
    {
        if (u64(c, "step") != s->final_step) continue;
        json_t *d = json_object();
        if (d && json_object_get(c, "name")) json_object_set(d, "name", json_object_get(c, "name"));
        if (d &&
            json_object_set_new(d, "digest",
                                json_pack("{s:O}", "sha256", json_object_get(c, "sha256"))) != 0) {
            json_decref(d);
            d = NULL;
        }
        if (!d || json_array_append_new(arr, d) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* The first failure of a report, for the caller's error buffer. */
static void report_reason(const attest_report *r, char *buf, size_t bufsz)
{
    char *text = NULL;
    json_t *j = NULL;
    snprintf(buf, bufsz, "no reason given");
    if (r && attest_report_json(r, &text) == 0 && (j = json_loads(text, 0, NULL))) {
        // The reason names the record and offset itself.
        const char *why =
            json_string_value(json_object_get(json_object_get(j, "failure"), "reason"));
        if (why) snprintf(buf, bufsz, "%s", why);
    }
    json_decref(j);
    free(text);
}

/* What the verifier saw: the last seal's tree size (0: none) and the number of records. */
static void report_sizes(const attest_report *r, uint64_t *sealed, uint64_t *records)
{
    char *text = NULL;
    json_t *j = NULL;
    *sealed = *records = 0;
    if (attest_report_json(r, &text) == 0 && (j = json_loads(text, 0, NULL)) &&
        json_integer_value(json_object_get(j, "seals")) > 0) {
        *sealed = (uint64_t)json_integer_value(json_object_get(j, "sealed"));
        *records = (uint64_t)json_integer_value(json_object_get(j, "records"));
    }
    json_decref(j);
    free(text);
}

/*
 * Reads the seal of tree size `size` (the last one the verifier saw: a writer may have sealed
 * more since) and opens its note with key: the size and root it signs.
 */
static int last_seal(attest_log *log, uint64_t size, const attest_verifier *key, char **note,
                     attest_checkpoint *cp, char *err, size_t errsz)
{
    char *text = NULL;
    if (size == 0)
        return attest_text_fail(err, errsz, ATTEST_ENOTFOUND,
                                "the log has no seal: nothing is signed to export");
    int rc = attest_log_checkpoint(log, size, note);
    if (rc) return attest_text_fail(err, errsz, rc, "%s", attest_log_errmsg(log));
    rc = attest_note_open(*note, strlen(*note), key, &text, err, errsz);
    if (rc == 0) rc = attest_checkpoint_parse(text, strlen(text), cp, err, errsz);
    if (rc == 0 && cp->size != size)
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the seal at tree size %llu signs size %llu",
                              (unsigned long long)size, (unsigned long long)cp->size);
    free(text);
    return rc;
}

/* Walks records [0, cp->size) into s, checking that they hash to the signed root. */
static int walk(attest_log *log, const attest_checkpoint *cp, struct summary *s, char *err,
                size_t errsz)
{
    attest_merkle_frontier *f = malloc(sizeof *f);
    uint8_t leaf[ATTEST_HASH_SIZE], root[ATTEST_HASH_SIZE];
    int rc = 0;

    if (!f) return ATTEST_ENOMEM;
    attest_merkle_frontier_init(f);
    for (uint64_t i = 0; i < cp->size && !rc; i++) {
        char *data;
        size_t len;
        if ((rc = attest_log_get(log, i, &data, &len)) != 0) {
            attest_text_fail(err, errsz, rc, "%s", attest_log_errmsg(log));
            break;
        }
        attest_merkle_leaf_hash(leaf, data, len);
        json_t *rec = json_loadb(data, len, 0, NULL);
        free(data);
        rc = rec ? attest_merkle_frontier_append(f, leaf, NULL, NULL) : ATTEST_ENOMEM;
        if (!rc) rc = add_record(s, rec);
        json_decref(rec);
        if (rc)
            attest_text_fail(err, errsz, rc, "record %llu: %s", (unsigned long long)i,
                             attest_strerror(rc));
    }
    if (!rc) {
        attest_merkle_frontier_root(f, root);
        // What we summarize must be what the seal signed, whatever happened to the file since.
        if (sodium_memcmp(root, cp->root, sizeof root) != 0)
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "the records read for the export do not match the signed root of "
                                  "tree size %llu: the log changed after it was verified",
                                  (unsigned long long)cp->size);
    }
    free(f);
    return rc;
}

/* The latest seal record itself (record cp->size): whether the TPM anchors it. */
static int seal_anchored(attest_log *log, uint64_t index, int *anchored)
{
    char *data;
    size_t len;
    int rc = attest_log_get(log, index, &data, &len);
    if (rc) return rc;
    json_t *rec = json_loadb(data, len, 0, NULL);
    free(data);
    if (!rec) return ATTEST_ENOMEM;
    *anchored = json_object_get(rec, "tpm") != NULL;
    json_decref(rec);
    return 0;
}

/* Assembles the statement from the summary. */
static json_t *statement_json(struct summary *s, const attest_checkpoint *cp, const char *note,
                              int anchored, int ak_enrolled, uint64_t count)
{
    char root[2 * ATTEST_HASH_SIZE + 1];
    json_t *steps, *seals, *logj, *pred, *st;

    sodium_bin2hex(root, sizeof root, cp->root, sizeof cp->root);
    steps = json_pack("{s:I}", "count", (json_int_t)s->steps);
    if (steps && s->steps)
        json_object_set_new(steps, "last", json_integer((json_int_t)s->last_step));
    seals = json_pack("{s:I, s:I, s:s, s:b, s:I}", "count", (json_int_t)(s->seals + 1), "tree_size",
                      (json_int_t)cp->size, "checkpoint", note, "tpm_anchored", anchored,
                      "anchored_count", (json_int_t)(s->anchored + (anchored ? 1 : 0)));
    if (seals && s->ak_name) json_object_set(seals, "ak_name", s->ak_name);
    if (seals) json_object_set_new(seals, "ak_enrollment_checked", json_boolean(ak_enrolled));
    logj = json_pack("{s:I, s:{s:s}, s:I, s:I}", "tree_size", (json_int_t)cp->size, "root",
                     "sha256", root, "records", (json_int_t)count, "unsealed",
                     (json_int_t)(count - cp->size - 1));
    // Members in the order of format/EXPORT.md; init and end only when the log has them.
    // (set_new releases its value even when it fails, so nothing leaks on the way.)
    pred = json_object();
    int bad = !pred;
    bad |= json_object_set(pred, "run", s->run) != 0;
    bad |= json_object_set(pred, "code", s->code) != 0;
    bad |= json_object_set(pred, "data", s->data) != 0;
    if (s->init) bad |= json_object_set(pred, "init", s->init) != 0;
    bad |= json_object_set_new(pred, "steps", steps) != 0;
    bad |= json_object_set(pred, "checkpoints", s->checkpoints) != 0;
    if (s->end) bad |= json_object_set(pred, "end", s->end) != 0;
    bad |= json_object_set_new(pred, "seals", seals) != 0;
    bad |= json_object_set_new(pred, "log", logj) != 0;
    if (bad) {
        json_decref(pred);
        return NULL;
    }
    st = json_pack("{s:s, s:o, s:s, s:o}", "_type", ATTEST_EXPORT_STATEMENT_TYPE, "subject",
                   subjects(s), "predicateType", ATTEST_EXPORT_PREDICATE_TYPE, "predicate", pred);
    return st;
}

int attest_export_statement(char **statement, const char *path, const attest_verifier *key,
                            const attest_verify_options *opts, char *err, size_t errsz)
{
    attest_report *report = NULL;
    attest_log *log = NULL;
    attest_checkpoint cp;
    struct summary s = {0};
    char *note = NULL, why[1024];
    json_t *st = NULL;
    uint64_t sealed, records;
    int rc, anchored = 0;

    if (!statement || !path || !key) return ATTEST_EINVAL;
    *statement = NULL;
    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    // An export is a statement about a verified log: the auditor's check comes first.
    rc = opts ? attest_verify_log_ex(&report, path, key, opts)
              : attest_verify_log(&report, path, key);
    if (rc) {
        report_reason(report, why, sizeof why);
        attest_report_free(report);
        if (rc == ATTEST_ENOMEM) return rc;
        return attest_text_fail(err, errsz, rc, "%s: %s with the key %s: %s", path,
                                rc == ATTEST_EVERIFY ? "the log does not verify"
                                                     : "the log could not be verified",
                                attest_verifier_name(key), why);
    }
    report_sizes(report, &sealed, &records);
    attest_report_free(report);

    rc = attest_log_open(&log, path, ATTEST_LOG_READ);
    if (rc) {
        attest_text_fail(err, errsz, rc, "%s", log ? attest_log_errmsg(log) : attest_strerror(rc));
        goto done;
    }
    if ((rc = last_seal(log, sealed, key, &note, &cp, err, errsz)) != 0) goto done;
    rc = ATTEST_ENOMEM;
    s.code = json_array();
    s.data = json_array();
    s.checkpoints = json_array();
    if (!s.code || !s.data || !s.checkpoints) goto done;
    if ((rc = walk(log, &cp, &s, err, errsz)) != 0) goto done;
    if ((rc = seal_anchored(log, cp.size, &anchored)) != 0) {
        attest_text_fail(err, errsz, rc, "%s", attest_log_errmsg(log));
        goto done;
    }
    if (!s.have_checkpoint || !s.run) {
        rc = attest_text_fail(err, errsz, ATTEST_ENOTFOUND,
                              "%s: no checkpoint record is sealed: an in-toto statement needs a "
                              "subject (the final checkpoint file)",
                              path);
        goto done;
    }
    rc = ATTEST_ENOMEM;
    if (!(st = statement_json(&s, &cp, note, anchored, s.ak_name && opts && opts->enroll_key,
                              records)))
        goto done;
    if (!(*statement = json_dumps(st, JSON_COMPACT))) goto done;
    rc = 0;
done:
    json_decref(st);
    json_decref(s.run);
    json_decref(s.code);
    json_decref(s.data);
    json_decref(s.init);
    json_decref(s.checkpoints);
    json_decref(s.end);
    json_decref(s.ak_name);
    free(note);
    attest_log_free(log);
    return rc;
}

int attest_export_intoto(char **envelope, const char *path, const attest_signer *signer,
                         const attest_verifier *key, const attest_verify_options *opts, char *err,
                         size_t errsz)
{
    attest_verifier *own = NULL;
    char *statement = NULL, *vkey = NULL;
    int rc;

    if (!envelope || !path || !signer) return ATTEST_EINVAL;
    *envelope = NULL;
    if (!key) {
        if ((rc = attest_signer_vkey(signer, &vkey)) != 0 ||
            (rc = attest_verifier_parse(&own, vkey, err, errsz)) != 0)
            goto done;
        key = own;
    }
    // The envelope speaks for the run: only the key the log verified with may sign it.
    if (strcmp(attest_signer_name(signer), attest_verifier_name(key)) != 0 ||
        sodium_memcmp(attest_signer_public_key(signer), attest_verifier_public_key(key), 32) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the signing key %s is not the run key %s the log is verified with",
                              attest_signer_name(signer), attest_verifier_name(key));
        goto done;
    }
    if ((rc = attest_export_statement(&statement, path, key, opts, err, errsz)) != 0) goto done;
    rc = attest_dsse_sign(envelope, signer, ATTEST_EXPORT_PAYLOAD_TYPE, (const uint8_t *)statement,
                          strlen(statement));
    if (rc) attest_text_fail(err, errsz, rc, "signing the envelope: %s", attest_strerror(rc));
done:
    free(statement);
    free(vkey);
    attest_verifier_free(own);
    return rc;
}

int attest_export_open(const char *envelope, size_t len, const attest_verifier *key,
                       char **statement, char *err, size_t errsz)
{
    attest_dsse_envelope env;
    int rc;

    if (!envelope || !key) return ATTEST_EINVAL;
    if (statement) *statement = NULL;
    if ((rc = attest_dsse_decode(&env, envelope, len, err, errsz)) != 0) return rc;
    if (strcmp(env.payload_type, ATTEST_EXPORT_PAYLOAD_TYPE) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "payloadType is \"%s\", not \"%s\"",
                              env.payload_type, ATTEST_EXPORT_PAYLOAD_TYPE);
    } else if ((rc = attest_dsse_verify(&env, key, err, errsz)) == 0 && statement) {
        // The payload was decoded with a terminating NUL: hand it over as a string.
        *statement = (char *)env.payload;
        env.payload = NULL;
        if (memchr(*statement, 0, env.payload_len)) {
            free(*statement);
            *statement = NULL;
            rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "the statement holds a NUL byte");
        }
    }
    attest_dsse_envelope_clear(&env);
    return rc;
}
