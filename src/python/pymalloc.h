/*
 * pymalloc.h - what CPython's small-object allocator holds.
 *
 * Layer: python.  pymalloc serves requests up to 512 bytes from arenas
 * (256 KiB, or 1 MiB from 3.10) cut into pools (4 KiB, or 16 KiB) of
 * equal-size blocks.  An arena goes back to the system only when every
 * pool in it is empty, so a process whose objects died in a scattered
 * way keeps arenas that are mostly free.
 *
 * Where the allocator state is:
 *   3.6 - 3.11  file statics in Objects/obmalloc.c (arenas, maxarenas,
 *               usedpools...): from the runtime object's .symtab, else a
 *               detached debug file (python3.X-dbg), else a search that
 *               validates candidates against the structures: `usedpools`
 *               (pairs that point at themselves or at pool headers whose
 *               size class and back link agree) and then the `arenas`
 *               pointer (the arena objects that contain those pools).
 *   3.12        inline in each PyInterpreterState (obmalloc).
 *   3.13        a pointer in each PyInterpreterState.
 */
#ifndef PYSPECT_PYTHON_PYMALLOC_H
#define PYSPECT_PYTHON_PYMALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "python/runtime.h"

/* Distinct allocator states (3.12+ isolated sub-interpreters). */
#define PYMALLOC_MAX_STATES 64
/* Most arena objects read from one state. */
#define PYMALLOC_MAX_ARENAS (1u << 22)

struct pymalloc_state_ref {
    raddr_t arenas_var;    /* where the `arenas` pointer is */
    raddr_t maxarenas_var; /* where `maxarenas` is, 0 when unknown */
    raddr_t narenas_var;   /* narenas_currently_allocated, 0 unknown */
};

struct pymalloc {
    int found;              /* the allocator state was located */
    const char *located_by; /* "interpreter state", "symbols",
                             * "debug-file", "search" */
    char problem[200];      /* why not found, or why partial */

    struct pymalloc_state_ref states[PYMALLOC_MAX_STATES];
    size_t nstates;

    /* Geometry (from the layout; the alignment from the first pool
     * walked, which older releases have at 8). */
    uint64_t arena_size, pool_size, alignment, pool_overhead, nclasses;
    int alignment_seen;

    /* The walk. */
    uint64_t narenas;
    uint64_t arenas_bytes;     /* narenas * arena_size */
    uint64_t used_bytes;       /* in blocks handed out */
    uint64_t free_bytes;       /* free blocks in used pools + free pools */
    uint64_t free_block_bytes; /* part of free_bytes: in used pools */
    uint64_t free_pool_bytes;  /* part of free_bytes: whole free pools */
    uint64_t overhead_bytes;   /* pool headers, quantization, alignment */
    uint64_t pools_used, pools_free;
    uint64_t blocks_used;
    int64_t narenas_counter; /* narenas_currently_allocated, -1 unknown */
    int complete;

    /* Arena start addresses (each arena_size long), for the resident
     * split. */
    raddr_t *arena_addrs;
    size_t n_arena_addrs, arena_addrs_alloc;
};

/* How pymalloc_locate() may find the ≤3.11 statics. */
enum pymalloc_route {
    PYMALLOC_ROUTE_AUTO,   /* symbols, debug file, then search */
    PYMALLOC_ROUTE_SEARCH, /* search only (tests, and when in doubt) */
};

/*
 * pm zeroed, with the geometry of layout l; -1 when l has none.  (What
 * pymalloc_locate() starts with; tests fill states themselves.)
 */
int pymalloc_init(struct pymalloc *pm, const struct py_layout *l);

/*
 * Find the allocator state(s).  Returns 0 with pm->found set, or 0 with
 * found = 0 and problem saying why (the process may run with
 * PYTHONMALLOC=malloc, or be stripped with no debug file and the search
 * found nothing).  Negative only when the target is gone.  pm is
 * initialised in every case; release it.
 */
int pymalloc_locate(struct py_runtime *rt, enum pymalloc_route route,
                    struct pymalloc *pm);

/*
 * Walk the arenas and pool headers of every located state (the target
 * should be paused).  Reads the arena objects in one piece and the pool
 * headers in batches.  0, with complete = 0 and problem set when some
 * arena or pool did not look right; PS_EEXITED when the target is gone.
 */
int pymalloc_walk(struct py_runtime *rt, struct pymalloc *pm);

/*
 * Only the arena list (addresses, count): one read per state, for
 * sampling often without pausing.  Used, free and pool figures are not
 * filled.
 */
int pymalloc_walk_arenas(struct py_runtime *rt, struct pymalloc *pm);

void pymalloc_release(struct pymalloc *pm);

#endif /* PYSPECT_PYTHON_PYMALLOC_H */
