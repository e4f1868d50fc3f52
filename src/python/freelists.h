/*
 * freelists.h - Python 2.7's int and float free-list blocks.
 *
 * Layer: python.  2.7 allocates ints and floats outside pymalloc: malloc
 * blocks of about 1000 bytes (PyIntBlock, PyFloatBlock: a link to the
 * previous block, then 41 objects of 24 bytes), each object alive or on
 * the type's free list.  A block goes back to malloc only when a full
 * collection (gc.collect(), or the collector reaching its oldest
 * generation) finds it without a live object; until then a program that
 * once held many ints keeps their blocks.
 *
 * The blocks are found among malloc's chunks, by content: a chunk of the
 * block's size whose every slot is a live object of the type (the type's
 * address, a plausible reference count) or a free slot (a link that is
 * NULL or the address of a slot of another such block), whose link to
 * the previous block leads to another such block, and that does not mix
 * ints and floats.  Links are checked against the set that first look
 * kept, so memory that merely looks like slots drops out.  No symbol is
 * needed (block_list and free_list are statics with the same names in
 * both files).  On 64-bit builds int and float blocks have one size.
 *
 * mem reads them with its census, after the pause: in a target that
 * makes and frees ints meanwhile, a block whose links changed between
 * the two reads is left out (counted neither way).
 */
#ifndef PYSPECT_PYTHON_FREELISTS_H
#define PYSPECT_PYTHON_FREELISTS_H

#include <stddef.h>
#include <stdint.h>

#include "python/runtime.h"

struct py_freelist_block;

struct py_freelists {
    struct py_runtime *rt;
    int enabled;         /* the version has them (2.7) */
    raddr_t int_type;    /* &PyInt_Type */
    raddr_t float_type;  /* &PyFloat_Type */
    uint64_t chunk_size; /* the malloc chunk of a block */
    /* Candidates, from py_freelists_consider(). */
    struct py_freelist_block *v;
    size_t n, alloc;
    /* Results of py_freelists_finish(). */
    uint64_t blocks, bytes; /* free-list blocks, their malloc chunks */
    uint64_t ints, floats;  /* live objects in them */
    uint64_t int_bytes, float_bytes;
    uint64_t free_slots, free_bytes; /* slots on the free lists */
    /* Blocks without a live object (of which kind no longer shows): what
     * a full collection gives back to malloc. */
    uint64_t empty_blocks, empty_bytes;
};

/*
 * Set up f for rt; enabled = 0 (and every call below a no-op) when the
 * version has no such blocks or rt knows no PyInt_Type/PyFloat_Type.
 */
void py_freelists_init(struct py_freelists *f, struct py_runtime *rt);
void py_freelists_release(struct py_freelists *f);

/*
 * A malloc chunk in use: its user data at addr, chunk size size, the
 * first len bytes of its data.  Remembered if it may be a block.
 */
void py_freelists_consider(struct py_freelists *f, raddr_t addr, uint64_t size,
                           const unsigned char *data, size_t len);

/*
 * Read every candidate whole from src (the target paused) and keep the
 * blocks; fills the results.  0, or an error of src.
 */
int py_freelists_finish(struct py_freelists *f, struct memsrc *src);

#endif /* PYSPECT_PYTHON_FREELISTS_H */
