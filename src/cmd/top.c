/*
 * top.c - `pyspect top`: a live view of where a process spends its time.
 *
 * Layer: cmd.  Attaches to a process, or starts a command (the session
 * module, as record does), samples its threads with python/sampler.h into
 * a window of counts (profile/window.h), and once per interval draws the
 * function or line table (output/top.h): on a terminal as a screen that
 * keys change (core/term.h), through a pipe as one plain snapshot per
 * interval.  The terminal is given back on q, on SIGINT, SIGTERM and
 * SIGHUP, on errors, and on any exit() (term.c's atexit handler); on
 * Ctrl-Z (SIGTSTP) too, taken again with a fresh screen on fg (SIGCONT).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/error.h"
#include "core/strbuf.h"
#include "core/term.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "output/top.h"
#include "profile/window.h"
#include "python/runtime.h"
#include "python/sampler.h"
#include "target/proc.h"
#include "target/session.h"
#include "target/target.h"
#include "core/banned.h"

#define RATE_MAX 20000.0
#define INTERVAL_MIN_S 0.1
/* How long a started command may take to stop once asked. */
#define CHILD_STOP_WAIT_S 5.0
/* Look for new child processes this often (--subprocesses). */
#define CHILD_SCAN_S 0.2
/* Check cached code objects against the target this often. */
#define CODE_EPOCH_S 1.0

static const char top_usage[] =
    "usage: pyspect top [options] PID\n"
    "       pyspect top [options] -p PID\n"
    "       pyspect top [options] -- COMMAND [ARGS...]\n"
    "\n"
    "A live view of where a Python process spends its time, like top:\n"
    "a header (the command, its Python, threads, CPU, the share of\n"
    "samples holding the GIL, RSS, samples and drops), then the\n"
    "functions with the most samples.  %Own and %Total are shares of the\n"
    "last interval's samples (own: the innermost frame; total: anywhere\n"
    "in the stack); OwnTime and TotalTime add up every interval since the\n"
    "start, or since r.  The target is only read, as with record.\n"
    "\n"
    "keys:\n"
    "  q                   quit (Ctrl-C too)\n"
    "  1 2 3 4, <- ->      sort by %Own, %Total, OwnTime (the default) or\n"
    "                      TotalTime\n"
    "  t                   one row per thread and function, or all threads\n"
    "  l                   lines instead of functions, and back\n"
    "  p                   pause the display (sampling goes on)\n"
    "  r                   reset the totals\n"
    "  Ctrl-Z              suspend (the terminal is given back; fg resumes)\n"
    "\n"
    "Without a terminal on standard output (a pipe, a file), it prints a\n"
    "plain snapshot each interval instead of redrawing.\n"
    "\n"
    "options:\n"
    "  -p, --pid PID         the process to watch\n"
    "  -r, --rate HZ         samples per second (default 100, at most "
    "20000)\n"
    "  -i, --interval SECS   refresh every SECS seconds (default 1)\n"
    "  -d, --duration SECS   stop after this many seconds\n"
    "      --mode MODE       cpu: threads running on a CPU (default);\n"
    "                        wall: every thread, running or waiting;\n"
    "                        gil: only the thread holding the GIL\n"
    "      --lines           start with lines instead of functions\n"
    "      --threads         start with a row per thread\n"
    "      --subprocesses    also sample Python child processes\n"
    "      --top N           rows of the table (default: what fits, or 20\n"
    "                        in a snapshot)\n"
    "  -h, --help            show this help\n"
    "\n"
    "exit status: as for pyspect dump; with a COMMAND, the command's.\n";

struct top_options {
    int help;
    int pid;
    char **command;
    double rate;
    double interval;
    double duration;
    enum py_sample_mode mode;
    const char *mode_name;
    unsigned flags; /* PROF_TABLE_* to start with */
    int subprocesses;
    size_t top;
};

/* One process being sampled. */
struct top_target {
    struct cmd_process proc;
    struct py_sampler sampler;
    int sampling;    /* attached and sampling */
    uint64_t cpu_ns; /* its CPU time at the last refresh */
};

