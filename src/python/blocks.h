/*
 * blocks.h - which blocks of allocator memory hold Python objects.
 *
 * Layer: python.  Given the first bytes of a block (a malloc chunk, an
 * mmapped block), decide whether a Python object starts there and of
 * which type.  An object starts at the block (objects without GC), after
 * the GC header (GC objects), or after the GC header and the managed-dict
 * pre-header (3.11+); its ob_type must be a type object (its own type is
 * `type` or a metaclass whose type is `type`) whose flags agree with
 * where the object was found (GC or not, managed dict or not), whose
 * basic size fits the block, and whose reference count is plausible.
 * Types are checked once and cached; so are addresses that are not
 * types.
 */
#ifndef PYSPECT_PYTHON_BLOCKS_H
#define PYSPECT_PYTHON_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "core/hashmap.h"
#include "python/runtime.h"

/* Distinct addresses remembered as "not a type" before the cache of
 * negatives is cleared (random words in non-object blocks). */
#define PY_CENSUS_MAX_NEGATIVE (1u << 16)

struct py_blocks_type {
    raddr_t type;
    char *name;
    uint64_t basicsize;
    unsigned long flags;
    uint64_t count;
    uint64_t bytes;
};

struct py_blocks {
    struct py_runtime *rt;
    raddr_t type_type;            /* &PyType_Type */
    struct hashmap types;         /* address -> struct py_blocks_type * */
    struct hashmap not_types;     /* address -> non-NULL marker */
    uint64_t objects, bytes;      /* blocks classified as objects */
    uint64_t blocks, block_bytes; /* every block looked at */
    uint64_t type_checks;
};

/* PS_ENOTFOUND when PyType_Type cannot be found. */
int py_blocks_init(struct py_blocks *c, struct py_runtime *rt);
void py_blocks_release(struct py_blocks *c);

/*
 * Look at one block of size bytes whose data (after the allocator's
 * header) starts at addr; data holds its first len bytes.  Returns 1 and
 * counts it under its type when a Python object starts there.
 */
int py_blocks_block(struct py_blocks *c, raddr_t addr, uint64_t size,
                    const unsigned char *data, size_t len);

/* The types seen, largest bytes first (*out malloc'd, entries owned by
 * the census). */
void py_blocks_types(const struct py_blocks *c, struct py_blocks_type ***out,
                     size_t *n);

#endif /* PYSPECT_PYTHON_BLOCKS_H */
