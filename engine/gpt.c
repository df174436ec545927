/*
 * engine/gpt.c - attest-gpt/1: configuration, schedule, data order, the
 * model's tensors and their initialization, the forward/backward pass of
 * the whole network, gradient clipping and AdamW (ENGINE.md). The layer
 * kernels are in gpt_ops.c, the elementary functions in gpt_math.c, the
 * threads in gpt_pool.c. Reads no files and prints nothing.
 */
#include "gpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_internal.h"
#include "gpt_math.h"
#include "gpt_ops.h"

/* Tensors are exposed in host memory and documented as little-endian. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "attest-gpt/1 needs a little-endian host"
#endif

static const char *const layer_names[PER_LAYER] = {
    "ln1.w", "ln1.b", "attn.qkv.w", "attn.qkv.b", "attn.proj.w", "attn.proj.b",
    "ln2.w", "ln2.b", "mlp.fc.w",   "mlp.fc.b",   "mlp.proj.w",  "mlp.proj.b",
};

static void set_err(char *err, size_t errsz, const char *msg)
{
    if (err && errsz) snprintf(err, errsz, "%s", msg);
}

static int is_finite(float x)
{
    return x == x && x - x == 0.0f;
}

void gpt_config_default(gpt_config *c)
{
    memset(c, 0, sizeof *c);
    c->layers = 4;
    c->heads = 4;
    c->width = 96;
    c->context = 64;
    c->batch = 16;
    c->steps = 400;
    c->warmup = 40;
    c->lr_max = 3e-3f;
    c->lr_min = 3e-4f;
    c->beta1 = 0.9f;
    c->beta2 = 0.95f;
    c->eps = 1e-8f;
    c->weight_decay = 0.1f;
    c->clip = 1.0f;
    c->seed = 1234;
    c->data_seed = 5678;
}

int gpt_config_check(const gpt_config *c, char *err, size_t errsz)
{
    char buf[160];
    const char *msg = NULL;

    if (!c)
        msg = "config: NULL";
    else if (c->layers < 1 || c->layers > GPT_MAX_LAYERS)
        msg = "layers: must be 1..64";
    else if (c->width < 1 || c->width > GPT_MAX_WIDTH)
        msg = "width: must be 1..4096";
    else if (c->heads < 1 || c->width % c->heads != 0) {
        snprintf(buf, sizeof buf, "heads: must be >= 1 and divide width (%u)", c->width);
        msg = buf;
    } else if (c->context < 1 || c->context > GPT_MAX_CONTEXT)
        msg = "context: must be 1..4096";
    else if (c->batch < 1 || c->batch > GPT_MAX_BATCH)
        msg = "batch: must be 1..4096";
    else if (c->steps < 1)
        msg = "steps: must be >= 1";
    else if (c->warmup > c->steps)
        msg = "warmup: must be <= steps";
    else if (!is_finite(c->lr_max) || c->lr_max < 0.0f)
        msg = "lr_max: must be finite and >= 0";
    else if (!is_finite(c->lr_min) || c->lr_min < 0.0f || c->lr_min > c->lr_max)
        msg = "lr_min: must be finite, >= 0 and <= lr_max";
    else if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f))
        msg = "beta1: must be in [0, 1)";
    else if (!(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        msg = "beta2: must be in [0, 1)";
    else if (!is_finite(c->eps) || !(c->eps > 0.0f))
        msg = "eps: must be finite and > 0";
    else if (!is_finite(c->weight_decay) || c->weight_decay < 0.0f)
        msg = "weight_decay: must be finite and >= 0";
    else if (!is_finite(c->clip) || c->clip < 0.0f)
        msg = "clip: must be finite and >= 0";
    if (!msg) return 0;
    set_err(err, errsz, msg);
    return -1;
}

/* [SCHED-1] */
float gpt_lr(const gpt_config *c, uint64_t step)
{
    if (c->warmup > 0 && step <= c->warmup)
        return (float)((double)c->lr_max * (double)step / (double)c->warmup);
    uint64_t span = c->steps > c->warmup ? c->steps - c->warmup : 1;
    uint64_t into = step > c->warmup ? step - c->warmup : 0;
    double p = (double)into / (double)span;
    if (p > 1.0) p = 1.0;
    double cosv = gpt_cos(0x1.921fb54442d18p+1 * p);
    double lmax = c->lr_max, lmin = c->lr_min;
    return (float)(lmin + ((lmax - lmin) * 0.5) * (1.0 + cosv));
}

