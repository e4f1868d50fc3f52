/*
 * synth.h - a tiny synthetic CPython runtime in local buffers.
 *
 * Layer: tests.  Builds, for any generated layout, an interpreter with
 * one thread of three frames (inner -> middle -> outer, each on line
 * 10*i + 1), their code objects and strings, in one memory image served
 * through the memsrc buffer backend.  Shared by the walker and sampler
 * tests; every function is static.
 */
#ifndef PYSPECT_TESTS_SYNTH_H
#define PYSPECT_TESTS_SYNTH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/layout.h"
#include "python/runtime.h"
#include "target/memsrc.h"

#define BASE 0x10000000ull
/* The image's size; a user may choose a smaller one. */
#ifndef SIZE
#define SIZE (1u << 20)
#endif

struct image {
    unsigned char *mem;
    size_t used;
    const struct py_layout *l;
    raddr_t code_type, str_type, bytes_type;
};

static inline raddr_t
img_alloc(struct image *im, size_t n)
{
    raddr_t a = BASE + im->used;

    im->used = (im->used + n + 31) & ~(size_t)15;
    if (im->used > SIZE) {
        abort();
    }
    return a;
}

static inline void
put64(struct image *im, raddr_t addr, int32_t off, uint64_t v)
{
    memcpy(im->mem + (addr - BASE) + off, &v, 8);
}

static inline void
put32(struct image *im, raddr_t addr, int32_t off, uint32_t v)
{
    memcpy(im->mem + (addr - BASE) + off, &v, 4);
}

static inline raddr_t make_bytes(struct image *im, const unsigned char *b,
                                 size_t n);

/* A str: PEP 393 (3.x), or a byte string (2.7, where str is bytes). */
static inline raddr_t
make_str(struct image *im, const char *s)
{
    const struct py_layout *l = im->l;
    size_t n = strlen(s);
    raddr_t a;
    uint32_t state;

    if (pyl_has(l->str_is_bytes) && l->str_is_bytes) {
        return make_bytes(im, (const unsigned char *)s, n);
    }
    a = img_alloc(im, (size_t)l->unicode_ascii_size + n + 1);
    state = (1u << l->unicode_state_kind_shift) |
            (1u << l->unicode_state_compact_bit) |
            (1u << l->unicode_state_ascii_bit);
    if (pyl_has(l->unicode_state_ready_bit)) {
        state |= 1u << l->unicode_state_ready_bit;
    }
    put64(im, a, l->obj_type, im->str_type);
    put64(im, a, l->unicode_length, n);
    put32(im, a, l->unicode_state, state);
    memcpy(im->mem + (a - BASE) + l->unicode_ascii_size, s, n + 1);
    return a;
}

static inline raddr_t
make_bytes(struct image *im, const unsigned char *b, size_t n)
{
    const struct py_layout *l = im->l;
    raddr_t a = img_alloc(im, (size_t)l->bytes_sval + n + 1);

    put64(im, a, l->obj_type, im->bytes_type);
    put64(im, a, l->var_size, n);
    memcpy(im->mem + (a - BASE) + l->bytes_sval, b, n);
    return a;
}

/* A code object whose every instruction is on firstlineno + 1. */
static inline raddr_t
make_code(struct image *im, const char *name, int firstlineno)
{
    const struct py_layout *l = im->l;
    static const unsigned char lnotab[] = {0, 1};
    /* 3.10: 254 bytes on line +1.  3.11+: 8 code units, no columns,
     * line delta +1 (signed varint 2). */
    static const unsigned char t310[] = {254, 1};
    static const unsigned char locations[] = {0x80 | (13 << 3) | 7, 2};
    raddr_t a = img_alloc(im, (size_t)l->code_size + 64);
    raddr_t table;

    switch (l->code_linetable_format) {
    case 1:
    case 4:
        table = make_bytes(im, lnotab, sizeof(lnotab));
        break;
    case 2:
        table = make_bytes(im, t310, sizeof(t310));
        break;
    default:
        table = make_bytes(im, locations, sizeof(locations));
        break;
    }
    put64(im, a, l->obj_type, im->code_type);
    put32(im, a, l->code_firstlineno, (uint32_t)firstlineno);
    put64(im, a, l->code_name, make_str(im, name));
    put64(im, a, l->code_filename, make_str(im, "/app/x.py"));
    if (pyl_has(l->code_qualname)) {
        char q[64];

        snprintf(q, sizeof(q), "Q.%s", name);
        put64(im, a, l->code_qualname, make_str(im, q));
    }
    put64(im, a, l->code_linetable, table);
    if (pyl_has(l->code_firsttraceable)) {
        put32(im, a, l->code_firsttraceable, 0);
    }
    return a;
}

struct built {
    raddr_t runtime, interp, tstate, statics;
    raddr_t frames[3];
    raddr_t codes[3];
    raddr_t shim; /* the entry (3.15: base) frame, 0 before 3.12 */
};

/*
 * runtime -> interp -> tstate -> 3 frames (+ a shim on 3.12+: the
 * interpreter's entry frame from 3.14, which 3.15's tstate->base_frame
 * names).  From 3.14 the frames hold their code as a _PyStackRef with
 * the Py_TAG_REFCNT tag set, as for an immortal or deferred reference.
 */
