/*
 * sampler.h - sample every thread's stack, round after round, cheaply.
 *
 * Layer: python.  A sampler remembers the thread states of the last
 * round and reads them again in one batched read, checking the list's
 * links (in cpu mode, most rounds, only the states of the threads it
 * samples and the links to them); only when a thread appeared or went
 * does it walk the lists again.  Each round it picks the threads its mode asks for (on a CPU,
 * all, or the GIL holder) and reads their stacks without stopping them:
 * in the same batched read, each picked thread's stack memory is copied
 * twice (where it lay in earlier rounds: its plan) with its thread state
 * in between.  The stack is walked in the first copy from the top frame
 * the thread state names and checked against the second copy
 * (py_stack_compare()), so it is the stack the thread had at the moment
 * its state was read, however fast it changes.  A stack that lies
 * partly outside the plan is looked up and copied again; one that keeps
 * changing is read with that one thread paused (ptrace, never SIGSTOP),
 * and only when that fails is it dropped and counted.
 */
#ifndef PYSPECT_PYTHON_SAMPLER_H
#define PYSPECT_PYTHON_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "python/runtime.h"
#include "python/stack.h"

enum py_sample_mode {
    /* Threads the kernel shows running (state R) that have been on a CPU
     * since the last round, or were R then: a thread that kept waiting
     * in the run queue all that time is not sampled, one that waits
     * there a moment between two slices of CPU is (on a machine short of
     * CPU the samples lean towards where threads get preempted).  The
     * state is read only for a thread whose scheduler counts say that it
     * may be on a CPU and, when it was not last round, that the kernel
     * does not find asleep; a thread off a CPU round after round is not
     * asked while the process's CPU time is what the others had (see
     * choose_cpu() in sampler.c).  (The kernel's
     * per-thread CPU times in /proc are only updated at scheduler ticks,
     * too coarse to tell.) */
    PY_SAMPLE_CPU,
    PY_SAMPLE_WALL, /* every thread */
    PY_SAMPLE_GIL,  /* the thread holding the GIL */
};

/* Bounds on a thread's plan (what its stack copies cover). */
#define PY_PLAN_REGIONS 48
#define PY_PLAN_CHUNKS 8
#define PY_PLAN_CFRAMES 4
#define PY_PLAN_CODES 48

/* A range of target memory, and the round that last needed it. */
struct py_region {
    raddr_t addr;
    size_t len;
    uint64_t used;
};

/*
 * Where a thread's stack has been lying: ranges to copy (frames, the used
 * part of data-stack chunks, with room to grow), the chunks themselves
 * (3.11+), the _PyCFrame slots that held the top frame (3.11, 3.12), and
 * the headers of the code objects it ran.  Built from successful walks;
 * a range no walk needed for a while is forgotten.
 */
struct py_stack_plan {
    struct py_region regions[PY_PLAN_REGIONS];
    size_t nregions;
    struct py_region chunks[PY_PLAN_CHUNKS]; /* len: the chunk's size */
    size_t nchunks;
    struct py_region cframes[PY_PLAN_CFRAMES]; /* the current_frame slot */
    size_t ncframes;
    struct py_region codes[PY_PLAN_CODES]; /* the header */
    size_t ncodes;
    uint64_t learned;     /* the round of the last plan_learn() */
    uint64_t learned_sig; /* and visited_sig() of the walk it learnt */
};