/* [DATA-1] */
int gpt_batch_windows(const gpt_config *c, uint64_t step, const uint64_t *samples, size_t n_shards,
                      gpt_window *out)
{
    uint64_t T = c->context, total = 0;

    for (size_t i = 0; i < n_shards; i++) {
        uint64_t w = samples[i] > T ? samples[i] - T : 0;
        if (total + w < total) return -1; /* more than 2^64 - 1 windows */
        total += w;
    }
    if (total == 0) return -1;
    for (uint32_t b = 0; b < c->batch; b++) {
        uint64_t k = gpt_mulhi(gpt_value(c->data_seed, DATA_STREAM | step, b), total);
        size_t i = 0;
        for (;; i++) {
            uint64_t w = samples[i] > T ? samples[i] - T : 0;
            if (k < w) break;
            k -= w;
        }
        out[b].shard = (uint32_t)i;
        out[b].first = k;
    }
    return 0;
}

/* ---- sizes, with overflow checks ---- */

static int mulz(size_t *acc, size_t f)
{
    if (f != 0 && *acc > SIZE_MAX / f) return -1;
    *acc *= f;
    return 0;
}

static size_t prod(int *bad, size_t a, size_t b, size_t c)
{
    size_t r = a;
    if (mulz(&r, b) || mulz(&r, c)) *bad = 1;
    return r;
}

/* Carves n floats out of the arena (or only counts them when base is NULL). */
static float *carve(float *base, size_t *used, size_t n, int *bad)
{
    float *p = base ? base + *used : NULL;
    if (*used + n < *used) *bad = 1;
    *used += n;
    return p;
}

size_t gpt_layout(gpt *g, float *base, unsigned threads)
{
    const gpt_config *c = &g->cfg;
    size_t L = c->layers, C = c->width, T = c->context, B = c->batch, H = c->heads;
    int bad = 0;
    size_t N = B * T, used = 0;
    size_t nc = prod(&bad, N, C, 1), nc3 = prod(&bad, N, C, 3), nc4 = prod(&bad, N, C, 4);
    size_t probn = prod(&bad, B * H, T, T);
    size_t wide = 4 * C > 256 ? 4 * C : 256;

    for (size_t l = 0; l <= L; l++)
        g->res[l] = carve(base, &used, nc, &bad);
    for (size_t l = 0; l < L; l++) {
        struct layer_acts *a = &g->la[l];
        a->ln1_y = carve(base, &used, nc, &bad);
        a->ln1_xh = carve(base, &used, nc, &bad);
        a->ln1_rs = carve(base, &used, N, &bad);
        a->qkv = carve(base, &used, nc3, &bad);
        a->prob = carve(base, &used, probn, &bad);
        a->att = carve(base, &used, nc, &bad);
        a->x1 = carve(base, &used, nc, &bad);
        a->ln2_y = carve(base, &used, nc, &bad);
        a->ln2_xh = carve(base, &used, nc, &bad);
        a->ln2_rs = carve(base, &used, N, &bad);
        a->fc_u = carve(base, &used, nc4, &bad);
        a->fc_t = carve(base, &used, nc4, &bad);
        a->fc_g = carve(base, &used, nc4, &bad);
    }
    g->lnf_y = carve(base, &used, nc, &bad);
    g->lnf_xh = carve(base, &used, nc, &bad);
    g->lnf_rs = carve(base, &used, N, &bad);
    g->logits = carve(base, &used, prod(&bad, N, 256, 1), &bad);
    g->row_loss = carve(base, &used, N, &bad);
    g->tmp = carve(base, &used, prod(&bad, N, wide, 1), &bad);
    g->wt = carve(base, &used, prod(&bad, C, wide, 1), &bad);
    g->dres = carve(base, &used, nc, &bad);
    g->dtmp = carve(base, &used, nc, &bad);
    g->dqkv = carve(base, &used, nc3, &bad);
    g->datt = carve(base, &used, nc, &bad);
    g->scratch = carve(base, &used, prod(&bad, threads, T, 1 + 2 * (C / H)), &bad);
    if (bad || used > SIZE_MAX / sizeof(float)) return 0;
    return used;
}

