/*
 * locals.h - a frame's arguments and local variables, and short safe
 * renderings of the objects they hold.
 *
 * Layer: python.  The variables come from the frame's fast locals and
 * cells, named by the code object: co_varnames, co_cellvars and
 * co_freevars over PyFrameObject.f_localsplus (<=3.10), or
 * co_localsplusnames and co_localspluskinds over the localsplus of a
 * _PyInterpreterFrame (3.11+).  A cell is looked through to its value.
 * Nothing is called in the target: a rendering is what the memory says,
 * for None, bool, int, float, str and bytes (cut at a length), and
 * `TYPE at 0x...` (with len for containers) for everything else.
 *
 * Objects are untrusted: an object that cannot be read renders as
 * `<unreadable at 0x...>`, never an error for the whole frame.
 */
#ifndef PYSPECT_PYTHON_LOCALS_H
#define PYSPECT_PYTHON_LOCALS_H

#include <stddef.h>
#include <stdint.h>

#include "core/hashmap.h"
#include "core/strbuf.h"
#include "python/runtime.h"
#include "python/stack.h"

/* Longest renderings: code points of a str, bytes of a bytes. */
#define PY_REPR_STR_MAX 80
#define PY_REPR_BYTES_MAX 64
/* Most slots (variables and value stack) read of one frame. */
#define PY_FRAME_SLOTS_MAX 4096

/* What pyspect recognises an object as (static types only: a class a
 * program defines never passes for a builtin). */
enum py_obj_kind {
    PY_OBJ_OTHER,
    PY_OBJ_NONE,
    PY_OBJ_BOOL,
    PY_OBJ_INT,
    PY_OBJ_FLOAT,
    PY_OBJ_STR,
    PY_OBJ_BYTES,
    PY_OBJ_LIST,
    PY_OBJ_TUPLE,
    PY_OBJ_DICT,
    PY_OBJ_SET,
    PY_OBJ_CELL,
    PY_OBJ_METHOD,  /* a bound method of a Python function */
    PY_OBJ_CMETHOD, /* a builtin function or method (m_self) */
    PY_OBJ_LOCK,    /* _thread.lock */
    PY_OBJ_RLOCK,   /* _thread.RLock */
    PY_OBJ_UNICODE, /* 2.7's unicode (its str is bytes) */
    PY_OBJ_LONG,    /* 2.7's long (its int is a C long) */
};

struct py_type_info {
    char *name; /* tp_name */
    enum py_obj_kind kind;
};

/* Object reading with a cache of the types seen, for one snapshot. */
struct py_objects {
    struct py_runtime *rt;
    struct hashmap types; /* type address -> struct py_type_info */
};

void py_objects_init(struct py_objects *o, struct py_runtime *rt);
void py_objects_release(struct py_objects *o);

/* The type of the object at obj.  PS_EFAULT, PS_ECORRUPT. */
int py_objects_type(struct py_objects *o, raddr_t obj,
                    const struct py_type_info **out);

/*
 * A short rendering of the object at obj appended to repr (never more
 * than about PY_REPR_STR_MAX * 4 bytes).  Always succeeds: an object
 * that cannot be read says so in the text.
 */
void py_objects_render(struct py_objects *o, raddr_t obj, struct strbuf *repr);

struct py_local {
    char *name;
    char *type; /* type name */
    char *repr;
    int argument; /* an argument of the function (else a local) */
};

struct py_locals {
    struct py_local *v;
    size_t n;
    size_t alloc;
};

/* clang-format off */
#define PY_LOCALS_INIT {NULL, 0, 0}
/* clang-format on */

/*
 * The bound arguments and locals of frame f (from py_stack_read()),
 * arguments first, in the code object's order; unbound ones are left
 * out.  Appends to out.  PS_EFAULT, PS_ECORRUPT, PS_ECHANGED when the
 * frame cannot be read.
 */
int py_frame_locals(struct py_objects *o, const struct py_frame *f,
                    struct py_locals *out);
void py_locals_release(struct py_locals *l);

/*
 * The raw slots of frame f: its variables (cells not looked through) and
 * then its value stack, up to co_stacksize, whose slots above the live
 * top hold whatever they last held.  *slots is malloc'd; *nvars of them
 * are variables.  For finding what a frame works on (a lock it waits
 * for): treat every value as a guess.
 */
int py_frame_slots(struct py_objects *o, const struct py_frame *f,
                   raddr_t **slots, size_t *n, size_t *nvars);

#endif /* PYSPECT_PYTHON_LOCALS_H */
