/*
 * test_pymalloc.c - the arena and pool walk on memory built by hand.
 *
 * Layer: tests.  One arena of two carved pools (one in use, one free)
 * with the statics that point at it, for each layout's geometry; and the
 * same arena with size classes 8 bytes apart, as releases before
 * bpo-27987 (2.7 before its backport, 3.6.x, 3.7 before 3.7.4) have:
 * the walk learns that from the pool headers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "python/layout.h"
#include "python/pymalloc.h"
#include "python/runtime.h"
#include "target/memsrc.h"
#include "tap.h"

#define BASE 0x600000000ull
#define STATICS (BASE + 0x100)
#define AOBJ (BASE + 0x200)

/* TAP_EQ_INT with a formatted name. */
static char tap_name[128];
#define EQ(got, want, ...)                                                    \
    do {                                                                      \
        snprintf(tap_name, sizeof(tap_name), __VA_ARGS__);                    \
        TAP_EQ_INT(got, want, tap_name);                                      \
    } while (0)

static void
put64(unsigned char *mem, raddr_t at, uint64_t v)
{
    memcpy(mem + (at - BASE), &v, 8);
}

static void
put32(unsigned char *mem, raddr_t at, uint32_t v)
{
    memcpy(mem + (at - BASE), &v, 4);
}

static void
one(const struct py_layout *l, uint64_t alignment)
{
    uint64_t arena = BASE + (uint64_t)l->obm_arena_size; /* aligned */
    uint64_t pool = arena, size = 4 * alignment;         /* szidx 3 */
    size_t total = 2 * (size_t)l->obm_arena_size + 4096;
    unsigned char *mem = xcalloc(1, total);
    uint64_t ntotal = (uint64_t)l->obm_arena_size / (uint64_t)l->obm_pool_size;
    struct memsrc *src = memsrc_buffer_new();
    struct py_runtime *rt;
    struct pymalloc pm;
    char what[64];

    snprintf(what, sizeof(what), "%d.%d, classes %llu apart", l->major,
             l->minor, (unsigned long long)alignment);
    put64(mem, STATICS, AOBJ);   /* arenas */
    put32(mem, STATICS + 8, 1);  /* maxarenas */
    put64(mem, STATICS + 16, 1); /* narenas_currently_allocated */
    put64(mem, AOBJ + (raddr_t)l->arenaobj_address, arena);
    put64(mem, AOBJ + (raddr_t)l->arenaobj_pool_address,
          arena + 2 * (uint64_t)l->obm_pool_size);
    put32(mem, AOBJ + (raddr_t)l->arenaobj_nfreepools, (uint32_t)(ntotal - 1));
    put32(mem, AOBJ + (raddr_t)l->arenaobj_ntotalpools, (uint32_t)ntotal);
    put32(mem, pool + (raddr_t)l->poolhdr_count, 10);
    put32(mem, pool + (raddr_t)l->poolhdr_szidx, 3);
    put32(mem, pool + (raddr_t)l->poolhdr_nextoffset, 1024);
    /* The free list's head, after the 8-byte ref union: the block after
     * the ten in use (the walker checks it is a block of this pool). */
    put64(mem, pool + (raddr_t)l->poolhdr_count + 8,
          pool +
              ((uint64_t)l->poolhdr_size + alignment - 1) / alignment *
                  alignment +
              10 * size);
    put32(mem, pool + (raddr_t)l->poolhdr_maxnextoffset,
          (uint32_t)((uint64_t)l->obm_pool_size - size));
    memsrc_buffer_add(src, BASE, mem, total);
    rt = py_runtime_from_memsrc(src, l);
    EQ(pymalloc_init(&pm, l), 0, "%s: geometry", what);
    pm.found = 1;
    pm.nstates = 1;
    pm.states[0].arenas_var = STATICS;
    pm.states[0].maxarenas_var = STATICS + 8;
    pm.states[0].narenas_var = STATICS + 16;
    EQ(pymalloc_walk(rt, &pm), 0, "%s: walk", what);
    TAP_OK(pm.complete, "%s: complete (%s)", what, pm.problem);
    EQ(pm.alignment, alignment, "%s: alignment learnt", what);
    EQ(pm.narenas, 1, "%s: one arena", what);
    EQ(pm.pools_used, 1, "%s: one pool in use", what);
    EQ(pm.used_bytes, 10 * size, "%s: ten blocks in use", what);
    EQ(pm.free_block_bytes,
       ((uint64_t)l->obm_pool_size - pm.pool_overhead) / size * size -
           10 * size,
       "%s: the rest of the pool is free", what);
    pymalloc_release(&pm);
    py_runtime_free(rt);
    free(mem);
}

int
main(void)
{
    static const int versions[][2] = {{2, 7}, {3, 6}, {3, 9}};
    size_t i;

    for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        const struct py_layout *l =
            py_layout_find(versions[i][0], versions[i][1]);

        if (l == NULL || !pyl_has(l->obm_alignment)) {
            continue;
        }
        one(l, (uint64_t)l->obm_alignment);
        one(l, 8);
    }
    return tap_done();
}
