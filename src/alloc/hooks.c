/*
 * hooks.c - the allocation tracker's entry points.
 *
 * Layer: alloc, in-process side (libpyspect-alloc.so; rules in
 * tracker.h).  `pyspect alloc` starts a program with this library in
 * LD_PRELOAD, so the dynamic loader binds every call to malloc, calloc,
 * realloc, free, the aligned variants, mmap, munmap and mremap here; each
 * calls the real function (the next definition in the search order:
 * glibc's, or jemalloc's when the program preloads it) and then, on the
 * fast path, only subtracts the size from this thread's countdown to the
 * next sample.  Once the interpreter runs, the Python allocator domains
 * MEM and OBJ (pymalloc) are wrapped the same way, so a Python object is
 * attributed to the line that made it, not to whoever grew a pymalloc
 * arena (their free only where it must be: see py_direct); while a
 * wrapped Python allocator runs, the thread is busy and the malloc or
 * mmap it makes underneath is not counted twice.
 *
 * Until the real functions are found (dlsym itself allocates), requests
 * are served from a small static arena whose blocks are never freed.
 */
/* Both mmap and mmap64 are defined below: the headers must not rename
 * one to the other. */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc/tracker.h"

/* glibc's own entry points, used if dlsym finds nothing better. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);
extern void *__libc_valloc(size_t n);
extern void *__libc_pvalloc(size_t n);

/* ---- the real functions ------------------------------------------------- */

static struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    void *(*memalign)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    void *(*mremap)(void *, size_t, size_t, int, ...);
} real;

/* 0: not looked up; 1: looking up (dlsym runs); 2: done. */
static int real_state;

/* The bootstrap arena, for what dlsym allocates. */
#define BOOT_SIZE (64 * 1024)
static unsigned char boot[BOOT_SIZE] __attribute__((aligned(16)));
static size_t boot_used;

static int
boot_owns(const void *p)
{
    return (const unsigned char *)p >= boot &&
           (const unsigned char *)p < boot + BOOT_SIZE;
}

