/*
 * frame.h - internal: the byte layout of a log file (format/LOG.md
 * sections 2 and 3): the file header, record frames, and a buffered
 * sequential reader that classifies the end of a file as clean, torn or
 * corrupt.
 */
#ifndef ATTEST_FORMAT_FRAME_H
#define ATTEST_FORMAT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define ATTEST_LOG_HEADER_SIZE 16
#define ATTEST_LOG_VERSION 1
/* 4-byte length before the payload, 8-byte check after it. */
#define ATTEST_FRAME_OVERHEAD 12

/* Writes the 16-byte file header of a version-1 log. */
void attest_frame_header(uint8_t out[ATTEST_LOG_HEADER_SIZE]);

/*
 * Checks a file header. Returns 0, ATTEST_EFORMAT (not an attest log, or
 * non-zero reserved bytes) or ATTEST_EVERSION, with a reason in err.
 */
int attest_frame_header_check(const uint8_t *buf, size_t len, char *err, size_t errsz);

/*
 * Encodes one frame into out (len + ATTEST_FRAME_OVERHEAD bytes) given the
 * payload and its leaf hash SHA-256(0x00 || payload).
 */
void attest_frame_encode(uint8_t *out, const void *payload, size_t len, const uint8_t leaf[32]);

/* What attest_frame_next found. */
enum attest_frame_status {
    ATTEST_FRAME_OK = 0,   /* a whole frame whose check matches */
    ATTEST_FRAME_END = 1,  /* clean end of file */
    ATTEST_FRAME_TORN = 2, /* the file ends inside the last frame ([LOG-9]) */
    ATTEST_FRAME_BAD = 3   /* a damaged frame; reason in the reader's message */
};

typedef struct attest_frame_reader attest_frame_reader;

/*
 * A sequential reader over fd from `offset` up to `end` (the file size
 * when the reader was made), for record numbers starting at `index`.
 */
int attest_frame_reader_new(attest_frame_reader **out, int fd, uint64_t offset, uint64_t end,
                            uint64_t index);
void attest_frame_reader_free(attest_frame_reader *r);

/*
 * Reads the next frame. On ATTEST_FRAME_OK, *payload (valid until the
 * next call), *len, *offset (of the frame) and leaf are set. Returns an
 * attest_frame_status, or a negative ATTEST_E* code on an I/O error.
 */
int attest_frame_next(attest_frame_reader *r, const uint8_t **payload, size_t *len,
                      uint64_t *offset, uint8_t leaf[32]);

/* The offset just past the last whole frame read. */
uint64_t attest_frame_reader_offset(const attest_frame_reader *r);

/* Why the last call returned ATTEST_FRAME_TORN or ATTEST_FRAME_BAD. */
const char *attest_frame_reader_message(const attest_frame_reader *r);

/*
 * Checks a frame held whole in memory (buf of exactly len + 12 bytes read
 * at a known offset). Returns 0 and the leaf hash, or ATTEST_ECORRUPT.
 */
int attest_frame_check(const uint8_t *buf, size_t size, const uint8_t **payload, size_t *len,
                       uint8_t leaf[32]);

/*
 * Decodes a frame's little-endian length prefix.
 */
uint32_t attest_frame_length(const uint8_t buf[4]);

#endif
