/*
 * glibc_heap.c - find glibc malloc's arenas in a target and walk them.
 *
 * Layer: target.  See glibc_heap.h for what is read and why.  Values read
 * from the target are untrusted: every pointer is checked against the
 * arena's heaps (or the mappings) before it is followed, every size
 * against the chunk geometry, every list walk has a bound, and a doubly
 * linked bin is checked link by link (p->fd must be the node we came
 * from), so a cycle or a torn update ends that list with a problem noted.
 */
#define _GNU_SOURCE
#include "glibc_heap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/debuginfo.h"
#include "target/elf.h"
#include "core/banned.h"

/*
 * Offsets by glibc family.  2.43 removed the fastbins; 2.35 added
 * thp_pagesize, hp_pagesize and hp_flags to malloc_par and pagesize to
 * heap_info; 2.32 added safe-linking; 2.27 added
 * malloc_state.have_fastchunks.  The 2.35+ table was checked field by
 * field against glibc 2.36's DWARF and the 2.43+ one against glibc 2.43's
 * (libc6-dbg of the sid root; gdb `ptype /o struct malloc_state`, see
 * tools/check_glibc_layout.py); the 2.27-2.34 table comes from reading
 * glibc's malloc.c of those releases.  Absent fields are -1 (and no
 * fastbins is ms_nfastbins 0).
 */
/* clang-format off */
static const struct glibc_layout glibc_layouts[] = {
    {
        .name = "2.27-2.34", .min_minor = 27, .safe_linking = 0,
        .verified = 0,
        .ms_mutex = 0, .ms_flags = 4, .ms_have_fastchunks = 8,
        .ms_fastbins = 16, .ms_nfastbins = 10, .ms_top = 96,
        .ms_last_remainder = 104, .ms_bins = 112, .ms_binmap = 2144,
        .ms_next = 2160, .ms_next_free = 2168, .ms_attached_threads = 2176,
        .ms_system_mem = 2184, .ms_max_system_mem = 2192, .ms_size = 2200,
        .mp_trim_threshold = 0, .mp_top_pad = 8, .mp_mmap_threshold = 16,
        .mp_arena_test = 24, .mp_arena_max = 32, .mp_n_mmaps = 40,
        .mp_n_mmaps_max = 44, .mp_max_n_mmaps = 48,
        .mp_no_dyn_threshold = 52, .mp_mmapped_mem = 56,
        .mp_max_mmapped_mem = 64, .mp_sbrk_base = 72, .mp_tcache_bins = 80,
        .mp_tcache_max_bytes = 88, .mp_tcache_count = 96,
        .mp_hp_pagesize = -1, .mp_size = 112, .mmap_tail = 0,
        .hi_ar_ptr = 0, .hi_prev = 8, .hi_size = 16, .hi_mprotect_size = 24,
        .hi_sizeof = 32,
    },
    {
        .name = "2.35+", .min_minor = 35, .safe_linking = 1, .verified = 1,
        .ms_mutex = 0, .ms_flags = 4, .ms_have_fastchunks = 8,
        .ms_fastbins = 16, .ms_nfastbins = 10, .ms_top = 96,
        .ms_last_remainder = 104, .ms_bins = 112, .ms_binmap = 2144,
        .ms_next = 2160, .ms_next_free = 2168, .ms_attached_threads = 2176,
        .ms_system_mem = 2184, .ms_max_system_mem = 2192, .ms_size = 2200,
        .mp_trim_threshold = 0, .mp_top_pad = 8, .mp_mmap_threshold = 16,
        .mp_arena_test = 24, .mp_arena_max = 32, .mp_n_mmaps = 60,
        .mp_n_mmaps_max = 64, .mp_max_n_mmaps = 68,
        .mp_no_dyn_threshold = 72, .mp_mmapped_mem = 80,
        .mp_max_mmapped_mem = 88, .mp_sbrk_base = 96, .mp_tcache_bins = 104,
        .mp_tcache_max_bytes = 112, .mp_tcache_count = 120,
        .mp_hp_pagesize = 48, .mp_size = 136, .mmap_tail = 0,
        .hi_ar_ptr = 0, .hi_prev = 8, .hi_size = 16, .hi_mprotect_size = 24,
        .hi_sizeof = 48,
    },
    /* No fastbins any more (malloc_state loses fastbinsY and
     * have_fastchunks); malloc_par gains thp_mode and renames tcache_bins
     * to tcache_small_bins; an mmapped chunk's size leaves its header out
     * of its mapping. */
    {
        .name = "2.43+", .min_minor = 43, .safe_linking = 1, .verified = 1,
        .ms_mutex = 0, .ms_flags = 4, .ms_have_fastchunks = -1,
        .ms_fastbins = -1, .ms_nfastbins = 0, .ms_top = 8,
        .ms_last_remainder = 16, .ms_bins = 24, .ms_binmap = 2056,
        .ms_next = 2072, .ms_next_free = 2080, .ms_attached_threads = 2088,
        .ms_system_mem = 2096, .ms_max_system_mem = 2104, .ms_size = 2112,
        .mp_trim_threshold = 0, .mp_top_pad = 8, .mp_mmap_threshold = 16,
        .mp_arena_test = 24, .mp_arena_max = 32, .mp_n_mmaps = 68,
        .mp_n_mmaps_max = 72, .mp_max_n_mmaps = 76,
        .mp_no_dyn_threshold = 80, .mp_mmapped_mem = 88,
        .mp_max_mmapped_mem = 96, .mp_sbrk_base = 104, .mp_tcache_bins = 112,
        .mp_tcache_max_bytes = 120, .mp_tcache_count = 128,
        .mp_hp_pagesize = 56, .mp_size = 144, .mmap_tail = 16,
        .hi_ar_ptr = 0, .hi_prev = 8, .hi_size = 16, .hi_mprotect_size = 24,
        .hi_sizeof = 48,
    },
};
/* clang-format on */

/* Bytes of libc's writable data the search reads at most. */
#define GLIBC_DATA_MAX (1u << 20)
/* Largest libc file scanned for its version banner. */
#define GLIBC_FILE_MAX (64u << 20)

const struct glibc_layout *
glibc_layout_for(int minor)
{
    const struct glibc_layout *best = NULL;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(glibc_layouts); i++) {
        if (minor >= glibc_layouts[i].min_minor) {
            best = &glibc_layouts[i];
        }
    }
    /* 2.32-2.34 have safe-linking with the older malloc_par. */
    if (best == &glibc_layouts[0] && minor >= 32) {
        static struct glibc_layout sl;

        sl = glibc_layouts[0];
        sl.name = "2.32-2.34";
        sl.safe_linking = 1;
        return &sl;
    }
    return best;
}

int
glibc_bin_index(uint64_t size)
{
    if (size < 1024) {
        return (int)(size >> 4);
    }
    if ((size >> 6) <= 48) {
        return 48 + (int)(size >> 6);
    }
    if ((size >> 9) <= 20) {
        return 91 + (int)(size >> 9);
    }
    if ((size >> 12) <= 10) {
        return 110 + (int)(size >> 12);
    }
    if ((size >> 15) <= 4) {
        return 119 + (int)(size >> 15);
    }
    if ((size >> 18) <= 2) {
        return 124 + (int)(size >> 18);
    }
    return 126;
}

int
glibc_mmapped_chunk(const unsigned char *hdr, raddr_t addr, raddr_t limit,
                    uint64_t page_size, uint64_t tail, uint64_t *size)
{
    uint64_t prev = load_u64(hdr, 0), head = load_u64(hdr, 8);
    uint64_t sz = head & ~(uint64_t)GLIBC_SIZE_BITS;

    /* An mmapped chunk: IS_MMAPPED set, neither other bit; prev_size is
     * the alignment offset inside the mapping (0 for plain malloc); the
     * mapping (offset + size + tail) is whole pages. */
    if ((head & GLIBC_SIZE_BITS) != GLIBC_IS_MMAPPED || sz < page_size ||
        prev >= page_size || (prev & (GLIBC_ALIGN - 1)) != 0 ||
        ((prev + sz + tail) & (page_size - 1)) != 0 || addr % page_size != 0) {
        return 0;
    }
    sz += tail;
    if (addr + sz < addr || addr + sz > limit) {
        return 0;
    }
    *size = sz;
    return 1;
}

