/*
 * replay.c - replay verification (verify/REPLAY.md): checks every shard and
 * checkpoint file against the log, measures the update between consecutive
 * checkpoints, draws the segments from the challenge, hands the
 * initialization and each segment to a backend, and writes the "replay"
 * part of the report. Files the caller declares left out on purpose (a
 * bundle without them) make what needs them "not checked", never passed.
 * It knows no model: backends do.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attest/digest.h"
#include "attest/error.h"
#include "format/text.h"
#include "verify/model.h"
#include "verify/plausible.h"
#include "verify/replay.h"

__extension__ typedef unsigned __int128 u128;

static int push(vrec **a, size_t *n, uint64_t index, const json_t *rec)
{
    if ((*n & (*n - 1)) == 0) { // grows at powers of two
        vrec *na = realloc(*a, (*n ? 2 * *n : 1) * sizeof *na);
        if (!na) return ATTEST_ENOMEM;
        *a = na;
    }
    (*a)[(*n)++] = (vrec){index, json_incref((json_t *)rec)};
    return 0;
}

int replay_log_add(replay_log *l, uint64_t index, const json_t *rec)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (strcmp(type, "run") == 0 || strcmp(type, "init") == 0) {
        vrec *v = type[0] == 'r' ? &l->run : &l->init;
        *v = (vrec){index, json_incref((json_t *)rec)};
        return 0;
    }
    if (strcmp(type, "shard") == 0) return push(&l->shards, &l->n_shards, index, rec);
    if (strcmp(type, "step") == 0) return push(&l->steps, &l->n_steps, index, rec);
    if (strcmp(type, "checkpoint") == 0) return push(&l->ckpts, &l->n_ckpts, index, rec);
    if (strcmp(type, "seal") == 0) {
        char *note = strdup(json_string_value(json_object_get(rec, "checkpoint")));
        if (!note) return ATTEST_ENOMEM;
        free(l->last_note);
        l->last_note = note;
    }
    return 0;
}

static void drop(vrec *a, size_t n)
{
    for (size_t i = 0; i < n; i++) json_decref(a[i].rec);
    free(a);
}

void replay_log_clear(replay_log *l)
{
    json_decref(l->run.rec);
    json_decref(l->init.rec);
    drop(l->shards, l->n_shards);
    drop(l->steps, l->n_steps);
    drop(l->ckpts, l->n_ckpts);
    free(l->last_note);
    memset(l, 0, sizeof *l);
}

void replay_progress(const replay_ctx *c, const char *fmt, ...)
{
    if (!c->o->progress) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->o->progress(c->o->progress_ctx, line);
}

int replay_bits64(const json_t *rec, const char *member, uint64_t *bits)
{
    char key[64];
    snprintf(key, sizeof key, "%s_bits", member);
    const char *hex = json_string_value(json_object_get(rec, key));
    if (!hex) return 0;
    uint64_t v = strtoull(hex, NULL, 16);
    if (strlen(hex) == 8) { // binary32: widen exactly
        uint32_t b = (uint32_t)v;
        float f;
        double d;
        memcpy(&f, &b, 4);
        d = f;
        memcpy(&v, &d, 8);
    }
    *bits = v;
    return 1;
}

static uint64_t u64(const json_t *rec, const char *member)
{
    return (uint64_t)json_integer_value(json_object_get(rec, member));
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int join(char *out, size_t outsz, const char *dir, const char *name, char *err,
                size_t errsz)
{
    if (!name || !name[0] || strchr(name, '/') || strcmp(name, "..") == 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "checkpoint file name \"%s\" is not a plain file name",
                                name ? name : "");
    if ((size_t)snprintf(out, outsz, "%s/%s", dir, name) >= outsz)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "%s/%s: path too long", dir, name);
    return 0;
}

/* 1 when `name` is declared absent: `why` is set and dir/name does not exist. */
static int absent(const char *why, const char *dir, const char *name)
{
    char path[4096];
    if (!why || !name || (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return 0;
    return access(path, F_OK) != 0 && errno == ENOENT;
}

static void not_checked(json_t *list, const char *what, const char *why)
{
    json_array_append_new(list, json_pack("{s:s, s:s}", "what", what, "why", why));
}

int replay_ckpt_load(const replay_ctx *c, size_t i, vckpt **out, char *err, size_t errsz)
{
    char path[4096];
    const vrec *v = &c->log->ckpts[i];
    int rc = join(path, sizeof path, c->o->checkpoint_dir,
                  json_string_value(json_object_get(v->rec, "name")), err, errsz);
    if (rc) {
        char why[300];
        snprintf(why, sizeof why, "%s", err);
        return attest_text_fail(err, errsz, rc, "record %" PRIu64 " (checkpoint of step %" PRIu64
                                "): %s",
                                v->index, u64(v->rec, "step"), why);
    }
    return vckpt_load(out, path, v->rec, v->index, err, errsz);
}

/* Trainable tensors for the update sizes: the run's "weights" prefix, else all float tensors
 * outside the optimizer state. */
const char *replay_weights_prefix(const replay_ctx *c)
{
    const char *p = json_string_value(
        json_object_get(json_object_get(c->log->run.rec, "replay"), "weights_prefix"));
    return p ? p : "";
}

/* Segment draw (REPLAY.md "Selection"). */
static void challenge_of(const replay_ctx *c, uint8_t out[32])
{
    size_t nl = strlen(c->log->last_note), len = nl + c->o->nonce_len;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        memset(out, 0, 32);
        return;
    }
    memcpy(buf, c->log->last_note, nl);
    if (c->o->nonce_len) memcpy(buf + nl, c->o->nonce, c->o->nonce_len);
    if (attest_sha256(buf, len, out) != 0) memset(out, 0, 32);
    free(buf);
}

static uint64_t draw(const uint8_t challenge[32], uint64_t j, uint64_t n)
{
    uint8_t in[32 + 16 + 8], d[32];
    memcpy(in, challenge, 32);
    memcpy(in + 32, "attest-replay-v1", 16);
    for (int k = 0; k < 8; k++) in[48 + k] = (uint8_t)(j >> (56 - 8 * k));
    if (attest_sha256(in, sizeof in, d) != 0) memset(d, 0, sizeof d);
    uint64_t u = 0;
    for (int k = 0; k < 8; k++) u = u << 8 | d[k];
    return (uint64_t)(((u128)u * n) >> 64);
}

static void why_add(json_t *why, size_t seg, const char *reason)
{
    char key[32];
    snprintf(key, sizeof key, "%zu", seg);
    json_t *l = json_object_get(why, key);
    if (!l) json_object_set_new(why, key, l = json_array());
    json_array_append_new(l, json_string(reason));
}

static int select_segments(const replay_ctx *c, const double *update, const uint8_t *unknown,
                           const uint8_t *implausible, size_t S, json_t *why, size_t *n_random)
{
    uint8_t ch[32];
    char hex[65];
    challenge_of(c, ch);
    attest_sha256_hex(ch, hex);
    json_object_set_new(c->report, "challenge", json_string(hex));
    why_add(why, 0, "first");
    uint8_t *taken = calloc(S, 1);
    if (!taken) return ATTEST_ENOMEM;
    uint64_t want = c->o->segments < S ? c->o->segments : S;
    size_t got = 0;
    for (uint64_t j = 0; got < want; j++) {
        uint64_t k = draw(ch, j, S);
        if (taken[k]) continue;
        taken[k] = 1;
        got++;
        why_add(why, (size_t)k, "random");
    }
    *n_random = got;
    memcpy(taken, unknown, S); // a segment whose update is unknown cannot be the largest
    uint64_t top = c->o->segments / 2 + c->o->segments % 2;
    if (top == 0) top = 1;
    for (uint64_t t = 0; t < top && t < S; t++) {
        size_t best = S;
        for (size_t k = 0; k < S; k++)
            if (!taken[k] && (best == S || update[k] > update[best])) best = k;
        if (best == S) break;
        taken[best] = 1;
        why_add(why, best, "largest-update");
    }
    free(taken);
    for (size_t k = 0; k < S; k++) // never left to chance (verify/SOUNDNESS.md)
        if (implausible[k]) why_add(why, k, "implausible");
    return 0;
}

/* Steps of segment seg: those with from.step < step <= to.step. */
static int segment_steps(const replay_ctx *c, size_t seg, size_t *first, size_t *last, char *err,
                         size_t errsz)
{
    uint64_t a = u64(c->log->ckpts[seg].rec, "step"), b = u64(c->log->ckpts[seg + 1].rec, "step");
    if (b < a)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "record %" PRIu64 ": checkpoint of step %" PRIu64
                                " follows one of step %" PRIu64 ": segments must move forward",
                                c->log->ckpts[seg + 1].index, b, a);
    size_t i = 0;
    while (i < c->log->n_steps && u64(c->log->steps[i].rec, "step") <= a) i++;
    *first = i;
    while (i < c->log->n_steps && u64(c->log->steps[i].rec, "step") <= b) i++;
    *last = i;
    return 0;
}

