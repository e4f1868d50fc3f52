/*
 * native.c - interleave a thread's native and Python frames.
 *
 * Layer: python.  See native.h for the rule per layout family; this file
 * finds which native frame is which evaluator call and merges.
 */
#include "native.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/xalloc.h"
#include "target/elf.h"
#include "core/banned.h"

/* The evaluator's code: the function and its split-off cold part. */
#define EVAL_RANGES_MAX 4

struct py_native {
    struct unwinder *unwinder;
    raddr_t eval_start[EVAL_RANGES_MAX];
    raddr_t eval_end[EVAL_RANGES_MAX];
    size_t neval;
    struct native_frame *scratch; /* UNWIND_FRAMES_MAX frames */
};

/*
 * The evaluator function, found by name: the first of these the runtime
 * defines is the one that runs frames (3.6+ keep PyEval_EvalFrameEx as
 * a wrapper around _PyEval_EvalFrameDefault; before PEP 523 it was the
 * evaluator itself).  Compilers split rarely run parts into NAME.cold.
 */
static const char *const eval_names[] = {
    "_PyEval_EvalFrameDefault",
    "PyEval_EvalFrameEx",
};

static void
eval_ranges(struct py_runtime *rt, struct py_native *n)
{
    struct strbuf name = STRBUF_INIT;
    size_t i, k;

    for (i = 0; i < sizeof(eval_names) / sizeof(eval_names[0]); i++) {
        for (k = 0; k < 2 && n->neval < EVAL_RANGES_MAX; k++) {
            struct elf_symbol sym;

            strbuf_reset(&name);
            strbuf_addf(&name, "%s%s", eval_names[i], k ? ".cold" : "");
            if (elf_image_symbol(rt->elf, name.buf, &sym) < 0 ||
                sym.size == 0) {
                continue;
            }
            n->eval_start[n->neval] = rt->bias + sym.value;
            n->eval_end[n->neval] = rt->bias + sym.value + sym.size;
            n->neval++;
        }
        if (n->neval > 0) {
            break;
        }
    }
    strbuf_release(&name);
    err_clear();
}

int
py_native_get(struct py_runtime *rt, struct py_native **out)
{
    struct py_native *n = rt->native;
    int rc;

    if (n == NULL) {
        n = xcalloc(1, sizeof(*n));
        rc = unwinder_new(rt->target, &n->unwinder);
        if (rc < 0) {
            free(n);
            return rc;
        }
        eval_ranges(rt, n);
        n->scratch = xmalloc(UNWIND_FRAMES_MAX * sizeof(*n->scratch));
        rt->native = n;
    }
    *out = n;
    return 0;
}

void
py_native_free(struct py_native *n)
{
    if (n == NULL) {
        return;
    }
    unwinder_free(n->unwinder);
    free(n->scratch);
    free(n);
}

struct unwinder *
py_native_unwinder(struct py_native *n)
{
    return n->unwinder;
}

static int
in_eval(const struct native_frame *f, const raddr_t *start, const raddr_t *end,
        size_t neval)
{
    /* A return address points after the call instruction, which may be
     * the function's last byte. */
    raddr_t pc = f->activation ? f->pc : f->pc - 1;
    size_t i;

    for (i = 0; i < neval; i++) {
        if (pc >= start[i] && pc < end[i]) {
            return 1;
        }
    }
    return 0;
}

/*
 * The native frame whose stack holds addr: frame j's locals lie in
 * [sp of j, sp of j + 1).  The outermost frame found has no known end
 * (the unwind may have stopped short of its caller): it holds nothing.
 * nnat when no frame does (or the sps are unknown).
 */
static size_t
frame_holding(const struct native_frame *nat, size_t nnat, raddr_t addr)
{
    size_t j;

    for (j = 0; j + 1 < nnat; j++) {
        raddr_t lo = nat[j].sp, hi = nat[j + 1].sp;

        if (lo != 0 && hi != 0 && addr >= lo && addr < hi) {
            return j;
        }
    }
    return nnat;
}

size_t
py_native_mix(const struct native_frame *nat, size_t nnat,
              const struct py_frame *py, size_t npy, const raddr_t *calls,
              size_t ncalls, const raddr_t *eval_start,
              const raddr_t *eval_end, size_t neval,
              struct py_mixed_frame *out)
{
    /* call_of[j]: the evaluator call native frame j is, or -1. */
    long *call_of = xmalloc((nnat ? nnat : 1) * sizeof(*call_of));
    size_t j, k, n = 0, next = 0;
    int markers = 0;

    for (j = 0; j < nnat; j++) {
        call_of[j] = -1;
    }
    for (k = 0; k < ncalls; k++) {
        markers |= calls[k] != 0;
    }
    if (markers) {
        /* Each call's marker lies in its own native frame; calls go
         * outwards as frames do, anything else is a torn read. */
        size_t floor = 0;

        for (k = 0; k < ncalls; k++) {
            size_t at;

            if (calls[k] == 0) {
                continue;
            }
            at = frame_holding(nat, nnat, calls[k]);
            if (at < nnat && at >= floor && call_of[at] < 0) {
                call_of[at] = (long)k;
                floor = at + 1;
            }
        }
    } else {
        long c = 0;

        for (j = 0; j < nnat; j++) {
            if (in_eval(&nat[j], eval_start, eval_end, neval)) {
                call_of[j] = c++;
            }
        }
    }
    for (j = 0; j < nnat; j++) {
        if (call_of[j] < 0) {
            out[n].kind = PY_MIXED_NATIVE;
            out[n].python = 0;
            out[n].native = nat[j];
            n++;
            continue;
        }
        /* The frames of this call, and before them those of any call
         * between the last placed and this one that no frame claimed. */
        while (next < npy && (long)py[next].call <= call_of[j]) {
            out[n].kind = PY_MIXED_PYTHON;
            out[n].python = next++;
            memset(&out[n].native, 0, sizeof(out[n].native));
            n++;
        }
    }
    while (next < npy) {
        out[n].kind = PY_MIXED_PYTHON;
        out[n].python = next++;
        memset(&out[n].native, 0, sizeof(out[n].native));
        n++;
    }
    free(call_of);
    return n;
}

int
py_native_stack(struct py_native *n, int tid, const struct target_regs *regs,
                const struct py_frame *py, size_t npy, const raddr_t *calls,
                size_t ncalls, struct py_mixed_frame **out, size_t *nout,
                size_t *alloc)
{
    size_t nnat = 0;
    int rc;

    rc = unwinder_stack(n->unwinder, tid, regs, n->scratch, UNWIND_FRAMES_MAX,
                        &nnat);
    if (rc < 0) {
        nnat = 0;
    }
    if (*alloc < nnat + npy) {
        *alloc = nnat + npy;
        *out = xrealloc(*out, (*alloc ? *alloc : 1) * sizeof(**out));
    }
    *nout = py_native_mix(n->scratch, nnat, py, npy, calls, ncalls,
                          n->eval_start, n->eval_end, n->neval, *out);
    return rc;
}
