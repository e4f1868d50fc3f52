/*
 * test_sampler.c - stacks that change while copied, replaced code objects,
 * and the sampler's plans.
 *
 * Layer: tests.  A memory source over the synthetic runtime of synth.h
 * that serves the image as it is at the moment of each piece of a read,
 * and lets the test change the image just before a chosen piece: so a
 * frame can change between the two copies of one batched read, as it
 * does when the target runs on.  Checks that py_stack_compare() refuses
 * a walk whose links changed and accepts one whose innermost frame only
 * moved on, or whose caller moved within its line; that a code object
 * replaced at the same address is caught; and that the sampler takes
 * stacks from its first batch, copies a changed one again, and looks up
 * a stack that moved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "python/opcodes.h"
#include "python/sampler.h"
#include "python/stack.h"
#include "synth.h"
#include "tap.h"

/* ---- a memory source over the live image -------------------------------- */

struct live {
    struct memsrc base;
    struct image *im;
    raddr_t mutate_addr; /* before the next piece read here, mutate */
    void (*mutate)(struct image *im, void *arg);
    void *arg;
};

static int
live_copy(struct live *lv, raddr_t addr, void *buf, size_t len)
{
    if (lv->mutate != NULL && addr == lv->mutate_addr) {
        lv->mutate(lv->im, lv->arg);
        lv->mutate = NULL;
    }
    if (addr < BASE || addr - BASE > SIZE || len > SIZE - (addr - BASE)) {
        return PS_EFAULT;
    }
    memcpy(buf, lv->im->mem + (addr - BASE), len);
    return 0;
}

static int
live_read(struct memsrc *src, raddr_t addr, void *buf, size_t len)
{
    return live_copy((struct live *)src, addr, buf, len);
}

static int
live_readv(struct memsrc *src, const struct memsrc_iov *iov, size_t n)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        rc =
            live_copy((struct live *)src, iov[i].addr, iov[i].buf, iov[i].len);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static void
live_free(struct memsrc *src)
{
    free(src);
}

static const struct memsrc_ops live_ops = {
    .name = "live",
    .read = live_read,
    .readv = live_readv,
    .free = live_free,
};

static struct live *
live_new(struct image *im)
{
    struct live *lv = calloc(1, sizeof(*lv));

    lv->base.ops = &live_ops;
    lv->im = im;
    return lv;
}

/* ---- changes ------------------------------------------------------------ */

struct change {
    raddr_t addr;
    int32_t off;
    uint64_t value;
};

static void
apply_change(struct image *im, void *arg)
{
    const struct change *c = arg;

    put64(im, c->addr, c->off, c->value);
}

/* Changes until one at address 0. */
static void
apply_changes(struct image *im, void *arg)
{
    const struct change *c;

    for (c = arg; c->addr != 0; c++) {
        put64(im, c->addr, c->off, c->value);
    }
}

/*
 * A code object with two lines: up to 3.10 byte offsets 0-3 on
 * firstlineno + 1 and 4-15 on firstlineno + 2; 3.11+ code units 0-3 and
 * 4-7, the first instruction one with inline caches that cover units 1-3
 * (where a caller stands: see py_code_at_call), 16 bytes of bytecode.
 */
