/*
 * tracker.h - the parts of the allocation tracker, as they call each other.
 *
 * Layer: alloc, in-process side: this header is private to
 * libpyspect-alloc.so, the library `pyspect alloc` preloads into the
 * program it starts.  Three files make it:
 *   hooks.c     the entry points: malloc and friends, mmap, the wrappers
 *               of Python's allocators, fork; the fast path of sampling
 *   tracker.c   the slow path: the live set, stacks and their counters,
 *               the peak, the store file (store.h)
 *   pyframes.c  the Python side: find the interpreter in this process,
 *               wrap its allocators, walk the allocating thread's frames
 *               with pyspect's layout tables
 *
 * Rules every function here keeps, because it runs inside malloc:
 *   - never call malloc (or anything that may) on the tracking path: the
 *     tables live in memory from mmap, and text is formatted by hand;
 *   - never call into the dynamic loader (dlsym, dladdr) or stdio while
 *     holding the tracker's lock: another thread may hold the loader's
 *     lock and be waiting in malloc for ours;
 *   - a thread inside the tracker is marked busy: allocations it makes
 *     meanwhile (the wrapped Python allocator calling malloc, the loader)
 *     pass straight through.
 */
#ifndef PYSPECT_ALLOC_TRACKER_H
#define PYSPECT_ALLOC_TRACKER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc/store.h"

#define ALLOC_EXPORT __attribute__((visibility("default")))
#define ALLOC_LIKELY(x) __builtin_expect(!!(x), 1)
#define ALLOC_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Per-thread state; initial-exec TLS, so reaching it is one instruction
 * and never allocates. */
struct alloc_tls {
    int64_t countdown; /* bytes until the next sample */
    uint64_t rng;      /* xorshift state; 0 until seeded */
    uint32_t busy;     /* nesting inside the tracker or a wrapped
                        * Python allocator */
    uint32_t seeded;
    /* The block the C allocator returned last while the thread was
     * busy (hooks.c: where a sampled Python block really lives). */
    void *raw_seen;
};

extern __thread struct alloc_tls alloc_tls
    __attribute__((tls_model("initial-exec")));

/* Where an allocation was seen. */
enum alloc_src {
    ALLOC_SRC_C = 0,  /* malloc, mmap...: any thread, GIL or not */
    ALLOC_SRC_PY = 1, /* a Python allocator domain: the GIL is held */
};

/*
 * Could a block being freed be a tracked one?  A counting filter over the
 * addresses of the live tracked blocks answers on every free with one
 * byte: zero means no.  Each slot counts the blocks whose address hashes
 * there (saturating at 255).  It is all zeros while not tracking, and all
 * 255 with --all, where every block is tracked.
 */
#define ALLOC_FILTER_BITS 14
#define ALLOC_FILTER_SLOTS (1u << ALLOC_FILTER_BITS)

extern unsigned char alloc_filter[ALLOC_FILTER_SLOTS];

static inline uint32_t
alloc_filter_slot(const void *p)
{
    uint64_t a = (uint64_t)(uintptr_t)p >> 4;

    return (uint32_t)((a * 0x9E3779B97F4A7C15ull) >> (64 - ALLOC_FILTER_BITS));
}

static inline int
alloc_maybe_tracked(const void *p)
{
    return __atomic_load_n(&alloc_filter[alloc_filter_slot(p)],
                           __ATOMIC_RELAXED) != 0;
}

/* ---- tracker.c ---------------------------------------------------------- */

/*
 * Read the configuration from the environment and decide whether this
 * process is tracked.  Called once, from the library's constructor and
 * again in a forked child.  No allocation.
 */
void tracker_configure(void);

/* Is this process tracked with C frames (--native)? */
int tracker_native(void);

/* Is every allocation recorded (--all), rather than sampled? */
int tracker_all(void);

/* The slow path of an allocation of n bytes at p: t->countdown went
 * below zero.  Records it (or not), and draws the next countdown. */
void tracker_alloc(struct alloc_tls *t, void *p, size_t n, enum alloc_src src);

/* A block that may be tracked is being freed (before the real free). */
void tracker_free(void *p);

/* The same, for a block about to be moved by hand: 1 with the size it
 * was recorded with in *n, 0 when it was not tracked. */
int tracker_take(void *p, size_t *n);

/* munmap of [p, p + n): a tracked mapping starting at p shrinks or goes. */
void tracker_unmap(void *p, size_t n);

/* Fork: hold the lock across it; the child starts its own file or stops. */
void tracker_fork_prepare(void);
void tracker_fork_parent(void);
void tracker_fork_child(void);

/* The image ends (exit, or exec about to replace it). */
void tracker_exit(void);

