/*
 * key.c - Ed25519 signer and verifier keys in the text formats of Go's x/mod
 * sumdb/note: generates them, parses and prints key text, and loads and saves
 * key files (signer files private, mode 0600). It neither signs nor opens
 * notes (note.c does) and knows no algorithm but Ed25519 (0x01).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "attest/error.h"
#include "attest/note.h"
#include "format/key.h"
#include "format/text.h"

#define B64 sodium_base64_VARIANT_ORIGINAL
#define ALG_ED25519 0x01
#define KEY_RAW_LEN 33   /* algorithm byte || 32-byte seed or public key */
#define KEY_B64_LEN 44   /* base64 of KEY_RAW_LEN bytes */
#define KEY_TEXT_MAX 512 /* longest key text is 321 bytes */
#define KEY_FILE_MAX 4096
#define SKEY_PREFIX "PRIVATE+KEY+"

/* SHA-256(name || '\n' || 0x01 || pk)[:4], the C2SP key ID of an Ed25519 key. */
static void key_id(const char *name, size_t n, const uint8_t pk[32], uint8_t id[4])
{
    static const uint8_t sep[2] = {'\n', ALG_ED25519};
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, n);
    crypto_hash_sha256_update(&st, sep, sizeof sep);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    memcpy(id, h, 4);
}

/* Writes "<name>+<hash8>+<base64(alg || key)>" (plus NUL) to out; returns its length. */
static size_t key_text(char *out, size_t outsz, const char *name, const uint8_t id[4],
                       const uint8_t key[32])
{
    uint8_t raw[KEY_RAW_LEN];
    char hex[9], b64[KEY_B64_LEN + 1];

    raw[0] = ALG_ED25519;
    memcpy(raw + 1, key, 32);
    sodium_bin2hex(hex, sizeof hex, id, 4);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, B64);
    int n = snprintf(out, outsz, "%s+%s+%s", name, hex, b64);
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(b64, sizeof b64);
    return (size_t)n;
}

/* Writes the signer key text into out (KEY_TEXT_MAX bytes); returns its length. */
static size_t skey_text(const attest_signer *s, char *out)
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    crypto_sign_ed25519_sk_to_seed(seed, s->sk);
    memcpy(out, SKEY_PREFIX, strlen(SKEY_PREFIX));
    size_t n = key_text(out + strlen(SKEY_PREFIX), KEY_TEXT_MAX - strlen(SKEY_PREFIX), s->name,
                        s->id, seed);
    sodium_memzero(seed, sizeof seed);
    return strlen(SKEY_PREFIX) + n;
}

static int signer_new(attest_signer **out, const char *name, size_t n, const uint8_t seed[32])
{
    attest_signer *s = calloc(1, sizeof *s);

    if (!s) return ATTEST_ENOMEM;
    s->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!s->sk) {
        free(s);
        return ATTEST_ENOMEM;
    }
    memcpy(s->name, name, n);
    s->name[n] = '\0';
    crypto_sign_seed_keypair(s->pk, s->sk, seed);
    key_id(s->name, n, s->pk, s->id);
    /* Hardening only: a platform without mprotect still has a usable key. */
    (void)sodium_mprotect_readonly(s->sk);
    *out = s;
    return 0;
}

/*
 * Splits "<name>+<hash8>+<base64>" (after any prefix), checks name, hash syntax, base64 and
 * algorithm byte, and returns the fields; the key hash itself is checked by the caller.
 */
