/*
 * csv.c - write timelines as CSV.
 *
 * Layer: output.
 */
#include "csv.h"

#include <math.h>

#include "core/banned.h"

void
csv_header(const struct timeline *tl, struct strbuf *out)
{
    size_t s;

    strbuf_addstr(out, "time_s");
    for (s = 0; s < tl->nseries; s++) {
        strbuf_addf(out, ",%s", tl->keys[s]);
    }
    strbuf_addch(out, '\n');
}

void
csv_row(const struct timeline *tl, double t, const double *values,
        struct strbuf *out)
{
    size_t s;

    strbuf_addf(out, "%.3f", t);
    for (s = 0; s < tl->nseries; s++) {
        if (isnan(values[s])) {
            strbuf_addch(out, ',');
        } else {
            strbuf_addf(out, ",%.0f", values[s]);
        }
    }
    strbuf_addch(out, '\n');
}

void
csv_write(const struct timeline *tl, struct strbuf *out)
{
    double row[TIMELINE_MAX_SERIES];
    size_t i, s;

    csv_header(tl, out);
    for (i = 0; i < tl->n; i++) {
        for (s = 0; s < tl->nseries; s++) {
            row[s] = tl->v[s][i];
        }
        csv_row(tl, tl->t[i], row, out);
    }
}
