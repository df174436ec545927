/*
 * live.c - the training host's half of a live verification session: a
 * fresh TPM quote of the run's latest seal, bound to the auditor's nonce
 * (format/live.h). It reads the log, never writes it, and writes nothing
 * to the TPM: both NV indexes are certified as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "attest/anchor.h"
#include "attest/error.h"
#include "attest/log.h"
#include "attest/note.h"
#include "attest/tpm.h"
#include "format/live.h"
#include "format/text.h"

/* The run's NV indexes as its tpm record names them. */
static int nv_of(attest_log *log, attest_tpm_nv *nv, char *err, size_t errsz)
{
    uint64_t n = attest_log_count(log);
    for (uint64_t i = 1; i < n; i++) {
        char *data = NULL;
        size_t len = 0;
        if (attest_log_get(log, i, &data, &len) != 0)
            return attest_text_fail(err, errsz, ATTEST_EIO, "record %llu: cannot be read",
                                    (unsigned long long)i);
        json_t *rec = json_loadb(data, len, 0, NULL);
        free(data);
        const char *type = json_string_value(json_object_get(rec, "type"));
        if (!type || strcmp(type, "tpm") != 0) {
            json_decref(rec);
            continue;
        }
        const char *en = json_string_value(json_object_get(rec, "extend_name"));
        const char *cn = json_string_value(json_object_get(rec, "counter_name"));
        memset(nv, 0, sizeof *nv);
        nv->extend_handle = (uint32_t)json_integer_value(json_object_get(rec, "extend_index"));
        nv->counter_handle = (uint32_t)json_integer_value(json_object_get(rec, "counter_index"));
        int bad = !en || !cn ||
                  sodium_hex2bin(nv->extend_name, sizeof nv->extend_name, en, strlen(en), NULL,
                                 &nv->extend_name_len, NULL) != 0 ||
                  sodium_hex2bin(nv->counter_name, sizeof nv->counter_name, cn, strlen(cn), NULL,
                                 &nv->counter_name_len, NULL) != 0;
        json_decref(rec);
        if (bad)
            return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                    "record %llu (tpm): NV names are not hex",
                                    (unsigned long long)i);
        return 0;
    }
    return attest_text_fail(err, errsz, ATTEST_ENOTFOUND,
                            "the log has no tpm record: the run is not TPM-anchored, so there is "
                            "no TPM to quote");
}

int attest_live_quote(const char *log_path, const char *tcti, const uint8_t *nonce,
                      size_t nonce_len, char **quote_json, char *err, size_t errsz)
{
    attest_log *log = NULL;
    attest_tpm *tpm = NULL;
    char *note = NULL, *ev_text = NULL;
    int rc;
    *quote_json = NULL;
    if (!nonce || nonce_len == 0)
        return attest_text_fail(err, errsz, ATTEST_EINVAL,
                                "a live quote needs the auditor's nonce");
    if ((rc = attest_log_open(&log, log_path, ATTEST_LOG_READ)) != 0) {
        attest_text_fail(err, errsz, rc, "%s: %s", log_path,
                         log ? attest_log_errmsg(log) : "cannot open");
        goto done;
    }
    if ((rc = attest_log_checkpoint(log, 0, &note)) != 0) {
        attest_text_fail(err, errsz, rc, "%s: no seal to quote", log_path);
        goto done;
    }
    attest_checkpoint cp;
    char why[256];
    const char *blank = strstr(note, "\n\n"); // the body ends at the blank line before signatures
    size_t body = blank ? (size_t)(blank - note) + 1 : strlen(note);
    if ((rc = attest_checkpoint_parse(note, body, &cp, why, sizeof why)) != 0) {
        attest_text_fail(err, errsz, rc, "%s: the latest seal's note: %s", log_path, why);
        goto done;
    }
    attest_tpm_nv nv;
    if ((rc = nv_of(log, &nv, err, errsz)) != 0) goto done;
    uint8_t digest[32];
    attest_tpm_evidence ev;
    if ((rc = attest_live_digest(nonce, nonce_len, note, digest)) != 0 ||
        (rc = attest_tpm_open(&tpm, tcti, err, errsz)) != 0 ||
        (rc = attest_tpm_quote(tpm, &nv, digest, &ev, err, errsz)) != 0)
        goto done;
    if (!(ev_text = attest_tpm_evidence_text(&ev))) {
        rc = ATTEST_ENOMEM;
        goto done;
    }
    char *nonce_hex = malloc(2 * nonce_len + 1);
    json_t *q = nonce_hex ? json_pack("{s:I, s:s, s:s, s:o}", "size", (json_int_t)cp.size,
                                      "checkpoint", note, "nonce",
                                      sodium_bin2hex(nonce_hex, 2 * nonce_len + 1, nonce,
                                                     nonce_len),
                                      "tpm", json_loads(ev_text, 0, NULL))
                          : NULL;
    free(nonce_hex);
    if (!q || !(*quote_json = json_dumps(q, JSON_COMPACT))) rc = ATTEST_ENOMEM;
    json_decref(q);
done:
    free(ev_text);
    free(note);
    attest_tpm_free(tpm);
    attest_log_free(log);
    return rc;
}
