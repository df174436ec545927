// tests/gpu/sumsq.cc - the GPU gradient norm (engine/cuda/sumsq.cu) gives the
// bits of ENGINE.md's sequential binary64 sum of squares, on inputs made to
// hit its hard cases: exact ties of round-to-nearest-even (in both parities),
// binade boundaries inside chunks, zeros, subnormal floats, non-finite
// values, and a long ordinary gradient. Built against the real backend
// (make check-gpu) and against the CPU emulation (make check).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef GPT_CUDA_EMU
#include <cuda_runtime.h>
#endif

#include "engine/cuda/kernels.h"

static int failures;

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint32_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static void check(const char *name, const float *g, size_t n)
{
    double s = 0.0;
    for (size_t j = 0; j < n; j++)
        s = s + (double)g[j] * (double)g[j];
    float *dg = NULL, *dout = NULL;
    double *dsum = NULL, got = 0;
    void *scratch = NULL;
    float out[3];
    int ok = cudaMalloc((void **)&dg, n * sizeof(float) + 4) == cudaSuccess &&
             cudaMalloc((void **)&dout, sizeof out) == cudaSuccess &&
             cudaMalloc((void **)&dsum, sizeof(double)) == cudaSuccess &&
             cudaMalloc(&scratch, gk_grad_norm_scratch(n)) == cudaSuccess &&
             cudaMemcpy(dg, g, n * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess;
    if (ok) {
        gk_grad_norm(dout, dsum, dg, n, 1.0f, scratch);
        ok = cudaMemcpy(&got, dsum, sizeof got, cudaMemcpyDeviceToHost) == cudaSuccess &&
             cudaMemcpy(out, dout, sizeof out, cudaMemcpyDeviceToHost) == cudaSuccess;
    }
    int same = ok && (dbits(got) == dbits(s) || (isnan(got) && isnan(s)));
    printf("%s - %s (%zu terms): %a %s %a\n", same ? "ok" : "not ok", name, n, got,
           same ? "==" : "!=", s);
    if (!same) failures++;
    cudaFree(dg), cudaFree(dout), cudaFree(dsum), cudaFree(scratch);
}

int main(void)
{
    int have = 0;
    if (cudaGetDeviceCount(&have) != cudaSuccess || have < 1) {
        printf("ok - # SKIP no GPU\n");
        return 0;
    }
    size_t n = 1000003;
    float *g = (float *)malloc(n * sizeof(float));
    if (!g) return 1;

    // An ordinary gradient: mostly small, a few large entries.
    for (size_t j = 0; j < n; j++)
        g[j] = ((float)(next() % 2000001) - 1e6f) * (next() % 97 == 0 ? 1e-3f : 1e-7f);
    check("a gradient of a million entries", g, n);

    // s near 2.25 (binade E = 1, u = 2^-51): 2^-26 squares to u / 2, a tie; 3 * 2^-26
    // to 4.5 u, a tie; 5 * 2^-27 to 3.125 u; 7 * 2^-26 to 24.5 u, a tie.
    const float tiny[] = {0x1p-26f, 0x3p-26f, 0x5p-27f, 0x7p-26f, 0.0f, 0x1p-30f, 0x1p-25f};
    g[0] = 1.5f;
    for (size_t j = 1; j < 200000; j++)
        g[j] = tiny[next() % 7];
    check("exact ties of round-to-nearest-even, both parities", g, 200000);
    g[0] = 0x1.8p0f + 0x1p-23f; // the other parity of s / u at the start
    check("exact ties, the other starting parity", g, 200000);

    // Terms that grow: s crosses a binade every few terms, inside chunks.
    for (size_t j = 0; j < 60000; j++)
        g[j] = ldexpf(1.0f + (float)(next() % 1000) / 1000.0f, (int)(j / 1000) - 30);
    check("binade boundaries inside chunks", g, 60000);

    for (size_t j = 0; j < 10000; j++)
        g[j] = 0.0f;
    check("zeros", g, 10000);
    g[5000] = -0.0f;
    check("zeros and a negative zero", g, 10000);
    for (size_t j = 0; j < 10000; j++)
        g[j] = 0x1p-140f * (float)(next() % 1000); // subnormal floats
    check("subnormal floats", g, 10000);
    for (size_t j = 0; j < 10000; j++)
        g[j] = 1.0f;
    check("equal terms (long runs of the same increment)", g, 10000);
    g[7777] = INFINITY;
    check("an infinite entry", g, 10000);
    g[7777] = NAN;
    check("a NaN entry", g, 10000);
    for (size_t j = 0; j < 5000; j++)
        g[j] = 3.0e19f; // squares near 1e39: s passes 2^1000 and more
    check("huge entries", g, 5000);
    check("one term", g, 1);
    check("no terms", g, 0);
    free(g);
    return failures ? 1 : 0;
}
