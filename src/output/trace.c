/*
 * trace.c - a time-ordered trace in the Chrome trace event format.
 *
 * Layer: output.  A flame graph merges time away; this writer keeps it:
 * from the profile's events (every sample in time order, kept when the
 * recorder asked for them) it writes, per thread, Begin/End events of
 * the frames as the stack changes from one sample to the next, the way
 * Perfetto, chrome://tracing and speedscope open a trace ("JSON Object
 * Format", docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0n
 * SsKchNAySU).  A sample at t stands for [t, t + period): a stack holds
 * until the thread's next sample when that comes within 1.5 periods,
 * and ends one period after its sample otherwise (a thread not sampled
 * was not running in cpu mode, and unseen in any mode), so a stall shows
 * as a long frame or a gap, in its place in time.
 *
 * Where the sampler knew them, each thread's kernel state and GIL
 * ownership get a track of their own beside it ("MainThread: state"),
 * with slices such as "running, holds GIL" or "sleeping (S), no GIL".
 *
 * The recorder writes a trace as the samples arrive (out_trace_begin(),
 * out_trace_sample(), out_trace_end()), so that what it keeps does not
 * grow with the recording: per thread, its open frames and state; the
 * names of threads and processes, known best at the end, come last, with
 * the recording's figures ("otherData").  Events of different threads
 * interleave in time order; each thread's are in order, as readers need.
 *
 * Times are microseconds since the recording started.  A frame ends one
 * nanosecond before the next one begins at the same instant: speedscope
 * orders a Begin before an End of equal time and name, which would nest
 * the new frame inside the old.  Names are "function (file:line)", as in
 * the collapsed format; thread and process names are metadata events.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/xalloc.h"
#include "output/output.h"
#include "output/text.h"
#include "core/banned.h"

#ifndef PYSPECT_VERSION
#define PYSPECT_VERSION "unknown"
#endif

/* Track ids of state tracks: far above any kernel thread id. */
#define TRACE_STATE_TID 2000000000L

/* The frame id standing for "no Python frames". */
#define TRACE_NO_FRAMES UINT32_MAX

/* What the stream keeps of one thread of the profile. */
struct trace_thread {
    int seen;       /* sampled at least once */
    size_t index;   /* its place in the order of first samples */
    uint64_t last;  /* its latest sample */
    uint32_t *open; /* frame ids of the open stack, root first */
    size_t nopen;
    size_t open_alloc;
    int state_track;     /* something was known: the state track exists */
    struct strbuf state; /* the open state slice's label; "" none */
};

struct out_trace_stream {
    uint64_t period_ns;
    int rounds_known;             /* events carry PROF_STATE_FOLLOWS */
    struct trace_thread *threads; /* by the profile's thread index */
    size_t threads_alloc;
    uint32_t *order; /* thread indexes in the order of first samples */
    size_t norder;
    size_t order_alloc;
    uint64_t samples;
    uint64_t events;           /* events written */
    struct strbuf name, label; /* scratch */
};

static long
trace_tid(const struct profile *p, uint32_t thread)
{
    const struct prof_thread *t = &p->threads[thread];

    /* Without a kernel id, the thread's index + 1 stands in: ids need
     * only be distinct within the process, and the kernel hands out no
     * id that small to a thread of a user process. */
    return t->tid > 0 ? t->tid : (long)thread + 1;
}

/* The thread's Python name, or "thread TID" (readers add the tid). */
static void
trace_thread_name(const struct profile *p, uint32_t thread, struct strbuf *sb)
{
    const char *name = strtab_get(&p->strings, p->threads[thread].name);

    if (name != NULL && *name != '\0') {
        text_clean(sb, name, 0);
    } else {
        text_thread_label(sb, p, thread, 0, 0);
    }
}

static void
trace_ts(struct strbuf *out, uint64_t t_ns)
{
    strbuf_addf(out, "%" PRIu64 ".%03u", t_ns / 1000, (unsigned)(t_ns % 1000));
}

/* The separator before the next event of the array. */
static void
trace_next(struct out_trace_stream *ts, struct strbuf *out)
{
    strbuf_addstr(out, ts->events++ ? ",\n" : "\n");
}

