/*
 * plot_svg.c - draw a timeline as an SVG line plot.
 *
 * Layer: output.
 */
#include "plot_svg.h"

#include <math.h>
#include <string.h>

#include "output/text.h"
#include "core/banned.h"

#define W 1120
#define H 560
#define LEFT 78
#define RIGHT 330
#define TOP 54
#define BOTTOM 62
#define PX0 LEFT
#define PX1 (W - RIGHT)
#define PY0 (H - BOTTOM) /* y of the value 0 */
#define PY1 TOP

static const char *const colours[] = {
    "#111111", "#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#2ca02c",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8",
};

#define MIB (1024.0 * 1024.0)

double
plot_nice_step(double max, int n)
{
    double raw, mag, f;

    if (!(max > 0) || n < 1) {
        return 1;
    }
    raw = max / n;
    mag = pow(10, floor(log10(raw)));
    f = raw / mag;
    if (f <= 1) {
        return mag;
    }
    if (f <= 2) {
        return 2 * mag;
    }
    if (f <= 5) {
        return 5 * mag;
    }
    return 10 * mag;
}

/* A tick value without trailing zeros: 0.5, 2, 250. */
static void
tick_text(struct strbuf *out, double v, double step)
{
    int decimals = 0;

    while (decimals < 4 && fabs(step * pow(10, decimals) -
                                round(step * pow(10, decimals))) > 1e-9) {
        decimals++;
    }
    strbuf_addf(out, "%.*f", decimals, v);
}

static void
mib_text(struct strbuf *out, double bytes)
{
    double m = bytes / MIB;

    if (m >= 100) {
        strbuf_addf(out, "%.0f MiB", m);
    } else if (m >= 1) {
        strbuf_addf(out, "%.1f MiB", m);
    } else {
        strbuf_addf(out, "%.2f MiB", m);
    }
}

