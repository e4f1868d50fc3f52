/*
 * test_dot.c - unit tests of the Graphviz DOT writer.
 *
 * Layer: tests.  Escaping of quotes, backslashes, newlines and control
 * characters; nodes, edges with and without labels, styles and the
 * graph title.
 */
#include <string.h>

#include "output/dot.h"
#include "tap.h"

static void
test_escape(void)
{
    struct strbuf sb = STRBUF_INIT;

    dot_escape(&sb, "a\"b\\c\nd\x01");
    TAP_EQ_STR(sb.buf, "a\\\"b\\\\c\\nd\\\\x01", "escaping");
    strbuf_reset(&sb);
    dot_escape(&sb, "fünf 函数");
    TAP_EQ_STR(sb.buf, "fünf 函数", "UTF-8 passes through");
    strbuf_release(&sb);
}

static void
test_graph(void)
{
    struct strbuf sb = STRBUF_INIT;
    const struct dot_node nodes[] = {
        {"0x10", "module\napp", DOT_ROOT},
        {"0x20", "list\nlen 3", DOT_PLAIN},
        {"0x30", "app.Leaky", DOT_TARGET},
        {"0x40", NULL, DOT_ORPHAN},
    };
    const struct dot_edge edges[] = {
        {"0x10", "0x20", ".cache"},
        {"0x20", "0x30", "[2]"},
        {"0x40", "0x30", NULL},
    };
    struct dot_graph g = {"3 \"instances\"", nodes, 4, edges, 3};

    dot_write(&g, &sb);
    TAP_OK(strncmp(sb.buf, "digraph refs {\n", 15) == 0, "starts a digraph");
    TAP_OK(sb.len > 2 && strcmp(sb.buf + sb.len - 2, "}\n") == 0,
           "ends the digraph");
    TAP_OK(strstr(sb.buf, "label=\"3 \\\"instances\\\"\"") != NULL,
           "the title is escaped");
    TAP_OK(strstr(sb.buf, "\"0x10\" [label=\"module\\napp\", style=filled, "
                          "fillcolor=\"#b7e1a1\"]") != NULL,
           "a root node");
    TAP_OK(strstr(sb.buf, "\"0x30\" [label=\"app.Leaky\", style=filled, "
                          "fillcolor=\"#f4b183\", penwidth=2]") != NULL,
           "a target node");
    TAP_OK(strstr(sb.buf, "\"0x40\" [label=\"0x40\"") != NULL,
           "a node without label shows its id");
    TAP_OK(strstr(sb.buf, "\"0x10\" -> \"0x20\" [label=\".cache\"];") != NULL,
           "a labelled edge");
    TAP_OK(strstr(sb.buf, "\"0x40\" -> \"0x30\";") != NULL,
           "an edge without label");
    strbuf_release(&sb);
}

int
main(void)
{
    test_escape();
    test_graph();
    return tap_done();
}
