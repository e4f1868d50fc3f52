/*
 * pyframes.c - the allocating thread's Python stack, read in process.
 *
 * Layer: alloc, in-process side (libpyspect-alloc.so; rules in
 * tracker.h).  Finds CPython through the symbols the executable or
 * libpython exports, picks the same layout table pyspect uses from outside
 * (python/layout.h: generated tables, and the runtime's own
 * _Py_DebugOffsets from 3.13), and reads the current thread's frames as
 * plain memory: they are this process's own, and the thread that owns
 * them is the one running here, so they hold still while read.
 *
 * Two walks over the same frames.  pyframes_hash() is the hot one: code
 * object, instruction and first line of each frame mixed into a hash,
 * nothing decoded.  pyframes_resolve() runs once per stack not seen
 * before: names, file and line of each frame, with the pure decoders
 * pyspect shares (python/pystr.h, python/linetable.h), into fixed buffers.
 *
 * Which thread state: a Python allocator runs with the GIL, so the GIL's
 * current thread state is the caller's (the cheapest lookup on every
 * version); malloc may run on any thread, GIL or not, so it asks for this
 * thread's own state (PyGILState_GetThisThreadState), and only while the
 * interpreter is running.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc/store.h"
#include "alloc/tracker.h"
#include "core/error.h"
#include "python/layout.h"
#include "python/linetable.h"
#include "python/pystr.h"
#include "python/runtime.h"

/* PYMEM_DOMAIN_* of CPython's pymem.h. */
#define DOMAIN_MEM 1
#define DOMAIN_OBJ 2

/* How the thread state reaches its innermost frame. */
enum walk_model {
    WALK_NONE = 0,
    WALK_FRAME_OBJECTS, /* tstate->frame, f_back (<=3.10) */
    WALK_CFRAME,        /* tstate->cframe->current_frame (3.11, 3.12) */
    WALK_CURRENT_FRAME, /* tstate->current_frame (3.13+) */
};

typedef void *(*tstate_fn)(void);

static struct {
    int found;
    int unreadable; /* a Python pyspect cannot read (2.7): for good */
    unsigned attempts;
    int hooked;
    int (*is_initialized)(void);
    tstate_fn current; /* the GIL holder's (or attached) thread state */
    /* Where current() reads it, when that is a plain variable (<= 3.11:
     * the GIL holder), so the hot path need not call it. */
    void *const *current_slot;
    /* _PyRuntime.initialized (3.7+), published as pyframes_initialized
     * once checked against is_initialized(). */
    const int *initialized;
    tstate_fn this_thread; /* this thread's, GIL or not */
    struct pyframes_api api;
    int (*gil_ensure)(void);
    void (*gil_release)(int);
    uintptr_t code_type, str_type, bytes_type;
    char version[32];
    struct py_layout layout;
    /* The walk, from the layout. */
    enum walk_model model;
    int32_t top; /* tstate_frame, tstate_cframe or tstate_current_frame */
    int32_t cframe_current;
    int32_t back, code, pos;
    int32_t owner;    /* -1: no owner field */
    int owner_cstack; /* -1: none */
    int owner_interp; /* -1: none (3.14+: the eval loop's entry frame) */
    int owner_generator;
    uint32_t owner_skip; /* bit k: frames owned by k are not shown */
    uint64_t tag_mask;   /* _PyStackRef tag bits of f_executable (3.14+) */
    uint64_t tag_refcnt; /* the one tag that still marks an object */
    int32_t firstlineno;
} py;

/* The one thing error.c would give debug_offsets.c: the library keeps no
 * error text (formatting could allocate). */
int
err_set(int code, const char *fmt, ...)
{
    (void)fmt;
    return code;
}

static void *
sym(const char *name)
{
    return dlsym(RTLD_DEFAULT, name);
}

