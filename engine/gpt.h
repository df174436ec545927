/*
 * engine/gpt.h - attest-gpt/1, the reference trainer: a small byte-level GPT
 * in fp32 whose every result is a documented function of its inputs
 * (engine/ENGINE.md), the same bits whatever the number of threads.
 *
 * It trains in examples/c/train_gpt.c and replays in verify/replay.c. It
 * depends on libc, libm-free arithmetic and pthreads only, so that it builds
 * alone (CUDA machines included).
 *
 * Model: token embedding wte [256, C] (tied with the output head), position
 * embedding wpe [T, C], L pre-norm blocks (LayerNorm, causal multi-head
 * self-attention, residual, LayerNorm, 4C GELU(tanh) MLP, residual), a final
 * LayerNorm, logits = x wte^T, mean cross-entropy over every position of
 * every sequence. Optimizer: AdamW (decoupled weight decay on matrices
 * only), global gradient-norm clipping, linear warmup then cosine decay.
 *
 * Thread-safety: a gpt handle is used by one caller at a time; it runs its
 * own worker threads inside gpt_train_step and gpt_forward_backward.
 */
#ifndef ATTEST_ENGINE_GPT_H
#define ATTEST_ENGINE_GPT_H

#include <stddef.h>
#include <stdint.h>

#ifndef GPT_API
#define GPT_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Name and version of the engine, as run records name it. */
#define GPT_ENGINE "attest-gpt/1"
/* Vocabulary: bytes. */
#define GPT_VOCAB 256u
/* Limits checked by gpt_config_check. */
#define GPT_MAX_LAYERS 64u
#define GPT_MAX_WIDTH 4096u
#define GPT_MAX_CONTEXT 4096u
#define GPT_MAX_BATCH 4096u
#define GPT_MAX_THREADS 256u

typedef struct gpt_config {
    uint32_t layers;  /* L >= 1 */
    uint32_t heads;   /* divides width */
    uint32_t width;   /* C, a multiple of heads; >= 1 */
    uint32_t context; /* T: positions per sequence; a sample window is T + 1 bytes */
    uint32_t batch;   /* B: sequences per step */
    uint64_t steps;   /* length of the schedule (the cosine reaches lr_min at this step) */
    uint64_t warmup;  /* linear warmup steps, <= steps */
    float lr_max, lr_min;
    float beta1, beta2, eps;
    float weight_decay; /* decoupled, on rank-2 parameters only (not biases, not LayerNorm) */
    float clip;         /* max global gradient L2 norm; 0 disables clipping */
    uint64_t seed;      /* parameter initialization */
    uint64_t data_seed; /* data order */
} gpt_config;

/* Fills the default configuration (the one examples/c/train_gpt.c uses). */
GPT_API void gpt_config_default(gpt_config *c);

/* 0 when c is usable; otherwise -1 and err names the field and the rule. */
GPT_API int gpt_config_check(const gpt_config *c, char *err, size_t errsz);

/* Learning rate of step s (s >= 1), as ENGINE.md defines it, in binary32. */
GPT_API float gpt_lr(const gpt_config *c, uint64_t step);

/*
 * Data order. The corpus is the sequence of shards 0..n-1 with samples[i]
 * bytes each; a window is T + 1 consecutive bytes of one shard. For step s
 * and sequence b (0 <= b < B) the generator picks a window from the seed
 * data_seed, s and b alone (counter-based: no state carried between steps).
 * Fills out[0..B-1]. Returns 0, or -1 when no shard holds a window.
 */
typedef struct gpt_window {
    uint32_t shard;
    uint64_t first;
} gpt_window;
GPT_API int gpt_batch_windows(const gpt_config *c, uint64_t step, const uint64_t *samples,
                              size_t n_shards, gpt_window *out);

typedef struct gpt gpt;

/*
 * Where the engine computes. Both give the same bits (ENGINE.md); the CUDA
 * backend (engine/cuda/) needs a build with nvcc and an NVIDIA GPU.
 */
typedef enum gpt_device { GPT_CPU = 0, GPT_CUDA = 1 } gpt_device;

/* "cpu" or "cuda" -> *d; -1 for anything else. */
GPT_API int gpt_device_parse(const char *name, gpt_device *d);
GPT_API const char *gpt_device_name(gpt_device d);

/*
 * 0 when a CUDA device can run the engine; otherwise -1 and err says why
 * (built without CUDA, no driver, no GPU). Names the GPU in err on success.
 */
GPT_API int gpt_cuda_available(char *err, size_t errsz);

/* The GPU the CUDA backend uses (device 0), for reports and benchmarks. */
typedef struct gpt_cuda_info {
    char name[256];
    unsigned sms;      /* streaming multiprocessors */
    unsigned mhz;      /* peak SM clock */
    unsigned fp32_per_sm; /* binary32 lanes per SM (an FMA counts as 2 FLOP) */
    double mem_gib;
} gpt_cuda_info;
/* 0, or -1 with err as gpt_cuda_available gives it. */
GPT_API int gpt_cuda_describe(gpt_cuda_info *info, char *err, size_t errsz);

