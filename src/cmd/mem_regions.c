/*
 * mem_regions.c - resident memory split by what holds it, for `mem`
 * and `mem --watch`.
 *
 * Layer: cmd.  Wires what the lower layers know into labelled ranges:
 * malloc's heaps (glibc_heap.h; a thread heap owns its whole 64 MiB
 * reservation), pymalloc's arenas (pymalloc.h), the mappings that hold a
 * thread's stack pointer, and the blocks malloc mmapped on its own,
 * found among the remaining anonymous memory.  resident.h does the
 * counting.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd/mem.h"
#include "core/xalloc.h"
#include "python/pymalloc.h"
#include "target/glibc_heap.h"
#include "target/pagemap.h"
#include "target/resident.h"
#include "target/smaps.h"
#include "core/banned.h"

int
mem_default_region(const struct smaps_vma *v, void *ctx)
{
    (void)ctx;
    if (smaps_vma_is_file(v)) {
        return MEM_FILE;
    }
    if (strcmp(v->map.path, "[heap]") == 0) {
        return MEM_C_HEAP;
    }
    if (strncmp(v->map.path, "[stack", 6) == 0) {
        return MEM_STACKS;
    }
    return MEM_OTHER;
}

static void
add_label(struct resident_range **r, size_t *n, size_t *alloc, raddr_t s,
          raddr_t e, int label)
{
    XGROW(*r, *alloc, *n + 1);
    (*r)[*n].start = s;
    (*r)[*n].end = e;
    (*r)[*n].label = label;
    (*n)++;
}

/* Anonymous read-write memory no other region claims: where malloc's
 * own mmapped blocks are looked for. */
static int
mmap_candidate(const struct smaps_vma *v)
{
    return mem_default_region(v, NULL) == MEM_OTHER &&
           v->map.perms[0] == 'r' && v->map.perms[1] == 'w';
}

/*
 * Heaps of thread arenas told by their own headers, labelled C heap
 * unless a walk of malloc's arenas labelled them already.  A walk that
 * does not pause the target (mem --watch) stops at an arena being
 * changed and would leave every heap after it to "other anonymous": a
 * swing of hundreds of MiB between two samples while RSS stays flat.
 */
static int
label_heaps_by_header(struct mem_split *sp, struct resident_range **lab,
                      size_t *nlab, size_t *alab)
{
    raddr_t *cand = NULL;
    unsigned char *is_heap;
    size_t n = 0, alloc = 0, i, k, known = *nlab;
    int rc;

    for (i = 0; i < sp->sm->n; i++) {
        const struct smaps_vma *v = &sp->sm->v[i];

        if (mmap_candidate(v) && v->map.start % GLIBC_HEAP_MAX == 0) {
            XGROW(cand, alloc, n + 1);
            cand[n++] = v->map.start;
        }
    }
    if (n == 0) {
        return 0;
    }
    is_heap = xmalloc(n);
    rc = glibc_heaps_by_header(sp->proc, cand, n, is_heap);
    for (i = 0; rc == 0 && i < n; i++) {
        for (k = 0; k < known && is_heap[i]; k++) {
            if ((*lab)[k].label == MEM_C_HEAP && (*lab)[k].start <= cand[i] &&
                cand[i] < (*lab)[k].end) {
                break;
            }
        }
        if (is_heap[i] && k == known) {
            add_label(lab, nlab, alab, cand[i], cand[i] + GLIBC_HEAP_MAX,
                      MEM_C_HEAP);
        }
    }
    free(is_heap);
    free(cand);
    return rc;
}

static int
range_cmp(const void *x, const void *y)
{
    const struct glibc_range *a = x, *b = y;

    return a->start < b->start ? -1 : a->start > b->start;
}

