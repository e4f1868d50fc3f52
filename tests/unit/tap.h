/*
 * tap.h - a tiny Test Anything Protocol harness for the C unit tests.
 *
 * Layer: tests.  Each tests/unit/test_*.c is one executable; Meson reads
 * its TAP output (protocol: 'tap').  Use:
 *
 *     TAP_OK(cond, "what is checked %d", x);
 *     TAP_EQ_INT(got, want, "name");
 *     TAP_EQ_STR(got, want, "name");
 *     return tap_done();
 */
#ifndef PYSPECT_TESTS_TAP_H
#define PYSPECT_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static void __attribute__((format(printf, 3, 4)))
tap_result(int ok, int line, const char *fmt, ...)
{
    va_list ap;

    tap_count++;
    if (!ok) {
        tap_failed++;
    }
    printf("%s %d - ", ok ? "ok" : "not ok", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!ok) {
        printf("# failed at line %d\n", line);
    }
}

#define TAP_OK(cond, ...) tap_result(!!(cond), __LINE__, __VA_ARGS__)

#define TAP_EQ_INT(got, want, name)                                           \
    do {                                                                      \
        long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);      \
        tap_result(tap_g_ == tap_w_, __LINE__, "%s", (name));                 \
        if (tap_g_ != tap_w_) {                                               \
            printf("#   got %lld, want %lld\n", tap_g_, tap_w_);              \
        }                                                                     \
    } while (0)

#define TAP_EQ_STR(got, want, name)                                           \
    do {                                                                      \
        const char *tap_g_ = (got), *tap_w_ = (want);                         \
        int tap_ok_ = tap_g_ && tap_w_ && strcmp(tap_g_, tap_w_) == 0;        \
        tap_result(tap_ok_, __LINE__, "%s", (name));                          \
        if (!tap_ok_) {                                                       \
            printf("#   got '%s', want '%s'\n", tap_g_ ? tap_g_ : "(null)",   \
                   tap_w_ ? tap_w_ : "(null)");                               \
        }                                                                     \
    } while (0)

static inline int
tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif /* PYSPECT_TESTS_TAP_H */
