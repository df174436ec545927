/*
 * note.c - tests of format/key.c and format/note.c (keys, signed notes) and format/checkpoint.c.
 *
 * Checks keys, notes and checkpoints against RFC 8032, C2SP and Go x/mod
 * examples and notes signed by Go and a Python reference (shared/vectors),
 * then malformed input, single-byte tampering and key files on disk.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "attest/error.h"
#include "attest/note.h"
#include "tests/harness.h"

#define LOG_NAME "example.com/ml-training-log"
#define EM_DASH "\xe2\x80\x94"
/* base64 parts of the derived fixture's keys (note_vectors.json), and each less a character */
#define VKEY_B64 "AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
#define VKEY_B64_CUT "AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1E"
#define SKEY_B64 "AZ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g"
#define SKEY_B64_CUT "AZ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9"

static json_t *note_vec, *ed_vec, *merkle_vec;

static json_t *load_vectors(const char *path)
{
    json_error_t jerr;
    size_t len = 0;
    char *buf = harness_slurp(path, &len);
    json_t *j = buf ? json_loadb(buf, len, 0, &jerr) : NULL;

    if (!j) printf("# cannot read %s\n", path);
    free(buf);
    return j;
}

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Decodes hex of exactly want bytes; -1 otherwise. */
static int unhex(const char *hex, uint8_t *out, size_t want)
{
    size_t got = 0;

    if (!hex || sodium_hex2bin(out, want, hex, strlen(hex), NULL, &got, NULL) != 0) return -1;
    return got == want ? 0 : -1;
}

static attest_verifier *verifier(const char *vkey)
{
    attest_verifier *v = NULL;
    char err[256] = "";
    int rc = attest_verifier_parse(&v, vkey, err, sizeof err);

    if (rc != 0) printf("# verifier %s: %s\n", vkey, err);
    return v;
}

/* Opens with the one verifier for vkey; returns the code, text (if wanted) in *text. */
static int open_with(const char *note, size_t len, const char *vkey, char **text, char *err,
                     size_t errsz)
{
    attest_verifier *v = verifier(vkey);
    int rc = v ? attest_note_open(note, len, v, text, err, errsz) : -100;

    attest_verifier_free(v);
    return rc;
}

static int open_str(const char *note, const char *vkey)
{
    char err[256] = "";
    return open_with(note, strlen(note), vkey, NULL, err, sizeof err);
}

/* The derived fixture: log key from the RFC 8032 TEST 1 seed, checkpoints of the 8-leaf tree. */
static const char *derived(const char *key)
{
    return jstr(json_object_get(note_vec, "derived_checkpoints"), key);
}

static const char *derived_note(const char *size)
{
    return jstr(json_object_get(json_object_get(note_vec, "derived_checkpoints"), "checkpoints"),
                size);
}

/* Length of the note text: up to and including the newline before the last blank line. */
static size_t body_len(const char *note)
{
    size_t n = strlen(note);

    while (n >= 2 && !(note[n - 2] == '\n' && note[n - 1] == '\n'))
        n--;
    return n >= 2 ? n - 1 : 0;
}

/* Signature line "— name base64(id || sig(msg))\n" made with raw libsodium, so that tests can
 * sign what attest_signer_sign refuses (blank lines in the text, wrong lengths). */
static void raw_sig_line(char *out, size_t outsz, const uint8_t seed[32], const char *name,
                         const uint8_t id[4], const char *msg, size_t extra)
{
    uint8_t pk[32], sk[64], payload[4 + 64 + 16] = {0};
    char b64[sizeof payload * 2];

    crypto_sign_seed_keypair(pk, sk, seed);
    memcpy(payload, id, 4);
    crypto_sign_detached(payload + 4, NULL, (const unsigned char *)msg, strlen(msg), sk);
    sodium_bin2base64(b64, sizeof b64, payload, 4 + 64 + extra, sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, outsz, EM_DASH " %s %s\n", name, b64);
}

static void derived_seed_id(uint8_t seed[32], uint8_t id[4])
{
    CHECK(unhex(derived("ed25519_seed_hex"), seed, 32) == 0);
    CHECK(unhex("fcb1c62c", id, 4) == 0);
}

static void test_vectors_load(void)
{
    CHECK(note_vec != NULL);
    CHECK(ed_vec != NULL);
    CHECK(merkle_vec != NULL);
}

/* RFC 8032 s7.1 TEST 1-3: our signer derives the published public keys, libsodium makes the
 * published signatures, and notes signed by our signer verify under the published keys. */
static void test_rfc8032(void)
{
    json_t *list = json_object_get(ed_vec, "vectors"), *vec;
    size_t i;

    CHECK_EQ_INT(json_array_size(list), 3);
    for (i = 0; (vec = json_array_get(list, i)) != NULL; i++) {
        uint8_t seed[32], pk[32], sig[64], msg[8] = {0}, sk[64], pk2[32], got[64], payload[68];
        size_t mlen = (size_t)json_integer_value(json_object_get(vec, "message_len")), plen = 0;
        attest_signer *s = NULL;
        char *note = NULL;
        const char *text = "rfc8032 key check\n";

        CHECK(unhex(jstr(vec, "secret_key"), seed, 32) == 0);
        CHECK(unhex(jstr(vec, "public_key"), pk, 32) == 0);
        CHECK(unhex(jstr(vec, "signature"), sig, 64) == 0);
        CHECK(mlen <= sizeof msg);
        CHECK(mlen == 0 || unhex(jstr(vec, "message"), msg, mlen) == 0);

        CHECK_EQ_INT(attest_signer_from_seed(&s, "rfc8032.test/key", seed), 0);
        CHECK(s && memcmp(attest_signer_public_key(s), pk, 32) == 0);

        crypto_sign_seed_keypair(pk2, sk, seed);
        CHECK(memcmp(pk2, pk, 32) == 0);
        crypto_sign_detached(got, NULL, msg, mlen, sk);
        CHECK(memcmp(got, sig, 64) == 0);
        CHECK(crypto_sign_verify_detached(sig, msg, mlen, pk) == 0);

        CHECK_EQ_INT(attest_signer_sign(s, text, strlen(text), &note), 0);
        if (note) {
            const char *b64 = strrchr(note, ' ') + 1;
            CHECK(sodium_base642bin(payload, sizeof payload, b64, strlen(b64) - 1, NULL, &plen,
                                    NULL, sodium_base64_VARIANT_ORIGINAL) == 0);
            CHECK_EQ_INT(plen, 68);
            CHECK(crypto_sign_verify_detached(payload + 4, (const unsigned char *)text,
                                              strlen(text), pk) == 0);
        }
        free(note);
        attest_signer_free(s);
    }
}

