/*
 * stack.c - thread lists and frame walks for every supported layout.
 *
 * Layer: python.  Three frame models, chosen by which fields the layout
 * has, never by version number:
 *   tstate_frame          PyFrameObject chain through f_back (<=3.10)
 *   tstate_cframe         _PyCFrame -> _PyInterpreterFrame chain (3.11-12)
 *   tstate_current_frame  _PyInterpreterFrame chain (3.13+)
 * On 3.11+ the frames of running functions live in the thread's
 * data-stack chunks; each chunk is copied in one read and frames inside
 * it are decoded from the copy, which is faster and far more consistent
 * than one read per frame.
 */
#include "stack.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/hashmap.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "python/linetable.h"
#include "python/pyobj.h"
#include "core/banned.h"

/* The largest struct read whole from the target. */
#define STRUCT_MAX 4096
/* A blind first read of each chunk: CPython's default chunk size. */
#define CHUNK_FIRST_READ (16u * 1024)
/* The smallest data-stack chunk CPython allocates (DATA_STACK_CHUNK_SIZE,
 * 3.11-3.15). */
#define DATA_STACK_CHUNK_MIN (16u * 1024)
/* Where to look for the TID inside glibc's struct pthread. */
#define PTHREAD_SCAN_BYTES 2048
/* Descriptors the scan for the kernel id's offset reads, at most. */
#define PTHREAD_SCAN_THREADS 64
#define PTHREAD_SCAN_PIECE 256

/* ---- threads ------------------------------------------------------------ */

long
py_host_tid(struct py_runtime *rt, uint64_t tid)
{
    int host;

    if (tid == 0 || tid > 0x7fffffff ||
        target_host_tid(rt->target, (int)tid, &host) < 0) {
        return 0;
    }
    return host;
}

/*
 * The thread state holding the GIL of interp (0 when none), and the
 * interpreter-independent holder for <=3.11.
 */
static int
gil_holder(struct py_runtime *rt, raddr_t interp, raddr_t *holder)
{
    const struct py_layout *l = &rt->layout;
    uint64_t v = 0;
    int rc = 0;

    *holder = 0;
    if (pyl_has(l->interp_ceval_gil)) {
        /* 3.12+: the interpreter's GIL; locked and last holder. */
        uint64_t gil = 0, last = 0;
        int32_t locked = 0;

        rc = memsrc_read_u64(rt->mem, interp + l->interp_ceval_gil, &gil);
        if (rc == 0 && gil != 0) {
            rc = memsrc_read_i32(rt->mem, gil + l->gil_locked, &locked);
        }
        if (rc == 0 && gil != 0 && locked == 1) {
            rc = memsrc_read_u64(rt->mem, gil + l->gil_last_holder, &last);
            *holder = last;
        }
        return rc;
    }
    if (rt->runtime != 0 && pyl_has(l->rt_gilstate_tstate_current)) {
        rc = memsrc_read_u64(rt->mem,
                             rt->runtime + l->rt_gilstate_tstate_current, &v);
    } else if (rt->tstate_current != 0) {
        rc = memsrc_read_u64(rt->mem, rt->tstate_current, &v);
    }
    *holder = v;
    return rc;
}

int
py_threads_read(struct py_runtime *rt, struct py_threads *out)
{
    const struct py_layout *l = &rt->layout;
    unsigned char ts[STRUCT_MAX];
    raddr_t interp;
    uint64_t main_ident = 0;
    size_t ninterp = 0;
    int rc;

    out->n = 0;
    if (l->tstate_size <= 0 || l->tstate_size > STRUCT_MAX) {
        return err_set(PS_EINTERNAL, "thread state of %d bytes",
                       l->tstate_size);
    }
    rc = py_runtime_interp_head(rt, &interp);
    if (rc < 0) {
        return rc;
    }
    if (rt->runtime != 0 && pyl_has(l->rt_main_thread)) {
        memsrc_read_u64(rt->mem, rt->runtime + l->rt_main_thread, &main_ident);
    }
    while (interp != 0) {
        raddr_t tstate = 0, holder = 0, main_tstate = 0;
        int64_t interp_id = 0;
        size_t nthreads = 0, first = out->n;

        if (++ninterp > PY_INTERPRETERS_MAX) {
            return err_set(PS_ELIMIT, "more than %d interpreters",
                           PY_INTERPRETERS_MAX);
        }
        rc = memsrc_read_u64(rt->mem, interp + l->interp_tstate_head, &tstate);
        if (rc == 0 && pyl_has(l->interp_id)) {
            rc = memsrc_read(rt->mem, interp + l->interp_id, &interp_id, 8);
        }
        if (rc == 0 && pyl_has(l->interp_threads_main)) {
            rc = memsrc_read_u64(rt->mem, interp + l->interp_threads_main,
                                 &main_tstate);
        }
        if (rc == 0) {
            rc = gil_holder(rt, interp, &holder);
        }
        if (rc < 0) {
            return err_set(rc, "cannot read interpreter %#llx",
                           (unsigned long long)interp);
        }
        while (tstate != 0) {
            struct py_thread *t;
            size_t i;

            if (++nthreads > PY_THREADS_MAX) {
                return err_set(PS_ELIMIT, "more than %d threads",
                               PY_THREADS_MAX);
            }
            for (i = first; i < out->n; i++) {
                if (out->v[i].tstate == tstate) {
                    return err_set(PS_ECHANGED, "thread list loops");
                }
            }
            rc = memsrc_read(rt->mem, tstate, ts, (size_t)l->tstate_size);
            if (rc < 0) {
                return err_set(rc, "cannot read thread state %#llx",
                               (unsigned long long)tstate);
            }
            if (load_u64(ts, l->tstate_interp) != interp) {
                return err_set(PS_ECHANGED,
                               "thread state %#llx belongs to "
                               "another interpreter",
                               (unsigned long long)tstate);
            }
            XGROW(out->v, out->alloc, out->n + 1);
            t = &out->v[out->n++];
            memset(t, 0, sizeof(*t));
            t->tstate = tstate;
            t->interp = interp;
            t->interp_id = interp_id;
            t->ident = load_u64(ts, l->tstate_thread_id);
            if (pyl_has(l->tstate_native_thread_id)) {
                t->tid =
                    py_host_tid(rt, load_u64(ts, l->tstate_native_thread_id));
            }
            t->holds_gil = holder != 0 && holder == tstate;
            if (pyl_has(l->tstate_cframe)) {
                t->cframe = load_u64(ts, l->tstate_cframe);
            }
            if (pyl_has(l->tstate_frame)) {
                t->top = load_u64(ts, l->tstate_frame);
                t->top_slot = tstate + (raddr_t)l->tstate_frame;
            } else if (pyl_has(l->tstate_current_frame)) {
                t->top = load_u64(ts, l->tstate_current_frame);
                t->top_slot = tstate + (raddr_t)l->tstate_current_frame;
            } else if (pyl_has(l->tstate_cframe)) {
                uint64_t cframe = load_u64(ts, l->tstate_cframe);

                if (cframe != 0) {
                    t->top_slot = cframe + (raddr_t)l->cframe_current_frame;
                    rc = memsrc_read_u64(rt->mem, t->top_slot, &t->top);
                    if (rc < 0) {
                        return err_set(rc, "cannot read a _PyCFrame");
                    }
                }
            }
            if (pyl_has(l->tstate_datastack_chunk)) {
                t->datastack = load_u64(ts, l->tstate_datastack_chunk);
            }
            if (pyl_has(l->tstate_base_frame)) {
                t->base = load_u64(ts, l->tstate_base_frame);
            }
            if (main_tstate != 0) {
                t->is_main = tstate == main_tstate;
            } else if (main_ident != 0) {
                t->is_main = t->ident == main_ident;
            }
            tstate = load_u64(ts, l->tstate_next);
        }
        /* Without a record of the main thread (3.6, 3.7), the oldest
         * thread of the first interpreter is it: new threads are pushed
         * at the head of the list. */
        if (ninterp == 1 && out->n > first && main_tstate == 0 &&
            main_ident == 0) {
            out->v[out->n - 1].is_main = 1;
        }
        rc = memsrc_read_u64(rt->mem, interp + l->interp_next, &interp);
        if (rc < 0) {
            return err_set(rc, "cannot read the interpreter list");
        }
    }
    return 0;
}

