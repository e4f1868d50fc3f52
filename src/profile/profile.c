/*
 * profile.c - interning of strings, frames, threads and stacks.
 *
 * Layer: profile.  Every table is an array that only grows, indexed by a
 * small open-addressing hash index of (tag, id) slots (struct prof_index).
 * The index stores no keys: a tag match is confirmed against the array,
 * and on resize the hashes are recomputed from the entries.  The stack
 * index is the hot path of a recording: profile_add() hashes the frame
 * ids as given (innermost first) in root-first order, so a stack already
 * seen is found without copying, reversing or allocating anything.
 */
#include "profile.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hashmap.h"
#include "core/xalloc.h"
#include "core/banned.h"

#define PROF_K 0x9e3779b97f4a7c15ULL

/* One step of the sequence hash (FxHash-like: rotate, xor, multiply);
 * hash_u64() finishes it, so weak low bits do not matter. */
static inline uint64_t
prof_step(uint64_t h, uint64_t v)
{
    return ((h << 5 | h >> 59) ^ v) * PROF_K;
}

/* Mix the sequence hash into its final form (every bit of it is used: the
 * low bits pick the slot, the high 32 are the tag). */
static inline uint64_t
prof_finish(uint64_t h)
{
    return hash_u64(h);
}

typedef uint64_t (*prof_rehash_fn)(const void *ctx, uint32_t id);

static void
index_release(struct prof_index *ix)
{
    free(ix->slots);
    ix->slots = NULL;
    ix->mask = 0;
    ix->count = 0;
}

static void
index_alloc(struct prof_index *ix, size_t capacity)
{
    size_t i;

    ix->slots = xmalloc(capacity * sizeof(*ix->slots));
    for (i = 0; i < capacity; i++) {
        ix->slots[i].tag = 0;
        ix->slots[i].id = PROF_NONE;
    }
    ix->mask = capacity - 1;
}

/* The empty slot for hash h (the caller knows the entry is absent). */
static struct prof_slot *
index_empty_slot(struct prof_index *ix, uint64_t h)
{
    size_t i = (size_t)h & ix->mask;

    while (ix->slots[i].id != PROF_NONE) {
        i = (i + 1) & ix->mask;
    }
    return &ix->slots[i];
}

/* Make room for one more entry, keeping the load factor at most 1/2. */
static void
index_reserve(struct prof_index *ix, prof_rehash_fn rehash, const void *ctx)
{
    struct prof_slot *old = ix->slots;
    size_t old_cap = ix->slots ? ix->mask + 1 : 0, i;

    if (old != NULL && (ix->count + 1) * 2 <= old_cap) {
        return;
    }
    index_alloc(ix, old_cap ? old_cap * 2 : 64);
    for (i = 0; i < old_cap; i++) {
        if (old[i].id != PROF_NONE) {
            uint64_t h = rehash(ctx, old[i].id);
            struct prof_slot *s = index_empty_slot(ix, h);

            s->tag = (uint32_t)(h >> 32);
            s->id = old[i].id;
        }
    }
    free(old);
}

static void
index_insert(struct prof_index *ix, uint64_t h, uint32_t id,
             prof_rehash_fn rehash, const void *ctx)
{
    struct prof_slot *s;

    index_reserve(ix, rehash, ctx);
    s = index_empty_slot(ix, h);
    s->tag = (uint32_t)(h >> 32);
    s->id = id;
    ix->count++;
}

static size_t
index_memory(const struct prof_index *ix)
{
    return ix->slots ? (ix->mask + 1) * sizeof(*ix->slots) : 0;
}

/* Ids are uint32_t and stack offsets too: a profile that outgrows them
 * (billions of distinct frames) is out of memory for all purposes. */
static void
prof_check_room(size_t have, size_t more)
{
    if (have + more >= PROF_NONE) {
        fprintf(stderr, "pyspect: profile too large (over %u entries)\n",
                (unsigned)PROF_NONE);
        exit(1);
    }
}

/* ---- strings ---------------------------------------------------------- */

static uint64_t
str_hash(const char *s)
{
    return prof_finish(hash_bytes(s, strlen(s)));
}

static uint64_t
strtab_rehash(const void *ctx, uint32_t id)
{
    const struct strtab *t = ctx;

    return str_hash(t->v[id]);
}

uint32_t
strtab_intern(struct strtab *t, const char *s)
{
    uint64_t h = str_hash(s);
    uint32_t tag = (uint32_t)(h >> 32), id;
    size_t i;

    if (t->index.slots != NULL) {
        for (i = (size_t)h & t->index.mask; t->index.slots[i].id != PROF_NONE;
             i = (i + 1) & t->index.mask) {
            const struct prof_slot *sl = &t->index.slots[i];

            if (sl->tag == tag && strcmp(t->v[sl->id], s) == 0) {
                return sl->id;
            }
        }
    }
    prof_check_room(t->n, 1);
    XGROW(t->v, t->alloc, t->n + 1);
    id = (uint32_t)t->n;
    t->v[t->n++] = xstrdup(s);
    t->bytes += strlen(s) + 1;
    index_insert(&t->index, h, id, strtab_rehash, t);
    return id;
}

