/*
 * native.h - mixed stacks: a thread's native (C) frames with its Python
 * frames placed where the evaluator runs them.
 *
 * Layer: python.  The native frames come from target/unwind.h; the
 * Python frames from py_stack_read() with PY_STACK_CALLS, which says
 * which C call of the evaluator runs each frame and where that call's
 * native frame sits on the C stack.  The native frame of each evaluator
 * call is replaced by the Python frames it runs, innermost first, as
 * pystack shows them.  How a call's native frame is found is a
 * capability of the layout:
 *   a marker on the C stack (3.10+: a _PyCFrame, or 3.12+ the shim
 *     frame, local to each call): the native frame whose stack holds
 *     the marker is that call.  Needs no symbols at all.
 *   none (<=3.9): the native frames in the evaluator function
 *     (_PyEval_EvalFrameDefault, before 3.6 PyEval_EvalFrameEx, found by
 *     name in the runtime's symbol table), in order: each runs one
 *     PyFrameObject.
 * Python frames no native frame claims (an unwind cut short, a stripped
 * evaluator) are placed after the last claimed ones, in their order, so
 * a mixed stack always holds every Python frame, in order.
 */
#ifndef PYSPECT_PYTHON_NATIVE_H
#define PYSPECT_PYTHON_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "python/runtime.h"
#include "python/stack.h"
#include "target/unwind.h"

enum py_mixed_kind {
    PY_MIXED_PYTHON,
    PY_MIXED_NATIVE,
};

struct py_mixed_frame {
    enum py_mixed_kind kind;
    size_t python;              /* PY_MIXED_PYTHON: index of the frame */
    struct native_frame native; /* PY_MIXED_NATIVE */
};

struct py_native;

/*
 * The runtime's native-stack state, made on first use and kept until
 * py_runtime_free(): the unwinder over the runtime's target and the
 * evaluator's address ranges.  PS_EINTERNAL when libdwfl cannot start.
 */
int py_native_get(struct py_runtime *rt, struct py_native **out);
void py_native_free(struct py_native *n);

/* The unwinder, for symbol lookups. */
struct unwinder *py_native_unwinder(struct py_native *n);

/*
 * Unwind thread tid from regs into n->... and interleave it with the
 * Python frames of s (read with PY_STACK_CALLS): *out (malloc'd, or
 * reused when *alloc says it is big enough) gets the mixed frames,
 * innermost first.  A thread whose registers are unknown gets its
 * Python frames only (and PS_ENOTFOUND, for the caller to say why).
 */
int py_native_stack(struct py_native *n, int tid,
                    const struct target_regs *regs, const struct py_frame *py,
                    size_t npy, const raddr_t *calls, size_t ncalls,
                    struct py_mixed_frame **out, size_t *nout, size_t *alloc);

/*
 * The interleaving alone, for tests: native frames already unwound.
 * eval_start/eval_end (neval ranges) are the evaluator's code, used
 * when no call has a marker.
 */
size_t py_native_mix(const struct native_frame *nat, size_t nnat,
                     const struct py_frame *py, size_t npy,
                     const raddr_t *calls, size_t ncalls,
                     const raddr_t *eval_start, const raddr_t *eval_end,
                     size_t neval, struct py_mixed_frame *out);

#endif /* PYSPECT_PYTHON_NATIVE_H */
