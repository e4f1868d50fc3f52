/*
 * heap.c - `pyspect heap`: objects by type, their growth, who holds them.
 *
 * Layer: cmd.  Parses options, takes one census (python/heap.h), two for
 * --growth, or runs the back-reference search for --refs
 * (python/refs.h), and prints a table for people or one JSON document;
 * --refs can also write the chains as a Graphviz graph (output/dot.h),
 * rendered to SVG by Graphviz's `dot` when it is installed.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/error.h"
#include "core/escape.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "output/dot.h"
#include "python/heap.h"
#include "python/refs.h"
#include "python/runtime.h"
#include "core/banned.h"

static const char heap_usage[] =
    "usage: pyspect heap [options] PID\n"
    "       pyspect heap [options] --growth SECONDS PID\n"
    "       pyspect heap [options] --refs TYPE [--max N] [-o FILE] PID\n"
    "       pyspect heap [options] --core FILE\n"
    "       pyspect heap [options] --growth EARLIER_CORE --core FILE\n"
    "\n"
    "Count every object of a running Python process by type, with sizes as\n"
    "sys.getsizeof() gives them: the objects the garbage collector tracks\n"
    "(every generation) and the untracked ones they refer to (str, int,\n"
    "float, bytes... in lists, tuples, dicts, sets, instance attributes and\n"
    "__slots__).  The target is paused (ptrace seize/interrupt, never\n"
    "SIGSTOP) while its heap is read, and the pause is reported.  Also\n"
    "shown: the collector's state (a disabled collector leaks every\n"
    "reference cycle) and gc.garbage.\n"
    "\n"
    "options:\n"
    "  -p, --pid PID       the process to inspect (or give PID as an "
    "argument)\n" CMD_CORE_USAGE
    "      --json          print one JSON document instead of text\n"
    "  -n, --top N         show the N largest types (default 25 in text,\n"
    "                      all in JSON)\n"
    "      --growth SECS   take two censuses SECS seconds apart and show the\n"
    "                      types whose count grew (objgraph's show_growth);\n"
    "                      with --core, the census of an earlier core\n"
    "      --refs TYPE     find instances of TYPE (a class name, or\n"
    "                      module.Name) and the shortest chain of references\n"
    "                      that keeps each alive, back to a module's "
    "globals,\n"
    "                      a thread's frame or a class\n"
    "      --max N         chains to show with --refs (default 3)\n"
    "  -o, --output FILE   with --refs, also write the chains as a Graphviz\n"
    "                      graph: FILE.dot, or FILE.svg (needs Graphviz's "
    "dot)\n"
    "  -v, --verbose       report the pause, reads, bytes and memory on "
    "stderr\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 success, 2 usage, 3 no such process, 4 permission\n"
    "denied, 5 not a Python process, 6 unsupported Python, 7 interpreter\n"
    "not ready, 8 target exited, 9 zombie, 10 target kept changing, 13\n"
    "traced by another process, 14 a thread would not stop, 15 not a core\n"
    "file, 16 truncated core, 17 core of another machine, 1 other\n"
    "failures (e.g. --refs TYPE matches no type).\n";

/* heap_refs(): nothing has the type; the message is printed. */
#define HEAP_NOT_FOUND 1

struct heap_options {
    struct cmd_target target;
    int help;
    int json;
    long top;
    double growth;           /* seconds, 0 when not asked */
    const char *growth_arg;  /* --growth's value, until parsed */
    const char *growth_core; /* with --core: the earlier core */
    const char *refs;
    long max;
    const char *output;
    int verbose;
};

/* ---- formatting -------------------------------------------------------- */

static void
add_count(struct strbuf *sb, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
    int i;

    for (i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) {
            strbuf_addch(sb, ',');
        }
        strbuf_addch(sb, digits[i]);
    }
}

static void
add_bytes(struct strbuf *sb, double v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    int neg = v < 0;

    if (neg) {
        v = -v;
    }
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0) {
        strbuf_addf(sb, "%s%.0f %s", neg ? "-" : "", v, units[u]);
    } else {
        strbuf_addf(sb, "%s%.1f %s", neg ? "-" : "", v, units[u]);
    }
}

/* "module.Name", or "Name" for builtins. */
static void
add_type(struct strbuf *sb, const struct py_heap_type *t)
{
    if (strcmp(t->module, "builtins") != 0) {
        strbuf_addf(sb, "%s.", esc(t->module));
    }
    strbuf_add_escaped(sb, t->name);
}

/* Right-align the text of tmp in width columns. */
static void
add_right(struct strbuf *sb, const struct strbuf *tmp, size_t width)
{
    size_t pad = tmp->len < width ? width - tmp->len : 0;

    strbuf_addf(sb, "%*s%s", (int)pad, "", tmp->buf);
}

