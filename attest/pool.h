/*
 * pool.h - internal: a fixed set of worker threads running queued jobs in
 * the order they were queued (first in, first started).
 */
#ifndef ATTEST_POOL_H
#define ATTEST_POOL_H

typedef struct attest_pool attest_pool;

/* A job: fn(arg) runs on one worker. The job owns arg. */
typedef void (*attest_job_fn)(void *arg);

/* Starts `threads` workers. Returns 0, ATTEST_ENOMEM or ATTEST_EIO (thread creation). */
int attest_pool_new(attest_pool **out, unsigned threads);

/* Queues a job. Returns 0 or ATTEST_ENOMEM (then the job was not queued). */
int attest_pool_submit(attest_pool *p, attest_job_fn fn, void *arg);

/* Runs every queued job, then stops and frees the workers. NULL is a no-op. */
void attest_pool_free(attest_pool *p);

#endif