/* ---- locating ------------------------------------------------------- */

static int
is_libc_name(const char *path)
{
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    return strncmp(base, "libc.so", 7) == 0 ||
           (strncmp(base, "libc-2.", 7) == 0 && strstr(base, ".so") != NULL);
}

static int
is_musl_name(const char *path)
{
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    return strncmp(base, "ld-musl", 7) == 0 ||
           strncmp(base, "libc.musl", 9) == 0;
}

/* "... release version 2.36." (the banner libc prints when run). */
static int
glibc_version_of(const char *file, struct glibc_malloc *gm)
{
    struct strbuf sb = STRBUF_INIT;
    const char *p;
    int rc;

    rc = read_file(file, GLIBC_FILE_MAX, &sb);
    if (rc < 0) {
        strbuf_release(&sb);
        return rc;
    }
    p = memmem(sb.buf, sb.len, "release version 2.", 18);
    if (p != NULL) {
        p += 18;
    } else {
        p = memmem(sb.buf, sb.len, "GNU C Library version 2.", 24);
        p = p != NULL ? p + 24 : NULL;
    }
    rc = PS_ENOTFOUND;
    if (p != NULL) {
        const char *v = p, *end = sb.buf + sb.len;
        int minor = 0, digits = 0;

        while (v < end && *v >= '0' && *v <= '9' && digits < 3) {
            minor = minor * 10 + (*v++ - '0');
            digits++;
        }
        if (digits > 0) {
            gm->minor = minor;
            snprintf(gm->version, sizeof(gm->version), "2.%d", minor);
            rc = 0;
        }
    }
    strbuf_release(&sb);
    return rc;
}

/* Every mapping of the libc file, to find its load bias. */
static const struct map_entry *
libc_first_mapping(const struct maps *maps, const char *path)
{
    size_t i;

    for (i = 0; i < maps->n; i++) {
        if (maps->v[i].offset == 0 && strcmp(maps->v[i].path, path) == 0) {
            return &maps->v[i];
        }
    }
    return NULL;
}

/* Is addr inside a readable and writable mapping? */
static const struct map_entry *
rw_mapping(const struct maps *maps, raddr_t addr)
{
    const struct map_entry *e = maps_find(maps, addr);

    if (e == NULL || e->perms[0] != 'r' || e->perms[1] != 'w') {
        return NULL;
    }
    return e;
}

/*
 * Check a main_arena candidate in a local copy: lock word, flags, the
 * 127 bins (each empty -- pointing to itself -- or holding aligned chunk
 * pointers), counters.  torn_ok bins may be half-linked (the target is
 * running during the search), and at least min_empty must be empty: a
 * search wants some (garbage has none), but an arena reached through the
 * ring may be a busy one with a chunk in nearly every bin.
 */
static int
arena_plausible(const struct glibc_layout *L, const unsigned char *a,
                raddr_t addr, int torn_ok, int min_empty, int *empty_out)
{
    uint64_t sys = load_u64(a, L->ms_system_mem);
    uint64_t maxsys = load_u64(a, L->ms_max_system_mem);
    uint64_t next = load_u64(a, L->ms_next), top = load_u64(a, L->ms_top);
    raddr_t initial_top = addr + (raddr_t)L->ms_bins - 16;
    int b, empty = 0, torn = 0;

    if (load_u32(a, L->ms_mutex) > 2 ||
        (load_u32(a, L->ms_flags) & ~7u) != 0 ||
        (L->ms_have_fastchunks >= 0 &&
         load_u32(a, L->ms_have_fastchunks) > 1) ||
        next == 0 || (next & 7) != 0 || sys > maxsys ||
        maxsys > (1ULL << 48) ||
        load_u64(a, L->ms_attached_threads) > (1ULL << 24)) {
        return 0;
    }
    if (top == initial_top ? sys != 0 : (top == 0 || (top & 15) != 0)) {
        return 0;
    }
    for (b = 1; b < GLIBC_NBINS; b++) {
        int off = L->ms_bins + (b - 1) * 16;
        uint64_t fd = load_u64(a, off), bk = load_u64(a, off + 8);
        raddr_t self = addr + (raddr_t)off - 16;

        if (fd == self && bk == self) {
            empty++;
        } else if (fd == self || bk == self || fd == 0 || bk == 0 ||
                   (fd & 15) != 0 || (bk & 15) != 0) {
            if (++torn > torn_ok) {
                return 0;
            }
        }
    }
    *empty_out = empty;
    return empty >= min_empty;
}

/* Follow the `next` ring from the main arena candidate back to itself:
 * every other member must be a thread arena inside its heap. */
static int
ring_plausible(const struct glibc_layout *L, struct memsrc *mem,
               raddr_t main_arena, uint64_t first_next, size_t *narenas)
{
    raddr_t a = first_next;
    size_t n = 1;

    while (a != main_arena) {
        uint64_t ar_ptr = 0, next = 0;
        raddr_t heap = a & ~(GLIBC_HEAP_MAX - 1);

        if (n >= GLIBC_MAX_ARENAS || a - heap != (raddr_t)L->hi_sizeof ||
            memsrc_read_u64(mem, heap + (raddr_t)L->hi_ar_ptr, &ar_ptr) < 0 ||
            ar_ptr != a ||
            memsrc_read_u64(mem, a + (raddr_t)L->ms_next, &next) < 0) {
            return 0;
        }
        a = next;
        n++;
    }
    *narenas = n;
    return 1;
}

static int
mp_plausible(const struct glibc_layout *L, const unsigned char *m,
             const struct glibc_malloc *gm)
{
    uint64_t mmap_thr = load_u64(m, L->mp_mmap_threshold);
    uint64_t arena_test = load_u64(m, L->mp_arena_test);
    uint64_t arena_max = load_u64(m, L->mp_arena_max);
    int32_t n_mmaps = (int32_t)load_u32(m, L->mp_n_mmaps);
    int32_t n_max = (int32_t)load_u32(m, L->mp_n_mmaps_max);
    int32_t max_n = (int32_t)load_u32(m, L->mp_max_n_mmaps);
    uint32_t no_dyn = load_u32(m, L->mp_no_dyn_threshold);
    uint64_t mm = load_u64(m, L->mp_mmapped_mem);
    uint64_t maxmm = load_u64(m, L->mp_max_mmapped_mem);
    uint64_t sbrk = load_u64(m, L->mp_sbrk_base);
    uint64_t tbins = load_u64(m, L->mp_tcache_bins);
    uint64_t tmax = load_u64(m, L->mp_tcache_max_bytes);
    uint64_t tcount = load_u64(m, L->mp_tcache_count);
    /* Whole pages, except from 2.43, whose mremap() of a chunk adds the
     * chunk header's 16 bytes to the count each time. */
    uint64_t mm_align = L->mmap_tail ? GLIBC_ALIGN - 1 : 0xfff;

    if (mmap_thr > GLIBC_HEAP_MAX / 2 || arena_test == 0 ||
        arena_test > (1u << 20) || arena_max > (1u << 20) || n_mmaps < 0 ||
        n_max < 0 || max_n < n_mmaps || no_dyn > 1 || mm > maxmm ||
        maxmm > (1ULL << 48) || (mm & mm_align) != 0 ||
        (maxmm & mm_align) != 0 || (mm == 0) != (n_mmaps == 0) ||
        tbins > 128 || tmax > (1u << 20) || tcount > 65535) {
        return 0;
    }
    /* Both zero only in a block of zeros: glibc starts them at 128 KiB,
     * and mallopt() sets one at a time.  (2.43's mp_ has no fastbin
     * fields to tell it from its zeroed neighbours otherwise.) */
    if (mmap_thr == 0 && load_u64(m, L->mp_top_pad) == 0) {
        return 0;
    }
    /* sbrk_base is where the brk heap began: inside [heap] while that
     * exists (it disappears when trimmed to nothing). */
    if (sbrk != 0 && gm->heap_end != 0 &&
        (sbrk < gm->heap_start || sbrk >= gm->heap_end)) {
        return 0;
    }
    if (L->mp_hp_pagesize >= 0) {
        uint64_t thp = load_u64(m, L->mp_hp_pagesize - 8);
        uint64_t hp = load_u64(m, L->mp_hp_pagesize);

        if ((thp & (thp - 1)) != 0 || (hp & (hp - 1)) != 0 ||
            thp > (1ULL << 30) || hp > (1ULL << 30)) {
            return 0;
        }
    }
    return 1;
}

