/*
 * engine/gpt_ops.c - the layer kernels of attest-gpt/1, forward and
 * backward. Each output is computed by one thread with the reduction order
 * of ENGINE.md section 5; threads only split independent outputs. Vector
 * types (GCC/Clang vector extensions) compute 4 independent outputs per
 * instruction, the same operations as scalar code, so the bits do not
 * depend on the tiling. Does not allocate; the caller owns every buffer.
 */
#include "gpt_ops.h"

#include <string.h>

#include "gpt_math.h"

typedef float v4f __attribute__((vector_size(16)));

static v4f ld4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void st4(float *p, v4f v)
{
    memcpy(p, &v, sizeof v);
}

/* Items of elementwise jobs: chunks of this many values. */
#define CHUNK 4096u

static size_t chunks(size_t n, size_t per)
{
    return (n + per - 1) / per;
}

/*
 * The product kernel: for r < R, j < J,
 *   acc = add ? 0 : c[r ldc + j];  acc = acc + a[r ars + k aks] * b[k ldb + j] for k = 0..K-1;
 *   c[r ldc + j] = add ? c[r ldc + j] + acc : acc.
 * Tiles of 4 rows x 8 columns; tails by 4 columns, then one column.
 */
struct gemm {
    float *c;
    size_t ldc;
    const float *a;
    size_t ars, aks;
    const float *b;
    size_t ldb;
    size_t J, K;
    int add;
};

static void gemm_rows4(const struct gemm *g, size_t r)
{
    const float *a0 = g->a + r * g->ars, *a1 = a0 + g->ars, *a2 = a1 + g->ars, *a3 = a2 + g->ars;
    float *c0 = g->c + r * g->ldc, *c1 = c0 + g->ldc, *c2 = c1 + g->ldc, *c3 = c2 + g->ldc;
    size_t aks = g->aks, ldb = g->ldb, K = g->K, j = 0;

    for (; j + 8 <= g->J; j += 8) {
        v4f z = {0, 0, 0, 0};
        v4f s00 = z, s01 = z, s10 = z, s11 = z, s20 = z, s21 = z, s30 = z, s31 = z;
        if (!g->add) {
            s00 = ld4(c0 + j), s01 = ld4(c0 + j + 4), s10 = ld4(c1 + j), s11 = ld4(c1 + j + 4);
            s20 = ld4(c2 + j), s21 = ld4(c2 + j + 4), s30 = ld4(c3 + j), s31 = ld4(c3 + j + 4);
        }
        const float *bk = g->b + j;
        for (size_t k = 0; k < K; k++, bk += ldb) {
            v4f b0 = ld4(bk), b1 = ld4(bk + 4);
            float x0 = a0[k * aks], x1 = a1[k * aks], x2 = a2[k * aks], x3 = a3[k * aks];
            s00 += x0 * b0, s01 += x0 * b1;
            s10 += x1 * b0, s11 += x1 * b1;
            s20 += x2 * b0, s21 += x2 * b1;
            s30 += x3 * b0, s31 += x3 * b1;
        }
        if (g->add) {
            s00 += ld4(c0 + j), s01 += ld4(c0 + j + 4), s10 += ld4(c1 + j), s11 += ld4(c1 + j + 4);
            s20 += ld4(c2 + j), s21 += ld4(c2 + j + 4), s30 += ld4(c3 + j), s31 += ld4(c3 + j + 4);
        }
        st4(c0 + j, s00), st4(c0 + j + 4, s01), st4(c1 + j, s10), st4(c1 + j + 4, s11);
        st4(c2 + j, s20), st4(c2 + j + 4, s21), st4(c3 + j, s30), st4(c3 + j + 4, s31);
    }
    for (; j + 4 <= g->J; j += 4) {
        v4f z = {0, 0, 0, 0};
        v4f s0 = z, s1 = z, s2 = z, s3 = z;
        if (!g->add) s0 = ld4(c0 + j), s1 = ld4(c1 + j), s2 = ld4(c2 + j), s3 = ld4(c3 + j);
        const float *bk = g->b + j;
        for (size_t k = 0; k < K; k++, bk += ldb) {
            v4f b0 = ld4(bk);
            s0 += a0[k * aks] * b0, s1 += a1[k * aks] * b0;
            s2 += a2[k * aks] * b0, s3 += a3[k * aks] * b0;
        }
        if (g->add) s0 += ld4(c0 + j), s1 += ld4(c1 + j), s2 += ld4(c2 + j), s3 += ld4(c3 + j);
        st4(c0 + j, s0), st4(c1 + j, s1), st4(c2 + j, s2), st4(c3 + j, s3);
    }
    for (; j < g->J; j++) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (!g->add) s0 = c0[j], s1 = c1[j], s2 = c2[j], s3 = c3[j];
        const float *bk = g->b + j;
        for (size_t k = 0; k < K; k++, bk += ldb) {
            s0 += a0[k * aks] * *bk, s1 += a1[k * aks] * *bk;
            s2 += a2[k * aks] * *bk, s3 += a3[k * aks] * *bk;
        }
        if (g->add) s0 += c0[j], s1 += c1[j], s2 += c2[j], s3 += c3[j];
        c0[j] = s0, c1[j] = s1, c2[j] = s2, c3[j] = s3;
    }
}

