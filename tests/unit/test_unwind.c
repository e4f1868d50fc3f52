/*
 * test_unwind.c - unit tests of the native unwinder (target/unwind.c):
 * a forked child of this test, parked in a known function, unwound with
 * every register (paused) and with only pc and sp (from /proc); then
 * stacks that are garbage, as a thread that ran on while it was read
 * would leave them: the walk stays bounded and ends, never crashes.
 *
 * Layer: tests.  The child is this very program, so its functions and a
 * buffer's address are known here.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "tap.h"
#include "target/target.h"
#include "target/unwind.h"

/* Random words in the child's memory: a stack that is not one. */
#define NOISE_WORDS 4096
static uint64_t noise[NOISE_WORDS];

/* Kept out of line, so each keeps a frame the unwinder must find. */
__attribute__((noinline)) void park_inner(void);
__attribute__((noinline)) void park_outer(void);

__attribute__((noinline)) void
park_inner(void)
{
    for (;;) {
        pause();
    }
}

__attribute__((noinline)) void
park_outer(void)
{
    park_inner();
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int
has_function(struct unwinder *u, const struct native_frame *f, size_t n,
             const char *name)
{
    struct native_symbol sym;
    size_t i;

    for (i = 0; i < n; i++) {
        unwinder_symbol(u, &f[i], &sym);
        if (sym.function != NULL && strcmp(sym.function, name) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
test_live_child(void)
{
    struct native_frame frames[UNWIND_FRAMES_MAX];
    struct target *t = NULL;
    struct unwinder *u = NULL;
    struct target_regs regs, bad;
    struct native_symbol sym;
    size_t n = 0, i;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char state = 0;
    pid_t child;
    int k;

    for (i = 0; i < NOISE_WORDS; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        /* Half of them near the stack or the code: plausible-looking
         * return addresses and frame pointers. */
        noise[i] = (i & 1) ? seed : (uint64_t)(uintptr_t)&noise[seed % 64];
    }
    child = fork();
    if (child == 0) {
        park_outer();
        _exit(0);
    }
    TAP_OK(child > 0, "fork a child parked in park_inner()");
    TAP_EQ_INT(target_live_open(child, &t), 0, "open it");
    for (k = 0; k < 500 && state != 'S'; k++) {
        target_thread_state(t, child, &state);
        sleep_ms(10);
    }
    TAP_EQ_INT(unwinder_new(t, &u), 0, "an unwinder over its files");

    /* Blocked in the kernel, not paused: pc and sp from /proc. */
    TAP_EQ_INT(target_thread_regs(t, child, &regs), 0, "pc and sp");
    TAP_OK(!regs.complete, "not every register without a pause");
    TAP_EQ_INT(unwinder_stack(u, child, &regs, frames, UNWIND_FRAMES_MAX, &n),
               0, "unwind from pc and sp");
    TAP_OK(n >= 1, "at least the innermost frame (%zu)", n);
    unwinder_symbol(u, &frames[0], &sym);
    TAP_OK(sym.library != NULL && strstr(sym.library, "libc") != NULL,
           "the innermost in libc: %s", sym.library ? sym.library : "?");

    /* Paused: every register, the whole way down. */
    TAP_EQ_INT(target_pause(t), 0, "pause it");
    TAP_EQ_INT(target_thread_regs(t, child, &regs), 0, "its registers");
    TAP_OK(regs.complete, "every register while paused");
    TAP_EQ_INT(unwinder_stack(u, child, &regs, frames, UNWIND_FRAMES_MAX, &n),
               0, "unwind it");
    TAP_OK(has_function(u, frames, n, "park_inner"), "park_inner() found");
    TAP_OK(has_function(u, frames, n, "park_outer"), "park_outer() found");
    TAP_OK(has_function(u, frames, n, "main"), "main() found");
    for (i = 1; i < n; i++) {
        if (frames[i].sp != 0 && frames[i - 1].sp != 0 &&
            frames[i].sp < frames[i - 1].sp) {
            break;
        }
    }
    TAP_EQ_INT(i, n, "each caller's stack above its callee's");

    /* The stack as a running thread would leave it under a reader:
     * garbage.  Every walk ends, within its bound. */
    for (k = 0; k < 64; k++) {
        bad = regs;
        bad.gpr[TARGET_REG_RSP] = bad.sp =
            (uint64_t)(uintptr_t)&noise[(size_t)k * 61 % (NOISE_WORDS - 64)];
        bad.gpr[TARGET_REG_RBP] = bad.fp = noise[k];
        if (k & 1) {
            bad.gpr[TARGET_REG_RIP] = bad.pc = noise[k + 1];
        }
        n = UNWIND_FRAMES_MAX + 1;
        unwinder_stack(u, child, &bad, frames, UNWIND_FRAMES_MAX, &n);
        if (n > UNWIND_FRAMES_MAX) {
            break;
        }
        for (i = 0; i < n; i++) {
            unwinder_symbol(u, &frames[i], &sym);
        }
    }
    TAP_EQ_INT(k, 64, "64 garbage stacks, each walk bounded");
    target_resume(t);

    unwinder_free(u);
    target_free(t);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

static void
test_memory_only(void)
{
    struct native_frame frames[8];
    struct target *t = target_from_memsrc(memsrc_buffer_new());
    struct unwinder *u = NULL;
    struct target_regs regs;
    size_t n = 1;

    memset(&regs, 0, sizeof(regs));
    TAP_EQ_INT(unwinder_new(t, &u), 0, "an unwinder over no files");
    TAP_EQ_INT(unwinder_stack(u, 1, &regs, frames, 8, &n), PS_ENOTFOUND,
               "no pc: nothing to unwind");
    regs.pc = 0x401000;
    regs.sp = 0x7ff000;
    TAP_EQ_INT(unwinder_stack(u, 1, &regs, frames, 8, &n), 0,
               "a pc in no file");
    TAP_EQ_INT(n, 0, "gives no frames");
    unwinder_free(u);
    target_free(t);
}

int
main(void)
{
    test_live_child();
    test_memory_only();
    return tap_done();
}
