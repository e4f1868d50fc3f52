/*
 * sampler.c - rounds of stack samples with as few reads as possible.
 *
 * Layer: python.  A round costs, for each sampled thread, one batched
 * read shared by all thread states, the stack itself (one read of its
 * data-stack chunk on 3.11+), and one batched verification read.
 */
#define _GNU_SOURCE
#include "sampler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "core/banned.h"

/* Look for a missing thread name at most once per this many rounds. */
#define NAME_RETRY_ROUNDS 200

void
py_sampler_init(struct py_sampler *s, struct py_runtime *rt,
                enum py_sample_mode mode)
{
    memset(s, 0, sizeof(*s));
    s->rt = rt;
    s->mode = mode;
    s->stack_flags = PY_STACK_VERIFY;
    s->stack = (struct py_stack)PY_STACK_INIT;
}

static void
thread_close(struct py_sampled_thread *t)
{
    free(t->name);
}

void
py_sampler_release(struct py_sampler *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        thread_close(&s->threads[i]);
    }
    free(s->threads);
    free(s->interps);
    free(s->buf);
    py_stack_release(&s->stack);
    memset(s, 0, sizeof(*s));
}

/* The kernel's state letter for a thread, 0 when unknown. */
static char
thread_state(struct py_sampler *s, struct py_sampled_thread *t)
{
    char state = 0;

    if (t->thread.tid <= 0 ||
        target_thread_state(s->rt->target, (int)t->thread.tid, &state) < 0) {
        return 0;
    }
    return state;
}

/* Where this round's GIL holder will be read from (gil mode only). */
static int
gil_locate(struct py_sampler *s)
{
    const struct py_layout *l = &s->rt->layout;
    struct py_runtime *rt = s->rt;

    s->gil = s->holder_slot = 0;
    if (s->mode != PY_SAMPLE_GIL || s->ninterps == 0) {
        return 0;
    }
    if (pyl_has(l->interp_ceval_gil)) {
        return memsrc_read_u64(
            rt->proc, s->interps[0] + (raddr_t)l->interp_ceval_gil, &s->gil);
    }
    if (rt->runtime != 0 && pyl_has(l->rt_gilstate_tstate_current)) {
        s->holder_slot = rt->runtime + (raddr_t)l->rt_gilstate_tstate_current;
    } else {
        s->holder_slot = rt->tstate_current;
    }
    return 0;
}

/* Walk the thread lists again and rebuild the thread table, keeping
 * what is known about threads that are still there. */
static int
refresh(struct py_sampler *s)
{
    struct py_threads list = PY_THREADS_INIT;
    struct py_sampled_thread *old = s->threads;
    size_t nold = s->n, i, j;
    int rc;

    s->stats.refreshes++;
    py_runtime_snapshot(s->rt);
    rc = py_threads_read(s->rt, &list);
    if (rc == 0) {
        rc = py_threads_resolve_tids(s->rt, &list);
    }
    if (rc < 0) {
        py_threads_release(&list);
        return rc;
    }
    s->threads = xcalloc(list.n ? list.n : 1, sizeof(*s->threads));
    s->alloc = list.n ? list.n : 1;
    s->n = list.n;
    s->ninterps = 0;
    for (i = 0; i < list.n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        t->thread = list.v[i];
        t->user = UINT32_MAX;
        for (j = 0; j < nold; j++) {
            if (!old[j].alive && old[j].thread.tstate == t->thread.tstate &&
                old[j].thread.ident == t->thread.ident) {
                old[j].alive = 1;
                t->name = old[j].name;
                t->named_round = old[j].named_round;
                t->user = old[j].user;
                old[j].name = NULL;
                break;
            }
        }
        if (s->ninterps == 0 ||
            s->interps[s->ninterps - 1] != t->thread.interp) {
            XGROW(s->interps, s->interps_alloc, s->ninterps + 1);
            s->interps[s->ninterps++] = t->thread.interp;
        }
    }
    for (j = 0; j < nold; j++) {
        thread_close(&old[j]);
    }
    free(old);
    py_threads_release(&list);
    return gil_locate(s);
}

/*
 * Read every known thread state (and each interpreter's list head), the
 * GIL holder, and, for the threads this round samples, where their stacks
 * were last round, in one batched read.  Returns 1 when the lists still
 * link the same thread states, 0 when they changed (refresh), or an
 * error.
 */
