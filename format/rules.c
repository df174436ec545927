/*
 * rules.c - the ordering rules between the records of one log ([LOG-20]..).
 *
 * Keeps only what later records are checked against: the run key, whether
 * init and end were seen, the last step number, and the shards by id. It
 * checks seal signatures with the run key; comparing a seal's root with the
 * tree is the caller's job (it owns the tree).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/error.h"
#include "format/record.h"
#include "format/text.h"

struct shard {
    uint64_t id;
    uint64_t samples;
};

struct attest_rules {
    attest_verifier *key;
    char origin[ATTEST_NOTE_NAME_MAX + 1];
    attest_rules_summary sum;
    int any_step, have_tpm;
    struct shard *shards; /* sorted by id */
    size_t n_shards, cap_shards;
    attest_checkpoint seal;
};

int attest_rules_new(attest_rules **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : ATTEST_ENOMEM;
}

void attest_rules_free(attest_rules *st)
{
    if (!st) return;
    attest_verifier_free(st->key);
    free(st->shards);
    free(st);
}

/* Index of the first shard with id >= `id`. */
static size_t shard_pos(const attest_rules *st, uint64_t id)
{
    size_t lo = 0, hi = st->n_shards;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->shards[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const struct shard *find_shard(const attest_rules *st, uint64_t id)
{
    size_t i = shard_pos(st, id);
    return i < st->n_shards && st->shards[i].id == id ? &st->shards[i] : NULL;
}

static uint64_t uint_field(const json_t *rec, const char *name)
{
    return (uint64_t)json_integer_value(json_object_get(rec, name));
}

static int check_run(attest_rules *st, const json_t *rec, char *err, size_t errsz)
{
    char why[200];
    attest_verifier *v = NULL;
    const char *vkey = json_string_value(json_object_get(rec, "public_key"));
    const char *origin = json_string_value(json_object_get(rec, "origin"));
    int rc = attest_verifier_parse(&v, vkey, why, sizeof why);
    if (rc == ATTEST_ENOMEM) return rc;
    if (rc)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record 0 (run): field \"public_key\": %s", why);
    if (strcmp(attest_verifier_name(v), origin) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT,
                              "record 0 (run): origin \"%s\" is not the key name \"%s\"", origin,
                              attest_verifier_name(v));
        attest_verifier_free(v);
        return rc;
    }
    attest_verifier_free(st->key);
    st->key = v;
    return 0;
}

static int check_step(attest_rules *st, uint64_t index, const json_t *rec, char *err, size_t errsz)
{
    unsigned long long ix = (unsigned long long)index;
    uint64_t step = uint_field(rec, "step");
    if (!st->sum.have_init)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu (step %llu): no \"init\" record before the first step",
                                ix, (unsigned long long)step);
    if (st->any_step && step <= st->sum.last_step)
        return attest_text_fail(
            err, errsz, ATTEST_EFORMAT,
            "record %llu (step %llu): step numbers must increase (previous step %llu)", ix,
            (unsigned long long)step, (unsigned long long)st->sum.last_step);
    size_t i;
    const json_t *ref;
    json_array_foreach(json_object_get(rec, "batch"), i, ref)
    {
        uint64_t id = (uint64_t)json_integer_value(json_array_get(ref, 0));
        uint64_t first = (uint64_t)json_integer_value(json_array_get(ref, 1));
        uint64_t count = (uint64_t)json_integer_value(json_array_get(ref, 2));
        const struct shard *sh = find_shard(st, id);
        if (!sh)
            return attest_text_fail(
                err, errsz, ATTEST_EFORMAT,
                "record %llu (step %llu): batch[%zu] uses shard %llu, not recorded before", ix,
                (unsigned long long)step, i, (unsigned long long)id);
        if (first > sh->samples || count > sh->samples - first)
            return attest_text_fail(
                err, errsz, ATTEST_EFORMAT,
                "record %llu (step %llu): batch[%zu] samples %llu..%llu are past the end of "
                "shard %llu (%llu samples)",
                ix, (unsigned long long)step, i, (unsigned long long)first,
                (unsigned long long)(first + count - 1), (unsigned long long)id,
                (unsigned long long)sh->samples);
    }
    return 0;
}

static int check_seal(attest_rules *st, uint64_t index, const json_t *rec, char *err, size_t errsz)
{
    unsigned long long ix = (unsigned long long)index;
    char why[200];
    char *text = NULL;
    if (uint_field(rec, "size") != index)
        return attest_text_fail(
            err, errsz, ATTEST_EFORMAT,
            "record %llu (seal): field \"size\" is %llu, must be its index %llu", ix,
            (unsigned long long)uint_field(rec, "size"), ix);
    const char *note = json_string_value(json_object_get(rec, "checkpoint"));
    int rc = attest_note_open(note, strlen(note), st->key, &text, why, sizeof why);
    if (rc == ATTEST_EVERIFY) {
        if (err) snprintf(err, errsz, "record %llu (seal): checkpoint signature: %s", ix, why);
        return rc;
    }
    if (rc == ATTEST_ENOMEM) return rc;
    if (rc)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "record %llu (seal): checkpoint: %s",
                                ix, why);
    rc = attest_checkpoint_parse(text, strlen(text), &st->seal, why, sizeof why);
    free(text);
    if (rc)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "record %llu (seal): checkpoint: %s",
                                ix, why);
    if (strcmp(st->seal.origin, attest_verifier_name(st->key)) != 0)
        return attest_text_fail(
            err, errsz, ATTEST_EFORMAT,
            "record %llu (seal): checkpoint origin \"%s\" is not the run's \"%s\"", ix,
            st->seal.origin, attest_verifier_name(st->key));
    if (st->seal.size != index)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu (seal): checkpoint size %llu, must be %llu", ix,
                                (unsigned long long)st->seal.size, ix);
    return 0;
}

