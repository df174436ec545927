/*
 * plausible.c - trajectory plausibility of a segment (plausible.h,
 * verify/SOUNDNESS.md section 3).
 *
 * The AdamW bound. With m_0 = v_0 = 0 and gradients g_s (after any
 * clipping), m_s = (1 - b1) sum_k b1^k g_{s-k} and v_s = (1 - b2) sum_k
 * b2^k g_{s-k}^2 over k < s, so by Cauchy-Schwarz, with rho = b1^2 / b2 < 1,
 *   |m_s| / sqrt(v_s) <= (1 - b1) sqrt((1 - rho^s) / (1 - rho)) / sqrt(1 - b2),
 * whatever the gradients. Step s moves an element by at most
 *   lr_s sqrt(1 - b2^s) / (1 - b1^s) * that      (eps only shrinks it)
 * plus the decay lr_s wd |p|, and |p| never exceeds max|p_a| plus the moves
 * so far. The sum over the segment bounds |p_b - p_a| element by element.
 */
#include "verify/plausible.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void plaus_opt_from_config(const json_t *config, plaus_opt *o)
{
    memset(o, 0, sizeof *o);
    const json_t *e = json_object_get(config, "engine");
    const json_t *opt = json_object_get(config, "optimizer");
    if (json_is_object(e) && json_is_number(json_object_get(e, "beta1"))) {
        o->beta1 = json_number_value(json_object_get(e, "beta1"));
        o->beta2 = json_number_value(json_object_get(e, "beta2"));
        o->weight_decay = json_number_value(json_object_get(e, "weight_decay"));
        o->adamw = 1;
    } else if (json_is_object(opt) &&
               json_is_string(json_object_get(opt, "name")) &&
               strcmp(json_string_value(json_object_get(opt, "name")), "AdamW") == 0 &&
               json_array_size(json_object_get(opt, "betas")) == 2) {
        o->beta1 = json_number_value(json_array_get(json_object_get(opt, "betas"), 0));
        o->beta2 = json_number_value(json_array_get(json_object_get(opt, "betas"), 1));
        o->weight_decay = json_number_value(json_object_get(opt, "weight_decay"));
        o->adamw = 1;
    }
    if (o->adamw && !(o->beta1 >= 0 && o->beta2 > 0 && o->beta2 < 1 && o->beta1 < 1 &&
                      o->beta1 * o->beta1 < o->beta2 && o->weight_decay >= 0))
        o->adamw = 0; /* no finite bound */
}

/* Largest move of one element at step s (1-based), per unit of lr, from the moments. */
static double adam_step_bound(const plaus_opt *o, uint64_t s)
{
    double b1 = o->beta1, b2 = o->beta2, rho = b1 * b1 / b2, sd = (double)s;
    double ratio = (1 - b1) * sqrt((1 - pow(rho, sd)) / (1 - rho)) / sqrt(1 - b2);
    return sqrt(1 - pow(b2, sd)) / (1 - pow(b1, sd)) * ratio;
}

int plaus_segment(const vckpt *a, const vckpt *b, const char *prefix, uint64_t a_step,
                  const double *lr, size_t n, const plaus_opt *o, plaus_result *r)
{
    memset(r, 0, sizeof *r);
    r->bound_use = -1;
    double adam = 0, lr_sum = 0, lr_sq = 0;
    for (size_t j = 0; j < n; j++) {
        double l = fabs(lr[j]);
        lr_sum += l;
        lr_sq += l * l;
        if (o->adamw) adam += l * adam_step_bound(o, a_step + 1 + j);
    }
    r->lr_sum = lr_sum;
    double sq = 0, base = 0;
    uint64_t count = 0;
    int any = 0;
    for (size_t i = 0; i < vckpt_count(a); i++) {
        const uint8_t *x = NULL, *y = NULL;
        const attest_tensor_info *ta = vckpt_tensor(a, i, &x);
        if (!vckpt_is_weight(ta, prefix)) continue;
        const attest_tensor_info *tb = vckpt_find(b, ta->name, &y);
        if (!tb || !vckpt_same_layout(ta, tb)) continue;
        uint64_t numel = vckpt_numel(ta);
        double pmax = 0, dmax = 0;
        any = 1;
        for (uint64_t k = 0; k < numel; k++) {
            double u = vckpt_value(ta->dtype, x, k), v = vckpt_value(ta->dtype, y, k);
            double d = fabs(v - u);
            if (fabs(u) > pmax) pmax = fabs(u);
            base += u * u;
            if (d > dmax || d != d) dmax = d != d ? INFINITY : d;
            sq += d * d;
        }
        count += numel;
        if (o->adamw) {
            /* decay: lr wd |p| per step, |p| <= pmax + adam along the way */
            double bound = adam + o->weight_decay * lr_sum * (pmax + adam);
            double use = bound > 0 ? dmax / bound : (dmax > 0 ? INFINITY : 0);
            if (use > r->bound_use) {
                r->bound_use = use;
                snprintf(r->tensor, sizeof r->tensor, "%s", ta->name);
            }
        }
    }
    if (!any) return -1;
    r->rel_update = base > 0 ? sqrt(sq) / sqrt(base) : (sq > 0 ? INFINITY : 0);
    double rms = count ? sqrt(sq / (double)count) : 0;
    r->move = lr_sq > 0 ? rms / sqrt(lr_sq) : (rms > 0 ? INFINITY : 0);
    return 0;
}

const char *plaus_verdict(const plaus_result *r, char *buf, size_t sz)
{
    if (r->bound_use > PLAUS_BOUND_MAX)
        snprintf(buf, sz,
                 "too large for AdamW: %s moved %.3gx the most its logged steps and learning "
                 "rates allow",
                 r->tensor, r->bound_use);
    else if (r->lr_sum > 0 && r->move < PLAUS_MOVE_MIN)
        snprintf(buf, sz,
                 "too small for training: the weights moved %.3g times the root-sum-square of "
                 "the logged learning rates (RMS over elements), below the %.3g training never "
                 "goes under",
                 r->move, PLAUS_MOVE_MIN);
    else
        buf[0] = 0;
    return buf;
}