static int
reread_threads(struct py_sampler *s, int speculate)
{
    const struct py_layout *l = &s->rt->layout;
    size_t tsize = (size_t)l->tstate_size, need, i, k, j, n = 0, niov;
    int cframes =
        !pyl_has(l->tstate_frame) && !pyl_has(l->tstate_current_frame);
    uint64_t gil[2] = {0, 0}; /* locked word, last holder / holder */
    struct memsrc_iov *iov;
    unsigned char *spec;
    int rc;

    need = s->ninterps * 8 + s->n * tsize;
    niov = s->ninterps + s->n + 2;
    for (k = 0; speculate && k < s->n; k++) {
        struct py_sampled_thread *t = &s->threads[k];

        if (t->want) {
            for (j = 0; j < t->nspec; j++) {
                need += t->spec[j].len;
            }
            niov += t->nspec + 1;
        }
    }
    if (need > s->buf_alloc) {
        s->buf = xrealloc(s->buf, need);
        s->buf_alloc = need;
    }
    iov = xmalloc(niov * sizeof(*iov));
    for (i = 0; i < s->ninterps; i++, n++) {
        iov[n].addr = s->interps[i] + (raddr_t)l->interp_tstate_head;
        iov[n].buf = s->buf + 8 * i;
        iov[n].len = 8;
    }
    for (i = 0; i < s->n; i++, n++) {
        iov[n].addr = s->threads[i].thread.tstate;
        iov[n].buf = s->buf + s->ninterps * 8 + i * tsize;
        iov[n].len = tsize;
    }
    if (s->gil != 0) {
        iov[n].addr = s->gil + (raddr_t)l->gil_locked;
        iov[n].buf = &gil[0];
        iov[n++].len = 4;
        iov[n].addr = s->gil + (raddr_t)l->gil_last_holder;
        iov[n].buf = &gil[1];
        iov[n++].len = 8;
    } else if (s->holder_slot != 0) {
        iov[n].addr = s->holder_slot;
        iov[n].buf = &gil[1];
        iov[n++].len = 8;
        gil[0] = 1;
    }
    spec = s->buf + s->ninterps * 8 + s->n * tsize;
    for (k = 0; k < s->n; k++) {
        struct py_sampled_thread *t = &s->threads[k];

        t->top_known = 0;
        t->spec_slot = 0;
        if (!speculate || !t->want) {
            continue;
        }
        if (cframes && t->thread.top_slot != 0) {
            t->spec_slot = t->thread.top_slot;
            iov[n].addr = t->spec_slot;
            iov[n].buf = &t->spec_top;
            iov[n++].len = 8;
        }
        for (j = 0; j < t->nspec; j++, n++) {
            t->spec[j].data = spec;
            iov[n].addr = t->spec[j].addr;
            iov[n].buf = spec;
            iov[n].len = t->spec[j].len;
            spec += t->spec[j].len;
        }
    }
    rc = memsrc_readv(s->rt->proc, iov, n);
    free(iov);
    if (rc == PS_EFAULT && speculate) {
        /* Last round's stack went away (a chunk freed, say): read the
         * thread states alone. */
        return reread_threads(s, 0);
    }
    if (rc == PS_EFAULT) {
        return 0; /* a thread state was freed: walk again */
    }
    if (rc < 0) {
        return rc;
    }
    /* Each interpreter's head is its first thread, each thread links to
     * the next one of the same interpreter, and the last one ends. */
    for (i = 0, k = 0; i < s->ninterps; i++) {
        raddr_t expect = load_u64(s->buf, (int32_t)(8 * i));

        for (; k < s->n && s->threads[k].thread.interp == s->interps[i]; k++) {
            const unsigned char *ts = s->buf + s->ninterps * 8 + k * tsize;

            if (s->threads[k].thread.tstate != expect ||
                load_u64(ts, l->tstate_interp) != s->interps[i]) {
                return 0;
            }
            expect = load_u64(ts, l->tstate_next);
        }
        if (expect != 0) {
            return 0;
        }
    }
    s->holder = (uint32_t)gil[0] == 1 ? gil[1] : 0;
    /* The top frame of each thread. */
    for (k = 0; k < s->n; k++) {
        const unsigned char *ts = s->buf + s->ninterps * 8 + k * tsize;
        struct py_sampled_thread *st = &s->threads[k];
        struct py_thread *t = &st->thread;

        if (!speculate) {
            st->nspec = 0;
        }
        if (pyl_has(l->tstate_frame)) {
            t->top = load_u64(ts, l->tstate_frame);
            st->top_known = 1;
        } else if (pyl_has(l->tstate_current_frame)) {
            t->top = load_u64(ts, l->tstate_current_frame);
            st->top_known = 1;
        } else {
            /* 3.11/3.12: the top frame hangs off a _PyCFrame, fetched
             * above when it is where it was last round. */
            raddr_t cframe = load_u64(ts, l->tstate_cframe);

            t->top = 0;
            t->top_slot =
                cframe ? cframe + (raddr_t)l->cframe_current_frame : 0;
            if (st->spec_slot != 0 && st->spec_slot == t->top_slot) {
                t->top = st->spec_top;
                st->top_known = 1;
            }
        }
        if (pyl_has(l->tstate_datastack_chunk)) {
            t->datastack = load_u64(ts, l->tstate_datastack_chunk);
        }
    }
    return 1;
}

