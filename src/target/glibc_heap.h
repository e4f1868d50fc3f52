/*
 * glibc_heap.h - glibc malloc's state in a target: what is in use, what
 * is free but retained, and where its heaps are.
 *
 * Layer: target.  No Python knowledge.  glibc keeps one `struct
 * malloc_state` per arena: the main arena (a static in libc, its heap the
 * brk area [heap]) and thread arenas (each at the start of a 64 MiB
 * aligned heap, after its `heap_info`), linked in a ring by `next`; and
 * one `struct malloc_par mp_` with the tunables and the mmapped-chunk
 * totals.  Stripped libcs export neither: pyspect takes their addresses
 * from detached debug symbols when installed (debuginfo.h), and otherwise
 * finds them by validating candidates in libc's writable data against the
 * structures (bins that point to themselves or into a heap, a `next` ring
 * back to the start, a top chunk inside a mapping, plausible counters).
 *
 * The walk follows the free lists (fastbins, unsorted, small and large
 * bins) and adds the top chunk, as glibc's own mallinfo2() does, so its
 * figures are mallinfo2()'s: "in use" includes chunks parked in the
 * per-thread tcaches.  A second walk, glibc_chunk_walk(), visits every
 * chunk of every heap, reading the heaps in large blocks.
 *
 * Layouts (offsets) are data, per glibc version family.  The 2.35+ table
 * is checked against glibc 2.36's debug information (see
 * tools/check_glibc_layout.py); every walk is bounded and every pointer
 * checked, so a heap that looks corrupt gives a partial answer (complete
 * = 0 and a one-line problem), never a crash or an endless walk.
 */
#ifndef PYSPECT_TARGET_GLIBC_HEAP_H
#define PYSPECT_TARGET_GLIBC_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "target/maps.h"
#include "target/memsrc.h"
#include "target/pagemap.h"
#include "target/target.h"

/* Byte offsets of the fields pyspect reads, for one glibc family. */
struct glibc_layout {
    const char *name; /* "2.35+" */
    int min_minor;    /* first glibc 2.x this table is for */
    int safe_linking; /* singly linked lists mangled (2.32+) */
    int verified;     /* checked against real debug info */
    /* struct malloc_state */
    int ms_mutex, ms_flags, ms_have_fastchunks, ms_fastbins, ms_nfastbins;
    int ms_top, ms_last_remainder, ms_bins, ms_binmap, ms_next, ms_next_free;
    int ms_attached_threads, ms_system_mem, ms_max_system_mem, ms_size;
    /* struct malloc_par */
    int mp_trim_threshold, mp_top_pad, mp_mmap_threshold, mp_arena_test;
    int mp_arena_max, mp_n_mmaps, mp_n_mmaps_max, mp_max_n_mmaps;
    int mp_no_dyn_threshold, mp_mmapped_mem, mp_max_mmapped_mem;
    int mp_sbrk_base, mp_tcache_bins, mp_tcache_max_bytes, mp_tcache_count;
    int mp_hp_pagesize; /* -1 when absent */
    int mp_size;
    /* Bytes of an mmapped chunk's mapping past prev_size + size (2.43+
     * leaves the chunk header's 16 out of the size). */
    int mmap_tail;
    /* heap_info */
    int hi_ar_ptr, hi_prev, hi_size, hi_mprotect_size, hi_sizeof;
};

/* The tables (oldest first) and the one for glibc 2.minor, or NULL. */
const struct glibc_layout *glibc_layout_for(int minor);

/* Chunk geometry on 64-bit glibc. */
#define GLIBC_SIZE_SZ 8
#define GLIBC_ALIGN 16
#define GLIBC_MINSIZE 32
#define GLIBC_PREV_INUSE 0x1
#define GLIBC_IS_MMAPPED 0x2
#define GLIBC_NON_MAIN_ARENA 0x4
#define GLIBC_SIZE_BITS 0x7
#define GLIBC_NBINS 128
#define GLIBC_NONCONTIGUOUS 0x2
/* HEAP_MAX_SIZE on 64-bit: 2 * DEFAULT_MMAP_THRESHOLD_MAX. */
#define GLIBC_HEAP_MAX (64ULL << 20)

