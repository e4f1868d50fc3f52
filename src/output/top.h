/*
 * top.h - the screen of `pyspect top`: a header about the process and the
 * sampling, then a table of functions or lines.
 *
 * Layer: output.  A pure writer: a window's table (src/profile/window.h)
 * and plain numbers in, text out; it never touches the target or the
 * terminal.  With ansi it writes a whole screen meant to replace the last
 * one (cursor home, lines cleared to their end); without, a plain snapshot
 * for a pipe or a log.
 */
#ifndef PYSPECT_OUTPUT_TOP_H
#define PYSPECT_OUTPUT_TOP_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "profile/window.h"

/* What the header says; negative numbers are unknown and not shown. */
struct out_top_header {
    int pid;
    const char *command;
    const char *python_version; /* NULL: not known yet */
    const char *mode;           /* "cpu", "wall", "gil" */
    double rate_hz;
    size_t threads;    /* Python threads */
    size_t processes;  /* processes sampled (more than 1: --subprocesses) */
    double cpu_pct;    /* of one core, the interval's; < 0 unknown */
    double gil_pct;    /* samples holding the GIL, the interval's */
    double rss_bytes;  /* < 0 unknown */
    double interval_s; /* the last interval's length */
    double since_s;    /* time counted since the start, or the reset */
    int was_reset;     /* since a reset rather than the start */
    uint64_t rounds_since;  /* sampling rounds since */
    uint64_t dropped_last;  /* samples dropped in the last interval */
    uint64_t dropped_since; /* and since */
    int paused;             /* the display is paused */
    const char *message;    /* a status line (e.g. the target exited) */
};

struct out_top_view {
    unsigned flags;      /* PROF_TABLE_* */
    enum prof_sort sort; /* the sorted column */
    int rows, cols;      /* the screen; rows 0: no limit (a snapshot) */
    size_t top;          /* table rows at most; 0: as many as fit, or 20 */
    int ansi;            /* redraw a terminal screen */
};

/* The column titles, in PROF_SORT_* order. */
extern const char *const out_top_columns[PROF_SORT_COUNT];

/* Append the screen (or snapshot) for table t of window w. */
void out_top(const struct prof_window *w, const struct prof_table *t,
             const struct out_top_header *h, const struct out_top_view *v,
             struct strbuf *out);

#endif /* PYSPECT_OUTPUT_TOP_H */
