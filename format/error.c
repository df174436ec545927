/*
 * error.c - descriptions of the attest return codes.
 *
 * Only the fixed text per code lives here; the details of a particular
 * failure are kept in the handle that failed (attest_log_errmsg).
 */
#include "attest/error.h"

const char *attest_strerror(int code)
{
    switch (code) {
    case ATTEST_OK:
        return "success";
    case ATTEST_ENOMEM:
        return "out of memory";
    case ATTEST_EINVAL:
        return "invalid argument";
    case ATTEST_EIO:
        return "input/output error";
    case ATTEST_EFORMAT:
        return "malformed input";
    case ATTEST_ECORRUPT:
        return "stored data is corrupt";
    case ATTEST_EVERIFY:
        return "verification failed";
    case ATTEST_ELOCKED:
        return "locked by another writer";
    case ATTEST_ENOTFOUND:
        return "not found";
    case ATTEST_EEXIST:
        return "already exists";
    case ATTEST_EVERSION:
        return "unsupported format version";
    case ATTEST_ECRYPTO:
        return "crypto library failure";
    case ATTEST_EPARTIAL:
        return "checked in part: what was checked passed";
    default:
        return "unknown error";
    }
}
