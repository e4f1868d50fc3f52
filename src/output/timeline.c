/*
 * timeline.c - bounded series storage with peak-preserving merging.
 *
 * Layer: output.
 */
#include "timeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "core/banned.h"

void
timeline_init(struct timeline *tl, size_t nseries, const char *const *keys,
              const char *const *labels)
{
    size_t i;

    memset(tl, 0, sizeof(*tl));
    if (nseries > TIMELINE_MAX_SERIES) {
        nseries = TIMELINE_MAX_SERIES;
    }
    tl->nseries = nseries;
    tl->t = xcalloc(TIMELINE_MAX_POINTS, sizeof(double));
    for (i = 0; i < nseries; i++) {
        tl->keys[i] = keys[i];
        tl->labels[i] = labels[i];
        tl->v[i] = xcalloc(TIMELINE_MAX_POINTS, sizeof(double));
    }
    tl->merged = 1;
    tl->peak = NAN;
    tl->unit = "bytes";
}

void
timeline_release(struct timeline *tl)
{
    size_t i;

    free(tl->t);
    for (i = 0; i < tl->nseries; i++) {
        free(tl->v[i]);
    }
    memset(tl, 0, sizeof(*tl));
}

/* The larger of two values, where NaN means unknown. */
static double
max_known(double a, double b)
{
    if (isnan(a)) {
        return b;
    }
    if (isnan(b)) {
        return a;
    }
    return a > b ? a : b;
}

/* Halve the points: each pair becomes one. */
static void
timeline_merge(struct timeline *tl)
{
    size_t i, s, half = tl->n / 2;

    for (i = 0; i < half; i++) {
        tl->t[i] = tl->t[2 * i];
        for (s = 0; s < tl->nseries; s++) {
            tl->v[s][i] = max_known(tl->v[s][2 * i], tl->v[s][2 * i + 1]);
        }
    }
    if (tl->n % 2) {
        tl->t[half] = tl->t[tl->n - 1];
        for (s = 0; s < tl->nseries; s++) {
            tl->v[s][half] = tl->v[s][tl->n - 1];
        }
        half++;
        tl->pending = tl->merged; /* the odd one holds one old point */
    } else {
        tl->pending = 2 * tl->merged;
    }
    tl->n = half;
    tl->merged *= 2;
}

void
timeline_add(struct timeline *tl, double t, const double *values)
{
    size_t s;

    tl->samples++;
    if (tl->nseries > 0 && !isnan(values[0]) &&
        (isnan(tl->peak) || values[0] > tl->peak)) {
        tl->peak = values[0];
        tl->peak_t = t;
    }
    if (tl->n > 0 && tl->pending < tl->merged) {
        /* Fold into the last point. */
        for (s = 0; s < tl->nseries; s++) {
            tl->v[s][tl->n - 1] = max_known(tl->v[s][tl->n - 1], values[s]);
        }
        tl->pending++;
        return;
    }
    if (tl->n == TIMELINE_MAX_POINTS) {
        timeline_merge(tl);
        if (tl->pending < tl->merged) {
            timeline_add(tl, t, values);
            tl->samples--;
            return;
        }
    }
    tl->t[tl->n] = t;
    for (s = 0; s < tl->nseries; s++) {
        tl->v[s][tl->n] = values[s];
    }
    tl->n++;
    tl->pending = 1;
}