static void
header_text(const struct py_runtime *rt, struct strbuf *out)
{
    struct strbuf cmdline = STRBUF_INIT;

    target_cmdline(rt->target, &cmdline);
    /* Names from the target are escaped in every text line. */
    strbuf_addf(out, "Process %d: %s\n", rt->target->pid,
                esc(cmdline.len ? cmdline.buf : rt->executable));
    if (rt->target->file != NULL) {
        strbuf_addf(out, "Core file %s%s\n", esc(rt->target->file),
                    rt->target->partial ? " (partial: memory missing)" : "");
    }
    strbuf_addf(out, "Python %s (%s)\n", esc(rt->version.text),
                esc(rt->library ? rt->library : rt->executable));
    strbuf_release(&cmdline);
}

/* "Paused for 1.2 ms: ", or nothing for a core (it needs no pause). */
static void
paused_text(const struct py_runtime *rt, double ms, struct strbuf *out)
{
    if (target_can_pause(rt->target)) {
        strbuf_addf(out, "Paused for %.1f ms: ", ms);
    } else {
        strbuf_addstr(out, "From the core: ");
    }
}

static void
json_paused(struct json *j, const struct py_runtime *rt, double ms)
{
    if (target_can_pause(rt->target)) {
        json_kv_double(j, "paused_ms", ms);
    } else {
        json_kv_null(j, "paused_ms");
    }
}

static void
gc_text(const struct py_heap *h, struct strbuf *out)
{
    const struct py_gc_state *g = &h->gc;
    int i;

    strbuf_addstr(out, "GC: ");
    if (g->enabled == 0) {
        strbuf_addstr(out, "DISABLED (gc.disable() was called: reference "
                           "cycles are never freed)");
    } else if (g->enabled == 1) {
        strbuf_addstr(out, "enabled");
    } else {
        strbuf_addstr(out, "enabled: unknown (no symbol table)");
    }
    strbuf_addstr(out, "; thresholds ");
    for (i = 0; i < PY_GC_GENERATIONS; i++) {
        strbuf_addf(out, "%s%d", i ? "/" : "", g->gens[i].threshold);
    }
    strbuf_addstr(out, ", counts ");
    for (i = 0; i < PY_GC_GENERATIONS; i++) {
        strbuf_addf(out, "%s%d", i ? "/" : "", g->gens[i].count);
    }
    strbuf_addstr(out, "\n    objects per generation: ");
    for (i = 0; i < PY_GC_GENERATIONS; i++) {
        if (i) {
            strbuf_addstr(out, " / ");
        }
        add_count(out, g->gens[i].objects);
    }
    if (g->has_permanent) {
        strbuf_addstr(out, ", permanent (gc.freeze): ");
        add_count(out, g->permanent.objects);
    }
    strbuf_addch(out, '\n');
    if (h->gc_running) {
        strbuf_addstr(out, "    a collection was running during every "
                           "attempt: counts may be partial\n");
    }
    strbuf_addstr(out, "    gc.garbage: ");
    if (h->garbage == 0) {
        strbuf_addstr(out, "empty\n");
    } else {
        size_t k;

        add_count(out, h->garbage);
        strbuf_addstr(out, " objects (");
        for (k = 0; k < h->ngarbage_types && k < 5; k++) {
            if (k) {
                strbuf_addstr(out, ", ");
            }
            add_count(out, h->garbage_types[k].count);
            strbuf_addch(out, ' ');
            add_type(out, &h->garbage_types[k]);
        }
        strbuf_addstr(out, k < h->ngarbage_types ? ", ...)\n" : ")\n");
    }
}

static void
table_text(const struct py_heap *h, long top, struct strbuf *out)
{
    struct strbuf tmp = STRBUF_INIT;
    size_t i, n = h->ntypes;

    if (top >= 0 && (size_t)top < n) {
        n = (size_t)top;
    }
    strbuf_addf(out, "\n%12s %11s %7s  %s\n", "count", "bytes", "share",
                "type");
    for (i = 0; i < n; i++) {
        const struct py_heap_type *t = &h->types[i];

        strbuf_reset(&tmp);
        add_count(&tmp, t->count);
        add_right(out, &tmp, 12);
        strbuf_reset(&tmp);
        add_bytes(&tmp, (double)t->bytes);
        strbuf_addch(out, ' ');
        add_right(out, &tmp, 11);
        strbuf_addf(out, " %6.1f%%  ",
                    h->bytes ? 100.0 * (double)t->bytes / (double)h->bytes
                             : 0.0);
        add_type(out, t);
        if (t->classes > 1) {
            strbuf_addf(out, " (%zu classes of that name)", t->classes);
        }
        strbuf_addch(out, '\n');
    }
    if (n < h->ntypes) {
        uint64_t count = 0, bytes = 0;

        for (i = n; i < h->ntypes; i++) {
            count += h->types[i].count;
            bytes += h->types[i].bytes;
        }
        strbuf_reset(&tmp);
        add_count(&tmp, count);
        add_right(out, &tmp, 12);
        strbuf_reset(&tmp);
        add_bytes(&tmp, (double)bytes);
        strbuf_addch(out, ' ');
        add_right(out, &tmp, 11);
        strbuf_addf(out, " %6.1f%%  (%zu more types)\n",
                    h->bytes ? 100.0 * (double)bytes / (double)h->bytes : 0.0,
                    h->ntypes - n);
    }
    strbuf_release(&tmp);
}

