/*
 * resident.c - resident bytes by label, and thread stack pointers.
 *
 * Layer: target.
 */
#include "resident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/banned.h"

static int
range_cmp(const void *x, const void *y)
{
    const struct resident_range *a = x, *b = y;

    if (a->start != b->start) {
        return a->start < b->start ? -1 : 1;
    }
    return 0;
}

int
resident_split(const struct smaps *sm, struct resident_range *ranges, size_t n,
               resident_default_fn default_label, void *ctx,
               struct pagemap *pm, uint64_t *bytes, size_t nlabels)
{
    size_t v, first = 0;

    if (n > 1) {
        qsort(ranges, n, sizeof(*ranges), range_cmp);
    }
    for (v = 0; v < sm->n; v++) {
        const struct smaps_vma *vma = &sm->v[v];
        raddr_t vs = vma->map.start, ve = vma->map.end, cursor = vs;
        uint64_t got[RESIDENT_MAX_LABELS], sum = 0, rss = vma->c.rss;
        int def = default_label(vma, ctx), covered = -1;
        size_t i, nover = 0;

        if (def < 0 || (size_t)def >= nlabels) {
            continue;
        }
        memset(got, 0, sizeof(got));
        while (first < n && ranges[first].end <= vs) {
            first++;
        }
        for (i = first; i < n && ranges[i].start < ve; i++) {
            raddr_t s = ranges[i].start > cursor ? ranges[i].start : cursor;
            raddr_t e = ranges[i].end < ve ? ranges[i].end : ve;
            int label = ranges[i].label;

            if (e <= s || label < 0 || (size_t)label >= nlabels) {
                continue;
            }
            nover++;
            if (s == vs && e == ve) {
                covered = label;
                break;
            }
            if (pm != NULL) {
                uint64_t res = 0, swapped = 0;
                int rc = pagemap_count(pm, s, e, &res, &swapped);

                if (rc < 0) {
                    return rc;
                }
                got[label] += res;
                sum += res;
            } else if (ve > vs) {
                uint64_t share = (uint64_t)((double)rss * (double)(e - s) /
                                            (double)(ve - vs));

                got[label] += share;
                sum += share;
            }
            cursor = e;
        }
        if (covered >= 0) {
            bytes[covered] += rss;
            continue;
        }
        if (nover == 0 || rss == 0) {
            bytes[def] += rss;
            continue;
        }
        if (sum > rss) {
            /* Zero pages counted by pagemap: scale down to Rss. */
            uint64_t scaled = 0;
            size_t k;

            for (k = 0; k < nlabels; k++) {
                got[k] =
                    (uint64_t)((double)got[k] * (double)rss / (double)sum);
                scaled += got[k];
            }
            sum = scaled;
        }
        for (i = 0; i < nlabels; i++) {
            bytes[i] += got[i];
        }
        bytes[def] += rss > sum ? rss - sum : 0;
    }
    return 0;
}
