/*
 * test_glibc_heap.c - unit tests of the glibc malloc walkers on heaps
 * built by hand.
 *
 * Layer: tests.  A main arena with a brk heap (fastbins with safe-linking,
 * the unsorted, a small and a large bin, the top) and a thread arena in a
 * 64 MiB aligned heap are laid out in a buffer memory source with the
 * glibc 2.35+ offsets; the free-list walk must give mallinfo2()'s
 * arithmetic and the chunk walk must see every chunk.  Then the heap is
 * damaged (a broken link, a loop, a bad size, a top outside its heap) and
 * every walk must stop with a partial answer, not crash or run forever.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
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

static void
put64(unsigned char *base, uint64_t off, uint64_t v)
{
    memcpy(base + off, &v, 8);
}

/* A chunk header at heap offset off in the heap whose base is base. */
static void
chunk(unsigned char *mem, uint64_t off, uint64_t size, int prev_inuse)
{
    put64(mem, off + 8, size | (prev_inuse ? 1 : 0));
}

static uint64_t
bin_at(uint64_t arena, int b)
{
    return arena + (uint64_t)L->ms_bins + 16 * (uint64_t)(b - 1) - 16;
}

/* An arena with every bin empty. */
static void
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
static void
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
static void
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

static struct memsrc *
source(const struct image *im)
{
    struct memsrc *src = memsrc_buffer_new();

    memsrc_buffer_add(src, LIBC, im->libc, sizeof(im->libc));
    memsrc_buffer_add(src, HEAP, im->heap, sizeof(im->heap));
    memsrc_buffer_add(src, THEAP, im->theap, sizeof(im->theap));
    return src;
}

static void
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

static void
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

static uint64_t deadline;

static int
walk(const struct image *im, struct glibc_malloc *gm)
{
    struct memsrc *src = source(im);
    struct maps maps;
    int rc;

    maps_of(&maps);
    gm_of(gm);
    gm->deadline_ns = deadline;
    rc = glibc_malloc_walk(gm, src, &maps);
    free(maps.v);
    memsrc_free(src);
    return rc;
}

static void
count_chunk(void *ctx, raddr_t chunk_addr, uint64_t size, int in_use,
            const unsigned char *data, size_t len)
{
    uint64_t *n = ctx;

    (void)chunk_addr;
    (void)size;
    (void)in_use;
    (void)data;
    n[len <= 64 ? 0 : 1]++;
}

static void
test_walk(void)
{
    struct image *im = calloc(1, sizeof(*im));
    struct glibc_malloc gm;
    uint64_t main_free = 0x40 + 0x400 + 0x100 + 0x2000 + (HEAP_SIZE - 0x2670);
    uint64_t first =
        ((uint64_t)L->hi_sizeof + (uint64_t)L->ms_size + 15) & ~15ULL;
    uint64_t t_top = THEAP_SIZE - first - 0x300;
    struct glibc_chunk_stats st;
    struct memsrc *src;
    uint64_t seen[2] = {0, 0};

    build(im);
    TAP_EQ_INT(walk(im, &gm), 0, "walk of a clean heap");
    TAP_OK(gm.complete, "complete (%s)", gm.problem);
    TAP_EQ_INT(gm.narenas, 2, "two arenas: main and thread");
    TAP_EQ_INT(gm.arenas[0].free, main_free, "main arena free");
    TAP_EQ_INT(gm.arenas[0].fastbin_free, 0x40, "fastbins, safe-linked");
    TAP_EQ_INT(gm.arenas[0].free_chunks, 5, "main free chunks");
    TAP_EQ_INT(gm.arenas[0].top, HEAP_SIZE - 0x2670, "main top");
    TAP_EQ_INT(gm.arenas[1].free, 0x200 + t_top, "thread arena free");
    TAP_EQ_INT(gm.arenas[1].nheaps, 1, "thread arena heaps");
    TAP_EQ_INT(gm.free, main_free + 0x200 + t_top, "free: mallinfo2 fordblks");
    TAP_EQ_INT(gm.in_use, HEAP_SIZE + THEAP_SIZE - gm.free,
               "in use: system - free");
    TAP_EQ_INT(gm.system_mem, HEAP_SIZE + THEAP_SIZE,
               "system: mallinfo2 "
               "arena");
    TAP_EQ_INT(gm.in_use,
               (HEAP_SIZE - main_free) + (THEAP_SIZE - 0x200 - t_top),
               "in use per arena");
    TAP_EQ_INT(gm.top, HEAP_SIZE - 0x2670, "top: mallinfo2 keepcost");
    TAP_EQ_INT(gm.sbrk_base, HEAP, "mp_ read");
    TAP_EQ_INT(gm.nheaps, 2, "heap ranges");
    /* The large chunk 0x630..0x2630 holds the page 0x1000..0x2000, the
     * top 0x2670..0x10000 the pages from 0x3000. */
    TAP_EQ_INT(gm.nfree_pages, 3,
               "free page ranges (large, main top, "
               "thread top)");

    src = source(im);
    TAP_EQ_INT(glibc_chunk_walk(&gm, src, 4096, count_chunk, seen, &st), 0,
               "chunk walk");
    TAP_OK(st.complete, "chunk walk complete (%s)", st.problem);
    TAP_EQ_INT(st.chunks_in_use, 6 + 1, "chunks in use (fastbins count)");
    TAP_EQ_INT(st.bytes_in_use, 0x170 + 0x100, "bytes in use");
    TAP_EQ_INT(st.chunks_free, 3 + 1, "free chunks");
    TAP_EQ_INT(st.bytes_free, 0x2500 + 0x200, "free bytes");
    TAP_EQ_INT(st.bytes_free + gm.tops + gm.fastbin_free, gm.free,
               "chunk walk agrees with the free lists");
    TAP_EQ_INT(seen[0], 11, "callback for every chunk, data <= 64 bytes");
    /* Small blocks: the walk still works with a window smaller than a
     * chunk. */
    TAP_EQ_INT(glibc_chunk_walk(&gm, src, 64, NULL, NULL, &st), 0,
               "chunk walk in tiny reads");
    TAP_OK(st.complete && st.bytes_free == 0x2700, "tiny reads agree");
    memsrc_free(src);
    glibc_malloc_release(&gm);
    free(im);
}