struct top {
    const struct top_options *opt;
    struct top_target *targets;
    size_t ntargets, targets_alloc;
    int root_pid;
    struct session session;
    struct top_target *current;
    struct prof_window window;
    struct prof_table table;
    uint32_t *ids;
    size_t ids_alloc;
    /* The interval being counted, and the last one closed. */
    uint64_t gil_held, gil_known, drops_now, drops_last, drops_since;
    uint64_t rounds_since;
    double gil_pct;
    double cpu_pct;
    double rss;
    uint64_t interval_start, since_start, last_ns;
    int was_reset;
    /* The view. */
    unsigned flags;
    enum prof_sort sort;
    int paused;
    int interactive;
    char *command;
    const char *message;
};

static volatile sig_atomic_t top_stop;
static volatile sig_atomic_t top_resized;
static volatile sig_atomic_t top_suspended; /* SIGTSTP: stop when you can */
static volatile sig_atomic_t top_continued; /* SIGCONT: the screen again */

static void
on_signal(int sig)
{
    top_stop = sig;
}

static void
on_winch(int sig)
{
    (void)sig;
    top_resized = 1;
}

static void
on_tstp(int sig)
{
    (void)sig;
    top_suspended = 1;
}

static void
on_cont(int sig)
{
    (void)sig;
    top_continued = 1;
}

/* ---- options ------------------------------------------------------------ */

static int
top_parse(int argc, char **argv, struct top_options *opt)
{
    static const struct option longopts[] = {
        {"pid", required_argument, NULL, 'p'},
        {"rate", required_argument, NULL, 'r'},
        {"interval", required_argument, NULL, 'i'},
        {"duration", required_argument, NULL, 'd'},
        {"mode", required_argument, NULL, 'm'},
        {"lines", no_argument, NULL, 'L'},
        {"threads", no_argument, NULL, 'T'},
        {"subprocesses", no_argument, NULL, 'S'},
        {"top", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cmd_target t;
    long v;
    int c, r;

    memset(opt, 0, sizeof(*opt));
    memset(&t, 0, sizeof(t));
    r = cmd_target_command("top", &argc, argv, &t);
    if (r < 0) {
        return r;
    }
    opt->rate = 100;
    opt->interval = 1;
    opt->mode = PY_SAMPLE_CPU;
    opt->mode_name = "cpu";
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:r:i:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            r = cmd_target_option("top", c, optarg, &t);
            if (r < 0) {
                return r;
            }
            break;
        case 'r':
            if (parse_double(optarg, &opt->rate) < 0 || opt->rate <= 0 ||
                opt->rate > RATE_MAX) {
                return cmd_usage_error("top",
                                       "rate '%s' is not a number of "
                                       "samples per second between 0 and "
                                       "%g",
                                       optarg, RATE_MAX);
            }
            break;
        case 'i':
            if (parse_double(optarg, &opt->interval) < 0 ||
                opt->interval < INTERVAL_MIN_S) {
                return cmd_usage_error("top",
                                       "interval '%s' is not a number of "
                                       "seconds of at least %g",
                                       optarg, INTERVAL_MIN_S);
            }
            break;
        case 'd':
            if (cmd_parse_duration("top", optarg, &opt->duration) < 0) {
                return PS_EUSAGE;
            }
            break;
        case 'm':
            if (strcmp(optarg, "cpu") == 0) {
                opt->mode = PY_SAMPLE_CPU;
            } else if (strcmp(optarg, "wall") == 0) {
                opt->mode = PY_SAMPLE_WALL;
            } else if (strcmp(optarg, "gil") == 0) {
                opt->mode = PY_SAMPLE_GIL;
            } else {
                return cmd_usage_error("top",
                                       "unknown mode '%s' (choose cpu, "
                                       "wall or gil)",
                                       optarg);
            }
            opt->mode_name = optarg;
            break;
        case 'L':
            opt->flags |= PROF_TABLE_LINES;
            break;
        case 'T':
            opt->flags |= PROF_TABLE_THREADS;
            break;
        case 'S':
            opt->subprocesses = 1;
            break;
        case 't':
            if (parse_long(optarg, 1, 1000000, &v) < 0) {
                return cmd_usage_error(
                    "top", "--top '%s' is not a positive count", optarg);
            }
            opt->top = (size_t)v;
            break;
        case 'h':
            opt->help = 1;
            return 0;
        default:
            return cmd_option_error("top", argv);
        }
    }
    r = cmd_target_finish("top", argc, argv, CMD_TARGET_LAUNCH, &t);
    if (r < 0) {
        return r;
    }
    opt->pid = t.pid;
    opt->command = t.command;
    return 0;
}

