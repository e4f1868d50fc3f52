/*
 * dump.c - `pyspect dump`: every thread's Python stack, right now.
 *
 * Layer: cmd.  Parses options, takes one snapshot (python/snapshot.h),
 * and prints it as aligned text for people or as one JSON document.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/error.h"
#include "core/escape.h"
#include "core/hashmap.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "python/code.h"
#include "python/runtime.h"
#include "python/snapshot.h"
#include "python/tasks.h"
#include "target/session.h"
#include "target/source.h"
#include "core/banned.h"

static const char dump_usage[] =
    "usage: pyspect dump [options] PID\n"
    "       pyspect dump [options] -p PID\n"
    "       pyspect dump [options] --core FILE\n"
    "\n"
    "Print the Python stack of every thread of a running process, innermost\n"
    "frame first, with each thread's OS id, Python ident, name and state\n"
    "(running on a CPU or idle, and whether it holds the GIL).  The target\n"
    "is only read, never changed.  Or the same of a core file.\n"
    "\n"
    "options:\n"
    "  -p, --pid PID       the process to inspect (or give PID as an "
    "argument)\n" CMD_CORE_USAGE
    "      --json          print one JSON document instead of text\n"
    "      --blocking      pause the target (ptrace seize/interrupt) while\n"
    "                      reading, for an exact snapshot of busy threads;\n"
    "                      the pause time is reported\n"
    "      --no-source     do not show source lines under the frames\n"
    "      --subprocesses  also the Python processes among its descendants\n"
    "                      (a server's workers), after it\n"
    "      --tasks         also the asyncio tasks of each event loop, as a\n"
    "                      tree of who awaits whom, each with its coroutine\n"
    "                      stack (the await chain) and what it waits on\n"
    "  -v, --verbose       report reads, bytes and timings on stderr\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 success, 2 usage, 3 no such process, 4 permission\n"
    "denied, 5 not a Python process, 6 unsupported Python, 7 interpreter\n"
    "not ready, 8 target exited, 9 zombie, 10 target kept changing, 13\n"
    "traced by another process, 14 a thread would not stop, 15 not a core\n"
    "file, 16 truncated core, 17 core of another machine.\n";

struct dump_options {
    struct cmd_target target;
    int help;
    int subprocesses;
    int tasks;
    int json;
    int blocking;
    int source;
    int verbose;
};

static const char *
thread_state(const struct py_thread_snapshot *t)
{
    /* 'R' is the only state in which the thread is on (or queued for) a
     * CPU; every other state is some kind of wait. */
    return t->os_state == 'R' ? "running" : "idle";
}

static const char *
frame_function(const struct py_frame *f)
{
    return f->code->qualname ? f->code->qualname : f->code->name;
}

/* Display width of UTF-8 text, in code points. */
static size_t
text_width(const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        n += ((unsigned char)*s & 0xc0) != 0x80;
    }
    return n;
}

