/*
 * The worked example of format/LOG.md section 12, read by a minimal reader
 * written here from the spec alone (libsodium only, none of format/): the
 * header ([LOG-1], [LOG-2]), frames and checks ([LOG-3]..[LOG-5]), the
 * records against example.jsonl, the RFC 6962 roots ([LOG-40]) and the
 * seal signatures ([LOG-41], [LOG-42]). Then attest_verify_log agrees.
 */
#include <sodium.h>
#include <stdint.h>

#include "attest/verify.h"
#include "tests/harness.h"

#define DIR "format/vectors/"

static void leaf_hash(uint8_t out[32], const uint8_t *p, size_t n)
{
    crypto_hash_sha256_state st;
    uint8_t zero = 0;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &zero, 1);
    crypto_hash_sha256_update(&st, p, n);
    crypto_hash_sha256_final(&st, out);
}

/* Naive RFC 6962 MTH over leaf hashes [lo, hi). */
static void mth(uint8_t out[32], uint8_t (*leaves)[32], size_t lo, size_t hi)
{
    if (hi - lo == 1) {
        memcpy(out, leaves[lo], 32);
        return;
    }
    size_t k = 1;
    while (k * 2 < hi - lo)
        k *= 2;
    uint8_t buf[65];
    buf[0] = 1;
    mth(buf + 1, leaves, lo, lo + k);
    mth(buf + 33, leaves, lo + k, hi);
    crypto_hash_sha256(out, buf, sizeof buf);
}

static void test_example_by_hand(void)
{
    size_t len, jlen;
    uint8_t *log = (uint8_t *)harness_slurp(DIR "example.log", &len);
    char *jsonl = harness_slurp(DIR "example.jsonl", &jlen);
    char *pub = harness_slurp(DIR "example.pub", NULL);
    CHECK(log && jsonl && pub);
    if (!log || !jsonl || !pub) return;
    static const uint8_t magic[] = {0x89, 'A', 'T', 'L', 'O', 'G', '\r', '\n',
                                    1,    0,   0,   0,   0,   0,   0,    0};
    CHECK(len > 16 && memcmp(log, magic, 16) == 0);

    // Public key: "<name>+<hash>+<base64(0x01 || key)>".
    uint8_t keybuf[33];
    size_t keylen;
    const char *b64 = strchr(strchr(pub, '+') + 1, '+') + 1;
    CHECK(sodium_base642bin(keybuf, sizeof keybuf, b64, strcspn(b64, "\n"), NULL, &keylen, NULL,
                            sodium_base64_VARIANT_ORIGINAL) == 0 &&
          keylen == 33 && keybuf[0] == 1);

    uint8_t leaves[32][32];
    size_t pos = 16, n = 0;
    char *line = jsonl;
    int seals = 0;
    while (pos < len && n < 32) {
        uint32_t flen =
            log[pos] | log[pos + 1] << 8 | log[pos + 2] << 16 | (uint32_t)log[pos + 3] << 24;
        CHECK(flen >= 2 && pos + 12 + flen <= len);
        const uint8_t *payload = log + pos + 4;
        leaf_hash(leaves[n], payload, flen);
        CHECK(memcmp(leaves[n], payload + flen, 8) == 0);
        char *nl = strchr(line, '\n');
        CHECK(nl && (size_t)(nl - line) == flen && memcmp(line, payload, flen) == 0);
        // A seal: its checkpoint text is "origin\nN\nroot\n", signed over those bytes.
        const char *cp = strstr((const char *)payload, "\"checkpoint\":\"");
        if (cp && (const uint8_t *)cp < payload + flen && strstr(line, "\"type\":\"seal\"")) {
            char note[512], text[256], root_b64[64];
            size_t k = 0;
            for (const char *p = cp + 14; *p != '"' && k + 1 < sizeof note; p++) {
                if (p[0] == '\\' && p[1] == 'n') {
                    note[k++] = '\n';
                    p++;
                } else {
                    note[k++] = *p;
                }
            }
            note[k] = '\0';
            char *blank = strstr(note, "\n\n");
            CHECK(blank != NULL);
            if (!blank) break;
            size_t tlen = (size_t)(blank - note) + 1;
            memcpy(text, note, tlen);
            text[tlen] = '\0';
            unsigned long size;
            CHECK(sscanf(text, "example.com/ml-training-log\n%lu\n%63s\n", &size, root_b64) == 2);
            CHECK_EQ_INT(size, n);
            uint8_t root[32], want[32];
            size_t rlen;
            mth(root, leaves, 0, n);
            CHECK(sodium_base642bin(want, 32, root_b64, strlen(root_b64), NULL, &rlen, NULL,
                                    sodium_base64_VARIANT_ORIGINAL) == 0 &&
                  rlen == 32);
            CHECK(memcmp(root, want, 32) == 0);
            // "— name base64(keyhash[4] || sig[64])"
            const char *sig_b64 = strrchr(blank + 2, ' ') + 1;
            uint8_t sig[68];
            size_t slen;
            CHECK(sodium_base642bin(sig, sizeof sig, sig_b64, strcspn(sig_b64, "\n"), NULL, &slen,
                                    NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
                  slen == 68);
            CHECK(memcmp(sig, "\xfc\xb1\xc6\x2c", 4) == 0);
            CHECK(crypto_sign_verify_detached(sig + 4, (const uint8_t *)text, tlen, keybuf + 1) ==
                  0);
            seals++;
        }
        line = nl ? nl + 1 : line;
        pos += 12 + flen;
        n++;
    }
    CHECK_EQ_INT(pos, len);
    CHECK_EQ_INT(n, 11);
    CHECK_EQ_INT(seals, 2);
    free(log);
    free(jsonl);
    free(pub);
}

static void test_example_verifies(void)
{
    attest_verifier *v = NULL;
    attest_report *r = NULL;
    CHECK_EQ_INT(attest_verifier_load(&v, DIR "example.pub", NULL, 0), 0);
    CHECK_EQ_INT(attest_verify_log(&r, DIR "example.log", v), 0);
    attest_report_free(r);
    attest_verifier_free(v);
}

int main(void)
{
    if (sodium_init() < 0) return 2;
    RUN(test_example_by_hand);
    RUN(test_example_verifies);
    HARNESS_EXIT();
}
