/*
 * pool.c - worker threads for hashing jobs, at a lower scheduling priority
 * than the training threads. Jobs start in the order they were queued;
 * nothing here knows what a job does or orders their results (run.c does).
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attest/error.h"
#include "attest/pool.h"

struct job {
    attest_job_fn fn;
    void *arg;
    struct job *next;
};

struct attest_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    int stopping;
    unsigned n;
    pthread_t *threads;
};

/* How much lower than the training threads the workers run (nice levels). */
#define WORKER_NICE 10

static void *worker(void *arg)
{
    attest_pool *p = arg;
    // On a busy machine the training loop comes first; hashing fills the gaps.
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        struct job *j = p->head;
        if (!j) break;
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int attest_pool_new(attest_pool **out, unsigned threads)
{
    attest_pool *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p) return ATTEST_ENOMEM;
    p->threads = calloc(threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return ATTEST_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (; p->n < threads; p->n++) {
        if (pthread_create(&p->threads[p->n], NULL, worker, p) != 0) {
            attest_pool_free(p);
            return ATTEST_EIO;
        }
    }
    *out = p;
    return 0;
}

int attest_pool_submit(attest_pool *p, attest_job_fn fn, void *arg)
{
    struct job *j = malloc(sizeof *j);
    if (!j) return ATTEST_ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void attest_pool_free(attest_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}