static int
load_layout(int major, int minor)
{
    const struct py_layout *gen = py_layout_find(major, minor);
    const struct py_layout *l = &py.layout;

    if (gen == NULL) {
        return -1;
    }
    py.layout = *gen;
    if (minor >= 13) {
        /* The runtime's own table: in this process, a plain read. */
        const unsigned char *runtime = sym("_PyRuntime");
        size_t len = py_debug_offsets_size(minor);

        if (runtime == NULL || len == 0 ||
            py_debug_offsets_apply(runtime, len, &py.layout) < 0) {
            return -1;
        }
    }
    if (pyl_has(l->tstate_frame)) {
        py.model = WALK_FRAME_OBJECTS;
        py.top = l->tstate_frame;
        py.back = l->frame_back;
        py.code = l->frame_code;
        py.pos = l->frame_lasti;
        py.owner = -1;
    } else {
        py.model = pyl_has(l->tstate_current_frame) ? WALK_CURRENT_FRAME
                                                    : WALK_CFRAME;
        py.top = py.model == WALK_CURRENT_FRAME ? l->tstate_current_frame
                                                : l->tstate_cframe;
        py.cframe_current = l->cframe_current_frame;
        py.back = l->iframe_previous;
        py.code = l->iframe_code;
        py.pos = l->iframe_instr;
        py.owner = l->iframe_owner;
    }
    py.owner_cstack =
        pyl_has(l->iframe_owner_cstack) ? l->iframe_owner_cstack : -1;
    py.owner_interp = pyl_has(l->iframe_owner_interpreter)
                          ? l->iframe_owner_interpreter
                          : -1;
    py.owner_generator =
        pyl_has(l->iframe_owner_generator) ? l->iframe_owner_generator : -1;
    py.owner_skip = 0;
    if (py.owner_cstack >= 0 && py.owner_cstack < 32) {
        py.owner_skip |= 1u << py.owner_cstack;
    }
    if (py.owner_interp >= 0 && py.owner_interp < 32) {
        py.owner_skip |= 1u << py.owner_interp;
    }
    py.tag_mask = pyl_has(l->stackref_tag_bits)
                      ? (uint64_t)(uint32_t)l->stackref_tag_bits
                      : 0;
    py.tag_refcnt = pyl_has(l->stackref_tag_refcnt)
                        ? (uint64_t)(uint32_t)l->stackref_tag_refcnt
                        : 0;
    py.firstlineno = l->code_firstlineno;
    return 0;
}

int
pyframes_init(void)
{
    const char *(*get_version)(void);
    const char *text;
    struct py_version v;
    unsigned a;

    if (py.found) {
        return 0;
    }
    /* dlsym is not free: try on calls 0, 1, 2, 4, 8, ... */
    a = py.attempts++;
    if (a > 2 && (a & (a - 1)) != 0) {
        return -1;
    }
    get_version = (const char *(*)(void))sym("Py_GetVersion");
    py.is_initialized = (int (*)(void))sym("Py_IsInitialized");
    py.current = (tstate_fn)sym("PyThreadState_GetUnchecked");
    if (py.current == NULL) {
        py.current = (tstate_fn)sym("_PyThreadState_UncheckedGet");
    }
    py.this_thread = (tstate_fn)sym("PyGILState_GetThisThreadState");
    py.api.get_allocator = (void (*)(int, void *))sym("PyMem_GetAllocator");
    py.api.set_allocator = (void (*)(int, void *))sym("PyMem_SetAllocator");
    py.api.get_arena = (void (*)(void *))sym("PyObject_GetArenaAllocator");
    py.api.set_arena = (void (*)(void *))sym("PyObject_SetArenaAllocator");
    py.gil_ensure = (int (*)(void))sym("PyGILState_Ensure");
    py.gil_release = (void (*)(int))sym("PyGILState_Release");
    py.code_type = (uintptr_t)sym("PyCode_Type");
    py.str_type = (uintptr_t)sym("PyUnicode_Type");
    py.bytes_type = (uintptr_t)sym("PyBytes_Type");
    if (get_version != NULL && py.api.set_allocator == NULL) {
        /* A Python without the allocator API (2.7): it stays so. */
        py.attempts = 3;
        py.unreadable = 1;
        return -1;
    }
    if (get_version == NULL || py.is_initialized == NULL ||
        py.current == NULL || py.this_thread == NULL ||
        py.api.get_allocator == NULL || py.api.set_allocator == NULL ||
        py.code_type == 0 || py.str_type == 0 || py.bytes_type == 0) {
        return -1;
    }
    text = get_version();
    if (text == NULL || py_version_parse(text, strlen(text), &v) < 0 ||
        v.major != 3 || load_layout(v.major, v.minor) < 0) {
        /* A Python pyspect cannot read: never track it. */
        py.attempts = 3;
        py.unreadable = 1;
        return -1;
    }
    alloc_copy_str(py.version, v.text, sizeof(py.version));
    if (v.minor >= 7) {
        const char *runtime = sym("_PyRuntime");
        const struct py_layout *l = &py.layout;

        if (runtime != NULL && pyl_has(l->rt_initialized)) {
            py.initialized = (const int *)(runtime + l->rt_initialized);
        }
        if (runtime != NULL && pyl_has(l->rt_gilstate_tstate_current)) {
            py.current_slot =
                (void *const *)(runtime + l->rt_gilstate_tstate_current);
        }
    } else {
        py.current_slot = sym("_PyThreadState_Current");
    }
    py.found = 1;
    return 0;
}