/* C2SP and Go x/mod example notes open (or fail, as marked); their keys round-trip; where the
 * signer key is published, our signature reproduces the note byte for byte. */
static void test_signed_note_vectors(void)
{
    json_t *list = json_object_get(note_vec, "signed_notes"), *vec;
    size_t i;

    CHECK(json_array_size(list) >= 2);
    for (i = 0; (vec = json_array_get(list, i)) != NULL; i++) {
        const char *vkey = jstr(vec, "vkey"), *note = jstr(vec, "note");
        const char *skey = jstr(vec, "skey"), *want = jstr(vec, "signed_text");
        int valid = json_is_true(json_object_get(vec, "valid"));
        attest_verifier *v = verifier(vkey);
        char *text = NULL, *out = NULL, err[256] = "";
        int rc;

        CHECK(v != NULL);
        CHECK_EQ_INT(attest_verifier_text(v, &out), 0);
        CHECK_STR(out, vkey);
        free(out);
        out = NULL;
        rc = v ? attest_note_open(note, strlen(note), v, &text, err, sizeof err) : -100;
        if (valid) {
            CHECK_EQ_INT(rc, 0);
            CHECK_STR(text, want);
        } else {
            CHECK(rc == ATTEST_EFORMAT || rc == ATTEST_EVERIFY);
            CHECK(text == NULL);
        }
        free(text);
        if (skey) {
            attest_signer *s = NULL;
            CHECK_EQ_INT(attest_signer_parse(&s, skey, err, sizeof err), 0);
            CHECK_EQ_INT(attest_signer_text(s, &out), 0);
            CHECK_STR(out, skey);
            attest_secret_free(out);
            CHECK_EQ_INT(attest_signer_vkey(s, &out), 0);
            CHECK_STR(out, vkey);
            free(out);
            out = NULL;
            CHECK(s && v &&
                  memcmp(attest_signer_public_key(s), attest_verifier_public_key(v), 32) == 0);
            if (valid) {
                CHECK_EQ_INT(attest_signer_sign(s, want, strlen(want), &out), 0);
                CHECK_STR(out, note);
                free(out);
            }
            attest_signer_free(s);
        }
        attest_verifier_free(v);
    }
}

/* The derived log key: seed -> skey/vkey text, parse -> same text, names and public keys. */
static void test_derived_keys(void)
{
    const char *skey = derived("skey"), *vkey = derived("vkey");
    attest_signer *s = NULL, *s2 = NULL;
    attest_verifier *v = NULL;
    uint8_t seed[32], id[4];
    char *out = NULL, err[256] = "";
    char withnl[512];

    derived_seed_id(seed, id);
    CHECK_EQ_INT(attest_signer_from_seed(&s, LOG_NAME, seed), 0);
    CHECK_EQ_INT(attest_signer_text(s, &out), 0);
    CHECK_STR(out, skey);
    attest_secret_free(out);
    CHECK_EQ_INT(attest_signer_vkey(s, &out), 0);
    CHECK_STR(out, vkey);
    free(out);
    CHECK_STR(attest_signer_name(s), LOG_NAME);

    snprintf(withnl, sizeof withnl, "%s\n", skey);
    CHECK_EQ_INT(attest_signer_parse(&s2, withnl, err, sizeof err), 0);
    CHECK(s && s2 && memcmp(attest_signer_public_key(s), attest_signer_public_key(s2), 32) == 0);
    snprintf(withnl, sizeof withnl, "%s\n", vkey);
    CHECK_EQ_INT(attest_verifier_parse(&v, withnl, err, sizeof err), 0);
    CHECK_STR(attest_verifier_name(v), LOG_NAME);
    CHECK(s && v && memcmp(attest_signer_public_key(s), attest_verifier_public_key(v), 32) == 0);
    attest_signer_free(s);
    attest_signer_free(s2);
    attest_verifier_free(v);
}

static void test_invalid_xmod_vkeys(void)
{
    json_t *list = json_object_get(note_vec, "invalid_vkeys_from_x_mod_tests"), *vec;
    size_t i;

    CHECK(json_array_size(list) >= 2);
    for (i = 0; (vec = json_array_get(list, i)) != NULL; i++) {
        attest_verifier *v = NULL;
        char err[256] = "";
        CHECK_EQ_INT(attest_verifier_parse(&v, jstr(vec, "vkey"), err, sizeof err), ATTEST_EFORMAT);
        CHECK(v == NULL);
        CHECK(err[0] != '\0');
    }
}

