/*
 * speedscope.c - the speedscope file format (sampled profiles).
 *
 * Layer: output.  Follows https://www.speedscope.app/file-format-schema.json:
 * a "$schema" key, shared.frames (name, file, line) and one profile of
 * type "sampled" per thread with samples (indexes into shared.frames,
 * root first), weights, unit, startValue and endValue.  Weights are
 * sample counts (unit "none"): converting them to seconds would claim a
 * steadiness of the sampling rate that the summary measures instead.
 * Strings go through the JSON writer, which keeps them exact (lone
 * surrogates as \uDXXX escapes) rather than cleaned.
 */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/xalloc.h"
#include "output/output.h"
#include "output/text.h"
#include "core/banned.h"

#ifndef PYSPECT_VERSION
#define PYSPECT_VERSION "unknown"
#endif

struct ss_thread {
    uint32_t thread;
    uint64_t samples;
};

struct ss_stack {
    const struct prof_stack *s;
    const uint32_t *ids;
    const uint32_t *rank; /* frame ranks, for a stable order */
    uint32_t pos;         /* of the stack's thread in the output */
};

static int
ss_thread_cmp(const void *a, const void *b)
{
    const struct ss_thread *x = a, *y = b;

    if (x->samples != y->samples) {
        return x->samples < y->samples ? 1 : -1;
    }
    return (x->thread > y->thread) - (x->thread < y->thread);
}

/* Stacks by thread, then in the order of their frames' ranks, root
 * first: similar stacks end up next to each other in speedscope's
 * time-ordered view. */
static int
ss_stack_cmp(const void *a, const void *b)
{
    const struct ss_stack *x = a, *y = b;
    uint32_t i,
        n = x->s->nframes < y->s->nframes ? x->s->nframes : y->s->nframes;

    if (x->pos != y->pos) {
        return x->pos < y->pos ? -1 : 1;
    }
    for (i = 0; i < n; i++) {
        uint32_t rx = x->rank[x->ids[i]], ry = y->rank[y->ids[i]];

        if (rx != ry) {
            return rx < ry ? -1 : 1;
        }
    }
    return (x->s->nframes > y->s->nframes) - (x->s->nframes < y->s->nframes);
}

static void
ss_title(const struct profile *p, const struct out_options *o,
         struct strbuf *sb)
{
    if (o && o->title) {
        strbuf_addstr(sb, o->title);
    } else if (p->meta.command) {
        strbuf_addf(sb, "pyspect record: %s", p->meta.command);
    } else {
        strbuf_addstr(sb, "pyspect record");
    }
}

int
out_speedscope(const struct profile *p, const struct out_options *o,
               struct strbuf *out)
{
    struct json j;
    struct strbuf sb = STRBUF_INIT;
    uint32_t *index = xmalloc((p->nframes ? p->nframes : 1) * sizeof(*index));
    uint32_t *rank = text_frame_ranks(p);
    uint32_t *pos = xmalloc((p->nthreads ? p->nthreads : 1) * sizeof(*pos));
    struct ss_thread *threads =
        xcalloc(p->nthreads ? p->nthreads : 1, sizeof(*threads));
    struct ss_stack *stacks =
        xmalloc((p->nstacks ? p->nstacks : 1) * sizeof(*stacks));
    size_t i, k, s0, s1, nused = 0, nthreads = 0;
    int with_pid = text_many_processes(p);

    /* Frames that some stack uses, in id order. */
    for (i = 0; i < p->nframes; i++) {
        index[i] = PROF_NONE;
    }
    for (i = 0; i < p->nframe_ids; i++) {
        index[p->frame_ids[i]] = 0;
    }
    for (i = 0; i < p->nframes; i++) {
        if (index[i] == 0) {
            index[i] = (uint32_t)nused++;
        }
    }

    /* Threads with samples, busiest first. */
    for (i = 0; i < p->nthreads; i++) {
        threads[i].thread = (uint32_t)i;
    }
    for (i = 0; i < p->nstacks; i++) {
        threads[p->stacks[i].thread].samples += p->stacks[i].count;
    }
    qsort(threads, p->nthreads, sizeof(*threads), ss_thread_cmp);
    while (nthreads < p->nthreads && threads[nthreads].samples > 0) {
        nthreads++;
    }
    for (k = 0; k < p->nthreads; k++) {
        pos[threads[k].thread] = (uint32_t)k;
    }
    for (i = 0; i < p->nstacks; i++) {
        stacks[i].s = &p->stacks[i];
        stacks[i].ids = profile_stack_frames(p, &p->stacks[i]);
        stacks[i].rank = rank;
        stacks[i].pos = pos[p->stacks[i].thread];
    }
    qsort(stacks, p->nstacks, sizeof(*stacks), ss_stack_cmp);

    json_init(&j, out, 0);
    json_object_begin(&j);
    json_kv_string(&j, "$schema",
                   "https://www.speedscope.app/file-format-schema.json");
    ss_title(p, o, &sb);
    json_kv_string(&j, "name", sb.buf);
    json_kv_string(&j, "exporter", "pyspect " PYSPECT_VERSION);
    json_kv_int(&j, "activeProfileIndex", 0);

    json_key(&j, "shared");
    json_object_begin(&j);
    json_key(&j, "frames");
    json_array_begin(&j);
    for (i = 0; i < p->nframes; i++) {
        const struct prof_frame *f = &p->frames[i];
        const char *name = strtab_get(&p->strings, f->name);
        const char *file = strtab_get(&p->strings, f->file);

        if (index[i] == PROF_NONE) {
            continue;
        }
        json_object_begin(&j);
        json_kv_string(&j, "name", name && *name ? name : "(unknown)");
        if (file && *file) {
            json_kv_string(&j, "file", file);
        }
        if (f->line >= 0) {
            json_kv_int(&j, "line", f->line);
        }
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_end(&j);

    json_key(&j, "profiles");
    json_array_begin(&j);
    /* One profile per thread; one empty profile when there is no sample
     * at all (speedscope refuses a file without profiles). */
    for (k = 0, s1 = 0; k < nthreads || (k == 0 && nthreads == 0); k++) {
        uint64_t total = 0;

        s0 = s1;
        while (s1 < p->nstacks && stacks[s1].pos == k) {
            total += stacks[s1++].s->count;
        }
        json_object_begin(&j);
        json_kv_string(&j, "type", "sampled");
        strbuf_reset(&sb);
        if (nthreads > 0) {
            text_thread_label(&sb, p, threads[k].thread, with_pid, 0);
        } else {
            strbuf_addstr(&sb, "no samples");
        }
        json_kv_string(&j, "name", sb.buf);
        json_kv_string(&j, "unit", profile_counts_bytes(p) ? "bytes" : "none");
        json_kv_uint(&j, "startValue", 0);
        json_kv_uint(&j, "endValue", total);
        json_key(&j, "samples");
        json_array_begin(&j);
        for (i = s0; i < s1; i++) {
            uint32_t f;

            json_array_begin(&j);
            for (f = 0; f < stacks[i].s->nframes; f++) {
                json_uint(&j, index[stacks[i].ids[f]]);
            }
            json_array_end(&j);
        }
        json_array_end(&j);
        json_key(&j, "weights");
        json_array_begin(&j);
        for (i = s0; i < s1; i++) {
            json_uint(&j, stacks[i].s->count);
        }
        json_array_end(&j);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_end(&j);
    strbuf_addch(out, '\n');

    strbuf_release(&sb);
    free(stacks);
    free(threads);
    free(pos);
    free(rank);
    free(index);
    return 0;
}
