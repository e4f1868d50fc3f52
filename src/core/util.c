/*
 * util.c - number parsing, clocks and file reading.
 *
 * Layer: core.
 */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "rand.h"
#include "banned.h"

int
parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0') {
        return PS_EUSAGE;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return PS_EUSAGE;
    }
    *out = v;
    return 0;
}

int
parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if (s == NULL || *s == '\0') {
        return PS_EUSAGE;
    }
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v)) {
        return PS_EUSAGE;
    }
    *out = v;
    return 0;
}

uint64_t
clock_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

uint64_t
sample_interval(uint64_t interval, uint64_t *state)
{
    uint64_t x;

    if (*state == 0) {
        *state = 0x9E3779B97F4A7C15ull;
    }
    x = rand_next(state);
    /* interval * (3/4 + u/2), u in [0, 1) from the top 32 bits. */
    return interval - interval / 4 +
           (uint64_t)((double)interval / 2 * (double)(x >> 32) / 4294967296.0);
}

/* struct sched_attr (linux/sched/types.h), not in glibc 2.36. */
struct sched_attr_v1 {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
};

/* The shortest slice the kernel takes (it clamps to 0.1-100 ms). */
#define PROMPT_SLICE_NS 100000u

int
sched_prompt_wakeups(void)
{
    struct sched_attr_v1 a;
    int nice;

    if (sched_getscheduler(0) != SCHED_OTHER) {
        return -1; /* the user chose a policy: leave it */
    }
    errno = 0;
    nice = getpriority(PRIO_PROCESS, 0); /* this thread's, on Linux */
    if (nice == -1 && errno != 0) {
        return -1;
    }
    memset(&a, 0, sizeof(a));
    a.size = sizeof(a);
    a.sched_policy = SCHED_OTHER;
    a.sched_nice = nice;
    a.sched_runtime = PROMPT_SLICE_NS;
    return syscall(SYS_sched_setattr, 0, &a, 0) == 0 ? 0 : -1;
}

uint64_t
clock_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
read_file(const char *path, size_t max, struct strbuf *sb)
{
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ESRCH) {
            return PS_ENOTFOUND;
        }
        return (errno == EACCES || errno == EPERM) ? PS_EPERM : PS_EIO;
    }
    while (sb->len < max) {
        size_t want = max - sb->len < 65536 ? max - sb->len : 65536;
        ssize_t n;

        strbuf_grow(sb, want);
        n = read(fd, sb->buf + sb->len, want);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = (errno == ESRCH) ? PS_ENOTFOUND : PS_EIO;
            break;
        }
        if (n == 0) {
            break;
        }
        sb->len += (size_t)n;
        sb->buf[sb->len] = '\0';
    }
    close(fd);
    return rc;
}