/* Bounds on the walks. */
#define GLIBC_MAX_ARENAS 4096
#define GLIBC_MAX_HEAPS 65536
#define GLIBC_MAX_FREE_CHUNKS (64ULL << 20)
#define GLIBC_MAX_FREE_RANGES (4u << 20)

struct glibc_range {
    raddr_t start;
    raddr_t end;
};

struct glibc_arena {
    raddr_t addr;
    int is_main;
    uint64_t system_mem;
    uint64_t max_system_mem;
    uint64_t attached_threads;
    raddr_t top_addr;
    uint64_t top;          /* size of the top chunk */
    uint64_t free;         /* bins + fastbins + top */
    uint64_t fastbin_free; /* part of free in fastbins */
    uint64_t free_chunks;  /* in bins and fastbins, top not counted */
    size_t nheaps;
    int complete; /* every list walked to its end */
};

struct glibc_malloc {
    struct target *target; /* not owned */
    char *libc_path;       /* as the target maps it */
    int minor;             /* glibc 2.minor */
    char version[16];
    const struct glibc_layout *layout;
    const char *located_by; /* "symbols", "debug-file" or "search" */
    raddr_t main_arena;
    raddr_t mp;
    raddr_t heap_start, heap_end; /* the [heap] mapping, 0 when none */

    /* mp_: tunables and mmapped totals. */
    uint64_t trim_threshold, top_pad, mmap_threshold;
    uint64_t arena_test, arena_max;
    int64_t n_mmaps, n_mmaps_max, max_n_mmaps;
    int no_dyn_threshold;
    uint64_t mmapped_mem, max_mmapped_mem;
    raddr_t sbrk_base;
    uint64_t tcache_bins, tcache_count;

    /* The walk. */
    struct glibc_arena *arenas;
    size_t narenas;
    uint64_t system_mem; /* bytes in arenas' heaps (mallinfo2 arena) */
    uint64_t free;       /* fordblks */
    uint64_t in_use;     /* uordblks */
    uint64_t top;        /* main arena top (keepcost) */
    uint64_t tops;       /* every arena's top */
    uint64_t fastbin_free;
    uint64_t free_chunks;
    int complete;
    char problem[200]; /* why the walk is partial, "" when complete */

    /* Every heap: the main one and each thread arena heap (used part). */
    struct glibc_range *heaps;
    size_t nheaps, heaps_alloc;
    /* Whole pages inside free chunks and tops (what malloc_trim could
     * give back), and how much of that is resident. */
    struct glibc_range *free_pages;
    size_t nfree_pages, free_pages_alloc;
    int free_pages_complete;
    uint64_t free_resident;
    uint64_t free_swapped;

    uint64_t reads; /* target reads done by the walk */

    /* In: stop walking the free lists at this clock_now_ns() instant (0:
     * no limit), to bound how long the target stays paused.  The answer
     * is then partial. */
    uint64_t deadline_ns;
    int deadline_hit;
    uint64_t free_chunks_walked;
};

/*
 * Find glibc malloc in the target: libc among the mappings, its version,
 * and main_arena and mp_ (symbols, debug file, or search; search_only
 * skips the symbols, to check the search).  Does not
 * need the target paused (the search reads a few tens of KiB).
 * PS_ENOTFOUND (no glibc: static, musl...; context says why),
 * PS_EVERSION (glibc older than 2.27), PS_ECORRUPT (not found by
 * search).  gm is initialised in every case; release it.
 */
int glibc_malloc_locate(struct target *t, struct memsrc *mem,
                        const struct maps *maps, int search_only,
                        struct glibc_malloc *gm);

/*
 * Walk every arena's free lists (the target should be paused).  Fills
 * the totals, arenas, heaps and free_pages.  Returns 0 with complete = 0
 * and problem set when part of the heap could not be walked; a negative
 * code only when the target is gone (PS_EEXITED) or nothing at all could
 * be read.  mem should be a block cache over the process (reads of 32
 * bytes at scattered addresses).
 */
