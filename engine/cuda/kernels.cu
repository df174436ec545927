/*
 * engine/cuda/kernels.cu - the CUDA kernels of attest-gpt/1 (kernels.h).
 *
 * Compiled with -fmad=false (no fused multiply-add), IEEE division and
 * square root, subnormals kept. Each output is owned by one thread, which
 * adds its terms in the order of ENGINE.md: matrix products accumulate over
 * k ascending inside shared-memory tiles; blocked sums over rows write one
 * partial per 64-row block and add the partials in block order; the
 * gradient norm is one sequential binary64 sum. No atomics: the bits never
 * depend on scheduling.
 */
#include "kernels.h"

#include "gpt_math_fn.h"

#ifndef GPT_CUDA_EMU
#include <cuda_runtime.h>
#define GK_LAUNCH(kernel, grid, block, ...) kernel<<<(grid), (block)>>>(__VA_ARGS__)
#endif

#define THREADS 256

static unsigned blocks_for(size_t n)
{
    return (unsigned)((n + THREADS - 1) / THREADS);
}

/* ---- matrix products ---- */

#define BM 128
#define BN 128
#define BK 8
#define LOADS (BM * BK / THREADS) /* elements of each operand tile per thread */

/*
 * 256 threads compute a 128 x 128 tile of C, 8 x 8 outputs each: rows
 * ty * 4 + {0..3} and 64 + ty * 4 + {0..3}, columns likewise from tx, so
 * that a quarter warp reads 128 consecutive bytes of shared memory. Each
 * output adds its terms in increasing k, one tile of 8 k after the other;
 * the next tile's operands are read from global memory while this one is
 * multiplied.
 */
struct gemm_tile {
    float a[LOADS], b[LOADS];
};

__device__ static void gemm_load(const gk_gemm &p, const float *a, const float *b, int K, int m0,
                                 int n0, int k0, gemm_tile &t)
{
    int tid = (int)threadIdx.x;
#pragma unroll
    for (int r = 0; r < LOADS; r++) {
        int e = tid + r * THREADS, mm, kk;
        if (p.sak == 1)
            kk = e % BK, mm = e / BK;
        else
            mm = e % BM, kk = e / BM;
        int m = m0 + mm, k = k0 + kk;
        t.a[r] = m < p.M && k < K ? a[m * p.sam + k * p.sak] : 0.0f;
    }
#pragma unroll
    for (int r = 0; r < LOADS; r++) {
        int e = tid + r * THREADS, nn, kk;
        if (p.sbn == 1)
            nn = e % BN, kk = e / BN;
        else
            kk = e % BK, nn = e / BK;
        int n = n0 + nn, k = k0 + kk;
        t.b[r] = n < p.N && k < K ? b[k * p.sbk + n * p.sbn] : 0.0f;
    }
}

__device__ static void gemm_store(const gk_gemm &p, const gemm_tile &t, float (*As)[BM],
                                  float (*Bs)[BN])
{
    int tid = (int)threadIdx.x;
#pragma unroll
    for (int r = 0; r < LOADS; r++) {
        int e = tid + r * THREADS;
        if (p.sak == 1)
            As[e % BK][e / BK] = t.a[r];
        else
            As[e / BM][e % BM] = t.a[r];
    }
#pragma unroll
    for (int r = 0; r < LOADS; r++) {
        int e = tid + r * THREADS;
        if (p.sbn == 1)
            Bs[e / BN][e % BN] = t.b[r];
        else
            Bs[e % BK][e / BK] = t.b[r];
    }
}

/* Row (or column) of C that output i (0..7) of thread coordinate c (0..15) owns. */
__device__ static inline int own(int c, int i)
{
    return (i < 4 ? 0 : 64) + c * 4 + (i & 3);
}

