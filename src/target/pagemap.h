/*
 * pagemap.h - which pages of a process are resident (/proc/PID/pagemap).
 *
 * Layer: target.  smaps gives resident bytes per mapping; pagemap gives
 * them per page, so a range inside a mapping (a pymalloc arena, a malloc
 * heap, an mmapped block, the free pages of a heap) can be measured
 * exactly.  Reading pagemap never touches the target's memory: it faults
 * nothing in and swaps nothing in.
 *
 * A page that was only ever read maps the kernel's shared zero page:
 * pagemap calls it present, smaps does not count it in Rss.  When the
 * page frame numbers are visible (CAP_SYS_ADMIN), pyspect learns the zero
 * page's frame from its own memory and does not count it; otherwise such
 * pages count as resident (callers clamp to smaps' Rss).
 */
#ifndef PYSPECT_TARGET_PAGEMAP_H
#define PYSPECT_TARGET_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "target/memsrc.h"

#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_SWAPPED (1ULL << 62)
#define PAGEMAP_FILE (1ULL << 61)
#define PAGEMAP_PFN_MASK ((1ULL << 55) - 1)

/* Entries read at once (8 bytes each). */
#define PAGEMAP_CHUNK 8192

struct pagemap {
    int pid;
    int fd;
    uint64_t page_size;
    uint64_t zero_pfn;      /* the zero page's frame, 0 when unknown */
    uint64_t huge_zero_pfn; /* first frame of the huge zero page, or 0 */
    uint64_t huge_zero_npages;
    uint64_t reads;   /* pread calls */
    uint64_t entries; /* entries read */
    uint64_t buf[PAGEMAP_CHUNK];
};

/*
 * Open /proc/PID/pagemap.  PS_EEXITED, PS_EPERM (reading it needs the
 * same rights as ptrace).
 */
int pagemap_open(int pid, struct pagemap *pm);
void pagemap_close(struct pagemap *pm);

/*
 * Read the entries of npages pages from addr (page-aligned) into out.
 * npages may be any size; reads are split in PAGEMAP_CHUNK pieces.
 */
int pagemap_read(struct pagemap *pm, raddr_t addr, size_t npages,
                 uint64_t *out);

/* Is the page of this entry resident (present and not a zero page)? */
static inline int
pagemap_resident(const struct pagemap *pm, uint64_t e)
{
    uint64_t pfn = e & PAGEMAP_PFN_MASK;

    if (!(e & PAGEMAP_PRESENT)) {
        return 0;
    }
    if (pfn != 0 && pfn == pm->zero_pfn) {
        return 0;
    }
    return !(pfn != 0 && pm->huge_zero_pfn != 0 && pfn >= pm->huge_zero_pfn &&
             pfn - pm->huge_zero_pfn < pm->huge_zero_npages);
}

/*
 * Resident and swapped-out bytes of the pages in [start, end) (rounded
 * out to whole pages).  Bounded by the range: 8 bytes read per page.
 */
int pagemap_count(struct pagemap *pm, raddr_t start, raddr_t end,
                  uint64_t *resident, uint64_t *swapped);

#endif /* PYSPECT_TARGET_PAGEMAP_H */
