/*
 * freelists.c - find Python 2.7's int and float free-list blocks.
 *
 * Layer: python.  See freelists.h.  Two reads of each candidate: the
 * first keeps the chunks shaped like a block on their own (every slot a
 * live object or a free one, not both kinds of object), the second keeps
 * those whose links all lead into the blocks the first kept; only these
 * are counted.  Memory stays bounded by the candidates' addresses.
 */
#include "freelists.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "core/banned.h"

/* A reference count above this is not one. */
#define REFCNT_MAX (1ULL << 40)
/* Candidates read per batch. */
#define FREELIST_BATCH 256
/* The largest block read (2.7 on x86-64: 992 bytes). */
#define FREELIST_BLOCK_MAX 4096
/* Most candidates remembered (about 1 GiB of blocks). */
#define FREELIST_MAX (1u << 20)

enum { KIND_INT, KIND_FLOAT, KIND_EMPTY };

struct py_freelist_block {
    raddr_t addr; /* the block (malloc's user data) */
    int ok;       /* passed the checks so far */
    int kind;     /* KIND_*: what its live objects are */
};

/* The geometry of a block (int and float blocks share it on 64-bit: a
 * link, then 24-byte objects). */
struct geometry {
    uint64_t size, objects, objsize, n;
};

static void
geometry(const struct py_freelists *f, struct geometry *g)
{
    const struct py_layout *l = &f->rt->layout;

    g->size = (uint64_t)l->intblock_size;
    g->objects = (uint64_t)l->intblock_objects;
    g->objsize = (uint64_t)l->int_size;
    g->n = (g->size - g->objects) / g->objsize;
}

static inline int
plausible(uint64_t a)
{
    return a >= 4096 && (a & 7) == 0 && (a >> 47) == 0;
}

void
py_freelists_init(struct py_freelists *f, struct py_runtime *rt)
{
    const struct py_layout *l = &rt->layout;

    memset(f, 0, sizeof(*f));
    f->rt = rt;
    /* Blocks of one geometry for both (what 64-bit builds have). */
    if (!pyl_has(l->intblock_size) || l->int_size <= 0 ||
        l->intblock_size > FREELIST_BLOCK_MAX ||
        l->intblock_size <= l->intblock_objects ||
        l->floatblock_size != l->intblock_size ||
        l->floatblock_objects != l->intblock_objects ||
        l->float_size != l->int_size || rt->int_type == 0 ||
        rt->float_type == 0) {
        return;
    }
    f->int_type = rt->int_type;
    f->float_type = rt->float_type;
    /* glibc's chunk for a request: 8 bytes of size, 16-aligned. */
    f->chunk_size = ((uint64_t)l->intblock_size + 8 + 15) & ~(uint64_t)15;
    f->enabled = 1;
}

void
py_freelists_release(struct py_freelists *f)
{
    free(f->v);
    memset(f, 0, sizeof(*f));
}

/* Could the 24 bytes at p be a slot of a block of this geometry? */
static int
slot_looks_right(const struct py_freelists *f, const unsigned char *p)
{
    uint64_t refcnt = load_u64(p, 0), type = load_u64(p, 8);

    if (type == f->int_type || type == f->float_type) {
        return refcnt > 0 && refcnt < REFCNT_MAX;
    }
    return type == 0 || plausible(type);
}

void
py_freelists_consider(struct py_freelists *f, raddr_t addr, uint64_t size,
                      const unsigned char *data, size_t len)
{
    struct geometry g;
    uint64_t next;

    if (!f->enabled || size != f->chunk_size || len < 8 ||
        f->n >= FREELIST_MAX) {
        return;
    }
    geometry(f, &g);
    next = load_u64(data, 0);
    if ((next != 0 && !plausible(next)) ||
        (len >= g.objects + g.objsize &&
         !slot_looks_right(f, data + g.objects))) {
        return;
    }
    XGROW(f->v, f->alloc, f->n + 1);
    f->v[f->n].addr = addr;
    f->v[f->n].ok = 1;
    f->v[f->n].kind = KIND_EMPTY;
    f->n++;
}

/* The block that holds address a (a block start or a slot), or NULL. */
static const struct py_freelist_block *
block_at(const struct py_freelists *f, raddr_t a)
{
    size_t lo = 0, hi = f->n;
    const struct py_freelist_block *b;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (f->v[mid].addr <= a) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == 0) {
        return NULL;
    }
    b = &f->v[lo - 1];
    return b->ok ? b : NULL;
}

