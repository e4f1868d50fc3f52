/*
 * mem_watch.c - `pyspect mem --watch`: RSS and its split over time.
 *
 * Layer: cmd.  Attaches to a process (-p PID) or starts one (-- COMMAND
 * ARGS...), and every --interval samples what is cheap to read without
 * pausing it: smaps for the resident bytes of each mapping, malloc's
 * heap list and pymalloc's arena list for the split (a few reads), the
 * threads' stack pointers, pagemap for the ranges that cut mappings.  It
 * stops when the target exits, after --duration, or on Ctrl-C, and
 * writes the series: an SVG plot (output/plot_svg.h) and CSV
 * (output/csv.h; every raw sample is streamed to the file as it comes,
 * while the in-memory timeline for the plot stays bounded).  A launched
 * command's exit status becomes pyspect's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/mem.h"
#include "core/error.h"
#include "core/escape.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "output/csv.h"
#include "output/plot_svg.h"
#include "output/timeline.h"
#include "python/pymalloc.h"
#include "python/runtime.h"
#include "target/glibc_heap.h"
#include "target/memsrc.h"
#include "target/pagemap.h"
#include "target/resident.h"
#include "target/session.h"
#include "target/target.h"
#include "target/smaps.h"
#include "core/banned.h"

static const char watch_usage[] =
    "usage: pyspect mem --watch [options] PID\n"
    "       pyspect mem --watch [options] -p PID\n"
    "       pyspect mem --watch [options] -- COMMAND ARGS...\n"
    "\n"
    "Record a process's resident memory over time, split by what holds it\n"
    "(C heap, pymalloc arenas, large mmapped blocks, thread stacks, files,\n"
    "other), until it exits, --duration passes, or Ctrl-C.  Like mprof run\n"
    "and mprof plot, for any process, attached or launched, with no code\n"
    "changes.  The target is never paused.\n"
    "\n"
    "options:\n"
    "  -p, --pid PID       the process (or give PID as an argument)\n"
    "  -- COMMAND ARGS...  start COMMAND, record it, and exit with its "
    "status\n"
    "      --interval SEC  seconds between samples (default 0.1; at least\n"
    "                      0.01)\n"
    "      --duration SEC  stop after this long (a launched command is then\n"
    "                      sent SIGTERM)\n"
    "  -o, --output FILE   write the series to FILE: .svg for a plot (time\n"
    "                      on x, MiB on y, a line per series, the peak\n"
    "                      marked), .csv for every sample (bytes); "
    "repeatable\n"
    "      --json          print the series as one JSON document at the end\n"
    "                      (instead of the live table)\n"
    "      --locate=HOW    auto (default) or search, as for pyspect mem\n"
    "  -v, --verbose       report the cost of sampling on stderr\n"
    "  -h, --help          show this help\n"
    "\n"
    "Without --json, a line is printed every second (or every sample when\n"
    "--interval is longer) and a summary at the end.\n"
    "\n"
    "exit status: the launched command's (128+N when killed by signal N),\n"
    "12 when it cannot be run, 11 when an output file cannot be written;\n"
    "otherwise 0, or as for pyspect mem.\n";

#define WATCH_MAX_OUTPUTS 8
#define WATCH_MAX_THREADS 1024
/* Pages the mmapped-block scan may look at per sample. */
#define WATCH_SCAN_MAX (256ULL << 10)

enum { S_RSS, S_SERIES_REGIONS };
#define WATCH_NSERIES (1 + MEM_REGIONS)

static const char *const watch_keys[WATCH_NSERIES] = {
    "rss", "c_heap", "pymalloc", "mmap_large", "stacks", "file", "other",
};
static const char *const watch_labels[WATCH_NSERIES] = {
    "RSS",
    "C heap (malloc)",
    "pymalloc arenas",
    "large mmapped",
    "thread stacks",
    "files (code, libraries)",
    "other anonymous",
};

struct watch_options {
    int help;
    int pid;
    char **command;
    double interval;
    double duration; /* 0: none */
    const char *outputs[WATCH_MAX_OUTPUTS];
    size_t noutputs;
    int json;
    int verbose;
    int search;
};

struct watch_thread {
    int tid;
    uint64_t sp;
};

