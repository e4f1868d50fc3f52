/*
 * locks.c - lock waits, their holders, and deadlocks.
 *
 * Layer: python.  See locks.h for how a wait is recognised.  Where the
 * GIL lives is a capability of the layout: inside the interpreter
 * (interp_ceval_gil, 3.12+), inside _PyRuntime (rt_gil, 3.7-3.11), or
 * file statics found by name in the runtime's symbol table (3.6's
 * gil_cond, gil_mutex, switch_cond and switch_mutex), or 2.7's
 * interpreter_lock, a pointer to the semaphore a waiter sleeps on.
 */
#define _GNU_SOURCE
#include "locks.h"

#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "core/error.h"
#include "core/hashmap.h"
#include "core/strbuf.h"
#include "core/xalloc.h"
#include "python/pyobj.h"
#include "target/elf.h"
#include "core/banned.h"

/* Candidates looked at per thread, at most. */
#define WAIT_CANDIDATES_MAX 4096
/* Attributes of an instance looked through for its lock. */
#define WAIT_ATTRS_MAX 64

const char *
py_wait_kind_name(enum py_wait_kind kind)
{
    switch (kind) {
    case PY_WAIT_LOCK:
        return "lock";
    case PY_WAIT_RLOCK:
        return "rlock";
    case PY_WAIT_GIL:
        return "gil";
    default:
        return "none";
    }
}

const char *
py_wait_kind_title(enum py_wait_kind kind)
{
    switch (kind) {
    case PY_WAIT_LOCK:
        return "Lock";
    case PY_WAIT_RLOCK:
        return "RLock";
    case PY_WAIT_GIL:
        return "the GIL";
    default:
        return "nothing";
    }
}

/* ---- the GIL ---------------------------------------------------------- */

/*
 * 2.7: the GIL is a PyThread_type_lock (a sem_t, the futex word a waiter
 * sleeps on) behind Python/ceval.c's static interpreter_lock.
 */
static int
gil_lock_holds_futex(struct py_runtime *rt, raddr_t futex, raddr_t *state)
{
    struct elf_symbol sym;
    uint64_t lock = 0;

    if (rt->elf == NULL ||
        elf_image_symbol(rt->elf, "interpreter_lock", &sym) < 0 ||
        sym.size != sizeof(lock) ||
        memsrc_read_u64(rt->mem, rt->bias + sym.value, &lock) < 0) {
        err_clear();
        return 0;
    }
    if (lock == 0 || lock != futex) {
        return 0;
    }
    *state = lock;
    return 1;
}

/* Is futex inside the GIL state of interp?  Sets *state. */
static int
gil_holds_futex(struct py_runtime *rt, raddr_t interp, raddr_t futex,
                raddr_t *state)
{
    static const char *const statics[] = {
        "gil_cond",
        "gil_mutex",
        "switch_cond",
        "switch_mutex",
    };
    const struct py_layout *l = &rt->layout;
    raddr_t gil = 0;
    size_t i;

    if (pyl_has(l->interp_ceval_gil)) {
        uint64_t p = 0;

        if (memsrc_read_u64(rt->mem, interp + l->interp_ceval_gil, &p) < 0) {
            err_clear();
            return 0;
        }
        gil = p;
    } else if (rt->runtime != 0 && pyl_has(l->rt_gil)) {
        gil = rt->runtime + (raddr_t)l->rt_gil;
    }
    if (gil != 0 && pyl_has(l->gil_size)) {
        *state = gil;
        return futex >= gil && futex - gil < (raddr_t)l->gil_size;
    }
    /* 3.6: file statics of ceval_gil.h (in .symtab). */
    for (i = 0; i < sizeof(statics) / sizeof(statics[0]); i++) {
        struct elf_symbol sym;
        raddr_t at;

        if (rt->elf == NULL ||
            elf_image_symbol(rt->elf, statics[i], &sym) < 0) {
            err_clear();
            continue;
        }
        at = rt->bias + sym.value;
        if (futex >= at && futex - at < sym.size) {
            *state = at;
            return 1;
        }
    }
    return gil_lock_holds_futex(rt, futex, state);
}

