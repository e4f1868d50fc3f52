/*
 * test_walkers.c - the thread and frame walkers on synthetic memory.
 *
 * Layer: tests.  Builds a tiny CPython runtime (interpreter, thread,
 * frames, code objects, strings) in local buffers served through the
 * memsrc buffer backend, for the generated layout of every version, and
 * checks that the walkers read it back; then breaks it (loops, wrong
 * types, failing reads) and feeds them random memory, checking that they
 * return errors and never crash, read out of bounds or hang.  Run under
 * ASan+UBSan by `make test`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "python/layout.h"
#include "python/runtime.h"
#include "python/stack.h"
#include "target/memsrc.h"
#include "tap.h"

#define BASE 0x10000000ull
#define SIZE (1u << 20)

struct image {
    unsigned char *mem;
    size_t used;
    const struct py_layout *l;
    raddr_t code_type, str_type, bytes_type;
};

static raddr_t
img_alloc(struct image *im, size_t n)
{
    raddr_t a = BASE + im->used;

    im->used = (im->used + n + 31) & ~(size_t)15;
    if (im->used > SIZE) {
        abort();
    }
    return a;
}

static void
put64(struct image *im, raddr_t addr, int32_t off, uint64_t v)
{
    memcpy(im->mem + (addr - BASE) + off, &v, 8);
}

static void
put32(struct image *im, raddr_t addr, int32_t off, uint32_t v)
{
    memcpy(im->mem + (addr - BASE) + off, &v, 4);
}

static raddr_t
make_str(struct image *im, const char *s)
{
    const struct py_layout *l = im->l;
    size_t n = strlen(s);
    raddr_t a = img_alloc(im, (size_t)l->unicode_ascii_size + n + 1);
    uint32_t state = (1u << l->unicode_state_kind_shift) |
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

static raddr_t
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
static raddr_t
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
};

/* runtime -> interp -> tstate -> 3 frames (+ a shim on 3.12+). */
static void
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
    if (pyl_has(l->iframe_owner_cstack)) {
        prev = img_alloc(im, (size_t)l->iframe_size);
        memset(im->mem + (prev - BASE) + l->iframe_owner,
               l->iframe_owner_cstack, 1);
    }
    for (i = 2; i >= 0; i--) {
        if (pyl_has(l->tstate_frame)) {
            raddr_t f = img_alloc(im, (size_t)l->frame_size + 64);
            int32_t lasti = 4 / (l->code_linetable_format == 2 ? 2 : 1);

            put64(im, f, l->obj_type, 0);
            put64(im, f, l->frame_back, prev);
            put64(im, f, l->frame_code, b->codes[i]);
            put32(im, f, l->frame_lasti, (uint32_t)lasti);
            b->frames[i] = prev = f;
        } else {
            raddr_t f = img_alloc(im, (size_t)l->iframe_size);
            raddr_t code_start = b->codes[i] + l->code_code_adaptive;

            put64(im, f, l->iframe_code, b->codes[i]);
            put64(im, f, l->iframe_previous, prev);
            put64(im, f, l->iframe_instr, code_start + 4);
            b->frames[i] = prev = f;
        }
    }
    if (pyl_has(l->rt_interpreters_head)) {
        put64(im, b->runtime, l->rt_interpreters_head, b->interp);
    } else {
        /* 3.6: statics for the interpreter list and the GIL holder. */
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

static struct py_runtime *
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

static struct memsrc *
source_of(const struct image *im)
{
    struct memsrc *src = memsrc_buffer_new();

    memsrc_buffer_add(src, BASE, im->mem, SIZE);
    return src;
}

/* Read every thread and stack; return the first error or 0. */
static int
walk_all(struct py_runtime *rt, struct py_stack *stack, size_t *nframes)
{
    struct py_threads t = PY_THREADS_INIT;
    size_t i;
    int rc;

    *nframes = 0;
    rc = py_threads_read(rt, &t);
    for (i = 0; rc == 0 && i < t.n; i++) {
        rc = py_stack_read(rt, &t.v[i], PY_STACK_TRACED_LINES, stack);
        *nframes += stack->n;
    }
    py_threads_release(&t);
    return rc;
}

static void
test_layout(const struct py_layout *l, unsigned char *mem)
{
    struct image im = {mem, 0, l, 0, 0, 0};
    struct built b;
    struct py_runtime *rt;
    struct py_threads t = PY_THREADS_INIT;
    struct py_stack stack = PY_STACK_INIT;
    char label[32];
    size_t n, k;
    int rc, seed;

    snprintf(label, sizeof(label), "3.%d", l->minor);

    /* A well-formed runtime reads back exactly. */
    build(&im, &b);
    rt = runtime_over(&im, &b, source_of(&im));
    rc = py_threads_read(rt, &t);
    TAP_EQ_INT(rc, 0, "threads read");
    TAP_EQ_INT(t.n, 1, "one thread");
    if (rc == 0 && t.n == 1) {
        TAP_EQ_INT(t.v[0].ident, 0x7777, "ident");
        TAP_OK(t.v[0].holds_gil, "%s: the thread holds the GIL", label);
        rc = py_stack_read(rt, &t.v[0], 0, &stack);
        TAP_EQ_INT(rc, 0, "stack read");
        TAP_EQ_INT(stack.n, 3, "three frames, shim hidden");
        if (stack.n == 3) {
            TAP_EQ_STR(stack.v[0].code->name, "inner", "innermost first");
            TAP_EQ_STR(stack.v[2].code->name, "outer", "outermost last");
            TAP_EQ_STR(stack.v[1].code->filename, "/app/x.py", "file");
            TAP_EQ_INT(stack.v[0].line, 11, "line of the innermost");
            TAP_EQ_INT(stack.v[2].line, 31, "line of the outermost");
            if (pyl_has(l->code_qualname)) {
                TAP_EQ_STR(stack.v[1].code->qualname, "Q.middle", "qualname");
            }
        }
    }
    py_threads_release(&t);
    py_runtime_free(rt);

    /* A frame chain that loops is a transient error. */
    build(&im, &b);
    put64(&im, b.frames[2],
          pyl_has(l->tstate_frame) ? l->frame_back : l->iframe_previous,
          b.frames[0]);
    rt = runtime_over(&im, &b, source_of(&im));
    rc = walk_all(rt, &stack, &n);
    TAP_EQ_INT(rc, PS_ECHANGED, "a looping frame chain");
    py_runtime_free(rt);

    /* A thread list that loops. */
    build(&im, &b);
    put64(&im, b.tstate, l->tstate_next, b.tstate);
    rt = runtime_over(&im, &b, source_of(&im));
    rc = walk_all(rt, &stack, &n);
    TAP_EQ_INT(rc, PS_ECHANGED, "a looping thread list");
    py_runtime_free(rt);

    /* A code pointer to something that is not a code object. */
    build(&im, &b);
    put64(&im, b.codes[1], l->obj_type, im.str_type);
    rt = runtime_over(&im, &b, source_of(&im));
    rc = walk_all(rt, &stack, &n);
    TAP_EQ_INT(rc, PS_ECORRUPT, "a frame whose code is not code");
    py_runtime_free(rt);

    /* A frame pointing outside mapped memory. */
    build(&im, &b);
    put64(&im, b.frames[1],
          pyl_has(l->tstate_frame) ? l->frame_back : l->iframe_previous,
          0xdead0000);
    rt = runtime_over(&im, &b, source_of(&im));
    rc = walk_all(rt, &stack, &n);
    TAP_EQ_INT(rc, PS_EFAULT, "a frame pointer to unmapped memory");
    py_runtime_free(rt);

    /* Every read may fail: errors come back, nothing crashes. */
    build(&im, &b);
    {
        int failures = 0;

        for (k = 0; k < 64; k++) {
            struct memsrc *inner = source_of(&im);
            struct memsrc *faulty =
                memsrc_faulty_new(inner, k, k % 2 ? PS_EFAULT : PS_EEXITED);

            rt = runtime_over(&im, &b, faulty);
            rc = walk_all(rt, &stack, &n);
            failures += rc < 0;
            TAP_OK(rc == 0 || rc == PS_EFAULT || rc == PS_EEXITED,
                   "%s: read %zu fails: %s", label, k, err_name(rc));
            py_runtime_free(rt);
            memsrc_free(inner);
        }
        TAP_OK(failures > 0, "%s: injected failures were noticed", label);
    }

    /* Random memory full of pointers into itself: errors, never a crash,
     * never an endless walk. */
    for (seed = 1; seed <= 200; seed++) {
        uint64_t x = (uint64_t)seed * 0x9e3779b97f4a7c15ull;
        size_t i;

        for (i = 0; i + 8 <= SIZE; i += 8) {
            uint64_t v;

            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v = x;
            if ((x & 3) == 0) {
                v = BASE + ((x >> 8) % SIZE & ~(uint64_t)7);
            } else if ((x & 3) == 1) {
                v &= 0xff;
            }
            memcpy(mem + i, &v, 8);
        }
        rt = py_runtime_from_memsrc(source_of(&im), l);
        rt->runtime = BASE + (x % 4096 & ~(uint64_t)7);
        rt->interp_head = rt->runtime;
        rt->code_type = BASE + 64;
        rt->str_type = BASE + 128;
        rt->bytes_type = BASE + 192;
        rc = walk_all(rt, &stack, &n);
        if (rc > 0) {
            break;
        }
        py_runtime_free(rt);
    }
    TAP_OK(seed > 200, "%s: 200 random images walked without harm", label);
    py_stack_release(&stack);
}

int
main(void)
{
    unsigned char *mem = calloc(1, SIZE);
    int i;

    for (i = 0; i < py_layouts_generated_count; i++) {
        test_layout(py_layouts_generated[i], mem);
    }
    free(mem);
    return tap_done();
}
