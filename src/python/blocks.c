/*
 * blocks.c - recognise Python objects at the start of allocator blocks.
 *
 * Layer: python.  See blocks.h for the checks.
 */
#include "blocks.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/xalloc.h"
#include "python/pyobj.h"
#include "core/banned.h"

/* A reference count above this is not one (3.12+ immortal objects use
 * 2^32 - 1 and a little more). */
#define REFCNT_MAX (1ULL << 40)

static char not_a_type;

int
py_blocks_init(struct py_blocks *c, struct py_runtime *rt)
{
    memset(c, 0, sizeof(*c));
    c->rt = rt;
    hashmap_init(&c->types);
    hashmap_init(&c->not_types);
    if (py_runtime_symbol(rt, "PyType_Type", &c->type_type) < 0) {
        return err_set(PS_ENOTFOUND, "no PyType_Type symbol");
    }
    return 0;
}

void
py_blocks_release(struct py_blocks *c)
{
    size_t it = 0;
    uint64_t key;
    void *v;

    while (hashmap_next(&c->types, &it, &key, &v)) {
        struct py_blocks_type *t = v;

        free(t->name);
        free(t);
    }
    hashmap_release(&c->types);
    hashmap_release(&c->not_types);
}

static uint64_t
word(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* Is addr the address of a type object?  The answer is cached. */
static struct py_blocks_type *
blocks_type(struct py_blocks *c, raddr_t addr)
{
    const struct py_layout *l = &c->rt->layout;
    struct py_blocks_type *t;
    const struct map_entry *e;
    uint64_t meta = 0, name = 0, basicsize = 0, flags = 0;
    struct strbuf sb = STRBUF_INIT;

    if (addr == 0 || (addr & 7) != 0) {
        return NULL;
    }
    t = hashmap_get(&c->types, addr);
    if (t != NULL) {
        return t;
    }
    if (hashmap_get(&c->not_types, addr) != NULL) {
        return NULL;
    }
    c->type_checks++;
    e = maps_find(&c->rt->maps, addr);
    if (e == NULL || e->perms[0] != 'r' || e->perms[1] != 'w' ||
        memsrc_read_u64(c->rt->mem, addr + l->obj_type, &meta) < 0 ||
        !py_type_is_metatype(&c->rt->reader, meta, c->type_type) ||
        memsrc_read_u64(c->rt->mem, addr + l->type_name, &name) < 0 ||
        memsrc_read_u64(c->rt->mem, addr + l->type_basicsize, &basicsize) <
            0 ||
        memsrc_read_u64(c->rt->mem, addr + l->type_flags, &flags) < 0 ||
        basicsize < 16 || basicsize > (1u << 20) ||
        py_cstr_read(&c->rt->reader, name, 200, &sb) < 0 || sb.len == 0) {
        strbuf_release(&sb);
        err_clear();
        if (c->not_types.count >= PY_CENSUS_MAX_NEGATIVE) {
            hashmap_clear(&c->not_types);
        }
        hashmap_put(&c->not_types, addr, &not_a_type);
        return NULL;
    }
    t = xcalloc(1, sizeof(*t));
    t->type = addr;
    t->name = strbuf_detach(&sb);
    t->basicsize = basicsize;
    t->flags = (unsigned long)flags;
    hashmap_put(&c->types, addr, t);
    return t;
}

int
py_blocks_block(struct py_blocks *c, raddr_t addr, uint64_t size,
                const unsigned char *data, size_t len)
{
    const struct py_layout *l = &c->rt->layout;
    uint64_t gc = (uint64_t)l->gchead_size;
    uint64_t pre = 2 * 8;
    uint64_t offsets[3];
    int kinds[3]; /* 0: no GC, 1: GC, 2: GC with a pre-header */
    size_t i, n = 0;

    (void)addr;
    c->blocks++;
    c->block_bytes += size;
    offsets[n] = 0;
    kinds[n++] = 0;
    offsets[n] = gc;
    kinds[n++] = 1;
    if (pyl_has(l->tpflags_managed_dict)) {
        offsets[n] = gc + pre;
        kinds[n++] = 2;
    }
    for (i = 0; i < n; i++) {
        uint64_t off = offsets[i], refcnt, tp;
        struct py_blocks_type *t;
        unsigned long have_gc = (unsigned long)l->tpflags_have_gc;
        unsigned long managed = 0;

        if (off + 16 > len) {
            break;
        }
        refcnt = word(data + off + l->obj_refcnt);
        tp = word(data + off + l->obj_type);
        if (refcnt == 0 || refcnt > REFCNT_MAX || tp == 0 || (tp & 7)) {
            continue;
        }
        t = blocks_type(c, tp);
        if (t == NULL) {
            continue;
        }
        if (pyl_has(l->tpflags_managed_dict)) {
            managed |= (unsigned long)l->tpflags_managed_dict;
        }
        if (pyl_has(l->tpflags_managed_weakref)) {
            managed |= (unsigned long)l->tpflags_managed_weakref;
        }
        if ((kinds[i] == 0) != ((t->flags & have_gc) == 0) ||
            (kinds[i] == 2) != ((t->flags & managed) != 0) ||
            off + t->basicsize > size) {
            continue;
        }
        t->count++;
        t->bytes += size;
        c->objects++;
        c->bytes += size;
        return 1;
    }
    return 0;
}

static int
type_cmp(const void *x, const void *y)
{
    const struct py_blocks_type *a = *(const struct py_blocks_type *const *)x;
    const struct py_blocks_type *b = *(const struct py_blocks_type *const *)y;

    if (a->bytes != b->bytes) {
        return a->bytes > b->bytes ? -1 : 1;
    }
    return strcmp(a->name, b->name);
}

void
py_blocks_types(const struct py_blocks *c, struct py_blocks_type ***out,
                size_t *n)
{
    size_t it = 0, k = 0;
    uint64_t key;
    void *v;

    *out = xcalloc(c->types.count + 1, sizeof(**out));
    while (hashmap_next(&c->types, &it, &key, &v)) {
        struct py_blocks_type *t = v;

        if (t->count > 0) {
            (*out)[k++] = t;
        }
    }
    qsort(*out, k, sizeof(**out), type_cmp);
    *n = k;
}