static void detection(json_t *report, size_t n)
{
    static const double fs[] = {0.01, 0.05, 0.10, 0.25};
    json_t *arr = json_array();
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        json_array_append_new(arr, json_pack("{s:f, s:f}", "forged_fraction", fs[i],
                                             "detection_probability",
                                             1.0 - pow(1.0 - fs[i], (double)n)));
    json_object_set_new(report, "detection", arr);
}

/*
 * Checks every file; a file declared absent is skipped and marked:
 * *no_data when a shard is, missing[i] for checkpoint i (then unknown[] marks
 * the segments next to it, whose update cannot be measured).
 */
/*
 * Plausibility of segment seg (verify/plausible.h): its entry in plaus, and
 * whether to force it. Returns the relative update, measured in the same pass.
 */
static double plausibility(replay_ctx *c, size_t seg, const vckpt *a, const vckpt *b,
                           const plaus_opt *o, json_t *plaus, uint8_t *implausible)
{
    size_t first = 0, last = 0;
    char e[8];
    int steps_ok = segment_steps(c, seg, &first, &last, e, sizeof e) == 0;
    if (!steps_ok) first = last = 0; /* replay reports it; only the update is measured */
    double *lr = calloc(last > first ? last - first : 1, sizeof *lr);
    if (!lr) return vckpt_rel_update(a, b, replay_weights_prefix(c));
    for (size_t i = first; i < last; i++)
        lr[i - first] = json_number_value(json_object_get(c->log->steps[i].rec, "lr"));
    plaus_result r;
    uint64_t a_step = u64(c->log->ckpts[seg].rec, "step");
    uint64_t b_step = u64(c->log->ckpts[seg + 1].rec, "step");
    if (plaus_segment(a, b, replay_weights_prefix(c), a_step, lr, last - first, o, &r) != 0) {
        free(lr);
        return -1; /* no weight tensor in common */
    }
    if (steps_ok) {
        char why[300];
        plaus_verdict(&r, why, sizeof why);
        // The step counter the checkpoint itself carries, and the run's checkpoint spacing.
        const uint8_t *sd = NULL;
        const attest_tensor_info *st = vckpt_find(b, "state", &sd);
        uint64_t counter = 0, every = u64(json_object_get(c->log->run.rec, "config"),
                                          "checkpoint_every");
        if (st && strcmp(st->dtype, "U64") == 0 && vckpt_numel(st) >= 1) {
            memcpy(&counter, sd, sizeof counter);
            if (!why[0] && counter != b_step)
                snprintf(why, sizeof why, "its checkpoint's step counter says %" PRIu64
                         ", its record step %" PRIu64, counter, b_step);
        }
        if (!why[0] && every && b_step - a_step != every && seg + 2 < c->log->n_ckpts)
            snprintf(why, sizeof why, "it spans %" PRIu64 " steps where the run checkpoints every %"
                     PRIu64, b_step - a_step, every);
        json_t *entry = json_pack("{s:I, s:I, s:f, s:f}", "segment", (json_int_t)seg, "from_step",
                                  (json_int_t)a_step, "move_per_lr", r.move, "lr_sum", r.lr_sum);
        if (entry && r.bound_use >= 0) {
            json_object_set_new(entry, "adamw_bound_use", json_real(r.bound_use));
            json_object_set_new(entry, "tensor", json_string(r.tensor));
        }
        if (entry && why[0]) {
            json_object_set_new(entry, "implausible", json_string(why));
            implausible[seg] = 1;
        }
        json_array_append_new(plaus, entry);
    }
    free(lr);
    return r.rel_update;
}