int
mem_split_run(struct mem_split *sp, struct pagemap *pm)
{
    struct resident_range *lab = NULL;
    struct glibc_range *skip = NULL, *found = NULL;
    size_t nlab = 0, alab = 0, nskip = 0, askip = 0, nfound = 0;
    size_t afound = 0, i;
    uint64_t tail = 0;
    int rc = 0;

    if (sp->gm != NULL) {
        for (i = 0; i < sp->gm->nheaps; i++) {
            const struct glibc_range *h = &sp->gm->heaps[i];
            raddr_t end = h->end;

            if ((h->start & (GLIBC_HEAP_MAX - 1)) == 0) {
                end = h->start + GLIBC_HEAP_MAX;
            }
            add_label(&lab, &nlab, &alab, h->start, end, MEM_C_HEAP);
        }
    }
    if (sp->proc != NULL) {
        rc = label_heaps_by_header(sp, &lab, &nlab, &alab);
    }
    if (sp->pym != NULL) {
        for (i = 0; i < sp->pym->n_arena_addrs; i++) {
            add_label(&lab, &nlab, &alab, sp->pym->arena_addrs[i],
                      sp->pym->arena_addrs[i] + sp->pym->arena_size,
                      MEM_PYMALLOC);
        }
    }
    for (i = 0; i < sp->nsps; i++) {
        const struct smaps_vma *v = smaps_find(sp->sm, sp->sps[i]);

        if (v != NULL && mem_default_region(v, NULL) == MEM_OTHER) {
            add_label(&lab, &nlab, &alab, v->map.start, v->map.end,
                      MEM_STACKS);
        }
    }
    for (i = 0; i < nlab; i++) {
        XGROW(skip, askip, nskip + 1);
        skip[nskip].start = lab[i].start;
        skip[nskip].end = lab[i].end;
        nskip++;
    }
    if (nskip > 1) {
        qsort(skip, nskip, sizeof(*skip), range_cmp);
    }
    sp->mmap_complete = 1;
    sp->scanned = 0;
    if (sp->gm != NULL && sp->gm->layout != NULL) {
        tail = (uint64_t)sp->gm->layout->mmap_tail;
    }
    if (sp->proc != NULL && sp->gm != NULL && (pm != NULL || sp->mapped)) {
        /* A block's mapping can be several mappings now: madvise() on
         * part of it (numpy asks for huge pages for the aligned middle
         * of each large array) splits it where the flags change.  So
         * look in runs of adjacent candidates, not mapping by mapping,
         * or a block would end beyond its first piece and not count. */
        for (i = 0; i < sp->sm->n && rc == 0;) {
            const struct smaps_vma *v = &sp->sm->v[i];
            raddr_t end = v->map.end;
            uint64_t rss = v->c.rss;
            size_t j = i + 1;

            if (!mmap_candidate(v)) {
                i++;
                continue;
            }
            while (j < sp->sm->n && sp->sm->v[j].map.start == end &&
                   mmap_candidate(&sp->sm->v[j])) {
                end = sp->sm->v[j].map.end;
                rss += sp->sm->v[j].c.rss;
                j++;
            }
            if (rss > 0) {
                rc = glibc_find_mmapped(sp->proc, pm, v->map.start, end, tail,
                                        skip, nskip, &found, &nfound, &afound,
                                        sp->scan_max, &sp->scanned,
                                        &sp->mmap_complete);
            }
            i = j;
        }
        for (i = 0; i < nfound; i++) {
            add_label(&lab, &nlab, &alab, found[i].start, found[i].end,
                      MEM_MMAP_LARGE);
            XGROW(sp->mmapped, sp->mmapped_alloc, 2 * (sp->nmmapped + 1));
            sp->mmapped[2 * sp->nmmapped] = found[i].start;
            sp->mmapped[2 * sp->nmmapped + 1] = found[i].end;
            sp->nmmapped++;
        }
    }
    if (rc == 0) {
        memset(sp->regions, 0, sizeof(sp->regions));
        rc = resident_split(sp->sm, lab, nlab, mem_default_region, NULL, pm,
                            sp->regions, MEM_REGIONS);
        sp->exact = pm != NULL;
    }
    free(lab);
    free(skip);
    free(found);
    return rc;
}

void
mem_split_release(struct mem_split *sp)
{
    free(sp->mmapped);
    sp->mmapped = NULL;
    sp->nmmapped = sp->mmapped_alloc = 0;
}
