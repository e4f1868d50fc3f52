/*
 * refs.c - shortest reference chains from roots to instances of a type.
 *
 * Layer: python.  One pause: the GC lists give the tracked objects, the
 * roots are queued, the census walks breadth first recording parents,
 * then the objects no root reached; chains are read back through the
 * parents and labelled while the target is still paused (a label reads
 * the parent's contents to find how it holds the child).
 */
#include "refs.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/xalloc.h"
#include "python/pyobj.h"
#include "python/stack.h"
#include "core/banned.h"

/* Matched instances whose chain shape is worked out. */
#define PY_REFS_SHAPED_MAX 200000
/* Longest repr in a label or description. */
#define PY_REFS_REPR_MAX 40

struct refs_root {
    int kind;
    char *desc;  /* "module app", "thread 42 frame f (a.py:7)" */
    char *name;  /* start of the path: "app", or NULL for frames */
    raddr_t obj; /* module object, or frame address */
};

struct refs_ctx {
    struct py_runtime *rt;
    struct census c;
    const char *want;
    /* Instances found, in the order the walk met them (shortest chain
     * first). */
    uint64_t *matches;
    size_t nmatches, alloc;
    struct hashmap matched_types;
    struct census_type *first_type;
    struct refs_root *roots;
    size_t nroots, roots_alloc;
    uint64_t queue_parent;
    /* Label lookup: the last parent's references. */
    raddr_t label_child;
    struct census_ref label_ref;
    int label_found;
};

/* ---- small helpers ----------------------------------------------------- */

/* Objects are read through the census's cache (its reader). */
static int
read_str(struct refs_ctx *x, raddr_t addr, size_t max, struct strbuf *sb,
         int *truncated)
{
    return py_str_read(&x->c.reader, addr, max, sb, truncated);
}

static int
read_long(struct refs_ctx *x, raddr_t addr, int64_t *v)
{
    return py_int_read(&x->c.reader, addr, v);
}

/* A str, as names are: 2.7's str is bytes. */
static int
is_text(const struct refs_ctx *x, const struct census_type *t)
{
    return t->kind == CENSUS_STR ||
           (t->kind == CENSUS_BYTES && pyl_has(x->c.l->str_is_bytes));
}

/* An int: 2.7 has two kinds. */
static int
is_int(const struct census_type *t)
{
    return t->kind == CENSUS_INT || t->kind == CENSUS_INT27;
}

static void
type_text(const struct census_type *t, struct strbuf *sb)
{
    if (strcmp(t->module, "builtins") != 0) {
        strbuf_addf(sb, "%s.", t->module);
    }
    strbuf_addstr(sb, t->name);
}

static int
type_matches(const struct census_type *t, const char *want)
{
    size_t ml = strlen(t->module), wl = strlen(want);

    if (strcmp(t->name, want) == 0) {
        return 1;
    }
    return wl == ml + 1 + strlen(t->name) &&
           strncmp(want, t->module, ml) == 0 && want[ml] == '.' &&
           strcmp(want + ml + 1, t->name) == 0;
}

static int
is_identifier(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_')) {
        return 0;
    }
    for (; *s; s++) {
        if (!(isalnum((unsigned char)*s) || *s == '_')) {
            return 0;
        }
    }
    return 1;
}

/* repr() of a str, int or other key, short. */
static void
key_repr(struct refs_ctx *x, raddr_t key, struct strbuf *sb)
{
    struct census_type *t;
    struct strbuf s = STRBUF_INIT;
    int truncated = 0;
    int64_t v;

    if (census_object_type(&x->c, key, &t) < 0) {
        strbuf_addstr(sb, "?");
        return;
    }
    if (is_text(x, t) &&
        read_str(x, key, PY_REFS_REPR_MAX, &s, &truncated) == 0) {
        strbuf_addf(sb, "'%s%s'", s.buf, truncated ? "..." : "");
    } else if (is_int(t) && read_long(x, key, &v) == 0) {
        strbuf_addf(sb, "%lld", (long long)v);
    } else {
        strbuf_addf(sb, "<%s>", t->name);
    }
    strbuf_release(&s);
}

/* ---- the walk ---------------------------------------------------------- */

