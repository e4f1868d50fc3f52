/*
 * sampler.c - rounds of stack samples with as few reads as possible.
 *
 * Layer: python.  A round is one batched read: every thread state (in
 * cpu mode, most rounds, only those of the threads it samples: see
 * reread_threads()), each interpreter's list head, the GIL holder and,
 * before and after those states, two copies of where the stacks of the
 * threads it samples lay last time (their plans), and the headers of the
 * code objects they ran; what several threads need is read once.  A
 * stack found whole in the first copy and unchanged in the second is
 * taken without another read.  Otherwise the thread's
 * stack is looked up (a walk that reads), its plan widened, and it is
 * copied again on its own; after PY_SAMPLE_ATTEMPTS copies that all
 * changed, the thread is paused for the read.
 */
#define _GNU_SOURCE
#include "sampler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/target.h"
#include "core/banned.h"

/* Walks of a thread list that keeps changing, per round. */
#define REFRESH_TRIES 3
/* Look for a missing thread name at most once per this many rounds, or
 * per NAME_RETRY_S at a rate that makes that more rounds: each look
 * reads sys.modules and threading._active (some 30 reads, as many as 30
 * rounds cost), which a program that never imports threading makes in
 * vain for its main thread all along. */
#define NAME_RETRY_ROUNDS 200
#define NAME_RETRY_S 2
/* A plan's range that no walk needed for this many rounds is dropped. */
#define PLAN_AGE 64
/* A stack found whole in the round's copies, with nothing read beside
 * them, at the frames the plan last learnt from, teaches it nothing but
 * that its ranges are still in use: it is learnt from once in this many
 * rounds (well within PLAN_AGE). */
#define PLAN_RELEARN 16
/* Room to grow copied beyond the top frame of the newest chunk. */
#define CHUNK_SLACK 1024
/* PyFrameObjects (<=3.10) are copied in aligned blocks this large: a
 * call allocates its frame next to the ones the last calls freed.  (The
 * blocks of all the threads a round samples are copied, and each walk
 * may use any: 256 bytes, two 2.7 frame headers, miss no more often
 * than 1 KiB did on bench/top.py, and copy half as much.) */
#define FRAME_BLOCK 256
/* Pauses of one thread for one stack: a thread stopped between the two
 * stores of a call or a return (3.12 can order them either way) shows a
 * chain that is not whole yet. */
#define PAUSED_ATTEMPTS 3
/* Ranges closer than this are copied as one. */
#define MERGE_GAP 256
/* Pieces of a batch closer than this are read as one.  Below a page
 * (4 KiB at least) the bytes between lie on the pages of their ends,
 * mapped as those are; a piece costs the kernel about as much as 2 KiB
 * more of target memory not in its cache (0.3-0.4 us a piece, 0.07 us a
 * KiB in cache, 0.17 out of it, measured). */
#define PIECE_GAP 2048
/* At most this much of one stack is copied (twice) per round. */
#define PLAN_BYTES_MAX (8u << 20)
/* Rounds at most that a thread found on a CPU in round after round is
 * sampled by its state alone, before its counts are tried again. */
#define RUNS_BACKOFF_MAX 32
/* cpu mode: every this many rounds, the state of every thread is read
 * and every link of the lists checked, not only those of the threads
 * sampled (see reread_threads()). */
#define FULL_CHECK_ROUNDS 16
/* cpu mode: a thread whose counts found it off a CPU this many rounds in
 * a row is asked no more while the process's CPU time is accounted for
 * by the threads asked (see choose_cpu()). */
#define QUIET_ROUNDS 16
/* cpu mode: the gate's tries remembered (bits of gate_hist), and the
 * rounds after which one declined for its misses forgets them. */
#define GATE_HIST_BITS 16
#define GATE_HIST_ALL ((1u << GATE_HIST_BITS) - 1)
#define GATE_REST_ROUNDS 64
/* cpu mode: while the question whether a thread sleeps cannot say 'R',
 * a thread found 'R' is asked it once in this many reads of its state. */
#define ASLEEP_RETRY 64

void
py_sampler_init(struct py_sampler *s, struct py_runtime *rt,
                enum py_sample_mode mode)
{
    memset(s, 0, sizeof(*s));
    s->rt = rt;
    s->mode = mode;
    s->may_pause = 1;
    s->stack = (struct py_stack)PY_STACK_INIT;
    s->gate_hist = GATE_HIST_ALL;
}

static void
thread_close(struct py_sampled_thread *t)
{
    free(t->name);
    free(t->plan);
}

static void
batch_release(struct py_batch *b)
{
    free(b->iov);
    free(b->buf);
    free(b->want);
    free(b->spare);
    free(b->runs);
    free(b->piece);
}

void
py_sampler_release(struct py_sampler *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        thread_close(&s->threads[i]);
    }
    free(s->threads);
    free(s->interps);
    free(s->head_off);
    batch_release(&s->round);
    batch_release(&s->again);
    py_stack_release(&s->stack);
    memset(s, 0, sizeof(*s));
}

/*
 * The kernel's state letter for a thread, 0 when unknown.  A thread that
 * can no longer be found exited: its thread state may be another
 * thread's now (same address, same pthread_t), so the lists are walked
 * again.
 */
static char
thread_state(struct py_sampler *s, struct py_sampled_thread *t)
{
    char state = 0;

    if (t->thread.tid <= 0) {
        return 0;
    }
    s->stats.state_reads++;
    if (target_thread_state(s->rt->target, (int)t->thread.tid, &state) < 0) {
        s->stale = 1;
        return 0;
    }
    return state;
}

/* Where this round's GIL holder will be read from (gil mode, or when
 * states are asked for). */
static int
gil_locate(struct py_sampler *s)
{
    const struct py_layout *l = &s->rt->layout;
    struct py_runtime *rt = s->rt;

    s->gil = s->holder_slot = 0;
    /* cpu mode reads the holder too: see choose_cpu(). */
    if ((s->mode == PY_SAMPLE_WALL && !s->states) || s->ninterps == 0) {
        return 0;
    }
    if (pyl_has(l->interp_ceval_gil)) {
        return memsrc_read_u64(
            rt->proc, s->interps[0] + (raddr_t)l->interp_ceval_gil, &s->gil);
    }
    if (rt->runtime != 0 && pyl_has(l->rt_gilstate_tstate_current)) {
        s->holder_slot = rt->runtime + (raddr_t)l->rt_gilstate_tstate_current;
    } else {
        s->holder_slot = rt->tstate_current;
    }
    return 0;
}

/* Walk the thread lists again and rebuild the thread table, keeping
 * what is known about threads that are still there. */