/* Read mp_'s fields into gm. */
static int
read_mp(struct glibc_malloc *gm, struct memsrc *mem)
{
    const struct glibc_layout *L = gm->layout;
    unsigned char m[256];
    int rc;

    rc = memsrc_read(mem, gm->mp, m, (size_t)L->mp_size);
    if (rc < 0) {
        return err_set(rc, "cannot read glibc's mp_");
    }
    gm->trim_threshold = load_u64(m, L->mp_trim_threshold);
    gm->top_pad = load_u64(m, L->mp_top_pad);
    gm->mmap_threshold = load_u64(m, L->mp_mmap_threshold);
    gm->arena_test = load_u64(m, L->mp_arena_test);
    gm->arena_max = load_u64(m, L->mp_arena_max);
    gm->n_mmaps = (int32_t)load_u32(m, L->mp_n_mmaps);
    gm->n_mmaps_max = (int32_t)load_u32(m, L->mp_n_mmaps_max);
    gm->max_n_mmaps = (int32_t)load_u32(m, L->mp_max_n_mmaps);
    gm->no_dyn_threshold = (int)load_u32(m, L->mp_no_dyn_threshold);
    gm->mmapped_mem = load_u64(m, L->mp_mmapped_mem);
    gm->max_mmapped_mem = load_u64(m, L->mp_max_mmapped_mem);
    gm->sbrk_base = load_u64(m, L->mp_sbrk_base);
    gm->tcache_bins = load_u64(m, L->mp_tcache_bins);
    gm->tcache_count = load_u64(m, L->mp_tcache_count);
    return 0;
}

/* main_arena and mp_ from symbols: libc's own .symtab or a debug file. */
static int
locate_by_symbols(struct glibc_malloc *gm, const char *file, uint64_t bias)
{
    struct elf_image *img = NULL, *dbg = NULL;
    struct elf_symbol arena, mp;
    int rc;

    rc = elf_image_open(file, &img);
    err_clear();
    if (rc < 0) {
        return rc;
    }
    if (elf_image_symbol(img, "main_arena", &arena) == 0 &&
        elf_image_symbol(img, "mp_", &mp) == 0) {
        gm->located_by = "symbols";
    } else if (debuginfo_open(gm->target, file, &dbg, NULL) == 0 &&
               elf_image_symbol(dbg, "main_arena", &arena) == 0 &&
               elf_image_symbol(dbg, "mp_", &mp) == 0) {
        gm->located_by = "debug-file";
    } else {
        rc = PS_ENOTFOUND;
    }
    if (rc == 0) {
        if (arena.size != (uint64_t)gm->layout->ms_size ||
            mp.size != (uint64_t)gm->layout->mp_size) {
            /* The symbols say the structures are not what the table
             * describes: do not trust the table for this libc. */
            rc = err_set(PS_EVERSION,
                         "glibc %s: main_arena is %llu bytes and mp_ %llu, "
                         "pyspect expects %d and %d",
                         gm->version, (unsigned long long)arena.size,
                         (unsigned long long)mp.size, gm->layout->ms_size,
                         gm->layout->mp_size);
        } else {
            gm->main_arena = arena.value + bias;
            gm->mp = mp.value + bias;
        }
    }
    elf_image_close(dbg);
    elf_image_close(img);
    return rc;
}

/*
 * Search libc's writable data (.data and .bss) for the one place that
 * has the shape of main_arena, and its .data for mp_.
 */
static int
locate_by_search(struct glibc_malloc *gm, struct memsrc *mem,
                 const struct maps *maps, const char *file, uint64_t bias)
{
    const struct glibc_layout *L = gm->layout;
    struct elf_image *img = NULL;
    uint64_t data_addr, data_size, bss_addr, bss_size, len, off;
    unsigned char *buf = NULL;
    raddr_t base, found_arena = 0, found_mp = 0;
    int rc, narena = 0, nmp = 0;

    rc = elf_image_open(file, &img);
    err_clear();
    if (rc < 0) {
        return err_set(PS_ENOTFOUND, "cannot open %s", file);
    }
    if (elf_image_section(img, ".data", &data_addr, &data_size) < 0) {
        elf_image_close(img);
        return err_set(PS_ENOTFOUND, "%s has no .data section", file);
    }
    if (elf_image_section(img, ".bss", &bss_addr, &bss_size) < 0 ||
        bss_addr < data_addr) {
        bss_addr = data_addr;
        bss_size = data_size;
    }
    elf_image_close(img);
    base = data_addr + bias;
    len = bss_addr + bss_size - data_addr;
    if (len > GLIBC_DATA_MAX) {
        len = GLIBC_DATA_MAX;
    }
    buf = xmalloc(len);
    rc = memsrc_read(mem, base, buf, len);
    if (rc < 0) {
        /* The .bss tail may sit in a separate mapping: try .data alone. */
        len = data_size < len ? data_size : len;
        rc = memsrc_read(mem, base, buf, len);
    }
    if (rc < 0) {
        free(buf);
        return err_set(rc, "cannot read glibc's data");
    }
    for (off = 0; off + (uint64_t)L->ms_size <= len; off += 8) {
        int empty;
        size_t n;

        uint64_t top = load_u64(buf + off, L->ms_top);

        if (arena_plausible(L, buf + off, base + off, 2, 8, &empty) &&
            (top == base + off + (uint64_t)L->ms_bins - 16 ||
             rw_mapping(maps, top) != NULL) &&
            ring_plausible(L, mem, base + off, load_u64(buf + off, L->ms_next),
                           &n)) {
            found_arena = base + off;
            narena++;
        }
    }
    for (off = 0; off + (uint64_t)L->mp_size <= data_size && off < len;
         off += 8) {
        if (off + (uint64_t)L->mp_size <= len &&
            mp_plausible(L, buf + off, gm)) {
            found_mp = base + off;
            nmp++;
        }
    }
    free(buf);
    if (narena != 1 || nmp != 1) {
        return err_set(PS_ECORRUPT,
                       "glibc %s: %d candidates for main_arena and %d for mp_ "
                       "in libc's data (install libc6-dbg for its symbols)",
                       gm->version, narena, nmp);
    }
    gm->main_arena = found_arena;
    gm->mp = found_mp;
    gm->located_by = "search";
    return 0;
}

int
glibc_malloc_locate(struct target *t, struct memsrc *mem,
                    const struct maps *maps, int search_only,
                    struct glibc_malloc *gm)
{
    const struct map_entry *libc = NULL, *first;
    struct elf_image *img = NULL;
    struct strbuf file = STRBUF_INIT;
    uint64_t bias;
    size_t i;
    int rc;

