/*
 * record.c - `pyspect record`: a sampling profiler.
 *
 * Layer: cmd.  Attaches to a process (or starts a command and waits for
 * its interpreter), samples every thread's stack at a fixed rate with
 * python/sampler.h, aggregates the stacks in a profile (src/profile/) as
 * they arrive, and at the end (duration, the target's exit, or Ctrl-C)
 * writes the profile with one of the writers (src/output/).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/error.h"
#include "core/escape.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "output/output.h"
#include "profile/profile.h"
#include "core/hashmap.h"
#include "core/rand.h"
#include "python/native.h"
#include "push/push.h"
#include "python/code.h"
#include "python/runtime.h"
#include "python/sampler.h"
#include "python/tasks.h"
#include "target/pause.h"
#include "target/proc.h"
#include "target/session.h"
#include "target/target.h"
#include "core/banned.h"

#define RATE_MAX 20000.0
/* The frame of a sample taken while the interpreter finalizes. */
#define FINALIZING_FRAME "(Python finalizing)"
/* The file of the frame --tasks adds for a task. */
#define TASK_FILE "<asyncio task>"
/* How long a started command may take to stop once asked. */
#define CHILD_STOP_WAIT_S 5.0
/* Look for new child processes this often (--subprocesses). */
#define CHILD_SCAN_S 0.2
/* Check cached code objects against the target this often. */
#define CODE_EPOCH_S 1.0
/* --push: seconds per profile sent, by default and at least/most. */
#define PUSH_EVERY_S 10.0
#define PUSH_EVERY_MIN_S 1.0
#define PUSH_EVERY_MAX_S 3600.0
/* -f trace: write the events out once this many bytes wait. */
#define TRACE_FLUSH_BYTES 65536
/* --push: time to send what is queued when stopping. */
#define PUSH_FLUSH_S 5.0

static const char record_usage[] =
    "usage: pyspect record [options] -o FILE PID\n"
    "       pyspect record [options] -o FILE -p PID\n"
    "       pyspect record [options] -o FILE -- COMMAND [ARGS...]\n"
    "\n"
    "Sample the Python stacks of every thread of a process and write where\n"
    "the time went, in one of the formats below.  Recording stops at\n"
    "--duration, when the target exits, or on Ctrl-C, and what was\n"
    "collected is written in every case.  With a\n"
    "COMMAND, pyspect starts it, samples from its first Python frame, and\n"
    "exits with its exit status.  The target is only read; a thread whose\n"
    "stack keeps changing through several copies is paused for that one\n"
    "read (ptrace), and the summary says how often (--blocking pauses\n"
    "every thread for every sample).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     where to write (default pyspect-PID.svg; - for\n"
    "                        standard output); up to 8 times, the same\n"
    "                        recording in several files\n"
    "  -f, --format FORMAT   one of the formats below (default: from the\n"
    "                        FILE extension, else svg)\n"
    "  -p, --pid PID         the process to sample\n"
    "  -r, --rate HZ         samples per second on average (default 100, "
    "at most\n"
    "                        20000); each round a quarter of an interval "
    "early or\n"
    "                        late at random, not in step with a loop of "
    "that period\n"
    "  -d, --duration SECS   stop after this many seconds\n"
    "      --mode MODE       cpu: threads running on a CPU (default);\n"
    "                        wall: every thread, running or waiting;\n"
    "                        gil: only the thread holding the GIL\n"
    "      --lines           one frame per line, not per function\n"
    "      --threads         a root frame per thread\n"
    "      --subprocesses    also sample Python child processes\n"
    "      --tasks           asyncio: a frame with the running task's name\n"
    "                        above its coroutines; with --mode wall, also\n"
    "                        every waiting task's await chain, under its\n"
    "                        name, as a stack of its own\n"
    "      --blocking        pause the target while taking each sample\n"
    "                        (ptrace): exact stacks, but slows it down\n"
    "      --native          C frames too, with the Python frames where\n"
    "                        the interpreter runs them (pauses the target\n"
    "                        for every sample, as --blocking)\n"
    "      --top N           rows of the table format (default 20)\n"
    "\n"
    "continuous profiling (Grafana Pyroscope), instead of -o:\n"
    "      --push URL        send a pprof profile every interval to the\n"
    "                        Pyroscope server at URL (http:// or https://)\n"
    "      --app NAME        the application's name in Pyroscope\n"
    "      --label KEY=VALUE a label on every profile (repeatable)\n"
    "      --every SECS      seconds per profile (default 10)\n"
    "      --auth-token TOKEN       sent as Authorization: Bearer TOKEN\n"
    "      --auth-token-file FILE   the same, read from FILE\n"
    "      --tenant ID       sent as X-Scope-OrgID (multi-tenant servers)\n"
    "      --cacert FILE     trust the CA certificates in FILE (PEM)\n"
    "      --queue N         profiles kept while the server is away or\n"
    "                        slow (default 32); then the oldest go\n"
    "  With --push, pyspect runs until stopped (SIGTERM and Ctrl-C send the\n"
    "  last interval first).  An attached PID that exits is looked for\n"
    "  again: a process with the same command line is sampled next.\n"
    "  --subprocesses labels each process's profile with its pid.\n"
    "  -q, --quiet           no progress line and no summary\n"
    "  -v, --verbose         more statistics in the summary\n"
    "  -h, --help            show this help\n"
    "\n"
    "formats:\n";

static const char record_usage_end[] =
    "\n"
    "exit status: as for pyspect dump; with a COMMAND, the command's.\n";

/* Files one recording is written to (-o more than once). */
#define OUTPUTS_MAX 8

struct record_output {
    const char *path;
    const struct out_format *format;
    int fd;      /* open from the start; -1 */
    int created; /* by pyspect: removed if nothing is written */
};

struct record_options {
    int help;
    int pid;
    char **command;
    struct record_output outputs[OUTPUTS_MAX];
    size_t noutputs;
    int events; /* an output needs every sample in time order */
    int format_given;
    const struct out_format *format;
    double rate;
    double duration;
    enum py_sample_mode mode;
    const char *mode_name;
    int lines;
    int threads;
    int subprocesses;
    int tasks;
    int blocking;
    int native;
    size_t top;
    int quiet;
    int verbose;
    struct push_options push; /* push.url set: --push */
    double every;
    const char *auth_file;
    int push_only; /* an option that needs --push was given */
};

/* One process being sampled. */
struct record_target {
    struct cmd_process proc;
    struct py_sampler sampler;
    struct py_native *native; /* --native: owned by proc.rt */
    int sampling;             /* attached and sampling */
    uint64_t prefix_round;    /* when sys.prefix was looked for; 0: found */
    struct py_tasks tasks;    /* --tasks: this round's */
};