static inline void
build(struct image *im, struct built *b)
{
    const struct py_layout *l = im->l;
    static const char *names[3] = {"inner", "middle", "outer"};
    raddr_t prev = 0;
    int i;

    memset(im->mem, 0, SIZE);
    im->used = 0;
    im->code_type = img_alloc(im, 512);
    im->str_type = img_alloc(im, 512);
    im->bytes_type = img_alloc(im, 512);
    b->runtime = img_alloc(im, 4096);
    b->interp = img_alloc(im, (size_t)l->interp_size + 64);
    b->tstate = img_alloc(im, (size_t)l->tstate_size + 64);
    for (i = 0; i < 3; i++) {
        b->codes[i] = make_code(im, names[i], 10 * (i + 1));
    }
    b->shim = 0;
    if (pyl_has(l->iframe_owner_interpreter) ||
        pyl_has(l->iframe_owner_cstack)) {
        prev = img_alloc(im, (size_t)l->iframe_size);
        memset(im->mem + (prev - BASE) + l->iframe_owner,
               pyl_has(l->iframe_owner_interpreter)
                   ? l->iframe_owner_interpreter
                   : l->iframe_owner_cstack,
               1);
        b->shim = prev;
    }
    for (i = 2; i >= 0; i--) {
        if (pyl_has(l->tstate_frame)) {
            raddr_t f = img_alloc(im, (size_t)l->frame_size + 64);
            int32_t lasti = 4 / (l->code_linetable_format == 2 ? 2 : 1);

            put64(im, f, l->obj_refcnt, 1); /* alive */
            put64(im, f, l->obj_type, 0);
            put64(im, f, l->frame_back, prev);
            put64(im, f, l->frame_code, b->codes[i]);
            put32(im, f, l->frame_lasti, (uint32_t)lasti);
            b->frames[i] = prev = f;
        } else {
            raddr_t f = img_alloc(im, (size_t)l->iframe_size);
            raddr_t code_start = b->codes[i] + l->code_code_adaptive;

            put64(im, f, l->iframe_code,
                  b->codes[i] | (pyl_has(l->stackref_tag_refcnt)
                                     ? (uint64_t)l->stackref_tag_refcnt
                                     : 0));
            put64(im, f, l->iframe_previous, prev);
            put64(im, f, l->iframe_instr, code_start + 4);
            /* The innermost frame runs (its stack pointer is loaded, the
             * saved one unset); its callers saved theirs at their calls. */
            if (pyl_has(l->iframe_stackpointer)) {
                put64(im, f, l->iframe_stackpointer,
                      i == 0 ? 0 : f + (raddr_t)l->iframe_size);
            } else if (pyl_has(l->iframe_stacktop)) {
                put32(im, f, l->iframe_stacktop, i == 0 ? UINT32_MAX : 0);
            }
            b->frames[i] = prev = f;
        }
    }
    if (pyl_has(l->rt_interpreters_head)) {
        put64(im, b->runtime, l->rt_interpreters_head, b->interp);
    } else {
        /* 2.7, 3.6: statics for the interpreter list and the GIL
         * holder. */
        b->statics = img_alloc(im, 16);
        put64(im, b->statics, 0, b->interp);
        put64(im, b->statics, 8, b->tstate);
    }
    put64(im, b->interp, l->interp_tstate_head, b->tstate);
    put64(im, b->tstate, l->tstate_interp, b->interp);
    put64(im, b->tstate, l->tstate_thread_id, 0x7777);
    if (pyl_has(l->tstate_native_thread_id)) {
        put64(im, b->tstate, l->tstate_native_thread_id, 4242);
    }
    if (pyl_has(l->tstate_base_frame)) {
        put64(im, b->tstate, l->tstate_base_frame, b->shim);
    }
    if (pyl_has(l->tstate_frame)) {
        put64(im, b->tstate, l->tstate_frame, b->frames[0]);
    } else if (pyl_has(l->tstate_current_frame)) {
        put64(im, b->tstate, l->tstate_current_frame, b->frames[0]);
    } else {
        raddr_t cf = img_alloc(im, 64);

        put64(im, b->tstate, l->tstate_cframe, cf);
        put64(im, cf, l->cframe_current_frame, b->frames[0]);
    }
    if (pyl_has(l->interp_ceval_gil)) {
        raddr_t gil = img_alloc(im, 256);

        put64(im, b->interp, l->interp_ceval_gil, gil);
        put32(im, gil, l->gil_locked, 1);
        put64(im, gil, l->gil_last_holder, b->tstate);
    } else if (pyl_has(l->rt_gilstate_tstate_current)) {
        put64(im, b->runtime, l->rt_gilstate_tstate_current, b->tstate);
    }
}

static inline struct py_runtime *
runtime_over(struct image *im, const struct built *b, struct memsrc *src)
{
    struct py_runtime *rt = py_runtime_from_memsrc(src, im->l);

    rt->runtime = b->runtime;
    rt->code_type = im->code_type;
    rt->str_type = im->str_type;
    rt->bytes_type = im->bytes_type;
    if (!pyl_has(im->l->rt_interpreters_head)) {
        rt->interp_head = b->statics;
        rt->tstate_current = b->statics + 8;
    }
    return rt;
}

static inline struct memsrc *
source_of(const struct image *im)
{
    struct memsrc *src = memsrc_buffer_new();

    memsrc_buffer_add(src, BASE, im->mem, SIZE);
    return src;
}

#endif /* PYSPECT_TESTS_SYNTH_H */
