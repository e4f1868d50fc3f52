/*
 * heap.c - pause, walk the collector's lists, count, resume.
 *
 * Layer: python.  Everything that reads the target happens between
 * py_heap_session_begin() and py_heap_session_resume(); formatting
 * happens after.
 */
#include "heap.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "python/pyobj.h"
#include "core/banned.h"

/* Most items of gc.garbage looked at. */
#define PY_HEAP_GARBAGE_MAX 100000

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void
session_free_state(struct py_heap_session *s)
{
    memsrc_free(s->chunks);
    s->chunks = NULL;
    maps_release(&s->maps);
    free(s->gcs);
    s->gcs = NULL;
    s->ngcs = 0;
}

int
py_heap_session_begin(struct py_runtime *rt, struct py_heap_session *s)
{
    int rc;
    size_t i;

    memset(s, 0, sizeof(*s));
    s->rt = rt;
    for (s->attempts = 1;; s->attempts++) {
        s->start_reads = rt->proc->nreads;
        s->start_bytes = rt->proc->nbytes;
        s->start_cpu_ns = clock_cpu_ns();
        rc = target_pause(rt->target);
        if (rc < 0) {
            return rc;
        }
        s->walk_start_ns = clock_now_ns();
        /* Arenas come and go: the map must be the paused target's. */
        rc = target_maps(rt->target, &s->maps);
        if (rc == 0) {
            rc = py_gc_states(rt, &s->gcs, &s->ngcs);
        }
        if (rc < 0) {
            target_resume(rt->target);
            session_free_state(s);
            return rc;
        }
        s->gc_running = 0;
        for (i = 0; i < s->ngcs; i++) {
            s->gc_running |= s->gcs[i].collecting == 1;
        }
        /* A core stays as it was taken: no use waiting. */
        if (!s->gc_running || s->attempts >= PY_HEAP_ATTEMPTS ||
            !target_can_pause(rt->target)) {
            break;
        }
        /* A collection splices the lists; let it finish. */
        target_resume(rt->target);
        session_free_state(s);
        sleep_ms(1 + s->attempts / 10);
    }
    py_runtime_snapshot(rt);
    rc = census_builtins_find(rt, &s->builtins);
    if (rc < 0) {
        target_resume(rt->target);
        session_free_state(s);
        return rc;
    }
    s->chunks =
        memsrc_chunks_new(rt->proc, &s->maps, PY_HEAP_CHUNK, PY_HEAP_CACHE);
    return 0;
}

static int
walk_cb(void *arg, raddr_t obj)
{
    return census_add_tracked(arg, obj);
}

int
py_heap_session_walk_gc(struct py_heap_session *s, struct census *c,
                        struct py_gc_reader *reader)
{
    size_t i;
    int g, rc = 0;

    for (i = 0; i < s->ngcs; i++) {
        struct py_gc_state *st = &s->gcs[i];

        for (g = 0; g <= PY_GC_GENERATIONS; g++) {
            struct py_gc_generation *gen =
                g < PY_GC_GENERATIONS ? &st->gens[g] : &st->permanent;
            int r;

            if (g == PY_GC_GENERATIONS && !st->has_permanent) {
                continue;
            }
            r = py_gc_walk(reader, gen, walk_cb, c);
            if (r < 0 && rc == 0) {
                rc = r;
            }
        }
    }
    return rc;
}

void
py_heap_session_resume(struct py_heap_session *s, struct py_heap_stats *st)
{
    uint64_t now = clock_now_ns();

    target_resume(s->rt->target);
    if (st != NULL) {
        st->paused_ms = target_pause_ms(s->rt->target);
        st->walk_ms = (double)(now - s->walk_start_ns) / 1e6;
        st->cpu_ms = (double)(clock_cpu_ns() - s->start_cpu_ns) / 1e6;
        st->attempts = s->attempts;
        st->reads = s->rt->proc->nreads - s->start_reads;
        st->bytes = s->rt->proc->nbytes - s->start_bytes;
    }
}

int
py_heap_session_check_alive(struct py_heap_session *s)
{
    int rc = target_check(s->rt->target);

    err_clear();
    if (rc == PS_EEXITED) {
        return err_set(PS_EEXITED, "%s exited during the census",
                       s->rt->target->name);
    }
    return 0;
}

void
py_heap_session_release(struct py_heap_session *s)
{
    target_resume(s->rt->target);
    session_free_state(s);
}

/* ---- rows -------------------------------------------------------------- */

static int
by_name(const void *a, const void *b)
{
    const struct census_type *x = *(const struct census_type *const *)a;
    const struct census_type *y = *(const struct census_type *const *)b;
    int r = strcmp(x->module, y->module);

    return r ? r : strcmp(x->name, y->name);
}

static int
by_bytes(const void *a, const void *b)
{
    const struct py_heap_type *x = a, *y = b;

    if (x->bytes != y->bytes) {
        return x->bytes < y->bytes ? 1 : -1;
    }
    if (x->count != y->count) {
        return x->count < y->count ? 1 : -1;
    }
    return strcmp(x->name, y->name);
}