int attest_rules_check(attest_rules *st, uint64_t index, const json_t *rec, char *err, size_t errsz)
{
    unsigned long long ix = (unsigned long long)index;
    const char *type = attest_record_type(rec);
    int is_run = strcmp(type, "run") == 0;
    if (index == 0 && !is_run)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record 0: the first record must be \"run\", not \"%s\"", type);
    if (index != 0 && is_run)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "record %llu: a second \"run\" record",
                                ix);
    if (is_run) return check_run(st, rec, err, errsz);
    if (st->sum.have_end && strcmp(type, "seal") != 0)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "record %llu (%s): only seals may follow \"end\"", ix, type);
    if (strcmp(type, "init") == 0) {
        // Steps need an init before them, so an init after a step is always a second one.
        if (st->sum.have_init)
            return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                    "record %llu: a second \"init\" record", ix);
    } else if (strcmp(type, "shard") == 0) {
        uint64_t id = uint_field(rec, "id");
        if (find_shard(st, id))
            return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                    "record %llu (shard): shard id %llu is already recorded", ix,
                                    (unsigned long long)id);
        if (st->n_shards == st->cap_shards) {
            size_t cap = st->cap_shards ? st->cap_shards * 2 : 64;
            struct shard *ns = realloc(st->shards, cap * sizeof *ns);
            if (!ns) return ATTEST_ENOMEM;
            st->shards = ns;
            st->cap_shards = cap;
        }
    } else if (strcmp(type, "step") == 0) {
        return check_step(st, index, rec, err, errsz);
    } else if (strcmp(type, "checkpoint") == 0) {
        uint64_t step = uint_field(rec, "step");
        uint64_t last = st->any_step ? st->sum.last_step : 0;
        if (step > last)
            return attest_text_fail(
                err, errsz, ATTEST_EFORMAT,
                "record %llu (checkpoint): step %llu is after the last recorded step %llu", ix,
                (unsigned long long)step, (unsigned long long)last);
    } else if (strcmp(type, "tpm") == 0) {
        if (st->have_tpm)
            return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                    "record %llu: a second \"tpm\" record", ix);
    } else if (strcmp(type, "seal") == 0) {
        if (json_object_get(rec, "tpm") && !st->have_tpm)
            return attest_text_fail(
                err, errsz, ATTEST_EFORMAT,
                "record %llu (seal): TPM evidence with no \"tpm\" record before it", ix);
        return check_seal(st, index, rec, err, errsz);
    } else if (strcmp(type, "end") == 0) {
        uint64_t steps = uint_field(rec, "steps");
        if (steps != st->sum.steps)
            return attest_text_fail(
                err, errsz, ATTEST_EFORMAT,
                "record %llu (end): \"steps\" is %llu but %llu steps were recorded", ix,
                (unsigned long long)steps, (unsigned long long)st->sum.steps);
    }
    return 0;
}

void attest_rules_apply(attest_rules *st, uint64_t index, const json_t *rec)
{
    const char *type = attest_record_type(rec);
    st->sum.records = index + 1;
    if (strcmp(type, "run") == 0) {
        snprintf(st->origin, sizeof st->origin, "%s",
                 json_string_value(json_object_get(rec, "origin")));
    } else if (strcmp(type, "init") == 0) {
        st->sum.have_init = 1;
    } else if (strcmp(type, "code") == 0) {
        st->sum.have_code = 1;
    } else if (strcmp(type, "shard") == 0) {
        uint64_t id = uint_field(rec, "id");
        size_t i = shard_pos(st, id);
        memmove(&st->shards[i + 1], &st->shards[i], (st->n_shards - i) * sizeof *st->shards);
        st->shards[i].id = id;
        st->shards[i].samples = uint_field(rec, "samples");
        st->n_shards++;
        st->sum.shards++;
    } else if (strcmp(type, "step") == 0) {
        st->any_step = 1;
        st->sum.last_step = uint_field(rec, "step");
        st->sum.steps++;
    } else if (strcmp(type, "checkpoint") == 0) {
        st->sum.checkpoints++;
    } else if (strcmp(type, "seal") == 0) {
        st->sum.seals++;
        st->sum.last_seal_size = index;
    } else if (strcmp(type, "end") == 0) {
        st->sum.have_end = 1;
    } else if (strcmp(type, "note") == 0) {
        st->sum.notes++;
    } else if (strcmp(type, "tpm") == 0) {
        st->have_tpm = 1;
    }
}

const attest_verifier *attest_rules_run_key(const attest_rules *st)
{
    return st->key;
}

const attest_checkpoint *attest_rules_last_checked_seal(const attest_rules *st)
{
    return &st->seal;
}

void attest_rules_summarize(const attest_rules *st, attest_rules_summary *out)
{
    *out = st->sum;
}
