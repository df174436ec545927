/*
 * bench/engine_gpu.c - replay time per step of attest-gpt/1 on the GPU
 * against the CPU engine, on the same batches, and the FLOP/s the GPU
 * achieved against its binary32 peak. A replayed step is a training step
 * (verify/REPLAY.md), so this is the replay speed. Also checks that both
 * devices ended with the same bits.
 *
 *   engine_gpu NAME [--layers L] [--heads H] [--width C] [--context T]
 *              [--batch B] [--cpu-steps N] [--gpu-steps N] [--threads T]
 *
 * Both devices run one untimed warm-up step first. The CPU then times
 * --cpu-steps steps (default 2); the GPU times the same steps, which are
 * compared bit for bit, then --gpu-steps more (default 10) for its figure.
 * --cpu-steps 0 times the GPU alone. Never asserts a timing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/gpt.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Bytes with some structure, and the batch of step s drawn from them by the data order. */
#define CORPUS (1u << 22)
static void batch(const gpt_config *c, const uint8_t *text, uint64_t s, uint8_t *tok)
{
    uint64_t samples[1] = {CORPUS};
    gpt_window *w = calloc(c->batch, sizeof *w);
    if (!w || gpt_batch_windows(c, s, samples, 1, w) != 0) abort();
    for (uint32_t b = 0; b < c->batch; b++)
        memcpy(tok + (size_t)b * (c->context + 1), text + w[b].first, c->context + 1);
    free(w);
}

/* Useful FLOP of one step (forward, backward; causal attention counted once per pair u <= t). */
static double step_flop(const gpt_config *c)
{
    double L = c->layers, C = c->width, T = c->context, B = c->batch, N = B * T;
    double linear = 2.0 * N * (12.0 * C * C * L + 256.0 * C); /* forward products */
    double attention = 2.0 * B * L * C * (T * (T + 1) / 2.0) * 2.0; /* scores and p v */
    return 3.0 * (linear + attention);
}

