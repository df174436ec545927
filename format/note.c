/*
 * note.c - Ed25519 note keys and C2SP signed notes.
 *
 * Generates, parses, prints, loads and saves signer and verifier keys in the
 * text formats of Go's x/mod sumdb/note, signs note text and opens a signed
 * note against one verifier. It does not read note bodies (checkpoint.c) and
 * verifies no signature type but Ed25519 (0x01); other lines are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "attest/error.h"
#include "attest/note.h"

#define B64 sodium_base64_VARIANT_ORIGINAL
#define ALG_ED25519 0x01
#define KEY_RAW_LEN 33     /* algorithm byte || 32-byte seed or public key */
#define KEY_B64_LEN 44     /* base64 of KEY_RAW_LEN bytes */
#define SIG_PAYLOAD_LEN 68 /* key ID || Ed25519 signature */
#define SIG_PAYLOAD_MIN 5  /* key ID and at least one byte, as Go's note.Open */
#define KEY_TEXT_MAX 512   /* longest key text is 321 bytes */
#define KEY_FILE_MAX 4096
#define SKEY_PREFIX "PRIVATE+KEY+"
#define SIG_PREFIX "\xe2\x80\x94 " /* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN 4

struct attest_signer {
    char name[ATTEST_NOTE_NAME_MAX + 1];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t id[4];
    unsigned char *sk; /* seed || public key, sodium_malloc'd and read-only */
};

struct attest_verifier {
    char name[ATTEST_NOTE_NAME_MAX + 1];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t id[4];
};

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errsz, int code,
                                                      const char *fmt, ...)
{
    if (err && errsz > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* NULL if name[0..n) is a valid key name, else what is wrong with it. */
static const char *name_problem(const char *name, size_t n)
{
    if (n == 0) return "is empty";
    if (n > ATTEST_NOTE_NAME_MAX) return "is longer than 255 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '+') return "contains '+'";
        if (c < 0x21 || c > 0x7e) return "contains a byte outside printable ASCII";
    }
    return NULL;
}

/* Length of the UTF-8 sequence at s (n > 0 bytes left) with its code point in *cp, or 0 if
 * it is not the shortest encoding of a Unicode scalar value. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t k;
    uint32_t c;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        k = 2;
        c = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        k = 3;
        c = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        k = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (k == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) return 0;
    if (k == 4 && (c < 0x10000 || c > 0x10ffff)) return 0;
    *cp = c;
    return k;
}

/* Checks s[0..n) is UTF-8 with no ASCII control byte but '\n' (Go's note.Open rule); on
 * failure *at is the offending offset and the result says which rule broke. */
static const char *text_problem(const char *s, size_t n, size_t *at)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cp;

    for (size_t i = 0; i < n;) {
        size_t k = utf8_decode(u + i, n - i, &cp);
        *at = i;
        if (k == 0) return "invalid UTF-8";
        if (cp < 0x20 && cp != '\n') return "control character";
        i += k;
    }
    return NULL;
}

/* Unicode White_Space outside ASCII; C2SP forbids it in key names on signature lines. */
static int unicode_space(uint32_t c)
{
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* C2SP rule for names on signature lines (already valid UTF-8 without controls): wider than
 * our key names so that other keys' lines, e.g. witnesses with Unicode names, still parse. */
static int sig_name_ok(const char *name, size_t n)
{
    const unsigned char *u = (const unsigned char *)name;
    uint32_t cp;

    if (n == 0) return 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_decode(u + i, n - i, &cp);
        if (k == 0 || cp == ' ' || cp == '+' || unicode_space(cp)) return 0;
        i += k;
    }
    return 1;
}

/*
 * Decodes s[0..n) as standard padded base64 into bin (cap bytes). Fails unless every
 * character is used and the bytes re-encode to exactly s, so only the canonical form is
 * read. enc is scratch space of at least n + 1 bytes; the caller wipes it for secrets.
 */
