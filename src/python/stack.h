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
    /* Copies of target memory the caller already has (a sampler's
     * batched read), consulted before reading; see PY_STACK_PREFETCHED. */
    const struct py_prefetch *prefetch;
    size_t nprefetch;
    /* Scratch of the verification read, reused. */
    unsigned char *verify_buf;
    size_t verify_buf_alloc;
    /* Frame addresses seen in the current walk: an open-addressing set
     * whose entries are valid when their tag equals `walk`. */
    struct py_seen *seen;
    size_t seen_mask;
    uint32_t walk;
    /* Every frame the walk visited (shown or hidden), innermost first,
     * with the header bytes it was decoded from, for PY_STACK_VERIFY. */
    raddr_t *visited;
    unsigned char *headers;
    size_t nvisited;
    size_t visited_alloc;
    size_t header_len;
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
     * Refuse a stack that changed while it was read (PS_ECHANGED): after
     * the walk, the top-of-stack pointer and every visited frame's links
     * (code, caller, and the caller's instruction) are read again in one
     * batched read and must be unchanged.  The innermost frame may have
     * moved within its own code: that is the same stack, a moment later.
     * A sampler sets this so that it never records a stack that mixes two
     * call chains; it costs one more read per stack.
     */
    PY_STACK_VERIFY = 1 << 1,
    /*
     * Use out->prefetch (set by the caller) before reading: frames and
     * the newest data-stack chunk found there are decoded from the copy.
     * Verification still reads the target again.
     */
    PY_STACK_PREFETCHED = 1 << 2,
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
     *   3.12+: each call pushes a shim frame (owner CSTACK) below the
     *     frames it runs, a local of that call: the shim is its marker.
     * Costs a few reads of the C stack on 3.10 and 3.11, none after.
     */
    PY_STACK_CALLS = 1 << 3,
};

/*
 * Where this thread's stack lived, for a sampler to fetch it next round
 * in its batched read: the newest chunk's used part and the frames read
 * outside chunks (all frames, for PyFrameObject chains).  Fills up to
 * max pieces of at most len_max bytes; returns how many.
 */
size_t py_stack_where(const struct py_runtime *rt, const struct py_thread *t,
                      const struct py_stack *s, struct py_prefetch *out,
                      size_t max);

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

/* Walk a thread's frames into out (reset first). */
int py_stack_read(struct py_runtime *rt, const struct py_thread *t,
                  unsigned flags, struct py_stack *out);
void py_stack_release(struct py_stack *s);

#endif /* PYSPECT_PYTHON_STACK_H */
