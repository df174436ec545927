/*
 * Fuzz target: the record parser and the order rules. Each input is one or
 * more records separated by newlines, checked as records 0, 1, 2... of one
 * log (the first is preceded by a fixed valid run record when it is not one).
 */
#include <stdint.h>
#include <string.h>

#include "attest/error.h"
#include "format/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attest_rules *rules;
    char err[512];
    if (attest_rules_new(&rules) != 0) return 0;
    uint64_t index = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != '\n') continue;
        json_t *rec;
        if (attest_record_parse(&rec, data + start, i - start, index, err, sizeof err) == 0) {
            if (attest_rules_check(rules, index, rec, err, sizeof err) == 0) {
                attest_rules_apply(rules, index, rec);
                index++;
            }
            json_decref(rec);
        }
        start = i + 1;
    }
    attest_rules_free(rules);
    return 0;
}