static int b64_decode(const char *s, size_t n, uint8_t *bin, size_t cap, size_t *binlen, char *enc)
{
    const char *end = NULL;

    if (n == 0 || sodium_base642bin(bin, cap, s, n, NULL, binlen, &end, B64) != 0 || end != s + n)
        return -1;
    if (sodium_base64_ENCODED_LEN(*binlen, B64) != n + 1) return -1;
    sodium_bin2base64(enc, n + 1, bin, *binlen, B64);
    return sodium_memcmp(enc, s, n) == 0 ? 0 : -1;
}

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

    if (!p1) return fail(err, errsz, ATTEST_EFORMAT, "%s: no '+' after the key name", what);
    namelen = (size_t)(p1 - s);
    if ((why = name_problem(s, namelen)) != NULL)
        return fail(err, errsz, ATTEST_EFORMAT, "%s: key name %s", what, why);
    p2 = memchr(p1 + 1, '+', n - namelen - 1);
    if (!p2) return fail(err, errsz, ATTEST_EFORMAT, "%s: no '+' after the key hash", what);
    hexlen = (size_t)(p2 - p1 - 1);
    if (hexlen != 8 || strspn(p1 + 1, "0123456789abcdef") < 8)
        return fail(err, errsz, ATTEST_EFORMAT, "%s: key hash is not 8 lowercase hex digits", what);
    sodium_hex2bin(hash, 4, p1 + 1, 8, NULL, NULL, NULL);
    b64 = p2 + 1;
    b64len = n - (size_t)(b64 - s);
    if (b64len != KEY_B64_LEN) {
        rc = fail(err, errsz, ATTEST_EFORMAT, "%s: key is %zu base64 characters, expected %d", what,
                  b64len, KEY_B64_LEN);
        goto done;
    }
    if (b64_decode(b64, b64len, raw, KEY_RAW_LEN, &rawlen, enc) != 0) {
        rc = fail(err, errsz, ATTEST_EFORMAT, "%s: malformed base64", what);
        goto done;
    }
    if (rawlen != KEY_RAW_LEN) {
        rc = fail(err, errsz, ATTEST_EFORMAT, "%s: key is %zu bytes, expected %d", what, rawlen,
                  KEY_RAW_LEN);
        goto done;
    }
    if (raw[0] != ALG_ED25519) {
        rc = fail(err, errsz, ATTEST_EFORMAT, "%s: unknown algorithm 0x%02x", what, raw[0]);
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
        return fail(err, errsz, e == ENOENT ? ATTEST_ENOTFOUND : ATTEST_EIO, "%s: %s", path,
                    strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        rc = fail(err, errsz, ATTEST_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
        rc = fail(err, errsz, ATTEST_EFORMAT,
                  "%s: signer key file has mode %04o, must not be accessible by group or "
                  "others (chmod 600)",
                  path, (unsigned)(st.st_mode & 07777));
        goto done;
    }
    while (len < bufsz - 1) {
        ssize_t got = read(fd, buf + len, bufsz - 1 - len);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = fail(err, errsz, ATTEST_EIO, "%s: %s", path, strerror(errno));
            goto done;
        }
        if (got == 0) break;
        len += (size_t)got;
    }
    buf[len] = '\0';
    if (len > KEY_FILE_MAX)
        rc = fail(err, errsz, ATTEST_EFORMAT, "%s: larger than %d bytes", path, KEY_FILE_MAX);
    else if (strlen(buf) != len)
        rc = fail(err, errsz, ATTEST_EFORMAT, "%s: contains a NUL byte", path);
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
    if (!name || name_problem(name, strnlen(name, ATTEST_NOTE_NAME_MAX + 1))) return ATTEST_EINVAL;
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
    if (!name || !seed || name_problem(name, strnlen(name, ATTEST_NOTE_NAME_MAX + 1)))
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

    if (!out || !skey) return fail(err, errsz, ATTEST_EINVAL, "%s: no key given", what);
    *out = NULL;
    if (sodium_init() < 0)
        return fail(err, errsz, ATTEST_ECRYPTO, "%s: libsodium failed to initialise", what);
    n = key_text_len(skey);
    if (n == 0)
        return fail(err, errsz, ATTEST_EFORMAT, "%s: empty or longer than %d bytes", what,
                    KEY_TEXT_MAX - 1);
    if (n < plen || memcmp(skey, SKEY_PREFIX, plen) != 0)
        return fail(err, errsz, ATTEST_EFORMAT, "%s: does not start with %s", what, SKEY_PREFIX);
    rc = split_key(what, skey + plen, n - plen, name, hash, raw, err, errsz);
    if (rc != 0) goto done;
    rc = signer_new(out, name, strlen(name), raw + 1);
    if (rc != 0) {
        fail(err, errsz, rc, "%s: out of memory", what);
        goto done;
    }
    if (memcmp((*out)->id, hash, 4) != 0) {
        char got[9], want[9];
        sodium_bin2hex(got, sizeof got, hash, 4);
        sodium_bin2hex(want, sizeof want, (*out)->id, 4);
        attest_signer_free(*out);
        *out = NULL;
        rc = fail(err, errsz, ATTEST_EFORMAT, "%s: hash %s does not match key (expected %s)", what,
                  got, want);
    }
done:
    sodium_memzero(raw, sizeof raw);
    return rc;
}