const char *
strtab_get(const struct strtab *t, uint32_t id)
{
    return id < t->n ? t->v[id] : NULL;
}

static void
strtab_release(struct strtab *t)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        free(t->v[i]);
    }
    free(t->v);
    index_release(&t->index);
    memset(t, 0, sizeof(*t));
}

/* ---- profile ---------------------------------------------------------- */

void
profile_init(struct profile *p)
{
    memset(p, 0, sizeof(*p));
}

void
profile_release(struct profile *p)
{
    size_t i;

    strtab_release(&p->strings);
    free(p->frames);
    index_release(&p->frame_index);
    free(p->threads);
    index_release(&p->thread_index);
    free(p->stacks);
    index_release(&p->stack_index);
    free(p->frame_ids);
    free(p->events);
    free(p->meta.command);
    free(p->meta.python_version);
    for (i = 0; i < p->meta.nprefixes; i++) {
        free(p->meta.prefixes[i]);
    }
    profile_init(p);
}

/* ---- frames ----------------------------------------------------------- */

static uint64_t
frame_hash(uint32_t name, uint32_t file, int32_t line)
{
    uint64_t h = prof_step(0, name);

    h = prof_step(h, file);
    return prof_finish(prof_step(h, (uint32_t)line));
}

static uint64_t
frame_rehash(const void *ctx, uint32_t id)
{
    const struct prof_frame *f = &((const struct profile *)ctx)->frames[id];

    return frame_hash(f->name, f->file, f->line);
}

uint32_t
profile_frame_id(struct profile *p, uint32_t name, uint32_t file, int32_t line)
{
    uint64_t h = frame_hash(name, file, line);
    uint32_t tag = (uint32_t)(h >> 32), id;
    struct prof_index *ix = &p->frame_index;
    size_t i;

    if (ix->slots != NULL) {
        for (i = (size_t)h & ix->mask; ix->slots[i].id != PROF_NONE;
             i = (i + 1) & ix->mask) {
            const struct prof_frame *f = &p->frames[ix->slots[i].id];

            if (ix->slots[i].tag == tag && f->name == name &&
                f->file == file && f->line == line) {
                return ix->slots[i].id;
            }
        }
    }
    prof_check_room(p->nframes, 1);
    XGROW(p->frames, p->frames_alloc, p->nframes + 1);
    id = (uint32_t)p->nframes++;
    p->frames[id].name = name;
    p->frames[id].file = file;
    p->frames[id].line = line;
    index_insert(ix, h, id, frame_rehash, p);
    return id;
}

uint32_t
profile_frame(struct profile *p, const char *name, const char *file,
              int32_t line)
{
    uint32_t n = strtab_intern(&p->strings, name ? name : "");
    uint32_t f = strtab_intern(&p->strings, file ? file : "");

    return profile_frame_id(p, n, f, line);
}

/* ---- threads ---------------------------------------------------------- */

static uint64_t
thread_hash(int pid, uint64_t ident)
{
    return prof_finish(prof_step(prof_step(0, (uint32_t)pid), ident));
}

static uint64_t
thread_rehash(const void *ctx, uint32_t id)
{
    const struct prof_thread *t = &((const struct profile *)ctx)->threads[id];

    return thread_hash(t->pid, t->ident);
}

uint32_t
profile_thread_pid(struct profile *p, int pid, uint64_t ident, long tid,
                   const char *name)
{
    uint64_t h = thread_hash(pid, ident);
    uint32_t tag = (uint32_t)(h >> 32), id;
    struct prof_index *ix = &p->thread_index;
    struct prof_thread *t;
    size_t i;

    if (ix->slots != NULL) {
        for (i = (size_t)h & ix->mask; ix->slots[i].id != PROF_NONE;
             i = (i + 1) & ix->mask) {
            id = ix->slots[i].id;
            t = &p->threads[id];
            /* A pthread_t is reused by the next thread started after one
             * ends: a different kernel thread is a different thread. */
            if (ix->slots[i].tag == tag && t->ident == ident &&
                t->pid == pid && (t->tid == tid || t->tid <= 0 || tid <= 0)) {
                if (t->name == PROF_NONE && name != NULL) {
                    t->name = strtab_intern(&p->strings, name);
                }
                if (t->tid <= 0 && tid > 0) {
                    t->tid = tid;
                }
                return id;
            }
        }
    }
    prof_check_room(p->nthreads, 1);
    XGROW(p->threads, p->threads_alloc, p->nthreads + 1);
    id = (uint32_t)p->nthreads++;
    t = &p->threads[id];
    t->ident = ident;
    t->tid = tid;
    t->pid = pid;
    t->name = name ? strtab_intern(&p->strings, name) : PROF_NONE;
    index_insert(ix, h, id, thread_rehash, p);
    return id;
}

uint32_t
profile_thread(struct profile *p, uint64_t ident, long tid, const char *name)
{
    return profile_thread_pid(p, p->meta.pid, ident, tid, name);
}

/* ---- stacks ----------------------------------------------------------- */

