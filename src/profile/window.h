/*
 * window.h - samples counted per refresh interval and since a start, and
 * the function and line tables that `pyspect top` shows.
 *
 * Layer: profile.  Knows nothing about CPython or terminals.  A window
 * holds a profile (strings, frames, threads, distinct stacks: memory grows
 * with distinct stacks, never with time) and three counts per stack: the
 * interval being counted, the last interval closed, and everything since
 * the start (or the last reset).  Frames are interned per line; each also
 * knows its function's frame (name, file, first line), so one window gives
 * both a function table and a line table, per thread or for all threads,
 * without sampling again.
 */
#ifndef PYSPECT_PROFILE_WINDOW_H
#define PYSPECT_PROFILE_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

struct prof_window {
    struct profile profile;
    uint32_t *fn_frame; /* per frame: the frame of its function */
    size_t fn_alloc;
    uint64_t *now;   /* per stack: samples in the interval being counted */
    uint64_t *last;  /* per stack: samples in the last interval closed */
    uint64_t *since; /* per stack: samples since the start or reset */
    size_t counts_alloc;
    uint64_t now_total, last_total, since_total;
};

void prof_window_init(struct prof_window *w);
void prof_window_release(struct prof_window *w);

/*
 * The frame id of line `line` of the function (name, file, first_line),
 * names being ids of w->profile.strings; the function's own frame is
 * interned too (prof_window_function()).
 */
uint32_t prof_window_frame(struct prof_window *w, uint32_t name, uint32_t file,
                           int32_t first_line, int32_t line);

/* The function frame of a frame prof_window_frame() returned. */
static inline uint32_t
prof_window_function(const struct prof_window *w, uint32_t frame)
{
    return w->fn_frame[frame];
}

/* Count one sample of frames[0..n) (innermost first) on thread. */
void prof_window_add(struct prof_window *w, uint32_t thread,
                     const uint32_t *frames, size_t n);

/* End the interval: its counts become the last interval's. */
void prof_window_close(struct prof_window *w);

/* Forget every count (strings, frames and stacks stay interned). */
void prof_window_reset(struct prof_window *w);

/* prof_table_build() flags. */
#define PROF_TABLE_LINES 0x1u   /* a row per line, not per function */
#define PROF_TABLE_THREADS 0x2u /* a row per thread and frame */

/*
 * One row: "own" counts the samples in which the frame is the innermost,
 * "total" those in which it appears at all, once per stack however deep a
 * recursion repeats it (no total exceeds the samples).
 */
struct prof_row {
    uint32_t frame;                /* the function's frame, or the line's */
    uint32_t thread;               /* PROF_NONE unless PROF_TABLE_THREADS */
    uint64_t own_last, total_last; /* in the last interval */
    uint64_t own, total;           /* since the start or reset */
};

enum prof_sort {
    PROF_SORT_OWN_LAST,   /* own % (the last interval) */
    PROF_SORT_TOTAL_LAST, /* total % (the last interval) */
    PROF_SORT_OWN,        /* own time (since) */
    PROF_SORT_TOTAL,      /* total time (since) */
    PROF_SORT_COUNT
};

/* Rows with a count, and scratch kept between builds. */
struct prof_table {
    struct prof_row *rows;
    size_t n, alloc;
    uint32_t *stamp; /* per row: the stack that last counted its total */
    size_t stamp_alloc;
};

/*
 * Fill t with a row per function (or line) with samples in the last
 * interval or since, unsorted.  Costs one pass over the distinct stacks.
 */
void prof_table_build(struct prof_table *t, const struct prof_window *w,
                      unsigned flags);

/* Sort the rows, greatest first; ties by the other counts, then by frame
 * and thread ids, so the order is stable between refreshes. */
void prof_table_sort(struct prof_table *t, enum prof_sort by);

void prof_table_release(struct prof_table *t);

#endif /* PYSPECT_PROFILE_WINDOW_H */