static void
trace_event(struct out_trace_stream *ts, struct strbuf *out, char ph, int pid,
            long tid, uint64_t t_ns, const char *name, size_t len)
{
    trace_next(ts, out);
    strbuf_addf(out, "{\"ph\":\"%c\",\"pid\":%d,\"tid\":%ld,\"ts\":", ph, pid,
                tid);
    trace_ts(out, t_ns);
    strbuf_addstr(out, ",\"name\":");
    json_quote(out, name, len);
    strbuf_addch(out, '}');
}

/* A metadata event: a name for the process or a thread, or its place. */
static void
trace_meta(struct out_trace_stream *ts, struct strbuf *out, int pid, long tid,
           const char *what, const char *name, size_t len)
{
    trace_next(ts, out);
    strbuf_addf(out,
                "{\"ph\":\"M\",\"pid\":%d,\"tid\":%ld,\"name\":\"%s\","
                "\"args\":{\"name\":",
                pid, tid, what);
    json_quote(out, name, len);
    strbuf_addstr(out, "}}");
}

static void
trace_sort_index(struct out_trace_stream *ts, struct strbuf *out, int pid,
                 long tid, size_t index)
{
    trace_next(ts, out);
    strbuf_addf(out,
                "{\"ph\":\"M\",\"pid\":%d,\"tid\":%ld,"
                "\"name\":\"thread_sort_index\",\"args\":"
                "{\"sort_index\":%zu}}",
                pid, tid, index);
}

/* Begin or End event of frame id frame of a thread. */
static void
trace_frame(struct out_trace_stream *ts, const struct profile *p,
            struct strbuf *out, char ph, uint32_t thread, uint64_t t_ns,
            uint32_t frame)
{
    struct strbuf *l = &ts->label;

    strbuf_reset(l);
    if (frame == TRACE_NO_FRAMES) {
        strbuf_addstr(l, TEXT_NO_FRAMES);
    } else {
        text_frame_label(l, p, frame, 0);
    }
    trace_event(ts, out, ph, p->threads[thread].pid, trace_tid(p, thread),
                t_ns, l->buf, l->len);
}

/* Close a thread's open frames down to depth keep, innermost first. */
static void
trace_close(struct out_trace_stream *ts, const struct profile *p,
            struct strbuf *out, uint32_t thread, size_t keep, uint64_t t_ns)
{
    struct trace_thread *t = &ts->threads[thread];

    while (t->nopen > keep) {
        t->nopen--;
        trace_frame(ts, p, out, 'E', thread, t_ns, t->open[t->nopen]);
    }
}

/* "running (R), holds GIL": what state says, "" when nothing. */
static void
trace_state_label(uint32_t state, struct strbuf *sb)
{
    char c = PROF_STATE_LETTER(state);

    strbuf_reset(sb);
    if (state & PROF_STATE_ON_CPU) {
        strbuf_addstr(sb, "running");
    } else if (state & PROF_STATE_OFF_CPU) {
        strbuf_addstr(sb, c == 'D'               ? "waiting on I/O"
                          : c == 'S'             ? "sleeping"
                          : c == 'T' || c == 't' ? "stopped"
                                                 : "not running");
    }
    if (sb->len > 0 && c != 0) {
        strbuf_addf(sb, " (%c)", c);
    }
    if (state & (PROF_STATE_GIL | PROF_STATE_NO_GIL)) {
        strbuf_addf(sb, "%s%s", sb->len ? ", " : "",
                    state & PROF_STATE_GIL ? "holds GIL" : "no GIL");
    }
}

