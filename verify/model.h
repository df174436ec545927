/*
 * model.h - internal: the run-to-model test (model.c, verify/SOUNDNESS.md
 * section 4): whether a model file came out of the run the log records.
 */
#ifndef ATTEST_VERIFY_MODEL_H
#define ATTEST_VERIFY_MODEL_H

#include <stdint.h>

#include <jansson.h>

#include "attest/verify.h"
#include "engine/gpt.h"
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
 * Runs the test on o->model (o->model_examples examples, 0: 4000) with the
 * engine configuration cfg; fills `out` (the report's "model" object).
 * Returns 0 (shown), ATTEST_EVERIFY (not shown, or the file is not a model
 * of this architecture: err says which), or another code when it could not
 * run.
 */
int replay_model_test(const replay_log *l, const vdata *data, const attest_replay_options *o,
                      const gpt_config *cfg, json_t *out, char *err, size_t errsz);

#endif
