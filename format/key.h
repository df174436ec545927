/*
 * key.h - internal: the layout of the key handles of attest/note.h, which
 * key.c creates and note.c signs and verifies with. Nothing else looks
 * inside them.
 */
#ifndef ATTEST_FORMAT_KEY_H
#define ATTEST_FORMAT_KEY_H

#include <stdint.h>

#include <sodium.h>

#include "attest/note.h"

struct attest_signer {
    char name[ATTEST_NOTE_NAME_MAX + 1];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t id[4];     /* C2SP key ID: SHA-256(name || '\n' || 0x01 || pk)[:4] */
    unsigned char *sk; /* seed || public key, sodium_malloc'd and read-only */
};

struct attest_verifier {
    char name[ATTEST_NOTE_NAME_MAX + 1];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t id[4];
};

#endif
