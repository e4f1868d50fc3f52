/*
 * output.h - writers of a recorded profile: flame graph SVG, collapsed
 * stacks, speedscope JSON and a text table.
 *
 * Layer: output.  Pure functions: a profile (src/profile/) and options in,
 * bytes appended to a strbuf out.  They never touch the target, never
 * print and never fail (memory exhaustion exits in xalloc); they return 0
 * so that a future writer that can fail keeps the same shape.
 *
 * Names in a profile may hold anything a Python str can; every writer
 * turns what its format cannot carry into U+FFFD (output/text.h) and
 * escapes what it must (XML, JSON).  Output is deterministic: the same
 * profile gives the same bytes, whatever order the stacks arrived in.
 */
#ifndef PYSPECT_OUTPUT_OUTPUT_H
#define PYSPECT_OUTPUT_OUTPUT_H

#include <stddef.h>

#include "core/strbuf.h"
#include "profile/profile.h"

enum out_format {
    OUT_SVG,        /* interactive flame graph */
    OUT_COLLAPSED,  /* FlameGraph's folded stacks */
    OUT_SPEEDSCOPE, /* https://www.speedscope.app file format */
    OUT_TABLE,      /* top functions by self and total samples */
    OUT_LINES,      /* an allocation profile by line (alloc's table) */
};

#define OUT_TOP_DEFAULT 20
#define OUT_SVG_WIDTH_DEFAULT 1200
#define OUT_SVG_MIN_WIDTH_DEFAULT 0.1

struct out_options {
    size_t top;        /* table: rows per view; 0: OUT_TOP_DEFAULT;
                        * SIZE_MAX: every row */
    int width;         /* svg: image width in pixels; below 200 (0
                        * included): OUT_SVG_WIDTH_DEFAULT */
    double min_width;  /* svg: frames narrower than this many pixels in
                        * the unzoomed graph are not drawn, and the graph
                        * says how many; 0: never prune */
    const char *title; /* all but collapsed: title; NULL: from the
                        * command in meta */
    /* lines: the source line of file:line appended to out (0), or not
     * available (nonzero); NULL: no source lines. */
    int (*source_line)(void *ctx, const char *file, int line,
                       struct strbuf *out);
    void *source_ctx;
};

/* Defaults: top 20, width 1200, min_width 0.1, title NULL. */
void out_options_init(struct out_options *o);

/*
 * The format called name: "svg" (or "flamegraph"), "collapsed" (or
 * "folded"), "speedscope", "table".  Unknown names give PS_EUSAGE with
 * the context "unknown format 'x' (choose svg, collapsed, speedscope or
 * table)".
 */
int out_format_parse(const char *name, enum out_format *format);

/*
 * The format a path's extension clearly asks for, case-insensitively:
 *   .svg                                   svg
 *   .txt .collapsed .folded                collapsed (py-spy's raw .txt)
 *   .json .speedscope .speedscope.json     speedscope
 *   .table                                 table
 * Returns 1 and sets *format when the extension is one of these, 0 (and
 * leaves *format) otherwise: the caller keeps its default.
 */
int out_format_from_path(const char *path, enum out_format *format);

/* "svg", "collapsed", "speedscope", "table", "lines". */
const char *out_format_name(enum out_format format);

/* Write p in format to out; o may be NULL for the defaults. */
int out_write(enum out_format format, const struct profile *p,
              const struct out_options *o, struct strbuf *out);

/*
 * Collapsed stacks, one line per distinct stack:
 *     [thread 4243 "worker-1";]root (file:line);...;leaf (file:line) COUNT
 * frames root first; the line is the function's first line, or the
 * sampled line when meta.lines.  A root frame per thread when
 * meta.threads (`process PID thread ...` when the profile spans several
 * processes); otherwise the same stack on several threads is one line.
 * ';' in names becomes ':' and unprintable characters U+FFFD, so that
 * every line splits on ';' and on its last space.  Lines are sorted
 * bytewise.  An empty stack is the frame "(no Python frames)".
 */
int out_collapsed(const struct profile *p, const struct out_options *o,
                  struct strbuf *out);

/*
 * A self-contained interactive flame graph (SVG 1.1 with inline script
 * and style, no network): root at the bottom, children sorted by name,
 * widths proportional to samples; hover for name, samples and share;
 * click to zoom, click a faded ancestor or "Reset zoom" (or Escape) to
 * go back; "Search" (or Ctrl-F, or /) highlights frames matching a
 * regular expression and shows the share of samples they cover.  Colours
 * tell your code (warm), the standard library (blue) and third-party
 * packages (green) apart.  Without script (e.g. an <img>) it still shows
 * the graph with labels cut to fit.
 */
int out_svg(const struct profile *p, const struct out_options *o,
            struct strbuf *out);

/*
 * A speedscope file: shared.frames (name, file, line) and one "sampled"
 * profile per thread, busiest first, unit "none" (weights are sample
 * counts), samples root first.  Samples are aggregated, so their order is
 * by stack, not by time.
 */
int out_speedscope(const struct profile *p, const struct out_options *o,
                   struct strbuf *out);

/*
 * A text table of the top o->top frames by self samples and by total
 * samples (a frame counted once per stack however often it recurs),
 * columns self%, self, total%, total, function, file:line; then samples
 * per thread when there are several.
 */
int out_table(const struct profile *p, const struct out_options *o,
              struct strbuf *out);

/*
 * An allocation profile (counts are bytes, objects are blocks) as a
 * table by line: the top o->top innermost lines by bytes, with share,
 * blocks, average block size and, through o->source_line, the source
 * line; then what the rest add up to.
 */
int out_lines(const struct profile *p, const struct out_options *o,
              struct strbuf *out);

#endif /* PYSPECT_OUTPUT_OUTPUT_H */