static raddr_t
make_code2(struct image *im, const char *name, int firstlineno)
{
    const struct py_layout *l = im->l;
    static const unsigned char lnotab[] = {0, 1, 4, 1};
    static const unsigned char t310[] = {4, 1, 12, 1};
    static const unsigned char locations[] = {0x80 | (13 << 3) | 3, 2,
                                              0x80 | (13 << 3) | 3, 2};
    static const unsigned char bytecode[16];
    raddr_t a = make_code(im, name, firstlineno);
    raddr_t table;

    switch (l->code_linetable_format) {
    case 1:
    case 4:
        table = make_bytes(im, lnotab, sizeof(lnotab));
        break;
    case 2:
        table = make_bytes(im, t310, sizeof(t310));
        break;
    default:
        table = make_bytes(im, locations, sizeof(locations));
        break;
    }
    put64(im, a, l->code_linetable, table);
    if (pyl_has(l->code_code_adaptive)) {
        const unsigned char *caches = py_opcode_caches(l->major, l->minor);
        int op, best = 0;

        for (op = 0; caches != NULL && op < 256; op++) {
            best = caches[op] > caches[best] ? op : best;
        }
        im->mem[a - BASE + (raddr_t)l->code_code_adaptive] =
            (unsigned char)best;
        put64(im, a, l->var_size, 8); /* code units */
    } else {
        put64(im, a, l->code_code, make_bytes(im, bytecode, 16));
    }
    return a;
}

/* The instruction field of a frame for byte offset off of its code. */
static uint64_t
instr_at(const struct image *im, raddr_t code, int off)
{
    const struct py_layout *l = im->l;

    if (pyl_has(l->tstate_frame)) {
        return (uint64_t)(l->code_linetable_format == 2 ? off / 2 : off);
    }
    return code + (raddr_t)l->code_code_adaptive + (raddr_t)off;
}

/*
 * Walk a copy of the image taken before `c` and compare it with one taken
 * after, as a sampler's batch does around a thread state.
 */
static int
walk_across(struct image *im, const struct built *b, const struct change *c)
{
    struct memsrc *src = source_of(im);
    struct py_runtime *rt = runtime_over(im, b, src);
    struct py_threads t = PY_THREADS_INIT;
    struct py_stack st = PY_STACK_INIT;
    unsigned char *before = malloc(SIZE), *after = malloc(SIZE);
    struct py_prefetch c1 = {BASE, SIZE, before}, c2 = {BASE, SIZE, after};
    int rc;

    rc = py_threads_read(rt, &t);
    memcpy(before, im->mem, SIZE);
    if (c != NULL) {
        apply_change(im, (void *)c);
    }
    memcpy(after, im->mem, SIZE);
    if (rc == 0) {
        st.prefetch = &c1;
        st.nprefetch = 1;
        rc = py_stack_read(rt, &t.v[0], PY_STACK_COPY, &st);
    }
    if (rc == 0) {
        rc = py_stack_compare(rt, &st, &c2, 1);
    }
    if (rc == 0) {
        rc = py_stack_check_codes(rt, &st, &c2, 1);
    }
    py_stack_release(&st);
    py_threads_release(&t);
    py_runtime_free(rt);
    free(before);
    free(after);
    return rc;
}

