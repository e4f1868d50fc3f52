/*
 * refs.h - who keeps instances of a type alive: shortest reference chains
 * back to a root.
 *
 * Layer: python.  objgraph's find_backref_chain / show_backrefs, from
 * outside the process.  The target is paused; every object reachable from
 * the roots is visited breadth first (census.h, following frame and
 * generator locals too), remembering which object first reached each one,
 * so the chain from an instance back through those parents is a shortest
 * one.  Roots are each module (sys.modules) and each frame of each
 * thread; a chain also stops at the first class it meets (an instance
 * held in a class attribute is held by that class).  Tracked objects no
 * root reaches are walked last, as orphans: their chains start at an
 * object nothing visible holds (C code does, or it is garbage waiting
 * for the collector).
 *
 * Instances are grouped by the shape of their chain (the types along
 * it), and one example chain per shape is described hop by hop.
 */
#ifndef PYSPECT_PYTHON_REFS_H
#define PYSPECT_PYTHON_REFS_H

#include <stddef.h>
#include <stdint.h>

#include "python/heap.h"
#include "python/runtime.h"

/* Hops a chain may have. */
#define PY_REFS_DEPTH_MAX 256

enum py_refs_root_kind {
    PY_REFS_MODULE,    /* a module's globals */
    PY_REFS_FRAME,     /* a thread's frame */
    PY_REFS_CLASS,     /* a class (its attributes) */
    PY_REFS_UNREACHED, /* no root reaches it */
};

struct py_refs_hop {
    raddr_t obj;
    char *type;  /* "module.Name" or "Name" for builtins */
    char *what;  /* a short description: len, name, value... or NULL */
    char *label; /* how the previous hop holds this one: "['k']", ".x",
                    "[3]", "local 'v'"; NULL on the first hop */
};

struct py_refs_chain {
    int root_kind;
    char *root; /* "module app.cache", "thread 42 frame run (a.py:7)" */
    char *path; /* a Python-like expression: app.cache.registry['k'][3] */
    struct py_refs_hop *hops; /* root side first, the instance last */
    size_t nhops;
    int truncated; /* longer than PY_REFS_DEPTH_MAX */
    uint64_t same; /* instances whose chain has this shape */
};

struct py_refs {
    char *type;                   /* the type searched for, as matched */
    char *module;                 /* its module */
    size_t classes;               /* type objects with that name */
    uint64_t instances;           /* objects of that type */
    uint64_t unreached;           /* of which no root reaches */
    struct py_refs_chain *chains; /* most common shapes first */
    size_t nchains;
    uint64_t shapes; /* distinct shapes */
    char **close;    /* when nothing matched: type names close to it */
    size_t nclose;
    uint64_t objects; /* objects walked */
    struct py_heap_stats stats;
};

/*
 * Find instances of the type named name ("Name" or "module.Name") and up
 * to max example chains.  PS_ENOTFOUND (with out->close filled) when no
 * object has that type.
 */
int py_refs_find(struct py_runtime *rt, const char *name, size_t max,
                 struct py_refs *out);
void py_refs_release(struct py_refs *r);

/* Edit distance (case-insensitive) used to suggest close names. */
size_t py_refs_distance(const char *a, const char *b);

#endif /* PYSPECT_PYTHON_REFS_H */