struct sampler {
    int pid;
    int search;
    struct target *target;
    struct memsrc *proc;   /* the target's memory */
    struct py_runtime *rt; /* NULL until the interpreter is found */
    double next_attach;    /* seconds; when to try again */
    int not_python;        /* attach said so (a launched non-Python) */
    struct glibc_malloc gm;
    int gm_located;
    double next_locate;
    double locate_wait; /* seconds between tries, doubling up to 1 */
    struct pymalloc pym;
    struct pagemap pm;
    int have_pm;
    struct watch_thread *threads;
    size_t nthreads, threads_alloc;
    /* cost */
    uint64_t sample_ns_total, sample_ns_max;
};

static volatile sig_atomic_t watch_stop;
static volatile sig_atomic_t watch_signal;

static void
watch_on_signal(int sig)
{
    watch_stop = 1;
    watch_signal = sig;
}

static int
watch_parse(int argc, char **argv, struct watch_options *opt)
{
    static const struct option longopts[] = {
        {"watch", no_argument, NULL, 'w'},
        {"pid", required_argument, NULL, 'p'},
        {"interval", required_argument, NULL, 'i'},
        {"duration", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},
        {"locate", required_argument, NULL, 'L'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cmd_target t;
    int c, r, nopts = argc;
    size_t i;

    memset(opt, 0, sizeof(*opt));
    memset(&t, 0, sizeof(t));
    opt->interval = 0.1;
    /* Options end at "--"; what follows is the command, untouched. */
    r = cmd_target_command("mem", &nopts, argv, &t);
    if (r < 0) {
        return r;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(nopts, argv, "p:o:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'w':
            break;
        case 'p':
            r = cmd_target_option("mem", c, optarg, &t);
            if (r < 0) {
                return r;
            }
            break;
        case 'i':
            if (parse_double(optarg, &opt->interval) < 0 ||
                opt->interval < 0.01 || opt->interval > 3600) {
                return cmd_usage_error("mem",
                                       "--interval takes seconds from 0.01 "
                                       "to 3600, not '%s'",
                                       optarg);
            }
            break;
        case 'd':
            if (parse_double(optarg, &opt->duration) < 0 ||
                opt->duration <= 0) {
                return cmd_usage_error("mem",
                                       "--duration takes a positive number "
                                       "of seconds, not '%s'",
                                       optarg);
            }
            break;
        case 'o': {
            const char *dot = strrchr(optarg, '.');

            if (dot == NULL ||
                (strcmp(dot, ".svg") != 0 && strcmp(dot, ".csv") != 0)) {
                return cmd_usage_error("mem",
                                       "cannot tell the format of '%s' "
                                       "(name it .svg or .csv)",
                                       optarg);
            }
            if (opt->noutputs == WATCH_MAX_OUTPUTS) {
                return cmd_usage_error("mem", "too many --output files");
            }
            opt->outputs[opt->noutputs++] = optarg;
            break;
        }
        case 'j':
            opt->json = 1;
            break;
        case 'L':
            if (strcmp(optarg, "search") == 0) {
                opt->search = 1;
            } else if (strcmp(optarg, "auto") != 0) {
                return cmd_usage_error("mem",
                                       "--locate takes auto or search, "
                                       "not '%s'",
                                       optarg);
            }
            break;
        case 'v':
            opt->verbose = 1;
            break;
        case 'h':
            opt->help = 1;
            return 0;
        default:
            return cmd_option_error("mem", argv);
        }
    }
    r = cmd_target_finish("mem", nopts, argv, CMD_TARGET_LAUNCH, &t);
    if (r < 0) {
        return r;
    }
    opt->pid = t.pid;
    opt->command = t.command;
    for (i = 0; i < opt->noutputs; i++) {
        size_t k;

        for (k = 0; k < i; k++) {
            if (strcmp(opt->outputs[i], opt->outputs[k]) == 0) {
                return cmd_usage_error("mem", "'%s' given twice",
                                       opt->outputs[i]);
            }
        }
    }
    return 0;
}

/* ---- sampling ----------------------------------------------------------- */

static double
secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* Try to find the Python runtime (and glibc); quietly, and not too often. */
static void
sampler_attach(struct sampler *s, double now, int strict, int *fatal)
{
    int rc;

    if (s->rt != NULL) {
        /* The runtime's page cache holds pages of the previous sample. */
        py_runtime_snapshot(s->rt);
    }
    if (s->rt != NULL && !s->pym.found && now >= s->next_attach) {
        /* Attached before the interpreter had its allocator state (a
         * launched command starting up): look again. */
        pymalloc_release(&s->pym);
        if (pymalloc_locate(
                s->rt, s->search ? PYMALLOC_ROUTE_SEARCH : PYMALLOC_ROUTE_AUTO,
                &s->pym) < 0) {
            s->pym.found = 0;
        }
        err_clear();
        s->next_attach = now + 0.5;
    }
    if (s->rt == NULL && !s->not_python && now >= s->next_attach) {
        rc = py_runtime_attach(s->target, &s->rt);
        if (rc == 0 && s->have_pm) {
            /* A launched command may have exec'd the interpreter since
             * (a wrapper script): /proc/PID/pagemap opened before an
             * exec reads the old address space, i.e. nothing. */
            pagemap_close(&s->pm);
            s->have_pm = pagemap_open(s->pid, &s->pm) == 0;
        }
        if (rc == 0 && s->gm_located) {
            /* And malloc found before that exec is the wrapper's. */
            glibc_malloc_release(&s->gm);
            s->gm_located = 0;
            s->locate_wait = 0;
            s->next_locate = now;
        }
        if (rc == 0) {
            if (pymalloc_locate(s->rt,
                                s->search ? PYMALLOC_ROUTE_SEARCH
                                          : PYMALLOC_ROUTE_AUTO,
                                &s->pym) < 0) {
                s->pym.found = 0;
            }
        } else if (strict && rc != PS_ENOTREADY) {
            *fatal = rc;
            return;
        } else if (rc == PS_EVERSION) {
            s->not_python = 1;
        }
        err_clear();
        s->next_attach = now + 0.5;
    }
    if (!s->gm_located && now >= s->next_locate) {
        struct maps maps = MAPS_INIT;

        if (target_maps(s->target, &maps) == 0 &&
            glibc_malloc_locate(s->target, s->proc, &maps, s->search,
                                &s->gm) == 0) {
            s->gm_located = 1;
        } else {
            glibc_malloc_release(&s->gm);
        }
        maps_release(&maps);
        err_clear();
        /* A launched command has no libc before its exec: look again
         * soon, then less often. */
        s->locate_wait = s->locate_wait <= 0 ? 0.05 : s->locate_wait * 2;
        if (s->locate_wait > 1.0) {
            s->locate_wait = 1.0;
        }
        s->next_locate = now + s->locate_wait;
    }
}

/* The stack pointers of the threads not running right now; running ones
 * keep the last one seen. */
static void
sampler_threads(struct sampler *s, uint64_t **sps, size_t *nsps)
{
    int *tids = NULL;
    size_t n = 0, i, k;

    *nsps = 0;
    if (target_threads(s->target, &tids, &n) < 0) {
        err_clear();
        return;
    }
    if (n > WATCH_MAX_THREADS) {
        n = WATCH_MAX_THREADS;
    }
    *sps = xcalloc(n + 1, sizeof(**sps));
    for (i = 0; i < n; i++) {
        struct target_regs regs;

        if (tids[i] == s->pid) {
            continue; /* the main thread's stack is [stack] */
        }
        for (k = 0; k < s->nthreads && s->threads[k].tid != tids[i]; k++) {
        }
        if (k == s->nthreads) {
            XGROW(s->threads, s->threads_alloc, s->nthreads + 1);
            s->threads[k].tid = tids[i];
            s->threads[k].sp = 0;
            s->nthreads++;
        }
        if (target_thread_regs(s->target, tids[i], &regs) == 0 &&
            regs.sp != 0) {
            s->threads[k].sp = regs.sp;
        }
        if (s->threads[k].sp != 0) {
            (*sps)[(*nsps)++] = s->threads[k].sp;
        }
    }
    err_clear();
    free(tids);
}

/*
 * One sample into values[]: RSS and the split.  Returns 0, PS_EEXITED
 * when the target is gone, or another error for a sample to drop.
 */
static int
sampler_take(struct sampler *s, double *values)
{
    struct smaps sm = SMAPS_INIT;
    struct mem_split split;
    struct maps maps = MAPS_INIT;
    uint64_t *sps = NULL, t0 = clock_now_ns(), rss = 0, dt;
    size_t nsps = 0, i;
    int rc;

    memset(&split, 0, sizeof(split));
    rc = smaps_read(s->pid, &sm);
    if (rc < 0) {
        return rc;
    }
    if (sm.n == 0) {
        smaps_release(&sm);
        return err_set(PS_EEXITED, "pid %d has no memory left", s->pid);
    }
    /* malloc's heaps and pymalloc's arenas, read without pausing: a torn
     * read only drops a range for this sample. */
    maps.v = xcalloc(sm.n, sizeof(*maps.v));
    for (i = 0; i < sm.n; i++) {
        maps.v[i] = sm.v[i].map;
    }
    maps.n = maps.alloc = sm.n;
    if (s->gm_located) {
        glibc_malloc_heaps(&s->gm, s->proc, &maps);
    }
    if (s->rt != NULL && s->pym.found) {
        pymalloc_walk_arenas(s->rt, &s->pym);
    }
    sampler_threads(s, &sps, &nsps);
    split.sm = &sm;
    split.gm = s->gm_located ? &s->gm : NULL;
    split.pym = s->rt != NULL && s->pym.found ? &s->pym : NULL;
    split.sps = sps;
    split.nsps = nsps;
    /* Thread heaps are told by their own headers even before malloc is
     * located: a thread's arena may appear before that. */
    split.proc = s->proc;
    split.scan_max = WATCH_SCAN_MAX;
    rc = mem_split_run(&split, s->have_pm ? &s->pm : NULL);
    err_clear();
    if (rc == 0) {
        for (i = 0; i < sm.n; i++) {
            rss += sm.v[i].c.rss;
        }
        values[S_RSS] = (double)rss;
        for (i = 0; i < MEM_REGIONS; i++) {
            values[1 + i] = (double)split.regions[i];
        }
        if (split.pym == NULL) {
            values[1 + MEM_PYMALLOC] = NAN;
        }
    }
    free(maps.v); /* the paths belong to sm */
    mem_split_release(&split);
    smaps_release(&sm);
    free(sps);
    dt = clock_now_ns() - t0;
    s->sample_ns_total += dt;
    if (dt > s->sample_ns_max) {
        s->sample_ns_max = dt;
    }
    return rc;
}

static void
sampler_release(struct sampler *s)
{
    if (s->have_pm) {
        pagemap_close(&s->pm);
    }
    pymalloc_release(&s->pym);
    glibc_malloc_release(&s->gm);
    py_runtime_free(s->rt);
    target_free(s->target);
    free(s->threads);
}

/* ---- output ------------------------------------------------------------- */

static void
watch_json(const struct timeline *tl, const struct watch_options *opt, int pid,
           double elapsed, uint64_t late, int exit_status, struct strbuf *out)
{
    struct json j;
    size_t i, k;

    json_init(&j, out, 0);
    json_object_begin(&j);
    json_kv_int(&j, "pid", pid);
    json_kv_double(&j, "interval", opt->interval);
    json_kv_double(&j, "duration_s", elapsed);
    json_kv_uint(&j, "samples", tl->samples);
    json_kv_uint(&j, "late_samples", late);
    json_kv_uint(&j, "merged", tl->merged);
    if (exit_status >= 0) {
        json_kv_int(&j, "exit_status", exit_status);
    } else {
        json_kv_null(&j, "exit_status");
    }
    json_key(&j, "peak");
    json_object_begin(&j);
    json_kv_double(&j, "rss", tl->peak);
    json_kv_double(&j, "time_s", tl->peak_t);
    json_object_end(&j);
    json_key(&j, "series");
    json_object_begin(&j);
    json_key(&j, "time_s");
    json_array_begin(&j);
    for (i = 0; i < tl->n; i++) {
        json_double(&j, round(tl->t[i] * 1000) / 1000);
    }
    json_array_end(&j);
    for (k = 0; k < tl->nseries; k++) {
        json_key(&j, tl->keys[k]);
        json_array_begin(&j);
        for (i = 0; i < tl->n; i++) {
            json_double(&j, tl->v[k][i]);
        }
        json_array_end(&j);
    }
    json_object_end(&j);
    json_object_end(&j);
    strbuf_addch(out, '\n');
}

static void
live_header(void)
{
    printf("%8s %10s %10s %10s %10s %8s %10s %10s\n", "time", "RSS", "C heap",
           "pymalloc", "mmapped", "stacks", "files", "other");
}

static void
live_mib(double v, int width)
{
    if (isnan(v)) {
        printf(" %*s", width, "-");
    } else {
        printf(" %*.1f", width, v / (1024.0 * 1024.0));
    }
}

static void
live_row(double t, const double *v)
{
    printf("%7.1fs", t);
    live_mib(v[0], 10);
    live_mib(v[1], 10);
    live_mib(v[2], 10);
    live_mib(v[3], 10);
    live_mib(v[4], 8);
    live_mib(v[5], 10);
    live_mib(v[6], 10);
    printf("\n");
    fflush(stdout);
}

/* ---- the command -------------------------------------------------------- */

int
cmd_mem_watch(int argc, char **argv)
{
    struct watch_options opt;
    struct sampler s;
    struct timeline tl;
    struct strbuf row = STRBUF_INIT, title = STRBUF_INIT;
    struct sigaction sa, old_int, old_term, old_hup;
    FILE *csv[WATCH_MAX_OUTPUTS];
    int csv_errno[WATCH_MAX_OUTPUTS] = {0}; /* the first write error */
    double values[WATCH_NSERIES], next_print = 0, elapsed = 0;
    uint64_t start, late = 0, tick = 0;
    struct session sess;
    int rc = 0, status, exit_status = -1, launched, fatal = 0, child_gone = 0;
    size_t i, nrows = 0;

    rc = watch_parse(argc, argv, &opt);
    if (rc < 0) {
        return err_exit_status(rc);
    }
    if (opt.help) {
        fputs(watch_usage, stdout);
        return 0;
    }
    memset(&s, 0, sizeof(s));
    memset(csv, 0, sizeof(csv));
    launched = opt.command != NULL;
    if (launched) {
        rc = session_launch(&sess, opt.command);
        if (rc < 0) {
            return cmd_fail(rc);
        }
    } else {
        session_attach(&sess, opt.pid);
    }
    s.pid = sess.pid;
    s.search = opt.search;
    rc = target_live_open(s.pid, &s.target);
    if (rc == 0) {
        s.proc = s.target->mem;
    }
    if (rc < 0) {
        session_wait(&sess, 5);
        return cmd_fail(rc);
    }
    s.have_pm = pagemap_open(s.pid, &s.pm) == 0;
    err_clear();
    /* Attached: the process must be Python (as for pyspect mem); a
     * launched command may take a while to become one. */
    sampler_attach(&s, 0, !launched, &fatal);
    if (fatal < 0) {
        sampler_release(&s);
        return cmd_fail(fatal);
    }

    if (launched) {
        for (i = 0; opt.command[i] != NULL; i++) {
            strbuf_addf(&title, "%s%s", i ? " " : "", opt.command[i]);
        }
    } else {
        target_cmdline(s.target, &title);
    }
    timeline_init(&tl, WATCH_NSERIES, watch_keys, watch_labels);
    snprintf(tl.title, sizeof(tl.title), "pyspect mem --watch: pid %d  %.180s",
             s.pid, title.buf);
    for (i = 0; i < opt.noutputs; i++) {
        if (strcmp(strrchr(opt.outputs[i], '.'), ".csv") == 0) {
            csv[i] = fopen(opt.outputs[i], "w");
            if (csv[i] == NULL) {
                rc = err_set(PS_EIO, "cannot write %s: %s", opt.outputs[i],
                             strerror(errno));
                goto out;
            }
            strbuf_reset(&row);
            csv_header(&tl, &row);
            if (fputs(row.buf, csv[i]) == EOF) {
                csv_errno[i] = errno;
            }
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = watch_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the sleep ends at once */
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    if (!opt.json) {
        if (launched) {
            fprintf(stderr, "pyspect: recording pid %d (%s); Ctrl-C to stop\n",
                    s.pid, esc(title.buf));
        }
        live_header();
    }

    start = clock_now_ns();
    while (!watch_stop) {
        uint64_t deadline;
        double t = secs(clock_now_ns() - start);
        struct timespec ts;

        if (session_exited(&sess)) {
            exit_status = session_exit_status(&sess);
            child_gone = 1;
            break;
        }
        if (opt.duration > 0 && t >= opt.duration) {
            break;
        }
        sampler_attach(&s, t, 0, &fatal);
        rc = sampler_take(&s, values);
        if (rc == PS_EEXITED || rc == PS_ENOPROC || rc == PS_EZOMBIE) {
            rc = 0;
            if (!launched) {
                break;
            }
        } else if (rc == 0) {
            timeline_add(&tl, t, values);
            for (i = 0; i < opt.noutputs; i++) {
                if (csv[i] != NULL) {
                    strbuf_reset(&row);
                    csv_row(&tl, t, values, &row);
                    if ((fputs(row.buf, csv[i]) == EOF ||
                         (++nrows % 16 == 0 && fflush(csv[i]) == EOF)) &&
                        csv_errno[i] == 0) {
                        csv_errno[i] = errno;
                    }
                }
            }
            if (!opt.json && t >= next_print) {
                live_row(t, values);
                next_print = t + (opt.interval > 1 ? opt.interval : 1);
            }
        }
        rc = 0;
        err_clear();
        /* Sleep to the next tick; a sample that ran over skips ticks. */
        tick++;
        deadline = start + (uint64_t)((double)tick * opt.interval * 1e9);
        if (deadline <= clock_now_ns()) {
            uint64_t now = clock_now_ns();

            late++;
            tick =
                (uint64_t)((double)(now - start) / (opt.interval * 1e9)) + 1;
            deadline = start + (uint64_t)((double)tick * opt.interval * 1e9);
        }
        ts.tv_sec = (time_t)(deadline / 1000000000u);
        ts.tv_nsec = (long)(deadline % 1000000000u);
        while (!watch_stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
                                              &ts, NULL) == EINTR) {
        }
    }
    elapsed = secs(clock_now_ns() - start);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);

    /* A launched command: wait for it.  Ctrl-C reached it too (same
     * process group); after --duration, or a signal to pyspect alone, ask
     * it to stop. */
    if (launched && !child_gone) {
        if (!watch_stop || !session_wait(&sess, 3)) {
            session_stop(&sess, watch_stop ? watch_signal : SIGTERM, 5);
        }
        exit_status = session_exit_status(&sess);
    }

    for (i = 0; i < opt.noutputs && rc == 0; i++) {
        if (csv[i] != NULL) {
            if (fclose(csv[i]) != 0 && csv_errno[i] == 0) {
                csv_errno[i] = errno;
            }
            if (csv_errno[i] != 0) {
                /* A full disk: say so. */
                rc = err_set(PS_EIO, "cannot write %s: %s", opt.outputs[i],
                             strerror(csv_errno[i]));
            }
            csv[i] = NULL;
        } else {
            struct strbuf svg = STRBUF_INIT;

            plot_svg_write(&tl, &svg);
            rc = cmd_write_file(opt.outputs[i], svg.buf, svg.len);
            strbuf_release(&svg);
        }
    }
    if (rc == 0 && opt.json) {
        strbuf_reset(&row);
        watch_json(&tl, &opt, s.pid, elapsed, late, exit_status, &row);
        rc = cmd_write_stdout(row.buf, row.len);
    } else if (rc == 0) {
        struct strbuf b = STRBUF_INIT;

        if (!isnan(tl.peak)) {
            mem_format_bytes(&b, (uint64_t)tl.peak);
        }
        printf("%zu samples over %.1f s; peak RSS %s at %.1f s\n", tl.samples,
               elapsed, b.len ? b.buf : "unknown", tl.peak_t);
        for (i = 0; i < opt.noutputs; i++) {
            printf("wrote %s\n", opt.outputs[i]);
        }
        strbuf_release(&b);
    }
    if (opt.verbose) {
        fprintf(stderr,
                "pyspect: %zu samples, %llu late; sampling took %.2f ms on "
                "average, %.2f ms at most\n",
                tl.samples, (unsigned long long)late,
                tl.samples ? (double)s.sample_ns_total / 1e6 /
                                 (double)(tl.samples + late)
                           : 0.0,
                (double)s.sample_ns_max / 1e6);
    }
out:
    for (i = 0; i < opt.noutputs; i++) {
        if (csv[i] != NULL) {
            fclose(csv[i]);
        }
    }
    timeline_release(&tl);
    strbuf_release(&row);
    strbuf_release(&title);
    sampler_release(&s);
    if (rc < 0) {
        status = cmd_fail(rc);
        return launched && exit_status >= 0 ? exit_status : status;
    }
    if (launched) {
        return exit_status >= 0 ? exit_status : 1;
    }
    return 0;
}