static int check_files(replay_ctx *c, vdata *data, double *update, uint8_t *missing,
                       uint8_t *unknown, uint8_t *implausible, int *no_data, json_t *nc,
                       char *err, size_t errsz)
{
    plaus_opt po;
    plaus_opt_from_config(json_object_get(c->log->run.rec, "config"), &po);
    json_t *plaus = json_array();
    const replay_log *l = c->log;
    double t0 = seconds();
    size_t shards = 0, ckpts = 0;
    for (size_t i = 0; i < l->n_shards; i++) {
        if (absent(c->o->data_absent, c->o->data_dir,
                   json_string_value(json_object_get(l->shards[i].rec, "name")))) {
            *no_data = 1;
            continue;
        }
        int rc = vdata_add(data, c->o->data_dir, l->shards[i].rec, l->shards[i].index, err, errsz);
        if (rc) {
            json_decref(plaus);
            return rc;
        }
        shards++;
    }
    replay_progress(c, "shards: %zu files match the log", shards);
    vckpt *prev = NULL, *cur = NULL;
    for (size_t i = 0; i < l->n_ckpts; i++) {
        if (absent(c->o->checkpoints_absent, c->o->checkpoint_dir,
                   json_string_value(json_object_get(l->ckpts[i].rec, "name")))) {
            missing[i] = 1;
            if (i) unknown[i - 1] = 1;
            if (i + 1 < l->n_ckpts) unknown[i] = 1;
            vckpt_free(prev);
            prev = NULL;
            continue;
        }
        int rc = replay_ckpt_load(c, i, &cur, err, errsz);
        if (rc) {
            vckpt_free(prev);
            json_decref(plaus);
            return rc;
        }
        if (prev) update[i - 1] = plausibility(c, i - 1, prev, cur, &po, plaus, implausible);
        vckpt_free(prev);
        prev = cur;
        cur = NULL;
        ckpts++;
    }
    vckpt_free(prev);
    replay_progress(c, "checkpoints: %zu files match the log (%.1f s)", ckpts, seconds() - t0);
    char what[64];
    if (shards < l->n_shards) {
        snprintf(what, sizeof what, "shard files (%zu of %zu)", l->n_shards - shards, l->n_shards);
        not_checked(nc, what, c->o->data_absent);
    }
    if (ckpts < l->n_ckpts) {
        snprintf(what, sizeof what, "checkpoint files (%zu of %zu)", l->n_ckpts - ckpts,
                 l->n_ckpts);
        not_checked(nc, what, c->o->checkpoints_absent);
    }
    json_object_set_new(c->report, "plausibility", plaus);
    json_object_set_new(c->report, "optimizer_bound",
                        json_string(po.adamw ? "AdamW" : "none: the run names no AdamW constants"));
    json_object_set_new(c->report, "shards_checked", json_integer((json_int_t)shards));
    json_object_set_new(c->report, "checkpoints_checked", json_integer((json_int_t)ckpts));
    return 0;
}

