/*
 * test_window.c - unit tests of top's window of counts and its screen.
 *
 * Layer: tests.  Samples of known stacks go into a window; the function
 * and line tables, per thread and for all threads, must give the own and
 * total counts worked out by hand (a recursion counted once per stack),
 * for the last interval and since the start; close and reset move and
 * clear them; sorting follows the chosen column.  The screen writer puts
 * the hot function first, marks the sorted column, keeps every line
 * within the width, and writes escapes only for a terminal.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/strbuf.h"
#include "output/text.h"
#include "output/top.h"
#include "profile/window.h"
#include "tap.h"

struct fixture {
    struct prof_window w;
    uint32_t main_t, worker_t;
    uint32_t outer5, outer6, hot12, hot13, rec20, rec21;
};

/* name, file, first line, line */
static uint32_t
frame(struct prof_window *w, const char *name, int32_t first, int32_t line)
{
    struct strtab *s = &w->profile.strings;

    return prof_window_frame(w, strtab_intern(s, name),
                             strtab_intern(s, "app.py"), first, line);
}

static void
fixture_init(struct fixture *f)
{
    prof_window_init(&f->w);
    f->main_t = profile_thread(&f->w.profile, 1, 101, "MainThread");
    f->worker_t = profile_thread(&f->w.profile, 2, 102, "worker");
    f->outer5 = frame(&f->w, "outer", 4, 5);
    f->outer6 = frame(&f->w, "outer", 4, 6);
    f->hot12 = frame(&f->w, "hot", 11, 12);
    f->hot13 = frame(&f->w, "hot", 11, 13);
    f->rec20 = frame(&f->w, "rec", 19, 20);
    f->rec21 = frame(&f->w, "rec", 19, 21);
}

static void
add(struct fixture *f, uint32_t thread, int times, size_t n, ...)
{
    uint32_t frames[8];
    va_list ap;
    size_t i;
    int k;

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        frames[i] = va_arg(ap, uint32_t);
    }
    va_end(ap);
    for (k = 0; k < times; k++) {
        prof_window_add(&f->w, thread, frames, n);
    }
}

static const struct prof_row *
find(const struct prof_table *t, const struct prof_window *w, const char *name,
     int32_t line, uint32_t thread)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        const struct prof_frame *fr = &w->profile.frames[t->rows[i].frame];

        if (strcmp(strtab_get(&w->profile.strings, fr->name), name) == 0 &&
            fr->line == line && t->rows[i].thread == thread) {
            return &t->rows[i];
        }
    }
    return NULL;
}

static void
test_tables(void)
{
    struct fixture f;
    struct prof_table t;
    const struct prof_row *r;

    memset(&t, 0, sizeof(t));
    fixture_init(&f);
    TAP_EQ_INT(prof_window_function(&f.w, f.hot13),
               prof_window_function(&f.w, f.hot12),
               "two lines of a function share its frame");
    /* Innermost first: hot <- outer, 6 on line 12, 2 on line 13. */
    add(&f, f.main_t, 6, 2, f.hot12, f.outer5);
    add(&f, f.main_t, 2, 2, f.hot13, f.outer5);
    /* A recursion rec <- rec <- outer, on the worker. */
    add(&f, f.worker_t, 2, 3, f.rec21, f.rec20, f.outer6);
    prof_window_close(&f.w);
    add(&f, f.main_t, 5, 2, f.hot12, f.outer5);

    prof_table_build(&t, &f.w, 0);
    r = find(&t, &f.w, "hot", 11, PROF_NONE);
    TAP_OK(r != NULL, "a row for hot, at its first line");
    if (r != NULL) {
        TAP_EQ_INT(r->own_last, 8, "hot: own in the last interval");
        TAP_EQ_INT(r->own, 13, "hot: own since the start");
        TAP_EQ_INT(r->total, 13, "hot: total since the start");
    }
    r = find(&t, &f.w, "outer", 4, PROF_NONE);
    TAP_OK(r != NULL && r->own == 0 && r->total == 15 && r->total_last == 10,
           "outer: no own, in every stack");
    r = find(&t, &f.w, "rec", 19, PROF_NONE);
    TAP_OK(r != NULL && r->own == 2 && r->total == 2,
           "a recursion counts once per stack");
    TAP_EQ_INT(t.n, 3, "three functions");
    TAP_EQ_INT(f.w.last_total, 10, "last interval: 10 samples");
    TAP_EQ_INT(f.w.since_total, 15, "since the start: 15 samples");

    prof_table_build(&t, &f.w, PROF_TABLE_LINES);
    r = find(&t, &f.w, "hot", 12, PROF_NONE);
    TAP_OK(r != NULL && r->own == 11 && r->own_last == 6,
           "lines: hot line 12");
    r = find(&t, &f.w, "rec", 20, PROF_NONE);
    TAP_OK(r != NULL && r->own == 0 && r->total == 2,
           "lines: rec line 20 is not innermost");
    TAP_EQ_INT(t.n, 6, "six lines");

    prof_table_build(&t, &f.w, PROF_TABLE_THREADS);
    r = find(&t, &f.w, "outer", 4, f.worker_t);
    TAP_OK(r != NULL && r->total == 2, "per thread: outer on the worker");
    r = find(&t, &f.w, "outer", 4, f.main_t);
    TAP_OK(r != NULL && r->total == 13, "per thread: outer on main");

    prof_table_build(&t, &f.w, 0);
    prof_table_sort(&t, PROF_SORT_OWN);
    TAP_EQ_STR(strtab_get(&f.w.profile.strings,
                          f.w.profile.frames[t.rows[0].frame].name),
               "hot", "by own time: hot first");
    prof_table_sort(&t, PROF_SORT_TOTAL);
    TAP_EQ_STR(strtab_get(&f.w.profile.strings,
                          f.w.profile.frames[t.rows[0].frame].name),
               "outer", "by total time: outer first");

    prof_window_close(&f.w);
    prof_table_build(&t, &f.w, 0);
    r = find(&t, &f.w, "rec", 19, PROF_NONE);
    TAP_OK(r != NULL && r->own_last == 0 && r->own == 2,
           "after close: the last interval moved on, totals stay");
    prof_window_reset(&f.w);
    prof_table_build(&t, &f.w, 0);
    TAP_EQ_INT(t.n, 0, "after reset: no rows");
    TAP_EQ_INT(f.w.since_total, 0, "after reset: no samples");
    prof_table_release(&t);
    prof_window_release(&f.w);
}

