/*
 * gc.c - find the collector's state and walk its generation lists.
 *
 * Layer: python.  The list links are the first words of each object's
 * PyGC_Head.  Objects small enough for pymalloc live in pools of
 * POOL_SIZE bytes, each holding blocks of one size after a header that
 * says which size; so instead of one read per node, the reader copies
 * the pool a node is in once, keeps the link word of every block of it
 * (8 bytes per block) and answers later nodes of that pool from there.
 * A pool header that does not check out (malloc'd objects, a pymalloc
 * configured differently) just means single reads: the word kept for an
 * address is always the word read at that address, so a wrong guess
 * about pools costs time, never correctness.
 */
#include "gc.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "core/banned.h"

/* Most interpreters whose GC state is read. */
#define PY_GC_INTERPRETERS_MAX 4096

/*
 * A node sits at the start of its block, or (3.11+, objects with a
 * managed dict) after the pre-header; both words of every block are kept
 * then, as a pool may hold either kind.
 */
struct py_gc_pool {
    raddr_t pool;     /* pool address */
    raddr_t first;    /* first block */
    uint32_t stride;  /* block size */
    uint32_t nblocks; /* blocks ever used (below nextoffset) */
    uint32_t nways;   /* node offsets kept per block: 1 or 2 */
    uint64_t words[]; /* [block * nways + way]: the link word */
};

/* Pools that are not pools. */
static struct py_gc_pool not_a_pool;

