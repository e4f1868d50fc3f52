/*
 * sampler.h - sample every thread's stack, round after round, cheaply.
 *
 * Layer: python.  A sampler remembers the thread states of the last
 * round and reads them all again in one batched read, checking the list's
 * links; only when a thread appeared or went does it walk the lists
 * again.  Each round it picks the threads its mode asks for (on a CPU,
 * all, or the GIL holder), reads their stacks with PY_STACK_VERIFY (a
 * stack that changed while read is dropped and counted, never reported)
 * and hands each stack to a callback.
 */
#ifndef PYSPECT_PYTHON_SAMPLER_H
#define PYSPECT_PYTHON_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "python/runtime.h"
#include "python/stack.h"

enum py_sample_mode {
    /* Threads the kernel shows running (state R).  R also covers a
     * thread waiting in the run queue: on a machine short of CPU the
     * samples lean towards where threads get preempted.  (The kernel's
     * per-thread CPU times in /proc are only updated at scheduler ticks,
     * too coarse to tell.) */
    PY_SAMPLE_CPU,
    PY_SAMPLE_WALL, /* every thread */
    PY_SAMPLE_GIL,  /* the thread holding the GIL */
};

/* Pieces of last round's stack fetched ahead, per thread. */
#define PY_SPEC_MAX 64

/* Pieces of last round's stack fetched ahead, per thread. */
#define PY_SPEC_MAX 64

struct py_sampled_thread {
    struct py_thread thread;
    char *name;           /* threading name, NULL until known */
    uint64_t named_round; /* when the name was last looked for */
    char state;           /* kernel state letter of the last round */
    uint32_t user;        /* for the caller (e.g. a profile thread index) */
    /* Where the stack lived last round, fetched speculatively with the
     * thread states (py_stack_where()); data points into the batch. */
    struct py_prefetch spec[PY_SPEC_MAX];
    size_t nspec;
    raddr_t spec_slot; /* 3.11/3.12: the _PyCFrame slot fetched */
    uint64_t spec_top; /* and what it held */
    int want;          /* sampled this round */
    int top_known;     /* thread.top is this round's */
    int alive;         /* scratch for list refreshes */
};

struct py_sampler_stats {
    uint64_t rounds;    /* rounds taken */
    uint64_t stacks;    /* stacks handed to the callback */
    uint64_t torn;      /* stacks dropped: changed while read */
    uint64_t errors;    /* stacks dropped: other read errors */
    uint64_t idle;      /* threads not sampled: not running (cpu mode) */
    uint64_t refreshes; /* full walks of the thread lists */
    uint64_t retries;   /* stacks read again after changing */
    uint64_t spec_hits; /* stacks decoded from the speculative batch */
};

/*
 * Reads of one stack before it is dropped as torn.  A retry observes the
 * stack a moment later, which does not bias the profile; a drop does (it
 * is likelier near calls and returns, so in short functions), so retry
 * generously: a sampler preempted between its reads needs a few.
 */
#define PY_SAMPLE_ATTEMPTS 8

struct py_sampler {
    struct py_runtime *rt;
    enum py_sample_mode mode;
    unsigned stack_flags;
    struct py_sampled_thread *threads;
    size_t n;
    size_t alloc;
    raddr_t *interps; /* distinct interpreters, in list order */
    size_t ninterps;
    size_t interps_alloc;
    struct py_stack stack;
    unsigned char *buf; /* scratch for the batched read */
    size_t buf_alloc;
    /* Where the GIL holder is read from (gil mode), set on refresh:
     * 3.12+ the first interpreter's _gil struct (locked, last_holder),
     * older versions the word holding the current thread state. */
    raddr_t gil;
    raddr_t holder_slot;
    raddr_t holder; /* this round's GIL holder, 0 when none */
    struct py_sampler_stats stats;
    int last_error; /* the latest error that dropped a stack */
    int chosen;     /* py_sampler_choose() ran for the next round */
};

/* Called once per sampled stack; frames innermost first. */
typedef void (*py_sample_fn)(void *ctx, struct py_sampled_thread *t,
                             const struct py_frame *frames, size_t n);

void py_sampler_init(struct py_sampler *s, struct py_runtime *rt,
                     enum py_sample_mode mode);
void py_sampler_release(struct py_sampler *s);

/*
 * Pick the threads the next round samples (cpu mode reads their kernel
 * states).  py_sampler_round() does it itself; call this first only to
 * pick them before pausing the target (a paused thread shows 't').
 */
void py_sampler_choose(struct py_sampler *s);

/*
 * One round.  Returns 0 (even when some stacks were dropped: see stats),
 * PS_EEXITED when the target is gone, PS_ENOTREADY when it has no
 * interpreter (yet, or any more), or another error when the thread list
 * cannot be read at all.
 */
int py_sampler_round(struct py_sampler *s, py_sample_fn fn, void *ctx);

#endif /* PYSPECT_PYTHON_SAMPLER_H */
