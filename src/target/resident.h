/*
 * resident.h - split a process's resident memory by what holds it.
 *
 * Layer: target.  The caller labels address ranges (a malloc heap, a
 * pymalloc arena, a thread stack...; labels are small integers it
 * chooses) and says which label the rest of each mapping gets.  The
 * split takes each mapping's resident bytes from smaps and, where labels
 * cut a mapping, counts the labelled pages with pagemap.  The parts add
 * up to the process's Rss: what pagemap counts inside a mapping is
 * clamped to that mapping's Rss (pages only ever read map the shared
 * zero page, which Rss does not count and pagemap, without the right to
 * see frame numbers, cannot tell apart).
 */
#ifndef PYSPECT_TARGET_RESIDENT_H
#define PYSPECT_TARGET_RESIDENT_H

#include <stddef.h>
#include <stdint.h>

#include "target/pagemap.h"
#include "target/smaps.h"

#define RESIDENT_MAX_LABELS 16

struct resident_range {
    raddr_t start;
    raddr_t end;
    int label;
};

/* The label of a mapping's unlabelled resident memory. */
typedef int (*resident_default_fn)(const struct smaps_vma *vma, void *ctx);

/*
 * Add each label's resident bytes to bytes[label] (nlabels entries).
 * ranges are sorted here; where they overlap the earlier one (after
 * sorting by start) wins.  pm may be NULL: a mapping that labels cut is
 * then shared out by the labelled bytes' share of its size (an
 * estimate).  Returns 0, or a pagemap error.
 */
int resident_split(const struct smaps *sm, struct resident_range *ranges,
                   size_t n, resident_default_fn default_label, void *ctx,
                   struct pagemap *pm, uint64_t *bytes, size_t nlabels);

#endif /* PYSPECT_TARGET_RESIDENT_H */