static inline int32_t
ldi32(const unsigned char *p, int32_t off)
{
    int32_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

/* Fill gen from a struct gc_generation copied at buf. */
static void
gen_parse(const struct py_layout *l, raddr_t addr, const unsigned char *buf,
          struct py_gc_generation *gen)
{
    memset(gen, 0, sizeof(*gen));
    gen->head = addr + (raddr_t)l->gcgen_head;
    gen->threshold = ldi32(buf, l->gcgen_threshold);
    gen->count = ldi32(buf, l->gcgen_count);
}

static int
read_generations(struct py_runtime *rt, raddr_t gens, struct py_gc_state *st)
{
    const struct py_layout *l = &rt->layout;
    unsigned char buf[4 * 64];
    size_t len = (size_t)l->gcgen_size * PY_GC_GENERATIONS;
    int i, rc;

    if (len > sizeof(buf)) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(rt->proc, gens, buf, len);
    if (rc < 0) {
        return err_set(rc, "cannot read the GC generations");
    }
    for (i = 0; i < PY_GC_GENERATIONS; i++) {
        gen_parse(l, gens + (raddr_t)(i * l->gcgen_size),
                  buf + i * l->gcgen_size, &st->gens[i]);
    }
    return 0;
}

/* 3.7+: the whole struct _gc_runtime_state at addr. */
static int
read_state(struct py_runtime *rt, raddr_t addr, struct py_gc_state *st)
{
    const struct py_layout *l = &rt->layout;
    unsigned char *buf;
    int rc;

    if (l->gcstate_size <= 0 || l->gcstate_size > 4096) {
        return err_set(PS_EINTERNAL, "no GC state layout");
    }
    if (!pyl_has(l->gcstate_generations) || !pyl_has(l->gcstate_enabled) ||
        !pyl_has(l->gcstate_garbage)) {
        /* The target's _Py_DebugOffsets gave a GC state of another size
         * than the headers' (3.14.0 - 3.14.4's incremental collector). */
        return err_set(PS_EVERSION,
                       "Python %s: its garbage collector's state (%d "
                       "bytes) is laid out as pyspect does not know",
                       rt->version.text, l->gcstate_size);
    }
    buf = xmalloc((size_t)l->gcstate_size);
    rc = memsrc_read(rt->proc, addr, buf, (size_t)l->gcstate_size);
    if (rc < 0) {
        free(buf);
        return err_set(rc, "cannot read the GC state");
    }
    st->state = addr;
    st->enabled = ldi32(buf, l->gcstate_enabled) != 0;
    st->collecting = ldi32(buf, l->gcstate_collecting) != 0;
    st->garbage = load_u64(buf, l->gcstate_garbage);
    for (int i = 0; i < PY_GC_GENERATIONS; i++) {
        int32_t off = l->gcstate_generations + i * l->gcgen_size;

        gen_parse(l, addr + (raddr_t)off, buf + off, &st->gens[i]);
    }
    if (pyl_has(l->gcstate_permanent)) {
        st->has_permanent = 1;
        gen_parse(l, addr + (raddr_t)l->gcstate_permanent,
                  buf + l->gcstate_permanent, &st->permanent);
    }
    free(buf);
    return 0;
}

/* A static of gcmodule.c (3.6) by name, if the .symtab has it with the
 * expected size. */
static int
static_var(struct py_runtime *rt, const char *name, uint64_t size,
           raddr_t *addr)
{
    struct elf_symbol sym;

    if (elf_image_symbol(rt->elf, name, &sym) < 0 || sym.size != size) {
        return PS_ENOTFOUND;
    }
    *addr = sym.value + rt->bias;
    return 0;
}

static int
read_state_36(struct py_runtime *rt, struct py_gc_state *st)
{
    raddr_t gen0, addr;
    uint64_t head = 0;
    int32_t v;
    int rc;

    /* _PyGC_generation0 (exported) points at generations[0].head. */
    rc = py_runtime_symbol(rt, "_PyGC_generation0", &gen0);
    if (rc == 0) {
        rc = memsrc_read_u64(rt->proc, gen0, &head);
    }
    if (rc < 0 || head == 0) {
        return err_set(rc < 0 ? rc : PS_ENOTREADY,
                       "cannot find the GC generations (_PyGC_generation0)");
    }
    rc = read_generations(rt, head - (raddr_t)rt->layout.gcgen_head, st);
    if (rc < 0) {
        return rc;
    }
    st->enabled = st->collecting = -1;
    if (static_var(rt, "enabled", 4, &addr) == 0 &&
        memsrc_read_i32(rt->proc, addr, &v) == 0) {
        st->enabled = v != 0;
    }
    if (static_var(rt, "collecting", 4, &addr) == 0 &&
        memsrc_read_i32(rt->proc, addr, &v) == 0) {
        st->collecting = v != 0;
    }
    if (static_var(rt, "garbage", 8, &addr) == 0) {
        memsrc_read_u64(rt->proc, addr, &st->garbage);
    }
    err_clear();
    return 0;
}

int
py_gc_states(struct py_runtime *rt, struct py_gc_state **states, size_t *n)
{
    const struct py_layout *l = &rt->layout;
    struct py_gc_state *v = NULL;
    size_t count = 0, alloc = 0;
    int rc = 0;

    if (pyl_has(l->interp_gc)) {
        raddr_t interp, main_interp = 0;
        size_t i;

        rc = py_runtime_interp_head(rt, &interp);
        if (rc < 0) {
            return rc;
        }
        if (rt->runtime != 0 && pyl_has(l->rt_interpreters_main)) {
            memsrc_read_u64(rt->proc, rt->runtime + l->rt_interpreters_main,
                            &main_interp);
        }
        while (interp != 0 && rc == 0) {
            if (count >= PY_GC_INTERPRETERS_MAX) {
                rc = err_set(PS_ELIMIT, "too many interpreters");
                break;
            }
            for (i = 0; i < count; i++) {
                if (v[i].interp == interp) {
                    break;
                }
            }
            if (i < count) {
                rc = err_set(PS_ECORRUPT, "the interpreter list loops");
                break;
            }
            XGROW(v, alloc, count + 1);
            memset(&v[count], 0, sizeof(v[count]));
            v[count].interp = interp;
            rc = read_state(rt, interp + (raddr_t)l->interp_gc, &v[count]);
            if (rc < 0) {
                break;
            }
            count++;
            rc = memsrc_read_u64(rt->proc, interp + l->interp_next, &interp);
        }
        /* The main interpreter first (the list is newest first). */
        for (i = 1; rc == 0 && i < count; i++) {
            if (v[i].interp == main_interp) {
                struct py_gc_state t = v[0];

                v[0] = v[i];
                v[i] = t;
            }
        }
    } else {
        v = xcalloc(1, sizeof(*v));
        count = 1;
        if (pyl_has(l->rt_gc) && rt->runtime != 0) {
            rc = read_state(rt, rt->runtime + (raddr_t)l->rt_gc, &v[0]);
        } else {
            rc = read_state_36(rt, &v[0]);
        }
    }
    if (rc < 0) {
        free(v);
        return rc;
    }
    *states = v;
    *n = count;
    return 0;
}

void
py_gc_reader_init(struct py_gc_reader *r, struct py_runtime *rt,
                  struct memsrc *mem)
{
    memset(r, 0, sizeof(*r));
    r->rt = rt;
    r->mem = mem;
    hashmap_init(&r->pools);
}

void
py_gc_reader_release(struct py_gc_reader *r)
{
    size_t i = 0;
    uint64_t key;
    void *value;

    while (hashmap_next(&r->pools, &i, &key, &value)) {
        if (value != &not_a_pool) {
            free(value);
        }
    }
    hashmap_release(&r->pools);
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

/*
 * Copy the pool at pool and keep its blocks' link words, or return
 * &not_a_pool when the memory there is not a pool in use.
 */
static struct py_gc_pool *
load_pool(struct py_gc_reader *r, raddr_t pool)
{
    const struct py_layout *l = &r->rt->layout;
    uint32_t psize = (uint32_t)l->obm_pool_size;
    uint32_t align = (uint32_t)l->obm_alignment;
    uint32_t hdr = ((uint32_t)l->poolhdr_size + align - 1) & ~(align - 1);
    uint32_t szidx, size, next, maxnext, count, n, i, w, nways;
    uint32_t ways[2] = {0, 0};
    struct py_gc_pool *p;

    if (r->buf == NULL) {
        r->buf = xmalloc(psize);
    }
    r->pool_reads++;
    if (memsrc_read(r->rt->proc, pool, r->buf, psize) < 0) {
        return &not_a_pool;
    }
    count = load_u32(r->buf, l->poolhdr_count);
    szidx = load_u32(r->buf, l->poolhdr_szidx);
    next = load_u32(r->buf, l->poolhdr_nextoffset);
    maxnext = load_u32(r->buf, l->poolhdr_maxnextoffset);
    if (szidx >= (uint32_t)l->obm_small_request_threshold / align) {
        return &not_a_pool;
    }
    size = (szidx + 1) * align;
    if (maxnext != psize - size || next < hdr || next > psize ||
        (next - hdr) % size != 0 || count == 0 ||
        count > (next - hdr) / size) {
        return &not_a_pool;
    }
    n = (next - hdr) / size;
    nways = 1;
    if (pyl_has(l->preheader_size) && l->preheader_size > 0) {
        ways[nways++] = (uint32_t)l->preheader_size;
    }
    p = xmalloc(sizeof(*p) + (size_t)n * nways * sizeof(uint64_t));
    p->pool = pool;
    p->first = pool + hdr;
    p->stride = size;
    p->nblocks = n;
    p->nways = nways;
    for (i = 0; i < n; i++) {
        for (w = 0; w < nways; w++) {
            uint32_t at = hdr + i * size + ways[w] + (uint32_t)l->gchead_next;

            p->words[i * nways + w] =
                at + 8 <= psize ? load_u64(r->buf, (int32_t)at) : 0;
        }
    }
    r->memory += sizeof(*p) + (size_t)n * nways * sizeof(uint64_t);
    return p;
}

/* The list link word of the node at node. */
static int
read_link(struct py_gc_reader *r, raddr_t node, raddr_t *out)
{
    const struct py_layout *l = &r->rt->layout;
    raddr_t pool = node & ~(raddr_t)(l->obm_pool_size - 1);
    struct py_gc_pool *p = r->last;
    uint64_t word;
    int rc;

    if (p == NULL || p->pool != pool) {
        void **slot = hashmap_slot(&r->pools, pool);

        if (*slot == NULL) {
            *slot = load_pool(r, pool);
        }
        p = *slot;
        r->last = p;
    }
    word = 0;
    if (p != &not_a_pool && node >= p->first &&
        (node - p->first) / p->stride < p->nblocks) {
        uint64_t block = (node - p->first) / p->stride;
        uint64_t rel = (node - p->first) % p->stride;

        if (rel == 0) {
            word = p->words[block * p->nways];
            goto done;
        }
        if (p->nways == 2 && rel == (uint64_t)l->preheader_size) {
            word = p->words[block * p->nways + 1];
            goto done;
        }
    }
    r->node_reads++;
    rc = memsrc_read_u64(r->mem, node + (raddr_t)l->gchead_next, &word);
    if (rc < 0) {
        return rc;
    }
done:
    /* 3.8+ keep flags in the low bits during a collection. */
    *out = word & ~(raddr_t)3;
    return 0;
}

int
py_gc_walk(struct py_gc_reader *r, struct py_gc_generation *gen,
           int (*fn)(void *arg, raddr_t obj), void *arg)
{
    int32_t hsize = r->rt->layout.gchead_size;
    raddr_t node;
    uint64_t n = 0;
    int rc;

    rc = read_link(r, gen->head, &node);
    while (rc == 0 && node != gen->head) {
        if (node < 4096 || (node & 7) != 0 || node >> 47) {
            rc = PS_ECORRUPT;
            break;
        }
        if (n >= PY_GC_LIST_MAX) {
            rc = PS_ELIMIT;
            break;
        }
        rc = fn(arg, node + (raddr_t)hsize);
        if (rc != 0) {
            rc = rc == 1 ? PS_ECORRUPT : rc;
            break;
        }
        n++;
        rc = read_link(r, node, &node);
    }
    gen->objects = n;
    gen->error = rc;
    return rc;
}