static int
refresh(struct py_sampler *s)
{
    struct py_threads list = PY_THREADS_INIT;
    struct py_sampled_thread *old = s->threads;
    size_t nold = s->n, i, j;
    int rc;

    s->stats.refreshes++;
    py_runtime_snapshot(s->rt);
    rc = py_threads_read(s->rt, &list);
    if (rc == 0) {
        rc = py_threads_resolve_tids(s->rt, &list);
    }
    if (rc < 0) {
        py_threads_release(&list);
        return rc;
    }
    s->threads = xcalloc(list.n ? list.n : 1, sizeof(*s->threads));
    s->alloc = list.n ? list.n : 1;
    s->n = list.n;
    s->ninterps = 0;
    for (i = 0; i < list.n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        t->thread = list.v[i];
        t->user = UINT32_MAX;
        for (j = 0; j < nold; j++) {
            /* The same state, ident and kernel thread: a state reused
             * by a new thread (same address, same pthread_t) is new. */
            if (!old[j].alive && old[j].thread.tstate == t->thread.tstate &&
                old[j].thread.ident == t->thread.ident &&
                old[j].thread.tid == t->thread.tid) {
                old[j].alive = 1;
                t->name = old[j].name;
                t->named_round = old[j].named_round;
                t->name_wait = old[j].name_wait;
                t->user = old[j].user;
                t->plan = old[j].plan;
                old[j].name = NULL;
                old[j].plan = NULL;
                break;
            }
        }
        if (s->ninterps == 0 ||
            s->interps[s->ninterps - 1] != t->thread.interp) {
            XGROW(s->interps, s->interps_alloc, s->ninterps + 1);
            s->interps[s->ninterps++] = t->thread.interp;
        }
    }
    for (j = 0; j < nold; j++) {
        thread_close(&old[j]);
    }
    free(old);
    py_threads_release(&list);
    return gil_locate(s);
}

/* ---- plans -------------------------------------------------------------- */

/*
 * Add [addr, addr + len) to a set of ranges as needed in round `used`:
 * merged with ranges it overlaps or nearly touches, and the set kept
 * sorted (so the first range that may touch it is found by halving).
 * When the set is full the range least recently needed goes.
 */
static void
regions_add(struct py_region *v, size_t *n, size_t max, raddr_t addr,
            size_t len, uint64_t used, size_t gap)
{
    size_t lo = 0, hi = *n, i, j, oldest = 0;

    /* The first range that does not end more than gap below addr. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v[mid].addr + v[mid].len + gap < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    i = lo;
    if (i < *n && v[i].addr <= addr + len + gap) {
        struct py_region *r = &v[i];
        raddr_t start = addr < r->addr ? addr : r->addr;
        raddr_t end =
            addr + len > r->addr + r->len ? addr + len : r->addr + r->len;

        r->addr = start;
        r->len = (size_t)(end - start);
        r->used = used > r->used ? used : r->used;
        /* It may reach its neighbours now. */
        for (j = i + 1; j < *n && v[j].addr <= end + gap;) {
            end = v[j].addr + v[j].len > end ? v[j].addr + v[j].len : end;
            r->len = (size_t)(end - start);
            r->used = v[j].used > r->used ? v[j].used : r->used;
            memmove(&v[j], &v[j + 1], (*n - j - 1) * sizeof(*v));
            (*n)--;
        }
        return;
    }
    if (*n == max) {
        for (j = 1; j < *n; j++) {
            oldest = v[j].used < v[oldest].used ? j : oldest;
        }
        memmove(&v[oldest], &v[oldest + 1], (*n - oldest - 1) * sizeof(*v));
        (*n)--;
        i -= oldest < i;
    }
    memmove(&v[i + 1], &v[i], (*n - i) * sizeof(*v));
    v[i].addr = addr;
    v[i].len = len;
    v[i].used = used;
    (*n)++;
}

/* Forget ranges no walk needed for PLAN_AGE rounds, then the oldest
 * while the whole is larger than PLAN_BYTES_MAX. */
static void
regions_age(struct py_region *v, size_t *n, uint64_t round)
{
    size_t i, total = 0;

    for (i = 0; i < *n;) {
        if (round - v[i].used > PLAN_AGE) {
            memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
            (*n)--;
        } else {
            total += v[i].len;
            i++;
        }
    }
    while (total > PLAN_BYTES_MAX && *n > 0) {
        size_t oldest = 0;

        for (i = 1; i < *n; i++) {
            oldest = v[i].used < v[oldest].used ? i : oldest;
        }
        total -= v[oldest].len;
        memmove(&v[oldest], &v[oldest + 1], (*n - oldest - 1) * sizeof(*v));
        (*n)--;
    }
}

/* The known data-stack chunk that holds addr, or NULL. */
static struct py_region *
plan_chunk(struct py_stack_plan *p, raddr_t addr)
{
    size_t i;

    for (i = 0; i < p->nchunks; i++) {
        if (addr >= p->chunks[i].addr &&
            addr - p->chunks[i].addr < p->chunks[i].len) {
            return &p->chunks[i];
        }
    }
    return NULL;
}

/*
 * The range of the target to copy so that a walk finds [addr, addr +
 * len) in the copy: in a data-stack chunk, from its first frame with room
 * to grow, never beyond its end; a PyFrameObject, in aligned blocks.
 */
static void
plan_range(struct py_sampler *s, struct py_stack_plan *p, raddr_t addr,
           size_t len, raddr_t *lo_out, raddr_t *hi_out)
{
    const struct py_layout *l = &s->rt->layout;
    struct py_region *chunk = plan_chunk(p, addr);
    raddr_t lo = addr, hi = addr + len;

    if (chunk != NULL) {
        lo = chunk->addr + (raddr_t)l->chunk_data;
        hi += CHUNK_SLACK;
        if (hi > chunk->addr + chunk->len) {
            hi = chunk->addr + chunk->len;
        }
        if (addr + len > hi) {
            hi = addr + len;
        }
    } else if (pyl_has(l->tstate_frame)) {
        lo = addr & ~(raddr_t)(FRAME_BLOCK - 1);
        hi = (addr + len + FRAME_BLOCK - 1) & ~(raddr_t)(FRAME_BLOCK - 1);
    }
    *lo_out = lo;
    *hi_out = hi;
}

/* Make sure the plan covers [addr, addr + len), as a walk needs it. */
static void
plan_cover(struct py_sampler *s, struct py_stack_plan *p, raddr_t addr,
           size_t len)
{
    raddr_t lo, hi;

    plan_range(s, p, addr, len, &lo, &hi);
    regions_add(p->regions, &p->nregions, PY_PLAN_REGIONS, lo,
                (size_t)(hi - lo), s->stats.rounds, MERGE_GAP);
}

/*
 * Learn from a walk where this stack lies: the chunks it found (a walk
 * that read them), the frames it visited, the _PyCFrame slot it started
 * from and the code objects it ran.  The frames' ranges are merged here
 * as regions_add() would merge them (overlapping or within MERGE_GAP),
 * so that a stack of frames in one chunk or in neighbouring blocks costs
 * one call to it, not one per frame; code objects repeat (recursion) and
 * are added once per run of the same one.
 */
/* The frames the last walk visited, as one number. */
static uint64_t
visited_sig(const struct py_stack *st)
{
    uint64_t h = st->nvisited;
    size_t i;

    for (i = 0; i < st->nvisited; i++) {
        h = (h ^ st->visited[i]) * 0x9e3779b97f4a7c15ull;
    }
    return h;
}