void
py_threads_release(struct py_threads *t)
{
    free(t->v);
    t->v = NULL;
    t->n = t->alloc = 0;
}

static int
tid_known(const int *tids, size_t ntids, int32_t v)
{
    size_t lo = 0, hi = ntids;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (tids[mid] == v) {
            return 1;
        }
        if (tids[mid] < v) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 0;
}

/*
 * Where the C library's thread descriptor (pthread_t points at it) keeps
 * the thread's kernel id: the lowest offset at which every thread's
 * value is a live thread of the target's, no two descriptors alike, and not
 * the upper half of a word whose lower half is set.  An upper half of a
 * pointer is 0x7f00-0x7fff on x86-64 and the same in every descriptor
 * (they lie together), which is also a thread id once ids wrap past
 * 32,512 (the default pid_max is 32,768): every thread was once paired
 * with the one thread of that id.  glibc and musl keep the id in a word
 * of its own.  -1 when no offset fits.
 */
static int
pthread_tid_offset(struct py_runtime *rt, const struct py_threads *t,
                   const int *tids, size_t ntids)
{
    unsigned char *blocks;
    raddr_t idents[PTHREAD_SCAN_THREADS];
    int *vals, off, best = -1;
    size_t i, k, m = 0, limit = PTHREAD_SCAN_BYTES;

    blocks = xmalloc(PTHREAD_SCAN_THREADS * PTHREAD_SCAN_BYTES);
    vals = xmalloc(PTHREAD_SCAN_THREADS * sizeof(*vals));
    for (i = 0; i < t->n && m < PTHREAD_SCAN_THREADS; i++) {
        unsigned char *d = blocks + m * PTHREAD_SCAN_BYTES;
        size_t got = 0;

        /* One descriptor per thread: a thread with a state in several
         * interpreters (sub-interpreters, mod_wsgi) is one thread. */
        for (k = 0; k < m && idents[k] != t->v[i].ident; k++) {
        }
        if (t->v[i].ident == 0 || k < m) {
            continue;
        }
        idents[m] = t->v[i].ident;
        /* A small descriptor (musl's) can end its mapping: as much of
         * it as is mapped, in pieces. */
        while (got < limit && memsrc_read(rt->mem, t->v[i].ident + got,
                                          d + got, PTHREAD_SCAN_PIECE) == 0) {
            got += PTHREAD_SCAN_PIECE;
        }
        limit = got < limit ? got : limit;
        m++;
    }
    for (off = 4; m > 0 && (size_t)off + 4 <= limit && best < 0; off += 4) {
        int ok = 1;

        for (i = 0; i < m && ok; i++) {
            const unsigned char *d = blocks + i * PTHREAD_SCAN_BYTES;
            int32_t v = load_i32(d, off);

            vals[i] = v;
            ok = v > 0 && tid_known(tids, ntids, py_host_tid(rt, v)) &&
                 ((off & 7) == 0 || load_u32(d, off - 4) == 0);
        }
        if (ok) {
            qsort(vals, m, sizeof(*vals), cmp_int);
            for (i = 1; i < m && ok; i++) {
                ok = vals[i] != vals[i - 1];
            }
        }
        if (ok) {
            best = off;
        }
    }
    free(blocks);
    free(vals);
    return best;
}