/* ---- targets ------------------------------------------------------------ */

static struct top_target *
target_add(struct top *tp, int pid)
{
    struct top_target *t;

    XGROW(tp->targets, tp->targets_alloc, tp->ntargets + 1);
    t = &tp->targets[tp->ntargets++];
    memset(t, 0, sizeof(*t));
    cmd_process_init(&t->proc, pid);
    return t;
}

static struct top_target *
target_find(struct top *tp, int pid)
{
    size_t i;

    for (i = 0; i < tp->ntargets; i++) {
        if (tp->targets[i].proc.pid == pid) {
            return &tp->targets[i];
        }
    }
    return NULL;
}

static void
target_release(struct top_target *t)
{
    if (t->sampling) {
        py_sampler_release(&t->sampler);
    }
    cmd_process_release(&t->proc);
    t->sampling = 0;
}

/*
 * Try to attach to a target that is not sampled yet: 0 when it is now
 * sampled, PS_ENOTREADY to try again later, or why it never will be.
 */
static int
target_try(struct top *tp, struct top_target *t)
{
    int rc = cmd_process_attach(&t->proc);

    if (rc < 0) {
        return rc;
    }
    py_sampler_init(&t->sampler, t->proc.rt, tp->opt->mode);
    /* The kernel states (read anyway in cpu mode) and the GIL holder (read
     * in the round's batch): the header's GIL share. */
    t->sampler.states = 1;
    t->sampler.rate = tp->opt->rate;
    t->sampling = 1;
    return 0;
}

static int
known_cb(void *ctx, int pid)
{
    return target_find(ctx, pid) != NULL;
}

static void
add_cb(void *ctx, int pid)
{
    target_add(ctx, pid)->proc.started = 1;
}

/* ---- sampling ----------------------------------------------------------- */

static void
on_stack(void *ctx, struct py_sampled_thread *st, const struct py_frame *f,
         size_t n)
{
    struct top *tp = ctx;
    struct profile *p = &tp->window.profile;
    uint32_t thread;
    size_t i;

    thread = profile_thread_pid(p, tp->current->proc.pid, st->thread.ident,
                                st->thread.tid, st->name);
    if (n > tp->ids_alloc) {
        XGROW(tp->ids, tp->ids_alloc, n);
    }
    for (i = 0; i < n; i++) {
        struct py_code *code = f[i].code;

        if (code->user_name == UINT32_MAX) {
            code->user_name = strtab_intern(
                &p->strings, code->qualname ? code->qualname : code->name);
            code->user_file = strtab_intern(&p->strings, code->filename);
            code->user_frame = UINT32_MAX;
        }
        /* The frame of this code at the line it was last seen at (the
         * window's profile keeps its frames while top runs). */
        if (code->user_frame == UINT32_MAX || code->user_line != f[i].line) {
            code->user_frame = prof_window_frame(&tp->window, code->user_name,
                                                 code->user_file,
                                                 code->firstlineno, f[i].line);
            code->user_line = f[i].line;
        }
        tp->ids[i] = code->user_frame;
    }
    prof_window_add(&tp->window, thread, tp->ids, n);
    if (st->gil >= 0) {
        tp->gil_known++;
        tp->gil_held += st->gil == 1;
    }
}

/* One round over every target.  Returns 1 while the root target lives. */
static int
top_round(struct top *tp, uint64_t round)
{
    size_t i;
    int root_alive = 0;

    for (i = 0; i < tp->ntargets; i++) {
        struct top_target *t = &tp->targets[i];
        uint64_t before;
        int rc;

        if (t->proc.gone) {
            continue;
        }
        if (!t->sampling) {
            rc = target_try(tp, t);
            if (rc < 0) {
                err_clear();
                root_alive |= t->proc.pid == tp->root_pid && !t->proc.gone;
                continue;
            }
        }
        if (round % (uint64_t)fmax(1, tp->opt->rate * CODE_EPOCH_S) == 0) {
            t->proc.rt->code_epoch++;
        }
        tp->current = t;
        before = t->sampler.stats.torn + t->sampler.stats.errors;
        rc = py_sampler_round(&t->sampler, on_stack, tp);
        tp->drops_now +=
            t->sampler.stats.torn + t->sampler.stats.errors - before;
        if (rc == PS_EEXITED || rc == PS_ENOPROC) {
            t->proc.gone = 1;
            continue;
        }
        if (rc < 0) {
            /* The thread lists could not be read this round. */
            err_clear();
            tp->drops_now++;
        }
        root_alive |= t->proc.pid == tp->root_pid;
    }
    return root_alive;
}