static int split_key(const char *what, const char *s, size_t n, char name[256], uint8_t hash[4],
                     uint8_t raw[KEY_RAW_LEN], char *err, size_t errsz)
{
    char enc[KEY_B64_LEN + 1];
    const char *p1 = memchr(s, '+', n), *p2, *b64, *why;
    size_t namelen, hexlen, b64len, rawlen = 0;
    int rc = 0;

    if (!p1)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: no '+' after the key name", what);
    namelen = (size_t)(p1 - s);
    if ((why = attest_text_name_problem(s, namelen)) != NULL)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: key name %s", what, why);
    p2 = memchr(p1 + 1, '+', n - namelen - 1);
    if (!p2)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: no '+' after the key hash", what);
    hexlen = (size_t)(p2 - p1 - 1);
    if (hexlen != 8 || strspn(p1 + 1, "0123456789abcdef") < 8)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT,
                                "%s: key hash is not 8 lowercase hex digits", what);
    sodium_hex2bin(hash, 4, p1 + 1, 8, NULL, NULL, NULL);
    b64 = p2 + 1;
    b64len = n - (size_t)(b64 - s);
    if (b64len != KEY_B64_LEN) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT,
                              "%s: key is %zu base64 characters, expected %d", what, b64len,
                              KEY_B64_LEN);
        goto done;
    }
    if (attest_text_b64_decode(b64, b64len, raw, KEY_RAW_LEN, &rawlen, enc) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: malformed base64", what);
        goto done;
    }
    if (rawlen != KEY_RAW_LEN) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: key is %zu bytes, expected %d", what,
                              rawlen, KEY_RAW_LEN);
        goto done;
    }
    if (raw[0] != ALG_ED25519) {
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: unknown algorithm 0x%02x", what,
                              raw[0]);
        goto done;
    }
    memcpy(name, s, namelen);
    name[namelen] = '\0';
done:
    sodium_memzero(enc, sizeof enc);
    return rc;
}

/* Length of key text s without its one optional trailing newline; 0 if too long. */
static size_t key_text_len(const char *s)
{
    size_t n = strnlen(s, KEY_TEXT_MAX);

    if (n == KEY_TEXT_MAX) return 0;
    if (n > 0 && s[n - 1] == '\n') n--;
    return n;
}

/* Reads a small key file into buf (NUL-terminated); secret files must be private. */
static int read_key_file(const char *path, int secret, char *buf, size_t bufsz, char *err,
                         size_t errsz)
{
    struct stat st;
    size_t len = 0;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return attest_text_fail(err, errsz, e == ENOENT ? ATTEST_ENOTFOUND : ATTEST_EIO, "%s: %s",
                                path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
        rc = attest_text_fail(
            err, errsz, ATTEST_EFORMAT,
            "%s: signer key file has mode %04o, must not be accessible by group or "
            "others (chmod 600)",
            path, (unsigned)(st.st_mode & 07777));
        goto done;
    }
    while (len < bufsz - 1) {
        ssize_t got = read(fd, buf + len, bufsz - 1 - len);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: %s", path, strerror(errno));
            goto done;
        }
        if (got == 0) break;
        len += (size_t)got;
    }
    buf[len] = '\0';
    if (len > KEY_FILE_MAX)
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: larger than %d bytes", path,
                              KEY_FILE_MAX);
    else if (strlen(buf) != len)
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: contains a NUL byte", path);
done:
    close(fd);
    return rc;
}

int attest_signer_generate(attest_signer **out, const char *name)
{
    uint8_t *seed;
    int rc;

    if (!out) return ATTEST_EINVAL;
    *out = NULL;
    if (!name || attest_text_name_problem(name, strnlen(name, ATTEST_NOTE_NAME_MAX + 1)))
        return ATTEST_EINVAL;
    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    seed = sodium_malloc(crypto_sign_SEEDBYTES);
    if (!seed) return ATTEST_ENOMEM;
    randombytes_buf(seed, crypto_sign_SEEDBYTES);
    rc = signer_new(out, name, strlen(name), seed);
    sodium_free(seed);
    return rc;
}

int attest_signer_from_seed(attest_signer **out, const char *name, const uint8_t seed[32])
{
    if (!out) return ATTEST_EINVAL;
    *out = NULL;
    if (!name || !seed || attest_text_name_problem(name, strnlen(name, ATTEST_NOTE_NAME_MAX + 1)))
        return ATTEST_EINVAL;
    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    return signer_new(out, name, strlen(name), seed);
}