int
py_threads_resolve_tids(struct py_runtime *rt, struct py_threads *t)
{
    int *tids = NULL;
    size_t ntids, i;
    int rc;

    for (i = 0; i < t->n && t->v[i].tid != 0; i++) {
    }
    if (i == t->n) {
        return 0; /* the version records native thread ids */
    }
    rc = target_threads(rt->target, &tids, &ntids);
    if (rc < 0) {
        return rc;
    }
    if (rt->pthread_tid_offset < 0) {
        rt->pthread_tid_offset = pthread_tid_offset(rt, t, tids, ntids);
    }
    for (i = 0; i < t->n; i++) {
        int32_t v;

        if (t->v[i].tid != 0 || rt->pthread_tid_offset < 0 ||
            t->v[i].ident == 0) {
            continue;
        }
        if (memsrc_read(rt->mem,
                        t->v[i].ident + (raddr_t)rt->pthread_tid_offset, &v,
                        sizeof(v)) == 0 &&
            v > 0 && tid_known(tids, ntids, py_host_tid(rt, v))) {
            t->v[i].tid = py_host_tid(rt, v);
        }
    }
    free(tids);
    return 0;
}

/* threading._active of one interpreter, or 0. */
static raddr_t
threading_active(struct py_runtime *rt, raddr_t interp)
{
    const struct py_layout *l = &rt->layout;
    raddr_t modules = 0, threading = 0, dict = 0, active = 0;

    if (memsrc_read_u64(rt->mem, interp + l->interp_modules, &modules) < 0 ||
        modules == 0 ||
        py_dict_get_str(&rt->reader, modules, "threading", &threading) < 0 ||
        memsrc_read_u64(rt->mem, threading + l->module_dict, &dict) < 0 ||
        dict == 0 ||
        py_dict_get_str(&rt->reader, dict, "_active", &active) < 0) {
        return 0;
    }
    return active;
}

int
py_threads_names(struct py_runtime *rt, const struct py_threads *t,
                 char ***names_out)
{
    char **names = xcalloc(t->n ? t->n : 1, sizeof(*names));
    raddr_t interp = 0, active = 0;
    struct py_dict_item *items = NULL;
    size_t nitems = 0, i, j;

    for (i = 0; i < t->n; i++) {
        if (t->v[i].interp != interp) {
            interp = t->v[i].interp;
            free(items);
            items = NULL;
            nitems = 0;
            active = threading_active(rt, interp);
            if (active != 0 &&
                py_dict_items(&rt->reader, active, &items, &nitems) < 0) {
                nitems = 0;
            }
        }
        for (j = 0; j < nitems; j++) {
            int64_t ident;
            raddr_t name;
            struct strbuf sb = STRBUF_INIT;

            if (py_int_read(&rt->reader, items[j].key, &ident) < 0 ||
                (uint64_t)ident != t->v[i].ident) {
                continue;
            }
            /* 2.7's Thread keeps it in a private, name-mangled attribute. */
            if ((py_object_getattr(&rt->reader, items[j].value, "_name",
                                   &name) == 0 ||
                 py_object_getattr(&rt->reader, items[j].value,
                                   "_Thread__name", &name) == 0) &&
                py_str_read(&rt->reader, name, 1024, &sb, NULL) == 0) {
                names[i] = strbuf_detach(&sb);
            }
            strbuf_release(&sb);
            break;
        }
    }
    free(items);
    *names_out = names;
    return 0;
}

/* ---- frames: PyFrameObject chains (<=3.10) ------------------------------ */

static int
stack_push(struct py_stack *s, struct py_code *code, int line, raddr_t addr,
           uint32_t call)
{
    if (s->n >= PY_FRAMES_MAX) {
        s->truncated = 1;
        return 1;
    }
    XGROW(s->v, s->alloc, s->n + 1);
    s->v[s->n].code = code;
    s->v[s->n].line = line;
    s->v[s->n].call = call;
    s->v[s->n].addr = addr;
    s->n++;
    return 0;
}

/* Note the C-stack marker of evaluator call `call` (0: none known). */
static void
call_note(struct py_stack *s, uint32_t call, raddr_t marker)
{
    if (call >= PY_FRAMES_MAX * 4) {
        return;
    }
    while (s->ncalls <= call) {
        XGROW(s->calls, s->calls_alloc, s->ncalls + 1);
        s->calls[s->ncalls++] = 0;
    }
    if (marker != 0) {
        s->calls[call] = marker;
    }
}

/*
 * 3.10 and 3.11: the markers of the evaluator calls are the _PyCFrames
 * linked from tstate->cframe, one local per call, innermost first; the
 * chain ends at the thread state's own root CFrame, which is no call.
 */
static int
read_cframes(struct py_runtime *rt, const struct py_thread *t,
             struct py_stack *s)
{
    const struct py_layout *l = &rt->layout;
    raddr_t c = t->cframe;
    uint32_t k = 0;

    while (c != 0 &&
           !(c >= t->tstate && c - t->tstate < (raddr_t)l->tstate_size)) {
        uint64_t prev;
        int rc;

        if (k >= PY_FRAMES_MAX * 4 || (c & 7) != 0) {
            return err_set(PS_ECHANGED, "_PyCFrame chain is inconsistent");
        }
        rc = memsrc_read_u64(rt->mem, c + (raddr_t)l->cframe_previous, &prev);
        if (rc < 0) {
            return rc;
        }
        call_note(s, k++, c);
        c = prev;
    }
    return 0;
}

/* Start a walk: forget the frames of the previous one in O(1). */
static void
seen_reset(struct py_stack *s)
{
    if (s->seen == NULL) {
        /* Small, to stay in the cache: it grows with a deep walk. */
        s->seen_mask = 63;
        s->seen = xcalloc(s->seen_mask + 1, sizeof(*s->seen));
    }
    if (++s->walk == 0) {
        memset(s->seen, 0, (s->seen_mask + 1) * sizeof(*s->seen));
        s->walk = 1;
    }
}

/*
 * Record addr as visited in this walk; returns 1 when it was already:
 * a chain that comes back to a frame loops (the target changed under
 * us).  The set grows with the walk, so the check stays O(1).
 */