static void
test_screen(void)
{
    struct fixture f;
    struct prof_table t;
    struct out_top_header h;
    struct out_top_view v;
    struct strbuf out = STRBUF_INIT;
    const char *p, *line;
    int i, width_ok = 1;

    memset(&t, 0, sizeof(t));
    fixture_init(&f);
    add(&f, f.main_t, 30, 2, f.hot12, f.outer5);
    add(&f, f.worker_t, 10, 3, f.rec21, f.rec20, f.outer6);
    prof_window_close(&f.w);
    memset(&h, 0, sizeof(h));
    h.pid = 42;
    h.command = "python app.py --a-very-long-argument-list-to-cut";
    h.python_version = "3.12.1";
    h.mode = "cpu";
    h.rate_hz = 100;
    h.threads = 2;
    h.processes = 1;
    h.cpu_pct = 97.5;
    h.gil_pct = 75;
    h.rss_bytes = 10 * 1048576.0;
    h.interval_s = 1;
    h.since_s = 1;
    h.rounds_since = 100;
    memset(&v, 0, sizeof(v));
    v.sort = PROF_SORT_OWN;
    prof_table_build(&t, &f.w, 0);
    prof_table_sort(&t, v.sort);

    out_top(&f.w, &t, &h, &v, &out);
    TAP_OK(strstr(out.buf, "pyspect top - pid 42, Python 3.12.1") != NULL,
           "snapshot: the title");
    TAP_OK(strstr(out.buf, "CPU: 97.5%   GIL: 75.0% of samples   RSS: "
                           "10.0 MiB") != NULL,
           "snapshot: CPU, GIL and RSS");
    TAP_OK(strstr(out.buf, "*OwnTime") != NULL, "the sorted column marked");
    p = strstr(out.buf, "File:first line\n");
    TAP_OK(p != NULL &&
               strncmp(p + 16, "  75.0%   75.0%     0.30s", 25) == 0 &&
               strstr(p, "hot") < strstr(p, "rec"),
           "hot first, own time at the achieved period");
    TAP_OK(strchr(out.buf, '\033') == NULL, "snapshot: no escapes");

    strbuf_reset(&out);
    v.ansi = 1;
    v.rows = 12;
    v.cols = 70;
    out_top(&f.w, &t, &h, &v, &out);
    TAP_OK(strncmp(out.buf, "\033[H", 3) == 0, "screen: cursor home first");
    /* Every line within 70 columns, once the escapes are taken out. */
    for (line = out.buf, i = 0; *line != '\0'; i++) {
        const char *end = strstr(line, "\r\n");
        struct strbuf plain = STRBUF_INIT;
        const char *c;

        if (end == NULL) {
            end = line + strlen(line);
        }
        for (c = line; c < end; c++) {
            if (*c == '\033') {
                while (c < end && !((*c >= 'A' && *c <= 'Z') ||
                                    (*c >= 'a' && *c <= 'z'))) {
                    c++;
                }
                continue;
            }
            strbuf_addch(&plain, *c);
        }
        if (text_width(plain.buf) > 70) {
            printf("# too wide: %s\n", plain.buf);
            width_ok = 0;
        }
        strbuf_release(&plain);
        line = *end ? end + 2 : end;
    }
    TAP_OK(width_ok, "screen: every line fits 70 columns");
    TAP_OK(i <= 12, "screen: no more lines than rows");
    strbuf_release(&out);
    prof_table_release(&t);
    prof_window_release(&f.w);
}

int
main(void)
{
    test_tables();
    test_screen();
    return tap_done();
}
