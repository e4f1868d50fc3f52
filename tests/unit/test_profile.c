/*
 * test_profile.c - unit tests of the in-memory profile.
 *
 * Layer: tests.  String, frame and thread interning; stacks given
 * innermost first and stored root first; counts and totals; a stack seen
 * again allocates nothing (checked with mallinfo2) and leaves
 * profile_memory() unchanged; ten thousand distinct stacks, re-added in
 * another order, keep exact counts through many index resizes.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/strbuf.h"
#include "profile/profile.h"
#include "tap.h"

static void
test_strtab(void)
{
    struct profile p;
    uint32_t a, b, c, i;
    char name[32];
    int ok = 1;

    profile_init(&p);
    a = strtab_intern(&p.strings, "main");
    b = strtab_intern(&p.strings, "f\xc3\xbcnf");
    c = strtab_intern(&p.strings, "main");
    TAP_EQ_INT(a, c, "the same string interns to the same id");
    TAP_OK(a != b, "different strings get different ids");
    TAP_EQ_STR(strtab_get(&p.strings, b), "f\xc3\xbcnf", "strtab_get");
    TAP_OK(strtab_get(&p.strings, PROF_NONE) == NULL, "PROF_NONE is NULL");
    TAP_OK(strtab_get(&p.strings, 99) == NULL, "an id out of range is NULL");
    TAP_EQ_INT(strtab_intern(&p.strings, ""), 2, "the empty string is one");

    /* Enough strings to resize the index several times. */
    for (i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "s%u", i);
        if (strtab_intern(&p.strings, name) != i + 3) {
            ok = 0;
        }
    }
    for (i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "s%u", i);
        if (strtab_intern(&p.strings, name) != i + 3 ||
            strcmp(strtab_get(&p.strings, i + 3), name) != 0) {
            ok = 0;
        }
    }
    TAP_OK(ok, "5000 strings keep their ids across index resizes");
    TAP_EQ_INT(p.strings.n, 5003, "no duplicates were made");
    profile_release(&p);
    TAP_EQ_INT(p.strings.n, 0, "release leaves an empty profile");
}

static void
test_frames(void)
{
    struct profile p;
    uint32_t f1, f2, f3, f4, name, file;

    profile_init(&p);
    f1 = profile_frame(&p, "compute", "/srv/app.py", 12);
    f2 = profile_frame(&p, "compute", "/srv/app.py", 13);
    f3 = profile_frame(&p, "compute", "/srv/app.py", 12);
    f4 = profile_frame(&p, "compute", "/srv/other.py", 12);
    TAP_EQ_INT(f1, f3, "the same (name, file, line) is one frame");
    TAP_OK(f1 != f2, "another line is another frame");
    TAP_OK(f1 != f4 && f2 != f4, "another file is another frame");
    TAP_EQ_INT(p.nframes, 3, "three frames");
    TAP_EQ_STR(strtab_get(&p.strings, p.frames[f4].file), "/srv/other.py",
               "the frame's file");
    TAP_EQ_INT(p.frames[f2].line, 13, "the frame's line");
    name = strtab_intern(&p.strings, "compute");
    file = strtab_intern(&p.strings, "/srv/app.py");
    TAP_EQ_INT(profile_frame_id(&p, name, file, 12), f1,
               "profile_frame_id finds the frame of interned strings");
    TAP_EQ_INT(profile_frame(&p, "x", NULL, -1),
               profile_frame(&p, "x", "", -1), "a NULL file is the empty one");
    profile_release(&p);
}

static void
test_threads(void)
{
    struct profile p;
    uint32_t t1, t2, t3, t4;

    profile_init(&p);
    p.meta.pid = 4242;
    t1 = profile_thread(&p, 0x7f0001, 4243, NULL);
    t2 = profile_thread(&p, 0x7f0002, 4244, "worker-1");
    t3 = profile_thread(&p, 0x7f0001, 4243, "MainThread");
    TAP_EQ_INT(t1, t3, "the same ident is the same thread");
    TAP_OK(t1 != t2, "another ident is another thread");
    TAP_EQ_STR(strtab_get(&p.strings, p.threads[t1].name), "MainThread",
               "a later name fills a missing one");
    profile_thread(&p, 0x7f0002, 4244, "renamed");
    TAP_EQ_STR(strtab_get(&p.strings, p.threads[t2].name), "worker-1",
               "a later name does not replace a known one");
    TAP_EQ_INT(p.threads[t1].pid, 4242, "threads belong to meta.pid");
    t4 = profile_thread_pid(&p, 5000, 0x7f0001, 5001, "MainThread");
    TAP_OK(t4 != t1, "the same ident in another process is another thread");
    TAP_EQ_INT(p.threads[t4].tid, 5001, "its tid");
    TAP_EQ_INT(profile_thread_pid(&p, 4242, 0x7f0001, 0, NULL), t1,
               "profile_thread_pid finds a thread of meta.pid");
    profile_release(&p);
}

