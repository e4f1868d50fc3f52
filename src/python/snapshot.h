/*
 * snapshot.h - every thread's stack at one moment.
 *
 * Layer: python.  Ties the walkers together for commands that want a
 * whole picture (dump today): threads, their stacks, names, kernel ids and
 * OS states, optionally with the target paused for an exact snapshot.
 * Transient failures (the target changed under us) are retried a bounded
 * number of times; a thread that still cannot be read keeps its error
 * instead of failing the whole snapshot.
 */
#ifndef PYSPECT_PYTHON_SNAPSHOT_H
#define PYSPECT_PYTHON_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "python/runtime.h"
#include "python/stack.h"

/* Attempts before a transient error is reported. */
#define PY_SNAPSHOT_ATTEMPTS 8

enum {
    PY_SNAPSHOT_BLOCKING = 1 << 0, /* pause the target while reading */
    PY_SNAPSHOT_NAMES = 1 << 1,    /* read threading names */
};

struct py_thread_snapshot {
    struct py_thread thread;
    char *name;              /* threading name, or NULL */
    char os_state;           /* /proc state letter, 0 when unknown */
    struct py_frame *frames; /* innermost first; each holds a reference
                              * to its code (py_code_ref) */
    size_t nframes;
    int truncated;
    int error; /* 0, or why the stack could not be read */
    /* PS_ENOTINCORE: the first address read that the core does not hold
     * (target_take_missing()), else 0. */
    raddr_t missing;
};

struct py_snapshot {
    struct py_thread_snapshot *threads; /* sorted by tid */
    size_t n;
    int paused;
    double paused_ms;
    double elapsed_ms;
    int attempts;
    uint64_t reads; /* reads that reached the process */
    uint64_t bytes;
};

int py_snapshot_take(struct py_runtime *rt, unsigned flags,
                     struct py_snapshot *out);
void py_snapshot_release(struct py_snapshot *s);

#endif /* PYSPECT_PYTHON_SNAPSHOT_H */
