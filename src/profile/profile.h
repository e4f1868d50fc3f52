/*
 * profile.h - samples aggregated in memory as they arrive.
 *
 * Layer: profile.  Knows nothing about CPython or the target: a sampler
 * hands it stacks of (function, file, line) strings, and it interns them:
 * strings once, frames once, each distinct (thread, stack) once with a
 * count.  Memory therefore grows with the number of distinct stacks, not
 * with the length of the recording: counting a stack already seen
 * allocates nothing.  Writers (src/output/) read a profile and never touch
 * the target.
 *
 * Ids are dense indexes: string ids index strings.v, frame ids index
 * frames, thread ids index threads.  None of them is ever removed, so an
 * id stays valid (and a sampler may cache it) for the profile's life.
 * Pointers into the arrays do not: they move when the arrays grow.
 */
#ifndef PYSPECT_PROFILE_PROFILE_H
#define PYSPECT_PROFILE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#define PROF_NONE UINT32_MAX

/*
 * An open-addressing index from a 64-bit hash to ids of the array it
 * indexes (strings, frames, threads or stacks).  A slot keeps 32 bits of
 * the hash as a tag and the id; equal tags are confirmed by comparing the
 * entries themselves, so hash collisions cost time, never correctness.
 */
struct prof_slot {
    uint32_t tag; /* the hash's high 32 bits */
    uint32_t id;  /* PROF_NONE: empty */
};

struct prof_index {
    struct prof_slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t count;
};

/* Interned, NUL-terminated strings by id. */
struct strtab {
    char **v;
    size_t n;
    size_t alloc;
    size_t bytes; /* of the strings themselves, NULs included */
    struct prof_index index;
};

struct prof_frame {
    uint32_t name; /* strtab id: qualified name where known */
    uint32_t file; /* strtab id */
    int32_t line;  /* the line, or the function's first line; -1 none */
};

struct prof_thread {
    uint64_t ident; /* threading.get_ident() */
    long tid;       /* kernel thread id; 0 or less: unknown */
    uint32_t name;  /* strtab id, or PROF_NONE */
    int pid;        /* the process it belongs to */
};

struct prof_stack {
    uint32_t thread; /* index into threads */
    uint32_t nframes;
    uint32_t offset;  /* into frame_ids: frames root first */
    uint64_t count;   /* samples, or what meta.unit says */
    uint64_t objects; /* a second count some profiles keep: the blocks
                       * of an allocation profile (count is bytes) */
};

/*
 * One sample in time order, kept only when the profile asks for events
 * (profile.keep_events): what a time-ordered trace needs and a flame
 * graph merges away.  16 bytes a sample.
 */
struct prof_event {
    uint64_t t_ns;  /* since the recording started (meta.start_unix) */
    uint32_t stack; /* index into stacks, which also names the thread */
    uint32_t state; /* PROF_STATE_* bits; 0: nothing known */
};

/*
 * What was known of a thread when it was sampled: ON_CPU, the kernel
 * showed it running (R); OFF_CPU, waiting (S, D, ...); GIL, it held the
 * GIL; NO_GIL, another thread or none did; FOLLOWS, it was sampled in the
 * round before too, so no time passed unseen between the two samples.
 */
#define PROF_STATE_ON_CPU 0x1u
#define PROF_STATE_OFF_CPU 0x2u
#define PROF_STATE_GIL 0x4u
#define PROF_STATE_NO_GIL 0x8u
#define PROF_STATE_FOLLOWS 0x10u
/* The kernel's state letter, when known, in bits 8-15. */
#define PROF_STATE_LETTER(state) ((char)(((state) >> 8) & 0xff))
#define PROF_STATE_WITH_LETTER(c) ((uint32_t)(unsigned char)(c) << 8)

/* Why a sample was not recorded; counted, never silently lost. */
enum prof_drop {
    PROF_DROP_TORN,  /* the stack changed while being read */
    PROF_DROP_ERROR, /* it could not be read (other errors) */
    PROF_DROP_LATE,  /* the sampler fell behind its schedule */
    PROF_DROP_COUNT
};

#define PROF_PREFIXES_MAX 8

/*
 * What the sampler knows about the recording, for the writers' titles.
 * command and python_version are owned by the profile (set them with
 * xstrdup()); profile_release() frees them.  mode is a static string.
 */