static void
plan_learn(struct py_sampler *s, struct py_sampled_thread *t)
{
    const struct py_layout *l = &s->rt->layout;
    const struct py_stack *st = &s->stack;
    struct py_stack_plan *p = t->plan;
    uint64_t round = s->stats.rounds;
    size_t clen = py_stack_code_header_len(s->rt), i;
    raddr_t cur_lo = 0, cur_hi = 0, last_code = 0;
    int have = 0;

    p->learned = round;
    p->learned_sig = visited_sig(st);

    if (st->nchunks > 0) {
        p->nchunks = 0;
        for (i = 0; i < st->nchunks && i < PY_PLAN_CHUNKS; i++) {
            p->chunks[i].addr = st->chunks[i].addr;
            p->chunks[i].len = st->chunks[i].full;
            p->chunks[p->nchunks++].used = round;
        }
    }
    for (i = 0; i < st->nvisited; i++) {
        raddr_t lo, hi;

        plan_range(s, p, st->visited[i], st->header_len, &lo, &hi);
        if (have && lo <= cur_hi + MERGE_GAP && cur_lo <= hi + MERGE_GAP) {
            cur_lo = lo < cur_lo ? lo : cur_lo;
            cur_hi = hi > cur_hi ? hi : cur_hi;
            continue;
        }
        if (have) {
            regions_add(p->regions, &p->nregions, PY_PLAN_REGIONS, cur_lo,
                        (size_t)(cur_hi - cur_lo), round, MERGE_GAP);
        }
        cur_lo = lo;
        cur_hi = hi;
        have = 1;
    }
    if (have) {
        regions_add(p->regions, &p->nregions, PY_PLAN_REGIONS, cur_lo,
                    (size_t)(cur_hi - cur_lo), round, MERGE_GAP);
    }
    if (!pyl_has(l->tstate_frame) && !pyl_has(l->tstate_current_frame) &&
        t->thread.top_slot != 0) {
        regions_add(p->cframes, &p->ncframes, PY_PLAN_CFRAMES,
                    t->thread.top_slot, 8, round, 0);
    }
    for (i = 0; i < st->n; i++) {
        raddr_t code = st->v[i].code->addr;

        if (code == last_code) {
            continue;
        }
        last_code = code;
        regions_add(p->codes, &p->ncodes, PY_PLAN_CODES, code, clen, round, 0);
    }
    regions_age(p->regions, &p->nregions, round);
    regions_age(p->codes, &p->ncodes, round);
    regions_age(p->cframes, &p->ncframes, round);
}

/* ---- the batched read --------------------------------------------------- */

/* Add a piece to a batch; its buffer is an offset until batch_read(). */
static size_t
batch_add(struct py_batch *b, raddr_t addr, size_t len)
{
    size_t off = b->used;

    XGROW(b->iov, b->iov_alloc, b->niov + 1);
    b->iov[b->niov].addr = addr;
    b->iov[b->niov].buf = (void *)(uintptr_t)off;
    b->iov[b->niov].len = len;
    b->niov++;
    b->used += (len + 7) & ~(size_t)7;
    return off;
}

static int
want_cmp(const void *a, const void *b)
{
    const struct py_batch_want *x = a, *y = b;

    return (x->addr > y->addr) - (x->addr < y->addr);
}

/* Note a range the batch is to read; its offset in the buffer goes to
 * *off (or, with off NULL, it is part of a piece of the copies). */
static void
batch_want(struct py_batch *b, raddr_t addr, size_t len, size_t *off)
{
    XGROW(b->want, b->want_alloc, b->nwant + 1);
    b->want[b->nwant].addr = addr;
    b->want[b->nwant].len = len;
    b->want[b->nwant].off = off;
    b->nwant++;
}

/*
 * Add the ranges noted to the batch (sorted by address already, or not),
 * those that overlap or nearly touch as one piece (PIECE_GAP).  With
 * part >= 0 the pieces are that part of the batch's copies.
 */
static void
batch_merge(struct py_batch *b, int part, int sorted)
{
    size_t i, k, n = b->nwant;

    if (part >= 0) {
        b->part[part] = b->npiece;
        b->npart[part] = 0;
    }
    if (!sorted) {
        qsort(b->want, n, sizeof(*b->want), want_cmp);
    }
    for (i = 0; i < n; i = k) {
        raddr_t lo = b->want[i].addr, hi = lo + b->want[i].len;
        size_t off;

        for (k = i + 1; k < n && b->want[k].addr <= hi + PIECE_GAP; k++) {
            raddr_t end = b->want[k].addr + b->want[k].len;

            hi = end > hi ? end : hi;
        }
        off = batch_add(b, lo, (size_t)(hi - lo));
        if (part >= 0) {
            struct py_prefetch *p;

            XGROW(b->piece, b->piece_alloc, b->npiece + 1);
            p = &b->piece[b->npiece++];
            p->addr = lo;
            p->len = (size_t)(hi - lo);
            p->data = (const unsigned char *)(uintptr_t)off;
            b->npart[part]++;
        }
        for (; i < k; i++) {
            if (b->want[i].off != NULL) {
                *b->want[i].off = off + (size_t)(b->want[i].addr - lo);
            }
        }
    }
    b->nwant = 0;
}

/*
 * The union of two runs of ranges sorted by address, into out: one pass
 * over both, ranges that overlap or nearly touch (PIECE_GAP) as one.
 * Returns how many went out.
 */
static size_t
union_runs(const struct py_batch_want *a, size_t na,
           const struct py_batch_want *c, size_t nc, struct py_batch_want *out)
{
    size_t i = 0, j = 0, m = 0;

    while (i < na || j < nc) {
        raddr_t addr, end;

        if (j == nc || (i < na && a[i].addr <= c[j].addr)) {
            addr = a[i].addr;
            end = addr + a[i++].len;
        } else {
            addr = c[j].addr;
            end = addr + c[j++].len;
        }
        if (m > 0 && addr >= out[m - 1].addr &&
            addr <= out[m - 1].addr + out[m - 1].len + PIECE_GAP) {
            if (end > out[m - 1].addr + out[m - 1].len) {
                out[m - 1].len = (size_t)(end - out[m - 1].addr);
            }
            continue;
        }
        out[m].addr = addr;
        out[m].len = (size_t)(end - addr);
        out[m].off = NULL;
        m++;
    }
    return m;
}

/*
 * Merge the sorted runs noted (b->runs[k] ends run k) into one, in
 * halving passes between want and spare: the plans of many threads cost
 * their total times the log of their number, where adding each to the
 * union of those before cost their number times that union.
 */
static void
batch_union_runs(struct py_batch *b, size_t nruns)
{
    XGROW(b->spare, b->spare_alloc, b->nwant);
    while (nruns > 1) {
        size_t k, out = 0, kept = 0, start = 0;
        struct py_batch_want *swap;

        for (k = 0; k < nruns; k += 2) {
            size_t mid = b->runs[k];
            size_t end = k + 1 < nruns ? b->runs[k + 1] : mid;

            out += union_runs(b->want + start, mid - start, b->want + mid,
                              end - mid, b->spare + out);
            b->runs[kept++] = out;
            start = end;
        }
        swap = b->want;
        b->want = b->spare;
        b->spare = swap;
        k = b->want_alloc;
        b->want_alloc = b->spare_alloc;
        b->spare_alloc = k;
        b->nwant = out;
        nruns = kept;
    }
}