/* Was every object found and read? */
static int
heap_complete(const struct py_heap *h)
{
    return !h->stats.unreadable && !h->stats.partial && !h->list_error &&
           !h->stats.truncated;
}

static void
summary_text(const struct py_runtime *rt, const struct py_heap *h,
             struct strbuf *out)
{
    paused_text(rt, h->stats.paused_ms, out);
    add_count(out, h->objects);
    strbuf_addstr(out, " objects, ");
    add_bytes(out, (double)h->bytes);
    strbuf_addstr(out, " (");
    add_count(out, h->tracked);
    strbuf_addstr(out, " tracked by the GC)\n");
    if (!heap_complete(h)) {
        strbuf_addstr(out, "    not all of it could be read: ");
        add_count(out, h->stats.unreadable);
        strbuf_addstr(out, " unreadable objects, ");
        add_count(out, h->stats.partial);
        strbuf_addstr(out, " with unreadable contents");
        if (h->list_error) {
            strbuf_addf(out, ", a GC list cut short (%s)",
                        err_message(h->list_error));
        }
        if (h->stats.truncated) {
            strbuf_addstr(out, ", the walk hit its bound of levels");
        }
        strbuf_addch(out, '\n');
    }
}

/* ---- JSON -------------------------------------------------------------- */

static void
json_types(struct json *j, const char *key, const struct py_heap_type *v,
           size_t n, long top)
{
    size_t i;

    if (top >= 0 && (size_t)top < n) {
        n = (size_t)top;
    }
    json_key(j, key);
    json_array_begin(j);
    for (i = 0; i < n; i++) {
        json_object_begin(j);
        json_kv_string(j, "type", v[i].name);
        json_kv_string(j, "module", v[i].module);
        json_kv_uint(j, "count", v[i].count);
        json_kv_uint(j, "bytes", v[i].bytes);
        json_kv_uint(j, "tracked", v[i].tracked);
        json_kv_uint(j, "classes", v[i].classes);
        json_object_end(j);
    }
    json_array_end(j);
}

static void
json_gen(struct json *j, const struct py_gc_generation *g)
{
    json_object_begin(j);
    json_kv_int(j, "threshold", g->threshold);
    json_kv_int(j, "count", g->count);
    json_kv_uint(j, "objects", g->objects);
    json_object_end(j);
}

static void
json_heap_body(struct json *j, const struct py_runtime *rt,
               const struct py_heap *h, long top)
{
    const struct py_gc_state *g = &h->gc;
    int i;

    json_paused(j, rt, h->stats.paused_ms);
    json_kv_uint(j, "objects", h->objects);
    json_kv_uint(j, "bytes", h->bytes);
    json_kv_uint(j, "tracked", h->tracked);
    json_kv_uint(j, "unreadable", h->stats.unreadable);
    json_kv_uint(j, "partial", h->stats.partial);
    /* A walk that stopped early says so here as in the text. */
    json_kv_bool(j, "complete", heap_complete(h));
    if (h->list_error) {
        json_kv_string(j, "problem", "a GC list was cut short");
    } else if (h->stats.truncated) {
        json_kv_string(j, "problem", "the walk hit its bound of levels");
    } else if (!heap_complete(h)) {
        json_kv_string(j, "problem", "some objects could not be read");
    } else {
        json_kv_null(j, "problem");
    }
    json_key(j, "gc");
    json_object_begin(j);
    if (g->enabled < 0) {
        json_kv_null(j, "enabled");
    } else {
        json_kv_bool(j, "enabled", g->enabled);
    }
    json_kv_bool(j, "collecting", h->gc_running);
    json_key(j, "generations");
    json_array_begin(j);
    for (i = 0; i < PY_GC_GENERATIONS; i++) {
        json_gen(j, &g->gens[i]);
    }
    json_array_end(j);
    if (g->has_permanent) {
        json_kv_uint(j, "permanent", g->permanent.objects);
    } else {
        json_kv_null(j, "permanent");
    }
    json_key(j, "garbage");
    json_object_begin(j);
    json_kv_uint(j, "count", h->garbage);
    json_types(j, "types", h->garbage_types, h->ngarbage_types, -1);
    json_object_end(j);
    json_kv_uint(j, "interpreters", h->interpreters);
    json_object_end(j);
    json_types(j, "types", h->types, h->ntypes, top);
}

static void
json_python(struct json *j, const struct py_runtime *rt)
{
    json_kv_int(j, "pid", rt->target->pid);
    if (rt->target->file != NULL) {
        json_kv_string(j, "core", rt->target->file);
        json_kv_bool(j, "core_partial", rt->target->partial != NULL);
    }
    json_key(j, "python");
    json_object_begin(j);
    json_kv_string(j, "version", rt->version.text);
    json_kv_string(j, "executable", rt->executable);
    json_kv_string(j, "library", rt->library);
    json_object_end(j);
}

/* ---- growth ------------------------------------------------------------ */

struct growth_row {
    const struct py_heap_type *t;
    int64_t delta;
    int64_t bytes_delta;
};

