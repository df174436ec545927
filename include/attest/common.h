/*
 * attest/common.h - what every public header shares: the export marker.
 * libattest.so exports exactly the functions marked ATTEST_API.
 */
#ifndef ATTEST_COMMON_H
#define ATTEST_COMMON_H

#if defined(__GNUC__)
#define ATTEST_API __attribute__((visibility("default")))
#define ATTEST_CHECK_RESULT __attribute__((warn_unused_result))
#else
#define ATTEST_API
#define ATTEST_CHECK_RESULT
#endif

#endif