/* The run-to-model test (verify/model.c). */
static int model_test(replay_ctx *c, const replay_backend *be, void *state, int no_data, char *err,
                      size_t errsz)
{
    json_t *m = json_object();
    json_object_set_new(c->report, "model", m);
    json_object_set_new(m, "file", json_string(c->o->model));
    if (no_data) {
        json_object_set_new(m, "result", json_string("not checked"));
        json_object_set_new(m, "reason", json_string(c->o->data_absent));
        return attest_text_fail(err, errsz, ATTEST_EPARTIAL, "run-to-model test: %s",
                                c->o->data_absent);
    }
    replay_progress(c, "run-to-model test: %s", c->o->model);
    int rc = replay_model_test(c, be, state, m, err, errsz);
    if (rc && !json_object_get(m, "result")) {
        json_object_set_new(m, "result", json_string(rc == ATTEST_EVERIFY    ? "failed"
                                                     : rc == ATTEST_EPARTIAL ? "not checked"
                                                                             : "error"));
        json_object_set_new(m, "reason", json_string(err));
    }
    replay_progress(c, "run-to-model test: %s", json_string_value(json_object_get(m, "result")));
    return rc;
}

static int run_segment(replay_ctx *c, const replay_backend *be, void *state, size_t seg,
                       json_t *entry, double *busy, uint64_t *steps_done, char *err, size_t errsz)
{
    replay_segment s = {seg, 0, 0, NULL, NULL, entry};
    vckpt *from = NULL, *to = NULL;
    int rc = segment_steps(c, seg, &s.first, &s.last, err, errsz);
    if (!rc) rc = replay_ckpt_load(c, seg, &from, err, errsz);
    if (!rc) rc = replay_ckpt_load(c, seg + 1, &to, err, errsz);
    if (!rc) {
        s.from = from;
        s.to = to;
        json_object_set_new(entry, "steps", json_integer((json_int_t)(s.last - s.first)));
        double t = seconds();
        rc = be->segment(state, c, &s, err, errsz);
        t = seconds() - t;
        *busy += t;
        *steps_done += s.last - s.first;
        json_object_set_new(entry, "seconds", json_real(t));
    }
    vckpt_free(from);
    vckpt_free(to);
    json_object_set_new(entry, "result",
                        json_string(!rc ? "passed" : rc == ATTEST_EVERIFY ? "failed" : "error"));
    if (rc) json_object_set_new(entry, "reason", json_string(err));
    return rc;
}