/* Each malformed key is refused with EFORMAT and a reason. */
static void test_key_rejects(void)
{
    const char *b64 = VKEY_B64, *sb64 = SKEY_B64;
    char long_name[300], key[700], err[256];
    const char *bad_vkeys[] = {
        "",
        "\n",
        LOG_NAME,
        LOG_NAME "+fcb1c62c",
        "+fcb1c62c+" VKEY_B64,
        "example.com/ml training-log+fcb1c62c+" VKEY_B64,
        "example.com/ml-tr\xc3\xa4ining-log+fcb1c62c+" VKEY_B64,
        LOG_NAME "+FCB1C62C+" VKEY_B64,
        LOG_NAME "+fcb1c62+" VKEY_B64,
        LOG_NAME "+0fcb1c62c+" VKEY_B64,
        LOG_NAME "+fcb1c62d+" VKEY_B64, /* [10] hash of another key */
        "example.com/ml-training-loh+fcb1c62c+" VKEY_B64,
        LOG_NAME "+fcb1c62c+" VKEY_B64_CUT,
        LOG_NAME "+fcb1c62c+" VKEY_B64_CUT "=",
        LOG_NAME "+fcb1c62c+" VKEY_B64 "=",
        LOG_NAME "+fcb1c62c+" VKEY_B64 "+x",
        LOG_NAME "+fcb1c62c+" VKEY_B64 "\n\n",
        LOG_NAME "+fcb1c62c+" VKEY_B64 "\r\n",
        LOG_NAME "+fcb1c62c+" VKEY_B64 " ",
        " " LOG_NAME "+fcb1c62c+" VKEY_B64,
        LOG_NAME "+fcb1c62c+Addam AGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea",
        LOG_NAME "+fcb1c62c+AhdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea", /* algorithm 0x02 */
        "PRIVATE+KEY+" LOG_NAME "+fcb1c62c+" SKEY_B64,
    };
    const char *bad_skeys[] = {
        "",
        LOG_NAME "+fcb1c62c+" VKEY_B64,
        "PRIVATE+KEX+" LOG_NAME "+fcb1c62c+" SKEY_B64,
        "private+key+" LOG_NAME "+fcb1c62c+" SKEY_B64,
        "PRIVATE+KEY++fcb1c62c+" SKEY_B64,
        "PRIVATE+KEY+" LOG_NAME "+fcb1c62C+" SKEY_B64,
        "PRIVATE+KEY+" LOG_NAME "+00000000+" SKEY_B64, /* [6] hash of another key */
        "PRIVATE+KEY+" LOG_NAME "+fcb1c62c+" SKEY_B64_CUT,
        "PRIVATE+KEY+" LOG_NAME "+fcb1c62c+" SKEY_B64 "+",
        "PRIVATE+KEY+" LOG_NAME "+fcb1c62c+" SKEY_B64 "\n\n",
        "PRIVATE+KEY+" LOG_NAME "+fcb1c62c+Ap1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g", /* 0x02 */
    };
    attest_verifier *v = NULL;
    attest_signer *s = NULL;

    for (size_t i = 0; i < sizeof bad_vkeys / sizeof *bad_vkeys; i++) {
        err[0] = '\0';
        int rc = attest_verifier_parse(&v, bad_vkeys[i], err, sizeof err);
        if (rc != ATTEST_EFORMAT) printf("# vkey %zu accepted or wrong code %d\n", i, rc);
        CHECK_EQ_INT(rc, ATTEST_EFORMAT);
        CHECK(v == NULL && err[0] != '\0');
    }
    for (size_t i = 0; i < sizeof bad_skeys / sizeof *bad_skeys; i++) {
        err[0] = '\0';
        int rc = attest_signer_parse(&s, bad_skeys[i], err, sizeof err);
        if (rc != ATTEST_EFORMAT) printf("# skey %zu accepted or wrong code %d\n", i, rc);
        CHECK_EQ_INT(rc, ATTEST_EFORMAT);
        CHECK(s == NULL && err[0] != '\0');
    }

    /* The reason names both hashes. */
    CHECK_EQ_INT(attest_signer_parse(&s, bad_skeys[6], err, sizeof err), ATTEST_EFORMAT);
    CHECK(strstr(err, "hash 00000000 does not match key (expected fcb1c62c)") != NULL);
    CHECK_EQ_INT(attest_verifier_parse(&v, bad_vkeys[10], err, sizeof err), ATTEST_EFORMAT);
    CHECK(strstr(err, "hash fcb1c62d does not match key (expected fcb1c62c)") != NULL);
    CHECK_EQ_INT(attest_verifier_parse(&v, bad_vkeys[22], err, sizeof err), ATTEST_EFORMAT);
    CHECK(strstr(err, "signer (private) key") != NULL);

    /* Names: 255 bytes pass the name check (and fail only on the hash), 256 do not. */
    memset(long_name, 'n', 255);
    long_name[255] = '\0';
    snprintf(key, sizeof key, "%s+fcb1c62c+%s", long_name, b64);
    CHECK_EQ_INT(attest_verifier_parse(&v, key, err, sizeof err), ATTEST_EFORMAT);
    CHECK(strstr(err, "does not match key") != NULL);
    snprintf(key, sizeof key, "PRIVATE+KEY+%s+fcb1c62c+%s", long_name, sb64);
    CHECK_EQ_INT(attest_signer_parse(&s, key, err, sizeof err), ATTEST_EFORMAT);
    CHECK(strstr(err, "does not match key") != NULL);
    memset(long_name, 'n', 256);
    long_name[256] = '\0';
    snprintf(key, sizeof key, "%s+fcb1c62c+%s", long_name, b64);
    CHECK_EQ_INT(attest_verifier_parse(&v, key, err, sizeof err), ATTEST_EFORMAT);
    CHECK(strstr(err, "255") != NULL);

    CHECK_EQ_INT(attest_verifier_parse(&v, NULL, err, sizeof err), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_signer_parse(&s, NULL, NULL, 0), ATTEST_EINVAL);
}

/* Generated keys: valid names only; the vkey text parses back to the same public key. */
static void test_generate(void)
{
    char name[300], *vkey = NULL, *skey = NULL, err[256] = "";
    attest_signer *a = NULL, *b = NULL, *c = NULL;
    attest_verifier *v = NULL;

    memset(name, 'k', 255);
    name[255] = '\0';
    CHECK_EQ_INT(attest_signer_generate(&a, name), 0);
    CHECK_STR(attest_signer_name(a), name);
    name[255] = 'k';
    name[256] = '\0';
    CHECK_EQ_INT(attest_signer_generate(&c, name), ATTEST_EINVAL);
    CHECK(c == NULL);
    CHECK_EQ_INT(attest_signer_generate(&c, ""), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_signer_generate(&c, "a+b"), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_signer_generate(&c, "a b"), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_signer_generate(&c, "caf\xc3\xa9"), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_signer_generate(&c, NULL), ATTEST_EINVAL);
    CHECK_EQ_INT(
        attest_signer_from_seed(&c, "a+b", (const uint8_t *)"0123456789abcdef0123456789abcdef"),
        ATTEST_EINVAL);

    CHECK_EQ_INT(attest_signer_generate(&b, "test.example/k"), 0);
    CHECK(a && b && memcmp(attest_signer_public_key(a), attest_signer_public_key(b), 32) != 0);
    CHECK_EQ_INT(attest_signer_vkey(b, &vkey), 0);
    CHECK_EQ_INT(attest_verifier_parse(&v, vkey, err, sizeof err), 0);
    CHECK(v && b && memcmp(attest_verifier_public_key(v), attest_signer_public_key(b), 32) == 0);
    CHECK_EQ_INT(attest_signer_text(b, &skey), 0);
    CHECK(skey && strncmp(skey, "PRIVATE+KEY+test.example/k+", 27) == 0);
    CHECK(skey && vkey && strncmp(skey + 27, vkey + 15, 9) == 0); /* same "<hash8>+" */

    attest_secret_free(skey);
    free(vkey);
    attest_verifier_free(v);
    attest_signer_free(a);
    attest_signer_free(b);
    attest_signer_free(NULL);
    attest_verifier_free(NULL);
    attest_secret_free(NULL);
}

