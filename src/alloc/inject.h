/*
 * inject.h - load the allocation tracker into a running process.
 *
 * Layer: alloc (pyspect's side).  `pyspect alloc -p PID` runs code inside
 * the target, and does it so that pyspect may die at any instant without
 * harming it.  A small trampoline (trampoline.S) is written into unused
 * bytes at the end of the C library's code mapping, with its data: the
 * library's path, the tracker's configuration, the addresses of dlopen
 * and dlsym in the target, and the registers of the thread it will run
 * in.  One thread, stopped with ptrace at a safe point (see inject.c), is
 * then sent to the trampoline by a single change of its registers and let
 * go; from there on it needs nothing from pyspect: it saves its vector
 * state, calls dlopen(), calls pyspect_alloc_attach(config) in the
 * library, restores every register and returns exactly where it was.
 * pyspect only watches the trampoline's status word.
 *
 * This header is shared with trampoline.S (plain #defines only).
 */
#ifndef PYSPECT_ALLOC_INJECT_H
#define PYSPECT_ALLOC_INJECT_H

/* The blob: code, then data at fixed offsets. */
#define TR_DATA 320  /* the data starts here; the code is shorter */
#define TR_STATUS 0  /* u64, TR_ST_* */
#define TR_DLOPEN 8  /* u64: dlopen's address in the target */
#define TR_DLSYM 16  /* u64: dlsym's */
#define TR_RESULT 24 /* i64: what pyspect_alloc_attach() returned */
#define TR_REGS 32   /* u64[TR_NREGS]: the thread's registers */
#define TR_NREGS 18
#define TR_PATH 176 /* the library's path, NUL-terminated */
#define TR_PATH_MAX 256
#define TR_SYMBOL 432 /* "pyspect_alloc_attach" */
#define TR_SYMBOL_MAX 32
#define TR_CONFIG 464 /* the tracker's configuration (ALLOC_ENV) */
#define TR_CONFIG_MAX 512
#define TR_SIZE (TR_DATA + 976)

/* TR_REGS slots. */
#define TR_RAX 0
#define TR_RBX 1
#define TR_RCX 2
#define TR_RDX 3
#define TR_RSI 4
#define TR_RDI 5
#define TR_RBP 6
#define TR_RSP 7
#define TR_R8 8
#define TR_R9 9
#define TR_R10 10
#define TR_R11 11
#define TR_R12 12
#define TR_R13 13
#define TR_R14 14
#define TR_R15 15
#define TR_RIP 16
#define TR_EFLAGS 17

/*
 * The code lives in read-only pages: what it reports goes on the thread's
 * own stack, in the bytes it skips below the interrupted code's stack
 * pointer (TR_STATUS_AT and TR_RESULT_AT bytes below it), where pyspect
 * reads it.  Once the thread has returned its later calls may overwrite
 * them, so the status carries a tag that garbage is unlikely to match.
 */
#define TR_STATUS_AT 256
#define TR_RESULT_AT 248
#define TR_ST_TAG 0x7079737065637400 /* "pyspect\0" */
#define TR_ST_RUNNING 1              /* the thread is in it */
#define TR_ST_FAILED 2               /* dlopen() or dlsym() failed */
#define TR_ST_DONE 3 /* the tracker is loaded; the result says how */

/* Below the interrupted code's stack pointer: its red zone and a margin,
 * then the vector state (XSAVE of x87, SSE, AVX and AVX-512). */
#define TR_STACK_SKIP 8192
#define TR_XSAVE_SIZE 12288
#define TR_XSAVE_MASK 0xff

#ifndef __ASSEMBLER__

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

/* The trampoline's bytes (trampoline.S): TR_SIZE of them. */
extern const unsigned char alloc_trampoline[];

/*
 * Load libpyspect-alloc.so (library) into pid and start tracking with
 * config (ALLOC_ENV syntax): done when the tracker's file ready_path says
 * it tracks.  Waits at most timeout_s for a thread at a safe point, and
 * as long again for the library to start.  Refuses, with a reason in
 * the error context, where it cannot be done safely: PS_EPERM,
 * PS_ETRACED, PS_ENOTFOUND (no C library, dlopen or room for the
 * trampoline), PS_EBUSY (no thread reached a safe point in time),
 * PS_EIO (the tracker would not load: the reason it gave).
 */
int alloc_inject(int pid, const char *library, const char *config,
                 const char *ready_path, double timeout_s);

/* Is path (as pyspect sees it) the very same file inside pid's root? */
int alloc_same_file_inside(int pid, const char *path);

#endif /* __ASSEMBLER__ */

#endif /* PYSPECT_ALLOC_INJECT_H */
