/*
 * tasks.h - the asyncio tasks of a CPython runtime.
 *
 * Layer: python.  py_tasks_read() finds the tasks where CPython's own
 * asyncio keeps them, which depends on the version:
 *   3.14+      each thread's list of tasks (and the interpreter's, for
 *              tasks of threads that ended), plus the weak set and set of
 *              tasks of other classes (asyncio.tasks._scheduled_tasks,
 *              _eager_tasks);
 *   3.12-3.13  asyncio.tasks._scheduled_tasks (a WeakSet) and
 *              _eager_tasks (a set);
 *   3.7-3.11   asyncio.tasks._all_tasks (a WeakSet, the _asyncio
 *              module's own);
 *   3.6        _asyncio keeps its WeakSet in a C static no dict reaches:
 *              the cyclic GC's lists, which hold every task, are walked
 *              for objects of the task types instead.
 * Each task is read through _asyncio's TaskObj layout (layout.h, fields
 * measured by tools/gen_layouts.py) or, for a pure-Python task, its
 * __dict__.  Its coroutine stack follows the await chain: the task's
 * coroutine, the coroutine it awaits (the object on top of a suspended
 * frame's value stack), and so on to the first object that is no
 * coroutine or generator, which is what the innermost one waits on.
 *
 * Everything read is untrusted: sets, lists and chains are bounded, and
 * a task whose coroutine chain cannot be read keeps its error.
 */
#ifndef PYSPECT_PYTHON_TASKS_H
#define PYSPECT_PYTHON_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "python/runtime.h"
#include "python/snapshot.h"
#include "python/stack.h"

/* Bounds on the walks. */
#define PY_TASKS_MAX 1000000
#define PY_AWAIT_DEPTH_MAX 256

enum py_task_state {
    PY_TASK_PENDING,
    PY_TASK_RUNNING, /* its coroutine is executing */
    PY_TASK_DONE,    /* finished or cancelled */
};

struct py_task {
    raddr_t addr;
    char *name; /* malloc'd; NULL when the version names no tasks */
    enum py_task_state state;
    int cancelled;       /* done by cancellation */
    raddr_t loop;        /* its event loop */
    long loop_tid;       /* kernel id of the thread running the loop, or 0 */
    uint64_t loop_ident; /* that thread's ident, 0 when none runs it */
    char *waiting_on;    /* type name of the future it waits on, or NULL */
    /* Indexes into py_tasks.v of the tasks that await this one. */
    size_t *awaited_by;
    size_t nawaited_by;
    /* The await chain, outermost coroutine first; each frame holds a
     * reference to its code (py_code_ref). */
    struct py_frame *frames;
    size_t nframes;
    int error; /* 0, or why the chain could not be read whole */
    /* Internal: the task's coroutine and the future it waits on. */
    raddr_t coro;
    raddr_t waiter;
};

struct py_tasks {
    struct py_task *v;
    size_t n;
    size_t alloc;
    /* Where the tasks were found: "task lists", "_all_tasks",
     * "_scheduled_tasks", "gc", or NULL when asyncio is not imported. */
    const char *found_in;
};

/* clang-format off */
#define PY_TASKS_INIT {NULL, 0, 0, NULL}
/* clang-format on */

/*
 * Every task of the first interpreter (done ones too, as long as asyncio
 * keeps them), in the order found, with state, name, loop thread (from
 * the threads of snap), awaited_by and coroutine stack.  No asyncio
 * imported gives no tasks and found_in NULL.  Transient errors
 * (PS_ECHANGED, PS_EFAULT, PS_ECORRUPT) when a registry could not be
 * read; the caller retries.
 */
int py_tasks_read(struct py_runtime *rt, const struct py_snapshot *snap,
                  struct py_tasks *out);
void py_tasks_release(struct py_tasks *t);

const char *py_task_state_name(const struct py_task *t);

#endif /* PYSPECT_PYTHON_TASKS_H */