static void
on_object(void *arg, raddr_t obj, struct census_type *t, uint64_t size)
{
    struct refs_ctx *x = arg;

    (void)size;
    if (!type_matches(t, x->want)) {
        return;
    }
    if (x->first_type == NULL) {
        x->first_type = t;
    }
    hashmap_put(&x->matched_types, t->addr, t);
    XGROW(x->matches, x->alloc, x->nmatches + 1);
    x->matches[x->nmatches++] = obj;
}

static size_t
add_root(struct refs_ctx *x, int kind, char *desc, char *name, raddr_t obj)
{
    XGROW(x->roots, x->roots_alloc, x->nroots + 1);
    x->roots[x->nroots].kind = kind;
    x->roots[x->nroots].desc = desc;
    x->roots[x->nroots].name = name;
    x->roots[x->nroots].obj = obj;
    return x->nroots++;
}

static void
queue_local(void *arg, const struct census_ref *r)
{
    struct refs_ctx *x = arg;

    census_queue(&x->c, r->to, x->queue_parent);
}

static void
roots_modules(struct refs_ctx *x)
{
    const struct py_layout *l = &x->rt->layout;
    struct py_dict_item *items = NULL;
    raddr_t interp, modules;
    size_t n = 0, i;
    int rc;

    rc = py_runtime_interp_head(x->rt, &interp);
    if (rc == 0) {
        rc = memsrc_read_u64(x->c.mem, interp + l->interp_modules, &modules);
    }
    if (rc == 0) {
        rc = py_dict_items(&x->c.reader, modules, &items, &n);
    }
    for (i = 0; rc == 0 && i < n; i++) {
        struct strbuf name = STRBUF_INIT;
        struct strbuf desc = STRBUF_INIT;
        size_t r;

        if (read_str(x, items[i].key, 256, &name, NULL) < 0) {
            strbuf_release(&name);
            continue;
        }
        strbuf_addf(&desc, "module %s", name.buf);
        r = add_root(x, PY_REFS_MODULE, strbuf_detach(&desc),
                     strbuf_detach(&name), items[i].value);
        census_queue(&x->c, items[i].value, CENSUS_PARENT_ROOT(r));
    }
    free(items);
    err_clear();
}

static void
roots_frames(struct refs_ctx *x)
{
    struct py_threads threads = PY_THREADS_INIT;
    struct py_stack stack = PY_STACK_INIT;
    size_t i, j;

    if (py_threads_read(x->rt, &threads) < 0) {
        err_clear();
        return;
    }
    py_threads_resolve_tids(x->rt, &threads);
    for (i = 0; i < threads.n; i++) {
        if (py_stack_read(x->rt, &threads.v[i], 0, &stack) < 0) {
            continue;
        }
        for (j = 0; j < stack.n; j++) {
            const struct py_frame *f = &stack.v[j];
            struct strbuf desc = STRBUF_INIT;
            size_t r;

            strbuf_addf(&desc, "thread %ld frame %s (%s:%d)", threads.v[i].tid,
                        f->code->qualname ? f->code->qualname : f->code->name,
                        f->code->filename, f->line);
            r = add_root(x, PY_REFS_FRAME, strbuf_detach(&desc), NULL,
                         f->addr);
            x->queue_parent = CENSUS_PARENT_ROOT(r);
            census_frame_locals(&x->c, f->addr, queue_local, x);
        }
    }
    py_stack_release(&stack);
    py_threads_release(&threads);
    err_clear();
}

/*
 * Tracked objects no root reached, except instances of the type: an
 * unreachable container (a garbage cycle, something held from C) then
 * shows in the chains of the instances it holds.
 */
static void
queue_orphans(struct refs_ctx *x)
{
    struct addrset_iter it;
    uint64_t obj;

    addrset_iter_init(&it, &x->c.tracked);
    while (addrset_iter_next(&it, &obj)) {
        struct census_type *t;

        if (addrset_has(&x->c.seen, obj) ||
            census_object_type(&x->c, obj, &t) < 0 ||
            type_matches(t, x->want)) {
            continue;
        }
        census_queue(&x->c, obj, CENSUS_PARENT_ORPHAN);
    }
    addrset_iter_release(&it);
}

/* ---- chains ------------------------------------------------------------ */