int glibc_malloc_walk(struct glibc_malloc *gm, struct memsrc *mem,
                      const struct maps *maps);

/*
 * Only the arenas and their heaps, not the free lists: a few reads per
 * arena, for sampling often without pausing (the free figures are not
 * filled).  A torn read gives a partial list, not an error.
 */
int glibc_malloc_heaps(struct glibc_malloc *gm, struct memsrc *mem,
                       const struct maps *maps);

/* Count the resident and swapped pages of free_pages. */
int glibc_malloc_free_resident(struct glibc_malloc *gm, struct pagemap *pm);

void glibc_malloc_release(struct glibc_malloc *gm);

/*
 * One chunk seen by glibc_chunk_walk(): its address, size, whether the
 * allocator considers it in use (fastbin and tcache chunks are), and up
 * to 64 bytes of its user data (len may be less near a block's end).
 */
typedef void (*glibc_chunk_fn)(void *ctx, raddr_t chunk, uint64_t size,
                               int in_use, const unsigned char *data,
                               size_t len);

struct glibc_chunk_stats {
    uint64_t chunks_in_use, bytes_in_use;
    uint64_t chunks_free, bytes_free; /* not in use (fastbins are) */
    uint64_t bytes_read;
    uint64_t unwalked; /* heap bytes skipped after a bad chunk */
    int complete;
    char problem[200];
};

/*
 * Visit every chunk of every heap found by glibc_malloc_walk(), reading
 * each heap in blocks of block_size bytes (1 MiB is good).  Stops a heap
 * at the first chunk that does not look like one (counted in unwalked).
 * Safe on a running target: a heap that changes gives a partial answer.
 */
int glibc_chunk_walk(const struct glibc_malloc *gm, struct memsrc *proc,
                     size_t block_size, glibc_chunk_fn fn, void *ctx,
                     struct glibc_chunk_stats *st);

/*
 * Does hdr (the first 16 bytes at page-aligned addr) start a chunk that
 * malloc mmapped on its own, ending at or before limit?  Its mapping is
 * prev_size + size + tail bytes, whole pages (tail: the layout's
 * mmap_tail).  Sets *size to the bytes from addr to the mapping's end.
 * Pure.
 */
int glibc_mmapped_chunk(const unsigned char *hdr, raddr_t addr, raddr_t limit,
                        uint64_t page_size, uint64_t tail, uint64_t *size);

/*
 * Which of cand[0..n) (starts of anonymous read-write mappings at
 * GLIBC_HEAP_MAX boundaries) are heaps of non-main arenas, told by their
 * own header: a heap_info whose arena lies at the start of such a heap
 * (the arena's first heap), sizes within GLIBC_HEAP_MAX.  Needs no arena
 * list: a reader that does not pause the target finds every heap even
 * when a busy arena tears the walk of the list.  Sets is_heap[i] to 1 or
 * 0.  Returns 0 or PS_EEXITED.
 */
int glibc_heaps_by_header(struct memsrc *mem, const raddr_t *cand, size_t n,
                          unsigned char *is_heap);

/*
 * Find chunks that malloc mmapped on their own inside the anonymous
 * mapping [start, end), skipping the sorted ranges in skip (heaps,
 * arenas and stacks others own).  Only resident pages are looked at
 * (pagemap), so nothing is faulted or swapped in; pm NULL (a core file,
 * which holds what it holds) looks at every page.  The first 16 bytes of
 * candidate pages are read in batches (tail: as for
 * glibc_mmapped_chunk()).  Found chunks are appended to
 * *out.  *scanned counts candidate pages; at most max_pages are read
 * (then *complete is cleared).
 */
int glibc_find_mmapped(struct memsrc *proc, struct pagemap *pm, raddr_t start,
                       raddr_t end, uint64_t tail,
                       const struct glibc_range *skip, size_t nskip,
                       struct glibc_range **out, size_t *n, size_t *alloc,
                       uint64_t max_pages, uint64_t *scanned, int *complete);

/* The largebin index glibc files a free chunk of this size under. */
int glibc_bin_index(uint64_t size);

#endif /* PYSPECT_TARGET_GLIBC_HEAP_H */
