/*
 * test_native.c - unit tests of interleaving native and Python frames
 * (python/native.c) and of finding deadlocks among waits
 * (python/locks.c), on made-up stacks: no process.
 *
 * Layer: tests.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/locks.h"
#include "python/native.h"
#include "tap.h"

/* A mixed stack as a string: "n0 p0 p1 n3" (native i, python i). */
static void
mixed_text(const struct py_mixed_frame *m, size_t n, const raddr_t *pcs,
           size_t npcs, char *out, size_t cap)
{
    size_t i, k, len = 0;

    out[0] = '\0';
    for (i = 0; i < n && len + 8 < cap; i++) {
        if (m[i].kind == PY_MIXED_PYTHON) {
            len += (size_t)snprintf(out + len, cap - len, "%sp%zu",
                                    i ? " " : "", m[i].python);
            continue;
        }
        for (k = 0; k < npcs && pcs[k] != m[i].native.pc; k++) {
        }
        len +=
            (size_t)snprintf(out + len, cap - len, "%sn%zu", i ? " " : "", k);
    }
}

/*
 * Native frames 0..5, innermost first, each 0x100 bytes of stack above
 * the previous: frame j's locals are [0x1000 + j * 0x100, + 0x100).
 */
static void
make_natives(struct native_frame *nat, raddr_t *pcs, size_t n)
{
    size_t j;

    for (j = 0; j < n; j++) {
        pcs[j] = 0x400000 + j * 0x10;
        nat[j].pc = pcs[j];
        nat[j].sp = 0x1000 + j * 0x100;
        nat[j].activation = j == 0;
    }
}

static void
test_markers(void)
{
    struct native_frame nat[6];
    raddr_t pcs[6];
    /* Python frames 0-2 run by call 0, 3 by call 1. */
    struct py_frame py[4] = {
        {NULL, 1, 0, 0x10},
        {NULL, 2, 0, 0x20},
        {NULL, 3, 0, 0x30},
        {NULL, 4, 1, 0x40},
    };
    /* Call 0's marker lies in native frame 2, call 1's in frame 4. */
    raddr_t calls[2] = {0x1200 + 0x18, 0x1400 + 0x80};
    struct py_mixed_frame out[16];
    char text[128];
    size_t n;

    make_natives(nat, pcs, 6);
    n = py_native_mix(nat, 6, py, 4, calls, 2, NULL, NULL, 0, out);
    mixed_text(out, n, pcs, 6, text, sizeof(text));
    TAP_EQ_STR(text, "n0 n1 p0 p1 p2 n3 p3 n5",
               "each call's frames replace the native frame that holds "
               "its marker");

    /* A marker in no frame (an unwind cut short): its frames still come,
     * after the last placed ones, in order. */
    calls[1] = 0x9000;
    n = py_native_mix(nat, 6, py, 4, calls, 2, NULL, NULL, 0, out);
    mixed_text(out, n, pcs, 6, text, sizeof(text));
    TAP_EQ_STR(text, "n0 n1 p0 p1 p2 n3 n4 n5 p3",
               "frames no native frame claims go last");

    /* Markers out of order (a torn read) are not trusted. */
    calls[0] = 0x1400;
    calls[1] = 0x1200;
    n = py_native_mix(nat, 6, py, 4, calls, 2, NULL, NULL, 0, out);
    mixed_text(out, n, pcs, 6, text, sizeof(text));
    TAP_EQ_STR(text, "n0 n1 n2 n3 p0 p1 p2 n5 p3",
               "a call outside its order keeps its native frame");

    /* No native frames at all. */
    n = py_native_mix(nat, 0, py, 4, calls, 2, NULL, NULL, 0, out);
    mixed_text(out, n, pcs, 6, text, sizeof(text));
    TAP_EQ_STR(text, "p0 p1 p2 p3", "no native frames: Python frames only");
}

