/*
 * test_sampler.c - torn stacks, replaced code objects and speculation.
 *
 * Layer: tests.  A memory source over the synthetic runtime of synth.h
 * that serves the image as it is at the moment of each read, and lets
 * the test change the image just before a chosen read: so a frame can
 * change between the walk and the verification, as it does when the
 * target runs on.  Checks that PY_STACK_VERIFY refuses a stack whose
 * links changed and accepts one whose innermost frame only moved on,
 * that a code object replaced at the same address is decoded anew, and
 * that the sampler's speculative batch is used and stays correct.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "python/sampler.h"
#include "python/stack.h"
#include "synth.h"
#include "tap.h"

/* ---- a memory source over the live image --------------------------------- */

struct live {
    struct memsrc base;
    struct image *im;
    uint64_t reads;     /* reads and batched reads served */
    uint64_t mutate_at; /* before this read, call mutate (0: never) */
    void (*mutate)(struct image *im, void *arg);
    void *arg;
};

static void
live_tick(struct live *lv)
{
    lv->reads++;
    if (lv->mutate != NULL && lv->reads == lv->mutate_at) {
        lv->mutate(lv->im, lv->arg);
    }
}

static int
live_copy(struct live *lv, raddr_t addr, void *buf, size_t len)
{
    if (addr < BASE || addr - BASE > SIZE || len > SIZE - (addr - BASE)) {
        return PS_EFAULT;
    }
    memcpy(buf, lv->im->mem + (addr - BASE), len);
    return 0;
}

static int
live_read(struct memsrc *src, raddr_t addr, void *buf, size_t len)
{
    struct live *lv = (struct live *)src;

    live_tick(lv);
    return live_copy(lv, addr, buf, len);
}

