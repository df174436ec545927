/*
 * Fuzz target: the verifier's reading of run.config.engine, the model and
 * optimizer configuration a built-in replay trusts nothing else for. Any
 * input either is refused with a reason or gives a configuration the
 * engine accepts, whose binary32 fields are exactly the bits written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/gpt.h"
#include "verify/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!j) return 0;
    gpt_config c;
    char err[256] = "";
    if (replay_engine_config(j, &c, err, sizeof err) == 0) {
        char why[256];
        if (gpt_config_check(&c, why, sizeof why) != 0) abort();
        const char *hex = json_string_value(json_object_get(j, "lr_max_bits"));
        uint32_t bits;
        memcpy(&bits, &c.lr_max, 4);
        if (!hex || strtoul(hex, NULL, 16) != bits) abort();
    } else if (!err[0]) {
        abort(); // a refusal always says why
    }
    json_decref(j);
    return 0;
}
