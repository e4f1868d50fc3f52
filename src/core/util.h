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

/* qsort() order of ints, ascending. */
int cmp_int(const void *a, const void *b);

/* Monotonic clock in nanoseconds. */
uint64_t clock_now_ns(void);
/* CPU time of this process in nanoseconds. */
uint64_t clock_cpu_ns(void);

/*
 * The time to the next round of a sampler that takes one every `interval`
 * ns on average: a quarter of an interval either side of it, at random
 * (state: any value to start, then the sampler's own).  A target whose
 * loop has the sampling period, or a multiple of it (a 2 kHz recording of
 * a 500 us loop), would otherwise be seen at one phase of its loop, and
 * its profile show that phase, not where the time goes.
 */
uint64_t sample_interval(uint64_t interval, uint64_t *state);

/*
 * Ask the scheduler to run this thread as soon as its sleep ends: a short
 * time slice (Linux 6.12+, whose fair scheduler lets a waking thread with
 * the earlier deadline run at once).  With the default 3 ms slice a
 * sampler that wakes every 500 us waited behind a busy thread of the
 * target now and then: record at 2 kHz took 83% of its rounds on a target
 * of two threads passing the GIL between two CPUs, 99-100% with this.
 * Nice, policy and priority stay as they are; older kernels ignore it.
 * Returns 0 when the kernel took it.
 */
int sched_prompt_wakeups(void);

/*
 * Read a whole file (up to max bytes) into sb.  Returns 0, PS_ENOTFOUND
 * (ENOENT), PS_EPERM (EACCES/EPERM) or PS_EIO, with errno preserved.
 */
int read_file(const char *path, size_t max, struct strbuf *sb);

#endif /* PYSPECT_CORE_UTIL_H */