const int *pyframes_initialized;
struct pyframes_fast pyframes_fast;

/* The fast case of the walk, where there is one (see tracker.h); after
 * current_slot was checked against the call. */
static void
publish_fast(void)
{
    struct pyframes_fast fast = {NULL, 0, 0, 0, 0, 0, 0};

    if (py.current_slot != NULL && py.model == WALK_CFRAME && py.owner >= 0) {
        fast.top = py.top;
        fast.cframe_current = py.cframe_current;
        fast.back = py.back;
        fast.pos = py.pos;
        fast.owner = py.owner;
        fast.skip = py.owner_skip;
        fast.slot = py.current_slot;
    }
    pyframes_fast = fast;
}

int
pyframes_unreadable(void)
{
    return py.unreadable;
}

int
pyframes_running_slow(void)
{
    return py.found && py.is_initialized();
}

const char *
pyframes_version(void)
{
    return py.version;
}

int
pyframes_try_hook(void)
{
    void *ts;

    if (py.hooked) {
        return 1;
    }
    if (pyframes_init() < 0 || !py.is_initialized()) {
        return 0;
    }
    /* The allocators may change only with the GIL held. */
    ts = py.this_thread();
    if (ts == NULL || ts != py.current()) {
        return 0;
    }
    /* The fields read in place of the calls must agree with them. */
    if (py.initialized != NULL && *py.initialized != 1) {
        py.initialized = NULL;
    }
    pyframes_initialized = py.initialized;
    if (py.current_slot != NULL && *py.current_slot != ts) {
        py.current_slot = NULL;
    }
    publish_fast();
    hooks_wrap_python(&py.api, 0);
    py.hooked = 1;
    return 1;
}

int
pyframes_attach(void)
{
    int state;

    if (pyframes_init() < 0 || !py.is_initialized() || py.gil_ensure == NULL ||
        py.gil_release == NULL) {
        return -1;
    }
    state = py.gil_ensure();
    hooks_wrap_python(&py.api, 1);
    py.hooked = 1;
    if (py.initialized != NULL && *py.initialized != 1) {
        py.initialized = NULL;
    }
    pyframes_initialized = py.initialized;
    if (py.current_slot != NULL && *py.current_slot != py.current()) {
        py.current_slot = NULL;
    }
    publish_fast();
    py.gil_release(state);
    return 0;
}

/* ---- the walks ---------------------------------------------------------- */

static inline const char *
ptr_at(const char *base, int32_t off)
{
    const char *v;

    memcpy(&v, base + off, sizeof(v));
    return v;
}

static inline int32_t
i32_at(const char *base, int32_t off)
{
    int32_t v;

    memcpy(&v, base + off, sizeof(v));
    return v;
}

static inline const char *
thread_state(enum alloc_src src)
{
    if (!py.found) {
        return NULL;
    }
    if (src == ALLOC_SRC_PY) {
        if (py.current_slot != NULL) {
            return __atomic_load_n(py.current_slot, __ATOMIC_RELAXED);
        }
        return py.current();
    }
    return pyframes_running() ? py.this_thread() : NULL;
}

static const char *
first_frame(const char *ts)
{
    const char *f;

    if (ts == NULL) {
        return NULL;
    }
    f = ptr_at(ts, py.top);
    if (py.model == WALK_CFRAME && f != NULL) {
        f = ptr_at(f, py.cframe_current);
    }
    return f;
}

/* A frame's code object: f_code, or f_executable without its tag. */
static inline const char *
code_of(const char *f)
{
    uintptr_t bits = (uintptr_t)ptr_at(f, py.code);

    return (const char *)(bits & ~(uintptr_t)py.tag_mask);
}

/* One frame of a walk: its code object and position; 0 to skip it. */
struct raw_frame {
    const char *code;
    uint64_t pos;
    int owner;
};