/*
 * Add one part of the copies of the threads copied (all those that want
 * a copy, or only `only`) to a batch: PY_BATCH_BEFORE their plans'
 * regions, copied before the thread states, PY_BATCH_AFTER the same
 * after them, PY_BATCH_CODES the headers of their code objects.  What
 * several threads need is read once: threads of one program run the
 * same functions, and PyFrameObjects (<=3.10) pass from thread to thread
 * through the free lists, so their plans share much.  Every thread's
 * walk may use every piece of the part: all were read before (or after)
 * every state.  The pieces' data are offsets in the buffer until
 * batch_read().
 */
static void
batch_copies(struct py_sampler *s, struct py_batch *b,
             struct py_sampled_thread *only, int part)
{
    size_t i, nruns = 0;

    if (part == PY_BATCH_AFTER && b->still) {
        b->part[part] = b->part[PY_BATCH_BEFORE];
        b->npart[part] = b->npart[PY_BATCH_BEFORE];
        return;
    }
    if (part == PY_BATCH_AFTER) {
        /* The same pieces as before the states, read again. */
        size_t first = b->part[PY_BATCH_BEFORE];

        b->part[part] = b->npiece;
        b->npart[part] = b->npart[PY_BATCH_BEFORE];
        XGROW(b->piece, b->piece_alloc, b->npiece + b->npart[part]);
        for (i = 0; i < b->npart[part]; i++) {
            struct py_prefetch *p = &b->piece[b->npiece++];

            *p = b->piece[first + i];
            p->data = (const unsigned char *)(uintptr_t)batch_add(b, p->addr,
                                                                  p->len);
        }
        return;
    }
    /* Each plan's ranges, sorted already, as a run of its own. */
    b->nwant = 0;
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];
        const struct py_region *r;
        size_t count, k;

        if (!t->copied || (only != NULL && t != only)) {
            continue;
        }
        r = part == PY_BATCH_CODES ? t->plan->codes : t->plan->regions;
        count = part == PY_BATCH_CODES ? t->plan->ncodes : t->plan->nregions;
        if (count == 0) {
            continue;
        }
        XGROW(b->want, b->want_alloc, b->nwant + count);
        for (k = 0; k < count; k++) {
            b->want[b->nwant + k].addr = r[k].addr;
            b->want[b->nwant + k].len = r[k].len;
            b->want[b->nwant + k].off = NULL;
        }
        b->nwant += count;
        XGROW(b->runs, b->runs_alloc, nruns + 1);
        b->runs[nruns++] = b->nwant;
    }
    batch_union_runs(b, nruns);
    batch_merge(b, part, 1);
}

/*
 * Add the states of the threads to read (all those with t->read, or only
 * `only`) to a batch, with the links to them (unless `all`: see
 * reread_threads()), then the _PyCFrame slots that may hold the top
 * frames of those copied (3.11, 3.12).  The states of threads started
 * one after another lie together, and each link is in the state before:
 * they are read in a few pieces.
 */
static void
batch_states(struct py_sampler *s, struct py_batch *b,
             struct py_sampled_thread *only, int all)
{
    const struct py_layout *l = &s->rt->layout;
    size_t i, k;

    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        if (only != NULL ? t != only : !t->read) {
            continue;
        }
        if (only == NULL && !all && i > 0 &&
            s->threads[i - 1].thread.interp == t->thread.interp) {
            batch_want(
                b, s->threads[i - 1].thread.tstate + (raddr_t)l->tstate_next,
                8, &t->link_off);
        }
        batch_want(b, t->thread.tstate, (size_t)l->tstate_size, &t->ts_off);
    }
    batch_merge(b, -1, 0);
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];
        struct py_stack_plan *p = t->plan;

        if (!t->copied || (only != NULL && t != only)) {
            continue;
        }
        for (k = 0; k < p->ncframes; k++) {
            struct py_prefetch *c = &t->cframes[k];

            c->addr = p->cframes[k].addr;
            c->len = 8;
            c->data =
                (const unsigned char *)(uintptr_t)batch_add(b, c->addr, 8);
        }
        t->ncframes = p->ncframes;
    }
}

static void
batch_begin(struct py_batch *b, int still)
{
    b->niov = 0;
    b->used = 0;
    b->npiece = 0;
    b->nwant = 0;
    b->still = still;
}

/*
 * Read a batch; then its pieces and the _PyCFrame slots of the threads
 * copied in it (all of the sampler's, or only `only`) point into its
 * buffer, and those threads' copies are its pieces.
 */
static int
batch_read(struct py_sampler *s, struct py_batch *b,
           struct py_sampled_thread *only)
{
    size_t i, k;

    if (b->used > b->buf_alloc) {
        b->buf = xrealloc(b->buf, b->used);
        b->buf_alloc = b->used;
    }
    for (i = 0; i < b->niov; i++) {
        b->iov[i].buf = b->buf + (uintptr_t)b->iov[i].buf;
    }
    for (i = 0; i < b->npiece; i++) {
        b->piece[i].data = b->buf + (uintptr_t)b->piece[i].data;
    }
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        if (only != NULL && t != only) {
            continue;
        }
        t->from = t->copied ? b : NULL;
        if (!t->copied) {
            continue;
        }
        for (k = 0; k < t->ncframes; k++) {
            t->cframes[k].data = b->buf + (uintptr_t)t->cframes[k].data;
        }
    }
    return memsrc_readv(s->rt->proc, b->iov, b->niov);
}

/* The top frame and data-stack chunk of a thread state copy. */
static void
thread_from_state(struct py_sampler *s, struct py_sampled_thread *st,
                  const unsigned char *ts)
{
    const struct py_layout *l = &s->rt->layout;
    struct py_thread *t = &st->thread;

    if (pyl_has(l->tstate_frame)) {
        t->top = load_u64(ts, l->tstate_frame);
        t->top_slot = t->tstate + (raddr_t)l->tstate_frame;
    } else if (pyl_has(l->tstate_current_frame)) {
        t->top = load_u64(ts, l->tstate_current_frame);
        t->top_slot = t->tstate + (raddr_t)l->tstate_current_frame;
    } else {
        /* 3.11/3.12: the top frame hangs off a _PyCFrame on the C
         * stack, which the copies hold if the plan knew it. */
        raddr_t cframe = load_u64(ts, l->tstate_cframe);

        t->top = 0;
        t->top_slot = cframe ? cframe + (raddr_t)l->cframe_current_frame : 0;
    }
    if (pyl_has(l->tstate_datastack_chunk)) {
        t->datastack = load_u64(ts, l->tstate_datastack_chunk);
    }
    if (pyl_has(l->tstate_base_frame)) {
        t->base = load_u64(ts, l->tstate_base_frame);
    }
}

/*
 * Does a copy of a thread state still belong to the thread it did?  A new
 * thread's state is made by the thread that starts it and carries no ids
 * (3.12+) or the starter's (up to 3.11) until the new thread runs; and a
 * state freed by a thread that ended can be the next thread's, at the
 * same address.  Paired with the wrong ids, a thread's samples would go
 * to another thread, or its kernel state (cpu mode) never be known.
 */
