/*
 * table.c - the top frames by self and by total samples, as text.
 *
 * Layer: output.  Like pstats' tottime and cumtime views: "self" counts
 * the samples in which a frame is the innermost one, "total" those in
 * which it appears at all -- once per stack, however deep a recursion
 * repeats it, so that no total exceeds 100%.  Rows are frames as the
 * profile holds them: functions, or lines with --lines.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "output/output.h"
#include "output/text.h"
#include "core/banned.h"

#define TABLE_NAME_MAX 50 /* columns of the function column, at most */

struct table_row {
    uint32_t frame;
    uint32_t rank;
    uint64_t self;
    uint64_t total;
};

static int
table_by_self(const void *a, const void *b)
{
    const struct table_row *x = a, *y = b;

    if (x->self != y->self) {
        return x->self < y->self ? 1 : -1;
    }
    if (x->total != y->total) {
        return x->total < y->total ? 1 : -1;
    }
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static int
table_by_total(const void *a, const void *b)
{
    const struct table_row *x = a, *y = b;

    if (x->total != y->total) {
        return x->total < y->total ? 1 : -1;
    }
    if (x->self != y->self) {
        return x->self < y->self ? 1 : -1;
    }
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static double
pct(uint64_t n, uint64_t total)
{
    return total ? 100.0 * (double)n / (double)total : 0.0;
}

/* Append s (clean) padded with spaces to cols columns. */
static void
table_pad(struct strbuf *out, const char *s, size_t cols)
{
    size_t w = text_width(s);

    strbuf_addstr(out, s);
    while (w++ < cols) {
        strbuf_addch(out, ' ');
    }
}

static void
table_location(struct strbuf *out, const struct profile *p, uint32_t frame)
{
    const struct prof_frame *f = &p->frames[frame];
    const char *file = strtab_get(&p->strings, f->file);

    text_clean(out, file && *file ? file : "?", 0);
    if (f->line >= 0) {
        strbuf_addf(out, ":%d", (int)f->line);
    }
}

static void
table_view(struct strbuf *out, const struct profile *p, struct table_row *rows,
           size_t nrows, size_t top, int by_self)
{
    struct strbuf name = STRBUF_INIT;
    size_t shown = 0, cols = 8, i;

    qsort(rows, nrows, sizeof(*rows),
          by_self ? table_by_self : table_by_total);
    for (i = 0; i < nrows && shown < top; i++) {
        const char *fn =
            strtab_get(&p->strings, p->frames[rows[i].frame].name);
        size_t w;

        if ((by_self ? rows[i].self : rows[i].total) == 0) {
            break;
        }
        strbuf_reset(&name);
        text_clean(&name, fn && *fn ? fn : "(unknown)", 0);
        w = text_width(name.buf);
        if (w > cols) {
            cols = w;
        }
        shown++;
    }
    if (cols > TABLE_NAME_MAX) {
        cols = TABLE_NAME_MAX;
    }

    strbuf_addf(out, "Top %zu by %s\n", shown,
                by_self ? "self samples (in the function itself)"
                        : "total samples (in the function and its callees)");
    strbuf_addstr(out, "  self%    self  total%   total  ");
    table_pad(out, "function", cols);
    strbuf_addstr(out, "  file:line\n");
    for (i = 0; i < shown; i++) {
        const struct table_row *r = &rows[i];
        const char *fn = strtab_get(&p->strings, p->frames[r->frame].name);
        struct strbuf cut = STRBUF_INIT;

        strbuf_reset(&name);
        text_clean(&name, fn && *fn ? fn : "(unknown)", 0);
        text_fit(&cut, name.buf, cols);
        strbuf_addf(out, "%6.2f%% %7" PRIu64 " %6.2f%% %7" PRIu64 "  ",
                    pct(r->self, p->total), r->self, pct(r->total, p->total),
                    r->total);
        table_pad(out, cut.buf, cols);
        strbuf_addstr(out, "  ");
        table_location(out, p, r->frame);
        strbuf_addch(out, '\n');
        strbuf_release(&cut);
    }
    strbuf_release(&name);
}

static void
table_header(struct strbuf *out, const struct profile *p,
             const struct out_options *o)
{
    const struct profile_meta *m = &p->meta;
    uint64_t dropped = 0;
    size_t i;

    if (o && o->title) {
        text_clean(out, o->title, 0);
    } else {
        strbuf_addstr(out, "pyspect record");
        if (m->command) {
            strbuf_addstr(out, ": ");
            text_clean(out, m->command, 0);
        }
    }
    strbuf_addch(out, '\n');
    if (m->pid > 0) {
        strbuf_addf(out, "pid %d, ", m->pid);
    }
    if (m->python_version) {
        strbuf_addstr(out, "Python ");
        text_clean(out, m->python_version, 0);
        strbuf_addstr(out, ", ");
    }
    if (m->mode) {
        strbuf_addf(out, "%s mode, ", m->mode);
    }
    strbuf_addf(out, "%s", m->lines ? "per line" : "per function");
    if (m->duration_s > 0) {
        strbuf_addf(out, ", %.2f s", m->duration_s);
    }
    if (m->rate_hz > 0) {
        strbuf_addf(out, " at %g Hz", m->rate_hz);
        if (m->rounds > 0 && m->duration_s > 0) {
            strbuf_addf(out, " (achieved %.1f Hz)",
                        (double)m->rounds / m->duration_s);
        }
    }
    strbuf_addch(out, '\n');
    for (i = 0; i < PROF_DROP_COUNT; i++) {
        dropped += m->dropped[i];
    }
    strbuf_addf(out,
                "%" PRIu64 " samples, %" PRIu64 " dropped (%" PRIu64
                " torn, %" PRIu64 " unreadable, %" PRIu64 " late)\n\n",
                p->total, dropped, m->dropped[PROF_DROP_TORN],
                m->dropped[PROF_DROP_ERROR], m->dropped[PROF_DROP_LATE]);
}

static void
table_threads(struct strbuf *out, const struct profile *p)
{
    uint64_t *samples =
        xcalloc(p->nthreads ? p->nthreads : 1, sizeof(uint64_t));
    int with_pid = text_many_processes(p);
    size_t i;

    for (i = 0; i < p->nstacks; i++) {
        samples[p->stacks[i].thread] += p->stacks[i].count;
    }
    strbuf_addstr(out, "\nSamples by thread\n");
    strbuf_addstr(out, "  samples%  samples  thread\n");
    for (i = 0; i < p->nthreads; i++) {
        strbuf_addf(out, "  %7.2f%% %8" PRIu64 "  ", pct(samples[i], p->total),
                    samples[i]);
        text_thread_label(out, p, (uint32_t)i, with_pid, 0);
        strbuf_addch(out, '\n');
    }
    free(samples);
}

int
out_table(const struct profile *p, const struct out_options *o,
          struct strbuf *out)
{
    size_t top = o && o->top ? o->top : OUT_TOP_DEFAULT;
    struct table_row *rows;
    uint32_t *seen, *rank;
    size_t i, j;

    table_header(out, p, o);
    if (p->total == 0) {
        strbuf_addstr(out, "no samples\n");
        return 0;
    }
    rows = xcalloc(p->nframes ? p->nframes : 1, sizeof(*rows));
    seen = xmalloc((p->nframes ? p->nframes : 1) * sizeof(*seen));
    rank = text_frame_ranks(p);
    for (i = 0; i < p->nframes; i++) {
        rows[i].frame = (uint32_t)i;
        rows[i].rank = rank[i];
        seen[i] = PROF_NONE;
    }
    for (i = 0; i < p->nstacks; i++) {
        const struct prof_stack *s = &p->stacks[i];
        const uint32_t *ids = profile_stack_frames(p, s);

        if (s->nframes == 0) {
            continue;
        }
        rows[ids[s->nframes - 1]].self += s->count;
        for (j = 0; j < s->nframes; j++) {
            /* seen[] holds the last stack that counted the frame: a
             * recursion counts once. */
            if (seen[ids[j]] != (uint32_t)i) {
                seen[ids[j]] = (uint32_t)i;
                rows[ids[j]].total += s->count;
            }
        }
    }
    table_view(out, p, rows, p->nframes, top, 1);
    strbuf_addch(out, '\n');
    table_view(out, p, rows, p->nframes, top, 0);
    if (p->nthreads > 1) {
        table_threads(out, p);
    }
    free(rank);
    free(seen);
    free(rows);
    return 0;
}