static inline int
raw_frame(const char *f, struct raw_frame *out)
{
    if (py.owner >= 0) {
        out->owner = (unsigned char)f[py.owner];
        if (out->owner == py.owner_cstack || out->owner == py.owner_interp) {
            return 0; /* the shim of a C -> Python call, an entry frame */
        }
        out->code = code_of(f);
        memcpy(&out->pos, f + py.pos, sizeof(out->pos));
    } else {
        out->owner = -1;
        out->code = ptr_at(f, py.code);
        out->pos = (uint64_t)(int64_t)i32_at(f, py.pos);
    }
    return out->code != NULL;
}

/* One frame into the hot hash: one multiply per frame. */
static inline uint64_t
mix_frame(uint64_t h, uint64_t code, uint64_t pos)
{
    h = (h ^ code) * 0x9E3779B97F4A7C15ull;
    h ^= pos;
    return (h << 27) | (h >> 37);
}

/*
 * The hot walk.  Per frame: the code object and the position (3.11+:
 * the instruction pointer alone), one multiply; nothing else is read
 * (not even the code object), so a frame costs a few loads from memory
 * the interpreter just touched.  The walk
 * is bounded by steps, not by frames kept: the hash may cover a few
 * frames more than a stack record keeps (ALLOC_FRAMES_MAX), which only
 * tells apart stacks that differ that deep.
 */
uint64_t
pyframes_hash(enum alloc_src src, uint32_t *nframes)
{
    const char *f = first_frame(thread_state(src));
    /* The offsets in locals: a frame is read through char pointers,
     * which the compiler must assume may alias py itself. */
    const int32_t back = py.back, code = py.code, pos = py.pos;
    uint64_t h = PYFRAMES_HASH_SEED;
    uint32_t n, steps;

    if (py.owner >= 0) {
        return pyframes_walk_owned(f, back, pos, py.owner, py.owner_skip,
                                   nframes);
    }
    for (steps = ALLOC_FRAMES_MAX; f != NULL && steps != 0; steps--) {
        h = mix_frame(h, (uint64_t)(uintptr_t)ptr_at(f, code),
                      (uint64_t)(uint32_t)i32_at(f, pos));
        f = ptr_at(f, back);
    }
    n = ALLOC_FRAMES_MAX - steps;
    *nframes = n;
    h = pyframes_mix(h, n);
    return h ? h : 1;
}

/* A str object as UTF-8 into out (cap bytes); its length, or -1. */
static long
str_utf8(const char *obj, char *out, size_t cap)
{
    const struct py_layout *l = &py.layout;
    uintptr_t type;
    int64_t length;
    uint32_t state;
    struct py_str_state st;
    int kind, compact, ascii;
    const char *data;
    long need;

    if (obj == NULL || ((uintptr_t)obj & 7) != 0) {
        return -1;
    }
    type = (uintptr_t)ptr_at(obj, l->obj_type);
    if (type != py.str_type &&
        (type == 0 ||
         (uintptr_t)ptr_at((const char *)type, l->type_base) != py.str_type)) {
        return -1;
    }
    memcpy(&length, obj + l->unicode_length, sizeof(length));
    memcpy(&state, obj + l->unicode_state, sizeof(state));
    /* The one decoder of the state word (pyobj.c's py_str_state() is
     * the same call; pyobj is not linked in here). */
    if (py_str_state_decode(state, l->unicode_state_kind_shift,
                            l->unicode_state_compact_bit,
                            l->unicode_state_ascii_bit, &st) < 0 ||
        length < 0 || (st.kind != 1 && st.kind != 2 && st.kind != 4) ||
        (st.ascii && st.kind != 1)) {
        return -1;
    }
    kind = st.kind;
    compact = st.compact;
    ascii = st.ascii;
    if (compact) {
        data = obj + (ascii ? l->unicode_ascii_size : l->unicode_compact_size);
    } else {
        if (pyl_has(l->unicode_state_ready_bit) &&
            !((state >> l->unicode_state_ready_bit) & 1)) {
            return -1;
        }
        data = ptr_at(obj, l->unicode_data_any);
        if (data == NULL) {
            return -1;
        }
    }
    if (length > ALLOC_STRING_MAX) {
        length = ALLOC_STRING_MAX;
    }
    need = py_ucs_to_utf8(kind, data, (size_t)length, out, cap);
    if (need < 0) {
        return -1;
    }
    return (size_t)need < cap ? need : (long)strlen(out);
}

