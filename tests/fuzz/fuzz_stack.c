/*
 * fuzz_stack.c - the thread list and frame walkers of every layout
 * (PyFrameObject chains, 3.11+ interpreter frames and data-stack chunks,
 * code objects and their line tables) over a synthetic target the input
 * damages.
 *
 * Layer: tests.  Input: a layout byte, a flags byte, then patches.
 */
/* The image, rebuilt per input: room for 3.15's 375 KiB interpreter. */
#define SIZE (512u << 10)
#include "fuzz.h"

#include "python/stack.h"
#include "synth.h"

static unsigned char *mem;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct image im;
    struct built b;
    struct py_runtime *rt;
    struct py_threads t = PY_THREADS_INIT;
    struct py_stack stack = PY_STACK_INIT;
    unsigned flags;
    size_t i;

    if (size < 2) {
        return 0;
    }
    if (mem == NULL) {
        mem = calloc(1, SIZE);
    }
    im.mem = mem;
    im.l = py_layouts_generated[data[0] % py_layouts_generated_count];
    flags = data[1] & PY_STACK_TRACED_LINES;
    build(&im, &b);
    fuzz_patch(mem, im.used, BASE, data + 2, size - 2);
    rt = runtime_over(&im, &b, source_of(&im));
    if (py_threads_read(rt, &t) == 0) {
        for (i = 0; i < t.n; i++) {
            if (py_stack_read(rt, &t.v[i], flags, &stack) == 0 &&
                stack.n > 0) {
                /* What a writer would print. */
                (void)strlen(stack.v[0].code->name);
                (void)strlen(stack.v[stack.n - 1].code->filename);
            }
        }
    }
    py_threads_release(&t);
    py_stack_release(&stack);
    py_runtime_free(rt);
    return 0;
}
