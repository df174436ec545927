/*
 * replay_engine.c - the built-in replay backend: the run was trained by
 * attest-gpt/1 (engine/), so the verifier re-runs it and requires the same
 * bits: the initial weights from the committed seed, the data windows from
 * the committed data seed, every step's lr, loss and gradient norm, and
 * every tensor of the next checkpoint (weights, AdamW moments, state).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/digest.h"
#include "attest/error.h"
#include "engine/gpt.h"
#include "format/text.h"
#include "verify/replay.h"

typedef struct engine_state {
    gpt *g;
    gpt_config cfg;
    uint64_t *samples; /* per shard id 0..n-1 */
    size_t n_shards;
    gpt_window *win;
} engine_state;

static const char *const float_fields[] = {"lr_max", "lr_min", "beta1",       "beta2",
                                           "eps",    "clip",   "weight_decay"};

static float *float_field(gpt_config *c, size_t i)
{
    float *p[] = {&c->lr_max, &c->lr_min, &c->beta1, &c->beta2, &c->eps, &c->clip,
                  &c->weight_decay};
    return p[i];
}

/* run.config.engine -> gpt_config; the binary32 bits are authoritative. */
int replay_engine_config(const json_t *e, gpt_config *c, char *err, size_t errsz)
{
    memset(c, 0, sizeof *c);
    const char *name = json_string_value(json_object_get(e, "name"));
    if (!name || strcmp(name, GPT_ENGINE) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "record 0 (run): config.engine.name is \"%s\", this verifier "
                                "replays %s",
                                name ? name : "", GPT_ENGINE);
    static const char *const u_fields[] = {"layers", "heads",    "width",    "context",
                                           "batch",  "steps",    "warmup",   "seed",
                                           "data_seed"};
    uint64_t u[9];
    for (size_t i = 0; i < 9; i++) {
        const json_t *v = json_object_get(e, u_fields[i]);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "record 0 (run): config.engine.%s is missing or not a "
                                    "non-negative integer",
                                    u_fields[i]);
        u[i] = (uint64_t)json_integer_value(v);
        if (i < 5 && u[i] > UINT32_MAX)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "record 0 (run): config.engine.%s is too large", u_fields[i]);
    }
    c->layers = (uint32_t)u[0];
    c->heads = (uint32_t)u[1];
    c->width = (uint32_t)u[2];
    c->context = (uint32_t)u[3];
    c->batch = (uint32_t)u[4];
    c->steps = u[5];
    c->warmup = u[6];
    c->seed = u[7];
    c->data_seed = u[8];
    for (size_t i = 0; i < sizeof float_fields / sizeof float_fields[0]; i++) {
        char key[40];
        snprintf(key, sizeof key, "%s_bits", float_fields[i]);
        const char *hex = json_string_value(json_object_get(e, key));
        if (!hex || strlen(hex) != 8 || strspn(hex, "0123456789abcdef") != 8)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "record 0 (run): config.engine.%s is missing or not 8 "
                                    "lowercase hex digits (binary32 bits)",
                                    key);
        uint32_t b = (uint32_t)strtoul(hex, NULL, 16);
        memcpy(float_field(c, i), &b, 4);
    }
    char why[256];
    if (gpt_config_check(c, why, sizeof why) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY, "record 0 (run): config.engine: %s",
                                why);
    return 0;
}

