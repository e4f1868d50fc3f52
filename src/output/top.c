/*
 * top.c - the screen of `pyspect top`, or a plain snapshot of it.
 *
 * Layer: output.  A header (the process, the sampling, what the numbers
 * cover), a line of column titles with the sorted one marked, then the
 * rows of a prof_table.  Percentages are of the last interval's samples;
 * times are the samples since the start (or the reset) times the period
 * actually achieved, so a thread on a CPU the whole second shows 1.00 s.
 */
#include "output/top.h"

#include <inttypes.h>
#include <string.h>

#include "output/text.h"
#include "core/banned.h"

#define TOP_ROWS_DEFAULT 20
#define TOP_HEADER_LINES 7 /* the header and the column titles */
#define TOP_THREAD_COLS 18
#define TOP_FUNCTION_MIN 16

/* Inverse video on and off (the sorted column title, the title bar). */
#define ANSI_INVERSE "\033[7m"
#define ANSI_BOLD "\033[1m"
#define ANSI_OFF "\033[m"
/* Clear to the end of the line, and of the screen. */
#define ANSI_EOL "\033[K"
#define ANSI_EOS "\033[J"

const char *const out_top_columns[PROF_SORT_COUNT] = {
    "%Own",
    "%Total",
    "OwnTime",
    "TotalTime",
};

static const int column_width[PROF_SORT_COUNT] = {7, 8, 10, 11};

static double
pct(uint64_t n, uint64_t total)
{
    return total ? 100.0 * (double)n / (double)total : 0.0;
}

static void
end_line(struct strbuf *out, const struct out_top_view *v)
{
    if (v->ansi) {
        strbuf_addstr(out, ANSI_EOL);
        /* A raw terminal does not turn \n into \r\n on output only when
         * OPOST is off; it is on, but be explicit for a clean redraw. */
        strbuf_addstr(out, "\r\n");
    } else {
        strbuf_addch(out, '\n');
    }
}

/* Append s (clean) into at most cols columns, keeping its end. */
static void
fit_tail(struct strbuf *out, const char *s, size_t cols)
{
    size_t i = 0, len = strlen(s);

    if (cols == 0 || text_width(s) <= cols) {
        strbuf_addstr(out, s);
        return;
    }
    while (i < len && text_width(s + i) > cols - 1) {
        /* Skip one UTF-8 character. */
        i++;
        while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80) {
            i++;
        }
    }
    strbuf_addstr(out, TEXT_ELLIPSIS);
    strbuf_addstr(out, s + i);
}

static void
pad(struct strbuf *out, size_t have, size_t want)
{
    while (have++ < want) {
        strbuf_addch(out, ' ');
    }
}

/* Append line, cut to the screen's width, and end it; then empty it. */
static void
put_line(struct strbuf *out, struct strbuf *line, const struct out_top_view *v)
{
    if (v->cols > 0) {
        text_fit(out, line->buf, (size_t)v->cols);
    } else {
        strbuf_add(out, line->buf, line->len);
    }
    end_line(out, v);
    strbuf_reset(line);
}

static void
header(const struct prof_window *w, const struct out_top_header *h,
       const struct out_top_view *v, struct strbuf *out)
{
    struct strbuf line = STRBUF_INIT;

    strbuf_addf(&line, "pyspect top - pid %d", h->pid);
    if (h->processes > 1) {
        strbuf_addf(&line, " and %zu child%s", h->processes - 1,
                    h->processes > 2 ? "ren" : "");
    }
    strbuf_addf(&line, ", Python %s, %s mode at %g Hz: ",
                h->python_version ? h->python_version : "?", h->mode,
                h->rate_hz);
    text_clean(&line, h->command ? h->command : "", 0);
    if (v->ansi) {
        /* The title bar across the screen, in inverse video. */
        strbuf_addstr(out, ANSI_INVERSE);
        text_fit(out, line.buf, (size_t)v->cols);
        pad(out, text_width(line.buf), (size_t)v->cols);
        strbuf_addstr(out, ANSI_OFF);
        end_line(out, v);
        strbuf_reset(&line);
    } else {
        put_line(out, &line, v);
    }

    strbuf_addf(&line, "Threads: %zu", h->threads);
    if (h->cpu_pct >= 0) {
        strbuf_addf(&line, "   CPU: %.1f%%", h->cpu_pct);
    }
    if (h->gil_pct >= 0) {
        strbuf_addf(&line, "   GIL: %.1f%% of samples", h->gil_pct);
    }
    if (h->rss_bytes >= 0) {
        strbuf_addf(&line, "   RSS: %.1f MiB", h->rss_bytes / 1048576.0);
    }
    put_line(out, &line, v);

    strbuf_addf(&line,
                "Samples: %" PRIu64 " in the last %.1f s (%" PRIu64
                " dropped), %" PRIu64 " in %.1f s (%" PRIu64 " dropped)",
                w->last_total, h->interval_s, h->dropped_last, w->since_total,
                h->since_s, h->dropped_since);
    put_line(out, &line, v);

    strbuf_addf(&line,
                "%%Own, %%Total: the last %.1f s; OwnTime, TotalTime: "
                "totals since the %s",
                h->interval_s, h->was_reset ? "reset (r)" : "start");
    put_line(out, &line, v);

    strbuf_addf(&line, "View: %s, %s; sorted by %s%s",
                (v->flags & PROF_TABLE_LINES) ? "lines" : "functions",
                (v->flags & PROF_TABLE_THREADS) ? "per thread" : "all threads",
                out_top_columns[v->sort], h->paused ? "   [PAUSED]" : "");
    if (v->ansi) {
        strbuf_addstr(&line, "   keys: q 1-4 <- -> t l p r");
    }
    put_line(out, &line, v);
    strbuf_addstr(&line, h->message != NULL ? h->message : "");
    put_line(out, &line, v);
    strbuf_release(&line);
}

