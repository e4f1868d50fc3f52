/*
 * gc.h - the cyclic garbage collector's state and object lists.
 *
 * Layer: python.  Where the state lives depends on the version: static
 * globals in 3.6 (the generations through the exported
 * _PyGC_generation0; `enabled`, `collecting` and `garbage` only with a
 * .symtab), _PyRuntime.gc in 3.7-3.8, and each interpreter's gc from 3.9.
 * py_gc_walk() follows one generation's list from its head, reading the
 * list links through a chunk cache (a pymalloc pool holds many nodes),
 * so a walk over a million objects costs a few thousand reads, not a
 * million.
 *
 * Every walk is bounded and refuses loops; the target should be paused.
 */
#ifndef PYSPECT_PYTHON_GC_H
#define PYSPECT_PYTHON_GC_H

#include <stddef.h>
#include <stdint.h>

#include "core/hashmap.h"
#include "python/runtime.h"

#define PY_GC_GENERATIONS 3
/* Most objects one list walk accepts. */
#define PY_GC_LIST_MAX (1ull << 34)

struct py_gc_generation {
    raddr_t head; /* &head (a PyGC_Head) */
    int threshold;
    int count;
    uint64_t objects; /* nodes found by py_gc_walk() */
    int error;        /* 0, or why the walk of this list stopped early */
};

struct py_gc_state {
    raddr_t interp; /* the interpreter (3.9+), else 0 */
    raddr_t state;  /* &struct _gc_runtime_state, 0 on 3.6 */
    int enabled;    /* 1, 0, or -1 when unknown (3.6 without .symtab) */
    int collecting; /* 1, 0, or -1 when unknown */
    struct py_gc_generation gens[PY_GC_GENERATIONS];
    int has_permanent; /* 3.7+: gc.freeze()'s permanent generation */
    struct py_gc_generation permanent;
    raddr_t garbage; /* the gc.garbage list, 0 when unknown */
};

/*
 * The GC states of the target: one per interpreter from 3.9, else one.
 * (*states)[0] is the main interpreter's.  *states is malloc'd.
 */
int py_gc_states(struct py_runtime *rt, struct py_gc_state **states,
                 size_t *n);

/*
 * Reads of list links.  mem is where they are read: a chunk cache over
 * rt->proc (memsrc_chunks_new()), or any memsrc.
 */
struct py_gc_reader {
    struct py_runtime *rt;
    struct memsrc *mem;
    uint64_t links; /* link words read */
};

void py_gc_reader_init(struct py_gc_reader *r, struct py_runtime *rt,
                       struct memsrc *mem);
void py_gc_reader_release(struct py_gc_reader *r);

/*
 * Walk one generation's list: fn(arg, object) for every object on it,
 * in list order.  fn returns 0 to go on, 1 when it has seen the object
 * before (a loop: the walk stops with PS_ECORRUPT), or a negative error
 * to stop.  gen->objects counts the nodes; gen->error records how the
 * walk ended.  Returns 0 or that error.
 */
int py_gc_walk(struct py_gc_reader *r, struct py_gc_generation *gen,
               int (*fn)(void *arg, raddr_t obj), void *arg);

#endif /* PYSPECT_PYTHON_GC_H */
