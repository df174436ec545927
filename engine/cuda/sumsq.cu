/*
 * engine/cuda/sumsq.cu - the gradient norm of ENGINE.md [OPT-1] on the GPU:
 * S = sum of (double)g_j * (double)g_j in binary64, added one term after the
 * other in element order, bit for bit, without adding one term after the
 * other.
 *
 * Why it can be done in parallel: every term is >= 0, so the running sum s
 * only grows. While s stays in one binade [2^E, 2^(E+1)), every addition
 * rounds to a multiple of u = 2^(E-52), and s + t rounds to s + u r with r
 * the integer nearest t / u; only an exact tie (t / u = m + 1/2) depends on
 * s, through the parity of s / u, which picks the even neighbour. So a run
 * of terms that keeps s in one binade adds u K to s, where K is an integer
 * sum that depends only on E and on that parity bit.
 *
 * The terms are cut into chunks. A cheap sum in any order guesses, for each
 * chunk, the binade s is in when the chunk starts; each chunk then computes
 * K for both parities (exact integer arithmetic). One thread walks the
 * chunks in order: when s really is in the guessed binade and s + u K stays
 * in it, the whole chunk was exactly that addition; otherwise (a binade
 * boundary inside the chunk, s = 0, a non-finite term) it adds the chunk's
 * terms one by one, as the definition does. Both ways give the bits of the
 * sequential sum.
 */
#include "kernels.h"

#include <math.h>

#ifndef GPT_CUDA_EMU
#include <cuda_runtime.h>
#define GK_LAUNCH(kernel, grid, block, ...) kernel<<<(grid), (block)>>>(__VA_ARGS__)
#endif

#define CHUNK 2048
#define TPB 256
#define NO_BINADE (-100000)
#define TWO53 9007199254740992.0

struct chunk_info {
    double approx; /* sum of the chunk's terms in any order, then the prefix before it */
    long long k[2];     /* u K for a start of parity 0 and 1 */
    int e;              /* guessed binade of s at the chunk's start */
    int ok;             /* bit 0: k[] valid; bit 1, 2: the parity after, for parity 0, 1 */
};

__device__ static double square(const float *g, size_t j)
{
    double x = (double)g[j];
    return x * x;
}

/* Block c: a sum of chunk c's squares (any order: it only guesses binades). */
__global__ void __launch_bounds__(TPB) k_sumsq_approx(chunk_info *ci, const float *g, size_t n)
{
    __shared__ double part[TPB];
    size_t c = blockIdx.x, base = c * CHUNK;
    int tid = (int)threadIdx.x;
    double s = 0.0;
    for (size_t j = base + (size_t)tid; j < base + CHUNK && j < n; j += TPB)
        s = s + square(g, j);
    part[tid] = s;
    __syncthreads();
    for (int w = TPB / 2; w > 0; w /= 2) {
        if (tid < w) part[tid] = part[tid] + part[tid + w];
        __syncthreads();
    }
    if (tid == 0) ci[c].approx = part[0];
}

/* One thread: the approximate sum before each chunk, and its binade. */
__global__ void k_sumsq_guess(chunk_info *ci, size_t nch)
{
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    double p = 0.0;
    for (size_t c = 0; c < nch; c++) {
        double here = ci[c].approx;
        ci[c].e = p >= 0x1p-1022 && p < INFINITY ? ilogb(p) : NO_BINADE; /* normal p only */
        ci[c].approx = p;
        p = p + here;
    }
}