    memset(gm, 0, sizeof(*gm));
    gm->target = t;
    gm->free_pages_complete = 1;
    for (i = 0; i < maps->n; i++) {
        const struct map_entry *e = &maps->v[i];

        if (strcmp(e->path, "[heap]") == 0) {
            gm->heap_start = e->start;
            gm->heap_end = e->end;
        }
        if (libc == NULL && map_entry_is_file(e) && is_libc_name(e->path)) {
            libc = e;
        }
        if (is_musl_name(e->path)) {
            return err_set(PS_ENOTFOUND,
                           "the C library is musl (%s), not glibc", e->path);
        }
    }
    if (libc == NULL) {
        return err_set(PS_ENOTFOUND, "no glibc libc.so.6 mapped (a static "
                                     "executable?)");
    }
    gm->libc_path = xstrdup(libc->path);
    first = libc_first_mapping(maps, libc->path);
    if (first == NULL) {
        return err_set(PS_ENOTFOUND, "no mapping of the start of %s",
                       libc->path);
    }
    rc = target_open_elf(t, first, &file, &img);
    if (rc < 0) {
        strbuf_release(&file);
        return err_set(PS_ENOTFOUND, "cannot open %s", libc->path);
    }
    bias = elf_image_bias(img, first->start);
    elf_image_close(img);
    rc = glibc_version_of(file.buf, gm);
    if (rc < 0) {
        rc = err_set(PS_ENOTFOUND, "cannot tell the glibc version of %s",
                     libc->path);
        goto out;
    }
    gm->layout = glibc_layout_for(gm->minor);
    if (gm->layout == NULL) {
        rc = err_set(PS_EVERSION,
                     "glibc %s is older than 2.27, which pyspect reads",
                     gm->version);
        goto out;
    }
    rc = search_only ? PS_ENOTFOUND : locate_by_symbols(gm, file.buf, bias);
    if (rc == PS_ENOTFOUND) {
        rc = locate_by_search(gm, mem, maps, file.buf, bias);
    }
    if (rc == 0) {
        rc = read_mp(gm, mem);
    }
out:
    strbuf_release(&file);
    return rc;
}

/* ---- walking ---------------------------------------------------------- */

#define LREAD_PRED 64 /* nodes predicted and read at once */

struct lread {
    unsigned char *buf;
    raddr_t start, end; /* what buf holds */
    raddr_t last;
    int dense; /* consecutive near steps */
    int down;  /* the walk goes to lower addresses */
    /* Far nodes at a constant stride (chunks freed in address order):
     * the next LREAD_PRED are guessed and read in one batch. */
    int64_t stride;
    int same; /* consecutive steps of that stride */
    raddr_t pred[LREAD_PRED];
    unsigned char pok[LREAD_PRED];
    unsigned char pbuf[LREAD_PRED * 32];
    size_t npred, next;
};

struct walk {
    struct glibc_malloc *gm;
    struct memsrc *mem;
    const struct maps *maps;
    const struct glibc_layout *L;
    uint64_t page;
    uint64_t budget;   /* free chunks left to visit */
    unsigned problems; /* problems noted so far */
    int heaps_only;    /* skip the free lists */
    struct lread lr;   /* reads list nodes */
    /* The heaps of the arena being walked. */
    size_t heap_first, heap_count;
    int contiguous_main;
    raddr_t main_lo, main_hi;
};

