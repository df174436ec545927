/*
 * engine/cuda/none.c - the CUDA side of the engine in a build without
 * nvcc: every entry point says so. Linked instead of the .cu files.
 */
#include <stdio.h>

#include "gpt_internal.h"

static int unavailable(char *err, size_t errsz)
{
    if (err && errsz)
        snprintf(err, errsz, "device cuda: this build has no CUDA support (nvcc was not found)");
    return -1;
}

int gpt_cuda_probe(gpt_cuda_info *info, char *err, size_t errsz)
{
    (void)info;
    return unavailable(err, errsz);
}

int gpt_cuda_open(gpt *g, char *err, size_t errsz)
{
    (void)g;
    return unavailable(err, errsz);
}

void gpt_cuda_close(gpt *g)
{
    (void)g;
}

int gpt_cuda_push(gpt *g)
{
    return unavailable(g->error, sizeof g->error);
}

int gpt_cuda_pull(gpt *g)
{
    return unavailable(g->error, sizeof g->error);
}

int gpt_cuda_forward_backward(gpt *g, const uint8_t *tokens, float *loss)
{
    (void)tokens, (void)loss;
    return unavailable(g->error, sizeof g->error);
}

int gpt_cuda_row_losses(gpt *g, const uint8_t *tokens, float *row_loss)
{
    (void)tokens, (void)row_loss;
    return unavailable(g->error, sizeof g->error);
}

int gpt_cuda_train_step(gpt *g, const uint8_t *tokens, uint64_t step, float lr,
                        gpt_step_result *res)
{
    (void)tokens, (void)step, (void)lr, (void)res;
    return unavailable(g->error, sizeof g->error);
}