struct out_trace_stream *
out_trace_begin(const struct profile *p, int rounds_known, struct strbuf *out)
{
    struct out_trace_stream *ts = xcalloc(1, sizeof(*ts));
    double rate = p->meta.rate_hz > 0 ? p->meta.rate_hz : 100.0;

    ts->period_ns = (uint64_t)(1e9 / rate);
    ts->rounds_known = rounds_known;
    strbuf_init(&ts->name);
    strbuf_init(&ts->label);
    strbuf_addstr(out, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[");
    return ts;
}

void
out_trace_sample(struct out_trace_stream *ts, const struct profile *p,
                 const struct prof_event *e, struct strbuf *out)
{
    const struct prof_stack *s;
    const uint32_t *f;
    struct trace_thread *t;
    uint32_t thread;
    size_t n, keep = 0, j;
    uint64_t end;
    int follows;
    int pid;
    long state_tid;

    if (e->stack >= p->nstacks) {
        return;
    }
    s = &p->stacks[e->stack];
    f = profile_stack_frames(p, s);
    n = s->nframes ? s->nframes : 1;
    thread = s->thread;
    pid = p->threads[thread].pid;
    if (thread >= ts->threads_alloc) {
        size_t old = ts->threads_alloc;

        XGROW(ts->threads, ts->threads_alloc, thread + 1);
        memset(ts->threads + old, 0,
               (ts->threads_alloc - old) * sizeof(*ts->threads));
    }
    t = &ts->threads[thread];
    if (!t->seen) {
        t->seen = 1;
        t->index = ts->norder;
        strbuf_init(&t->state);
        XGROW(ts->order, ts->order_alloc, ts->norder + 1);
        ts->order[ts->norder++] = thread;
    }
    ts->samples++;
    state_tid = TRACE_STATE_TID + (long)t->index;
    /* Does this sample continue the thread's previous one?  When the
     * recorder said whether the thread was sampled in the round before,
     * that decides (rounds run late on a busy machine); otherwise, a
     * sample within 1.5 periods does.  One that does not ends the last
     * one a period after it (never after this one begins). */
    follows = ts->rounds_known ? (e->state & PROF_STATE_FOLLOWS) != 0
                               : e->t_ns <= t->last + ts->period_ns * 3 / 2;
    end = t->last + ts->period_ns;
    if (e->t_ns > 0 && end > e->t_ns - 1) {
        end = e->t_ns - 1;
    }

    /* The frames. */
    if (t->nopen > 0 && !follows) {
        trace_close(ts, p, out, thread, 0, end);
    }
    while (keep < t->nopen && keep < n &&
           t->open[keep] == (s->nframes ? f[keep] : TRACE_NO_FRAMES)) {
        keep++;
    }
    if (keep < t->nopen) {
        trace_close(ts, p, out, thread, keep, e->t_ns - 1);
    }
    if (n > t->open_alloc) {
        XGROW(t->open, t->open_alloc, n);
    }
    for (j = keep; j < n; j++) {
        t->open[j] = s->nframes ? f[j] : TRACE_NO_FRAMES;
        trace_frame(ts, p, out, 'B', thread, e->t_ns, t->open[j]);
    }
    t->nopen = n;

    /* The state track: one slice per run of equal states. */
    trace_state_label(e->state, &ts->label);
    if (t->state.len > 0 &&
        (!follows || strcmp(t->state.buf, ts->label.buf) != 0)) {
        trace_event(ts, out, 'E', pid, state_tid, follows ? e->t_ns - 1 : end,
                    t->state.buf, t->state.len);
        strbuf_reset(&t->state);
    }
    if (ts->label.len > 0 && t->state.len == 0) {
        t->state_track = 1;
        trace_event(ts, out, 'B', pid, state_tid, e->t_ns, ts->label.buf,
                    ts->label.len);
        strbuf_addstr(&t->state, ts->label.buf);
    }
    t->last = e->t_ns;
}

void
out_trace_end(struct out_trace_stream *ts, const struct profile *p,
              struct strbuf *out)
{
    const struct profile_meta *m = &p->meta;
    int *pids = xmalloc((p->nthreads + 1) * sizeof(*pids));
    size_t npids = 0, i, k;

    /* What is still open ends a period after its thread's last sample. */
    for (k = 0; k < ts->norder; k++) {
        uint32_t thread = ts->order[k];
        struct trace_thread *t = &ts->threads[thread];

        trace_close(ts, p, out, thread, 0, t->last + ts->period_ns);
        if (t->state.len > 0) {
            trace_event(ts, out, 'E', p->threads[thread].pid,
                        TRACE_STATE_TID + (long)t->index,
                        t->last + ts->period_ns, t->state.buf, t->state.len);
        }
    }

    /* Process names: the command for the root, the pid for the rest. */
    for (i = 0; i < p->nthreads; i++) {
        int pid = p->threads[i].pid;

        for (k = 0; k < npids && pids[k] != pid; k++) {
        }
        if (k < npids) {
            continue;
        }
        pids[npids++] = pid;
        strbuf_reset(&ts->name);
        if (pid == m->pid && m->command != NULL) {
            text_clean(&ts->name, m->command, 0);
        } else {
            strbuf_addf(&ts->name, "process %d", pid);
        }
        trace_meta(ts, out, pid, 0, "process_name", ts->name.buf,
                   ts->name.len);
    }
    if (ts->events == 0) {
        /* No thread at all: still one event, as readers want. */
        trace_meta(ts, out, m->pid, 0, "process_name", "pyspect: no samples",
                   strlen("pyspect: no samples"));
    }

    /* Thread names as they are now, in the order of first samples, each
     * with its state track (where something was known) just below. */
    for (k = 0; k < ts->norder; k++) {
        uint32_t thread = ts->order[k];
        int pid = p->threads[thread].pid;
        long tid = trace_tid(p, thread);

        strbuf_reset(&ts->name);
        trace_thread_name(p, thread, &ts->name);
        trace_meta(ts, out, pid, tid, "thread_name", ts->name.buf,
                   ts->name.len);
        trace_sort_index(ts, out, pid, tid, 2 * k);
        if (ts->threads[thread].state_track) {
            strbuf_addstr(&ts->name, ": state");
            trace_meta(ts, out, pid, TRACE_STATE_TID + (long)k, "thread_name",
                       ts->name.buf, ts->name.len);
            trace_sort_index(ts, out, pid, TRACE_STATE_TID + (long)k,
                             2 * k + 1);
        }
    }

    strbuf_addstr(out, "\n],\n\"otherData\":{");
    strbuf_addstr(out, "\"exporter\":\"pyspect " PYSPECT_VERSION "\"");
    if (m->command != NULL) {
        strbuf_addstr(out, ",\"command\":");
        json_quote(out, m->command, strlen(m->command));
    }
    strbuf_addf(out, ",\"mode\":\"%s\",\"rate_hz\":%g,\"samples\":%" PRIu64,
                m->mode ? m->mode : "cpu", m->rate_hz, ts->samples);
    if (m->start_unix > 0) {
        strbuf_addf(out, ",\"start_unix\":%.6f", m->start_unix);
    }
    strbuf_addstr(out, "}}\n");

    for (k = 0; k < ts->threads_alloc; k++) {
        free(ts->threads[k].open);
        if (ts->threads[k].seen) {
            strbuf_release(&ts->threads[k].state);
        }
    }
    free(ts->threads);
    free(ts->order);
    strbuf_release(&ts->name);
    strbuf_release(&ts->label);
    free(ts);
    free(pids);
}

size_t
out_trace_memory(const struct out_trace_stream *ts)
{
    size_t m = sizeof(*ts), k;

    m += ts->threads_alloc * sizeof(*ts->threads);
    m += ts->order_alloc * sizeof(*ts->order);
    m += ts->name.alloc + ts->label.alloc;
    for (k = 0; k < ts->threads_alloc; k++) {
        m += ts->threads[k].open_alloc * sizeof(uint32_t);
        m += ts->threads[k].seen ? ts->threads[k].state.alloc : 0;
    }
    return m;
}

int
out_trace(const struct profile *p, const struct out_options *o,
          struct strbuf *out)
{
    struct out_trace_stream *ts;
    int rounds_known = 0;
    size_t i;

    (void)o;
    for (i = 0; i < p->nevents && !rounds_known; i++) {
        rounds_known = (p->events[i].state & PROF_STATE_FOLLOWS) != 0;
    }
    ts = out_trace_begin(p, rounds_known, out);
    for (i = 0; i < p->nevents; i++) {
        out_trace_sample(ts, p, &p->events[i], out);
    }
    out_trace_end(ts, p, out);
    return 0;
}