static void
dump_text(const struct py_runtime *rt, const struct py_snapshot *snap,
          const struct dump_options *opt, struct strbuf *out)
{
    struct source_cache sources;
    struct strbuf cmdline = STRBUF_INIT, src = STRBUF_INIT;
    size_t i, j;

    source_cache_init(&sources, rt->target);
    target_cmdline(rt->target, &cmdline);
    /* Every name below is the target's: escaped (core/escape.h). */
    strbuf_addf(out, "Process %d", rt->target->pid);
    if (rt->target->ns_pid != 0) {
        /* In a container: the pid it knows itself by, too. */
        strbuf_addf(out, " (pid %d in its namespace)", rt->target->ns_pid);
    }
    strbuf_addf(out, ": %s\n",
                esc(cmdline.len ? cmdline.buf : rt->executable));
    if (rt->target->file != NULL) {
        strbuf_addf(out, "Core file %s%s\n", esc(rt->target->file),
                    rt->target->partial ? " (partial: memory missing)" : "");
    }
    strbuf_addf(out, "Python %s (%s)\n", esc(rt->version.text),
                esc(rt->library ? rt->library : rt->executable));
    if (snap->paused) {
        strbuf_addf(out, "Paused for %.2f ms\n", snap->paused_ms);
    }
    for (i = 0; i < snap->n; i++) {
        const struct py_thread_snapshot *t = &snap->threads[i];
        size_t width = 0;

        strbuf_addf(out, "\nThread %ld", t->thread.tid);
        if (t->name != NULL) {
            strbuf_addf(out, " \"%s\"", esc(t->name));
        }
        strbuf_addf(out, " (%s%s)%s\n", thread_state(t),
                    t->thread.holds_gil ? ", holds the GIL" : "",
                    t->thread.is_main ? " main thread" : "");
        if (t->error != 0) {
            strbuf_addf(out, "    <stack unreadable: %s",
                        err_message(t->error));
            if (t->missing != 0) {
                strbuf_addf(out, " (at 0x%llx)",
                            (unsigned long long)t->missing);
            }
            strbuf_addstr(out, ">\n");
            continue;
        }
        if (t->nframes == 0) {
            strbuf_addstr(out, "    <no Python frames>\n");
            continue;
        }
        for (j = 0; j < t->nframes; j++) {
            size_t w = text_width(esc(frame_function(&t->frames[j])));

            if (w > width) {
                width = w;
            }
        }
        if (width > 48) {
            width = 48;
        }
        for (j = 0; j < t->nframes; j++) {
            const struct py_frame *f = &t->frames[j];
            const char *fn = esc(frame_function(f));
            size_t pad = width > text_width(fn) ? width - text_width(fn) : 0;

            strbuf_addf(out, "    %s%*s  %s:", fn, (int)pad, "",
                        esc(f->code->filename));
            if (f->line >= 0) {
                strbuf_addf(out, "%d\n", f->line);
            } else {
                strbuf_addstr(out, "?\n");
            }
            strbuf_reset(&src);
            if (opt->source && f->line > 0 &&
                source_line(&sources, f->code->filename, f->line, &src) == 0) {
                strbuf_addf(out, "        %s\n", esc(src.buf));
            }
        }
        if (t->truncated) {
            strbuf_addf(out, "    <more frames not shown: over %d>\n",
                        PY_FRAMES_MAX);
        }
    }
    strbuf_release(&src);
    strbuf_release(&cmdline);
    source_cache_release(&sources);
}

/*
 * A code object's name, qualname and file, quoted for JSON once: deep
 * stacks repeat the same few code objects thousands of times.
 */
struct quoted {
    struct strbuf text; /* the three quoted values, one after another */
    size_t name_len;
    size_t qualname_len;
};

static const struct quoted *
quoted_get(struct hashmap *cache, const struct py_code *code)
{
    void **slot = hashmap_slot(cache, (uint64_t)(uintptr_t)code);
    struct quoted *q = *slot;

    if (q == NULL) {
        q = xcalloc(1, sizeof(*q));
        strbuf_init(&q->text);
        json_quote(&q->text, code->name, strlen(code->name));
        q->name_len = q->text.len;
        if (code->qualname != NULL) {
            json_quote(&q->text, code->qualname, strlen(code->qualname));
        } else {
            strbuf_addstr(&q->text, "null");
        }
        q->qualname_len = q->text.len - q->name_len;
        json_quote(&q->text, code->filename, strlen(code->filename));
        *slot = q;
    }
    return q;
}

static void
quoted_release(struct hashmap *cache)
{
    size_t it = 0;
    uint64_t key;
    void *value;

    while (hashmap_next(cache, &it, &key, &value)) {
        struct quoted *q = value;

        strbuf_release(&q->text);
        free(q);
    }
    hashmap_release(cache);
}

/* One process's document: its fields, in an object the caller opened. */
static void
dump_json(const struct py_runtime *rt, const struct py_snapshot *snap,
          struct json *j)
{
    struct hashmap quotes = HASHMAP_INIT;
    size_t i, k;

