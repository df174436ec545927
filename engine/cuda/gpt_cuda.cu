/*
 * engine/cuda/gpt_cuda.cu - attest-gpt/1 on an NVIDIA GPU: device memory
 * for the model and its activations, the forward and backward pass of
 * ENGINE.md sections 6-7 and the optimizer step of section 8, as kernel
 * launches (kernels.cu) in the CPU engine's order. A step copies its
 * tokens in and its loss and gradient norm out; nothing else crosses to the
 * host until gpt_tensor_at or gpt_grad asks for the tensors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef GPT_CUDA_EMU
#include <cuda_runtime.h>
#endif

#include "gpt_internal.h"
#include "kernels.h"

extern "C" {
#include "gpt_math.h"
}

/* Device floats that partial sums of the blocked reductions may use. */
#define PART_MAX ((size_t)1 << 27)

/* GPT_CUDA_PROFILE=1: time per kind of work (synchronizing after each), printed by gpt_free. */
enum { PROF_MM, PROF_WGRAD, PROF_ATT, PROF_LN, PROF_ELEM, PROF_NORM, PROF_ADAM, PROF_N };
static const char *const prof_names[PROF_N] = {
    "products", "weight gradients", "attention", "layernorm", "elementwise", "norm", "adamw",
};

struct gpt_cuda {
    int prof;
    double prof_s[PROF_N], prof_last;
    unsigned long prof_steps;
    float *param, *grad, *m, *v; /* g->total floats each */
    float *arena;                /* activations, laid out by gpt_layout */
    float *dp;                   /* attention score gradients [B H, T, T] */
    float *part;                 /* partial sums of blocked reductions */
    size_t part_n;
    float *scal;     /* loss, norm, coef, clipping active */
    void *norm_scratch; /* gk_grad_norm's */
    uint8_t *tokens; /* inputs [N], targets [N] */
};

static int fail(char *err, size_t errsz, const char *what, cudaError_t e)
{
    if (err && errsz) snprintf(err, errsz, "device cuda: %s: %s", what, cudaGetErrorString(e));
    return -1;
}

/* Binary32 lanes per SM by compute capability (CUDA C Programming Guide, throughput table). */
static unsigned fp32_lanes(int major, int minor)
{
    if (major == 8 && minor == 0) return 64; /* A100 */
    if (major >= 8) return 128;              /* Ampere (8.6+), Ada, Hopper, Blackwell */
    return 64;
}

extern "C" int gpt_cuda_probe(gpt_cuda_info *info, char *err, size_t errsz)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        if (err && errsz)
            snprintf(err, errsz, "device cuda: no usable NVIDIA GPU (the CUDA runtime says: %s)",
                     cudaGetErrorString(e));
        return -1;
    }
    if (n < 1) {
        if (err && errsz) snprintf(err, errsz, "device cuda: no NVIDIA GPU found");
        return -1;
    }
    cudaDeviceProp prop;
    int mhz = 0;
    if ((e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&mhz, cudaDevAttrClockRate, 0)) != cudaSuccess)
        return fail(err, errsz, "cannot query GPU 0", e);
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->sms = (unsigned)prop.multiProcessorCount;
    info->mhz = (unsigned)(mhz / 1000);
    info->fp32_per_sm = fp32_lanes(prop.major, prop.minor);
    info->mem_gib = (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0);
    if (err && errsz)
        snprintf(err, errsz, "%s, %u SMs at %u MHz, %.1f GiB", info->name, info->sms, info->mhz,
                 info->mem_gib);
    return 0;
}