/* ---- locks ------------------------------------------------------------ */

struct search {
    struct py_objects *o;
    raddr_t futex;
    raddr_t mutex;       /* 3.14+: the PyMutex the parked thread waits for */
    struct hashmap seen; /* objects considered */
    size_t budget;
    struct py_wait *out;
};

static int
seen_before(struct search *s, raddr_t v)
{
    void **slot = hashmap_slot(&s->seen, v);

    if (*slot != NULL) {
        return 1;
    }
    *slot = s;
    return 0;
}

/*
 * Python's own RLock (2.7, or 3.x without _thread.RLock): an instance
 * whose _block (2.7: _RLock__block) is the lock found and whose _owner is
 * its holder's ident.
 */
static void
python_rlock(struct search *s, raddr_t inst)
{
    static const char *const owners[] = {"_owner", "_RLock__owner"};
    struct py_runtime *rt = s->o->rt;
    size_t i;

    for (i = 0; i < 2; i++) {
        raddr_t owner;
        int64_t ident = 0;
        const struct py_type_info *ti;

        if (py_object_getattr(&rt->reader, inst, owners[i], &owner) < 0) {
            continue;
        }
        s->out->kind = PY_WAIT_RLOCK;
        s->out->object = inst;
        if (py_objects_type(s->o, owner, &ti) == 0 && ti->kind == PY_OBJ_INT &&
            py_int_read(&rt->reader, owner, &ident) == 0) {
            s->out->owner_ident = (uint64_t)ident;
        }
        break;
    }
    err_clear();
}

/*
 * The lock found sleeping may be the one inside a Python RLock that the
 * same frame holds (2.7's _RLock.acquire calls self.__block.acquire: the
 * bound method of the lock is on the value stack, self among the locals).
 */
static void
python_rlock_around(struct search *s, const raddr_t *slots, size_t n)
{
    struct py_runtime *rt = s->o->rt;
    raddr_t lock = s->out->object;
    size_t i, k;

    for (i = 0; i < n && s->out->kind == PY_WAIT_LOCK; i++) {
        const struct py_type_info *ti;
        struct py_dict_item *items = NULL;
        size_t nitems = 0;

        if (slots[i] == 0 || slots[i] == lock ||
            py_objects_type(s->o, slots[i], &ti) < 0 ||
            ti->kind != PY_OBJ_OTHER ||
            py_object_attrs(&rt->reader, slots[i], &items, &nitems) < 0) {
            err_clear();
            continue;
        }
        for (k = 0; k < nitems && k < WAIT_ATTRS_MAX; k++) {
            if (items[k].value == lock) {
                python_rlock(s, slots[i]);
                break;
            }
        }
        free(items);
    }
}

/*
 * Is the lock object at v the one the thread sleeps on?  Its semaphore
 * (at sem, <=3.13) is the futex word, or its PyMutex (at mutex, 3.14+)
 * is the one the thread's wait entry names.
 */
static int
lock_matches(struct search *s, raddr_t v, int32_t sem, int32_t mutex)
{
    uint64_t w = 0;

    if (pyl_has(sem)) {
        return memsrc_read_u64(s->o->rt->mem, v + sem, &w) == 0 &&
               w == s->futex;
    }
    return pyl_has(mutex) && s->mutex != 0 && v + (raddr_t)mutex == s->mutex;
}

/* Does the RLock at v have a holder (whose ident is at rlock_owner)? */
static int
rlock_held(struct py_runtime *rt, raddr_t v)
{
    const struct py_layout *l = &rt->layout;

    if (pyl_has(l->rlock_count)) {
        uint64_t count = 0;

        return memsrc_read_u64(rt->mem, v + l->rlock_count, &count) == 0 &&
               count > 0;
    }
    if (pyl_has(l->rlock_mutex) && pyl_has(l->mutex_locked)) {
        uint8_t bits = 0;

        return memsrc_read(rt->mem, v + l->rlock_mutex, &bits, 1) == 0 &&
               (bits & l->mutex_locked);
    }
    return 0;
}