static uint64_t
parent_of(struct refs_ctx *x, raddr_t obj)
{
    return (uint64_t)(uintptr_t)hashmap_get(&x->c.parents, obj);
}

static int
is_class(struct refs_ctx *x, raddr_t obj)
{
    struct census_type *t;
    uint64_t flags;

    if (census_object_type(&x->c, obj, &t) < 0) {
        return 0;
    }
    if (t->kind == CENSUS_CLASSOBJ) {
        return 1; /* 2.7's old-style class */
    }
    return t->kind == CENSUS_TYPE &&
           memsrc_read_u64(x->c.mem, obj + x->c.l->type_flags, &flags) == 0 &&
           (flags & (uint64_t)x->c.l->tpflags_heaptype);
}

/*
 * The chain of obj, instance last, into v (reversed at the end): stops
 * at a root, a class, an orphan or the depth bound.  Returns the number
 * of objects; *end says how it ended (a root index, or -1 class, -2
 * orphan, -3 truncated).
 */
static size_t
chain_of(struct refs_ctx *x, raddr_t obj, raddr_t *v, long *end)
{
    size_t n = 0;

    v[n++] = obj;
    for (;;) {
        uint64_t p = parent_of(x, v[n - 1]);

        if (p == 0 || p == CENSUS_PARENT_ORPHAN) {
            *end = -2;
            break;
        }
        if (CENSUS_PARENT_IS_ROOT(p)) {
            *end = (long)CENSUS_PARENT_ROOT_INDEX(p);
            break;
        }
        if (n > 1 && is_class(x, v[n - 1])) {
            *end = -1;
            break;
        }
        if (n >= PY_REFS_DEPTH_MAX) {
            *end = -3;
            break;
        }
        v[n++] = p;
    }
    if (n > 1 && *end >= 0 && x->roots[*end].kind == PY_REFS_MODULE) {
        /* The module object is the first hop; a class on the way? */
        size_t i;

        for (i = 1; i < n; i++) {
            if (is_class(x, v[i])) {
                n = i + 1;
                *end = -1;
                break;
            }
        }
    }
    return n;
}

/* A hash of a chain's shape: how it ends and the types along it. */
static uint64_t
shape_of(struct refs_ctx *x, const raddr_t *v, size_t n, long end)
{
    uint64_t h = hash_u64((uint64_t)(end + 4));
    size_t i;

    if (end >= 0) {
        h = hash_u64(
            h ^ hash_bytes(x->roots[end].desc, strlen(x->roots[end].desc)));
    }
    for (i = 0; i < n; i++) {
        struct census_type *t;

        if (census_object_type(&x->c, v[i], &t) == 0) {
            h = hash_u64(h ^ t->addr);
        }
        if (end == -1 && i == n - 1) {
            h = hash_u64(h ^ v[i]); /* which class */
        }
    }
    return h;
}

static void
label_cb(void *arg, const struct census_ref *r)
{
    struct refs_ctx *x = arg;

    if (!x->label_found && r->to == x->label_child) {
        x->label_ref = *r;
        x->label_found = 1;
    }
}

