/*
 * harness.h - the tiny test harness of the unit tests.
 *
 * Each test binary defines test functions and lists them in main() with
 * RUN(fn). A failed CHECK prints the file, line and expression and marks the
 * current test failed; the binary prints one "ok - name" or "not ok - name"
 * line per test (TAP style), which tests/run counts.
 */
#ifndef ATTEST_TEST_HARNESS_H
#define ATTEST_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_failed_now;
static int harness_failures;

#define CHECK(expr)                                                                \
    do {                                                                           \
        if (!(expr)) {                                                             \
            fprintf(stdout, "# %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
            harness_failed_now = 1;                                                \
        }                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                         \
    do {                                                                           \
        long long ha_ = (long long)(a), hb_ = (long long)(b);                      \
        if (ha_ != hb_) {                                                          \
            fprintf(stdout, "# %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, \
                    __LINE__, #a, ha_, #b, hb_);                                   \
            harness_failed_now = 1;                                                \
        }                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                            \
    do {                                                                           \
        const char *ha_ = (a), *hb_ = (b);                                         \
        if (ha_ == NULL || hb_ == NULL || strcmp(ha_, hb_) != 0) {                 \
            fprintf(stdout, "# %s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__,  \
                    __LINE__, #a, ha_ ? ha_ : "(null)", hb_ ? hb_ : "(null)");     \
            harness_failed_now = 1;                                                \
        }                                                                          \
    } while (0)

#define RUN(fn)                                                                    \
    do {                                                                           \
        harness_failed_now = 0;                                                    \
        fn();                                                                      \
        printf("%s - %s\n", harness_failed_now ? "not ok" : "ok", #fn);            \
        fflush(stdout);                                                            \
        harness_failures += harness_failed_now;                                    \
    } while (0)

#define HARNESS_EXIT() return harness_failures ? 1 : 0

/* Directory of the shared vectors; the Makefile passes -DSHARED_DIR. */
#ifndef SHARED_DIR
#define SHARED_DIR "../shared"
#endif

/* Reads a whole file into a NUL-terminated buffer; NULL if unreadable. */
static inline char *harness_slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    buf[len] = '\0';
    if (len_out) *len_out = len;
    return buf;
}

#endif
