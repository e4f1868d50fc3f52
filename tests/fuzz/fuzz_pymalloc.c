/*
 * fuzz_pymalloc.c - pymalloc's arena objects and pool headers, walked
 * over a synthetic allocator the input damages.
 *
 * Layer: tests.  The world: the `arenas` pointer, `maxarenas` and the
 * arena counter, two arena objects (one in use, one free slot), and an
 * arena whose first three pools are full, partly used and empty.  Input:
 * a layout byte (versions with pymalloc geometry), then patches over the
 * variables, the arena objects and the three pool headers.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "python/layout.h"
#include "python/pymalloc.h"
#include "python/runtime.h"
#include "target/memsrc.h"

#define VARS 0x10000000ull
#define AOBJS (VARS + 0x100)
#define ARENA 0x20000000ull /* aligned to any arena size */

static void
put(unsigned char *m, size_t off, uint64_t v, int width)
{
    memcpy(m + off, &v, (size_t)width);
}

/* A pool header at local p: count blocks of size class szidx in use. */
static void
pool(const struct py_layout *l, const struct pymalloc *pm, unsigned char *p,
     raddr_t addr, uint32_t szidx, uint32_t count)
{
    uint64_t size = ((uint64_t)szidx + 1) * pm->alignment;
    uint64_t blocks = (pm->pool_size - pm->pool_overhead) / size;
    uint64_t next = pm->pool_overhead + (count + 1) * size;

    put(p, (size_t)l->poolhdr_count, count, 4);
    /* freeblock: none when full, else the block after the last used */
    put(p, (size_t)l->poolhdr_count + 8,
        count == blocks ? 0 : addr + pm->pool_overhead + count * size, 8);
    put(p, (size_t)l->poolhdr_szidx, szidx, 4);
    put(p, (size_t)l->poolhdr_nextoffset,
        count == blocks ? pm->pool_size : next, 4);
    put(p, (size_t)l->poolhdr_maxnextoffset, pm->pool_size - size, 4);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char *vars, *arena;
    const struct py_layout *l;
    struct py_runtime *rt;
    struct memsrc *src;
    struct pymalloc pm;
    unsigned char *flat;
    size_t nvars = 0x1000, npools, ntotal;

    if (size < 1) {
        return 0;
    }
    l = py_layouts_generated[data[0] % py_layouts_generated_count];
    if (pymalloc_init(&pm, l) < 0) {
        return 0;
    }
    pm.found = 1;
    pm.nstates = 1;
    pm.states[0].arenas_var = VARS;
    pm.states[0].maxarenas_var = VARS + 8;
    pm.states[0].narenas_var = VARS + 16;
    if (vars == NULL) {
        vars = calloc(1, nvars);
        arena = calloc(1, 1u << 20);
    }
    if (pm.arena_size > (1u << 20)) {
        return 0;
    }
    memset(vars, 0, nvars);
    /* Only the three pools are ever read. */
    memset(arena, 0, 3 * (size_t)pm.pool_size);
    ntotal = (size_t)(pm.arena_size / pm.pool_size);
    npools = 3;
    put(vars, 0, AOBJS, 8);
    put(vars, 8, 2, 4);
    put(vars, 16, 1, 8);
    put(vars, 0x100 + (size_t)l->arenaobj_address, ARENA, 8);
    put(vars, 0x100 + (size_t)l->arenaobj_pool_address,
        ARENA + npools * pm.pool_size, 8);
    put(vars, 0x100 + (size_t)l->arenaobj_nfreepools, ntotal - npools, 4);
    put(vars, 0x100 + (size_t)l->arenaobj_ntotalpools, ntotal, 4);
    /* The second arena object: an unused slot, all zero. */
    pool(l, &pm, arena, ARENA, 1,
         (uint32_t)((pm.pool_size - pm.pool_overhead) / (2 * pm.alignment)));
    pool(l, &pm, arena + pm.pool_size, ARENA + pm.pool_size, 3, 5);
    /* the third pool: empty (count 0) */
    /* One region to patch: the variables, then the three pool headers. */
    flat = malloc(nvars + npools * 64);
    memcpy(flat, vars, nvars);
    for (size_t i = 0; i < npools; i++) {
        memcpy(flat + nvars + 64 * i, arena + i * pm.pool_size, 64);
    }
    fuzz_patch(flat, nvars + npools * 64, VARS, data + 1, size - 1);
    memcpy(vars, flat, nvars);
    for (size_t i = 0; i < npools; i++) {
        memcpy(arena + i * pm.pool_size, flat + nvars + 64 * i, 64);
    }
    free(flat);
    src = memsrc_buffer_new();
    memsrc_buffer_add(src, VARS, vars, nvars);
    memsrc_buffer_add(src, ARENA, arena, 3 * (size_t)pm.pool_size);
    rt = py_runtime_from_memsrc(src, l);
    pymalloc_walk(rt, &pm);
    pymalloc_release(&pm);
    py_runtime_free(rt);
    return 0;
}
