/*
 * tests/gpu/cuda_emu.h - runs the engine's CUDA source (engine/cuda/) on
 * the CPU, for `make check` on machines without a GPU: each kernel launch
 * runs its blocks one after another and the threads of a block as
 * cooperative fibers that switch at __syncthreads. It checks the kernels'
 * indexing, tiling and summation order against the CPU engine; it says
 * nothing about a real GPU's arithmetic (make check-gpu does).
 *
 * Included first (g++ -include) when a .cu file is compiled as C++ with
 * -DGPT_CUDA_EMU. Covers the subset of CUDA the engine uses.
 */
#ifndef ATTEST_TESTS_CUDA_EMU_H
#define ATTEST_TESTS_CUDA_EMU_H

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <functional>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __launch_bounds__(n)

struct float4 {
    float x, y, z, w;
};

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

extern dim3 threadIdx, blockIdx, blockDim, gridDim;
void emu_sync(void);
#define __syncthreads() emu_sync()

static inline float __fsqrt_rn(float x)
{
    return sqrtf(x); /* correctly rounded in glibc and SSE */
}

typedef int cudaError_t;
#define cudaSuccess 0
#define cudaErrorMemoryAllocation 2
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
struct cudaDeviceProp {
    char name[256];
    int multiProcessorCount, major, minor;
    size_t totalGlobalMem;
};
enum cudaDeviceAttr { cudaDevAttrClockRate };
static inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int dev)
{
    (void)a, (void)dev;
    *v = 1000000;
    return cudaSuccess;
}

static inline const char *cudaGetErrorString(cudaError_t e)
{
    return e == cudaSuccess ? "no error" : "out of memory (emulated)";
}
static inline cudaError_t cudaGetDeviceCount(int *n)
{
    *n = 1;
    return cudaSuccess;
}
static inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev)
{
    (void)dev;
    memset(p, 0, sizeof *p);
    strcpy(p->name, "CPU emulation of the CUDA kernels");
    p->multiProcessorCount = 1;
    p->totalGlobalMem = (size_t)1 << 30;
    return cudaSuccess;
}
static inline cudaError_t cudaSetDevice(int dev)
{
    (void)dev;
    return cudaSuccess;
}
static inline cudaError_t cudaMalloc(void **p, size_t n)
{
    *p = malloc(n ? n : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t cudaFree(void *p)
{
    free(p);
    return cudaSuccess;
}
static inline cudaError_t cudaMemset(void *p, int v, size_t n)
{
    memset(p, v, n);
    return cudaSuccess;
}
static inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind k)
{
    (void)k;
    memcpy(d, s, n);
    return cudaSuccess;
}
static inline cudaError_t cudaGetLastError(void)
{
    return cudaSuccess;
}
static inline cudaError_t cudaDeviceSynchronize(void)
{
    return cudaSuccess;
}

void emu_launch(dim3 grid, dim3 block, const std::function<void()> &body);
#define GK_LAUNCH(kernel, grid, block, ...) emu_launch((grid), (block), [&] { kernel(__VA_ARGS__); })

#ifdef CUDA_EMU_IMPLEMENTATION
dim3 threadIdx, blockIdx, blockDim, gridDim;

static ucontext_t emu_main;
static std::vector<ucontext_t> emu_ctx;
static std::vector<char> emu_done;
static char *emu_stacks[1024]; /* one stack per thread of a block, kept for the process */
static const std::function<void()> *emu_body;
static unsigned emu_cur;
static int emu_direct; /* threads run on the caller's stack: must not synchronize */
#define EMU_STACK (256u * 1024u)

void emu_sync(void)
{
    if (emu_direct) abort(); /* __syncthreads reached by some threads of a block only */
    swapcontext(&emu_ctx[emu_cur], &emu_main);
}

static void emu_entry(void)
{
    (*emu_body)();
    emu_done[emu_cur] = 1;
    swapcontext(&emu_ctx[emu_cur], &emu_main);
}

/* Fresh context for thread t (out of line: getcontext returns twice). */
static __attribute__((noinline)) void emu_make(unsigned t)
{
    getcontext(&emu_ctx[t]);
    emu_ctx[t].uc_stack.ss_sp = emu_stacks[t];
    emu_ctx[t].uc_stack.ss_size = EMU_STACK;
    emu_ctx[t].uc_link = NULL;
    makecontext(&emu_ctx[t], emu_entry, 0);
    emu_done[t] = 0;
}

void emu_launch(dim3 grid, dim3 block, const std::function<void()> &body)
{
    unsigned nt = block.x * block.y * block.z;
    if (nt > 1024) abort(); /* CUDA's limit too */
    for (unsigned t = 0; t < nt; t++)
        if (!emu_stacks[t] && !(emu_stacks[t] = (char *)malloc(EMU_STACK))) abort();
    emu_ctx.resize(nt);
    emu_done.assign(nt, 0);
    emu_body = &body;
    gridDim = grid;
    blockDim = block;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                blockIdx = dim3(bx, by, bz);
                /* Thread 0 as a fiber first: when it never synchronizes, no thread
                 * of the block does, and the others run as plain calls. */
                emu_make(0);
                emu_cur = 0;
                threadIdx = dim3(0, 0, 0);
                swapcontext(&emu_main, &emu_ctx[0]);
                if (emu_done[0]) {
                    emu_direct = 1;
                    for (unsigned t = 1; t < nt; t++) {
                        threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
                        body();
                    }
                    emu_direct = 0;
                    continue;
                }
                for (unsigned t = 1; t < nt; t++)
                    emu_make(t);
                /* Rounds: every thread runs to its next barrier (or its end);
                 * thread 0 already waits at its first. */
                for (unsigned left = nt, first = 1; left > 0; first = 0) {
                    left = first;
                    for (unsigned t = first; t < nt; t++) {
                        if (emu_done[t]) continue;
                        emu_cur = t;
                        threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
                        swapcontext(&emu_main, &emu_ctx[t]);
                        if (!emu_done[t]) left++;
                    }
                }
            }
}
#endif

#endif
