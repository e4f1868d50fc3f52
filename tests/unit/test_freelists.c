/*
 * test_freelists.c - 2.7's int and float free-list blocks, found in
 * memory built by hand.
 *
 * Layer: tests.  Blocks laid out with the 2.7 layout in a buffer: an int
 * block with live and free slots, an empty block linked to it, a float
 * block; and chunks that only look like blocks (zeroed, mixing ints and
 * floats, a link into nothing, random bytes), which must not count.
 * Then random candidates, for ASan: the search ends and stays in bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "python/freelists.h"
#include "python/layout.h"
#include "python/runtime.h"
#include "target/memsrc.h"
#include "tap.h"

#define BASE 0x500000000ull
#define SIZE (1u << 20)
#define INT_TYPE 0x7f0000001000ull
#define FLOAT_TYPE 0x7f0000002000ull

struct image {
    const struct py_layout *l;
    unsigned char *mem;
    uint64_t n; /* slots per block */
};

static void
put(struct image *im, raddr_t at, uint64_t v)
{
    memcpy(im->mem + (at - BASE), &v, 8);
}

/* Block i's data (chunks 1 KiB apart; the chunk size is what the
 * search is told). */
static raddr_t
block(int i)
{
    return BASE + 0x10 + (raddr_t)i * 1024;
}

static raddr_t
slot(const struct image *im, int b, uint64_t i)
{
    return block(b) + (raddr_t)im->l->intblock_objects +
           i * (raddr_t)im->l->int_size;
}

/* Block b: live objects of type in slots [0, live), the rest free and
 * linked downwards (the lowest free slot's link is `tail`). */
static void
fill(struct image *im, int b, raddr_t next, uint64_t type, uint64_t live,
     raddr_t tail)
{
    uint64_t i;

    put(im, block(b), next);
    for (i = 0; i < im->n; i++) {
        raddr_t s = slot(im, b, i);

        if (i < live) {
            put(im, s, 1);
            put(im, s + 8, type);
        } else {
            put(im, s, 0);
            put(im, s + 8, i == live ? tail : s - (raddr_t)im->l->int_size);
        }
    }
}

int
main(void)
{
    const struct py_layout *l = py_layout_find(2, 7);
    struct image im;
    struct memsrc *src;
    struct py_runtime *rt;
    struct py_freelists f;
    uint64_t seed = 0x9e3779b97f4a7c15ull, chunk;
    int i;

    if (l == NULL) {
        TAP_OK(1, "no 2.7 layout: nothing to test");
        return tap_done();
    }
    im.l = l;
    im.mem = xcalloc(1, SIZE);
    im.n = (uint64_t)(l->intblock_size - l->intblock_objects) /
           (uint64_t)l->int_size;
    chunk = ((uint64_t)l->intblock_size + 8 + 15) & ~15ull;
    fill(&im, 0, 0, INT_TYPE, 5, 0);               /* ints */
    fill(&im, 1, block(0), 0, 0, slot(&im, 0, 6)); /* empty */
    fill(&im, 2, 0, FLOAT_TYPE, 3, 0);             /* floats */
    /* block 3 stays zeroed */
    fill(&im, 4, 0, INT_TYPE, 2, 0); /* ... with a float among its ints */
    put(&im, slot(&im, 4, 1) + 8, FLOAT_TYPE);
    fill(&im, 5, 0, INT_TYPE, 2, BASE + 8); /* a link into nothing */
    for (i = 0; i < 8; i++) {               /* random bytes */
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        memcpy(im.mem + (block(6) - BASE) + 8 * i, &seed, 8);
    }
    fill(&im, 7, 0, INT_TYPE, 1, 0); /* the wrong size: not a candidate */

    src = memsrc_buffer_new();
    memsrc_buffer_add(src, BASE, im.mem, SIZE);
    rt = py_runtime_from_memsrc(src, l);
    rt->int_type = INT_TYPE;
    rt->float_type = FLOAT_TYPE;
    py_freelists_init(&f, rt);
    TAP_OK(f.enabled, "2.7 has free-list blocks");
    for (i = 0; i < 8; i++) {
        py_freelists_consider(&f, block(i), i == 7 ? chunk + 16 : chunk,
                              im.mem + (block(i) - BASE), 64);
    }
    TAP_EQ_INT(py_freelists_finish(&f, src), 0, "the search runs");
    TAP_EQ_INT(f.blocks, 3, "three blocks: ints, empty, floats");
    TAP_EQ_INT(f.ints, 5, "five live ints");
    TAP_EQ_INT(f.floats, 3, "three live floats");
    TAP_EQ_INT(f.empty_blocks, 1, "one block without a live object");
    TAP_EQ_INT(f.free_slots, 3 * im.n - 8, "the free slots");
    TAP_EQ_INT(f.bytes, 3 * chunk, "their malloc chunks");
    py_freelists_release(&f);

    /* Random candidates over random memory. */
    for (i = 0; i < (int)(SIZE / 8); i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        memcpy(im.mem + 8 * (size_t)i,
               (seed & 3) == 0   ? &seed
               : (seed & 3) == 1 ? &(uint64_t){BASE + (seed >> 40) % SIZE}
               : (seed & 3) == 2 ? &(uint64_t){INT_TYPE}
                                 : &(uint64_t){0},
               8);
    }
    py_freelists_init(&f, rt);
    for (i = 0; i < 1000; i++) {
        raddr_t a = BASE + ((uint64_t)i * 1048) % (SIZE - 2048);

        py_freelists_consider(&f, a & ~15ull, chunk,
                              im.mem + ((a & ~15ull) - BASE), 64);
    }
    TAP_EQ_INT(py_freelists_finish(&f, src), 0,
               "random memory: the search ends");
    TAP_OK(f.blocks <= f.n, "random memory: %llu of %zu candidates kept",
           (unsigned long long)f.blocks, f.n);
    py_freelists_release(&f);
    py_runtime_free(rt);
    free(im.mem);
    return tap_done();
}