static void
test_damage(void)
{
    struct image *im = calloc(1, sizeof(*im));
    struct glibc_malloc gm;
    unsigned char *a = im->libc + (ARENA - LIBC);
    struct glibc_chunk_stats st;
    struct memsrc *src;

    /* The small bin's chunk does not link back to the bin. */
    build(im);
    put64(im->heap, 0x500 + 16, HEAP + 0x70);
    TAP_EQ_INT(walk(im, &gm), 0, "broken link: still an answer");
    TAP_OK(!gm.complete && strstr(gm.problem, "bin 16") != NULL,
           "broken link named: %s", gm.problem);
    TAP_OK(gm.arenas[1].complete, "the other arena is still complete");
    glibc_malloc_release(&gm);

    /* A fastbin that loops on itself. */
    build(im);
    put64(im->heap, 0x30 + 16, ((HEAP + 0x30 + 16) >> 12) ^ (HEAP + 0x50));
    TAP_EQ_INT(walk(im, &gm), 0, "fastbin loop: an answer");
    TAP_OK(!gm.complete && strstr(gm.problem, "loops") != NULL,
           "fastbin loop found: %s", gm.problem);
    glibc_malloc_release(&gm);

    /* A large bin whose chunk points back to itself both ways. */
    build(im);
    put64(im->heap, 0x630 + 16, HEAP + 0x630);
    put64(im->heap, 0x630 + 24, HEAP + 0x630);
    TAP_EQ_INT(walk(im, &gm), 0, "self-linked chunk: an answer");
    TAP_OK(!gm.complete, "self-linked chunk noticed: %s", gm.problem);
    glibc_malloc_release(&gm);

    /* A fastbin pointer out of the heap. */
    build(im);
    put64(a, (uint64_t)L->ms_fastbins + 8, 0x1000);
    TAP_EQ_INT(walk(im, &gm), 0, "wild fastbin: an answer");
    TAP_OK(!gm.complete && strstr(gm.problem, "outside") != NULL,
           "wild fastbin named: %s", gm.problem);
    glibc_malloc_release(&gm);

    /* A bad size inside the heap: the chunk walk stops there. */
    build(im);
    TAP_EQ_INT(walk(im, &gm), 0, "walk before damaging a size");
    chunk(im->heap, 0x0470, 0x12345, 0);
    src = source(im);
    TAP_EQ_INT(glibc_chunk_walk(&gm, src, 1 << 20, NULL, NULL, &st), 0,
               "chunk walk over a bad size");
    TAP_OK(!st.complete && st.unwalked > 0,
           "bad size: partial, %llu "
           "unwalked (%s)",
           (unsigned long long)st.unwalked, st.problem);
    memsrc_free(src);
    glibc_malloc_release(&gm);

    /* A chunk of size 0 in the middle of a heap is damage, not the
     * fencepost that ends one. */
    build(im);
    TAP_EQ_INT(walk(im, &gm), 0, "walk before a size 0");
    chunk(im->heap, 0x0470, 0, 0);
    src = source(im);
    TAP_EQ_INT(glibc_chunk_walk(&gm, src, 1 << 20, NULL, NULL, &st), 0,
               "chunk walk over a size 0");
    TAP_OK(!st.complete && st.unwalked > 0,
           "size 0: partial, %llu unwalked (%s)",
           (unsigned long long)st.unwalked, st.problem);
    memsrc_free(src);
    glibc_malloc_release(&gm);

    /* Out of time: the walk stops at once, says so, and the target's
     * pause ends (the caller resumes it). */
    build(im);
    deadline = 1;
    TAP_EQ_INT(walk(im, &gm), 0, "time limit: an answer");
    deadline = 0;
    TAP_OK(gm.deadline_hit && !gm.complete &&
               strstr(gm.problem, "--max-pause") != NULL,
           "time limit reported: %s", gm.problem);
    TAP_OK(gm.free_chunks_walked == 1, "stopped at the first free chunk");
    glibc_malloc_release(&gm);

    /* The main arena itself is garbage. */
    build(im);
    memset(a, 0xff, (size_t)L->ms_size);
    TAP_OK(walk(im, &gm) < 0, "a garbage main arena is an error");
    glibc_malloc_release(&gm);

    /* The thread heap's header names another arena. */
    build(im);
    put64(im->theap, (uint64_t)L->hi_ar_ptr, 0x1234560);
    TAP_EQ_INT(walk(im, &gm), 0, "bad heap_info: an answer");
    TAP_OK(!gm.complete && !gm.arenas[1].complete && gm.arenas[0].complete,
           "bad heap_info: only that arena is partial (%s)", gm.problem);
    glibc_malloc_release(&gm);

    /* A ring that never comes back: bounded by the arena limit. */
    build(im);
    put64(im->theap + L->hi_sizeof, (uint64_t)L->ms_next,
          THEAP + (uint64_t)L->hi_sizeof);
    TAP_EQ_INT(walk(im, &gm), 0, "ring loop: an answer");
    TAP_OK(!gm.complete && gm.narenas == 2,
           "ring loop stopped at %zu "
           "arenas (%s)",
           gm.narenas, gm.problem);
    glibc_malloc_release(&gm);
    free(im);
}