/* Is v the lock thread sleeps on, or does it lead to it?  1 when found. */
static int
consider(struct search *s, raddr_t v, int depth)
{
    struct py_runtime *rt = s->o->rt;
    const struct py_layout *l = &rt->layout;
    const struct py_type_info *ti;
    uint64_t w = 0;

    if (v == 0 || (v & 7) != 0 || s->budget == 0 || seen_before(s, v)) {
        return 0;
    }
    s->budget--;
    if (py_objects_type(s->o, v, &ti) < 0) {
        err_clear();
        return 0;
    }
    switch (ti->kind) {
    case PY_OBJ_LOCK:
        if (lock_matches(s, v, l->lock_sem, l->lock_mutex)) {
            s->out->kind = PY_WAIT_LOCK;
            s->out->object = v;
            return 1;
        }
        break;
    case PY_OBJ_RLOCK:
        if (lock_matches(s, v, l->rlock_sem, l->rlock_mutex)) {
            s->out->kind = PY_WAIT_RLOCK;
            s->out->object = v;
            if (rlock_held(rt, v)) {
                memsrc_read_u64(rt->mem, v + l->rlock_owner,
                                &s->out->owner_ident);
            }
            return 1;
        }
        break;
    case PY_OBJ_CELL:
        if (memsrc_read_u64(rt->mem, v + l->cell_ref, &w) == 0) {
            return consider(s, w, depth);
        }
        break;
    case PY_OBJ_METHOD:
        if (depth < 2 &&
            memsrc_read_u64(rt->mem, v + l->method_self, &w) == 0) {
            return consider(s, w, depth + 1);
        }
        break;
    case PY_OBJ_CMETHOD:
        if (depth < 2 &&
            memsrc_read_u64(rt->mem, v + l->cfunc_self, &w) == 0) {
            return consider(s, w, depth + 1);
        }
        break;
    case PY_OBJ_OTHER:
        if (depth < 2) {
            struct py_dict_item *items = NULL;
            size_t n = 0, i;

            if (py_object_attrs(&rt->reader, v, &items, &n) < 0) {
                n = 0;
            }
            for (i = 0; i < n && i < WAIT_ATTRS_MAX; i++) {
                if (consider(s, items[i].value, depth + 1)) {
                    if (s->out->kind == PY_WAIT_LOCK) {
                        python_rlock(s, v);
                    }
                    free(items);
                    return 1;
                }
            }
            free(items);
        }
        break;
    default:
        break;
    }
    err_clear();
    return 0;
}

void
py_wait_find(struct py_objects *o, const struct py_thread *t,
             const struct target_regs *regs, const struct py_frame *frames,
             size_t nframes, struct py_wait *out)
{
    struct py_runtime *rt = o->rt;
    struct search s;
    size_t i, j;

    memset(out, 0, sizeof(*out));
    if (regs->syscall != SYS_futex || regs->args[0] == 0) {
        return;
    }
    out->futex = regs->args[0];
    if (gil_holds_futex(rt, t->interp, out->futex, &out->object)) {
        out->kind = PY_WAIT_GIL;
        return;
    }
    memset(&s, 0, sizeof(s));
    hashmap_init(&s.seen);
    s.o = o;
    s.futex = out->futex;
    if (pyl_has(rt->layout.parking_addr)) {
        /* 3.14+: parked on its own semaphore, in a wait entry on its
         * stack that names the mutex it waits for. */
        uint64_t m = 0;

        if (memsrc_read_u64(
                rt->mem, s.futex + (raddr_t)(int64_t)rt->layout.parking_addr,
                &m) == 0) {
            s.mutex = m;
        }
        err_clear();
    }
    s.budget = WAIT_CANDIDATES_MAX;
    s.out = out;
    for (i = 0; i < nframes && i < PY_WAIT_FRAMES; i++) {
        raddr_t *slots = NULL;
        size_t n = 0, nvars = 0;
        int found = 0;

        if (py_frame_slots(o, &frames[i], &slots, &n, &nvars) < 0) {
            err_clear();
            continue;
        }
        /* The value stack first, from its top down: the call in
         * progress keeps its callable and self there. */
        for (j = n; j-- > 0 && !found;) {
            found = consider(&s, slots[j], 0);
        }
        if (found && out->kind == PY_WAIT_LOCK) {
            python_rlock_around(&s, slots, n);
        }
        free(slots);
        if (found) {
            break;
        }
    }
    hashmap_release(&s.seen);
    if (out->kind == PY_WAIT_NONE) {
        out->futex = 0;
    }
}