/* ---- the screen ---------------------------------------------------------- */

/* Close the interval: the header's CPU, RSS and GIL figures for it. */
static void
close_interval(struct top *tp, uint64_t now)
{
    double secs = (double)(now - tp->interval_start) / 1e9;
    uint64_t cpu = 0;
    double rss = 0;
    size_t i;
    int known = 0;

    for (i = 0; i < tp->ntargets; i++) {
        struct top_target *t = &tp->targets[i];
        uint64_t c, r;

        if (t->proc.gone || !t->sampling ||
            proc_usage(t->proc.pid, &c, &r) < 0) {
            continue;
        }
        if (t->cpu_ns != 0) {
            cpu += c - t->cpu_ns;
        }
        t->cpu_ns = c;
        rss += (double)r;
        known = 1;
    }
    tp->cpu_pct = known && secs > 0 ? 100.0 * (double)cpu / 1e9 / secs : -1;
    tp->rss = known ? rss : -1;
    tp->gil_pct = tp->gil_known > 0
                      ? 100.0 * (double)tp->gil_held / (double)tp->gil_known
                      : -1;
    tp->gil_held = tp->gil_known = 0;
    tp->drops_last = tp->drops_now;
    tp->drops_since += tp->drops_now;
    tp->drops_now = 0;
    tp->last_ns = now - tp->interval_start;
    tp->interval_start = now;
    prof_window_close(&tp->window);
}

static int
draw(struct top *tp, uint64_t now)
{
    struct out_top_header h;
    struct out_top_view v;
    struct strbuf out = STRBUF_INIT;
    struct top_target *root = target_find(tp, tp->root_pid);
    size_t i;
    int rc;

    memset(&h, 0, sizeof(h));
    h.pid = tp->root_pid;
    h.command = tp->command;
    h.python_version = root != NULL && root->proc.rt != NULL
                           ? root->proc.rt->version.text
                           : NULL;
    h.mode = tp->opt->mode_name;
    h.rate_hz = tp->opt->rate;
    for (i = 0; i < tp->ntargets; i++) {
        if (tp->targets[i].sampling && !tp->targets[i].proc.gone) {
            h.threads += tp->targets[i].sampler.n;
            h.processes++;
        }
    }
    h.cpu_pct = tp->cpu_pct;
    h.gil_pct = tp->gil_pct;
    h.rss_bytes = tp->rss;
    h.interval_s = (double)tp->last_ns / 1e9;
    h.since_s = (double)(now - tp->since_start) / 1e9;
    h.was_reset = tp->was_reset;
    h.rounds_since = tp->rounds_since;
    h.dropped_last = tp->drops_last;
    h.dropped_since = tp->drops_since;
    h.paused = tp->paused;
    h.message = tp->message;

    memset(&v, 0, sizeof(v));
    v.flags = tp->flags;
    v.sort = tp->sort;
    v.top = tp->opt->top;
    v.ansi = tp->interactive;
    if (tp->interactive) {
        term_size(&v.rows, &v.cols);
    }
    prof_table_build(&tp->table, &tp->window, tp->flags);
    prof_table_sort(&tp->table, tp->sort);
    out_top(&tp->window, &tp->table, &h, &v, &out);
    if (!tp->interactive) {
        strbuf_addch(&out, '\n');
    }
    rc = tp->interactive ? term_write(out.buf, out.len)
                         : cmd_write_stdout(out.buf, out.len);
    strbuf_release(&out);
    return rc;
}

