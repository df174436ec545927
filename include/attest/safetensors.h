/*
 * attest/safetensors.h - a strict reader and a writer of safetensors files
 * (format/SAFETENSORS.md; the rules of the safetensors project).
 *
 * A file is: an 8-byte little-endian header length N, N bytes of JSON
 * header, then the data buffer. The header maps tensor names to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
 * data buffer) and may hold "__metadata__", a string-to-string map. The
 * reader checks everything: header size cap, UTF-8 JSON object with no
 * duplicate keys, known dtypes, offsets that tile the buffer from 0 to its
 * end without hole or overlap, byte sizes equal to shape x dtype size, no
 * trailing bytes. Errors name the tensor.
 *
 * Thread-safety: a parsed handle is immutable and may be shared.
 */
#ifndef ATTEST_SAFETENSORS_H
#define ATTEST_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "attest/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest header accepted (as the safetensors project: 100 MB). */
#define ATTEST_SAFETENSORS_MAX_HEADER 100000000u
/* Largest tensor rank accepted. */
#define ATTEST_SAFETENSORS_MAX_RANK 16

typedef struct attest_safetensors attest_safetensors;

/* One tensor of a parsed file. Offsets are relative to the data buffer. */
typedef struct attest_tensor_info {
    const char *name;
    const char *dtype; /* "F32", "BF16", ... as in the file */
    size_t rank;
    uint64_t shape[ATTEST_SAFETENSORS_MAX_RANK];
    uint64_t begin, end; /* data_offsets: [begin, end) */
} attest_tensor_info;

/*
 * Parses a safetensors header. `head` holds the first bytes of the file
 * (at least 8 + N of them, N the header length in its first 8 bytes) and
 * file_size is the size of the whole file. Returns 0, ATTEST_EFORMAT (err
 * names the tensor and the rule), ATTEST_EINVAL when head is shorter than
 * 8 + N (call again with more bytes: *needed, if not NULL, says how many),
 * ATTEST_ENOMEM.
 */
ATTEST_API int attest_safetensors_parse(attest_safetensors **out, const uint8_t *head, size_t len,
                                        uint64_t file_size, uint64_t *needed, char *err,
                                        size_t errsz);

/* Reads and parses the header of the file at `path`. Adds ATTEST_EIO/ENOTFOUND. */
ATTEST_API int attest_safetensors_open(attest_safetensors **out, const char *path, char *err,
                                       size_t errsz);

/* Number of tensors. */
ATTEST_API size_t attest_safetensors_count(const attest_safetensors *st);

/* Tensor i (0 <= i < count), in the order of their data in the file. */
ATTEST_API const attest_tensor_info *attest_safetensors_tensor(const attest_safetensors *st,
                                                               size_t i);

/* File offset of the data buffer: 8 + N. */
ATTEST_API uint64_t attest_safetensors_data_offset(const attest_safetensors *st);

/* Value of a "__metadata__" key, or NULL. */
ATTEST_API const char *attest_safetensors_metadata(const attest_safetensors *st, const char *key);

/* Size in bits of one element of a dtype ("F32": 32, "F4": 4), 0 if unknown. */
ATTEST_API unsigned attest_safetensors_dtype_bits(const char *dtype);

/* Frees a parsed header. NULL is a no-op. */
ATTEST_API void attest_safetensors_free(attest_safetensors *st);

/* A tensor to write: its bytes are little-endian, C order, as safetensors stores them. */
typedef struct attest_tensor_view {
    const char *name;
    const char *dtype;
    size_t rank;
    const uint64_t *shape;
    const void *data;
    uint64_t size; /* bytes; must equal prod(shape) x dtype bits / 8 */
} attest_tensor_view;

/*
 * Writes a safetensors file: tensors in the order given (names must be
 * unique and not "__metadata__"), `metadata` an optional NULL-terminated
 * list of key, value strings. The header is padded with spaces to a
 * multiple of 8 bytes. The file is written to a temporary name beside
 * `path`, fsync'd, then renamed over `path`, so readers never see a half
 * file. Returns 0, ATTEST_EINVAL (bad tensor: err names it), ATTEST_EIO,
 * ATTEST_ENOMEM.
 */
ATTEST_API int attest_safetensors_write(const char *path, const attest_tensor_view *tensors,
                                        size_t n, const char *const *metadata, char *err,
                                        size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
