/*
 * alloc.c - `pyspect alloc`: which lines allocate the memory that stays.
 *
 * Layer: cmd.  Parses the options, runs the command under the tracker
 * (alloc/run.h), samples a timeline of tracked live bytes beside RSS
 * while it runs, then reads what the tracker reported (alloc/report.h)
 * and writes it: a flame graph, collapsed stacks, speedscope or a table
 * by line, in bytes, and a JSON summary.  This is the one command that
 * runs code inside its target; the help says so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "alloc/report.h"
#include "alloc/run.h"
#include "cmd/cmd.h"
#include "core/error.h"
#include "core/escape.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "output/csv.h"
#include "output/output.h"
#include "output/plot_svg.h"
#include "output/text.h"
#include "output/timeline.h"
#include "python/runtime.h"
#include "target/proc.h"
#include "target/smaps.h"
#include "target/source.h"
#include "core/banned.h"

#define SAMPLE_BYTES_DEFAULT (64u * 1024)
#define SAMPLE_BYTES_MAX (1ull << 40)
#define INTERVAL_DEFAULT 0.1
#define INTERVAL_MIN 0.01
#define OUTPUTS_MAX 8
/* -p: how long to wait for a thread at a safe point, and for the
 * tracker to say it stopped at the end. */
#define ATTACH_TIMEOUT_S 10.0
#define STOP_WAIT_S 1.0

static const char alloc_usage[] =
    "usage: pyspect alloc [options] -- COMMAND [ARGS...]\n"
    "       pyspect alloc [options] [--duration SECS] -p PID\n"
    "\n"
    "Run COMMAND and write which Python lines allocated its memory: what\n"
    "is still allocated when it ends (the leaks), what was live at its\n"
    "peak, or everything it allocated.  Writes when the command exits, at\n"
    "--duration, or on Ctrl-C, and exits with the command's status.  With\n"
    "-p, tracks a running process from now until --duration or Ctrl-C:\n"
    "\"the end\" is then the moment tracking stops.\n"
    "\n"
    "Unlike pyspect's other commands, alloc runs code inside the program:\n"
    "it preloads a small tracker library (libpyspect-alloc.so) that\n"
    "wraps malloc, mmap and Python's allocators and reads the allocating\n"
    "thread's Python stack.  With -p it loads the library into the running\n"
    "process through ptrace, in a thread waiting in a system call, and\n"
    "tracks Python's allocators (not malloc); at the end the tracker stops\n"
    "and stays loaded, inert, and it stops by itself if pyspect is killed.\n"
    "By default it samples one allocation per --sample-bytes on average,\n"
    "which costs little; --all records every one, exactly, at a higher\n"
    "cost.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE      where to write (default pyspect-alloc-PID.svg;\n"
    "                         none with --json); repeat it to write several\n"
    "                         formats at once\n"
    "  -f, --format FORMAT    svg, collapsed, speedscope, table or pprof\n"
    "                         (default: from each FILE's extension, else\n"
    "                         svg)\n"
    "      --metric METRIC    live: allocated and not freed at the end\n"
    "                         (default); peak: live when the most memory\n"
    "                         was; allocated: everything allocated\n"
    "      --all              record every allocation (exact figures)\n"
    "      --sample-bytes N   one sample per N bytes allocated, on average\n"
    "                         (default 65536; K, M and G suffixes)\n"
    "      --native           C frames too: the C functions under each\n"
    "                         Python line that allocated (slower)\n"
    "      --subprocesses     also track the Python processes it starts\n"
    "      --timeline FILE    tracked live bytes and RSS over time: an .svg\n"
    "                         plot or .csv series\n"
    "      --interval SEC     between timeline points (default 0.1)\n"
    "  -p, --pid PID          load the tracker into this running process\n"
    "  -d, --duration SECS    write after this many seconds\n"
    "      --json             print a JSON summary on stdout\n"
    "      --top N            rows of the table format (default 20)\n"
    "  -q, --quiet            no summary on stderr\n"
    "  -v, --verbose          the tracker's own figures too\n"
    "  -h, --help             show this help\n"
    "\n"
    "exit status: the command's; 12 when it cannot be run, 5 when it ran\n"
    "no Python the tracker could follow; with -p, 0, or 18 when no thread\n"
    "was at a safe point to load the tracker.\n";