    json_kv_int(j, "pid", rt->target->pid);
    json_key(j, "ns_pid");
    if (rt->target->ns_pid != 0) {
        json_int(j, rt->target->ns_pid);
    } else {
        json_null(j);
    }
    if (rt->target->file != NULL) {
        json_kv_string(j, "core", rt->target->file);
        json_kv_bool(j, "core_partial", rt->target->partial != NULL);
    }
    json_key(j, "python");
    json_object_begin(j);
    json_kv_string(j, "version", rt->version.text);
    json_kv_string(j, "executable", rt->executable);
    json_kv_string(j, "library", rt->library);
    json_kv_string(j, "layout",
                   rt->layout_from_debug_offsets ? "_Py_DebugOffsets"
                                                 : "generated");
    json_object_end(j);
    if (snap->paused) {
        json_kv_double(j, "paused_ms", snap->paused_ms);
    } else {
        json_kv_null(j, "paused_ms");
    }
    json_key(j, "threads");
    json_array_begin(j);
    for (i = 0; i < snap->n; i++) {
        const struct py_thread_snapshot *t = &snap->threads[i];

        json_object_begin(j);
        json_kv_int(j, "tid", t->thread.tid);
        json_kv_uint(j, "ident", t->thread.ident);
        json_kv_string(j, "name", t->name);
        json_kv_bool(j, "gil", t->thread.holds_gil);
        json_kv_string(j, "state", thread_state(t));
        json_kv_bool(j, "main", t->thread.is_main);
        json_kv_int(j, "interpreter", t->thread.interp_id);
        if (t->error != 0) {
            json_kv_string(j, "error", err_message(t->error));
        }
        if (t->missing != 0) {
            json_kv_uint(j, "missing_address", t->missing);
        }
        json_kv_bool(j, "truncated", t->truncated);
        json_key(j, "frames");
        json_array_begin(j);
        for (k = 0; k < t->nframes; k++) {
            const struct py_frame *f = &t->frames[k];

            const struct quoted *q = quoted_get(&quotes, f->code);

            json_object_begin(j);
            json_kv_raw(j, "function", q->text.buf, q->name_len);
            json_kv_raw(j, "qualname", q->text.buf + q->name_len,
                        q->qualname_len);
            json_kv_raw(j, "file", q->text.buf + q->name_len + q->qualname_len,
                        q->text.len - q->name_len - q->qualname_len);
            if (f->line >= 0) {
                json_kv_int(j, "line", f->line);
            } else {
                json_kv_null(j, "line");
            }
            json_kv_int(j, "firstlineno", f->code->firstlineno);
            json_object_end(j);
        }
        json_array_end(j);
        json_object_end(j);
    }
    json_array_end(j);
    quoted_release(&quotes);
}

/* ---- --tasks -------------------------------------------------------- */

/* Deepest level of the printed task tree. */
#define TASK_TREE_DEPTH 64

/* Cut the tree's line prefix back to len bytes. */
static void
prefix_cut(struct strbuf *prefix, size_t len)
{
    if (len < prefix->len) {
        prefix->len = len;
        prefix->buf[len] = '\0';
    }
}

static void
task_label(const struct py_task *t, struct strbuf *out)
{
    if (t->name != NULL) {
        strbuf_addf(out, "Task \"%s\"", t->name);
    } else {
        strbuf_addf(out, "Task 0x%llx", (unsigned long long)t->addr);
    }
    strbuf_addf(out, " (%s%s", py_task_state_name(t),
                t->cancelled ? ", cancelled" : "");
    if (t->waiting_on != NULL) {
        strbuf_addf(out, ", waits on %s", t->waiting_on);
    }
    strbuf_addstr(out, ")\n");
}

/* Is the task awaited by another?  Those that are not are the roots of
 * their loop's tree. */
static int
task_is_awaited(const struct py_task *t)
{
    return t->nawaited_by > 0;
}

static void
task_tree(const struct py_tasks *tasks, size_t k, struct strbuf *prefix,
          int last, int depth, size_t *path, struct strbuf *out)
{
    const struct py_task *t = &tasks->v[k];
    size_t plen = prefix->len, i, j, nchild = 0, seen = 0;
    int d;

    strbuf_addf(out, "%s%s ", prefix->buf, last ? "└─" : "├─");
    task_label(t, out);
    strbuf_addstr(prefix, last ? "   " : "│  ");
    for (d = 0; d < depth; d++) {
        if (path[d] == k) {
            strbuf_addf(out, "%s<awaits itself: cycle>\n", prefix->buf);
            prefix_cut(prefix, plen);
            return;
        }
    }
    path[depth] = k;
    if (t->error != 0) {
        strbuf_addf(out, "%s  <coroutine stack unreadable: %s>\n", prefix->buf,
                    err_message(t->error));
    }
    for (j = 0; j < t->nframes; j++) {
        const struct py_frame *f = &t->frames[j];

        strbuf_addf(out, "%s  %s  %s:", prefix->buf, frame_function(f),
                    f->code->filename);
        if (f->line >= 0) {
            strbuf_addf(out, "%d\n", f->line);
        } else {
            strbuf_addstr(out, "?\n");
        }
    }
    for (i = 0; i < tasks->n; i++) {
        for (j = 0; j < tasks->v[i].nawaited_by; j++) {
            nchild += tasks->v[i].awaited_by[j] == k;
        }
    }
    for (i = 0; i < tasks->n && depth + 1 < TASK_TREE_DEPTH; i++) {
        for (j = 0; j < tasks->v[i].nawaited_by; j++) {
            if (tasks->v[i].awaited_by[j] == k) {
                seen++;
                task_tree(tasks, i, prefix, seen == nchild, depth + 1, path,
                          out);
            }
        }
    }
    prefix_cut(prefix, plen);
}