static void
look_for_names(struct py_sampler *s)
{
    struct py_threads list = PY_THREADS_INIT;
    char **names = NULL;
    size_t i;

    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        if (t->name == NULL &&
            (t->named_round == 0 ||
             s->stats.rounds - t->named_round >= NAME_RETRY_ROUNDS)) {
            break;
        }
    }
    if (i == s->n) {
        return;
    }
    list.v = xmalloc(s->n * sizeof(*list.v));
    list.n = list.alloc = s->n;
    for (i = 0; i < s->n; i++) {
        list.v[i] = s->threads[i].thread;
        s->threads[i].named_round = s->stats.rounds;
    }
    if (py_threads_names(s->rt, &list, &names) == 0) {
        for (i = 0; i < s->n; i++) {
            if (s->threads[i].name == NULL) {
                s->threads[i].name = names[i];
            } else {
                free(names[i]);
            }
        }
        free(names);
    }
    py_threads_release(&list);
}

/*
 * A thread's stack, verified.  A stack that changed while read is read
 * again at once: dropping it would bias the profile against short
 * functions, whose samples sit nearer to calls and returns.
 */
static int
read_stack(struct py_sampler *s, struct py_sampled_thread *t)
{
    const struct py_layout *l = &s->rt->layout;
    unsigned flags = s->stack_flags;
    int attempt, rc = 0;

    if (!t->top_known && t->thread.top_slot != 0) {
        rc = memsrc_read_u64(s->rt->proc, t->thread.top_slot, &t->thread.top);
        if (rc < 0) {
            return rc == PS_EFAULT ? PS_ECHANGED : rc;
        }
    }
    if (t->nspec > 0) {
        s->stack.prefetch = t->spec;
        s->stack.nprefetch = t->nspec;
        flags |= PY_STACK_PREFETCHED;
    }
    for (attempt = 0; attempt < PY_SAMPLE_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            s->stats.retries++;
            flags &= ~(unsigned)PY_STACK_PREFETCHED;
            /* The top of the stack moved on: read it again. */
            rc = memsrc_read_u64(s->rt->proc, t->thread.top_slot,
                                 &t->thread.top);
            if (rc == 0 && pyl_has(l->tstate_datastack_chunk)) {
                rc = memsrc_read_u64(s->rt->proc,
                                     t->thread.tstate +
                                         (raddr_t)l->tstate_datastack_chunk,
                                     &t->thread.datastack);
            }
            if (rc < 0) {
                break;
            }
        }
        rc = py_stack_read(s->rt, &t->thread, flags, &s->stack);
        if (rc >= 0 || err_class(rc) != ERR_CLASS_TRANSIENT) {
            break;
        }
    }
    if (rc == 0) {
        s->stats.spec_hits += attempt == 0 && t->nspec > 0;
        /* Next round, fetch this stack's pieces with the thread states. */
        t->nspec =
            py_stack_where(s->rt, &t->thread, &s->stack, t->spec, PY_SPEC_MAX);
    } else {
        t->nspec = 0;
    }
    return rc;
}

/* Which threads this round samples, as far as known before reading. */
void
py_sampler_choose(struct py_sampler *s)
{
    size_t i;

    s->chosen = 1;
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        if (s->mode == PY_SAMPLE_CPU) {
            t->state = thread_state(s, t);
            t->want = t->state == 'R';
        } else if (s->mode == PY_SAMPLE_WALL) {
            t->want = 1;
        }
        /* gil mode: the holder of last round is the likely one. */
    }
}

int
py_sampler_round(struct py_sampler *s, py_sample_fn fn, void *ctx)
{
    size_t i;
    int rc;

    s->stats.rounds++;
    if (!s->chosen) {
        py_sampler_choose(s);
    }
    s->chosen = 0;
    rc = s->n > 0 ? reread_threads(s, 1) : 0;
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        /* A new list: read it, then the GIL holder with the threads. */
        rc = refresh(s);
        if (rc == 0 && s->n > 0) {
            py_sampler_choose(s);
            s->chosen = 0;
            rc = reread_threads(s, 0);
            rc = rc == 0 ? PS_ECHANGED : rc;
        }
        if (rc < 0) {
            return rc == PS_ECHANGED ? 0 : rc;
        }
    }
    py_runtime_snapshot(s->rt);
    look_for_names(s);
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        if (s->mode == PY_SAMPLE_GIL) {
            t->want = t->thread.tstate == s->holder;
        }
        if (!t->want) {
            s->stats.idle += s->mode == PY_SAMPLE_CPU;
            continue;
        }
        rc = read_stack(s, t);
        if (rc == PS_EEXITED) {
            return rc;
        }
        if (rc < 0) {
            if (err_class(rc) == ERR_CLASS_TRANSIENT) {
                s->stats.torn++;
            } else {
                s->stats.errors++;
            }
            s->last_error = rc;
            continue;
        }
        s->stats.stacks++;
        fn(ctx, t, s->stack.v, s->stack.n);
    }
    return 0;
}
