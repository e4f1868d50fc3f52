/*
 * tasks.c - asyncio tasks, their coroutine stacks and who awaits whom.
 *
 * Layer: python.  Finds the tasks in the registries CPython's asyncio
 * keeps for the running version (see tasks.h), reads each through
 * _asyncio's TaskObj layout or a pure-Python task's __dict__, follows its
 * await chain through suspended coroutine frames, and links tasks that
 * await others: directly (a task's future is another task), through
 * gather()'s _GatheringFuture (its _children), and on 3.14+ through the
 * awaited_by sets CPython itself keeps (TaskGroup, gather, wait_for).
 */
#include "python/tasks.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/hashmap.h"
#include "core/strbuf.h"
#include "core/xalloc.h"
#include "python/code.h"
#include "python/gc.h"
#include "python/pyobj.h"
#include "core/banned.h"

/* Most entries read from one set or list. */
#define TASKS_SET_MAX (1u << 22)
/* Most tp_base links followed to tell a subclass. */
#define TYPE_DEPTH_MAX 64
/* Most futures followed from one awaited_by or _children link. */
#define AWAIT_LINKS_MAX 64
/* Most futures one read follows for awaited_by, all tasks together: a
 * hostile graph of futures must not make the walk exponential. */
#define AWAIT_LINKS_BUDGET 100000
/* Bytes of a task read in one go (covers every measured field). */
#define TASK_BYTES 512

enum gen_kind {
    KIND_OTHER,
    KIND_GENERATOR,
    KIND_COROUTINE,
};

struct tasks_ctx {
    struct py_runtime *rt;
    const struct py_threads *threads;
    const struct py_tasks *known; /* reuse its tasks instead of a GC walk */
    struct py_tasks *out;
    raddr_t c_task_type;   /* _asyncio.Task */
    raddr_t c_future_type; /* _asyncio.Future */
    raddr_t py_task_type;  /* asyncio.tasks._PyTask */
    raddr_t none;          /* Py_None, as a dead weakref's referent */
    struct hashmap index;  /* task address -> index + 1 */
    struct hashmap kinds;  /* type address -> enum gen_kind + 1 */
    struct hashmap loops;  /* loop address -> ident + 1 (0: no thread) */
    long links_left;       /* AWAIT_LINKS_BUDGET, spent by the walks */
};

/* ---- small readers -------------------------------------------------- */

static int
rd64(struct tasks_ctx *c, raddr_t addr, uint64_t *v)
{
    return memsrc_read_u64(c->rt->mem, addr, v);
}

/* Is type want, or derived from it? */
static int
type_derives(struct tasks_ctx *c, raddr_t type, raddr_t want)
{
    int depth;

    for (depth = 0; type != 0 && want != 0 && depth < TYPE_DEPTH_MAX;
         depth++) {
        if (type == want) {
            return 1;
        }
        if (rd64(c, type + c->rt->layout.type_base, &type) < 0) {
            return 0;
        }
    }
    return 0;
}

static int
obj_derives(struct tasks_ctx *c, raddr_t obj, raddr_t want)
{
    raddr_t type = 0;

    return obj != 0 && py_obj_type(&c->rt->reader, obj, &type) == 0 &&
           type_derives(c, type, want);
}

/* The tp_name of obj's type, malloc'd, or NULL. */
static char *
type_name_of(struct tasks_ctx *c, raddr_t obj)
{
    struct strbuf sb = STRBUF_INIT;
    raddr_t type = 0, name = 0;

    if (py_obj_type(&c->rt->reader, obj, &type) < 0 ||
        rd64(c, type + c->rt->layout.type_name, &name) < 0 || name == 0 ||
        py_cstr_read(&c->rt->reader, name, 128, &sb) < 0) {
        strbuf_release(&sb);
        return NULL;
    }
    return strbuf_detach(&sb);
}