/* ---- tensors ---- */

static void param_shape(const gpt_config *c, size_t i, uint32_t *rank, uint64_t shape[2])
{
    uint64_t C = c->width;
    size_t L = c->layers;

    *rank = 1;
    shape[1] = 0;
    if (i == P_WTE || i == P_WPE) {
        *rank = 2;
        shape[0] = i == P_WTE ? GPT_VOCAB : c->context;
        shape[1] = C;
        return;
    }
    if (i >= P_LAYER(L, 0)) {
        shape[0] = C; /* lnf.w, lnf.b */
        return;
    }
    switch ((i - 2) % PER_LAYER) {
    case QKV_W:
        *rank = 2, shape[0] = C, shape[1] = 3 * C;
        break;
    case QKV_B:
        shape[0] = 3 * C;
        break;
    case PROJ_W:
        *rank = 2, shape[0] = C, shape[1] = C;
        break;
    case FC_W:
        *rank = 2, shape[0] = C, shape[1] = 4 * C;
        break;
    case FC_B:
        shape[0] = 4 * C;
        break;
    case MPROJ_W:
        *rank = 2, shape[0] = 4 * C, shape[1] = C;
        break;
    default:
        shape[0] = C;
        break; /* LayerNorm weights and biases, projection biases */
    }
}

static void param_name(const gpt_config *c, size_t i, char *buf, size_t n)
{
    size_t L = c->layers;

    if (i == P_WTE)
        snprintf(buf, n, "wte");
    else if (i == P_WPE)
        snprintf(buf, n, "wpe");
    else if (i == P_LAYER(L, 0))
        snprintf(buf, n, "lnf.w");
    else if (i == P_LAYER(L, 1))
        snprintf(buf, n, "lnf.b");
    else
        snprintf(buf, n, "h.%zu.%s", (i - 2) / PER_LAYER, layer_names[(i - 2) % PER_LAYER]);
}

/* Builds the tensor list and allocates parameters, gradients and moments. */
static int make_tensors(gpt *g)
{
    const gpt_config *c = &g->cfg;
    size_t P = 2 + (size_t)c->layers * PER_LAYER + 2, total = 0, name_bytes = 0;
    char name[64];

    g->n_params = P;
    g->n_tensors = 3 * P + 1;
    g->tensors = calloc(g->n_tensors, sizeof *g->tensors);
    g->offset = calloc(P, sizeof *g->offset);
    if (!g->tensors || !g->offset) return -1;
    for (size_t i = 0; i < P; i++) {
        gpt_tensor *t = &g->tensors[i];
        param_shape(c, i, &t->rank, t->shape);
        g->offset[i] = total;
        total += (size_t)t->shape[0] * (t->rank == 2 ? (size_t)t->shape[1] : 1);
        param_name(c, i, name, sizeof name);
        name_bytes += 3 * (strlen(name) + 1) + 2 * strlen("adam.m.");
    }
    g->total = total;
    g->names = malloc(name_bytes + sizeof "state");
    g->param = calloc(total, sizeof(float));
    g->grad = calloc(total, sizeof(float));
    g->m = calloc(total, sizeof(float));
    g->v = calloc(total, sizeof(float));
    if (!g->names || !g->param || !g->grad || !g->m || !g->v) return -1;

    char *np = g->names;
    float *bufs[3] = {g->param, g->m, g->v};
    const char *prefix[3] = {"", "adam.m.", "adam.v."};
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < P; i++) {
            gpt_tensor *t = &g->tensors[k * P + i];
            param_name(c, i, name, sizeof name);
            t->name = np;
            np += sprintf(np, "%s%s", prefix[k], name) + 1;
            t->dtype = "F32";
            param_shape(c, i, &t->rank, t->shape);
            t->data = bufs[k] + g->offset[i];
            t->bytes = (uint64_t)t->shape[0] * (t->rank == 2 ? t->shape[1] : 1) * sizeof(float);
            t->is_param = k == 0;
        }
    gpt_tensor *s = &g->tensors[3 * P];
    strcpy(np, "state");
    s->name = np;
    s->dtype = "U64";
    s->rank = 1;
    s->shape[0] = 3;
    s->data = g->state;
    s->bytes = sizeof g->state;
    return 0;
}