static void
dump_tasks_text(const struct py_snapshot *snap, const struct py_tasks *tasks,
                struct strbuf *out)
{
    struct strbuf prefix = STRBUF_INIT;
    size_t path[TASK_TREE_DEPTH];
    size_t i, k, nroots;
    int *done = xcalloc(tasks->n + 1, sizeof(*done));

    if (tasks->found_in == NULL) {
        strbuf_addstr(out, "\nNo asyncio tasks: asyncio is not imported\n");
        free(done);
        return;
    }
    strbuf_addf(out, "\nAsyncio tasks: %zu (found in %s)\n", tasks->n,
                tasks->found_in);
    /* One tree per event loop, in the order the loops' tasks were found. */
    for (i = 0; i < tasks->n; i++) {
        const struct py_task *first = &tasks->v[i];
        const char *thread_name = NULL;
        size_t seen = 0;

        if (done[i]) {
            continue;
        }
        for (k = 0; k < snap->n; k++) {
            if (first->loop_tid != 0 &&
                snap->threads[k].thread.tid == first->loop_tid) {
                thread_name = snap->threads[k].name;
            }
        }
        strbuf_addf(out, "\nEvent loop 0x%llx",
                    (unsigned long long)first->loop);
        if (first->loop_tid != 0) {
            strbuf_addf(out, " in thread %ld", first->loop_tid);
            if (thread_name != NULL) {
                strbuf_addf(out, " \"%s\"", thread_name);
            }
            strbuf_addch(out, '\n');
        } else {
            strbuf_addstr(out, " (not running)\n");
        }
        nroots = 0;
        for (k = i; k < tasks->n; k++) {
            if (tasks->v[k].loop == first->loop) {
                done[k] = 1;
                nroots += !task_is_awaited(&tasks->v[k]);
            }
        }
        for (k = i; k < tasks->n; k++) {
            if (tasks->v[k].loop == first->loop &&
                !task_is_awaited(&tasks->v[k])) {
                seen++;
                strbuf_reset(&prefix);
                task_tree(tasks, k, &prefix, seen == nroots, 0, path, out);
            }
        }
    }
    strbuf_release(&prefix);
    free(done);
}

static void
dump_tasks_json(const struct py_tasks *tasks, struct json *j)
{
    size_t i, k;

    json_kv_string(j, "tasks_found_in", tasks->found_in);
    json_key(j, "tasks");
    json_array_begin(j);
    for (i = 0; i < tasks->n; i++) {
        const struct py_task *t = &tasks->v[i];

        json_object_begin(j);
        json_kv_uint(j, "id", t->addr);
        json_kv_string(j, "name", t->name);
        json_kv_string(j, "state", py_task_state_name(t));
        json_kv_bool(j, "cancelled", t->cancelled);
        json_kv_uint(j, "loop", t->loop);
        json_key(j, "loop_thread");
        if (t->loop_tid != 0) {
            json_int(j, t->loop_tid);
        } else {
            json_null(j);
        }
        json_kv_string(j, "waiting_on", t->waiting_on);
        json_key(j, "awaited_by");
        json_array_begin(j);
        for (k = 0; k < t->nawaited_by; k++) {
            json_uint(j, tasks->v[t->awaited_by[k]].addr);
        }
        json_array_end(j);
        if (t->error != 0) {
            json_kv_string(j, "error", err_message(t->error));
        }
        json_key(j, "coroutine_stack");
        json_array_begin(j);
        for (k = 0; k < t->nframes; k++) {
            const struct py_frame *f = &t->frames[k];

            json_object_begin(j);
            json_kv_string(j, "function", f->code->name);
            json_kv_string(j, "qualname", f->code->qualname);
            json_kv_string(j, "file", f->code->filename);
            if (f->line >= 0) {
                json_kv_int(j, "line", f->line);
            } else {
                json_kv_null(j, "line");
            }
            json_object_end(j);
        }
        json_array_end(j);
        json_object_end(j);
    }
    json_array_end(j);
}