struct py_sampled_thread {
    struct py_thread thread;
    char *name;           /* threading name, NULL until known */
    uint64_t named_round; /* when the name was last looked for */
    uint64_t name_wait;   /* rounds until the next look */
    char state;           /* kernel state letter of the last round;
                           * 0: not read (see py_sampler.states; in
                           * cpu mode, not on a CPU by its counts) */
    int gil;              /* this round: 1 held the GIL, 0 did not, -1
                           * unknown (see py_sampler.states) */
    uint32_t user;        /* for the caller (e.g. a profile thread index) */
    /* cpu mode: the thread's scheduler counts (times put on a CPU, CPU
     * time) at the last round, when runs_known; how many rounds more its
     * state is read without them, and the next such wait. */
    int runs_known;
    uint64_t runs;
    uint64_t cpu_ns;
    uint32_t runs_skip;
    uint32_t runs_backoff;
    /* cpu mode: rounds in a row its counts found it off a CPU; and, this
     * round, left unasked because the process's CPU time said it had
     * none (see py_sampler_choose()). */
    uint32_t quiet;
    int gated;
    struct py_stack_plan *plan; /* NULL until first sampled */
    /* The batch whose pieces hold this round's copies of the stack (see
     * struct py_batch), when copied. */
    const struct py_batch *from;
    /* and the _PyCFrame slots read right after the thread state */
    struct py_prefetch cframes[PY_PLAN_CFRAMES];
    size_t ncframes;
    size_t ts_off;   /* this round's copy of the thread state */
    size_t link_off; /* and of the link to it (not a full check) */
    int read;        /* the round's batch holds the thread state */
    int copied;      /* the round's batch holds copies of this stack */
    int want;        /* sampled this round */
    int alive;       /* scratch for list refreshes */
};

struct py_sampler_stats {
    uint64_t rounds;    /* rounds taken */
    uint64_t stacks;    /* stacks handed to the callback */
    uint64_t torn;      /* stacks dropped: kept changing, no pause */
    uint64_t errors;    /* stacks dropped: other read errors */
    uint64_t idle;      /* threads not sampled: not running (cpu mode) */
    uint64_t refreshes; /* full walks of the thread lists */
    uint64_t retries;   /* stacks copied again: changed, or outside plan */
    uint64_t lookups;   /* walks that read a stack to learn where it is */
    uint64_t spec_hits; /* stacks taken from the round's first batch */
    uint64_t pauses;    /* stacks read with their thread paused */
    uint64_t pause_ns;  /* and how long those threads were held */
    /* cpu mode: threads found off a CPU by their scheduler counts alone
     * (their state not read); kernel states read; counts read. */
    uint64_t unread;
    uint64_t state_reads;
    uint64_t runs_reads;
    /* cpu mode: threads asked whether they sleep (see
     * target_thread_asleep()), and those found asleep (their state not
     * read). */
    uint64_t asleep_reads;
    uint64_t asleep;
    /* cpu mode: threads not asked at all, the process's CPU time having
     * moved by what the threads asked account for; rounds where it had
     * not, and every thread was asked. */
    uint64_t gated;
    uint64_t gate_misses;
};

/*
 * Copies of one stack before its thread is paused for the read.  A copy
 * that fails the comparison saw the stack change during the microsecond
 * between its halves: the next one often does not.  A copy costs pyspect
 * a read and the target nothing; a pause costs the target its time and
 * pyspect more than a copy (seize, wait, detach).  On deep fast recursion
 * (bench/record.py) 12 instead of 4 took the stacks read paused at 100 Hz
 * from 199-215 to 40-53 of 300 on 2.7 and 3.8, and pyspect's own CPU
 * down too.
 */
#define PY_SAMPLE_ATTEMPTS 12

/* The parts of a batch's copies of stacks (see struct py_batch). */
enum py_batch_part {
    PY_BATCH_BEFORE, /* the plans' regions, before the thread states */
    PY_BATCH_AFTER,  /* the same after them */
    PY_BATCH_CODES,  /* the headers of the plans' code objects */
    PY_BATCH_PARTS
};

/* A range a batch is to read, and where its offset in the buffer goes
 * (NULL: a piece of the copies). */
struct py_batch_want {
    raddr_t addr;
    size_t len;
    size_t *off;
};

/*
 * A batched read being built, and its buffer.  The copies of the stacks
 * of the threads in it are pieces, one a range of target memory that
 * one thread's plan or several need, in three parts (the pieces
 * part[p]..part[p] + npart[p] - 1 of p), each sorted by address.
 */
