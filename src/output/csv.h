/*
 * csv.h - a timeline as CSV: one row per sample, one column per series.
 *
 * Layer: output.  Pure.  The header is "time_s,<key>,..."; times in
 * seconds with millisecond digits, values as integers (bytes), an
 * unknown value as an empty field.  csv_header() and csv_row() let a
 * recorder stream every raw sample to a file as it comes;
 * csv_write() writes what a timeline holds.
 */
#ifndef PYSPECT_OUTPUT_CSV_H
#define PYSPECT_OUTPUT_CSV_H

#include "core/strbuf.h"
#include "output/timeline.h"

void csv_header(const struct timeline *tl, struct strbuf *out);
void csv_row(const struct timeline *tl, double t, const double *values,
             struct strbuf *out);
void csv_write(const struct timeline *tl, struct strbuf *out);

#endif /* PYSPECT_OUTPUT_CSV_H */
