/*
 * census_synth.h - a small heap of Python objects built by hand.
 *
 * Layer: tests.  Type objects (the builtins, and a class mod.Klass with
 * one __slots__ member), str, int, tuple and list objects laid out in a
 * buffer with the generated layout of a version, and a runtime over it.
 * Shared by the census tests and the fuzz harness; every function is
 * static.
 */
#ifndef PYSPECT_TESTS_CENSUS_SYNTH_H
#define PYSPECT_TESTS_CENSUS_SYNTH_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "python/census.h"
#include "python/layout.h"
#include "python/runtime.h"
#include "target/memsrc.h"
#include "target/target.h"

#define BASE 0x100000000ull
/* The heap's size; a user may choose a smaller one. */
#ifndef HEAP_SIZE
#define HEAP_SIZE (1u << 20)
#endif
#define FAKE_TRAVERSE 0x7f00deadbee0ull
#define T_OBJECT_EX 16

struct fake {
    const struct py_layout *l;
    unsigned char *mem;
    size_t used;
    struct census_builtins b;
    raddr_t klass; /* a class with one __slots__ member at 16 */
};

static inline raddr_t
fk_alloc(struct fake *f, size_t n)
{
    raddr_t a;

    f->used = (f->used + 15) & ~(size_t)15;
    if (f->used + n > HEAP_SIZE) {
        abort();
    }
    a = BASE + f->used;
    f->used += n;
    return a;
}

static inline void
fk_put(struct fake *f, raddr_t at, int32_t off, uint64_t v)
{
    memcpy(f->mem + (at - BASE) + off, &v, 8);
}

static inline void
fk_put32(struct fake *f, raddr_t at, int32_t off, uint32_t v)
{
    memcpy(f->mem + (at - BASE) + off, &v, 4);
}

static inline raddr_t
fk_cstr(struct fake *f, const char *s)
{
    raddr_t a = fk_alloc(f, strlen(s) + 1);

    memcpy(f->mem + (a - BASE), s, strlen(s) + 1);
    return a;
}

static inline raddr_t
fk_type(struct fake *f, raddr_t meta, const char *name, int64_t basicsize,
        int64_t itemsize, uint64_t flags, raddr_t base)
{
    const struct py_layout *l = f->l;
    int heap = (flags & (uint64_t)l->tpflags_heaptype) != 0;
    raddr_t t = fk_alloc(f, (size_t)(heap ? l->heaptype_size : l->type_size));

    fk_put(f, t, l->obj_refcnt, 1);
    fk_put(f, t, l->obj_type, meta ? meta : t);
    fk_put(f, t, l->type_name, fk_cstr(f, name));
    fk_put(f, t, l->type_basicsize, (uint64_t)basicsize);
    fk_put(f, t, l->type_itemsize, (uint64_t)itemsize);
    fk_put(f, t, l->type_flags, flags);
    fk_put(f, t, l->type_base, base);
    return t;
}

static inline raddr_t
fk_obj(struct fake *f, raddr_t type, size_t size)
{
    raddr_t o = fk_alloc(f, size);

    fk_put(f, o, f->l->obj_refcnt, 1);
    fk_put(f, o, f->l->obj_type, type);
    return o;
}

/* sys.getsizeof() of an ASCII str of n characters. */
static inline uint64_t
str_size(const struct py_layout *l, uint64_t n)
{
    if (pyl_has(l->unicode_str)) {
        return (uint64_t)l->unicode_object_size +
               (n + 1) * (uint64_t)l->unicode_char_size;
    }
    return (uint64_t)l->unicode_ascii_size + n + 1;
}

static inline raddr_t
fk_str(struct fake *f, const char *s)
{
    const struct py_layout *l = f->l;
    size_t n = strlen(s), i;
    raddr_t o, buf;
    uint32_t state;

    if (pyl_has(l->unicode_str)) {
        /* 2.7: a Py_UNICODE buffer behind a pointer. */
        o = fk_obj(f, f->b.types[CENSUS_STR], (size_t)l->unicode_object_size);
        buf = fk_alloc(f, (n + 1) * (size_t)l->unicode_char_size);
        for (i = 0; i < n; i++) {
            fk_put32(f, buf, (int32_t)(i * 4), (uint8_t)s[i]);
        }
        fk_put(f, o, l->unicode_length, n);
        fk_put(f, o, l->unicode_str, buf);
        return o;
    }
    o = fk_obj(f, f->b.types[CENSUS_STR],
               (size_t)l->unicode_ascii_size + n + 1);
    state = (1u << l->unicode_state_kind_shift) |
            (1u << l->unicode_state_compact_bit) |
            (1u << l->unicode_state_ascii_bit);
    if (pyl_has(l->unicode_state_ready_bit)) {
        state |= 1u << l->unicode_state_ready_bit;
    }
    fk_put(f, o, l->unicode_length, n);
    fk_put(f, o, l->unicode_hash, (uint64_t)-1);
    fk_put32(f, o, l->unicode_state, state);
    memcpy(f->mem + (o - BASE) + l->unicode_ascii_size, s, n + 1);
    return o;
}