static int engine_init(void **out, const replay_ctx *c, char *err, size_t errsz)
{
    const replay_log *l = c->log;
    *out = NULL;
    engine_state *s = calloc(1, sizeof *s);
    if (!s) return ATTEST_ENOMEM;
    int rc = replay_engine_config(json_object_get(json_object_get(l->run.rec, "config"), "engine"),
                          &s->cfg, err, errsz);
    if (rc) goto fail;
    const json_t *init = l->init.rec;
    const char *initializer = json_string_value(json_object_get(init, "initializer"));
    if (strcmp(initializer, GPT_ENGINE) != 0 ||
        (uint64_t)json_integer_value(json_object_get(init, "seed")) != s->cfg.seed ||
        !json_object_get(init, "data_seed") ||
        (uint64_t)json_integer_value(json_object_get(init, "data_seed")) != s->cfg.data_seed) {
        rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                              "record %" PRIu64 " (init): initializer, seed and data_seed must "
                              "be %s, %" PRIu64 " and %" PRIu64 " as config.engine says",
                              l->init.index, GPT_ENGINE, s->cfg.seed, s->cfg.data_seed);
        goto fail;
    }
    // The engine's corpus: shards 0..n-1, all committed before the first step, as bytes.
    s->n_shards = l->n_shards;
    if (!(s->samples = calloc(s->n_shards ? s->n_shards : 1, sizeof *s->samples)) ||
        !(s->win = calloc(s->cfg.batch, sizeof *s->win))) {
        rc = ATTEST_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < l->n_shards; i++) {
        const vrec *v = &l->shards[i];
        if ((uint64_t)json_integer_value(json_object_get(v->rec, "id")) != i ||
            strcmp(json_string_value(json_object_get(v->rec, "layout")), "bytes") != 0 ||
            (l->n_steps && v->index > l->steps[0].index)) {
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "record %" PRIu64 " (shard): %s reads shards 0, 1, ... of "
                                  "layout bytes, all recorded before the first step",
                                  v->index, GPT_ENGINE);
            goto fail;
        }
        s->samples[i] = (uint64_t)json_integer_value(json_object_get(v->rec, "samples"));
    }
    char why[256];
    unsigned threads = c->o->threads ? c->o->threads : 1;
    gpt_device dev = GPT_CPU;
    if (c->o->device && gpt_device_parse(c->o->device, &dev) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EINVAL, "device %s: must be cpu or cuda",
                              c->o->device);
        goto fail;
    }
    if (gpt_new_on(&s->g, &s->cfg, dev, threads, why, sizeof why) != 0) {
        rc = attest_text_fail(err, errsz, dev == GPT_CUDA ? ATTEST_EINVAL : ATTEST_ENOMEM,
                              "engine: %s", why);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    free(s->samples);
    free(s->win);
    free(s);
    return rc;
}

static void engine_done(void *state)
{
    engine_state *s = state;
    gpt_free(s->g);
    free(s->samples);
    free(s->win);
    free(s);
}

/* The engine's tensors against a checkpoint's, bit for bit; names the first that differs. */
static int compare(const engine_state *s, const vckpt *ck, const char *what, char *err,
                   size_t errsz)
{
    size_t n = gpt_tensor_count(s->g);
    if (vckpt_count(ck) != n)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "%s holds %zu tensors; %s has %zu", vckpt_path(ck),
                                vckpt_count(ck), GPT_ENGINE, n);
    for (size_t i = 0; i < n; i++) {
        const gpt_tensor *t = gpt_tensor_at(s->g, i);
        const uint8_t *data;
        const attest_tensor_info *info = vckpt_find(ck, t->name, &data);
        if (!info)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY, "%s has no tensor %s",
                                    vckpt_path(ck), t->name);
        int same = strcmp(info->dtype, t->dtype) == 0 && info->rank == t->rank;
        for (uint32_t k = 0; same && k < t->rank; k++) same = info->shape[k] == t->shape[k];
        if (!same)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "%s: tensor %s has another dtype or shape than %s's",
                                    vckpt_path(ck), t->name, GPT_ENGINE);
        if (memcmp(data, t->data, (size_t)t->bytes) == 0) continue;
        if (strcmp(t->dtype, "F32") != 0)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "%s: tensor %s differs from %s (logged step/seeds differ)",
                                    vckpt_path(ck), t->name, what);
        uint64_t diff = 0, at = 0, numel = t->bytes / 4;
        double max = 0;
        for (uint64_t k = 0; k < numel; k++) {
            float a, b;
            memcpy(&a, data + 4 * k, 4);
            memcpy(&b, (const uint8_t *)t->data + 4 * k, 4);
            if (memcmp(&a, &b, 4) == 0) continue;
            double d = fabs((double)a - (double)b);
            if (!diff || d > max || d != d) {
                max = d;
                at = k;
            }
            diff++;
        }
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "%s: tensor %s differs from %s: %" PRIu64 " of %" PRIu64
                                " elements, max abs diff %.6g at element %" PRIu64,
                                vckpt_path(ck), t->name, what, diff, numel, max, at);
    }
    return 0;
}

static int engine_initialization(void *state, const replay_ctx *c, const vckpt *ckpt0, char *err,
                                 size_t errsz)
{
    engine_state *s = state;
    (void)c;
    gpt_init(s->g);
    char what[96];
    snprintf(what, sizeof what, "the weights regenerated from seed %" PRIu64, s->cfg.seed);
    return compare(s, ckpt0, what, err, errsz);
}

