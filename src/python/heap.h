/*
 * heap.h - a census of every object in a live process, by type.
 *
 * Layer: python.  py_heap_take() pauses the target (ptrace seize and
 * interrupt; the pause is measured and reported), reads the collector's
 * state, walks every generation list (permanent included), counts the
 * objects on them and the untracked objects they refer to (census.h), and
 * resumes the target before anything is formatted.  If pyspect dies at
 * any instant the kernel detaches and the target carries on.
 *
 * The session functions are the shared part, also used by the
 * back-reference search (refs.h).
 */
#ifndef PYSPECT_PYTHON_HEAP_H
#define PYSPECT_PYTHON_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "python/census.h"
#include "python/gc.h"
#include "python/runtime.h"
#include "target/maps.h"

/* Chunk cache used for the walk: block size and memory budget. */
#define PY_HEAP_CHUNK (16u << 10)
#define PY_HEAP_CACHE (32u << 20)
/* Pauses tried while the collector is running (its lists are spliced
 * then); the target runs about a millisecond between tries. */
#define PY_HEAP_ATTEMPTS 100

/* One row of the table: every type with this module and name. */
struct py_heap_type {
    char *name;   /* type(o).__name__ */
    char *module; /* type(o).__module__ */
    uint64_t count, bytes;
    uint64_t tracked; /* instances on the GC's lists */
    size_t classes;   /* distinct type objects with this name */
};

struct py_heap_stats {
    double paused_ms; /* the target was stopped this long */
    double walk_ms;   /* of which the GC lists and the census */
    double cpu_ms;    /* pyspect's CPU time over the pause */
    int attempts;     /* pauses taken (a running collection retries) */
    uint64_t reads;   /* reads that reached the target */
    uint64_t bytes;   /* bytes copied from it */
    uint64_t reread;  /* of which chunks read again after an eviction */
    uint64_t links;   /* links of the collector's lists read */
    uint64_t levels;  /* breadth-first levels walked */
    size_t memory;    /* pyspect's bookkeeping: sets, caches, types */
    uint64_t unreadable, partial;
    int truncated;
};

struct py_heap {
    struct py_heap_type *types; /* by bytes, largest first */
    size_t ntypes;
    uint64_t objects, bytes, tracked;
    struct py_gc_state gc; /* the main interpreter's */
    size_t interpreters;
    int gc_running;   /* a collection was running through every attempt */
    int list_error;   /* 0, or why a generation list was cut short */
    uint64_t garbage; /* len(gc.garbage) */
    struct py_heap_type *garbage_types;
    size_t ngarbage_types;
    struct py_heap_stats stats;
};

int py_heap_take(struct py_runtime *rt, struct py_heap *out);
void py_heap_release(struct py_heap *h);

/* ---- shared by heap and refs ------------------------------------------ */

struct py_heap_session {
    struct py_runtime *rt;
    struct maps maps; /* the paused target's */
    struct memsrc *chunks;
    struct py_gc_state *gcs; /* [0]: the main interpreter */
    size_t ngcs;
    struct census_builtins builtins;
    int attempts;
    int gc_running;
    uint64_t start_reads, start_bytes, start_cpu_ns, walk_start_ns;
};

/*
 * Pause the target and read its GC state, retrying (briefly resumed)
 * while a collection is running.  On error nothing stays paused.
 */
int py_heap_session_begin(struct py_runtime *rt, struct py_heap_session *s);

/* Walk every generation list of every interpreter into c. */
int py_heap_session_walk_gc(struct py_heap_session *s, struct census *c,
                            struct py_gc_reader *reader);

/* Resume the target (if still paused) and fill st's pause figures. */
void py_heap_session_resume(struct py_heap_session *s,
                            struct py_heap_stats *st);
/* PS_EEXITED when the target is gone (its reads failed for that). */
int py_heap_session_check_alive(struct py_heap_session *s);
void py_heap_session_release(struct py_heap_session *s);

/*
 * Rows of the census table, merged by (module, name), sorted by bytes.
 * *rows is malloc'd (py_heap_types_free).
 */
void py_heap_rows(const struct census *c, struct py_heap_type **rows,
                  size_t *n);
void py_heap_types_free(struct py_heap_type *rows, size_t n);

#endif /* PYSPECT_PYTHON_HEAP_H */
