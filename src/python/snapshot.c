/*
 * snapshot.c - one consistent picture of all threads.
 *
 * Layer: python.
 */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "core/banned.h"

static void
snapshot_clear(struct py_snapshot *s)
{
    size_t i, j;

    for (i = 0; i < s->n; i++) {
        for (j = 0; j < s->threads[i].nframes; j++) {
            py_code_unref(s->threads[i].frames[j].code);
        }
        free(s->threads[i].name);
        free(s->threads[i].frames);
    }
    free(s->threads);
    s->threads = NULL;
    s->n = 0;
}

void
py_snapshot_release(struct py_snapshot *s)
{
    snapshot_clear(s);
}

static int
by_tid(const void *a, const void *b)
{
    const struct py_thread_snapshot *x = a, *y = b;

    if (x->thread.is_main != y->thread.is_main) {
        return y->thread.is_main - x->thread.is_main;
    }
    return (x->thread.tid > y->thread.tid) - (x->thread.tid < y->thread.tid);
}

/* OS thread states, read before any pause (a held thread shows 't'). */
struct task_states {
    int *tids;
    char *states;
    size_t n;
};

static void
task_states_read(struct target *t, struct task_states *ts)
{
    size_t i;

    memset(ts, 0, sizeof(*ts));
    if (target_threads(t, &ts->tids, &ts->n) < 0) {
        ts->n = 0;
        return;
    }
    ts->states = xcalloc(ts->n ? ts->n : 1, 1);
    for (i = 0; i < ts->n; i++) {
        target_thread_state(t, ts->tids[i], &ts->states[i]);
    }
}

static char
task_state_of(const struct task_states *ts, long tid)
{
    size_t i;

    for (i = 0; i < ts->n; i++) {
        if (ts->tids[i] == tid) {
            return ts->states[i];
        }
    }
    return 0;
}

/* One attempt.  Returns 0 when every thread was read, a transient error
 * when some thread should be read again, or a fatal error. */
static int
snapshot_once(struct py_runtime *rt, unsigned flags,
              const struct task_states *states, struct py_snapshot *out)
{
    struct py_threads threads = PY_THREADS_INIT;
    struct py_stack stack = PY_STACK_INIT;
    char **names = NULL;
    size_t i;
    int rc, worst = 0;

    py_runtime_snapshot(rt);
    rc = py_threads_read(rt, &threads);
    if (rc == 0) {
        rc = py_threads_resolve_tids(rt, &threads);
    }
    if (rc < 0) {
        goto out;
    }
    if (flags & PY_SNAPSHOT_NAMES) {
        py_threads_names(rt, &threads, &names);
    }
    out->threads = xcalloc(threads.n ? threads.n : 1, sizeof(*out->threads));
    out->n = threads.n;
    for (i = 0; i < threads.n; i++) {
        struct py_thread_snapshot *ts = &out->threads[i];

        ts->thread = threads.v[i];
        ts->name = names ? names[i] : NULL;
        ts->os_state = task_state_of(states, ts->thread.tid);
        target_take_missing(rt->target);
        rc = py_stack_read(rt, &threads.v[i], PY_STACK_TRACED_LINES, &stack);
        if (rc < 0) {
            /* A walk that read what the core does not hold failed for
             * that, not for anything the process did; the snapshot goes
             * on as for rc. */
            ts->missing = target_take_missing(rt->target);
            ts->error = ts->missing != 0 ? PS_ENOTINCORE : rc;
            if (worst == 0 || err_class(rc) != ERR_CLASS_TRANSIENT) {
                worst = rc;
            }
            continue;
        }
        ts->nframes = stack.n;
        ts->truncated = stack.truncated;
        if (stack.n > 0) {
            size_t j;

            /* The frames outlive this walk: a later attempt may clear the
             * code cache, so each holds its own reference. */
            ts->frames = xmalloc(stack.n * sizeof(*ts->frames));
            memcpy(ts->frames, stack.v, stack.n * sizeof(*ts->frames));
            for (j = 0; j < stack.n; j++) {
                py_code_ref(ts->frames[j].code);
            }
        }
    }
    if (out->n > 1) {
        qsort(out->threads, out->n, sizeof(*out->threads), by_tid);
    }
    rc = worst;
out:
    free(names);
    py_stack_release(&stack);
    py_threads_release(&threads);
    return rc;
}

int
py_snapshot_take(struct py_runtime *rt, unsigned flags,
                 struct py_snapshot *out)
{
    struct task_states states;
    uint64_t start = clock_now_ns();
    uint64_t reads0 = rt->proc->nreads, bytes0 = rt->proc->nbytes;
    int rc = 0, attempt;

    memset(out, 0, sizeof(*out));
    task_states_read(rt->target, &states);
    if ((flags & PY_SNAPSHOT_BLOCKING) && target_can_pause(rt->target)) {
        rc = target_pause(rt->target);
        if (rc < 0) {
            free(states.tids);
            free(states.states);
            return rc;
        }
        out->paused = 1;
    }
    for (attempt = 1; attempt <= PY_SNAPSHOT_ATTEMPTS; attempt++) {
        snapshot_clear(out);
        out->attempts = attempt;
        rc = snapshot_once(rt, flags, &states, out);
        if (rc == 0 || err_class(rc) != ERR_CLASS_TRANSIENT ||
            rc == PS_ENOTREADY) {
            break;
        }
        /* The code cache may hold an object that was freed meanwhile;
         * frames already taken keep their own references. */
        py_code_cache_clear(rt);
    }
    if (out->paused) {
        target_resume(rt->target);
        out->paused_ms = target_pause_ms(rt->target);
    }
    /* A thread whose stack kept changing is reported with its error;
     * anything else that failed fails the snapshot. */
    if (rc < 0 && out->n > 0 && err_class(rc) == ERR_CLASS_TRANSIENT &&
        rc != PS_ENOTREADY) {
        rc = 0;
    }
    if (rc < 0) {
        snapshot_clear(out);
    }
    free(states.tids);
    free(states.states);
    out->elapsed_ms = (double)(clock_now_ns() - start) / 1e6;
    out->reads = rt->proc->nreads - reads0;
    out->bytes = rt->proc->nbytes - bytes0;
    return rc;
}