static void
test_compare(const struct py_layout *l, unsigned char *mem)
{
    struct image im = {mem, 0, l, 0, 0, 0};
    struct built b;
    struct change c;
    int frames = pyl_has(l->tstate_frame);
    int32_t link = frames ? l->frame_back : l->iframe_previous;
    int32_t code = frames ? l->frame_code : l->iframe_code;
    int32_t instr = frames ? l->frame_lasti : l->iframe_instr;
    raddr_t two;
    char label[16];
    /* Byte offsets on the first line of make_code2()'s code, and on its
     * second. */
    int line1 = pyl_has(l->code_code_adaptive) ? 2 : 0;
    int line2 = pyl_has(l->code_code_adaptive) ? 8 : 6;

    snprintf(label, sizeof(label), "%d.%d", l->major, l->minor);
    build(&im, &b);
    TAP_OK(walk_across(&im, &b, NULL) == 0, "%s: an unchanged stack", label);
    /* The caller's caller changed: another call chain. */
    c.addr = b.frames[1];
    c.off = link;
    c.value = b.frames[1] + 8;
    TAP_EQ_INT(walk_across(&im, &b, &c), PS_ECHANGED,
               "a changed caller link is refused");
    build(&im, &b);
    c.off = code;
    c.value = b.codes[2];
    TAP_EQ_INT(walk_across(&im, &b, &c), PS_ECHANGED,
               "a frame now running other code is refused");
    /* middle() runs a two-line code object, calling from its first line:
     * moving within that line is the same sample, to the next line is
     * not (its callee returned meanwhile). */
    build(&im, &b);
    two = make_code2(&im, "middle", 20);
    put64(&im, b.frames[1], code, two);
    put64(&im, b.frames[1], instr, instr_at(&im, two, line1));
    TAP_EQ_INT(walk_across(&im, &b, NULL), 0, "a two-line caller");
    c.addr = b.frames[1];
    c.off = instr;
    c.value = instr_at(&im, two, line1 + 2);
    TAP_EQ_INT(walk_across(&im, &b, &c), 0,
               "a caller that moved within its line is fine");
    put64(&im, b.frames[1], instr, instr_at(&im, two, line1));
    c.value = instr_at(&im, two, line2);
    TAP_EQ_INT(walk_across(&im, &b, &c), PS_ECHANGED,
               "a caller that moved to another line is refused");
    if (py_opcode_caches(l->major, l->minor) != NULL) {
        /* 3.11, 3.12: at the start of an instruction it was running its
         * own code, not calling: the frames above it had returned. */
        put64(&im, b.frames[1], instr, instr_at(&im, two, 0));
        TAP_EQ_INT(walk_across(&im, &b, NULL), PS_ECHANGED,
                   "a caller at the start of an instruction is refused");
    }
    if (pyl_has(l->iframe_stackpointer) || pyl_has(l->iframe_stacktop)) {
        /* 3.11+: a caller found running its own code (its saved stack
         * pointer unset) was read between its callees' return and the
         * next call's push. */
        int32_t sp = pyl_has(l->iframe_stackpointer) ? l->iframe_stackpointer
                                                     : l->iframe_stacktop;
        unsigned char saved[8];

        memcpy(saved, mem + (b.frames[1] - BASE) + sp, 8);
        if (pyl_has(l->iframe_stackpointer)) {
            put64(&im, b.frames[1], sp, 0);
        } else {
            put32(&im, b.frames[1], sp, UINT32_MAX);
        }
        TAP_EQ_INT(walk_across(&im, &b, NULL), PS_ECHANGED,
                   "a caller that was running its own code is refused");
        memcpy(mem + (b.frames[1] - BASE) + sp, saved, 8);
        /* A frame initialized for the next call, not yet started (before
         * its code: 3.11, 3.12; at its first unit: 3.13+), under frames
         * of the calls before. */
        put64(&im, b.frames[1], instr,
              instr_at(&im, two, 0) -
                  (pyl_has(l->iframe_instr_is_prev) && l->iframe_instr_is_prev
                       ? 2
                       : 0));
        TAP_EQ_INT(walk_across(&im, &b, NULL), PS_ECHANGED,
                   "a caller not yet started is refused");
    }
    put64(&im, b.frames[1], instr, instr_at(&im, two, line1));
    put64(&im, b.frames[1], instr, instr_at(&im, two, 64));
    TAP_EQ_INT(walk_across(&im, &b, NULL), PS_ECHANGED,
               "an instruction outside its code is refused");
    build(&im, &b);
    c.addr = b.frames[0];
    c.off = instr;
    c.value = frames ? 6 : b.codes[0] + l->code_code_adaptive + 6;
    TAP_EQ_INT(walk_across(&im, &b, &c), 0,
               "the innermost frame moving within its code is fine");
    if (frames) {
        /* middle()'s frame object went back to the free list between the
         * copies: its code stays, its reference count drops to zero. */
        build(&im, &b);
        c.addr = b.frames[1];
        c.off = l->obj_refcnt;
        c.value = 0;
        TAP_EQ_INT(walk_across(&im, &b, &c), PS_ECHANGED,
                   "a frame object freed meanwhile is refused");
        put64(&im, b.frames[1], l->obj_refcnt, 0);
        TAP_EQ_INT(walk_across(&im, &b, NULL), PS_ECHANGED,
                   "a chain through a freed frame object is refused");
        /* outer() is a generator's frame, the bottom of the walk: one
         * suspended (3.10: f_state; before: f_stacktop set) ends a stack
         * cut off from its consumer.  Running, it is a thread's first
         * frame (a C caller resumed it). */
        build(&im, &b);
        put32(&im, b.codes[2], l->code_flags, 0x20); /* CO_GENERATOR */
        TAP_OK(walk_across(&im, &b, NULL) == 0,
               "a running generator at the bottom is fine");
        c.addr = b.frames[2];
        c.off = pyl_has(l->frame_state) ? l->frame_state : l->frame_stacktop;
        c.value = pyl_has(l->frame_state) ? (uint8_t)l->gen_state_suspended
                                          : b.frames[2] + 256;
        TAP_EQ_INT(walk_across(&im, &b, &c), PS_ECHANGED,
                   "a generator suspended in the second copy is refused");
        apply_change(&im, &c);
        TAP_EQ_INT(walk_across(&im, &b, NULL), PS_ECHANGED,
                   "a stack ending at a suspended generator is refused");
        put32(&im, b.codes[2], l->code_flags, 0);
        TAP_OK(pyl_has(l->frame_state) || walk_across(&im, &b, NULL) == 0,
               "f_stacktop set on a frame not a generator's (traced) is fine");
    }
    /* The code object of middle() was freed and another one took its
     * address: same type, a different name. */
    build(&im, &b);
    c.addr = b.codes[1];
    c.off = l->code_name;
    c.value = make_str(&im, "replaced");
    TAP_EQ_INT(walk_across(&im, &b, &c), PS_ECHANGED,
               "a code object replaced at its address is caught");
}