static char *
edge_label(struct refs_ctx *x, const struct census_ref *r, int parent_kind)
{
    struct strbuf sb = STRBUF_INIT, s = STRBUF_INIT;

    switch (r->edge) {
    case CENSUS_EDGE_ITEM:
        strbuf_addf(&sb, "[%llu]", (unsigned long long)r->index);
        break;
    case CENSUS_EDGE_KEY:
        strbuf_addstr(&sb, "<key>");
        break;
    case CENSUS_EDGE_VALUE:
        strbuf_addch(&sb, '[');
        key_repr(x, r->key, &sb);
        strbuf_addch(&sb, ']');
        break;
    case CENSUS_EDGE_MEMBER:
        strbuf_addstr(&sb, "{member}");
        break;
    case CENSUS_EDGE_ATTR:
    case CENSUS_EDGE_SLOT:
        if (r->key != 0 && read_str(x, r->key, 128, &s, NULL) == 0) {
            strbuf_addf(&sb, ".%s", s.buf);
        } else {
            strbuf_addstr(&sb, ".?");
        }
        break;
    case CENSUS_EDGE_DICT:
        strbuf_addstr(&sb, ".__dict__");
        break;
    case CENSUS_EDGE_FIELD:
        strbuf_addf(&sb, ".%s", r->field);
        break;
    case CENSUS_EDGE_LOCAL:
        /* As Python would spell it from the holder: a frame object's
         * f_locals, a generator's frame (3.11+ keeps it inside). */
        if (parent_kind == CENSUS_FRAME) {
            strbuf_addstr(&sb, ".f_locals");
        } else if (parent_kind == CENSUS_GENERATOR) {
            strbuf_addstr(&sb, ".gi_frame.f_locals");
        } else if (parent_kind == CENSUS_COROUTINE) {
            strbuf_addstr(&sb, ".cr_frame.f_locals");
        } else if (parent_kind == CENSUS_ASYNCGEN) {
            strbuf_addstr(&sb, ".ag_frame.f_locals");
        } else {
            strbuf_addstr(&sb, "local ");
        }
        if (r->key != 0 && read_str(x, r->key, 128, &s, NULL) == 0) {
            strbuf_addf(&sb, parent_kind >= 0 ? "['%s']" : "'%s'", s.buf);
        } else {
            strbuf_addf(&sb, "[#%llu]", (unsigned long long)r->index);
        }
        break;
    }
    strbuf_release(&s);
    return strbuf_detach(&sb);
}

/* How parent holds child, or NULL.  frame: parent is a thread's frame
 * (a root), not an object. */
static char *
label_of(struct refs_ctx *x, raddr_t parent, raddr_t child, int frame)
{
    struct census_type *t;
    int kind = -1;

    x->label_child = child;
    x->label_found = 0;
    if (frame) {
        census_frame_locals(&x->c, parent, label_cb, x);
    } else {
        census_referents(&x->c, parent, label_cb, x);
        if (census_object_type(&x->c, parent, &t) == 0) {
            kind = t->kind;
        }
    }
    err_clear();
    return x->label_found ? edge_label(x, &x->label_ref, kind) : NULL;
}

static char *
describe(struct refs_ctx *x, raddr_t obj, struct census_type *t)
{
    const struct py_layout *l = x->c.l;
    struct strbuf sb = STRBUF_INIT;
    uint64_t v = 0, p = 0;
    int64_t iv;
    int truncated = 0;

    switch (is_text(x, t) ? CENSUS_STR : is_int(t) ? CENSUS_INT : t->kind) {
    case CENSUS_STR:
        strbuf_addch(&sb, '\'');
        if (read_str(x, obj, PY_REFS_REPR_MAX, &sb, &truncated) < 0) {
            strbuf_reset(&sb);
            break;
        }
        strbuf_addstr(&sb, truncated ? "...'" : "'");
        break;
    case CENSUS_INT:
        if (read_long(x, obj, &iv) == 0) {
            strbuf_addf(&sb, "%lld", (long long)iv);
        }
        break;
    case CENSUS_LIST:
    case CENSUS_TUPLE:
        if (memsrc_read_u64(x->c.mem, obj + l->var_size, &v) == 0) {
            strbuf_addf(&sb, "len %llu", (unsigned long long)v);
        }
        break;
    case CENSUS_DICT:
        if (memsrc_read_u64(x->c.mem, obj + l->dict_used, &v) == 0) {
            strbuf_addf(&sb, "len %llu", (unsigned long long)v);
        }
        break;
    case CENSUS_SET:
    case CENSUS_FROZENSET:
        if (memsrc_read_u64(x->c.mem, obj + l->set_used, &v) == 0) {
            strbuf_addf(&sb, "len %llu", (unsigned long long)v);
        }
        break;
    case CENSUS_TYPE: {
        struct census_type *self = census_type_get(&x->c, obj);

        if (self != NULL && self->valid) {
            type_text(self, &sb);
        }
        break;
    }
    case CENSUS_CLASSOBJ: {
        /* 2.7's old-style class: module.name, as for a type. */
        struct strbuf mod = STRBUF_INIT;
        raddr_t m;

        if (memsrc_read_u64(x->c.mem, obj + l->class_dict, &p) < 0 ||
            memsrc_read_u64(x->c.mem, obj + l->class_name, &v) < 0) {
            break;
        }
        if (py_dict_get_str(&x->c.reader, p, "__module__", &m) == 0 &&
            read_str(x, m, 128, &mod, NULL) == 0) {
            strbuf_addf(&sb, "%s.", mod.buf);
        }
        strbuf_release(&mod);
        read_str(x, v, 128, &sb, NULL);
        break;
    }
    case CENSUS_FUNCTION:
        if (memsrc_read_u64(x->c.mem,
                            obj + (pyl_has(l->func_qualname) ? l->func_qualname
                                                             : l->func_name),
                            &p) == 0) {
            read_str(x, p, 128, &sb, NULL);
        }
        break;
    case CENSUS_MODULE: {
        raddr_t name;

        if (memsrc_read_u64(x->c.mem, obj + l->module_dict, &p) < 0) {
            break;
        }
        if (py_dict_get_str(&x->c.reader, p, "__name__", &name) == 0) {
            read_str(x, name, 128, &sb, NULL);
        }
        break;
    }
    default:
        break;
    }
    err_clear();
    if (sb.len == 0) {
        strbuf_release(&sb);
        return NULL;
    }
    return strbuf_detach(&sb);
}

