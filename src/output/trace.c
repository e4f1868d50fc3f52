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

struct trace {
    const struct profile *p;
    struct strbuf *out;
    struct text_labels frames;
    uint64_t period_ns;
    int rounds_known; /* some event has PROF_STATE_FOLLOWS */
    size_t *order;    /* event indexes grouped by thread, in time order */
    size_t *first;    /* where each thread's events start in order */
    uint32_t *open;   /* frame ids of the open stack, root first */
    size_t nopen;
    size_t open_alloc;
};

/* The frame id standing for "no Python frames". */
#define TRACE_NO_FRAMES UINT32_MAX

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

static void
trace_event(struct trace *tr, char ph, int pid, long tid, uint64_t t_ns,
            const char *name)
{
    struct strbuf *out = tr->out;

    strbuf_addf(out, ",\n{\"ph\":\"%c\",\"pid\":%d,\"tid\":%ld,\"ts\":", ph,
                pid, tid);
    trace_ts(out, t_ns);
    strbuf_addstr(out, ",\"name\":");
    json_quote(out, name, strlen(name));
    strbuf_addch(out, '}');
}

static const char *
trace_frame_name(struct trace *tr, uint32_t frame)
{
    return frame == TRACE_NO_FRAMES ? TEXT_NO_FRAMES
                                    : text_labels_get(&tr->frames, frame);
}

/*
 * Does sample e continue the thread's previous one (at last)?  When the
 * recorder said whether the thread was sampled in the round before, that
 * decides (rounds run late on a busy machine); otherwise, a sample within
 * 1.5 periods does.
 */
static int
trace_follows(const struct trace *tr, const struct prof_event *e,
              uint64_t last)
{
    if (tr->rounds_known) {
        return (e->state & PROF_STATE_FOLLOWS) != 0;
    }
    return e->t_ns <= last + tr->period_ns * 3 / 2;
}

/* Close open frames down to depth keep, innermost first, at t_ns. */
static void
trace_close(struct trace *tr, int pid, long tid, size_t keep, uint64_t t_ns)
{
    while (tr->nopen > keep) {
        tr->nopen--;
        trace_event(tr, 'E', pid, tid, t_ns,
                    trace_frame_name(tr, tr->open[tr->nopen]));
    }
}