static void walk_problem(struct walk *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
walk_problem(struct walk *w, const char *fmt, ...)
{
    va_list ap;

    w->gm->complete = 0;
    w->problems++;
    if (w->gm->problem[0] != '\0') {
        return; /* keep the first */
    }
    va_start(ap, fmt);
    vsnprintf(w->gm->problem, sizeof(w->gm->problem), fmt, ap);
    va_end(ap);
}

static void
add_range(struct glibc_range **v, size_t *n, size_t *alloc, raddr_t start,
          raddr_t end)
{
    XGROW(*v, *alloc, *n + 1);
    (*v)[*n].start = start;
    (*v)[*n].end = end;
    (*n)++;
}

/* Is [p, p + len) inside one of the current arena's heaps? */
static int
in_arena(const struct walk *w, raddr_t p, uint64_t len)
{
    size_t i;

    if (p + len < p) {
        return 0;
    }
    if (w->contiguous_main) {
        return p >= w->main_lo && p + len <= w->main_hi;
    }
    if (w->heap_count == 0) {
        /* A non-contiguous main arena: any writable mapping. */
        const struct map_entry *e = rw_mapping(w->maps, p);

        return e != NULL && p + len <= e->end;
    }
    for (i = w->heap_first; i < w->heap_first + w->heap_count; i++) {
        const struct glibc_range *h = &w->gm->heaps[i];

        if (p >= h->start && p + len <= h->end) {
            return 1;
        }
    }
    return 0;
}

/* The heap (or mapping) of the current arena that holds p. */
static int
heap_bounds(const struct walk *w, raddr_t p, raddr_t *lo, raddr_t *hi)
{
    size_t i;

    if (w->contiguous_main) {
        *lo = w->main_lo;
        *hi = w->main_hi;
        return p >= *lo && p < *hi;
    }
    for (i = w->heap_first; i < w->heap_first + w->heap_count; i++) {
        const struct glibc_range *h = &w->gm->heaps[i];

        if (p >= h->start && p < h->end) {
            *lo = h->start;
            *hi = h->end;
            return 1;
        }
    }
    {
        const struct map_entry *e = rw_mapping(w->maps, p);

        if (e != NULL) {
            *lo = e->start;
            *hi = e->end;
            return 1;
        }
    }
    return 0;
}

/*
 * Reading the nodes of a free list.  Nodes far apart (big free chunks,
 * fragmentation) are read one by one: a read costs a system call whatever
 * its size, so 32 bytes are read.  Nodes close together (thousands of
 * small chunks freed in address order: fastbins, small bins) are read
 * through a window of LREAD_WINDOW bytes ahead in the walk's direction.
 * Measured on 1 GiB heaps: a 4 KiB page cache took 74 ms on the sparse
 * case and 635 ms on the dense one; 64 KiB pages 370 and 476.
 */
#define LREAD_WINDOW (256u << 10)
#define LREAD_NEAR 2048
#define LREAD_DENSE 8

static int
lread(struct walk *w, struct lread *lr, raddr_t p, void *out, size_t len)
{
    raddr_t lo, hi, ws, we;
    int rc;

    if (lr->last != 0) {
        int64_t sd = (int64_t)(p - lr->last);
        uint64_t d = sd < 0 ? (uint64_t)-sd : (uint64_t)sd;

        if (d < LREAD_NEAR) {
            lr->dense++;
            lr->down = p < lr->last;
        } else {
            lr->dense = 0;
        }
        if (sd == lr->stride) {
            lr->same++;
        } else {
            lr->stride = sd;
            lr->same = 0;
        }
    }
    lr->last = p;
    if (p >= lr->start && p + len <= lr->end) {
        memcpy(out, lr->buf + (p - lr->start), len);
        return 0;
    }
    if (lr->next < lr->npred && lr->pred[lr->next] == p && len <= 32) {
        if (lr->pok[lr->next]) {
            memcpy(out, lr->pbuf + 32 * lr->next, len);
            lr->next++;
            return 0;
        }
        lr->npred = 0;
    }
    if (lr->dense < LREAD_DENSE && lr->same >= 2 && len <= 32 &&
        heap_bounds(w, p, &lo, &hi)) {
        size_t k;

        for (k = 0; k < LREAD_PRED; k++) {
            raddr_t a = p + (raddr_t)((int64_t)k * lr->stride);

            if (a < lo || a + 32 > hi) {
                break;
            }
            lr->pred[k] = a;
        }
        lr->npred = k;
        rc = memsrc_read_many(w->mem, lr->pred, k, 32, lr->pbuf, lr->pok);
        if (rc < 0) {
            lr->npred = 0;
            return rc;
        }
        if (k > 0 && lr->pok[0]) {
            memcpy(out, lr->pbuf, len);
            lr->next = 1;
            return 0;
        }
        lr->npred = 0;
    }
    if (lr->dense < LREAD_DENSE || !heap_bounds(w, p, &lo, &hi)) {
        return memsrc_read(w->mem, p, out, len);
    }
    if (lr->buf == NULL) {
        lr->buf = xmalloc(LREAD_WINDOW);
    }
    if (lr->down) {
        we = p + len < hi ? p + len : hi;
        ws = we - lo > LREAD_WINDOW ? we - LREAD_WINDOW : lo;
    } else {
        ws = p;
        we = hi - p > LREAD_WINDOW ? p + LREAD_WINDOW : hi;
    }
    if (we < p + len) {
        return memsrc_read(w->mem, p, out, len);
    }
    rc = memsrc_read(w->mem, ws, lr->buf, (size_t)(we - ws));
    if (rc < 0) {
        lr->start = lr->end = 0;
        return rc == PS_EEXITED ? rc : memsrc_read(w->mem, p, out, len);
    }
    lr->start = ws;
    lr->end = we;
    memcpy(out, lr->buf + (p - ws), len);
    return 0;
}

/* Note the whole pages inside a free chunk [p, p + size). */
static void
note_free_pages(struct walk *w, raddr_t p, uint64_t size, uint64_t keep)
{
    struct glibc_malloc *gm = w->gm;
    raddr_t lo = (p + keep + w->page - 1) & ~(w->page - 1);
    raddr_t hi = (p + size) & ~(w->page - 1);

    if (hi <= lo) {
        return;
    }
    if (gm->nfree_pages >= GLIBC_MAX_FREE_RANGES) {
        gm->free_pages_complete = 0;
        return;
    }
    add_range(&gm->free_pages, &gm->nfree_pages, &gm->free_pages_alloc, lo,
              hi);
}

/*
 * The heaps of a thread arena: from the one holding top back through
 * heap_info.prev to the first, which holds the arena itself.
 */
static int
thread_heaps(struct walk *w, struct glibc_arena *ar)
{
    const struct glibc_layout *L = w->L;
    struct glibc_malloc *gm = w->gm;
    raddr_t h = ar->top_addr & ~(GLIBC_HEAP_MAX - 1);
    uint64_t total = 0;

    w->heap_first = gm->nheaps;
    w->heap_count = 0;
    while (h != 0) {
        unsigned char hi[64];
        uint64_t size, prev;
        int rc;

        if (w->heap_count >= GLIBC_MAX_HEAPS) {
            walk_problem(w, "arena 0x%llx: more than %d heaps",
                         (unsigned long long)ar->addr, GLIBC_MAX_HEAPS);
            return -1;
        }
        rc = memsrc_read(w->mem, h, hi, (size_t)L->hi_sizeof);
        if (rc < 0) {
            walk_problem(w, "arena 0x%llx: cannot read heap 0x%llx",
                         (unsigned long long)ar->addr, (unsigned long long)h);
            return rc == PS_EEXITED ? rc : -1;
        }
        size = load_u64(hi, L->hi_size);
        prev = load_u64(hi, L->hi_prev);
        if (load_u64(hi, L->hi_ar_ptr) != ar->addr || size > GLIBC_HEAP_MAX ||
            size < (uint64_t)L->hi_sizeof ||
            (prev & (GLIBC_HEAP_MAX - 1)) != 0) {
            walk_problem(w, "arena 0x%llx: heap 0x%llx has a bad header",
                         (unsigned long long)ar->addr, (unsigned long long)h);
            return -1;
        }
        add_range(&gm->heaps, &gm->nheaps, &gm->heaps_alloc, h, h + size);
        w->heap_count++;
        total += size;
        h = prev;
    }
    ar->nheaps = w->heap_count;
    if (total != ar->system_mem) {
        /* Harmless for the totals (system_mem is what mallinfo2 uses) but
         * worth saying: the heap list and the counter disagree. */
        walk_problem(w,
                     "arena 0x%llx: heaps hold %llu bytes, system_mem says "
                     "%llu",
                     (unsigned long long)ar->addr, (unsigned long long)total,
                     (unsigned long long)ar->system_mem);
    }
    return 0;
}

/*
 * Brent's cycle check for a list walk: remember the node at steps 1, 2,
 * 4, 8...; meeting a remembered node again means the list loops.  Costs
 * nothing and finds a loop within twice its length.
 */
struct cycle {
    raddr_t mark;
    uint64_t steps, lap;
};

/* clang-format off */
#define CYCLE_INIT {0, 0, 1}
/* clang-format on */

static int
cycle_seen(struct cycle *cy, raddr_t p)
{
    if (cy->steps > 0 && p == cy->mark) {
        return 1;
    }
    if (++cy->steps == cy->lap) {
        cy->mark = p;
        cy->lap *= 2;
        cy->steps = 0;
    }
    return 0;
}

/* Has the walk used up its time (checked at the first node and every
 * 4096 after)? */
static int
out_of_time(struct walk *w)
{
    if (w->gm->deadline_ns == 0 || (w->gm->free_chunks_walked & 4095) != 1 ||
        clock_now_ns() < w->gm->deadline_ns) {
        return 0;
    }
    w->gm->deadline_hit = 1;
    walk_problem(w,
                 "the free-list walk stopped at its time limit (--max-pause) "
                 "after %llu free chunks; the free figures are too low",
                 (unsigned long long)w->gm->free_chunks_walked);
    return 1;
}

/* A new list: the reader's window starts afresh. */
static struct lread *
list_start(struct walk *w)
{
    struct lread *lr = &w->lr;

    lr->last = 0;
    lr->dense = 0;
    lr->same = 0;
    lr->npred = 0;
    return lr;
}

/*
 * What every free-list node gets before its own checks: the loop check,
 * the walk's budget and time limit, the bounds (at least need bytes in
 * the arena), and the read of its first len bytes into c.  Returns 0 to
 * go on, 1 when this list stops here (the problem is recorded), or a
 * negative value when the whole walk must stop.
 */
static int
list_node(struct walk *w, struct lread *lr, struct cycle *cy,
          const struct glibc_arena *ar, const char *list, int index, raddr_t p,
          uint64_t need, unsigned char *c, size_t len)
{
    int rc;

    if (cycle_seen(cy, p)) {
        walk_problem(w, "arena 0x%llx %s %d loops",
                     (unsigned long long)ar->addr, list, index);
        return 1;
    }
    if (w->budget == 0) {
        walk_problem(w, "more than %llu free chunks: walk stopped",
                     (unsigned long long)GLIBC_MAX_FREE_CHUNKS);
        return -1;
    }
    w->budget--;
    w->gm->free_chunks_walked++;
    if (out_of_time(w)) {
        return -1;
    }
    if ((p & 15) != 0 || !in_arena(w, p, need)) {
        walk_problem(
            w, "arena 0x%llx %s %d: chunk 0x%llx is outside the arena",
            (unsigned long long)ar->addr, list, index, (unsigned long long)p);
        return 1;
    }
    rc = lread(w, lr, p, c, len);
    if (rc < 0) {
        if (rc == PS_EEXITED) {
            return rc;
        }
        walk_problem(w, "arena 0x%llx %s %d: cannot read 0x%llx",
                     (unsigned long long)ar->addr, list, index,
                     (unsigned long long)p);
        return 1;
    }
    return 0;
}

static int
walk_fastbins(struct walk *w, struct glibc_arena *ar, const unsigned char *a)
{
    const struct glibc_layout *L = w->L;
    int i;

    for (i = 0; i < L->ms_nfastbins; i++) {
        raddr_t p = load_u64(a, L->ms_fastbins + 8 * i);
        uint64_t want = (uint64_t)(i + 2) * GLIBC_ALIGN;
        struct cycle cy = CYCLE_INIT;
        struct lread *lr = list_start(w);

        while (p != 0) {
            unsigned char c[24];
            uint64_t size, fd;
            int rc =
                list_node(w, lr, &cy, ar, "fastbin", i, p, want, c, sizeof(c));

            if (rc != 0) {
                if (rc < 0) {
                    return rc;
                }
                break;
            }
            size = load_u64(c, 8) & ~(uint64_t)GLIBC_SIZE_BITS;
            if (size != want) {
                walk_problem(w,
                             "arena 0x%llx fastbin %d: chunk 0x%llx has size "
                             "%llu",
                             (unsigned long long)ar->addr, i,
                             (unsigned long long)p, (unsigned long long)size);
                break;
            }
            ar->free += size;
            ar->fastbin_free += size;
            ar->free_chunks++;
            fd = load_u64(c, 16);
            p = L->safe_linking ? ((p + 16) >> 12) ^ fd : fd;
        }
    }
    return 0;
}

static int
walk_bins(struct walk *w, struct glibc_arena *ar, const unsigned char *a)
{
    const struct glibc_layout *L = w->L;
    int b;

    for (b = 1; b < GLIBC_NBINS; b++) {
        int off = L->ms_bins + (b - 1) * 16;
        raddr_t head = ar->addr + (raddr_t)off - 16;
        raddr_t prev = head, p = load_u64(a, off + 8); /* bk: the last chunk */
        struct cycle cy = CYCLE_INIT;
        struct lread *lr = list_start(w);

        while (p != head) {
            unsigned char c[32];
            uint64_t size;
            int rc = list_node(w, lr, &cy, ar, "bin", b, p, GLIBC_MINSIZE, c,
                               sizeof(c));

            if (rc != 0) {
                if (rc < 0) {
                    return rc;
                }
                break;
            }
            size = load_u64(c, 8) & ~(uint64_t)GLIBC_SIZE_BITS;
            if (load_u64(c, 16) != prev || size < GLIBC_MINSIZE ||
                (size & 15) != 0 || !in_arena(w, p, size) ||
                (b >= 2 && glibc_bin_index(size) != b)) {
                walk_problem(w,
                             "arena 0x%llx bin %d: chunk 0x%llx (size %llu) "
                             "is not linked or sized as a free chunk",
                             (unsigned long long)ar->addr, b,
                             (unsigned long long)p, (unsigned long long)size);
                break;
            }
            ar->free += size;
            ar->free_chunks++;
            /* malloc_trim keeps a free chunk's header and links. */
            note_free_pages(w, p, size, 48);
            prev = p;
            p = load_u64(c, 24);
        }
    }
    return 0;
}

static int
walk_arena(struct walk *w, raddr_t addr, int is_main, raddr_t *next)
{
    const struct glibc_layout *L = w->L;
    struct glibc_malloc *gm = w->gm;
    struct glibc_arena *ar;
    unsigned char a[4096];
    raddr_t initial_top = addr + (raddr_t)L->ms_bins - 16;
    unsigned problems = w->problems;
    int empty, rc;

    rc = memsrc_read(w->mem, addr, a, (size_t)L->ms_size);
    if (rc < 0) {
        walk_problem(w, "cannot read arena 0x%llx", (unsigned long long)addr);
        return rc;
    }
    if (!arena_plausible(L, a, addr, 0, 0, &empty)) {
        walk_problem(w, "arena 0x%llx does not look like a malloc_state",
                     (unsigned long long)addr);
        return PS_ECORRUPT;
    }
    ar = &gm->arenas[gm->narenas++]; /* room for GLIBC_MAX_ARENAS */
    memset(ar, 0, sizeof(*ar));
    ar->addr = addr;
    ar->is_main = is_main;
    ar->system_mem = load_u64(a, L->ms_system_mem);
    ar->max_system_mem = load_u64(a, L->ms_max_system_mem);
    ar->attached_threads = load_u64(a, L->ms_attached_threads);
    ar->top_addr = load_u64(a, L->ms_top);
    ar->complete = 1;
    *next = load_u64(a, L->ms_next);

    if (ar->top_addr != initial_top) {
        uint64_t head;

        rc = memsrc_read_u64(w->mem, ar->top_addr + 8, &head);
        if (rc < 0) {
            walk_problem(w, "arena 0x%llx: cannot read its top chunk",
                         (unsigned long long)addr);
            ar->complete = 0;
            return rc == PS_EEXITED ? rc : 0;
        }
        ar->top = head & ~(uint64_t)GLIBC_SIZE_BITS;
    }
    /* Where this arena's chunks may lie. */
    w->contiguous_main = 0;
    w->heap_first = gm->nheaps;
    w->heap_count = 0;
    if (is_main) {
        int contiguous = (load_u32(a, L->ms_flags) & GLIBC_NONCONTIGUOUS) == 0;
        raddr_t lo = gm->sbrk_base, hi = ar->top_addr + ar->top;

        if (ar->top_addr == initial_top) {
            return 0; /* malloc never ran in the main arena */
        }
        if (contiguous && lo != 0 && lo <= ar->top_addr &&
            hi - lo <= ar->system_mem + w->page) {
            w->contiguous_main = 1;
            w->main_lo = lo;
            w->main_hi = hi;
            add_range(&gm->heaps, &gm->nheaps, &gm->heaps_alloc, lo, hi);
            ar->nheaps = 1;
        } else {
            /* brk failed at some point and malloc fell back to mmap:
             * chunks may be in any mapping; the heap ranges are unknown
             * except the one holding top. */
            const struct map_entry *e = rw_mapping(w->maps, ar->top_addr);

            if (e != NULL) {
                add_range(&gm->heaps, &gm->nheaps, &gm->heaps_alloc, e->start,
                          ar->top_addr + ar->top);
                ar->nheaps = 1;
            }
        }
    } else {
        if (ar->top_addr == initial_top || thread_heaps(w, ar) < 0) {
            ar->complete = 0;
            return 0;
        }
    }
    if (ar->top < GLIBC_MINSIZE && ar->top_addr != initial_top) {
        walk_problem(w, "arena 0x%llx: top chunk of %llu bytes",
                     (unsigned long long)addr, (unsigned long long)ar->top);
    }
    if (ar->top_addr != initial_top && !in_arena(w, ar->top_addr, ar->top)) {
        walk_problem(w, "arena 0x%llx: top chunk outside its heaps",
                     (unsigned long long)addr);
        ar->complete = 0;
        return 0;
    }
    ar->free = ar->top;
    if (ar->top_addr != initial_top) {
        note_free_pages(w, ar->top_addr, ar->top, 16);
    }
    rc = w->heaps_only || w->gm->deadline_hit ? 0 : walk_fastbins(w, ar, a);
    if (rc == 0 && !w->heaps_only && !w->gm->deadline_hit) {
        rc = walk_bins(w, ar, a);
    }
    if (rc == PS_EEXITED) {
        return rc;
    }
    if (ar->free > ar->system_mem) {
        walk_problem(w, "arena 0x%llx: %llu bytes free of %llu",
                     (unsigned long long)addr, (unsigned long long)ar->free,
                     (unsigned long long)ar->system_mem);
    }
    ar->complete = w->problems == problems;
    return 0;
}

static int walk_all(struct glibc_malloc *gm, struct memsrc *mem,
                    const struct maps *maps, int heaps_only);

int
glibc_malloc_walk(struct glibc_malloc *gm, struct memsrc *mem,
                  const struct maps *maps)
{
    return walk_all(gm, mem, maps, 0);
}

int
glibc_malloc_heaps(struct glibc_malloc *gm, struct memsrc *mem,
                   const struct maps *maps)
{
    return walk_all(gm, mem, maps, 1);
}

static int
walk_all(struct glibc_malloc *gm, struct memsrc *mem, const struct maps *maps,
         int heaps_only)
{
    struct walk w;
    raddr_t a, next = 0;
    long page = sysconf(_SC_PAGESIZE);
    size_t i;
    int rc;

    if (gm->layout == NULL || gm->main_arena == 0) {
        return err_set(PS_EINTERNAL, "glibc malloc not located");
    }
    memset(&w, 0, sizeof(w));
    w.gm = gm;
    w.mem = mem;
    w.maps = maps;
    w.L = gm->layout;
    w.page = page > 0 ? (uint64_t)page : 4096;
    w.budget = GLIBC_MAX_FREE_CHUNKS;
    w.heaps_only = heaps_only;
    gm->complete = 1;
    gm->problem[0] = '\0';
    gm->deadline_hit = 0;
    gm->free_chunks_walked = 0;
    gm->narenas = 0;
    gm->nheaps = 0;
    gm->nfree_pages = 0;
    gm->free_pages_complete = 1;
    /* Room for every arena the walk may visit (it stops at the bound). */
    free(gm->arenas);
    gm->arenas = xcalloc(GLIBC_MAX_ARENAS, sizeof(*gm->arenas));

    rc = read_mp(gm, mem);
    if (rc < 0) {
        return rc;
    }
    a = gm->main_arena;
    do {
        if (gm->narenas >= GLIBC_MAX_ARENAS) {
            walk_problem(&w, "more than %d arenas", GLIBC_MAX_ARENAS);
            break;
        }
        for (i = 0; i < gm->narenas; i++) {
            if (gm->arenas[i].addr == a) {
                break;
            }
        }
        if (i < gm->narenas) {
            walk_problem(&w, "the arena ring loops before main_arena");
            break;
        }
        rc = walk_arena(&w, a, a == gm->main_arena, &next);
        if (rc == PS_EEXITED) {
            free(w.lr.buf);
            return err_set(rc, "the target exited during the heap walk");
        }
        if (rc < 0) {
            if (gm->narenas == 0) {
                free(w.lr.buf);
                return err_set(PS_ECORRUPT,
                               "glibc's main arena is unreadable: %s",
                               gm->problem);
            }
            break;
        }
        a = next;
    } while (a != gm->main_arena && a != 0);

    free(w.lr.buf);
    gm->system_mem = gm->free = gm->in_use = gm->tops = 0;
    gm->fastbin_free = gm->free_chunks = 0;
    for (i = 0; i < gm->narenas; i++) {
        const struct glibc_arena *ar = &gm->arenas[i];

        gm->system_mem += ar->system_mem;
        gm->free += ar->free;
        gm->in_use +=
            ar->system_mem > ar->free ? ar->system_mem - ar->free : 0;
        gm->tops += ar->top;
        gm->fastbin_free += ar->fastbin_free;
        gm->free_chunks += ar->free_chunks;
        if (ar->is_main) {
            gm->top = ar->top;
        }
    }
    return 0;
}

static int
range_cmp(const void *x, const void *y)
{
    const struct glibc_range *a = x, *b = y;

    return a->start < b->start ? -1 : a->start > b->start;
}

int
glibc_malloc_free_resident(struct glibc_malloc *gm, struct pagemap *pm)
{
    raddr_t win_start = 0, win_end = 0; /* pages cached in pm->buf */
    size_t i;

    gm->free_resident = gm->free_swapped = 0;
    if (gm->nfree_pages > 1) {
        qsort(gm->free_pages, gm->nfree_pages, sizeof(*gm->free_pages),
              range_cmp);
    }
    for (i = 0; i < gm->nfree_pages; i++) {
        raddr_t p = gm->free_pages[i].start / pm->page_size;
        raddr_t end = gm->free_pages[i].end / pm->page_size;

        while (p < end) {
            if (p < win_start || p >= win_end) {
                int rc = pagemap_read(pm, p * pm->page_size, PAGEMAP_CHUNK,
                                      pm->buf);

                if (rc < 0) {
                    /* Near the top of the address space a full window
                     * may not exist: read just what is needed. */
                    size_t n = end - p < PAGEMAP_CHUNK ? (size_t)(end - p)
                                                       : PAGEMAP_CHUNK;

                    rc = pagemap_read(pm, p * pm->page_size, n, pm->buf);
                    if (rc < 0) {
                        return rc;
                    }
                    win_end = p + n;
                } else {
                    win_end = p + PAGEMAP_CHUNK;
                }
                win_start = p;
            }
            for (; p < end && p < win_end; p++) {
                uint64_t e = pm->buf[p - win_start];

                if (pagemap_resident(pm, e)) {
                    gm->free_resident += pm->page_size;
                } else if (e & PAGEMAP_SWAPPED) {
                    gm->free_swapped += pm->page_size;
                }
            }
        }
    }
    return 0;
}

void
glibc_malloc_release(struct glibc_malloc *gm)
{
    free(gm->libc_path);
    free(gm->arenas);
    free(gm->heaps);
    free(gm->free_pages);
    memset(gm, 0, sizeof(*gm));
}

/* ---- the chunk walk ------------------------------------------------- */

struct chunk_window {
    struct memsrc *proc;
    unsigned char *buf;
    size_t cap;
    raddr_t start, end; /* what buf holds */
    uint64_t bytes_read;
};

/* Make [p, p + need) available in the window, reading from p up to
 * limit (at most cap bytes). */
static int
window_at(struct chunk_window *w, raddr_t p, size_t need, raddr_t limit)
{
    size_t len;
    int rc;

    if (p >= w->start && p + need <= w->end) {
        return 0;
    }
    if (limit <= p) {
        return PS_EFAULT;
    }
    len = limit - p < w->cap ? (size_t)(limit - p) : w->cap;
    if (len < need) {
        return PS_EFAULT;
    }
    rc = memsrc_read(w->proc, p, w->buf, len);
    if (rc < 0) {
        w->start = w->end = 0;
        return rc;
    }
    w->bytes_read += len;
    w->start = p;
    w->end = p + len;
    return 0;
}

static void chunk_problem(struct glibc_chunk_stats *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
chunk_problem(struct glibc_chunk_stats *st, const char *fmt, ...)
{
    va_list ap;

    st->complete = 0;
    if (st->problem[0] != '\0') {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(st->problem, sizeof(st->problem), fmt, ap);
    va_end(ap);
}

/* The first chunk of a heap range. */
static raddr_t
heap_first_chunk(const struct glibc_malloc *gm, const struct glibc_range *h)
{
    const struct glibc_layout *L = gm->layout;
    size_t i;
    raddr_t p;

    for (i = 0; i < gm->narenas; i++) {
        raddr_t a = gm->arenas[i].addr;

        if (!gm->arenas[i].is_main && a >= h->start && a < h->end) {
            /* The first heap of a thread arena: chunks follow the arena
             * struct, aligned so that chunk + 16 is. */
            p = a + (raddr_t)L->ms_size;
            return (p + 15) & ~(raddr_t)15;
        }
    }
    if ((h->start & (GLIBC_HEAP_MAX - 1)) == 0 && h->start != gm->sbrk_base) {
        return h->start + (raddr_t)L->hi_sizeof; /* a later thread heap */
    }
    return (h->start + 15) & ~(raddr_t)15; /* the brk heap */
}

/* Is p the top chunk of some arena?  Then it ends its heap. */
static int
is_top(const struct glibc_malloc *gm, raddr_t p)
{
    size_t i;

    for (i = 0; i < gm->narenas; i++) {
        if (gm->arenas[i].top_addr == p) {
            return 1;
        }
    }
    return 0;
}

int
glibc_chunk_walk(const struct glibc_malloc *gm, struct memsrc *proc,
                 size_t block_size, glibc_chunk_fn fn, void *ctx,
                 struct glibc_chunk_stats *st)
{
    struct chunk_window w;
    size_t i;
    int rc = 0;

    memset(st, 0, sizeof(*st));
    st->complete = 1;
    memset(&w, 0, sizeof(w));
    w.proc = proc;
    w.cap = block_size < 4096 ? 4096 : block_size;
    w.buf = xmalloc(w.cap);
    for (i = 0; i < gm->nheaps && rc != PS_EEXITED; i++) {
        const struct glibc_range *h = &gm->heaps[i];
        raddr_t p = heap_first_chunk(gm, h);
        uint64_t nchunks = 0;

        w.start = w.end = 0;
        while (p + 16 <= h->end) {
            uint64_t head, size, next_head, dlen;
            int in_use;

            if (is_top(gm, p)) {
                break;
            }
            rc = window_at(&w, p, 16, h->end);
            if (rc < 0) {
                chunk_problem(st, "cannot read heap 0x%llx at 0x%llx",
                              (unsigned long long)h->start,
                              (unsigned long long)p);
                break;
            }
            head = load_u64(w.buf + (p - w.start), 8);
            size = head & ~(uint64_t)GLIBC_SIZE_BITS;
            if (size == 0 && p + 48 >= h->end) {
                break; /* the fencepost that ends an old heap */
            }
            if (size < 16 || (size & 15) != 0 || size > h->end - p ||
                (head & GLIBC_IS_MMAPPED) != 0 ||
                ++nchunks > (h->end - h->start) / 16) {
                chunk_problem(st,
                              "heap 0x%llx: chunk 0x%llx has a bad size "
                              "(%llu)",
                              (unsigned long long)h->start,
                              (unsigned long long)p, (unsigned long long)size);
                st->unwalked += h->end - p;
                break;
            }
            if (size > h->end - p - 16) {
                break; /* a last fencepost with no header after it */
            }
            /* The header, up to 64 bytes of data, and the next header
             * (whose PREV_INUSE bit says whether this chunk is in use). */
            dlen = size - 16 < 64 ? size - 16 : 64;
            rc = window_at(&w, p, (size_t)(16 + dlen), h->end);
            if (rc == 0 && p + size + 16 <= w.end) {
                next_head = load_u64(w.buf + (p + size - w.start), 8);
            } else if (rc == 0) {
                rc = memsrc_read_u64(proc, p + size + 8, &next_head);
            }
            if (rc < 0) {
                chunk_problem(st, "cannot read heap 0x%llx at 0x%llx",
                              (unsigned long long)h->start,
                              (unsigned long long)p);
                break;
            }
            in_use = (next_head & GLIBC_PREV_INUSE) != 0;
            if (in_use) {
                st->chunks_in_use++;
                st->bytes_in_use += size;
            } else {
                st->chunks_free++;
                st->bytes_free += size;
            }
            if (fn != NULL) {
                fn(ctx, p, size, in_use, w.buf + (p + 16 - w.start),
                   (size_t)dlen);
            }
            p += size;
        }
        if (rc == PS_EEXITED) {
            break;
        }
        rc = 0;
    }
    st->bytes_read = w.bytes_read;
    free(w.buf);
    return rc == PS_EEXITED ? err_set(rc, "the target exited") : 0;
}

/* ---- heaps by their headers ----------------------------------------- */

/* heap_info: ar_ptr, prev, size, mprotect_size (the same from glibc 2.26;
 * 2.35 added pagesize after them, making the struct 48 bytes, not 32). */
#define HI_AR_PTR 0
#define HI_PREV 8
#define HI_SIZE 16
#define HI_MPROTECT_SIZE 24
#define HI_READ 32
#define HI_SIZEOF_MAX 64

/* A heap_info that could be one, without its arena checked. */
static int
heap_info_plausible(const unsigned char *hi, raddr_t at)
{
    uint64_t ar = load_u64(hi, HI_AR_PTR), prev = load_u64(hi, HI_PREV);
    uint64_t size = load_u64(hi, HI_SIZE);
    uint64_t prot = load_u64(hi, HI_MPROTECT_SIZE);

    return ar != 0 && (ar & 15) == 0 && (prev & (GLIBC_HEAP_MAX - 1)) == 0 &&
           prev != at && size >= HI_READ && size <= GLIBC_HEAP_MAX &&
           prot >= size && prot <= GLIBC_HEAP_MAX;
}

int
glibc_heaps_by_header(struct memsrc *mem, const raddr_t *cand, size_t n,
                      unsigned char *is_heap)
{
    unsigned char *hdr = xmalloc(n ? n * HI_READ : 1);
    unsigned char *ok = xcalloc(n ? n : 1, 1);
    size_t i, k;
    int rc;

    memset(is_heap, 0, n);
    rc = memsrc_read_many(mem, cand, n, HI_READ, hdr, ok);
    for (i = 0; rc == 0 && i < n; i++) {
        const unsigned char *hi = hdr + i * HI_READ;
        raddr_t ar = load_u64(hi, HI_AR_PTR);
        raddr_t base = ar & ~(GLIBC_HEAP_MAX - 1);

        if (!ok[i] || !heap_info_plausible(hi, cand[i])) {
            continue;
        }
        /* Its arena: right after the heap_info of the arena's first
         * heap, which must itself name that arena. */
        for (k = 0; k < n; k++) {
            if (cand[k] == base && ok[k] &&
                heap_info_plausible(hdr + k * HI_READ, cand[k]) &&
                load_u64(hdr + k * HI_READ, HI_AR_PTR) == ar &&
                ar - base >= HI_READ && ar - base <= HI_SIZEOF_MAX) {
                is_heap[i] = 1;
                break;
            }
        }
    }
    free(hdr);
    free(ok);
    return rc;
}

/* ---- chunks mmapped on their own ------------------------------------ */

#define MMAP_SCAN_BATCH 1024

int
glibc_find_mmapped(struct memsrc *proc, struct pagemap *pm, raddr_t start,
                   raddr_t end, uint64_t tail, const struct glibc_range *skip,
                   size_t nskip, struct glibc_range **out, size_t *n,
                   size_t *alloc, uint64_t max_pages, uint64_t *scanned,
                   int *complete)
{
    raddr_t cand[MMAP_SCAN_BATCH];
    unsigned char hdr[MMAP_SCAN_BATCH * 16], ok[MMAP_SCAN_BATCH];
    uint64_t ps = pm != NULL ? pm->page_size : 4096;
    raddr_t p = start, done_to = start; /* covered by a found chunk */
    size_t k = 0;

    while (p < end) {
        size_t want, i, ncand = 0;
        raddr_t win_end;
        int rc;

        while (k < nskip && skip[k].end <= p) {
            k++;
        }
        if (k < nskip && skip[k].start <= p) {
            p = skip[k].end;
            continue;
        }
        want = (size_t)((end - p) / ps);
        if (want > PAGEMAP_CHUNK) {
            want = PAGEMAP_CHUNK;
        }
        if (k < nskip && skip[k].start < p + want * ps) {
            want = (size_t)((skip[k].start - p + ps - 1) / ps);
        }
        if (want == 0) {
            break;
        }
        rc = pm != NULL ? pagemap_read(pm, p, want, pm->buf) : 0;
        if (rc < 0) {
            return rc;
        }
        win_end = p + want * ps;
        for (i = 0; i < want; i++) {
            raddr_t page = p + i * ps;

            if (page < done_to ||
                (pm != NULL && !pagemap_resident(pm, pm->buf[i]))) {
                continue;
            }
            if (*scanned >= max_pages) {
                *complete = 0;
                return 0;
            }
            (*scanned)++;
            cand[ncand++] = page;
            if (ncand == MMAP_SCAN_BATCH) {
                win_end = page + ps;
                break;
            }
        }
        if (ncand > 0) {
            rc = memsrc_read_many(proc, cand, ncand, 16, hdr, ok);
            if (rc < 0) {
                return rc;
            }
            for (i = 0; i < ncand; i++) {
                uint64_t size;

                if (!ok[i] || cand[i] < done_to ||
                    !glibc_mmapped_chunk(hdr + 16 * i, cand[i], end, ps, tail,
                                         &size)) {
                    continue;
                }
                add_range(out, n, alloc, cand[i], cand[i] + size);
                done_to = cand[i] + size;
            }
        }
        p = win_end > done_to ? win_end : done_to;
    }
    return 0;
}