static void gemm_row1(const struct gemm *g, size_t r)
{
    const float *a0 = g->a + r * g->ars;
    float *c0 = g->c + r * g->ldc;
    size_t aks = g->aks, ldb = g->ldb, K = g->K, j = 0;

    for (; j + 8 <= g->J; j += 8) {
        v4f z = {0, 0, 0, 0};
        v4f s0 = g->add ? z : ld4(c0 + j), s1 = g->add ? z : ld4(c0 + j + 4);
        const float *bk = g->b + j;
        for (size_t k = 0; k < K; k++, bk += ldb) {
            float x0 = a0[k * aks];
            s0 += x0 * ld4(bk), s1 += x0 * ld4(bk + 4);
        }
        if (g->add) s0 += ld4(c0 + j), s1 += ld4(c0 + j + 4);
        st4(c0 + j, s0), st4(c0 + j + 4, s1);
    }
    for (; j + 4 <= g->J; j += 4) {
        v4f z = {0, 0, 0, 0};
        v4f s0 = g->add ? z : ld4(c0 + j);
        const float *bk = g->b + j;
        for (size_t k = 0; k < K; k++, bk += ldb)
            s0 += a0[k * aks] * ld4(bk);
        if (g->add) s0 += ld4(c0 + j);
        st4(c0 + j, s0);
    }
    for (; j < g->J; j++) {
        float s0 = g->add ? 0.0f : c0[j];
        const float *bk = g->b + j;
        for (size_t k = 0; k < K; k++, bk += ldb)
            s0 += a0[k * aks] * *bk;
        if (g->add) s0 += c0[j];
        c0[j] = s0;
    }
}

/* Rows [r0, r1) of c. */
static void gemm_range(const struct gemm *g, size_t r0, size_t r1)
{
    size_t r = r0;
    for (; r + 4 <= r1; r += 4)
        gemm_rows4(g, r);
    for (; r < r1; r++)
        gemm_row1(g, r);
}

/* Jobs over tiles of 4 rows of c. */
struct rows_job {
    struct gemm g;
    size_t R;
    const float *bias; /* matmul: the initial value of every row, NULL for 0 */
};

static void matmul_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct rows_job *m = ctx;
    size_t r1 = end * 4 < m->R ? end * 4 : m->R, J = m->g.J;
    (void)thread;
    for (size_t r = begin * 4; r < r1; r++) {
        if (m->bias)
            memcpy(m->g.c + r * J, m->bias, J * sizeof(float));
        else
            memset(m->g.c + r * J, 0, J * sizeof(float));
    }
    gemm_range(&m->g, begin * 4, r1);
}