struct recorder {
    const struct record_options *opt;
    struct profile profile;
    struct record_target *targets;
    size_t ntargets;
    size_t targets_alloc;
    int root_pid;
    struct session session; /* the command started, or the pid given */
    uint32_t *ids;
    size_t ids_alloc;
    struct record_target *current;
    double paused_ms;
    const char *stopped; /* why the recording ended, for the summary */
    /* -v: CPU and wall time of the rounds themselves, every one timed (a
     * thread's CPU clock is a system call, under a microsecond: a round
     * timed one in N, scaled by N, made the first rounds' one-off work,
     * such as indexing a library's symbols, count N times or not at
     * all). */
    uint64_t work_ns;
    uint64_t wall_ns;
    uint64_t start_ns;    /* clock_now_ns() when sampling started */
    uint64_t round;       /* and its number, from 1 */
    uint64_t list_errors; /* rounds whose thread lists were unreadable */
    /* --push */
    struct push *push;
    double cut_unix;         /* when the interval being sampled began */
    struct profile_meta cut; /* the counters then */
    int awaiting_restart;    /* --push: the attached target exited */
    struct py_sampler_stats retired; /* of targets released on the way */
    uint64_t *last_round;            /* per profile thread: its latest round */
    size_t last_round_alloc;
    /* --native: each sample's mixed stack, and profile frame ids of
     * native frames by (target, pc) (an unwinder caches its names by pc,
     * the profile by name: this skips both per frame). */
    struct py_mixed_frame *mixed;
    size_t mixed_alloc;
    struct hashmap native_ids;
    uint64_t native_ns;     /* -v: CPU time spent on native frames */
    uint64_t native_stacks; /* and on how many stacks */
    /* -f trace: written as the samples arrive (bounded memory) */
    struct out_trace_stream *trace;
    struct strbuf trace_buf;                 /* bytes not yet written */
    char *trace_error;                       /* the first write that failed */
    int trace_started[OUTPUTS_MAX];          /* by output: emptied */
    unsigned char trace_failed[OUTPUTS_MAX]; /* a write failed */
};

static volatile sig_atomic_t record_stop;

static void
on_signal(int sig)
{
    record_stop = sig;
}

/* CPU time of this thread (pyspect is single-threaded), kernel included. */
static uint64_t
thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Seconds since the epoch. */
static double
unix_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* ---- options ------------------------------------------------------------ */

static void
help(void)
{
    struct strbuf sb = STRBUF_INIT;

    strbuf_addstr(&sb, record_usage);
    out_format_help(&sb, 2);
    strbuf_addstr(&sb, record_usage_end);
    fputs(sb.buf, stdout);
    strbuf_release(&sb);
}

static int
record_parse(int argc, char **argv, struct record_options *opt)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"pid", required_argument, NULL, 'p'},
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"mode", required_argument, NULL, 'm'},
        {"lines", no_argument, NULL, 'L'},
        {"threads", no_argument, NULL, 'T'},
        {"subprocesses", no_argument, NULL, 'S'},
        {"tasks", no_argument, NULL, 0x101},
        {"blocking", no_argument, NULL, 'b'},
        {"native", no_argument, NULL, 'N'},
        {"top", required_argument, NULL, 't'},
        {"push", required_argument, NULL, 'P'},
        {"app", required_argument, NULL, 'A'},
        {"label", required_argument, NULL, 'l'},
        {"every", required_argument, NULL, 'e'},
        {"auth-token", required_argument, NULL, 'k'},
        {"auth-token-file", required_argument, NULL, 'K'},
        {"tenant", required_argument, NULL, 'n'},
        {"cacert", required_argument, NULL, 'C'},
        {"queue", required_argument, NULL, 'Q'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cmd_target t;
    long v;
    int c, r;
    size_t i;

    memset(opt, 0, sizeof(*opt));
    memset(&t, 0, sizeof(t));
    /* Everything after "--" is the command, its options included. */
    r = cmd_target_command("record", &argc, argv, &t);
    if (r < 0) {
        return r;
    }
    opt->rate = 100;
    opt->mode = PY_SAMPLE_CPU;
    opt->mode_name = "cpu";
    opt->format = &out_formats[0];
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:f:p:r:d:qvh", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'o':
            if (opt->noutputs == OUTPUTS_MAX) {
                return cmd_usage_error("record", "at most %d -o files",
                                       OUTPUTS_MAX);
            }
            for (i = 0; i < opt->noutputs; i++) {
                if (strcmp(optarg, "-") == 0 &&
                    strcmp(opt->outputs[i].path, "-") == 0) {
                    return cmd_usage_error("record", "-o - given twice");
                }
            }
            opt->outputs[opt->noutputs++].path = optarg;
            break;
        case 'f':
            opt->format = out_format_find(optarg);
            if (opt->format == NULL) {
                return cmd_usage_error("record", "%s", err_context());
            }
            opt->format_given = 1;
            break;
        case 'p':
            r = cmd_target_option("record", c, optarg, &t);
            if (r < 0) {
                return r;
            }
            break;
        case 'r':
            /* At least one sample a day: 1e9 / rate ns must fit. */
            if (parse_double(optarg, &opt->rate) < 0 ||
                opt->rate < 1.0 / 86400 || opt->rate > RATE_MAX) {
                return cmd_usage_error("record",
                                       "rate '%s' is not a number of "
                                       "samples per second between 0 and "
                                       "%g",
                                       optarg, RATE_MAX);
            }
            break;
        case 'd':
            if (cmd_parse_duration("record", optarg, &opt->duration) < 0) {
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
                return cmd_usage_error("record",
                                       "unknown mode '%s' (choose cpu, "
                                       "wall or gil)",
                                       optarg);
            }
            opt->mode_name = optarg;
            break;
        case 'L':
            opt->lines = 1;
            break;
        case 'T':
            opt->threads = 1;
            break;
        case 'S':
            opt->subprocesses = 1;
            break;
        case 0x101:
            opt->tasks = 1;
            break;
        case 'b':
            opt->blocking = 1;
            break;
        case 'N':
            /* Registers are had only from a stopped thread. */
            opt->native = 1;
            opt->blocking = 1;
            break;
        case 't':
            if (parse_long(optarg, 1, 1000000, &v) < 0) {
                return cmd_usage_error(
                    "record", "--top '%s' is not a positive count", optarg);
            }
            opt->top = (size_t)v;
            break;
        case 'P':
            opt->push.url = optarg;
            break;
        case 'A':
            opt->push.app = optarg;
            opt->push_only = 1;
            break;
        case 'l':
            if (opt->push.nlabels == PUSH_LABELS_MAX) {
                return cmd_usage_error("record", "at most %d labels",
                                       PUSH_LABELS_MAX);
            }
            opt->push.labels[opt->push.nlabels++] = optarg;
            opt->push_only = 1;
            break;
        case 'e':
            if (parse_double(optarg, &opt->every) < 0 ||
                opt->every < PUSH_EVERY_MIN_S ||
                opt->every > PUSH_EVERY_MAX_S) {
                return cmd_usage_error("record",
                                       "--every '%s' is not a number of "
                                       "seconds from %g to %g",
                                       optarg, PUSH_EVERY_MIN_S,
                                       PUSH_EVERY_MAX_S);
            }
            opt->push_only = 1;
            break;
        case 'k':
            opt->push.auth_token = optarg;
            opt->push_only = 1;
            break;
        case 'K':
            opt->auth_file = optarg;
            opt->push_only = 1;
            break;
        case 'n':
            opt->push.tenant = optarg;
            opt->push_only = 1;
            break;
        case 'C':
            opt->push.cacert = optarg;
            opt->push_only = 1;
            break;
        case 'Q':
            if (parse_long(optarg, 1, PUSH_QUEUE_MAX, &v) < 0) {
                return cmd_usage_error("record",
                                       "--queue '%s' is not a count from 1 "
                                       "to %d",
                                       optarg, PUSH_QUEUE_MAX);
            }
            opt->push.queue_max = (size_t)v;
            opt->push_only = 1;
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
            return cmd_option_error("record", argv);
        }
    }
    r = cmd_target_finish("record", argc, argv, CMD_TARGET_LAUNCH, &t);
    if (r < 0) {
        return r;
    }
    opt->pid = t.pid;
    opt->command = t.command;
    if (opt->push.url != NULL) {
        if (opt->noutputs > 0) {
            return cmd_usage_error("record", "--push sends the profiles to "
                                             "a server: no -o with it");
        }
        if (opt->format_given && strcmp(opt->format->name, "pprof") != 0) {
            return cmd_usage_error("record", "--push sends pprof, not %s",
                                   opt->format->name);
        }
        if (opt->push.auth_token != NULL && opt->auth_file != NULL) {
            return cmd_usage_error("record", "give --auth-token or "
                                             "--auth-token-file, not both");
        }
        opt->push.sample_rate = opt->rate;
        if (opt->every == 0) {
            opt->every = PUSH_EVERY_S;
        }
        if (push_check(&opt->push) < 0) {
            return cmd_usage_error("record", "%s", err_context());
        }
    } else if (opt->push_only) {
        return cmd_usage_error("record", "--app, --label, --every, "
                                         "--auth-token, --tenant, --cacert "
                                         "and --queue go with --push URL");
    }
    /* Each file in -f's format, else its extension's, else svg. */
    for (i = 0; i < opt->noutputs; i++) {
        struct record_output *out = &opt->outputs[i];

        out->format = opt->format;
        if (!opt->format_given && out_format_for_path(out->path) != NULL) {
            out->format = out_format_for_path(out->path);
        }
        out->fd = -1;
        opt->events |= (out->format->flags & OUT_EVENTS) != 0;
    }
    return 0;
}