static int
by_delta(const void *a, const void *b)
{
    const struct growth_row *x = a, *y = b;

    if (x->delta != y->delta) {
        return x->delta < y->delta ? 1 : -1;
    }
    return strcmp(x->t->name, y->t->name);
}

static const struct py_heap_type *
find_row(const struct py_heap *h, const struct py_heap_type *t)
{
    size_t i;

    for (i = 0; i < h->ntypes; i++) {
        if (strcmp(h->types[i].name, t->name) == 0 &&
            strcmp(h->types[i].module, t->module) == 0) {
            return &h->types[i];
        }
    }
    return NULL;
}

static struct growth_row *
growth_rows(const struct py_heap *a, const struct py_heap *b, size_t *n)
{
    struct growth_row *v = xcalloc(b->ntypes + 1, sizeof(*v));
    size_t i, k = 0;

    for (i = 0; i < b->ntypes; i++) {
        const struct py_heap_type *old = find_row(a, &b->types[i]);
        int64_t before = old ? (int64_t)old->count : 0;
        int64_t bytes_before = old ? (int64_t)old->bytes : 0;

        if ((int64_t)b->types[i].count > before) {
            v[k].t = &b->types[i];
            v[k].delta = (int64_t)b->types[i].count - before;
            v[k].bytes_delta = (int64_t)b->types[i].bytes - bytes_before;
            k++;
        }
    }
    qsort(v, k, sizeof(*v), by_delta);
    *n = k;
    return v;
}

static void
sleep_seconds(double s)
{
    struct timespec ts;

    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- the command ------------------------------------------------------- */

static void
verbose_report(const struct py_heap *h)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    fprintf(
        stderr,
        "pyspect: paused %.1f ms (walk %.1f ms, cpu %.1f ms, %d "
        "attempt%s), %llu objects in %llu levels, %llu reads, %llu "
        "bytes (%llu read again; %llu list links), bookkeeping %.1f "
        "MiB, max RSS %.1f MiB (%.1f bytes per object)\n",
        h->stats.paused_ms, h->stats.walk_ms, h->stats.cpu_ms,
        h->stats.attempts, h->stats.attempts == 1 ? "" : "s",
        (unsigned long long)h->objects, (unsigned long long)h->stats.levels,
        (unsigned long long)h->stats.reads, (unsigned long long)h->stats.bytes,
        (unsigned long long)h->stats.reread,
        (unsigned long long)h->stats.links,
        (double)h->stats.memory / 1048576.0, (double)ru.ru_maxrss / 1024.0,
        h->objects ? (double)ru.ru_maxrss * 1024.0 / (double)h->objects : 0.0);
}

static int
heap_census(struct py_runtime *rt, const struct heap_options *opt,
            struct strbuf *out)
{
    struct py_heap h;
    int rc;

    rc = py_heap_take(rt, &h);
    if (rc < 0) {
        return rc;
    }
    if (opt->verbose) {
        verbose_report(&h);
    }
    if (opt->json) {
        struct json j;

        json_init(&j, out, 1);
        json_object_begin(&j);
        json_python(&j, rt);
        json_heap_body(&j, rt, &h, opt->top);
        json_object_end(&j);
        strbuf_addch(out, '\n');
    } else {
        header_text(rt, out);
        summary_text(rt, &h, out);
        gc_text(&h, out);
        table_text(&h, opt->top < 0 ? 25 : opt->top, out);
    }
    py_heap_release(&h);
    return 0;
}

/*
 * Two censuses: of rt, opt->growth seconds apart, or of the earlier core
 * (before) and then rt's.
 */