/*
 * Attached (pyspect alloc -p): take config (ALLOC_ENV syntax, with a
 * controller), ending a tracking whose pyspect is gone.  0; -1 for a bad
 * config; -2 when another pyspect is attached and alive.
 */
int tracker_attach(const char *config);

/* Tracking on and off (attach), from any thread. */
int tracker_start(void);
void tracker_stop(void);

/* Memory for the tracker's own tables: zeroed pages from mmap. */
void *tracker_pages(size_t bytes);
void tracker_pages_free(void *p, size_t bytes);

/* PyMemAllocatorEx, as every CPython 3 declares it. */
struct alloc_py_allocator {
    void *ctx;
    void *(*malloc)(void *ctx, size_t n);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *p, size_t n);
    void (*free)(void *ctx, void *p);
};

/*
 * With --all, the MEM and OBJ domains' allocator: every block recorded
 * as it is made, every free looked up, the record inline.  Their ctx is
 * the domain's original allocator (a struct alloc_py_allocator).  A
 * request above alloc_py_small_max (hooks.c) is one pymalloc passes to
 * malloc: the thread is marked busy around it.
 */
void *tracker_py_malloc(void *ctx, size_t n);
void *tracker_py_calloc(void *ctx, size_t nelem, size_t elsize);
void *tracker_py_realloc(void *ctx, void *p, size_t n);
void tracker_py_free(void *ctx, void *p);

/* ---- pyframes.c --------------------------------------------------------- */

/*
 * Find CPython in this process (exported symbols of the executable or
 * libpython) and pick its layout.  Returns 0 when found; cheap to call
 * again after a failure (it retries now and then).
 */
int pyframes_init(void);

/* Is Python initialised, with this thread holding the GIL, so that its
 * allocators can be wrapped now?  Then wrap them (hooks.c's wrappers);
 * returns 1 when they are. */
int pyframes_try_hook(void);

/* Is this image's Python one pyspect cannot read (2.7)?  Then it is
 * never tracked. */
int pyframes_unreadable(void);

/* Is the interpreter running: initialised, and not shutting down? */
int pyframes_running_slow(void);

/* _PyRuntime.initialized (3.7+), read in place of a call on every
 * allocation; NULL until found, or where it cannot be. */
extern const int *pyframes_initialized;

static inline int
pyframes_running(void)
{
    const int *flag = pyframes_initialized;

    if (ALLOC_LIKELY(flag != NULL)) {
        return __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
    }
    return pyframes_running_slow();
}

/*
 * The hot walk over interpreter frames (3.11+), shared by
 * pyframes_hash() and its fast case below so that both give one hash:
 * per frame shown, its instruction pointer (which names its code object
 * too), one multiply; shims and entry frames (owner bit set in skip)
 * are not hashed, so that n counts the frames shown.
 */