void
plot_svg_write(const struct timeline *tl, struct strbuf *out)
{
    double tmax = 0, ymax = 0, ystep, tstep, v;
    double peaks[TIMELINE_MAX_SERIES];
    size_t s, i;

    for (s = 0; s < tl->nseries; s++) {
        peaks[s] = NAN;
        for (i = 0; i < tl->n; i++) {
            if (!isnan(tl->v[s][i]) &&
                (isnan(peaks[s]) || tl->v[s][i] > peaks[s])) {
                peaks[s] = tl->v[s][i];
            }
        }
        if (!isnan(peaks[s]) && peaks[s] / MIB > ymax) {
            ymax = peaks[s] / MIB;
        }
    }
    if (!isnan(tl->peak) && tl->peak / MIB > ymax) {
        ymax = tl->peak / MIB;
    }
    if (tl->n > 0) {
        tmax = tl->t[tl->n - 1];
    }
    if (!(tmax > 0)) {
        tmax = 1;
    }
    if (!(ymax > 0)) {
        ymax = 1;
    }
    ystep = plot_nice_step(ymax * 1.05, 6);
    ymax = ceil(ymax * 1.05 / ystep) * ystep;
    tstep = plot_nice_step(tmax, 8);
    tmax = ceil(tmax / tstep) * tstep;

#define X(t) (PX0 + (PX1 - PX0) * (t) / tmax)
#define Y(mib) (PY0 - (PY0 - PY1) * (mib) / ymax)

    strbuf_addf(out,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                "height=\"%d\" viewBox=\"0 0 %d %d\" "
                "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
                "font-size=\"13\">\n",
                W, H, W, H);
    strbuf_addf(out, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
                W, H);
    strbuf_addf(out,
                "<text x=\"%d\" y=\"30\" font-size=\"16\" "
                "font-weight=\"bold\">",
                PX0);
    {
        /* The title holds the target's command line: cleaned (valid
         * UTF-8, no controls) before it is escaped for XML. */
        struct strbuf clean = STRBUF_INIT;

        text_clean(&clean, tl->title[0] ? tl->title : "memory over time", 0);
        text_xml_escape(out, clean.buf);
        strbuf_release(&clean);
    }
    strbuf_addstr(out, "</text>\n");

    /* Grid, ticks and tick labels. */
    strbuf_addstr(out, "<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
    for (v = 0; v <= ymax + ystep / 1000; v += ystep) {
        strbuf_addf(out,
                    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n",
                    PX0, Y(v), PX1, Y(v));
    }
    for (v = 0; v <= tmax + tstep / 1000; v += tstep) {
        strbuf_addf(out,
                    "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n",
                    X(v), PY1, X(v), PY0);
    }
    strbuf_addstr(out, "</g>\n<g fill=\"#333333\">\n");
    for (v = 0; v <= ymax + ystep / 1000; v += ystep) {
        strbuf_addf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">",
                    PX0 - 8, Y(v) + 4);
        tick_text(out, v, ystep);
        strbuf_addstr(out, "</text>\n");
    }
    for (v = 0; v <= tmax + tstep / 1000; v += tstep) {
        strbuf_addf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
                    X(v), PY0 + 20);
        tick_text(out, v, tstep);
        strbuf_addstr(out, "</text>\n");
    }
    strbuf_addstr(out, "</g>\n");
    strbuf_addf(out,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                "fill=\"none\" stroke=\"#888888\"/>\n",
                PX0, PY1, PX1 - PX0, PY0 - PY1);
    /* Axis titles. */
    strbuf_addf(out,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                "font-size=\"14\">time (s)</text>\n",
                (PX0 + PX1) / 2, H - 18);
    strbuf_addf(out,
                "<text x=\"20\" y=\"%d\" text-anchor=\"middle\" "
                "font-size=\"14\" transform=\"rotate(-90 20 %d)\">"
                "memory (MiB)</text>\n",
                (PY0 + PY1) / 2, (PY0 + PY1) / 2);

    /* The series, the first (RSS) last so it is drawn on top. */
    for (s = tl->nseries; s-- > 0;) {
        const char *colour = colours[s % (sizeof(colours) / sizeof(*colours))];
        int open = 0;

        for (i = 0; i < tl->n; i++) {
            double y = tl->v[s][i];

            if (isnan(y)) {
                if (open) {
                    strbuf_addstr(out, "\"/>\n");
                    open = 0;
                }
                continue;
            }
            if (!open) {
                strbuf_addf(out,
                            "<polyline fill=\"none\" stroke=\"%s\" "
                            "stroke-width=\"%s\" stroke-linejoin=\"round\" "
                            "points=\"",
                            colour, s == 0 ? "2.5" : "1.6");
                open = 1;
            }
            strbuf_addf(out, "%.1f,%.1f ", X(tl->t[i]), Y(y / MIB));
        }
        if (open) {
            strbuf_addstr(out, "\"/>\n");
        }
        if (tl->n == 1 && !isnan(tl->v[s][0])) {
            strbuf_addf(out,
                        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
                        "fill=\"%s\"/>\n",
                        X(tl->t[0]), Y(tl->v[s][0] / MIB), colour);
        }
    }

    /* The peak of the first series. */
    if (tl->nseries > 0 && !isnan(tl->peak)) {
        double px = X(tl->peak_t), py = Y(tl->peak / MIB);
        int right = px > PX0 + (PX1 - PX0) * 0.6;

        strbuf_addf(out,
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"none\" "
                    "stroke=\"#d62728\" stroke-width=\"2\"/>\n",
                    px, py);
        strbuf_addf(out,
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" "
                    "font-weight=\"bold\" fill=\"#111111\">peak ",
                    right ? px - 9 : px + 9, py < PY1 + 16 ? py + 18 : py - 9,
                    right ? "end" : "start");
        mib_text(out, tl->peak);
        strbuf_addf(out, " at %.1f s</text>\n", tl->peak_t);
    }

    /* Legend: a swatch, the label and the series' peak. */
    strbuf_addf(out, "<g font-size=\"13\">\n");
    for (s = 0; s < tl->nseries; s++) {
        const char *colour = colours[s % (sizeof(colours) / sizeof(*colours))];
        int y = PY1 + 10 + 24 * (int)s;

        strbuf_addf(out,
                    "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                    "stroke=\"%s\" stroke-width=\"%s\"/>\n",
                    PX1 + 18, y, PX1 + 42, y, colour, s == 0 ? "3" : "2");
        strbuf_addf(out, "<text x=\"%d\" y=\"%d\">", PX1 + 50, y + 4);
        text_xml_escape(out, tl->labels[s]);
        if (!isnan(peaks[s])) {
            strbuf_addstr(out, " <tspan fill=\"#666666\">(max ");
            mib_text(out, peaks[s]);
            strbuf_addstr(out, ")</tspan>");
        } else {
            strbuf_addstr(out, " <tspan fill=\"#666666\">(unknown)</tspan>");
        }
        strbuf_addstr(out, "</text>\n");
    }
    strbuf_addf(out,
                "<text x=\"%d\" y=\"%d\" fill=\"#666666\" font-size=\"12\">"
                "%zu samples</text>\n",
                PX1 + 18, PY1 + 10 + 24 * (int)tl->nseries + 8, tl->samples);
    strbuf_addstr(out, "</g>\n</svg>\n");
#undef X
#undef Y
}