/* Append a hop's label to a path, folding .__dict__['name'] into .name. */
static void
path_add(struct strbuf *path, const char *label, int *after_dict)
{
    size_t n = strlen(label);

    if (*after_dict && n > 4 && label[0] == '[' && label[1] == '\'' &&
        label[n - 2] == '\'' && label[n - 1] == ']') {
        char name[256];

        if (n - 4 < sizeof(name)) {
            memcpy(name, label + 2, n - 4);
            name[n - 4] = '\0';
            if (is_identifier(name)) {
                /* drop the ".__dict__" just written */
                path->len -= strlen(".__dict__");
                path->buf[path->len] = '\0';
                strbuf_addf(path, ".%s", name);
                *after_dict = 0;
                return;
            }
        }
    }
    *after_dict = strcmp(label, ".__dict__") == 0;
    if (strncmp(label, "local '", 7) == 0) {
        strbuf_add(path, label + 7, n - 8);
        return;
    }
    strbuf_addstr(path, label);
}

static void
build_chain(struct refs_ctx *x, const raddr_t *v, size_t n, long end,
            struct py_refs_chain *ch)
{
    struct strbuf path = STRBUF_INIT, sb = STRBUF_INIT;
    int after_dict = 0;
    size_t i;

    memset(ch, 0, sizeof(*ch));
    ch->hops = xcalloc(n, sizeof(*ch->hops));
    ch->nhops = n;
    ch->truncated = end == -3;
    /* v is instance first: hop k is v[n - 1 - k]. */
    for (i = 0; i < n; i++) {
        struct py_refs_hop *h = &ch->hops[i];
        struct census_type *t;

        h->obj = v[n - 1 - i];
        if (census_object_type(&x->c, h->obj, &t) == 0) {
            strbuf_reset(&sb);
            type_text(t, &sb);
            h->type = xstrdup(sb.buf);
            h->what = describe(x, h->obj, t);
        } else {
            h->type = xstrdup("?");
        }
    }
    if (end >= 0) {
        const struct refs_root *r = &x->roots[end];

        ch->root_kind = r->kind;
        ch->root = xstrdup(r->desc);
        if (r->kind == PY_REFS_FRAME) {
            ch->hops[0].label = label_of(x, r->obj, ch->hops[0].obj, 1);
        } else {
            strbuf_addstr(&path, r->name);
        }
    } else if (end == -1) {
        ch->root_kind = PY_REFS_CLASS;
        strbuf_reset(&sb);
        strbuf_addf(&sb, "class %s",
                    ch->hops[0].what ? ch->hops[0].what : "?");
        ch->root = strbuf_detach(&sb);
        strbuf_addstr(&path, ch->hops[0].what ? ch->hops[0].what : "?");
    } else {
        ch->root_kind = PY_REFS_UNREACHED;
        strbuf_reset(&sb);
        strbuf_addf(&sb, "%s at 0x%llx that no module, frame or class holds",
                    ch->hops[0].type, (unsigned long long)ch->hops[0].obj);
        ch->root = strbuf_detach(&sb);
        strbuf_addf(&path, "<%s at 0x%llx>", ch->hops[0].type,
                    (unsigned long long)ch->hops[0].obj);
    }
    if (ch->hops[0].label != NULL) {
        path_add(&path, ch->hops[0].label, &after_dict);
    }
    for (i = 1; i < n; i++) {
        ch->hops[i].label =
            label_of(x, ch->hops[i - 1].obj, ch->hops[i].obj, 0);
        path_add(&path, ch->hops[i].label ? ch->hops[i].label : ".?",
                 &after_dict);
    }
    ch->path = strbuf_detach(&path);
    strbuf_release(&sb);
}