/* ---- the sampler -------------------------------------------------------- */

/* The _PyCFrame the synthetic thread state points to (3.11, 3.12). */
static raddr_t
load_cframe(const struct image *im, const struct built *b)
{
    uint64_t v;

    memcpy(&v, im->mem + (b->tstate - BASE) + im->l->tstate_cframe, 8);
    return v;
}

static char collected[4][64];
static size_t ncollected;

static void
collect(void *ctx, struct py_sampled_thread *t, const struct py_frame *f,
        size_t n)
{
    size_t i;

    (void)ctx;
    (void)t;
    for (i = 0; i < n && i < 4; i++) {
        snprintf(collected[i], sizeof(collected[i]), "%s", f[i].code->name);
    }
    ncollected = n;
}

static int
round_of(struct py_sampler *s)
{
    ncollected = 0;
    collected[1][0] = 0;
    return py_sampler_round(s, collect, NULL);
}

static void
test_sampler(const struct py_layout *l, unsigned char *mem)
{
    struct image im = {mem, 0, l, 0, 0, 0};
    int frames = pyl_has(l->tstate_frame);
    int32_t code = frames ? l->frame_code : l->iframe_code;
    struct built b;
    struct live *lv;
    struct py_runtime *rt;
    struct py_sampler s;
    struct change calls[3];
    raddr_t name, moved;
    int rc, round;
    char label[16];

    snprintf(label, sizeof(label), "%d.%d", l->major, l->minor);
    build(&im, &b);
    lv = live_new(&im);
    rt = runtime_over(&im, &b, &lv->base);
    py_sampler_init(&s, rt, PY_SAMPLE_WALL);
    s.may_pause = 0;
    for (round = 0; round < 3; round++) {
        rc = round_of(&s);
        TAP_EQ_INT(rc, 0, "a round");
    }
    TAP_EQ_INT(ncollected, 3, "three frames");
    TAP_EQ_STR(collected[1], "middle", "middle in the middle");
    TAP_OK(s.stats.spec_hits >= 2,
           "%s: later rounds take the stack from the round's batch (%llu)",
           label, (unsigned long long)s.stats.spec_hits);
    TAP_EQ_INT(s.stats.refreshes, 1, "the thread list is walked once");
    TAP_EQ_INT(s.stats.lookups, 1, "the stack is looked up once");
    /* A new code object at middle()'s address between two rounds: the
     * next sample names it right, though the cache and the plan both
     * knew the old one. */
    name = make_str(&im, "replaced");
    put64(&im, b.codes[1], l->code_name, name);
    rc = round_of(&s);
    TAP_EQ_INT(rc, 0, "a round after the change");
    TAP_EQ_STR(collected[1], "replaced", "the new code object's name");
    /* middle() calls another function between the two copies of the
     * round's batch (just before its thread state is read): the copies
     * disagree, the stack is copied again and is the new one. */
    calls[0].addr = calls[1].addr = b.frames[0];
    calls[0].off = code;
    calls[0].value = b.codes[2];
    calls[1].off = frames ? l->frame_lasti : l->iframe_instr;
    calls[1].value = instr_at(&im, b.codes[2], 4);
    calls[2].addr = 0;
    lv->mutate_addr = b.tstate;
    lv->mutate = apply_changes;
    lv->arg = calls;
    rc = round_of(&s);
    TAP_EQ_INT(rc, 0, "a round that changed while copied");
    TAP_OK(s.stats.retries >= 1, "the changed stack was copied again");
    TAP_EQ_STR(collected[0], "outer", "and is the new one");
    /* The innermost frame moves to a new address, outside what the plan
     * copies: the stack is looked up again. */
    moved = img_alloc(&im, 4096) + 2048;
    memcpy(im.mem + (moved - BASE), im.mem + (b.frames[0] - BASE),
           frames ? (size_t)l->frame_size : (size_t)l->iframe_size);
    if (frames) {
        put64(&im, b.tstate, l->tstate_frame, moved);
    } else if (pyl_has(l->tstate_current_frame)) {
        put64(&im, b.tstate, l->tstate_current_frame, moved);
    } else {
        put64(&im, load_cframe(&im, &b), l->cframe_current_frame, moved);
    }
    rc = round_of(&s);
    TAP_EQ_INT(rc, 0, "a round after the stack moved");
    TAP_EQ_INT(ncollected, 3, "three frames again");
    TAP_OK(s.stats.lookups >= 2, "%s: the moved stack was looked up", label);
    TAP_EQ_INT(s.stats.torn, 0, "nothing dropped");
    /* The thread ended and a new one took its state (same address, same
     * list): its ids changed, and the sampler pairs the state with them
     * before taking a sample. */
    put64(&im, b.tstate, l->tstate_thread_id, 0x8888);
    put64(&im, b.tstate, l->tstate_native_thread_id, 4343);
    rc = round_of(&s);
    TAP_EQ_INT(rc, 0, "a round after the state was reused");
    TAP_EQ_INT(s.stats.refreshes, 2, "the list was walked again");
    TAP_OK(s.n == 1 && s.threads[0].thread.ident == 0x8888 &&
               s.threads[0].thread.tid == 4343,
           "the state is paired with the new thread's ids");
    TAP_EQ_INT(ncollected, 3, "and sampled");
    py_sampler_release(&s);
    py_runtime_free(rt);
}

int
main(void)
{
    unsigned char *mem = calloc(1, SIZE);
    int i;

    for (i = 0; i < py_layouts_generated_count; i++) {
        const struct py_layout *l = py_layouts_generated[i];

        test_compare(l, mem);
        /* The sampler finds kernel thread ids itself before 3.11 (in
         * /proc): the synthetic image only has them from 3.11 on. */
        if (pyl_has(l->tstate_native_thread_id)) {
            test_sampler(l, mem);
        }
    }
    free(mem);
    return tap_done();
}
