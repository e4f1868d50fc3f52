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

/* What one snapshot reads with, besides the runtime. */
struct snapshot_ctx {
    unsigned flags;
    struct py_native *native; /* PY_SNAPSHOT_NATIVE */
    struct py_objects objects;
};

static void
snapshot_clear(struct py_snapshot *s)
{
    size_t i, j;

    for (i = 0; i < s->n; i++) {
        struct py_thread_snapshot *t = &s->threads[i];

        free(t->name);
        free(t->mixed);
        if (t->locals != NULL) {
            for (j = 0; j < t->nframes; j++) {
                py_locals_release(&t->locals[j]);
            }
            free(t->locals);
        }
        for (j = 0; j < t->nframes; j++) {
            py_code_unref(t->frames[j].code);
        }
        free(t->frames);
    }
    free(s->threads);
    s->threads = NULL;
    s->n = 0;
    py_deadlocks_release(&s->deadlocks);
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

/*
 * The native frames of thread ts (mixed with its Python frames in s),
 * what it waits for, and its frames' locals, as ctx asks.
 */
static void
thread_extras(struct py_runtime *rt, struct snapshot_ctx *ctx,
              const struct py_stack *s, struct py_thread_snapshot *ts)
{
    struct target_regs regs;
    int have_regs = 0;
    size_t j;

    if ((ctx->flags & (PY_SNAPSHOT_NATIVE | PY_SNAPSHOT_WAITS)) &&
        ts->thread.tid > 0) {
        have_regs =
            target_thread_regs(rt->target, (int)ts->thread.tid, &regs) == 0;
        err_clear();
    }
    if (ctx->flags & PY_SNAPSHOT_NATIVE) {
        size_t alloc = 0;

        if (have_regs) {
            ts->native_error = py_native_stack(
                ctx->native, (int)ts->thread.tid, &regs, s->v, s->n, s->calls,
                s->ncalls, &ts->mixed, &ts->nmixed, &alloc);
        } else {
            ts->native_error = PS_ENOTFOUND;
            ts->mixed = xmalloc((s->n ? s->n : 1) * sizeof(*ts->mixed));
            ts->nmixed = py_native_mix(NULL, 0, s->v, s->n, s->calls,
                                       s->ncalls, NULL, NULL, 0, ts->mixed);
        }
        err_clear();
    }
    if ((ctx->flags & PY_SNAPSHOT_WAITS) && have_regs) {
        py_wait_find(&ctx->objects, &ts->thread, &regs, ts->frames,
                     ts->nframes, &ts->wait);
    }
    if ((ctx->flags & PY_SNAPSHOT_LOCALS) && ts->nframes > 0) {
        ts->locals = xcalloc(ts->nframes, sizeof(*ts->locals));
        for (j = 0; j < ts->nframes; j++) {
            py_frame_locals(&ctx->objects, &ts->frames[j], &ts->locals[j]);
        }
        err_clear();
    }
}

/*
 * The function a deadlock names for a thread: its innermost one outside
 * the threading module (Condition.wait, or 2.7's Python RLock.acquire,
 * is not where the program chose to wait), else its innermost.
 */
static const char *
waiting_function(const struct py_thread_snapshot *t)
{
    const struct py_code *c;
    size_t k;

    if (t->nframes == 0) {
        return NULL;
    }
    for (k = 0; k + 1 < t->nframes; k++) {
        const char *file = t->frames[k].code->filename;
        const char *base = file ? strrchr(file, '/') : NULL;

        if (file == NULL ||
            strcmp(base ? base + 1 : file, "threading.py") != 0) {
            break;
        }
    }
    c = t->frames[k].code;
    return c->qualname ? c->qualname : c->name;
}

/* Holders' kernel ids, then the cycles among the waits. */
static void
snapshot_waits(struct py_snapshot *s)
{
    long *tids = xcalloc(s->n ? s->n : 1, sizeof(*tids));
    struct py_wait *waits = xcalloc(s->n ? s->n : 1, sizeof(*waits));
    const char **functions = xcalloc(s->n ? s->n : 1, sizeof(*functions));
    size_t i, j;

    for (i = 0; i < s->n; i++) {
        struct py_thread_snapshot *t = &s->threads[i];
        struct py_wait *w = &t->wait;

        for (j = 0; j < s->n && w->kind != PY_WAIT_NONE; j++) {
            const struct py_thread *o = &s->threads[j].thread;

            if ((w->kind == PY_WAIT_RLOCK && w->owner_ident != 0 &&
                 o->ident == w->owner_ident) ||
                (w->kind == PY_WAIT_GIL && o->holds_gil && j != i)) {
                w->owner_tid = o->tid;
                if (w->kind == PY_WAIT_GIL) {
                    w->owner_tstate = o->tstate;
                }
                break;
            }
        }
        tids[i] = t->thread.tid;
        waits[i] = *w;
        functions[i] = waiting_function(t);
    }
    py_deadlocks_find(tids, waits, functions, s->n, &s->deadlocks);
    free(tids);
    free(waits);
    free(functions);
}

/* One attempt.  Returns 0 when every thread was read, a transient error
 * when some thread should be read again, or a fatal error. */
static int
snapshot_once(struct py_runtime *rt, struct snapshot_ctx *ctx,
              const struct task_states *states, struct py_snapshot *out)
{
    unsigned flags = ctx->flags;
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
        rc = py_stack_read(
            rt, &threads.v[i],
            PY_STACK_TRACED_LINES |
                ((flags & PY_SNAPSHOT_NATIVE) ? PY_STACK_CALLS : 0),
            &stack);
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
        thread_extras(rt, ctx, &stack, ts);
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
    struct snapshot_ctx ctx;
    uint64_t start = clock_now_ns();
    uint64_t reads0 = rt->proc->nreads, bytes0 = rt->proc->nbytes;
    int rc = 0, attempt;

    memset(out, 0, sizeof(*out));
    memset(&ctx, 0, sizeof(ctx));
    ctx.flags = flags;
    if (flags & PY_SNAPSHOT_NATIVE) {
        /* Open the target's files before pausing it: the pause is for
         * registers and stacks only.  Native frames need the registers
         * of a stopped thread: pause. */
        int known = rt->native != NULL;

        rc = py_native_get(rt, &ctx.native);
        if (rc == 0 && known) {
            /* Libraries loaded since the last snapshot. */
            rc = unwinder_refresh(py_native_unwinder(ctx.native));
        }
        if (rc < 0) {
            return rc;
        }
        flags |= PY_SNAPSHOT_BLOCKING;
    }
    py_objects_init(&ctx.objects, rt);
    task_states_read(rt->target, &states);
    if ((flags & PY_SNAPSHOT_BLOCKING) && target_can_pause(rt->target)) {
        rc = target_pause(rt->target);
        if (rc < 0) {
            free(states.tids);
            free(states.states);
            py_objects_release(&ctx.objects);
            return rc;
        }
        out->paused = 1;
    }
    for (attempt = 1; attempt <= PY_SNAPSHOT_ATTEMPTS; attempt++) {
        snapshot_clear(out);
        out->attempts = attempt;
        rc = snapshot_once(rt, &ctx, &states, out);
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
    } else if (flags & PY_SNAPSHOT_WAITS) {
        snapshot_waits(out);
    }
    py_objects_release(&ctx.objects);
    free(states.tids);
    free(states.states);
    out->elapsed_ms = (double)(clock_now_ns() - start) / 1e6;
    out->reads = rt->proc->nreads - reads0;
    out->bytes = rt->proc->nbytes - bytes0;
    return rc;
}