static int
heap_growth(struct py_runtime *rt, struct py_runtime *before,
            const struct heap_options *opt, struct strbuf *out)
{
    struct py_heap a, b;
    struct growth_row *rows;
    size_t n, i, shown;
    long top = opt->top;
    int rc;

    rc = py_heap_take(before ? before : rt, &a);
    if (rc < 0) {
        return rc;
    }
    /* Each census reported as it ends: the first one before the wait. */
    if (opt->verbose) {
        verbose_report(&a);
    }
    if (before == NULL) {
        sleep_seconds(opt->growth);
    }
    rc = py_heap_take(rt, &b);
    if (rc < 0) {
        py_heap_release(&a);
        return rc;
    }
    if (opt->verbose) {
        verbose_report(&b);
    }
    rows = growth_rows(&a, &b, &n);
    shown = top >= 0 && (size_t)top < n ? (size_t)top : n;
    if (opt->json) {
        struct json j;

        json_init(&j, out, 1);
        json_object_begin(&j);
        json_python(&j, rt);
        if (before == NULL) {
            json_kv_double(&j, "interval", opt->growth);
        } else {
            json_kv_null(&j, "interval");
        }
        json_key(&j, "before");
        json_object_begin(&j);
        if (before != NULL) {
            json_kv_string(&j, "core", before->target->file);
            json_kv_int(&j, "pid", before->target->pid);
        }
        json_paused(&j, before ? before : rt, a.stats.paused_ms);
        json_kv_uint(&j, "objects", a.objects);
        json_kv_uint(&j, "bytes", a.bytes);
        json_object_end(&j);
        json_key(&j, "growth");
        json_array_begin(&j);
        for (i = 0; i < shown; i++) {
            json_object_begin(&j);
            json_kv_string(&j, "type", rows[i].t->name);
            json_kv_string(&j, "module", rows[i].t->module);
            json_kv_uint(&j, "count", rows[i].t->count);
            json_kv_int(&j, "delta", rows[i].delta);
            json_kv_uint(&j, "bytes", rows[i].t->bytes);
            json_kv_int(&j, "bytes_delta", rows[i].bytes_delta);
            json_object_end(&j);
        }
        json_array_end(&j);
        json_heap_body(&j, rt, &b, -1);
        json_object_end(&j);
        strbuf_addch(out, '\n');
    } else {
        struct strbuf tmp = STRBUF_INIT;

        header_text(rt, out);
        if (before != NULL) {
            strbuf_addf(out,
                        "Since core file %s: ", esc(before->target->file));
        } else {
            strbuf_addf(out,
                        "Two censuses %g s apart (paused %.1f ms and %.1f "
                        "ms): ",
                        opt->growth, a.stats.paused_ms, b.stats.paused_ms);
        }
        add_count(out, a.objects);
        strbuf_addstr(out, " -> ");
        add_count(out, b.objects);
        strbuf_addstr(out, " objects, ");
        add_bytes(out, (double)a.bytes);
        strbuf_addstr(out, " -> ");
        add_bytes(out, (double)b.bytes);
        strbuf_addch(out, '\n');
        if (n == 0) {
            strbuf_addstr(out, "\nNo type grew.\n");
        } else {
            strbuf_addf(out, "\n%12s %12s %12s  %s\n", "count", "growth",
                        "bytes", "type");
        }
        for (i = 0; i < shown; i++) {
            strbuf_reset(&tmp);
            add_count(&tmp, rows[i].t->count);
            add_right(out, &tmp, 12);
            strbuf_reset(&tmp);
            strbuf_addch(&tmp, '+');
            add_count(&tmp, (uint64_t)rows[i].delta);
            strbuf_addch(out, ' ');
            add_right(out, &tmp, 12);
            strbuf_reset(&tmp);
            if (rows[i].bytes_delta >= 0) {
                strbuf_addch(&tmp, '+');
            }
            add_bytes(&tmp, (double)rows[i].bytes_delta);
            strbuf_addch(out, ' ');
            add_right(out, &tmp, 12);
            strbuf_addstr(out, "  ");
            add_type(out, rows[i].t);
            strbuf_addch(out, '\n');
        }
        if (shown < n) {
            strbuf_addf(out, "(%zu more types grew)\n", n - shown);
        }
        strbuf_release(&tmp);
    }
    free(rows);
    py_heap_release(&a);
    py_heap_release(&b);
    return 0;
}

/* ---- refs -------------------------------------------------------------- */

static const char *const root_kinds[] = {"module", "frame", "class",
                                         "unreached"};

static void
refs_text(const struct py_runtime *rt, const struct py_refs *r,
          struct strbuf *out)
{
    struct strbuf tmp = STRBUF_INIT;
    size_t i, j, width;

    header_text(rt, out);
    paused_text(rt, r->stats.paused_ms, out);
    strbuf_addstr(out, "walked ");
    add_count(out, r->objects);
    strbuf_addstr(out, " objects\n\n");
    add_count(out, r->instances);
    strbuf_addf(out, " instance%s of %s%s%s", r->instances == 1 ? "" : "s",
                strcmp(r->module, "builtins") ? esc(r->module) : "",
                strcmp(r->module, "builtins") ? "." : "", esc(r->type));
    if (r->classes > 1) {
        strbuf_addf(out, " (%zu classes of that name)", r->classes);
    }
    strbuf_addf(out, ", held in %llu way%s", (unsigned long long)r->shapes,
                r->shapes == 1 ? "" : "s");
    if (r->unreached > 0) {
        strbuf_addstr(out, "; ");
        add_count(out, r->unreached);
        strbuf_addstr(out, " not reachable from any module, thread or "
                           "class (held by C code, or garbage waiting for "
                           "the collector)");
    }
    strbuf_addstr(out, "\n");
    for (i = 0; i < r->nchains; i++) {
        const struct py_refs_chain *ch = &r->chains[i];

        strbuf_addch(out, '\n');
        add_count(out, ch->same);
        strbuf_addf(out, " held by %s, e.g. 0x%llx:\n", esc(ch->root),
                    (unsigned long long)ch->hops[ch->nhops - 1].obj);
        if (ch->root_kind == PY_REFS_UNREACHED) {
            strbuf_addstr(out, "    (held from C code, or garbage in a "
                               "reference cycle the collector has not "
                               "freed)\n");
        }
        strbuf_addf(out, "    %s%s\n", esc(ch->path),
                    ch->truncated ? " (chain cut: too long)" : "");
        width = 0;
        for (j = 0; j < ch->nhops; j++) {
            size_t w = ch->hops[j].label ? strlen(esc(ch->hops[j].label)) : 0;

            width = w > width ? w : width;
        }
        width = width > 40 ? 40 : width;
        for (j = 0; j < ch->nhops; j++) {
            const struct py_refs_hop *h = &ch->hops[j];

            strbuf_addf(out, "      %-*s  %s", (int)width, esc(h->label),
                        esc(h->type));
            if (h->what != NULL) {
                strbuf_addf(out, " %s", esc(h->what));
            }
            strbuf_addch(out, '\n');
        }
    }
    if (r->nchains < r->shapes) {
        strbuf_addf(out, "\n(%llu more ways not shown: --max)\n",
                    (unsigned long long)(r->shapes - r->nchains));
    }
    strbuf_release(&tmp);
}