struct alloc_options {
    char **command;
    int pid;
    const char *outputs[OUTPUTS_MAX];
    const struct out_format *formats[OUTPUTS_MAX];
    size_t noutputs;
    int format_given;
    const struct out_format *format;
    enum alloc_metric metric;
    int all;
    uint64_t sample_bytes;
    int native;
    int subprocesses;
    const char *timeline;
    double interval;
    double duration;
    int json;
    size_t top;
    int quiet;
    int verbose;
    int help;
};

static volatile sig_atomic_t alloc_stop;

static void
on_signal(int sig)
{
    alloc_stop = sig;
}

/* "512k", "4M", "1048576" */
static int
parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mult = 1;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *s == '-') {
        return -1;
    }
    if (*end == 'k' || *end == 'K') {
        mult = 1024;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        mult = 1024 * 1024;
        end++;
    } else if (*end == 'g' || *end == 'G') {
        mult = 1024 * 1024 * 1024;
        end++;
    }
    if (*end == 'i' && mult > 1) {
        end++;
    }
    if ((*end == 'b' || *end == 'B') && mult > 1) {
        end++;
    }
    if (*end != '\0' || v == 0 || v > SAMPLE_BYTES_MAX / mult) {
        return -1;
    }
    *out = v * mult;
    return 0;
}

