/*
 * tests/unit/engine.c - tests of engine/ (attest-gpt/1, engine/ENGINE.md).
 *
 * Configuration checks, the schedule, the data order, initialization, the
 * same bits for 1 to 4 threads (odd sizes included), checkpoint reload,
 * gradients against central finite differences, and the engine's own
 * exp/tanh/log/cos/sqrt against the system libm (loaded with dlopen: the
 * tests do not link -lm). The PyTorch cross-check is tests/cli/engine.sh.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt.h"
#include "gpt_math.h"
#include "tests/harness.h"

static char err[256];

/* ---- helpers ---- */

static gpt_config small_config(void)
{
    gpt_config c;
    gpt_config_default(&c);
    c.layers = 2;
    c.heads = 2;
    c.width = 32;
    c.context = 16;
    c.batch = 4;
    c.steps = 20;
    c.warmup = 2;
    return c;
}

/* Widths that are not multiples of the vector tiles: C 30 (hd 10), T 7, B 3. */
static gpt_config odd_config(void)
{
    gpt_config c = small_config();
    c.heads = 3;
    c.width = 30;
    c.context = 7;
    c.batch = 3;
    c.layers = 3;
    return c;
}

/* A corpus with some structure, so that training moves. */
static uint8_t *corpus(size_t n)
{
    static const char text[] = "It was the best of times, it was the worst of times; ";
    uint8_t *b = malloc(n);
    if (!b) abort();
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(text[i % (sizeof text - 1)] ^ (((i / 211) % 5 == 0) ? 0x20 : 0));
    return b;
}

#define CORPUS 5000

/* The tokens of step s, read from the corpus by the data order. */
static void batch_tokens(const gpt_config *c, uint64_t step, const uint8_t *text, uint8_t *tok)
{
    uint64_t samples[1] = {CORPUS};
    gpt_window w[GPT_MAX_BATCH];
    if (gpt_batch_windows(c, step, samples, 1, w) != 0) abort();
    for (uint32_t b = 0; b < c->batch; b++)
        memcpy(tok + (size_t)b * (c->context + 1), text + w[b].first, c->context + 1);
}

static gpt *make(const gpt_config *c, unsigned threads)
{
    gpt *g = NULL;
    if (gpt_new(&g, c, threads, err, sizeof err) != 0) {
        printf("# gpt_new: %s\n", err);
        return NULL;
    }
    return g;
}

/* Trains `steps` steps; losses[] (if not NULL) gets loss, grad norm and lr of each. */
static void train(gpt *g, uint64_t steps, float *out)
{
    const gpt_config *c = gpt_config_of(g);
    uint8_t *text = corpus(CORPUS);
    uint8_t *tok = malloc((size_t)c->batch * (c->context + 1));
    if (!tok) abort();
    for (uint64_t i = 0; i < steps; i++) {
        gpt_step_result r;
        batch_tokens(c, gpt_step(g) + 1, text, tok);
        gpt_train_step(g, tok, &r);
        if (out) {
            out[3 * i] = r.loss;
            out[3 * i + 1] = r.grad_norm;
            out[3 * i + 2] = r.lr;
        }
    }
    free(tok);
    free(text);
}

/* 1 when every tensor of a and b has the same bytes (and the gradients too). */
static int same_bits_v(const gpt *a, const gpt *b, int verbose)
{
    if (gpt_tensor_count(a) != gpt_tensor_count(b)) return 0;
    for (size_t i = 0; i < gpt_tensor_count(a); i++) {
        const gpt_tensor *x = gpt_tensor_at(a, i), *y = gpt_tensor_at(b, i);
        if (strcmp(x->name, y->name) != 0 || x->bytes != y->bytes ||
            memcmp(x->data, y->data, x->bytes) != 0) {
            if (verbose) printf("#   tensor %s differs\n", x->name);
            return 0;
        }
        if (x->is_param && memcmp(gpt_grad(a, i), gpt_grad(b, i), x->bytes) != 0) {
            if (verbose) printf("#   gradient of %s differs\n", x->name);
            return 0;
        }
    }
    return 1;
}