static void
refs_json(const struct py_runtime *rt, const struct py_refs *r,
          const char *want, struct strbuf *out)
{
    struct json j;
    size_t i, k;
    char addr[32];

    json_init(&j, out, 1);
    json_object_begin(&j);
    json_python(&j, rt);
    json_paused(&j, rt, r->stats.paused_ms);
    json_kv_string(&j, "query", want);
    json_kv_string(&j, "type", r->type);
    json_kv_string(&j, "module", r->module);
    json_kv_uint(&j, "classes", r->classes);
    json_kv_uint(&j, "instances", r->instances);
    json_kv_uint(&j, "unreached", r->unreached);
    json_kv_uint(&j, "shapes", r->shapes);
    json_kv_uint(&j, "objects", r->objects);
    json_key(&j, "chains");
    json_array_begin(&j);
    for (i = 0; i < r->nchains; i++) {
        const struct py_refs_chain *ch = &r->chains[i];

        json_object_begin(&j);
        json_kv_uint(&j, "count", ch->same);
        json_key(&j, "root");
        json_object_begin(&j);
        json_kv_string(&j, "kind", root_kinds[ch->root_kind]);
        json_kv_string(&j, "description", ch->root);
        json_object_end(&j);
        json_kv_string(&j, "path", ch->path);
        json_kv_bool(&j, "truncated", ch->truncated);
        json_key(&j, "hops");
        json_array_begin(&j);
        for (k = 0; k < ch->nhops; k++) {
            const struct py_refs_hop *h = &ch->hops[k];

            json_object_begin(&j);
            snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)h->obj);
            json_kv_string(&j, "address", addr);
            json_kv_string(&j, "type", h->type);
            json_kv_string(&j, "description", h->what);
            json_kv_string(&j, "label", h->label);
            json_object_end(&j);
        }
        json_array_end(&j);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_key(&j, "close");
    json_array_begin(&j);
    for (i = 0; i < r->nclose; i++) {
        json_string(&j, r->close[i]);
    }
    json_array_end(&j);
    json_object_end(&j);
    strbuf_addch(out, '\n');
}

/* The chains as a graph: one node per object, the frame roots as nodes of
 * their own. */
static void
refs_dot(const struct py_refs *r, struct strbuf *out)
{
    struct dot_node *nodes;
    struct dot_edge *edges;
    struct strbuf *texts;
    size_t nn = 0, ne = 0, ntexts = 0, cap = 4, i, k, m;
    struct strbuf title = STRBUF_INIT;
    struct dot_graph g;

    for (i = 0; i < r->nchains; i++) {
        cap += 2 * r->chains[i].nhops + 2;
    }
    nodes = xcalloc(cap, sizeof(*nodes));
    edges = xcalloc(cap, sizeof(*edges));
    texts = xcalloc(2 * cap, sizeof(*texts));
    for (i = 0; i < r->nchains; i++) {
        const struct py_refs_chain *ch = &r->chains[i];
        const char *prev = NULL;

        if (ch->root_kind == PY_REFS_FRAME) {
            struct strbuf *id = &texts[ntexts++];

            strbuf_init(id);
            strbuf_addf(id, "root %zu", i);
            nodes[nn].id = id->buf;
            nodes[nn].label = ch->root;
            nodes[nn].style = DOT_ROOT;
            nn++;
            prev = id->buf;
        }
        for (k = 0; k < ch->nhops; k++) {
            const struct py_refs_hop *h = &ch->hops[k];
            struct strbuf *id = &texts[ntexts++], *label;
            const char *node_id = NULL;

            strbuf_init(id);
            strbuf_addf(id, "0x%llx", (unsigned long long)h->obj);
            for (m = 0; m < nn; m++) {
                if (strcmp(nodes[m].id, id->buf) == 0) {
                    node_id = nodes[m].id;
                    break;
                }
            }
            if (node_id == NULL) {
                label = &texts[ntexts++];
                strbuf_init(label);
                strbuf_addstr(label, h->type);
                if (h->what != NULL) {
                    strbuf_addf(label, "\n%s", h->what);
                }
                if (k == ch->nhops - 1) {
                    strbuf_addf(label, "\n%llu like this",
                                (unsigned long long)ch->same);
                }
                nodes[nn].id = id->buf;
                nodes[nn].label = label->buf;
                nodes[nn].style =
                    k == ch->nhops - 1                             ? DOT_TARGET
                    : k == 0 && ch->root_kind == PY_REFS_UNREACHED ? DOT_ORPHAN
                    : k == 0 && ch->root_kind != PY_REFS_FRAME     ? DOT_ROOT
                                                                   : DOT_PLAIN;
                node_id = id->buf;
                nn++;
            }
            if (prev != NULL) {
                for (m = 0; m < ne; m++) {
                    if (strcmp(edges[m].from, prev) == 0 &&
                        strcmp(edges[m].to, node_id) == 0) {
                        break;
                    }
                }
                if (m == ne) {
                    edges[ne].from = prev;
                    edges[ne].to = node_id;
                    edges[ne].label = h->label;
                    ne++;
                }
            }
            prev = node_id;
        }
    }
    /* dot_escape() makes every name valid DOT and UTF-8. */
    strbuf_addf(&title, "%llu instances of %s%s%s (pyspect heap --refs)",
                (unsigned long long)r->instances,
                strcmp(r->module, "builtins") ? r->module : "",
                strcmp(r->module, "builtins") ? "." : "", r->type);
    g.title = title.buf;
    g.nodes = nodes;
    g.nnodes = nn;
    g.edges = edges;
    g.nedges = ne;
    dot_write(&g, out);
    for (i = 0; i < ntexts; i++) {
        strbuf_release(&texts[i]);
    }
    free(texts);
    free(nodes);
    free(edges);
    strbuf_release(&title);
}

