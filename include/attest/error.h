/*
 * attest/error.h - return codes shared by every attest function.
 *
 * Fallible functions return 0 or one of these negative codes. The numbers
 * are part of the ABI and are never renumbered; new codes are only added.
 * "Could not check" (I/O, malformed input) is never reported as
 * ATTEST_EVERIFY ("checked, and it is wrong").
 */
#ifndef ATTEST_ERROR_H
#define ATTEST_ERROR_H

#include "attest/common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum attest_error {
    ATTEST_OK = 0,
    ATTEST_ENOMEM = -1,    /* out of memory */
    ATTEST_EINVAL = -2,    /* invalid argument passed by the caller */
    ATTEST_EIO = -3,       /* operating-system I/O failure (see errmsg) */
    ATTEST_EFORMAT = -4,   /* malformed input: syntax, schema or order rule */
    ATTEST_ECORRUPT = -5,  /* stored bytes damaged: bad frame, checksum */
    ATTEST_EVERIFY = -6,   /* checked, and it is wrong (signature, proof, root) */
    ATTEST_ELOCKED = -7,   /* another writer holds the log */
    ATTEST_ENOTFOUND = -8, /* no such record, seal, file or key */
    ATTEST_EEXIST = -9,    /* the file to be created already exists */
    ATTEST_EVERSION = -10, /* a format version this build does not read */
    ATTEST_ECRYPTO = -11,  /* the crypto library failed to initialise */
    ATTEST_EPARTIAL = -12  /* what was checked passed, but inputs left out by construction
                              (a bundle without checkpoints) kept part of the check from running */
};

/*
 * attest_strerror - a short, static, English description of a return code.
 * Never returns NULL; unknown codes give "unknown error".
 */
ATTEST_API const char *attest_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