/* The line of a position in code, as that version's PyCode_Addr2Line. */
static int32_t
frame_line(const char *code, const struct raw_frame *r, int32_t first)
{
    const struct py_layout *l = &py.layout;
    const char *table = ptr_at(code, l->code_linetable);
    int64_t size;
    int64_t addrq;

    if (table == NULL || ((uintptr_t)table & 7) != 0 ||
        (uintptr_t)ptr_at(table, l->obj_type) != py.bytes_type) {
        return -1;
    }
    memcpy(&size, table + l->var_size, sizeof(size));
    if (size < 0 || size > (4 << 20)) {
        return -1;
    }
    if (py.owner >= 0) {
        addrq = (int64_t)(r->pos -
                          (uint64_t)(uintptr_t)(code + l->code_code_adaptive));
    } else if (l->code_linetable_format == PY_LINES_310) {
        addrq = (int64_t)r->pos * 2;
    } else {
        addrq = (int64_t)r->pos;
    }
    if (addrq < INT32_MIN || addrq > INT32_MAX) {
        return -1;
    }
    return py_linetable_addr2line(l->code_linetable_format,
                                  (const uint8_t *)(table + l->bytes_sval),
                                  (size_t)size, first, (int)addrq);
}

/* Frames CPython itself hides: pushed, not started (3.11+). */
static int
frame_hidden(const char *code, const struct raw_frame *r)
{
    const struct py_layout *l = &py.layout;
    uint64_t start;

    if (py.owner < 0 || r->owner == py.owner_generator ||
        !pyl_has(l->code_firsttraceable)) {
        return 0;
    }
    start = (uint64_t)(uintptr_t)(code + l->code_code_adaptive);
    return r->pos < start + 2 * (uint64_t)i32_at(code, l->code_firsttraceable);
}

uint32_t
pyframes_resolve(enum alloc_src src, uint32_t *ids, uint32_t max,
                 pyframes_lookup_fn lookup, pyframes_frame_fn add, void *ctx)
{
    /* Called under the tracker's lock: static buffers are safe. */
    static char name[ALLOC_STRING_MAX + 1], file[ALLOC_STRING_MAX + 1];
    const struct py_layout *l = &py.layout;
    const char *f = first_frame(thread_state(src));
    uint32_t n = 0, steps = 0;

    while (f != NULL && n < max && steps++ < 4 * ALLOC_FRAMES_MAX) {
        struct raw_frame r;
        const char *code;
        uint64_t key;
        int32_t first;
        uint32_t id;

        const char *f_was = f;

        if (!raw_frame(f, &r)) {
            f = ptr_at(f, py.back);
            continue;
        }
        code = r.code;
        f = ptr_at(f, py.back);
        if (py.tag_mask != 0) {
            /* A tagged int or an invalid marker is no code object. */
            uint64_t tag =
                (uint64_t)(uintptr_t)ptr_at(f_was, py.code) & py.tag_mask;

            if (tag != 0 && tag != py.tag_refcnt) {
                continue;
            }
        }
        first = i32_at(code, py.firstlineno);
        key = pyframes_mix(
            pyframes_mix(pyframes_mix(0x27d4eb2fu, (uint64_t)(uintptr_t)code),
                         r.pos),
            (uint64_t)(uint32_t)first);
        key = key ? key : 1;
        id = lookup(ctx, key);
        if (id == UINT32_MAX) {
            const char *name_obj;
            long name_len, file_len;

            if (((uintptr_t)code & 7) != 0 ||
                (uintptr_t)ptr_at(code, l->obj_type) != py.code_type) {
                id = add(ctx, 0, "[unreadable frame]", 18, "", 0, -1, -1);
                ids[n++] = id;
                break;
            }
            if (frame_hidden(code, &r)) {
                continue;
            }
            name_obj = pyl_has(l->code_qualname)
                           ? ptr_at(code, l->code_qualname)
                           : ptr_at(code, l->code_name);
            name_len = str_utf8(name_obj, name, sizeof(name));
            file_len =
                str_utf8(ptr_at(code, l->code_filename), file, sizeof(file));
            if (name_len < 0) {
                name_len = 9;
                memcpy(name, "[unknown]", 10);
            }
            if (file_len < 0) {
                file_len = 0;
                file[0] = '\0';
            }
            id = add(ctx, key, name, (size_t)name_len, file, (size_t)file_len,
                     frame_line(code, &r, first), first);
        } else if (frame_hidden(code, &r)) {
            continue;
        }
        if (id != UINT32_MAX) {
            ids[n++] = id;
        }
    }
    return n;
}
