/*
 * format.c - the output formats as one table: names, aliases, file
 * extensions and writers; lookups by name and by path.
 *
 * Layer: output.  Commands choose a writer through this table and never
 * name a format themselves, so a new format is a row here and a writer
 * in its own file.
 */
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/util.h"
#include "output/output.h"
#include "core/banned.h"

const struct out_format out_formats[] = {
    {"svg", "flamegraph", ".svg", out_svg, "an interactive flame graph", 0},
    {"collapsed", "folded", ".collapsed .folded .txt", out_collapsed,
     "FlameGraph's folded stacks, one line per stack", 0},
    {"speedscope", "", ".speedscope .speedscope.json .json", out_speedscope,
     "a speedscope file, one profile per thread", 0},
    {"table", "", ".table", out_table,
     "top functions by self and total samples", 0},
    {"pprof", "", ".pb.gz .pprof", out_pprof,
     "gzipped profile.proto, for go tool pprof and Pyroscope", 0},
    {"trace", "chrome", ".trace.json .trace", out_trace,
     "every sample in time order (Chrome trace events), for Perfetto",
     OUT_EVENTS},
};

const size_t out_nformats = ARRAY_SIZE(out_formats);

void
out_options_init(struct out_options *o)
{
    memset(o, 0, sizeof(*o));
    o->top = OUT_TOP_DEFAULT;
    o->width = OUT_SVG_WIDTH_DEFAULT;
    o->min_width = OUT_SVG_MIN_WIDTH_DEFAULT;
}

/*
 * The next word of a space-separated list: its start and length in
 * *word and *len, *list moved past it.  0 at the end.
 */
static int
next_word(const char **list, const char **word, size_t *len)
{
    const char *s = *list;

    while (*s == ' ') {
        s++;
    }
    if (*s == '\0') {
        return 0;
    }
    *word = s;
    while (*s != '\0' && *s != ' ') {
        s++;
    }
    *len = (size_t)(s - *word);
    *list = s;
    return 1;
}

static int
in_list(const char *list, const char *name)
{
    const char *w;
    size_t n;

    while (next_word(&list, &w, &n)) {
        if (n == strlen(name) && memcmp(w, name, n) == 0) {
            return 1;
        }
    }
    return 0;
}

void
out_format_names(struct strbuf *out)
{
    size_t i;

    for (i = 0; i < out_nformats; i++) {
        strbuf_addf(out, "%s%s",
                    i == 0                 ? ""
                    : i + 1 < out_nformats ? ", "
                                           : " or ",
                    out_formats[i].name);
    }
}

const struct out_format *
out_format_find(const char *name)
{
    struct strbuf names = STRBUF_INIT;
    size_t i;

    for (i = 0; i < out_nformats; i++) {
        if (strcmp(name, out_formats[i].name) == 0 ||
            in_list(out_formats[i].aliases, name)) {
            return &out_formats[i];
        }
    }
    out_format_names(&names);
    err_set(PS_EUSAGE, "unknown format '%s' (choose %s)", name, names.buf);
    strbuf_release(&names);
    return NULL;
}

const struct out_format *
out_format_for_path(const char *path)
{
    const struct out_format *best = NULL;
    const char *base = strrchr(path, '/');
    size_t len, best_len = 0, i;

    base = base ? base + 1 : path;
    len = strlen(base);
    for (i = 0; i < out_nformats; i++) {
        const char *list = out_formats[i].exts, *ext;
        size_t n;

        while (next_word(&list, &ext, &n)) {
            /* The extension must follow a name: "x.svg", not ".svg". */
            if (len > n && n > best_len &&
                strncasecmp(base + len - n, ext, n) == 0) {
                best = &out_formats[i];
                best_len = n;
            }
        }
    }
    return best;
}

void
out_format_ext(const struct out_format *f, struct strbuf *out)
{
    const char *list = f->exts, *ext;
    size_t n;

    if (next_word(&list, &ext, &n)) {
        strbuf_add(out, ext, n);
    }
}

void
out_format_help(struct strbuf *out, int indent)
{
    size_t i;

    for (i = 0; i < out_nformats; i++) {
        const struct out_format *f = &out_formats[i];

        strbuf_addf(out, "%*s%-12s %s\n%*s%-12s (%s%s%s%s)\n", indent, "",
                    f->name, f->summary, indent, "", "", f->exts,
                    *f->aliases ? "; also -f " : "", f->aliases,
                    i == 0 ? "; the default" : "");
    }
}
