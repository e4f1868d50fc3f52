/*
 * profile_bench.c - what aggregating a sample and writing a profile cost.
 *
 * Layer: bench.  Not installed; built as build/profile-bench.  Prints, per
 * operation, nanoseconds of CPU time (the best of several runs, so that a
 * busy machine inflates the figures as little as possible):
 *   add_hot      profile_add of a 30-frame stack already seen
 *   add_hot_10k  the same, cycling through 10,000 distinct stacks (cache
 *                misses of a real recording)
 *   add_new      profile_add of a 30-frame stack never seen
 *   frame_str    profile_frame() of a frame already interned (strings)
 *   frame_id     profile_frame_id() of the same (string ids)
 * then the profile's memory per distinct stack, and each writer's time
 * and output size for a profile of 10,000 stacks of 30 frames (the
 * trace writer writes one sample of each stack, 1 ms apart, in turn on
 * four threads: half of every stack changes between two samples).
 *
 * usage: profile-bench [--json] [--quick]
 * --json prints one JSON object (for bench/ scripts); --quick runs less.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "output/output.h"
#include "profile/profile.h"
#include "core/banned.h"

#define DEPTH 30
#define NSTACKS 10000

static int quick;

/* The frames of stack k, innermost first: a shared root part and a
 * k-specific tail, like the stacks of one program. */
static void
stack_frames(struct profile *p, uint32_t k, uint32_t *out)
{
    char name[64];
    size_t i;

    for (i = 0; i < DEPTH; i++) {
        if (i < DEPTH / 2) {
            snprintf(name, sizeof(name), "fn_%u_%zu", k % 997, i);
        } else {
            snprintf(name, sizeof(name), "common_%zu", i);
        }
        out[i] = profile_frame(p, name, "/srv/app/module.py",
                               (int32_t)(10 * i + k % 7));
    }
    /* Make every k distinct even when k % 997 repeats. */
    snprintf(name, sizeof(name), "leaf_%u", k);
    out[0] = profile_frame(p, name, "/srv/app/leaf.py", 1);
}

static void
build(struct profile *p, uint32_t n, uint32_t *frames)
{
    uint32_t t[4], k, stack;

    profile_init(p);
    /* The trace writer writes events, one per sample: keep them, as
     * record does for a trace (a recording at 1 ms per sample). */
    p->keep_events = 1;
    p->meta.command = xstrdup("python3 bench.py");
    p->meta.threads = 1;
    for (k = 0; k < 4; k++) {
        t[k] = profile_thread(p, 1000 + k, 2000 + k, "worker");
    }
    for (k = 0; k < n; k++) {
        stack_frames(p, k, frames + (size_t)k * DEPTH);
        stack = profile_add(p, t[k % 4], frames + (size_t)k * DEPTH, DEPTH,
                            1 + k % 13);
        profile_event(p, stack, (uint64_t)k * 1000000u,
                      PROF_STATE_ON_CPU | PROF_STATE_GIL |
                          PROF_STATE_WITH_LETTER('R'));
    }
}

/* Nanoseconds of CPU per iteration: the best of `runs` runs. */
#define BEST_NS(result, runs, iters, body)                                    \
    do {                                                                      \
        int run_;                                                             \
        (result) = 1e30;                                                      \
        for (run_ = 0; run_ < (runs); run_++) {                               \
            uint64_t t0_ = clock_cpu_ns();                                    \
            size_t it_;                                                       \
            double ns_;                                                       \
            for (it_ = 0; it_ < (size_t)(iters); it_++) {                     \
                body;                                                         \
            }                                                                 \
            ns_ = (double)(clock_cpu_ns() - t0_) / (double)(iters);           \
            if (ns_ < (result)) {                                             \
                (result) = ns_;                                               \
            }                                                                 \
        }                                                                     \
    } while (0)