static int same_bits(const gpt *a, const gpt *b)
{
    return same_bits_v(a, b, 1);
}

/* ---- configuration ---- */

static void check_rejects(gpt_config c, const char *field)
{
    err[0] = '\0';
    int rc = gpt_config_check(&c, err, sizeof err);
    CHECK_EQ_INT(rc, -1);
    if (strncmp(err, field, strlen(field)) != 0 || err[strlen(field)] != ':') {
        printf("#   expected an error about %s, got \"%s\"\n", field, err);
        harness_failed_now = 1;
    }
}

static void test_config_check(void)
{
    gpt_config c, d;
    gpt_config_default(&c);
    CHECK_EQ_INT(gpt_config_check(&c, err, sizeof err), 0);
    d = c, d.layers = 0, check_rejects(d, "layers");
    d = c, d.layers = GPT_MAX_LAYERS + 1, check_rejects(d, "layers");
    d = c, d.width = 0, check_rejects(d, "width");
    d = c, d.width = GPT_MAX_WIDTH + 1, check_rejects(d, "width");
    d = c, d.heads = 0, check_rejects(d, "heads");
    d = c, d.heads = 5, check_rejects(d, "heads");
    d = c, d.context = 0, check_rejects(d, "context");
    d = c, d.batch = GPT_MAX_BATCH + 1, check_rejects(d, "batch");
    d = c, d.steps = 0, d.warmup = 0, check_rejects(d, "steps");
    d = c, d.warmup = d.steps + 1, check_rejects(d, "warmup");
    d = c, d.lr_max = -1.0f, check_rejects(d, "lr_max");
    d = c, d.lr_max = 1.0f / 0.0f, check_rejects(d, "lr_max");
    d = c, d.lr_min = d.lr_max * 2.0f, check_rejects(d, "lr_min");
    d = c, d.beta1 = 1.0f, check_rejects(d, "beta1");
    d = c, d.beta2 = -0.1f, check_rejects(d, "beta2");
    d = c, d.eps = 0.0f, check_rejects(d, "eps");
    d = c, d.weight_decay = -0.5f, check_rejects(d, "weight_decay");
    d = c, d.clip = 0.0f / 0.0f, check_rejects(d, "clip");

    gpt *g = (gpt *)1;
    d = c, d.heads = 5;
    CHECK_EQ_INT(gpt_new(&g, &d, 1, err, sizeof err), -1);
    CHECK(g == NULL);
    CHECK(strstr(err, "heads") != NULL);
    CHECK_EQ_INT(gpt_new(&g, &c, 0, err, sizeof err), -1);
    CHECK(strstr(err, "threads") != NULL);
    CHECK_EQ_INT(gpt_new(&g, &c, GPT_MAX_THREADS + 1, err, sizeof err), -1);
    gpt_free(NULL);
}

/* ---- schedule [SCHED-1] ---- */

static void test_lr(void)
{
    gpt_config c;
    gpt_config_default(&c);
    c.steps = 300, c.warmup = 30, c.lr_max = 3e-3f, c.lr_min = 3e-4f;
    CHECK(gpt_lr(&c, 1) == (float)(3e-3f * 1.0 / 30.0));
    CHECK(gpt_lr(&c, 15) == (float)((double)3e-3f * 15.0 / 30.0));
    CHECK(gpt_lr(&c, 30) == 3e-3f);
    float prev = gpt_lr(&c, 1);
    for (uint64_t s = 2; s <= 30; s++) {
        CHECK(gpt_lr(&c, s) > prev);
        prev = gpt_lr(&c, s);
    }
    for (uint64_t s = 31; s <= 300; s++) {
        float lr = gpt_lr(&c, s);
        CHECK(lr <= prev && lr >= c.lr_min);
        prev = lr;
    }
    CHECK(gpt_lr(&c, 31) < 3e-3f && gpt_lr(&c, 31) > 2.99e-3f);
    CHECK(gpt_lr(&c, 300) == c.lr_min);
    CHECK(gpt_lr(&c, 1000) == c.lr_min);
    /* halfway through the decay: (lr_max + lr_min) / 2 */
    float mid = gpt_lr(&c, 165), want = (3e-3f + 3e-4f) / 2;
    CHECK(mid > want * 0.99999f && mid < want * 1.00001f);
    /* no warmup: the first step is already in the decay */
    c.warmup = 0;
    CHECK(gpt_lr(&c, 1) < 3e-3f && gpt_lr(&c, 1) > 2.999e-3f);
}

