/*
 * census.h - every object of a paused heap: its type, its size as
 * sys.getsizeof() gives it, and the objects it refers to.
 *
 * Layer: python.  A census starts from objects it is given (the GC's
 * lists, or roots) and follows references level by level, breadth first.
 * Each level is a set of addresses visited in address order, so target
 * memory is read front to back through a chunk cache instead of object
 * by object.  A plain census (no parents kept) counts the objects of the
 * GC's lists as the list walk gives them, while their chunks are cached,
 * and what they refer to nearby with them; only what lies far away waits
 * for a level.  Every object is counted once (a bitmap of addresses
 * seen).
 *
 * What "refers to" means is fixed and documented, because the end-to-end
 * tests rebuild it inside the target with gc.get_referents():
 *   list, tuple          their items
 *   dict                 keys and values
 *   set, frozenset       members
 *   instances of classes __slots__ members, the __dict__ (or, 3.11+, the
 *                        values kept without one), then what their
 *                        builtin base holds (a list subclass: its items);
 *                        a class is a type made by a class statement
 *                        (its tp_traverse is subtype_traverse): what the
 *                        C code of extension types holds is not visible
 *   classes              __dict__, __mro__, __bases__, __base__, the
 *                        type cache and (3.9+) the defining module
 *   functions            every field func_traverse visits (__code__,
 *                        __globals__, __defaults__, __name__, __doc__...)
 *   bound methods        __func__, __self__ (2.7: and im_class)
 *   cells                cell_contents
 *   modules              __dict__
 *   2.7's old-style      their class and __dict__; such an instance
 *     instances          (all of type `instance`) is counted under its
 *                        class's module and name, as guppy does
 *   2.7's old-style      __bases__, __dict__, __name__ and the
 *     classes            __getattr__/__setattr__/__delattr__ they cache
 * plus, with CENSUS_FOLLOW_FRAMES (back-reference search), the locals of
 * frame objects and suspended generators.  An object's type is not a
 * reference it holds.
 *
 * Values read from the target are checked; an object whose type is not
 * a type object is counted as unreadable, not followed.
 */
#ifndef PYSPECT_PYTHON_CENSUS_H
#define PYSPECT_PYTHON_CENSUS_H

#include <stddef.h>
#include <stdint.h>

#include "core/addrset.h"
#include "core/hashmap.h"
#include "core/strbuf.h"
#include "python/runtime.h"

/* What an object is, for its size and its references: its nearest
 * builtin base. */
enum census_kind {
    CENSUS_OBJECT, /* anything else */
    CENSUS_TYPE,
    CENSUS_STR,
    CENSUS_BYTES,
    CENSUS_INT,
    CENSUS_FLOAT,
    CENSUS_TUPLE,
    CENSUS_LIST,
    CENSUS_DICT,
    CENSUS_SET,
    CENSUS_FROZENSET,
    CENSUS_BYTEARRAY,
    CENSUS_FUNCTION,
    CENSUS_METHOD,
    CENSUS_CELL,
    CENSUS_MODULE,
    CENSUS_CODE,
    CENSUS_FRAME,
    CENSUS_GENERATOR,
    CENSUS_COROUTINE,
    CENSUS_ASYNCGEN,
    CENSUS_INT27,    /* 2.7's int (a C long; `long` is CENSUS_INT) */
    CENSUS_INSTANCE, /* 2.7's old-style instance */
    CENSUS_CLASSOBJ, /* 2.7's old-style class */
    CENSUS_KINDS
};

/* Addresses of the builtin types in the target (0 when unknown). */
struct census_builtins {
    raddr_t types[CENSUS_KINDS]; /* [CENSUS_OBJECT] is `object` */
    raddr_t set_dummy;           /* the dummy key of set tables */
    /* tp_traverse of classes made by a class statement (subtype_traverse,
     * a static function): read from importlib's ModuleSpec class, which
     * every CPython has; 0 when it cannot be found. */
    raddr_t subtype_traverse;
};

/*
 * Look the builtin types up by symbol, and subtype_traverse through
 * sys.modules (best read with the target paused).
 */
int census_builtins_find(struct py_runtime *rt, struct census_builtins *b);

/* One type object of the target and what the census found of it. */
struct census_type {
    raddr_t addr;
    int valid;    /* 0: not a type object; its "instances" are unreadable */
    char *name;   /* type(o).__name__ */
    char *module; /* type(o).__module__ */
    int kind;
    uint64_t flags;
    int64_t basicsize, itemsize, dictoffset;
    int heap, have_gc;
    int heap_class;        /* made by a class statement */
    int ndarray;           /* numpy.ndarray or a subclass */
    int own_dict;          /* instances keep a __dict__ a class added */
    raddr_t cached_keys;   /* heap types: shared keys of instance dicts */
    int64_t keys_nentries; /* of cached_keys, -1 until read */
    int32_t *slot_offsets; /* __slots__ members along the class chain */
    raddr_t *slot_names;   /* their names (str objects) */
    size_t nslots;
    /* Results. */
    uint64_t count, bytes, tracked;
};