static void
test_stacks(void)
{
    struct profile p;
    uint32_t a, b, c, t1, t2, inner_first[3], other[2];
    const uint32_t *ids;

    profile_init(&p);
    t1 = profile_thread(&p, 1, 11, "one");
    t2 = profile_thread(&p, 2, 12, "two");
    a = profile_frame(&p, "<module>", "app.py", 1);
    b = profile_frame(&p, "main", "app.py", 10);
    c = profile_frame(&p, "leaf", "app.py", 20);
    inner_first[0] = c;
    inner_first[1] = b;
    inner_first[2] = a;
    profile_add(&p, t1, inner_first, 3, 1);
    TAP_EQ_INT(p.nstacks, 1, "one stack");
    ids = profile_stack_frames(&p, &p.stacks[0]);
    TAP_OK(ids[0] == a && ids[1] == b && ids[2] == c,
           "frames given innermost first are stored root first");
    TAP_EQ_INT(p.stacks[0].nframes, 3, "three frames");
    profile_add(&p, t1, inner_first, 3, 4);
    TAP_EQ_INT(p.nstacks, 1, "the same stack again is not a new one");
    TAP_EQ_INT(p.stacks[0].count, 5, "its count adds the weights");
    profile_add(&p, t2, inner_first, 3, 1);
    TAP_EQ_INT(p.nstacks, 2, "the same frames on another thread: new stack");
    TAP_EQ_INT(p.stacks[1].thread, t2, "on that thread");
    profile_add(&p, t1, inner_first, 2, 1);
    TAP_EQ_INT(p.nstacks, 3, "a prefix (innermost first) is another stack");
    ids = profile_stack_frames(&p, &p.stacks[2]);
    TAP_OK(p.stacks[2].nframes == 2 && ids[0] == b && ids[1] == c,
           "its frames are the two innermost, root first");
    other[0] = a;
    other[1] = c;
    profile_add(&p, t1, other, 2, 1);
    TAP_EQ_INT(p.nstacks, 4, "the same frames in another order: new stack");
    profile_add(&p, t1, NULL, 0, 2);
    TAP_EQ_INT(p.nstacks, 5, "an empty stack is a stack");
    TAP_EQ_INT(p.stacks[4].nframes, 0, "with no frames");
    profile_add(&p, t1, NULL, 0, 1);
    TAP_EQ_INT(p.stacks[4].count, 3, "counted like the others");
    profile_add(&p, t1, inner_first, 3, 0);
    TAP_EQ_INT(p.stacks[0].count, 5, "weight 0 counts nothing");
    TAP_EQ_INT(p.total, 11, "total is the sum of the weights");
    profile_release(&p);
}

static void
test_memory_bounded(void)
{
    struct profile p;
    uint32_t frames[30], t;
    struct mallinfo2 before, after;
    size_t mem, i;

    profile_init(&p);
    t = profile_thread(&p, 1, 11, "MainThread");
    for (i = 0; i < 30; i++) {
        char name[32];

        snprintf(name, sizeof(name), "fn%zu", i);
        frames[i] = profile_frame(&p, name, "/srv/deep.py", (int32_t)i);
    }
    profile_add(&p, t, frames, 30, 1);
    mem = profile_memory(&p);
    TAP_OK(mem > 30 * sizeof(uint32_t), "profile_memory counts the stack");
    before = mallinfo2();
    for (i = 0; i < 1000000; i++) {
        profile_add(&p, t, frames, 30, 1);
    }
    after = mallinfo2();
    TAP_EQ_INT(p.nstacks, 1, "a million samples of one stack: one stack");
    TAP_EQ_INT(p.stacks[0].count, 1000001, "counted a million and one times");
    TAP_EQ_INT(profile_memory(&p), mem, "profile_memory did not grow");
    TAP_EQ_INT(after.uordblks, before.uordblks,
               "the heap did not grow (mallinfo2)");
    TAP_EQ_INT(p.nframe_ids, 30, "one copy of the frames");
    profile_release(&p);
}

/* Stack number k: depth 1..20, frames drawn from 64, root encodes k. */
static size_t
make_stack(struct profile *p, uint32_t k, uint32_t *frames)
{
    size_t n = 1 + k % 20, i;
    char name[32];

    for (i = 0; i + 1 < n; i++) {
        snprintf(name, sizeof(name), "f%u", (unsigned)((k * 31 + i) % 64));
        frames[i] = profile_frame(p, name, "/srv/x.py", 1);
    }
    snprintf(name, sizeof(name), "root%u", (unsigned)k);
    frames[n - 1] = profile_frame(p, name, "/srv/x.py", 1);
    return n;
}

static void
test_many_stacks(void)
{
    struct profile p;
    uint32_t frames[32], t[3], k;
    size_t i, n;
    uint64_t want_total = 0;
    int ok = 1;

    profile_init(&p);
    for (i = 0; i < 3; i++) {
        t[i] = profile_thread(&p, 100 + i, 0, NULL);
    }
    /* Stack k on thread k % 3, weight 1 + k % 7, added forwards and then
     * backwards (the backward pass hits stacks already seen). */
    for (k = 0; k < 10000; k++) {
        n = make_stack(&p, k, frames);
        profile_add(&p, t[k % 3], frames, n, 1);
        want_total += 1;
    }
    for (k = 10000; k-- > 0;) {
        n = make_stack(&p, k, frames);
        profile_add(&p, t[k % 3], frames, n, k % 7);
        want_total += k % 7;
    }
    TAP_EQ_INT(p.nstacks, 10000, "10000 distinct stacks");
    TAP_EQ_INT(p.total, want_total, "the total");
    for (i = 0; i < p.nstacks; i++) {
        const struct prof_stack *s = &p.stacks[i];
        const uint32_t *ids = profile_stack_frames(&p, s);
        const char *root = strtab_get(&p.strings, p.frames[ids[0]].name);
        unsigned got;

        if (sscanf(root, "root%u", &got) != 1 || s->count != 1 + got % 7 ||
            s->thread != t[got % 3] || s->nframes != 1 + got % 20) {
            ok = 0;
        }
    }
    TAP_OK(ok, "every stack has its thread, depth and count");
    profile_release(&p);
}

int
main(void)
{
    test_strtab();
    test_frames();
    test_threads();
    test_stacks();
    test_memory_bounded();
    test_many_stacks();
    return tap_done();
}
