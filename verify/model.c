/*
 * model.c - the run-to-model test (verify/SOUNDNESS.md section 4): did the
 * model in FILE come out of this run? A model remembers best what it saw
 * last, so its loss on a training example falls with the example's
 * position in the committed order. A model from elsewhere has no reason to
 * follow this run's order: the order was drawn from the data seed,
 * independently of the examples' content, so under that hypothesis every
 * permutation of the positions is as likely as the committed one, which is
 * what makes the permutation p-value exact. (A reference model would cut
 * the noise of example difficulty, but one of this run's checkpoints would
 * carry the run's order into the statistic and break that argument.)
 *
 * Design (fixed before looking at the model): the examples are windows the
 * log's steps name; half are drawn from the last 5 % of the steps (the
 * tail), half from the steps before, by a generator seeded with the last
 * seal (the prover cannot choose them after the fact). Statistic:
 * Spearman's rho between step and loss; p-value: one-sided, from random
 * permutations of
 * the steps (Besag-Clifford sequential stopping), so it needs no
 * distributional assumption; z = rho sqrt(n - 1) is reported beside it.
 */
#include "verify/model.h"

#include <inttypes.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/digest.h"
#include "attest/error.h"
#include "format/text.h"
#include "verify/ckpt.h"

#define PERMUTATIONS (1u << 20)
#define EXCEEDANCES 1000u /* Besag-Clifford: stop after this many */
#define MAX_WINDOW (1u << 20) /* tokens in one example */

static uint64_t u64(const json_t *o, const char *k)
{
    return (uint64_t)json_integer_value(json_object_get(o, k));
}

/* xoshiro-style generator from a 32-byte seed (splitmix64 steps). */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return n ? next(s) % n : 0; /* n is far below 2^64: the bias is negligible */
}

/*
 * Difficulty of each example from its content alone: its mean cross-entropy
 * under a byte-bigram model of the whole corpus (add-one smoothing).
 */
static int bigram_loss(const replay_log *l, const vdata *data, const uint8_t *tokens, size_t n,
                       size_t T1, double *out, char *err, size_t errsz)
{
    uint32_t(*c)[256] = calloc(256, sizeof *c);
    double *row = calloc(256, sizeof *row);
    int rc = c && row ? 0 : ATTEST_ENOMEM;
    for (size_t i = 0; !rc && i < l->n_shards; i++) {
        uint64_t id = u64(l->shards[i].rec, "id"), samples = 0;
        if (!vdata_path(data, id, &samples) || samples < 2) continue;
        json_t *one = json_pack("[[I, I, I]]", (json_int_t)id, (json_int_t)0, (json_int_t)samples);
        uint8_t *bytes = NULL;
        size_t len = 0;
        char why[300];
        rc = one ? vdata_batch(data, one, &bytes, &len, why, sizeof why) : ATTEST_ENOMEM;
        json_decref(one);
        if (rc) {
            rc = attest_text_fail(err, errsz, rc, "shard %" PRIu64 ": %s", id, why);
            break;
        }
        for (size_t k = 0; k + 1 < len; k++) c[bytes[k]][bytes[k + 1]]++;
        free(bytes);
    }
    for (int a = 0; !rc && a < 256; a++)
        for (int b = 0; b < 256; b++) row[a] += c[a][b];
    for (size_t i = 0; !rc && i < n; i++) {
        const uint8_t *x = tokens + i * T1;
        double s = 0;
        for (size_t t = 0; t + 1 < T1; t++)
            s -= log(((double)c[x[t]][x[t + 1]] + 1.0) / (row[x[t]] + 256.0));
        out[i] = s / (double)(T1 - 1);
    }
    free(c);
    free(row);
    return rc;
}

/* "F32 [64, 256]" */
static void layout_text(const attest_tensor_info *t, char *out, size_t outsz)
{
    size_t n = (size_t)snprintf(out, outsz, "%s [", t->dtype);
    for (uint32_t k = 0; k < t->rank && n < outsz; k++)
        n += (size_t)snprintf(out + n, outsz - n, "%s%" PRIu64, k ? ", " : "", t->shape[k]);
    if (n < outsz) snprintf(out + n, outsz - n, "]");
}

typedef struct ranked {
    double v;
    size_t i;
} ranked;

