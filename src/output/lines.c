/*
 * lines.c - an allocation profile as a table by line.
 *
 * Layer: output.  Like tracemalloc's top statistics by line and
 * memory_profiler's per-line increments: each row is one innermost frame
 * (the line that allocated), with its bytes, share, blocks and average
 * block size, then the source line when the caller can supply it
 * (out_options.source_line).  The profile's frames are lines; its counts
 * are bytes and its objects blocks (profile_add_objects).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "output/output.h"
#include "output/text.h"
#include "core/banned.h"

#define LINES_NAME_MAX 40 /* columns of the function column, at most */

struct line_row {
    uint32_t frame; /* PROF_NONE: the stacks without a frame */
    uint32_t rank;
    uint64_t bytes;
    uint64_t blocks;
};

static int
line_cmp(const void *a, const void *b)
{
    const struct line_row *x = a, *y = b;

    if (x->bytes != y->bytes) {
        return x->bytes < y->bytes ? 1 : -1;
    }
    if (x->blocks != y->blocks) {
        return x->blocks < y->blocks ? 1 : -1;
    }
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static void
lines_header(struct strbuf *out, const struct profile *p,
             const struct out_options *o)
{
    const struct profile_meta *m = &p->meta;

    if (o != NULL && o->title != NULL) {
        text_clean(out, o->title, 0);
    } else {
        strbuf_addstr(out, "pyspect alloc");
        if (m->command != NULL) {
            strbuf_addstr(out, ": ");
            text_clean(out, m->command, 0);
        }
    }
    strbuf_addch(out, '\n');
    if (m->pid > 0) {
        strbuf_addf(out, "pid %d, ", m->pid);
    }
    if (m->python_version != NULL) {
        strbuf_addstr(out, "Python ");
        text_clean(out, m->python_version, 0);
        strbuf_addstr(out, ", ");
    }
    if (m->mode != NULL) {
        text_clean(out, m->mode, 0);
        strbuf_addstr(out, ", ");
    }
    if (m->duration_s > 0) {
        strbuf_addf(out, "%.2f s, ", m->duration_s);
    }
    text_bytes(out, p->total);
    if (m->what != NULL) {
        strbuf_addch(out, ' ');
        text_clean(out, m->what, 0);
    }
    strbuf_addstr(out, " in ");
    text_count(out, p->total_objects);
    strbuf_addstr(out, p->total_objects == 1 ? " block\n\n" : " blocks\n\n");
}

/* Append s (clean) right-aligned in cols columns. */
static void
lines_right(struct strbuf *out, const char *s, size_t cols)
{
    size_t w = text_width(s);

    while (w++ < cols) {
        strbuf_addch(out, ' ');
    }
    strbuf_addstr(out, s);
}

int
out_lines(const struct profile *p, const struct out_options *o,
          struct strbuf *out)
{
    size_t top = o && o->top ? o->top : OUT_TOP_DEFAULT;
    struct strbuf cell = STRBUF_INIT, src = STRBUF_INIT;
    struct line_row *rows;
    uint32_t *rank;
    uint64_t rest_bytes = 0, rest_blocks = 0;
    size_t nrows = p->nframes + 1, shown = 0, rest = 0, i;

    lines_header(out, p, o);
    if (p->total == 0 && p->total_objects == 0) {
        strbuf_addstr(out, "no memory to show\n");
        return 0;
    }
    rows = xcalloc(nrows, sizeof(*rows));
    rank = text_frame_ranks(p);
    for (i = 0; i < p->nframes; i++) {
        rows[i].frame = (uint32_t)i;
        rows[i].rank = rank[i];
    }
    rows[p->nframes].frame = PROF_NONE;
    rows[p->nframes].rank = UINT32_MAX;
    for (i = 0; i < p->nstacks; i++) {
        const struct prof_stack *s = &p->stacks[i];
        size_t at = s->nframes == 0
                        ? p->nframes
                        : profile_stack_frames(p, s)[s->nframes - 1];

        rows[at].bytes += s->count;
        rows[at].blocks += s->objects;
    }
    qsort(rows, nrows, sizeof(*rows), line_cmp);

    strbuf_addstr(out, "       bytes   share      blocks     average  "
                       "line\n");
    for (i = 0; i < nrows; i++) {
        const struct line_row *r = &rows[i];

        if (r->bytes == 0 && r->blocks == 0) {
            break;
        }
        if (shown >= top) {
            rest++;
            rest_bytes += r->bytes;
            rest_blocks += r->blocks;
            continue;
        }
        shown++;
        strbuf_reset(&cell);
        text_bytes(&cell, r->bytes);
        lines_right(out, cell.buf, 12);
        strbuf_addf(out, "  %5.1f%%",
                    p->total ? 100.0 * (double)r->bytes / (double)p->total
                             : 0.0);
        strbuf_reset(&cell);
        text_count(&cell, r->blocks);
        lines_right(out, cell.buf, 12);
        strbuf_reset(&cell);
        if (r->blocks > 0) {
            text_bytes(&cell, (r->bytes + r->blocks / 2) / r->blocks);
        }
        lines_right(out, cell.buf, 12);
        strbuf_addstr(out, "  ");
        if (r->frame == PROF_NONE) {
            strbuf_addstr(out, TEXT_NO_FRAMES "\n");
            continue;
        }
        {
            const struct prof_frame *f = &p->frames[r->frame];
            const char *file = strtab_get(&p->strings, f->file);
            const char *name = strtab_get(&p->strings, f->name);

            text_clean(out, file && *file ? file : "?", 0);
            if (f->line >= 0) {
                strbuf_addf(out, ":%d", (int)f->line);
            }
            strbuf_addstr(out, "  ");
            strbuf_reset(&cell);
            text_clean(&cell, name && *name ? name : "(unknown)", 0);
            text_fit(out, cell.buf, LINES_NAME_MAX);
            strbuf_addch(out, '\n');
            strbuf_reset(&src);
            if (o != NULL && o->source_line != NULL && file != NULL &&
                f->line > 0 &&
                o->source_line(o->source_ctx, file, f->line, &src) == 0 &&
                src.len > 0) {
                strbuf_addstr(out, "                                      "
                                   "            ");
                text_clean(out, src.buf, 0);
                strbuf_addch(out, '\n');
            }
        }
    }
    if (rest > 0) {
        strbuf_reset(&cell);
        text_bytes(&cell, rest_bytes);
        lines_right(out, cell.buf, 12);
        strbuf_addf(out, "  %5.1f%%",
                    p->total ? 100.0 * (double)rest_bytes / (double)p->total
                             : 0.0);
        strbuf_reset(&cell);
        text_count(&cell, rest_blocks);
        lines_right(out, cell.buf, 12);
        strbuf_addf(out, "              (%zu more line%s)\n", rest,
                    rest == 1 ? "" : "s");
    }
    free(rank);
    free(rows);
    strbuf_release(&cell);
    strbuf_release(&src);
    return 0;
}
