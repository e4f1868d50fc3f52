/*
 * unwind.h - native (C) stacks of a target's threads, and the names of
 * code addresses.
 *
 * Layer: target.  Wraps elfutils' libdwfl.  An unwinder knows the
 * target's mapped ELF files (opened through the target, so a process in
 * a container or a core from another machine works), reads memory only
 * through the target's memsrc, and takes a thread's registers as the
 * target gives them (struct target_regs): the same code unwinds a paused
 * live process and a core file.  It needs no Python knowledge; anything
 * that wants a native stack or a symbol (dump --native, record --native,
 * an allocation tracker) can use it.
 *
 * Unwinding follows the call frame information of each file (.eh_frame,
 * else .debug_frame of a separate debug file), and frame pointers where a
 * function has none.  What a code address's CFI says is kept, boiled
 * down to the rule of its frame address and of each register: a sampler
 * meeting the same code again walks it without libdwfl, which takes over
 * for a frame the rules cannot say (an expression, a signal frame, no
 * CFI).  Names come from .symtab, else a separate debug
 * file found by build id under /usr/lib/debug/.build-id (inside the
 * target's root first), else .dynsym; an address no symbol covers has
 * only its library and offset.
 *
 * Everything read is untrusted: walks are bounded (UNWIND_FRAMES_MAX),
 * a stack that goes nowhere ends the walk, never the program.
 */
#ifndef PYSPECT_TARGET_UNWIND_H
#define PYSPECT_TARGET_UNWIND_H

#include <stddef.h>
#include <stdint.h>

#include "target/target.h"

/* Most native frames unwound for one thread. */
#define UNWIND_FRAMES_MAX 512

struct unwinder;

struct native_frame {
    raddr_t pc;     /* the frame's instruction pointer (a return address
                 * for every frame but the innermost) */
    raddr_t sp;     /* its stack pointer: the frame's locals lie at or above
                 * it, below the caller's sp; 0 when unknown */
    int activation; /* pc is exact (the innermost frame, or interrupted
                     * by a signal): look it up as it is, not pc - 1 */
};

struct native_symbol {
    const char *function;   /* symbol name, or NULL when none covers pc */
    const char *library;    /* path of the file as the target names it, or
                           * NULL for an address in no known file */
    uint64_t offset;        /* pc in the file's own addresses (pc minus the
                           * load bias): what `addr2line -e` takes */
    uint64_t symbol_offset; /* pc - start of the symbol, when function */
};

/*
 * An unwinder for t, which must outlive it.  Reads t's mappings now; the
 * files are opened as the first address in each is looked up.
 * PS_EINTERNAL when libdwfl cannot start; a target whose mappings cannot
 * be read gives their error.
 */
int unwinder_new(struct target *t, struct unwinder **out);
void unwinder_free(struct unwinder *u);

/*
 * Read the target's mappings again (a library loaded since, or the
 * target paused: a live process's mappings may have changed).  Files
 * already known are kept.
 */
int unwinder_refresh(struct unwinder *u);

/*
 * Unwind thread tid from regs, innermost frame first, into out (at most
 * max frames; *n says how many).  With complete registers the walk
 * starts anywhere; with only pc and sp (a live thread blocked in the
 * kernel and not paused) it usually gets through the system call
 * wrapper and stops where a frame needs a register it does not know.
 * The thread must not run meanwhile (pause a live target first), else
 * the frames are whatever its stack held as it was read: still bounded,
 * never a crash.  Returns 0 even for a short walk; PS_ENOTFOUND when
 * regs has no pc.
 */
int unwinder_stack(struct unwinder *u, int tid, const struct target_regs *regs,
                   struct native_frame *out, size_t max, size_t *n);

/*
 * The name of a frame's code.  Strings stay valid until unwinder_free().
 * Lookups are cached by address, so a sampler may call it per frame.
 */
void unwinder_symbol(struct unwinder *u, const struct native_frame *f,
                     struct native_symbol *out);

/* Statistics, for -v and benchmarks. */
struct unwinder_stats {
    uint64_t stacks;  /* unwinder_stack() calls */
    uint64_t frames;  /* frames found */
    uint64_t reads;   /* words of target memory the unwinder asked for */
    uint64_t modules; /* files reported */
    uint64_t slow;    /* walks left to libdwfl (no cached step) */
};

void unwinder_stats(const struct unwinder *u, struct unwinder_stats *st);

#endif /* PYSPECT_TARGET_UNWIND_H */
