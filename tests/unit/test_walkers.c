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

#include "synth.h"

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

    snprintf(label, sizeof(label), "%d.%d", l->major, l->minor);

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

    /* Frames kept across a cache clear (a snapshot retrying another
     * thread) keep their code objects: the entries outlive the cache. */
    build(&im, &b);
    rt = runtime_over(&im, &b, source_of(&im));
    rc = walk_all(rt, &stack, &n);
    TAP_EQ_INT(rc, 0, "walked before a cache clear");
    if (rc == 0 && stack.n == 3) {
        struct py_code *kept[3];

        for (k = 0; k < 3; k++) {
            kept[k] = py_code_ref(stack.v[k].code);
        }
        py_code_cache_clear(rt);
        rc = walk_all(rt, &stack, &n);
        TAP_OK(rc == 0 && stack.v[0].code != kept[0],
               "%s: the cache decodes anew after a clear", label);
        py_runtime_free(rt);
        rt = NULL;
        TAP_EQ_STR(kept[0]->name, "inner", "a kept code outlives the cache");
        TAP_EQ_STR(kept[2]->filename, "/app/x.py", "and keeps its file");
        for (k = 0; k < 3; k++) {
            py_code_unref(kept[k]);
        }
    }
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

    /* 3.15: a chain that ends short of the thread's base frame (its
     * link cut while read) is torn. */
    if (pyl_has(l->tstate_base_frame)) {
        build(&im, &b);
        put64(&im, b.frames[2], l->iframe_previous, 0);
        rt = runtime_over(&im, &b, source_of(&im));
        rc = walk_all(rt, &stack, &n);
        TAP_EQ_INT(rc, PS_ECHANGED, "a chain short of the base frame");
        py_runtime_free(rt);
    }

    /* 3.14+: a tag that marks no object (a tagged int) is no code. */
    if (pyl_has(l->stackref_tag_bits)) {
        build(&im, &b);
        put64(&im, b.frames[1], l->iframe_code,
              b.codes[1] | (uint64_t)l->stackref_tag_bits);
        rt = runtime_over(&im, &b, source_of(&im));
        rc = walk_all(rt, &stack, &n);
        TAP_OK(rc < 0, "%s: a tagged int where the code is: %d", label, rc);
        py_runtime_free(rt);
    }

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

    if (!pyl_has(l->tstate_frame)) {
        /* A chain that ends at a generator's own frame went through a
         * suspended generator: a stack read while it changed. */
        build(&im, &b);
        memset(im.mem + (b.frames[2] - BASE) + l->iframe_owner,
               l->iframe_owner_generator, 1);
        put64(&im, b.frames[2], l->iframe_previous, 0);
        rt = runtime_over(&im, &b, source_of(&im));
        rc = walk_all(rt, &stack, &n);
        TAP_EQ_INT(rc, PS_ECHANGED, "a chain ending at a suspended generator");
        py_runtime_free(rt);
        /* A finished frame handed to its frame object is on no stack. */
        build(&im, &b);
        memset(im.mem + (b.frames[1] - BASE) + l->iframe_owner,
               l->iframe_owner_frame_object, 1);
        rt = runtime_over(&im, &b, source_of(&im));
        rc = walk_all(rt, &stack, &n);
        TAP_EQ_INT(rc, PS_ECHANGED, "a finished frame in the chain");
        py_runtime_free(rt);
    }

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