/* Sign refuses texts that are not valid note text and signs those that are. */
static void test_sign_text_rules(void)
{
    const char *bad[] = {
        "",
        "no newline",
        "\n",
        "\nleading blank\n",
        "a\n\nb\n",
        "ends blank\n\n",
        "tab\there\n",
        "cr\r\n",
        "del\x7f\n",
        "overlong \xc0\xaf\n",
        "overlong \xe0\x80\xaf\n",
        "overlong \xf0\x80\x80\xaf\n",
        "surrogate \xed\xa0\x80\n",
        "too big \xf4\x90\x80\x80\n",
        "cut \xe2\x80\n",
        "lone \x80\n",
    };
    const char *good = "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x8c\xb3 ok\nsecond line\n";
    attest_signer *s = NULL;
    uint8_t seed[32], id[4];
    char *note = NULL, *text = NULL, *vkey = NULL, err[256] = "";

    derived_seed_id(seed, id);
    CHECK_EQ_INT(attest_signer_from_seed(&s, LOG_NAME, seed), 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ_INT(attest_signer_sign(s, bad[i], strlen(bad[i]), &note), ATTEST_EINVAL);
        CHECK(note == NULL);
    }
    CHECK_EQ_INT(attest_signer_sign(s, "nul\0byte\n", 9, &note), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_signer_sign(NULL, good, strlen(good), &note), ATTEST_EINVAL);

    CHECK_EQ_INT(attest_signer_sign(s, good, strlen(good), &note), 0);
    CHECK_EQ_INT(attest_signer_vkey(s, &vkey), 0);
    CHECK(note && strncmp(note, good, strlen(good)) == 0);
    CHECK(note && strstr(note, "\n\n" EM_DASH " " LOG_NAME " /LHGL") != NULL);
    CHECK_EQ_INT(open_with(note, note ? strlen(note) : 0, vkey, &text, err, sizeof err), 0);
    CHECK_STR(text, good);
    free(text);
    free(note);
    free(vkey);
    attest_signer_free(s);
}

/* The derived checkpoints: format and sign reproduce them byte for byte; they open and parse to
 * the RFC 6962 roots of the standard 8-leaf tree (merkle_vectors.json, another source). */
static void test_derived_checkpoints(void)
{
    json_t *cps = json_object_get(json_object_get(note_vec, "derived_checkpoints"), "checkpoints");
    json_t *roots = json_object_get(json_object_get(merkle_vec, "roots_hex"), "by_tree_size");
    attest_signer *s = NULL;
    uint8_t seed[32], id[4];
    int count = 0;

    derived_seed_id(seed, id);
    CHECK_EQ_INT(attest_signer_from_seed(&s, LOG_NAME, seed), 0);
    for (void *it = json_object_iter(cps); it; it = json_object_iter_next(cps, it)) {
        const char *key = json_object_iter_key(it);
        const char *note = json_string_value(json_object_iter_value(it));
        size_t blen = body_len(note);
        uint64_t size = strtoull(key, NULL, 10);
        uint8_t root[32];
        char *body = strndup(note, blen), *signed_note = NULL, *text = NULL, *fmt = NULL;
        char err[256] = "";
        attest_checkpoint cp;

        count++;
        CHECK(unhex(jstr(roots, key), root, 32) == 0);
        CHECK_EQ_INT(attest_checkpoint_format(LOG_NAME, size, root, &fmt), 0);
        CHECK_STR(fmt, body);
        CHECK_EQ_INT(attest_signer_sign(s, body, blen, &signed_note), 0);
        CHECK_STR(signed_note, note);
        CHECK_EQ_INT(open_with(note, strlen(note), derived("vkey"), &text, err, sizeof err), 0);
        CHECK_STR(text, body);
        memset(&cp, 0xaa, sizeof cp);
        CHECK_EQ_INT(attest_checkpoint_parse(text ? text : "", text ? strlen(text) : 0, &cp, err,
                                             sizeof err),
                     0);
        CHECK_STR(cp.origin, LOG_NAME);
        CHECK_EQ_INT(cp.size, size);
        CHECK(memcmp(cp.root, root, 32) == 0);
        free(body);
        free(signed_note);
        free(text);
        free(fmt);
    }
    CHECK_EQ_INT(count, 4);
    attest_signer_free(s);
}

/* Signature lines by other keys are skipped: a witness cosignature (type 0x04, 76 bytes), the
 * C2SP spec's cosignature line; a note with only other keys' signatures does not open. */