void gpt_op_matmul(gpt_pool *p, float *y, const float *x, const float *w, const float *bias,
                   size_t n, size_t in, size_t out)
{
    struct rows_job m = {{y, out, x, in, 1, w, out, out, in, 0}, n, bias};
    gpt_pool_run(p, matmul_job, &m, chunks(n, 4));
}

/* [OP-WG] rows of dw are the items; the sum over data rows goes by blocks. */
static void wgrad_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct rows_job *m = ctx;
    size_t r0 = begin * 4, r1 = end * 4 < m->R ? end * 4 : m->R;
    size_t n = m->g.K; /* data rows in all */
    (void)thread;
    for (size_t r = r0; r < r1; r++)
        memset(m->g.c + r * m->g.ldc, 0, m->g.J * sizeof(float));
    for (size_t k0 = 0; k0 < n; k0 += GPT_ROW_BLOCK) {
        struct gemm g = m->g;
        g.a += k0 * g.aks;
        g.b += k0 * g.ldb;
        g.K = n - k0 < GPT_ROW_BLOCK ? n - k0 : GPT_ROW_BLOCK;
        gemm_range(&g, r0, r1);
    }
}

void gpt_op_matmul_wgrad(gpt_pool *p, float *dw, const float *x, const float *dy, size_t n,
                         size_t in, size_t out)
{
    struct rows_job m = {{dw, out, x, 1, in, dy, out, out, n, 1}, in, NULL};
    gpt_pool_run(p, wgrad_job, &m, chunks(in, 4));
}

/* [OP-CS] column chunks of 8 are the items. */
struct colsum_job {
    float *db;
    const float *dy, *xh;
    size_t n, out;
};

static void colsum_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct colsum_job *s = ctx;
    size_t o1 = end * 8 < s->out ? end * 8 : s->out;
    (void)thread;
    for (size_t o = begin * 8; o < o1; o++)
        s->db[o] = 0.0f;
    for (size_t k0 = 0; k0 < s->n; k0 += GPT_ROW_BLOCK) {
        size_t k1 = s->n - k0 < GPT_ROW_BLOCK ? s->n : k0 + GPT_ROW_BLOCK;
        for (size_t o = begin * 8; o < o1; o++) {
            float acc = 0.0f;
            if (s->xh)
                for (size_t k = k0; k < k1; k++)
                    acc += s->dy[k * s->out + o] * s->xh[k * s->out + o];
            else
                for (size_t k = k0; k < k1; k++)
                    acc += s->dy[k * s->out + o];
            s->db[o] += acc;
        }
    }
}

void gpt_op_colsum(gpt_pool *p, float *db, const float *dy, const float *xh, size_t n, size_t out)
{
    struct colsum_job s = {db, dy, xh, n, out};
    gpt_pool_run(p, colsum_job, &s, chunks(out, 8));
}

void gpt_op_transpose(float *dst, const float *src, size_t rows, size_t cols)
{
    for (size_t r0 = 0; r0 < rows; r0 += 16)
        for (size_t c0 = 0; c0 < cols; c0 += 16) {
            size_t r1 = r0 + 16 < rows ? r0 + 16 : rows, c1 = c0 + 16 < cols ? c0 + 16 : cols;
            for (size_t r = r0; r < r1; r++)
                for (size_t c = c0; c < c1; c++)
                    dst[c * rows + r] = src[r * cols + c];
        }
}

struct add_job {
    float *y;
    const float *x, *z;
    size_t n;
};

static void add_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct add_job *a = ctx;
    size_t e1 = end * CHUNK < a->n ? end * CHUNK : a->n;
    (void)thread;
    for (size_t i = begin * CHUNK; i < e1; i++)
        a->y[i] = a->x[i] + a->z[i];
}

void gpt_op_add(gpt_pool *p, float *y, const float *x, const float *z, size_t n)
{
    struct add_job a = {y, x, z, n};
    gpt_pool_run(p, add_job, &a, chunks(n, CHUNK));
}

/* ---- LayerNorm ---- */