static inline raddr_t
fk_int(struct fake *f, uint32_t v)
{
    const struct py_layout *l = f->l;
    raddr_t o = fk_obj(f, f->b.types[CENSUS_INT], (size_t)l->long_digit + 4);

    if (pyl_has(l->long_lv_tag)) {
        fk_put(f, o, l->long_lv_tag, (uint64_t)(v ? 1 : 0) << 3);
    } else {
        fk_put(f, o, l->var_size, v ? 1 : 0);
    }
    fk_put32(f, o, l->long_digit, v);
    return o;
}

static inline raddr_t
fk_tuple(struct fake *f, size_t n, const raddr_t *items)
{
    const struct py_layout *l = f->l;
    raddr_t o = fk_obj(f, f->b.types[CENSUS_TUPLE],
                       (size_t)l->tuple_item + 8 * (n ? n : 1));
    size_t i;

    fk_put(f, o, l->var_size, n);
    for (i = 0; i < n; i++) {
        fk_put(f, o, l->tuple_item + 8 * (int32_t)i, items[i]);
    }
    return o;
}

static inline raddr_t
fk_list(struct fake *f, size_t n, size_t allocated, const raddr_t *items)
{
    const struct py_layout *l = f->l;
    raddr_t o = fk_obj(f, f->b.types[CENSUS_LIST], (size_t)l->list_size);
    raddr_t a = fk_alloc(f, 8 * (allocated ? allocated : 1));
    size_t i;

    fk_put(f, o, l->var_size, n);
    fk_put(f, o, l->list_allocated, allocated);
    fk_put(f, o, l->list_item, a);
    for (i = 0; i < n; i++) {
        fk_put(f, a, 8 * (int32_t)i, items[i]);
    }
    return o;
}

/* The builtin types, and a class `mod.Klass` with __slots__ = ('x',). */
static inline void
fk_builtins(struct fake *f)
{
    const struct py_layout *l = f->l;
    uint64_t gc = (uint64_t)l->tpflags_have_gc;
    uint64_t heap = (uint64_t)l->tpflags_heaptype;
    raddr_t type, object, members, slots, name;

    memset(&f->b, 0, sizeof(f->b));
    type = fk_type(f, 0, "type", l->heaptype_size, l->memberdef_size,
                   gc | (1ull << l->tpflags_type_subclass_bit), 0);
    object = fk_type(f, type, "object", 16, 0, 0, 0);
    fk_put(f, type, l->type_base, object);
    f->b.types[CENSUS_TYPE] = type;
    f->b.types[CENSUS_OBJECT] = object;
    f->b.types[CENSUS_STR] =
        fk_type(f, type, "str", l->unicode_object_size, 0, 0, object);
    f->b.types[CENSUS_INT] =
        fk_type(f, type, "int", l->long_digit, 4, 0, object);
    f->b.types[CENSUS_TUPLE] =
        fk_type(f, type, "tuple", l->tuple_item, 8, gc, object);
    f->b.types[CENSUS_LIST] =
        fk_type(f, type, "list", l->list_size, 0, gc, object);
    f->b.subtype_traverse = FAKE_TRAVERSE;
    f->klass = fk_type(f, type, "mod.Klass", 24, 0, gc | heap, object);
    fk_put(f, f->klass, l->type_traverse, FAKE_TRAVERSE);
    members = fk_alloc(f, 2 * (size_t)l->memberdef_size);
    fk_put(f, members, l->memberdef_name, fk_cstr(f, "x"));
    fk_put32(f, members, l->memberdef_type, T_OBJECT_EX);
    fk_put(f, members, l->memberdef_offset, 16);
    fk_put(f, f->klass, l->type_members, members);
    fk_put(f, f->klass, l->var_size, 1);
    name = fk_str(f, "x");
    slots = fk_tuple(f, 1, &name);
    fk_put(f, f->klass, l->heaptype_slots, slots);
    fk_put(f, f->klass, l->heaptype_name, fk_str(f, "Klass"));
}

static inline void
fk_init(struct fake *f, const struct py_layout *l)
{
    memset(f, 0, sizeof(*f));
    f->l = l;
    f->mem = xcalloc(1, HEAP_SIZE);
    fk_builtins(f);
}

static inline struct py_runtime *
fk_runtime(struct fake *f, struct memsrc **mem)
{
    struct py_runtime *rt = xcalloc(1, sizeof(*rt));

    rt->layout = *f->l;
    rt->proc = memsrc_buffer_new();
    memsrc_buffer_add(rt->proc, BASE, f->mem, HEAP_SIZE);
    rt->mem = rt->proc;
    rt->reader.rt = rt;
    rt->reader.mem = rt->mem;
    rt->str_type = f->b.types[CENSUS_STR];
    rt->bytes_type = f->b.types[CENSUS_BYTES];
    /* Messages name the target; its own memory is not read. */
    rt->target = target_from_memsrc(memsrc_buffer_new());
    *mem = rt->proc;
    return rt;
}

static inline void
fk_runtime_free(struct py_runtime *rt)
{
    memsrc_free(rt->proc);
    target_free(rt->target);
    free(rt);
}

#endif /* PYSPECT_TESTS_CENSUS_SYNTH_H */