static int
alloc_parse(int argc, char **argv, struct alloc_options *opt)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"metric", required_argument, NULL, 'm'},
        {"all", no_argument, NULL, 'A'},
        {"sample-bytes", required_argument, NULL, 'S'},
        {"native", no_argument, NULL, 'N'},
        {"subprocesses", no_argument, NULL, 'P'},
        {"timeline", required_argument, NULL, 'T'},
        {"interval", required_argument, NULL, 'i'},
        {"duration", required_argument, NULL, 'd'},
        {"pid", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"top", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, i, rc, sample_given = 0;
    long v;

    memset(opt, 0, sizeof(*opt));
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            opt->command = i + 1 < argc ? argv + i + 1 : NULL;
            if (opt->command == NULL) {
                return cmd_usage_error("alloc", "no command after --");
            }
            argc = i;
            break;
        }
    }
    opt->format = &out_formats[0];
    opt->metric = ALLOC_METRIC_LIVE;
    opt->sample_bytes = SAMPLE_BYTES_DEFAULT;
    opt->interval = INTERVAL_DEFAULT;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:f:d:p:qvh", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'o':
            if (opt->noutputs == OUTPUTS_MAX) {
                return cmd_usage_error("alloc", "at most %d outputs",
                                       OUTPUTS_MAX);
            }
            opt->outputs[opt->noutputs++] = optarg;
            break;
        case 'f':
            opt->format = out_format_find(optarg);
            if (opt->format == NULL) {
                return cmd_usage_error("alloc", "%s", err_context());
            }
            opt->format_given = 1;
            break;
        case 'm':
            if (alloc_metric_parse(optarg, &opt->metric) < 0) {
                return cmd_usage_error("alloc", "%s", err_context());
            }
            break;
        case 'A':
            opt->all = 1;
            break;
        case 'S':
            if (parse_bytes(optarg, &opt->sample_bytes) < 0) {
                return cmd_usage_error("alloc",
                                       "--sample-bytes '%s' is not a "
                                       "positive number of bytes",
                                       optarg);
            }
            sample_given = 1;
            break;
        case 'N':
            opt->native = 1;
            break;
        case 'P':
            opt->subprocesses = 1;
            break;
        case 'T':
            opt->timeline = optarg;
            break;
        case 'i':
            if (parse_double(optarg, &opt->interval) < 0 ||
                opt->interval < INTERVAL_MIN) {
                return cmd_usage_error("alloc",
                                       "--interval '%s' is not a number of "
                                       "seconds, at least %g",
                                       optarg, INTERVAL_MIN);
            }
            break;
        case 'd':
            if (cmd_parse_duration("alloc", optarg, &opt->duration) < 0) {
                return PS_EUSAGE;
            }
            break;
        case 'j':
            opt->json = 1;
            break;
        case 'p':
            rc = cmd_parse_pid("alloc", optarg, &opt->pid);
            if (rc < 0) {
                return rc;
            }
            break;
        case 't':
            if (parse_long(optarg, 1, 1000000, &v) < 0) {
                return cmd_usage_error(
                    "alloc", "--top '%s' is not a positive count", optarg);
            }
            opt->top = (size_t)v;
            break;
        case 'q':
            opt->quiet = 1;
            break;
        case 'v':
            opt->verbose = 1;
            break;
        case 'h':
            opt->help = 1;
            return 0;
        default:
            return cmd_option_error("alloc", argv);
        }
    }
    if (optind < argc) {
        if (opt->pid != 0 || optind + 1 < argc || opt->command != NULL) {
            return cmd_usage_error("alloc", "give one process id, or a "
                                            "command after --");
        }
        rc = cmd_parse_pid("alloc", argv[optind], &opt->pid);
        if (rc < 0) {
            return rc;
        }
    }
    if (opt->command == NULL && opt->pid == 0) {
        return cmd_usage_error("alloc", "which program? give a command after "
                                        "--, or -p PID");
    }
    if (opt->command != NULL && opt->pid != 0) {
        return cmd_usage_error("alloc", "give a PID or a command, not both");
    }
    if (opt->pid != 0 && opt->subprocesses) {
        return cmd_usage_error("alloc", "--subprocesses follows the "
                                        "processes a command starts: not "
                                        "with -p");
    }
    if (opt->all && sample_given) {
        return cmd_usage_error("alloc", "--all records every allocation: "
                                        "drop --sample-bytes");
    }
    for (i = 0; i < (int)opt->noutputs; i++) {
        const struct out_format *f = NULL;

        if (!opt->format_given) {
            f = out_format_for_path(opt->outputs[i]);
        }
        opt->formats[i] = f != NULL ? f : opt->format;
    }
    for (i = 0; i < (int)opt->noutputs || i == 0; i++) {
        const struct out_format *f =
            i < (int)opt->noutputs ? opt->formats[i] : opt->format;

        if (f->flags & OUT_EVENTS) {
            return cmd_usage_error("alloc",
                                   "the %s format is a timeline of samples; "
                                   "alloc writes svg, collapsed, speedscope, "
                                   "table or pprof",
                                   f->name);
        }
    }
    if (opt->timeline != NULL) {
        const char *dot = strrchr(opt->timeline, '.');

        if (dot == NULL ||
            (strcmp(dot, ".svg") != 0 && strcmp(dot, ".csv") != 0)) {
            return cmd_usage_error("alloc",
                                   "--timeline '%s' must end in .svg or "
                                   ".csv",
                                   opt->timeline);
        }
    }
    return 0;
}

/* ---- while it runs -------------------------------------------------------- */

struct alloc_session {
    const struct alloc_options *opt;
    struct alloc_run run;
    struct timeline tl;
    double duration_s;
    const char *stopped;
};

static const char *const timeline_keys[] = {"tracked_live", "rss"};
static const char *const timeline_labels[] = {"tracked live", "RSS"};

static void
timeline_point(struct alloc_session *s)
{
    struct smaps_counts rss;
    uint64_t live = 0;
    double values[2];

    values[0] = alloc_run_live(&s->run, s->run.session.pid, &live) == 0
                    ? (double)live
                    : NAN;
    /* A command that has exited (a zombie) reads as 0 bytes: unknown. */
    values[1] = smaps_rollup_read(s->run.session.pid, &rss) == 0 && rss.rss > 0
                    ? (double)rss.rss
                    : NAN;
    if (isnan(values[0]) && isnan(values[1])) {
        return;
    }
    timeline_add(&s->tl, (double)(clock_now_ns() - s->run.start_ns) / 1e9,
                 values);
}