/*
 * A long unsorted list of far-apart chunks in address order (the stride
 * guesser reads them in batches), with one chunk out of order, and a
 * long fastbin of adjacent chunks (read through the window).
 */
static void
test_long_lists(void)
{
    enum { N = 300, FAST = 3000 };
    const uint64_t free_sz = 0x800, used_sz = 0x30, step = free_sz + used_sz;
    const uint64_t fast_base = N * step, fast_sz = 0x20;
    const uint64_t top_off = fast_base + FAST * fast_sz;
    const uint64_t size = top_off + 0x1000;
    unsigned char *libc = calloc(1, 0x2000), *h = calloc(1, size);
    unsigned char *a = libc + (ARENA - LIBC), *m = libc + (MP - LIBC);
    uint64_t order[N], prev, expect_free = 0;
    struct memsrc *src = memsrc_buffer_new();
    struct glibc_malloc gm;
    struct maps maps;
    int i;

    arena_init(a, ARENA, ARENA);
    for (i = 0; i < N; i++) {
        order[i] = (uint64_t)i;
    }
    order[150] = 151; /* one step out of order */
    order[151] = 150;
    for (i = 0; i < N; i++) {
        uint64_t off = (uint64_t)i * step;

        chunk(h, off, free_sz, 1);
        chunk(h, off + free_sz, used_sz, 0);
        put64(h, off + free_sz, free_sz);
    }
    /* unsorted, walked from bk (the last) to the bin: order[0] first */
    prev = bin_at(ARENA, 1);
    put64(a, (uint64_t)L->ms_bins + 8, HEAP + order[0] * step);
    for (i = 0; i < N; i++) {
        uint64_t off = order[i] * step;
        uint64_t next =
            i + 1 < N ? HEAP + order[i + 1] * step : bin_at(ARENA, 1);

        put64(h, off + 16, prev); /* fd: where we came from */
        put64(h, off + 24, next); /* bk: where we go */
        prev = HEAP + off;
        expect_free += free_sz;
    }
    put64(a, (uint64_t)L->ms_bins, prev);
    for (i = 0; i < FAST; i++) {
        uint64_t off = fast_base + (uint64_t)i * fast_sz;
        uint64_t next = i > 0 ? HEAP + off - fast_sz : 0;

        chunk(h, off, fast_sz, 1);
        put64(h, off + 16, ((HEAP + off + 16) >> 12) ^ next);
        expect_free += fast_sz;
    }
    put64(a, (uint64_t)L->ms_fastbins,
          HEAP + fast_base + (uint64_t)(FAST - 1) * fast_sz);
    chunk(h, top_off, size - top_off, 1);
    expect_free += size - top_off;
    put64(a, (uint64_t)L->ms_top, HEAP + top_off);
    put64(a, (uint64_t)L->ms_system_mem, size);
    put64(a, (uint64_t)L->ms_max_system_mem, size);
    put64(m, (uint64_t)L->mp_arena_test, 8);
    put64(m, (uint64_t)L->mp_sbrk_base, HEAP);
    memsrc_buffer_add(src, LIBC, libc, 0x2000);
    memsrc_buffer_add(src, HEAP, h, size);
    maps_of(&maps);
    maps.v[0].end = HEAP + size;
    gm_of(&gm);
    gm.heap_end = HEAP + size;
    TAP_EQ_INT(glibc_malloc_walk(&gm, src, &maps), 0, "long lists walked");
    TAP_OK(gm.complete, "long lists complete (%s)", gm.problem);
    TAP_EQ_INT(gm.free_chunks, N + FAST, "every free chunk seen once");
    TAP_EQ_INT(gm.free, expect_free, "free bytes of long lists");
    TAP_EQ_INT(gm.fastbin_free, FAST * fast_sz, "the long fastbin");
    free(maps.v);
    glibc_malloc_release(&gm);
    memsrc_free(src);
    free(libc);
    free(h);
}