static int
same_thread(struct py_sampler *s, const struct py_sampled_thread *t,
            const unsigned char *ts)
{
    const struct py_layout *l = &s->rt->layout;

    return load_u64(ts, l->tstate_interp) == t->thread.interp &&
           load_u64(ts, l->tstate_thread_id) == t->thread.ident &&
           (!pyl_has(l->tstate_native_thread_id) ||
            py_host_tid(s->rt, load_u64(ts, l->tstate_native_thread_id)) ==
                t->thread.tid);
}

/* ---- one round ---------------------------------------------------------- */

/* Where the runtime says it is finalizing (3.7+), or 0. */
static raddr_t
finalizing_slot(const struct py_sampler *s)
{
    const struct py_layout *l = &s->rt->layout;

    return s->rt->runtime != 0 && pyl_has(l->rt_finalizing)
               ? s->rt->runtime + (raddr_t)l->rt_finalizing
               : 0;
}

/*
 * Read the thread states (and each interpreter's list head), the GIL
 * holder, and the copies of the stacks of the threads this round
 * samples, in one batched read.  Returns 1 when the lists still link the
 * same thread states, 0 when they changed (refresh), or an error.
 *
 * With all set, every state is read and every link checked.  Otherwise
 * (cpu mode, where most threads of a service are off a CPU in most
 * rounds) only the states of the threads sampled and of the first thread
 * of each list are, each with the link that leads to it: the head, or
 * the next pointer of the thread before it.  That is what a sample
 * needs: a new thread is put at the head of its list (2.7 to 3.15), so
 * a head that moved says one came; a sampled thread whose state was
 * unlinked (it ended, or a C thread released its state) is no longer
 * where the link before it points.  A thread that ended unsampled is
 * found gone by its kernel counts or state (every thread has one read
 * in cpu mode), or at the next full check.
 */
static int
reread_threads(struct py_sampler *s, int copy, int all)
{
    const struct py_layout *l = &s->rt->layout;
    struct py_batch *b = &s->round;
    size_t i, k, gil = 0, last = 0, fin = 0;
    raddr_t fin_at = s->fin_batch ? finalizing_slot(s) : 0;
    int have_fin = fin_at != 0;
    uint64_t locked = 1, holder = 0;
    int rc;

    /* A target the caller holds paused whole (record --blocking,
     * --native) needs one copy of each stack, not two to compare. */
    batch_begin(b, s->rt->target->paused);
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];
        int first =
            i == 0 || s->threads[i - 1].thread.interp != t->thread.interp;

        t->read = all || first || t->want;
        t->copied = t->read && copy && t->want && t->plan != NULL &&
                    t->plan->nregions > 0;
        t->ncframes = 0;
    }
    /* The stacks before the states, the states, the stacks after them:
     * each stack copied on both sides of its thread's state. */
    batch_copies(s, b, NULL, PY_BATCH_BEFORE);
    /* The list heads, the GIL's holder and whether the runtime is
     * finalizing are read with the states: pieces of their own cost as
     * much as a few KiB more, and they lie near one another (in the
     * runtime, the interpreter) or near the states. */
    XGROW(s->head_off, s->head_off_alloc, s->ninterps);
    for (i = 0; i < s->ninterps; i++) {
        batch_want(b, s->interps[i] + (raddr_t)l->interp_tstate_head, 8,
                   &s->head_off[i]);
    }
    if (s->gil != 0) {
        batch_want(b, s->gil + (raddr_t)l->gil_locked, 4, &gil);
        batch_want(b, s->gil + (raddr_t)l->gil_last_holder, 8, &last);
    } else if (s->holder_slot != 0) {
        batch_want(b, s->holder_slot, 8, &gil);
    }
    if (have_fin) {
        batch_want(b, fin_at, 8, &fin);
    }
    batch_states(s, b, NULL, all);
    batch_copies(s, b, NULL, PY_BATCH_AFTER);
    batch_copies(s, b, NULL, PY_BATCH_CODES);
    rc = batch_read(s, b, NULL);
    if (rc == PS_EFAULT && copy) {
        /* Memory a plan names went away (a chunk freed, say): read the
         * thread states alone; each stack is copied on its own. */
        return reread_threads(s, 0, all);
    }
    if (rc == PS_EFAULT) {
        return 0; /* a thread state was freed: walk again */
    }
    if (rc < 0) {
        return rc;
    }
    /* Each interpreter's head is its first thread, each thread links to
     * the next one of the same interpreter, and the last one ends; and
     * each state still belongs to the thread it did (a state freed and
     * reused by a new thread must not be paired with the old one). */
    for (i = 0, k = 0; i < s->ninterps; i++) {
        raddr_t expect = load_u64(b->buf, (int32_t)s->head_off[i]);
        size_t first = k;

        for (; k < s->n && s->threads[k].thread.interp == s->interps[i]; k++) {
            const struct py_sampled_thread *t = &s->threads[k];
            const unsigned char *ts = b->buf + t->ts_off;

            if (!t->read) {
                continue;
            }
            if (!all && k > first) {
                expect = load_u64(b->buf, (int32_t)t->link_off);
            }
            if (t->thread.tstate != expect || !same_thread(s, t, ts)) {
                return 0;
            }
            expect = load_u64(ts, l->tstate_next);
        }
        if (all && expect != 0) {
            return 0;
        }
    }
    if (s->gil != 0) {
        locked = load_u32(b->buf, (int32_t)gil);
        holder = load_u64(b->buf, (int32_t)last);
    } else if (s->holder_slot != 0) {
        holder = load_u64(b->buf, (int32_t)gil);
    }
    s->holder = locked == 1 ? holder : 0;
    s->finalizing = have_fin && load_u64(b->buf, (int32_t)fin) != 0;
    s->fin_known = have_fin;
    for (k = 0; k < s->n; k++) {
        if (s->threads[k].read) {
            thread_from_state(s, &s->threads[k],
                              b->buf + s->threads[k].ts_off);
        }
    }
    return 1;
}

static void
look_for_names(struct py_sampler *s)
{
    struct py_threads list = PY_THREADS_INIT;
    char **names = NULL;
    uint64_t most = NAME_RETRY_ROUNDS;
    size_t i, named = 0;

    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        if (t->name == NULL &&
            s->stats.rounds - t->named_round >= t->name_wait) {
            break;
        }
    }
    if (i == s->n) {
        return;
    }
    if (s->rate * NAME_RETRY_S > (double)most) {
        most = (uint64_t)(s->rate * NAME_RETRY_S);
    }
    list.v = xmalloc(s->n * sizeof(*list.v));
    list.n = list.alloc = s->n;
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        list.v[i] = t->thread;
        if (t->name == NULL) {
            /* A new thread is in threading._active a moment after it
             * starts: look again soon, then less and less often. */
            t->named_round = s->stats.rounds;
            t->name_wait = t->name_wait == 0 ? 1 : t->name_wait * 2;
            if (t->name_wait > most) {
                t->name_wait = most;
            }
        }
    }
    if (py_threads_names(s->rt, &list, &names) == 0) {
        for (i = 0; i < s->n; i++) {
            named += names[i] != NULL;
            if (s->threads[i].name == NULL) {
                s->threads[i].name = names[i];
            } else {
                free(names[i]);
            }
        }
        free(names);
    }
    if (named == 0) {
        /* No thread has a name: no threading module yet (its import
         * names the main thread at once), and threads it starts later
         * are new ones, looked for soon.  Not again before long. */
        for (i = 0; i < s->n; i++) {
            if (s->threads[i].name == NULL) {
                s->threads[i].name_wait = most;
            }
        }
    }
    py_threads_release(&list);
}