/* [INIT-1] */
void gpt_init(gpt *g)
{
    const gpt_config *c = &g->cfg;
    float a_res = INIT_A / gpt_sqrt((float)(2 * c->layers));

    for (size_t i = 0; i < g->n_params; i++) {
        const gpt_tensor *t = &g->tensors[i];
        float *p = g->param + g->offset[i];
        size_t n = t->bytes / sizeof(float);
        size_t kind = i >= 2 && i < P_LAYER(c->layers, 0) ? (i - 2) % PER_LAYER : PER_LAYER;
        float a = INIT_A;
        if (kind == PROJ_W || kind == MPROJ_W) a = a_res;
        if (t->rank == 2) {
            for (size_t j = 0; j < n; j++) {
                float f = (float)(gpt_value(c->seed, i, j) >> 40) * 0x1p-24f;
                p[j] = (f * 2.0f - 1.0f) * a;
            }
        } else {
            /* LayerNorm weights are 1; biases, LayerNorm biases included, 0. */
            int ones = kind == LN1_W || kind == LN2_W || i == P_LAYER(c->layers, 0);
            for (size_t j = 0; j < n; j++)
                p[j] = ones ? 1.0f : 0.0f;
        }
    }
    memset(g->m, 0, g->total * sizeof(float));
    memset(g->v, 0, g->total * sizeof(float));
    memset(g->grad, 0, g->total * sizeof(float));
    g->state[0] = 0;
    g->state[1] = c->seed;
    g->state[2] = c->data_seed;
    g->dev_newer = 0;
    if (g->cu) gpt_cuda_push(g);
}

int gpt_device_parse(const char *name, gpt_device *d)
{
    if (name && strcmp(name, "cpu") == 0)
        *d = GPT_CPU;
    else if (name && strcmp(name, "cuda") == 0)
        *d = GPT_CUDA;
    else
        return -1;
    return 0;
}

const char *gpt_device_name(gpt_device d)
{
    return d == GPT_CUDA ? "cuda" : "cpu";
}

int gpt_cuda_available(char *err, size_t errsz)
{
    gpt_cuda_info info;
    return gpt_cuda_probe(&info, err, errsz);
}

int gpt_cuda_describe(gpt_cuda_info *info, char *err, size_t errsz)
{
    return gpt_cuda_probe(info, err, errsz);
}

int gpt_new(gpt **out, const gpt_config *c, unsigned threads, char *err, size_t errsz)
{
    return gpt_new_on(out, c, GPT_CPU, threads, err, errsz);
}

int gpt_new_on(gpt **out, const gpt_config *c, gpt_device d, unsigned threads, char *err,
               size_t errsz)
{
    gpt *g = NULL;

    *out = NULL;
    if (gpt_config_check(c, err, errsz) != 0) return -1;
    if (d != GPT_CPU && d != GPT_CUDA) {
        set_err(err, errsz, "device: must be cpu or cuda");
        return -1;
    }
    if (threads < 1 || threads > GPT_MAX_THREADS) {
        set_err(err, errsz, "threads: must be 1..256");
        return -1;
    }
    if (d == GPT_CUDA) threads = 1;
    g = calloc(1, sizeof *g);
    if (!g) goto nomem;
    g->cfg = *c;
    g->device = d;
    g->res = calloc((size_t)c->layers + 1, sizeof *g->res);
    g->la = calloc(c->layers, sizeof *g->la);
    if (!g->res || !g->la || make_tensors(g) != 0) goto nomem;
    size_t n = gpt_layout(g, NULL, threads);
    if (n == 0) goto nomem;
    size_t N = (size_t)c->batch * c->context;
    g->inputs = malloc(N);
    g->targets = malloc(N);
    if (!g->inputs || !g->targets) goto nomem;
    if (d == GPT_CPU) {
        g->arena = calloc(n, sizeof(float));
        if (!g->arena) goto nomem;
        gpt_layout(g, g->arena, threads);
        if (gpt_pool_new(&g->pool, threads) != 0) {
            set_err(err, errsz, "threads: could not start the worker threads");
            gpt_free(g);
            return -1;
        }
    }
    gpt_init(g);
    if (d == GPT_CUDA && gpt_cuda_open(g, err, errsz) != 0) { /* lays out and pushes */
        gpt_free(g);
        return -1;
    }
    *out = g;
    return 0;

nomem:
    set_err(err, errsz, "out of memory (the model is too large)");
    gpt_free(g);
    return -1;
}

