/*
 * plausible.h - internal: trajectory plausibility of a segment between two
 * checkpoints, without replay (verify/SOUNDNESS.md): how far each tensor
 * moved against what AdamW can move it in the logged steps at the logged
 * learning rates (a bound no honest run can exceed), and how far it moved
 * against the root-sum-square of the learning rates, the distance a random
 * walk of steps lr_s would cover (an interpolation toward a target moves
 * far less than training does).
 */
#ifndef ATTEST_VERIFY_PLAUSIBLE_H
#define ATTEST_VERIFY_PLAUSIBLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "verify/ckpt.h"

/* The optimizer the run names: AdamW with these constants, or unknown (adamw 0). */
typedef struct plaus_opt {
    int adamw;
    double beta1, beta2, weight_decay;
} plaus_opt;

/* From run.config: "engine" (attest-gpt/1) or "optimizer" {"name": "AdamW", "betas", ...}. */
void plaus_opt_from_config(const json_t *config, plaus_opt *o);

/* Below this movement (RMS / sqrt(sum lr^2)) a segment is implausibly small (SOUNDNESS.md). */
#define PLAUS_MOVE_MIN 0.02
/* Above this share of the AdamW bound a segment is impossible (the slack covers rounding). */
#define PLAUS_BOUND_MAX 1.001

typedef struct plaus_result {
    double bound_use; /* max over elements of |b - a| / AdamW bound; -1 when no bound */
    char tensor[128]; /* the tensor where bound_use is largest */
    double move;      /* RMS over elements of |b - a| / sqrt(sum of lr^2) */
    double lr_sum;
    double rel_update; /* ||b - a|| / ||a||, as vckpt_rel_update gives it */
} plaus_result;

/*
 * Segment from checkpoint a (after step a_step) to b, over the n steps
 * a_step + 1 .. a_step + n whose logged learning rates are lr[0..n-1]; the
 * float tensors whose names start with prefix, optimizer state excluded.
 * Returns 0, or -1 when no tensor qualifies.
 */
int plaus_segment(const vckpt *a, const vckpt *b, const char *prefix, uint64_t a_step,
                  const double *lr, size_t n, const plaus_opt *o, plaus_result *r);

/* "" when plausible, else why not (static text with the numbers in r). */
const char *plaus_verdict(const plaus_result *r, char *buf, size_t sz);

#endif