static int by_value(const void *a, const void *b)
{
    double x = ((const ranked *)a)->v, y = ((const ranked *)b)->v;
    return (x > y) - (x < y);
}

/* Average ranks (ties share the mean rank), centred. */
static int ranks(const double *x, size_t n, double *r)
{
    ranked *s = malloc((n ? n : 1) * sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < n; i++) s[i] = (ranked){x[i], i};
    qsort(s, n, sizeof *s, by_value);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && s[j + 1].v == s[i].v) j++;
        double avg = (double)(i + j) / 2.0 - (double)(n - 1) / 2.0;
        for (size_t k = i; k <= j; k++) r[s[k].i] = avg;
        i = j + 1;
    }
    free(s);
    return 0;
}

/* The bytes of one [shard, first, count] reference; err names the record and example. */
static int example(const vdata *data, const vrec *step, size_t i, uint8_t **bytes, size_t *len,
                   char *err, size_t errsz)
{
    json_t *one = json_array();
    char why[300];
    int rc = one ? 0 : ATTEST_ENOMEM;
    if (!rc) json_array_append(one, json_array_get(json_object_get(step->rec, "batch"), i));
    if (!rc) rc = vdata_batch(data, one, bytes, len, why, sizeof why);
    json_decref(one);
    if (rc == ATTEST_ENOMEM) return rc;
    return rc ? attest_text_fail(err, errsz, rc, "record %" PRIu64 ": example %zu: %s",
                                 step->index, i, why)
              : 0;
}

/*
 * The control: the losses the backend gives for the last checkpoint that a
 * logged step follows, on that step's examples, must average to the loss
 * the run logged for that step (within what the backend promises). An
 * evaluation that is not the model's loss fails it. Fills ev (the caller
 * frees refs and tokens); *k: the step record, SIZE_MAX when none applies
 * or the checkpoint file cannot be used (`why` says which; the file checks
 * of replay.c already count that file as missing or failed).
 */
static int control_setup(const replay_ctx *c, replay_eval *ev, size_t *k, vckpt **ck, size_t T1,
                         char *why, size_t whysz, char *err, size_t errsz)
{
    const replay_log *l = c->log;
    uint64_t bits;
    *k = SIZE_MAX;
    snprintf(why, whysz, "no logged step follows a checkpoint with its loss");
    for (size_t j = l->n_ckpts; j-- > 0 && *k == SIZE_MAX;) {
        uint64_t at = u64(l->ckpts[j].rec, "step") + 1;
        for (size_t i = l->n_steps; i-- > 0 && u64(l->steps[i].rec, "step") >= at;) {
            double logged;
            if (u64(l->steps[i].rec, "step") != at || !replay_bits64(l->steps[i].rec, "loss", &bits))
                continue;
            memcpy(&logged, &bits, sizeof logged);
            if (!isfinite(logged) || replay_ckpt_load(c, j, ck, why, whysz) != 0)
                break; /* an earlier checkpoint may serve */
            *k = i;
            ev->model = vckpt_path(*ck);
            break;
        }
    }
    if (*k == SIZE_MAX) return 0;
    const json_t *batch = json_object_get(l->steps[*k].rec, "batch");
    ev->n = json_array_size(batch);
    ev->T1 = T1;
    ev->refs = json_incref((json_t *)batch);
    uint8_t *tokens = malloc(ev->n * T1 + 1);
    if (!tokens || !(ev->loss = calloc(ev->n + 1, sizeof *ev->loss))) {
        free(tokens);
        return ATTEST_ENOMEM;
    }
    ev->tokens = tokens;
    for (size_t i = 0; i < ev->n; i++) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        int rc = example(c->data, &l->steps[*k], i, &bytes, &len, err, errsz);
        if (!rc && len != T1)
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "record %" PRIu64 ": example %zu: %zu tokens, not %zu",
                                  l->steps[*k].index, i, len, T1);
        if (!rc) memcpy(tokens + i * T1, bytes, T1);
        free(bytes);
        if (rc) return rc;
    }
    return 0;
}