int replay_engine_load(gpt *g, const vckpt *ck, int params_only, char *err, size_t errsz)
{
    for (size_t i = 0; i < gpt_tensor_count(g); i++) {
        const gpt_tensor *t = gpt_tensor_at(g, i);
        if (params_only && !t->is_param) continue;
        const uint8_t *data;
        const attest_tensor_info *info = vckpt_find(ck, t->name, &data);
        int same = info && strcmp(info->dtype, t->dtype) == 0 && info->rank == t->rank;
        for (uint32_t k = 0; same && k < t->rank; k++) same = info->shape[k] == t->shape[k];
        if (!same)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "%s: tensor %s is missing or not %s's dtype and shape",
                                    vckpt_path(ck), t->name, GPT_ENGINE);
        memcpy(t->data, data, (size_t)t->bytes);
    }
    return 0;
}

/* Loads a checkpoint's tensors into the engine: all of them, nothing else. */
static int load(engine_state *s, const vckpt *ck, uint64_t step, char *err, size_t errsz)
{
    int rc = replay_engine_load(s->g, ck, 0, err, errsz);
    if (rc) return rc;
    if (vckpt_count(ck) != gpt_tensor_count(s->g))
        return attest_text_fail(err, errsz, ATTEST_EVERIFY, "%s holds tensors %s does not have",
                                vckpt_path(ck), GPT_ENGINE);
    char why[256];
    if (gpt_sync_state(s->g, why, sizeof why) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY, "%s: %s", vckpt_path(ck), why);
    if (gpt_step(s->g) != step)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "%s: its state says step %" PRIu64 ", its record says %" PRIu64,
                                vckpt_path(ck), gpt_step(s->g), step);
    return 0;
}

static void bits_text(uint64_t bits, char out[40])
{
    double d;
    memcpy(&d, &bits, 8);
    snprintf(out, 40, "%.9g (%016" PRIx64 ")", d, bits);
}

static int same_bits(const json_t *rec, const char *member, float value, int required,
                     uint64_t step, char *err, size_t errsz)
{
    uint64_t logged, mine;
    double d = value;
    memcpy(&mine, &d, 8);
    if (!replay_bits64(rec, member, &logged)) {
        if (!required) return 0;
        return attest_text_fail(err, errsz, ATTEST_EVERIFY, "step %" PRIu64 ": no %s logged",
                                step, member);
    }
    if (logged == mine) return 0;
    char a[40], b[40];
    bits_text(logged, a);
    bits_text(mine, b);
    return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                            "step %" PRIu64 ": %s logged %s, replay computes %s", step, member, a,
                            b);
}

