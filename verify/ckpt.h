/*
 * ckpt.h - internal: a checkpoint file as the verifier sees it: read whole,
 * checked against its `checkpoint` record (size, SHA-256, every tensor's
 * name, dtype, shape and digest), then its tensors by name. Also the
 * numbers the replay report needs: norms and differences of float tensors.
 */
#ifndef ATTEST_VERIFY_CKPT_H
#define ATTEST_VERIFY_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/safetensors.h"

typedef struct vckpt vckpt;

/*
 * Reads the file at `path` and, when `rec` is not NULL, checks it against
 * that checkpoint record (log record `index`). Returns 0; ATTEST_EVERIFY
 * when the file is not the one the log names (err names the file and the
 * first tensor that differs); ATTEST_ENOTFOUND, ATTEST_EIO, ATTEST_ENOMEM
 * when it cannot be checked; ATTEST_EFORMAT for a file that is not
 * safetensors (with rec == NULL).
 */
int vckpt_load(vckpt **out, const char *path, const json_t *rec, uint64_t index, char *err,
               size_t errsz);
void vckpt_free(vckpt *c);

const char *vckpt_path(const vckpt *c);
size_t vckpt_count(const vckpt *c);
/* Tensor i in file order, its bytes in *data. */
const attest_tensor_info *vckpt_tensor(const vckpt *c, size_t i, const uint8_t **data);
/* Tensor by name, or NULL. */
const attest_tensor_info *vckpt_find(const vckpt *c, const char *name, const uint8_t **data);

/* 1 for the floating-point dtypes the verifier compares by value (F64, F32, F16, BF16). */
int vckpt_is_float(const char *dtype);
/* Element i of a float tensor as a double. */
double vckpt_value(const char *dtype, const uint8_t *data, uint64_t i);
/* 1 when two tensors have the same dtype and shape. */
int vckpt_same_layout(const attest_tensor_info *a, const attest_tensor_info *b);

/* Number of elements. */
uint64_t vckpt_numel(const attest_tensor_info *t);

/*
 * 1 for a float tensor whose name starts with prefix and that is not
 * optimizer state ("adam.*", "optim.*"): the weights updates are measured on.
 */
int vckpt_is_weight(const attest_tensor_info *t, const char *prefix);

/*
 * Relative update between two checkpoints: ||b - a|| / ||a|| over the float
 * tensors whose names start with `prefix` ("" for all) and that both hold
 * with the same dtype and shape, optimizer state ("adam.*", "optim.*")
 * excluded. Returns -1 when no tensor qualifies.
 */
double vckpt_rel_update(const vckpt *a, const vckpt *b, const char *prefix);

/* Same dtype, shape and name set, then compares; *rel = ||x - y|| / max(||y||, tiny). */
double vckpt_rel_error(const attest_tensor_info *tx, const uint8_t *x, const uint8_t *y);

#endif