/* The hash of (thread, frames root first) from a root-first array. */
static uint64_t
stack_hash_root_first(uint32_t thread, const uint32_t *ids, size_t n)
{
    uint64_t h = prof_step(0x5eed, thread);
    size_t i;

    for (i = 0; i < n; i++) {
        h = prof_step(h, ids[i]);
    }
    return prof_finish(prof_step(h, n));
}

/* The same hash from an innermost-first array. */
static uint64_t
stack_hash_innermost_first(uint32_t thread, const uint32_t *frames, size_t n)
{
    uint64_t h = prof_step(0x5eed, thread);
    size_t i;

    for (i = n; i > 0; i--) {
        h = prof_step(h, frames[i - 1]);
    }
    return prof_finish(prof_step(h, n));
}

static uint64_t
stack_rehash(const void *ctx, uint32_t id)
{
    const struct profile *p = ctx;
    const struct prof_stack *s = &p->stacks[id];

    return stack_hash_root_first(s->thread, p->frame_ids + s->offset,
                                 s->nframes);
}

/* Does the stored (root-first) stack s equal frames (innermost first)? */
static int
stack_equal(const struct profile *p, const struct prof_stack *s,
            uint32_t thread, const uint32_t *frames, size_t n)
{
    const uint32_t *ids = p->frame_ids + s->offset;
    size_t i;

    if (s->thread != thread || s->nframes != n) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (ids[i] != frames[n - 1 - i]) {
            return 0;
        }
    }
    return 1;
}

uint32_t
profile_add(struct profile *p, uint32_t thread, const uint32_t *frames,
            size_t n, uint64_t weight)
{
    return profile_add_objects(p, thread, frames, n, weight, 0);
}

int
profile_counts_bytes(const struct profile *p)
{
    return p->meta.unit != NULL && strcmp(p->meta.unit, "bytes") == 0;
}

uint32_t
profile_add_objects(struct profile *p, uint32_t thread, const uint32_t *frames,
                    size_t n, uint64_t weight, uint64_t objects)
{
    uint64_t h;
    uint32_t tag, id;
    struct prof_index *ix = &p->stack_index;
    struct prof_stack *s;
    size_t i;

    if (weight == 0 && objects == 0) {
        return PROF_NONE;
    }
    h = stack_hash_innermost_first(thread, frames, n);
    tag = (uint32_t)(h >> 32);
    if (ix->slots != NULL) {
        for (i = (size_t)h & ix->mask; ix->slots[i].id != PROF_NONE;
             i = (i + 1) & ix->mask) {
            s = &p->stacks[ix->slots[i].id];
            if (ix->slots[i].tag == tag &&
                stack_equal(p, s, thread, frames, n)) {
                s->count += weight;
                s->objects += objects;
                p->total += weight;
                p->total_objects += objects;
                return ix->slots[i].id;
            }
        }
    }

    /* A new stack: copy its frames root first. */
    assert(thread < p->nthreads);
    prof_check_room(p->nstacks, 1);
    prof_check_room(p->nframe_ids, n);
    XGROW(p->stacks, p->stacks_alloc, p->nstacks + 1);
    XGROW(p->frame_ids, p->frame_ids_alloc, p->nframe_ids + n);
    id = (uint32_t)p->nstacks++;
    s = &p->stacks[id];
    s->thread = thread;
    s->nframes = (uint32_t)n;
    s->offset = (uint32_t)p->nframe_ids;
    s->count = weight;
    s->objects = objects;
    for (i = 0; i < n; i++) {
        assert(frames[n - 1 - i] < p->nframes);
        p->frame_ids[p->nframe_ids++] = frames[n - 1 - i];
    }
    p->total += weight;
    p->total_objects += objects;
    index_insert(ix, h, id, stack_rehash, p);
    return id;
}

void
profile_event(struct profile *p, uint32_t stack, uint64_t t_ns, uint32_t state)
{
    struct prof_event *e;

    if (!p->keep_events || stack >= p->nstacks) {
        return;
    }
    XGROW(p->events, p->events_alloc, p->nevents + 1);
    e = &p->events[p->nevents++];
    e->t_ns = t_ns;
    e->stack = stack;
    e->state = state;
}

size_t
profile_memory(const struct profile *p)
{
    size_t m = sizeof(*p);

    m += p->strings.alloc * sizeof(*p->strings.v) + p->strings.bytes;
    m += index_memory(&p->strings.index);
    m += p->frames_alloc * sizeof(*p->frames) + index_memory(&p->frame_index);
    m += p->threads_alloc * sizeof(*p->threads);
    m += index_memory(&p->thread_index);
    m += p->stacks_alloc * sizeof(*p->stacks) + index_memory(&p->stack_index);
    m += p->frame_ids_alloc * sizeof(*p->frame_ids);
    m += p->events_alloc * sizeof(*p->events);
    if (p->meta.command != NULL) {
        m += strlen(p->meta.command) + 1;
    }
    if (p->meta.python_version != NULL) {
        m += strlen(p->meta.python_version) + 1;
    }
    return m;
}
