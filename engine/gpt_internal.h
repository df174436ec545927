/*
 * engine/gpt_internal.h - the model's internal state, shared by the CPU
 * engine (gpt.c) and its CUDA backend (engine/cuda/). Not installed.
 */
#ifndef ATTEST_ENGINE_GPT_INTERNAL_H
#define ATTEST_ENGINE_GPT_INTERNAL_H

#include "gpt.h"
#include "gpt_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-layer parameter tensors, in their order ([PARAM-1]). */
enum {
    LN1_W,
    LN1_B,
    QKV_W,
    QKV_B,
    PROJ_W,
    PROJ_B,
    LN2_W,
    LN2_B,
    FC_W,
    FC_B,
    MPROJ_W,
    MPROJ_B,
    PER_LAYER
};
#define P_WTE 0
#define P_WPE 1
#define P_LAYER(l, k) (2 + (size_t)(l)*PER_LAYER + (k))

#define LN_EPS 1e-5f
/* Half-width of the uniform initialization: 0.02 sqrt(3), standard deviation 0.02. */
#define INIT_A 0x1.1bc77ap-5f
#define DATA_STREAM 0x8000000000000000u

/* Activations of one block, kept for the backward pass. */
struct layer_acts {
    float *ln1_y, *ln1_xh, *ln1_rs, *qkv, *prob, *att, *x1;
    float *ln2_y, *ln2_xh, *ln2_rs, *fc_u, *fc_t, *fc_g;
};

struct gpt {
    gpt_config cfg;
    gpt_pool *pool;
    size_t n_params, n_tensors;
    gpt_tensor *tensors;
    char *names;
    size_t *offset; /* of each parameter tensor, in floats */
    size_t total;   /* floats in all parameters */
    float *param, *grad, *m, *v;
    uint64_t state[3];

    /* activations and scratch, all in `arena` */
    float *arena;
    float **res; /* L + 1 residual streams */
    struct layer_acts *la;
    float *lnf_y, *lnf_xh, *lnf_rs, *logits, *row_loss;
    float *tmp, *wt, *dres, *dtmp, *dqkv, *datt, *scratch;
    uint8_t *inputs, *targets;

    /* device */
    gpt_device device;
    struct gpt_cuda *cu; /* engine/cuda/: device buffers, NULL on the CPU */
    int dev_newer;       /* the device holds results the host copies lack */
    char error[200];     /* what failed on the device, "" when nothing */
};

/* Lays the activations out from `base` (host or device memory; NULL only
 * counts); returns the floats needed, 0 on overflow. */
GPT_INTERNAL size_t gpt_layout(gpt *g, float *base, unsigned threads);

/* The CUDA side (engine/cuda/gpt_cuda.cu, or engine/cuda/none.c without nvcc).
 * Each returns 0, or -1 with g->error (or err) set. */
GPT_INTERNAL int gpt_cuda_probe(gpt_cuda_info *info, char *err, size_t errsz);
GPT_INTERNAL int gpt_cuda_open(gpt *g, char *err, size_t errsz);
GPT_INTERNAL void gpt_cuda_close(gpt *g);
/* Host tensors (parameters, moments) -> device. */
GPT_INTERNAL int gpt_cuda_push(gpt *g);
/* Device parameters, moments and gradients -> host. */
GPT_INTERNAL int gpt_cuda_pull(gpt *g);
/* ENGINE.md sections 6-8 on the device; results as the CPU functions give them. */
GPT_INTERNAL int gpt_cuda_forward_backward(gpt *g, const uint8_t *tokens, float *loss);
/* Forward only; row_loss (host, B x T) gets each position's loss, as g->row_loss on the CPU. */
GPT_INTERNAL int gpt_cuda_row_losses(gpt *g, const uint8_t *tokens, float *row_loss);
GPT_INTERNAL int gpt_cuda_train_step(gpt *g, const uint8_t *tokens, uint64_t step, float lr,
                                     gpt_step_result *res);

#ifdef __cplusplus
}
#endif
#endif