static void
wait_loop(struct alloc_session *s)
{
    const struct alloc_options *o = s->opt;
    uint64_t step = (uint64_t)(o->interval * 1e9);
    uint64_t end = 0, next = s->run.start_ns;

    if (o->duration > 0) {
        end = s->run.start_ns + (uint64_t)(o->duration * 1e9);
    }
    while (!alloc_stop) {
        uint64_t now = clock_now_ns();
        struct timespec ts;

        if (alloc_run_exited(&s->run)) {
            s->stopped = "the command exited";
            break;
        }
        if (end != 0 && now >= end) {
            s->stopped = "duration reached";
            break;
        }
        if (o->timeline != NULL && now >= next) {
            timeline_point(s);
            next = now + step;
        }
        /* Look again soon: the command's exit is noticed within 10 ms. */
        ts.tv_sec = 0;
        ts.tv_nsec = 10 * 1000 * 1000;
        nanosleep(&ts, NULL);
    }
    if (alloc_stop) {
        s->stopped = "interrupted";
    }
    s->duration_s = (double)(clock_now_ns() - s->run.start_ns) / 1e9;
}

/* -p: is pid a Python pyspect can read?  Asked from outside, before
 * anything is loaded into it. */
static int
check_python(int pid)
{
    struct target *t = NULL;
    struct py_runtime *rt = NULL;
    int rc = target_live_open(pid, &t);

    if (rc == 0) {
        rc = py_runtime_attach(t, &rt);
    }
    py_runtime_free(rt);
    target_free(t);
    return rc;
}

/* -p: give the tracker a moment to see the stop and let go. */
static void
wait_stopped(struct alloc_run *run)
{
    uint64_t end = clock_now_ns() + (uint64_t)(STOP_WAIT_S * 1e9);
    struct strbuf path = STRBUF_INIT;
    struct alloc_header h;

    strbuf_addf(&path, "%s/%d.0", run->dir.buf, run->session.pid);
    while (clock_now_ns() < end) {
        struct timespec ts = {0, 10 * 1000 * 1000};

        if (alloc_header_read(path.buf, &h) < 0 ||
            h.state != ALLOC_STATE_TRACKING) {
            break;
        }
        nanosleep(&ts, NULL);
    }
    strbuf_release(&path);
}

/* ---- the outputs ---------------------------------------------------------- */

/* The writer of a format for an allocation profile: the table is the
 * table by line; the others take bytes as they are. */
static out_write_fn
alloc_writer(const struct out_format *f)
{
    return f->write == out_table ? out_lines : f->write;
}

static int
source_line_cb(void *ctx, const char *file, int line, struct strbuf *out)
{
    return source_line(ctx, file, line, out);
}

static const char *
metric_what(enum alloc_metric m)
{
    switch (m) {
    case ALLOC_METRIC_PEAK:
        return "live at the peak";
    case ALLOC_METRIC_ALLOCATED:
        return "allocated";
    default:
        return "live at the end";
    }
}

static void
command_text(const struct alloc_options *o, struct strbuf *out)
{
    char **a;

    if (o->command == NULL) {
        proc_cmdline(o->pid, out);
        return;
    }
    for (a = o->command; *a != NULL; a++) {
        strbuf_addf(out, "%s%s", a == o->command ? "" : " ", *a);
    }
}

static void
json_figures_site(struct json *j, const struct alloc_figures *f)
{
    json_kv_uint(j, "live_bytes", f->live_bytes);
    json_kv_uint(j, "live_blocks", f->live_blocks);
    json_kv_uint(j, "peak_bytes", f->peak_bytes);
    json_kv_uint(j, "peak_blocks", f->peak_blocks);
    json_kv_uint(j, "allocated_bytes", f->allocated_bytes);
    json_kv_uint(j, "allocations", f->allocated_blocks);
}

