/*
 * glibc_synth.h - glibc malloc heaps built by hand, in local buffers.
 *
 * Layer: tests.  A main arena with a brk heap (fastbins with safe-linking,
 * the unsorted, a small and a large bin, the top) and a thread arena in a
 * 64 MiB aligned heap, laid out with the glibc layout L (set it first,
 * e.g. glibc_layout_for(36)) and served through the buffer memory source.
 * Shared by the walker tests and the fuzz harness; every function is
 * static.
 */
#ifndef PYSPECT_TESTS_GLIBC_SYNTH_H
#define PYSPECT_TESTS_GLIBC_SYNTH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/glibc_heap.h"
#include "target/maps.h"
#include "target/memsrc.h"

#define HEAP 0x555500000000ULL
#define HEAP_SIZE 0x10000ULL
#define LIBC 0x7f0000000000ULL
#define ARENA (LIBC + 0x1000)
#define MP (LIBC + 0x100)
#define THEAP 0x7e0004000000ULL /* 64 MiB aligned */
#define THEAP_SIZE 0x8000ULL

struct image {
    unsigned char libc[0x2000];
    unsigned char heap[HEAP_SIZE];
    unsigned char theap[THEAP_SIZE];
};

static const struct glibc_layout *L;

static inline void
put64(unsigned char *base, uint64_t off, uint64_t v)
{
    memcpy(base + off, &v, 8);
}

/* A chunk header at heap offset off in the heap whose base is base. */
static inline void
chunk(unsigned char *mem, uint64_t off, uint64_t size, int prev_inuse)
{
    put64(mem, off + 8, size | (prev_inuse ? 1 : 0));
}

static inline uint64_t
bin_at(uint64_t arena, int b)
{
    return arena + (uint64_t)L->ms_bins + 16 * (uint64_t)(b - 1) - 16;
}

/* An arena with every bin empty. */
static inline void
arena_init(unsigned char *a, uint64_t addr, uint64_t next)
{
    int b;

    memset(a, 0, (size_t)L->ms_size);
    for (b = 1; b < GLIBC_NBINS; b++) {
        put64(a, (uint64_t)L->ms_bins + 16 * (uint64_t)(b - 1),
              bin_at(addr, b));
        put64(a, (uint64_t)L->ms_bins + 16 * (uint64_t)(b - 1) + 8,
              bin_at(addr, b));
    }
    put64(a, (uint64_t)L->ms_next, next);
    put64(a, (uint64_t)L->ms_attached_threads, 1);
}

/* Put the free chunk at address c (local copy at lc) alone in bin b. */
static inline void
bin_one(unsigned char *a, uint64_t arena, int b, uint64_t c, unsigned char *lc)
{
    put64(a, (uint64_t)L->ms_bins + 16 * (uint64_t)(b - 1), c);
    put64(a, (uint64_t)L->ms_bins + 16 * (uint64_t)(b - 1) + 8, c);
    put64(lc, 16, bin_at(arena, b));
    put64(lc, 24, bin_at(arena, b));
}

/*
 * Main heap (offsets from HEAP):
 *   0x0000 0x30   in use
 *   0x0030 0x20   fastbin 0 (second)
 *   0x0050 0x20   fastbin 0 (head)
 *   0x0070 0x400  unsorted
 *   0x0470 0x90   in use
 *   0x0500 0x100  small bin 16
 *   0x0600 0x30   in use
 *   0x0630 0x2000 large bin 107 (holds one whole page)
 *   0x2630 0x40   in use
 *   0x2670 top, to 0x10000
 * Thread heap: heap_info, arena, then 0x100 in use, 0x200 in small bin
 * 32, and the top.
 */