/* The trace's bytes so far to every trace output (-o may name several). */
static void
trace_flush(struct recorder *r)
{
    const struct record_options *o = r->opt;
    size_t i;

    for (i = 0; i < o->noutputs; i++) {
        const struct record_output *out = &o->outputs[i];

        if (!(out->format->flags & OUT_EVENTS) || r->trace_failed[i]) {
            continue;
        }
        if (cmd_output_append(out->fd, out->path, &r->trace_started[i],
                              &r->trace_buf) < 0) {
            r->trace_failed[i] = 1;
            if (r->trace_error == NULL) {
                r->trace_error = xstrdup(err_context());
            }
            err_clear();
        }
    }
    strbuf_reset(&r->trace_buf);
}

/* ---- targets ------------------------------------------------------------ */

static struct record_target *
target_add(struct recorder *r, int pid)
{
    struct record_target *t;

    XGROW(r->targets, r->targets_alloc, r->ntargets + 1);
    t = &r->targets[r->ntargets++];
    memset(t, 0, sizeof(*t));
    cmd_process_init(&t->proc, pid);
    return t;
}

static struct record_target *
target_find(struct recorder *r, int pid)
{
    size_t i;

    for (i = 0; i < r->ntargets; i++) {
        if (r->targets[i].proc.pid == pid) {
            return &r->targets[i];
        }
    }
    return NULL;
}

static void
target_release(struct record_target *t)
{
    if (t->sampling) {
        py_sampler_release(&t->sampler);
    }
    py_tasks_release(&t->tasks);
    cmd_process_release(&t->proc);
    t->sampling = 0;
}

/*
 * Try to attach to a target that is not sampled yet.  Returns 0 when it
 * is now sampled, PS_ENOTREADY to try again later, or the reason it never
 * will be.
 */