struct py_batch {
    struct memsrc_iov *iov;
    size_t niov;
    size_t iov_alloc;
    unsigned char *buf;
    size_t used;
    size_t buf_alloc;
    struct py_prefetch *piece;
    size_t npiece;
    size_t piece_alloc;
    size_t part[PY_BATCH_PARTS];
    size_t npart[PY_BATCH_PARTS];
    int still; /* one thread, held still: its copy after is the before */
    /* scratch: the ranges to read, before they are merged */
    struct py_batch_want *want;
    size_t nwant;
    size_t want_alloc;
    struct py_batch_want *spare;
    size_t spare_alloc;
    size_t *runs; /* where each sorted run of want ends (batch_copies) */
    size_t runs_alloc;
};

struct py_sampler {
    struct py_runtime *rt;
    enum py_sample_mode mode;
    struct py_sampled_thread *threads;
    size_t n;
    size_t alloc;
    raddr_t *interps; /* distinct interpreters, in list order */
    size_t ninterps;
    size_t interps_alloc;
    size_t *head_off; /* where each one's list head lies in a batch */
    size_t head_off_alloc;
    struct py_stack stack;
    struct py_batch round; /* the round's batched read */
    struct py_batch again; /* one stack's, copied again */
    /* Where the GIL holder is read from (gil mode), set on refresh:
     * 3.12+ the first interpreter's _gil struct (locked, last_holder),
     * older versions the word holding the current thread state. */
    raddr_t gil;
    raddr_t holder_slot;
    raddr_t holder; /* this round's GIL holder, 0 when none */
    struct py_sampler_stats stats;
    int last_error; /* the latest error that dropped a stack */
    int stale;      /* a thread ended or was reused: walk the lists */
    /* This round: the runtime is finalizing (3.7+), known for every
     * stack without frames handed to the callback.  Read with the
     * round's batch only after a round that needed it (fin_batch). */
    int finalizing;
    int fin_known;
    int fin_batch;
    /* Pause a thread whose stack keeps changing (off when the whole
     * process is held already, as with record --blocking). */
    int may_pause;
    /* Set by the caller after py_sampler_init(): also read, for every
     * thread sampled, its kernel state (one more read a thread outside
     * cpu mode) and whether it holds the GIL (read with the thread
     * states, in the same batch), for a trace that shows them. */
    int states;
    /* Set by the caller: more py_stack_read() flags for every walk
     * (PY_STACK_CALLS, for native frames: see s->stack.calls in the
     * callback). */
    unsigned stack_flags;
    /* Set by the caller: rounds per second, when known (0 not).  A
     * thread without a name is looked for less often at high rates. */
    double rate;
    int chosen; /* py_sampler_choose() ran for the next round */
    /* cpu mode: the process's CPU time when the last round was chosen,
     * when gate_known: every thread's counts known then were its counts
     * then. */
    uint64_t gate_cpu;
    int gate_known;
    int gate_skipped; /* this round left some threads unasked */
    /* cpu mode: whether the gate's last 16 exact tries left threads
     * unasked (bit set) or missed, and rounds it was declined for
     * missing (see choose_cpu()) */
    uint32_t gate_hist;
    uint32_t gate_rest;
    /* cpu mode: the last thread asked whether it sleeps got a yes or a
     * no, not an "unknown" (see thread_state_cpu()) */
    int asleep_says_r;
    /* cpu mode: threads found 'R' asked by their state since the
     * question was last tried (see thread_state_cpu()) */
    unsigned asleep_wait;
};

/* Called once per sampled stack; frames innermost first. */
typedef void (*py_sample_fn)(void *ctx, struct py_sampled_thread *t,
                             const struct py_frame *frames, size_t n);

void py_sampler_init(struct py_sampler *s, struct py_runtime *rt,
                     enum py_sample_mode mode);
void py_sampler_release(struct py_sampler *s);

/*
 * Pick the threads the next round samples (cpu mode reads the kernel
 * states of those its scheduler counts say may be on a CPU).  py_sampler_round() does it itself; call this first only to
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