/* Is link a slot of some block that may hold objects of kind? */
static int
link_ok(const struct py_freelists *f, raddr_t link, int kind)
{
    const struct py_freelist_block *b = block_at(f, link);
    struct geometry g;
    uint64_t rel;

    if (b == NULL ||
        (b->kind != kind && b->kind != KIND_EMPTY && kind != KIND_EMPTY)) {
        return 0;
    }
    geometry(f, &g);
    rel = link - b->addr;
    return rel >= g.objects && rel < g.objects + g.n * g.objsize &&
           (rel - g.objects) % g.objsize == 0;
}

/*
 * Check one block's copy.  Pass 1 (links = 0): its slots alone; pass 2:
 * its links too, and count it.
 */
static void
check_block(struct py_freelists *f, struct py_freelist_block *b,
            const unsigned char *p, int links)
{
    uint64_t live[2] = {0, 0}, nfree = 0, nnull = 0, i, next;
    struct geometry g;
    int kind;

    geometry(f, &g);
    next = load_u64(p, 0);
    if (links && next != 0 &&
        (block_at(f, next) == NULL || block_at(f, next)->addr != next)) {
        b->ok = 0;
        return;
    }
    for (i = 0; i < g.n; i++) {
        const unsigned char *s = p + g.objects + i * g.objsize;
        uint64_t refcnt = load_u64(s, 0), type = load_u64(s, 8);

        if (type == f->int_type || type == f->float_type) {
            if (refcnt == 0 || refcnt >= REFCNT_MAX) {
                b->ok = 0;
                return;
            }
            live[type == f->float_type]++;
            continue;
        }
        if (type != 0 && !plausible(type)) {
            b->ok = 0;
            return;
        }
        nfree++;
        nnull += type == 0;
    }
    if ((live[0] && live[1]) || (!live[0] && !live[1] && nnull > g.n / 2)) {
        b->ok = 0; /* two kinds at once, or zeroed memory */
        return;
    }
    kind = live[0] ? KIND_INT : live[1] ? KIND_FLOAT : KIND_EMPTY;
    b->kind = kind;
    if (!links) {
        return;
    }
    for (i = 0; i < g.n; i++) {
        const unsigned char *s = p + g.objects + i * g.objsize;
        uint64_t type = load_u64(s, 8);

        if (type != 0 && type != f->int_type && type != f->float_type &&
            !link_ok(f, type, kind)) {
            b->ok = 0;
            return;
        }
    }
    f->blocks++;
    f->bytes += f->chunk_size;
    f->ints += live[0];
    f->int_bytes += live[0] * g.objsize;
    f->floats += live[1];
    f->float_bytes += live[1] * g.objsize;
    f->free_slots += nfree;
    f->free_bytes += nfree * g.objsize;
    if (kind == KIND_EMPTY) {
        f->empty_blocks++;
        f->empty_bytes += f->chunk_size;
    }
}

static int
block_cmp(const void *x, const void *y)
{
    const struct py_freelist_block *a = x, *b = y;

    return (a->addr > b->addr) - (a->addr < b->addr);
}

int
py_freelists_finish(struct py_freelists *f, struct memsrc *src)
{
    raddr_t addrs[FREELIST_BATCH];
    unsigned char ok[FREELIST_BATCH];
    struct py_freelist_block *pending[FREELIST_BATCH];
    unsigned char *buf;
    size_t len, i, k, nb;
    int pass, rc = 0;

    if (!f->enabled || f->n == 0) {
        return 0;
    }
    len = (size_t)f->rt->layout.intblock_size;
    qsort(f->v, f->n, sizeof(*f->v), block_cmp);
    buf = xmalloc(FREELIST_BATCH * len);
    for (pass = 0; pass < 2 && rc == 0; pass++) {
        for (i = 0; i < f->n && rc == 0; i += nb) {
            for (nb = 0, k = i; k < f->n && nb < FREELIST_BATCH; k++) {
                if (f->v[k].ok) {
                    addrs[nb] = f->v[k].addr;
                    pending[nb++] = &f->v[k];
                }
            }
            if (nb == 0) {
                break;
            }
            rc = memsrc_read_many(src, addrs, nb, len, buf, ok);
            for (k = 0; rc == 0 && k < nb; k++) {
                if (!ok[k]) {
                    pending[k]->ok = 0;
                } else {
                    check_block(f, pending[k], buf + k * len, pass);
                }
            }
            /* Continue after the last candidate taken. */
            nb = (size_t)(pending[nb - 1] - &f->v[i]) + 1;
        }
    }
    free(buf);
    return rc;
}
