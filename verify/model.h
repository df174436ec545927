/*
 * model.h - internal: the run-to-model test (model.c, verify/SOUNDNESS.md
 * section 4): whether a model file came out of the run the log records.
 */
#ifndef ATTEST_VERIFY_MODEL_H
#define ATTEST_VERIFY_MODEL_H

#include <stdint.h>

#include <jansson.h>

#include "attest/verify.h"
#include "verify/ckpt.h"
#include "verify/data.h"
#include "verify/replay.h"

/* The p-value below which the model is shown to come from the run. */
#define ATTEST_MODEL_ALPHA 1e-6

/* First step of the tail of a run whose last step is `last` (the last twentieth). */
static inline uint64_t replay_model_tail_from(uint64_t last)
{
    return last - last / 20 + 1;
}

/*
 * Runs the test on c->o->model (c->o->model_examples examples, 0: 4000),
 * the backend evaluating the model (be->losses on its state); fills `out`
 * (the report's "model" object). Returns 0 (shown), ATTEST_EVERIFY (not
 * shown, the file is not a model of this architecture, or the backend's
 * losses fail the control: err says which), or another code when it could
 * not run.
 */
int replay_model_test(const replay_ctx *c, const replay_backend *be, void *state, json_t *out,
                      char *err, size_t errsz);

#endif