/* How one object refers to another (for back-reference labels). */
enum census_edge {
    CENSUS_EDGE_ITEM,   /* list or tuple [index] */
    CENSUS_EDGE_KEY,    /* a dict's key */
    CENSUS_EDGE_VALUE,  /* a dict's value; key: the key object */
    CENSUS_EDGE_MEMBER, /* a set member */
    CENSUS_EDGE_ATTR,   /* instance attribute; key: its name (a str) */
    CENSUS_EDGE_DICT,   /* an object's __dict__ */
    CENSUS_EDGE_SLOT,   /* a __slots__ member; key: its name (a str) */
    CENSUS_EDGE_FIELD,  /* a C field; field: "__code__", ... */
    CENSUS_EDGE_LOCAL,  /* a frame's local; key: its name (a str) */
};

struct census_ref {
    raddr_t to;
    int edge;
    uint64_t index;
    raddr_t key;
    const char *field;
};

typedef void (*census_ref_fn)(void *arg, const struct census_ref *ref);

enum {
    CENSUS_FOLLOW_FRAMES = 1 << 0, /* frame and generator locals */
    CENSUS_PARENTS = 1 << 1,       /* remember who queued each object */
};

/* Parent tags (struct census.parents values that are not addresses). */
#define CENSUS_PARENT_ORPHAN ((uint64_t)2)
#define CENSUS_PARENT_ROOT(i) (((uint64_t)(i) << 3) | 1)
#define CENSUS_PARENT_IS_ROOT(p) (((p)&7) == 1)
#define CENSUS_PARENT_ROOT_INDEX(p) ((p) >> 3)

/* Levels a census walks at most (a chain of nested containers). */
#define CENSUS_LEVELS_MAX (1u << 20)

struct census {
    struct py_runtime *rt;
    struct memsrc *mem;      /* where objects are read (a chunk cache) */
    struct py_reader reader; /* pyobj's readers, over mem */
    const struct py_layout *l;
    struct census_builtins b;
    unsigned flags;
    struct hashmap types; /* type address -> struct census_type * */
    /* 2.7: old-style class address -> the struct census_type its
     * instances are counted under (kind CENSUS_INSTANCE). */
    struct hashmap classes;
    struct census_type *type_cache[256]; /* direct-mapped, by address */
    struct addrset tracked;              /* objects on the GC's lists */
    struct addrset seen;                 /* objects counted or queued */
    struct addrset frontier;             /* the level being walked */
    struct addrset next;                 /* the level being found */
    struct hashmap parents;              /* CENSUS_PARENTS: object -> parent */
    uint64_t parent;                     /* parent of what is queued now */
    struct hashmap codes; /* code object -> frame slot count + 1 */
    /* numpy: the ndarray type once seen, and the major version of the
     * numpy loaded (-1 until looked up, 0 when unknown). */
    raddr_t ndarray_type;
    int numpy_major;
    /* Totals. */
    uint64_t objects, bytes, tracked_objects;
    uint64_t unreadable; /* queued, but not readable as an object */
    uint64_t partial;    /* counted, but their contents were unreadable */
    uint64_t levels;
    int truncated; /* CENSUS_LEVELS_MAX reached */
    /* Called for every object counted (may be NULL). */
    void (*on_object)(void *arg, raddr_t obj, struct census_type *t,
                      uint64_t size);
    void *on_object_arg;
    /* Objects found in memory already copied, visited at once (a plain
     * census needs no breadth-first order). */
    uint64_t *stack;
    size_t nstack, stack_alloc;
    /* Scratch. */
    uint64_t *ptrs;
    size_t ptrs_alloc;
    unsigned char *buf;
    size_t buf_alloc;
};

void census_init(struct census *c, struct py_runtime *rt, struct memsrc *mem,
                 const struct census_builtins *b, unsigned flags);
void census_release(struct census *c);

/*
 * An object on a GC list.  Returns 0, or 1 when it was given before (the
 * list loops).  A plain census counts it at once, with what it refers to
 * near it; the rest waits for census_run().
 */
int census_add_tracked(struct census *c, raddr_t obj);

/* Queue obj (if not seen yet) with the given parent. */
void census_queue(struct census *c, raddr_t obj, uint64_t parent);

/* Queue every tracked object not seen yet, as an orphan. */
void census_queue_unseen_tracked(struct census *c);

/* Walk level after level until nothing is left.  0 or an error. */
int census_run(struct census *c);

/* The type at addr (cached); NULL for an implausible address. */
struct census_type *census_type_get(struct census *c, raddr_t addr);

/* The type of the object at obj.  PS_ECORRUPT when it has none. */
int census_object_type(struct census *c, raddr_t obj, struct census_type **t);

/* The references obj holds, as the census follows them. */
int census_referents(struct census *c, raddr_t obj, census_ref_fn fn,
                     void *arg);

/*
 * The locals of a frame as references (CENSUS_EDGE_LOCAL, key = name):
 * a PyFrameObject (<= 3.10) or a _PyInterpreterFrame (3.11+).
 */
int census_frame_locals(struct census *c, raddr_t frame, census_ref_fn fn,
                        void *arg);

/* All types seen, in no particular order; *types is malloc'd. */
void census_types(const struct census *c, struct census_type ***types,
                  size_t *n);

/* Bytes of memory the census holds (sets, maps, types). */
size_t census_memory(const struct census *c);

#endif /* PYSPECT_PYTHON_CENSUS_H */