__global__ void __launch_bounds__(THREADS) k_gemm(gk_gemm p, int z0)
{
    int z = z0 + (int)blockIdx.z, z1 = z / p.Z2, z2 = z % p.Z2;
    int m0 = (int)blockIdx.y * BM, n0 = (int)blockIdx.x * BN;
    if (p.upper && n0 > m0 + BM - 1) return; /* every column above every row */
    const float *a = p.a + z1 * p.a_z1 + z2 * p.a_z2;
    const float *b = p.b + z1 * p.b_z1 + z2 * p.b_z2;
    float *c = p.c + z1 * p.c_z1 + z2 * p.c_z2;
    int K = p.K;
    if (p.kblock) {
        int rest = p.K - z * p.kblock;
        K = rest < p.kblock ? rest : p.kblock;
    }
    int tid = (int)threadIdx.x, tx = tid % 16, ty = tid / 16;
    alignas(16) __shared__ float As[BK][BM];
    alignas(16) __shared__ float Bs[BK][BN];
    float acc[8][8];

#pragma unroll
    for (int j = 0; j < 8; j++) {
        int n = n0 + own(tx, j);
        float init = p.bias && n < p.N ? p.bias[n] : 0.0f;
#pragma unroll
        for (int i = 0; i < 8; i++)
            acc[i][j] = init;
    }
    int kbeg = 0, kend = K;
    if (p.kmode == GK_K_LE_M && m0 + BM < kend) kend = m0 + BM;
    if (p.kmode == GK_K_GE_M) kbeg = (m0 / BK) * BK;

    gemm_tile t;
    if (kbeg < kend) {
        gemm_load(p, a, b, K, m0, n0, kbeg, t);
        gemm_store(p, t, As, Bs);
    }
    __syncthreads();
    for (int k0 = kbeg; k0 < kend; k0 += BK) {
        int more = k0 + BK < kend;
        if (more) gemm_load(p, a, b, K, m0, n0, k0 + BK, t);
        int full = k0 + BK <= K && (p.kmode == GK_ALL ||
                                    (p.kmode == GK_K_LE_M && k0 + BK - 1 <= m0) ||
                                    (p.kmode == GK_K_GE_M && k0 >= m0 + BM - 1));
        if (full) {
#pragma unroll
            for (int kk = 0; kk < BK; kk++) {
                float av[8], bv[8];
                float4 a0 = *(const float4 *)&As[kk][ty * 4], a1 = *(const float4 *)&As[kk][64 + ty * 4];
                float4 b0 = *(const float4 *)&Bs[kk][tx * 4], b1 = *(const float4 *)&Bs[kk][64 + tx * 4];
                av[0] = a0.x, av[1] = a0.y, av[2] = a0.z, av[3] = a0.w;
                av[4] = a1.x, av[5] = a1.y, av[6] = a1.z, av[7] = a1.w;
                bv[0] = b0.x, bv[1] = b0.y, bv[2] = b0.z, bv[3] = b0.w;
                bv[4] = b1.x, bv[5] = b1.y, bv[6] = b1.z, bv[7] = b1.w;
#pragma unroll
                for (int i = 0; i < 8; i++)
#pragma unroll
                    for (int j = 0; j < 8; j++)
                        acc[i][j] = acc[i][j] + av[i] * bv[j];
            }
        } else {
            for (int kk = 0; kk < BK; kk++) {
                int k = k0 + kk;
                if (k >= K) break;
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    int m = m0 + own(ty, i);
                    int use = p.kmode == GK_ALL || (p.kmode == GK_K_LE_M ? k <= m : k >= m);
                    float av = As[kk][own(ty, i)];
#pragma unroll
                    for (int j = 0; j < 8; j++)
                        if (use) acc[i][j] = acc[i][j] + av * Bs[kk][own(tx, j)];
                }
            }
        }
        __syncthreads();
        if (more) {
            gemm_store(p, t, As, Bs);
            __syncthreads();
        }
    }
#pragma unroll
    for (int i = 0; i < 8; i++) {
        int m = m0 + own(ty, i);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            int n = n0 + own(tx, j);
            if (m < p.M && n < p.N)
                c[m * p.scm + n * p.scn] = p.scale != 1.0f ? acc[i][j] * p.scale : acc[i][j];
        }
    }
}