void gpt_free(gpt *g)
{
    if (!g) return;
    if (g->cu) gpt_cuda_close(g);
    gpt_pool_free(g->pool);
    free(g->arena);
    free(g->inputs);
    free(g->targets);
    free(g->res);
    free(g->la);
    free(g->tensors);
    free(g->names);
    free(g->offset);
    free(g->param);
    free(g->grad);
    free(g->m);
    free(g->v);
    free(g);
}

gpt_device gpt_device_of(const gpt *g)
{
    return g->device;
}

const char *gpt_error(const gpt *g)
{
    return g->error[0] ? g->error : NULL;
}

/* Brings the host copies up to date after device steps (they are logically const). */
static void host_sync(const gpt *cg)
{
    gpt *g = (gpt *)cg;
    if (g->cu && g->dev_newer && !g->error[0]) {
        if (gpt_cuda_pull(g) != 0) return;
        g->dev_newer = 0;
    }
}

const gpt_config *gpt_config_of(const gpt *g)
{
    return &g->cfg;
}

size_t gpt_tensor_count(const gpt *g)
{
    return g->n_tensors;
}

const gpt_tensor *gpt_tensor_at(const gpt *g, size_t i)
{
    host_sync(g);
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gpt_tensor *gpt_tensor_find(const gpt *g, const char *name)
{
    host_sync(g);
    for (size_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

int gpt_sync_state(gpt *g, char *err, size_t errsz)
{
    char buf[160];

    if (g->state[1] != g->cfg.seed || g->state[2] != g->cfg.data_seed) {
        snprintf(buf, sizeof buf,
                 "state: seed %llu / data_seed %llu differ from the configuration's %llu / %llu",
                 (unsigned long long)g->state[1], (unsigned long long)g->state[2],
                 (unsigned long long)g->cfg.seed, (unsigned long long)g->cfg.data_seed);
        set_err(err, errsz, buf);
        return -1;
    }
    /* The host copies are the newer ones unless nobody looked at them since the last step. */
    if (g->cu && !g->dev_newer && gpt_cuda_push(g) != 0) {
        set_err(err, errsz, g->error);
        return -1;
    }
    return 0;
}

uint64_t gpt_step(const gpt *g)
{
    return g->state[0];
}

const float *gpt_grad(const gpt *g, size_t i)
{
    host_sync(g);
    return i < g->n_params ? g->grad + g->offset[i] : NULL;
}

/* ---- forward and backward ---- */

static float *P(gpt *g, size_t i)
{
    return g->param + g->offset[i];
}

static float *G(gpt *g, size_t i)
{
    return g->grad + g->offset[i];
}

struct embed_job {
    gpt *g;
};

/* [FWD-1] rows are the items. */
static void embed_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    gpt *g = ((struct embed_job *)ctx)->g;
    size_t C = g->cfg.width, T = g->cfg.context;
    const float *wte = P(g, P_WTE), *wpe = P(g, P_WPE);
    (void)thread;
    for (size_t n = begin; n < end; n++) {
        const float *e = wte + (size_t)g->inputs[n] * C, *q = wpe + (n % T) * C;
        float *x = g->res[0] + n * C;
        for (size_t c = 0; c < C; c++)
            x[c] = e[c] + q[c];
    }
}

/* [BWD-9] column chunks of 8 are the items. */
static void embed_back_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    gpt *g = ((struct embed_job *)ctx)->g;
    size_t C = g->cfg.width, T = g->cfg.context, B = g->cfg.batch;
    size_t c0 = begin * 8, c1 = end * 8 < C ? end * 8 : C;
    float *dwte = G(g, P_WTE), *dwpe = G(g, P_WPE);
    (void)thread;
    for (size_t n = 0; n < B * T; n++) {
        float *dst = dwte + (size_t)g->inputs[n] * C;
        const float *d = g->dres + n * C;
        for (size_t c = c0; c < c1; c++)
            dst[c] = dst[c] + d[c];
    }
    for (size_t t = 0; t < T; t++)
        for (size_t c = c0; c < c1; c++) {
            float acc = 0.0f;
            for (size_t b = 0; b < B; b++)
                acc += g->dres[(b * T + t) * C + c];
            dwpe[t * C + c] = acc;
        }
}

/* ENGINE.md section 6: the loss; the activations stay for backward(). */
static float forward(gpt *g, const uint8_t *tokens)
{
    const gpt_config *c = &g->cfg;
    size_t L = c->layers, C = c->width, T = c->context, B = c->batch, N = B * T;
    gpt_pool *pool = g->pool;
    gpt_att_shape as = {B, T, C, c->heads, 1.0f / gpt_sqrt((float)(C / c->heads))};
    struct embed_job ej = {g};

    for (size_t b = 0; b < B; b++) {
        memcpy(g->inputs + b * T, tokens + b * (T + 1), T);
        memcpy(g->targets + b * T, tokens + b * (T + 1) + 1, T);
    }

    /* forward */
    gpt_pool_run(pool, embed_job, &ej, N);
    for (size_t l = 0; l < L; l++) {
        struct layer_acts *a = &g->la[l];
        gpt_op_layernorm(pool, a->ln1_y, a->ln1_xh, a->ln1_rs, g->res[l], P(g, P_LAYER(l, LN1_W)),
                         P(g, P_LAYER(l, LN1_B)), N, C, LN_EPS);
        gpt_op_matmul(pool, a->qkv, a->ln1_y, P(g, P_LAYER(l, QKV_W)), P(g, P_LAYER(l, QKV_B)), N,
                      C, 3 * C);
        gpt_op_attention(pool, a->att, a->prob, a->qkv, &as, g->scratch);
        gpt_op_matmul(pool, g->tmp, a->att, P(g, P_LAYER(l, PROJ_W)), P(g, P_LAYER(l, PROJ_B)), N,
                      C, C);
        gpt_op_add(pool, a->x1, g->res[l], g->tmp, N * C);
        gpt_op_layernorm(pool, a->ln2_y, a->ln2_xh, a->ln2_rs, a->x1, P(g, P_LAYER(l, LN2_W)),
                         P(g, P_LAYER(l, LN2_B)), N, C, LN_EPS);
        gpt_op_matmul(pool, a->fc_u, a->ln2_y, P(g, P_LAYER(l, FC_W)), P(g, P_LAYER(l, FC_B)), N, C,
                      4 * C);
        gpt_op_gelu(pool, a->fc_g, a->fc_t, a->fc_u, N * 4 * C);
        gpt_op_matmul(pool, g->tmp, a->fc_g, P(g, P_LAYER(l, MPROJ_W)), P(g, P_LAYER(l, MPROJ_B)),
                      N, 4 * C, C);
        gpt_op_add(pool, g->res[l + 1], a->x1, g->tmp, N * C);
    }
    size_t lnf = P_LAYER(L, 0);
    gpt_op_layernorm(pool, g->lnf_y, g->lnf_xh, g->lnf_rs, g->res[L], P(g, lnf), P(g, lnf + 1), N,
                     C, LN_EPS);
    gpt_op_transpose(g->wt, P(g, P_WTE), GPT_VOCAB, C);
    gpt_op_matmul(pool, g->logits, g->lnf_y, g->wt, NULL, N, C, GPT_VOCAB);
    return gpt_op_crossentropy(pool, g->logits, g->row_loss, g->targets, N);
}

/* ENGINE.md section 7, after forward(). */
static void backward(gpt *g)
{
    const gpt_config *c = &g->cfg;
    size_t L = c->layers, C = c->width, T = c->context, B = c->batch, N = B * T;
    gpt_pool *pool = g->pool;
    gpt_att_shape as = {B, T, C, c->heads, 1.0f / gpt_sqrt((float)(C / c->heads))};
    struct embed_job ej = {g};
    size_t lnf = P_LAYER(L, 0);

    /* g->logits holds dlogits */
    gpt_op_matmul_wgrad(pool, G(g, P_WTE), g->logits, g->lnf_y, N, GPT_VOCAB, C);
    gpt_op_matmul(pool, g->dtmp, g->logits, P(g, P_WTE), NULL, N, GPT_VOCAB, C);
    memset(g->dres, 0, N * C * sizeof(float));
    gpt_op_layernorm_back(pool, g->dres, G(g, lnf), G(g, lnf + 1), g->dtmp, g->lnf_xh, g->lnf_rs,
                          P(g, lnf), N, C);
    for (size_t l = L; l-- > 0;) {
        struct layer_acts *a = &g->la[l];
        gpt_op_matmul_wgrad(pool, G(g, P_LAYER(l, MPROJ_W)), a->fc_g, g->dres, N, 4 * C, C);
        gpt_op_colsum(pool, G(g, P_LAYER(l, MPROJ_B)), g->dres, NULL, N, C);
        gpt_op_transpose(g->wt, P(g, P_LAYER(l, MPROJ_W)), 4 * C, C);
        gpt_op_matmul(pool, g->tmp, g->dres, g->wt, NULL, N, C, 4 * C);
        gpt_op_gelu_back(pool, g->tmp, a->fc_u, a->fc_t, N * 4 * C);
        gpt_op_matmul_wgrad(pool, G(g, P_LAYER(l, FC_W)), a->ln2_y, g->tmp, N, C, 4 * C);
        gpt_op_colsum(pool, G(g, P_LAYER(l, FC_B)), g->tmp, NULL, N, 4 * C);
        gpt_op_transpose(g->wt, P(g, P_LAYER(l, FC_W)), C, 4 * C);
        gpt_op_matmul(pool, g->dtmp, g->tmp, g->wt, NULL, N, 4 * C, C);
        gpt_op_layernorm_back(pool, g->dres, G(g, P_LAYER(l, LN2_W)), G(g, P_LAYER(l, LN2_B)),
                              g->dtmp, a->ln2_xh, a->ln2_rs, P(g, P_LAYER(l, LN2_W)), N, C);

        gpt_op_matmul_wgrad(pool, G(g, P_LAYER(l, PROJ_W)), a->att, g->dres, N, C, C);
        gpt_op_colsum(pool, G(g, P_LAYER(l, PROJ_B)), g->dres, NULL, N, C);
        gpt_op_transpose(g->wt, P(g, P_LAYER(l, PROJ_W)), C, C);
        gpt_op_matmul(pool, g->datt, g->dres, g->wt, NULL, N, C, C);
        gpt_op_attention_back(pool, g->dqkv, g->datt, a->prob, a->qkv, &as, g->scratch);
        gpt_op_matmul_wgrad(pool, G(g, P_LAYER(l, QKV_W)), a->ln1_y, g->dqkv, N, C, 3 * C);
        gpt_op_colsum(pool, G(g, P_LAYER(l, QKV_B)), g->dqkv, NULL, N, 3 * C);
        gpt_op_transpose(g->wt, P(g, P_LAYER(l, QKV_W)), C, 3 * C);
        gpt_op_matmul(pool, g->dtmp, g->dqkv, g->wt, NULL, N, 3 * C, C);
        gpt_op_layernorm_back(pool, g->dres, G(g, P_LAYER(l, LN1_W)), G(g, P_LAYER(l, LN1_B)),
                              g->dtmp, a->ln1_xh, a->ln1_rs, P(g, P_LAYER(l, LN1_W)), N, C);
    }
    gpt_pool_run(pool, embed_back_job, &ej, (C + 7) / 8);
}

static float forward_backward(gpt *g, const uint8_t *tokens)
{
    float loss = forward(g, tokens);
    backward(g);
    return loss;
}

int gpt_sequence_losses(gpt *g, const uint8_t *tokens, double *out)
{
    size_t T = g->cfg.context, B = g->cfg.batch;
    const float *row = g->row_loss;
    float *dev_rows = NULL;
    if (g->cu) {
        if (g->error[0]) return -1;
        if (!(dev_rows = malloc(B * T * sizeof *dev_rows))) {
            snprintf(g->error, sizeof g->error, "gpt_sequence_losses: out of memory");
            return -1;
        }
        if (gpt_cuda_row_losses(g, tokens, dev_rows) != 0) {
            free(dev_rows);
            return -1;
        }
        row = dev_rows;
    } else {
        forward(g, tokens);
    }
    for (size_t b = 0; b < B; b++) {
        double sum = 0;
        for (size_t t = 0; t < T; t++)
            sum += row[b * T + t];
        out[b] = sum / (double)T;
    }
    free(dev_rows);
    return 0;
}

float gpt_forward_backward(gpt *g, const uint8_t *tokens)
{
    if (g->cu) {
        float loss = __builtin_nanf("");
        if (!g->error[0] && gpt_cuda_forward_backward(g, tokens, &loss) == 0) g->dev_newer = 1;
        return loss;
    }
    return forward_backward(g, tokens);
}

/* ---- AdamW ---- */

struct adam_job {
    gpt *g;
    float coef; /* clipping factor */
    int clip;
    float decay, step_size, bc2s, omb1, omb2;
};

#define ADAM_CHUNK 4096u

/* [OPT-2] chunks of the flat parameter array are the items. */
static void adam_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct adam_job *a = ctx;
    gpt *g = a->g;
    const gpt_config *c = &g->cfg;
    size_t e0 = begin * ADAM_CHUNK, e1 = end * ADAM_CHUNK < g->total ? end * ADAM_CHUNK : g->total;
    (void)thread;
    for (size_t i = 0; i < g->n_params; i++) {
        size_t o0 = g->offset[i], o1 = o0 + g->tensors[i].bytes / sizeof(float);
        size_t s0 = o0 > e0 ? o0 : e0, s1 = o1 < e1 ? o1 : e1;
        int decay = g->tensors[i].rank == 2;
        for (size_t k = s0; k < s1; k++) {
            float gr = g->grad[k];
            if (a->clip) gr = gr * a->coef;
            float p = g->param[k];
            if (decay) p = p * a->decay;
            float m = g->m[k] * c->beta1 + gr * a->omb1;
            float v = g->v[k] * c->beta2 + (gr * gr) * a->omb2;
            float denom = gpt_sqrt(v) / a->bc2s + c->eps;
            g->m[k] = m;
            g->v[k] = v;
            g->param[k] = p - a->step_size * (m / denom);
        }
    }
}

