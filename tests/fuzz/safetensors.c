/*
 * Fuzz target: the safetensors header parser. Each input is a whole file.
 * A head shorter than the header must ask for more bytes, never for more
 * than the file has; a parse of the whole file never asks for more. What
 * parses must keep every promise of format/SAFETENSORS.md, checked here
 * again from the accessors: known dtypes, tiling, sizes, file size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/error.h"
#include "attest/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes of tensor t, or -1 if the size rule [ST-10] does not hold. */
static int64_t tensor_bytes(const attest_tensor_info *t)
{
    unsigned bits = attest_safetensors_dtype_bits(t->dtype);
    uint64_t v = 1;

    if (bits == 0 || t->rank > ATTEST_SAFETENSORS_MAX_RANK) return -1;
    for (size_t i = 0; i < t->rank; i++) {
        if (t->shape[i] && v > UINT64_MAX / t->shape[i]) return -1;
        v *= t->shape[i];
    }
    if (v > UINT64_MAX / bits || v * bits % 8) return -1;
    return (int64_t)(v * bits / 8);
}

static void check(const attest_safetensors *st, size_t size)
{
    uint64_t pos = 0, off = attest_safetensors_data_offset(st);
    size_t n = attest_safetensors_count(st);

    if (off < 10 || off > size || (off - 8) > ATTEST_SAFETENSORS_MAX_HEADER) abort();
    for (size_t i = 0; i < n; i++) {
        const attest_tensor_info *t = attest_safetensors_tensor(st, i);
        if (!t || !t->name || !t->dtype || t->begin != pos || t->end < t->begin) abort();
        if (tensor_bytes(t) != (int64_t)(t->end - t->begin)) abort();
        if (i > 0) {
            const attest_tensor_info *p = attest_safetensors_tensor(st, i - 1);
            if (p->begin == t->begin && p->end == t->end && strcmp(p->name, t->name) >= 0) abort();
            if (strcmp(t->name, "__metadata__") == 0) abort();
        }
        pos = t->end;
    }
    if (off + pos != size || attest_safetensors_tensor(st, n) != NULL) abort();
    (void)attest_safetensors_metadata(st, "format");
    (void)attest_safetensors_metadata(st, "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attest_safetensors *st = NULL;
    uint64_t needed = 0;
    char err[256];
    size_t part = size < 8 ? size : 8;
    int rc;

    rc = attest_safetensors_parse(&st, data, part, size, &needed, err, sizeof err);
    if (rc == ATTEST_EINVAL && (needed <= part || needed > size)) abort();
    if (rc != ATTEST_EINVAL && needed != 0) abort();
    attest_safetensors_free(st);
    st = NULL;

    rc = attest_safetensors_parse(&st, data, size, size, &needed, err, sizeof err);
    if (rc == ATTEST_EINVAL || (rc != 0) != (st == NULL)) abort();
    if (rc == ATTEST_EFORMAT && (err[0] == '\0' || !memchr(err, '\0', sizeof err))) abort();
    if (rc == 0) check(st, size);
    attest_safetensors_free(st);
    return 0;
}
