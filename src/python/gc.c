/*
 * gc.c - find the collector's state and walk its generation lists.
 *
 * Layer: python.  The list links are the first words of each object's
 * PyGC_Head, read through a chunk cache (the heap walk's): objects sit
 * together in pymalloc's pools, so a walk over a million nodes costs a
 * few thousand reads, and leaves the chunks for the census to use.
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
}

void
py_gc_reader_release(struct py_gc_reader *r)
{
    memset(r, 0, sizeof(*r));
}

/*
 * The list link word of the node at node.  Read through the walk's chunk
 * cache: the nodes of a list sit together in pymalloc's pools, so the
 * whole list costs a read per chunk of them, and the census that follows
 * finds the same chunks there.
 */
static int
read_link(struct py_gc_reader *r, raddr_t node, raddr_t *out)
{
    uint64_t word = 0;
    int rc;

    r->links++;
    rc = memsrc_read_u64(r->mem, node + (raddr_t)r->rt->layout.gchead_next,
                         &word);
    if (rc < 0) {
        return rc;
    }
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
