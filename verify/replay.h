/*
 * replay.h - internal: replay verification (verify/REPLAY.md). replay.c
 * checks the files, selects the segments and writes the report; a backend
 * re-runs the initialization and the segments: engine.c (the built-in
 * attest-gpt/1, bit for bit) or command.c (the run's own replay command,
 * within its tolerance).
 */
#ifndef ATTEST_VERIFY_REPLAY_H
#define ATTEST_VERIFY_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/verify.h"
#include "verify/ckpt.h"
#include "verify/data.h"

/* A logged record and its index in the log. */
typedef struct vrec {
    uint64_t index;
    json_t *rec;
} vrec;

/* What the log says, gathered by the structural walk (verify/structure.c). */
typedef struct replay_log {
    vrec run, init;
    vrec *shards, *steps, *ckpts;
    size_t n_shards, n_steps, n_ckpts;
    char *last_note; /* the text of the last seal's signed checkpoint note */
} replay_log;

/* Adds one record (a new reference) to the collection; 0 or ATTEST_ENOMEM. */
int replay_log_add(replay_log *l, uint64_t index, const json_t *rec);
void replay_log_clear(replay_log *l);

typedef struct replay_ctx {
    const attest_replay_options *o;
    const replay_log *log;
    const vdata *data;
    json_t *report; /* the "replay" object of the report */
} replay_ctx;

/* Segment seg goes from checkpoint record seg to seg + 1; its steps are steps[first, last). */
typedef struct replay_segment {
    size_t seg, first, last;
    const vckpt *from, *to;
    json_t *report; /* this segment's entry of the report */
} replay_segment;

/* One model evaluated on examples (the run-to-model test, verify/model.c). */
typedef struct replay_eval {
    const char *model;     /* a safetensors file of the run's tensors (its parameters suffice) */
    const json_t *refs;    /* the examples: one [shard, first, count] each */
    const uint8_t *tokens; /* their bytes, T1 each */
    size_t n, T1;
    double *loss; /* out: each example's mean next-token cross-entropy (nats) */
} replay_eval;

/*
 * A backend. Each call returns 0 (passed), ATTEST_EVERIFY (err says what
 * differs: step, tensor, sizes) or another code when it cannot check.
 * losses evaluates models on examples and sets *tol to the relative
 * agreement its losses promise with the losses the run logged.
 */
typedef struct replay_backend {
    const char *mode;
    int (*init)(void **state, const replay_ctx *c, char *err, size_t errsz);
    int (*initialization)(void *state, const replay_ctx *c, const vckpt *ckpt0, char *err,
                          size_t errsz);
    int (*segment)(void *state, const replay_ctx *c, const replay_segment *s, char *err,
                   size_t errsz);
    int (*losses)(void *state, const replay_ctx *c, replay_eval *ev, size_t n_ev, double *tol,
                  char *err, size_t errsz);
    void (*done)(void *state);
} replay_backend;

extern const replay_backend replay_engine;
extern const replay_backend replay_command;

/* Checkpoint record i's file (in --checkpoints), checked against its record. */
int replay_ckpt_load(const replay_ctx *c, size_t i, vckpt **out, char *err, size_t errsz);

/* The run's trainable tensors: names under run.replay.weights_prefix ("" when absent),
 * optimizer state excluded (vckpt_is_weight). */
const char *replay_weights_prefix(const replay_ctx *c);

/* Progress line through the caller's callback. */
void replay_progress(const replay_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Runs replay verification over the gathered log; fills report["replay"].
 * Returns 0, ATTEST_EVERIFY (err: the first failure), or another code
 * (err: why it could not be checked).
 */
int attest_replay_verify(json_t *report, const replay_log *log, const attest_replay_options *o,
                         char *err, size_t errsz);

/*
 * run.config.engine (the members train_gpt writes; floats as binary32 bits)
 * into an engine configuration that gpt_config_check accepts. Returns 0 or
 * ATTEST_EVERIFY with err naming the member.
 */
struct gpt_config;
int replay_engine_config(const json_t *engine, struct gpt_config *c, char *err, size_t errsz);
/*
 * Copies the tensors of checkpoint ck into the engine's (the parameters
 * only when params_only); each must exist with the engine's dtype and
 * shape, else ATTEST_EVERIFY naming it. The caller calls gpt_sync_state.
 */
struct gpt;
int replay_engine_load(struct gpt *g, const vckpt *ck, int params_only, char *err, size_t errsz);

/* Log-side float of a step member pair (value, bits), as binary64; 0 if absent. */
int replay_bits64(const json_t *rec, const char *member, uint64_t *bits);

#endif