/* Is obj a generator, a coroutine, or neither?  Cached by type. */
static enum gen_kind
gen_kind(struct tasks_ctx *c, raddr_t obj)
{
    raddr_t type = 0, name = 0;
    struct strbuf sb = STRBUF_INIT;
    enum gen_kind kind = KIND_OTHER;
    void **slot;

    if (py_obj_type(&c->rt->reader, obj, &type) < 0 || type == 0) {
        return KIND_OTHER;
    }
    slot = hashmap_slot(&c->kinds, type);
    if (*slot != NULL) {
        return (enum gen_kind)((uintptr_t)*slot - 1);
    }
    /* The exact built-in types only: a look-alike from an extension
     * (Cython's coroutines) has no frame pyspect knows how to read. */
    if (rd64(c, type + c->rt->layout.type_name, &name) == 0 && name != 0 &&
        py_cstr_read(&c->rt->reader, name, 32, &sb) == 0) {
        if (strcmp(sb.buf, "coroutine") == 0) {
            kind = KIND_COROUTINE;
        } else if (strcmp(sb.buf, "generator") == 0) {
            kind = KIND_GENERATOR;
        }
    }
    strbuf_release(&sb);
    *slot = (void *)(uintptr_t)(kind + 1);
    return kind;
}

/* The items of a set (its keys), malloc'd. */
static int
set_items(struct tasks_ctx *c, raddr_t set, raddr_t **items, size_t *n)
{
    const struct py_layout *l = &c->rt->layout;
    uint64_t mask = 0, table = 0, used = 0;
    unsigned char *buf = NULL;
    size_t i, len;
    int rc;

    *items = NULL;
    *n = 0;
    if ((rc = rd64(c, set + l->set_mask, &mask)) < 0 ||
        (rc = rd64(c, set + l->set_table, &table)) < 0 ||
        (rc = rd64(c, set + l->set_used, &used)) < 0) {
        return rc;
    }
    if (mask >= TASKS_SET_MAX || ((mask + 1) & mask) != 0 || table == 0 ||
        used > mask + 1) {
        return err_set(PS_ECORRUPT, "a set of %llu slots",
                       (unsigned long long)mask + 1);
    }
    len = (size_t)(mask + 1) * (size_t)l->setentry_size;
    buf = xmalloc(len);
    rc = memsrc_read(c->rt->proc, table, buf, len);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *items = xcalloc((size_t)used + 1, sizeof(**items));
    for (i = 0; i <= mask && *n < used; i++) {
        raddr_t key = load_u64(buf, (int32_t)(i * (size_t)l->setentry_size +
                                              (size_t)l->setentry_key));

        if (key != 0) {
            (*items)[(*n)++] = key; /* dummies are weeded out by type */
        }
    }
    free(buf);
    return 0;
}

/* The items of a list, malloc'd. */
static int
list_items(struct tasks_ctx *c, raddr_t list, raddr_t **items, size_t *n)
{
    const struct py_layout *l = &c->rt->layout;
    uint64_t size = 0, item = 0;
    int rc;

    *items = NULL;
    *n = 0;
    if ((rc = rd64(c, list + l->var_size, &size)) < 0 ||
        (rc = rd64(c, list + l->list_item, &item)) < 0) {
        return rc;
    }
    if (size > TASKS_SET_MAX || (size > 0 && item == 0)) {
        return err_set(PS_ECORRUPT, "a list of %llu items",
                       (unsigned long long)size);
    }
    *items = xcalloc((size_t)size + 1, sizeof(**items));
    rc = memsrc_read(c->rt->mem, item, *items, (size_t)size * 8);
    if (rc < 0) {
        free(*items);
        *items = NULL;
        return rc;
    }
    *n = (size_t)size;
    return 0;
}

/* ---- which objects are tasks ---------------------------------------- */

static int
is_c_task(struct tasks_ctx *c, raddr_t obj)
{
    return obj_derives(c, obj, c->c_task_type);
}

static int
is_py_task(struct tasks_ctx *c, raddr_t obj)
{
    return c->py_task_type != 0 && obj_derives(c, obj, c->py_task_type);
}

/* Add obj when it is a task not seen yet. */
static void
task_add(struct tasks_ctx *c, raddr_t obj)
{
    struct py_tasks *out = c->out;
    void **slot;

    if (obj == 0 || obj == c->none || out->n >= PY_TASKS_MAX ||
        (!is_c_task(c, obj) && !is_py_task(c, obj))) {
        return;
    }
    slot = hashmap_slot(&c->index, obj);
    if (*slot != NULL) {
        return;
    }
    *slot = (void *)(uintptr_t)(out->n + 1);
    XGROW(out->v, out->alloc, out->n + 1);
    memset(&out->v[out->n], 0, sizeof(out->v[0]));
    out->v[out->n++].addr = obj;
}

static long
task_index(struct tasks_ctx *c, raddr_t obj)
{
    void *v = obj != 0 ? hashmap_get(&c->index, obj) : NULL;

    return v != NULL ? (long)((uintptr_t)v - 1) : -1;
}