static int
target_try(struct recorder *r, struct record_target *t)
{
    int rc = cmd_process_attach(&t->proc);

    if (rc < 0) {
        return rc;
    }
    if (r->opt->native) {
        rc = py_native_get(t->proc.rt, &t->native);
        if (rc < 0) {
            t->proc.gone = 1;
            return rc;
        }
    }
    py_sampler_init(&t->sampler, t->proc.rt, r->opt->mode);
    /* With --blocking every thread is held already. */
    t->sampler.may_pause = !r->opt->blocking;
    t->sampler.states = r->opt->events;
    t->sampler.rate = r->opt->rate;
    if (r->opt->native) {
        t->sampler.stack_flags = PY_STACK_CALLS;
    }
    t->sampling = 1;
    t->prefix_round = 1; /* at the next round */
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

/* Add the descendants of the targets that are not known yet. */
static void
scan_children(struct recorder *r)
{
    session_descendants(known_cb, add_cb, r);
}

/* ---- samples into the profile ------------------------------------------- */
/* Defined below. */
static size_t task_frame_insert(struct recorder *r,
                                const struct py_sampled_thread *st,
                                const struct py_frame *f, size_t n);

/* The profile frame of a native frame: "function (library)", or
 * "library+0xOFFSET" where no symbol names it. */
static uint32_t
native_frame_id(struct recorder *r, struct record_target *t,
                const struct native_frame *f)
{
    struct profile *p = &r->profile;
    uint64_t key = hash_u64(f->pc ^ ((uint64_t)(uint32_t)t->proc.pid << 47)) ^
                   (uint64_t)f->activation;
    void **slot = hashmap_slot(&r->native_ids, key ? key : 1);
    struct native_symbol sym;
    struct strbuf name = STRBUF_INIT;
    const char *lib;
    uint32_t id;

    if (*slot != NULL) {
        return (uint32_t)(uintptr_t)*slot - 1;
    }
    unwinder_symbol(py_native_unwinder(t->native), f, &sym);
    lib = sym.library ? strrchr(sym.library, '/') : NULL;
    lib = lib ? lib + 1 : sym.library ? sym.library : "?";
    if (sym.function != NULL) {
        id = profile_frame_id(p, strtab_intern(&p->strings, sym.function),
                              strtab_intern(&p->strings, lib), -1);
    } else {
        strbuf_addf(&name, "%s+%#llx", lib, (unsigned long long)sym.offset);
        id = profile_frame_id(p, strtab_intern(&p->strings, name.buf),
                              strtab_intern(&p->strings, ""), -1);
    }
    strbuf_release(&name);
    *slot = (void *)(uintptr_t)(id + 1);
    return id;
}

/* The profile frame of a Python frame. */
static uint32_t
python_frame_id(struct recorder *r, const struct py_frame *f)
{
    struct profile *p = &r->profile;
    struct py_code *code = f->code;
    int32_t line = r->opt->lines ? f->line : code->firstlineno;

    if (code->user_name == UINT32_MAX) {
        code->user_name = strtab_intern(
            &p->strings, code->qualname ? code->qualname : code->name);
        code->user_file = strtab_intern(&p->strings, code->filename);
        code->user_frame = UINT32_MAX;
    }
    /* A thread sampled again and again is mostly where it was: the same
     * frame as the last time of each code, without hashing it. */
    if (code->user_frame == UINT32_MAX || code->user_line != line) {
        code->user_frame =
            profile_frame_id(p, code->user_name, code->user_file, line);
        code->user_line = line;
    }
    return code->user_frame;
}

/*
 * --native: the thread's mixed stack into r->ids; returns its length.
 * The whole target is paused (as --blocking): the registers and the
 * Python frames are of the same moment.
 */
static size_t
native_stack_ids(struct recorder *r, struct py_sampled_thread *st,
                 const struct py_frame *f, size_t n)
{
    struct record_target *t = r->current;
    const struct py_stack *s = &t->sampler.stack;
    struct target_regs regs;
    size_t nmixed = 0, i;
    /* The thread's CPU clock is a system call: only for -v. */
    uint64_t t0 = r->opt->verbose ? thread_cpu_ns() : 0;

    if (st->thread.tid <= 0 ||
        target_thread_regs(t->proc.target, (int)st->thread.tid, &regs) < 0) {
        memset(&regs, 0, sizeof(regs));
    }
    py_native_stack(t->native, (int)st->thread.tid, &regs, f, n, s->calls,
                    s->ncalls, &r->mixed, &nmixed, &r->mixed_alloc);
    err_clear();
    if (nmixed > r->ids_alloc) {
        XGROW(r->ids, r->ids_alloc, nmixed);
    }
    for (i = 0; i < nmixed; i++) {
        const struct py_mixed_frame *m = &r->mixed[i];

        r->ids[i] = m->kind == PY_MIXED_PYTHON
                        ? python_frame_id(r, &f[m->python])
                        : native_frame_id(r, t, &m->native);
    }
    if (r->opt->verbose) {
        r->native_ns += thread_cpu_ns() - t0;
    }
    r->native_stacks++;
    return nmixed;
}

static void
on_stack(void *ctx, struct py_sampled_thread *st, const struct py_frame *f,
         size_t n)
{
    struct recorder *r = ctx;
    struct profile *p = &r->profile;
    uint32_t thread, stack;
    size_t i;

    thread = profile_thread_pid(p, r->current->proc.pid, st->thread.ident,
                                st->thread.tid, st->name);
    if (r->opt->native) {
        n = native_stack_ids(r, st, f, n);
    } else {
        if (n > r->ids_alloc) {
            XGROW(r->ids, r->ids_alloc, n);
        }
        for (i = 0; i < n; i++) {
            r->ids[i] = python_frame_id(r, &f[i]);
        }
    }
    if (r->opt->tasks) {
        n = task_frame_insert(r, st, f, n);
    }
    if (n == 0 && r->current->sampler.finalizing) {
        /* No Python code runs, and the interpreter is being torn down
         * (modules cleared, objects freed): say so rather than leave an
         * unexplained "(no Python frames)". */
        XGROW(r->ids, r->ids_alloc, 1);
        r->ids[0] =
            profile_frame_id(p, strtab_intern(&p->strings, FINALIZING_FRAME),
                             strtab_intern(&p->strings, ""), -1);
        n = 1;
    }
    stack = profile_add(p, thread, r->ids, n, 1);
    if (r->trace != NULL) {
        struct prof_event e;
        uint32_t state = 0;

        if (st->state != 0) {
            state |=
                PROF_STATE_WITH_LETTER(st->state) |
                (st->state == 'R' ? PROF_STATE_ON_CPU : PROF_STATE_OFF_CPU);
        }
        if (st->gil >= 0) {
            state |= st->gil ? PROF_STATE_GIL : PROF_STATE_NO_GIL;
        }
        if (thread >= r->last_round_alloc) {
            size_t old = r->last_round_alloc;

            XGROW(r->last_round, r->last_round_alloc, thread + 1);
            memset(r->last_round + old, 0,
                   (r->last_round_alloc - old) * sizeof(*r->last_round));
        }
        if (r->last_round[thread] + 1 == r->round) {
            state |= PROF_STATE_FOLLOWS;
        }
        r->last_round[thread] = r->round;
        /* The time of this stack's read: a round over many threads (or
         * processes) takes a while. */
        e.t_ns = clock_now_ns() - r->start_ns;
        e.stack = stack;
        e.state = state;
        out_trace_sample(r->trace, p, &e, &r->trace_buf);
        if (r->trace_buf.len >= TRACE_FLUSH_BYTES) {
            trace_flush(r);
        }
    }
}

/* ---- --tasks ------------------------------------------------------------ */

/* The frame that stands for a task: its name (or address). */
static uint32_t
task_frame_id(struct recorder *r, const struct py_task *t)
{
    struct profile *p = &r->profile;
    char addr[40];
    const char *name = t->name;

    if (name == NULL) {
        snprintf(addr, sizeof(addr), "Task 0x%llx",
                 (unsigned long long)t->addr);
        name = addr;
    }
    return profile_frame_id(p, strtab_intern(&p->strings, name),
                            strtab_intern(&p->strings, TASK_FILE), -1);
}

/*
 * The running task of the sampled thread's loop, if its coroutine's
 * frame is on the stack: its name goes in as a frame right below that
 * frame (between the event loop's frames and the task's).  r->ids holds
 * the n frames; returns the new count.
 */
static size_t
task_frame_insert(struct recorder *r, const struct py_sampled_thread *st,
                  const struct py_frame *f, size_t n)
{
    const struct py_tasks *tasks = &r->current->tasks;
    size_t i, k;

    for (i = 0; i < tasks->n; i++) {
        const struct py_task *t = &tasks->v[i];

        if (t->state != PY_TASK_RUNNING || t->nframes == 0 ||
            t->loop_tid != st->thread.tid) {
            continue;
        }
        for (k = n; k-- > 0;) {
            if (f[k].code->addr == t->frames[0].code->addr) {
                XGROW(r->ids, r->ids_alloc, n + 1);
                memmove(r->ids + k + 2, r->ids + k + 1,
                        (n - k - 1) * sizeof(*r->ids));
                r->ids[k + 1] = task_frame_id(r, t);
                return n + 1;
            }
        }
    }
    return n;
}

/*
 * --mode wall: every waiting task as a stack of its own: its await chain
 * under its name, on a pseudo-thread per event loop ("asyncio tasks"),
 * so the loop's thread keeps one sample per round.
 */
static void
tasks_waiting_add(struct recorder *r, struct record_target *t)
{
    struct profile *p = &r->profile;
    char name[64];
    size_t i, k;

    for (i = 0; i < t->tasks.n; i++) {
        const struct py_task *task = &t->tasks.v[i];
        uint32_t thread, stack;

        if (task->state != PY_TASK_PENDING) {
            continue;
        }
        if (task->loop_tid != 0) {
            snprintf(name, sizeof(name), "asyncio tasks of thread %ld",
                     task->loop_tid);
        } else {
            snprintf(name, sizeof(name), "asyncio tasks");
        }
        /* The loop's address as the ident: no pthread has it. */
        thread = profile_thread_pid(p, t->proc.pid, task->loop, 0, name);
        XGROW(r->ids, r->ids_alloc, task->nframes + 1);
        for (k = 0; k < task->nframes; k++) {
            const struct py_frame *fr = &task->frames[task->nframes - 1 - k];
            struct py_code *code = fr->code;

            if (code->user_name == UINT32_MAX) {
                code->user_name = strtab_intern(
                    &p->strings, code->qualname ? code->qualname : code->name);
                code->user_file = strtab_intern(&p->strings, code->filename);
            }
            r->ids[k] =
                profile_frame_id(p, code->user_name, code->user_file,
                                 r->opt->lines ? fr->line : code->firstlineno);
        }
        r->ids[task->nframes] = task_frame_id(r, task);
        stack = profile_add(p, thread, r->ids, task->nframes + 1, 1);
        if (p->keep_events) {
            profile_event(p, stack, clock_now_ns() - r->start_ns,
                          PROF_STATE_OFF_CPU);
        }
    }
}

/*
 * This round's tasks of a target, over the threads its sampler knows.
 * Where finding them costs a walk of the GC lists (3.6), the walk is
 * done once a second and the tasks it found are read again in between.
 */
static void
tasks_read(struct recorder *r, struct record_target *t)
{
    struct py_threads threads = PY_THREADS_INIT;
    struct py_tasks old = t->tasks;
    int full = r->round % (uint64_t)fmax(1, r->opt->rate) == 0;
    size_t i;

    memset(&t->tasks, 0, sizeof(t->tasks));
    threads.v = xcalloc(t->sampler.n + 1, sizeof(*threads.v));
    for (i = 0; i < t->sampler.n; i++) {
        threads.v[threads.n++] = t->sampler.threads[i].thread;
    }
    py_runtime_snapshot(t->proc.rt);
    if (py_tasks_reread(t->proc.rt, &threads, full ? NULL : &old, &t->tasks) <
        0) {
        err_clear(); /* changed under the read: no tasks this round */
    }
    py_tasks_release(&old);
    free(threads.v);
}

/*
 * Where this target's Python is installed (sys.prefix, sys.base_prefix),
 * for the flame graph's colours: files under it are the standard
 * library's (a script in /usr/bin too), not the user's.  Looked for again
 * a second later while sys is not ready.
 */
static void
learn_prefixes(struct recorder *r, struct record_target *t, uint64_t round)
{
    static const char *const names[] = {"prefix", "base_prefix"};
    struct profile_meta *m = &r->profile.meta;
    struct strbuf sb = STRBUF_INIT;
    size_t i, k;

    t->prefix_round = round + (uint64_t)fmax(1, r->opt->rate);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        strbuf_reset(&sb);
        if (py_runtime_sys_str(t->proc.rt, names[i], &sb) < 0 || sb.len == 0) {
            err_clear();
            continue;
        }
        t->prefix_round = 0;
        for (k = 0; k < m->nprefixes && strcmp(m->prefixes[k], sb.buf); k++) {
        }
        if (k == m->nprefixes && m->nprefixes < PROF_PREFIXES_MAX) {
            m->prefixes[m->nprefixes++] = strbuf_detach(&sb);
        }
    }
    strbuf_release(&sb);
}