static inline void
build(struct image *im)
{
    unsigned char *a = im->libc + (ARENA - LIBC);
    unsigned char *m = im->libc + (MP - LIBC);
    unsigned char *h = im->heap;
    unsigned char *t = im->theap;
    uint64_t ta = THEAP + (uint64_t)L->hi_sizeof, first;
    unsigned char *tal = t + L->hi_sizeof;

    memset(im, 0, sizeof(*im));
    arena_init(a, ARENA, ta);
    chunk(h, 0x0000, 0x30, 1);
    chunk(h, 0x0030, 0x20, 1);
    chunk(h, 0x0050, 0x20, 1);
    chunk(h, 0x0070, 0x400, 1);
    chunk(h, 0x0470, 0x90, 0);
    put64(h, 0x0470, 0x400);
    chunk(h, 0x0500, 0x100, 1);
    chunk(h, 0x0600, 0x30, 0);
    put64(h, 0x0600, 0x100);
    chunk(h, 0x0630, 0x2000, 1);
    chunk(h, 0x2630, 0x40, 0);
    put64(h, 0x2630, 0x2000);
    chunk(h, 0x2670, HEAP_SIZE - 0x2670, 1);
    /* fastbin 0: 0x50 -> 0x30, safe-linked */
    put64(a, (uint64_t)L->ms_fastbins, HEAP + 0x50);
    put64(h, 0x50 + 16, ((HEAP + 0x50 + 16) >> 12) ^ (HEAP + 0x30));
    put64(h, 0x30 + 16, ((HEAP + 0x30 + 16) >> 12) ^ 0);
    bin_one(a, ARENA, 1, HEAP + 0x70, h + 0x70);
    bin_one(a, ARENA, 16, HEAP + 0x500, h + 0x500);
    bin_one(a, ARENA, 107, HEAP + 0x630, h + 0x630);
    put64(a, (uint64_t)L->ms_top, HEAP + 0x2670);
    put64(a, (uint64_t)L->ms_system_mem, HEAP_SIZE);
    put64(a, (uint64_t)L->ms_max_system_mem, HEAP_SIZE);

    /* mp_ */
    put64(m, (uint64_t)L->mp_trim_threshold, 128 << 10);
    put64(m, (uint64_t)L->mp_mmap_threshold, 128 << 10);
    put64(m, (uint64_t)L->mp_arena_test, 8);
    put64(m, (uint64_t)L->mp_sbrk_base, HEAP);
    put64(m, (uint64_t)L->mp_tcache_bins, 64);
    put64(m, (uint64_t)L->mp_tcache_count, 7);

    /* The thread heap. */
    put64(t, (uint64_t)L->hi_ar_ptr, ta);
    put64(t, (uint64_t)L->hi_size, THEAP_SIZE);
    put64(t, (uint64_t)L->hi_mprotect_size, THEAP_SIZE);
    arena_init(tal, ta, ARENA);
    put64(tal, (uint64_t)L->ms_flags, 2);
    first = ((uint64_t)L->hi_sizeof + (uint64_t)L->ms_size + 15) & ~15ULL;
    chunk(t, first, 0x100, 1);
    chunk(t, first + 0x100, 0x200, 1);
    chunk(t, first + 0x300, THEAP_SIZE - first - 0x300, 0);
    put64(t, first + 0x300, 0x200);
    bin_one(tal, ta, 32, THEAP + first + 0x100, t + first + 0x100);
    put64(tal, (uint64_t)L->ms_top, THEAP + first + 0x300);
    put64(tal, (uint64_t)L->ms_system_mem, THEAP_SIZE);
    put64(tal, (uint64_t)L->ms_max_system_mem, THEAP_SIZE);
}

static inline struct memsrc *
source(const struct image *im)
{
    struct memsrc *src = memsrc_buffer_new();

    memsrc_buffer_add(src, LIBC, im->libc, sizeof(im->libc));
    memsrc_buffer_add(src, HEAP, im->heap, sizeof(im->heap));
    memsrc_buffer_add(src, THEAP, im->theap, sizeof(im->theap));
    return src;
}

static inline void
maps_of(struct maps *maps)
{
    static char heap[] = "[heap]", none[] = "";

    /* In address order, as maps_find() expects. */
    memset(maps, 0, sizeof(*maps));
    maps->v = calloc(3, sizeof(*maps->v));
    maps->n = maps->alloc = 3;
    maps->v[0] =
        (struct map_entry){HEAP, HEAP + HEAP_SIZE, 0, 0, "rw-p", heap};
    maps->v[1] =
        (struct map_entry){THEAP, THEAP + THEAP_SIZE, 0, 0, "rw-p", none};
    maps->v[2] = (struct map_entry){LIBC, LIBC + 0x2000, 0, 1, "rw-p", none};
}

static inline void
gm_of(struct glibc_malloc *gm)
{
    memset(gm, 0, sizeof(*gm));
    gm->layout = L;
    gm->main_arena = ARENA;
    gm->mp = MP;
    gm->heap_start = HEAP;
    gm->heap_end = HEAP + HEAP_SIZE;
    snprintf(gm->version, sizeof(gm->version), "2.36");
}

#endif /* PYSPECT_TESTS_GLIBC_SYNTH_H */