static void
alloc_json(const struct alloc_session *s, const struct alloc_report *r,
           int exit_status, struct strbuf *out)
{
    const struct alloc_options *o = s->opt;
    const struct profile *p = &r->names;
    const struct alloc_image *root = NULL;
    struct alloc_figures totals, rootf;
    struct alloc_site *sites;
    uint64_t peak_bytes, peak_ns, dropped[ALLOC_DROP_COUNT] = {0};
    uint64_t samples = 0, self_bytes = 0;
    struct strbuf cmd = STRBUF_INIT;
    size_t nsites, i, k;
    struct json j;

    for (i = 0; i < r->nimages; i++) {
        const struct alloc_image *im = &r->images[i];

        if (im->pid == s->run.session.pid &&
            (root == NULL || im->generation > root->generation)) {
            root = im;
        }
        samples += im->samples;
        self_bytes += im->self_bytes;
        for (k = 0; k < ALLOC_DROP_COUNT; k++) {
            dropped[k] += im->dropped[k];
        }
    }
    alloc_report_totals(r, &totals);
    alloc_report_process(r, s->run.session.pid, &rootf, &peak_bytes, &peak_ns);
    command_text(o, &cmd);

    json_init(&j, out, 1);
    json_object_begin(&j);
    json_kv_string(&j, "command", cmd.buf);
    json_kv_int(&j, "pid", (long long)s->run.session.pid);
    json_kv_string(&j, "python", root ? root->python : NULL);
    json_kv_string(&j, "mode", o->all ? "all" : "sampled");
    json_kv_bool(&j, "native", o->native);
    if (o->all) {
        json_kv_null(&j, "sample_bytes");
    } else {
        json_kv_uint(&j, "sample_bytes", o->sample_bytes);
    }
    json_kv_double(&j, "duration_s", s->duration_s);
    json_kv_string(&j, "metric", alloc_metric_name(o->metric));
    if (exit_status >= 0) {
        json_kv_int(&j, "exit_status", exit_status);
    } else {
        json_kv_null(&j, "exit_status");
    }
    json_kv_string(&j, "stopped", s->stopped);
    json_key(&j, "peak");
    json_object_begin(&j);
    json_kv_uint(&j, "bytes", peak_bytes);
    json_kv_double(&j, "time_s",
                   peak_ns > s->run.start_ns
                       ? (double)(peak_ns - s->run.start_ns) / 1e9
                       : 0.0);
    json_object_end(&j);
    json_key(&j, "totals");
    json_object_begin(&j);
    json_kv_uint(&j, "allocated_bytes", totals.allocated_bytes);
    json_kv_uint(&j, "allocations", totals.allocated_blocks);
    json_kv_uint(&j, "live_bytes", totals.live_bytes);
    json_kv_uint(&j, "live_blocks", totals.live_blocks);
    json_object_end(&j);

    alloc_report_sites(r, &sites, &nsites);
    json_key(&j, "sites");
    json_array_begin(&j);
    for (i = 0; i < nsites; i++) {
        json_object_begin(&j);
        if (sites[i].frame == PROF_NONE) {
            json_kv_null(&j, "function");
            json_kv_null(&j, "file");
            json_kv_null(&j, "line");
        } else {
            const struct prof_frame *f = &p->frames[sites[i].frame];

            json_kv_string(&j, "function", strtab_get(&p->strings, f->name));
            json_kv_string(&j, "file", strtab_get(&p->strings, f->file));
            if (f->line >= 0) {
                json_kv_int(&j, "line", f->line);
            } else {
                json_kv_null(&j, "line");
            }
        }
        json_figures_site(&j, &sites[i].f);
        json_object_end(&j);
    }
    json_array_end(&j);
    free(sites);

    json_key(&j, "processes");
    json_array_begin(&j);
    for (i = 0; i < r->nimages; i++) {
        const struct alloc_image *im = &r->images[i];

        json_object_begin(&j);
        json_kv_int(&j, "pid", im->pid);
        json_kv_int(&j, "ppid", im->ppid);
        json_kv_uint(&j, "image", im->generation);
        json_kv_bool(&j, "execed", im->execed);
        json_kv_string(&j, "command", im->command);
        json_kv_string(&j, "python", im->python);
        json_kv_uint(&j, "peak_bytes", im->totals.peak_bytes);
        json_kv_uint(&j, "live_bytes", im->totals.live_bytes);
        json_kv_uint(&j, "allocated_bytes", im->totals.allocated_bytes);
        json_object_end(&j);
    }
    json_array_end(&j);

    json_key(&j, "tracker");
    json_object_begin(&j);
    json_kv_uint(&j, "samples", samples);
    json_kv_uint(&j, "memory_bytes", self_bytes);
    json_kv_uint(&j, "stacks_dropped", dropped[ALLOC_DROP_STACKS_FULL]);
    json_kv_uint(&j, "log_full", dropped[ALLOC_DROP_LOG_FULL]);
    json_kv_uint(&j, "unreadable_files", r->unreadable);
    json_object_end(&j);
    json_object_end(&j);
    strbuf_addch(out, '\n');
    strbuf_release(&cmd);
}