int attest_signer_parse(attest_signer **out, const char *skey, char *err, size_t errsz)
{
    static const char what[] = "signer key";
    char name[ATTEST_NOTE_NAME_MAX + 1];
    uint8_t hash[4], raw[KEY_RAW_LEN];
    size_t n, plen = strlen(SKEY_PREFIX);
    int rc;

    if (!out || !skey) return attest_text_fail(err, errsz, ATTEST_EINVAL, "%s: no key given", what);
    *out = NULL;
    if (sodium_init() < 0)
        return attest_text_fail(err, errsz, ATTEST_ECRYPTO, "%s: libsodium failed to initialise",
                                what);
    n = key_text_len(skey);
    if (n == 0)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: empty or longer than %d bytes",
                                what, KEY_TEXT_MAX - 1);
    if (n < plen || memcmp(skey, SKEY_PREFIX, plen) != 0)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: does not start with %s", what,
                                SKEY_PREFIX);
    rc = split_key(what, skey + plen, n - plen, name, hash, raw, err, errsz);
    if (rc != 0) goto done;
    rc = signer_new(out, name, strlen(name), raw + 1);
    if (rc != 0) {
        attest_text_fail(err, errsz, rc, "%s: out of memory", what);
        goto done;
    }
    if (memcmp((*out)->id, hash, 4) != 0) {
        char got[9], want[9];
        sodium_bin2hex(got, sizeof got, hash, 4);
        sodium_bin2hex(want, sizeof want, (*out)->id, 4);
        attest_signer_free(*out);
        *out = NULL;
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT,
                              "%s: hash %s does not match key (expected %s)", what, got, want);
    }
done:
    sodium_memzero(raw, sizeof raw);
    return rc;
}

int attest_signer_load(attest_signer **out, const char *path, char *err, size_t errsz)
{
    char buf[KEY_FILE_MAX + 2], why[256];
    int rc;

    if (!out || !path)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "signer key: no file given");
    *out = NULL;
    rc = read_key_file(path, 1, buf, sizeof buf, err, errsz);
    if (rc == 0) {
        rc = attest_signer_parse(out, buf, why, sizeof why);
        if (rc != 0) attest_text_fail(err, errsz, rc, "%s: %s", path, why);
    }
    sodium_memzero(buf, sizeof buf);
    return rc;
}

/* Best effort: the directory may not be readable; the file itself is already synced. */
static void sync_parent(const char *path)
{
    char *dir = strdup(path);
    char *slash;
    int fd;

    if (!dir) return;
    slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int attest_signer_save(const attest_signer *s, const char *path, char *err, size_t errsz)
{
    char text[KEY_TEXT_MAX + 1];
    size_t n, off = 0;
    int fd = -1, rc = 0, created = 0;

    if (!s || !path)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "signer key: no key or file given");
    if (sodium_init() < 0)
        return attest_text_fail(err, errsz, ATTEST_ECRYPTO,
                                "signer key: libsodium failed to initialise");
    n = skey_text(s, text);
    text[n++] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        rc = attest_text_fail(err, errsz, e == EEXIST ? ATTEST_EEXIST : ATTEST_EIO, "%s: %s", path,
                              strerror(e));
        goto done;
    }
    created = 1;
    while (off < n) {
        ssize_t put = write(fd, text + off, n - off);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) {
            rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: write: %s", path, strerror(errno));
            goto done;
        }
        off += (size_t)put;
    }
    if (fsync(fd) != 0) {
        rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: fsync: %s", path, strerror(errno));
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = attest_text_fail(err, errsz, ATTEST_EIO, "%s: close: %s", path, strerror(errno));
        goto done;
    }
    fd = -1;
    sync_parent(path);
done:
    if (fd >= 0) close(fd);
    /* We created the file (O_EXCL), so a half-written key is ours to remove. */
    if (rc != 0 && created) unlink(path);
    sodium_memzero(text, sizeof text);
    return rc;
}

int attest_signer_text(const attest_signer *s, char **out)
{
    char text[KEY_TEXT_MAX];
    size_t n;

    if (!out) return ATTEST_EINVAL;
    *out = NULL;
    if (!s) return ATTEST_EINVAL;
    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    n = skey_text(s, text);
    *out = malloc(n + 1);
    if (*out) memcpy(*out, text, n + 1);
    sodium_memzero(text, sizeof text);
    return *out ? 0 : ATTEST_ENOMEM;
}