static inline uint64_t
pyframes_mix(uint64_t h, uint64_t v)
{
    h ^= v;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static inline uint64_t
pyframes_mix_instr(uint64_t h, uint64_t instr)
{
    h = (h ^ instr) * 0x9E3779B97F4A7C15ull;
    return (h << 27) | (h >> 37);
}

#define PYFRAMES_HASH_SEED 0x5bd1e995u

static inline __attribute__((always_inline)) uint64_t
pyframes_walk_owned(const char *f, int32_t back, int32_t pos, int32_t owner_at,
                    uint32_t skip, uint32_t *nframes)
{
    uint64_t h = PYFRAMES_HASH_SEED;
    uint32_t n = 0, steps;

    if (skip == 0) {
        /* No owner is skipped (3.11): the owner need not be read.  Two
         * frames a round, the bound counted once a round. */
        for (steps = 2 * ALLOC_FRAMES_MAX; f != NULL && steps != 0; steps--) {
            const char *next;
            uint64_t instr;

            memcpy(&instr, f + pos, sizeof(instr));
            h = pyframes_mix_instr(h, instr);
            memcpy(&next, f + back, sizeof(next));
            f = next;
            if (f == NULL) {
                n = 1;
                break;
            }
            memcpy(&instr, f + pos, sizeof(instr));
            h = pyframes_mix_instr(h, instr);
            memcpy(&next, f + back, sizeof(next));
            f = next;
        }
        n += 2 * (2 * ALLOC_FRAMES_MAX - steps);
        (void)owner_at;
        *nframes = n;
        h = pyframes_mix(h, n);
        return h ? h : 1;
    }
    for (steps = 4 * ALLOC_FRAMES_MAX; f != NULL && steps != 0; steps--) {
        uint32_t owner = (unsigned char)f[owner_at];
        const char *next;
        uint64_t instr;

        if (ALLOC_LIKELY(((skip >> (owner & 31)) & 1) == 0)) {
            memcpy(&instr, f + pos, sizeof(instr));
            h = pyframes_mix_instr(h, instr);
            n++;
        }
        memcpy(&next, f + back, sizeof(next));
        f = next;
    }
    *nframes = n;
    h = pyframes_mix(h, n);
    return h ? h : 1;
}

/*
 * The fast case of pyframes_hash() for a Python allocator (the GIL
 * held) where the GIL holder's thread state is a plain variable and its
 * frames are reached through cframe (3.11): what the walk reads, set
 * once checked against the calls; slot NULL where there is no fast
 * case.
 */
struct pyframes_fast {
    void *const *slot;
    int32_t top, cframe_current, back, pos, owner;
    uint32_t skip;
};

extern struct pyframes_fast pyframes_fast;

/* The Python version text, "3.12.1", or "" when not found. */
const char *pyframes_version(void);

/*
 * The current thread's stack as a 64-bit hash of its raw frames (code
 * object and instruction), innermost first, and how many frames; 0 with
 * *nframes 0 when the thread runs no Python.  src says whether the GIL is
 * known to be held (a Python allocator) or not (malloc).
 */
uint64_t pyframes_hash(enum alloc_src src, uint32_t *nframes);

/*
 * Resolve the current thread's stack (the same one just hashed) into
 * frame ids, innermost first, at most max; frame ids come from
 * frame_id(ctx, ...) for frames not seen before.  Returns the count.
 */
typedef uint32_t (*pyframes_frame_fn)(void *ctx, uint64_t key,
                                      const char *name, size_t name_len,
                                      const char *file, size_t file_len,
                                      int32_t line, int32_t firstlineno);
typedef uint32_t (*pyframes_lookup_fn)(void *ctx, uint64_t key);

uint32_t pyframes_resolve(enum alloc_src src, uint32_t *ids, uint32_t max,
                          pyframes_lookup_fn lookup, pyframes_frame_fn add,
                          void *ctx);

/* ---- native.c ---------------------------------------------------------- */

#define NATIVE_FRAMES_MAX 32

/* A C frame described: its module's path, its address in the module's
 * file, the exported symbol dladdr() found for it (may be ""). */
struct native_frame {
    uintptr_t pc;
    uint64_t address;
    char name[128];
    char module[256];
};

/* With --native, from the constructor: find the eval loop and this
 * library, and load the unwinder. */
void native_init(void);

/* The C frames of the allocation being recorded, innermost first, up to
 * the interpreter's eval loop: at most max pcs.  No lock, no malloc. */
uint32_t native_capture(uintptr_t *pcs, uint32_t max);

/* Describe n pcs into this thread's scratch (valid until its next call).
 * Takes the loader's lock: never call it holding the tracker's. */
struct native_frame *native_describe(const uintptr_t *pcs, uint32_t n);

/* Copy a C string into a fixed buffer, cut to fit, always terminated. */
static inline void
alloc_copy_str(char *dst, const char *src, size_t cap)
{
    size_t n = 0;

    while (n + 1 < cap && src[n] != '\0') {
        dst[n] = src[n];
        n++;
    }
    dst[n] = '\0';
}

/* ---- hooks.c ------------------------------------------------------------ */

/* Requests up to this size are served by pymalloc without malloc. */
extern size_t alloc_py_small_max;

/* The real allocator and mmap, resolved on first use. */
void *alloc_real_malloc(size_t n);
void alloc_real_free(void *p);
void *alloc_real_mmap(void *addr, size_t len, int prot, int flags, int fd,
                      long off);
int alloc_real_munmap(void *addr, size_t len);

/* The CPython functions hooks_wrap_python() needs. */
struct pyframes_api {
    void (*get_allocator)(int domain, void *allocator);
    void (*set_allocator)(int domain, void *allocator);
    void (*get_arena)(void *allocator); /* NULL when absent */
    void (*set_arena)(void *allocator);
};

/*
 * Wrap Python's MEM and OBJ allocators and pymalloc's arena allocator,
 * and with raw also the RAW domain (attached: malloc is not interposed,
 * so Python's raw allocations are seen there); called with the GIL held.
 */
void hooks_wrap_python(const struct pyframes_api *api, int raw);

/*
 * Attached: wrap Python's allocators from this thread, taking the GIL if
 * it does not hold it (PyGILState_Ensure).  0, or -1 when Python is not
 * there or not running.
 */
int pyframes_attach(void);

/* The library's entry point for pyspect alloc -p (see hooks.c). */
long pyspect_alloc_attach(const char *config);

#endif /* PYSPECT_ALLOC_TRACKER_H */