/* The tasks of a WeakSet: its `data` set holds weak references. */
static int
weakset_add(struct tasks_ctx *c, raddr_t weakset)
{
    raddr_t data = 0, *refs = NULL;
    size_t n = 0, i;
    int rc;

    rc = py_object_getattr(&c->rt->reader, weakset, "data", &data);
    if (rc < 0) {
        return rc;
    }
    rc = set_items(c, data, &refs, &n);
    for (i = 0; rc == 0 && i < n; i++) {
        raddr_t obj = 0;

        /* A dummy entry or a dead reference leads to no task. */
        if (rd64(c, refs[i] + c->rt->layout.weakref_object, &obj) == 0) {
            task_add(c, obj);
        }
    }
    free(refs);
    return rc;
}

static int
set_add(struct tasks_ctx *c, raddr_t set)
{
    raddr_t *objs = NULL;
    size_t n = 0, i;
    int rc = set_items(c, set, &objs, &n);

    for (i = 0; rc == 0 && i < n; i++) {
        task_add(c, objs[i]);
    }
    free(objs);
    return rc;
}

/* One circular list of task_node links (3.14+), from its head. */
static int
list_add(struct tasks_ctx *c, raddr_t head)
{
    raddr_t node = 0;
    size_t steps = 0;
    int rc;

    rc = rd64(c, head, &node);
    if (rc < 0 || node == 0) {
        return rc; /* a thread that never ran asyncio: list unset */
    }
    while (node != head) {
        if (++steps > PY_TASKS_MAX || (node & 7) != 0) {
            return err_set(PS_ECHANGED, "a task list that does not close");
        }
        task_add(c, node - (raddr_t)c->rt->layout.task_node);
        rc = rd64(c, node, &node);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* 3.6: every object on the GC lists whose type is a task type. */
static int
gc_task(void *arg, raddr_t obj)
{
    task_add(arg, obj);
    return 0;
}

static int
gc_add(struct tasks_ctx *c)
{
    struct py_gc_state *states = NULL;
    struct py_gc_reader reader;
    size_t n = 0, g;
    int rc;

    rc = py_gc_states(c->rt, &states, &n);
    if (rc < 0) {
        return rc;
    }
    py_gc_reader_init(&reader, c->rt, c->rt->mem);
    for (g = 0; n > 0 && g < PY_GC_GENERATIONS && rc == 0; g++) {
        rc = py_gc_walk(&reader, &states[0].gens[g], gc_task, c);
    }
    if (rc == 0 && n > 0 && states[0].has_permanent) {
        rc = py_gc_walk(&reader, &states[0].permanent, gc_task, c);
    }
    py_gc_reader_release(&reader);
    free(states);
    return rc;
}

/* ---- the registries ------------------------------------------------- */

static raddr_t
module_dict(struct tasks_ctx *c, raddr_t modules, const char *name)
{
    raddr_t module = 0, dict = 0;

    if (py_dict_get_str(&c->rt->reader, modules, name, &module) < 0 ||
        module == 0 ||
        rd64(c, module + c->rt->layout.module_dict, &dict) < 0) {
        err_clear();
        return 0;
    }
    return dict;
}

static raddr_t
dict_value(struct tasks_ctx *c, raddr_t dict, const char *key)
{
    raddr_t v = 0;

    if (dict == 0 || py_dict_get_str(&c->rt->reader, dict, key, &v) < 0) {
        err_clear();
        return 0;
    }
    return v;
}

static int
find_tasks(struct tasks_ctx *c)
{
    const struct py_layout *l = &c->rt->layout;
    raddr_t interp = 0, modules = 0, tasks_dict, c_dict, builtins, v;
    size_t i;
    int rc;

    if ((rc = py_runtime_interp_head(c->rt, &interp)) < 0 ||
        (rc = rd64(c, interp + l->interp_modules, &modules)) < 0) {
        return rc;
    }
    tasks_dict = module_dict(c, modules, "asyncio.tasks");
    if (tasks_dict == 0) {
        return 0; /* asyncio not imported: no tasks */
    }
    c_dict = module_dict(c, modules, "_asyncio");
    c->c_task_type = dict_value(c, c_dict, "Task");
    c->c_future_type = dict_value(c, c_dict, "Future");
    c->py_task_type = dict_value(c, tasks_dict, "_PyTask");
    builtins = module_dict(c, modules, "builtins");
    c->none = dict_value(c, builtins, "None");
    if (c->c_task_type == 0 && c->py_task_type == 0) {
        return 0;
    }

    if (pyl_has(l->task_node) && pyl_has(l->tstate_asyncio_tasks_head)) {
        c->out->found_in = "task lists";
        for (i = 0; i < c->threads->n; i++) {
            const struct py_thread *t = &c->threads->v[i];

            if (t->interp != interp) {
                continue;
            }
            rc =
                list_add(c, t->tstate + (raddr_t)l->tstate_asyncio_tasks_head);
            if (rc < 0) {
                return rc;
            }
        }
        rc = list_add(c, interp + (raddr_t)l->interp_asyncio_tasks_head);
        if (rc < 0) {
            return rc;
        }
    }
    if ((v = dict_value(c, tasks_dict, "_scheduled_tasks")) != 0) {
        c->out->found_in =
            c->out->found_in ? c->out->found_in : "_scheduled_tasks";
        if ((rc = weakset_add(c, v)) < 0) {
            return rc;
        }
        if ((v = dict_value(c, tasks_dict, "_eager_tasks")) != 0 &&
            (rc = set_add(c, v)) < 0) {
            return rc;
        }
    } else if ((v = dict_value(c, tasks_dict, "_all_tasks")) != 0) {
        c->out->found_in = "_all_tasks";
        if ((rc = weakset_add(c, v)) < 0) {
            return rc;
        }
    } else if (c->known != NULL && c->known->found_in != NULL &&
               strcmp(c->known->found_in, "gc") == 0) {
        /* The walk is the costly part: the caller's earlier tasks, each
         * checked again as task_add() does any. */
        c->out->found_in = "gc";
        for (i = 0; i < c->known->n; i++) {
            task_add(c, c->known->v[i].addr);
        }
    } else {
        c->out->found_in = "gc";
        if ((rc = gc_add(c)) < 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- one task ------------------------------------------------------- */

/* A task's name: a str, or (3.13+, until asked for) an int n. */
static char *
name_read(struct tasks_ctx *c, raddr_t obj)
{
    struct strbuf sb = STRBUF_INIT;
    raddr_t type = 0;
    int64_t n = 0;

    if (obj == 0 || py_obj_type(&c->rt->reader, obj, &type) < 0) {
        return NULL;
    }
    if (type == c->rt->long_type &&
        py_long_read(&c->rt->reader, obj, &n) == 0) {
        strbuf_addf(&sb, "Task-%lld", (long long)n);
        return strbuf_detach(&sb);
    }
    if (type_derives(c, type, c->rt->str_type) &&
        py_str_read(&c->rt->reader, obj, 1024, &sb, NULL) == 0) {
        return strbuf_detach(&sb);
    }
    strbuf_release(&sb);
    err_clear();
    return NULL;
}

/* The thread running a loop: BaseEventLoop sets _thread_id in
 * run_forever() and clears it when it stops. */
static uint64_t
loop_ident(struct tasks_ctx *c, raddr_t loop)
{
    void **slot;
    raddr_t id = 0;
    int64_t v = 0;

    if (loop == 0) {
        return 0;
    }
    slot = hashmap_slot(&c->loops, loop);
    if (*slot == NULL) {
        if (py_object_getattr(&c->rt->reader, loop, "_thread_id", &id) < 0 ||
            id == c->none || py_int_read(&c->rt->reader, id, &v) < 0) {
            err_clear();
            v = 0;
        }
        *slot = (void *)(uintptr_t)((uint64_t)v + 1);
    }
    return (uint64_t)(uintptr_t)*slot - 1;
}

static int
c_task_read(struct tasks_ctx *c, struct py_task *t)
{
    const struct py_layout *l = &c->rt->layout;
    unsigned char buf[TASK_BYTES];
    int32_t state;
    int rc;

    rc = memsrc_read(c->rt->mem, t->addr, buf, sizeof(buf));
    if (rc < 0) {
        return rc;
    }
    t->loop = load_u64(buf, l->fut_loop);
    t->coro = load_u64(buf, l->task_coro);
    t->waiter = load_u64(buf, l->task_fut_waiter);
    state = load_i32(buf, l->fut_state);
    if (state == l->fut_state_pending) {
        t->state = PY_TASK_PENDING;
    } else if (state == l->fut_state_cancelled ||
               state == l->fut_state_finished) {
        t->state = PY_TASK_DONE;
        t->cancelled = state == l->fut_state_cancelled;
    } else {
        return err_set(PS_ECORRUPT, "a task in state %d", (int)state);
    }
    if (pyl_has(l->task_name)) {
        t->name = name_read(c, load_u64(buf, l->task_name));
    }
    return 0;
}

/* A pure-Python task (asyncio.tasks._PyTask): its __dict__. */
static int
py_task_read(struct tasks_ctx *c, struct py_task *t)
{
    raddr_t state = 0, name = 0;
    int rc;

    if ((rc = py_object_getattr(&c->rt->reader, t->addr, "_loop", &t->loop)) <
            0 ||
        (rc = py_object_getattr(&c->rt->reader, t->addr, "_coro", &t->coro)) <
            0) {
        /* 3.6's _PyTask derives from the C future, whose fields pyspect
         * does not look for in a pure-Python task: said, not fatal. */
        t->error = rc;
        err_clear();
        return 0;
    }
    if (py_object_getattr(&c->rt->reader, t->addr, "_fut_waiter", &t->waiter) <
            0 ||
        t->waiter == c->none) {
        t->waiter = 0;
    }
    /* Future._state is a class attribute until the future is done. */
    if (py_object_getattr(&c->rt->reader, t->addr, "_state", &state) < 0 ||
        py_str_equals(&c->rt->reader, state, "PENDING") == 1) {
        t->state = PY_TASK_PENDING;
    } else {
        t->state = PY_TASK_DONE;
        t->cancelled = py_str_equals(&c->rt->reader, state, "CANCELLED") == 1;
    }
    if (py_object_getattr(&c->rt->reader, t->addr, "_name", &name) == 0) {
        t->name = name_read(c, name);
    }
    err_clear();
    return 0;
}

/* ---- coroutine frames ----------------------------------------------- */

struct gen_frame {
    struct py_code *code;
    int line;
    int running;
    int finished;
    raddr_t awaited; /* what a suspended `yield from` waits on, or 0 */
};

/* The object stack slot `slot` from the top holds, 0 when unreadable. */
static raddr_t
stack_item(struct tasks_ctx *c, raddr_t top)
{
    const struct py_layout *l = &c->rt->layout;
    raddr_t v = 0;

    if (memsrc_read_u64(c->rt->mem, top - 8 * (raddr_t)l->gen_yf_slot, &v) <
        0) {
        err_clear();
        return 0;
    }
    return pyl_stackref_object(l, v);
}

/* The opcode after a <=3.10 frame's last instruction. */
static int
next_opcode(struct tasks_ctx *c, raddr_t code_addr, int64_t next_byte)
{
    const struct py_layout *l = &c->rt->layout;
    raddr_t bytes = 0;
    int64_t size = 0;
    unsigned char op = 0;

    if (rd64(c, code_addr + l->code_code, &bytes) < 0 || bytes == 0 ||
        memsrc_read_u64(c->rt->mem, bytes + l->var_size, (uint64_t *)&size) <
            0 ||
        next_byte < 0 || next_byte >= size ||
        memsrc_read(c->rt->mem, bytes + l->bytes_sval + (raddr_t)next_byte,
                    &op, 1) < 0) {
        err_clear();
        return -1;
    }
    return op;
}

/* The bytes a struct read must cover to hold a field of len bytes at
 * off (when the field exists). */
static size_t
field_end(size_t want, int32_t off, size_t len)
{
    if (pyl_has(off) && off >= 0 && (size_t)off + len > want) {
        return (size_t)off + len;
    }
    return want;
}

/* A generator's frame (<=3.10: a PyFrameObject). */
static int
gen_frame_object(struct tasks_ctx *c, raddr_t gen, enum gen_kind kind,
                 struct gen_frame *g)
{
    const struct py_layout *l = &c->rt->layout;
    unsigned char buf[1024];
    raddr_t frame = 0, code_addr;
    size_t want;
    int32_t lasti;
    int rc, suspended;

    if ((rc = rd64(c, gen + l->gen_frame, &frame)) < 0) {
        return rc;
    }
    if (frame == 0) {
        g->finished = 1;
        return 0;
    }
    want = (size_t)l->frame_lineno + 4;
    want = field_end(want, l->frame_state, 1);
    want = field_end(want, l->frame_stackdepth, 4);
    want = field_end(want, l->frame_valuestack, 8);
    want = field_end(want, l->frame_stacktop, 8);
    if (want > sizeof(buf)) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(c->rt->mem, frame, buf, want);
    if (rc < 0) {
        return rc;
    }
    code_addr = load_u64(buf, l->frame_code);
    if ((rc = py_code_get(c->rt, code_addr, &g->code)) < 0) {
        return rc;
    }
    lasti = load_i32(buf, l->frame_lasti);
    if (pyl_has(l->frame_state)) {
        /* 3.10: f_lasti counts code units; f_state says it all. */
        int8_t state = (int8_t)buf[l->frame_state];
        int32_t lineno = load_i32(buf, l->frame_lineno);

        g->line = lineno != 0 ? lineno : py_code_addr2line(g->code, lasti * 2);
        g->running = state == l->gen_state_executing;
        suspended = state == l->gen_state_suspended;
        if (suspended &&
            (kind == KIND_COROUTINE ||
             next_opcode(c, code_addr, ((int64_t)lasti + 1) * 2) ==
                 l->opcode_yield_from)) {
            int32_t depth = load_i32(buf, l->frame_stackdepth);
            raddr_t base = load_u64(buf, l->frame_valuestack);

            if (depth > 0 && depth < (1 << 20) && base != 0) {
                g->awaited = stack_item(c, base + 8 * (raddr_t)depth);
            }
        }
        return 0;
    }
    g->line = load_u64(buf, l->frame_trace) != 0
                  ? load_i32(buf, l->frame_lineno)
                  : py_code_addr2line(g->code, lasti);
    {
        unsigned char running = 0;

        if ((rc = memsrc_read(c->rt->mem, gen + l->gen_running, &running, 1)) <
            0) {
            return rc;
        }
        g->running = running != 0;
    }
    if (!g->running && lasti >= 0 &&
        (kind == KIND_COROUTINE ||
         next_opcode(c, code_addr, (int64_t)lasti + 2) ==
             l->opcode_yield_from)) {
        raddr_t top = load_u64(buf, l->frame_stacktop);

        if (top != 0) {
            g->awaited = stack_item(c, top);
        }
    }
    return 0;
}

/* A generator's frame (3.11+: a _PyInterpreterFrame inside it). */
static int
gen_frame_inline(struct tasks_ctx *c, raddr_t gen, enum gen_kind kind,
                 struct gen_frame *g)
{
    const struct py_layout *l = &c->rt->layout;
    unsigned char buf[512];
    raddr_t iframe = gen + (raddr_t)l->gen_iframe, instr;
    int8_t state = 0;
    int rc, yf;

    if ((size_t)l->iframe_size > sizeof(buf)) {
        return PS_EINTERNAL;
    }
    if ((rc = memsrc_read(c->rt->mem, gen + l->gen_frame_state, &state, 1)) <
        0) {
        return rc;
    }
    if (state >= l->gen_state_finished) {
        g->finished = 1;
        return 0;
    }
    rc = memsrc_read(c->rt->mem, iframe, buf, (size_t)l->iframe_size);
    if (rc < 0) {
        return rc;
    }
    rc = py_code_get(c->rt,
                     pyl_stackref_object(l, load_u64(buf, l->iframe_code)),
                     &g->code);
    if (rc < 0) {
        return rc;
    }
    instr = load_u64(buf, l->iframe_instr);
    g->line = py_code_addr2line(g->code,
                                (int)((int64_t)(instr - g->code->code_start)));
    g->running = state == l->gen_state_executing;
    if (pyl_has(l->gen_state_suspended_yf)) {
        yf = state == l->gen_state_suspended_yf ||
             (pyl_has(l->gen_state_suspended_yf_locked) &&
              state == l->gen_state_suspended_yf_locked);
    } else {
        /* 3.11-3.12: every await of a coroutine is a yield from; a
         * generator's plain yield is not told apart, so not followed. */
        yf = state == l->gen_state_suspended && kind == KIND_COROUTINE;
    }
    if (!yf) {
        return 0;
    }
    if (pyl_has(l->iframe_stackpointer)) {
        raddr_t sp = load_u64(buf, l->iframe_stackpointer);

        if (sp > iframe) {
            g->awaited = stack_item(c, sp);
        }
    } else {
        int32_t top = load_i32(buf, l->iframe_stacktop);

        if (top > 0 && top < (1 << 20)) {
            g->awaited = stack_item(c, iframe + (raddr_t)l->iframe_localsplus +
                                           8 * (raddr_t)top);
        }
    }
    return 0;
}

/* Follow the task's await chain into t->frames. */
static int
chain_read(struct tasks_ctx *c, struct py_task *t)
{
    const struct py_layout *l = &c->rt->layout;
    raddr_t obj = t->coro;
    size_t alloc = 0;
    int depth, rc;

    for (depth = 0; obj != 0 && depth < PY_AWAIT_DEPTH_MAX; depth++) {
        enum gen_kind kind = gen_kind(c, obj);
        struct gen_frame g;

        if (kind == KIND_OTHER) {
            break;
        }
        memset(&g, 0, sizeof(g));
        rc = pyl_has(l->gen_iframe) ? gen_frame_inline(c, obj, kind, &g)
                                    : gen_frame_object(c, obj, kind, &g);
        if (rc < 0) {
            return rc;
        }
        if (g.finished) {
            break;
        }
        XGROW(t->frames, alloc, t->nframes + 1);
        t->frames[t->nframes].code = py_code_ref(g.code);
        t->frames[t->nframes].line = g.line;
        t->frames[t->nframes].addr = obj;
        t->nframes++;
        if (g.running && t->state == PY_TASK_PENDING) {
            t->state = PY_TASK_RUNNING;
        }
        obj = g.awaited;
    }
    return 0;
}

/* ---- who awaits whom ------------------------------------------------ */

static void
awaited_by_add(struct py_tasks *out, long child, long parent)
{
    struct py_task *t;
    size_t i;

    if (child < 0 || parent < 0 || child == parent) {
        return;
    }
    t = &out->v[child];
    for (i = 0; i < t->nawaited_by; i++) {
        if (t->awaited_by[i] == (size_t)parent) {
            return;
        }
    }
    t->awaited_by =
        xrealloc(t->awaited_by, (t->nawaited_by + 1) * sizeof(*t->awaited_by));
    t->awaited_by[t->nawaited_by++] = (size_t)parent;
}

/*
 * The tasks fut stands for, as something a task waits on: itself if a
 * task, else the children of a _GatheringFuture, recursively.
 */
static void
waited_tasks(struct tasks_ctx *c, raddr_t fut, long parent, int depth)
{
    raddr_t children = 0, *items = NULL;
    size_t n = 0, i;
    long k = task_index(c, fut);

    if (--c->links_left < 0) {
        return;
    }
    if (k >= 0) {
        awaited_by_add(c->out, k, parent);
        return;
    }
    if (fut == 0 || depth > 8 ||
        py_object_getattr(&c->rt->reader, fut, "_children", &children) < 0 ||
        list_items(c, children, &items, &n) < 0) {
        err_clear();
        return;
    }
    for (i = 0; i < n && i < AWAIT_LINKS_MAX * 64; i++) {
        waited_tasks(c, items[i], parent, depth + 1);
    }
    free(items);
}

/*
 * 3.14+: the tasks behind a future's awaited_by (a task, a future that
 * others await in turn, or a set of those), recursively.
 */
static void
awaited_by_tasks(struct tasks_ctx *c, raddr_t fut, long child, int depth)
{
    const struct py_layout *l = &c->rt->layout;
    raddr_t by = 0, *items = NULL;
    size_t n = 0, i;
    long k;

    if (depth > 8 || --c->links_left < 0 ||
        rd64(c, fut + l->fut_awaited_by, &by) < 0 || by == 0) {
        err_clear();
        return;
    }
    if (obj_derives(c, by, c->c_future_type) || task_index(c, by) >= 0) {
        items = xmalloc(sizeof(*items));
        items[0] = by;
        n = 1;
    } else if (set_items(c, by, &items, &n) < 0) {
        err_clear();
        return;
    }
    for (i = 0; i < n && i < AWAIT_LINKS_MAX; i++) {
        if ((k = task_index(c, items[i])) >= 0) {
            awaited_by_add(c->out, child, k);
        } else if (obj_derives(c, items[i], c->c_future_type)) {
            awaited_by_tasks(c, items[i], child, depth + 1);
        }
    }
    free(items);
}

/*
 * 3.11-3.13: a TaskGroup's children.  CPython records no link from them
 * to the task in `async with TaskGroup()` before 3.14, but that task's
 * await chain runs the group's __aexit__, whose `self` (the frame's first
 * local) names the task its _parent_task and holds the children in
 * _tasks.
 */
static void
group_children(struct tasks_ctx *c, long parent)
{
    const struct py_layout *l = &c->rt->layout;
    const struct py_task *t = &c->out->v[parent];
    size_t i, j;

    for (i = 0; i < t->nframes; i++) {
        raddr_t self = 0, owner = 0, set = 0, *items = NULL;
        size_t n = 0;

        if (rd64(c,
                 t->frames[i].addr + (raddr_t)l->gen_iframe +
                     (raddr_t)l->iframe_localsplus,
                 &self) < 0 ||
            (self = pyl_stackref_object(l, self)) == 0 ||
            t->frames[i].code->name == NULL ||
            strstr(t->frames[i].code->name, "aexit") == NULL ||
            py_object_getattr(&c->rt->reader, self, "_parent_task", &owner) <
                0 ||
            owner != t->addr ||
            py_object_getattr(&c->rt->reader, self, "_tasks", &set) < 0 ||
            set_items(c, set, &items, &n) < 0) {
            err_clear();
            continue;
        }
        for (j = 0; j < n; j++) {
            awaited_by_add(c->out, task_index(c, items[j]), parent);
        }
        free(items);
    }
}

static void
links_read(struct tasks_ctx *c)
{
    struct py_tasks *out = c->out;
    size_t i;

    for (i = 0; i < out->n; i++) {
        if (out->v[i].waiter != 0 && out->v[i].state != PY_TASK_DONE) {
            waited_tasks(c, out->v[i].waiter, (long)i, 0);
        }
    }
    if (pyl_has(c->rt->layout.fut_awaited_by)) {
        for (i = 0; i < out->n; i++) {
            if (is_c_task(c, out->v[i].addr)) {
                awaited_by_tasks(c, out->v[i].addr, (long)i, 0);
            }
        }
    } else if (pyl_has(c->rt->layout.gen_iframe)) {
        for (i = 0; i < out->n; i++) {
            if (out->v[i].state != PY_TASK_DONE) {
                group_children(c, (long)i);
            }
        }
    }
}

/* ---- the whole read ------------------------------------------------- */

static long
tid_of(const struct py_threads *threads, uint64_t ident)
{
    size_t i;

    for (i = 0; ident != 0 && i < threads->n; i++) {
        if (threads->v[i].ident == ident) {
            return threads->v[i].tid;
        }
    }
    return 0;
}

int
py_tasks_read(struct py_runtime *rt, const struct py_threads *threads,
              struct py_tasks *out)
{
    return py_tasks_reread(rt, threads, NULL, out);
}

int
py_tasks_reread(struct py_runtime *rt, const struct py_threads *threads,
                const struct py_tasks *known, struct py_tasks *out)
{
    struct tasks_ctx c;
    size_t i;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!pyl_has(rt->layout.task_coro)) {
        return 0; /* no asyncio in this version */
    }
    memset(&c, 0, sizeof(c));
    c.rt = rt;
    c.threads = threads;
    c.known = known;
    c.links_left = AWAIT_LINKS_BUDGET;
    c.out = out;
    hashmap_init(&c.index);
    hashmap_init(&c.kinds);
    hashmap_init(&c.loops);
    rc = find_tasks(&c);
    for (i = 0; rc == 0 && i < out->n; i++) {
        struct py_task *t = &out->v[i];

        rc = is_c_task(&c, t->addr) ? c_task_read(&c, t) : py_task_read(&c, t);
        if (rc < 0) {
            break;
        }
        t->loop_ident = loop_ident(&c, t->loop);
        t->loop_tid = tid_of(threads, t->loop_ident);
        if (t->waiter != 0 && t->state != PY_TASK_DONE) {
            t->waiting_on = type_name_of(&c, t->waiter);
        }
        if (t->state != PY_TASK_DONE && t->error == 0) {
            t->error = chain_read(&c, t);
            if (t->error != 0) {
                err_clear();
            }
        }
    }
    if (rc == 0) {
        links_read(&c);
    }
    hashmap_release(&c.index);
    hashmap_release(&c.kinds);
    hashmap_release(&c.loops);
    if (rc < 0) {
        py_tasks_release(out);
    }
    return rc;
}

void
py_tasks_release(struct py_tasks *t)
{
    size_t i, j;

    for (i = 0; i < t->n; i++) {
        for (j = 0; j < t->v[i].nframes; j++) {
            py_code_unref(t->v[i].frames[j].code);
        }
        free(t->v[i].frames);
        free(t->v[i].name);
        free(t->v[i].waiting_on);
        free(t->v[i].awaited_by);
    }
    free(t->v);
    memset(t, 0, sizeof(*t));
}

const char *
py_task_state_name(const struct py_task *t)
{
    switch (t->state) {
    case PY_TASK_RUNNING:
        return "running";
    case PY_TASK_DONE:
        return "done";
    default:
        return "pending";
    }
}
