/*
 * attest/note.h - Ed25519 keys, C2SP signed notes and tlog checkpoints.
 *
 * Key text uses the formats of Go's golang.org/x/mod/sumdb/note:
 *   signer key   PRIVATE+KEY+<name>+<hash8>+<base64(0x01 || 32-byte seed)>
 *   verifier key <name>+<hash8>+<base64(0x01 || 32-byte public key)>
 * where hash8 is the key ID, SHA-256(name || 0x0A || 0x01 || public key)[:4]
 * as 8 lowercase hex digits. Key names are 1..255 bytes of printable ASCII
 * (0x21-0x7E) other than '+'.
 *
 * Signed notes follow C2SP signed-note v1.0.0; checkpoints follow C2SP
 * tlog-checkpoint v1.0.0 (origin, size, base64 root, no extension lines
 * written; extension lines are accepted when read).
 *
 * Functions that parse take an optional error buffer (err, errsz); when err
 * is not NULL it receives a one-line English reason on failure.
 * Thread-safety: handles are immutable after creation and may be shared.
 */
#ifndef ATTEST_NOTE_H
#define ATTEST_NOTE_H

#include "attest/common.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTEST_NOTE_NAME_MAX 255
/* Most signature lines a note may carry (as Go's note.Open). */
#define ATTEST_NOTE_MAX_SIGNATURES 100

typedef struct attest_signer attest_signer;
typedef struct attest_verifier attest_verifier;

/*
 * Generates a fresh Ed25519 key named `name`. Returns 0, ATTEST_EINVAL for
 * an invalid name, ATTEST_ENOMEM, or ATTEST_ECRYPTO. *out owns the key; free
 * with attest_signer_free. The secret lives in guarded (sodium) memory.
 */
ATTEST_API int attest_signer_generate(attest_signer **out, const char *name);

/* Builds a signer from a 32-byte Ed25519 seed (tests, key import). */
ATTEST_API int attest_signer_from_seed(attest_signer **out, const char *name, const uint8_t seed[32]);

/*
 * Parses signer key text (one trailing newline allowed). Returns 0,
 * ATTEST_EFORMAT if malformed or if the key hash does not match, ATTEST_ENOMEM.
 */
ATTEST_API int attest_signer_parse(attest_signer **out, const char *skey, char *err, size_t errsz);

/*
 * Reads a signer key file. Returns 0, ATTEST_ENOTFOUND / ATTEST_EIO when the
 * file cannot be read, ATTEST_EFORMAT when the file is malformed or readable
 * by group or others (mode must be 0600 or stricter, as for ssh keys).
 */
ATTEST_API int attest_signer_load(attest_signer **out, const char *path, char *err, size_t errsz);

/*
 * Writes the signer key text to a new file of mode 0600 (fails with
 * ATTEST_EEXIST if the file exists; the file is fsync'd).
 */
ATTEST_API int attest_signer_save(const attest_signer *s, const char *path, char *err, size_t errsz);

/* Signer key text ("PRIVATE+KEY+..."), malloc'd; free with sodium-safe attest_secret_free. */
ATTEST_API int attest_signer_text(const attest_signer *s, char **out);

/* Verifier key text ("<name>+<hash8>+<base64>"), malloc'd; free with free(). */
ATTEST_API int attest_signer_vkey(const attest_signer *s, char **out);

/* The key name (owned by the signer). */
ATTEST_API const char *attest_signer_name(const attest_signer *s);

/* The raw 32-byte public key (owned by the signer). */
ATTEST_API const uint8_t *attest_signer_public_key(const attest_signer *s);

/*
 * Signs `text` (len bytes, must be a valid note text: UTF-8, ends with '\n',
 * no control characters other than '\n', no blank line) and returns the
 * signed note "<text>\n— <name> <base64(keyid || sig)>\n" as a malloc'd
 * NUL-terminated string in *note. Returns 0, ATTEST_EINVAL for an invalid
 * text, ATTEST_ENOMEM.
 */
ATTEST_API int attest_signer_sign(const attest_signer *s, const char *text, size_t len, char **note);

/* Frees a signer and wipes its secret. NULL is a no-op. */
ATTEST_API void attest_signer_free(attest_signer *s);

/* Wipes and frees a string returned by attest_signer_text. NULL is a no-op. */
ATTEST_API void attest_secret_free(char *secret);

/* Parses verifier key text (one trailing newline allowed). */
ATTEST_API int attest_verifier_parse(attest_verifier **out, const char *vkey, char *err, size_t errsz);

/* Reads a verifier key file. */
ATTEST_API int attest_verifier_load(attest_verifier **out, const char *path, char *err, size_t errsz);

/* Verifier key text, malloc'd; free with free(). */
ATTEST_API int attest_verifier_text(const attest_verifier *v, char **out);

/* The key name (owned by the verifier). */
ATTEST_API const char *attest_verifier_name(const attest_verifier *v);

/* The raw 32-byte public key (owned by the verifier). */
ATTEST_API const uint8_t *attest_verifier_public_key(const attest_verifier *v);

/* Frees a verifier. NULL is a no-op. */
ATTEST_API void attest_verifier_free(attest_verifier *v);

/*
 * Opens a signed note (C2SP signed-note): splits text and signatures at the
 * last blank line, ignores signatures by other keys, and checks the one by v.
 * On success returns 0 and, when text is not NULL, a malloc'd copy of the
 * note text (including its final newline) in *text. Returns ATTEST_EFORMAT
 * for a malformed note (bad UTF-8, control characters, malformed signature
 * line, more than ATTEST_NOTE_MAX_SIGNATURES signatures), ATTEST_EVERIFY when
 * v's signature is missing or does not verify.
 */
ATTEST_API ATTEST_CHECK_RESULT int
attest_note_open(const char *note, size_t len, const attest_verifier *v, char **text,
                 char *err, size_t errsz);

/* A parsed C2SP checkpoint body. */
typedef struct attest_checkpoint {
    char origin[ATTEST_NOTE_NAME_MAX + 1];
    uint64_t size;
    uint8_t root[32];
} attest_checkpoint;

/*
 * Formats the checkpoint body "<origin>\n<size>\n<base64 root>\n" as a
 * malloc'd string. Returns 0, ATTEST_EINVAL for an invalid origin, ATTEST_ENOMEM.
 */
ATTEST_API int attest_checkpoint_format(const char *origin, uint64_t size, const uint8_t root[32],
                             char **text);

/*
 * Parses a checkpoint body (the text of an opened note): an origin line, a
 * decimal size without leading zeros, a base64 32-byte root, then optional
 * non-empty extension lines. A size-0 checkpoint must carry SHA-256("").
 * Returns 0 or ATTEST_EFORMAT.
 */
ATTEST_API int attest_checkpoint_parse(const char *text, size_t len, attest_checkpoint *out, char *err,
                            size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