int
main(int argc, char **argv)
{
    struct profile p;
    struct strbuf out = STRBUF_INIT, js = STRBUF_INIT;
    struct json j;
    uint32_t *frames = xmalloc((size_t)NSTACKS * DEPTH * sizeof(*frames));
    uint32_t name_id, file_id;
    double add_hot, add_hot_10k, add_new, frame_str, frame_id, ns;
    size_t mem_before, i;
    int as_json = 0, runs;
    uint64_t t0;
    double *writer_ms = xcalloc(out_nformats, sizeof(*writer_ms));
    size_t *writer_bytes = xcalloc(out_nformats, sizeof(*writer_bytes));

    for (i = 1; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else {
            fprintf(stderr, "usage: profile-bench [--json] [--quick]\n");
            return 2;
        }
    }
    runs = quick ? 2 : 5;

    /* Stacks already seen. */
    build(&p, NSTACKS, frames);
    BEST_NS(add_hot, runs, quick ? 200000 : 2000000,
            profile_add(&p, 0, frames, DEPTH, 1));
    BEST_NS(add_hot_10k, runs, quick ? 200000 : 2000000,
            profile_add(&p, (uint32_t)(it_ % NSTACKS % 4),
                        frames + it_ % NSTACKS * DEPTH, DEPTH, 1));
    BEST_NS(frame_str, runs, quick ? 200000 : 2000000,
            profile_frame(&p, "common_20", "/srv/app/module.py", 200));
    name_id = strtab_intern(&p.strings, "common_20");
    file_id = strtab_intern(&p.strings, "/srv/app/module.py");
    BEST_NS(frame_id, runs, quick ? 200000 : 2000000,
            profile_frame_id(&p, name_id, file_id, 200));

    /* Writers on the 10,000-stack profile. */
    for (i = 0; i < out_nformats; i++) {
        BEST_NS(ns, quick ? 1 : 3, 1,
                (strbuf_reset(&out), out_formats[i].write(&p, NULL, &out)));
        writer_ms[i] = ns / 1e6;
        writer_bytes[i] = out.len;
    }
    profile_release(&p);

    /* New stacks: the cost of a stack never seen (interning its frames
     * is done beforehand, as a sampler's code cache would). */
    profile_init(&p);
    profile_thread(&p, 1, 1, NULL);
    for (i = 0; i < NSTACKS; i++) {
        stack_frames(&p, (uint32_t)i, frames + i * DEPTH);
    }
    mem_before = profile_memory(&p);
    t0 = clock_cpu_ns();
    for (i = 0; i < NSTACKS; i++) {
        profile_add(&p, 0, frames + i * DEPTH, DEPTH, 1);
    }
    add_new = (double)(clock_cpu_ns() - t0) / NSTACKS;
    ns = (double)(profile_memory(&p) - mem_before) / NSTACKS;

    if (as_json) {
        json_init(&j, &js, 0);
        json_object_begin(&j);
        json_kv_int(&j, "depth", DEPTH);
        json_kv_double(&j, "add_hot_ns", add_hot);
        json_kv_double(&j, "add_hot_10k_ns", add_hot_10k);
        json_kv_double(&j, "add_new_ns", add_new);
        json_kv_double(&j, "frame_str_ns", frame_str);
        json_kv_double(&j, "frame_id_ns", frame_id);
        json_kv_double(&j, "bytes_per_stack", ns);
        json_key(&j, "writers");
        json_object_begin(&j);
        for (i = 0; i < out_nformats; i++) {
            json_key(&j, out_formats[i].name);
            json_object_begin(&j);
            json_kv_double(&j, "ms", writer_ms[i]);
            json_kv_uint(&j, "bytes", writer_bytes[i]);
            json_kv_double(&j, "stacks_per_s", NSTACKS / (writer_ms[i] / 1e3));
            json_object_end(&j);
        }
        json_object_end(&j);
        json_object_end(&j);
        printf("%s\n", js.buf);
    } else {
        printf("profile_add, %d-frame stacks (CPU ns per call, best of "
               "%d runs)\n",
               DEPTH, runs);
        printf("  already seen, one stack        %8.1f ns\n", add_hot);
        printf("  already seen, 10,000 stacks    %8.1f ns\n", add_hot_10k);
        printf("  new stack                      %8.1f ns\n", add_new);
        printf("  profile_frame (strings)        %8.1f ns\n", frame_str);
        printf("  profile_frame_id (string ids)  %8.1f ns\n", frame_id);
        printf("memory per distinct stack        %8.1f bytes\n", ns);
        printf("writers, %d stacks of %d frames, 4 threads\n", NSTACKS, DEPTH);
        for (i = 0; i < out_nformats; i++) {
            printf("  %-11s %8.1f ms %10zu bytes %10.0f stacks/s\n",
                   out_formats[i].name, writer_ms[i], writer_bytes[i],
                   NSTACKS / (writer_ms[i] / 1e3));
        }
    }
    profile_release(&p);
    strbuf_release(&out);
    strbuf_release(&js);
    free(frames);
    free(writer_ms);
    free(writer_bytes);
    return 0;
}