static size_t max3(size_t a, size_t b, size_t c)
{
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

extern "C" int gpt_cuda_open(gpt *g, char *err, size_t errsz)
{
    const gpt_config *c = &g->cfg;
    size_t C = c->width, T = c->context, B = c->batch, H = c->heads, N = B * T;
    cudaError_t e;

    gpt_cuda_info info;
    if (gpt_cuda_probe(&info, err, errsz) != 0) return -1;
    if ((e = cudaSetDevice(0)) != cudaSuccess) return fail(err, errsz, "cannot use GPU 0", e);
    g->cu = (struct gpt_cuda *)calloc(1, sizeof *g->cu);
    if (!g->cu) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    struct gpt_cuda *d = g->cu;
    const char *prof = getenv("GPT_CUDA_PROFILE");
    d->prof = prof && *prof && strcmp(prof, "0") != 0;
    size_t arena_n = gpt_layout(g, NULL, 1);
    size_t nb = (N + GK_ROW_BLOCK - 1) / GK_ROW_BLOCK;
    size_t widest = max3(4 * C * C, GPT_VOCAB * C, 4 * C);
    size_t groups = PART_MAX / widest ? PART_MAX / widest : 1;
    d->part_n = (nb < groups ? nb : groups) * widest;
    struct {
        void **p;
        size_t bytes;
    } allocs[] = {
        {(void **)&d->param, g->total * sizeof(float)},
        {(void **)&d->grad, g->total * sizeof(float)},
        {(void **)&d->m, g->total * sizeof(float)},
        {(void **)&d->v, g->total * sizeof(float)},
        {(void **)&d->arena, arena_n * sizeof(float)},
        {(void **)&d->dp, B * H * T * T * sizeof(float)},
        {(void **)&d->part, d->part_n * sizeof(float)},
        {(void **)&d->scal, 4 * sizeof(float)},
        {(void **)&d->tokens, 2 * N},
        {&d->norm_scratch, gk_grad_norm_scratch(g->total)},
    };
    for (size_t i = 0; i < sizeof allocs / sizeof allocs[0]; i++) {
        if ((e = cudaMalloc(allocs[i].p, allocs[i].bytes)) != cudaSuccess) {
            char what[96];
            snprintf(what, sizeof what, "cannot allocate %.1f MiB of GPU memory",
                     (double)allocs[i].bytes / (1024.0 * 1024.0));
            return fail(err, errsz, what, e);
        }
        if ((e = cudaMemset(*allocs[i].p, 0, allocs[i].bytes)) != cudaSuccess)
            return fail(err, errsz, "cannot clear GPU memory", e);
    }
    gpt_layout(g, d->arena, 1);
    if (gpt_cuda_push(g) != 0) {
        snprintf(err, errsz, "%s", g->error);
        return -1;
    }
    return 0;
}

extern "C" void gpt_cuda_close(gpt *g)
{
    struct gpt_cuda *d = g->cu;
    if (!d) return;
    if (d->prof && d->prof_steps) {
        fprintf(stderr, "gpt cuda profile, ms per step over %lu steps:", d->prof_steps);
        for (int k = 0; k < PROF_N; k++)
            fprintf(stderr, " %s %.2f%s", prof_names[k], 1e3 * d->prof_s[k] / (double)d->prof_steps,
                    k + 1 < PROF_N ? ";" : "\n");
    }
    void *ptrs[] = {d->param, d->grad, d->m,    d->v,      d->arena,
                    d->dp,    d->part, d->scal, d->tokens, d->norm_scratch};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        if (ptrs[i]) cudaFree(ptrs[i]);
    free(d);
    g->cu = NULL;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Adds the time since the last mark to kind k (k < 0: only starts the clock). */
static void mark(struct gpt_cuda *d, int k)
{
    if (!d->prof) return;
    cudaDeviceSynchronize();
    double t = seconds();
    if (k >= 0) d->prof_s[k] += t - d->prof_last;
    d->prof_last = t;
}

static int copy(gpt *g, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                const char *what)
{
    cudaError_t e = cudaMemcpy(dst, src, bytes, kind);
    if (e != cudaSuccess) return fail(g->error, sizeof g->error, what, e);
    return 0;
}

extern "C" int gpt_cuda_push(gpt *g)
{
    struct gpt_cuda *d = g->cu;
    size_t bytes = g->total * sizeof(float);
    if (copy(g, d->param, g->param, bytes, cudaMemcpyHostToDevice, "copying parameters in") ||
        copy(g, d->m, g->m, bytes, cudaMemcpyHostToDevice, "copying moments in") ||
        copy(g, d->v, g->v, bytes, cudaMemcpyHostToDevice, "copying moments in"))
        return -1;
    return 0;
}

extern "C" int gpt_cuda_pull(gpt *g)
{
    struct gpt_cuda *d = g->cu;
    size_t bytes = g->total * sizeof(float);
    if (copy(g, g->param, d->param, bytes, cudaMemcpyDeviceToHost, "copying parameters out") ||
        copy(g, g->m, d->m, bytes, cudaMemcpyDeviceToHost, "copying moments out") ||
        copy(g, g->v, d->v, bytes, cudaMemcpyDeviceToHost, "copying moments out") ||
        copy(g, g->grad, d->grad, bytes, cudaMemcpyDeviceToHost, "copying gradients out"))
        return -1;
    return 0;
}

/* ---- the layers, as gk_gemm calls ---- */

static gk_gemm gemm0(int M, int N, int K)
{
    gk_gemm p;
    memset(&p, 0, sizeof p);
    p.M = M, p.N = N, p.K = K, p.Z = 1, p.Z2 = 1, p.scale = 1.0f;
    return p;
}

/* y[n, o] = bias[o] + sum_i x[n, i] w[i, o] ([OP-MM]). */
static void mm(float *y, const float *x, const float *w, const float *bias, size_t n, size_t in,
               size_t out)
{
    gk_gemm p = gemm0((int)n, (int)out, (int)in);
    p.a = x, p.sam = (long long)in, p.sak = 1;
    p.b = w, p.sbk = (long long)out, p.sbn = 1;
    p.c = y, p.scm = (long long)out, p.scn = 1;
    p.bias = bias;
    gk_gemm_run(&p);
}

/* dx[r, i] = sum_o dy[r, o] w[i, o] ([OP-DX]). */
static void mm_dx(float *dx, const float *dy, const float *w, size_t n, size_t in, size_t out)
{
    gk_gemm p = gemm0((int)n, (int)in, (int)out);
    p.a = dy, p.sam = (long long)out, p.sak = 1;
    p.b = w, p.sbk = 1, p.sbn = (long long)out;
    p.c = dx, p.scm = (long long)in, p.scn = 1;
    gk_gemm_run(&p);
}

/* dw[i, o] = blocked sum over rows r of x[r, i] dy[r, o] ([OP-WG]). */
static void mm_wgrad(struct gpt_cuda *d, float *dw, const float *x, const float *dy, size_t n,
                     size_t in, size_t out)
{
    size_t nb = (n + GK_ROW_BLOCK - 1) / GK_ROW_BLOCK, group = d->part_n / (in * out);
    for (size_t b0 = 0; b0 < nb; b0 += group) {
        size_t zb = nb - b0 < group ? nb - b0 : group, r0 = b0 * GK_ROW_BLOCK;
        gk_gemm p = gemm0((int)in, (int)out, (int)(n - r0));
        p.a = x + r0 * in, p.sam = 1, p.sak = (long long)in;
        p.a_z1 = (long long)(GK_ROW_BLOCK * in);
        p.b = dy + r0 * out, p.sbk = (long long)out, p.sbn = 1;
        p.b_z1 = (long long)(GK_ROW_BLOCK * out);
        p.c = d->part, p.scm = (long long)out, p.scn = 1, p.c_z1 = (long long)(in * out);
        p.Z = (int)zb, p.kblock = GK_ROW_BLOCK;
        gk_gemm_run(&p);
        gk_blockreduce(dw, d->part, zb, in * out, b0 == 0);
    }
}

/* db[o] = blocked sum over rows of dy[r, o] (x xh[r, o]). */
static void colsum(struct gpt_cuda *d, float *db, const float *dy, const float *xh, size_t n,
                   size_t out)
{
    size_t nb = (n + GK_ROW_BLOCK - 1) / GK_ROW_BLOCK, group = d->part_n / out;
    for (size_t b0 = 0; b0 < nb; b0 += group) {
        size_t zb = nb - b0 < group ? nb - b0 : group, r0 = b0 * GK_ROW_BLOCK;
        size_t rows = n - r0 < zb * GK_ROW_BLOCK ? n - r0 : zb * GK_ROW_BLOCK;
        gk_colsum_parts(d->part, dy + r0 * out, xh ? xh + r0 * out : NULL, rows, out);
        gk_blockreduce(db, d->part, zb, out, b0 == 0);
    }
}

static void layernorm_back(struct gpt_cuda *d, float *dres, float *dw, float *db, const float *dy,
                           const float *xh, const float *rstd, const float *w, size_t n, size_t c)
{
    colsum(d, dw, dy, xh, n, c);
    colsum(d, db, dy, NULL, n, c);
    gk_layernorm_back_rows(dres, dy, xh, rstd, w, n, c);
}

/* A batched product over (sequence b, head h) = z; strides of one (b, h) step each. */
struct att {
    size_t B, T, C, H, hd;
    float scale;
};

static gk_gemm att_gemm(const struct att *s, int M, int N, int K)
{
    gk_gemm p = gemm0(M, N, K);
    p.Z = (int)(s->B * s->H), p.Z2 = (int)s->H;
    return p;
}

/* Operand of one head: rows t of a [B T, width] matrix, columns h hd + d. */
static void rows_op(const struct att *s, size_t width, long long *z1, long long *z2)
{
    *z1 = (long long)(s->T * width);
    *z2 = (long long)s->hd;
}

static void attention(struct gpt_cuda *d, const struct att *s, float *out, float *prob,
                      const float *qkv)
{
    size_t T = s->T, C3 = 3 * s->C, TT = T * T;
    (void)d;
    /* scores s[t, u] = (sum_d q_t[d] k_u[d]) * scale, u <= t */
    gk_gemm p = att_gemm(s, (int)T, (int)T, (int)s->hd);
    p.a = qkv, p.sam = (long long)C3, p.sak = 1;
    rows_op(s, C3, &p.a_z1, &p.a_z2);
    p.b = qkv + s->C, p.sbk = 1, p.sbn = (long long)C3;
    rows_op(s, C3, &p.b_z1, &p.b_z2);
    p.c = prob, p.scm = (long long)T, p.scn = 1;
    p.c_z1 = (long long)(s->H * TT), p.c_z2 = (long long)TT;
    p.scale = s->scale, p.upper = 1;
    gk_gemm_run(&p);
    gk_softmax_causal(prob, s->B * s->H, T);
    /* out[t, d] = sum_{u <= t} p[t, u] v_u[d] */
    p = att_gemm(s, (int)T, (int)s->hd, (int)T);
    p.a = prob, p.sam = (long long)T, p.sak = 1;
    p.a_z1 = (long long)(s->H * TT), p.a_z2 = (long long)TT;
    p.b = qkv + 2 * s->C, p.sbk = (long long)C3, p.sbn = 1;
    rows_op(s, C3, &p.b_z1, &p.b_z2);
    p.c = out, p.scm = (long long)s->C, p.scn = 1;
    rows_op(s, s->C, &p.c_z1, &p.c_z2);
    p.kmode = GK_K_LE_M;
    gk_gemm_run(&p);
}

static void attention_back(struct gpt_cuda *d, const struct att *s, float *dqkv, const float *dout,
                           const float *prob, const float *qkv)
{
    size_t T = s->T, C = s->C, C3 = 3 * C, TT = T * T;
    long long pz1 = (long long)(s->H * TT), pz2 = (long long)TT;
    /* dp[t, u] = sum_d do_t[d] v_u[d] */
    gk_gemm p = att_gemm(s, (int)T, (int)T, (int)s->hd);
    p.a = dout, p.sam = (long long)C, p.sak = 1;
    rows_op(s, C, &p.a_z1, &p.a_z2);
    p.b = qkv + 2 * C, p.sbk = 1, p.sbn = (long long)C3;
    rows_op(s, C3, &p.b_z1, &p.b_z2);
    p.c = d->dp, p.scm = (long long)T, p.scn = 1, p.c_z1 = pz1, p.c_z2 = pz2;
    p.upper = 1;
    gk_gemm_run(&p);
    /* dv[u, d] = sum_{t >= u} p[t, u] do_t[d] */
    p = att_gemm(s, (int)T, (int)s->hd, (int)T);
    p.a = prob, p.sam = 1, p.sak = (long long)T, p.a_z1 = pz1, p.a_z2 = pz2;
    p.b = dout, p.sbk = (long long)C, p.sbn = 1;
    rows_op(s, C, &p.b_z1, &p.b_z2);
    p.c = dqkv + 2 * C, p.scm = (long long)C3, p.scn = 1;
    rows_op(s, C3, &p.c_z1, &p.c_z2);
    p.kmode = GK_K_GE_M;
    gk_gemm_run(&p);
    /* ds = (p (dp - S)) * scale */
    gk_attention_ds(d->dp, prob, s->B * s->H, T, s->scale);
    /* dq[t, d] = sum_{u <= t} ds[t, u] k_u[d] */
    p = att_gemm(s, (int)T, (int)s->hd, (int)T);
    p.a = d->dp, p.sam = (long long)T, p.sak = 1, p.a_z1 = pz1, p.a_z2 = pz2;
    p.b = qkv + C, p.sbk = (long long)C3, p.sbn = 1;
    rows_op(s, C3, &p.b_z1, &p.b_z2);
    p.c = dqkv, p.scm = (long long)C3, p.scn = 1;
    rows_op(s, C3, &p.c_z1, &p.c_z2);
    p.kmode = GK_K_LE_M;
    gk_gemm_run(&p);
    /* dk[u, d] = sum_{t >= u} ds[t, u] q_t[d] */
    p = att_gemm(s, (int)T, (int)s->hd, (int)T);
    p.a = d->dp, p.sam = 1, p.sak = (long long)T, p.a_z1 = pz1, p.a_z2 = pz2;
    p.b = qkv, p.sbk = (long long)C3, p.sbn = 1;
    rows_op(s, C3, &p.b_z1, &p.b_z2);
    p.c = dqkv + C, p.scm = (long long)C3, p.scn = 1;
    rows_op(s, C3, &p.c_z1, &p.c_z2);
    p.kmode = GK_K_GE_M;
    gk_gemm_run(&p);
}

#define PD(i) (d->param + g->offset[i])
#define GD(i) (d->grad + g->offset[i])

/* Launches ENGINE.md section 6; the loss lands in d->scal[0], each position's in g->row_loss,
 * and g->logits holds dlogits for backward(). */
static void forward(gpt *g)
{
    struct gpt_cuda *d = g->cu;
    const gpt_config *c = &g->cfg;
    size_t L = c->layers, C = c->width, T = c->context, B = c->batch, N = B * T;
    struct att s = {B, T, C, c->heads, C / c->heads, 1.0f / gpt_sqrt((float)(C / c->heads))};
    const uint8_t *in = d->tokens, *tg = d->tokens + N;
    mark(d, -1);

    gk_embed(g->res[0], PD(P_WTE), PD(P_WPE), in, N, T, C);
    mark(d, PROF_ELEM);
    for (size_t l = 0; l < L; l++) {
        struct layer_acts *a = &g->la[l];
        gk_layernorm(a->ln1_y, a->ln1_xh, a->ln1_rs, g->res[l], PD(P_LAYER(l, LN1_W)),
                     PD(P_LAYER(l, LN1_B)), N, C, LN_EPS);
        mark(d, PROF_LN);
        mm(a->qkv, a->ln1_y, PD(P_LAYER(l, QKV_W)), PD(P_LAYER(l, QKV_B)), N, C, 3 * C);
        mark(d, PROF_MM);
        attention(d, &s, a->att, a->prob, a->qkv);
        mark(d, PROF_ATT);
        mm(g->tmp, a->att, PD(P_LAYER(l, PROJ_W)), PD(P_LAYER(l, PROJ_B)), N, C, C);
        mark(d, PROF_MM);
        gk_add(a->x1, g->res[l], g->tmp, N * C);
        mark(d, PROF_ELEM);
        gk_layernorm(a->ln2_y, a->ln2_xh, a->ln2_rs, a->x1, PD(P_LAYER(l, LN2_W)),
                     PD(P_LAYER(l, LN2_B)), N, C, LN_EPS);
        mark(d, PROF_LN);
        mm(a->fc_u, a->ln2_y, PD(P_LAYER(l, FC_W)), PD(P_LAYER(l, FC_B)), N, C, 4 * C);
        mark(d, PROF_MM);
        gk_gelu(a->fc_g, a->fc_t, a->fc_u, N * 4 * C);
        mark(d, PROF_ELEM);
        mm(g->tmp, a->fc_g, PD(P_LAYER(l, MPROJ_W)), PD(P_LAYER(l, MPROJ_B)), N, 4 * C, C);
        mark(d, PROF_MM);
        gk_add(g->res[l + 1], a->x1, g->tmp, N * C);
        mark(d, PROF_ELEM);
    }
    size_t lnf = P_LAYER(L, 0);
    gk_layernorm(g->lnf_y, g->lnf_xh, g->lnf_rs, g->res[L], PD(lnf), PD(lnf + 1), N, C, LN_EPS);
    mark(d, PROF_LN);
    /* logits[n, v] = sum_c xf[n, c] wte[v, c]: wte read as its transpose */
    mm_dx(g->logits, g->lnf_y, PD(P_WTE), N, GPT_VOCAB, C);
    mark(d, PROF_MM);
    gk_crossentropy(g->logits, g->row_loss, d->scal, tg, N);
    mark(d, PROF_ELEM);
}

/* Launches ENGINE.md section 7, after forward(). */
static void backward(gpt *g)
{
    struct gpt_cuda *d = g->cu;
    const gpt_config *c = &g->cfg;
    size_t L = c->layers, C = c->width, T = c->context, B = c->batch, N = B * T;
    struct att s = {B, T, C, c->heads, C / c->heads, 1.0f / gpt_sqrt((float)(C / c->heads))};
    const uint8_t *in = d->tokens;
    size_t lnf = P_LAYER(L, 0);

    /* g->logits holds dlogits */
    mm_wgrad(d, GD(P_WTE), g->logits, g->lnf_y, N, GPT_VOCAB, C);
    mark(d, PROF_WGRAD);
    mm(g->dtmp, g->logits, PD(P_WTE), NULL, N, GPT_VOCAB, C);
    mark(d, PROF_MM);
    cudaMemset(g->dres, 0, N * C * sizeof(float));
    mark(d, PROF_ELEM);
    layernorm_back(d, g->dres, GD(lnf), GD(lnf + 1), g->dtmp, g->lnf_xh, g->lnf_rs, PD(lnf), N, C);
    mark(d, PROF_LN);
    for (size_t l = L; l-- > 0;) {
        struct layer_acts *a = &g->la[l];
        mm_wgrad(d, GD(P_LAYER(l, MPROJ_W)), a->fc_g, g->dres, N, 4 * C, C);
        mark(d, PROF_WGRAD);
        colsum(d, GD(P_LAYER(l, MPROJ_B)), g->dres, NULL, N, C);
        mark(d, PROF_WGRAD);
        mm_dx(g->tmp, g->dres, PD(P_LAYER(l, MPROJ_W)), N, 4 * C, C);
        mark(d, PROF_MM);
        gk_gelu_back(g->tmp, a->fc_u, a->fc_t, N * 4 * C);
        mark(d, PROF_ELEM);
        mm_wgrad(d, GD(P_LAYER(l, FC_W)), a->ln2_y, g->tmp, N, C, 4 * C);
        mark(d, PROF_WGRAD);
        colsum(d, GD(P_LAYER(l, FC_B)), g->tmp, NULL, N, 4 * C);
        mark(d, PROF_WGRAD);
        mm_dx(g->dtmp, g->tmp, PD(P_LAYER(l, FC_W)), N, C, 4 * C);
        mark(d, PROF_MM);
        layernorm_back(d, g->dres, GD(P_LAYER(l, LN2_W)), GD(P_LAYER(l, LN2_B)), g->dtmp,
                       a->ln2_xh, a->ln2_rs, PD(P_LAYER(l, LN2_W)), N, C);
        mark(d, PROF_LN);

        mm_wgrad(d, GD(P_LAYER(l, PROJ_W)), a->att, g->dres, N, C, C);
        mark(d, PROF_WGRAD);
        colsum(d, GD(P_LAYER(l, PROJ_B)), g->dres, NULL, N, C);
        mark(d, PROF_WGRAD);
        mm_dx(g->datt, g->dres, PD(P_LAYER(l, PROJ_W)), N, C, C);
        mark(d, PROF_MM);
        attention_back(d, &s, g->dqkv, g->datt, a->prob, a->qkv);
        mark(d, PROF_ATT);
        mm_wgrad(d, GD(P_LAYER(l, QKV_W)), a->ln1_y, g->dqkv, N, C, 3 * C);
        mark(d, PROF_WGRAD);
        colsum(d, GD(P_LAYER(l, QKV_B)), g->dqkv, NULL, N, 3 * C);
        mark(d, PROF_WGRAD);
        mm_dx(g->dtmp, g->dqkv, PD(P_LAYER(l, QKV_W)), N, C, 3 * C);
        mark(d, PROF_MM);
        layernorm_back(d, g->dres, GD(P_LAYER(l, LN1_W)), GD(P_LAYER(l, LN1_B)), g->dtmp,
                       a->ln1_xh, a->ln1_rs, PD(P_LAYER(l, LN1_W)), N, C);
        mark(d, PROF_LN);
    }
    gk_embed_back(GD(P_WTE), GD(P_WPE), g->dres, in, B, T, C);
    mark(d, PROF_ELEM);
}
#undef PD
#undef GD

static void forward_backward(gpt *g)
{
    forward(g);
    backward(g);
}

/* Tokens in: inputs then targets, as the CPU engine splits them. */
static int tokens_in(gpt *g, const uint8_t *tokens)
{
    const gpt_config *c = &g->cfg;
    size_t T = c->context, B = c->batch, N = B * T;
    for (size_t b = 0; b < B; b++) {
        memcpy(g->inputs + b * T, tokens + b * (T + 1), T);
        memcpy(g->targets + b * T, tokens + b * (T + 1) + 1, T);
    }
    return copy(g, g->cu->tokens, g->inputs, N, cudaMemcpyHostToDevice, "copying tokens in") ||
           copy(g, g->cu->tokens + N, g->targets, N, cudaMemcpyHostToDevice,
                "copying tokens in");
}

static int launched(gpt *g, const char *what)
{
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return fail(g->error, sizeof g->error, what, e);
    return 0;
}

extern "C" int gpt_cuda_forward_backward(gpt *g, const uint8_t *tokens, float *loss)
{
    if (tokens_in(g, tokens) != 0) return -1;
    forward_backward(g);
    if (launched(g, "forward and backward") != 0) return -1;
    return copy(g, loss, g->cu->scal, sizeof(float), cudaMemcpyDeviceToHost, "reading the loss");
}

extern "C" int gpt_cuda_row_losses(gpt *g, const uint8_t *tokens, float *row_loss)
{
    if (tokens_in(g, tokens) != 0) return -1;
    forward(g);
    if (launched(g, "forward") != 0) return -1;
    return copy(g, row_loss, g->row_loss, g->cfg.batch * g->cfg.context * sizeof(float),
                cudaMemcpyDeviceToHost, "reading the losses");
}

extern "C" int gpt_cuda_train_step(gpt *g, const uint8_t *tokens, uint64_t step, float lr,
                                   gpt_step_result *res)
{
    struct gpt_cuda *d = g->cu;
    const gpt_config *c = &g->cfg;

    if (tokens_in(g, tokens) != 0) return -1;
    forward_backward(g);
    gk_grad_norm(d->scal + 1, NULL, d->grad, g->total, c->clip, d->norm_scratch);
    mark(d, PROF_NORM);

    /* [OPT-2] scalars, on the host exactly as the CPU engine computes them */
    double bc1 = 1.0 - gpt_powi((double)c->beta1, step);
    double bc2 = 1.0 - gpt_powi((double)c->beta2, step);
    gk_adam a;
    a.beta1 = c->beta1, a.beta2 = c->beta2, a.eps = c->eps;
    a.decay = (float)(1.0 - (double)lr * (double)c->weight_decay);
    a.step_size = (float)((double)lr / bc1);
    a.bc2s = gpt_sqrt((float)bc2);
    a.omb1 = 1.0f - c->beta1;
    a.omb2 = 1.0f - c->beta2;
    for (size_t i = 0; i < g->n_params; i++) {
        size_t o = g->offset[i], n = g->tensors[i].bytes / sizeof(float);
        gk_adamw(d->param + o, d->grad + o, d->m + o, d->v + o, n, g->tensors[i].rank == 2,
                 d->scal + 1, &a);
    }
    mark(d, PROF_ADAM);
    d->prof_steps++;
    if (launched(g, "training step") != 0) return -1;
    float out[2];
    if (copy(g, out, d->scal, sizeof out, cudaMemcpyDeviceToHost, "reading the loss") != 0)
        return -1;
    res->loss = out[0];
    res->grad_norm = out[1];
    res->lr = lr;
    return 0;
}