static int
frame_seen(struct py_stack *s, raddr_t addr, size_t visited)
{
    size_t i;

    if (visited * 2 > s->seen_mask) {
        size_t old = s->seen_mask + 1, j;
        struct py_seen *prev = s->seen;

        s->seen_mask = old * 2 - 1;
        s->seen = xcalloc(old * 2, sizeof(*s->seen));
        for (j = 0; j < old; j++) {
            if (prev[j].walk == s->walk) {
                i = (size_t)hash_u64(prev[j].addr) & s->seen_mask;
                while (s->seen[i].walk == s->walk) {
                    i = (i + 1) & s->seen_mask;
                }
                s->seen[i] = prev[j];
            }
        }
        free(prev);
    }
    i = (size_t)hash_u64(addr) & s->seen_mask;
    while (s->seen[i].walk == s->walk) {
        if (s->seen[i].addr == addr) {
            return 1;
        }
        i = (i + 1) & s->seen_mask;
    }
    s->seen[i].addr = addr;
    s->seen[i].walk = s->walk;
    return 0;
}

/* A copy of [addr, addr + len) the caller prefetched, or NULL: in the
 * last copy that starts at or below addr (they are sorted, apart). */
static const unsigned char *
prefetch_find(struct py_stack *s, raddr_t addr, size_t len)
{
    size_t lo = 0, hi = s->nprefetch;
    const struct py_prefetch *p;

    /* The frames of a stack lie mostly in one copy (a data-stack chunk,
     * neighbouring frame blocks): try the last one found first. */
    if (s->piece < hi) {
        p = &s->prefetch[s->piece];
        if (addr >= p->addr && addr - p->addr <= p->len &&
            len <= p->len - (addr - p->addr)) {
            return p->data + (addr - p->addr);
        }
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->prefetch[mid].addr <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == 0) {
        return NULL;
    }
    p = &s->prefetch[lo - 1];
    if (addr - p->addr <= p->len && len <= p->len - (addr - p->addr)) {
        s->piece = lo - 1;
        return p->data + (addr - p->addr);
    }
    return NULL;
}

/* Remember a visited frame and the header bytes it was decoded from. */
static void
visit_note(struct py_stack *s, raddr_t addr, const unsigned char *hdr)
{
    if (s->nvisited == s->visited_alloc) {
        XGROW(s->visited, s->visited_alloc, s->nvisited + 1);
        s->headers = xrealloc(s->headers, s->visited_alloc * s->header_len);
        s->visited_piece =
            xrealloc(s->visited_piece, s->visited_alloc * sizeof(size_t));
    }
    s->visited_piece[s->nvisited] = s->piece;
    s->piece = SIZE_MAX;
    s->visited[s->nvisited] = addr;
    memcpy(s->headers + s->nvisited * s->header_len, hdr, s->header_len);
    s->nvisited++;
}

/* The bytes of a code object's header that identify it. */
size_t
py_stack_code_header_len(const struct py_runtime *rt)
{
    const struct py_layout *l = &rt->layout;
    int32_t hi = l->code_linetable;

    hi = l->code_filename > hi ? l->code_filename : hi;
    hi = l->code_name > hi ? l->code_name : hi;
    hi = l->code_firstlineno > hi ? l->code_firstlineno : hi;
    hi = l->obj_type > hi ? l->obj_type : hi;
    return (size_t)hi + 8;
}

/* Is the code object still the one the cache decoded? */
static int
code_unchanged(struct py_runtime *rt, struct py_code *c,
               const unsigned char *now)
{
    const struct py_layout *l = &rt->layout;
    int32_t first;

    memcpy(&first, now + l->code_firstlineno, 4);
    if (load_u64(now, l->obj_type) == rt->code_type &&
        load_u64(now, l->code_name) == c->name_ptr &&
        load_u64(now, l->code_filename) == c->filename_ptr &&
        load_u64(now, l->code_linetable) == c->linetable_ptr &&
        first == c->firstlineno) {
        return 1;
    }
    /* Freed and its address reused: make py_code_get() decode it anew. */
    c->epoch = rt->code_epoch - 1;
    return 0;
}

/*
 * The len bytes at addr for a walk: from the chunk copies (3.11+), from
 * the caller's copies, or read from src.  Under PY_STACK_COPY nothing is
 * read: memory outside the copies is a miss (PY_STACK_MISS, with
 * s->missing set).
 */
static int
frame_bytes(struct memsrc *src, struct py_stack *s, unsigned flags,
            raddr_t addr, unsigned char *buf, size_t len)
{
    const unsigned char *pre;
    size_t i;

    for (i = 0; i < s->nchunks; i++) {
        const struct py_chunk *c = &s->chunks[i];

        if (addr >= c->addr && addr - c->addr <= c->size &&
            len <= c->size - (addr - c->addr)) {
            memcpy(buf, s->chunk_data + c->offset + (addr - c->addr), len);
            return 0;
        }
    }
    if (flags & PY_STACK_COPY) {
        pre = prefetch_find(s, addr, len);
        if (pre == NULL) {
            s->missing = addr;
            s->missing_len = len;
            return PY_STACK_MISS;
        }
        memcpy(buf, pre, len);
        return 0;
    }
    /* Outside the chunks: a generator's frame, or the entry frame on the
     * C stack.  A direct read of the frame costs less than a page. */
    return memsrc_read(src, addr, buf, len);
}

/* ---- frames: PyFrameObject chains (<=3.10) ------------------------------ */

/* The line of a PyFrameObject, as its f_lineno attribute gives it. */
static int
frame_object_line(const struct py_layout *l, struct py_code *code,
                  const unsigned char *buf)
{
    int32_t lasti = load_i32(buf, l->frame_lasti);
    int32_t lineno = load_i32(buf, l->frame_lineno);

    if (code->format != PY_LINES_310) {
        /* 2.7, 3.6-3.9: f_lineno is authoritative only while tracing. */
        return load_u64(buf, l->frame_trace) != 0
                   ? lineno
                   : py_code_addr2line(code, lasti);
    }
    /* 3.10: f_lasti counts code units; f_lineno wins if set. */
    return lineno != 0 ? lineno : py_code_addr2line(code, lasti * 2);
}