/* The frames of thread `thread`, sample after sample. */
static void
trace_thread_frames(struct trace *tr, uint32_t thread)
{
    const struct profile *p = tr->p;
    int pid = p->threads[thread].pid;
    long tid = trace_tid(p, thread);
    uint64_t last = 0;
    int any = 0;
    size_t i, j;

    tr->nopen = 0;
    for (i = tr->first[thread]; i < tr->first[thread + 1]; i++) {
        const struct prof_event *e = &p->events[tr->order[i]];
        const struct prof_stack *s = &p->stacks[e->stack];
        const uint32_t *f = profile_stack_frames(p, s);
        size_t n = s->nframes ? s->nframes : 1, keep = 0;
        if (any && !trace_follows(tr, e, last)) {
            trace_close(tr, pid, tid, 0, last + tr->period_ns);
        }
        while (keep < tr->nopen && keep < n &&
               tr->open[keep] == (s->nframes ? f[keep] : TRACE_NO_FRAMES)) {
            keep++;
        }
        if (keep < tr->nopen) {
            trace_close(tr, pid, tid, keep, e->t_ns - 1);
        }
        if (n > tr->open_alloc) {
            XGROW(tr->open, tr->open_alloc, n);
        }
        for (j = keep; j < n; j++) {
            tr->open[j] = s->nframes ? f[j] : TRACE_NO_FRAMES;
            trace_event(tr, 'B', pid, tid, e->t_ns,
                        trace_frame_name(tr, tr->open[j]));
        }
        tr->nopen = n;
        last = e->t_ns;
        any = 1;
    }
    if (any) {
        trace_close(tr, pid, tid, 0, last + tr->period_ns);
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

/* The state track of a thread: one slice per run of equal states. */
static void
trace_thread_states(struct trace *tr, uint32_t thread, size_t index)
{
    const struct profile *p = tr->p;
    struct strbuf label = STRBUF_INIT, open = STRBUF_INIT;
    int pid = p->threads[thread].pid;
    long tid = TRACE_STATE_TID + (long)index;
    uint64_t last = 0;
    int any = 0, named = 0;
    size_t i;

    for (i = tr->first[thread]; i < tr->first[thread + 1]; i++) {
        const struct prof_event *e = &p->events[tr->order[i]];

        trace_state_label(e->state, &label);
        if (open.len > 0 && (!trace_follows(tr, e, last) ||
                             strcmp(open.buf, label.buf) != 0)) {
            trace_event(tr, 'E', pid, tid,
                        trace_follows(tr, e, last) ? e->t_ns - 1
                                                   : last + tr->period_ns,
                        open.buf);
            strbuf_reset(&open);
        }
        if (label.len > 0 && open.len == 0) {
            if (!named) {
                /* The track exists only once something is known. */
                struct strbuf name = STRBUF_INIT;

                trace_thread_name(p, thread, &name);
                strbuf_addstr(&name, ": state");
                strbuf_addf(tr->out,
                            ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%ld,"
                            "\"name\":\"thread_name\",\"args\":{\"name\":",
                            pid, tid);
                json_quote(tr->out, name.buf, name.len);
                strbuf_addf(tr->out,
                            "}},\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%ld,"
                            "\"name\":\"thread_sort_index\",\"args\":"
                            "{\"sort_index\":%zu}}",
                            pid, tid, 2 * index + 1);
                strbuf_release(&name);
                named = 1;
            }
            trace_event(tr, 'B', pid, tid, e->t_ns, label.buf);
            strbuf_addstr(&open, label.buf);
        }
        last = e->t_ns;
        any = 1;
    }
    if (any && open.len > 0) {
        trace_event(tr, 'E', pid, tid, last + tr->period_ns, open.buf);
    }
    strbuf_release(&label);
    strbuf_release(&open);
}

int
out_trace(const struct profile *p, const struct out_options *o,
          struct strbuf *out)
{
    struct trace tr;
    struct strbuf sb = STRBUF_INIT;
    const struct profile_meta *m = &p->meta;
    unsigned char *seen = xcalloc(p->nthreads + 1, 1);
    int *pids = xmalloc((p->nthreads + 1) * sizeof(*pids));
    size_t npids = 0, i, k;
    double rate = m->rate_hz > 0 ? m->rate_hz : 100.0;

    (void)o;
    memset(&tr, 0, sizeof(tr));
    tr.p = p;
    tr.out = out;
    tr.period_ns = (uint64_t)(1e9 / rate);
    for (i = 0; i < p->nevents && !tr.rounds_known; i++) {
        tr.rounds_known = (p->events[i].state & PROF_STATE_FOLLOWS) != 0;
    }
    text_labels_frames(&tr.frames, p, 0);
    /* Each thread's events together, still in time order (a counting
     * sort), so a thread is one pass over its own events. */
    tr.first = xcalloc(p->nthreads + 2, sizeof(*tr.first));
    tr.order = xmalloc((p->nevents + 1) * sizeof(*tr.order));
    for (i = 0; i < p->nevents; i++) {
        tr.first[p->stacks[p->events[i].stack].thread + 2]++;
    }
    for (i = 2; i < p->nthreads + 2; i++) {
        tr.first[i] += tr.first[i - 1];
    }
    for (i = 0; i < p->nevents; i++) {
        tr.order[tr.first[p->stacks[p->events[i].stack].thread + 1]++] = i;
    }

    strbuf_addstr(out, "{\"displayTimeUnit\":\"ms\",\"otherData\":{");
    strbuf_addstr(out, "\"exporter\":\"pyspect " PYSPECT_VERSION "\"");
    if (m->command != NULL) {
        strbuf_addstr(out, ",\"command\":");
        json_quote(out, m->command, strlen(m->command));
    }
    strbuf_addf(out, ",\"mode\":\"%s\",\"rate_hz\":%g,\"samples\":%zu",
                m->mode ? m->mode : "cpu", m->rate_hz, p->nevents);
    if (m->start_unix > 0) {
        strbuf_addf(out, ",\"start_unix\":%.6f", m->start_unix);
    }
    strbuf_addstr(out, "},\n\"traceEvents\":[");

    /* Process names: the command for the root, the pid for the rest. */
    for (i = 0; i < p->nthreads; i++) {
        int pid = p->threads[i].pid;

        for (k = 0; k < npids && pids[k] != pid; k++) {
        }
        if (k < npids) {
            continue;
        }
        pids[npids++] = pid;
        strbuf_reset(&sb);
        if (pid == m->pid && m->command != NULL) {
            text_clean(&sb, m->command, 0);
        } else {
            strbuf_addf(&sb, "process %d", pid);
        }
        strbuf_addf(out,
                    "%s\n{\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
                    "\"name\":\"process_name\",\"args\":{\"name\":",
                    npids > 1 ? "," : "", pid);
        json_quote(out, sb.buf, sb.len);
        strbuf_addstr(out, "}}");
    }
    if (npids == 0) {
        /* No thread at all: still one event, as readers want. */
        strbuf_addf(out,
                    "\n{\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
                    "\"name\":\"process_name\",\"args\":{\"name\":"
                    "\"pyspect: no samples\"}}",
                    m->pid);
    }

    /* Threads in the order of their first sample. */
    for (i = 0, k = 0; i < p->nevents; i++) {
        uint32_t t = p->stacks[p->events[i].stack].thread;

        if (seen[t]) {
            continue;
        }
        seen[t] = 1;
        strbuf_reset(&sb);
        trace_thread_name(p, t, &sb);
        strbuf_addf(out,
                    ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%ld,"
                    "\"name\":\"thread_name\",\"args\":{\"name\":",
                    p->threads[t].pid, trace_tid(p, t));
        json_quote(out, sb.buf, sb.len);
        strbuf_addf(out,
                    "}},\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%ld,"
                    "\"name\":\"thread_sort_index\",\"args\":"
                    "{\"sort_index\":%zu}}",
                    p->threads[t].pid, trace_tid(p, t), 2 * k);
        trace_thread_frames(&tr, t);
        trace_thread_states(&tr, t, k);
        k++;
    }
    strbuf_addstr(out, "\n]}\n");

    text_labels_release(&tr.frames);
    strbuf_release(&sb);
    free(tr.open);
    free(tr.order);
    free(tr.first);
    free(seen);
    free(pids);
    return 0;
}