/* ---- one stack ---------------------------------------------------------- */

/* The 8 bytes at addr in a set of copies, or 0 when they are not there. */
static int
copy_word(const struct py_prefetch *c, size_t n, raddr_t addr, uint64_t *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (addr >= c[i].addr && addr - c[i].addr + 8 <= c[i].len) {
            *out = load_u64(c[i].data, (int32_t)(addr - c[i].addr));
            return 1;
        }
    }
    return 0;
}

/* The pieces of one part of a batch's copies (none without a batch). */
static const struct py_prefetch *
batch_part(const struct py_batch *b, int part, size_t *n)
{
    if (b == NULL || b->npart[part] == 0) {
        *n = 0;
        return NULL;
    }
    *n = b->npart[part];
    return b->piece + b->part[part];
}

/*
 * The stack from this thread's copies: 0, PY_STACK_MISS (the copies lack
 * part of it; s->stack.missing says what), or PS_ECHANGED.
 */
static int
stack_from_copies(struct py_sampler *s, struct py_sampled_thread *t)
{
    size_t n1, n2, ncodes;
    const struct py_prefetch *c1 = batch_part(t->from, PY_BATCH_BEFORE, &n1);
    const struct py_prefetch *c2 = batch_part(t->from, PY_BATCH_AFTER, &n2);
    const struct py_prefetch *codes =
        batch_part(t->from, PY_BATCH_CODES, &ncodes);
    struct py_thread *th = &t->thread;
    int rc;

    if (th->top == 0 && th->top_slot != 0 &&
        !copy_word(t->cframes, t->ncframes, th->top_slot, &th->top)) {
        /* The _PyCFrame the thread state names is not one the plan
         * knew: its slot was not read beside the thread state. */
        s->stack.missing = th->top_slot;
        s->stack.missing_len = 8;
        return PY_STACK_MISS;
    }
    s->stack.prefetch = c1;
    s->stack.nprefetch = n1;
    rc = py_stack_read(s->rt, th, PY_STACK_COPY | s->stack_flags, &s->stack);
    if (rc == 0) {
        rc = py_stack_compare(s->rt, &s->stack, c2, n2);
    }
    if (rc == 0) {
        rc = py_stack_check_codes(s->rt, &s->stack, codes, ncodes);
    }
    return rc;
}

/*
 * Look a stack up with a walk that reads what it needs (it may mix two
 * moments, so it is used only to learn where the stack lies), and learn
 * the plan from it.
 */
static void
look_up(struct py_sampler *s, struct py_sampled_thread *t)
{
    struct py_thread th = t->thread;

    s->stats.lookups++;
    if (th.top == 0 && th.top_slot != 0 &&
        memsrc_read_u64(s->rt->proc, th.top_slot, &th.top) < 0) {
        return;
    }
    py_stack_read(s->rt, &th, s->stack_flags, &s->stack);
    if (s->stack.nvisited > 0) {
        plan_learn(s, t);
    }
}

/* Copy this thread's plan and state again, on their own (once when the
 * thread is held still). */
static int
copy_again(struct py_sampler *s, struct py_sampled_thread *t, int still)
{
    struct py_batch *b = &s->again;
    const unsigned char *ts;
    int rc;

    batch_begin(b, still);
    t->copied = t->plan != NULL && t->plan->nregions > 0;
    t->ncframes = 0;
    batch_copies(s, b, t, PY_BATCH_BEFORE);
    batch_states(s, b, t, 0);
    batch_copies(s, b, t, PY_BATCH_AFTER);
    batch_copies(s, b, t, PY_BATCH_CODES);
    rc = batch_read(s, b, t);
    if (rc < 0) {
        return rc;
    }
    ts = b->buf + t->ts_off;
    if (!same_thread(s, t, ts)) {
        s->stale = 1;
        return err_set(PS_ECHANGED, "a thread state was reused");
    }
    thread_from_state(s, t, ts);
    return 0;
}

/*
 * Read the stack with its thread paused: the one way to a consistent
 * stack of a thread that changes it faster than any copy.  The thread
 * stands still only while this runs, so it reads as little as it can:
 * the thread's plan in one batch, walked as a copy; a stack that left
 * the plan is walked by reads.
 */
static int
read_paused(struct py_sampler *s, struct py_sampled_thread *t)
{
    const struct py_layout *l = &s->rt->layout;
    unsigned char ts[4096];
    uint64_t t0 = clock_now_ns();
    int rc, held = s->rt->target->paused; /* whole, by the caller */

    if (t->thread.tid <= 0 || (size_t)l->tstate_size > sizeof(ts)) {
        return err_set(PS_ECHANGED, "the stack kept changing");
    }
    rc = target_pause_thread(s->rt->target, (int)t->thread.tid);
    if (rc < 0) {
        return rc == PS_EFAULT ? PS_ECHANGED : rc;
    }
    rc = copy_again(s, t, 1);
    if (rc == 0) {
        rc = stack_from_copies(s, t);
    }
    if (rc == PY_STACK_MISS || rc == PS_EFAULT) {
        s->stack.missing = 0;
        rc = memsrc_read(s->rt->proc, t->thread.tstate, ts,
                         (size_t)l->tstate_size);
        if (rc == 0 && !same_thread(s, t, ts)) {
            s->stale = 1;
            rc = err_set(PS_ECHANGED, "a thread state was reused");
        }
        if (rc == 0) {
            thread_from_state(s, t, ts);
            if (t->thread.top == 0 && t->thread.top_slot != 0) {
                rc = memsrc_read_u64(s->rt->proc, t->thread.top_slot,
                                     &t->thread.top);
            }
        }
        if (rc == 0) {
            rc = py_stack_read(s->rt, &t->thread, s->stack_flags, &s->stack);
        }
        if (rc == 0) {
            rc = py_stack_check_codes(s->rt, &s->stack, NULL, 0);
        }
    }
    if (!held) {
        target_resume(s->rt->target);
    }
    s->stats.pauses++;
    s->stats.pause_ns += clock_now_ns() - t0;
    if (rc == PS_EFAULT) {
        rc = PS_ECHANGED;
    }
    return rc;
}

/*
 * A thread's stack, consistent: from the round's copies when they hold
 * it, else copied again (after a look-up when they lacked part of it),
 * else read with the thread paused.  Dropping a stack that changed
 * would bias the profile against short functions, whose samples sit
 * nearer to calls and returns.
 */