/*
 * Is the PyFrameObject alive?  A freed one keeps its code, and its f_back
 * links the free list; only its reference count, zero, tells.  (A frame
 * freed, reused and freed again between two copies looks the same in
 * both, though it ran in between.)
 */
static int
frame_object_live(const struct py_layout *l, const unsigned char *buf)
{
    return (int64_t)load_u64(buf, l->obj_refcnt) > 0;
}

/* Is f_lasti an instruction of the code (or -1: not started)? */
static int
lasti_inside(const struct py_code *code, int32_t lasti)
{
    /* Bytes, but code units in 3.10. */
    int64_t off = code->format != PY_LINES_310 ? lasti : (int64_t)lasti * 2;

    return code->code_len == 0 || (lasti >= -1 && off < code->code_len);
}

/*
 * Is this frame object a generator's that was suspended when copied?  A
 * suspended generator's frame has no f_back, so a walk that found one
 * ends there: at a moment between two of its resumptions, its caller cut
 * off.  The thread state's frame read between the copies named it while
 * it ran, and both copies caught it suspended (a consumer's loop resumes
 * it many times between the copies).  3.10 says so in f_state; before,
 * f_stacktop is set while a frame does not run (suspended, or not
 * started), and also while a tracer runs on a frame that does: only a
 * generator's frame is asked, and only where it ends a walk (one resumed
 * by a C caller in a thread with no Python frame would end one too).
 */
static int
frame_object_suspended(const struct py_layout *l, const struct py_code *code,
                       const unsigned char *buf)
{
    if (pyl_has(l->frame_state)) {
        return (int8_t)buf[l->frame_state] == l->gen_state_suspended;
    }
    return pyl_has(l->frame_stacktop) &&
           (code->flags & l->code_flags_generator) != 0 &&
           load_u64(buf, l->frame_stacktop) != 0;
}

/* The bytes of a frame object a walk reads: up to f_lineno, and f_state
 * (3.10, after it) or f_stacktop. */
static size_t
frame_object_len(const struct py_layout *l)
{
    size_t len = (size_t)l->frame_lineno + 4;

    if (pyl_has(l->frame_state) && (size_t)l->frame_state + 1 > len) {
        len = (size_t)l->frame_state + 1;
    }
    if (pyl_has(l->frame_stacktop) && (size_t)l->frame_stacktop + 8 > len) {
        len = (size_t)l->frame_stacktop + 8;
    }
    return len;
}

static int
walk_frame_objects(struct py_runtime *rt, raddr_t frame, unsigned flags,
                   struct py_stack *s)
{
    const struct py_layout *l = &rt->layout;
    unsigned char buf[STRUCT_MAX];
    size_t want = frame_object_len(l);
    size_t visited = 0;
    int rc;

    if (want > sizeof(buf)) {
        return PS_EINTERNAL;
    }
    seen_reset(s);
    while (frame != 0) {
        struct py_code *code;

        if ((frame & 7) != 0 || frame_seen(s, frame, ++visited)) {
            return err_set(PS_ECHANGED, "frame chain loops");
        }
        rc = frame_bytes(rt->mem, s, flags, frame, buf, want);
        if (rc != 0) {
            return rc;
        }
        visit_note(s, frame, buf);
        if (!frame_object_live(l, buf)) {
            return err_set(PS_ECHANGED, "a freed frame on the stack");
        }
        rc = py_code_get(rt, load_u64(buf, l->frame_code), &code);
        if (rc < 0) {
            return rc;
        }
        if (!lasti_inside(code, load_i32(buf, l->frame_lasti))) {
            return err_set(PS_ECHANGED, "an instruction outside its code");
        }
        if (load_u64(buf, l->frame_back) == 0 &&
            frame_object_suspended(l, code, buf)) {
            return err_set(PS_ECHANGED, "the stack ends at a suspended "
                                        "generator");
        }
        if (stack_push(s, code, frame_object_line(l, code, buf), frame,
                       (uint32_t)s->n)) {
            break;
        }
        frame = load_u64(buf, l->frame_back);
    }
    return 0;
}

/* ---- frames: _PyInterpreterFrame chains (3.11+) ------------------------- */

/*
 * Copy the thread's data-stack chunks.  Of the newest chunk only the part
 * below the top frame is used: when the top frame lies in it, that much
 * is read (often a few hundred bytes instead of the whole 16 KiB chunk).
 */
static int
copy_chunks(struct py_runtime *rt, const struct py_thread *t,
            struct py_stack *s)
{
    const struct py_layout *l = &rt->layout;
    raddr_t chunk = t->datastack;
    size_t total = 0;

    s->nchunks = 0;
    while (chunk != 0) {
        struct py_chunk *c;
        unsigned char *data;
        uint64_t size;
        size_t first = CHUNK_FIRST_READ;
        int rc;

        if (s->nchunks >= PY_CHUNKS_MAX) {
            return err_set(PS_ELIMIT, "more than %d stack chunks",
                           PY_CHUNKS_MAX);
        }
        if (s->nchunks == 0 && t->top > chunk + (raddr_t)l->chunk_data &&
            t->top - chunk < PY_CHUNK_BYTES_MAX) {
            first = (size_t)(t->top - chunk) + (size_t)l->iframe_size;
        }
        if (first > CHUNK_FIRST_READ) {
            uint64_t full = 0;

            /* As far as the top frame only if this chunk is that large
             * (a deep stack): a generator's frame, on top, lies outside
             * the chunks, maybe megabytes above; reading up to it
             * copied all between, or pinned its pages up to a hole. */
            if (memsrc_read_u64(rt->proc, chunk + (raddr_t)l->chunk_size,
                                &full) < 0 ||
                (uint64_t)first > full) {
                first = CHUNK_FIRST_READ;
            }
        }
        XGROW(s->chunk_data, s->chunk_data_alloc, total + first);
        data = s->chunk_data + total;
        rc = memsrc_read(rt->proc, chunk, data, first);
        if (rc == PS_EFAULT) {
            first = (size_t)l->chunk_data;
            rc = memsrc_read(rt->proc, chunk, data, first);
        }
        if (rc < 0) {
            return rc;
        }
        size = load_u64(data, l->chunk_size);
        if (size < (uint64_t)l->chunk_data || size > PY_CHUNK_BYTES_MAX ||
            total + size > PY_CHUNK_BYTES_MAX) {
            return err_set(PS_ECHANGED, "stack chunk of %llu bytes",
                           (unsigned long long)size);
        }
        if (first > size) {
            /* The top frame is not in this chunk (a generator's, say):
             * keep what is inside it. */
            first = (size_t)size;
        }
        XGROW(s->chunks, s->chunks_alloc, s->nchunks + 1);
        c = &s->chunks[s->nchunks++];
        c->addr = chunk;
        c->size = first;
        c->full = (size_t)size;
        c->offset = total;
        total += first;
        chunk = load_u64(data, l->chunk_previous);
    }
    return 0;
}