/* The tasks, read again while the target changes under the read. */
static int
dump_tasks_read(struct py_runtime *rt, const struct py_snapshot *snap,
                struct py_tasks *tasks)
{
    int attempt, rc = 0;

    for (attempt = 0; attempt < PY_SNAPSHOT_ATTEMPTS; attempt++) {
        py_runtime_snapshot(rt);
        rc = py_tasks_read(rt, snap, tasks);
        if (rc == 0 || err_class(rc) != ERR_CLASS_TRANSIENT) {
            break;
        }
        err_clear();
    }
    return rc;
}

static int
dump_parse(int argc, char **argv, struct dump_options *opt)
{
    static const struct option longopts[] = {
        CMD_TARGET_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {"blocking", no_argument, NULL, 'b'},
        {"no-source", no_argument, NULL, 's'},
        {"subprocesses", no_argument, NULL, 'S'},
        {"tasks", no_argument, NULL, 'T'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, r;

    memset(opt, 0, sizeof(*opt));
    opt->source = 1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:vh", longopts, NULL)) != -1) {
        r = cmd_target_option("dump", c, optarg, &opt->target);
        if (r < 0) {
            return r;
        }
        if (r > 0) {
            continue;
        }
        switch (c) {
        case 'j':
            opt->json = 1;
            break;
        case 'b':
            opt->blocking = 1;
            break;
        case 's':
            opt->source = 0;
            break;
        case 'S':
            opt->subprocesses = 1;
            break;
        case 'T':
            opt->tasks = 1;
            break;
        case 'v':
            opt->verbose = 1;
            break;
        case 'h':
            opt->help = 1;
            return 0;
        default:
            return cmd_option_error("dump", argv);
        }
    }
    r = cmd_target_finish("dump", argc, argv, 0, &opt->target);
    if (r < 0) {
        return r;
    }
    if (opt->blocking && opt->target.core != NULL) {
        return cmd_usage_error("dump", "a core file needs no --blocking");
    }
    if (opt->subprocesses && opt->target.core != NULL) {
        return cmd_usage_error("dump", "a core file has no subprocesses");
    }
    return 0;
}

/*
 * Snapshot an opened process and add it to out (text, or the fields of a
 * JSON object the caller opened); then close it.  Timings under -v.
 */
static int
dump_one(struct target *target, struct py_runtime *rt,
         const struct dump_options *opt, struct strbuf *out, struct json *j,
         uint64_t t_start)
{
    struct py_snapshot snap;
    struct py_tasks tasks = PY_TASKS_INIT;
    unsigned flags = PY_SNAPSHOT_NAMES;
    uint64_t t_attach = clock_now_ns(), t_snap, t_format;
    int rc;

    if (opt->blocking) {
        flags |= PY_SNAPSHOT_BLOCKING;
    }
    rc = py_snapshot_take(rt, flags, &snap);
    if (rc < 0) {
        cmd_detach(target, rt);
        return rc;
    }
    if (opt->tasks) {
        rc = dump_tasks_read(rt, &snap, &tasks);
        if (rc < 0) {
            py_snapshot_release(&snap);
            cmd_detach(target, rt);
            return rc;
        }
    }
    t_snap = clock_now_ns();
    if (j != NULL) {
        dump_json(rt, &snap, j);
        if (opt->tasks) {
            dump_tasks_json(&tasks, j);
        }
    } else {
        dump_text(rt, &snap, opt, out);
        if (opt->tasks) {
            dump_tasks_text(&snap, &tasks, out);
        }
    }
    py_tasks_release(&tasks);
    t_format = clock_now_ns();
    if (opt->verbose) {
        fprintf(stderr,
                "pyspect: %s: attach %.3f ms, snapshot %.3f ms, %s %.3f ms\n",
                target->name, (double)(t_attach - t_start) / 1e6,
                (double)(t_snap - t_attach) / 1e6, j ? "JSON" : "text",
                (double)(t_format - t_snap) / 1e6);
        fprintf(stderr,
                "pyspect: %zu threads in %.3f ms (%d attempt%s), %llu reads,"
                " %llu bytes%s\n",
                snap.n, snap.elapsed_ms, snap.attempts,
                snap.attempts == 1 ? "" : "s", (unsigned long long)snap.reads,
                (unsigned long long)snap.bytes,
                rt->layout_from_debug_offsets
                    ? ", layout from _Py_DebugOffsets"
                    : "");
    }
    py_snapshot_release(&snap);
    cmd_detach(target, rt);
    return 0;
}

/* The processes of one dump, for session_descendants(). */
struct dump_tree {
    int *pids;
    size_t n;
    size_t alloc;
};

static int
tree_known(void *ctx, int pid)
{
    const struct dump_tree *t = ctx;
    size_t i;

    for (i = 0; i < t->n && t->pids[i] != pid; i++) {
    }
    return i < t->n;
}

static void
tree_add(void *ctx, int pid)
{
    struct dump_tree *t = ctx;

    XGROW(t->pids, t->alloc, t->n + 1);
    t->pids[t->n++] = pid;
}

/*
 * --subprocesses: every Python process among pid's descendants, after
 * it; the others are left out, and one that cannot be read says why.
 */
static void
dump_descendants(int pid, const struct dump_options *opt, struct strbuf *out,
                 struct json *j)
{
    struct dump_tree tree = {NULL, 0, 0};
    size_t i;

    tree_add(&tree, pid);
    session_descendants(tree_known, tree_add, &tree);
    if (j != NULL) {
        json_key(j, "subprocesses");
        json_array_begin(j);
    }
    for (i = 1; i < tree.n; i++) {
        struct target *target = NULL;
        struct py_runtime *rt = NULL;
        uint64_t t_start = clock_now_ns();
        int rc = cmd_attach(tree.pids[i], &target, &rt);

        if (rc == PS_ENOTPY || rc == PS_ENOPROC || rc == PS_EZOMBIE) {
            err_clear(); /* not Python, or gone: not one to show */
            continue;
        }
        if (j != NULL) {
            json_object_begin(j);
        } else {
            strbuf_addch(out, '\n');
        }
        if (rc == 0) {
            rc = dump_one(target, rt, opt, out, j, t_start);
        }
        if (rc < 0 && j != NULL) {
            json_kv_int(j, "pid", tree.pids[i]);
            json_kv_string(j, "error", err_message(rc));
        } else if (rc < 0) {
            strbuf_addf(out, "Process %d: %s\n", tree.pids[i],
                        err_message(rc));
        }
        err_clear();
        if (j != NULL) {
            json_object_end(j);
        }
    }
    if (j != NULL) {
        json_array_end(j);
    }
    free(tree.pids);
}

int
cmd_dump(int argc, char **argv)
{
    struct dump_options opt;
    struct target *target = NULL;
    struct py_runtime *rt = NULL;
    struct strbuf out = STRBUF_INIT;
    struct json j;
    uint64_t t_start, t_write;
    int rc;

    rc = dump_parse(argc, argv, &opt);
    if (rc < 0) {
        return err_exit_status(rc);
    }
    if (opt.help) {
        fputs(dump_usage, stdout);
        return 0;
    }
    t_start = clock_now_ns();
    rc = cmd_open(&opt.target, &target, &rt);
    if (rc < 0) {
        return cmd_fail(rc);
    }
    if (opt.json) {
        json_init(&j, &out, 1);
        json_object_begin(&j);
    }
    rc = dump_one(target, rt, &opt, &out, opt.json ? &j : NULL, t_start);
    if (rc < 0) {
        strbuf_release(&out);
        return cmd_fail(rc);
    }
    if (opt.subprocesses) {
        dump_descendants(opt.target.pid, &opt, &out, opt.json ? &j : NULL);
    }
    if (opt.json) {
        json_object_end(&j);
        strbuf_addch(&out, '\n');
    }
    t_write = clock_now_ns();
    rc = cmd_write_stdout(out.buf, out.len);
    if (opt.verbose) {
        fprintf(stderr, "pyspect: write %.3f ms\n",
                (double)(clock_now_ns() - t_write) / 1e6);
    }
    strbuf_release(&out);
    return rc < 0 ? cmd_fail(rc) : 0;
}
