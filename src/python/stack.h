/*
 * stack.h - threads of a CPython runtime and their Python stacks.
 *
 * Layer: python.  py_threads_read() lists every thread state of every
 * interpreter with the facts a user asks about first (ids, GIL, main);
 * py_stack_read() walks one thread's frames, innermost first, and turns
 * each into (code, line) exactly as the target's own
 * sys._current_frames() would: f_code and f_lineno.
 *
 * All walks are bounded; a chain that loops, leaves mapped memory or
 * points at something that is not a code object gives a transient error
 * (PS_ECHANGED, PS_EFAULT, PS_ECORRUPT), never a crash or a hang.
 */
#ifndef PYSPECT_PYTHON_STACK_H
#define PYSPECT_PYTHON_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "python/code.h"
#include "python/runtime.h"

/* Bounds on the walks. */
#define PY_THREADS_MAX 65536
#define PY_INTERPRETERS_MAX 4096
#define PY_FRAMES_MAX 10000
#define PY_CHUNKS_MAX 4096
#define PY_CHUNK_BYTES_MAX (256u << 20)

struct py_thread {
    raddr_t tstate;
    raddr_t interp;
    int64_t interp_id;
    uint64_t ident; /* pthread_t, threading.get_ident() */
    long tid;       /* kernel thread id, 0 when unknown */
    int holds_gil;
    int is_main;
    raddr_t top;       /* PyFrameObject* (<=3.10) or _PyInterpreterFrame* */
    raddr_t top_slot;  /* where top was read from (tstate or _PyCFrame) */
    raddr_t cframe;    /* tstate->cframe (3.10-3.12), on the C stack */
    raddr_t datastack; /* _PyStackChunk* (3.11+) */
    raddr_t base;      /* the bottom sentinel frame (3.15+), 0 unknown */
};

struct py_threads {
    struct py_thread *v;
    size_t n;
    size_t alloc;
};

/* clang-format off */
#define PY_THREADS_INIT {NULL, 0, 0}
/* clang-format on */

struct py_frame {
    struct py_code *code; /* owned by the runtime's code cache */
    int line;             /* -1: no line (f_lineno is None) */
    /* Which C call of the evaluator runs this frame, counted from the
     * innermost (0); see PY_STACK_CALLS.  0 for every frame without. */
    uint32_t call;
    raddr_t addr; /* the frame (PyFrameObject or _PyInterpreterFrame) */
};

/* A copy of one data-stack chunk (3.11+). */
struct py_chunk {
    raddr_t addr;
    size_t size;   /* bytes copied */
    size_t full;   /* the chunk's own size */
    size_t offset; /* into py_stack.chunk_data */
};

struct py_stack {
    struct py_frame *v;
    size_t n;
    size_t alloc;
    int truncated; /* more than PY_FRAMES_MAX frames */
    /*
     * With PY_STACK_CALLS: one entry per C call of the evaluator found,
     * innermost first (frames name theirs in py_frame.call), each the
     * address on the C stack that marks that call's native frame, or 0
     * where the layout leaves none.
     */
    raddr_t *calls;
    size_t ncalls;
    size_t calls_alloc;
    /* Scratch reused between walks. */
    struct py_chunk *chunks;
    size_t nchunks;
    size_t chunks_alloc;
    unsigned char *chunk_data;
    size_t chunk_data_alloc;
    /* Copies of target memory the caller took (see PY_STACK_COPY),
     * sorted by address, none overlapping another. */
    const struct py_prefetch *prefetch;
    size_t nprefetch;
    /* After PY_STACK_MISS: the memory the walk needed and lacked. */
    raddr_t missing;
    size_t missing_len;
    /* Frame addresses seen in the current walk: an open-addressing set
     * whose entries are valid when their tag equals `walk`. */
    struct py_seen *seen;
    size_t seen_mask;
    uint32_t walk;
    /* Every frame the walk visited (shown or hidden), innermost first,
     * with the header bytes it was decoded from (py_stack_compare()). */
    raddr_t *visited;
    unsigned char *headers;
    size_t nvisited;
    size_t visited_alloc;
    size_t header_len;
    /* Which copy each visited frame was found in (SIZE_MAX: none), and
     * the last found: a second set of copies of the same pieces, in the
     * same order, has it at the same index (py_stack_compare()). */
    size_t *visited_piece;
    size_t piece;
};

/* A piece of target memory already copied. */
struct py_prefetch {
    raddr_t addr;
    size_t len;
    const unsigned char *data;
};

