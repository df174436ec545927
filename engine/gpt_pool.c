/*
 * engine/gpt_pool.c - a fixed pthreads pool with static partitioning: one
 * job at a time, each thread takes a fixed contiguous range of the items,
 * the caller runs range 0 itself. One thread runs everything inline. No
 * work stealing: the partition is a function of n and the thread count only.
 * Threads spin briefly between jobs (a step is ~100 short jobs), then sleep.
 */
#include "gpt_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* Polls before sleeping: some tens of microseconds. */
#define SPIN 4000

struct gpt_pool {
    unsigned threads;
    pthread_t *tid;
    unsigned started;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    _Atomic uint64_t generation;
    _Atomic unsigned pending;
    _Atomic int quit;
    unsigned sleepers;  /* workers waiting on go, under mu */
    int caller_waiting; /* the caller waits on done, under mu */
    gpt_job job;
    void *ctx;
    size_t n;
};

struct worker_arg {
    gpt_pool *p;
    unsigned t;
};

static void run_range(gpt_pool *p, unsigned t)
{
    size_t begin = (size_t)((uint64_t)p->n * t / p->threads);
    size_t end = (size_t)((uint64_t)p->n * (t + 1) / p->threads);
    if (begin < end) p->job(p->ctx, begin, end, t);
}

static void *worker(void *arg)
{
    gpt_pool *p = ((struct worker_arg *)arg)->p;
    unsigned t = ((struct worker_arg *)arg)->t;
    uint64_t seen = 0;

    free(arg);
    for (;;) {
        int spins = 0;
        while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit) && spins < SPIN) {
            CPU_RELAX();
            spins++;
        }
        if (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->go, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = atomic_load(&p->generation);
        run_range(p, t);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            if (p->caller_waiting) pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

int gpt_pool_new(gpt_pool **out, unsigned threads)
{
    gpt_pool *p = calloc(1, sizeof *p);

    *out = NULL;
    if (!p || threads == 0) goto fail;
    p->threads = threads;
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, 0);
    if (pthread_mutex_init(&p->mu, NULL) != 0) goto fail;
    if (pthread_cond_init(&p->go, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        goto fail;
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->go);
        pthread_mutex_destroy(&p->mu);
        goto fail;
    }
    p->tid = calloc(threads, sizeof *p->tid);
    if (!p->tid) goto fail_started;
    for (unsigned t = 1; t < threads; t++) {
        struct worker_arg *a = malloc(sizeof *a);
        if (!a) goto fail_started;
        a->p = p;
        a->t = t;
        if (pthread_create(&p->tid[t], NULL, worker, a) != 0) {
            free(a);
            goto fail_started;
        }
        p->started++;
    }
    *out = p;
    return 0;

fail_started:
    gpt_pool_free(p);
    return -1;
fail:
    free(p);
    return -1;
}

void gpt_pool_free(gpt_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (unsigned t = 1; t <= p->started; t++)
        pthread_join(p->tid[t], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->go);
    pthread_mutex_destroy(&p->mu);
    free(p->tid);
    free(p);
}

unsigned gpt_pool_threads(const gpt_pool *p)
{
    return p->threads;
}

void gpt_pool_run(gpt_pool *p, gpt_job job, void *ctx, size_t n)
{
    if (n == 0) return;
    if (p->threads == 1) {
        job(ctx, 0, n, 0);
        return;
    }
    p->job = job;
    p->ctx = ctx;
    p->n = n;
    atomic_store(&p->pending, p->threads - 1);
    /* The job fields are published by this (sequentially consistent) store. */
    atomic_fetch_add(&p->generation, 1);
    pthread_mutex_lock(&p->mu);
    if (p->sleepers) pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);

    run_range(p, 0);

    for (int spins = 0; atomic_load(&p->pending) != 0 && spins < SPIN; spins++)
        CPU_RELAX();
    if (atomic_load(&p->pending) != 0) {
        pthread_mutex_lock(&p->mu);
        p->caller_waiting = 1;
        while (atomic_load(&p->pending) != 0)
            pthread_cond_wait(&p->done, &p->mu);
        p->caller_waiting = 0;
        pthread_mutex_unlock(&p->mu);
    }
}
