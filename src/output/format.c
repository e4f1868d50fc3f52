/*
 * format.c - output format names, inference from a path, dispatch.
 *
 * Layer: output.
 */
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/util.h"
#include "output/output.h"
#include "core/banned.h"

static const struct {
    const char *name;
    enum out_format format;
} format_names[] = {
    {"svg", OUT_SVG},
    {"collapsed", OUT_COLLAPSED},
    {"speedscope", OUT_SPEEDSCOPE},
    {"table", OUT_TABLE},
    /* aliases people bring from other tools */
    {"flamegraph", OUT_SVG},
    {"folded", OUT_COLLAPSED},
};

/* Longest first, so that ".speedscope.json" wins over ".json". */
static const struct {
    const char *ext;
    enum out_format format;
} format_exts[] = {
    {".speedscope.json", OUT_SPEEDSCOPE},
    {".speedscope", OUT_SPEEDSCOPE},
    {".collapsed", OUT_COLLAPSED},
    {".folded", OUT_COLLAPSED},
    {".table", OUT_TABLE},
    {".json", OUT_SPEEDSCOPE},
    {".svg", OUT_SVG},
    {".txt", OUT_COLLAPSED},
};

void
out_options_init(struct out_options *o)
{
    memset(o, 0, sizeof(*o));
    o->top = OUT_TOP_DEFAULT;
    o->width = OUT_SVG_WIDTH_DEFAULT;
    o->min_width = OUT_SVG_MIN_WIDTH_DEFAULT;
}

int
out_format_parse(const char *name, enum out_format *format)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(format_names); i++) {
        if (strcmp(name, format_names[i].name) == 0) {
            *format = format_names[i].format;
            return 0;
        }
    }
    return err_set(PS_EUSAGE,
                   "unknown format '%s' (choose svg, collapsed, speedscope "
                   "or table)",
                   name);
}

int
out_format_from_path(const char *path, enum out_format *format)
{
    const char *base = strrchr(path, '/');
    size_t len, i;

    base = base ? base + 1 : path;
    len = strlen(base);
    for (i = 0; i < ARRAY_SIZE(format_exts); i++) {
        size_t n = strlen(format_exts[i].ext);

        /* The extension must follow a name: "x.svg", not ".svg". */
        if (len > n && strcasecmp(base + len - n, format_exts[i].ext) == 0) {
            *format = format_exts[i].format;
            return 1;
        }
    }
    return 0;
}

const char *
out_format_name(enum out_format format)
{
    switch (format) {
    case OUT_SVG:
        return "svg";
    case OUT_COLLAPSED:
        return "collapsed";
    case OUT_SPEEDSCOPE:
        return "speedscope";
    case OUT_TABLE:
    case OUT_LINES:
        return "table";
    }
    return "unknown";
}

int
out_write(enum out_format format, const struct profile *p,
          const struct out_options *o, struct strbuf *out)
{
    switch (format) {
    case OUT_SVG:
        return out_svg(p, o, out);
    case OUT_COLLAPSED:
        return out_collapsed(p, o, out);
    case OUT_SPEEDSCOPE:
        return out_speedscope(p, o, out);
    case OUT_TABLE:
        return out_table(p, o, out);
    case OUT_LINES:
        return out_lines(p, o, out);
    }
    return err_set(PS_EINTERNAL, "unknown output format %d", (int)format);
}