struct ln_job {
    float *y, *xhat, *rstd;
    const float *x, *w, *b;
    size_t c;
    float eps;
    /* backward */
    float *dx;
    const float *dy;
};

static void ln_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct ln_job *l = ctx;
    size_t c = l->c;
    float cf = (float)c;
    (void)thread;
    for (size_t r = begin; r < end; r++) {
        const float *x = l->x + r * c;
        float *xh = l->xhat + r * c, *y = l->y + r * c;
        float sum = 0.0f;
        for (size_t i = 0; i < c; i++)
            sum += x[i];
        float mu = sum / cf;
        float ss = 0.0f;
        for (size_t i = 0; i < c; i++) {
            float d = x[i] - mu;
            ss += d * d;
        }
        float var = ss / cf;
        float rs = 1.0f / gpt_sqrt(var + l->eps);
        l->rstd[r] = rs;
        for (size_t i = 0; i < c; i++) {
            xh[i] = (x[i] - mu) * rs;
            y[i] = xh[i] * l->w[i] + l->b[i];
        }
    }
}

void gpt_op_layernorm(gpt_pool *p, float *y, float *xhat, float *rstd, const float *x,
                      const float *w, const float *b, size_t n, size_t c, float eps)
{
    struct ln_job l = {y, xhat, rstd, x, w, b, c, eps, NULL, NULL};
    gpt_pool_run(p, ln_job, &l, n);
}

static void ln_back_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct ln_job *l = ctx;
    size_t c = l->c;
    float cf = (float)c;
    (void)thread;
    for (size_t r = begin; r < end; r++) {
        const float *dy = l->dy + r * c, *xh = l->xhat + r * c;
        float *dx = l->dx + r * c;
        float s1 = 0.0f, s2 = 0.0f;
        for (size_t i = 0; i < c; i++) {
            float g = dy[i] * l->w[i];
            s1 += g;
            s2 += g * xh[i];
        }
        float m1 = s1 / cf, m2 = s2 / cf, rs = l->rstd[r];
        for (size_t i = 0; i < c; i++) {
            float g = dy[i] * l->w[i];
            float v = ((g - m1) - xh[i] * m2) * rs;
            dx[i] = dx[i] + v;
        }
    }
}

void gpt_op_layernorm_back(gpt_pool *p, float *dx, float *dw, float *db, const float *dy,
                           const float *xhat, const float *rstd, const float *w, size_t n, size_t c)
{
    struct ln_job l = {NULL, (float *)xhat, (float *)rstd, NULL, w, NULL, c, 0.0f, dx, dy};
    gpt_op_colsum(p, dw, dy, xhat, n, c);
    gpt_op_colsum(p, db, dy, NULL, n, c);
    gpt_pool_run(p, ln_back_job, &l, n);
}

/* ---- attention: items are (sequence, head) pairs ---- */

/* y[i] = y[i] + s x[i] for i < n: independent outputs, 4 at a time. */
static void axpy(float *y, float s, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        st4(y + i, ld4(y + i) + s * ld4(x + i));
    for (; i < n; i++)
        y[i] = y[i] + s * x[i];
}

struct att_job {
    float *out, *prob, *scratch;
    const float *qkv;
    /* backward */
    float *dqkv;
    const float *dout;
    const gpt_att_shape *s;
};

/* Copies column block `col` (hd wide) of the T rows of one sequence into dst[hd, T]. */
static void gather_t(float *dst, const float *base, size_t T, size_t C3, size_t hd)
{
    for (size_t u = 0; u < T; u++)
        for (size_t d = 0; d < hd; d++)
            dst[d * T + u] = base[u * C3 + d];
}