static void test_cosignatures_ignored(void)
{
    json_t *cos = json_object_get(note_vec, "derived_cosignature_v1");
    json_t *spec = json_object_get(note_vec, "spec_examples_unverifiable");
    const char *cosigned = jstr(cos, "cosigned_checkpoint"), *note8 = derived_note("8");
    const char *vkey = derived("vkey"), *spec_cp = jstr(spec, "checkpoint");
    char buf[1024], err[256] = "", *text = NULL;
    attest_verifier *w = NULL;
    attest_checkpoint cp;

    CHECK(cosigned && strstr(cosigned, jstr(cos, "signature_line")) != NULL);
    CHECK_EQ_INT(open_with(cosigned, strlen(cosigned), vkey, &text, err, sizeof err), 0);
    CHECK(text && strlen(text) == body_len(note8) && strncmp(text, note8, strlen(text)) == 0);
    free(text);

    /* Witness line first, then ours. */
    snprintf(buf, sizeof buf, "%.*s\n%s%s", (int)body_len(note8), note8,
             jstr(cos, "signature_line"), note8 + body_len(note8) + 1);
    CHECK_EQ_INT(open_str(buf, vkey), 0);
    snprintf(buf, sizeof buf, "%s%s\n", note8, jstr(spec, "cosignature_line"));
    CHECK_EQ_INT(open_str(buf, vkey), 0);

    /* Only the witness signed: nothing by our key. */
    snprintf(buf, sizeof buf, "%.*s\n%s", (int)body_len(note8), note8, jstr(cos, "signature_line"));
    CHECK_EQ_INT(open_with(buf, strlen(buf), vkey, NULL, err, sizeof err), ATTEST_EVERIFY);
    CHECK(strstr(err, "no signature by " LOG_NAME "+fcb1c62c") != NULL);
    CHECK_EQ_INT(open_with(spec_cp, strlen(spec_cp), vkey, NULL, err, sizeof err), ATTEST_EVERIFY);

    /* Cosignature keys (type 0x04) are not note verifier keys. */
    CHECK_EQ_INT(attest_verifier_parse(&w, jstr(cos, "witness_vkey"), err, sizeof err),
                 ATTEST_EFORMAT);
    CHECK(strstr(err, "algorithm 0x04") != NULL);

    /* The spec's checkpoint body parses (its key is not published). */
    CHECK_EQ_INT(attest_checkpoint_parse(spec_cp, body_len(spec_cp), &cp, err, sizeof err), 0);
    CHECK_STR(cp.origin, "example.com/behind-the-sofa");
    CHECK_EQ_INT(cp.size, 20852163);
}

/* Changing or dropping any one byte of a signed note makes it fail to open. */
static void test_tamper(void)
{
    static const uint8_t masks[] = {0x01, 0x20, 0x80, 0xff};
    const char *notes[6], *vkeys[6];
    json_t *list = json_object_get(note_vec, "signed_notes");
    size_t count = 0;

    notes[count] = derived_note("8"), vkeys[count++] = derived("vkey");
    notes[count] = derived_note("0"), vkeys[count++] = derived("vkey");
    notes[count] = derived_note("3"), vkeys[count++] = derived("vkey");
    for (size_t i = 0; i < json_array_size(list) && count < 6; i++) {
        notes[count] = jstr(json_array_get(list, i), "note");
        vkeys[count++] = jstr(json_array_get(list, i), "vkey");
    }
    for (size_t k = 0; k < count; k++) {
        size_t len = strlen(notes[k]), bad = 0;
        char *copy = malloc(len + 1), err[256];
        attest_verifier *v = verifier(vkeys[k]);

        CHECK(copy && v);
        if (!copy || !v) {
            free(copy);
            attest_verifier_free(v);
            continue;
        }
        CHECK_EQ_INT(attest_note_open(notes[k], len, v, NULL, err, sizeof err), 0);
        for (size_t i = 0; i < len; i++) {
            for (size_t m = 0; m < sizeof masks; m++) {
                memcpy(copy, notes[k], len + 1);
                copy[i] = (char)(copy[i] ^ masks[m]);
                int rc = attest_note_open(copy, len, v, NULL, err, sizeof err);
                if (rc != ATTEST_EFORMAT && rc != ATTEST_EVERIFY) {
                    printf("# note %zu byte %zu ^ 0x%02x: rc %d\n", k, i, masks[m], rc);
                    bad++;
                }
            }
            /* Drop byte i. */
            memcpy(copy, notes[k], i);
            memcpy(copy + i, notes[k] + i + 1, len - i);
            int rc = attest_note_open(copy, len - 1, v, NULL, err, sizeof err);
            if (rc != ATTEST_EFORMAT && rc != ATTEST_EVERIFY) {
                printf("# note %zu without byte %zu: rc %d\n", k, i, rc);
                bad++;
            }
        }
        CHECK_EQ_INT(bad, 0);
        free(copy);
        attest_verifier_free(v);
    }
    CHECK(count >= 5); /* not the cosigned note: edits to the witness line are rightly ignored */
}

