/*
 * Fuzz target: the DSSE envelope decoder (format/dsse.h). Any input is
 * decoded; an envelope that decodes is re-checked against a fixed key
 * (which must refuse it or accept it without crashing), and a refusal
 * always says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/error.h"
#include "attest/note.h"
#include "format/dsse.h"

#define VKEY "example.com/ml-training-log+fcb1c62c+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attest_dsse_envelope env;
    char err[256] = "";
    memset(&env, 0, sizeof env);
    int rc = attest_dsse_decode(&env, (const char *)data, size, err, sizeof err);
    if (rc == 0) {
        if (!env.payload_type || !env.payload || env.n_sigs == 0) abort();
        attest_verifier *v = NULL;
        char why[256];
        if (attest_verifier_parse(&v, VKEY, why, sizeof why) != 0) abort();
        char verr[256] = "";
        int vr = attest_dsse_verify(&env, v, verr, sizeof verr);
        if (vr != 0 && !verr[0]) abort();
        attest_verifier_free(v);
        attest_dsse_envelope_clear(&env);
    } else if (rc == ATTEST_EFORMAT && !err[0]) {
        abort();
    }
    return 0;
}