/* One round over every target.  Returns 1 while the root target lives. */
static int
record_round(struct recorder *r, uint64_t round)
{
    size_t i;
    int root_alive = 0;

    for (i = 0; i < r->ntargets; i++) {
        struct record_target *t = &r->targets[i];
        int rc;

        if (t->proc.gone) {
            continue;
        }
        if (!t->sampling) {
            rc = target_try(r, t);
            if (rc < 0) {
                root_alive |= t->proc.pid == r->root_pid && !t->proc.gone;
                continue;
            }
        }
        if (round % (uint64_t)fmax(1, r->opt->rate * CODE_EPOCH_S) == 0) {
            t->proc.rt->code_epoch++;
            if (t->native != NULL) {
                /* Libraries loaded since: before the pause. */
                unwinder_refresh(py_native_unwinder(t->native));
                err_clear();
            }
        }
        if (t->prefix_round != 0 && round >= t->prefix_round) {
            learn_prefixes(r, t, round);
        }
        if (r->opt->blocking) {
            py_sampler_choose(&t->sampler);
        }
        rc = r->opt->blocking ? target_pause(t->proc.target) : 0;
        if (rc < 0) {
            /* Gone, or a pause that failed this round (a thread in the
             * middle of exiting, another tracer): only a process that is
             * no more ends its recording. */
            if (target_check(t->proc.target) == PS_EEXITED) {
                rc = PS_EEXITED;
            }
            err_clear();
        } else {
            r->current = t;
            if (r->opt->tasks) {
                tasks_read(r, t);
            }
            rc = py_sampler_round(&t->sampler, on_stack, r);
            if (r->opt->tasks && r->opt->mode == PY_SAMPLE_WALL) {
                tasks_waiting_add(r, t);
            }
            if (r->opt->blocking) {
                target_resume(t->proc.target);
                r->paused_ms += target_pause_ms(t->proc.target);
            }
        }
        if (rc == PS_EEXITED || rc == PS_ENOPROC) {
            t->proc.gone = 1;
            continue;
        }
        if (rc < 0) {
            /* The lists could not be read this round: count it. */
            r->list_errors++;
        }
        root_alive |= t->proc.pid == r->root_pid;
    }
    return root_alive;
}

/* ---- progress and summary ----------------------------------------------- */

static void
progress(const struct recorder *r, double elapsed, int final)
{
    const struct profile_meta *m = &r->profile.meta;
    uint64_t dropped = m->dropped[PROF_DROP_TORN] +
                       m->dropped[PROF_DROP_ERROR] +
                       m->dropped[PROF_DROP_LATE];

    fprintf(stderr,
            "\r\033[Kpyspect: recording pid %d: %.1f s, %llu samples, "
            "%.0f Hz, %llu dropped%s",
            r->root_pid, elapsed, (unsigned long long)m->samples,
            elapsed > 0 ? (double)m->rounds / elapsed : 0.0,
            (unsigned long long)dropped, final ? "\n" : "");
}