/*
 * Allocates a model for c with `threads` worker threads (1..GPT_MAX_THREADS;
 * the results never depend on it). Parameters are initialized from c->seed
 * (gpt_init), the AdamW moments are zero and the step is 0. Returns 0, or -1
 * with err (bad config, no memory, thread creation failed).
 */
GPT_API int gpt_new(gpt **out, const gpt_config *c, unsigned threads, char *err, size_t errsz);

/*
 * The same on device d. On GPT_CUDA the activations live in GPU memory and
 * `threads` is unused; -1 with err when no GPU can be used or it lacks
 * memory.
 */
GPT_API int gpt_new_on(gpt **out, const gpt_config *c, gpt_device d, unsigned threads, char *err,
                       size_t errsz);
GPT_API gpt_device gpt_device_of(const gpt *g);

/*
 * NULL, or what went wrong on the device during the last step (the step's
 * results are then NaN and the model must not be used further).
 */
GPT_API const char *gpt_error(const gpt *g);

/* Stops the workers and frees everything. NULL is a no-op. */
GPT_API void gpt_free(gpt *g);

/* The configuration the model was made with. */
GPT_API const gpt_config *gpt_config_of(const gpt *g);

/* Resets parameters to their initialization from the seed, moments to 0, step to 0. */
GPT_API void gpt_init(gpt *g);

/*
 * The model's state as named tensors, in a fixed order: the parameters, then
 * "adam.m.<name>" and "adam.v.<name>" for each parameter, then "state"
 * (U64 [3]: step, seed, data_seed). Data are little-endian, C order; the
 * pointers stay valid until gpt_free, and writing through them (to load a
 * checkpoint) is allowed between steps. After writing any tensor, call
 * gpt_sync_state (on a GPU it copies the tensors to the device). On a GPU
 * the host copies are brought up to date when gpt_tensor_at,
 * gpt_tensor_find or gpt_grad is called: call them again after a step.
 */
typedef struct gpt_tensor {
    const char *name;
    const char *dtype; /* "F32" or "U64" (safetensors names) */
    uint32_t rank;     /* 1 or 2 */
    uint64_t shape[2];
    void *data;
    uint64_t bytes;
    int is_param; /* 1 for a trainable parameter */
} gpt_tensor;
GPT_API size_t gpt_tensor_count(const gpt *g);
GPT_API const gpt_tensor *gpt_tensor_at(const gpt *g, size_t i);
/* The tensor named `name`, or NULL. */
GPT_API const gpt_tensor *gpt_tensor_find(const gpt *g, const char *name);
/*
 * Takes step, seed and data_seed from the "state" tensor after a load.
 * Returns -1 with err when seed or data_seed differ from the configuration.
 */
GPT_API int gpt_sync_state(gpt *g, char *err, size_t errsz);

/* Number of optimizer steps taken (the "state" tensor's first element). */
GPT_API uint64_t gpt_step(const gpt *g);

/*
 * Gradient of parameter tensor i (same index as gpt_tensor_at; NULL when i
 * is not a parameter) as the last gpt_forward_backward or gpt_train_step
 * computed it: the gradient of the mean loss, before clipping.
 */
GPT_API const float *gpt_grad(const gpt *g, size_t i);

typedef struct gpt_step_result {
    float loss;      /* mean cross-entropy of the batch, before the update */
    float grad_norm; /* global L2 norm of the gradient, before clipping */
    float lr;        /* the learning rate used, gpt_lr(c, step) */
} gpt_step_result;

/*
 * Forward and backward on one batch: tokens holds B x (T + 1) bytes, sequence
 * b at tokens[b * (T + 1)]; inputs are its first T bytes, targets its last T.
 * Leaves the gradients in gpt_grad and returns the loss. Does not update.
 */
GPT_API float gpt_forward_backward(gpt *g, const uint8_t *tokens);

/*
 * Forward only, for measuring a model: out[b] = the mean cross-entropy of
 * sequence b of tokens (laid out as for gpt_forward_backward) over its T
 * positions, in binary64 (not part of ENGINE.md's bit-exact results).
 * Leaves the gradients and the tensors alone. On either device, with the
 * same bits; -1 with gpt_error on a GPU failure.
 */
GPT_API int gpt_sequence_losses(gpt *g, const uint8_t *tokens, double *out);

/*
 * One training step: forward, backward, clipping, AdamW with the learning
 * rate of step gpt_step(g) + 1, then the step count goes up by one.
 */
GPT_API void gpt_train_step(gpt *g, const uint8_t *tokens, gpt_step_result *res);

#ifdef __cplusplus
}
#endif
#endif