int replay_model_test(const replay_ctx *c, const replay_backend *be, void *state, json_t *out,
                      char *err, size_t errsz)
{
    int rc = 0;
    const replay_log *l = c->log;
    const vdata *data = c->data;
    const attest_replay_options *o = c->o;
    size_t n_steps = l->n_steps;
    size_t T1 = 0;
    uint64_t last = n_steps ? u64(l->steps[n_steps - 1].rec, "step") : 0;
    uint64_t tail_from = replay_model_tail_from(last); /* steps tail_from..last */
    json_object_set_new(out, "file", json_string(o->model));
    if (last < 40)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "the run is too short for the run-to-model test (%" PRIu64
                                " steps; it needs 40)",
                                last);

    // Draw the examples: windows of the step records in the tail and before. Batches may
    // differ in size (a batch-size ramp); off[i] counts the examples before step record i.
    uint64_t *off = malloc((n_steps + 1) * sizeof *off);
    if (!off) return attest_text_fail(err, errsz, ATTEST_ENOMEM, "out of memory");
    off[0] = 0;
    for (size_t i = 0; i < n_steps; i++)
        off[i + 1] = off[i] + json_array_size(json_object_get(l->steps[i].rec, "batch"));
    size_t want = o->model_examples ? o->model_examples : 4000;
    size_t tail_first = n_steps;
    while (tail_first > 0 && u64(l->steps[tail_first - 1].rec, "step") >= tail_from) tail_first--;
    uint64_t pool[2] = {off[n_steps] - off[tail_first], off[tail_first]};
    size_t take[2] = {want / 2, want - want / 2};
    for (int h = 0; h < 2; h++)
        if (take[h] > pool[h]) take[h] = (size_t)pool[h];
    size_t n = take[0] + take[1];
    uint8_t seed[32];
    attest_sha256((const uint8_t *)l->last_note, strlen(l->last_note), seed);
    uint64_t st;
    memcpy(&st, seed, sizeof st);
    st ^= 0x72756e2d746f2d6du; /* "run-to-m": its own stream */
    // Examples are windows of one length: the first example's.
    size_t first = 0;
    while (first + 1 < n_steps && off[first + 1] == 0) first++;
    T1 = (size_t)json_integer_value(
        json_array_get(json_array_get(json_object_get(l->steps[first].rec, "batch"), 0), 2));
    if (T1 < 2 || T1 > MAX_WINDOW) {
        free(off);
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "record %" PRIu64 ": example 0 has %zu tokens: the run-to-model "
                                "test reads windows of 2 to %u",
                                l->steps[first].index, T1, MAX_WINDOW);
    }
    uint8_t *seen = calloc((size_t)(pool[0] + pool[1]) / 8 + 1, 1);
    uint8_t *tokens = malloc(n && T1 ? n * T1 : 1);
    json_t *refs = json_array();
    replay_eval ev[2] = {{0}};
    size_t ctl_step = SIZE_MAX;
    vckpt *ctl_ckpt = NULL, *model = NULL;
    double *pos = malloc(n * sizeof *pos), *d = malloc(n * sizeof *d), *lf = malloc(n * sizeof *lf),
           *bg = malloc(n * sizeof *bg),
           *rp = malloc(n * sizeof *rp), *rd = malloc(n * sizeof *rd);
    if (!seen || !tokens || !refs || !pos || !d || !lf || !bg || !rp || !rd) {
        rc = ATTEST_ENOMEM;
        goto done;
    }
    size_t k = 0;
    for (int h = 0; h < 2; h++)
        for (size_t got = 0; got < take[h];) {
            uint64_t e = below(&st, pool[h]);
            uint64_t flat = h == 0 ? off[tail_first] + e : e;
            if (seen[flat / 8] & (1u << (flat % 8))) continue;
            seen[flat / 8] |= (uint8_t)(1u << (flat % 8));
            size_t lo = 0, hi = n_steps; /* the step record holding example flat */
            while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (off[mid] <= flat) lo = mid;
                else hi = mid;
            }
            const vrec *step = &l->steps[lo];
            size_t at = (size_t)(flat - off[lo]);
            uint8_t *bytes = NULL;
            size_t len = 0;
            rc = example(data, step, at, &bytes, &len, err, errsz);
            if (!rc && len != T1)
                rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                      "record %" PRIu64 ": example %zu: %zu tokens, the first "
                                      "example has %zu",
                                      step->index, at, len, T1);
            if (rc) {
                free(bytes);
                goto done;
            }
            json_array_append(refs, json_array_get(json_object_get(step->rec, "batch"), at));
            memcpy(tokens + k * T1, bytes, T1);
            free(bytes);
            pos[k++] = (double)u64(step->rec, "step");
            got++;
        }

    // Losses under the model, and under the control checkpoint. The model must hold the
    // run's weights, as its checkpoints do, before any backend sees it.
    ev[0] = (replay_eval){o->model, refs, tokens, n, T1, lf};
    char ctl_why[512];
    if ((rc = vckpt_load(&model, o->model, NULL, 0, err, errsz)) != 0 ||
        (rc = control_setup(c, &ev[1], &ctl_step, &ctl_ckpt, T1, ctl_why, sizeof ctl_why, err,
                            errsz)) != 0)
        goto done;
    for (size_t i = 0; ctl_ckpt && i < vckpt_count(ctl_ckpt); i++) {
        const uint8_t *x;
        const attest_tensor_info *t = vckpt_tensor(ctl_ckpt, i, &x);
        if (!vckpt_is_weight(t, replay_weights_prefix(c))) continue;
        const attest_tensor_info *u = vckpt_find(model, t->name, &x);
        if (!u || !vckpt_same_layout(t, u)) {
            char lw[160], lg[160];
            layout_text(t, lw, sizeof lw);
            if (u) layout_text(u, lg, sizeof lg);
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "%s: tensor %s is %s%s, the run's checkpoints hold it as %s",
                                  o->model, t->name, u ? "" : "missing", u ? lg : "", lw);
            goto done;
        }
    }
    vckpt_free(model); /* the backend loads it again, in its own form */
    model = NULL;
    double tol = 0;
    if ((rc = be->losses(state, c, ev, ctl_step == SIZE_MAX ? 1 : 2, &tol, err, errsz)) != 0)
        goto done;
    if (ctl_step != SIZE_MAX) {
        const vrec *v = &l->steps[ctl_step];
        double mean = 0, logged;
        uint64_t bits;
        for (size_t i = 0; i < ev[1].n; i++) mean += ev[1].loss[i] / (double)ev[1].n;
        replay_bits64(v->rec, "loss", &bits);
        memcpy(&logged, &bits, sizeof logged);
        double rel = fabs(mean - logged) / (fabs(logged) > 1e-12 ? fabs(logged) : 1e-12);
        int ok = rel <= tol;
        json_t *ctl = json_object();
        json_object_set_new(out, "control", ctl);
        json_object_set_new(ctl, "checkpoint", json_string(ev[1].model));
        json_object_set_new(ctl, "step", json_integer((json_int_t)u64(v->rec, "step")));
        json_object_set_new(ctl, "logged_loss", json_real(logged));
        json_object_set_new(ctl, "mean_loss", isfinite(mean) ? json_real(mean) : json_null());
        json_object_set_new(ctl, "relative_error", json_real(isfinite(rel) ? rel : 1e308));
        json_object_set_new(ctl, "tolerance", json_real(tol));
        json_object_set_new(ctl, "result", json_string(ok ? "passed" : "failed"));
        if (!ok) {
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "the losses the replay gives are not the run's: on %s, the "
                                  "examples of step %" PRIu64 " average %.9g, the log says %.9g "
                                  "(relative error %.3g, tolerance %.3g)",
                                  ev[1].model, u64(v->rec, "step"), mean, logged, rel, tol);
            goto done;
        }
    } else {
        json_object_set_new(out, "control",
                            json_pack("{s:s, s:s}", "result", "not checked", "reason", ctl_why));
    }
    if ((rc = bigram_loss(l, data, tokens, n, T1, bg, err, errsz)) != 0) goto done;
    // The model's loss less what the content alone predicts (least squares on the bigram loss).
    double mean_f = 0, mean_b = 0, sxy = 0, sxx = 0;
    for (size_t i = 0; i < n; i++) {
        mean_f += lf[i] / (double)n;
        mean_b += bg[i] / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        sxy += (bg[i] - mean_b) * (lf[i] - mean_f);
        sxx += (bg[i] - mean_b) * (bg[i] - mean_b);
    }
    double beta = sxx > 0 ? sxy / sxx : 0;
    for (size_t i = 0; i < n; i++) d[i] = lf[i] - beta * bg[i];
    if (ranks(pos, n, rp) != 0 || ranks(d, n, rd) != 0) {
        rc = ATTEST_ENOMEM;
        goto done;
    }
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        sab += rp[i] * rd[i];
        saa += rp[i] * rp[i];
        sbb += rd[i] * rd[i];
    }
    double rho = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;

    // One-sided permutation test: how often does a random order correlate as strongly?
    uint64_t perm = 0, hits = 0;
    for (; perm < PERMUTATIONS && hits < EXCEEDANCES; perm++) {
        for (size_t i = n; i > 1; i--) { /* Fisher-Yates on the step ranks */
            size_t j = (size_t)below(&st, i);
            double t = rp[i - 1];
            rp[i - 1] = rp[j];
            rp[j] = t;
        }
        double s = 0;
        for (size_t i = 0; i < n; i++) s += rp[i] * rd[i];
        if (s <= sab) hits++;
    }
    double p = hits >= EXCEEDANCES ? (double)hits / (double)perm
                                   : (double)(hits + 1) / (double)(perm + 1);
    double z = rho * sqrt((double)(n > 1 ? n - 1 : 1));
    int shown = p < ATTEST_MODEL_ALPHA && rho < 0;
    json_object_set_new(out, "examples", json_integer((json_int_t)n));
    json_object_set_new(out, "tail_steps", json_pack("[I, I]", (json_int_t)tail_from, (json_int_t)last));
    json_object_set_new(out, "mean_loss", json_real(mean_f));
    json_object_set_new(out, "difficulty_slope", json_real(beta));
    json_object_set_new(out, "spearman", json_real(rho));
    json_object_set_new(out, "z", json_real(z));
    json_object_set_new(out, "p_normal", json_real(0.5 * erfc(-z / sqrt(2.0))));
    json_object_set_new(out, "p", json_real(p));
    json_object_set_new(out, "permutations", json_integer((json_int_t)perm));
    json_object_set_new(out, "alpha", json_real(ATTEST_MODEL_ALPHA));
    json_object_set_new(
        out, "meaning",
        json_string(shown ? "the model's losses follow this run's committed data order: it knows "
                            "best the examples this run trained on last; a model trained "
                            "elsewhere shows this with probability p"
                          : "no trace of this run's data order: a model from another run looks "
                            "like this; so can this run's model when its learning rate ended "
                            "near zero or it was changed after training (verify/SOUNDNESS.md)"));
    int unchecked = shown && ctl_step == SIZE_MAX && be != &replay_engine;
    json_object_set_new(out, "result",
                        json_string(unchecked ? "not checked" : shown ? "passed" : "failed"));
    if (unchecked)
        rc = attest_text_fail(err, errsz, ATTEST_EPARTIAL,
                              "model %s: its losses follow the committed order, but they come "
                              "from the prover's replay command and the control could not check "
                              "them (%s)",
                              o->model, ctl_why);
    else if (!shown)
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "model %s: not shown to come from this run: its losses on %zu "
                              "training examples show no trace of the committed order "
                              "(Spearman %.3f, p = %.3g, needs < %g)",
                              o->model, n, rho, p, ATTEST_MODEL_ALPHA);
done:
    if (rc && !err[0]) snprintf(err, errsz, "out of memory");
    if (rc && !json_object_get(out, "result")) {
        json_object_set_new(out, "result", json_string(rc == ATTEST_EVERIFY    ? "failed"
                                                       : rc == ATTEST_EPARTIAL ? "not checked"
                                                                               : "error"));
        json_object_set_new(out, "reason", json_string(err));
    } else if (rc) {
        json_object_set_new(out, "reason", json_string(err));
    }
    vckpt_free(ctl_ckpt);
    vckpt_free(model);
    json_decref(refs);
    json_decref((json_t *)ev[1].refs);
    free((uint8_t *)ev[1].tokens);
    free(ev[1].loss);
    free(off);
    free(seen);
    free(tokens);
    free(pos);
    free(d);
    free(lf);
    free(bg);
    free(rp);
    free(rd);
    return rc;
}