struct profile_meta {
    char *command; /* the target's command line */
    int pid;
    char *python_version; /* "3.12.1" */
    const char *mode;     /* "cpu", "wall", "gil" */
    int lines;            /* frames are per line, not per function */
    int threads;          /* writers add a root frame per thread */
    double rate_hz;       /* requested rate */
    double duration_s;    /* wall time of the recording */
    uint64_t rounds;      /* sampling rounds (all threads each) */
    uint64_t samples;     /* thread stacks recorded */
    uint64_t dropped[PROF_DROP_COUNT];
    /* Where the Python of each target is installed (sys.prefix and
     * sys.base_prefix, owned; writers colour files under them as the
     * standard library's). */
    char *prefixes[PROF_PREFIXES_MAX];
    size_t nprefixes;
    /* Stacks that kept changing, read with their one thread paused, and
     * how long those threads were held in all. */
    uint64_t paused;
    double paused_ms;
    double start_unix; /* wall-clock start, seconds since the epoch */
    /* What a stack's count counts: NULL (or "samples") for samples,
     * "bytes" for an allocation profile, whose writers then show sizes;
     * `what` says which bytes, for titles ("live at the end").  Both are
     * static strings. */
    const char *unit;
    const char *what;
};

struct profile {
    struct strtab strings;
    struct prof_frame *frames;
    size_t nframes, frames_alloc;
    struct prof_index frame_index;
    struct prof_thread *threads;
    size_t nthreads, threads_alloc;
    struct prof_index thread_index;
    struct prof_stack *stacks;
    size_t nstacks, stacks_alloc;
    struct prof_index stack_index;
    uint32_t *frame_ids; /* every stack's frames, root first */
    size_t nframe_ids, frame_ids_alloc;
    uint64_t total;  /* sum of every stack's count (profile_add weights) */
    int keep_events; /* set by the caller: profile_event() keeps them */
    struct prof_event *events; /* in the order added (time order) */
    size_t nevents, events_alloc;
    uint64_t total_objects; /* sum of every stack's objects */
    struct profile_meta meta;
};

/* An empty profile; meta all zero (mode NULL), meta.pid 0. */
void profile_init(struct profile *p);
/* Free everything, meta.command and meta.python_version included. */
void profile_release(struct profile *p);

/* The id of s, interning a copy the first time. */
uint32_t strtab_intern(struct strtab *t, const char *s);
/* The string of id; NULL for PROF_NONE or an id out of range. */
const char *strtab_get(const struct strtab *t, uint32_t id);

/* The frame id of (name, file, line), interning it. */
uint32_t profile_frame(struct profile *p, const char *name, const char *file,
                       int32_t line);

/* The same from strings already interned in p->strings (cheaper: no
 * string hashing), for samplers that cache string ids. */
uint32_t profile_frame_id(struct profile *p, uint32_t name, uint32_t file,
                          int32_t line);

/* The thread index for ident (and kernel thread tid: a pthread_t is
 * reused by later threads) in process meta.pid, created with tid and name
 * (may be NULL); a later name replaces a missing one, a later tid an
 * unknown one. */
uint32_t profile_thread(struct profile *p, uint64_t ident, long tid,
                        const char *name);

/* The same for a thread of process pid (idents repeat across processes:
 * they are addresses of pthread structures). */
uint32_t profile_thread_pid(struct profile *p, int pid, uint64_t ident,
                            long tid, const char *name);

/*
 * Count one sample (weight times) of the stack frames[0..n), given
 * INNERMOST FIRST as the sampler reads it, on thread `thread`.  The
 * stack is stored root first.  n may be 0 (a thread with no Python
 * frame).  A stack already seen costs a hash and one compare, and
 * allocates nothing.  Returns the stack's index (PROF_NONE for weight
 * 0), for profile_event().
 */
uint32_t profile_add(struct profile *p, uint32_t thread,
                     const uint32_t *frames, size_t n, uint64_t weight);

/*
 * Keep the sample of stack (an index profile_add() returned) taken at
 * t_ns with state (PROF_STATE_* bits), when p->keep_events; nothing
 * otherwise.  Calls come in time order.
 */
void profile_event(struct profile *p, uint32_t stack, uint64_t t_ns,
                   uint32_t state);

/* The same, adding objects to the stack's second count too (weight 0
 * with objects > 0 is recorded). */
uint32_t profile_add_objects(struct profile *p, uint32_t thread,
                             const uint32_t *frames, size_t n, uint64_t weight,
                             uint64_t objects);

/* Does the profile count bytes (meta.unit "bytes")? */
int profile_counts_bytes(const struct profile *p);

/* Frames of a stack, root first. */
static inline const uint32_t *
profile_stack_frames(const struct profile *p, const struct prof_stack *s)
{
    return p->frame_ids + s->offset;
}

/* Bytes the profile holds (arrays, indexes, strings), for the benchmark
 * and the -v statistics. */
size_t profile_memory(const struct profile *p);

#endif /* PYSPECT_PROFILE_PROFILE_H */