/* Block c: r_j = nearest integer to t_j / u and whether it is a tie; then K for both parities. */
__global__ void __launch_bounds__(TPB) k_sumsq_chunk(chunk_info *ci, const float *g, size_t n)
{
    __shared__ long long r[CHUNK];
    __shared__ unsigned char tie[CHUNK];
    __shared__ int bad;
    size_t c = blockIdx.x, base = c * CHUNK;
    size_t m = n - base < CHUNK ? n - base : CHUNK;
    int tid = (int)threadIdx.x, e = ci[c].e;
    if (e == NO_BINADE) {
        if (tid == 0) ci[c].ok = 0;
        return;
    }
    if (tid == 0) bad = 0;
    __syncthreads();
    for (size_t j = (size_t)tid; j < m; j += TPB) {
        double t = square(g, base + j);
        double x = scalbn(t, 52 - e); /* t / u, exact wherever it can reach 1/2 */
        if (!(x < TWO53)) { /* also NaN */
            bad = 1;
            continue;
        }
        double fl = floor(x), frac = x - fl;
        r[j] = (long long)fl + (frac > 0.5 ? 1 : 0);
        tie[j] = frac == 0.5;
    }
    __syncthreads();
    if (tid != 0) return;
    if (bad) {
        ci[c].ok = 0;
        return;
    }
    long long k0 = 0, k1 = 0;
    int p0 = 0, p1 = 1;
    for (size_t j = 0; j < m; j++) {
        long long r0 = r[j], r1 = r[j];
        if (tie[j]) { /* the even neighbour of k + floor + 1/2 */
            r0 += (p0 + (int)(r[j] & 1)) & 1;
            r1 += (p1 + (int)(r[j] & 1)) & 1;
        }
        k0 += r0, k1 += r1;
        p0 ^= (int)(r0 & 1), p1 ^= (int)(r1 & 1);
    }
    ci[c].k[0] = k0, ci[c].k[1] = k1;
    ci[c].ok = 1 | (p0 << 1) | (p1 << 2);
}

/* One block: thread 0 walks the chunks in order (their facts staged in shared memory). */
__global__ void __launch_bounds__(TPB) k_sumsq_walk(float *out, double *sum, const chunk_info *ci,
                                                    const float *g, size_t n, size_t nch,
                                                    float clip)
{
    __shared__ chunk_info st[TPB];
    int tid = (int)threadIdx.x;
    double s = 0.0;
    for (size_t c0 = 0; c0 < nch; c0 += TPB) {
        if (c0 + (size_t)tid < nch) st[tid] = ci[c0 + (size_t)tid];
        __syncthreads();
        if (tid == 0) {
            size_t c1 = nch - c0 < TPB ? nch : c0 + TPB;
            for (size_t c = c0; c < c1; c++) {
                const chunk_info *h = &st[c - c0];
                if ((h->ok & 1) && s >= 0x1p-1022 && s < INFINITY && ilogb(s) == h->e) {
                    double u = scalbn(1.0, h->e - 52);
                    int p = (int)((long long)(s / u) & 1);
                    long long k = h->k[p];
                    if (k >= 0 && (double)k < TWO53) {
                        double end = s + (double)k * u;
                        if (end < scalbn(1.0, h->e + 1)) {
                            s = end;
                            continue;
                        }
                    }
                }
                size_t j1 = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
                for (size_t j = c * CHUNK; j < j1; j++)
                    s = s + square(g, j);
            }
        }
        __syncthreads();
    }
    if (tid == 0) {
        float norm = __fsqrt_rn((float)s), coef = 1.0f;
        int active = 0;
        if (clip > 0.0f) {
            coef = clip / (norm + 0x1.0c6f7ap-20f);
            active = coef < 1.0f;
        }
        out[0] = norm;
        out[1] = coef;
        out[2] = active ? 1.0f : 0.0f;
        if (sum) *sum = s;
    }
}

size_t gk_grad_norm_scratch(size_t n)
{
    size_t nch = (n + CHUNK - 1) / CHUNK;
    return (nch ? nch : 1) * sizeof(chunk_info);
}

void gk_grad_norm(float *out, double *sum, const float *g, size_t n, float clip, void *scratch)
{
    chunk_info *ci = (chunk_info *)scratch;
    size_t nch = (n + CHUNK - 1) / CHUNK;
    if (nch) {
        GK_LAUNCH(k_sumsq_approx, (unsigned)nch, TPB, ci, g, n);
        GK_LAUNCH(k_sumsq_guess, 1, 32, ci, nch);
        GK_LAUNCH(k_sumsq_chunk, (unsigned)nch, TPB, ci, g, n);
    }
    GK_LAUNCH(k_sumsq_walk, 1, TPB, out, sum, ci, g, n, nch, clip);
}