static void
test_mmapped_and_bins(void)
{
    unsigned char hdr[16];
    uint64_t size = 0;

    put64(hdr, 0, 0);
    put64(hdr, 8, 0x21000 | 2);
    TAP_OK(glibc_mmapped_chunk(hdr, 0x7f0000000000, 0x7f0000100000, 4096, 0,
                               &size) &&
               size == 0x21000,
           "an mmapped chunk");
    TAP_OK(!glibc_mmapped_chunk(hdr, 0x7f0000000000, 0x7f0000010000, 4096, 0,
                                &size),
           "an mmapped chunk past its mapping");
    put64(hdr, 8, 0x21000 | 3);
    TAP_OK(!glibc_mmapped_chunk(hdr, 0x7f0000000000, 0x7f0000100000, 4096, 0,
                                &size),
           "IS_MMAPPED with PREV_INUSE is not one");
    put64(hdr, 8, 0x21010 | 2);
    TAP_OK(!glibc_mmapped_chunk(hdr, 0x7f0000000000, 0x7f0000100000, 4096, 0,
                                &size),
           "not whole pages");
    put64(hdr, 0, 0x30);
    put64(hdr, 8, (0x21000 - 0x30) | 2);
    TAP_OK(glibc_mmapped_chunk(hdr, 0x7f0000000000, 0x7f0000100000, 4096, 0,
                               &size),
           "an aligned (memalign) mmapped chunk");
    put64(hdr, 0, 0);
    put64(hdr, 8, (0x21000 - 16) | 2);
    TAP_OK(glibc_mmapped_chunk(hdr, 0x7f0000000000, 0x7f0000100000, 4096, 16,
                               &size) &&
               size == 0x21000,
           "glibc 2.43: the size leaves the header out of the mapping");
    TAP_OK(!glibc_mmapped_chunk(hdr, 0x7f0000000000, 0x7f0000100000, 4096, 0,
                                &size),
           "... which is not whole pages before 2.43");
    TAP_EQ_INT(glibc_bin_index(32), 2, "smallest small bin");
    TAP_EQ_INT(glibc_bin_index(1008), 63, "largest small bin");
    TAP_EQ_INT(glibc_bin_index(1024), 64, "first large bin");
    TAP_EQ_INT(glibc_bin_index(0x2000), 107, "an 8 KiB chunk");
    TAP_EQ_INT(glibc_bin_index(1ULL << 30), 126, "the last bin");
    TAP_OK(glibc_layout_for(26) == NULL, "no table before 2.27");
    TAP_OK(glibc_layout_for(31)->safe_linking == 0, "2.31: no safe-linking");
    TAP_OK(glibc_layout_for(33)->safe_linking == 1 &&
               glibc_layout_for(33)->mp_size == 112,
           "2.33: safe-linking, old mp_");
    TAP_OK(glibc_layout_for(36)->mp_size == 136 &&
               glibc_layout_for(36)->hi_sizeof == 48,
           "2.36: checked layout");
}