struct py_seen {
    raddr_t addr;
    uint32_t walk;
};

/* clang-format off */
#define PY_STACK_INIT {0}
/* clang-format on */

/* py_stack_read() flags. */
enum {
    /* Honour f_lineno of traced frames as CPython does (costs a read
     * per frame that has a frame object, on 3.11+). */
    PY_STACK_TRACED_LINES = 1 << 0,
    /*
     * Walk only copies the caller took (out->prefetch, set by the
     * caller): read nothing.  A frame outside them ends the walk with
     * PY_STACK_MISS and out->missing.  A sampler copies a thread's stack
     * twice in one batched read, its thread state in between, walks the
     * first copy from the top frame the thread state names, and checks
     * the walk against the second copy (py_stack_compare()).
     */
    PY_STACK_COPY = 1 << 1,
    /*
     * Say which C call of the evaluator runs each frame and where that
     * call's native frame is (py_stack.calls), so native frames can be
     * interleaved (python/native.h).  Per layout family:
     *   PyFrameObject chains (<=3.10): each frame is one call of the
     *     evaluator; 3.10 also keeps a CFrame per call on the C stack,
     *     linked from tstate->cframe: that is its marker.
     *   3.11: a call runs every frame from the innermost down to the
     *     one flagged is_entry; its _PyCFrame, linked from
     *     tstate->cframe, is its marker.
     *   3.12+: each call pushes an entry frame (owner CSTACK; 3.14+
     *     INTERPRETER) below the frames it runs, a local of that call:
     *     the entry frame is its marker.
     * Costs a few reads of the C stack on 3.10 and 3.11, none after.
     */
    PY_STACK_CALLS = 1 << 2,
};

/* py_stack_read() under PY_STACK_COPY: the copies lack a frame. */
#define PY_STACK_MISS 1

/*
 * A kernel thread id the target recorded itself (native_thread_id, glibc's
 * struct pthread) as the host names it: in a container with a pid
 * namespace of its own the two differ.  0 when no thread has it.
 */
long py_host_tid(struct py_runtime *rt, uint64_t tid);

/*
 * Every thread of every interpreter, in list order (newest first), with
 * tstate, ident, tid (3.11+; see py_threads_resolve_tids), holds_gil and
 * is_main filled in.
 */
int py_threads_read(struct py_runtime *rt, struct py_threads *out);
void py_threads_release(struct py_threads *t);

/*
 * Fill tid for threads whose version does not record it (<=3.10), from
 * glibc's struct pthread, checked against the target's thread ids.
 */
int py_threads_resolve_tids(struct py_runtime *rt, struct py_threads *t);

/*
 * Python thread names (threading.Thread.name) by ident, read from
 * threading._active of the thread's interpreter.  Threads not started by
 * threading get no name.  names[i] (malloc'd or NULL) matches t->v[i].
 */
int py_threads_names(struct py_runtime *rt, const struct py_threads *t,
                     char ***names);

/*
 * Walk a thread's frames into out (reset first).  0, PY_STACK_MISS (under
 * PY_STACK_COPY), or an error; frames that link in a loop, run no code
 * object, point outside their code, or a chain through a suspended
 * generator or a finished frame give PS_ECHANGED.
 */
int py_stack_read(struct py_runtime *rt, const struct py_thread *t,
                  unsigned flags, struct py_stack *out);

/*
 * Check a walk against a second copy of the same memory taken after the
 * top-of-stack pointer the walk started from: every visited frame must
 * still link to the same caller and run the same code, and every caller
 * stand at the same line (its instruction may differ within the line).
 * Then the stack was the target's at the moment the pointer was read,
 * although it changed before and after.  PS_ECHANGED otherwise.
 */
int py_stack_compare(struct py_runtime *rt, struct py_stack *s,
                     const struct py_prefetch *again, size_t nagain);

/*
 * Check that the code objects of a walk are those the cache decoded (an
 * address can be reused by a new code object): against headers copied
 * in copies where present, otherwise read now.  PS_ECHANGED when one was
 * replaced (the cache then decodes it anew).
 */
int py_stack_check_codes(struct py_runtime *rt, const struct py_stack *s,
                         const struct py_prefetch *copies, size_t ncopies);

/* Bytes of a code object's header py_stack_check_codes() looks at. */
size_t py_stack_code_header_len(const struct py_runtime *rt);
void py_stack_release(struct py_stack *s);

#endif /* PYSPECT_PYTHON_STACK_H */