struct shape_count {
    uint64_t shape;
    uint64_t count;
    raddr_t example;
};

static int
by_count(const void *a, const void *b)
{
    const struct shape_count *x = a, *y = b;

    if (x->count != y->count) {
        return x->count < y->count ? 1 : -1;
    }
    return x->example < y->example ? -1 : x->example > y->example;
}

static void
make_chains(struct refs_ctx *x, size_t max, struct py_refs *out)
{
    struct hashmap index = HASHMAP_INIT; /* shape -> slot + 1 */
    struct shape_count *shapes = NULL;
    size_t nshapes = 0, alloc = 0, i, k;
    raddr_t *v = xmalloc((PY_REFS_DEPTH_MAX + 1) * sizeof(*v));
    size_t shaped =
        x->nmatches < PY_REFS_SHAPED_MAX ? x->nmatches : PY_REFS_SHAPED_MAX;

    for (i = 0; i < shaped; i++) {
        long end;
        size_t n = chain_of(x, x->matches[i], v, &end);
        uint64_t h = shape_of(x, v, n, end);
        void **slot;

        if (end == -2) {
            out->unreached++;
        }
        slot = hashmap_slot(&index, h ? h : 1);
        if (*slot == NULL) {
            XGROW(shapes, alloc, nshapes + 1);
            shapes[nshapes].shape = h;
            shapes[nshapes].count = 0;
            shapes[nshapes].example = x->matches[i];
            *slot = (void *)(uintptr_t)(nshapes + 1);
            nshapes++;
        }
        shapes[(uintptr_t)*slot - 1].count++;
    }
    /* Unreached instances past the shaped ones. */
    for (; i < x->nmatches; i++) {
        long end;

        chain_of(x, x->matches[i], v, &end);
        out->unreached += end == -2;
    }
    qsort(shapes, nshapes, sizeof(*shapes), by_count);
    out->shapes = nshapes;
    k = nshapes < max ? nshapes : max;
    out->chains = xcalloc(k + 1, sizeof(*out->chains));
    for (i = 0; i < k; i++) {
        long end;
        size_t n = chain_of(x, shapes[i].example, v, &end);

        build_chain(x, v, n, end, &out->chains[i]);
        out->chains[i].same = shapes[i].count;
    }
    out->nchains = k;
    free(v);
    free(shapes);
    hashmap_release(&index);
}

/* ---- close names ------------------------------------------------------- */

size_t
py_refs_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j;
    size_t *row;
    size_t d;

    if (la > 256 || lb > 256) {
        return la > lb ? la : lb;
    }
    row = xmalloc((lb + 1) * sizeof(*row));
    for (j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (i = 1; i <= la; i++) {
        size_t prev = row[0];

        row[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) !=
                          tolower((unsigned char)b[j - 1]);
            size_t best = prev + cost;

            if (row[j] + 1 < best) {
                best = row[j] + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            row[j] = best;
            prev = cur;
        }
    }
    d = row[lb];
    free(row);
    return d;
}

struct candidate {
    char *name;
    size_t dist;
};

