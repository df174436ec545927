/*
 * structure.c - the auditor's structural check of one log file.
 *
 * Reads the file start to end with the frame reader, checks each record
 * with the schema and the order rules, recomputes the tree and compares it
 * with every seal. Trusts no cache. Content checks (re-hashing shards,
 * replay) are other modules' work.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "attest/error.h"
#include "attest/merkle.h"
#include "attest/verify.h"
#include "format/frame.h"
#include "format/record.h"
#include "verify/provenance.h"
#include "verify/replay.h"
#include "verify/transcript.h"
#include "verify/report.h"
#include "verify/tpm.h"

/* Sets the verdict and the first failure; returns rc. */
static int failure(attest_report *r, int rc, int64_t index, int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int failure(attest_report *r, int rc, int64_t index, int64_t offset, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *f = json_pack("{s:s}", "reason", msg);
    if (f && index >= 0) json_object_set_new(f, "record", json_integer(index));
    if (f && offset >= 0) json_object_set_new(f, "offset", json_integer(offset));
    json_object_set_new(r->obj, "failure", f ? f : json_null());
    json_object_set_new(r->obj, "verdict", json_string(rc == ATTEST_EVERIFY ? "failed" : "error"));
    return rc;
}

static void set_u64(attest_report *r, const char *key, uint64_t v)
{
    json_object_set_new(r->obj, key, json_integer((json_int_t)v));
}

/* The run key must be the auditor's key: same name, same public key. */
static int check_key(attest_report *r, const attest_rules *rules, const attest_verifier *key)
{
    const attest_verifier *run = attest_rules_run_key(rules);
    if (strcmp(attest_verifier_name(run), attest_verifier_name(key)) != 0 ||
        sodium_memcmp(attest_verifier_public_key(run), attest_verifier_public_key(key), 32) != 0) {
        char *a = NULL, *b = NULL;
        attest_verifier_text(run, &a);
        attest_verifier_text(key, &b);
        int rc = failure(r, ATTEST_EVERIFY, 0, ATTEST_LOG_HEADER_SIZE,
                         "record 0 (run): the log's key %s is not the key given (%s)", a ? a : "?",
                         b ? b : "?");
        free(a);
        free(b);
        return rc;
    }
    return 0;
}

/*
 * The run's timeline for reports: [step, loss] of the step records (at most
 * TIMELINE_MAX points: past that, every other point is dropped and the
 * stride doubles, so a long run keeps an even sample) and the checkpoint
 * steps.
 */
#define TIMELINE_MAX 4096

static void timeline_add(attest_report *r, const char *type, const json_t *rec)
{
    json_t *tl = json_object_get(r->obj, "timeline");
    if (!tl) {
        tl = json_pack("{s:[], s:[], s:I, s:I}", "losses", "checkpoints", "stride", (json_int_t)1,
                       "step_records", (json_int_t)0);
        if (!tl) return;
        json_object_set_new(r->obj, "timeline", tl);
    }
    json_t *step = json_object_get(rec, "step");
    if (type[0] == 'c') {
        json_array_append(json_object_get(tl, "checkpoints"), step);
        return;
    }
    json_int_t seen = json_integer_value(json_object_get(tl, "step_records"));
    json_int_t stride = json_integer_value(json_object_get(tl, "stride"));
    json_object_set_new(tl, "step_records", json_integer(seen + 1));
    if (seen % stride) return;
    json_t *losses = json_object_get(tl, "losses");
    json_array_append_new(losses, json_pack("[O, O]", step, json_object_get(rec, "loss")));
    if (json_array_size(losses) >= TIMELINE_MAX) {
        json_t *half = json_array();
        for (size_t i = 0; i < json_array_size(losses); i += 2)
            json_array_append(half, json_array_get(losses, i));
        json_object_set_new(tl, "losses", half);
        json_object_set_new(tl, "stride", json_integer(2 * stride));
    }
}

/* Checks one record; returns 0, ATTEST_EVERIFY or ATTEST_ENOMEM. */
static int check_record(attest_report *r, attest_rules *rules, attest_tpm_verifier *tv,
                        const attest_verify_options *opts, const attest_merkle_frontier *fr,
                        const attest_verifier *key, uint64_t index, uint64_t offset,
                        const uint8_t *payload, size_t len, json_t *counts, replay_log *keep)
{
    json_t *rec;
    char why[768];
    int rc = attest_record_parse(&rec, payload, len, index, why, sizeof why);
    if (rc) return failure(r, ATTEST_EVERIFY, (int64_t)index, (int64_t)offset, "%s", why);
    rc = attest_rules_check(rules, index, rec, why, sizeof why);
    if (rc == ATTEST_ENOMEM) goto done;
    if (rc) {
        rc = failure(r, ATTEST_EVERIFY, (int64_t)index, (int64_t)offset, "%s", why);
        goto done;
    }
    const char *type = attest_record_type(rec);
    if (strcmp(type, "seal") == 0) {
        uint8_t root[32];
        attest_merkle_frontier_root(fr, root);
        if (memcmp(root, attest_rules_last_checked_seal(rules)->root, 32) != 0) {
            rc = failure(r, ATTEST_EVERIFY, (int64_t)index, (int64_t)offset,
                         "record %" PRIu64 " (seal): the signed root does not match the %" PRIu64
                         " records before it",
                         index, index);
            goto done;
        }
    }
    // TPM evidence: the key record, then every seal in order (verify/tpm.c).
    if (strcmp(type, "tpm") == 0 || strcmp(type, "seal") == 0) {
        rc = strcmp(type, "tpm") == 0
                 ? attest_tpm_verifier_key(tv, index, rec, why, sizeof why)
                 : attest_tpm_verifier_seal(
                       tv, index, json_string_value(json_object_get(rec, "checkpoint")),
                       json_object_get(rec, "tpm"), json_string_value(json_object_get(rec, "time")),
                       why, sizeof why);
        if (!rc && strcmp(type, "tpm") == 0)
            rc = attest_provenance_check(index, rec, opts, r->obj, why, sizeof why);
        if (rc) {
            rc = failure(r, rc, (int64_t)index, (int64_t)offset, "%s", why);
            goto done;
        }
    }
    attest_rules_apply(rules, index, rec);
    if (index == 0) {
        uint8_t run_id[16];
        size_t n = 0;
        const char *hex = json_string_value(json_object_get(rec, "run_id"));
        if (sodium_hex2bin(run_id, sizeof run_id, hex, strlen(hex), NULL, &n, NULL) == 0 && n == 16)
            attest_tpm_verifier_run(tv, run_id);
        json_object_set(r->obj, "origin", json_object_get(rec, "origin"));
        json_object_set(r->obj, "run_id", json_object_get(rec, "run_id"));
        if ((rc = check_key(r, rules, key)) != 0) goto done;
    }
    json_t *c = json_object_get(counts, type);
    json_object_set_new(counts, type, json_integer(c ? json_integer_value(c) + 1 : 1));
    if (strcmp(type, "step") == 0 || strcmp(type, "checkpoint") == 0) timeline_add(r, type, rec);
    if (keep && replay_log_add(keep, index, rec) != 0)
        rc = failure(r, ATTEST_ENOMEM, (int64_t)index, -1, "out of memory");
done:
    json_decref(rec);
    return rc;
}

static int walk(attest_report *r, int fd, uint64_t size, const attest_verifier *key,
                const attest_verify_options *opts, replay_log *keep, const json_t *transcript)
{
    attest_frame_reader *fr_reader = NULL;
    attest_rules *rules = NULL;
    attest_tpm_verifier *tv = NULL;
    attest_merkle_frontier fr;
    json_t *counts = json_object();
    const uint8_t *payload;
    size_t len;
    uint64_t at, index = 0;
    uint8_t leaf[32];
    int rc = ATTEST_ENOMEM;
    attest_merkle_frontier_init(&fr);
    if (!counts || attest_rules_new(&rules) != 0 || attest_tpm_verifier_new(&tv) != 0 ||
        attest_frame_reader_new(&fr_reader, fd, ATTEST_LOG_HEADER_SIZE, size, 0) != 0) {
        rc = failure(r, ATTEST_ENOMEM, -1, -1, "out of memory");
        goto done;
    }
    json_object_set(r->obj, "counts", counts);
    for (;; index++) {
        int st = attest_frame_next(fr_reader, &payload, &len, &at, leaf);
        if (st < 0) {
            rc = failure(r, st, (int64_t)index, -1, "%s", attest_frame_reader_message(fr_reader));
            goto done;
        }
        if (st == ATTEST_FRAME_END) break;
        if (st == ATTEST_FRAME_BAD) {
            rc = failure(r, ATTEST_EVERIFY, (int64_t)index,
                         (int64_t)attest_frame_reader_offset(fr_reader), "%s",
                         attest_frame_reader_message(fr_reader));
            goto done;
        }
        if (st == ATTEST_FRAME_TORN) {
            rc = failure(r, ATTEST_EVERIFY, (int64_t)index,
                         (int64_t)attest_frame_reader_offset(fr_reader),
                         "%s; the writer was interrupted: `attest log recover` repairs the file",
                         attest_frame_reader_message(fr_reader));
            goto done;
        }
        rc = check_record(r, rules, tv, opts, &fr, key, index, at, payload, len, counts, keep);
        if (rc == ATTEST_ENOMEM) rc = failure(r, rc, (int64_t)index, -1, "out of memory");
        if (rc) goto done;
        attest_merkle_frontier_append(&fr, leaf, NULL, NULL);
    }
    rc = 0;
done:
    set_u64(r, "records", index);
    if (rules) {
        attest_rules_summary sum;
        attest_rules_summarize(rules, &sum);
        set_u64(r, "seals", sum.seals);
        set_u64(r, "sealed", sum.seals ? sum.last_seal_size : 0);
        if (!rc) {
            uint64_t unsealed = sum.seals ? index - sum.last_seal_size - 1 : index;
            set_u64(r, "unsealed", unsealed);
            if (index == 0) {
                rc = failure(r, ATTEST_EVERIFY, -1, -1, "the log has no records");
            } else if (opts && (opts->n_tpm_ca_files || opts->enroll_key) &&
                       !json_object_get(json_object_get(r->obj, "counts"), "tpm")) {
                rc = failure(r, ATTEST_EVERIFY, -1, -1,
                             "the auditor asked whose TPM anchored the run, but the log has no "
                             "\"tpm\" record: it is not TPM-anchored");
            } else if (sum.seals == 0) {
                rc = failure(r, ATTEST_EVERIFY, -1, -1,
                             "the log has no seal: none of its %" PRIu64 " records is signed",
                             index);
            }
        }
    }
    if (!rc && tv) {
        char line[300];
        if (attest_tpm_verifier_report(tv, r->obj, line, sizeof line) == 0) {
            // Without an enrollment, any key could have made this evidence: say so.
            if (strncmp(line, "TPM-anchored", 12) == 0 && !json_object_get(r->obj, "enrolled_by"))
                snprintf(line + strlen(line), sizeof line - strlen(line),
                         "; AK not enrolled (no --enrollment-key): whose TPM is unproven");
            json_object_set_new(r->obj, "anchoring", json_string(line));
        }
    }
    // A live session's quote needs the TPM state the anchored seals left.
    if (!rc && transcript) {
        char why[800];
        attest_rules_summary sum;
        attest_rules_summarize(rules, &sum);
        rc = attest_transcript_quote(transcript, tv, sum.last_seal_size,
                                     keep ? keep->last_note : NULL, r->obj, why, sizeof why);
        if (rc) rc = failure(r, rc, -1, -1, "%s", why);
    }
    json_decref(counts);
    attest_tpm_verifier_free(tv);
    attest_rules_free(rules);
    attest_frame_reader_free(fr_reader);
    return rc;
}

int attest_verify_log(attest_report **out, const char *path, const attest_verifier *key)
{
    return attest_verify_log_ex(out, path, key, NULL);
}

int attest_verify_log_ex(attest_report **out, const char *path, const attest_verifier *key,
                         const attest_verify_options *opts)
{
    attest_report *r = calloc(1, sizeof *r);
    uint8_t hdr[ATTEST_LOG_HEADER_SIZE];
    char why[200];
    struct stat st;
    int rc, fd = -1;
    *out = r;
    if (!r) return ATTEST_ENOMEM;
    r->obj = json_pack("{s:s, s:s, s:s, s:n}", "schema", "attest-report/v1", "log", path,
                       "verdict", "error", "failure");
    if (!r->obj) {
        free(r);
        *out = NULL;
        return ATTEST_ENOMEM;
    }
    if (!key) return failure(r, ATTEST_EINVAL, -1, -1, "no verifier key");
    if (sodium_init() < 0)
        return failure(r, ATTEST_ECRYPTO, -1, -1, "libsodium failed to initialise");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return failure(r, errno == ENOENT ? ATTEST_ENOTFOUND : ATTEST_EIO, -1, -1, "%s: %s", path,
                       strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = failure(r, ATTEST_EIO, -1, -1, "%s: %s", path, strerror(errno));
        goto done;
    }
    ssize_t got = pread(fd, hdr, sizeof hdr, 0);
    rc = attest_frame_header_check(hdr, got > 0 ? (size_t)got : 0, why, sizeof why);
    if (rc) {
        rc = failure(r, rc, -1, 0, "%s: %s", path, why);
        goto done;
    }
    if (opts && (opts->version < 1 || opts->version > ATTEST_VERIFY_OPTIONS_VERSION)) {
        rc = failure(r, ATTEST_EINVAL, -1, -1, "unknown verify options version %u", opts->version);
        goto done;
    }
    // Version 1 options end before `replay`; version 2 replay options before
    // `data_absent`, versions 3 and 4 before `device`.
    const attest_replay_options *ro = opts && opts->version >= 2 ? opts->replay : NULL;
    attest_replay_options ro2;
    if (ro && opts->version < 5) {
        memset(&ro2, 0, sizeof ro2);
        memcpy(&ro2, ro,
               opts->version == 2 ? offsetof(attest_replay_options, data_absent)
                                  : offsetof(attest_replay_options, device));
        ro = &ro2;
    }
    // A transcript (version 4) brings the nonce and the number of segments of its session.
    json_t *transcript = NULL;
    uint8_t *t_nonce = NULL;
    attest_replay_options ro3;
    if (opts && opts->version >= 4 && opts->transcript) {
        char why2[600];
        uint64_t segments = 0;
        size_t t_len = 0;
        if (!ro) {
            rc = failure(r, ATTEST_EINVAL, -1, -1,
                         "a transcript is checked by replaying its draw: give the replay options "
                         "(data and checkpoint directories)");
            goto done;
        }
        rc = attest_transcript_parse(opts->transcript, &transcript, &t_nonce, &t_len, &segments,
                                     why2, sizeof why2);
        if (rc) {
            rc = failure(r, rc, -1, -1, "%s", why2);
            goto done;
        }
        ro3 = *ro;
        ro3.nonce = t_nonce;
        ro3.nonce_len = t_len;
        ro3.segments = segments;
        ro = &ro3;
    }
    replay_log keep = {0};
    rc = walk(r, fd, (uint64_t)st.st_size, key, opts, ro ? &keep : NULL, transcript);
    if (!rc && ro) {
        char reason[1024];
        rc = attest_replay_verify(r->obj, &keep, ro, reason, sizeof reason);
        if (rc && rc != ATTEST_EPARTIAL) rc = failure(r, rc, -1, -1, "replay: %s", reason);
    }
    // The session's own results must be what this replay found (they are the prover's text).
    if (transcript && json_object_get(r->obj, "live") && (!rc || rc == ATTEST_EVERIFY)) {
        char why3[800];
        int trc = attest_transcript_results(transcript, json_object_get(r->obj, "replay"), why3,
                                            sizeof why3);
        if (trc) rc = failure(r, trc, -1, -1, "%s", why3);
        else if (json_object_get(r->obj, "live"))
            json_object_set_new(json_object_get(r->obj, "live"), "results", json_string("match"));
    }
    json_decref(transcript);
    free(t_nonce);
    replay_log_clear(&keep);
    if (!rc) json_object_set_new(r->obj, "verdict", json_string("verified"));
    if (rc == ATTEST_EPARTIAL) json_object_set_new(r->obj, "verdict", json_string("partial"));
done:
    close(fd);
    return rc;
}

int attest_report_passed(const attest_report *r)
{
    return r && strcmp(json_string_value(json_object_get(r->obj, "verdict")), "verified") == 0;
}

int attest_report_json(const attest_report *r, char **out)
{
    *out = json_dumps(r->obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    return *out ? 0 : ATTEST_ENOMEM;
}

static void add(char **buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add(char **buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *nb = *buf ? realloc(*buf, *len + (size_t)n + 1) : malloc((size_t)n + 1);
    if (!nb) return;
    va_start(ap, fmt);
    vsnprintf(nb + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *buf = nb;
    *len += (size_t)n;
}

static json_int_t num(const attest_report *r, const char *key)
{
    return json_integer_value(json_object_get(r->obj, key));
}

/* The replay part of the text report: what was replayed, why, and what it proves. */
static void replay_text(const json_t *rp, char **buf, size_t *len)
{
    if (!rp || !json_object_get(rp, "mode")) return;
    add(buf, len, "replay    %s", json_string_value(json_object_get(rp, "mode")));
    const json_t *segs = json_object_get(rp, "segments");
    if (segs)
        add(buf, len, "; %zu of %lld segments, %lld steps, %.1f s", json_array_size(segs),
            (long long)json_integer_value(json_object_get(rp, "segments_total")),
            (long long)json_integer_value(json_object_get(rp, "steps_replayed")),
            json_number_value(json_object_get(rp, "replay_seconds")));
    if (json_object_get(rp, "seconds_per_step"))
        add(buf, len, " (%.1f ms a step)",
            1000 * json_number_value(json_object_get(rp, "seconds_per_step")));
    add(buf, len, "\n");
    if (json_object_get(rp, "checkpoints_checked"))
        add(buf, len, "files     %lld checkpoint and %lld shard files match the log\n",
            (long long)json_integer_value(json_object_get(rp, "checkpoints_checked")),
            (long long)json_integer_value(json_object_get(rp, "shards_checked")));
    const json_t *init = json_object_get(rp, "initialization");
    if (init) {
        const char *res = json_string_value(json_object_get(init, "result"));
        if (strcmp(res, "passed") == 0)
            add(buf, len, "init      passed: the first checkpoint is what the committed seed "
                          "gives\n");
        else if (strcmp(res, "not checked") == 0)
            add(buf, len, "init      not checked: %s\n",
                json_string_value(json_object_get(init, "reason")));
        else
            add(buf, len, "init      %s: %s\n", strcmp(res, "failed") == 0 ? "FAILED" : "ERROR",
                json_string_value(json_object_get(init, "reason")));
    }
    if (json_object_get(rp, "challenge"))
        add(buf, len, "challenge %.16s... from the last seal%s\n",
            json_string_value(json_object_get(rp, "challenge")),
            json_is_true(json_object_get(rp, "nonce"))
                ? " and the auditor's nonce"
                : " alone: NO NONCE, so the prover could predict the choice");
    size_t i;
    const json_t *e;
    json_array_foreach(segs, i, e)
    {
        char why[64] = "";
        size_t k;
        const json_t *w;
        json_array_foreach(json_object_get(e, "why"), k, w)
        {
            size_t n = strlen(why);
            snprintf(why + n, sizeof why - n, "%s%s", k ? "," : "", json_string_value(w));
        }
        const char *res = json_string_value(json_object_get(e, "result"));
        add(buf, len, "segment   #%-4lld steps %6lld-%-6lld %-22s ",
            (long long)json_integer_value(json_object_get(e, "segment")),
            (long long)json_integer_value(json_object_get(e, "from_step")) + 1,
            (long long)json_integer_value(json_object_get(e, "to_step")), why);
        if (json_object_get(e, "relative_update"))
            add(buf, len, "update %.2e  ",
            json_number_value(json_object_get(e, "relative_update")));
        if (json_object_get(e, "max_error"))
            add(buf, len, "error %.2e  ", json_number_value(json_object_get(e, "max_error")));
        if (res && strcmp(res, "passed") == 0)
            add(buf, len, "passed  %.1f s\n", json_number_value(json_object_get(e, "seconds")));
        else if (res && strcmp(res, "not checked") == 0)
            add(buf, len, "not checked: %s\n", json_string_value(json_object_get(e, "reason")));
        else
            add(buf, len, "%s: %s\n", res && strcmp(res, "failed") == 0 ? "FAILED" : "ERROR",
                json_string_value(json_object_get(e, "reason")));
    }
    json_array_foreach(json_object_get(rp, "plausibility"), i, e)
    {
        const json_t *imp = json_object_get(e, "implausible");
        if (imp)
            add(buf, len, "implausible segment #%lld (after step %lld): %s; replayed\n",
                (long long)json_integer_value(json_object_get(e, "segment")),
                (long long)json_integer_value(json_object_get(e, "from_step")),
                json_string_value(imp));
    }
    const json_t *det = json_object_get(rp, "detection");
    if (json_array_size(det)) {
        add(buf, len, "detection a run with this fraction of its segments forged is caught by "
                      "the random draw with probability");
        json_array_foreach(det, i, e)
        add(buf, len, "%s %g%%: %.1f%%", i ? ";" : "",
            100 * json_number_value(json_object_get(e, "forged_fraction")),
            100 * json_number_value(json_object_get(e, "detection_probability")));
        add(buf, len, "\n");
    }
    const json_t *m = json_object_get(rp, "model");
    if (m) {
        const char *res = json_string_value(json_object_get(m, "result"));
        if (json_object_get(m, "spearman"))
            add(buf, len,
                "model     %s: %s: Spearman %.3f between step and loss on %lld examples "
                "(tail steps %lld-%lld), permutation p = %.3g "
                "(%lld permutations; z = %.2f)\n          %s\n",
                json_string_value(json_object_get(m, "file")),
                res && strcmp(res, "passed") == 0 ? "passed" : "FAILED",
                json_number_value(json_object_get(m, "spearman")),
                (long long)json_integer_value(json_object_get(m, "examples")),
                (long long)json_integer_value(json_array_get(json_object_get(m, "tail_steps"), 0)),
                (long long)json_integer_value(json_array_get(json_object_get(m, "tail_steps"), 1)),
                json_number_value(json_object_get(m, "p")),
                (long long)json_integer_value(json_object_get(m, "permutations")),
                json_number_value(json_object_get(m, "z")),
                json_string_value(json_object_get(m, "meaning")));
        else
            add(buf, len, "model     %s: %s: %s\n", json_string_value(json_object_get(m, "file")),
                res ? res : "error", json_string_value(json_object_get(m, "reason")));
        const json_t *ctl = json_object_get(m, "control");
        if (json_object_get(ctl, "checkpoint"))
            add(buf, len,
                "          control: %s gives the examples of step %lld a mean loss of %.9g, the "
                "log says %.9g (relative error %.2g, tolerance %.2g): %s\n",
                json_string_value(json_object_get(ctl, "checkpoint")),
                (long long)json_integer_value(json_object_get(ctl, "step")),
                json_number_value(json_object_get(ctl, "mean_loss")),
                json_number_value(json_object_get(ctl, "logged_loss")),
                json_number_value(json_object_get(ctl, "relative_error")),
                json_number_value(json_object_get(ctl, "tolerance")),
                json_string_value(json_object_get(ctl, "result")));
        else if (ctl)
            add(buf, len, "          control: %s: %s\n",
                json_string_value(json_object_get(ctl, "result")),
                json_string_value(json_object_get(ctl, "reason")));
    }
    if (json_object_get(rp, "uncovered_steps"))
        add(buf, len, "note      the last %lld step(s) come after the last checkpoint: no "
                      "checkpoint shows their result\n",
            (long long)json_integer_value(json_object_get(rp, "uncovered_steps")));
}

int attest_report_text(const attest_report *r, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    const char *key;
    json_t *v;
    add(&buf, &len, "log       %s\n", json_string_value(json_object_get(r->obj, "log")));
    if (json_object_get(r->obj, "origin"))
        add(&buf, &len, "origin    %s\nrun id    %s\n",
            json_string_value(json_object_get(r->obj, "origin")),
            json_string_value(json_object_get(r->obj, "run_id")));
    if (json_object_get(r->obj, "records")) {
        add(&buf, &len, "records   %lld", (long long)num(r, "records"));
        const char *sep = " (";
        json_object_foreach(json_object_get(r->obj, "counts"), key, v)
        {
            add(&buf, &len, "%s%lld %s", sep, (long long)json_integer_value(v), key);
            sep = ", ";
        }
        add(&buf, &len, "%s\n", json_object_size(json_object_get(r->obj, "counts")) ? ")" : "");
    }
    if (num(r, "seals"))
        add(&buf, &len, "seals     %lld; the last signs tree size %lld\n",
            (long long)num(r, "seals"), (long long)num(r, "sealed"));
    if (json_object_get(r->obj, "anchoring"))
        add(&buf, &len, "tpm       %s\n", json_string_value(json_object_get(r->obj, "anchoring")));
    if (json_object_get(r->obj, "ek_issuer"))
        add(&buf, &len, "tpm ek    certificate issued by %s, chains to the given CA\n",
            json_string_value(json_object_get(r->obj, "ek_issuer")));
    if (json_object_get(r->obj, "enrolled_by"))
        add(&buf, &len, "tpm ak    enrolled by %s (credential activation with this EK)\n",
            json_string_value(json_object_get(r->obj, "enrolled_by")));
    if (json_object_get(r->obj, "unsealed") && num(r, "unsealed"))
        add(&buf, &len, "unsealed  %lld record(s) after the last seal are not signed yet\n",
            (long long)num(r, "unsealed"));
    replay_text(json_object_get(r->obj, "replay"), &buf, &len);
    const json_t *live = json_object_get(r->obj, "live");
    if (live) {
        const json_t *after = json_object_get(live, "quote_after_last_seal_seconds");
        add(&buf, &len, "live      session of %s: nonce %s, TPM quote of tree size %lld",
            json_string_value(json_object_get(live, "time")) ? json_string_value(json_object_get(live, "time")) : "?",
            json_string_value(json_object_get(live, "nonce")),
            (long long)json_integer_value(json_object_get(live, "size")));
        if (json_is_number(after))
            add(&buf, &len, ", %.1f s (TPM clock) after the last seal", json_number_value(after));
        add(&buf, &len, "%s\n", json_object_get(live, "results")
                                    ? "; its results match this replay"
                                    : "");
    }
    const json_t *f = json_object_get(r->obj, "failure");
    const char *verdict = json_string_value(json_object_get(r->obj, "verdict"));
    const json_t *nc = json_object_get(r->obj, "not_checked");
    size_t i;
    const json_t *e;
    json_array_foreach(nc, i, e)
        add(&buf, &len, "not checked %s: %s\n", json_string_value(json_object_get(e, "what")),
            json_string_value(json_object_get(e, "why")));
    if (strcmp(verdict, "partial") == 0)
        add(&buf, &len,
            "PARTIAL: what was checked passed, but %zu part(s) of what was asked were "
            "not checked (above)\n",
            json_array_size(nc));
    else if (attest_report_passed(r))
        add(&buf, &len,
            "checks    frames and checksums, record schema and order, run key, seal signatures, "
            "seal roots%s: all passed\nVERIFIED\n",
            json_object_get(r->obj, "replay") ? ", files, initialization, replayed segments" : "");
    else
        add(&buf, &len, "%s: %s\n", strcmp(verdict, "failed") == 0 ? "FAILED" : "ERROR",
            json_string_value(json_object_get(f, "reason")));
    if (!buf) return ATTEST_ENOMEM;
    *out = buf;
    return 0;
}

void attest_report_free(attest_report *r)
{
    if (!r) return;
    json_decref(r->obj);
    free(r);
}