static void att_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct att_job *a = ctx;
    size_t T = a->s->T, C = a->s->C, H = a->s->H, hd = C / H, C3 = 3 * C;
    float *row = a->scratch + (size_t)thread * gpt_op_attention_scratch(a->s);
    float *kt = row + T;

    for (size_t it = begin; it < end; it++) {
        size_t b = it / H, h = it % H;
        const float *base = a->qkv + b * T * C3 + h * hd;
        gather_t(kt, base + C, T, C3, hd);
        for (size_t t = 0; t < T; t++) {
            const float *q = base + t * C3;
            /* scores: for each u, a sum over d ascending */
            for (size_t u = 0; u <= t; u++)
                row[u] = 0.0f;
            for (size_t d = 0; d < hd; d++)
                axpy(row, q[d], kt + d * T, t + 1);
            float mx = 0.0f;
            for (size_t u = 0; u <= t; u++) {
                row[u] = row[u] * a->s->scale;
                if (u == 0 || row[u] > mx) mx = row[u];
            }
            float z = 0.0f;
            for (size_t u = 0; u <= t; u++) {
                row[u] = gpt_exp(row[u] - mx);
                z += row[u];
            }
            float *pr = a->prob + (it * T + t) * T;
            for (size_t u = 0; u <= t; u++)
                pr[u] = row[u] / z;
            float *o = a->out + (b * T + t) * C + h * hd;
            for (size_t d = 0; d < hd; d++)
                o[d] = 0.0f;
            for (size_t u = 0; u <= t; u++)
                axpy(o, pr[u], base + u * C3 + 2 * C, hd);
        }
    }
}

size_t gpt_op_attention_scratch(const gpt_att_shape *s)
{
    return s->T * (1 + 2 * (s->C / s->H));
}

void gpt_op_attention(gpt_pool *p, float *out, float *prob, const float *qkv,
                      const gpt_att_shape *s, float *scratch)
{
    struct att_job a = {out, prob, scratch, qkv, NULL, NULL, s};
    gpt_pool_run(p, att_job, &a, s->B * s->H);
}

static void att_back_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct att_job *a = ctx;
    size_t T = a->s->T, C = a->s->C, H = a->s->H, hd = C / H, C3 = 3 * C;
    float scale = a->s->scale;
    float *dp = a->scratch + (size_t)thread * gpt_op_attention_scratch(a->s);
    float *vt = dp + T;

    for (size_t it = begin; it < end; it++) {
        size_t b = it / H, h = it % H;
        const float *base = a->qkv + b * T * C3 + h * hd;
        float *dbase = a->dqkv + b * T * C3 + h * hd;
        gather_t(vt, base + 2 * C, T, C3, hd);
        for (size_t t = 0; t < T; t++)
            for (size_t d = 0; d < hd; d++) {
                dbase[t * C3 + d] = 0.0f;
                dbase[t * C3 + C + d] = 0.0f;
                dbase[t * C3 + 2 * C + d] = 0.0f;
            }
        for (size_t t = 0; t < T; t++) {
            const float *pr = a->prob + (it * T + t) * T;
            const float *dout = a->dout + (b * T + t) * C + h * hd;
            const float *q = base + t * C3;
            /* dp[u]: a sum over d ascending */
            for (size_t u = 0; u <= t; u++)
                dp[u] = 0.0f;
            for (size_t d = 0; d < hd; d++)
                axpy(dp, dout[d], vt + d * T, t + 1);
            for (size_t u = 0; u <= t; u++)
                axpy(dbase + u * C3 + 2 * C, pr[u], dout, hd);
            float sum = 0.0f;
            for (size_t u = 0; u <= t; u++)
                sum += pr[u] * dp[u];
            for (size_t u = 0; u <= t; u++)
                dp[u] = (pr[u] * (dp[u] - sum)) * scale;
            float *dq = dbase + t * C3;
            for (size_t u = 0; u <= t; u++)
                axpy(dq, dp[u], base + u * C3 + C, hd);
            for (size_t u = 0; u <= t; u++)
                axpy(dbase + u * C3 + C, dp[u], q, hd);
        }
    }
}

void gpt_op_attention_back(gpt_pool *p, float *dqkv, const float *dout, const float *prob,
                           const float *qkv, const gpt_att_shape *s, float *scratch)
{
    struct att_job a = {NULL, (float *)prob, scratch, qkv, dqkv, dout, s};
    gpt_pool_run(p, att_back_job, &a, s->B * s->H);
}

