/*
 * util.h - small helpers: strict number parsing, clocks, file slurping.
 *
 * Layer: core.
 */
#ifndef PYSPECT_CORE_UTIL_H
#define PYSPECT_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Parse all of s as a base-10 integer in [min, max]; 0 or PS_EUSAGE. */
int parse_long(const char *s, long min, long max, long *out);
/* Parse all of s as a finite double; 0 or PS_EUSAGE. */
int parse_double(const char *s, double *out);

/* Monotonic clock in nanoseconds. */
uint64_t clock_now_ns(void);
/* CPU time of this process in nanoseconds. */
uint64_t clock_cpu_ns(void);

/*
 * Read a whole file (up to max bytes) into sb.  Returns 0, PS_ENOTFOUND
 * (ENOENT), PS_EPERM (EACCES/EPERM) or PS_EIO, with errno preserved.
 */
int read_file(const char *path, size_t max, struct strbuf *sb);

#endif /* PYSPECT_CORE_UTIL_H */
