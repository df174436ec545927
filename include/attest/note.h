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
 * Every int function returns 0 or a negative code of attest/error.h;
 * ATTEST_ECRYPTO always means that libsodium failed to initialise.
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
 * Generates a fresh Ed25519 key named `name`. Returns 0, ATTEST_EINVAL when
 * out or name is NULL or the name is not a valid key name, ATTEST_ECRYPTO,
 * or ATTEST_ENOMEM. *out owns the key; free with attest_signer_free. The
 * secret lives in guarded (sodium) memory.
 */
ATTEST_API int attest_signer_generate(attest_signer **out, const char *name);

/*
 * Builds a signer from a 32-byte Ed25519 seed (tests, key import); the seed
 * is copied. Returns 0, ATTEST_EINVAL when out, name or seed is NULL or the
 * name is not a valid key name, ATTEST_ECRYPTO, or ATTEST_ENOMEM. *out owns
 * the key; free with attest_signer_free.
 */
ATTEST_API int attest_signer_from_seed(attest_signer **out, const char *name,
                                       const uint8_t seed[32]);

/*
 * Parses signer key text (NUL-terminated, one trailing newline allowed).
 * Returns 0, ATTEST_EINVAL when out or skey is NULL, ATTEST_ECRYPTO,
 * ATTEST_EFORMAT if malformed or if the key hash does not match, or
 * ATTEST_ENOMEM. *out owns the key; free with attest_signer_free.
 */
ATTEST_API int attest_signer_parse(attest_signer **out, const char *skey, char *err, size_t errsz);

/*
 * Reads a signer key file. Returns 0, ATTEST_EINVAL when out or path is
 * NULL, ATTEST_ENOTFOUND when the file does not exist, ATTEST_EIO when it
 * cannot be read, ATTEST_EFORMAT when it is malformed (as for
 * attest_signer_parse, larger than 4096 bytes, or holding a NUL byte) or
 * accessible by group or others (mode must be 0600 or stricter, as for ssh
 * keys), ATTEST_ECRYPTO, or ATTEST_ENOMEM. The reason in err names the file.
 */
ATTEST_API int attest_signer_load(attest_signer **out, const char *path, char *err, size_t errsz);

/*
 * Writes the signer key text and a newline to a new file of mode 0600; the
 * file and its directory are fsync'd. Returns 0, ATTEST_EINVAL when s or
 * path is NULL, ATTEST_ECRYPTO, ATTEST_EEXIST if the file exists (it is left
 * alone), or ATTEST_EIO; on ATTEST_EIO a file this call created is removed.
 */
ATTEST_API int attest_signer_save(const attest_signer *s, const char *path, char *err,
                                  size_t errsz);

/*
 * Signer key text ("PRIVATE+KEY+...", no newline) in *out, malloc'd; free it
 * with attest_secret_free, which wipes it. Returns 0, ATTEST_EINVAL when out
 * or s is NULL, ATTEST_ECRYPTO, or ATTEST_ENOMEM.
 */
ATTEST_API int attest_signer_text(const attest_signer *s, char **out);

/*
 * Verifier key text ("<name>+<hash8>+<base64>", no newline) of the signer's
 * public key in *out, malloc'd; free with free(). Returns 0, ATTEST_EINVAL
 * when out or s is NULL, ATTEST_ECRYPTO, or ATTEST_ENOMEM.
 */
ATTEST_API int attest_signer_vkey(const attest_signer *s, char **out);

/* The key name (owned by the signer), or NULL when s is NULL. */
ATTEST_API const char *attest_signer_name(const attest_signer *s);

/* The raw 32-byte public key (owned by the signer), or NULL when s is NULL. */
ATTEST_API const uint8_t *attest_signer_public_key(const attest_signer *s);

/*
 * Signs `text` (len bytes, must be a valid note text: UTF-8, ends with '\n',
 * no control characters other than '\n' (DEL included), no empty line) and
 * returns the signed note "<text>\n— <name> <base64(keyid || sig)>\n" as a
 * malloc'd NUL-terminated string in *note; free with free(). Returns 0,
 * ATTEST_EINVAL when note, s or text is NULL or the text is invalid,
 * ATTEST_ECRYPTO, or ATTEST_ENOMEM.
 */
ATTEST_API int attest_signer_sign(const attest_signer *s, const char *text, size_t len,
                                  char **note);

/* Frees a signer and wipes its secret. NULL is a no-op. */
ATTEST_API void attest_signer_free(attest_signer *s);