void
py_heap_rows(const struct census *c, struct py_heap_type **rows, size_t *n)
{
    struct census_type **types;
    struct py_heap_type *v;
    size_t nt, i, k = 0;

    census_types(c, &types, &nt);
    /* Only real types with instances have names to sort by: an object's
     * type pointer may point at anything (counted unreadable). */
    for (i = k = 0; i < nt; i++) {
        if (types[i]->valid && types[i]->count > 0) {
            types[k++] = types[i];
        }
    }
    nt = k;
    k = 0;
    qsort(types, nt, sizeof(*types), by_name);
    v = xcalloc(nt + 1, sizeof(*v));
    for (i = 0; i < nt; i++) {
        struct census_type *t = types[i];

        if (k > 0 && strcmp(v[k - 1].module, t->module) == 0 &&
            strcmp(v[k - 1].name, t->name) == 0) {
            v[k - 1].count += t->count;
            v[k - 1].bytes += t->bytes;
            v[k - 1].tracked += t->tracked;
            v[k - 1].classes++;
            continue;
        }
        v[k].name = xstrdup(t->name);
        v[k].module = xstrdup(t->module);
        v[k].count = t->count;
        v[k].bytes = t->bytes;
        v[k].tracked = t->tracked;
        v[k].classes = 1;
        k++;
    }
    free(types);
    qsort(v, k, sizeof(*v), by_bytes);
    *rows = v;
    *n = k;
}

void
py_heap_types_free(struct py_heap_type *rows, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(rows[i].name);
        free(rows[i].module);
    }
    free(rows);
}

/* ---- gc.garbage -------------------------------------------------------- */

struct garbage_count {
    struct census_type *t;
    uint64_t n;
};

static void
read_garbage(struct py_heap *h, struct census *c, raddr_t list)
{
    const struct py_layout *l = c->l;
    struct census_type *lt, **seen = NULL;
    uint64_t n, items, i, *counts = NULL;
    size_t nseen = 0, k;

    if (list == 0 || census_object_type(c, list, &lt) < 0 ||
        lt->kind != CENSUS_LIST ||
        memsrc_read_u64(c->mem, list + l->var_size, &n) < 0 ||
        memsrc_read_u64(c->mem, list + l->list_item, &items) < 0) {
        return;
    }
    h->garbage = n;
    if (n > PY_HEAP_GARBAGE_MAX) {
        n = PY_HEAP_GARBAGE_MAX;
    }
    for (i = 0; i < n; i++) {
        uint64_t obj;
        struct census_type *t;

        if (memsrc_read_u64(c->mem, items + 8 * i, &obj) < 0 ||
            census_object_type(c, obj, &t) < 0) {
            continue;
        }
        for (k = 0; k < nseen && seen[k] != t; k++) {
        }
        if (k == nseen) {
            seen = xrealloc(seen, (nseen + 1) * sizeof(*seen));
            counts = xrealloc(counts, (nseen + 1) * sizeof(*counts));
            seen[nseen] = t;
            counts[nseen++] = 0;
        }
        counts[k]++;
    }
    h->garbage_types = xcalloc(nseen + 1, sizeof(*h->garbage_types));
    for (k = 0; k < nseen; k++) {
        h->garbage_types[k].name = xstrdup(seen[k]->name);
        h->garbage_types[k].module = xstrdup(seen[k]->module);
        h->garbage_types[k].count = counts[k];
        h->garbage_types[k].classes = 1;
    }
    h->ngarbage_types = nseen;
    free(seen);
    free(counts);
}

/* ---- the census -------------------------------------------------------- */

int
py_heap_take(struct py_runtime *rt, struct py_heap *h)
{
    struct py_heap_session s;
    struct py_gc_reader reader;
    struct census c;
    int rc;
    size_t i;

    memset(h, 0, sizeof(*h));
    rc = py_heap_session_begin(rt, &s);
    if (rc < 0) {
        return rc;
    }
    census_init(&c, rt, s.chunks, &s.builtins, 0);
    py_gc_reader_init(&reader, rt, s.chunks);
    h->list_error = py_heap_session_walk_gc(&s, &c, &reader);
    h->stats.links = reader.links;
    py_gc_reader_release(&reader);
    census_run(&c);
    read_garbage(h, &c, s.gcs[0].garbage);
    h->stats.memory = census_memory(&c);
    {
        struct memsrc_chunks_stats cs;

        memsrc_chunks_stats(s.chunks, &cs);
        h->stats.memory += cs.memory;
        h->stats.reread = cs.reload_bytes;
    }
    py_heap_session_resume(&s, &h->stats);
    rc = py_heap_session_check_alive(&s);
    if (rc < 0) {
        census_release(&c);
        py_heap_session_release(&s);
        py_heap_release(h);
        return rc;
    }

    h->gc = s.gcs[0];
    h->interpreters = s.ngcs;
    h->gc_running = s.gc_running;
    h->objects = c.objects;
    h->bytes = c.bytes;
    h->tracked = c.tracked_objects;
    h->stats.levels = c.levels;
    h->stats.unreadable = c.unreadable;
    h->stats.partial = c.partial;
    h->stats.truncated = c.truncated;
    /* Per-generation counts summed over interpreters. */
    for (i = 1; i < s.ngcs; i++) {
        for (int g = 0; g < PY_GC_GENERATIONS; g++) {
            h->gc.gens[g].objects += s.gcs[i].gens[g].objects;
        }
        h->gc.permanent.objects += s.gcs[i].permanent.objects;
    }
    py_heap_rows(&c, &h->types, &h->ntypes);
    census_release(&c);
    py_heap_session_release(&s);
    return 0;
}

void
py_heap_release(struct py_heap *h)
{
    py_heap_types_free(h->types, h->ntypes);
    py_heap_types_free(h->garbage_types, h->ngarbage_types);
    memset(h, 0, sizeof(*h));
}