/* Malformed notes are EFORMAT; well-formed notes without a good signature by us EVERIFY. */
static void test_open_rejects(void)
{
    const char *note8 = derived_note("8"), *vkey = derived("vkey");
    size_t blen = body_len(note8);
    const char *sig = note8 + blen + 1; /* our signature line, with its newline */
    const char *b64 = sig + strlen(EM_DASH " " LOG_NAME " ");
    uint8_t seed[32], id[4], other_id[4] = {1, 2, 3, 4};
    char body[256], buf[4096], line[512], line2[512], junk[256], err[256], *text = NULL;
    enum { SIG, B64, B64_JUNK }; /* second argument: our line, its base64, base64 + " x" */
    struct {
        const char *fmt; /* body, then the second argument */
        int arg, rc;
    } cases[] = {
        {"%s%s", SIG, ATTEST_EFORMAT},                                 /* no blank line */
        {"%s\n%.20s", SIG, ATTEST_EFORMAT},                            /* no final newline */
        {"%s\n-- " LOG_NAME " %s", B64, ATTEST_EFORMAT},               /* hyphens, no em dash */
        {"%s\n" EM_DASH LOG_NAME " %s", B64, ATTEST_EFORMAT},          /* no space after dash */
        {"%s\n" EM_DASH "  %s", B64, ATTEST_EFORMAT},                  /* empty name */
        {"%s\n" EM_DASH " example.com/a+b %s", B64, ATTEST_EFORMAT},   /* '+' in the name */
        {"%s\n" EM_DASH " a\302\240b %s", B64, ATTEST_EFORMAT},        /* NBSP in the name */
        {"%s\n" EM_DASH " a\343\200\200b %s", B64, ATTEST_EFORMAT},    /* U+3000 in the name */
        {"%s\n" EM_DASH " " LOG_NAME "%s", B64, ATTEST_EFORMAT},       /* no space before b64 */
        {"%s\n" EM_DASH " " LOG_NAME " !%s", B64, ATTEST_EFORMAT},     /* bad base64 */
        {"%s\n" EM_DASH " " LOG_NAME " %s", B64_JUNK, ATTEST_EFORMAT}, /* junk after base64 */
        {"%s\n" EM_DASH " " LOG_NAME "  %s", B64, ATTEST_EFORMAT},     /* two spaces */
        {"%s\n" EM_DASH " " LOG_NAME " AAAAAA==\n%s", SIG, ATTEST_EFORMAT}, /* 4-byte payload */
        {"%s\n" EM_DASH " " LOG_NAME " \n%s", SIG, ATTEST_EFORMAT},         /* empty base64 */
        {"%s\n%s\n", SIG, ATTEST_EFORMAT},                                  /* blank line at end */
        {"%s\n%sx", SIG, ATTEST_EFORMAT},    /* junk after last line */
        {"%s\n%s\n%s", SIG, ATTEST_EVERIFY}, /* blank between sigs: 1st joins the text */
        /* The blank line before ours is the last one: our line then signs "<body>\n". */
        {"%s\n\n%s", SIG, ATTEST_EVERIFY},
    };

    derived_seed_id(seed, id);
    CHECK(blen > 0 && blen < sizeof body);
    memcpy(body, note8, blen);
    body[blen] = '\0';

    snprintf(junk, sizeof junk, "%.*s x\n", (int)(strlen(b64) - 1), b64);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *arg = cases[i].arg == SIG ? sig : cases[i].arg == B64 ? b64 : junk;
        snprintf(buf, sizeof buf, cases[i].fmt, body, arg, sig);
        int rc = open_with(buf, strlen(buf), vkey, &text, err, sizeof err);
        if (rc != cases[i].rc) printf("# case %zu: rc %d (%s)\n", i, rc, err);
        CHECK_EQ_INT(rc, cases[i].rc);
        CHECK(text == NULL);
    }

    /* Bad UTF-8 or control bytes anywhere in the note. */
    {
        const char *bad[] = {
            "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf",     "\xed\xa0\x80", "\xf4\x90\x80\x80",
            "\xe2\x80", "\x80",         "\xf8\x88\x80\x80\x80", "\r",           "\t",
            "\x1b"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            snprintf(buf, sizeof buf, "%sx%s\n\n%s", body, bad[i], sig);
            CHECK_EQ_INT(open_with(buf, strlen(buf), vkey, NULL, err, sizeof err), ATTEST_EFORMAT);
            CHECK(strstr(err, "byte") != NULL);
        }
        snprintf(buf, sizeof buf, "%s\n%s", body, sig);
        buf[3] = '\0';
        CHECK_EQ_INT(open_with(buf, strlen(sig) + blen + 1, vkey, NULL, err, sizeof err),
                     ATTEST_EFORMAT);
    }

    /* Our key ID with a payload of the wrong length, or a bad signature: EVERIFY. */
    raw_sig_line(line, sizeof line, seed, LOG_NAME, id, body, 4);
    snprintf(buf, sizeof buf, "%s\n%s", body, line);
    CHECK_EQ_INT(open_with(buf, strlen(buf), vkey, NULL, err, sizeof err), ATTEST_EVERIFY);
    CHECK(strstr(err, "72 bytes, expected 68") != NULL);
    raw_sig_line(line, sizeof line, seed, LOG_NAME, id, "another text\n", 0);
    snprintf(buf, sizeof buf, "%s\n%s%s", body, sig, line);
    CHECK_EQ_INT(open_with(buf, strlen(buf), vkey, NULL, err, sizeof err), ATTEST_EVERIFY);
    CHECK(strstr(err, "signature line 2 by " LOG_NAME "+fcb1c62c does not verify") != NULL);
    snprintf(buf, sizeof buf, "%s\n%s%s", body, line, sig);
    CHECK_EQ_INT(open_with(buf, strlen(buf), vkey, NULL, err, sizeof err), ATTEST_EVERIFY);
    /* ... but a malformed line after a bad signature is still reported as malformed. */
    snprintf(buf, sizeof buf, "%s\n%s" EM_DASH " x !!!!\n", body, line);
    CHECK_EQ_INT(open_with(buf, strlen(buf), vkey, NULL, err, sizeof err), ATTEST_EFORMAT);
    CHECK(strstr(err, "signature line 2: malformed base64") != NULL);

    /* Same name with another key ID, other names, other lengths, Unicode names: skipped. */
    raw_sig_line(line, sizeof line, seed, LOG_NAME, other_id, body, 8);
    raw_sig_line(line2, sizeof line2, seed, "w\xc3\xadtness.example/\xe2\x9c\x93", other_id, body,
                 0);
    snprintf(buf, sizeof buf, "%s\n%s%s%s", body, line, line2, sig);
    CHECK_EQ_INT(open_with(buf, strlen(buf), vkey, &text, err, sizeof err), 0);
    CHECK_STR(text, body);
    free(text);
    text = NULL;
    snprintf(buf, sizeof buf, "%s\n%s%s", body, line, line2);
    CHECK_EQ_INT(open_with(buf, strlen(buf), vkey, NULL, err, sizeof err), ATTEST_EVERIFY);

    /* Our signature twice is fine. */
    snprintf(buf, sizeof buf, "%s\n%s%s", body, sig, sig);
    CHECK_EQ_INT(open_with(buf, strlen(buf), vkey, NULL, err, sizeof err), 0);

    /* The text ends at the LAST blank line, so a text with blank lines still opens. */
    raw_sig_line(line, sizeof line, seed, LOG_NAME, id, "para one\n\npara two\n", 0);
    snprintf(buf, sizeof buf, "para one\n\npara two\n\n%s", line);
    CHECK_EQ_INT(open_with(buf, strlen(buf), vkey, &text, err, sizeof err), 0);
    CHECK_STR(text, "para one\n\npara two\n");
    free(text);
    text = NULL;

    CHECK_EQ_INT(open_with(NULL, 0, vkey, NULL, err, sizeof err), ATTEST_EINVAL);
}

