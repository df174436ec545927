/*
 * engine/gpt_pool.h - the worker pool of the engine: runs a job over n
 * independent items, thread t taking items [t n / P, (t + 1) n / P). Which
 * thread computes an item never changes a result (ENGINE.md section 5).
 */
#ifndef ATTEST_ENGINE_GPT_POOL_H
#define ATTEST_ENGINE_GPT_POOL_H

#include <stddef.h>

#ifndef GPT_INTERNAL
#define GPT_INTERNAL __attribute__((visibility("hidden")))
#endif

typedef struct gpt_pool gpt_pool;

/* Runs items [begin, end) of a job; `thread` is in 0..threads-1 (for scratch space). */
typedef void (*gpt_job)(void *ctx, size_t begin, size_t end, unsigned thread);

/* Starts threads - 1 workers (the caller is thread 0). 0, or -1 when a thread failed. */
GPT_INTERNAL int gpt_pool_new(gpt_pool **out, unsigned threads);
/* Stops and joins the workers. NULL is a no-op. */
GPT_INTERNAL void gpt_pool_free(gpt_pool *p);
GPT_INTERNAL unsigned gpt_pool_threads(const gpt_pool *p);
/* Runs job over items 0..n-1 and returns when every item is done. */
GPT_INTERNAL void gpt_pool_run(gpt_pool *p, gpt_job job, void *ctx, size_t n);

#endif
