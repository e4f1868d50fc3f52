/*
 * pymalloc.c - locate obmalloc's state and account for its arenas.
 *
 * Layer: python.  Everything read is checked against the arena and pool
 * geometry of the layout: an arena object must describe an arena (its
 * never-used pool pointer inside it, pool counts in range), a pool header
 * must describe a pool (size class in range, maxnextoffset equal to
 * POOL_SIZE minus the block size, no more blocks in use than fit).
 */
#include "pymalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/xalloc.h"
#include "target/debuginfo.h"
#include "target/elf.h"
#include "core/banned.h"

/* Pool headers read per batch. */
#define PYMALLOC_BATCH 4096
/* Largest .data/.bss region the search reads. */
#define PYMALLOC_SEARCH_MAX (16u << 20)
/* Pools the search checks the `arenas` candidates against. */
#define PYMALLOC_SEARCH_POOLS 64

static void pm_problem(struct pymalloc *pm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
pm_problem(struct pymalloc *pm, const char *fmt, ...)
{
    va_list ap;

    pm->complete = 0;
    if (pm->problem[0] != '\0') {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(pm->problem, sizeof(pm->problem), fmt, ap);
    va_end(ap);
}

static uint64_t
rd64(const unsigned char *p, int32_t off)
{
    uint64_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

static uint32_t
rd32(const unsigned char *p, int32_t off)
{
    uint32_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

static void
add_state(struct pymalloc *pm, raddr_t arenas, raddr_t maxarenas,
          raddr_t narenas)
{
    size_t i;

    for (i = 0; i < pm->nstates; i++) {
        if (pm->states[i].arenas_var == arenas) {
            return;
        }
    }
    if (pm->nstates < PYMALLOC_MAX_STATES) {
        pm->states[pm->nstates].arenas_var = arenas;
        pm->states[pm->nstates].maxarenas_var = maxarenas;
        pm->states[pm->nstates].narenas_var = narenas;
        pm->nstates++;
    }
}

/* 3.12+: the state of every interpreter (shared ones counted once). */
static int
locate_in_interpreters(struct py_runtime *rt, struct pymalloc *pm)
{
    const struct py_layout *l = &rt->layout;
    raddr_t interp;
    int rc, n = 0;

    rc = py_runtime_interp_head(rt, &interp);
    if (rc < 0) {
        return rc;
    }
    while (interp != 0 && n++ < 1024) {
        uint64_t state = interp + (raddr_t)l->interp_obmalloc;
        uint64_t arenas = 0, next = 0;

        if (l->interp_obmalloc_is_ptr == 1) {
            rc = memsrc_read_u64(rt->mem, interp + l->interp_obmalloc, &state);
            if (rc < 0) {
                return err_set(rc, "cannot read the obmalloc state pointer");
            }
        }
        if (state != 0 &&
            memsrc_read_u64(rt->mem, state + l->obm_arenas, &arenas) == 0 &&
            arenas != 0) {
            add_state(pm, state + (raddr_t)l->obm_arenas,
                      state + (raddr_t)l->obm_maxarenas,
                      state + (raddr_t)l->obm_narenas_currently_allocated);
        }
        rc = memsrc_read_u64(rt->mem, interp + l->interp_next, &next);
        if (rc < 0) {
            break;
        }
        interp = next;
    }
    pm->located_by = "interpreter state";
    return 0;
}

static int
symbols_in(struct py_runtime *rt, const struct elf_image *img,
           struct pymalloc *pm)
{
    struct elf_symbol arenas, maxarenas, narenas;

    if (elf_image_symbol(img, "arenas", &arenas) < 0 ||
        elf_image_symbol(img, "maxarenas", &maxarenas) < 0) {
        return PS_ENOTFOUND;
    }
    if (elf_image_symbol(img, "narenas_currently_allocated", &narenas) < 0) {
        narenas.value = 0;
    }
    add_state(pm, arenas.value + rt->bias, maxarenas.value + rt->bias,
              narenas.value ? narenas.value + rt->bias : 0);
    return 0;
}

/* ---- the search (stripped 3.6 - 3.11) -------------------------------- */

struct found_pool {
    raddr_t addr;
    uint32_t arenaindex;
};

/*
 * Is there a usedpools array at raddr (local copy at p)?  Each size class
 * has a pair: both pointing at the pair's own fake header (empty) or
 * both at pool headers.  Pools are collected for the confirmation reads.
 */
static int
usedpools_shape(const struct pymalloc *pm, const unsigned char *p,
                raddr_t raddr, int *nonempty)
{
    uint64_t i;

    *nonempty = 0;
    for (i = 0; i < pm->nclasses; i++) {
        uint64_t a = rd64(p, (int32_t)(16 * i)),
                 b = rd64(p, (int32_t)(16 * i + 8));
        raddr_t fake = raddr + 16 * i - 16;

        if (a == fake && b == fake) {
            continue;
        }
        if (a == 0 || b == 0 || a % pm->pool_size != 0 ||
            b % pm->pool_size != 0) {
            return 0;
        }
        (*nonempty)++;
    }
    return 1;
}

/* Confirm a usedpools candidate by reading its pools' headers. */
static int
usedpools_confirm(struct py_runtime *rt, const struct pymalloc *pm,
                  const unsigned char *p, raddr_t raddr,
                  struct found_pool *pools, size_t *npools)
{
    const struct py_layout *l = &rt->layout;
    uint64_t i;

    *npools = 0;
    for (i = 0; i < pm->nclasses; i++) {
        uint64_t first = rd64(p, (int32_t)(16 * i));
        uint64_t last = rd64(p, (int32_t)(16 * i + 8));
        raddr_t fake = raddr + 16 * i - 16;
        unsigned char h[64];

        if (first == fake) {
            continue;
        }
        if (memsrc_read(rt->proc, first, h, (size_t)l->poolhdr_size) < 0 ||
            rd32(h, l->poolhdr_szidx) != i ||
            rd64(h, l->poolhdr_prevpool) != fake ||
            rd32(h, l->poolhdr_count) == 0) {
            return 0;
        }
        if (*npools < PYMALLOC_SEARCH_POOLS) {
            pools[*npools].addr = first;
            pools[*npools].arenaindex = rd32(h, l->poolhdr_arenaindex);
            (*npools)++;
        }
        if (memsrc_read(rt->proc, last, h, (size_t)l->poolhdr_size) < 0 ||
            rd32(h, l->poolhdr_szidx) != i ||
            rd64(h, l->poolhdr_nextpool) != fake) {
            return 0;
        }
    }
    return *npools > 0;
}

/* Does the arena object array at arenas hold every found pool? */
static int
arenas_confirm(struct py_runtime *rt, const struct pymalloc *pm,
               raddr_t arenas, const struct found_pool *pools, size_t n)
{
    const struct py_layout *l = &rt->layout;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char ao[64];
        uint64_t address, pool_address;

        if (pools[i].arenaindex > PYMALLOC_MAX_ARENAS ||
            memsrc_read(rt->proc,
                        arenas + (raddr_t)pools[i].arenaindex *
                                     (raddr_t)l->arenaobj_size,
                        ao, (size_t)l->arenaobj_size) < 0) {
            return 0;
        }
        address = rd64(ao, l->arenaobj_address);
        pool_address = rd64(ao, l->arenaobj_pool_address);
        if (address == 0 || pools[i].addr < address ||
            pools[i].addr >= address + pm->arena_size ||
            pool_address <= pools[i].addr ||
            pool_address > address + pm->arena_size) {
            return 0;
        }
    }
    return 1;
}

static int
read_section(struct py_runtime *rt, const char *name, raddr_t *addr,
             unsigned char **buf, size_t *len)
{
    uint64_t a, size;
    int rc;

    if (elf_image_section(rt->elf, name, &a, &size) < 0 || size == 0) {
        return PS_ENOTFOUND;
    }
    if (size > PYMALLOC_SEARCH_MAX) {
        size = PYMALLOC_SEARCH_MAX;
    }
    *addr = a + rt->bias;
    *len = (size_t)size;
    *buf = xmalloc(*len);
    rc = memsrc_read(rt->proc, *addr, *buf, *len);
    if (rc < 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

static int
locate_by_search(struct py_runtime *rt, struct pymalloc *pm)
{
    struct found_pool pools[PYMALLOC_SEARCH_POOLS],
        best[PYMALLOC_SEARCH_POOLS];
    unsigned char *data = NULL, *bss = NULL;
    size_t data_len = 0, bss_len = 0, off, npools = 0, nbest = 0;
    raddr_t data_addr = 0, bss_addr = 0, arenas_var = 0;
    int rc, nfound = 0, empty_only = 0;
    size_t arr = (size_t)(2 * ((pm->nclasses + 7) / 8) * 8) * 8;

    rc = read_section(rt, ".data", &data_addr, &data, &data_len);
    if (rc < 0) {
        pm_problem(pm, "cannot read the runtime's .data for the search");
        return rc == PS_EEXITED ? rc : 0;
    }
    for (off = 0; off + arr <= data_len; off += 8) {
        int nonempty;

        if (!usedpools_shape(pm, data + off, data_addr + off, &nonempty)) {
            continue;
        }
        if (nonempty == 0) {
            empty_only++;
            continue;
        }
        if (usedpools_confirm(rt, pm, data + off, data_addr + off, pools,
                              &npools)) {
            memcpy(best, pools, npools * sizeof(*pools));
            nbest = npools;
            nfound++;
        }
    }
    if (nfound != 1) {
        free(data);
        if (nfound == 0 && empty_only > 0) {
            pm_problem(pm, "pymalloc has no pools in use (PYTHONMALLOC="
                           "malloc?)");
        } else {
            pm_problem(pm,
                       "%d places in the runtime's data look like pymalloc's "
                       "usedpools; install the interpreter's debug symbols",
                       nfound);
        }
        return 0;
    }
    /* The arenas pointer: a word in .bss (or .data) whose arena objects
     * contain the pools found. */
    nfound = 0;
    if (read_section(rt, ".bss", &bss_addr, &bss, &bss_len) < 0) {
        bss_len = 0;
    }
    {
        const unsigned char *bufs[2] = {bss, data};
        const size_t lens[2] = {bss_len, data_len};
        const raddr_t addrs[2] = {bss_addr, data_addr};
        int s;

        for (s = 0; s < 2 && nfound == 0; s++) {
            for (off = 0; bufs[s] != NULL && off + 8 <= lens[s]; off += 8) {
                uint64_t v = rd64(bufs[s] + off, 0);
                const struct map_entry *e;

                if (v == 0 || (v & 15) != 0) {
                    continue;
                }
                e = maps_find(&rt->maps, v);
                if (e == NULL || e->perms[1] != 'w' || map_entry_is_file(e)) {
                    continue;
                }
                if (arenas_confirm(rt, pm, v, best, nbest)) {
                    arenas_var = addrs[s] + off;
                    nfound++;
                }
            }
        }
    }
    free(data);
    free(bss);
    if (nfound != 1) {
        pm_problem(pm,
                   "%d places look like pymalloc's arenas pointer; install "
                   "the interpreter's debug symbols",
                   nfound);
        return 0;
    }
    add_state(pm, arenas_var, 0, 0);
    pm->located_by = "search";
    return 0;
}

/* The geometry that follows from the distance between size classes. */
static void
pymalloc_set_alignment(struct pymalloc *pm, const struct py_layout *l,
                       uint64_t alignment)
{
    pm->alignment = alignment;
    if (alignment == 0) {
        return;
    }
    pm->pool_overhead =
        ((uint64_t)l->poolhdr_size + alignment - 1) / alignment * alignment;
    pm->nclasses = (uint64_t)l->obm_small_request_threshold / alignment;
}

int
pymalloc_init(struct pymalloc *pm, const struct py_layout *l)
{
    memset(pm, 0, sizeof(*pm));
    pm->complete = 1;
    pm->narenas_counter = -1;
    pm->arena_size = (uint64_t)l->obm_arena_size;
    pm->pool_size = (uint64_t)l->obm_pool_size;
    pymalloc_set_alignment(pm, l, (uint64_t)l->obm_alignment);
    if (pm->arena_size == 0 || pm->pool_size == 0 || pm->alignment == 0 ||
        pm->arena_size % pm->pool_size != 0) {
        return -1;
    }
    return 0;
}

int
pymalloc_locate(struct py_runtime *rt, enum pymalloc_route route,
                struct pymalloc *pm)
{
    const struct py_layout *l = &rt->layout;
    int rc;

    if (pymalloc_init(pm, l) < 0) {
        pm_problem(pm, "no pymalloc geometry for Python %s", rt->version.text);
        return 0;
    }
    if (pyl_has(l->interp_obmalloc)) {
        rc = locate_in_interpreters(rt, pm);
        if (rc < 0) {
            if (rc == PS_EEXITED) {
                return rc;
            }
            pm_problem(pm, "cannot read the interpreters: %s",
                       err_message(rc));
            return 0;
        }
        if (pm->nstates == 0) {
            pm_problem(pm, "pymalloc holds no arenas (PYTHONMALLOC=malloc?)");
        }
        pm->found = pm->nstates > 0;
        return 0;
    }
    if (route == PYMALLOC_ROUTE_AUTO) {
        struct elf_image *dbg = NULL;

        if (symbols_in(rt, rt->elf, pm) == 0) {
            pm->located_by = "symbols";
        } else {
            if (rt->elf_path != NULL &&
                debuginfo_open(rt->target, rt->elf_path, &dbg, NULL) == 0 &&
                symbols_in(rt, dbg, pm) == 0) {
                pm->located_by = "debug-file";
            }
            elf_image_close(dbg);
        }
    }
    if (pm->nstates == 0) {
        rc = locate_by_search(rt, pm);
        if (rc < 0) {
            return rc;
        }
    }
    pm->found = pm->nstates > 0;
    return 0;
}

/* ---- the walk --------------------------------------------------------- */

struct pool_batch {
    raddr_t addrs[PYMALLOC_BATCH];
    unsigned char ok[PYMALLOC_BATCH];
    unsigned char *hdrs;
    size_t n;
};

static int
flush_pools(struct py_runtime *rt, struct pymalloc *pm, struct pool_batch *b)
{
    const struct py_layout *l = &rt->layout;
    size_t i, hsize = (size_t)l->poolhdr_size;
    int rc;

    if (b->n == 0) {
        return 0;
    }
    rc = memsrc_read_many(rt->proc, b->addrs, b->n, hsize, b->hdrs, b->ok);
    if (rc < 0) {
        return rc;
    }
    for (i = 0; i < b->n; i++) {
        const unsigned char *h = b->hdrs + i * hsize;
        uint32_t count, szidx, maxnext;
        uint64_t size, blocks;

        if (!b->ok[i]) {
            pm_problem(pm, "cannot read the pool at 0x%llx",
                       (unsigned long long)b->addrs[i]);
            continue;
        }
        count = rd32(h, l->poolhdr_count);
        if (count == 0) {
            pm->pools_free++;
            pm->free_pool_bytes += pm->pool_size;
            continue;
        }
        szidx = rd32(h, l->poolhdr_szidx);
        maxnext = rd32(h, l->poolhdr_maxnextoffset);
        if (!pm->alignment_seen && maxnext < pm->pool_size) {
            /* Size classes are 16 bytes apart since bpo-27987 (2.7.18,
             * 3.6.15, 3.7.4 and 3.8 have it), 8 in older releases: the
             * first pool says which (maxnextoffset is POOL_SIZE minus
             * its block size). */
            uint64_t found = (pm->pool_size - maxnext) / ((uint64_t)szidx + 1);

            if ((found == 8 || found == 16) &&
                found * ((uint64_t)szidx + 1) == pm->pool_size - maxnext) {
                pymalloc_set_alignment(pm, l, found);
            }
            pm->alignment_seen = 1;
        }
        size = ((uint64_t)szidx + 1) * pm->alignment;
        blocks = szidx < pm->nclasses
                     ? (pm->pool_size - pm->pool_overhead) / size
                     : 0;
        if (szidx >= pm->nclasses || maxnext != pm->pool_size - size ||
            count > blocks) {
            pm_problem(pm, "the pool at 0x%llx does not look like one",
                       (unsigned long long)b->addrs[i]);
            continue;
        }
        /* The free list's head (after the 8-byte ref union, in every
         * version): none exactly when the pool is full, else a block of
         * this pool.  (The lists are not walked: the counts above do not
         * depend on them.) */
        {
            raddr_t fb = rd64(h, l->poolhdr_count + 8);
            raddr_t first = b->addrs[i] + pm->pool_overhead;

            if ((fb == 0) != (count == blocks) ||
                (fb != 0 && (fb < first || fb >= b->addrs[i] + pm->pool_size ||
                             (fb - first) % size != 0))) {
                pm_problem(pm,
                           "the free list of the pool at 0x%llx is damaged",
                           (unsigned long long)b->addrs[i]);
                continue;
            }
        }
        pm->pools_used++;
        pm->blocks_used += count;
        pm->used_bytes += count * size;
        pm->free_block_bytes += (blocks - count) * size;
    }
    b->n = 0;
    return 0;
}

static int
walk_state(struct py_runtime *rt, struct pymalloc *pm,
           const struct pymalloc_state_ref *st, struct pool_batch *b,
           int arenas_only)
{
    const struct py_layout *l = &rt->layout;
    uint64_t arenas = 0, nslots, i;
    uint32_t maxarenas = 0;
    unsigned char *ao = NULL;
    size_t osize = (size_t)l->arenaobj_size;
    int rc;

    rc = memsrc_read_u64(rt->proc, st->arenas_var, &arenas);
    if (rc == 0 && st->maxarenas_var != 0) {
        rc = memsrc_read_u32(rt->proc, st->maxarenas_var, &maxarenas);
    }
    if (rc < 0) {
        pm_problem(pm, "cannot read pymalloc's arena list");
        return rc == PS_EEXITED ? rc : 0;
    }
    if (arenas == 0) {
        return 0; /* no arena ever allocated */
    }
    if (st->narenas_var != 0) {
        uint64_t n = 0;

        if (memsrc_read_u64(rt->proc, st->narenas_var, &n) == 0) {
            pm->narenas_counter =
                (pm->narenas_counter < 0 ? 0 : pm->narenas_counter) +
                (int64_t)n;
        }
    }
    if (st->maxarenas_var != 0) {
        nslots = maxarenas;
    } else {
        /* Found by search: the array is a malloc'd block; its size word
         * bounds the slots (and realloc sizes it to exactly maxarenas). */
        uint64_t head = 0;

        rc = memsrc_read_u64(rt->proc, arenas - 8, &head);
        nslots = (head & ~(uint64_t)7) > 16
                     ? ((head & ~(uint64_t)7) - 8) / osize
                     : 0;
        if (rc < 0 || nslots == 0) {
            pm_problem(pm, "cannot tell how many arena objects there are");
            return 0;
        }
    }
    if (nslots > PYMALLOC_MAX_ARENAS) {
        pm_problem(pm, "%llu arena objects: more than pyspect reads",
                   (unsigned long long)nslots);
        nslots = PYMALLOC_MAX_ARENAS;
    }
    ao = xmalloc(nslots * osize);
    rc = memsrc_read(rt->proc, arenas, ao, nslots * osize);
    if (rc < 0) {
        free(ao);
        pm_problem(pm, "cannot read %llu arena objects at 0x%llx",
                   (unsigned long long)nslots, (unsigned long long)arenas);
        return rc == PS_EEXITED ? rc : 0;
    }
    for (i = 0; i < nslots; i++) {
        const unsigned char *a = ao + i * osize;
        uint64_t address = rd64(a, l->arenaobj_address);
        uint64_t pool_address = rd64(a, l->arenaobj_pool_address);
        uint32_t nfree = rd32(a, l->arenaobj_nfreepools);
        uint32_t ntotal = rd32(a, l->arenaobj_ntotalpools);
        uint64_t first, carved, p, never;

        if (address == 0) {
            continue;
        }
        first = (address + pm->pool_size - 1) / pm->pool_size * pm->pool_size;
        if (pool_address < first || pool_address > address + pm->arena_size ||
            (pool_address - first) % pm->pool_size != 0 ||
            ntotal > pm->arena_size / pm->pool_size || nfree > ntotal ||
            (pool_address - first) / pm->pool_size > ntotal) {
            pm_problem(pm, "arena object %llu does not describe an arena",
                       (unsigned long long)i);
            if (st->maxarenas_var == 0) {
                break; /* past the end of a searched array */
            }
            continue;
        }
        pm->narenas++;
        XGROW(pm->arena_addrs, pm->arena_addrs_alloc, pm->n_arena_addrs + 1);
        pm->arena_addrs[pm->n_arena_addrs++] = address;
        carved = (pool_address - first) / pm->pool_size;
        never = ntotal - carved;
        pm->pools_free += never;
        pm->free_pool_bytes += never * pm->pool_size;
        for (p = 0; !arenas_only && p < carved; p++) {
            b->addrs[b->n++] = first + p * pm->pool_size;
            if (b->n == PYMALLOC_BATCH) {
                rc = flush_pools(rt, pm, b);
                if (rc < 0) {
                    free(ao);
                    return rc;
                }
            }
        }
    }
    free(ao);
    return flush_pools(rt, pm, b);
}

int
pymalloc_walk_arenas(struct py_runtime *rt, struct pymalloc *pm)
{
    struct pool_batch *b;
    size_t i;
    int rc = 0;

    pm->narenas = 0;
    pm->n_arena_addrs = 0;
    pm->complete = 1;
    pm->problem[0] = '\0';
    if (!pm->found) {
        return 0;
    }
    b = xcalloc(1, sizeof(*b));
    b->hdrs = NULL;
    for (i = 0; i < pm->nstates && rc == 0; i++) {
        rc = walk_state(rt, pm, &pm->states[i], b, 1);
    }
    free(b);
    pm->arenas_bytes = pm->narenas * pm->arena_size;
    return rc;
}

int
pymalloc_walk(struct py_runtime *rt, struct pymalloc *pm)
{
    struct pool_batch *b;
    uint64_t accounted;
    size_t i;
    int rc = 0;

    if (!pm->found) {
        return 0;
    }
    b = xcalloc(1, sizeof(*b));
    b->hdrs = xmalloc(PYMALLOC_BATCH * (size_t)rt->layout.poolhdr_size);
    for (i = 0; i < pm->nstates && rc == 0; i++) {
        rc = walk_state(rt, pm, &pm->states[i], b, 0);
    }
    free(b->hdrs);
    free(b);
    if (rc < 0) {
        return err_set(rc, "the target exited during the pymalloc walk");
    }
    pm->arenas_bytes = pm->narenas * pm->arena_size;
    pm->free_bytes = pm->free_block_bytes + pm->free_pool_bytes;
    accounted = pm->used_bytes + pm->free_bytes;
    pm->overhead_bytes =
        pm->arenas_bytes > accounted ? pm->arenas_bytes - accounted : 0;
    if (accounted > pm->arenas_bytes) {
        pm_problem(pm, "pymalloc blocks add up to more than its arenas");
    }
    if (pm->narenas_counter >= 0 &&
        (uint64_t)pm->narenas_counter != pm->narenas) {
        pm_problem(pm, "%llu arenas found, the allocator counts %lld",
                   (unsigned long long)pm->narenas,
                   (long long)pm->narenas_counter);
    }
    return 0;
}

void
pymalloc_release(struct pymalloc *pm)
{
    free(pm->arena_addrs);
    pm->arena_addrs = NULL;
    pm->n_arena_addrs = pm->arena_addrs_alloc = 0;
}