/* At most ATTEST_NOTE_MAX_SIGNATURES signature lines, as Go's note.Open. */
static void test_signature_limit(void)
{
    const char *note8 = derived_note("8"), *vkey = derived("vkey");
    size_t blen = body_len(note8);
    const char *sig = note8 + blen + 1;
    uint8_t seed[32], id[4], other_id[4] = {9, 9, 9, 9};
    char line[512], err[256] = "";
    size_t cap = 200 * 512, n;
    char *buf = malloc(cap);

    derived_seed_id(seed, id);
    raw_sig_line(line, sizeof line, seed, "other.example/k", other_id, "x\n", 0);
    CHECK(buf != NULL);
    if (!buf) return;
    for (int total = 99; total <= 101; total++) {
        n = (size_t)snprintf(buf, cap, "%.*s\n", (int)blen, note8);
        for (int i = 0; i < total - 1; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%s", line);
        n += (size_t)snprintf(buf + n, cap - n, "%s", sig);
        int rc = open_with(buf, n, vkey, NULL, err, sizeof err);
        CHECK_EQ_INT(rc, total <= ATTEST_NOTE_MAX_SIGNATURES ? 0 : ATTEST_EFORMAT);
    }
    CHECK(strstr(err, "more than 100 signature lines") != NULL);
    free(buf);
}

static void test_checkpoint_rejects(void)
{
    const char *root = "Xcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
    const char *empty_root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    const char *bad[] = {
        "",
        "\n",
        "example.com/log\n",
        "example.com/log\n5\n",
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
        "example.com/log\n05\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n00\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n+1\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n-1\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n 5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n5 \nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n0x5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n18446744073709551616\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n99999999999999999999\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n5\n!cnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=\n", /* stray bits */
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg\n",
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg==\n",
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQ==\n", /* 31 bytes */
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQ=\n",
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQygA\n", /* 33 bytes */
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\r\n",
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n",
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\next\n\n",
        "example.com/log\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\next",
        "\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/a+b\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/a b\n5\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.com/log\n0\nXcnaeacgwamtvzy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n", /* not SHA-256("") */
        "example.com/log\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", /* Go's TreeHash(0) */
    };
    char buf[512], long_origin[300], err[256], *text = NULL;
    attest_checkpoint cp, before;
    uint8_t raw[32];

    memset(&before, 0x5a, sizeof before);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cp = before;
        err[0] = '\0';
        int rc = attest_checkpoint_parse(bad[i], strlen(bad[i]), &cp, err, sizeof err);
        if (rc != ATTEST_EFORMAT) printf("# checkpoint case %zu: rc %d\n", i, rc);
        CHECK_EQ_INT(rc, ATTEST_EFORMAT);
        CHECK(err[0] != '\0');
        CHECK(memcmp(&cp, &before, sizeof cp) == 0);
    }

    /* Accepted: extension lines, size 0 with SHA-256(""), UINT64_MAX. */
    snprintf(buf, sizeof buf, "example.com/log\n5\n%s\next one\next \xc3\xa9\n", root);
    CHECK_EQ_INT(attest_checkpoint_parse(buf, strlen(buf), &cp, err, sizeof err), 0);
    CHECK_EQ_INT(cp.size, 5);
    snprintf(buf, sizeof buf, "example.com/log\n0\n%s\n", empty_root);
    CHECK_EQ_INT(attest_checkpoint_parse(buf, strlen(buf), &cp, err, sizeof err), 0);
    CHECK_EQ_INT(cp.size, 0);
    snprintf(buf, sizeof buf, "example.com/log\n18446744073709551615\n%s\n", root);
    CHECK_EQ_INT(attest_checkpoint_parse(buf, strlen(buf), &cp, err, sizeof err), 0);
    CHECK(cp.size == UINT64_MAX);

    /* The length argument counts, not the NUL. */
    CHECK_EQ_INT(attest_checkpoint_parse(buf, strlen(buf) - 1, &cp, err, sizeof err),
                 ATTEST_EFORMAT);

    /* Origins: 255 bytes fine, 256 not; format refuses what parse refuses. */
    memset(raw, 7, sizeof raw);
    memset(long_origin, 'o', 255);
    long_origin[255] = '\0';
    CHECK_EQ_INT(attest_checkpoint_format(long_origin, UINT64_MAX, raw, &text), 0);
    CHECK_EQ_INT(attest_checkpoint_parse(text, text ? strlen(text) : 0, &cp, err, sizeof err), 0);
    CHECK_STR(cp.origin, long_origin);
    CHECK(cp.size == UINT64_MAX && memcmp(cp.root, raw, 32) == 0);
    free(text);
    long_origin[255] = 'o';
    long_origin[256] = '\0';
    CHECK_EQ_INT(attest_checkpoint_format(long_origin, 1, raw, &text), ATTEST_EINVAL);
    CHECK(text == NULL);
    snprintf(buf, sizeof buf, "%s\n5\n%s\n", long_origin, root);
    CHECK_EQ_INT(attest_checkpoint_parse(buf, strlen(buf), &cp, err, sizeof err), ATTEST_EFORMAT);
    CHECK_EQ_INT(attest_checkpoint_format("", 1, raw, &text), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_checkpoint_format("a+b", 1, raw, &text), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_checkpoint_format("a b", 1, raw, &text), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_checkpoint_format("ok", 1, NULL, &text), ATTEST_EINVAL);
    CHECK_EQ_INT(attest_checkpoint_parse(NULL, 0, &cp, err, sizeof err), ATTEST_EINVAL);
}

static const char *join(char buf[512], const char *dir, const char *name)
{
    snprintf(buf, 512, "%s/%s", dir, name);
    return buf;
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    CHECK(fd >= 0);
    if (fd < 0) return;
    CHECK(write(fd, data, len) == (ssize_t)len);
    close(fd);
    CHECK(chmod(path, mode) == 0);
}

