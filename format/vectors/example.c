/*
 * example.c - writes the worked example of format/LOG.md section 12:
 * example.jsonl (the records), example.log (the log file) and example.pub
 * (the verifier key), into the directory given as argv[1]. Deterministic:
 * fixed records, the RFC 8032 TEST 1 seed, Ed25519's fixed signatures.
 * Run by `make vectors`; tests/unit/vectors.c checks the files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attest/log.h"
#include "format/frame.h"

static const uint8_t seed[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
                                 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
                                 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};

#define Z "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* SHA-256 of the 4 u16le tokens 1, 2, 3, 4. */
#define SHARD "ea99f710d9d0b8ba192295c969a63ed7ce8fc5743da20d2057fa2b6d2c404bfb"

int main(int argc, char **argv)
{
    char path[512], *vkey, *note, *text;
    attest_signer *s;
    attest_merkle_frontier fr;
    uint8_t root[32], leaf[32];
    const char *dir = argc > 1 ? argv[1] : ".";
    if (attest_signer_from_seed(&s, "example.com/ml-training-log", seed) != 0) return 1;
    attest_signer_vkey(s, &vkey);

    json_t *run = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:i, s:i}}", "type", "run", "run_id",
                            "00112233445566778899aabbccddeeff", "version", "0.1.0", "origin",
                            attest_signer_name(s), "public_key", vkey, "config", "model",
                            "gpt-tiny", "layers", 2, "steps", 2);
    char *run_text = json_dumps(run, JSON_COMPACT);
    json_decref(run);
    // NULL marks a seal of every record before it.
    const char *const records[] = {
        run_text,
        "{\"type\":\"code\",\"commit\":\"4b825dc642cb6eb9a060e54bf8d69288fbee4904\",\"dirty\":"
        "false,"
        "\"branch\":\"main\"}",
        "{\"type\":\"note\",\"text\":\"example run\"}",
        "{\"type\":\"init\",\"seed\":42,\"initializer\":\"attest-gpt/1\",\"checkpoint_sha256\":\"" Z
        "\",\"data_seed\":7}",
        "{\"type\":\"shard\",\"id\":0,\"name\":\"shard-000.bin\",\"size\":8,\"sha256\":"
        "\"" SHARD "\",\"layout\":\"tokens-u16le\",\"samples\":4}",
        "{\"type\":\"step\",\"step\":1,\"batch\":[[0,0,2]],\"batch_sha256\":\"" Z
        "\",\"lr\":0.001,\"lr_bits\":\"3a83126f\",\"loss\":5.5,\"loss_bits\":\"40b00000\"}",
        "{\"type\":\"step\",\"step\":2,\"batch\":[[0,2,2]],\"batch_sha256\":\"" Z
        "\",\"lr\":0.001,\"lr_bits\":\"3a83126f\",\"loss\":5.25,\"loss_bits\":\"40a80000\"}",
        "{\"type\":\"checkpoint\",\"step\":2,\"sha256\":\"" Z "\",\"size\":0,"
        "\"name\":\"step-2.safetensors\",\"tensors\":[]}",
        NULL,
        "{\"type\":\"end\",\"steps\":2,\"reason\":\"finished\"}",
        NULL,
    };

    attest_merkle_frontier_init(&fr);
    snprintf(path, sizeof path, "%s/example.log", dir);
    FILE *log = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/example.jsonl", dir);
    FILE *jsonl = fopen(path, "wb");
    if (!log || !jsonl) return 1;
    uint8_t hdr[ATTEST_LOG_HEADER_SIZE];
    attest_frame_header(hdr);
    fwrite(hdr, 1, sizeof hdr, log);
    for (size_t i = 0; i < sizeof records / sizeof records[0]; i++) {
        char *seal_text = NULL;
        const char *rec = records[i];
        if (!rec) {
            attest_merkle_frontier_root(&fr, root);
            attest_checkpoint_format(attest_signer_name(s), fr.size, root, &text);
            attest_signer_sign(s, text, strlen(text), &note);
            json_t *seal = json_pack("{s:s, s:I, s:s}", "type", "seal", "size", (json_int_t)fr.size,
                                     "checkpoint", note);
            rec = seal_text = json_dumps(seal, JSON_COMPACT);
            json_decref(seal);
            free(text);
            free(note);
        }
        size_t len = strlen(rec);
        uint8_t *frame = malloc(len + ATTEST_FRAME_OVERHEAD);
        attest_merkle_leaf_hash(leaf, rec, len);
        attest_frame_encode(frame, rec, len, leaf);
        fwrite(frame, 1, len + ATTEST_FRAME_OVERHEAD, log);
        free(frame);
        fprintf(jsonl, "%s\n", rec);
        free(seal_text);
        attest_merkle_frontier_append(&fr, leaf, NULL, NULL);
    }
    fclose(log);
    fclose(jsonl);
    snprintf(path, sizeof path, "%s/example.pub", dir);
    FILE *pub = fopen(path, "wb");
    if (!pub) return 1;
    fprintf(pub, "%s\n", vkey);
    fclose(pub);
    free(run_text);
    free(vkey);
    attest_signer_free(s);
    return 0;
}
