/*
 * Fuzz target: the TPM evidence verifier (verify/tpm.c). Each input is a
 * `tpm` record on its first line, then a JSON array of seals, each an object
 * {"checkpoint": string, "tpm": {...} or absent, "time": string or absent}.
 * The record is given as log index 0 and the seals as 1, 2, ... in order;
 * return codes are ignored, and the report is built at the end.
 */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "attest/error.h"
#include "verify/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - data) : size;
    size_t rest = nl ? size - first - 1 : 0;
    json_t *key = json_loadb((const char *)data, first, JSON_DECODE_ANY, NULL);
    if (!key) return 0;
    json_t *seals = rest ? json_loadb((const char *)nl + 1, rest, JSON_DECODE_ANY, NULL) : NULL;

    attest_tpm_verifier *v = NULL;
    char err[512];
    if (attest_tpm_verifier_new(&v) == 0) {
        if (attest_tpm_verifier_key(v, 0, key, err, sizeof err) != 0) { /* ignored */
        }
        size_t i;
        json_t *s;
        json_array_foreach(seals, i, s)
        {
            const char *note = json_string_value(json_object_get(s, "checkpoint"));
            if (!note) continue;
            json_t *tpm = json_object_get(s, "tpm");
            const char *when = json_string_value(json_object_get(s, "time"));
            if (attest_tpm_verifier_seal(v, (uint64_t)i + 1, note, tpm, when, err, sizeof err) !=
                0) { /* ignored */
            }
        }
        json_t *report = json_object();
        char line[256];
        if (report) attest_tpm_verifier_report(v, report, line, sizeof line);
        json_decref(report);
        attest_tpm_verifier_free(v);
    }
    json_decref(seals);
    json_decref(key);
    return 0;
}