/*
 * A thread arena of a long-running program can have a free chunk in
 * nearly every bin.  The search for main_arena wants empty bins in a
 * candidate (garbage has none); an arena reached through the ring is one
 * and must not end the walk, which would lose its heaps and every arena
 * after it.
 */
static void
test_busy_arena(void)
{
    struct image *im = calloc(1, sizeof(*im));
    unsigned char *tal;
    struct glibc_malloc gm;
    struct memsrc *src;
    struct maps maps;
    uint64_t first;
    int b;

    build(im);
    tal = im->theap + L->hi_sizeof;
    first = ((uint64_t)L->hi_sizeof + (uint64_t)L->ms_size + 15) & ~15ULL;
    for (b = 2; b < GLIBC_NBINS; b++) {
        put64(tal, (uint64_t)L->ms_bins + 16 * (uint64_t)(b - 1),
              THEAP + first + 0x100);
        put64(tal, (uint64_t)L->ms_bins + 16 * (uint64_t)(b - 1) + 8,
              THEAP + first + 0x100);
    }
    src = source(im);
    maps_of(&maps);
    gm_of(&gm);
    TAP_EQ_INT(glibc_malloc_heaps(&gm, src, &maps), 0,
               "heaps of a busy arena");
    TAP_EQ_INT(gm.narenas, 2, "the busy thread arena is walked");
    TAP_OK(gm.nheaps == 2, "and its heap found (%s)", gm.problem);
    free(maps.v);
    memsrc_free(src);
    glibc_malloc_release(&gm);
    free(im);
}

/*
 * Thread heaps by their headers, with no arena list: the thread heap of
 * the image, a second heap of its arena 64 MiB further on, an anonymous
 * mapping that merely starts at a boundary, and a heap whose arena is
 * nowhere.  The arena ring is broken first: a walk that stops there, as
 * one torn by a busy arena does, must not hide the heaps.
 */
static void
test_heaps_by_header(void)
{
    struct image *im = calloc(1, sizeof(*im));
    static unsigned char second[64], plain[64], stray[64];
    struct memsrc *src;
    raddr_t cand[4] = {THEAP, THEAP + GLIBC_HEAP_MAX,
                       THEAP + 2 * GLIBC_HEAP_MAX, THEAP + 3 * GLIBC_HEAP_MAX};
    unsigned char is_heap[4];
    uint64_t ta;

    build(im);
    ta = THEAP + (uint64_t)L->hi_sizeof;
    put64(im->libc + (ARENA - LIBC), (uint64_t)L->ms_next, 0x1234560);
    put64(second, (uint64_t)L->hi_ar_ptr, ta);
    put64(second, (uint64_t)L->hi_prev, THEAP);
    put64(second, (uint64_t)L->hi_size, 0x21000);
    put64(second, (uint64_t)L->hi_mprotect_size, 0x21000);
    put64(plain, 0, 0x7777);
    memcpy(stray, second, sizeof(stray));
    put64(stray, (uint64_t)L->hi_ar_ptr, 0x7e0100000030ULL);
    src = source(im);
    memsrc_buffer_add(src, cand[1], second, sizeof(second));
    memsrc_buffer_add(src, cand[2], plain, sizeof(plain));
    memsrc_buffer_add(src, cand[3], stray, sizeof(stray));
    TAP_EQ_INT(glibc_heaps_by_header(src, cand, 4, is_heap), 0,
               "heaps by header");
    TAP_OK(is_heap[0] && is_heap[1], "an arena's first and second heaps");
    TAP_OK(!is_heap[2], "a mapping that is not a heap");
    TAP_OK(!is_heap[3], "a heap_info whose arena is not a heap's");
    memsrc_free(src);
    free(im);
}

int
main(void)
{
    L = glibc_layout_for(36);
    test_walk();
    test_damage();
    test_long_lists();
    test_mmapped_and_bins();
    test_heaps_by_header();
    test_busy_arena();
    return tap_done();
}
