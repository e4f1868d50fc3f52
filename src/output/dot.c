/*
 * dot.c - Graphviz DOT text from a plain graph.
 *
 * Layer: output.  Knows nothing of the target or of Python.
 */
#include "dot.h"

#include <stdint.h>
#include <string.h>

#include "core/utf8.h"
#include "core/banned.h"

void
dot_escape(struct strbuf *out, const char *s)
{
    size_t len = strlen(s), i = 0;

    while (i < len) {
        unsigned char ch = (unsigned char)s[i];
        uint32_t cp;
        int n;

        if (ch == '"' || ch == '\\') {
            strbuf_addch(out, '\\');
            strbuf_addch(out, (char)ch);
            i++;
        } else if (ch == '\n') {
            strbuf_addstr(out, "\\n");
            i++;
        } else if (ch < 0x20 || ch == 0x7f) {
            strbuf_addf(out, "\\\\x%02x", ch);
            i++;
        } else if (ch < 0x80) {
            strbuf_addch(out, (char)ch);
            i++;
        } else {
            /* The file must be UTF-8 and its SVG valid XML: bytes that
             * are not UTF-8, lone surrogates, U+0000 (C0 80), C1
             * controls and U+FFFE/U+FFFF become U+FFFD. */
            n = utf8_next(s + i, len - i, &cp);
            if (n < 0 || cp == 0 || utf8_is_surrogate(cp) ||
                (cp >= 0x80 && cp <= 0x9f) || cp == 0xfffe || cp == 0xffff) {
                strbuf_addstr(out, "\xef\xbf\xbd");
                i += n < 0 ? 1 : (size_t)n;
            } else {
                strbuf_add(out, s + i, (size_t)n);
                i += (size_t)n;
            }
        }
    }
}

static const char *
style_attrs(int style)
{
    switch (style) {
    case DOT_ROOT:
        return "style=filled, fillcolor=\"#b7e1a1\"";
    case DOT_TARGET:
        return "style=filled, fillcolor=\"#f4b183\", penwidth=2";
    case DOT_ORPHAN:
        return "style=\"filled,dashed\", fillcolor=\"#d9d9d9\"";
    default:
        return "style=filled, fillcolor=\"#ffffff\"";
    }
}

void
dot_write(const struct dot_graph *g, struct strbuf *out)
{
    size_t i;

    strbuf_addstr(out, "digraph refs {\n");
    strbuf_addstr(out, "    rankdir=TB;\n");
    strbuf_addstr(out, "    node [shape=box, fontname=\"Helvetica\", "
                       "fontsize=10];\n");
    strbuf_addstr(out, "    edge [fontname=\"Helvetica\", fontsize=9];\n");
    if (g->title != NULL) {
        strbuf_addstr(out, "    labelloc=t;\n    label=\"");
        dot_escape(out, g->title);
        strbuf_addstr(out, "\";\n");
    }
    for (i = 0; i < g->nnodes; i++) {
        const struct dot_node *n = &g->nodes[i];

        strbuf_addstr(out, "    \"");
        dot_escape(out, n->id);
        strbuf_addstr(out, "\" [label=\"");
        dot_escape(out, n->label ? n->label : n->id);
        strbuf_addf(out, "\", %s];\n", style_attrs(n->style));
    }
    for (i = 0; i < g->nedges; i++) {
        const struct dot_edge *e = &g->edges[i];

        strbuf_addstr(out, "    \"");
        dot_escape(out, e->from);
        strbuf_addstr(out, "\" -> \"");
        dot_escape(out, e->to);
        strbuf_addch(out, '"');
        if (e->label != NULL) {
            strbuf_addstr(out, " [label=\"");
            dot_escape(out, e->label);
            strbuf_addstr(out, "\"]");
        }
        strbuf_addstr(out, ";\n");
    }
    strbuf_addstr(out, "}\n");
}