static void
summary(const struct recorder *r)
{
    const struct profile_meta *m = &r->profile.meta;
    const struct record_options *o = r->opt;
    double achieved =
        m->duration_s > 0 ? (double)m->rounds / m->duration_s : 0;

    fprintf(stderr, "pyspect: recording stopped: %s\n",
            r->stopped ? r->stopped : "");
    size_t i;

    fprintf(stderr, "pyspect: wrote ");
    for (i = 0; i < o->noutputs; i++) {
        fprintf(stderr, "%s%s to %s", i > 0 ? ", " : "",
                o->outputs[i].format->name,
                strcmp(o->outputs[i].path, "-") == 0
                    ? "standard output"
                    : esc(o->outputs[i].path));
    }
    fprintf(stderr,
            ": %llu samples in %.2f s, %.1f Hz of %g requested (%.0f%%)\n",
            (unsigned long long)m->samples, m->duration_s, achieved, o->rate,
            o->rate > 0 ? 100.0 * achieved / o->rate : 0.0);
    fprintf(stderr,
            "pyspect: dropped %llu samples that changed while read, %llu "
            "that could not be read, %llu rounds late\n",
            (unsigned long long)m->dropped[PROF_DROP_TORN],
            (unsigned long long)m->dropped[PROF_DROP_ERROR],
            (unsigned long long)m->dropped[PROF_DROP_LATE]);
    if (o->blocking) {
        fprintf(stderr, "pyspect: the target was paused %.1f ms in all\n",
                r->paused_ms);
    }
    if (m->paused > 0) {
        fprintf(stderr,
                "pyspect: %llu stacks kept changing and were read with "
                "their thread paused, %.1f ms in all\n",
                (unsigned long long)m->paused, m->paused_ms);
    }
    if (o->verbose) {
        fprintf(stderr,
                "pyspect: %zu distinct stacks, %zu frames, profile %zu "
                "bytes\n",
                r->profile.nstacks, r->profile.nframes,
                profile_memory(&r->profile) +
                    (r->trace ? out_trace_memory(r->trace) + r->trace_buf.alloc
                              : 0));
        double work = (double)r->work_ns;
        double wall = (double)r->wall_ns;

        fprintf(stderr,
                "pyspect: sampling took %.1f us of CPU per sample (%.1f us "
                "of wall time; %.1f ms in all, over %llu rounds)\n",
                m->samples ? work / 1e3 / (double)m->samples : 0.0,
                m->samples ? wall / 1e3 / (double)m->samples : 0.0, work / 1e6,
                (unsigned long long)m->rounds);
        if (r->opt->native && r->native_stacks > 0) {
            fprintf(stderr,
                    "pyspect: native frames took %.1f us of CPU per stack "
                    "(registers, unwinding, names)\n",
                    (double)r->native_ns / 1e3 / (double)r->native_stacks);
        }
        for (i = 0; i < r->ntargets; i++) {
            const struct record_target *t = &r->targets[i];

            if (t->proc.rt == NULL) {
                continue;
            }
            fprintf(stderr,
                    "pyspect: pid %d (Python %s): %llu rounds, %llu list "
                    "walks, %llu reads, %llu bytes\n",
                    t->proc.pid, esc(t->proc.rt->version.text),
                    (unsigned long long)t->sampler.stats.rounds,
                    (unsigned long long)t->sampler.stats.refreshes,
                    (unsigned long long)t->proc.rt->proc->nreads,
                    (unsigned long long)t->proc.rt->proc->nbytes);
            fprintf(stderr,
                    "pyspect: pid %d: %llu stacks from the round's batch, "
                    "%llu copied again, %llu looked up, %llu read paused\n",
                    t->proc.pid,
                    (unsigned long long)t->sampler.stats.spec_hits,
                    (unsigned long long)t->sampler.stats.retries,
                    (unsigned long long)t->sampler.stats.lookups,
                    (unsigned long long)t->sampler.stats.pauses);
            if (t->sampler.mode == PY_SAMPLE_CPU) {
                fprintf(stderr,
                        "pyspect: pid %d: %llu threads off a CPU, %llu of "
                        "them by their scheduler counts alone, %llu found "
                        "asleep, %llu not asked: the process's CPU time "
                        "said so (%llu counts, %llu asked if asleep, %llu "
                        "states read; %llu rounds asked every thread)\n",
                        t->proc.pid, (unsigned long long)t->sampler.stats.idle,
                        (unsigned long long)t->sampler.stats.unread,
                        (unsigned long long)t->sampler.stats.asleep,
                        (unsigned long long)t->sampler.stats.gated,
                        (unsigned long long)t->sampler.stats.runs_reads,
                        (unsigned long long)t->sampler.stats.asleep_reads,
                        (unsigned long long)t->sampler.stats.state_reads,
                        (unsigned long long)t->sampler.stats.gate_misses);
            }
        }
    }
}

/* Gather the samplers' counters into the profile's meta. */
static void
collect_stats(struct recorder *r)
{
    struct profile_meta *m = &r->profile.meta;
    size_t i;

    /* The samplers count from their start: set, never add, their
     * totals (collect_stats runs every round). */
    m->samples = r->retired.stacks;
    m->dropped[PROF_DROP_TORN] = r->retired.torn;
    m->dropped[PROF_DROP_ERROR] = r->list_errors + r->retired.errors;
    m->paused = r->retired.pauses;
    m->paused_ms = (double)r->retired.pause_ns / 1e6;
    for (i = 0; i < r->ntargets; i++) {
        const struct py_sampler_stats *st = &r->targets[i].sampler.stats;

        if (r->targets[i].proc.rt == NULL && !r->targets[i].sampling) {
            continue;
        }
        m->samples += st->stacks;
        m->dropped[PROF_DROP_TORN] += st->torn;
        m->dropped[PROF_DROP_ERROR] += st->errors;
        m->paused += st->pauses;
        m->paused_ms += (double)st->pause_ns / 1e6;
    }
}

/* ---- pushing to Pyroscope ------------------------------------------------ */

/*
 * Forget targets that are gone (their counters are kept), so that weeks
 * of children coming and going, or restarts, leave memory flat.
 */
static void
targets_compact(struct recorder *r)
{
    size_t i, k = 0;

    for (i = 0; i < r->ntargets; i++) {
        struct record_target *t = &r->targets[i];

        if (!t->proc.gone || t->proc.pid == r->root_pid) {
            r->targets[k++] = *t;
            continue;
        }
        if (t->sampling) {
            r->retired.stacks += t->sampler.stats.stacks;
            r->retired.torn += t->sampler.stats.torn;
            r->retired.errors += t->sampler.stats.errors;
            r->retired.pauses += t->sampler.stats.pauses;
            r->retired.pause_ns += t->sampler.stats.pause_ns;
        }
        target_release(t);
    }
    r->ntargets = k;
}

/*
 * The interval that ends now: its profile, one per process with
 * --subprocesses (labelled pid=PID), goes to the sender's queue; then
 * the profile starts afresh, so memory does not grow with time.
 */
static void
push_cut(struct recorder *r, double now_unix)
{
    struct profile *p = &r->profile;
    struct profile_meta all;
    struct out_options oo;
    struct strbuf body = STRBUF_INIT, label = STRBUF_INIT;
    size_t i, k;

    collect_stats(r);
    all = p->meta;
    /* The interval's own figures, for the profile's comments. */
    p->meta.start_unix = r->cut_unix;
    p->meta.duration_s = now_unix - r->cut_unix;
    p->meta.rounds = all.rounds - r->cut.rounds;
    p->meta.samples = p->total;
    for (k = 0; k < PROF_DROP_COUNT; k++) {
        p->meta.dropped[k] = all.dropped[k] - r->cut.dropped[k];
    }
    out_options_init(&oo);
    for (i = 0; i < p->nthreads && p->total > 0; i++) {
        int pid = p->threads[i].pid;

        if (r->opt->subprocesses) {
            /* Once per process: at its first thread. */
            for (k = 0; k < i && p->threads[k].pid != pid; k++) {
            }
            if (k < i) {
                continue;
            }
            oo.pid = pid;
            strbuf_reset(&label);
            strbuf_addf(&label, "pid=%d", pid);
        }
        strbuf_reset(&body);
        out_pprof(p, &oo, &body);
        push_send(r->push, body.buf, body.len, r->cut_unix, now_unix,
                  r->opt->subprocesses ? label.buf : NULL);
        if (!r->opt->subprocesses) {
            break;
        }
    }
    strbuf_release(&body);
    strbuf_release(&label);

    /* Start afresh, keeping the running counters and the strings that
     * meta owns (all holds them while the rest is released). */
    p->meta.command = p->meta.python_version = NULL;
    p->meta.nprefixes = 0;
    profile_release(p);
    p->meta = all;
    r->cut = all;
    r->cut_unix = now_unix;
    free(r->last_round);
    r->last_round = NULL;
    r->last_round_alloc = 0;
    targets_compact(r);
    for (i = 0; i < r->ntargets; i++) {
        if (r->targets[i].proc.rt != NULL) {
            /* Their cached string ids were the old profile's. */
            py_code_forget_user(r->targets[i].proc.rt);
        }
    }
}

