/*
 * record.h - internal: the record schema of log format v1 and the ordering
 * rules between records (format/LOG.md sections 5 and 6).
 *
 * record.c checks one record on its own (JSON syntax, type, fields);
 * rules.c checks it against the records before it. Neither does I/O.
 */
#ifndef ATTEST_FORMAT_RECORD_H
#define ATTEST_FORMAT_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "attest/note.h"

/* Largest record payload, in bytes ([LOG-3]). */
#define ATTEST_RECORD_MAX (16u << 20)

/*
 * Parses and schema-checks one record. On success *out is the parsed
 * object (json_decref it). On failure returns ATTEST_EFORMAT with a reason
 * naming the record index and the field in err.
 */
int attest_record_parse(json_t **out, const void *data, size_t len, uint64_t index, char *err,
                        size_t errsz);

/* The record's type (valid after a successful parse). */
const char *attest_record_type(const json_t *rec);

/* Decodes a bits field ("%08x" binary32 or "%016x" binary64) to a double. */
int attest_record_bits(const char *hex, double *value);

/* The state the ordering rules need: what earlier records established. */
typedef struct attest_rules attest_rules;

int attest_rules_new(attest_rules **out);
void attest_rules_free(attest_rules *st);

/*
 * Checks record `index` (already parsed) against the records before it.
 * Makes room for what apply will store, so that apply cannot fail. Returns
 * 0, ATTEST_EFORMAT (reason in err), ATTEST_EVERIFY (a seal whose signature
 * does not verify with the run key) or ATTEST_ENOMEM. Does not change the
 * state: call attest_rules_apply once the record is stored.
 */
int attest_rules_check(attest_rules *st, uint64_t index, const json_t *rec, char *err,
                       size_t errsz);

/* Records that `rec` (checked) is now part of the log. */
void attest_rules_apply(attest_rules *st, uint64_t index, const json_t *rec);

/* The run key (valid after record 0 is applied), or NULL. */
const attest_verifier *attest_rules_run_key(const attest_rules *st);

/* The checkpoint of the last seal that attest_rules_check accepted. */
const attest_checkpoint *attest_rules_last_checked_seal(const attest_rules *st);

/* Facts for reports. */
typedef struct attest_rules_summary {
    uint64_t records, seals, steps, shards, checkpoints, notes;
    uint64_t last_step, last_seal_size;
    int have_init, have_end, have_code;
} attest_rules_summary;

void attest_rules_summarize(const attest_rules *st, attest_rules_summary *out);

#endif