static int
by_dist(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;

    if (x->dist != y->dist) {
        return x->dist < y->dist ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

static int
contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle), i;

    for (i = 0; hay[i]; i++) {
        if (strncasecmp(hay + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
close_names(struct refs_ctx *x, struct py_refs *out)
{
    struct census_type **types;
    struct candidate *cand;
    size_t n, i, k = 0, j;
    size_t limit = strlen(x->want) / 4 + 1;
    struct strbuf sb = STRBUF_INIT;

    census_types(&x->c, &types, &n);
    cand = xcalloc(n + 1, sizeof(*cand));
    for (i = 0; i < n; i++) {
        struct census_type *t = types[i];
        size_t d1, d2;

        if (!t->valid || t->count == 0) {
            continue;
        }
        strbuf_reset(&sb);
        type_text(t, &sb);
        d1 = py_refs_distance(x->want, t->name);
        d2 = py_refs_distance(x->want, sb.buf);
        if (d2 < d1) {
            d1 = d2;
        }
        if (d1 > limit && !contains_nocase(sb.buf, x->want) &&
            !contains_nocase(x->want, t->name)) {
            continue;
        }
        for (j = 0; j < k && strcmp(cand[j].name, sb.buf) != 0; j++) {
        }
        if (j < k) {
            continue;
        }
        cand[k].name = xstrdup(sb.buf);
        cand[k].dist = d1;
        k++;
    }
    qsort(cand, k, sizeof(*cand), by_dist);
    out->close = xcalloc(k + 1, sizeof(*out->close));
    for (i = 0; i < k; i++) {
        if (i < 8) {
            out->close[out->nclose++] = cand[i].name;
        } else {
            free(cand[i].name);
        }
    }
    free(cand);
    free(types);
    strbuf_release(&sb);
}

/* ---- entry ------------------------------------------------------------- */

int
py_refs_find(struct py_runtime *rt, const char *name, size_t max,
             struct py_refs *out)
{
    struct py_heap_session s;
    struct py_gc_reader reader;
    struct refs_ctx x;
    int rc;
    size_t i;

    memset(out, 0, sizeof(*out));
    memset(&x, 0, sizeof(x));
    x.rt = rt;
    x.want = name;
    hashmap_init(&x.matched_types);
    rc = py_heap_session_begin(rt, &s);
    if (rc < 0) {
        return rc;
    }
    census_init(&x.c, rt, s.chunks, &s.builtins,
                CENSUS_PARENTS | CENSUS_FOLLOW_FRAMES);
    x.c.on_object = on_object;
    x.c.on_object_arg = &x;
    py_gc_reader_init(&reader, rt, s.chunks);
    py_heap_session_walk_gc(&s, &x.c, &reader);
    out->stats.links = reader.links;
    py_gc_reader_release(&reader);
    roots_modules(&x);
    roots_frames(&x);
    census_run(&x.c);
    queue_orphans(&x);
    census_run(&x.c);
    census_queue_unseen_tracked(&x.c);
    census_run(&x.c);
    out->objects = x.c.objects;
    out->instances = x.nmatches;
    if (x.nmatches > 0) {
        out->type = xstrdup(x.first_type->name);
        out->module = xstrdup(x.first_type->module);
        out->classes = x.matched_types.count;
        make_chains(&x, max, out);
        rc = 0;
    } else {
        close_names(&x, out);
        rc = err_set(PS_ENOTFOUND, "no object of type '%s' in %s", name,
                     rt->target->name);
    }
    if (census_memory(&x.c) > out->stats.memory) {
        out->stats.memory = census_memory(&x.c);
    }
    out->stats.levels = x.c.levels;
    out->stats.unreadable = x.c.unreadable;
    out->stats.partial = x.c.partial;
    py_heap_session_resume(&s, &out->stats);
    if (py_heap_session_check_alive(&s) < 0) {
        rc = PS_EEXITED;
    }
    census_release(&x.c);
    py_heap_session_release(&s);
    for (i = 0; i < x.nroots; i++) {
        free(x.roots[i].desc);
        free(x.roots[i].name);
    }
    free(x.roots);
    free(x.matches);
    hashmap_release(&x.matched_types);
    return rc;
}

void
py_refs_release(struct py_refs *r)
{
    size_t i, j;

    for (i = 0; i < r->nchains; i++) {
        struct py_refs_chain *ch = &r->chains[i];

        for (j = 0; j < ch->nhops; j++) {
            free(ch->hops[j].type);
            free(ch->hops[j].what);
            free(ch->hops[j].label);
        }
        free(ch->hops);
        free(ch->root);
        free(ch->path);
    }
    free(r->chains);
    for (i = 0; i < r->nclose; i++) {
        free(r->close[i]);
    }
    free(r->close);
    free(r->type);
    free(r->module);
    memset(r, 0, sizeof(*r));
}