/* A key: 1 when the screen should be drawn again, -1 to quit. */
static int
on_key(struct top *tp, int key, uint64_t now)
{
    switch (key) {
    case 'q':
    case 'Q':
        return -1;
    case '1':
    case '2':
    case '3':
    case '4':
        tp->sort = (enum prof_sort)(key - '1');
        return 1;
    case TERM_KEY_LEFT:
        tp->sort = (enum prof_sort)((tp->sort + PROF_SORT_COUNT - 1) %
                                    PROF_SORT_COUNT);
        return 1;
    case TERM_KEY_RIGHT:
        tp->sort = (enum prof_sort)((tp->sort + 1) % PROF_SORT_COUNT);
        return 1;
    case 't':
        tp->flags ^= PROF_TABLE_THREADS;
        return 1;
    case 'l':
        tp->flags ^= PROF_TABLE_LINES;
        return 1;
    case 'p':
        tp->paused = !tp->paused;
        return 1;
    case 'r':
        prof_window_reset(&tp->window);
        tp->since_start = now;
        tp->rounds_since = 0;
        tp->drops_since = 0;
        tp->was_reset = 1;
        return 1;
    default:
        return 0;
    }
}

/* ---- the command --------------------------------------------------------- */

/*
 * Ctrl-Z: give the terminal back, then stop as SIGTSTP's default action
 * would (the shell reports the job stopped); back here once continued.
 * Called between rounds, when no thread of any target is paused: the
 * targets run on while pyspect is stopped.
 */
static void
suspend(void)
{
    struct sigaction dfl, ours;

    term_restore();
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTSTP, &dfl, &ours);
    raise(SIGTSTP);
    sigaction(SIGTSTP, &ours, NULL);
    /* Continued, or never stopped (an orphaned process group): the
     * terminal is taken again either way. */
    top_continued = 1;
}

/*
 * Continued (fg, or a SIGCONT after any stop): the shell may have set
 * the terminal's modes and drawn over the screen, so take the terminal
 * again, as it is now, and draw the whole screen.
 */
static int
resume(void)
{
    term_restore();
    return term_start(STDIN_FILENO, STDOUT_FILENO);
}

static int
top_loop(struct top *tp)
{
    const struct top_options *o = tp->opt;
    uint64_t interval = (uint64_t)(1e9 / o->rate), round = 0;
    uint64_t refresh = (uint64_t)(o->interval * 1e9);
    uint64_t start = clock_now_ns(), next = start, next_scan = start;
    uint64_t next_refresh = start + refresh, end = 0;
    uint64_t jitter = start ^ (uint64_t)getpid();
    int rc = 0;

    tp->interval_start = tp->since_start = start;
    if (o->duration > 0) {
        end = start + (uint64_t)(o->duration * 1e9);
    }
    close_interval(tp, start); /* the CPU counters' first reading */
    sched_prompt_wakeups();
    if (tp->interactive) {
        rc = draw(tp, start);
    }
    while (!top_stop && rc == 0) {
        uint64_t now = clock_now_ns();
        struct timespec ts;
        int key, again = 0;

        if (end != 0 && now >= end) {
            break;
        }
        if (o->subprocesses && now >= next_scan) {
            session_descendants(known_cb, add_cb, tp);
            next_scan = now + (uint64_t)(CHILD_SCAN_S * 1e9);
        }
        if (!top_round(tp, round++)) {
            tp->message = "the target exited";
            break;
        }
        tp->rounds_since++;
        now = clock_now_ns();
        if (now >= next_refresh) {
            close_interval(tp, now);
            /* The next one a whole interval from now, as top(1) waits its
             * delay: a late refresh must not make the next interval
             * short (a percentage of a tenth of a second). */
            next_refresh = now + refresh;
            again = !tp->paused || !tp->interactive;
        }
        while ((key = term_key(0)) != TERM_KEY_NONE) {
            int r = on_key(tp, key, now);

            if (r < 0) {
                return 0;
            }
            again |= r;
        }
        if (top_resized) {
            top_resized = 0;
            again = 1;
        }
        if (top_suspended) {
            top_suspended = 0;
            suspend();
        }
        if (top_continued && tp->interactive) {
            top_continued = 0;
            rc = resume();
            if (rc < 0) {
                break;
            }
            again = 1;
        }
        if (again) {
            rc = draw(tp, now);
        }
        next += sample_interval(interval, &jitter);
        now = clock_now_ns();
        if (now > next + interval) {
            /* Behind schedule: skip the rounds we cannot take. */
            next += (now - next) / interval * interval;
        }
        ts.tv_sec = (time_t)(next / 1000000000u);
        ts.tv_nsec = (long)(next % 1000000000u);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
                   EINTR &&
               !top_stop && !top_resized && !top_suspended && !top_continued) {
        }
    }
    if (rc == 0 && !tp->interactive && tp->message != NULL) {
        /* What was seen up to the end, once more. */
        uint64_t now = clock_now_ns();

        close_interval(tp, now);
        rc = draw(tp, now);
    }
    return rc;
}

