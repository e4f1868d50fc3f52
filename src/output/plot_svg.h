/*
 * plot_svg.h - a line plot of a timeline as a self-contained SVG.
 *
 * Layer: output.  Pure: a timeline in, SVG text out.  Time on x
 * (seconds), MiB on y, one line per series (the first drawn heaviest),
 * labelled axes with round tick values, a legend with each series' peak,
 * and the first series' peak marked.  No scripts, fonts or links: it
 * renders the same in a browser, an image viewer or a CI artifact.
 */
#ifndef PYSPECT_OUTPUT_PLOT_SVG_H
#define PYSPECT_OUTPUT_PLOT_SVG_H

#include "core/strbuf.h"
#include "output/timeline.h"

void plot_svg_write(const struct timeline *tl, struct strbuf *out);

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about n ticks
 * over [0, max]. */
double plot_nice_step(double max, int n);

#endif /* PYSPECT_OUTPUT_PLOT_SVG_H */