static int
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Run `dot -Tsvg -o path` on the DOT text.  1 when dot is missing. */
static int
render_svg(const char *path, const struct strbuf *dot)
{
    extern char **environ;
    char prog[] = "dot", fmt[] = "-Tsvg", opt_o[] = "-o";
    char *argv[] = {prog, fmt, opt_o, (char *)path, NULL};
    posix_spawn_file_actions_t fa;
    int fds[2], status, rc;
    pid_t pid;
    size_t done = 0;

    if (pipe(fds) < 0) {
        return err_set(PS_EIO, "pipe: %s", strerror(errno));
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    rc = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    if (rc != 0) {
        close(fds[1]);
        return rc == ENOENT
                   ? 1
                   : err_set(PS_EIO, "cannot run dot: %s", strerror(rc));
    }
    while (done < dot->len) {
        ssize_t n = write(fds[1], dot->buf + done, dot->len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        done += (size_t)n;
    }
    close(fds[1]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return WIFEXITED(status) && WEXITSTATUS(status) == 127
                   ? 1
                   : err_set(PS_EIO, "dot failed to render %s", path);
    }
    return 0;
}

static int
refs_output(const struct py_refs *r, const char *path)
{
    struct strbuf dot = STRBUF_INIT;
    int rc;

    refs_dot(r, &dot);
    if (ends_with(path, ".svg")) {
        rc = render_svg(path, &dot);
        if (rc == 1) {
            struct strbuf alt = STRBUF_INIT;

            strbuf_add(&alt, path, strlen(path) - 4);
            strbuf_addstr(&alt, ".dot");
            rc = cmd_write_file(alt.buf, dot.buf, dot.len);
            if (rc == 0) {
                fprintf(stderr,
                        "pyspect heap: Graphviz's dot is not installed "
                        "(apt-get install graphviz): wrote %s instead\n",
                        esc(alt.buf));
            }
            strbuf_release(&alt);
        }
    } else {
        rc = cmd_write_file(path, dot.buf, dot.len);
    }
    strbuf_release(&dot);
    return rc;
}

static int
heap_refs(struct py_runtime *rt, const struct heap_options *opt,
          struct strbuf *out)
{
    struct py_refs r;
    int rc;
    size_t i;

    rc = py_refs_find(rt, opt->refs, (size_t)opt->max, &r);
    if (opt->verbose) {
        fprintf(stderr,
                "pyspect: paused %.1f ms (%d attempt%s), %llu objects in "
                "%llu levels, %llu reads, %llu bytes\n",
                r.stats.paused_ms, r.stats.attempts,
                r.stats.attempts == 1 ? "" : "s",
                (unsigned long long)r.objects,
                (unsigned long long)r.stats.levels,
                (unsigned long long)r.stats.reads,
                (unsigned long long)r.stats.bytes);
    }
    if (rc == PS_ENOTFOUND) {
        struct strbuf msg = STRBUF_INIT;

        if (opt->json) {
            refs_json(rt, &r, opt->refs, out);
            cmd_write_stdout(out->buf, out->len);
            strbuf_reset(out);
        }
        strbuf_addf(&msg, "pyspect heap: no object of type '%s' in %s",
                    esc(opt->refs), esc(rt->target->name));
        if (r.nclose > 0) {
            strbuf_addstr(&msg, "; close names:");
            for (i = 0; i < r.nclose; i++) {
                strbuf_addf(&msg, "%s %s", i ? "," : "", esc(r.close[i]));
            }
        } else {
            strbuf_addstr(&msg, "; nothing close (pyspect heap PID lists "
                                "the types)");
        }
        /* The whole message is ours: printed here, not by cmd_fail(). */
        fprintf(stderr, "%s\n", msg.buf);
        strbuf_release(&msg);
        py_refs_release(&r);
        return HEAP_NOT_FOUND;
    }
    if (rc < 0) {
        py_refs_release(&r);
        return rc;
    }
    if (opt->json) {
        refs_json(rt, &r, opt->refs, out);
    } else {
        refs_text(rt, &r, out);
    }
    if (opt->output != NULL) {
        rc = refs_output(&r, opt->output);
    }
    py_refs_release(&r);
    return rc;
}

static int
heap_parse(int argc, char **argv, struct heap_options *opt)
{
    static const struct option longopts[] = {
        CMD_TARGET_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {"top", required_argument, NULL, 'n'},
        {"growth", required_argument, NULL, 'g'},
        {"refs", required_argument, NULL, 'r'},
        {"max", required_argument, NULL, 'm'},
        {"output", required_argument, NULL, 'o'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, r;

    memset(opt, 0, sizeof(*opt));
    opt->top = -1;
    opt->max = 3;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:n:o:vh", longopts, NULL)) != -1) {
        r = cmd_target_option("heap", c, optarg, &opt->target);
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
        case 'n':
            if (parse_long(optarg, 0, 1L << 30, &opt->top) < 0) {
                return cmd_usage_error("heap", "--top wants a count, not '%s'",
                                       optarg);
            }
            break;
        case 'g':
            opt->growth_arg = optarg;
            break;
        case 'r':
            if (optarg[0] == '\0') {
                return cmd_usage_error("heap", "--refs wants a type name");
            }
            opt->refs = optarg;
            break;
        case 'm':
            if (parse_long(optarg, 1, 10000, &opt->max) < 0) {
                return cmd_usage_error(
                    "heap", "--max wants a count (1 to 10000), not '%s'",
                    optarg);
            }
            break;
        case 'o':
            opt->output = optarg;
            break;
        case 'v':
            opt->verbose = 1;
            break;
        case 'h':
            opt->help = 1;
            return 0;
        default:
            return cmd_option_error("heap", argv);
        }
    }
    r = cmd_target_finish("heap", argc, argv, 0, &opt->target);
    if (r < 0) {
        return r;
    }
    if (opt->growth_arg != NULL && opt->target.core != NULL) {
        /* Two cores: the earlier one is --growth's. */
        opt->growth_core = opt->growth_arg;
    } else if (opt->growth_arg != NULL &&
               (parse_double(opt->growth_arg, &opt->growth) < 0 ||
                opt->growth <= 0 || opt->growth > 86400)) {
        return cmd_usage_error(
            "heap", "--growth wants seconds (0 < s <= 86400), not '%s'",
            opt->growth_arg);
    }
    if (opt->refs != NULL && opt->growth_arg != NULL) {
        return cmd_usage_error("heap", "--refs and --growth do not mix");
    }
    if (opt->output != NULL && opt->refs == NULL) {
        return cmd_usage_error("heap", "-o writes --refs chains: add --refs");
    }
    if (opt->output != NULL && !ends_with(opt->output, ".dot") &&
        !ends_with(opt->output, ".svg")) {
        return cmd_usage_error("heap",
                               "-o wants FILE.dot or FILE.svg, not "
                               "'%s'",
                               opt->output);
    }
    return 0;
}

int
cmd_heap(int argc, char **argv)
{
    struct heap_options opt;
    struct target *target = NULL, *target0 = NULL;
    struct py_runtime *rt = NULL, *rt0 = NULL;
    struct strbuf out = STRBUF_INIT;
    int rc;

    rc = heap_parse(argc, argv, &opt);
    if (rc < 0) {
        return err_exit_status(rc);
    }
    if (opt.help) {
        fputs(heap_usage, stdout);
        return 0;
    }
    if (opt.growth_core != NULL) {
        struct cmd_target earlier = opt.target;

        earlier.core = opt.growth_core;
        rc = cmd_open(&earlier, &target0, &rt0);
        if (rc < 0) {
            return cmd_fail(rc);
        }
    }
    rc = cmd_open(&opt.target, &target, &rt);
    if (rc < 0) {
        cmd_detach(target0, rt0);
        return cmd_fail(rc);
    }
    if (opt.refs != NULL) {
        rc = heap_refs(rt, &opt, &out);
    } else if (opt.growth_arg != NULL) {
        rc = heap_growth(rt, rt0, &opt, &out);
    } else {
        rc = heap_census(rt, &opt, &out);
    }
    if (rc == HEAP_NOT_FOUND) {
        strbuf_release(&out);
        cmd_detach(target, rt);
        cmd_detach(target0, rt0);
        return err_exit_status(PS_ENOTFOUND);
    }
    if (rc == 0) {
        rc = cmd_write_stdout(out.buf, out.len);
    }
    strbuf_release(&out);
    cmd_detach(target, rt);
    cmd_detach(target0, rt0);
    return rc < 0 ? cmd_fail(rc) : 0;
}