static char *
command_line(struct top *tp)
{
    struct strbuf cmd = STRBUF_INIT;

    if (tp->session.launched) {
        char **a;

        for (a = tp->opt->command; *a != NULL; a++) {
            strbuf_addf(&cmd, "%s%s", a == tp->opt->command ? "" : " ", *a);
        }
    } else {
        proc_cmdline(tp->root_pid, &cmd);
    }
    return strbuf_detach(&cmd);
}

int
cmd_top(int argc, char **argv)
{
    struct top_options opt;
    struct top tp;
    struct top_target *root;
    struct sigaction sa;
    int rc, exit_status = 0;
    size_t i;

    rc = top_parse(argc, argv, &opt);
    if (rc < 0) {
        return err_exit_status(rc);
    }
    if (opt.help) {
        fputs(top_usage, stdout);
        return 0;
    }
    memset(&tp, 0, sizeof(tp));
    tp.opt = &opt;
    tp.flags = opt.flags;
    tp.sort = PROF_SORT_OWN;
    prof_window_init(&tp.window);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, NULL);

    if (opt.command != NULL) {
        rc = session_launch(&tp.session, opt.command);
        if (rc < 0) {
            goto fail;
        }
        tp.root_pid = tp.session.pid;
        root = target_add(&tp, tp.root_pid);
        root->proc.started = 1;
        root->proc.script = cmd_is_script(opt.command[0]);
        rc = cmd_process_wait_python(&root->proc, &tp.session, opt.command[0],
                                     &top_stop);
        if (rc == 0) {
            rc = target_try(&tp, root);
        }
        if (rc < 0) {
            session_stop(&tp.session, SIGTERM, CHILD_STOP_WAIT_S);
            goto fail;
        }
    } else {
        rc = proc_check(opt.pid);
        if (rc < 0) {
            goto fail;
        }
        session_attach(&tp.session, opt.pid);
        tp.root_pid = opt.pid;
        root = target_add(&tp, opt.pid);
        rc = target_try(&tp, root);
        if (rc < 0) {
            goto fail;
        }
    }
    tp.command = command_line(&tp);
    /* A screen only when both ends are a terminal: keys in, screen out. */
    tp.interactive = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) &&
                     term_start(STDIN_FILENO, STDOUT_FILENO) == 0;
    err_clear();
    if (tp.interactive) {
        sa.sa_handler = on_tstp;
        sigaction(SIGTSTP, &sa, NULL);
        sa.sa_handler = on_cont;
        sigaction(SIGCONT, &sa, NULL);
    }
    rc = top_loop(&tp);
    term_restore();
    if (tp.interactive) {
        signal(SIGTSTP, SIG_DFL);
        signal(SIGCONT, SIG_DFL);
    }
    if (rc < 0) {
        goto fail;
    }
    if (tp.message != NULL) {
        fprintf(stderr, "pyspect: pid %d: %s\n", tp.root_pid, tp.message);
    }
    if (tp.session.launched) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (!session_exited(&tp.session)) {
            /* q, --duration, or a signal to pyspect alone: ask the
             * command to stop, then insist.  Ctrl-C reached it too. */
            if (top_stop == SIGINT) {
                session_wait(&tp.session, CHILD_STOP_WAIT_S);
            }
            session_stop(&tp.session,
                         top_stop && top_stop != SIGINT ? top_stop : SIGTERM,
                         CHILD_STOP_WAIT_S);
        }
        exit_status = session_exit_status(&tp.session);
        /* Stopped by us: not the command's failure. */
        if (tp.message == NULL) {
            exit_status = 0;
        }
    }
    goto out;
fail:
    term_restore();
    exit_status = cmd_fail(rc);
out:
    for (i = 0; i < tp.ntargets; i++) {
        target_release(&tp.targets[i]);
    }
    free(tp.targets);
    free(tp.ids);
    free(tp.command);
    prof_table_release(&tp.table);
    prof_window_release(&tp.window);
    return exit_status;
}
