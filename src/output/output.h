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
    int pid;           /* pprof: only the threads of this process; 0:
                        * every process */
    /* lines: the source line of file:line appended to out (0), or not
     * available (nonzero); NULL: no source lines. */
    int (*source_line)(void *ctx, const char *file, int line,
                       struct strbuf *out);
    void *source_ctx;
};

/* Defaults: top 20, width 1200, min_width 0.1, title NULL. */
void out_options_init(struct out_options *o);

/*
 * A writer: p (and o, which may be NULL for the defaults) in, bytes
 * appended to out.
 */
typedef int (*out_write_fn)(const struct profile *p,
                            const struct out_options *o, struct strbuf *out);

/*
 * One output format: a row of the table in format.c.  A new format is a
 * row there and a writer in a file of its own.
 */
struct out_format {
    const char *name;    /* what --format takes: "svg" */
    const char *aliases; /* other names --format takes, space-separated
                          * ("flamegraph"); "" for none */
    const char *exts;    /* extensions that choose it, space-separated,
                          * matched case-insensitively; the first names
                          * a default output file */
    out_write_fn write;
    const char *summary; /* one line for --help */
    unsigned flags;      /* OUT_* below */
};

/* Every sample in time order, with thread states: the recorder streams
 * it (out_trace_begin() ...) rather than call write on the profile. */
#define OUT_EVENTS 0x1u

/* Every format, in the order --help lists them; out_formats[0] is the
 * default. */
extern const struct out_format out_formats[];
extern const size_t out_nformats;

/*
 * The format called name or one of its aliases (exactly, case
 * included).  Unknown names give NULL with PS_EUSAGE set and the
 * context "unknown format 'x' (choose svg, collapsed, ...)".
 */
const struct out_format *out_format_find(const char *name);

/*
 * The format a path's extension clearly asks for (the longest extension
 * of any row that ends the file name, so ".speedscope.json" is not
 * ".json"), or NULL: the caller keeps its default.  The extension must
 * follow a name: "x.svg", not ".svg".
 */
const struct out_format *out_format_for_path(const char *path);

/* The default output file's extension: the first of f->exts, dot
 * included ("" when it has none), appended to out. */
void out_format_ext(const struct out_format *f, struct strbuf *out);

/* "svg, collapsed, speedscope or table": the names for messages. */
void out_format_names(struct strbuf *out);

/*
 * For --help: one line per format, "  NAME  SUMMARY (ALIASES; EXTS)",
 * indented by indent spaces.
 */
void out_format_help(struct strbuf *out, int indent);

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
 * pprof: profile.proto (github.com/google/pprof), gzip-compressed, as
 * `go tool pprof` and Grafana Pyroscope read it.  Sample types
 * samples/count and cpu/nanoseconds (wall/nanoseconds in wall mode), the
 * period one sampling interval; one Function per Python function, one
 * Location per frame (the function's first line, or the sampled line
 * when meta.lines), samples leaf first labelled thread_id, thread_name
 * and pid; time, duration and comments from meta.  o->pid keeps one
 * process's threads.
 */
int out_pprof(const struct profile *p, const struct out_options *o,
              struct strbuf *out);

/*
 * trace: the Chrome trace event format (JSON), every sample in time
 * order per thread as Begin/End events of its frames, for Perfetto,
 * chrome://tracing and speedscope; a track of kernel state and GIL
 * ownership beside each thread where they were read.  Reads p->events
 * (OUT_EVENTS); a profile without events gives only the metadata.
 */
int out_trace(const struct profile *p, const struct out_options *o,
              struct strbuf *out);

/*
 * The same trace written as the samples arrive, so that nothing grows
 * with the recording but the bytes out (which the caller writes away as
 * it goes: each call only appends).  out_trace_begin() after meta's rate
 * is known; rounds_known when every event says whether its thread was
 * sampled in the round before (PROF_STATE_FOLLOWS).  out_trace_sample()
 * with each sample in time order (its stack already in p).
 * out_trace_end() after the last, once meta is complete (it closes what
 * is open, names processes and threads, and frees the stream).  A
 * thread's memory: its open frames and its state label.
 */
struct out_trace_stream;
struct out_trace_stream *out_trace_begin(const struct profile *p,
                                         int rounds_known, struct strbuf *out);
void out_trace_sample(struct out_trace_stream *ts, const struct profile *p,
                      const struct prof_event *e, struct strbuf *out);
void out_trace_end(struct out_trace_stream *ts, const struct profile *p,
                   struct strbuf *out);
/* Bytes the stream holds (for the summary's memory figure). */
size_t out_trace_memory(const struct out_trace_stream *ts);

/* Append data gzip-compressed (no name, no time: deterministic). */
void out_gzip(const void *data, size_t len, struct strbuf *out);

/*
 * An allocation profile (counts are bytes, objects are blocks) as a
 * table by line: the top o->top innermost lines by bytes, with share,
 * blocks, average block size and, through o->source_line, the source
 * line; then what the rest add up to.
 */
int out_lines(const struct profile *p, const struct out_options *o,
              struct strbuf *out);

#endif /* PYSPECT_OUTPUT_OUTPUT_H */