/* ---- GELU (tanh form) ---- */

#define GELU_K0 0x1.988454p-1f /* sqrt(2/pi) */
#define GELU_K1 0x1.6e4e26p-5f /* 0.044715 */
#define GELU_K3 0x1.12ba9ep-3f /* 0.134145 = 3 x 0.044715 */

struct gelu_job {
    float *g, *t;
    const float *u;
    float *d;
    size_t n;
};

static void gelu_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct gelu_job *j = ctx;
    size_t e1 = end * CHUNK < j->n ? end * CHUNK : j->n;
    (void)thread;
    for (size_t i = begin * CHUNK; i < e1; i++) {
        float u = j->u[i];
        float u3 = (u * u) * u;
        float t = gpt_tanh(GELU_K0 * (u + GELU_K1 * u3));
        j->t[i] = t;
        j->g[i] = (0.5f * u) * (1.0f + t);
    }
}

void gpt_op_gelu(gpt_pool *p, float *g, float *t, const float *u, size_t n)
{
    struct gelu_job j = {g, t, u, NULL, n};
    gpt_pool_run(p, gelu_job, &j, chunks(n, CHUNK));
}

static void gelu_back_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct gelu_job *j = ctx;
    size_t e1 = end * CHUNK < j->n ? end * CHUNK : j->n;
    (void)thread;
    for (size_t i = begin * CHUNK; i < e1; i++) {
        float u = j->u[i], t = j->t[i];
        float a = 0.5f * (1.0f + t);
        float s = 1.0f - t * t;
        float dz = GELU_K0 * (1.0f + GELU_K3 * (u * u));
        float dg = a + ((0.5f * u) * s) * dz;
        j->d[i] = j->d[i] * dg;
    }
}

void gpt_op_gelu_back(gpt_pool *p, float *d, const float *u, const float *t, size_t n)
{
    struct gelu_job j = {NULL, (float *)t, u, d, n};
    gpt_pool_run(p, gelu_back_job, &j, chunks(n, CHUNK));
}

/* ---- cross-entropy over the 256 byte values ---- */

struct ce_job {
    float *logits, *row_loss;
    const uint8_t *targets;
    float inv_n;
};

static void ce_job(void *ctx, size_t begin, size_t end, unsigned thread)
{
    const struct ce_job *c = ctx;
    (void)thread;
    for (size_t r = begin; r < end; r++) {
        float *l = c->logits + r * 256;
        unsigned tg = c->targets[r];
        float mx = l[0];
        for (size_t v = 1; v < 256; v++)
            if (l[v] > mx) mx = l[v];
        float lt = l[tg] - mx;
        float z = 0.0f;
        for (size_t v = 0; v < 256; v++) {
            l[v] = gpt_exp(l[v] - mx);
            z += l[v];
        }
        c->row_loss[r] = gpt_log(z) - lt;
        for (size_t v = 0; v < 256; v++) {
            float q = l[v] / z;
            if (v == tg) q = q - 1.0f;
            l[v] = q * c->inv_n;
        }
    }
}

float gpt_op_blocksum(const float *x, size_t n)
{
    float total = 0.0f;
    for (size_t k0 = 0; k0 < n; k0 += GPT_ROW_BLOCK) {
        size_t k1 = n - k0 < GPT_ROW_BLOCK ? n : k0 + GPT_ROW_BLOCK;
        float acc = 0.0f;
        for (size_t k = k0; k < k1; k++)
            acc += x[k];
        total += acc;
    }
    return total;
}

float gpt_op_crossentropy(gpt_pool *p, float *logits, float *row_loss, const uint8_t *targets,
                          size_t n)
{
    struct ce_job c = {logits, row_loss, targets, 1.0f / (float)n};
    gpt_pool_run(p, ce_job, &c, n);
    return gpt_op_blocksum(row_loss, n) * c.inv_n;
}
