/*
 * hookfloor.c - the least any Python allocator hook costs.
 *
 * Layer: bench.  Not installed; built as build/hookfloor.so and loaded
 * by bench/alloc_workload.py (ALLOC_WORKLOAD_HOOK) into the workload's
 * own interpreter through ctypes.  pyspect_hookfloor_install() puts a
 * hook in front of malloc, calloc and realloc of the PyMem and PyObject
 * domains that adds up the bytes asked for and passes the call on: what
 * a tracker that samples by bytes must do at the least, and what
 * `pyspect alloc` does in sampled mode (free stays the interpreter's
 * own there too).  bench/alloc.py prints its slowdown beside pyspect's,
 * so that the cost of hooking at all is told apart from the tracker's.
 *
 * On an interpreter built with profile feedback (Debian's), the call
 * sites inline pymalloc for as long as the domain's functions are
 * pymalloc's own; any hook sends every call through the pointer.
 *
 * Needs CPython 3.5 or later (PyMem_SetAllocator with calloc).  The
 * symbols come from the interpreter the module is loaded into.
 */
#include <stddef.h>

/* CPython's PyMemAllocatorEx and domains (stable since 3.5). */
struct mem_allocator {
    void *ctx;
    void *(*malloc)(void *ctx, size_t n);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *p, size_t n);
    void (*free)(void *ctx, void *p);
};
enum { DOMAIN_MEM = 1, DOMAIN_OBJ = 2 };

extern void PyMem_GetAllocator(int domain, struct mem_allocator *a);
extern void PyMem_SetAllocator(int domain, struct mem_allocator *a);

int pyspect_hookfloor_install(void);

static struct mem_allocator orig[3];
/* Bytes asked for: the countdown a sampler keeps (the domains are
 * called with the GIL held).  Not static, so that no compiler drops the
 * sum as never read. */
__attribute__((visibility("hidden"))) size_t pyspect_hookfloor_asked;

#define HOOKS(d)                                                              \
    static void *malloc_##d(void *ctx, size_t n)                              \
    {                                                                         \
        (void)ctx;                                                            \
        pyspect_hookfloor_asked += n;                                         \
        return orig[d].malloc(orig[d].ctx, n);                                \
    }                                                                         \
    static void *calloc_##d(void *ctx, size_t nelem, size_t elsize)           \
    {                                                                         \
        (void)ctx;                                                            \
        pyspect_hookfloor_asked += nelem * elsize;                            \
        return orig[d].calloc(orig[d].ctx, nelem, elsize);                    \
    }                                                                         \
    static void *realloc_##d(void *ctx, void *p, size_t n)                    \
    {                                                                         \
        (void)ctx;                                                            \
        pyspect_hookfloor_asked += n;                                         \
        return orig[d].realloc(orig[d].ctx, p, n);                            \
    }

HOOKS(1)
HOOKS(2)

/* Domain d's malloc, calloc and realloc become with's; its free and
 * context stay. */
static void
hook(int d, const struct mem_allocator *with)
{
    struct mem_allocator a;

    PyMem_GetAllocator(d, &orig[d]);
    a = orig[d];
    a.malloc = with->malloc;
    a.calloc = with->calloc;
    a.realloc = with->realloc;
    PyMem_SetAllocator(d, &a);
}

/* Called once, with the GIL held, before the work. */
int
pyspect_hookfloor_install(void)
{
    static const struct mem_allocator mem = {NULL, malloc_1, calloc_1,
                                             realloc_1, NULL};
    static const struct mem_allocator obj = {NULL, malloc_2, calloc_2,
                                             realloc_2, NULL};

    hook(DOMAIN_MEM, &mem);
    hook(DOMAIN_OBJ, &obj);
    return 0;
}