/* Wipes and frees a string returned by attest_signer_text. NULL is a no-op. */
ATTEST_API void attest_secret_free(char *secret);

/*
 * Parses verifier key text (NUL-terminated, one trailing newline allowed).
 * Returns 0, ATTEST_EINVAL when out or vkey is NULL, ATTEST_ECRYPTO,
 * ATTEST_EFORMAT if malformed, if the key hash does not match, or if vkey is
 * a signer key, or ATTEST_ENOMEM. *out owns the key; free with
 * attest_verifier_free.
 */
ATTEST_API int attest_verifier_parse(attest_verifier **out, const char *vkey, char *err,
                                     size_t errsz);

/*
 * Reads a verifier key file. Returns 0, ATTEST_EINVAL when out or path is
 * NULL, ATTEST_ENOTFOUND when the file does not exist, ATTEST_EIO when it
 * cannot be read, ATTEST_EFORMAT when it is malformed (as for
 * attest_verifier_parse, larger than 4096 bytes, or holding a NUL byte),
 * ATTEST_ECRYPTO, or ATTEST_ENOMEM. The reason in err names the file.
 */
ATTEST_API int attest_verifier_load(attest_verifier **out, const char *path, char *err,
                                    size_t errsz);

/*
 * Verifier key text ("<name>+<hash8>+<base64>", no newline) in *out,
 * malloc'd; free with free(). Returns 0, ATTEST_EINVAL when out or v is
 * NULL, ATTEST_ECRYPTO, or ATTEST_ENOMEM.
 */
ATTEST_API int attest_verifier_text(const attest_verifier *v, char **out);

/* The key name (owned by the verifier), or NULL when v is NULL. */
ATTEST_API const char *attest_verifier_name(const attest_verifier *v);

/* The raw 32-byte public key (owned by the verifier), or NULL when v is NULL. */
ATTEST_API const uint8_t *attest_verifier_public_key(const attest_verifier *v);

/* Frees a verifier. NULL is a no-op. */
ATTEST_API void attest_verifier_free(attest_verifier *v);

/*
 * Opens a signed note (C2SP signed-note) of len bytes (no NUL needed): splits
 * text and signatures at the last blank line, ignores signatures by other
 * keys, and checks every one by v (same name and key ID). On success returns
 * 0 and, when text is not NULL, a malloc'd copy of the note text (including
 * its final newline) in *text; free with free(). Returns ATTEST_EINVAL when
 * note or v is NULL, ATTEST_ECRYPTO, ATTEST_EFORMAT for a malformed note (bad
 * UTF-8, control characters, no blank line, malformed or non-canonical
 * signature line, more than ATTEST_NOTE_MAX_SIGNATURES signatures),
 * ATTEST_EVERIFY when v's signature is missing, has the wrong length or does
 * not verify, or ATTEST_ENOMEM. A malformed line anywhere gives
 * ATTEST_EFORMAT even when a signature by v failed.
 */
ATTEST_API ATTEST_CHECK_RESULT int attest_note_open(const char *note, size_t len,
                                                    const attest_verifier *v, char **text,
                                                    char *err, size_t errsz);

/* A parsed C2SP checkpoint body. */
typedef struct attest_checkpoint {
    char origin[ATTEST_NOTE_NAME_MAX + 1];
    uint64_t size;
    uint8_t root[32];
} attest_checkpoint;

/*
 * Formats the checkpoint body "<origin>\n<size>\n<base64 root>\n" as a
 * malloc'd string in *text; free with free(). Returns 0, ATTEST_EINVAL when
 * text, origin or root is NULL or the origin is not a valid key name,
 * ATTEST_ECRYPTO, or ATTEST_ENOMEM.
 */
ATTEST_API int attest_checkpoint_format(const char *origin, uint64_t size, const uint8_t root[32],
                                        char **text);

/*
 * Parses a checkpoint body (the text of an opened note, len bytes, no NUL
 * needed): an origin line, a decimal size without leading zeros, a base64
 * 32-byte root, then optional non-empty extension lines. A size-0 checkpoint
 * must carry SHA-256(""). Returns 0, ATTEST_EINVAL when text or out is NULL,
 * ATTEST_ECRYPTO, or ATTEST_EFORMAT; on failure *out is unchanged.
 */
ATTEST_API int attest_checkpoint_parse(const char *text, size_t len, attest_checkpoint *out,
                                       char *err, size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