static int steps(gpt *g, const gpt_config *c, const uint8_t *text, uint64_t n, uint8_t *tok)
{
    for (uint64_t i = 0; i < n; i++) {
        gpt_step_result r;
        batch(c, text, gpt_step(g) + 1, tok);
        gpt_train_step(g, tok, &r);
        if (gpt_error(g)) {
            fprintf(stderr, "engine_gpu: %s\n", gpt_error(g));
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    gpt_config c;
    gpt_config_default(&c);
    c.steps = 1000, c.warmup = 10;
    uint64_t cpu_steps = 2, gpu_steps = 10;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = nproc > 0 && nproc <= 256 ? (unsigned)nproc : 1;
    if (argc < 2) {
        fprintf(stderr, "usage: engine_gpu NAME [--layers L] [--heads H] [--width C] "
                        "[--context T] [--batch B] [--cpu-steps N] [--gpu-steps N] [--threads T]\n");
        return 2;
    }
    const char *name = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        unsigned long long v = strtoull(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--layers") == 0) c.layers = (uint32_t)v;
        else if (strcmp(argv[i], "--heads") == 0) c.heads = (uint32_t)v;
        else if (strcmp(argv[i], "--width") == 0) c.width = (uint32_t)v;
        else if (strcmp(argv[i], "--context") == 0) c.context = (uint32_t)v;
        else if (strcmp(argv[i], "--batch") == 0) c.batch = (uint32_t)v;
        else if (strcmp(argv[i], "--cpu-steps") == 0) cpu_steps = v;
        else if (strcmp(argv[i], "--gpu-steps") == 0) gpu_steps = v;
        else if (strcmp(argv[i], "--threads") == 0) threads = (unsigned)v;
        else {
            fprintf(stderr, "engine_gpu: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    char err[256];
    gpt_cuda_info info;
    if (gpt_cuda_describe(&info, err, sizeof err) != 0) {
        fprintf(stderr, "engine_gpu: %s\n", err);
        return 2;
    }
    uint8_t *text = malloc(CORPUS), *tok = malloc((size_t)c.batch * (c.context + 1));
    if (!text || !tok) return 2;
    for (size_t i = 0; i < CORPUS; i++) /* a little structure: words of a 64-letter alphabet */
        text[i] = (uint8_t)(i % 7 == 6 ? ' ' : 'A' + ((i * 2654435761u) >> 26));
    gpt *cpu = NULL, *gpu = NULL;
    if ((cpu_steps && gpt_new_on(&cpu, &c, GPT_CPU, threads, err, sizeof err) != 0) ||
        gpt_new_on(&gpu, &c, GPT_CUDA, 1, err, sizeof err) != 0) {
        fprintf(stderr, "engine_gpu: %s\n", err);
        return 2;
    }
    double t0, cpu_s = 0, gpu_s, fb_s;
    if ((cpu && steps(cpu, &c, text, 1, tok)) || steps(gpu, &c, text, 1, tok)) return 2;
    t0 = now();
    if (cpu && steps(cpu, &c, text, cpu_steps, tok)) return 2;
    if (cpu) cpu_s = (now() - t0) / (double)cpu_steps;
    if (steps(gpu, &c, text, cpu_steps, tok)) return 2;
    int same = 1;
    for (size_t i = 0; cpu && i < gpt_tensor_count(cpu); i++) {
        const gpt_tensor *x = gpt_tensor_at(cpu, i), *y = gpt_tensor_at(gpu, i);
        if (memcmp(x->data, y->data, x->bytes) != 0) {
            fprintf(stderr, "engine_gpu: %s differs after %llu steps\n", x->name,
                    (unsigned long long)(cpu_steps + 1));
            same = 0;
            break;
        }
    }
    t0 = now();
    if (steps(gpu, &c, text, gpu_steps, tok)) return 2;
    gpu_s = (now() - t0) / (double)gpu_steps;
    batch(&c, text, gpt_step(gpu) + 1, tok);
    t0 = now();
    for (uint64_t i = 0; i < gpu_steps; i++)
        gpt_forward_backward(gpu, tok);
    fb_s = (now() - t0) / (double)gpu_steps;

    double flop = step_flop(&c);
    double peak = (double)info.sms * info.fp32_per_sm * info.mhz * 1e6 * 2.0;
    size_t params = 0;
    for (size_t i = 0; i < gpt_tensor_count(gpu); i++)
        if (gpt_tensor_at(gpu, i)->is_param) params += gpt_tensor_at(gpu, i)->bytes / 4;
    printf("bench-gpu %s: L%u C%u H%u T%u B%u, %.1fM parameters, %.3g GFLOP/step on %s\n", name,
           c.layers, c.width, c.heads, c.context, c.batch, (double)params / 1e6, flop / 1e9,
           info.name);
    if (cpu)
        printf("bench-gpu %s: cpu %.2f ms/step (%u threads, %llu steps), gpu %.2f ms/step "
               "(forward+backward %.2f ms), ratio cpu/gpu %.1f\n",
               name, 1e3 * cpu_s, threads, (unsigned long long)cpu_steps, 1e3 * gpu_s, 1e3 * fb_s,
               cpu_s / gpu_s);
    else
        printf("bench-gpu %s: gpu %.2f ms/step (forward+backward %.2f ms)\n", name, 1e3 * gpu_s,
               1e3 * fb_s);
    printf("bench-gpu %s: gpu %.2f TFLOP/s = %.1f%% of the fp32 peak %.1f TFLOP/s (%.1f%% of "
           "the %.1f TFLOP/s without fused multiply-add); cpu %.1f GFLOP/s\n",
           name, flop / gpu_s / 1e12, 100.0 * flop / gpu_s / peak, peak / 1e12,
           200.0 * flop / gpu_s / peak, peak / 2e12, cpu ? flop / cpu_s / 1e9 : 0.0);
    if (cpu)
        printf("bench-gpu %s: same bits on cpu and gpu after %llu steps: %s\n", name,
               (unsigned long long)(cpu_steps + 1), same ? "yes" : "NO");
    gpt_free(cpu);
    gpt_free(gpu);
    free(text);
    free(tok);
    return same ? 0 : 1;
}