/*
 * The attached target exited: look (the session does, once a second) for
 * a process with the same command line, as a supervisor would restart
 * it, and sample that one from now on.  Returns 1 while pushing goes on.
 */
static int
restart_lookup(struct recorder *r)
{
    struct record_target *t;
    int old = r->root_pid;

    if (r->push == NULL || r->session.cmdline == NULL) {
        return 0;
    }
    if (!r->awaiting_restart) {
        r->awaiting_restart = 1;
        if (!r->opt->quiet) {
            fprintf(stderr,
                    "pyspect: pid %d exited; waiting for a process running "
                    "'%s'\n",
                    old, r->session.cmdline);
        }
    }
    if (!session_restarted(&r->session)) {
        return 1;
    }
    t = target_find(r, old);
    if (t != NULL) {
        t->proc.gone = 1;
        r->root_pid = -1; /* lets targets_compact() retire it */
        targets_compact(r);
    }
    r->root_pid = r->session.pid;
    /* Sampled from the next round, once its Python has started. */
    target_add(r, r->root_pid)->proc.started = 1;
    r->awaiting_restart = 0;
    r->profile.meta.pid = r->root_pid;
    if (!r->opt->quiet) {
        fprintf(stderr, "pyspect: now sampling pid %d\n", r->root_pid);
    }
    return 1;
}

/*
 * Read the token file, if any, and start the sender: before attaching,
 * so that bad settings fail at once.
 */
static int
push_setup(struct record_options *opt, struct strbuf *token,
           struct push **push)
{
    if (opt->auth_file != NULL) {
        if (read_file(opt->auth_file, 1 << 16, token) < 0) {
            return err_set(PS_EIO, "cannot read --auth-token-file %s: %s",
                           opt->auth_file, strerror(errno));
        }
        strbuf_rtrim(token);
        if (token->len == 0 || memchr(token->buf, '\n', token->len) ||
            memchr(token->buf, '\r', token->len)) {
            return err_set(PS_EUSAGE,
                           "--auth-token-file %s: expected one line, the "
                           "token",
                           opt->auth_file);
        }
        opt->push.auth_token = token->buf;
    }
    return push_start(&opt->push, push);
}

/* ---- the command --------------------------------------------------------- */

static int
record_loop(struct recorder *r)
{
    const struct record_options *o = r->opt;
    uint64_t interval = (uint64_t)(1e9 / o->rate), round = 0;
    uint64_t start = clock_now_ns(), next = start, next_scan = start;
    uint64_t jitter = start ^ (uint64_t)getpid();
    uint64_t next_progress = start, end = 0, cpu0 = 0, wall0 = 0;
    int tty = !o->quiet && r->push == NULL && isatty(STDERR_FILENO);
    struct profile_meta *m = &r->profile.meta;

    r->start_ns = start;
    /* Rounds on time, not a scheduler slice late (see util.h). */
    sched_prompt_wakeups();
    /* The events' times count from here. */
    m->start_unix = unix_now();
    if (r->push != NULL) {
        r->cut_unix = m->start_unix;
    }
    if (o->duration > 0) {
        /* A duration beyond what a 64-bit nanosecond clock holds (-d
         * 1e12 is 31,000 years) is no end at all, not an overflow that
         * ends at once. */
        double ns = o->duration * 1e9;

        end = ns < (double)(UINT64_MAX - start) ? start + (uint64_t)ns : 0;
    }
    if (o->blocking) {
        /* A pause every round: the signal guard stays in place between
         * them rather than being installed for each. */
        pause_guard_hold();
    }
    while (!record_stop) {
        uint64_t now = clock_now_ns();
        struct timespec ts;
        int alive, timed;

        if (end != 0 && now >= end) {
            r->stopped = "duration reached";
            break;
        }
        if (o->subprocesses && now >= next_scan) {
            scan_children(r);
            next_scan = now + (uint64_t)(CHILD_SCAN_S * 1e9);
        }
        /* The thread's CPU clock is a system call, not the vDSO: only -v
         * shows what it measures. */
        timed = o->verbose;
        if (timed) {
            cpu0 = thread_cpu_ns();
            wall0 = clock_now_ns();
        }
        r->round = round + 1;
        alive = record_round(r, round++);
        if (timed) {
            r->work_ns += thread_cpu_ns() - cpu0;
            r->wall_ns += clock_now_ns() - wall0;
        }
        m->rounds = round;
        if (!alive && !restart_lookup(r)) {
            r->stopped = "the target exited";
            break;
        }
        collect_stats(r);
        if (r->push != NULL && unix_now() >= r->cut_unix + o->every) {
            push_cut(r, unix_now());
        }
        if (tty && now >= next_progress) {
            progress(r, (double)(now - start) / 1e9, 0);
            next_progress = now + 250000000u;
        }
        next += sample_interval(interval, &jitter);
        now = clock_now_ns();
        if (now > next + interval) {
            /* Behind schedule: the rounds we cannot take are dropped,
             * and counted, rather than taken in a burst. */
            uint64_t missed = (now - next) / interval;

            m->dropped[PROF_DROP_LATE] += missed;
            next += missed * interval;
        }
        ts.tv_sec = (time_t)(next / 1000000000u);
        ts.tv_nsec = (long)(next % 1000000000u);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
                   EINTR &&
               !record_stop) {
        }
    }
    if (o->blocking) {
        pause_guard_drop();
    }
    if (record_stop) {
        r->stopped = "interrupted";
    }
    m->duration_s = (double)(clock_now_ns() - start) / 1e9;
    collect_stats(r);
    if (tty) {
        progress(r, m->duration_s, 1);
    }
    return 0;
}

