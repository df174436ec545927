/*
 * Fuzz target: the log file reader. The input is a whole log file (header
 * and frames); the frame reader walks it and every whole frame's payload
 * goes through the record parser, as attest verify does.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attest/error.h"
#include "format/frame.h"
#include "format/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-log", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    attest_frame_reader *r = NULL;
    if (attest_frame_header_check(data, size, NULL, 0) == 0 &&
        attest_frame_reader_new(&r, fd, ATTEST_LOG_HEADER_SIZE, size, 0) == 0) {
        const uint8_t *payload;
        size_t len;
        uint64_t at, index = 0;
        uint8_t leaf[32];
        char err[512];
        while (attest_frame_next(r, &payload, &len, &at, leaf) == ATTEST_FRAME_OK) {
            json_t *rec;
            if (attest_record_parse(&rec, payload, len, index++, err, sizeof err) == 0)
                json_decref(rec);
        }
    }
    attest_frame_reader_free(r);
    close(fd);
    return 0;
}