/* ---- deadlocks -------------------------------------------------------- */

static size_t
index_of(const long *tids, size_t n, long tid)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (tids[i] == tid) {
            return i;
        }
    }
    return n;
}

static void
describe(struct strbuf *sb, const long *tids, const char *const *functions,
         size_t i)
{
    strbuf_addf(sb, "thread %ld", tids[i]);
    if (functions[i] != NULL) {
        strbuf_addf(sb, " `%s`", functions[i]);
    }
}

void
py_deadlocks_find(const long *tids, const struct py_wait *waits,
                  const char *const *functions, size_t n,
                  struct py_deadlocks *out)
{
    /* Each thread waits for at most one other: follow the edges, and a
     * walk that comes back to where it started is a cycle. */
    size_t *next = xmalloc((n ? n : 1) * sizeof(*next));
    unsigned char *done = xcalloc(n ? n : 1, 1);
    size_t i, k;

    for (i = 0; i < n; i++) {
        next[i] = n;
        if (waits[i].kind != PY_WAIT_NONE && waits[i].owner_tid != 0 &&
            waits[i].owner_tid != tids[i]) {
            next[i] = index_of(tids, n, waits[i].owner_tid);
        }
    }
    for (i = 0; i < n; i++) {
        size_t at = i, steps, start, lowest;
        struct py_deadlock *d;
        struct strbuf text = STRBUF_INIT;

        /* n steps from i land inside a cycle, if there is one ahead. */
        for (steps = 0; steps < n && at < n; steps++) {
            at = next[at];
        }
        if (at >= n || done[at]) {
            continue;
        }
        /* Start the cycle at its lowest thread id. */
        start = at;
        lowest = at;
        do {
            if (tids[at] < tids[lowest]) {
                lowest = at;
            }
            done[at] = 1;
            at = next[at];
        } while (at != start);
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
        d = &out->v[out->n++];
        memset(d, 0, sizeof(*d));
        at = lowest;
        do {
            d->tids = xrealloc(d->tids, (d->n + 1) * sizeof(*d->tids));
            d->tids[d->n++] = tids[at];
            if (at == lowest) {
                describe(&text, tids, functions, at);
            }
            strbuf_addf(&text, " waits for %s",
                        py_wait_kind_title(waits[at].kind));
            if (waits[at].kind != PY_WAIT_GIL) {
                strbuf_addf(&text, " %#llx",
                            (unsigned long long)waits[at].object);
            }
            strbuf_addstr(&text, " held by ");
            k = next[at];
            if (k == lowest) {
                strbuf_addf(&text, "thread %ld", tids[k]);
            } else {
                describe(&text, tids, functions, k);
                strbuf_addstr(&text, ", which");
            }
            at = k;
        } while (at != lowest);
        d->text = strbuf_detach(&text);
    }
    free(next);
    free(done);
}

void
py_deadlocks_release(struct py_deadlocks *d)
{
    size_t i;

    for (i = 0; i < d->n; i++) {
        free(d->v[i].tids);
        free(d->v[i].text);
    }
    free(d->v);
    d->v = NULL;
    d->n = 0;
}