int attest_signer_load(attest_signer **out, const char *path, char *err, size_t errsz)
{
    char buf[KEY_FILE_MAX + 2], why[256];
    int rc;

    if (!out || !path) return fail(err, errsz, ATTEST_EINVAL, "signer key: no file given");
    *out = NULL;
    rc = read_key_file(path, 1, buf, sizeof buf, err, errsz);
    if (rc == 0) {
        rc = attest_signer_parse(out, buf, why, sizeof why);
        if (rc != 0) fail(err, errsz, rc, "%s: %s", path, why);
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

    if (!s || !path) return fail(err, errsz, ATTEST_EINVAL, "signer key: no key or file given");
    if (sodium_init() < 0)
        return fail(err, errsz, ATTEST_ECRYPTO, "signer key: libsodium failed to initialise");
    n = skey_text(s, text);
    text[n++] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        rc =
            fail(err, errsz, e == EEXIST ? ATTEST_EEXIST : ATTEST_EIO, "%s: %s", path, strerror(e));
        goto done;
    }
    created = 1;
    while (off < n) {
        ssize_t put = write(fd, text + off, n - off);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) {
            rc = fail(err, errsz, ATTEST_EIO, "%s: write: %s", path, strerror(errno));
            goto done;
        }
        off += (size_t)put;
    }
    if (fsync(fd) != 0) {
        rc = fail(err, errsz, ATTEST_EIO, "%s: fsync: %s", path, strerror(errno));
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = fail(err, errsz, ATTEST_EIO, "%s: close: %s", path, strerror(errno));
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

/* Note text rule for signing: UTF-8, no control byte (DEL included) but '\n', ends in '\n',
 * no empty line. Stricter than what we open, so that every verifier accepts our notes. */
static int sign_text_ok(const char *text, size_t len)
{
    size_t at;

    if (len == 0 || text[len - 1] != '\n' || text[0] == '\n') return 0;
    if (text_problem(text, len, &at) != NULL || memchr(text, 0x7f, len) != NULL) return 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (text[i] == '\n' && text[i + 1] == '\n') return 0;
    return 1;
}

int attest_signer_sign(const attest_signer *s, const char *text, size_t len, char **note)
{
    uint8_t payload[SIG_PAYLOAD_LEN];
    char b64[sodium_base64_ENCODED_LEN(SIG_PAYLOAD_LEN, B64)];
    size_t namelen, b64len, total;
    char *out, *p;

    if (!note) return ATTEST_EINVAL;
    *note = NULL;
    if (!s || !text || !sign_text_ok(text, len)) return ATTEST_EINVAL;
    if (sodium_init() < 0) return ATTEST_ECRYPTO;
    namelen = strlen(s->name);
    b64len = sizeof b64 - 1;
    total = len + 1 + SIG_PREFIX_LEN + namelen + 1 + b64len + 1;
    if (total < len) return ATTEST_EINVAL;
    out = malloc(total + 1);
    if (!out) return ATTEST_ENOMEM;
    memcpy(payload, s->id, 4);
    crypto_sign_detached(payload + 4, NULL, (const unsigned char *)text, len, s->sk);
    sodium_bin2base64(b64, sizeof b64, payload, sizeof payload, B64);
    p = out;
    memcpy(p, text, len);
    p += len;
    *p++ = '\n';
    memcpy(p, SIG_PREFIX, SIG_PREFIX_LEN);
    p += SIG_PREFIX_LEN;
    memcpy(p, s->name, namelen);
    p += namelen;
    *p++ = ' ';
    memcpy(p, b64, b64len);
    p += b64len;
    *p++ = '\n';
    *p = '\0';
    *note = out;
    return 0;
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

    if (!out || !vkey) return fail(err, errsz, ATTEST_EINVAL, "%s: no key given", what);
    *out = NULL;
    if (sodium_init() < 0)
        return fail(err, errsz, ATTEST_ECRYPTO, "%s: libsodium failed to initialise", what);
    n = key_text_len(vkey);
    if (n == 0)
        return fail(err, errsz, ATTEST_EFORMAT, "%s: empty or longer than %d bytes", what,
                    KEY_TEXT_MAX - 1);
    v = calloc(1, sizeof *v);
    if (!v) return fail(err, errsz, ATTEST_ENOMEM, "%s: out of memory", what);
    rc = split_key(what, vkey, n, v->name, hash, raw, err, errsz);
    if (rc != 0) goto done;
    memcpy(v->pk, raw + 1, sizeof v->pk);
    key_id(v->name, strlen(v->name), v->pk, v->id);
    if (memcmp(v->id, hash, 4) != 0) {
        char got[9], want[9];
        sodium_bin2hex(got, sizeof got, hash, 4);
        sodium_bin2hex(want, sizeof want, v->id, 4);
        rc = fail(err, errsz, ATTEST_EFORMAT, "%s: hash %s does not match key (expected %s)", what,
                  got, want);
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

    if (!out || !path) return fail(err, errsz, ATTEST_EINVAL, "verifier key: no file given");
    *out = NULL;
    rc = read_key_file(path, 0, buf, sizeof buf, err, errsz);
    if (rc != 0) return rc;
    rc = attest_verifier_parse(out, buf, why, sizeof why);
    if (rc != 0) fail(err, errsz, rc, "%s: %s", path, why);
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

int attest_note_open(const char *note, size_t len, const attest_verifier *v, char **text, char *err,
                     size_t errsz)
{
    const char *sigs, *line, *why;
    size_t at, textlen, siglen, vnamelen, nlines = 0, matched = 0;
    uint8_t *bin = NULL;
    char *enc = NULL, hex[9];
    int rc = 0;

    if (text) *text = NULL;
    if (!note || !v) return fail(err, errsz, ATTEST_EINVAL, "note: no note or verifier given");
    if (sodium_init() < 0)
        return fail(err, errsz, ATTEST_ECRYPTO, "note: libsodium failed to initialise");
    if ((why = text_problem(note, len, &at)) != NULL)
        return fail(err, errsz, ATTEST_EFORMAT, "note: %s at byte %zu", why, at);
    /* The text ends at the last blank line: a text may hold blank lines, signatures not. */
    for (textlen = len; textlen >= 2; textlen--)
        if (note[textlen - 2] == '\n' && note[textlen - 1] == '\n') break;
    if (textlen < 2)
        return fail(err, errsz, ATTEST_EFORMAT, "note: no blank line before the signatures");
    textlen--;
    sigs = note + textlen + 1;
    siglen = len - textlen - 1;
    if (siglen == 0) return fail(err, errsz, ATTEST_EFORMAT, "note: no signature lines");
    if (sigs[siglen - 1] != '\n')
        return fail(err, errsz, ATTEST_EFORMAT, "note: last signature line has no final newline");
    bin = malloc(siglen);
    enc = malloc(siglen + 1);
    if (!bin || !enc) {
        rc = fail(err, errsz, ATTEST_ENOMEM, "note: out of memory");
        goto done;
    }
    vnamelen = strlen(v->name);
    sodium_bin2hex(hex, sizeof hex, v->id, 4);
    for (line = sigs; line < sigs + siglen;) {
        const char *eol = memchr(line, '\n', (size_t)(sigs + siglen - line)), *name, *sp;
        size_t namelen, binlen = 0;

        if (++nlines > ATTEST_NOTE_MAX_SIGNATURES) {
            rc = fail(err, errsz, ATTEST_EFORMAT, "note: more than %d signature lines",
                      ATTEST_NOTE_MAX_SIGNATURES);
            goto done;
        }
        if ((size_t)(eol - line) < SIG_PREFIX_LEN ||
            memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) != 0) {
            rc = fail(err, errsz, ATTEST_EFORMAT,
                      "note: signature line %zu: does not start with an em dash and a space",
                      nlines);
            goto done;
        }
        name = line + SIG_PREFIX_LEN;
        sp = memchr(name, ' ', (size_t)(eol - name));
        namelen = sp ? (size_t)(sp - name) : 0;
        if (!sp || !sig_name_ok(name, namelen)) {
            rc = fail(err, errsz, ATTEST_EFORMAT, "note: signature line %zu: invalid key name",
                      nlines);
            goto done;
        }
        if (b64_decode(sp + 1, (size_t)(eol - sp - 1), bin, siglen, &binlen, enc) != 0) {
            rc = fail(err, errsz, ATTEST_EFORMAT, "note: signature line %zu: malformed base64",
                      nlines);
            goto done;
        }
        if (binlen < SIG_PAYLOAD_MIN) {
            rc = fail(err, errsz, ATTEST_EFORMAT,
                      "note: signature line %zu: signature of %zu bytes is too short", nlines,
                      binlen);
            goto done;
        }
        line = eol + 1;
        /* Lines by other keys (witnesses, other algorithms) are not ours to judge. */
        if (namelen != vnamelen || memcmp(name, v->name, namelen) != 0 ||
            memcmp(bin, v->id, 4) != 0)
            continue;
        matched++;
        /* Remember the first bad line but keep going: a malformed later line wins. */
        if (rc == 0 && binlen != SIG_PAYLOAD_LEN)
            rc = fail(err, errsz, ATTEST_EVERIFY,
                      "note: signature line %zu by %s+%s is %zu bytes, expected %d", nlines,
                      v->name, hex, binlen, SIG_PAYLOAD_LEN);
        else if (rc == 0 && crypto_sign_verify_detached(bin + 4, (const unsigned char *)note,
                                                        textlen, v->pk) != 0)
            rc = fail(err, errsz, ATTEST_EVERIFY,
                      "note: signature line %zu by %s+%s does not verify", nlines, v->name, hex);
    }
    if (rc != 0) goto done;
    if (matched == 0) {
        rc = fail(err, errsz, ATTEST_EVERIFY, "note: no signature by %s+%s", v->name, hex);
        goto done;
    }
    if (text) {
        *text = malloc(textlen + 1);
        if (!*text) {
            rc = fail(err, errsz, ATTEST_ENOMEM, "note: out of memory");
            goto done;
        }
        memcpy(*text, note, textlen);
        (*text)[textlen] = '\0';
    }
done:
    free(bin);
    free(enc);
    return rc;
}