/*
 * Is a frame's instruction pointer inside its code?  3.11 and 3.12 point
 * at the previous instruction, one code unit before the first while the
 * frame has not started.
 */
static int
instr_inside(const struct py_code *code, raddr_t instr)
{
    int64_t off = (int64_t)(instr - code->code_start);

    return code->code_len == 0 || (off >= -2 && off <= code->code_len);
}

/* The line of a frame at instr, and whether CPython shows the frame
 * (not one pushed but not yet started, _PyFrame_IsIncomplete). */
static int
iframe_line(const struct py_layout *l, struct py_code *code, int owner,
            raddr_t instr, int *shown)
{
    *shown = owner == l->iframe_owner_generator ||
             instr >= code->code_start + 2 * (raddr_t)code->firsttraceable;
    return py_code_addr2line(code, (int)((int64_t)(instr - code->code_start)));
}

/*
 * Does a frame of the thread's newest data-stack chunk start where its
 * caller's ends?  Frames are pushed on top of one another, so a callee
 * is its caller's address plus the caller's frame size, unless it opened
 * the chunk (its caller is in an older one).  A chain that breaks this
 * mixes two moments: the memory of a frame that returned, reused by the
 * next call, read beside its new callee (3.12 reuses a slot every few
 * hundred nanoseconds, and two copies can both catch the same mix).  Only
 * a callee inside the newest chunk, whose whole first 16 KiB (the least
 * CPython allocates) no older chunk can overlap, is checked.
 */
static int
frame_follows_caller(const struct py_layout *l, const struct py_thread *t,
                     raddr_t callee, raddr_t caller,
                     const struct py_code *code)
{
    raddr_t data = t->datastack + (raddr_t)l->chunk_data;

    if (t->datastack == 0 || code->framesize <= 0 || callee <= data ||
        callee - t->datastack >= DATA_STACK_CHUNK_MIN) {
        return 1;
    }
    return callee == caller + (raddr_t)code->framesize;
}

/*
 * Was this frame running its own code when copied?  A frame loads its
 * stack pointer into the evaluator when it starts or resumes and marks
 * the saved one unset (stacktop -1 in 3.11-3.13, stackpointer NULL in
 * 3.14+); it saves it again before it pushes a callee.  So the caller
 * of a frame the evaluator pushed is never marked running: one that is
 * was read after the frames above it had returned, and before they were
 * pushed again -- memory reused call after call, on which two copies a
 * period of the target's loop apart can agree.  (3.11 and 3.12 are also
 * caught by py_code_at_call(); 3.13+ stand on the call's first code
 * unit while running it too, and only this tells them apart.)
 */
static int
frame_running(const struct py_layout *l, const unsigned char *buf)
{
    if (pyl_has(l->iframe_stackpointer)) {
        return load_u64(buf, l->iframe_stackpointer) == 0;
    }
    return pyl_has(l->iframe_stacktop) &&
           (int32_t)load_u32(buf, l->iframe_stacktop) < 0;
}

/*
 * Had this frame started its code when copied?  A frame is initialized
 * before it is linked and made the thread's current one, standing before
 * its first instruction (3.11, 3.12: one code unit before the code; 3.13+:
 * on it); it runs RESUME first, which pushes no frame (what its check for
 * signals and such runs is called through C, an entry frame between).
 * So a caller of an evaluator-pushed frame is past its RESUME: one that
 * is not was a frame initialized for the next call, read before it was
 * pushed, under memory of the calls before (3.13, alternate.py: 1 stack
 * of about 120,000 after frame_running()).
 */
static int
frame_started(const struct py_code *code, raddr_t instr)
{
    int64_t first = 2 * (int64_t)code->firsttraceable;

    /* A trampoline whose first traceable unit lies past its end never
     * starts: 3.13+'s _Py_InitCleanup, the caller of an __init__ that a
     * specialized call pushed, stands on its first unit throughout. */
    if (code->code_len == 0 || first >= code->code_len) {
        return 1;
    }
    return instr > code->code_start + (raddr_t)first;
}