void gk_gemm_run(const gk_gemm *p)
{
    dim3 grid((unsigned)((p->N + BN - 1) / BN), (unsigned)((p->M + BM - 1) / BM), 1);
    for (int z0 = 0; z0 < p->Z; z0 += 65535) {
        grid.z = (unsigned)(p->Z - z0 < 65535 ? p->Z - z0 : 65535);
        GK_LAUNCH(k_gemm, grid, THREADS, *p, z0);
    }
}

/* ---- blocked sums over rows ---- */

__global__ void k_blockreduce(float *out, const float *part, size_t nb, size_t n, int first)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i >= n) return;
    float acc = first ? 0.0f : out[i];
    for (size_t k = 0; k < nb; k++)
        acc = acc + part[k * n + i];
    out[i] = acc;
}

void gk_blockreduce(float *out, const float *part, size_t nb, size_t n, int first)
{
    GK_LAUNCH(k_blockreduce, blocks_for(n), THREADS, out, part, nb, n, first);
}

__global__ void k_colsum_parts(float *part, const float *dy, const float *xh, size_t rows,
                               size_t cols, size_t nb)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i >= nb * cols) return;
    size_t blk = i / cols, o = i % cols;
    size_t r0 = blk * GK_ROW_BLOCK, r1 = r0 + GK_ROW_BLOCK < rows ? r0 + GK_ROW_BLOCK : rows;
    float acc = 0.0f;
    if (xh)
        for (size_t r = r0; r < r1; r++)
            acc = acc + dy[r * cols + o] * xh[r * cols + o];
    else
        for (size_t r = r0; r < r1; r++)
            acc = acc + dy[r * cols + o];
    part[i] = acc;
}

void gk_colsum_parts(float *part, const float *dy, const float *xh, size_t rows, size_t cols)
{
    size_t nb = (rows + GK_ROW_BLOCK - 1) / GK_ROW_BLOCK;
    GK_LAUNCH(k_colsum_parts, blocks_for(nb * cols), THREADS, part, dy, xh, rows, cols, nb);
}

/* ---- embeddings ---- */

__global__ void k_embed(float *x, const float *wte, const float *wpe, const uint8_t *in, size_t N,
                        size_t T, size_t C)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i >= N * C) return;
    size_t n = i / C, c = i % C;
    x[i] = wte[(size_t)in[n] * C + c] + wpe[(n % T) * C + c];
}

void gk_embed(float *x, const float *wte, const float *wpe, const uint8_t *in, size_t N, size_t T,
              size_t C)
{
    GK_LAUNCH(k_embed, blocks_for(N * C), THREADS, x, wte, wpe, in, N, T, C);
}

/* One thread per (v, c): the rows whose input byte is v, in row order. */
__global__ void k_embed_back_wte(float *dwte, const float *dres, const uint8_t *in, size_t N,
                                 size_t C)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i >= 256 * C) return;
    unsigned v = (unsigned)(i / C);
    size_t c = i % C;
    float acc = dwte[i];
    for (size_t r = 0; r < N; r++)
        if (in[r] == v) acc = acc + dres[r * C + c];
    dwte[i] = acc;
}

__global__ void k_embed_back_wpe(float *dwpe, const float *dres, size_t B, size_t T, size_t C)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i >= T * C) return;
    size_t t = i / C, c = i % C;
    float acc = 0.0f;
    for (size_t b = 0; b < B; b++)
        acc = acc + dres[(b * T + t) * C + c];
    dwpe[i] = acc;
}

void gk_embed_back(float *dwte, float *dwpe, const float *dres, const uint8_t *in, size_t B,
                   size_t T, size_t C)
{
    GK_LAUNCH(k_embed_back_wte, blocks_for(256 * C), THREADS, dwte, dres, in, B * T, C);
    GK_LAUNCH(k_embed_back_wpe, blocks_for(T * C), THREADS, dwpe, dres, B, T, C);
}

/* ---- LayerNorm: one thread per row ---- */