static int engine_segment(void *state, const replay_ctx *c, const replay_segment *seg, char *err,
                          size_t errsz)
{
    engine_state *s = state;
    const replay_log *l = c->log;
    uint64_t from = (uint64_t)json_integer_value(json_object_get(l->ckpts[seg->seg].rec, "step"));
    uint64_t to = (uint64_t)json_integer_value(json_object_get(l->ckpts[seg->seg + 1].rec, "step"));
    int rc = load(s, seg->from, from, err, errsz);
    if (rc) return rc;
    if (seg->last - seg->first != to - from)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "the log has %zu step records between the checkpoints of steps "
                                "%" PRIu64 " and %" PRIu64 ": %s numbers steps 1, 2, 3, ...",
                                seg->last - seg->first, from, to, GPT_ENGINE);
    size_t T1 = (size_t)s->cfg.context + 1, B = s->cfg.batch;
    double compute = 0; // seconds in the engine's steps, for the report
    for (size_t i = seg->first; i < seg->last; i++) {
        const json_t *rec = l->steps[i].rec;
        uint64_t step = (uint64_t)json_integer_value(json_object_get(rec, "step"));
        if (step != gpt_step(s->g) + 1)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "record %" PRIu64 ": step %" PRIu64 " follows step %" PRIu64
                                    ": %s numbers steps 1, 2, 3, ...",
                                    l->steps[i].index, step, gpt_step(s->g), GPT_ENGINE);
        // The windows must be those the committed data order picks.
        const json_t *batch = json_object_get(rec, "batch");
        if (gpt_batch_windows(&s->cfg, step, s->samples, s->n_shards, s->win) != 0)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "step %" PRIu64 ": no shard is long enough for a window",
                                    step);
        int same = json_array_size(batch) == B;
        for (size_t b = 0; same && b < B; b++) {
            const json_t *ref = json_array_get(batch, b);
            same = (uint64_t)json_integer_value(json_array_get(ref, 0)) == s->win[b].shard &&
                   (uint64_t)json_integer_value(json_array_get(ref, 1)) == s->win[b].first &&
                   (uint64_t)json_integer_value(json_array_get(ref, 2)) == T1;
        }
        if (!same)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "step %" PRIu64 " (record %" PRIu64 "): its batch is not the "
                                    "one the committed data order picks (data_seed %" PRIu64
                                    ": first window [%u, %" PRIu64 ", %zu])",
                                    step, l->steps[i].index, s->cfg.data_seed, s->win[0].shard,
                                    s->win[0].first, T1);
        uint8_t *bytes = NULL, digest[32];
        size_t len = 0;
        char why[300], hex[65];
        rc = vdata_batch(c->data, batch, &bytes, &len, why, sizeof why);
        if (rc) return attest_text_fail(err, errsz, rc, "step %" PRIu64 ": %s", step, why);
        if (attest_sha256(bytes, len, digest) != 0) {
            free(bytes);
            return ATTEST_ENOMEM;
        }
        attest_sha256_hex(digest, hex);
        if (strcmp(hex, json_string_value(json_object_get(rec, "batch_sha256"))) != 0) {
            free(bytes);
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "step %" PRIu64 " (record %" PRIu64 "): batch_sha256 is not "
                                    "the digest of the samples it names in the committed shards",
                                    step, l->steps[i].index);
        }
        gpt_step_result res;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        gpt_train_step(s->g, bytes, &res);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        compute += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        free(bytes);
        if (gpt_error(s->g))
            return attest_text_fail(err, errsz, ATTEST_EIO, "step %" PRIu64 ": engine: %s", step,
                                    gpt_error(s->g));
        if ((rc = same_bits(rec, "lr", res.lr, 1, step, err, errsz)) != 0 ||
            (rc = same_bits(rec, "loss", res.loss, 1, step, err, errsz)) != 0 ||
            (rc = same_bits(rec, "grad_norm", res.grad_norm, 0, step, err, errsz)) != 0)
            return rc;
    }
    json_object_set_new(seg->report, "compute_seconds", json_real(compute));
    char what[96];
    snprintf(what, sizeof what, "the replay of steps %" PRIu64 "-%" PRIu64, from + 1, to);
    return compare(s, seg->to, what, err, errsz);
}

/*
 * Models on examples, a batch at a time, on the replay's own engine and device (the
 * run-to-model test runs after the segments). The engine starts afresh (a failed segment
 * may have left another checkpoint's state in it), then takes each model's weights.
 */
static int engine_losses(void *state, const replay_ctx *c, replay_eval *ev, size_t n_ev,
                         double *tol, char *err, size_t errsz)
{
    const engine_state *s = state;
    size_t B = s->cfg.batch, T1 = (size_t)s->cfg.context + 1;
    uint8_t *buf = calloc(B, T1);
    double *l = calloc(B, sizeof *l);
    char why[256];
    int rc = buf && l ? 0 : ATTEST_ENOMEM;
    (void)c;
    *tol = 1e-5; /* binary64 sums against the binary32 loss of a training step */
    for (size_t e = 0; !rc && e < n_ev; e++) {
        vckpt *m = NULL;
        if (ev[e].T1 != T1) {
            rc = attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                  "%s: examples of %zu tokens, but the run's engine reads "
                                  "windows of context + 1 = %zu",
                                  ev[e].model, ev[e].T1, T1);
            break;
        }
        gpt_init(s->g);
        if ((rc = vckpt_load(&m, ev[e].model, NULL, 0, err, errsz)) == 0)
            rc = replay_engine_load(s->g, m, 1, err, errsz);
        if (!rc && gpt_sync_state(s->g, why, sizeof why) != 0)
            rc = attest_text_fail(err, errsz, ATTEST_EIO, "engine: %s", why);
        vckpt_free(m);
        for (size_t i = 0; !rc && i < ev[e].n; i += B) {
            size_t k = ev[e].n - i < B ? ev[e].n - i : B;
            memcpy(buf, ev[e].tokens + i * T1, k * T1);
            if (gpt_sequence_losses(s->g, buf, l) != 0)
                rc = attest_text_fail(err, errsz, ATTEST_EIO, "engine: %s", gpt_error(s->g));
            else
                memcpy(ev[e].loss + i, l, k * sizeof *l);
        }
    }
    free(buf);
    free(l);
    return rc;
}

const replay_backend replay_engine = {
    "engine " GPT_ENGINE " (bit for bit)", engine_init, engine_initialization, engine_segment,
    engine_losses, engine_done,
};