static int
walk_interpreter_frames(struct py_runtime *rt, const struct py_thread *t,
                        unsigned flags, struct py_stack *s)
{
    const struct py_layout *l = &rt->layout;
    unsigned char buf[STRUCT_MAX];
    raddr_t frame = t->top, last = 0, callee = 0;
    size_t want = (size_t)l->iframe_size;
    int rc, visited = 0, last_owner = -1, cut = 0, callee_entry = 0;
    uint32_t call = 0;

    if (want > sizeof(buf) || want < (size_t)l->iframe_owner + 1) {
        return PS_EINTERNAL;
    }
    s->nchunks = 0;
    if (!(flags & PY_STACK_COPY)) {
        rc = copy_chunks(rt, t, s);
        if (rc < 0) {
            return rc;
        }
    }
    seen_reset(s);
    while (frame != 0) {
        struct py_code *code;
        raddr_t code_addr, instr, cur = frame;
        int owner, line, shown;
        uint32_t mine;

        if (++visited > PY_FRAMES_MAX * 4) {
            return err_set(PS_ELIMIT, "frame chain too long");
        }
        if ((frame & 7) != 0 || frame_seen(s, frame, (size_t)visited)) {
            return err_set(PS_ECHANGED, "frame chain is inconsistent");
        }
        rc = frame_bytes(rt->proc, s, flags, frame, buf, want);
        if (rc != 0) {
            return rc;
        }
        visit_note(s, frame, buf);
        owner = buf[l->iframe_owner];
        code_addr = pyl_stackref_object(l, load_u64(buf, l->iframe_code));
        instr = load_u64(buf, l->iframe_instr);
        frame = load_u64(buf, l->iframe_previous);
        last_owner = owner;
        last = cur;
        if (pyl_owner_is_shim(l, owner) ||
            owner == l->iframe_owner_generator) {
            /* Not on the data stack: no caller to check against. */
            callee = 0;
        }
        if (pyl_owner_is_shim(l, owner)) {
            /* An entry frame (a local of the evaluator call that runs
             * the frames above it), or the base of the stack. */
            if (flags & PY_STACK_CALLS) {
                call_note(s, call, cur);
            }
            call++;
            continue;
        }
        mine = call;
        /* 3.11: this frame is the first its evaluator call ran; the next
         * one down belongs to the call below. */
        if (pyl_has(l->iframe_is_entry) && buf[l->iframe_is_entry] != 0) {
            call++;
        }
        if (owner == l->iframe_owner_frame_object) {
            /* A frame that finished and was handed to its frame object
             * is on no live stack: a stale link. */
            return err_set(PS_ECHANGED, "a finished frame on the stack");
        }
        rc = py_code_get(rt, code_addr, &code);
        if (rc < 0) {
            return rc;
        }
        if (!instr_inside(code, instr)) {
            return err_set(PS_ECHANGED, "an instruction outside its code");
        }
        if (callee != 0 && !frame_follows_caller(l, t, callee, cur, code)) {
            return err_set(PS_ECHANGED, "a frame not where its caller ends");
        }
        /* 3.11, 3.12: the caller of a frame the evaluator pushed (not
         * one a C function called: 3.11 marks those is_entry, 3.12 puts
         * a shim between) stands on the last code unit of its call.
         * One at the start of an instruction with caches was running
         * its own code, and the frames above it are calls that had
         * returned: memory reused call after call, on which two copies
         * a period of the target's loop apart can agree (two call
         * chains of the same shape run in turn). */
        if (callee != 0 && !callee_entry &&
            (!py_code_at_call(code, instr) || frame_running(l, buf) ||
             !frame_started(code, instr))) {
            return err_set(PS_ECHANGED, "a caller that was not calling");
        }
        callee = owner == l->iframe_owner_generator ? 0 : cur;
        callee_entry = pyl_has(l->iframe_is_entry) && buf[l->iframe_is_entry];
        line = iframe_line(l, code, owner, instr, &shown);
        if (!shown) {
            continue;
        }
        if (flags & PY_STACK_TRACED_LINES) {
            uint64_t fobj = load_u64(buf, l->iframe_frame_obj);
            int32_t lineno = 0;

            if (fobj != 0 &&
                memsrc_read_i32(rt->mem, fobj + l->frame_lineno, &lineno) ==
                    0 &&
                lineno != 0) {
                line = lineno;
            }
        }
        if (flags & PY_STACK_CALLS) {
            call_note(s, mine, 0);
        }
        if (stack_push(s, code, line, cur, mine)) {
            cut = 1;
            break;
        }
    }
    /* 3.15: every complete chain ends at the thread's base frame. */
    if (!cut && t->base != 0 && last != t->base) {
        return err_set(PS_ECHANGED, "the stack does not reach the thread's "
                                    "base frame");
    }
    /* A running generator sits on top of its caller (or an entry shim):
     * a chain that ends at a generator's own frame went through a
     * suspended one, whose link was cut when it yielded.  A stack read
     * while it changed can look like that. */
    if (last_owner == l->iframe_owner_generator) {
        return err_set(PS_ECHANGED, "the stack ends at a suspended "
                                    "generator");
    }
    return 0;
}

int
py_stack_read(struct py_runtime *rt, const struct py_thread *t, unsigned flags,
              struct py_stack *out)
{
    const struct py_layout *l = &rt->layout;
    int rc;

    out->n = 0;
    out->nvisited = 0;
    out->truncated = 0;
    out->ncalls = 0;
    out->missing = 0;
    out->missing_len = 0;
    if (!(flags & PY_STACK_COPY)) {
        out->nprefetch = 0;
    }
    if (pyl_has(l->tstate_frame)) {
        out->header_len = frame_object_len(l);
    } else {
        out->header_len = (size_t)l->iframe_size;
    }
    if (t->top == 0) {
        out->nchunks = 0;
        return 0;
    }
    if (pyl_has(l->tstate_frame)) {
        rc = walk_frame_objects(rt, t->top, flags, out);
        if (rc == 0 && (flags & PY_STACK_CALLS) && out->n > 0) {
            call_note(out, (uint32_t)(out->n - 1), 0);
        }
    } else {
        rc = walk_interpreter_frames(rt, t, flags, out);
    }
    /* 3.10 and 3.11 mark their evaluator calls with _PyCFrames (3.12
     * has them too, but its entry frames are already noted). */
    if (rc == 0 && (flags & PY_STACK_CALLS) && t->cframe != 0 &&
        pyl_has(l->cframe_previous) && !pyl_has(l->iframe_owner_cstack) &&
        !pyl_has(l->iframe_owner_interpreter)) {
        rc = read_cframes(rt, t, out);
    }
    return rc;
}

/* ---- checking a walk against a later copy ------------------------------- */

/*
 * Is the bottom frame object of a walk (its code `code`) a generator's,
 * suspended in the later copy `now`?  A copy of the frame read while the
 * generator was resumed can hold its empty f_back from before and its
 * state from after.
 */