static void
titles(const struct out_top_view *v, size_t fn_cols, struct strbuf *out)
{
    int i;

    for (i = 0; i < PROF_SORT_COUNT; i++) {
        const char *name = out_top_columns[i];
        size_t len = strlen(name) + (i == (int)v->sort);

        pad(out, len, (size_t)column_width[i]);
        if (i == (int)v->sort && v->ansi) {
            strbuf_addstr(out, ANSI_INVERSE);
        }
        /* The sorted column is marked in a snapshot too. */
        strbuf_addf(out, "%s%s", i == (int)v->sort ? "*" : "", name);
        if (i == (int)v->sort && v->ansi) {
            strbuf_addstr(out, ANSI_OFF);
        }
    }
    strbuf_addstr(out, "  ");
    if (v->flags & PROF_TABLE_THREADS) {
        strbuf_addstr(out, "Thread");
        pad(out, 6, TOP_THREAD_COLS + 1);
    }
    strbuf_addstr(out, "Function");
    pad(out, 8, fn_cols + 1);
    strbuf_addstr(out, (v->flags & PROF_TABLE_LINES) ? "File:line"
                                                     : "File:first line");
    end_line(out, v);
}

static void
row(const struct prof_window *w, const struct prof_row *r, double period,
    const struct out_top_view *v, size_t fn_cols, size_t file_cols,
    struct strbuf *out, struct strbuf *scratch)
{
    const struct profile *p = &w->profile;
    const struct prof_frame *f = &p->frames[r->frame];
    const char *name = strtab_get(&p->strings, f->name);
    const char *file = strtab_get(&p->strings, f->file);

    strbuf_addf(out, "%6.1f%% %6.1f%% %8.2fs %9.2fs  ",
                pct(r->own_last, w->last_total),
                pct(r->total_last, w->last_total), (double)r->own * period,
                (double)r->total * period);
    if (v->flags & PROF_TABLE_THREADS) {
        const struct prof_thread *t = &p->threads[r->thread];
        const char *tname = strtab_get(&p->strings, t->name);

        strbuf_reset(scratch);
        if (t->tid > 0) {
            strbuf_addf(scratch, "%ld", t->tid);
        } else {
            strbuf_addf(scratch, "0x%" PRIx64, t->ident);
        }
        if (tname != NULL) {
            strbuf_addch(scratch, ' ');
            text_clean(scratch, tname, 0);
        }
        text_fit(out, scratch->buf, TOP_THREAD_COLS);
        pad(out, text_width(scratch->buf), TOP_THREAD_COLS + 1);
    }
    strbuf_reset(scratch);
    text_clean(scratch, name && *name ? name : "(unknown)", 0);
    if (fn_cols > 0) {
        text_fit(out, scratch->buf, fn_cols);
        pad(out, text_width(scratch->buf), fn_cols + 1);
    } else {
        strbuf_add(out, scratch->buf, scratch->len);
        strbuf_addch(out, ' ');
    }
    strbuf_reset(scratch);
    text_clean(scratch, file ? file : "", 0);
    if (f->line >= 0) {
        strbuf_addf(scratch, ":%d", (int)f->line);
    }
    fit_tail(out, scratch->buf, file_cols);
    end_line(out, v);
}

void
out_top(const struct prof_window *w, const struct prof_table *t,
        const struct out_top_header *h, const struct out_top_view *v,
        struct strbuf *out)
{
    struct strbuf scratch = STRBUF_INIT;
    size_t shown = v->top ? v->top : TOP_ROWS_DEFAULT, i;
    size_t fn_cols = 0, file_cols = 0, fixed = 38;
    double period = h->rounds_since > 0 ? h->since_s / (double)h->rounds_since
                                        : 1.0 / h->rate_hz;

    if (v->ansi) {
        strbuf_addstr(out, "\033[H");
    }
    header(w, h, v, out);
    if (v->flags & PROF_TABLE_THREADS) {
        fixed += TOP_THREAD_COLS + 1;
    }
    if (v->cols > 0 && (size_t)v->cols > fixed + 2 * TOP_FUNCTION_MIN) {
        size_t rest = (size_t)v->cols - fixed - 1;

        fn_cols = rest * 45 / 100;
        file_cols = rest - fn_cols - 1;
    } else if (v->cols > 0) {
        fn_cols = TOP_FUNCTION_MIN;
        file_cols = TOP_FUNCTION_MIN;
    } else {
        /* A snapshot: the widest name sets the column. */
        for (i = 0; i < t->n && i < shown; i++) {
            const struct prof_frame *f = &w->profile.frames[t->rows[i].frame];
            const char *name = strtab_get(&w->profile.strings, f->name);

            strbuf_reset(&scratch);
            text_clean(&scratch, name && *name ? name : "(unknown)", 0);
            if (text_width(scratch.buf) > fn_cols) {
                fn_cols = text_width(scratch.buf);
            }
        }
        if (fn_cols < 8) {
            fn_cols = 8;
        }
    }
    if (v->rows > 0 && v->top == 0) {
        /* One line spare: the last must not scroll the screen. */
        shown = v->rows > TOP_HEADER_LINES + 2
                    ? (size_t)v->rows - TOP_HEADER_LINES - 1
                    : 1;
    }
    titles(v, fn_cols, out);
    for (i = 0; i < t->n && i < shown; i++) {
        row(w, &t->rows[i], period, v, fn_cols, file_cols, out, &scratch);
    }
    if (t->n == 0) {
        strbuf_addstr(out, "(no samples yet)");
        end_line(out, v);
    }
    if (v->ansi) {
        strbuf_addstr(out, ANSI_EOS);
    }
    strbuf_release(&scratch);
}
