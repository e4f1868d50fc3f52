/*
 * collapsed.c - FlameGraph's collapsed ("folded") stack format.
 *
 * Layer: output.  Each distinct stack becomes the text of its frames
 * joined by ';' (see output.h for the exact form); the lines are sorted
 * and equal texts merged, which also merges the same stack seen on
 * several threads when there is no root frame per thread.  Consumers
 * (flamegraph.pl, inferno, speedscope) split a line at its last space and
 * the stack at ';', so text_clean() maps ';' to ':' and every control
 * character to U+FFFD.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "output/output.h"
#include "output/text.h"
#include "core/banned.h"

struct collapsed_line {
    size_t off;    /* of the NUL-terminated stack text in the buffer */
    const char *s; /* the text, once the buffer stops moving */
    uint64_t count;
};

static int
collapsed_cmp(const void *a, const void *b)
{
    const struct collapsed_line *x = a, *y = b;

    return strcmp(x->s, y->s);
}

int
out_collapsed(const struct profile *p, const struct out_options *o,
              struct strbuf *out)
{
    struct text_labels frames, threads;
    struct strbuf text = STRBUF_INIT;
    struct collapsed_line *lines;
    size_t i, j, k;

    (void)o;
    text_labels_frames(&frames, p, TEXT_NO_SEMICOLON);
    text_labels_threads(&threads, p, TEXT_NO_SEMICOLON);
    lines = xmalloc((p->nstacks ? p->nstacks : 1) * sizeof(*lines));
    for (i = 0; i < p->nstacks; i++) {
        const struct prof_stack *s = &p->stacks[i];
        const uint32_t *ids = profile_stack_frames(p, s);

        lines[i].off = text.len;
        lines[i].count = s->count;
        if (p->meta.threads) {
            strbuf_addstr(&text, text_labels_get(&threads, s->thread));
        }
        for (j = 0; j < s->nframes; j++) {
            if (j > 0 || p->meta.threads) {
                strbuf_addch(&text, ';');
            }
            strbuf_addstr(&text, text_labels_get(&frames, ids[j]));
        }
        if (s->nframes == 0 && !p->meta.threads) {
            strbuf_addstr(&text, TEXT_NO_FRAMES);
        }
        strbuf_addch(&text, '\0');
    }

    for (i = 0; i < p->nstacks; i++) {
        lines[i].s = text.buf + lines[i].off;
    }
    qsort(lines, p->nstacks, sizeof(*lines), collapsed_cmp);
    for (i = 0; i < p->nstacks; i = k) {
        uint64_t count = lines[i].count;

        for (k = i + 1; k < p->nstacks && strcmp(lines[k].s, lines[i].s) == 0;
             k++) {
            count += lines[k].count;
        }
        strbuf_addstr(out, lines[i].s);
        strbuf_addf(out, " %" PRIu64 "\n", count);
    }

    free(lines);
    strbuf_release(&text);
    text_labels_release(&frames);
    text_labels_release(&threads);
    return 0;
}
