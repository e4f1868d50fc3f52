/*
 * code.h - what pyspect knows about one code object.
 *
 * Layer: python.  Code objects are decoded once and cached by remote
 * address in rt->codes: names, file, first line and line table, enough to
 * turn an instruction address into a line without another read.
 *
 * Ownership: an entry is reference-counted.  The cache holds one
 * reference; a stack walk's frames borrow the cache's, which is enough
 * while nothing clears or refreshes the cache.  Whatever keeps frames
 * longer than that (a snapshot of every thread, retried after a cache
 * clear) takes its own reference with py_code_ref() and drops it with
 * py_code_unref(), so an entry outlives the cache that dropped it.
 */
#ifndef PYSPECT_PYTHON_CODE_H
#define PYSPECT_PYTHON_CODE_H

#include <stddef.h>
#include <stdint.h>

#include "python/runtime.h"

struct py_code {
    raddr_t addr;
    char *name;     /* co_name */
    char *qualname; /* co_qualname, or NULL before 3.11 */
    char *filename; /* co_filename */
    int firstlineno;
    int flags;  /* co_flags */
    int format; /* enum py_linetable_format */
    unsigned char *linetable;
    size_t linetable_len;
    raddr_t code_start; /* 3.11+: address of the inline bytecode */
    int firsttraceable; /* 3.11+: _co_firsttraceable */
    /* 3.11+: bytes a frame of this code takes on the data stack (its
     * callee's frame starts right after it); 0 when unknown. */
    int64_t framesize;
    int64_t code_len; /* bytes of bytecode; 0 when unknown */
    /* 3.11, 3.12: bit i set when code unit i begins an instruction that
     * has inline caches; NULL when not known (see py_code_at_call) */
    unsigned char *starts;
    /* Sanity words re-read to spot a code object freed and replaced at
     * the same address: co_filename and co_name pointers. */
    raddr_t filename_ptr;
    raddr_t name_ptr;
    raddr_t linetable_ptr;
    /* The last lookup, remembered: a sampler asks for the same
     * instruction of the same code again and again. */
    int last_addrq;
    int last_line;
    /* rt->code_epoch when this entry was last checked against the
     * target (see py_code_get). */
    uint32_t epoch;
    /* Free for the caller, UINT32_MAX until set: a recorder keeps its
     * interned ids of the names here so it hashes each string once. */
    uint32_t user_name;
    uint32_t user_file;
    /* Free for the caller too: its frame id of this code at user_line,
     * the last it asked for (UINT32_MAX: none). */
    uint32_t user_frame;
    int32_t user_line;
    /* rt->code_check of the last py_stack_check_codes() that checked
     * it (a stack's recursion repeats codes). */
    uint32_t checked;
    /* References: the cache's, plus one per py_code_ref(). */
    uint32_t refs;
};

/*
 * The decoded code object at addr, from the cache or read now.
 * PS_ECORRUPT when addr is not a code object.  A code object can be freed
 * and another allocated at its address: an entry is checked against the
 * target again (one small read) once per rt->code_epoch, which a long
 * recording advances every second, and decoded anew if it changed.
 */
int py_code_get(struct py_runtime *rt, raddr_t addr, struct py_code **out);

/*
 * Forget every cached code object: the cache drops its reference, so an
 * entry some holder still references stays valid until it is unref'd.
 */
void py_code_cache_clear(struct py_runtime *rt);

/* Set every cached entry's user ids back to UINT32_MAX: for a recorder
 * that starts a new profile, whose string ids those were. */
void py_code_forget_user(struct py_runtime *rt);

/* Take a reference to c; returns c. */
struct py_code *py_code_ref(struct py_code *c);

/* Drop a reference; the entry is freed with its last one.  NULL is a
 * no-op. */
void py_code_unref(struct py_code *c);

/*
 * The line of the instruction at byte offset addrq, as that version's
 * PyCode_Addr2Line() gives it; -1 when it has none.
 */
int py_code_addr2line(struct py_code *code, int addrq);

/*
 * 3.11, 3.12: could a frame of this code whose prev_instr is instr be
 * calling a frame the evaluator pushed itself?  Such a call leaves
 * prev_instr on the last code unit of the calling instruction (its last
 * inline cache entry: CALL, BINARY_SUBSCR, FOR_ITER, SEND, LOAD_ATTR; or
 * the opcode itself: 3.12's CALL_FUNCTION_EX); a frame that runs its own
 * code has it at the start of an instruction.  0 when instr begins an
 * instruction that has caches; 1 otherwise, or when that is not known.
 */
int py_code_at_call(const struct py_code *c, raddr_t instr);

#endif /* PYSPECT_PYTHON_CODE_H */