static int
live_readv(struct memsrc *src, const struct memsrc_iov *iov, size_t n)
{
    struct live *lv = (struct live *)src;
    size_t i;
    int rc;

    live_tick(lv);
    for (i = 0; i < n; i++) {
        rc = live_copy(lv, iov[i].addr, iov[i].buf, iov[i].len);
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

/* ---- mutations ------------------------------------------------------------- */

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

/* Reads one verified stack walk makes on this image. */
static uint64_t
count_reads(struct image *im, const struct built *b)
{
    struct live *lv = live_new(im);
    struct py_runtime *rt = runtime_over(im, b, &lv->base);
    struct py_threads t = PY_THREADS_INIT;
    struct py_stack st = PY_STACK_INIT;
    uint64_t before, n = 0;

    if (py_threads_read(rt, &t) == 0 && t.n == 1) {
        before = lv->reads;
        py_stack_read(rt, &t.v[0], PY_STACK_VERIFY, &st);
        n = lv->reads - before;
    }
    py_stack_release(&st);
    py_threads_release(&t);
    py_runtime_free(rt);
    return n;
}

/* Walk with `change` applied just before the verification read. */
static int
walk_changed(struct image *im, const struct built *b, struct change *c)
{
    uint64_t n = count_reads(im, b);
    struct live *lv = live_new(im);
    struct py_runtime *rt = runtime_over(im, b, &lv->base);
    struct py_threads t = PY_THREADS_INIT;
    struct py_stack st = PY_STACK_INIT;
    int rc;

    rc = py_threads_read(rt, &t);
    if (rc == 0) {
        /* The verification is the walk's last read. */
        lv->mutate_at = lv->reads + n;
        lv->mutate = apply_change;
        lv->arg = c;
        rc = py_stack_read(rt, &t.v[0], PY_STACK_VERIFY, &st);
    }
    py_stack_release(&st);
    py_threads_release(&t);
    py_runtime_free(rt);
    return rc;
}

static void
test_verify(const struct py_layout *l, unsigned char *mem)
{
    struct image im = {mem, 0, l, 0, 0, 0};
    struct built b;
    struct change c;
    int frames = pyl_has(l->tstate_frame);
    int32_t link = frames ? l->frame_back : l->iframe_previous;
    int32_t code = frames ? l->frame_code : l->iframe_code;
    int32_t instr = frames ? l->frame_lasti : l->iframe_instr;
    char label[16];

    snprintf(label, sizeof(label), "%d.%d", l->major, l->minor);
    build(&im, &b);
    TAP_OK(count_reads(&im, &b) > 0, "%s: a verified walk reads", label);

    /* The caller's caller changed: another call chain. */
    c.addr = b.frames[1];
    c.off = link;
    c.value = b.frames[1] + 8;
    TAP_EQ_INT(walk_changed(&im, &b, &c), PS_ECHANGED,
               "a changed caller link is refused");
    build(&im, &b);
    c.off = code;
    c.value = b.codes[2];
    TAP_EQ_INT(walk_changed(&im, &b, &c), PS_ECHANGED,
               "a frame now running other code is refused");
    build(&im, &b);
    c.addr = b.frames[1];
    c.off = instr;
    c.value = 0x1234;
    TAP_EQ_INT(walk_changed(&im, &b, &c), PS_ECHANGED,
               "a caller that moved on (its callee returned) is refused");
    build(&im, &b);
    c.addr = b.frames[0];
    c.off = instr;
    c.value = frames ? 6 : b.codes[0] + l->code_code_adaptive + 6;
    TAP_EQ_INT(walk_changed(&im, &b, &c), 0,
               "the innermost frame moving within its code is fine");
    /* The code object of middle() was freed and another one took its
     * address: same type, a different name. */
    build(&im, &b);
    c.addr = b.codes[1];
    c.off = l->code_name;
    c.value = make_str(&im, "replaced");
    TAP_EQ_INT(walk_changed(&im, &b, &c), PS_ECHANGED,
               "a code object replaced at its address is caught");
}

/* ---- the sampler ---------------------------------------------------------- */

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

static void
test_sampler(const struct py_layout *l, unsigned char *mem)
{
    struct image im = {mem, 0, l, 0, 0, 0};
    struct built b;
    struct live *lv;
    struct py_runtime *rt;
    struct py_sampler s;
    raddr_t name;
    int rc, round;
    char label[16];

    snprintf(label, sizeof(label), "%d.%d", l->major, l->minor);
    build(&im, &b);
    lv = live_new(&im);
    rt = runtime_over(&im, &b, &lv->base);
    py_sampler_init(&s, rt, PY_SAMPLE_WALL);
    for (round = 0; round < 3; round++) {
        ncollected = 0;
        rc = py_sampler_round(&s, collect, NULL);
        TAP_EQ_INT(rc, 0, "a round");
    }
    TAP_EQ_INT(ncollected, 3, "three frames");
    TAP_EQ_STR(collected[1], "middle", "middle in the middle");
    TAP_OK(s.stats.spec_hits >= 1,
           "%s: later rounds decode from the "
           "speculative batch (%llu)",
           label, (unsigned long long)s.stats.spec_hits);
    TAP_EQ_INT(s.stats.refreshes, 1, "the thread list is walked once");
    /* A new code object at middle()'s address between two rounds: the
     * next sample names it right, though the cache and the speculative
     * batch both knew the old one. */
    name = make_str(&im, "replaced");
    put64(&im, b.codes[1], l->code_name, name);
    ncollected = 0;
    rc = py_sampler_round(&s, collect, NULL);
    TAP_EQ_INT(rc, 0, "a round after the change");
    TAP_EQ_STR(collected[1], "replaced", "the new code object's name");
    TAP_EQ_INT(s.stats.torn, 0, "nothing dropped");
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

        test_verify(l, mem);
        /* The sampler finds kernel thread ids itself before 3.11 (in
         * /proc): the synthetic image only has them from 3.11 on. */
        if (pyl_has(l->tstate_native_thread_id)) {
            test_sampler(l, mem);
        }
    }
    free(mem);
    return tap_done();
}