static int vkey_dup(const char *name, const uint8_t id[4], const uint8_t pk[32], char **out)
{
    char text[KEY_TEXT_MAX];
    size_t n;

    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    n = key_text(text, sizeof text, name, id, pk);
    *out = malloc(n + 1);
    if (!*out) return ATTEST_ENOMEM;
    memcpy(*out, text, n + 1);
    return 0;
}

int attest_signer_vkey(const attest_signer *s, char **out)
{
    if (!out) return ATTEST_EINVAL;
    *out = NULL;
    if (!s) return ATTEST_EINVAL;
    return vkey_dup(s->name, s->id, s->pk, out);
}

const char *attest_signer_name(const attest_signer *s)
{
    return s ? s->name : NULL;
}

const uint8_t *attest_signer_public_key(const attest_signer *s)
{
    return s ? s->pk : NULL;
}

void attest_signer_free(attest_signer *s)
{
    if (!s) return;
    sodium_free(s->sk);
    free(s);
}

void attest_secret_free(char *secret)
{
    if (!secret) return;
    sodium_memzero(secret, strlen(secret));
    free(secret);
}

int attest_verifier_parse(attest_verifier **out, const char *vkey, char *err, size_t errsz)
{
    static const char what[] = "verifier key";
    attest_verifier *v;
    uint8_t hash[4], raw[KEY_RAW_LEN];
    size_t n;
    int rc;

    if (!out || !vkey) return attest_text_fail(err, errsz, ATTEST_EINVAL, "%s: no key given", what);
    *out = NULL;
    if (sodium_init() < 0)
        return attest_text_fail(err, errsz, ATTEST_ECRYPTO, "%s: libsodium failed to initialise",
                                what);
    n = key_text_len(vkey);
    if (n == 0)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: empty or longer than %d bytes",
                                what, KEY_TEXT_MAX - 1);
    /* Say so rather than parse it: the name would be "PRIVATE" and errors could echo it. */
    if (strncmp(vkey, SKEY_PREFIX, strlen(SKEY_PREFIX)) == 0)
        return attest_text_fail(err, errsz, ATTEST_EFORMAT, "%s: is a signer (private) key", what);
    v = calloc(1, sizeof *v);
    if (!v) return attest_text_fail(err, errsz, ATTEST_ENOMEM, "%s: out of memory", what);
    rc = split_key(what, vkey, n, v->name, hash, raw, err, errsz);
    if (rc != 0) goto done;
    memcpy(v->pk, raw + 1, sizeof v->pk);
    key_id(v->name, strlen(v->name), v->pk, v->id);
    if (memcmp(v->id, hash, 4) != 0) {
        char got[9], want[9];
        sodium_bin2hex(got, sizeof got, hash, 4);
        sodium_bin2hex(want, sizeof want, v->id, 4);
        rc = attest_text_fail(err, errsz, ATTEST_EFORMAT,
                              "%s: hash %s does not match key (expected %s)", what, got, want);
        goto done;
    }
    *out = v;
    v = NULL;
done:
    free(v);
    return rc;
}

int attest_verifier_load(attest_verifier **out, const char *path, char *err, size_t errsz)
{
    char buf[KEY_FILE_MAX + 2], why[256];
    int rc;

    if (!out || !path)
        return attest_text_fail(err, errsz, ATTEST_EINVAL, "verifier key: no file given");
    *out = NULL;
    rc = read_key_file(path, 0, buf, sizeof buf, err, errsz);
    if (rc != 0) return rc;
    rc = attest_verifier_parse(out, buf, why, sizeof why);
    if (rc != 0) attest_text_fail(err, errsz, rc, "%s: %s", path, why);
    return rc;
}

int attest_verifier_text(const attest_verifier *v, char **out)
{
    if (!out) return ATTEST_EINVAL;
    *out = NULL;
    if (!v) return ATTEST_EINVAL;
    return vkey_dup(v->name, v->id, v->pk, out);
}

const char *attest_verifier_name(const attest_verifier *v)
{
    return v ? v->name : NULL;
}

const uint8_t *attest_verifier_public_key(const attest_verifier *v)
{
    return v ? v->pk : NULL;
}

void attest_verifier_free(attest_verifier *v)
{
    free(v);
}
