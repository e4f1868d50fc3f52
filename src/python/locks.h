/*
 * locks.h - what a blocked thread waits for, who holds it, and the
 * deadlocks those waits form.
 *
 * Layer: python.  A thread blocked acquiring a threading lock, or
 * waiting for the GIL, sleeps in the kernel on a futex word; its
 * registers name the word (the first argument of the futex call).
 *   The GIL: the word lies inside the interpreter's GIL state (its
 *     condition variables and mutexes).  The holder is the thread that
 *     holds the GIL.
 *   A lock: every threading primitive ends in a _thread.lock or
 *     _thread.RLock (Lock, RLock, Condition, Semaphore, Event, Queue,
 *     Thread.join), whose semaphore is the word (<=3.13); from 3.14 the
 *     lock is a PyMutex and the word is the parked thread's own
 *     semaphore, in a wait entry on its stack that names the mutex.
 *     Which object it is comes from the thread's innermost Python
 *     frames: their variables and value stacks (where a call keeps its
 *     callable and self) hold the lock, or a bound method of it, or an
 *     object with it as an attribute; a candidate is taken only when
 *     its own semaphore, or mutex, is the very one the thread sleeps on.
 *     An RLock records its holder's ident; a Lock records none.
 * Waits whose holders wait in turn, back to the first thread, are a
 * deadlock.
 */
#ifndef PYSPECT_PYTHON_LOCKS_H
#define PYSPECT_PYTHON_LOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "python/locals.h"
#include "python/runtime.h"
#include "python/stack.h"
#include "target/target.h"

/* Python frames searched for the lock, innermost first. */
#define PY_WAIT_FRAMES 3

enum py_wait_kind {
    PY_WAIT_NONE,
    PY_WAIT_LOCK,  /* a _thread.lock: no owner recorded */
    PY_WAIT_RLOCK, /* a _thread.RLock: owner_ident */
    PY_WAIT_GIL,   /* the GIL: owner_tstate */
};

struct py_wait {
    enum py_wait_kind kind;
    raddr_t object;       /* the lock object, or the GIL's state */
    raddr_t futex;        /* the word the thread sleeps on */
    uint64_t owner_ident; /* RLock: its holder's ident, 0 when free */
    raddr_t owner_tstate; /* GIL: its holder's thread state, 0 none */
    long owner_tid;       /* the holder's kernel id, when known */
};

/* "lock", "rlock", "gil" (JSON) and "Lock", "RLock", "the GIL" (text). */
const char *py_wait_kind_name(enum py_wait_kind kind);
const char *py_wait_kind_title(enum py_wait_kind kind);

/*
 * What thread t (registers regs, Python frames innermost first) waits
 * for: out->kind PY_WAIT_NONE when it is not blocked on a futex, or on
 * one pyspect cannot name.  Reads a few objects; never fails.
 */
void py_wait_find(struct py_objects *o, const struct py_thread *t,
                  const struct target_regs *regs,
                  const struct py_frame *frames, size_t nframes,
                  struct py_wait *out);

struct py_deadlock {
    long *tids; /* the threads of the cycle, from the lowest tid */
    size_t n;
    char *text; /* "thread 4243 `f` waits for RLock 0x.. held by ..." */
};

struct py_deadlocks {
    struct py_deadlock *v;
    size_t n;
};

/*
 * The cycles of the wait-for graph: thread i waits for waits[i], held by
 * the thread with kernel id waits[i].owner_tid.  tids[i] and
 * functions[i] (the innermost Python function, or NULL) say who thread i
 * is.  Appends to out.
 */
void py_deadlocks_find(const long *tids, const struct py_wait *waits,
                       const char *const *functions, size_t n,
                       struct py_deadlocks *out);
void py_deadlocks_release(struct py_deadlocks *d);

#endif /* PYSPECT_PYTHON_LOCKS_H */
