/*
 * engine/gpt_ops.h - the layer kernels of attest-gpt/1 (ENGINE.md section
 * 6): matrix products, LayerNorm, causal attention, GELU, cross-entropy,
 * each forward and backward, each with the reduction order ENGINE.md fixes.
 * They split their work over a gpt_pool by independent outputs only.
 * Matrices are row-major; a weight w[in, out] maps x[n, in] to y[n, out].
 */
#ifndef ATTEST_ENGINE_GPT_OPS_H
#define ATTEST_ENGINE_GPT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "gpt_pool.h"

/* Rows per block of the blocked sums over rows ([RED-2]). */
#define GPT_ROW_BLOCK 64u

/* y[n, o] = bias[o] (0 when bias is NULL) + sum_i x[n, i] w[i, o], i ascending ([OP-MM]). */
GPT_INTERNAL void gpt_op_matmul(gpt_pool *p, float *y, const float *x, const float *w,
                                const float *bias, size_t n, size_t in, size_t out);

/* dw[i, o] = blocked sum over rows r of x[r, i] dy[r, o] ([OP-WG]); overwrites dw. */
GPT_INTERNAL void gpt_op_matmul_wgrad(gpt_pool *p, float *dw, const float *x, const float *dy,
                                      size_t n, size_t in, size_t out);

/* db[o] = blocked sum over rows r of dy[r, o] (times xh[r, o] when xh is not NULL). */
GPT_INTERNAL void gpt_op_colsum(gpt_pool *p, float *db, const float *dy, const float *xh, size_t n,
                                size_t out);

/* dst[c, r] = src[r, c] for a rows x cols matrix. */
GPT_INTERNAL void gpt_op_transpose(float *dst, const float *src, size_t rows, size_t cols);

/* y = x + z elementwise (n values). */
GPT_INTERNAL void gpt_op_add(gpt_pool *p, float *y, const float *x, const float *z, size_t n);

/* LayerNorm over rows of width c ([OP-LN]); keeps xhat and rstd for the backward. */
GPT_INTERNAL void gpt_op_layernorm(gpt_pool *p, float *y, float *xhat, float *rstd, const float *x,
                                   const float *w, const float *b, size_t n, size_t c, float eps);

/* Adds the input gradient to dx, overwrites dw and db ([OP-LN-B]). */
GPT_INTERNAL void gpt_op_layernorm_back(gpt_pool *p, float *dx, float *dw, float *db,
                                        const float *dy, const float *xhat, const float *rstd,
                                        const float *w, size_t n, size_t c);

/* Shapes of an attention call. */
typedef struct gpt_att_shape {
    size_t B, T, C, H;
    float scale; /* 1 / sqrt(C / H) */
} gpt_att_shape;

/* Scratch floats per thread that the attention kernels need: T (1 + 2 C / H). */
GPT_INTERNAL size_t gpt_op_attention_scratch(const gpt_att_shape *s);

/*
 * Causal attention ([OP-ATT]): qkv [B T, 3C] -> out [B T, C], prob [B, H, T, T]
 * (entries u > t untouched). scratch: gpt_op_attention_scratch floats per thread.
 */
GPT_INTERNAL void gpt_op_attention(gpt_pool *p, float *out, float *prob, const float *qkv,
                                   const gpt_att_shape *s, float *scratch);
/* Its backward ([OP-ATT-B]): overwrites dqkv from dout. */
GPT_INTERNAL void gpt_op_attention_back(gpt_pool *p, float *dqkv, const float *dout,
                                        const float *prob, const float *qkv, const gpt_att_shape *s,
                                        float *scratch);

/* g = gelu(u) ([OP-GELU]); keeps t = tanh(...) for the backward. */
GPT_INTERNAL void gpt_op_gelu(gpt_pool *p, float *g, float *t, const float *u, size_t n);
/* d = d * gelu'(u) in place ([OP-GELU-B]). */
GPT_INTERNAL void gpt_op_gelu_back(gpt_pool *p, float *d, const float *u, const float *t, size_t n);

/*
 * Cross-entropy ([OP-CE]): logits [n, 256] become their gradient dlogits
 * (already divided by n); row_loss [n] the per-position losses. Returns the
 * mean loss.
 */
GPT_INTERNAL float gpt_op_crossentropy(gpt_pool *p, float *logits, float *row_loss,
                                       const uint8_t *targets, size_t n);

/* Blocked sum of n values ([RED-2]). */
GPT_INTERNAL float gpt_op_blocksum(const float *x, size_t n);

#endif
