/*
 * timeline.h - numeric series over time, kept in bounded memory.
 *
 * Layer: output (plain data; no target knowledge).  A timeline holds up
 * to TIMELINE_MAX_SERIES named series sampled at the same instants.  Its
 * memory does not grow with the recording's length: when it holds
 * TIMELINE_MAX_POINTS samples it merges neighbours pairwise, keeping the
 * larger value of each series (so peaks survive) and the earlier time.
 * The exact peak of the first series is tracked separately.
 */
#ifndef PYSPECT_OUTPUT_TIMELINE_H
#define PYSPECT_OUTPUT_TIMELINE_H

#include <stddef.h>

#define TIMELINE_MAX_SERIES 12
#define TIMELINE_MAX_POINTS 4096

struct timeline {
    size_t nseries;
    const char *keys[TIMELINE_MAX_SERIES];   /* "rss": CSV and JSON */
    const char *labels[TIMELINE_MAX_SERIES]; /* "RSS": plot legend */
    double *t;                               /* seconds */
    double *v[TIMELINE_MAX_SERIES];          /* values; NaN: unknown */
    size_t n;
    size_t merged;  /* samples per point (a power of two) */
    size_t pending; /* samples folded into the last point so far */
    size_t samples; /* samples added in all */
    double peak;    /* of series 0, exact */
    double peak_t;
    char title[256];
    const char *unit; /* "bytes" */
};

/* keys and labels are borrowed (string literals). */
void timeline_init(struct timeline *tl, size_t nseries,
                   const char *const *keys, const char *const *labels);
void timeline_release(struct timeline *tl);

/* Add one sample: values[nseries]. */
void timeline_add(struct timeline *tl, double t, const double *values);

#endif /* PYSPECT_OUTPUT_TIMELINE_H */
