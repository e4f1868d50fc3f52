/*
 * dot.h - a Graphviz DOT writer.
 *
 * Layer: output.  A pure writer: a graph of plain structs in, DOT text
 * out (after objgraph's back-reference graphs: roots at the top,
 * instances at the bottom, edges labelled with how one object holds the
 * next).  Labels are any UTF-8 text; quotes, backslashes and control
 * characters are escaped, and a newline in a label becomes a line break.
 */
#ifndef PYSPECT_OUTPUT_DOT_H
#define PYSPECT_OUTPUT_DOT_H

#include <stddef.h>

#include "core/strbuf.h"

enum dot_style {
    DOT_PLAIN,  /* an object on the way */
    DOT_ROOT,   /* where a chain starts */
    DOT_TARGET, /* an instance searched for */
    DOT_ORPHAN, /* a chain start nothing visible holds */
};

struct dot_node {
    const char *id;    /* unique within the graph */
    const char *label; /* text shown; "\n" breaks lines */
    int style;         /* enum dot_style */
};

struct dot_edge {
    const char *from; /* node ids */
    const char *to;
    const char *label; /* may be NULL */
};

struct dot_graph {
    const char *title; /* a graph label, may be NULL */
    const struct dot_node *nodes;
    size_t nnodes;
    const struct dot_edge *edges;
    size_t nedges;
};

/* Append the DOT text of g to out. */
void dot_write(const struct dot_graph *g, struct strbuf *out);

/* Append s as the inside of a double-quoted DOT string. */
void dot_escape(struct strbuf *out, const char *s);

#endif /* PYSPECT_OUTPUT_DOT_H */