static int
read_stack(struct py_sampler *s, struct py_sampled_thread *t)
{
    int attempt, rc = 0, copied = t->copied, lookup;
    uint64_t reads;

    if (t->plan == NULL) {
        t->plan = xcalloc(1, sizeof(*t->plan));
    }
    lookup = t->plan->nregions == 0;
    reads = s->rt->proc->nreads;
    for (attempt = 0; attempt < PY_SAMPLE_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            s->stats.retries++;
        }
        if (!copied) {
            if (lookup) {
                raddr_t missing = s->stack.missing;
                size_t len = s->stack.missing_len;

                look_up(s, t);
                if (missing != 0 && missing == t->thread.top_slot) {
                    regions_add(t->plan->cframes, &t->plan->ncframes,
                                PY_PLAN_CFRAMES, missing, 8, s->stats.rounds,
                                0);
                } else if (missing != 0) {
                    plan_cover(s, t->plan, missing, len);
                }
            }
            rc = copy_again(s, t, 0);
            if (rc == PS_EFAULT) {
                /* The plan names memory that went away. */
                t->plan->nregions = t->plan->nchunks = 0;
                s->stack.missing = 0;
                lookup = 1;
                continue;
            }
            if (rc < 0) {
                break;
            }
        }
        copied = 0;
        s->stack.missing = 0;
        rc = stack_from_copies(s, t);
        if (rc == 0) {
            int hit = attempt == 0 && t->copied;

            s->stats.spec_hits += hit;
            if (!hit || s->rt->proc->nreads != reads ||
                s->stats.rounds - t->plan->learned >= PLAN_RELEARN ||
                visited_sig(&s->stack) != t->plan->learned_sig) {
                plan_learn(s, t);
            }
            return 0;
        }
        lookup = rc == PY_STACK_MISS;
        if (!lookup && err_class(rc) != ERR_CLASS_TRANSIENT) {
            return rc;
        }
    }
    /* Let it run a moment and stop it again (PAUSED_ATTEMPTS). */
    for (attempt = 0; attempt < PAUSED_ATTEMPTS && s->may_pause &&
                      (rc == PY_STACK_MISS || rc == PS_EFAULT ||
                       err_class(rc) == ERR_CLASS_TRANSIENT);
         attempt++) {
        rc = read_paused(s, t);
        if (rc == 0) {
            plan_learn(s, t);
        }
    }
    return rc == PY_STACK_MISS ? err_set(PS_ECHANGED, "the stack moved") : rc;
}

/*
 * Can this thread be on a CPU now (cpu mode)?  One that is either was put
 * on it since the last round, and its run count moved, or has kept it
 * since then, when the last round found it 'R' (and so on back to a
 * round that read its state without its counts, as the first does).  A
 * thread that is neither is not on a CPU, whatever its state: its state
 * is not read.  The counts (schedstat) cost about half as much to read
 * as the state (stat), and most threads of a service wait most of the
 * time.  A thread woken since the last round that has not run yet is 'R'
 * but on no CPU: it is left out, as it should be.
 *
 * A thread that runs in every round (one waiting for the GIL wakes every
 * 5 ms) would cost both reads each round: after counts read in vain its
 * state is read alone for 1, 2, 4... up to RUNS_BACKOFF_MAX rounds.
 */
static int
may_be_on_cpu(struct py_sampler *s, struct py_sampled_thread *t)
{
    uint64_t runs, cpu_ns;
    int moved, known = t->runs_known;

    t->runs_known = 0;
    if (t->runs_skip > 0) {
        t->runs_skip--;
        t->quiet = 0;
        return 1;
    }
    s->stats.runs_reads += t->thread.tid > 0;
    if (t->thread.tid <= 0 ||
        target_thread_runs(s->rt->target, (int)t->thread.tid, &runs,
                           &cpu_ns) != 0) {
        return 1; /* not counted: its state says */
    }
    moved = !known || runs != t->runs || cpu_ns != t->cpu_ns;
    t->runs = runs;
    t->cpu_ns = cpu_ns;
    t->runs_known = 1;
    if (!moved && t->state != 'R') {
        t->runs_backoff = 0;
        t->quiet += t->quiet < QUIET_ROUNDS;
        s->stats.unread++;
        return 0;
    }
    t->quiet = 0;
    if (known) {
        t->runs_backoff = t->runs_backoff == 0 ? 1 : t->runs_backoff * 2;
        if (t->runs_backoff > RUNS_BACKOFF_MAX) {
            t->runs_backoff = RUNS_BACKOFF_MAX;
        }
        t->runs_skip = t->runs_backoff;
    }
    return 1;
}

/*
 * The state letter of a thread that may be on a CPU (cpu mode), 0 when
 * it is surely not.  One that was not on a CPU last round is asked
 * first whether it sleeps, which costs the kernel half what its state
 * does: a thread that wakes for a moment now and then (one waiting for
 * the GIL wakes every 5 ms) is found asleep in most rounds.  One that
 * was is likely to be still: its state is read at once -- unless the
 * question can say 'R' too, when it is the one read.
 */
static char
thread_state_cpu(struct py_sampler *s, struct py_sampled_thread *t)
{
    int ask = t->state != 'R' || s->asleep_says_r;

    /* Threads that are always found 'R' (one busy thread alone) never
     * ask it: try it now and then, as the target may have learnt to
     * tell (see thread_asleep in target.h). */
    if (!ask && ++s->asleep_wait >= ASLEEP_RETRY) {
        s->asleep_wait = 0;
        ask = 1;
    }
    if (ask && t->thread.tid > 0) {
        int r = target_thread_sleeps(s->rt->target, (int)t->thread.tid);

        s->stats.asleep_reads++;
        /* Where it can tell a thread that runs too, the question is
         * the only read (see thread_asleep in target.h). */
        s->asleep_says_r = r != 0;
        if (r == 1) {
            s->stats.asleep++;
            return 0;
        }
        if (r == 2) {
            return 'R';
        }
    }
    return thread_state(s, t);
}

/* cpu mode: is this thread on a CPU, by its counts and state? */
static void
choose_one(struct py_sampler *s, struct py_sampled_thread *t)
{
    t->gated = 0;
    t->state = may_be_on_cpu(s, t) ? thread_state_cpu(s, t) : 0;
    t->want = t->state == 'R';
}

/* cpu mode, first half: may it be on a CPU, by its counts (in want)? */
static void
choose_counts(struct py_sampler *s, struct py_sampled_thread *t)
{
    t->gated = 0;
    t->want = may_be_on_cpu(s, t);
}

/*
 * Which threads are on a CPU (cpu mode).  Most threads of a service wait
 * most of the time, and asking each of them every round costs a read
 * each: a thread whose counts found it off a CPU QUIET_ROUNDS rounds in
 * a row is asked only when the process's CPU time (one cheap call) moved
 * since the last round by more than the other threads' counts say they
 * had.  Both add up the same per-thread times, brought up to date at the
 * same moments, so a quiet thread that had any CPU since is asked.
 *
 * What neither shows is a thread put on a CPU less than a tick ago that
 * has kept it since: its time is brought up to date at the next tick or
 * switch.  Such a thread running Python holds the GIL, and the round
 * asks the holder after all when it is one left unasked (see
 * py_sampler_round()); one in C code without the GIL can lose the
 * sample of that one round, a tick at most after it woke.
 *
 * While some thread is quiet, the counts of every other thread are read
 * every round (no backoff).  The GIL holder must be known (one GIL for
 * all the interpreters read), and the whole process not held (record --blocking: a thread asked
 * then shows 't').  A count that could not be read, or a thread whose
 * counts were not read last round, and every thread is asked.
 */