static int
bottom_suspended(struct py_runtime *rt, const struct py_code *code,
                 const unsigned char *now)
{
    return code != NULL && load_u64(now, rt->layout.frame_back) == 0 &&
           frame_object_suspended(&rt->layout, code, now);
}

/*
 * Is the caller frame whose header was `was` at the same line in `now`?
 * Its instruction may differ (the first and the second call of
 * `f(a) + f(b)`): the same code at the same line is the same sample.
 */
static int
same_line(struct py_runtime *rt, const unsigned char *was,
          const unsigned char *now)
{
    const struct py_layout *l = &rt->layout;
    struct py_code *code;
    int shown;

    if (pyl_has(l->tstate_frame)) {
        if (py_code_get(rt, load_u64(was, l->frame_code), &code) < 0 ||
            !lasti_inside(code, load_i32(now, l->frame_lasti))) {
            return 0;
        }
        return frame_object_line(l, code, was) ==
               frame_object_line(l, code, now);
    }
    if (pyl_has(l->iframe_owner_cstack) &&
        was[l->iframe_owner] == l->iframe_owner_cstack) {
        return 1; /* a shim: no code, no line */
    }
    if (py_code_get(rt, load_u64(was, l->iframe_code), &code) < 0 ||
        !instr_inside(code, load_u64(now, l->iframe_instr))) {
        return 0;
    }
    return iframe_line(l, code, was[l->iframe_owner],
                       load_u64(was, l->iframe_instr), &shown) ==
           iframe_line(l, code, was[l->iframe_owner],
                       load_u64(now, l->iframe_instr), &shown);
}

int
py_stack_compare(struct py_runtime *rt, struct py_stack *s,
                 const struct py_prefetch *again, size_t nagain)
{
    const struct py_layout *l = &rt->layout;
    const struct py_prefetch *saved = s->prefetch;
    size_t saved_n = s->nprefetch, hl = s->header_len, i;
    int32_t link, code, instr;
    int rc = 0;

    if (pyl_has(l->tstate_frame)) {
        link = l->frame_back;
        code = l->frame_code;
        instr = l->frame_lasti;
    } else {
        link = l->iframe_previous;
        code = l->iframe_code;
        instr = l->iframe_instr;
    }
    s->prefetch = again;
    s->nprefetch = nagain;
    for (i = 0; i < s->nvisited && rc == 0; i++) {
        const unsigned char *was = s->headers + i * hl;
        const unsigned char *now;

        s->piece = s->visited_piece[i];
        now = prefetch_find(s, s->visited[i], hl);

        if (now == NULL || memcmp(was + link, now + link, 8) != 0 ||
            memcmp(was + code, now + code, 8) != 0 ||
            (pyl_has(l->tstate_frame)
                 ? !frame_object_live(l, now) ||
                       (i + 1 == s->nvisited && s->n > 0 &&
                        bottom_suspended(rt, s->v[s->n - 1].code, now))
                 : was[l->iframe_owner] != now[l->iframe_owner])) {
            rc = err_set(PS_ECHANGED, "the stack changed while read");
        } else if (i > 0 && memcmp(was + instr, now + instr, 8) != 0 &&
                   !same_line(rt, was, now)) {
            /* A caller moved on: its callee returned meanwhile. */
            rc = err_set(PS_ECHANGED, "the stack changed while read");
        }
    }
    s->prefetch = saved;
    s->nprefetch = saved_n;
    s->piece = SIZE_MAX;
    return rc;
}

/* Code headers checked at once without a batch: more is rare. */
#define CODES_CHECK_MAX 64

int
py_stack_check_codes(struct py_runtime *rt, const struct py_stack *s,
                     const struct py_prefetch *copies, size_t ncopies)
{
    size_t clen = py_stack_code_header_len(rt), i, k, nread = 0;
    struct py_code *unread[CODES_CHECK_MAX];
    struct memsrc_iov iov[CODES_CHECK_MAX];
    unsigned char *data = NULL;
    int rc = 0;

    /* A mark for the codes checked in this call (0 is no call's). */
    if (++rt->code_check == 0) {
        rt->code_check = 1;
    }
    for (i = 0; i < s->n; i++) {
        struct py_code *c = s->v[i].code;
        const unsigned char *now = NULL;

        if (c->checked == rt->code_check) {
            continue; /* checked already: recursion repeats codes */
        }
        c->checked = rt->code_check;
        for (k = 0; k < ncopies && now == NULL; k++) {
            const struct py_prefetch *p = &copies[k];

            if (c->addr >= p->addr && c->addr - p->addr <= p->len &&
                clen <= p->len - (c->addr - p->addr)) {
                now = p->data + (c->addr - p->addr);
            }
        }
        if (now != NULL) {
            if (!code_unchanged(rt, c, now)) {
                return err_set(PS_ECHANGED, "a code object was replaced");
            }
        } else {
            if (nread == CODES_CHECK_MAX) {
                return err_set(PS_ECHANGED, "too many code objects to "
                                            "check");
            }
            unread[nread] = c;
            iov[nread].addr = c->addr;
            iov[nread].len = clen;
            nread++;
        }
    }
    if (nread == 0) {
        return 0;
    }
    data = xmalloc(nread * clen);
    for (i = 0; i < nread; i++) {
        iov[i].buf = data + i * clen;
    }
    rc = memsrc_readv(rt->proc, iov, nread);
    if (rc == PS_EFAULT) {
        rc = err_set(PS_ECHANGED, "a code object went away");
    }
    for (i = 0; rc == 0 && i < nread; i++) {
        if (!code_unchanged(rt, unread[i], data + i * clen)) {
            rc = err_set(PS_ECHANGED, "a code object was replaced");
        }
    }
    free(data);
    return rc;
}

void
py_stack_release(struct py_stack *s)
{
    free(s->visited);
    free(s->headers);
    free(s->visited_piece);
    free(s->seen);
    free(s->v);
    free(s->chunks);
    free(s->chunk_data);
    free(s->calls);
    memset(s, 0, sizeof(*s));
}