static void
fill_meta(const struct alloc_session *s, struct alloc_report *r)
{
    struct profile_meta *m = &r->names.meta;
    struct strbuf cmd = STRBUF_INIT;
    const struct alloc_image *root = NULL;
    struct timeval tv;
    size_t i;

    for (i = 0; i < r->nimages; i++) {
        if (r->images[i].pid == s->run.session.pid &&
            (root == NULL || r->images[i].generation > root->generation)) {
            root = &r->images[i];
        }
    }
    command_text(s->opt, &cmd);
    m->command = strbuf_detach(&cmd);
    m->pid = s->run.session.pid;
    if (root != NULL && root->python[0] != '\0') {
        m->python_version = xstrdup(root->python);
    }
    if (s->opt->all) {
        m->mode = "every allocation";
    } else {
        static char mode[64];
        struct strbuf sb = STRBUF_INIT;

        text_bytes(&sb, s->opt->sample_bytes);
        snprintf(mode, sizeof(mode), "one sample per %s", sb.buf);
        strbuf_release(&sb);
        m->mode = mode;
    }
    m->lines = 1;
    m->duration_s = s->duration_s;
    m->unit = "bytes";
    m->what = metric_what(s->opt->metric);
    gettimeofday(&tv, NULL);
    m->start_unix =
        (double)tv.tv_sec + (double)tv.tv_usec / 1e6 - s->duration_s;
}

static void
summary(const struct alloc_session *s, const struct alloc_report *r)
{
    struct alloc_figures t, root;
    uint64_t peak_bytes, peak_ns;
    struct strbuf sb = STRBUF_INIT;

    alloc_report_process(r, s->run.session.pid, &root, &peak_bytes, &peak_ns);
    alloc_report_totals(r, &t);
    strbuf_addf(&sb, "pyspect: tracking stopped: %s\n", s->stopped);
    for (size_t i = 0; i < s->opt->noutputs; i++) {
        strbuf_addf(&sb, "pyspect: wrote %s to %s\n", s->opt->formats[i]->name,
                    s->opt->outputs[i]);
    }
    strbuf_addstr(&sb, "pyspect: ");
    text_bytes(&sb, t.live_bytes);
    strbuf_addstr(&sb, " live at the end in ");
    text_count(&sb, t.live_blocks);
    strbuf_addstr(&sb, " blocks; peak ");
    text_bytes(&sb, peak_bytes);
    strbuf_addf(&sb, " at %.2f s; ",
                peak_ns > s->run.start_ns
                    ? (double)(peak_ns - s->run.start_ns) / 1e9
                    : 0.0);
    text_bytes(&sb, t.allocated_bytes);
    strbuf_addstr(&sb, " allocated in ");
    text_count(&sb, t.allocated_blocks);
    strbuf_addstr(&sb, " blocks");
    if (s->opt->all) {
        strbuf_addstr(&sb, " (every allocation)\n");
    } else {
        strbuf_addstr(&sb, " (estimated from one sample per ");
        text_bytes(&sb, s->opt->sample_bytes);
        strbuf_addstr(&sb, ")\n");
    }
    if (s->opt->verbose) {
        size_t i;

        for (i = 0; i < r->nimages; i++) {
            const struct alloc_image *im = &r->images[i];

            strbuf_addf(&sb,
                        "pyspect: pid %d image %u (Python %s): %" PRIu64
                        " samples, tracker memory ",
                        im->pid, im->generation, im->python, im->samples);
            text_bytes(&sb, im->self_bytes);
            strbuf_addf(&sb,
                        ", %" PRIu64 " stacks dropped, %" PRIu64 " log full\n",
                        im->dropped[ALLOC_DROP_STACKS_FULL],
                        im->dropped[ALLOC_DROP_LOG_FULL]);
        }
    }
    fputs(sb.buf, stderr);
    strbuf_release(&sb);
}