/* Keys on disk: save makes a new 0600 file, load refuses keys others can read. */
static void test_key_files(void)
{
    char dir[] = "/tmp/attest-note-XXXXXX", err[256] = "", *a = NULL, *b = NULL, *vkey = NULL;
    char *note = NULL, big[5000];
    char skey_path[512], vkey_path[512], p[512];
    attest_signer *s = NULL, *s2 = NULL;
    attest_verifier *v = NULL;
    struct stat st;
    static const char *const names[] = {"skey", "vkey", "big", "twice", "missing-dir/skey"};

    CHECK(mkdtemp(dir) != NULL);
    join(skey_path, dir, "skey");
    join(vkey_path, dir, "vkey");

    CHECK_EQ_INT(attest_signer_generate(&s, "files.example/log"), 0);
    CHECK_EQ_INT(attest_signer_save(s, skey_path, err, sizeof err), 0);
    CHECK(stat(skey_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_EQ_INT(attest_signer_save(s, skey_path, err, sizeof err), ATTEST_EEXIST);
    CHECK_EQ_INT(attest_signer_save(s, join(p, dir, "missing-dir/skey"), err, sizeof err),
                 ATTEST_EIO);
    CHECK(strstr(err, "missing-dir/skey") != NULL);

    CHECK_EQ_INT(attest_signer_load(&s2, skey_path, err, sizeof err), 0);
    CHECK_EQ_INT(attest_signer_text(s, &a), 0);
    CHECK_EQ_INT(attest_signer_text(s2, &b), 0);
    CHECK_STR(a, b);
    {
        /* The file holds exactly the key text and one newline. */
        size_t len = 0;
        char *raw = harness_slurp(skey_path, &len);
        CHECK(raw && a && len == strlen(a) + 1 && strncmp(raw, a, len - 1) == 0 &&
              raw[len - 1] == '\n');
        free(raw);
    }

    CHECK_EQ_INT(attest_signer_vkey(s, &vkey), 0);
    if (vkey) {
        char line[512];
        snprintf(line, sizeof line, "%s\n", vkey);
        write_file(vkey_path, line, strlen(line), 0644);
    }
    CHECK_EQ_INT(attest_verifier_load(&v, vkey_path, err, sizeof err), 0);
    CHECK_EQ_INT(attest_signer_sign(s2, "loaded\n", 7, &note), 0);
    CHECK_EQ_INT(attest_note_open(note, note ? strlen(note) : 0, v, NULL, err, sizeof err), 0);
    attest_verifier_free(v);
    v = NULL;

    CHECK(chmod(skey_path, 0644) == 0);
    attest_signer_free(s2);
    s2 = NULL;
    CHECK_EQ_INT(attest_signer_load(&s2, skey_path, err, sizeof err), ATTEST_EFORMAT);
    CHECK(s2 == NULL && strstr(err, "0644") != NULL && strstr(err, "chmod 600") != NULL);
    CHECK(chmod(skey_path, 0640) == 0);
    CHECK_EQ_INT(attest_signer_load(&s2, skey_path, err, sizeof err), ATTEST_EFORMAT);
    CHECK(chmod(skey_path, 0601) == 0);
    CHECK_EQ_INT(attest_signer_load(&s2, skey_path, err, sizeof err), ATTEST_EFORMAT);
    CHECK(chmod(skey_path, 0400) == 0);
    CHECK_EQ_INT(attest_signer_load(&s2, skey_path, err, sizeof err), 0);
    attest_signer_free(s2);
    s2 = NULL;

    CHECK_EQ_INT(attest_signer_load(&s2, join(p, dir, "nope"), err, sizeof err), ATTEST_ENOTFOUND);
    CHECK_EQ_INT(attest_verifier_load(&v, join(p, dir, "nope"), err, sizeof err), ATTEST_ENOTFOUND);
    CHECK(v == NULL);
    CHECK_EQ_INT(attest_signer_load(&s2, dir, err, sizeof err), ATTEST_EIO);

    memset(big, 'A', sizeof big);
    write_file(join(p, dir, "big"), big, sizeof big, 0600);
    CHECK_EQ_INT(attest_signer_load(&s2, join(p, dir, "big"), err, sizeof err), ATTEST_EFORMAT);
    CHECK_EQ_INT(attest_verifier_load(&v, join(p, dir, "big"), err, sizeof err), ATTEST_EFORMAT);
    if (vkey) {
        char line[512];
        snprintf(line, sizeof line, "%s\n\n", vkey);
        write_file(join(p, dir, "twice"), line, strlen(line), 0600);
        CHECK_EQ_INT(attest_verifier_load(&v, join(p, dir, "twice"), err, sizeof err),
                     ATTEST_EFORMAT);
        CHECK(strstr(err, "twice") != NULL);
    }

    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unlink(join(p, dir, names[i]));
    CHECK(rmdir(dir) == 0);
    attest_secret_free(a);
    attest_secret_free(b);
    free(vkey);
    free(note);
    attest_verifier_free(v);
    attest_signer_free(s);
    attest_signer_free(s2);
}

int main(void)
{
    if (sodium_init() < 0) {
        printf("not ok - sodium_init\n");
        return 1;
    }
    note_vec = load_vectors(SHARED_DIR "/vectors/note_vectors.json");
    ed_vec = load_vectors(SHARED_DIR "/vectors/ed25519_vectors.json");
    merkle_vec = load_vectors(SHARED_DIR "/vectors/merkle_vectors.json");

    RUN(test_vectors_load);
    RUN(test_rfc8032);
    RUN(test_signed_note_vectors);
    RUN(test_derived_keys);
    RUN(test_invalid_xmod_vkeys);
    RUN(test_key_rejects);
    RUN(test_generate);
    RUN(test_sign_text_rules);
    RUN(test_derived_checkpoints);
    RUN(test_cosignatures_ignored);
    RUN(test_tamper);
    RUN(test_open_rejects);
    RUN(test_signature_limit);
    RUN(test_checkpoint_rejects);
    RUN(test_key_files);

    json_decref(note_vec);
    json_decref(ed_vec);
    json_decref(merkle_vec);
    HARNESS_EXIT();
}