static void *
boot_alloc(size_t n)
{
    size_t need = ((n + 15) & ~(size_t)15) + 16;
    size_t at = __atomic_fetch_add(&boot_used, need, __ATOMIC_RELAXED);
    unsigned char *p;

    if (n > BOOT_SIZE || at + need > BOOT_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    p = boot + at;
    memcpy(p, &n, sizeof(n));
    return p + 16; /* zeroed: static storage, never reused */
}

static size_t
boot_size(const void *p)
{
    size_t n;

    memcpy(&n, (const unsigned char *)p - 16, sizeof(n));
    return n;
}

static void *
next_sym(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

static void *
sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static int
sys_munmap(void *addr, size_t len)
{
    return (int)syscall(SYS_munmap, addr, len);
}

static void
real_resolve(void)
{
    int expected = 0;

    if (!__atomic_compare_exchange_n(&real_state, &expected, 1, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return;
    }
    real.malloc = next_sym("malloc");
    real.calloc = next_sym("calloc");
    real.realloc = next_sym("realloc");
    real.free = next_sym("free");
    real.memalign = next_sym("memalign");
    real.posix_memalign = next_sym("posix_memalign");
    real.aligned_alloc = next_sym("aligned_alloc");
    real.valloc = next_sym("valloc");
    real.pvalloc = next_sym("pvalloc");
    real.mmap = next_sym("mmap");
    real.munmap = next_sym("munmap");
    real.mremap = next_sym("mremap");
    /* Without a full set from one allocator, glibc's own. */
    if (real.malloc == NULL || real.calloc == NULL || real.realloc == NULL ||
        real.free == NULL) {
        real.malloc = __libc_malloc;
        real.calloc = __libc_calloc;
        real.realloc = __libc_realloc;
        real.free = __libc_free;
    }
    if (real.memalign == NULL) {
        real.memalign = __libc_memalign;
    }
    if (real.valloc == NULL) {
        real.valloc = __libc_valloc;
    }
    if (real.pvalloc == NULL) {
        real.pvalloc = __libc_pvalloc;
    }
    if (real.mmap == NULL || real.munmap == NULL) {
        real.mmap = sys_mmap;
        real.munmap = sys_munmap;
    }
    __atomic_store_n(&real_state, 2, __ATOMIC_RELEASE);
}

/* Ready to call real.*?  Otherwise the caller uses the arena. */
static inline int
real_ready(void)
{
    if (ALLOC_LIKELY(__atomic_load_n(&real_state, __ATOMIC_ACQUIRE) == 2)) {
        return 1;
    }
    real_resolve();
    return __atomic_load_n(&real_state, __ATOMIC_ACQUIRE) == 2;
}

void *
alloc_real_malloc(size_t n)
{
    return real_ready() ? real.malloc(n) : boot_alloc(n);
}

void
alloc_real_free(void *p)
{
    if (p != NULL && !boot_owns(p) && real_ready()) {
        real.free(p);
    }
}

void *
alloc_real_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
    if (!real_ready()) {
        return sys_mmap(addr, len, prot, flags, fd, (off_t)off);
    }
    return real.mmap(addr, len, prot, flags, fd, (off_t)off);
}

int
alloc_real_munmap(void *addr, size_t len)
{
    if (!real_ready()) {
        return sys_munmap(addr, len);
    }
    return real.munmap(addr, len);
}

/* ---- the fast path ------------------------------------------------------ */

static inline void
on_alloc(void *p, size_t n, enum alloc_src src)
{
    struct alloc_tls *t = &alloc_tls;

    if (ALLOC_LIKELY(t->busy == 0)) {
        if (ALLOC_UNLIKELY((t->countdown -= (int64_t)n) < 0) && p != NULL) {
            tracker_alloc(t, p, n, src);
        }
    } else {
        /* A wrapped Python allocator below us: tell it where the block
         * it asked for lives (py_sampled()). */
        t->raw_seen = p;
    }
}

static inline void
on_free(void *p)
{
    if (ALLOC_UNLIKELY(alloc_maybe_tracked(p)) && alloc_tls.busy == 0) {
        tracker_free(p);
    }
}

/* ---- the C allocator ---------------------------------------------------- */

ALLOC_EXPORT void *
malloc(size_t n)
{
    void *p;

    if (ALLOC_UNLIKELY(!real_ready())) {
        return boot_alloc(n);
    }
    p = real.malloc(n);
    on_alloc(p, n, ALLOC_SRC_C);
    return p;
}

ALLOC_EXPORT void
free(void *p)
{
    if (p == NULL || ALLOC_UNLIKELY(boot_owns(p) || !real_ready())) {
        return;
    }
    on_free(p);
    real.free(p);
}

ALLOC_EXPORT void *
calloc(size_t nmemb, size_t size)
{
    void *p;

    if (ALLOC_UNLIKELY(!real_ready())) {
        return boot_alloc(nmemb * size); /* dlsym: small, no overflow */
    }
    p = real.calloc(nmemb, size);
    if (p != NULL) {
        on_alloc(p, nmemb * size, ALLOC_SRC_C);
    }
    return p;
}

ALLOC_EXPORT void *
realloc(void *p, size_t n)
{
    void *q;

    if (ALLOC_UNLIKELY(p != NULL && boot_owns(p))) {
        size_t old = boot_size(p);

        q = malloc(n);
        if (q != NULL) {
            memcpy(q, p, old < n ? old : n);
        }
        return q;
    }
    if (ALLOC_UNLIKELY(!real_ready())) {
        return boot_alloc(n);
    }
    if (p != NULL) {
        on_free(p);
    }
    q = real.realloc(p, n);
    on_alloc(q, n, ALLOC_SRC_C);
    return q;
}

ALLOC_EXPORT void *
reallocarray(void *p, size_t nmemb, size_t size)
{
    size_t n;

    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

ALLOC_EXPORT void *
memalign(size_t align, size_t n)
{
    void *p;

    if (!real_ready()) {
        return NULL;
    }
    p = real.memalign(align, n);
    on_alloc(p, n, ALLOC_SRC_C);
    return p;
}

ALLOC_EXPORT void *
aligned_alloc(size_t align, size_t n)
{
    void *p;

    if (!real_ready()) {
        return NULL;
    }
    p = real.aligned_alloc ? real.aligned_alloc(align, n)
                           : real.memalign(align, n);
    on_alloc(p, n, ALLOC_SRC_C);
    return p;
}

ALLOC_EXPORT int
posix_memalign(void **out, size_t align, size_t n)
{
    int rc;

    if (!real_ready()) {
        return ENOMEM;
    }
    if (real.posix_memalign != NULL) {
        rc = real.posix_memalign(out, align, n);
    } else if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0 ||
               align == 0) {
        rc = EINVAL;
    } else {
        *out = real.memalign(align, n);
        rc = *out != NULL ? 0 : ENOMEM;
    }
    if (rc == 0) {
        on_alloc(*out, n, ALLOC_SRC_C);
    }
    return rc;
}

ALLOC_EXPORT void *
valloc(size_t n)
{
    void *p;

    if (!real_ready()) {
        return NULL;
    }
    p = real.valloc(n);
    on_alloc(p, n, ALLOC_SRC_C);
    return p;
}

ALLOC_EXPORT void *
pvalloc(size_t n)
{
    void *p;

    if (!real_ready()) {
        return NULL;
    }
    p = real.pvalloc(n);
    on_alloc(p, n, ALLOC_SRC_C);
    return p;
}

/* ---- anonymous mappings ------------------------------------------------- */

ALLOC_EXPORT void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *p = alloc_real_mmap(addr, len, prot, flags, fd, (long)off);

    /* Anonymous memory that can be used; a PROT_NONE reservation is
     * address space, not memory. */
    if (p != MAP_FAILED && (flags & MAP_ANONYMOUS) && prot != PROT_NONE) {
        on_alloc(p, len, ALLOC_SRC_C);
    }
    return p;
}

ALLOC_EXPORT void *
mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(addr, len, prot, flags, fd, off);
}