static void
test_symbols(void)
{
    struct native_frame nat[6];
    raddr_t pcs[6];
    /* <=3.9: one frame per evaluator call. */
    struct py_frame py[3] = {
        {NULL, 1, 0, 0x10},
        {NULL, 2, 1, 0x20},
        {NULL, 3, 2, 0x30},
    };
    /* The evaluator is [0x400020, 0x400030) and [0x400040, 0x400041):
     * native frames 2 and 4 (return addresses: looked up at pc - 1). */
    raddr_t start[2] = {0x400020, 0x400040};
    raddr_t end[2] = {0x400030, 0x400041};
    struct py_mixed_frame out[16];
    char text[128];
    size_t n;

    make_natives(nat, pcs, 6);
    nat[2].pc = 0x400025;
    nat[3].pc = 0x400035;
    nat[4].pc = 0x400041; /* returns just past the end */
    pcs[2] = nat[2].pc;
    pcs[3] = nat[3].pc;
    pcs[4] = nat[4].pc;
    n = py_native_mix(nat, 6, py, 3, NULL, 0, start, end, 2, out);
    mixed_text(out, n, pcs, 6, text, sizeof(text));
    TAP_EQ_STR(text, "n0 n1 p0 n3 p1 n5 p2",
               "each evaluator frame runs one Python frame");
}

static void
test_deadlocks(void)
{
    long tids[4] = {4243, 4244, 4245, 4246};
    struct py_wait waits[4];
    const char *functions[4] = {"transfer_a", "transfer_b", NULL, "other"};
    struct py_deadlocks d = {NULL, 0};

    memset(waits, 0, sizeof(waits));
    waits[0].kind = PY_WAIT_RLOCK;
    waits[0].object = 0x7f0000001000;
    waits[0].owner_tid = 4244;
    waits[1].kind = PY_WAIT_RLOCK;
    waits[1].object = 0x7f0000002000;
    waits[1].owner_tid = 4243;
    /* 4246 waits for 4243, outside the cycle; 4245 waits for nothing. */
    waits[3].kind = PY_WAIT_LOCK;
    waits[3].object = 0x7f0000003000;
    waits[3].owner_tid = 4243;
    py_deadlocks_find(tids, waits, functions, 4, &d);
    TAP_EQ_INT(d.n, 1, "one cycle");
    if (d.n == 1) {
        TAP_EQ_INT(d.v[0].n, 2, "of two threads");
        TAP_EQ_INT(d.v[0].tids[0], 4243, "from the lowest id");
        TAP_EQ_STR(d.v[0].text,
                   "thread 4243 `transfer_a` waits for RLock 0x7f0000001000 "
                   "held by thread 4244 `transfer_b`, which waits for RLock "
                   "0x7f0000002000 held by thread 4243",
                   "told as the issue says");
    }
    py_deadlocks_release(&d);

    /* A cycle of three, found once, starting from its lowest id. */
    tids[0] = 4250;
    waits[0].owner_tid = 4246;
    waits[3].owner_tid = 4244;
    waits[1].owner_tid = 4250;
    py_deadlocks_find(tids, waits, functions, 4, &d);
    TAP_EQ_INT(d.n, 1, "one cycle of three");
    if (d.n == 1) {
        TAP_EQ_INT(d.v[0].n, 3, "three threads");
        TAP_EQ_INT(d.v[0].tids[0], 4244, "lowest first");
        TAP_EQ_INT(d.v[0].tids[1], 4250, "then whom it waits for");
        TAP_EQ_INT(d.v[0].tids[2], 4246, "and on");
    }
    py_deadlocks_release(&d);

    /* A thread that waits for itself is no deadlock pyspect reports. */
    memset(waits, 0, sizeof(waits));
    waits[2].kind = PY_WAIT_LOCK;
    waits[2].owner_tid = 4245;
    py_deadlocks_find(tids, waits, functions, 4, &d);
    TAP_EQ_INT(d.n, 0, "no cycle");
    py_deadlocks_release(&d);
}

int
main(void)
{
    test_markers();
    test_symbols();
    test_deadlocks();
    return tap_done();
}