__global__ void k_layernorm(float *y, float *xhat, float *rstd, const float *x, const float *w,
                            const float *b, size_t N, size_t C, float eps)
{
    size_t r = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (r >= N) return;
    const float *xr = x + r * C;
    float *xh = xhat + r * C, *yr = y + r * C;
    float cf = (float)C, sum = 0.0f;
    for (size_t i = 0; i < C; i++)
        sum = sum + xr[i];
    float mu = sum / cf, ss = 0.0f;
    for (size_t i = 0; i < C; i++) {
        float d = xr[i] - mu;
        ss = ss + d * d;
    }
    float var = ss / cf;
    float rs = 1.0f / __fsqrt_rn(var + eps);
    rstd[r] = rs;
    for (size_t i = 0; i < C; i++) {
        float h = (xr[i] - mu) * rs;
        xh[i] = h;
        yr[i] = h * w[i] + b[i];
    }
}

void gk_layernorm(float *y, float *xh, float *rstd, const float *x, const float *w, const float *b,
                  size_t N, size_t C, float eps)
{
    GK_LAUNCH(k_layernorm, blocks_for(N), THREADS, y, xh, rstd, x, w, b, N, C, eps);
}

__global__ void k_layernorm_back_rows(float *dx, const float *dy, const float *xhat,
                                      const float *rstd, const float *w, size_t N, size_t C)
{
    size_t r = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (r >= N) return;
    const float *d = dy + r * C, *xh = xhat + r * C;
    float *o = dx + r * C;
    float cf = (float)C, s1 = 0.0f, s2 = 0.0f;
    for (size_t i = 0; i < C; i++) {
        float g = d[i] * w[i];
        s1 = s1 + g;
        s2 = s2 + g * xh[i];
    }
    float m1 = s1 / cf, m2 = s2 / cf, rs = rstd[r];
    for (size_t i = 0; i < C; i++) {
        float g = d[i] * w[i];
        float v = ((g - m1) - xh[i] * m2) * rs;
        o[i] = o[i] + v;
    }
}

void gk_layernorm_back_rows(float *dx, const float *dy, const float *xh, const float *rstd,
                            const float *w, size_t N, size_t C)
{
    GK_LAUNCH(k_layernorm_back_rows, blocks_for(N), THREADS, dx, dy, xh, rstd, w, N, C);
}

/* ---- elementwise ---- */

__global__ void k_add(float *y, const float *x, const float *z, size_t n)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i < n) y[i] = x[i] + z[i];
}

void gk_add(float *y, const float *x, const float *z, size_t n)
{
    GK_LAUNCH(k_add, blocks_for(n), THREADS, y, x, z, n);
}

#define GELU_K0 0x1.988454p-1f
#define GELU_K1 0x1.6e4e26p-5f
#define GELU_K3 0x1.12ba9ep-3f

__global__ void k_gelu(float *g, float *t, const float *u, size_t n)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i >= n) return;
    float x = u[i];
    float x3 = (x * x) * x;
    float th = gpt_tanh_fn(GELU_K0 * (x + GELU_K1 * x3));
    t[i] = th;
    g[i] = (0.5f * x) * (1.0f + th);
}

void gk_gelu(float *g, float *t, const float *u, size_t n)
{
    GK_LAUNCH(k_gelu, blocks_for(n), THREADS, g, t, u, n);
}

__global__ void k_gelu_back(float *d, const float *u, const float *t, size_t n)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i >= n) return;
    float x = u[i], th = t[i];
    float a = 0.5f * (1.0f + th);
    float s = 1.0f - th * th;
    float dz = GELU_K0 * (1.0f + GELU_K3 * (x * x));
    float dg = a + ((0.5f * x) * s) * dz;
    d[i] = d[i] * dg;
}

void gk_gelu_back(float *d, const float *u, const float *t, size_t n)
{
    GK_LAUNCH(k_gelu_back, blocks_for(n), THREADS, d, u, t, n);
}

/* ---- attention rows: one thread per (sequence, head, position) ---- */

__global__ void k_softmax_causal(float *prob, size_t BH, size_t T)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i >= BH * T) return;
    size_t t = i % T;
    float *row = prob + i * T;
    float mx = 0.0f;
    for (size_t u = 0; u <= t; u++)
        if (u == 0 || row[u] > mx) mx = row[u];
    float z = 0.0f;
    for (size_t u = 0; u <= t; u++) {
        float e = gpt_exp_fn(row[u] - mx);
        row[u] = e;
        z = z + e;
    }
    for (size_t u = 0; u <= t; u++)
        row[u] = row[u] / z;
    for (size_t u = t + 1; u < T; u++)
        row[u] = 0.0f;
}