static void
fill_meta(struct recorder *r)
{
    struct profile_meta *m = &r->profile.meta;
    struct record_target *root = target_find(r, r->root_pid);
    struct strbuf cmd = STRBUF_INIT;
    struct timeval tv;

    if (r->session.launched) {
        char **a;

        for (a = r->opt->command; *a != NULL; a++) {
            strbuf_addf(&cmd, "%s%s", a == r->opt->command ? "" : " ", *a);
        }
    } else {
        proc_cmdline(r->root_pid, &cmd);
    }
    m->command = strbuf_detach(&cmd);
    m->pid = r->root_pid;
    if (root != NULL && root->proc.rt != NULL) {
        m->python_version = xstrdup(root->proc.rt->version.text);
    }
    m->mode = r->opt->mode_name;
    m->lines = r->opt->lines;
    m->threads = r->opt->threads;
    m->rate_hz = r->opt->rate;
    gettimeofday(&tv, NULL);
    m->start_unix = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int
cmd_record(int argc, char **argv)
{
    struct record_options opt;
    struct recorder r;
    struct record_target *root;
    struct strbuf out = STRBUF_INIT, defpath = STRBUF_INIT;
    struct strbuf token = STRBUF_INIT;
    struct out_options oo;
    struct sigaction sa;
    int rc, exit_status = 0;
    size_t i;

    rc = record_parse(argc, argv, &opt);
    if (rc < 0) {
        return err_exit_status(rc);
    }
    if (opt.help) {
        help();
        return 0;
    }
    memset(&r, 0, sizeof(r));
    r.opt = &opt;
    profile_init(&r.profile);
    strbuf_init(&r.trace_buf);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    if (opt.command == NULL) {
        /* Attach: check the target first, so a bad PID fails before a
         * file is created. */
        rc = proc_check(opt.pid);
        if (rc < 0) {
            goto fail;
        }
    }
    if (opt.push.url != NULL) {
        rc = push_setup(&opt, &token, &r.push);
        if (rc < 0) {
            goto fail;
        }
    } else if (opt.noutputs == 0) {
        strbuf_addf(&defpath, "pyspect-%d",
                    opt.command ? (int)getpid() : opt.pid);
        out_format_ext(opt.format, &defpath);
        opt.outputs[0].path = defpath.buf;
        opt.outputs[0].format = opt.format;
        opt.outputs[0].fd = -1;
        opt.noutputs = 1;
        opt.events = (opt.format->flags & OUT_EVENTS) != 0;
    }
    for (i = 0; i < opt.noutputs; i++) {
        rc = cmd_output_open(opt.outputs[i].path, &opt.outputs[i].fd,
                             &opt.outputs[i].created);
        if (rc < 0) {
            goto fail;
        }
    }
    if (opt.command != NULL) {
        rc = session_launch(&r.session, opt.command);
        if (rc < 0) {
            goto fail;
        }
        r.root_pid = r.session.pid;
        root = target_add(&r, r.root_pid);
        root->proc.started = 1;
        root->proc.script = cmd_is_script(opt.command[0]);
        /* Sampling starts at its first frame. */
        rc = cmd_process_wait_python(&root->proc, &r.session, opt.command[0],
                                     &record_stop);
        if (rc == 0) {
            rc = target_try(&r, root);
        }
        if (rc < 0) {
            session_stop(&r.session, SIGTERM, 5);
            goto fail;
        }
    } else {
        session_attach(&r.session, opt.pid);
        r.root_pid = opt.pid;
        root = target_add(&r, opt.pid);
        rc = target_try(&r, root);
        if (rc < 0) {
            goto fail;
        }
    }
    fill_meta(&r);
    if (opt.events) {
        /* Every round says whether a thread was in the one before. */
        r.trace = out_trace_begin(&r.profile, 1, &r.trace_buf);
        trace_flush(&r);
    }
    if (r.push != NULL) {
        r.cut = r.profile.meta;
        r.cut_unix = r.profile.meta.start_unix;
        if (!r.session.launched && session_follow_restarts(&r.session) < 0) {
            err_clear(); /* gone already: the loop says so */
        }
        if (!opt.quiet) {
            fprintf(stderr,
                    "pyspect: pushing a profile of pid %d every %g s to %s "
                    "as %s\n",
                    r.root_pid, opt.every, push_url(r.push), opt.push.app);
        }
    }
    record_loop(&r);
    if (r.push != NULL) {
        /* The last interval goes too, then what the queue holds. */
        push_cut(&r, unix_now());
        push_finish(r.push, PUSH_FLUSH_S, opt.quiet, NULL);
        r.push = NULL;
        if (!opt.quiet) {
            fprintf(stderr, "pyspect: recording stopped: %s\n",
                    r.stopped ? r.stopped : "");
        }
        goto done;
    }
    /* Samples in hand are written whatever stopped the recording. */
    if (r.profile.meta.samples == 0 && r.profile.meta.rounds <= 1 &&
        target_find(&r, r.root_pid)->proc.gone) {
        rc = err_set(PS_EEXITED, "pid %d exited before the first sample",
                     r.root_pid);
        goto fail;
    }
    if (r.trace != NULL) {
        out_trace_end(r.trace, &r.profile, &r.trace_buf);
        r.trace = NULL;
        trace_flush(&r);
        if (r.trace_error != NULL) {
            rc = err_set(PS_EIO, "%s", r.trace_error);
            goto fail;
        }
    }
    out_options_init(&oo);
    if (opt.top != 0) {
        oo.top = opt.top;
    }
    for (i = 0; i < opt.noutputs; i++) {
        if (opt.outputs[i].format->flags & OUT_EVENTS) {
            continue; /* written as the samples arrived */
        }
        strbuf_reset(&out);
        opt.outputs[i].format->write(&r.profile, &oo, &out);
        rc = cmd_output_write(opt.outputs[i].fd, opt.outputs[i].path, &out);
        if (rc < 0) {
            goto fail;
        }
    }
    if (!opt.quiet) {
        summary(&r);
    }
done:
    if (r.session.launched) {
        /* A second Ctrl-C ends pyspect at once; the profile is saved. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (!session_exited(&r.session)) {
            /* Ctrl-C reached it too (same process group): wait for it.
             * At --duration, or a signal to pyspect alone, ask it to
             * stop (as mem --watch does), then insist. */
            int sig = record_stop == SIGINT ? 0 : record_stop;

            if (r.stopped != NULL &&
                strcmp(r.stopped, "duration reached") == 0) {
                sig = SIGTERM;
            }
            if (sig != 0) {
                session_stop(&r.session, sig, CHILD_STOP_WAIT_S);
            } else {
                session_wait(&r.session, -1);
            }
        }
        exit_status = session_exit_status(&r.session);
        if (!opt.quiet) {
            int ws = r.session.status;

            fprintf(stderr, "pyspect: '%s' %s %d\n", esc(opt.command[0]),
                    WIFSIGNALED(ws) ? "ended by signal" : "exited with status",
                    WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
        }
    }
    goto out;
fail:
    exit_status = cmd_fail(rc);
    for (i = 0; i < opt.noutputs; i++) {
        if (opt.outputs[i].fd >= 0 && opt.outputs[i].created) {
            /* No empty file left behind by a recording that never
             * started. */
            unlink(opt.outputs[i].path);
        }
    }
out:
    for (i = 0; i < opt.noutputs; i++) {
        if (opt.outputs[i].fd >= 0) {
            close(opt.outputs[i].fd);
        }
    }
    push_finish(r.push, 0, 1, NULL);
    for (i = 0; i < r.ntargets; i++) {
        target_release(&r.targets[i]);
    }
    free(r.targets);
    free(r.ids);
    free(r.mixed);
    hashmap_release(&r.native_ids);
    session_release(&r.session);
    if (r.trace != NULL) {
        out_trace_end(r.trace, &r.profile, &r.trace_buf);
    }
    strbuf_release(&r.trace_buf);
    free(r.trace_error);
    strbuf_release(&token);
    free(r.last_round);
    profile_release(&r.profile);
    strbuf_release(&out);
    strbuf_release(&defpath);
    return exit_status;
}
