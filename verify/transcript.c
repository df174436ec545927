/*
 * transcript.c - a live session's transcript against the log (transcript.h).
 * The quote proves when the session ran (after the nonce, at the log head
 * it names); the results prove nothing by themselves, so they are compared
 * with this verifier's own replay of the same draw.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/error.h"
#include "format/text.h"
#include "verify/transcript.h"

int attest_transcript_parse(const char *text, json_t **out, uint8_t **nonce, size_t *nonce_len,
                            uint64_t *segments, char *err, size_t errsz)
{
    json_error_t je;
    json_t *t = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    *out = NULL;
    *nonce = NULL;
    if (!t)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY, "transcript: not JSON (line %d: %s)",
                                je.line, je.text);
    const json_t *q = json_object_get(t, "quote");
    const char *type = json_string_value(json_object_get(t, "type"));
    const char *hex = json_string_value(json_object_get(q, "nonce"));
    const json_t *n = json_object_get(t, "replay_segments");
    size_t len = hex ? strlen(hex) : 0;
    if (!type || strcmp(type, "attest-live-transcript/v1") != 0 || !json_is_object(q) ||
        !json_is_integer(json_object_get(q, "size")) ||
        !json_is_string(json_object_get(q, "checkpoint")) ||
        !json_is_object(json_object_get(q, "tpm")) || !len || len % 2 ||
        strspn(hex, "0123456789abcdef") != len || !json_is_integer(n) ||
        json_integer_value(n) < 0 || !json_is_object(json_object_get(t, "replay"))) {
        json_decref(t);
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "transcript: not an attest-live-transcript/v1 (type, quote.size, "
                                "quote.checkpoint, quote.nonce in lowercase hex, quote.tpm, "
                                "replay_segments, replay)");
    }
    if (!(*nonce = malloc(len / 2))) {
        json_decref(t);
        return ATTEST_ENOMEM;
    }
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        (*nonce)[i] = (uint8_t)v;
    }
    *nonce_len = len / 2;
    *segments = (uint64_t)json_integer_value(n);
    *out = t;
    return 0;
}

int attest_transcript_quote(const json_t *t, attest_tpm_verifier *tv, uint64_t last_size,
                            const char *last_note, json_t *report, char *err, size_t errsz)
{
    const json_t *q = json_object_get(t, "quote");
    uint64_t size = (uint64_t)json_integer_value(json_object_get(q, "size"));
    const char *note = json_string_value(json_object_get(q, "checkpoint"));
    if (size != last_size || !last_note || strcmp(note, last_note) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "transcript: its quote is of the seal of tree size %" PRIu64
                                ", the log's latest seal signs %" PRIu64
                                "%s: the session did not verify this log head",
                                size, last_size,
                                size == last_size ? " with another note" : "");
    const char *hex = json_string_value(json_object_get(q, "nonce"));
    size_t len = strlen(hex) / 2;
    uint8_t *nonce = malloc(len);
    if (!nonce) return ATTEST_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        nonce[i] = (uint8_t)v;
    }
    double after = -1;
    char why[600];
    int rc = attest_tpm_verifier_live(tv, size, note, nonce, len, json_object_get(q, "tpm"), &after,
                                      why, sizeof why);
    free(nonce);
    if (rc) return attest_text_fail(err, errsz, rc, "transcript: TPM quote: %s", why);
    json_object_set_new(report, "live",
                        json_pack("{s:s, s:I, s:o, s:O}", "nonce", hex, "size", (json_int_t)size,
                                  "quote_after_last_seal_seconds",
                                  after >= 0 ? json_real(after) : json_null(), "time",
                                  json_object_get(t, "time")));
    return 0;
}

static const json_t *find_segment(const json_t *segs, json_int_t seg)
{
    size_t i;
    const json_t *e;
    json_array_foreach(segs, i, e) if (json_integer_value(json_object_get(e, "segment")) == seg)
        return e;
    return NULL;
}

int attest_transcript_results(const json_t *t, const json_t *replay, char *err, size_t errsz)
{
    const json_t *theirs = json_object_get(json_object_get(t, "replay"), "segments");
    const json_t *ours = json_object_get(replay, "segments");
    const char *tc = json_string_value(json_object_get(json_object_get(t, "replay"), "challenge"));
    const char *oc = json_string_value(json_object_get(replay, "challenge"));
    if (!tc || !oc || strcmp(tc, oc) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "transcript: its challenge is not the one this log head and "
                                "nonce give");
    if (json_array_size(theirs) != json_array_size(ours))
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "transcript: it lists %zu replayed segments, the nonce draws %zu",
                                json_array_size(theirs), json_array_size(ours));
    size_t i;
    const json_t *o;
    json_array_foreach(ours, i, o)
    {
        json_int_t seg = json_integer_value(json_object_get(o, "segment"));
        const json_t *e = find_segment(theirs, seg);
        if (!e || !json_equal(json_object_get(e, "why"), json_object_get(o, "why")))
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "transcript: segment %lld is not listed as the nonce draws it",
                                    (long long)seg);
        const char *r1 = json_string_value(json_object_get(e, "result"));
        const char *r2 = json_string_value(json_object_get(o, "result"));
        if (!r1 || !r2 || strcmp(r1, r2) != 0)
            return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                    "transcript: segment %lld is reported %s, the replay here "
                                    "gives %s",
                                    (long long)seg, r1 ? r1 : "(nothing)", r2 ? r2 : "(nothing)");
    }
    const json_t *ti = json_object_get(json_object_get(t, "replay"), "initialization");
    const json_t *oi = json_object_get(replay, "initialization");
    const char *r1 = json_string_value(json_object_get(ti, "result"));
    const char *r2 = json_string_value(json_object_get(oi, "result"));
    if (!r1 || !r2 || strcmp(r1, r2) != 0)
        return attest_text_fail(err, errsz, ATTEST_EVERIFY,
                                "transcript: the initialization is reported %s, here it is %s",
                                r1 ? r1 : "(nothing)", r2 ? r2 : "(nothing)");
    return 0;
}