static void
choose_cpu(struct py_sampler *s)
{
    const struct py_layout *l = &s->rt->layout;
    uint64_t cpu = 0, had = 0;
    int gate, exact, hits = __builtin_popcount(s->gate_hist);
    size_t i, deferred = 0, quiet = 0, backed = 0;

    /* Only when it pays: it leaves the quiet threads unasked in the
     * rounds it does not miss, and takes from the threads that run in
     * every round their backoff (see may_be_on_cpu()), a read of their
     * counts each round.  A service of many parked threads gains; 20
     * threads taking turns at the GIL (2.7 wakes them all the time) with
     * one parked lose. */
    for (i = 0; i < s->n; i++) {
        const struct py_sampled_thread *t = &s->threads[i];

        if (t->runs_known && t->quiet >= QUIET_ROUNDS && t->state != 'R') {
            quiet++;
        } else {
            backed += t->runs_backoff > 0;
        }
    }
    gate = quiet > backed;
    if (gate && (size_t)hits * quiet <= (size_t)GATE_HIST_BITS * backed) {
        /* It missed too often of late to pay: try it again later. */
        gate = 0;
        if (++s->gate_rest >= GATE_REST_ROUNDS) {
            s->gate_rest = 0;
            s->gate_hist = GATE_HIST_ALL;
        }
    }
    gate = gate && s->may_pause && (s->gil != 0 || s->holder_slot != 0) &&
           (s->ninterps == 1 || !pyl_has(l->interp_ceval_gil)) &&
           target_cpu_time(s->rt->target, &cpu) == 0;
    exact = gate && s->gate_known;
    s->gate_skipped = 0;
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];
        uint64_t was = t->cpu_ns;
        int known = t->runs_known;

        if (gate && known && t->quiet >= QUIET_ROUNDS && t->state != 'R') {
            t->gated = 1;
            deferred++;
            continue;
        }
        if (gate) {
            /* Its counts are needed every round. */
            t->runs_skip = 0;
        }
        /* The counts first, all of them, the states after: the nearer
         * together the counts are read to the process's time, the
         * fewer the rounds that a thread on a CPU at a tick between
         * them makes ask every thread. */
        choose_counts(s, t);
        if (!known || !t->runs_known) {
            exact = 0;
        } else {
            had += t->cpu_ns - was;
        }
    }
    if (deferred > 0 && exact) {
        s->gate_hist =
            ((s->gate_hist << 1) | (cpu - s->gate_cpu == had)) & GATE_HIST_ALL;
    }
    if (deferred > 0 && exact && cpu - s->gate_cpu == had) {
        for (i = 0; i < s->n; i++) {
            struct py_sampled_thread *t = &s->threads[i];

            if (t->gated) {
                /* Its counts, still known, are still its counts. */
                t->state = 0;
                t->want = 0;
                s->stats.gated++;
            }
        }
        s->gate_skipped = 1;
    } else if (deferred > 0) {
        s->stats.gate_misses++;
        for (i = 0; i < s->n; i++) {
            if (s->threads[i].gated) {
                choose_counts(s, &s->threads[i]);
            }
        }
    }
    s->gate_known = gate;
    s->gate_cpu = cpu;
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        if (!t->gated) {
            t->state = t->want ? thread_state_cpu(s, t) : 0;
            t->want = t->state == 'R';
        }
    }
}

/* Which threads this round samples, as far as known before reading. */
void
py_sampler_choose(struct py_sampler *s)
{
    size_t i;

    s->chosen = 1;
    if (s->mode == PY_SAMPLE_CPU) {
        choose_cpu(s);
        return;
    }
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        if (s->mode == PY_SAMPLE_WALL) {
            t->want = 1;
            t->state = s->states ? thread_state(s, t) : 0;
        }
        /* gil mode: the holder of last round is the likely one. */
    }
}

/* Whether the runtime is finalizing, for a stack without frames: from
 * the round's batch, or read now. */
static void
finalizing_now(struct py_sampler *s)
{
    raddr_t at = finalizing_slot(s);
    uint64_t v = 0;

    if (s->fin_known) {
        return;
    }
    s->fin_known = 1;
    s->finalizing =
        at != 0 && memsrc_read_u64(s->rt->proc, at, &v) == 0 && v != 0;
}

int
py_sampler_round(struct py_sampler *s, py_sample_fn fn, void *ctx)
{
    size_t i;
    int rc, refreshes, fin_asked = 0;

    s->stats.rounds++;
    if (!s->chosen) {
        py_sampler_choose(s);
    }
    s->chosen = 0;
    rc = s->n > 0 && !s->stale
             ? reread_threads(s, 1,
                              s->mode != PY_SAMPLE_CPU ||
                                  s->stats.rounds % FULL_CHECK_ROUNDS == 0)
             : 0;
    /* A new list (or a thread that ended): walk it, then read it again
     * as every round does.  A program that starts threads all the time
     * may change it meanwhile: try again rather than lose the round, in
     * which a new thread would go unsampled. */
    for (refreshes = 0; rc == 0 && refreshes < REFRESH_TRIES; refreshes++) {
        s->stale = 0;
        rc = refresh(s);
        if (rc == 0 && s->n > 0) {
            py_sampler_choose(s);
            s->chosen = 0;
            rc = reread_threads(s, 1, 1);
        } else if (rc == 0) {
            rc = 1;
        }
    }
    if (rc <= 0) {
        return rc == 0 || rc == PS_ECHANGED ? 0 : rc;
    }
    py_runtime_snapshot(s->rt);
    look_for_names(s);
    for (i = 0; s->gate_skipped && s->holder != 0 && i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        /* A thread left unasked holds the GIL: it woke (see
         * choose_cpu()).  Its stack is copied on its own. */
        if (t->gated && t->thread.tstate == s->holder) {
            s->stats.gated--;
            choose_one(s, t);
        }
    }
    for (i = 0; i < s->n; i++) {
        struct py_sampled_thread *t = &s->threads[i];

        if (s->mode == PY_SAMPLE_GIL) {
            t->want = t->thread.tstate == s->holder;
            t->copied = t->copied && t->want;
            if (t->want && s->states) {
                t->state = thread_state(s, t);
            }
        }
        t->gil = (s->gil != 0 || s->holder_slot != 0) &&
                         (s->mode == PY_SAMPLE_GIL || s->states)
                     ? t->thread.tstate == s->holder
                     : -1;
        if (!t->want) {
            s->stats.idle += s->mode == PY_SAMPLE_CPU;
            continue;
        }
        rc = read_stack(s, t);
        if (rc == PS_EEXITED) {
            return rc;
        }
        if (rc < 0) {
            if (err_class(rc) == ERR_CLASS_TRANSIENT) {
                s->stats.torn++;
            } else {
                s->stats.errors++;
            }
            s->last_error = rc;
            continue;
        }
        s->stats.stacks++;
        if (s->stack.n == 0) {
            fin_asked = 1;
            finalizing_now(s);
        }
        fn(ctx, t, s->stack.v, s->stack.n);
    }
    /* Most rounds see no stack without frames: the flag costs a piece of
     * the batch (as much as 2 KiB more) only after one that did. */
    s->fin_batch = fin_asked;
    return 0;
}