int attest_replay_verify(json_t *report, const replay_log *l, const attest_replay_options *o,
                         char *err, size_t errsz)
{
    json_t *rep = json_object(), *why = json_object(), *segs = json_array(), *nc = json_array();
    replay_ctx c = {o, l, NULL, rep};
    vdata *data = NULL;
    double *update = NULL;
    uint8_t *missing = NULL, *unknown = NULL, *implausible = NULL;
    int no_data = 0;
    void *state = NULL;
    const replay_backend *be = NULL;
    int rc = ATTEST_ENOMEM;
    if (err && errsz) err[0] = 0;
    if (!rep || !why || !segs || !nc) goto done;
    json_object_set(report, "replay", rep);
    if (!o->data_dir || !o->checkpoint_dir) {
        rc = attest_text_fail(err, errsz, ATTEST_EINVAL,
                              "replay needs the data directory and the checkpoint directory");
        goto done;
    }
    const json_t *recipe = json_object_get(l->run.rec, "replay");
    if (json_object_get(recipe, "engine"))
        be = &replay_engine;
    else if (json_object_get(recipe, "command"))
        be = &replay_command;
    if (!be) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "record 0 (run): no replay recipe (\"replay\" names neither an "
                              "engine nor a command): the run cannot be replayed");
        goto done;
    }
    json_object_set_new(rep, "mode", json_string(be->mode));
    if (be == &replay_engine)
        json_object_set_new(rep, "device", json_string(o->device ? o->device : "cpu"));
    if (!l->init.rec) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "the log has no init record: the initialization cannot be checked");
        goto done;
    }
    if (l->n_ckpts < 2 || u64(l->ckpts[0].rec, "step") != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              l->n_ckpts && u64(l->ckpts[0].rec, "step") != 0
                                  ? "record %" PRIu64 ": the first checkpoint is not the initial "
                                    "weights (step 0)"
                                  : "the log has %" PRIu64 " checkpoint(s): replay needs the "
                                    "initial weights and at least one later checkpoint",
                              l->n_ckpts ? l->ckpts[0].index : (uint64_t)l->n_ckpts);
        goto done;
    }
    if (!l->last_note) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY, "the log has no seal to draw from");
        goto done;
    }
    size_t S = l->n_ckpts - 1;
    if (!(update = calloc(S, sizeof *update)) || !(missing = calloc(S + 1, 1)) ||
        !(unknown = calloc(S, 1)) || !(implausible = calloc(S, 1)) || vdata_new(&data) != 0)
        goto done;
    c.data = data;
    if ((rc = be->init(&state, &c, err, errsz)) != 0) goto done;
    if ((rc = check_files(&c, data, update, missing, unknown, implausible, &no_data, nc, err,
                          errsz)) != 0)
        goto done;

    // The initialization, regenerated from the committed seed.
    vckpt *ckpt0 = NULL;
    char init_err[768] = "";
    int init_rc = 0;
    if (missing[0]) {
        json_object_set_new(
            rep, "initialization",
            json_pack("{s:s, s:s}", "result", "not checked", "reason", o->checkpoints_absent));
        not_checked(nc, "initialization", o->checkpoints_absent);
        replay_progress(&c, "initialization: not checked: %s", o->checkpoints_absent);
    } else {
        init_rc = replay_ckpt_load(&c, 0, &ckpt0, init_err, sizeof init_err);
    if (!init_rc) init_rc = be->initialization(state, &c, ckpt0, init_err, sizeof init_err);
    vckpt_free(ckpt0);
    json_object_set_new(rep, "initialization",
                        init_rc ? json_pack("{s:s, s:s}", "result",
                                            init_rc == ATTEST_EVERIFY ? "failed" : "error",
                                            "reason", init_err)
                                : json_pack("{s:s}", "result", "passed"));
    replay_progress(&c, "initialization: %s%s",
                    init_rc ? "FAILED: " : "passed (regenerated from the committed seed)",
                    init_rc ? init_err : "");
    }

    size_t n_random = 0;
    if ((rc = select_segments(&c, update, unknown, implausible, S, why, &n_random)) != 0) goto done;
    json_object_set_new(rep, "segments_total", json_integer((json_int_t)S));
    json_t *all = json_array(); // every segment's update, for reports that plot them
    for (size_t k = 0; all && k < S; k++)
        json_array_append_new(all, json_pack("[I, I, f]", (json_int_t)u64(l->ckpts[k].rec, "step"),
                                             (json_int_t)u64(l->ckpts[k + 1].rec, "step"),
                                             update[k]));
    json_object_set_new(rep, "updates", all);
    json_object_set_new(rep, "nonce", o->nonce_len ? json_true() : json_false());
    detection(rep, n_random);
    json_object_set(rep, "segments", segs);

    // Replay in log order; every selected segment runs even after a failure.
    int first_rc = init_rc;
    char first_err[1024];
    snprintf(first_err, sizeof first_err, "initialization: %s", init_err);
    double busy = 0;
    uint64_t steps_done = 0;
    size_t done_n = 0, n_sel = json_object_size(why);
    for (size_t seg = 0; seg < S; seg++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", seg);
        json_t *reasons = json_object_get(why, key);
        if (!reasons) continue;
        json_t *entry = json_pack("{s:I, s:I, s:I, s:O}", "segment", (json_int_t)seg, "from_step",
                                  (json_int_t)u64(l->ckpts[seg].rec, "step"), "to_step",
                                  (json_int_t)u64(l->ckpts[seg + 1].rec, "step"), "why", reasons);
        if (!entry) goto done;
        if (!unknown[seg]) json_object_set_new(entry, "relative_update", json_real(update[seg]));
        json_array_append_new(segs, entry);
        char e[768];
        done_n++;
        const char *skip = no_data                            ? o->data_absent
                           : missing[seg] || missing[seg + 1] ? o->checkpoints_absent
                                                              : NULL;
        if (skip) {
            char what[96];
            snprintf(what, sizeof what, "segment %zu (steps %" PRIu64 "-%" PRIu64 ")", seg,
                     u64(l->ckpts[seg].rec, "step") + 1, u64(l->ckpts[seg + 1].rec, "step"));
            json_object_set_new(entry, "result", json_string("not checked"));
            json_object_set_new(entry, "reason", json_string(skip));
            not_checked(nc, what, skip);
            replay_progress(&c, "segment %zu/%zu (#%zu): not checked: %s", done_n, n_sel, seg,
                            skip);
            continue;
        }
        replay_progress(&c, "segment %zu/%zu (#%zu, steps %" PRIu64 "-%" PRIu64 "): replaying",
                        done_n, n_sel, seg, u64(l->ckpts[seg].rec, "step") + 1,
                        u64(l->ckpts[seg + 1].rec, "step"));
        int src = run_segment(&c, be, state, seg, entry, &busy, &steps_done, e, sizeof e);
        replay_progress(&c, "segment %zu/%zu (#%zu): %s%s", done_n, n_sel, seg,
                        src ? "FAILED: " : "passed", src ? e : "");
        if (src && (!first_rc || (first_rc != ATTEST_EVERIFY && src == ATTEST_EVERIFY))) {
            first_rc = src;
            snprintf(first_err, sizeof first_err, "segment %zu (steps %" PRIu64 "-%" PRIu64 "): %s",
                     seg, u64(l->ckpts[seg].rec, "step") + 1, u64(l->ckpts[seg + 1].rec, "step"),
                     e);
        }
    }
    if (o->model) {
        char e[1024] = "";
        int mrc = model_test(&c, be, state, no_data, e, sizeof e);
        if (mrc && (!first_rc || (first_rc != ATTEST_EVERIFY && mrc == ATTEST_EVERIFY))) {
            first_rc = mrc;
            snprintf(first_err, sizeof first_err, "%s", e);
        }
    }
    json_object_set_new(rep, "steps_replayed", json_integer((json_int_t)steps_done));
    json_object_set_new(rep, "replay_seconds", json_real(busy));
    if (steps_done)
        json_object_set_new(rep, "seconds_per_step", json_real(busy / (double)steps_done));
    uint64_t last_step = l->n_steps ? u64(l->steps[l->n_steps - 1].rec, "step") : 0;
    uint64_t last_ckpt = u64(l->ckpts[S].rec, "step");
    if (last_step > last_ckpt)
        json_object_set_new(rep, "uncovered_steps", json_integer((json_int_t)(last_step - last_ckpt)));
    rc = first_rc;
    if (rc) snprintf(err, errsz, "%s", first_err);
    if (!rc && json_array_size(nc)) {
        rc = ATTEST_EPARTIAL;
        snprintf(err, errsz, "%zu part(s) not checked", json_array_size(nc));
    }
done:
    if (rc == ATTEST_ENOMEM && err && !err[0]) snprintf(err, errsz, "out of memory");
    if (be && state) be->done(state);
    json_object_set_new(rep, "result",
                        json_string(!rc                     ? "passed"
                                    : rc == ATTEST_EVERIFY  ? "failed"
                                    : rc == ATTEST_EPARTIAL ? "partial"
                                                            : "error"));
    if (json_array_size(nc)) json_object_set(report, "not_checked", nc);
    json_decref(nc);
    vdata_free(data);
    free(update);
    free(missing);
    free(unknown);
    free(implausible);
    json_decref(why);
    json_decref(segs);
    json_decref(rep);
    return rc;
}