ALLOC_EXPORT int
munmap(void *addr, size_t len)
{
    if (ALLOC_UNLIKELY(alloc_maybe_tracked(addr)) && alloc_tls.busy == 0) {
        tracker_unmap(addr, len);
    }
    return alloc_real_munmap(addr, len);
}

ALLOC_EXPORT void *
mremap(void *old, size_t old_len, size_t len, int flags, ...)
{
    void *new_addr = NULL, *p;
    va_list ap;

    if (flags & MREMAP_FIXED) {
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    if (!real_ready() || real.mremap == NULL) {
        p = (void *)syscall(SYS_mremap, old, old_len, len, flags, new_addr);
    } else {
        if (ALLOC_UNLIKELY(alloc_maybe_tracked(old)) && alloc_tls.busy == 0) {
            tracker_free(old);
        }
        p = real.mremap(old, old_len, len, flags, new_addr);
        if (p != MAP_FAILED) {
            on_alloc(p, len, ALLOC_SRC_C);
        }
    }
    return p;
}

/* ---- Python's allocators ------------------------------------------------ */

/* PyObjectArenaAllocator. */
struct py_arena_allocator {
    void *ctx;
    void *(*alloc)(void *ctx, size_t n);
    void (*free)(void *ctx, void *p, size_t n);
};

/* PYMEM_DOMAIN_*. */
#define PY_RAW 0
#define PY_MEM 1
#define PY_OBJ 2

/* What each domain did before it was wrapped, and what it does now.  The
 * sampled wrappers below read the allocator they wrap from py_orig,
 * never from their ctx argument, which is the original's: a free left
 * unwrapped (py_direct) gets the ctx it expects.  With --all, the MEM
 * and OBJ domains' ctx is py_orig[d] itself, which tracker.c's wrappers
 * read. */
static struct alloc_py_allocator py_orig[3], py_wrap[3];
static struct py_arena_allocator arena_orig, arena_wrap;
static const struct pyframes_api *py_api;

/*
 * Requests up to this size are served by pymalloc from its arenas without
 * calling malloc, so they need no busy mark (arenas are marked in their
 * own wrapper).  Below pymalloc's 512-byte limit by the most that
 * PYTHONMALLOC=pymalloc_debug adds to a request.  0 when the domains'
 * allocator calls malloc for small blocks too (PYTHONMALLOC=malloc or
 * malloc_debug): then every request is marked.
 */
#define PY_SMALL_MAX (512 - 64)
size_t alloc_py_small_max;

/*
 * Who sees a sampled Python block freed.  Free is the domains' hottest
 * function, and an interpreter built with profile feedback (Debian's)
 * tests at each call site for pymalloc's own functions and runs them
 * inline: a wrapped free loses that on every call, sampled or not.  So
 * in sampled mode a domain's free stays its own (py_direct[d]), and a
 * block to be recorded is asked of the domain as PY_RAW_MIN bytes at
 * least, above pymalloc's largest size class: pymalloc takes it from
 * PyMem_RawMalloc (malloc, which is interposed; the wrapped RAW domain
 * when attached) and gives its free to PyMem_RawFree, where the tracker
 * sees it.  Realloc stays wrapped: it allocates as well as frees (a list
 * built from [] by append gets its item array from realloc(NULL, n) and
 * grows it in place within pymalloc), and bytes it allocates unseen
 * could never be sampled.  A few hundred bytes more for one block per
 * sample.  Each such block is checked: the C allocator's hook notes what
 * it returned while the thread was busy (raw_seen), and it must be the
 * block the domain returned.  When it is not (debug hooks put a header
 * in front, mimalloc has a heap of its own, a program set its own
 * allocator), the domain's free is wrapped from then on
 * (py_direct_off()), as it is with --all, where every block is
 * recorded.
 */
#define PY_RAW_MIN 513
static int py_direct[3];

static void py_mem_free(void *ctx, void *p);
static void py_obj_free(void *ctx, void *p);

/* This domain's blocks are not all in malloc: wrap its free.  With the
 * GIL held (a MEM or OBJ call). */
static __attribute__((noinline)) void
py_direct_off(int d)
{
    py_direct[d] = 0;
    py_wrap[d].free = d == PY_MEM ? py_mem_free : py_obj_free;
    py_api->set_allocator(d, &py_wrap[d]);
}

/* A block to be recorded: malloc (op 0), calloc (1) or realloc of p (2)
 * of n bytes, made where its free will be seen, then recorded. */
enum py_op { PY_OP_MALLOC, PY_OP_CALLOC, PY_OP_REALLOC };

static __attribute__((noinline)) void *
py_sampled(int d, enum py_op op, void *p, size_t n)
{
    struct alloc_py_allocator *a = &py_orig[d];
    struct alloc_tls *t = &alloc_tls;
    int direct = py_direct[d];
    size_t ask = direct && n < PY_RAW_MIN ? PY_RAW_MIN : n;
    void *q;

    t->busy++;
    t->raw_seen = NULL;
    if (op == PY_OP_MALLOC) {
        q = a->malloc(a->ctx, ask);
    } else if (op == PY_OP_CALLOC) {
        q = a->calloc(a->ctx, 1, ask);
    } else {
        q = a->realloc(a->ctx, p, ask);
    }
    t->busy--;
    if (q == NULL) {
        return NULL;
    }
    if (direct && q != t->raw_seen) {
        py_direct_off(d);
    }
    tracker_alloc(t, q, n, ALLOC_SRC_PY);
    return q;
}

/* A large request, or one whose countdown ran out. */
static __attribute__((noinline)) void *
py_malloc_slow(int d, size_t n)
{
    struct alloc_py_allocator *a = &py_orig[d];
    struct alloc_tls *t = &alloc_tls;
    void *p;

    /* A small request comes with its countdown taken off. */
    if ((n > alloc_py_small_max && (t->countdown -= (int64_t)n) >= 0) ||
        t->busy != 0) {
        /* Large: pymalloc passes it to malloc, marked. */
        t->busy++;
        p = a->malloc(a->ctx, n);
        t->busy--;
        return p;
    }
    return py_sampled(d, PY_OP_MALLOC, NULL, n);
}

/* The fast path of a Python allocator: a small request goes straight to
 * the original (a tail call) unless the countdown runs out. */
static inline __attribute__((always_inline)) void *
py_malloc(int d, size_t n)
{
    struct alloc_py_allocator *a = &py_orig[d];

    if (ALLOC_LIKELY(n <= alloc_py_small_max) &&
        ALLOC_LIKELY((alloc_tls.countdown -= (int64_t)n) >= 0)) {
        return a->malloc(a->ctx, n);
    }
    return py_malloc_slow(d, n);
}

static __attribute__((noinline)) void *
py_calloc_slow(int d, size_t nelem, size_t elsize, size_t n, int counted)
{
    struct alloc_py_allocator *a = &py_orig[d];
    struct alloc_tls *t = &alloc_tls;
    void *p;

    /* Large: pymalloc passes it to calloc, marked; so does an overflow,
     * which it refuses. */
    if (t->busy != 0 ||
        (!counted && (n == SIZE_MAX || (t->countdown -= (int64_t)n) >= 0))) {
        t->busy++;
        p = a->calloc(a->ctx, nelem, elsize);
        t->busy--;
        return p;
    }
    return py_sampled(d, PY_OP_CALLOC, NULL, n);
}

/* As py_malloc(). */
static inline __attribute__((always_inline)) void *
py_calloc(int d, size_t nelem, size_t elsize)
{
    struct alloc_py_allocator *a = &py_orig[d];
    size_t n;

    if (__builtin_mul_overflow(nelem, elsize, &n)) {
        return py_calloc_slow(d, nelem, elsize, SIZE_MAX, 0);
    }
    if (ALLOC_LIKELY(n <= alloc_py_small_max)) {
        if (ALLOC_LIKELY((alloc_tls.countdown -= (int64_t)n) >= 0)) {
            return a->calloc(a->ctx, nelem, elsize);
        }
        return py_calloc_slow(d, nelem, elsize, n, 1);
    }
    return py_calloc_slow(d, nelem, elsize, n, 0);
}

/*
 * realloc of a tracked block p to n bytes, small enough for pymalloc,
 * in a domain whose recorded blocks were asked of it large (py_direct):
 * p lives in malloc for having been sampled, and pymalloc's realloc
 * would leave it there -- where each later realloc of it, however
 * small, would pass the C allocator's realloc() too and be counted
 * twice, once by each hook.  So the block moves back into pymalloc: a
 * new one (counted, perhaps sampled itself), the bytes p was recorded
 * with copied, p freed.  NULL with p untouched (but no longer tracked)
 * when out of memory.
 */
static __attribute__((noinline)) void *
py_realloc_home(int d, void *p, size_t old, size_t n)
{
    struct alloc_py_allocator *a = &py_orig[d];
    void *q = py_malloc(d, n);

    if (q != NULL) {
        memcpy(q, p, old < n ? old : n);
        alloc_tls.busy++;
        a->free(a->ctx, p);
        alloc_tls.busy--;
    }
    return q;
}

static __attribute__((noinline)) void *
py_realloc_slow(int d, void *p, size_t n, int counted)
{
    struct alloc_py_allocator *a = &py_orig[d];
    struct alloc_tls *t = &alloc_tls;
    void *q;

    if (p != NULL && alloc_maybe_tracked(p) && t->busy == 0) {
        size_t old;

        if (py_direct[d] && n <= alloc_py_small_max) {
            /* (Not counted yet: a block that may be tracked comes
             * here before its countdown.) */
            if (tracker_take(p, &old)) {
                return py_realloc_home(d, p, old, n);
            }
        } else {
            tracker_free(p);
        }
    }
    if (t->busy == 0 && (counted || (t->countdown -= (int64_t)n) < 0)) {
        return py_sampled(d, PY_OP_REALLOC, p, n);
    }
    /* A block may move from pymalloc to malloc: marked. */
    t->busy++;
    q = a->realloc(a->ctx, p, n);
    t->busy--;
    return q;
}

/* A small block (new size) that is not tracked stays with pymalloc and
 * needs no mark; the rest takes the slow path. */
static inline __attribute__((always_inline)) void *
py_realloc(int d, void *p, size_t n)
{
    struct alloc_py_allocator *a = &py_orig[d];

    if (ALLOC_LIKELY(n <= alloc_py_small_max) &&
        ALLOC_LIKELY(!alloc_maybe_tracked(p))) {
        if (ALLOC_LIKELY((alloc_tls.countdown -= (int64_t)n) >= 0)) {
            return a->realloc(a->ctx, p, n);
        }
        return py_realloc_slow(d, p, n, 1);
    }
    return py_realloc_slow(d, p, n, 0);
}

static __attribute__((noinline)) void
py_free_slow(int d, void *p)
{
    struct alloc_py_allocator *a = &py_orig[d];

    if (alloc_tls.busy == 0) {
        tracker_free(p);
    }
    a->free(a->ctx, p);
}

/* Wrapped only where the domain's blocks are not all seen freed by the
 * C allocator's hooks (py_direct). */
static inline __attribute__((always_inline)) void
py_free(int d, void *p)
{
    struct alloc_py_allocator *a = &py_orig[d];

    if (ALLOC_UNLIKELY(alloc_maybe_tracked(p)) && p != NULL) {
        py_free_slow(d, p);
        return;
    }
    a->free(a->ctx, p);
}

/*
 * A domain's four sampled wrappers over impl_malloc, impl_calloc,
 * impl_realloc and impl_free, which take the domain: one set per domain,
 * so that none needs its ctx (a free left unwrapped gets the
 * original's) and each inlines with its domain a constant.
 */
#define PY_DOMAIN_WRAPPERS(name, impl, d)                                     \
    static void *name##_malloc(void *ctx, size_t n)                           \
    {                                                                         \
        (void)ctx;                                                            \
        return impl##_malloc(d, n);                                           \
    }                                                                         \
    static void *name##_calloc(void *ctx, size_t nelem, size_t elsize)        \
    {                                                                         \
        (void)ctx;                                                            \
        return impl##_calloc(d, nelem, elsize);                               \
    }                                                                         \
    static void *name##_realloc(void *ctx, void *p, size_t n)                 \
    {                                                                         \
        (void)ctx;                                                            \
        return impl##_realloc(d, p, n);                                       \
    }                                                                         \
    static void name##_free(void *ctx, void *p)                               \
    {                                                                         \
        (void)ctx;                                                            \
        impl##_free(d, p);                                                    \
    }

/* clang-format off */
PY_DOMAIN_WRAPPERS(py_mem, py, PY_MEM)
PY_DOMAIN_WRAPPERS(py_obj, py, PY_OBJ)
/* clang-format on */

/* pymalloc's arenas: the objects in them are counted, not the arenas. */
static void *
py_arena_alloc(void *ctx, size_t n)
{
    struct py_arena_allocator *a = ctx;
    void *p;

    alloc_tls.busy++;
    p = a->alloc(a->ctx, n);
    alloc_tls.busy--;
    return p;
}

static void
py_arena_free(void *ctx, void *p, size_t n)
{
    struct py_arena_allocator *a = ctx;

    alloc_tls.busy++;
    a->free(a->ctx, p, n);
    alloc_tls.busy--;
}

/* The RAW domain (attached only): malloc's own calls, any thread, GIL
 * or not; a pymalloc block too large for it comes here marked busy.
 * These are installed while other threads may be calling the domain
 * without the GIL. */
static void *
raw_malloc(void *ctx, size_t n)
{
    struct alloc_py_allocator *a = &py_orig[PY_RAW];
    void *p;

    (void)ctx;
    p = a->malloc(a->ctx, n);
    on_alloc(p, n, ALLOC_SRC_C);
    return p;
}

static void *
raw_calloc(void *ctx, size_t nelem, size_t elsize)
{
    struct alloc_py_allocator *a = &py_orig[PY_RAW];
    void *p;

    (void)ctx;
    p = a->calloc(a->ctx, nelem, elsize);
    if (p != NULL) {
        on_alloc(p, nelem * elsize, ALLOC_SRC_C);
    }
    return p;
}

static void *
raw_realloc(void *ctx, void *p, size_t n)
{
    struct alloc_py_allocator *a = &py_orig[PY_RAW];
    void *q;

    (void)ctx;
    if (p != NULL) {
        on_free(p);
    }
    q = a->realloc(a->ctx, p, n);
    on_alloc(q, n, ALLOC_SRC_C);
    return q;
}

static void
raw_free(void *ctx, void *p)
{
    struct alloc_py_allocator *a = &py_orig[PY_RAW];

    (void)ctx;
    if (p != NULL) {
        on_free(p);
    }
    a->free(a->ctx, p);
}

/* Each domain's wrappers: sampled, and with --all (the RAW domain's are
 * the same in both; tracker.c's for MEM and OBJ, which find the
 * original in their ctx). */
static const struct alloc_py_allocator py_wrappers[2][3] = {
    {
        {NULL, raw_malloc, raw_calloc, raw_realloc, raw_free},
        {NULL, py_mem_malloc, py_mem_calloc, py_mem_realloc, py_mem_free},
        {NULL, py_obj_malloc, py_obj_calloc, py_obj_realloc, py_obj_free},
    },
    {
        {NULL, raw_malloc, raw_calloc, raw_realloc, raw_free},
        {NULL, tracker_py_malloc, tracker_py_calloc, tracker_py_realloc,
         tracker_py_free},
        {NULL, tracker_py_malloc, tracker_py_calloc, tracker_py_realloc,
         tracker_py_free},
    },
};

void
hooks_wrap_python(const struct pyframes_api *api, int raw)
{
    const char *env = getenv("PYTHONMALLOC");
    int all = tracker_all() != 0, d;

    /* This may run inside pymalloc itself (a malloc it makes while it
     * grows its arena table): nothing here may call into it. */
    alloc_py_small_max =
        env != NULL && strncmp(env, "malloc", 6) == 0 ? 0 : PY_SMALL_MAX;
    py_api = api;

    if (api->get_arena != NULL && api->set_arena != NULL) {
        api->get_arena(&arena_orig);
        if (arena_orig.alloc != py_arena_alloc) {
            arena_wrap.ctx = &arena_orig;
            arena_wrap.alloc = py_arena_alloc;
            arena_wrap.free = py_arena_free;
            api->set_arena(&arena_wrap);
        }
    } else {
        alloc_py_small_max = 0;
    }
    for (d = raw ? PY_RAW : PY_MEM; d <= PY_OBJ; d++) {
        struct alloc_py_allocator cur;

        api->get_allocator(d, &cur);
        /* Ours already when attached again (the mode may have
         * changed). */
        if (cur.malloc != py_wrappers[0][d].malloc &&
            cur.malloc != py_wrappers[1][d].malloc) {
            py_orig[d] = cur;
        }
        py_direct[d] = d != PY_RAW && !all;
        py_wrap[d] = py_wrappers[all][d];
        py_wrap[d].ctx = all && d != PY_RAW ? &py_orig[d] : py_orig[d].ctx;
        if (py_direct[d]) {
            py_wrap[d].free = py_orig[d].free;
        }
        api->set_allocator(d, &py_wrap[d]);
    }
}

/*
 * The entry point of `pyspect alloc -p`: its trampoline calls this in a
 * thread of the running program, after dlopen().  Configures the tracker
 * (config names pyspect as the controller: tracking stops when pyspect
 * says so, or is gone), wraps Python's allocators under the GIL and
 * starts tracking.  malloc itself is not wrapped in a program already
 * running: what Python allocates is seen through its allocator domains.
 * 0; -1 bad config; -2 another pyspect is attached; -3 no Python the
 * tracker can read; -4 the tracker's file could not be made.
 */
ALLOC_EXPORT long
pyspect_alloc_attach(const char *config)
{
    long rc;

    alloc_tls.busy++;
    real_ready();
    rc = tracker_attach(config);
    if (rc == 0 && pyframes_attach() < 0) {
        rc = -3;
    }
    if (rc == 0 && tracker_native()) {
        native_init();
    }
    if (rc == 0 && tracker_start() < 0) {
        rc = -4;
    }
    /* This thread looks at its next allocation; the others within
     * 64 KiB of theirs (tracker.c, INERT_COUNTDOWN). */
    alloc_tls.countdown = 0;
    alloc_tls.busy--;
    return rc;
}

/* ---- life cycle --------------------------------------------------------- */

__attribute__((constructor)) static void
hooks_init(void)
{
    alloc_tls.busy++;
    real_ready();
    tracker_configure();
    pthread_atfork(tracker_fork_prepare, tracker_fork_parent,
                   tracker_fork_child);
    pyframes_init();
    if (tracker_native()) {
        native_init();
    }
    alloc_tls.busy--;
}

__attribute__((destructor)) static void
hooks_fini(void)
{
    alloc_tls.busy++;
    tracker_exit();
    alloc_tls.busy--;
}