void gpt_train_step(gpt *g, const uint8_t *tokens, gpt_step_result *res)
{
    const gpt_config *c = &g->cfg;
    uint64_t s = g->state[0] + 1;
    float lr = gpt_lr(c, s);

    if (g->cu) {
        gpt_step_result r = {__builtin_nanf(""), __builtin_nanf(""), lr};
        if (!g->error[0] && gpt_cuda_train_step(g, tokens, s, lr, &r) == 0) g->dev_newer = 1;
        g->state[0] = s;
        if (res) *res = r;
        return;
    }
    float loss = forward_backward(g, tokens);

    /* [OPT-1] */
    double sq = 0.0;
    for (size_t k = 0; k < g->total; k++)
        sq += (double)g->grad[k] * (double)g->grad[k];
    float norm = gpt_sqrt((float)sq);

    struct adam_job a = {g, 1.0f, 0, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f};
    if (c->clip > 0.0f) {
        a.coef = c->clip / (norm + 1e-6f);
        a.clip = a.coef < 1.0f;
    }
    double bc1 = 1.0 - gpt_powi((double)c->beta1, s);
    double bc2 = 1.0 - gpt_powi((double)c->beta2, s);
    a.decay = (float)(1.0 - (double)lr * (double)c->weight_decay);
    a.step_size = (float)((double)lr / bc1);
    a.bc2s = gpt_sqrt((float)bc2);
    a.omb1 = 1.0f - c->beta1;
    a.omb2 = 1.0f - c->beta2;
    gpt_pool_run(g->pool, adam_job, &a, (g->total + ADAM_CHUNK - 1) / ADAM_CHUNK);
    g->state[0] = s;
    if (res) {
        res->loss = loss;
        res->grad_norm = norm;
        res->lr = lr;
    }
}
