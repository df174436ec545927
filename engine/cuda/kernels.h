/*
 * engine/cuda/kernels.h - the CUDA kernels of attest-gpt/1, each launched
 * by a host function of this header on the default stream. Every output is
 * summed in the order ENGINE.md fixes (section 9 explains how), so the bits
 * equal the CPU engine's. Pointers are device pointers.
 */
#ifndef ATTEST_ENGINE_CUDA_KERNELS_H
#define ATTEST_ENGINE_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Rows per block of the blocked sums over rows ([RED-2]). */
#define GK_ROW_BLOCK 64

/* Which reduction indices k count for output row m. */
enum gk_kmode { GK_ALL = 0, GK_K_LE_M = 1, GK_K_GE_M = 2 };

/*
 * C(m, n) = init + sum over k = 0..K-1 ascending of A(m, k) * B(k, n), with
 * A(m, k) = a[m sam + k sak], B(k, n) = b[k sbk + n sbn], C(m, n) at
 * c[m scm + n scn]; init = bias[n] (or +0.0 without bias). Batched over
 * z = 0..Z-1 = z1 Z2 + z2: each matrix is offset by z1 *_z1 + z2 *_z2.
 * kblock > 0: batch z is rows [z kblock, (z + 1) kblock) of the reduction
 * (the partial sums of a blocked sum), K is the whole length and
 * a_z1, b_z1 must be kblock sak, kblock sbk. scale != 1: C = sum * scale.
 * upper: skip output tiles whose columns all exceed their rows (causal
 * scores; the entries above the diagonal are left undefined).
 */
typedef struct gk_gemm {
    int M, N, K;
    const float *a;
    long long sam, sak, a_z1, a_z2;
    const float *b;
    long long sbk, sbn, b_z1, b_z2;
    float *c;
    long long scm, scn, c_z1, c_z2;
    int Z, Z2;
    const float *bias;
    float scale;
    int kmode, kblock, upper;
} gk_gemm;

void gk_gemm_run(const gk_gemm *p);

/* out[i] = (first ? +0.0 : out[i]) + part[0][i] + part[1][i] + ... (nb parts, in order). */
void gk_blockreduce(float *out, const float *part, size_t nb, size_t n, int first);

/* part[k][o] = sum over the rows r of block k of dy[r, o] (x xh[r, o] when xh). */
void gk_colsum_parts(float *part, const float *dy, const float *xh, size_t rows, size_t cols);

/* x0[n, c] = wte[in[n], c] + wpe[n mod T, c] ([FWD-1]). */
void gk_embed(float *x, const float *wte, const float *wpe, const uint8_t *in, size_t N, size_t T,
              size_t C);

/* dwte[v, c] += dres[r, c] for every r with in[r] = v, r ascending; dwpe[t, c] = sum over b. */
void gk_embed_back(float *dwte, float *dwpe, const float *dres, const uint8_t *in, size_t B,
                   size_t T, size_t C);

void gk_layernorm(float *y, float *xh, float *rstd, const float *x, const float *w, const float *b,
                  size_t N, size_t C, float eps);
/* Rows of [OP-LN-B]: dx[r, c] += v_c. */
void gk_layernorm_back_rows(float *dx, const float *dy, const float *xh, const float *rstd,
                            const float *w, size_t N, size_t C);

void gk_add(float *y, const float *x, const float *z, size_t n);
void gk_gelu(float *g, float *t, const float *u, size_t n);
void gk_gelu_back(float *d, const float *u, const float *t, size_t n);

/* Rows (bh, t) of prob [BH, T, T] hold the scaled scores; they become p (0 above the diagonal). */
void gk_softmax_causal(float *prob, size_t BH, size_t T);
/* dp [BH, T, T] becomes ds ([OP-ATT-B]); 0 above the diagonal. */
void gk_attention_ds(float *dp, const float *prob, size_t BH, size_t T, float scale);

/* [OP-CE]: logits become dlogits, row_loss[n]; loss[0] = blocked mean. */
void gk_crossentropy(float *logits, float *row_loss, float *loss, const uint8_t *targets, size_t N);

/*
 * [OPT-1] (sumsq.cu): out[0] = norm, out[1] = coef, out[2] = 1 when
 * clipping is active, from S = the binary64 sequential sum of the squares
 * of g[0..n-1], bit for bit; S also goes to *sum when sum is not NULL.
 * scratch: gk_grad_norm_scratch(n) bytes of device memory.
 */
size_t gk_grad_norm_scratch(size_t n);
void gk_grad_norm(float *out, double *sum, const float *g, size_t n, float clip, void *scratch);

/* [OPT-2] on n elements; clip is gk_grad_norm's output. */
typedef struct gk_adam {
    float beta1, beta2, eps, decay, step_size, bc2s, omb1, omb2;
} gk_adam;
void gk_adamw(float *p, const float *g, float *m, float *v, size_t n, int decay, const float *clip,
              const gk_adam *a);

#endif
