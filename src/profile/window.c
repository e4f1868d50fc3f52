/*
 * window.c - per-interval and running counts of stacks, and the function
 * and line tables built from them for `pyspect top`.
 *
 * Layer: profile.  The stacks are interned once in a profile; a sample
 * costs what profile_add() costs plus one increment.  Tables are built
 * at refresh time (once a second) by one pass over the distinct stacks,
 * so sampling never pays for the views.
 */
#include "profile/window.h"

#include <stdlib.h>
#include <string.h>

#include "core/hashmap.h"
#include "core/xalloc.h"
#include "core/banned.h"

void
prof_window_init(struct prof_window *w)
{
    memset(w, 0, sizeof(*w));
    profile_init(&w->profile);
}

void
prof_window_release(struct prof_window *w)
{
    profile_release(&w->profile);
    free(w->fn_frame);
    free(w->now);
    free(w->last);
    free(w->since);
    memset(w, 0, sizeof(*w));
}

static void
fn_set(struct prof_window *w, uint32_t frame, uint32_t fn)
{
    if (frame >= w->fn_alloc) {
        size_t old = w->fn_alloc;

        XGROW(w->fn_frame, w->fn_alloc, (size_t)frame + 1);
        memset(w->fn_frame + old, 0xff,
               (w->fn_alloc - old) * sizeof(*w->fn_frame));
    }
    if (w->fn_frame[frame] == PROF_NONE) {
        w->fn_frame[frame] = fn;
    }
}

uint32_t
prof_window_frame(struct prof_window *w, uint32_t name, uint32_t file,
                  int32_t first_line, int32_t line)
{
    uint32_t fn = profile_frame_id(&w->profile, name, file, first_line);
    uint32_t frame = profile_frame_id(&w->profile, name, file, line);

    fn_set(w, fn, fn);
    fn_set(w, frame, fn);
    return frame;
}

static void
counts_grow(struct prof_window *w, size_t need)
{
    size_t old = w->counts_alloc, alloc = old;

    if (need <= old) {
        return;
    }
    XGROW(w->now, alloc, need);
    alloc = old;
    XGROW(w->last, alloc, need);
    alloc = old;
    XGROW(w->since, alloc, need);
    w->counts_alloc = alloc;
    memset(w->now + old, 0, (alloc - old) * sizeof(*w->now));
    memset(w->last + old, 0, (alloc - old) * sizeof(*w->last));
    memset(w->since + old, 0, (alloc - old) * sizeof(*w->since));
}

void
prof_window_add(struct prof_window *w, uint32_t thread, const uint32_t *frames,
                size_t n)
{
    uint32_t stack = profile_add(&w->profile, thread, frames, n, 1);

    counts_grow(w, (size_t)stack + 1);
    w->now[stack]++;
    w->since[stack]++;
    w->now_total++;
    w->since_total++;
}

void
prof_window_close(struct prof_window *w)
{
    size_t n = w->profile.nstacks;

    if (n > 0) {
        memcpy(w->last, w->now, n * sizeof(*w->now));
        memset(w->now, 0, n * sizeof(*w->now));
    }
    w->last_total = w->now_total;
    w->now_total = 0;
}

void
prof_window_reset(struct prof_window *w)
{
    size_t n = w->profile.nstacks;

    if (n > 0) {
        memset(w->now, 0, n * sizeof(*w->now));
        memset(w->last, 0, n * sizeof(*w->last));
        memset(w->since, 0, n * sizeof(*w->since));
    }
    w->now_total = w->last_total = w->since_total = 0;
}

/* ---- tables ---------------------------------------------------------- */

static struct prof_row *
table_row(struct prof_table *t, struct hashmap *map, uint32_t thread,
          uint32_t frame)
{
    /* +1 on each half: the key is never 0, even for thread 0 frame 0. */
    uint64_t key = ((uint64_t)(thread + 1u) << 32) | ((uint64_t)frame + 1u);
    void **slot = hashmap_slot(map, key);
    size_t i;

    if (*slot != NULL) {
        return &t->rows[(uintptr_t)*slot - 1];
    }
    XGROW(t->rows, t->alloc, t->n + 1);
    XGROW(t->stamp, t->stamp_alloc, t->n + 1);
    i = t->n++;
    memset(&t->rows[i], 0, sizeof(t->rows[i]));
    t->rows[i].frame = frame;
    t->rows[i].thread = thread;
    t->stamp[i] = PROF_NONE;
    *slot = (void *)(uintptr_t)(i + 1);
    return &t->rows[i];
}

void
prof_table_build(struct prof_table *t, const struct prof_window *w,
                 unsigned flags)
{
    const struct profile *p = &w->profile;
    struct hashmap map = HASHMAP_INIT;
    size_t s, k;

    t->n = 0;
    for (s = 0; s < p->nstacks; s++) {
        const struct prof_stack *st = &p->stacks[s];
        const uint32_t *frames = profile_stack_frames(p, st);
        uint64_t last = w->last[s], since = w->since[s];
        uint32_t thread =
            (flags & PROF_TABLE_THREADS) ? st->thread : PROF_NONE;

        if (last == 0 && since == 0) {
            continue;
        }
        for (k = 0; k < st->nframes; k++) {
            uint32_t f = frames[k];
            struct prof_row *row;

            if (!(flags & PROF_TABLE_LINES)) {
                f = w->fn_frame[f];
            }
            row = table_row(t, &map, thread, f);
            /* Once per stack: recursion does not count twice. */
            if (t->stamp[row - t->rows] != (uint32_t)s) {
                t->stamp[row - t->rows] = (uint32_t)s;
                row->total_last += last;
                row->total += since;
            }
            if (k + 1 == st->nframes) {
                row->own_last += last;
                row->own += since;
            }
        }
    }
    hashmap_release(&map);
}

static enum prof_sort sort_by;

static uint64_t
row_key(const struct prof_row *r, enum prof_sort by)
{
    switch (by) {
    case PROF_SORT_OWN_LAST:
        return r->own_last;
    case PROF_SORT_TOTAL_LAST:
        return r->total_last;
    case PROF_SORT_OWN:
        return r->own;
    default:
        return r->total;
    }
}

static int
row_cmp(const void *a, const void *b)
{
    const struct prof_row *x = a, *y = b;
    int i;

    /* The chosen column, then the others in column order. */
    for (i = -1; i < PROF_SORT_COUNT; i++) {
        enum prof_sort by = i < 0 ? sort_by : (enum prof_sort)i;
        uint64_t kx = row_key(x, by), ky = row_key(y, by);

        if (kx != ky) {
            return kx < ky ? 1 : -1;
        }
    }
    if (x->frame != y->frame) {
        return x->frame < y->frame ? -1 : 1;
    }
    return (x->thread > y->thread) - (x->thread < y->thread);
}

void
prof_table_sort(struct prof_table *t, enum prof_sort by)
{
    /* qsort has no context argument; pyspect is single-threaded. */
    sort_by = by;
    if (t->n > 1) {
        qsort(t->rows, t->n, sizeof(*t->rows), row_cmp);
    }
}

void
prof_table_release(struct prof_table *t)
{
    free(t->rows);
    free(t->stamp);
    memset(t, 0, sizeof(*t));
}