/* ---- data order [DATA-1] ---- */

static void test_windows(void)
{
    gpt_config c;
    gpt_config_default(&c);
    c.context = 64, c.batch = 16;
    uint64_t samples[5] = {1000, 3000, 64, 6000, 65}; /* shards 2 and 4: no / 1 window */
    uint64_t windows[5] = {936, 2936, 0, 5936, 1}, total = 936 + 2936 + 5936 + 1;
    gpt_window a[16], b[16];
    uint64_t count[5] = {0};
    int crossed = 0, differ = 0, nondet = 0;
    for (uint64_t s = 1; s <= 2000; s++) {
        memset(a, 0, sizeof a);
        memset(b, 0, sizeof b);
        if (gpt_batch_windows(&c, s, samples, 5, a) != 0 ||
            gpt_batch_windows(&c, s, samples, 5, b) != 0 || memcmp(a, b, sizeof a) != 0)
            nondet++;
        for (int i = 0; i < 16; i++) {
            if (a[i].shard >= 5 || a[i].first + c.context + 1 > samples[a[i].shard])
                crossed++;
            else
                count[a[i].shard]++;
        }
        if (s > 1) {
            gpt_window p[16];
            memset(p, 0, sizeof p);
            gpt_batch_windows(&c, s - 1, samples, 5, p);
            differ += memcmp(a, p, sizeof a) != 0;
        }
    }
    CHECK_EQ_INT(nondet, 0);
    CHECK_EQ_INT(crossed, 0);
    CHECK_EQ_INT(differ, 1999);
    CHECK_EQ_INT(count[2], 0);
    for (int i = 0; i < 5; i++) {
        double want = 32000.0 * (double)windows[i] / (double)total;
        if (i != 4 && (count[i] < want * 0.95 || count[i] > want * 1.05)) {
            printf("#   shard %d: %llu windows, expected about %.0f\n", i,
                   (unsigned long long)count[i], want);
            harness_failed_now = 1;
        }
    }
    /* another data seed, another order */
    gpt_config d = c;
    d.data_seed++;
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    gpt_batch_windows(&c, 7, samples, 5, a);
    gpt_batch_windows(&d, 7, samples, 5, b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    /* no window at all */
    uint64_t tiny[2] = {64, 10};
    CHECK_EQ_INT(gpt_batch_windows(&c, 1, tiny, 2, a), -1);
    CHECK_EQ_INT(gpt_batch_windows(&c, 1, tiny, 0, a), -1);
    /* exactly T + 1 bytes: one window, first = 0 */
    uint64_t one[1] = {65};
    CHECK_EQ_INT(gpt_batch_windows(&c, 3, one, 1, a), 0);
    CHECK(a[5].shard == 0 && a[5].first == 0);
}

/* [GEN-1] [GEN-2] [GEN-4]: the generator against the constants of ENGINE.md. */
static void test_generator(void)
{
    /* SplitMix64 with seed 0: the first output is mix(0x9e3779b97f4a7c15). */
    CHECK(gpt_mix(0x9e3779b97f4a7c15u) == 0xe220a8397b1dcdafu);
    CHECK(gpt_value(0, 0, 0) == gpt_mix(gpt_mix(0x9e3779b97f4a7c15u) + 0x9e3779b97f4a7c15u));
    __extension__ typedef unsigned __int128 u128;
    uint64_t x = 0x0123456789abcdefu;
    for (int i = 0; i < 10000; i++) {
        uint64_t a = gpt_mix(x + (uint64_t)i), b = gpt_mix(a);
        if (i % 3 == 0) b >>= (i % 64);
        CHECK(gpt_mulhi(a, b) == (uint64_t)(((u128)a * b) >> 64));
    }
    CHECK(gpt_mulhi(UINT64_MAX, UINT64_MAX) == UINT64_MAX - 1);
}

/* ---- tensors and initialization [PARAM-1] [INIT-1] ---- */

static void test_init(void)
{
    gpt_config c = small_config();
    gpt *a = make(&c, 1), *b = make(&c, 2);
    c.seed++;
    gpt *d = make(&c, 1);
    if (!a || !b || !d) goto done;

    size_t P = 2 + 12 * 2 + 2;
    CHECK_EQ_INT(gpt_tensor_count(a), 3 * P + 1);
    CHECK_STR(gpt_tensor_at(a, 0)->name, "wte");
    CHECK_STR(gpt_tensor_at(a, 1)->name, "wpe");
    CHECK_STR(gpt_tensor_at(a, 2)->name, "h.0.ln1.w");
    CHECK_STR(gpt_tensor_at(a, 4)->name, "h.0.attn.qkv.w");
    CHECK_STR(gpt_tensor_at(a, 13)->name, "h.0.mlp.proj.b");
    CHECK_STR(gpt_tensor_at(a, 14)->name, "h.1.ln1.w");
    CHECK_STR(gpt_tensor_at(a, P - 2)->name, "lnf.w");
    CHECK_STR(gpt_tensor_at(a, P - 1)->name, "lnf.b");
    CHECK_STR(gpt_tensor_at(a, P)->name, "adam.m.wte");
    CHECK_STR(gpt_tensor_at(a, 2 * P + 1)->name, "adam.v.wpe");
    CHECK_STR(gpt_tensor_at(a, 3 * P)->name, "state");
    CHECK(gpt_tensor_at(a, 3 * P + 1) == NULL);
    const gpt_tensor *t = gpt_tensor_find(a, "h.1.attn.qkv.w");
    CHECK(t && t->rank == 2 && t->shape[0] == 32 && t->shape[1] == 96 && t->is_param &&
          t->bytes == 32 * 96 * 4 && strcmp(t->dtype, "F32") == 0);
    t = gpt_tensor_find(a, "h.0.mlp.proj.w");
    CHECK(t && t->shape[0] == 128 && t->shape[1] == 32);
    t = gpt_tensor_find(a, "h.0.mlp.fc.b");
    CHECK(t && t->rank == 1 && t->shape[0] == 128);
    t = gpt_tensor_find(a, "wpe");
    CHECK(t && t->shape[0] == 16 && t->shape[1] == 32);
    t = gpt_tensor_find(a, "adam.m.wte");
    CHECK(t && !t->is_param);
    CHECK(gpt_tensor_find(a, "nope") == NULL);
    CHECK(gpt_grad(a, P - 1) != NULL && gpt_grad(a, P) == NULL);

    const gpt_tensor *st = gpt_tensor_find(a, "state");
    CHECK(st && strcmp(st->dtype, "U64") == 0 && st->rank == 1 && st->shape[0] == 3 &&
          st->bytes == 24);
    if (st) {
        const uint64_t *s = st->data;
        CHECK(s[0] == 0 && s[1] == c.seed - 1 && s[2] == c.data_seed);
    }
    CHECK(same_bits(a, b));
    int differs = 0;
    for (size_t i = 0; i < P; i++) {
        const gpt_tensor *x = gpt_tensor_at(a, i), *y = gpt_tensor_at(d, i);
        if (x->rank == 2) differs += memcmp(x->data, y->data, x->bytes) != 0;
    }
    CHECK_EQ_INT(differs, 2 + 4 * 2); /* every matrix */

    /* LayerNorm 1/0, biases 0, matrices uniform in [-a, a], std about 0.02 */
    const float *w = gpt_tensor_find(a, "h.1.ln2.w")->data;
    const float *bb = gpt_tensor_find(a, "h.1.ln2.b")->data;
    const float *fb = gpt_tensor_find(a, "h.0.mlp.fc.b")->data;
    CHECK(w[0] == 1.0f && w[31] == 1.0f && bb[5] == 0.0f && fb[127] == 0.0f);
    const float *e = gpt_tensor_find(a, "wte")->data;
    double ss = 0;
    int out_of_range = 0;
    for (size_t i = 0; i < 256 * 32; i++) {
        ss += (double)e[i] * e[i];
        out_of_range += e[i] < -0.0346411f || e[i] > 0.0346411f;
    }
    double var = ss / (256 * 32);
    CHECK_EQ_INT(out_of_range, 0);
    CHECK(var > 0.00036 && var < 0.00044); /* 0.02^2 = 0.0004 */
    /* residual projections: scaled by 1/sqrt(2L) = 1/2 */
    const float *pw = gpt_tensor_find(a, "h.0.attn.proj.w")->data;
    float mx = 0;
    for (size_t i = 0; i < 32 * 32; i++)
        mx = pw[i] > mx ? pw[i] : mx;
    CHECK(mx <= 0.0173206f && mx > 0.015f);

    /* gpt_init restores the initialization */
    train(a, 2, NULL);
    CHECK(!same_bits_v(a, b, 0));
    gpt_init(a);
    gpt_init(b);
    CHECK(same_bits(a, b));
done:
    gpt_free(a);
    gpt_free(b);
    gpt_free(d);
}

/* ---- determinism ---- */

static void check_threads(gpt_config c, uint64_t steps)
{
    gpt *ref = make(&c, 1);
    float *l1 = calloc(3 * steps, sizeof(float)), *ln = calloc(3 * steps, sizeof(float));
    if (!ref || !l1 || !ln) abort();
    train(ref, steps, l1);
    CHECK(l1[0] > 5.0f && l1[0] < 6.0f); /* about ln 256 */
    CHECK(l1[3 * (steps - 1)] < l1[0]);
    for (unsigned th = 2; th <= 4; th++) {
        gpt *g = make(&c, th);
        if (!g) abort();
        train(g, steps, ln);
        if (!same_bits(ref, g) || memcmp(l1, ln, 3 * steps * sizeof(float)) != 0) {
            printf("#   %u threads differ from 1 thread\n", th);
            harness_failed_now = 1;
        }
        gpt_free(g);
    }
    gpt_free(ref);
    free(l1);
    free(ln);
}

static void test_threads_same_bits(void)
{
    check_threads(small_config(), 5);
}

static void test_threads_odd_sizes(void)
{
    check_threads(odd_config(), 5);
}

/* A batch of 1 x 1 and a single head: every tail at once. */
static void test_threads_tiny(void)
{
    gpt_config c = small_config();
    c.layers = 1, c.heads = 1, c.width = 5, c.context = 1, c.batch = 1;
    check_threads(c, 3);
}

/* ---- reload: copy every tensor into a fresh model, continue ---- */

static void test_reload(void)
{
    gpt_config c = odd_config();
    gpt *straight = make(&c, 2), *first = make(&c, 1), *second = make(&c, 3);
    if (!straight || !first || !second) goto done;
    float l_straight[18], l_second[9];
    train(straight, 6, l_straight);
    train(first, 3, NULL);
    for (size_t i = 0; i < gpt_tensor_count(first); i++) {
        const gpt_tensor *s = gpt_tensor_at(first, i), *d = gpt_tensor_at(second, i);
        memcpy(d->data, s->data, s->bytes);
    }
    CHECK_EQ_INT(gpt_sync_state(second, err, sizeof err), 0);
    CHECK_EQ_INT(gpt_step(second), 3);
    train(second, 3, l_second);
    CHECK(memcmp(l_straight + 9, l_second, sizeof l_second) == 0);
    CHECK(same_bits(straight, second));

    /* a state from another seed is refused */
    uint64_t *st = gpt_tensor_find(second, "state")->data;
    st[1] ^= 1;
    CHECK_EQ_INT(gpt_sync_state(second, err, sizeof err), -1);
    CHECK(strstr(err, "seed") != NULL);
done:
    gpt_free(straight);
    gpt_free(first);
    gpt_free(second);
}

/* ---- gradients against central finite differences ---- */

static void test_gradients(void)
{
    gpt_config c = small_config();
    c.layers = 2, c.heads = 2, c.width = 8, c.context = 6, c.batch = 2;
    /* a large learning rate moves away from the initialization, so that LayerNorm and biases matter
     */
    c.lr_max = c.lr_min = 3e-2f, c.warmup = 0;
    gpt *g = make(&c, 2);
    if (!g) return;
    train(g, 8, NULL);
    uint8_t *text = corpus(CORPUS);
    uint8_t tok[2 * 7];
    batch_tokens(&c, 100, text, tok);
    free(text);

    size_t P = 2 + 12 * c.layers + 2, checked = 0, bad = 0;
    float *grad = malloc(2 * 256 * 8 * sizeof(float) * 8);
    double dir_num = 0, dir_ana = 0;
    for (size_t i = 0; i < P; i++) {
        const gpt_tensor *t = gpt_tensor_at(g, i);
        float *p = t->data;
        size_t n = t->bytes / 4;
        gpt_forward_backward(g, tok);
        memcpy(grad, gpt_grad(g, i), t->bytes);
        /* the three largest entries of each tensor */
        for (int k = 0; k < 3; k++) {
            size_t best = 0;
            for (size_t j = 0; j < n; j++)
                if (grad[j] * grad[j] > grad[best] * grad[best]) best = j;
            float an = grad[best], h = 1e-2f, x0 = p[best];
            grad[best] = 0;
            if (an * an < 1e-8f) continue;
            p[best] = x0 + h;
            double lp = gpt_forward_backward(g, tok);
            p[best] = x0 - h;
            double lm = gpt_forward_backward(g, tok);
            p[best] = x0;
            double num = (lp - lm) / (2.0 * (double)h);
            checked++;
            dir_num += num * an, dir_ana += (double)an * an;
            /* the loss is a binary32 near 5: its roundings make a numeric noise of about 5e-5 */
            double tol = 2e-2 * (an < 0 ? -an : an) + 6e-5;
            if (num - an > tol || an - num > tol) {
                bad++;
                printf("#   %s[%zu]: analytic %.6g, numeric %.6g\n", t->name, best, an, num);
            }
        }
    }
    free(grad);
    CHECK(checked >= 60);
    CHECK_EQ_INT(bad, 0);
    CHECK(dir_num / dir_ana > 0.995 && dir_num / dir_ana < 1.005);
    gpt_free(g);
}

/* ---- elementary functions against libm [MATH-1..5] ---- */

static void *libm;

/* dlsym's result as a function pointer (ISO C has no cast between the two; POSIX allows this). */
#define LIBM_SYM(fp, name)                                                                         \
    do {                                                                                           \
        void *sym_ = libm ? dlsym(libm, name) : NULL;                                              \
        memcpy(&(fp), &sym_, sizeof(fp));                                                          \
    } while (0)

/* Error of got in units in the last place of the binary32 nearest ref. */
static double ulps32(float got, double ref)
{
    double r = ref < 0 ? -ref : ref, u = 0x1p-149;
    if (r >= 0x1p-126) {
        u = 0x1p-23;
        while (u * 0x1p23 * 2 <= r)
            u *= 2;
        while (u * 0x1p23 > r)
            u /= 2;
    }
    double d = (double)got - ref;
    return (d < 0 ? -d : d) / u;
}

static void test_math(void)
{
    double (*m_exp)(double), (*m_tanh)(double), (*m_log)(double), (*m_cos)(double);
    float (*m_sqrtf)(float);
    libm = dlopen("libm.so.6", RTLD_NOW);
    LIBM_SYM(m_exp, "exp");
    LIBM_SYM(m_tanh, "tanh");
    LIBM_SYM(m_log, "log");
    LIBM_SYM(m_cos, "cos");
    LIBM_SYM(m_sqrtf, "sqrtf");
    if (!m_exp || !m_tanh || !m_log || !m_cos || !m_sqrtf) {
        printf("# SKIP libm.so.6 not loadable: %s\n", dlerror());
        return;
    }
    double worst[4] = {0};
    for (int i = 0; i <= 400000; i++) {
        float x = -87.0f + (float)i * (175.0f / 400000.0f);
        double e = ulps32(gpt_exp(x), m_exp((double)x));
        if (e > worst[0]) worst[0] = e;
        float y = -12.0f + (float)i * (24.0f / 400000.0f);
        e = ulps32(gpt_tanh(y), m_tanh((double)y));
        if (e > worst[1]) worst[1] = e;
        float z = (float)i * (1000.0f / 400000.0f) + 1e-3f;
        e = ulps32(gpt_log(z), m_log((double)z));
        if (e > worst[2]) worst[2] = e;
        float w = 0.5f + (float)i * (1.5f / 400000.0f); /* log near 1 */
        if (w != 1.0f) {
            e = ulps32(gpt_log(w), m_log((double)w));
            if (e > worst[2]) worst[2] = e;
        }
        double c = (double)i * (3.141592653589793 / 400000.0);
        double d = gpt_cos(c) - m_cos(c);
        d = (d < 0 ? -d : d) * 0x1p53;
        if (d > worst[3]) worst[3] = d;
    }
    /* tiny arguments of tanh and log, and a few powers of two */
    for (float x = 1e-30f; x < 0.3f; x *= 1.37f) {
        double e = ulps32(gpt_tanh(x), m_tanh(x));
        if (e > worst[1]) worst[1] = e;
        e = ulps32(gpt_tanh(-x), m_tanh(-x));
        if (e > worst[1]) worst[1] = e;
        e = ulps32(gpt_log(x), m_log(x));
        if (e > worst[2]) worst[2] = e;
    }
    printf("# worst errors: exp %.2f ulp, tanh %.2f ulp, log %.2f ulp, cos %.2f x 2^-53\n",
           worst[0], worst[1], worst[2], worst[3]);
    CHECK(worst[0] <= 2.0);
    CHECK(worst[1] <= 4.0);
    CHECK(worst[2] <= 2.0);
    CHECK(worst[3] <= 4.0);
    CHECK(gpt_exp(0.0f) == 1.0f && gpt_exp(-100.0f) == 0.0f && gpt_exp(100.0f) > 3e38f);
    CHECK(gpt_log(1.0f) == 0.0f && gpt_tanh(0.0f) == 0.0f && gpt_tanh(20.0f) == 1.0f);
    CHECK(gpt_tanh(-20.0f) == -1.0f && gpt_cos(0.0) == 1.0);
    CHECK(gpt_log(0.0f) < -3e38f && gpt_log(-1.0f) != gpt_log(-1.0f));

    /* [MATH-5] powers by repeated squaring: exact for exactly representable cases */
    CHECK(gpt_powi(2.0, 10) == 1024.0 && gpt_powi(0.5, 3) == 0.125 && gpt_powi(0.9, 0) == 1.0);
    CHECK(gpt_powi(0.9, 3) == (0.9 * 0.9) * 0.9 * 1.0);

    /* sqrt: hardware, software and libm agree on every value tried */
    int mismatch = 0;
    uint32_t u = 0x2545f491u;
    for (int i = 0; i < 2000000; i++) {
        u ^= u << 13, u ^= u >> 17, u ^= u << 5;
        float x;
        uint32_t bits = u & 0x7fffffffu;
        if (i < 1000)
            bits = (uint32_t)i; /* subnormals */
        else if (i < 2000)
            bits = 0x7f7fffffu - (uint32_t)i; /* the largest */
        memcpy(&x, &bits, 4);
        if (bits >= 0x7f800000u) continue;
        float a = gpt_sqrt(x), b = gpt_sqrt_soft(x), r = m_sqrtf(x);
        if (memcmp(&a, &r, 4) != 0 || memcmp(&b, &r, 4) != 0) {
            if (mismatch++ < 5) printf("#   sqrt(%a): %a %a, libm %a\n", x, a, b, r);
        }
    }
    CHECK_EQ_INT(mismatch, 0);
    float inf = 1.0f / 0.0f;
    CHECK(gpt_sqrt_soft(inf) == inf && gpt_sqrt_soft(0.0f) == 0.0f);
    CHECK(gpt_sqrt_soft(-1.0f) != gpt_sqrt_soft(-1.0f));
}

/* ---- the worked examples of ENGINE.md section 10 ---- */

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void test_vectors(void)
{
    CHECK(gpt_value(0, 0, 0) == 0xa706dd2f4d197e6fu);
    CHECK(gpt_value(1234, 0, 0) == 0x9e17e35f6d9238edu);
    CHECK(gpt_value(1234, 0, 1) == 0xddc5b3de304de25du);

    /* configuration V of ENGINE.md (spelled out: the default may change) */
    gpt_config c;
    memset(&c, 0, sizeof c);
    c.layers = 2, c.heads = 4, c.width = 64, c.context = 64, c.batch = 16;
    c.steps = 300, c.warmup = 30, c.lr_max = 3e-3f, c.lr_min = 3e-4f;
    c.beta1 = 0.9f, c.beta2 = 0.95f, c.eps = 1e-8f, c.weight_decay = 0.1f, c.clip = 1.0f;
    c.seed = 1234, c.data_seed = 5678;
    CHECK_EQ_INT(bits(gpt_lr(&c, 1)), 0x38d1b717);
    CHECK_EQ_INT(bits(gpt_lr(&c, 30)), 0x3b449ba6);
    CHECK_EQ_INT(bits(gpt_lr(&c, 165)), 0x3ad844d0);
    CHECK_EQ_INT(bits(gpt_lr(&c, 301)), 0x399d4952);

    uint64_t samples[3] = {1000, 50, 4000};
    gpt_window w[16];
    CHECK_EQ_INT(gpt_batch_windows(&c, 1, samples, 3, w), 0);
    CHECK(w[0].shard == 2 && w[0].first == 2961 && w[1].shard == 2 && w[1].first == 943);
    CHECK(w[2].shard == 2 && w[2].first == 284 && w[3].shard == 0 && w[3].first == 148);

    gpt *g = make(&c, 2);
    if (!g) return;
    const float *e = gpt_tensor_find(g, "wte")->data;
    CHECK(bits(e[0]) == 0x3c056f6b && bits(e[1]) == 0x3ccfe53c && bits(e[2]) == 0xbcf25d69 &&
          bits(e[3]) == 0xbba561c4);
    CHECK_EQ_INT(bits(((const float *)gpt_tensor_find(g, "h.0.attn.proj.w")->data)[0]), 0xbbc68a10);
    uint8_t tok[16 * 65];
    for (size_t i = 0; i < sizeof tok; i++)
        tok[i] = (uint8_t) "hello, world! "[i % 14];
    gpt_step_result r;
    gpt_train_step(g, tok, &r);
    CHECK_EQ_INT(bits(r.loss), 0x40affdad);
    CHECK_EQ_INT(bits(r.grad_norm), 0x4084809a);
    CHECK_EQ_INT(bits(r.lr), 0x38d1b717);
    gpt_train_step(g, tok, &r);
    CHECK_EQ_INT(bits(r.loss), 0x40ae53ce);
    gpt_free(g);
}

int main(void)
{
    RUN(test_config_check);
    RUN(test_lr);
    RUN(test_windows);
    RUN(test_generator);
    RUN(test_init);
    RUN(test_threads_same_bits);
    RUN(test_threads_odd_sizes);
    RUN(test_threads_tiny);
    RUN(test_reload);
    RUN(test_gradients);
    RUN(test_math);
    RUN(test_vectors);
    if (libm) dlclose(libm);
    HARNESS_EXIT();
}