static int
write_timeline(struct alloc_session *s)
{
    struct strbuf out = STRBUF_INIT;
    const char *path = s->opt->timeline;
    int fd = -1, created, rc;

    if (strcmp(strrchr(path, '.'), ".csv") == 0) {
        csv_write(&s->tl, &out);
    } else {
        plot_svg_write(&s->tl, &out);
    }
    rc = cmd_output_open(path, &fd, &created);
    if (rc == 0) {
        rc = cmd_output_write(fd, path, &out);
        close(fd);
    }
    strbuf_release(&out);
    return rc;
}

/* ---- the command ------------------------------------------------------- */

int
cmd_alloc(int argc, char **argv)
{
    struct alloc_options opt;
    struct alloc_session s;
    struct alloc_report report;
    struct alloc_run_options ro;
    struct source_cache sources;
    struct target *self = NULL;
    struct strbuf out = STRBUF_INIT, json = STRBUF_INIT, defpath = STRBUF_INIT;
    struct out_options oo;
    struct sigaction sa;
    int fds[OUTPUTS_MAX], created[OUTPUTS_MAX];
    int rc, exit_status = 0, started = 0;
    size_t i;

    rc = alloc_parse(argc, argv, &opt);
    if (rc < 0) {
        return err_exit_status(rc);
    }
    if (opt.help) {
        fputs(alloc_usage, stdout);
        return 0;
    }
    for (i = 0; i < OUTPUTS_MAX; i++) {
        fds[i] = -1;
        created[i] = 0;
    }
    memset(&s, 0, sizeof(s));
    s.opt = &opt;
    /* Source files as the command saw them when it started: from here,
     * its working directory and root (it has usually exited by the end). */
    rc = target_live_open((int)getpid(), &self);
    if (rc < 0) {
        return cmd_fail(rc);
    }
    alloc_run_init(&s.run);
    alloc_report_init(&report);
    source_cache_init(&sources, self);
    timeline_init(&s.tl, 2, timeline_keys, timeline_labels);
    s.tl.unit = "bytes";
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    rc = alloc_library_find(&s.run.library);
    if (rc < 0) {
        goto fail;
    }
    if (opt.noutputs == 0 && !opt.json) {
        strbuf_addf(&defpath, "pyspect-alloc-%d", (int)getpid());
        out_format_ext(opt.format, &defpath);
        opt.outputs[0] = defpath.buf;
        opt.formats[0] = opt.format;
        opt.noutputs = 1;
    }
    for (i = 0; i < opt.noutputs; i++) {
        rc = cmd_output_open(opt.outputs[i], &fds[i], &created[i]);
        if (rc < 0) {
            goto fail;
        }
    }
    memset(&ro, 0, sizeof(ro));
    ro.all = opt.all;
    ro.sample_bytes = opt.sample_bytes;
    ro.follow = opt.subprocesses;
    ro.native = opt.native;
    if (opt.command != NULL) {
        rc = alloc_run_start(&s.run, opt.command, &ro);
    } else {
        rc = check_python(opt.pid);
        if (rc == 0) {
            rc = alloc_run_attach(&s.run, opt.pid, &ro, ATTACH_TIMEOUT_S);
        }
        if (rc == 0 && !opt.quiet) {
            fprintf(stderr,
                    "pyspect: tracking pid %d (the tracker is loaded in "
                    "it); Ctrl-C to stop\n",
                    opt.pid);
        }
    }
    if (rc < 0) {
        goto fail;
    }
    started = 1;
    {
        struct strbuf title = STRBUF_INIT;

        command_text(&opt, &title);
        snprintf(s.tl.title, sizeof(s.tl.title),
                 "pyspect alloc: pid %d  %.180s", s.run.session.pid,
                 title.buf);
        strbuf_release(&title);
    }
    wait_loop(&s);
    if (s.run.attached) {
        alloc_run_stop(&s.run);
        wait_stopped(&s.run);
    }

    alloc_report_read_dir(&report, s.run.dir.buf);
    if (report.nimages == 0) {
        if (!s.run.attached && !alloc_run_exited(&s.run)) {
            alloc_run_wait(&s.run);
        }
        rc = err_set(PS_ENOTPY,
                     "'%s' ran no Python the tracker could follow (exit "
                     "status %d; it follows CPython 3.6 and later: 2.7 "
                     "has no allocator API to wrap)",
                     opt.command[0], alloc_run_exit_status(&s.run));
        goto fail;
    }
    fill_meta(&s, &report);
    alloc_report_fill(&report, opt.metric, opt.subprocesses);
    out_options_init(&oo);
    if (opt.top != 0) {
        oo.top = opt.top;
    }
    oo.source_line = source_line_cb;
    oo.source_ctx = &sources;
    for (i = 0; i < opt.noutputs; i++) {
        strbuf_reset(&out);
        alloc_writer(opt.formats[i])(&report.names, &oo, &out);
        rc = cmd_output_write(fds[i], opt.outputs[i], &out);
        if (rc < 0) {
            goto fail;
        }
    }
    if (opt.timeline != NULL) {
        rc = write_timeline(&s);
        if (rc < 0) {
            goto fail;
        }
    }
    if (!opt.quiet) {
        summary(&s, &report);
    }
    /* The summary is written now, even when the command still runs (a
     * Ctrl-C, --duration): its exit status is then unknown. */
    if (opt.json) {
        alloc_json(&s, &report,
                   !s.run.attached && alloc_run_exited(&s.run)
                       ? alloc_run_exit_status(&s.run)
                       : -1,
                   &json);
        rc = cmd_write_stdout(json.buf, json.len);
        if (rc < 0) {
            goto fail;
        }
    }
    /* A second Ctrl-C ends pyspect at once; the results are written. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (s.run.attached) {
        exit_status = 0;
        goto out;
    }
    if (!alloc_run_exited(&s.run)) {
        if (!opt.quiet) {
            fprintf(stderr, "pyspect: waiting for '%s' to exit\n",
                    esc(opt.command[0]));
        }
        alloc_run_wait(&s.run);
    }
    exit_status = alloc_run_exit_status(&s.run);
    goto out;
fail:
    exit_status = cmd_fail(rc);
    for (i = 0; i < opt.noutputs; i++) {
        if (fds[i] >= 0 && created[i]) {
            unlink(opt.outputs[i]);
        }
    }
    if (started && s.run.attached) {
        alloc_run_stop(&s.run);
    } else if (started && !alloc_run_exited(&s.run)) {
        alloc_run_wait(&s.run);
    }
out:
    for (i = 0; i < opt.noutputs; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    alloc_run_release(&s.run);
    alloc_report_release(&report);
    source_cache_release(&sources);
    target_free(self);
    timeline_release(&s.tl);
    strbuf_release(&out);
    strbuf_release(&json);
    strbuf_release(&defpath);
    return exit_status;
}