void gk_softmax_causal(float *prob, size_t BH, size_t T)
{
    GK_LAUNCH(k_softmax_causal, blocks_for(BH * T), THREADS, prob, BH, T);
}

__global__ void k_attention_ds(float *dp, const float *prob, size_t BH, size_t T, float scale)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i >= BH * T) return;
    size_t t = i % T;
    float *d = dp + i * T;
    const float *pr = prob + i * T;
    float sum = 0.0f;
    for (size_t u = 0; u <= t; u++)
        sum = sum + pr[u] * d[u];
    for (size_t u = 0; u <= t; u++)
        d[u] = (pr[u] * (d[u] - sum)) * scale;
    for (size_t u = t + 1; u < T; u++)
        d[u] = 0.0f;
}

void gk_attention_ds(float *dp, const float *prob, size_t BH, size_t T, float scale)
{
    GK_LAUNCH(k_attention_ds, blocks_for(BH * T), THREADS, dp, prob, BH, T, scale);
}

/* ---- cross-entropy ---- */

__global__ void k_crossentropy(float *logits, float *row_loss, const uint8_t *targets, size_t N,
                               float inv_n)
{
    size_t r = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (r >= N) return;
    float *l = logits + r * 256;
    unsigned tg = targets[r];
    float mx = l[0];
    for (unsigned v = 1; v < 256; v++)
        if (l[v] > mx) mx = l[v];
    float lt = l[tg] - mx, z = 0.0f;
    for (unsigned v = 0; v < 256; v++) {
        float e = gpt_exp_fn(l[v] - mx);
        l[v] = e;
        z = z + e;
    }
    row_loss[r] = gpt_log_fn(z) - lt;
    for (unsigned v = 0; v < 256; v++) {
        float q = l[v] / z;
        if (v == tg) q = q - 1.0f;
        l[v] = q * inv_n;
    }
}

/* One thread: the blocked sum of the row losses ([RED-2]), times 1/N. */
__global__ void k_mean_loss(float *loss, const float *row_loss, size_t N, float inv_n)
{
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    float total = 0.0f;
    for (size_t k0 = 0; k0 < N; k0 += GK_ROW_BLOCK) {
        size_t k1 = N - k0 < GK_ROW_BLOCK ? N : k0 + GK_ROW_BLOCK;
        float acc = 0.0f;
        for (size_t k = k0; k < k1; k++)
            acc = acc + row_loss[k];
        total = total + acc;
    }
    loss[0] = total * inv_n;
}

void gk_crossentropy(float *logits, float *row_loss, float *loss, const uint8_t *targets, size_t N)
{
    float inv_n = 1.0f / (float)N;
    GK_LAUNCH(k_crossentropy, blocks_for(N), THREADS, logits, row_loss, targets, N, inv_n);
    GK_LAUNCH(k_mean_loss, 1, 32, loss, row_loss, N, inv_n);
}

/* ---- optimizer ---- */

__global__ void k_adamw(float *p, const float *g, float *m, float *v, size_t n, int decay,
                        const float *clip, gk_adam a)
{
    size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x;
    if (i >= n) return;
    float gr = g[i];
    if (clip[2] != 0.0f) gr = gr * clip[1];
    float w = p[i];
    if (decay) w = w * a.decay;
    float mm = m[i] * a.beta1 + gr * a.omb1;
    float vv = v[i] * a.beta2 + (gr * gr) * a.omb2;
    float denom = __fsqrt_rn(vv) / a.bc2s + a.eps;
    m[i] = mm;
    v[i] = vv;
    p[i] = w - a.step_size * (mm / denom);
}

void gk_adamw(float *p, const float *g, float *m, float *v, size_t n, int decay, const float *clip,
              const gk_adam *a)
{
    GK_LAUNCH(k_adamw, blocks_for(n), THREADS, p, g, m, v, n, decay, clip, *a);
}
