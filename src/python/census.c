/*
 * census.c - count, size and follow every object of a paused heap.
 *
 * Layer: python.  See census.h for what is followed.  Sizes follow
 * sys.getsizeof(): the type's __sizeof__ (object.__sizeof__ for most
 * types: basicsize + itemsize * ob_size; str, int, list, dict, set,
 * bytearray and type have their own), plus the pre-header getsizeof adds
 * (the GC header of GC types; the managed dict/weakref slots, 3.11+).
 *
 * All reads go through c->mem; everything read is checked before use
 * (counts against bounds, pointers for plausibility), and a failed read
 * marks the object unreadable or partial, never stops the census.
 */
#include "census.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "python/pyobj.h"
#include "core/banned.h"

/* Bounds on what one object may hold. */
#define CENSUS_ITEMS_MAX (1ull << 28)
/* Objects larger than this have their size checked against memory. */
#define CENSUS_BIG (1u << 20)
#define CENSUS_MEMBERS_MAX 4096
#define CENSUS_BASES_MAX 64
#define CENSUS_NAME_MAX 256
/* Bytes of an object read at once (the rest on demand). */
#define CENSUS_HEADER_MAX 256
/* A plain census visits an object found this close to the one that
 * refers to it at once: its memory is, or soon will be, in the cache. */
#define CENSUS_NEAR (4u << 20)
/* Pointers read per batch. */
#define CENSUS_BATCH 512
/* __slots__ members visited by subtype_traverse have this type. */
#define T_OBJECT_EX 16

/* What c->classes holds for an address that is not a class (2.7). */
static struct census_type not_a_class;

static inline int
plausible(raddr_t a)
{
    return a >= 4096 && (a & 7) == 0 && (a >> 47) == 0;
}

/* ---- builtins ---------------------------------------------------------- */

/* sys.modules['_frozen_importlib'].ModuleSpec.tp_traverse. */
static void
find_subtype_traverse(struct py_runtime *rt, struct census_builtins *b)
{
    const struct py_layout *l = &rt->layout;
    raddr_t interp, modules, mod, dict, spec;
    uint64_t flags = 0;

    if (py_runtime_interp_head(rt, &interp) < 0 ||
        memsrc_read_u64(rt->mem, interp + l->interp_modules, &modules) < 0 ||
        py_dict_get_str(&rt->reader, modules, "_frozen_importlib", &mod) < 0 ||
        memsrc_read_u64(rt->mem, mod + l->module_dict, &dict) < 0 ||
        py_dict_get_str(&rt->reader, dict, "ModuleSpec", &spec) < 0 ||
        memsrc_read_u64(rt->mem, spec + l->type_flags, &flags) < 0 ||
        !(flags & (uint64_t)l->tpflags_heaptype) ||
        memsrc_read_u64(rt->mem, spec + l->type_traverse,
                        &b->subtype_traverse) < 0) {
        b->subtype_traverse = 0;
    }
}

int
census_builtins_find(struct py_runtime *rt, struct census_builtins *b)
{
    /* The names of 2.7, where they differ (its str is bytes). */
    static const char *const names27[CENSUS_KINDS] = {
        [CENSUS_BYTES] = "PyString_Type",
        [CENSUS_INT27] = "PyInt_Type",
        [CENSUS_INSTANCE] = "PyInstance_Type",
        [CENSUS_CLASSOBJ] = "PyClass_Type",
    };
    static const char *const names[CENSUS_KINDS] = {
        [CENSUS_OBJECT] = "PyBaseObject_Type",
        [CENSUS_TYPE] = "PyType_Type",
        [CENSUS_STR] = "PyUnicode_Type",
        [CENSUS_BYTES] = "PyBytes_Type",
        [CENSUS_INT] = "PyLong_Type",
        [CENSUS_FLOAT] = "PyFloat_Type",
        [CENSUS_TUPLE] = "PyTuple_Type",
        [CENSUS_LIST] = "PyList_Type",
        [CENSUS_DICT] = "PyDict_Type",
        [CENSUS_SET] = "PySet_Type",
        [CENSUS_FROZENSET] = "PyFrozenSet_Type",
        [CENSUS_BYTEARRAY] = "PyByteArray_Type",
        [CENSUS_FUNCTION] = "PyFunction_Type",
        [CENSUS_METHOD] = "PyMethod_Type",
        [CENSUS_CELL] = "PyCell_Type",
        [CENSUS_MODULE] = "PyModule_Type",
        [CENSUS_CODE] = "PyCode_Type",
        [CENSUS_FRAME] = "PyFrame_Type",
        [CENSUS_GENERATOR] = "PyGen_Type",
        [CENSUS_COROUTINE] = "PyCoro_Type",
        [CENSUS_ASYNCGEN] = "PyAsyncGen_Type",
    };
    raddr_t dummy;
    int k;

    memset(b, 0, sizeof(*b));
    for (k = 0; k < CENSUS_KINDS; k++) {
        if ((names[k] == NULL ||
             py_runtime_symbol(rt, names[k], &b->types[k]) < 0) &&
            (names27[k] == NULL ||
             py_runtime_symbol(rt, names27[k], &b->types[k]) < 0)) {
            b->types[k] = 0;
        }
    }
    /* _PySet_Dummy is a pointer to the dummy object. */
    if (py_runtime_symbol(rt, "_PySet_Dummy", &dummy) == 0) {
        memsrc_read_u64(rt->proc, dummy, &b->set_dummy);
    }
    find_subtype_traverse(rt, b);
    err_clear();
    if (b->types[CENSUS_TYPE] == 0 || b->types[CENSUS_DICT] == 0) {
        return err_set(PS_ENOTPY, "no PyType_Type/PyDict_Type symbols");
    }
    return 0;
}

/* ---- life cycle -------------------------------------------------------- */

void
census_init(struct census *c, struct py_runtime *rt, struct memsrc *mem,
            const struct census_builtins *b, unsigned flags)
{
    memset(c, 0, sizeof(*c));
    c->rt = rt;
    c->mem = mem;
    c->reader.rt = rt;
    c->reader.mem = mem;
    c->l = &rt->layout;
    c->b = *b;
    c->flags = flags;
    hashmap_init(&c->types);
    hashmap_init(&c->classes);
    hashmap_init(&c->parents);
    hashmap_init(&c->codes);
    c->numpy_major = -1;
    addrset_init(&c->tracked);
    addrset_init(&c->seen);
    addrset_init(&c->frontier);
    addrset_init(&c->next);
}

static void
type_free(struct census_type *t)
{
    free(t->name);
    free(t->module);
    free(t->slot_offsets);
    free(t->slot_names);
    free(t);
}

void
census_release(struct census *c)
{
    size_t i = 0;
    uint64_t key;
    void *value;

    while (hashmap_next(&c->types, &i, &key, &value)) {
        type_free(value);
    }
    i = 0;
    while (hashmap_next(&c->classes, &i, &key, &value)) {
        if (value != NULL && value != &not_a_class) {
            type_free(value);
        }
    }
    hashmap_release(&c->types);
    hashmap_release(&c->classes);
    hashmap_release(&c->parents);
    hashmap_release(&c->codes);
    addrset_release(&c->tracked);
    addrset_release(&c->seen);
    addrset_release(&c->frontier);
    addrset_release(&c->next);
    free(c->ptrs);
    free(c->buf);
    free(c->stack);
    memset(c, 0, sizeof(*c));
}

size_t
census_memory(const struct census *c)
{
    return addrset_memory(&c->tracked) + addrset_memory(&c->seen) +
           addrset_memory(&c->frontier) + addrset_memory(&c->next) +
           (c->parents.mask + 1) * sizeof(struct hashmap_slot) +
           (c->types.mask + 1) * sizeof(struct hashmap_slot) +
           (c->classes.mask + 1) * sizeof(struct hashmap_slot) +
           (c->types.count + c->classes.count) * sizeof(struct census_type);
}

/* ---- reading ----------------------------------------------------------- */

static int
rd(struct census *c, raddr_t addr, void *buf, size_t len)
{
    return memsrc_read(c->mem, addr, buf, len);
}

static int
rd64(struct census *c, raddr_t addr, uint64_t *v)
{
    return memsrc_read(c->mem, addr, v, sizeof(*v));
}

static unsigned char *
scratch(struct census *c, size_t len)
{
    if (len > c->buf_alloc) {
        c->buf = xrealloc(c->buf, len);
        c->buf_alloc = len;
    }
    return c->buf;
}

/* Names read through the census's own cache cost no extra reads. */
static int
read_str(struct census *c, raddr_t addr, struct strbuf *sb)
{
    return py_str_read(&c->reader, addr, CENSUS_NAME_MAX, sb, NULL);
}

static int
dict_get_str(struct census *c, raddr_t dict, const char *key, raddr_t *v)
{
    return py_dict_get_str(&c->reader, dict, key, v);
}

/* ---- numpy arrays -------------------------------------------------------- */

/*
 * numpy's PyArrayObject_fields and PyArray_Descr, public and the same
 * since numpy 1.7 up to the element size, which numpy 2 widened and
 * moved (an int at 32, then an npy_intp at 40).
 */
#define NDARRAY_TP_NAME "numpy.ndarray"
#define NDARRAY_ND 24         /* int nd */
#define NDARRAY_DIMENSIONS 32 /* npy_intp *dimensions */
#define NDARRAY_DESCR 56      /* PyArray_Descr *descr */
#define NDARRAY_FLAGS 64      /* int flags */
#define NDARRAY_OWNDATA 0x0004
#define NDARRAY_MAXDIMS 64
#define DESCR_ELSIZE_V1 32 /* int elsize */
#define DESCR_ELSIZE_V2 40 /* npy_intp elsize */

/* Is the static type at addr numpy.ndarray (found by its tp_name)? */
static int
is_ndarray_type(struct census *c, raddr_t addr)
{
    struct strbuf name = STRBUF_INIT;
    uint64_t tp_name = 0;
    int yes = 0;

    if (c->ndarray_type != 0) {
        return addr == c->ndarray_type;
    }
    if (rd64(c, addr + c->l->type_name, &tp_name) == 0 && tp_name != 0 &&
        py_cstr_read(&c->reader, tp_name, sizeof(NDARRAY_TP_NAME), &name) ==
            0) {
        yes = strcmp(name.buf, NDARRAY_TP_NAME) == 0;
    }
    strbuf_release(&name);
    err_clear();
    if (yes) {
        c->ndarray_type = addr;
    }
    return yes;
}

/* The major version of the numpy the main interpreter has imported. */
static int
numpy_major(struct census *c)
{
    const struct py_layout *l = c->l;
    struct strbuf v = STRBUF_INIT;
    raddr_t interp = 0, mod = 0, dict = 0, ver = 0;
    uint64_t modules = 0;

    if (c->numpy_major >= 0) {
        return c->numpy_major;
    }
    c->numpy_major = 0;
    if (py_runtime_interp_head(c->rt, &interp) == 0 && interp != 0 &&
        rd64(c, interp + l->interp_modules, &modules) == 0 &&
        dict_get_str(c, modules, "numpy", &mod) == 0 &&
        rd64(c, mod + l->module_dict, &dict) == 0 &&
        dict_get_str(c, dict, "__version__", &ver) == 0 &&
        read_str(c, ver, &v) == 0) {
        size_t i;

        /* "1.24.2", "2.0.0rc1": the digits before the first dot. */
        for (i = 0; i < v.len && i < 4 && v.buf[i] >= '0' && v.buf[i] <= '9';
             i++) {
            c->numpy_major = c->numpy_major * 10 + (v.buf[i] - '0');
        }
    }
    strbuf_release(&v);
    err_clear();
    return c->numpy_major;
}

/*
 * sys.getsizeof() of an ndarray: ndarray.__sizeof__() is the basic size,
 * its shape and strides, and the data when the array owns it (a view
 * does not; numpy's arrays can be most of a process's memory).
 */
static uint64_t
ndarray_size(struct census *c, raddr_t obj, const struct census_type *t)
{
    uint64_t size = (uint64_t)t->basicsize, descr = 0, dims[NDARRAY_MAXDIMS];
    uint64_t nbytes = 1, ptr = 0, elsize = 0, i;
    int32_t nd = 0, flags = 0;
    int major = numpy_major(c);

    if (rd(c, obj + NDARRAY_ND, &nd, 4) < 0 || nd < 0 ||
        nd > NDARRAY_MAXDIMS) {
        return size;
    }
    size += 16 * (uint64_t)nd;
    if (rd(c, obj + NDARRAY_FLAGS, &flags, 4) < 0 ||
        !(flags & NDARRAY_OWNDATA) || major == 0 ||
        rd64(c, obj + NDARRAY_DESCR, &descr) < 0 ||
        rd64(c, obj + NDARRAY_DIMENSIONS, &ptr) < 0 ||
        (nd > 0 && rd(c, ptr, dims, 8 * (size_t)nd) < 0)) {
        return size;
    }
    if (major == 1) {
        int32_t e = 0;

        if (rd(c, descr + DESCR_ELSIZE_V1, &e, 4) < 0 || e < 0) {
            return size;
        }
        elsize = (uint64_t)e;
    } else if (rd64(c, descr + DESCR_ELSIZE_V2, &elsize) < 0) {
        return size;
    }
    nbytes = elsize;
    for (i = 0; i < (uint64_t)nd; i++) {
        /* Dimensions are npy_intp, never negative; bound the product. */
        if ((int64_t)dims[i] < 0 ||
            (dims[i] != 0 && nbytes > (1ull << 48) / dims[i])) {
            return size;
        }
        nbytes *= dims[i];
    }
    return size + (nbytes < (1ull << 48) ? nbytes : 0);
}

/* ---- types ------------------------------------------------------------- */

static void
type_names(struct census *c, struct census_type *t, raddr_t tp_name,
           raddr_t ht_name, raddr_t dict)
{
    struct strbuf name = STRBUF_INIT, module = STRBUF_INIT;
    raddr_t mod;
    char *dot;

    if (t->heap && ht_name != 0 && read_str(c, ht_name, &name) == 0) {
        if (dict != 0 && dict_get_str(c, dict, "__module__", &mod) == 0 &&
            read_str(c, mod, &module) == 0) {
            goto done;
        }
        strbuf_reset(&module);
    }
    /* Static types: tp_name is "module.name", or "name" in builtins. */
    strbuf_reset(&name);
    if (tp_name == 0 ||
        py_cstr_read(&c->reader, tp_name, CENSUS_NAME_MAX, &name) < 0) {
        strbuf_reset(&name);
        strbuf_addstr(&name, "?");
    }
    dot = strrchr(name.buf, '.');
    if (dot != NULL) {
        strbuf_add(&module, name.buf, (size_t)(dot - name.buf));
        memmove(name.buf, dot + 1, strlen(dot + 1) + 1);
        name.len = strlen(name.buf);
    } else if (module.len == 0) {
        strbuf_addstr(&module, "builtins");
    }
done:
    t->name = strbuf_detach(&name);
    t->module = strbuf_detach(&module);
    err_clear();
}

static int
is_metatype(struct census *c, raddr_t meta)
{
    return (meta == c->b.types[CENSUS_TYPE] || plausible(meta)) &&
           py_type_is_metatype(&c->reader, meta, c->b.types[CENSUS_TYPE]);
}

/* The __slots__ members (T_OBJECT_EX) of one class, appended to t. */
static void
type_add_slots(struct census *c, struct census_type *t, raddr_t type)
{
    const struct py_layout *l = c->l;
    uint64_t members, n;
    unsigned char *buf;
    size_t i, esize = (size_t)l->memberdef_size;

    if (rd64(c, type + l->type_members, &members) < 0 || members == 0 ||
        rd64(c, type + l->var_size, &n) < 0 || n > CENSUS_MEMBERS_MAX) {
        return;
    }
    buf = scratch(c, (n + 1) * esize);
    if (rd(c, members, buf, n * esize) < 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        const unsigned char *m = buf + i * esize;
        int64_t off = (int64_t)load_u64(m, l->memberdef_offset);

        if (load_u64(m, l->memberdef_name) == 0) {
            break;
        }
        if ((int32_t)load_u32(m, l->memberdef_type) != T_OBJECT_EX ||
            off < 8 || off > t->basicsize - 8 || (off & 7) != 0) {
            continue;
        }
        t->slot_offsets =
            xrealloc(t->slot_offsets, (t->nslots + 1) * sizeof(int32_t));
        t->slot_names =
            xrealloc(t->slot_names, (t->nslots + 1) * sizeof(raddr_t));
        t->slot_offsets[t->nslots] = (int32_t)off;
        t->slot_names[t->nslots] = 0;
        t->nslots++;
    }
}

/* Names of the slots, from ht_slots (same order as the member table). */
static void
type_slot_names(struct census *c, struct census_type *t, raddr_t type,
                size_t first)
{
    const struct py_layout *l = c->l;
    uint64_t slots, n;
    size_t i;

    if (rd64(c, type + l->heaptype_slots, &slots) < 0 || slots == 0 ||
        rd64(c, slots + l->var_size, &n) < 0) {
        return;
    }
    for (i = first; i < t->nslots && i - first < n; i++) {
        rd64(c, slots + (raddr_t)l->tuple_item + 8 * (i - first),
             &t->slot_names[i]);
    }
}

static struct census_type *
type_load(struct census *c, struct census_type *t)
{
    const struct py_layout *l = c->l;
    unsigned char *buf;
    uint64_t meta, ht_name = 0, dict, flags, traverse;
    size_t len = (size_t)l->type_size;
    raddr_t cur;
    int i, k, have_static = 0;
    int64_t static_dictoffset = 0;

    buf = scratch(c, (size_t)l->heaptype_size);
    if (rd(c, t->addr, buf, len) < 0) {
        return t;
    }
    meta = load_u64(buf, l->obj_type);
    if (!is_metatype(c, meta)) {
        return t;
    }
    flags = load_u64(buf, l->type_flags);
    t->flags = flags;
    t->basicsize = (int64_t)load_u64(buf, l->type_basicsize);
    t->itemsize = (int64_t)load_u64(buf, l->type_itemsize);
    t->dictoffset = (int64_t)load_u64(buf, l->type_dictoffset);
    dict = load_u64(buf, l->type_dict);
    traverse = load_u64(buf, l->type_traverse);
    if (t->basicsize < 16 || t->basicsize > (1 << 24) || t->itemsize < 0 ||
        t->itemsize > (1 << 16)) {
        return t;
    }
    t->heap = (flags & (uint64_t)l->tpflags_heaptype) != 0;
    t->have_gc = (flags & (uint64_t)l->tpflags_have_gc) != 0;
    if (t->heap) {
        if (rd(c, t->addr + (raddr_t)len, buf + len,
               (size_t)l->heaptype_size - len) < 0) {
            return t;
        }
        ht_name = load_u64(buf, l->heaptype_name);
        if (pyl_has(l->heaptype_cached_keys)) {
            t->cached_keys = load_u64(buf, l->heaptype_cached_keys);
        }
    }
    t->keys_nentries = -1;
    /* buf is scratch: nothing below may use it. */
    type_names(c, t, load_u64(buf, l->type_name), ht_name, dict);
    buf = NULL;
    /* Kind: the nearest builtin in the tp_base chain.  On the way: the
     * __slots__ of every class, and the first static type's
     * dictoffset (a __dict__ the classes did not add is the base
     * type's business). */
    t->kind = CENSUS_OBJECT;
    cur = t->addr;
    for (i = 0; i < CENSUS_BASES_MAX && plausible(cur); i++) {
        uint64_t f, next, slots = 0;

        if (rd64(c, cur + l->type_flags, &f) < 0 ||
            rd64(c, cur + l->type_base, &next) < 0) {
            break;
        }
        if (f & (uint64_t)l->tpflags_heaptype) {
            if (rd64(c, cur + l->heaptype_slots, &slots) == 0 && slots) {
                size_t first = t->nslots;

                type_add_slots(c, t, cur);
                type_slot_names(c, t, cur, first);
            }
        } else if (!have_static) {
            rd(c, cur + (raddr_t)l->type_dictoffset, &static_dictoffset, 8);
            have_static = 1;
        }
        for (k = 0; k < CENSUS_KINDS; k++) {
            if (c->b.types[k] == cur) {
                break;
            }
        }
        if (k == CENSUS_KINDS && !(f & (uint64_t)l->tpflags_heaptype) &&
            is_ndarray_type(c, cur)) {
            t->ndarray = 1;
        }
        if (k < CENSUS_KINDS) {
            t->kind = k;
            break;
        }
        cur = next;
    }
    if (c->b.subtype_traverse != 0) {
        t->heap_class = t->heap && traverse == c->b.subtype_traverse;
    } else {
        t->heap_class =
            t->heap && !(pyl_has(l->tpflags_immutabletype) &&
                         (flags & (uint64_t)l->tpflags_immutabletype));
    }
    if (t->heap_class) {
        int managed = pyl_has(l->tpflags_managed_dict) &&
                      (flags & (uint64_t)l->tpflags_managed_dict);

        t->own_dict = managed || (t->dictoffset != 0 &&
                                  t->dictoffset != static_dictoffset);
    }
    t->valid = 1;
    err_clear();
    return t;
}

struct census_type *
census_type_get(struct census *c, raddr_t addr)
{
    struct census_type *t, **cached;
    void **slot;

    cached = &c->type_cache[(addr >> 4) & 255];
    if (*cached != NULL && (*cached)->addr == addr) {
        return *cached;
    }
    if (!plausible(addr)) {
        return NULL;
    }
    slot = hashmap_slot(&c->types, addr);
    if (*slot == NULL) {
        t = xcalloc(1, sizeof(*t));
        t->addr = addr;
        *slot = t;
        type_load(c, t);
    }
    *cached = *slot;
    return *slot;
}

/*
 * 2.7: what the instances of the old-style class at cls are counted
 * under: a copy of `instance`'s entry named after the class (cl_name,
 * and __module__ from its __dict__).  NULL when cls is not readable as a
 * class: the instance is then counted as an `instance`.
 */
static struct census_type *
census_class_get(struct census *c, raddr_t cls, const struct census_type *it)
{
    const struct py_layout *l = c->l;
    struct census_type *t;
    struct strbuf name = STRBUF_INIT, module = STRBUF_INIT;
    uint64_t type = 0, cl_name = 0, cl_dict = 0;
    raddr_t mod;
    void **slot;

    if (!plausible(cls)) {
        return NULL;
    }
    slot = hashmap_slot(&c->classes, cls);
    if (*slot != NULL) {
        return *slot == &not_a_class ? NULL : *slot;
    }
    if (rd64(c, cls + l->obj_type, &type) < 0 ||
        type != c->b.types[CENSUS_CLASSOBJ] ||
        rd64(c, cls + l->class_name, &cl_name) < 0 ||
        rd64(c, cls + l->class_dict, &cl_dict) < 0 ||
        read_str(c, cl_name, &name) < 0) {
        strbuf_release(&name);
        hashmap_put(&c->classes, cls, &not_a_class);
        err_clear();
        return NULL;
    }
    if (cl_dict == 0 || dict_get_str(c, cl_dict, "__module__", &mod) < 0 ||
        read_str(c, mod, &module) < 0) {
        strbuf_reset(&module);
        strbuf_addstr(&module, "?");
    }
    err_clear();
    t = xcalloc(1, sizeof(*t));
    *t = *it;
    t->addr = cls;
    t->name = strbuf_detach(&name);
    t->module = strbuf_detach(&module);
    t->slot_offsets = NULL;
    t->slot_names = NULL;
    t->nslots = 0;
    t->count = t->bytes = t->tracked = 0;
    hashmap_put(&c->classes, cls, t);
    return t;
}

void
census_types(const struct census *c, struct census_type ***types, size_t *n)
{
    struct census_type **v =
        xmalloc((c->types.count + c->classes.count + 1) * sizeof(*v));
    size_t i = 0, k = 0;
    uint64_t key;
    void *value;

    while (hashmap_next(&c->types, &i, &key, &value)) {
        v[k++] = value;
    }
    i = 0;
    while (hashmap_next(&c->classes, &i, &key, &value)) {
        if (value != NULL && value != &not_a_class) {
            v[k++] = value;
        }
    }
    *types = v;
    *n = k;
}

/* ---- dict keys --------------------------------------------------------- */

/* pyobj's decoders, with the census's bound on what one object holds. */
static int
keys_bound(int rc, const struct py_dict_keys *k)
{
    return rc == 0 && k->nentries > CENSUS_ITEMS_MAX ? PS_ECORRUPT : rc;
}

static int
keys_read(struct census *c, raddr_t keys, struct py_dict_keys *k)
{
    if (!plausible(keys)) {
        return PS_ECORRUPT;
    }
    return keys_bound(py_dict_keys_read(&c->reader, keys, k), k);
}

/* The table of the dict whose header is hdr; *values as it is stored. */
static int
dict_table(struct census *c, const unsigned char *hdr, struct py_dict_keys *k,
           raddr_t *values)
{
    return keys_bound(py_dict_table(&c->reader, hdr, k, values), k);
}

/* _PyDict_KeysSize(): what a dict owning its keys adds to its size. */
static uint64_t
keys_bytes(const struct census *c, const struct py_dict_keys *k)
{
    return (uint64_t)c->l->dictkeys_indices + k->index_bytes +
           (k->size * 2 / 3) * (uint64_t)k->entry_size;
}

/* ---- sizes ------------------------------------------------------------- */

static uint64_t
str_size(struct census *c, raddr_t obj, const unsigned char *hdr, size_t hlen)
{
    const struct py_layout *l = c->l;
    uint64_t length = load_u64(hdr, l->unicode_length);
    uint64_t size, utf8 = 0, data;
    struct py_str_state st;
    unsigned kind;
    int compact, ascii;

    if (pyl_has(l->unicode_str)) {
        /* 2.7: unicode.__sizeof__ counts the object and its buffer,
         * with the NUL. */
        return (uint64_t)l->unicode_object_size +
               (length < (1ull << 40) ? length + 1 : 0) *
                   (uint64_t)l->unicode_char_size;
    }
    /* kind 0: a legacy str not made ready (3.6-3.11), data elsewhere. */
    if (py_str_state(l, load_u32(hdr, l->unicode_state), &st) < 0 ||
        length > (1ull << 40) || st.kind == 3 || st.kind > 4) {
        return (uint64_t)l->unicode_ascii_size;
    }
    kind = (unsigned)st.kind;
    compact = st.compact;
    ascii = st.ascii;
    if (compact && ascii) {
        return (uint64_t)l->unicode_ascii_size + length + 1 +
               (pyl_has(l->unicode_wstr) &&
                        (size_t)l->unicode_wstr + 8 <= hlen &&
                        load_u64(hdr, l->unicode_wstr) != 0 &&
                        load_u64(hdr, l->unicode_wstr) !=
                            obj + (raddr_t)l->unicode_ascii_size
                    ? (length + 1) * 4
                    : 0);
    }
    if (compact) {
        size = (uint64_t)l->unicode_compact_size + (length + 1) * kind;
        data = obj + (raddr_t)l->unicode_compact_size;
    } else {
        size = (uint64_t)l->unicode_object_size;
        data = 0;
        if ((size_t)l->unicode_data_any + 8 <= hlen) {
            data = load_u64(hdr, l->unicode_data_any);
        } else {
            rd64(c, obj + l->unicode_data_any, &data);
        }
        if (data != 0) {
            size += (length + 1) * kind;
        }
    }
    if ((size_t)l->unicode_utf8 + 8 <= hlen) {
        utf8 = load_u64(hdr, l->unicode_utf8);
    }
    if (utf8 != 0 && utf8 != data) {
        uint64_t n = load_u64(hdr, l->unicode_utf8_length);

        size += n < (1ull << 40) ? n + 1 : 0;
    }
    if (pyl_has(l->unicode_wstr) && (size_t)l->unicode_wstr + 8 <= hlen &&
        (size_t)l->unicode_wstr_length + 8 <= hlen) {
        uint64_t wstr = load_u64(hdr, l->unicode_wstr);
        uint64_t n = load_u64(hdr, l->unicode_wstr_length);

        if (wstr != 0 && wstr != data && n < (1ull << 40)) {
            size += (n + 1) * 4;
        }
    }
    return size;
}

static uint64_t
dict_size(struct census *c, struct census_type *t, raddr_t obj,
          const unsigned char *hdr)
{
    const struct py_layout *l = c->l;
    raddr_t values;
    uint64_t size = (uint64_t)t->basicsize;
    struct py_dict_keys k;

    if (dict_table(c, hdr, &k, &values) < 0) {
        return size;
    }
    if (pyl_has(l->dict_table)) {
        /* 2.7: the table, unless it is the small one inside. */
        if (k.entries != obj + (raddr_t)l->dict_smalltable) {
            size += k.size * (uint64_t)k.entry_size;
        }
        return size;
    }
    if (values != 0) {
        unsigned char embedded = 0;

        if (pyl_has(l->dictvalues_embedded)) {
            rd(c, values + (raddr_t)l->dictvalues_embedded, &embedded, 1);
        }
        if (!embedded) {
            size += 8 * (pyl_has(l->dictkeys_size) ? k.size * 2 / 3
                                                   : k.nentries + k.usable);
        }
    }
    if (k.refcnt == 1) {
        size += keys_bytes(c, &k);
    }
    return size;
}

static uint64_t
type_object_size(struct census *c, raddr_t obj)
{
    const struct py_layout *l = c->l;
    uint64_t flags, keys;
    struct py_dict_keys k;
    uint64_t size;

    if (rd64(c, obj + l->type_flags, &flags) < 0 ||
        !(flags & (uint64_t)l->tpflags_heaptype)) {
        return (uint64_t)l->type_size;
    }
    size = (uint64_t)l->heaptype_size;
    if (rd64(c, obj + l->heaptype_cached_keys, &keys) == 0 && keys != 0 &&
        keys_read(c, keys, &k) == 0) {
        size += keys_bytes(c, &k);
    }
    return size;
}

/*
 * A 3.11+ generator, coroutine or async generator holds its frame inline:
 * gen.__sizeof__() adds its co_nlocalsplus + co_stacksize slots to the
 * basic size.  (The object has no ob_size: the word there is another
 * field, read as a count it once made a coroutine 1.2 MB.)
 */
static uint64_t
generator_size(struct census *c, raddr_t obj, const struct census_type *t)
{
    const struct py_layout *l = c->l;
    uint64_t code = 0, slots;
    int32_t nlocalsplus = 0, stacksize = 0;
    void *cached;

    if (pyl_has(l->gen_code)) {
        rd64(c, obj + l->gen_code, &code);
    } else {
        rd64(c, obj + (raddr_t)l->gen_iframe + (raddr_t)l->iframe_code, &code);
        code = pyl_stackref_object(l, code); /* tagged, 3.14+ */
    }
    if (code == 0) {
        return (uint64_t)t->basicsize;
    }
    cached = hashmap_get(&c->codes, code);
    if (cached != NULL) {
        slots = (uint64_t)(uintptr_t)cached - 1;
    } else {
        if (rd(c, code + (raddr_t)l->code_nlocalsplus, &nlocalsplus, 4) < 0 ||
            rd(c, code + (raddr_t)l->code_stacksize, &stacksize, 4) < 0 ||
            nlocalsplus < 0 || stacksize < 0 ||
            nlocalsplus + (int64_t)stacksize > 1000000) {
            return (uint64_t)t->basicsize;
        }
        slots = (uint64_t)nlocalsplus + (uint64_t)stacksize;
        hashmap_put(&c->codes, code, (void *)(uintptr_t)(slots + 1));
    }
    return (uint64_t)t->basicsize + 8 * slots;
}

/* sys.getsizeof(obj). */
static uint64_t
object_size(struct census *c, raddr_t obj, struct census_type *t,
            const unsigned char *hdr, size_t hlen)
{
    const struct py_layout *l = c->l;
    uint64_t size = 0, pre = 0, v;
    int64_t n;

    if (t->have_gc) {
        pre = (uint64_t)l->gchead_size;
    }
    if (pyl_has(l->preheader_size)) {
        uint64_t pflags = pyl_has(l->tpflags_managed_dict)
                              ? (uint64_t)l->tpflags_managed_dict
                              : 0;

        if (pyl_has(l->tpflags_managed_weakref)) {
            pflags |= (uint64_t)l->tpflags_managed_weakref;
        }
        if (t->flags & pflags) {
            pre += (uint64_t)l->preheader_size;
        }
    }
    if (t->ndarray) {
        return ndarray_size(c, obj, t) + pre;
    }
    switch (t->kind) {
    case CENSUS_STR:
        size = str_size(c, obj, hdr, hlen);
        break;
    case CENSUS_BYTES:
        /* bytes.__sizeof__ (2.7: str's) counts the bytes object's own
         * size, not a subclass's: the __dict__ slot is not in it. */
        n = (int64_t)load_u64(hdr, l->var_size);
        size = (uint64_t)l->bytes_sval + 1 +
               ((uint64_t)n < CENSUS_ITEMS_MAX ? (uint64_t)n : 0);
        break;
    case CENSUS_INT:
        if (pyl_has(l->long_lv_tag)) {
            n = (int64_t)(load_u64(hdr, l->long_lv_tag) >> 3);
        } else {
            n = (int64_t)py_var_count(load_u64(hdr, l->var_size));
        }
        if (n < l->long_min_digits) {
            n = l->long_min_digits;
        }
        size = (uint64_t)l->long_digit + 4 * (uint64_t)n;
        break;
    case CENSUS_LIST:
        v = load_u64(hdr, l->list_allocated);
        size = (uint64_t)t->basicsize + 8 * (v < CENSUS_ITEMS_MAX ? v : 0);
        break;
    case CENSUS_DICT:
        size = dict_size(c, t, obj, hdr);
        break;
    case CENSUS_SET:
    case CENSUS_FROZENSET:
        size = (uint64_t)t->basicsize;
        v = load_u64(hdr, l->set_mask);
        if (load_u64(hdr, l->set_table) != obj + (raddr_t)l->set_smalltable &&
            v < CENSUS_ITEMS_MAX) {
            size += (v + 1) * (uint64_t)l->setentry_size;
        }
        break;
    case CENSUS_BYTEARRAY:
        v = load_u64(hdr, l->bytearray_alloc);
        size = (uint64_t)t->basicsize + (v < (1ull << 40) ? v : 0);
        /* 3.15 keeps the buffer in a bytes object: its header counts. */
        if (pyl_has(l->bytearray_bytes_object) && v > 0 && v < (1ull << 40)) {
            size += (uint64_t)l->bytes_sval + 1;
        }
        break;
    case CENSUS_FRAME:
        size = (uint64_t)t->basicsize;
        n = (int64_t)load_u64(hdr, l->var_size);
        if (pyl_has(l->frame_localsplus) && n > 0 &&
            (uint64_t)n < CENSUS_ITEMS_MAX) {
            /* <=3.10: frame.__sizeof__() counts one slot fewer than
             * ob_size, the first being inside PyFrameObject already. */
            size += (uint64_t)(n - 1) * (uint64_t)t->itemsize;
        }
        break;
    case CENSUS_GENERATOR:
    case CENSUS_COROUTINE:
    case CENSUS_ASYNCGEN:
        if (pyl_has(l->gen_iframe)) {
            size = generator_size(c, obj, t);
        } else {
            size = (uint64_t)t->basicsize;
        }
        break;
    case CENSUS_TYPE:
        if (pyl_has(l->getsizeof_type_basic)) {
            /* 2.7: object.__sizeof__ (the metatype's basic size, and an
             * item per __slots__ member); a GC header only for heap
             * types, as type_is_gc says. */
            uint64_t flags = 0;

            n = (int64_t)load_u64(hdr, l->var_size);
            size = (uint64_t)t->basicsize +
                   ((uint64_t)n < CENSUS_ITEMS_MAX
                        ? (uint64_t)n * (uint64_t)t->itemsize
                        : 0);
            rd64(c, obj + l->type_flags, &flags);
            pre = (flags & (uint64_t)l->tpflags_heaptype)
                      ? (uint64_t)l->gchead_size
                      : 0;
            break;
        }
        size = type_object_size(c, obj);
        if (size == (uint64_t)l->type_size) {
            /* A static type: only 3.11-3.12 count a pre-header. */
            pre = l->getsizeof_static_type_gc ? (uint64_t)l->gchead_size : 0;
        }
        break;
    default:
        size = (uint64_t)t->basicsize;
        if (t->itemsize > 0) {
            n = (int64_t)py_var_count(load_u64(hdr, l->var_size));
            if ((uint64_t)n < CENSUS_ITEMS_MAX) {
                size += (uint64_t)n * (uint64_t)t->itemsize;
            }
        }
        break;
    }
    return size + pre;
}

/* ---- references -------------------------------------------------------- */

static void
emit(census_ref_fn fn, void *arg, raddr_t to, int edge, uint64_t index,
     raddr_t key, const char *field)
{
    struct census_ref r;

    if (to == 0) {
        return;
    }
    r.to = to;
    r.edge = edge;
    r.index = index;
    r.key = key;
    r.field = field;
    fn(arg, &r);
}

/* n pointers at addr. */
static int
emit_array(struct census *c, raddr_t addr, uint64_t n, int edge,
           const raddr_t *keys, census_ref_fn fn, void *arg)
{
    uint64_t i, done = 0;
    int rc;

    if (n > CENSUS_ITEMS_MAX) {
        return PS_ELIMIT;
    }
    if (c->ptrs_alloc < CENSUS_BATCH) {
        c->ptrs = xrealloc(c->ptrs, CENSUS_BATCH * sizeof(uint64_t));
        c->ptrs_alloc = CENSUS_BATCH;
    }
    while (done < n) {
        uint64_t batch = n - done < CENSUS_BATCH ? n - done : CENSUS_BATCH;

        rc = rd(c, addr + 8 * done, c->ptrs, batch * 8);
        if (rc < 0) {
            return rc;
        }
        for (i = 0; i < batch; i++) {
            emit(fn, arg, c->ptrs[i], edge, done + i,
                 keys ? keys[done + i] : 0, NULL);
        }
        done += batch;
    }
    return 0;
}

/* Keys and values of a dict's keys object (values from the entries, or
 * from a split values array). */
static int
emit_keys(struct census *c, const struct py_dict_keys *k, raddr_t values,
          int key_edge, int value_edge, census_ref_fn fn, void *arg)
{
    size_t esize = (size_t)k->entry_size;
    uint64_t done = 0, i;
    unsigned char *ents;
    int rc;

    if (c->ptrs_alloc < CENSUS_BATCH) {
        c->ptrs = xrealloc(c->ptrs, CENSUS_BATCH * sizeof(uint64_t));
        c->ptrs_alloc = CENSUS_BATCH;
    }
    while (done < k->nentries) {
        uint64_t batch = k->nentries - done;

        batch = batch < CENSUS_BATCH ? batch : CENSUS_BATCH;
        ents = scratch(c, batch * esize);
        rc = rd(c, k->entries + done * esize, ents, batch * esize);
        if (rc == 0 && values != 0) {
            rc = rd(c, values + 8 * done, c->ptrs, batch * 8);
        }
        if (rc < 0) {
            return rc;
        }
        for (i = 0; i < batch; i++) {
            raddr_t key = load_u64(ents + i * esize, k->key_off);
            raddr_t value =
                values ? c->ptrs[i] : load_u64(ents + i * esize, k->value_off);

            if (key == 0 || value == 0) {
                continue; /* empty, deleted, or no such attribute */
            }
            if (key_edge >= 0) {
                emit(fn, arg, key, key_edge, done + i, 0, NULL);
            }
            emit(fn, arg, value, value_edge, done + i, key, NULL);
        }
        done += batch;
    }
    return 0;
}

/*
 * A set's table: mask + 1 entries of esize bytes at table; an entry with
 * a key that is not the dummy is a member.  (A dict's table, 2.7's too,
 * is read as keys by py_dict_table().)
 */
static int
table_referents(struct census *c, raddr_t table, uint64_t mask, size_t esize,
                int32_t key_off, census_ref_fn fn, void *arg)
{
    uint64_t done = 0, i;
    unsigned char *ents;
    int rc;

    if (mask >= CENSUS_ITEMS_MAX || (mask & (mask + 1)) != 0) {
        return PS_ECORRUPT;
    }
    while (done <= mask) {
        uint64_t batch = mask + 1 - done;

        batch = batch < CENSUS_BATCH ? batch : CENSUS_BATCH;
        ents = scratch(c, batch * esize);
        rc = rd(c, table + done * esize, ents, batch * esize);
        if (rc < 0) {
            return rc;
        }
        for (i = 0; i < batch; i++) {
            raddr_t key = load_u64(ents + i * esize, key_off);

            if (key != 0 && key != c->b.set_dummy) {
                emit(fn, arg, key, CENSUS_EDGE_MEMBER, done + i, 0, NULL);
            }
        }
        done += batch;
    }
    return 0;
}

static int
dict_referents(struct census *c, const unsigned char *hdr, census_ref_fn fn,
               void *arg)
{
    raddr_t values;
    struct py_dict_keys k;
    int rc;

    rc = dict_table(c, hdr, &k, &values);
    if (rc < 0) {
        return rc;
    }
    if (values != 0) {
        values += (raddr_t)c->l->dictvalues_values;
    }
    return emit_keys(c, &k, values, CENSUS_EDGE_KEY, CENSUS_EDGE_VALUE, fn,
                     arg);
}

/*
 * 2.7's set dummy is a static of setobject.c that no symbol names
 * uniquely: the string "<dummy key>" found in a table with deleted
 * entries (fill > used).
 */
static void
find_set_dummy_27(struct census *c, const unsigned char *hdr)
{
    const struct py_layout *l = c->l;
    raddr_t table = load_u64(hdr, l->set_table);
    uint64_t mask = load_u64(hdr, l->set_mask), i;
    static const char dummy[] = "<dummy key>";

    if (load_u64(hdr, l->set_fill) <= load_u64(hdr, l->set_used) ||
        mask >= CENSUS_ITEMS_MAX) {
        return;
    }
    for (i = 0; i <= mask; i++) {
        unsigned char obj[64];
        uint64_t key;

        if (rd64(c, table + i * (uint64_t)l->setentry_size + l->setentry_key,
                 &key) < 0 ||
            key == 0 || !plausible(key) ||
            (size_t)l->bytes_sval + sizeof(dummy) > sizeof(obj) ||
            rd(c, key, obj, (size_t)l->bytes_sval + sizeof(dummy)) < 0) {
            continue;
        }
        if (load_u64(obj, l->obj_type) == c->b.types[CENSUS_BYTES] &&
            load_u64(obj, l->var_size) == sizeof(dummy) - 1 &&
            memcmp(obj + l->bytes_sval, dummy, sizeof(dummy)) == 0) {
            c->b.set_dummy = key;
            return;
        }
    }
}

static int
set_referents(struct census *c, const unsigned char *hdr, census_ref_fn fn,
              void *arg)
{
    const struct py_layout *l = c->l;

    if (c->b.set_dummy == 0 && pyl_has(l->str_is_bytes)) {
        find_set_dummy_27(c, hdr);
    }
    return table_referents(c, load_u64(hdr, l->set_table),
                           load_u64(hdr, l->set_mask),
                           (size_t)l->setentry_size, l->setentry_key, fn, arg);
}

/* Attribute values kept without a dict (3.11+), named by the class's
 * shared keys. */
static int
values_referents(struct census *c, struct census_type *t, raddr_t values,
                 uint64_t capacity, census_ref_fn fn, void *arg)
{
    struct py_dict_keys k;
    int rc;

    rc = keys_read(c, t->cached_keys, &k);
    if (rc < 0) {
        return rc;
    }
    if (k.nentries > capacity) {
        k.nentries = capacity;
    }
    return emit_keys(c, &k, values + (raddr_t)c->l->dictvalues_values, -1,
                     CENSUS_EDGE_ATTR, fn, arg);
}

/* The __dict__ (or the values) an instance of a class keeps. */
static int
instance_dict_referents(struct census *c, raddr_t obj, struct census_type *t,
                        const unsigned char *hdr, size_t hlen,
                        census_ref_fn fn, void *arg)
{
    const struct py_layout *l = c->l;
    uint64_t dict = 0, values = 0;
    int rc;

    if (pyl_has(l->tpflags_managed_dict) &&
        (t->flags & (uint64_t)l->tpflags_managed_dict)) {
        uint64_t slot;

        rc = rd64(c, obj + l->obj_managed_dict, &slot);
        if (rc < 0) {
            return rc;
        }
        if (pyl_has(l->obj_managed_values)) {
            /* 3.11: values until a dict is made from them. */
            rc = rd64(c, obj + l->obj_managed_values, &values);
            if (rc < 0) {
                return rc;
            }
            dict = slot;
        } else if (l->obj_managed_dict_tagged == 1) {
            /* 3.12: one slot, values - 1 (bit 0 set) or a dict. */
            if (slot & 1) {
                values = slot + 1;
            } else {
                dict = slot;
            }
        } else {
            dict = slot;
            if (pyl_has(l->tpflags_inline_values) &&
                (t->flags & (uint64_t)l->tpflags_inline_values)) {
                /* 3.13: values inline after the object; a dict made
                 * from them shares them, and traverse visits the values
                 * while they are valid. */
                unsigned char vh[8];
                raddr_t inl = obj + (raddr_t)t->basicsize;

                rc = rd(c, inl, vh, sizeof(vh));
                if (rc < 0) {
                    return rc;
                }
                if (vh[l->dictvalues_valid]) {
                    return values_referents(
                        c, t, inl, vh[l->dictvalues_capacity], fn, arg);
                }
            }
        }
        if (values != 0) {
            return values_referents(c, t, values, CENSUS_ITEMS_MAX, fn, arg);
        }
    } else if (t->dictoffset > 0 && t->dictoffset < (1 << 24)) {
        if ((size_t)t->dictoffset + 8 <= hlen) {
            dict = load_u64(hdr, (int32_t)t->dictoffset);
        } else {
            rc = rd64(c, obj + (raddr_t)t->dictoffset, &dict);
            if (rc < 0) {
                return rc;
            }
        }
    } else if (t->dictoffset < 0 && t->dictoffset > -(1 << 24)) {
        /* Variable-size objects keep __dict__ after their items. */
        uint64_t count = py_var_count(load_u64(hdr, l->var_size));
        int64_t n, size;

        if (count > CENSUS_ITEMS_MAX) {
            return PS_ECORRUPT;
        }
        n = (int64_t)count;
        size = (t->basicsize + n * t->itemsize + 7) & ~(int64_t)7;
        rc = rd64(c, obj + (raddr_t)(size + t->dictoffset), &dict);
        if (rc < 0) {
            return rc;
        }
    }
    emit(fn, arg, dict, CENSUS_EDGE_DICT, 0, 0, NULL);
    return 0;
}

static int
fields_referents(struct census *c, raddr_t obj, const unsigned char *hdr,
                 size_t hlen, const int32_t *offs, const char *const *names,
                 size_t n, census_ref_fn fn, void *arg)
{
    size_t i;

    for (i = 0; i < n; i++) {
        uint64_t v = 0;

        if (!pyl_has(offs[i])) {
            continue;
        }
        if (offs[i] >= 0 && (size_t)offs[i] + 8 <= hlen) {
            v = load_u64(hdr, offs[i]);
        } else if (rd64(c, obj + (raddr_t)offs[i], &v) < 0) {
            return PS_EFAULT;
        }
        emit(fn, arg, v, CENSUS_EDGE_FIELD, i, 0, names[i]);
    }
    return 0;
}

static int
function_referents(struct census *c, raddr_t obj, const unsigned char *hdr,
                   size_t hlen, census_ref_fn fn, void *arg)
{
    const struct py_layout *l = c->l;
    const int32_t offs[] = {
        l->func_code,       l->func_globals,     l->func_builtins,
        l->func_module,     l->func_defaults,    l->func_kwdefaults,
        l->func_doc,        l->func_name,        l->func_dict,
        l->func_closure,    l->func_annotations, l->func_qualname,
        l->func_typeparams,
    };
    static const char *const names[] = {
        "__code__",        "__globals__",    "__builtins__",    "__module__",
        "__defaults__",    "__kwdefaults__", "__doc__",         "__name__",
        "__dict__",        "__closure__",    "__annotations__", "__qualname__",
        "__type_params__",
    };

    return fields_referents(c, obj, hdr, hlen, offs, names,
                            sizeof(offs) / sizeof(offs[0]), fn, arg);
}

static int
type_referents(struct census *c, raddr_t obj, census_ref_fn fn, void *arg)
{
    const struct py_layout *l = c->l;
    const int32_t offs[] = {
        l->type_dict,  l->type_cache, l->type_mro,
        l->type_bases, l->type_base,  l->heaptype_module,
    };
    static const char *const names[] = {
        "__dict__",  "__cache__", "__mro__",
        "__bases__", "__base__",  "__module_object__",
    };
    uint64_t flags;

    /* type_traverse is only ever called for heap types. */
    if (rd64(c, obj + l->type_flags, &flags) < 0) {
        return PS_EFAULT;
    }
    if (!(flags & (uint64_t)l->tpflags_heaptype)) {
        return 0;
    }
    return fields_referents(c, obj, NULL, 0, offs, names,
                            sizeof(offs) / sizeof(offs[0]), fn, arg);
}

/* Slots of a frame: (<= 3.10) nlocals + cells + frees of f_code, or
 * (3.11+) co_nlocalsplus; and the names. */
static int
frame_code_info(struct census *c, raddr_t code, uint64_t *nslots,
                raddr_t names[3], uint64_t counts[3])
{
    const struct py_layout *l = c->l;
    int32_t nlocals = 0;
    int rc, i;

    memset(counts, 0, 3 * sizeof(uint64_t));
    names[0] = names[1] = names[2] = 0;
    if (pyl_has(l->code_localsplusnames)) {
        rc = rd(c, code + (raddr_t)l->code_nlocalsplus, &nlocals, 4);
        if (rc == 0) {
            rc = rd64(c, code + l->code_localsplusnames, &names[0]);
        }
        counts[0] = nlocals > 0 ? (uint64_t)nlocals : 0;
    } else {
        rc = rd(c, code + (raddr_t)l->code_nlocals, &nlocals, 4);
        if (rc == 0) {
            rc = rd64(c, code + l->code_varnames, &names[0]);
        }
        if (rc == 0) {
            rc = rd64(c, code + l->code_cellvars, &names[1]);
        }
        if (rc == 0) {
            rc = rd64(c, code + l->code_freevars, &names[2]);
        }
        counts[0] = nlocals > 0 ? (uint64_t)nlocals : 0;
        for (i = 1; rc == 0 && i < 3; i++) {
            if (names[i] != 0) {
                rc = rd64(c, names[i] + l->var_size, &counts[i]);
            }
        }
    }
    if (rc < 0) {
        return rc;
    }
    *nslots = counts[0] + counts[1] + counts[2];
    return *nslots > 65536 ? PS_ECORRUPT : 0;
}

/* The locals at localsplus of a frame running code. */
static int
locals_referents(struct census *c, raddr_t code, raddr_t localsplus,
                 census_ref_fn fn, void *arg)
{
    const struct py_layout *l = c->l;
    uint64_t nslots, counts[3], i, base = 0;
    raddr_t names[3];
    int rc, part;

    rc = frame_code_info(c, code, &nslots, names, counts);
    if (rc < 0 || nslots == 0) {
        return rc;
    }
    if (c->ptrs_alloc < nslots) {
        c->ptrs = xrealloc(c->ptrs, nslots * sizeof(uint64_t));
        c->ptrs_alloc = nslots;
    }
    rc = rd(c, localsplus, c->ptrs, nslots * 8);
    if (rc < 0) {
        return rc;
    }
    for (i = 0; i < nslots; i++) {
        c->ptrs[i] = pyl_stackref_object(l, c->ptrs[i]);
    }
    for (part = 0; part < 3; part++) {
        for (i = 0; i < counts[part]; i++) {
            uint64_t name = 0;

            if (names[part] != 0) {
                rd64(c, names[part] + (raddr_t)l->tuple_item + 8 * i, &name);
            }
            emit(fn, arg, c->ptrs[base + i], CENSUS_EDGE_LOCAL, base + i, name,
                 NULL);
        }
        base += counts[part];
    }
    return 0;
}

int
census_frame_locals(struct census *c, raddr_t frame, census_ref_fn fn,
                    void *arg)
{
    const struct py_layout *l = c->l;
    uint64_t code;
    int rc;

    if (pyl_has(l->frame_localsplus)) {
        rc = rd64(c, frame + l->frame_code, &code);
        return rc < 0 ? rc
                      : locals_referents(c, code,
                                         frame + (raddr_t)l->frame_localsplus,
                                         fn, arg);
    }
    rc = rd64(c, frame + l->iframe_code, &code);
    if (rc < 0) {
        return rc;
    }
    code = pyl_stackref_object(l, code);
    if (code == 0) {
        return 0;
    }
    /* 3.13: f_executable may be something other than a code object. */
    if (c->b.types[CENSUS_CODE] != 0) {
        uint64_t type;

        rc = rd64(c, code + l->obj_type, &type);
        if (rc < 0 || type != c->b.types[CENSUS_CODE]) {
            return rc < 0 ? rc : 0;
        }
    }
    return locals_referents(c, code, frame + (raddr_t)l->iframe_localsplus, fn,
                            arg);
}

static int
frame_object_referents(struct census *c, raddr_t obj, census_ref_fn fn,
                       void *arg)
{
    const struct py_layout *l = c->l;
    uint64_t iframe;

    if (pyl_has(l->frame_localsplus)) {
        return census_frame_locals(c, obj, fn, arg);
    }
    if (rd64(c, obj + l->frame_iframe, &iframe) < 0 || iframe == 0) {
        return 0;
    }
    return census_frame_locals(c, iframe, fn, arg);
}

static int
generator_referents(struct census *c, raddr_t obj, census_ref_fn fn, void *arg)
{
    const struct py_layout *l = c->l;
    uint64_t frame;
    int8_t state;

    if (pyl_has(l->gen_frame)) {
        if (rd64(c, obj + l->gen_frame, &frame) < 0) {
            return PS_EFAULT;
        }
        emit(fn, arg, frame, CENSUS_EDGE_FIELD, 0, 0, "gi_frame");
        return 0;
    }
    /* 3.11+: the frame lives inside the generator; its locals are only
     * meaningful until it has run to completion. */
    if (rd(c, obj + (raddr_t)l->gen_frame_state, &state, 1) < 0) {
        return PS_EFAULT;
    }
    if (state >= l->gen_state_finished) {
        return 0;
    }
    return census_frame_locals(c, obj + (raddr_t)l->gen_iframe, fn, arg);
}

/* Read the first bytes of an object: up to its basicsize. */
static int
read_header(struct census *c, raddr_t obj, unsigned char *hdr, size_t *hlen,
            struct census_type **tp)
{
    const struct py_layout *l = c->l;
    struct census_type *t;
    size_t want;
    int rc;

    rc = rd(c, obj, hdr, 32);
    if (rc < 0) {
        rc = rd(c, obj, hdr, 16);
        if (rc < 0) {
            return rc;
        }
        memset(hdr + 16, 0, 16);
    }
    t = census_type_get(c, load_u64(hdr, l->obj_type));
    if (t == NULL || !t->valid) {
        return PS_ECORRUPT;
    }
    if (t->kind == CENSUS_INSTANCE && pyl_has(l->instance_class) &&
        (size_t)l->instance_class + 8 <= 32) {
        /* 2.7: an old-style instance counts under its class. */
        struct census_type *ct =
            census_class_get(c, load_u64(hdr, l->instance_class), t);

        if (ct != NULL) {
            t = ct;
        }
    }
    want = t->basicsize < CENSUS_HEADER_MAX ? (size_t)t->basicsize
                                            : CENSUS_HEADER_MAX;
    want = (want + 7) & ~(size_t)7;
    if (want < 32) {
        want = 32;
    }
    if (want > 32 && rd(c, obj + 32, hdr + 32, want - 32) < 0) {
        /* The object's first 32 bytes only: what lies past them reads
         * as zero, not as the stack's leftovers (a str's state word,
         * say, which not every reader checks against hlen). */
        memset(hdr + 32, 0, want - 32);
        want = 32;
    }
    *hlen = want;
    *tp = t;
    return 0;
}

static int
referents(struct census *c, raddr_t obj, struct census_type *t,
          const unsigned char *hdr, size_t hlen, census_ref_fn fn, void *arg)
{
    const struct py_layout *l = c->l;
    int rc = 0, rc2;
    uint64_t n, v;
    size_t i;

    /* Instances of classes: __slots__, then the __dict__ (what
     * subtype_traverse visits before the base type's traverse). */
    if (t->heap_class && t->kind != CENSUS_TYPE) {
        for (i = 0; i < t->nslots; i++) {
            int32_t off = t->slot_offsets[i];

            if ((size_t)off + 8 <= hlen) {
                v = load_u64(hdr, off);
            } else if (rd64(c, obj + (raddr_t)off, &v) < 0) {
                rc = PS_EFAULT;
                continue;
            }
            emit(fn, arg, v, CENSUS_EDGE_SLOT, i, t->slot_names[i], NULL);
        }
        if (t->own_dict) {
            rc2 = instance_dict_referents(c, obj, t, hdr, hlen, fn, arg);
            rc = rc2 < 0 ? rc2 : rc;
        }
    }
    switch (t->kind) {
    case CENSUS_TUPLE:
        n = load_u64(hdr, l->var_size);
        rc2 = emit_array(c, obj + (raddr_t)l->tuple_item, n, CENSUS_EDGE_ITEM,
                         NULL, fn, arg);
        break;
    case CENSUS_LIST:
        n = load_u64(hdr, l->var_size);
        v = load_u64(hdr, l->list_allocated);
        rc2 = n > v ? PS_ECORRUPT
                    : emit_array(c, load_u64(hdr, l->list_item), n,
                                 CENSUS_EDGE_ITEM, NULL, fn, arg);
        break;
    case CENSUS_DICT:
        rc2 = dict_referents(c, hdr, fn, arg);
        break;
    case CENSUS_SET:
    case CENSUS_FROZENSET:
        rc2 = set_referents(c, hdr, fn, arg);
        break;
    case CENSUS_FUNCTION:
        rc2 = function_referents(c, obj, hdr, hlen, fn, arg);
        break;
    case CENSUS_METHOD:
        emit(fn, arg, load_u64(hdr, l->method_func), CENSUS_EDGE_FIELD, 0, 0,
             "__func__");
        emit(fn, arg, load_u64(hdr, l->method_self), CENSUS_EDGE_FIELD, 1, 0,
             "__self__");
        if (pyl_has(l->method_class)) {
            emit(fn, arg, load_u64(hdr, l->method_class), CENSUS_EDGE_FIELD, 2,
                 0, "im_class");
        }
        rc2 = 0;
        break;
    case CENSUS_INSTANCE: {
        const int32_t offs[] = {l->instance_class, l->instance_dict};
        static const char *const names[] = {"__class__", "__dict__"};

        rc2 = fields_referents(c, obj, hdr, hlen, offs, names, 2, fn, arg);
        break;
    }
    case CENSUS_CLASSOBJ: {
        const int32_t offs[] = {l->class_bases,   l->class_dict,
                                l->class_name,    l->class_getattr,
                                l->class_setattr, l->class_delattr};
        static const char *const names[] = {"__bases__",   "__dict__",
                                            "__name__",    "__getattr__",
                                            "__setattr__", "__delattr__"};

        rc2 = fields_referents(c, obj, hdr, hlen, offs, names, 6, fn, arg);
        break;
    }
    case CENSUS_CELL:
        emit(fn, arg, load_u64(hdr, l->cell_ref), CENSUS_EDGE_FIELD, 0, 0,
             "cell_contents");
        rc2 = 0;
        break;
    case CENSUS_MODULE:
        emit(fn, arg, load_u64(hdr, l->module_dict), CENSUS_EDGE_FIELD, 0, 0,
             "__dict__");
        rc2 = 0;
        break;
    case CENSUS_TYPE:
        rc2 = type_referents(c, obj, fn, arg);
        break;
    case CENSUS_FRAME:
        rc2 = (c->flags & CENSUS_FOLLOW_FRAMES)
                  ? frame_object_referents(c, obj, fn, arg)
                  : 0;
        break;
    case CENSUS_GENERATOR:
    case CENSUS_COROUTINE:
    case CENSUS_ASYNCGEN:
        rc2 = (c->flags & CENSUS_FOLLOW_FRAMES)
                  ? generator_referents(c, obj, fn, arg)
                  : 0;
        break;
    default:
        rc2 = 0;
        break;
    }
    return rc2 < 0 ? rc2 : rc;
}

int
census_object_type(struct census *c, raddr_t obj, struct census_type **t)
{
    unsigned char hdr[CENSUS_HEADER_MAX];
    size_t hlen;

    if (!plausible(obj)) {
        return PS_ECORRUPT;
    }
    return read_header(c, obj, hdr, &hlen, t);
}

int
census_referents(struct census *c, raddr_t obj, census_ref_fn fn, void *arg)
{
    unsigned char hdr[CENSUS_HEADER_MAX];
    struct census_type *t;
    size_t hlen;
    int rc;

    if (!plausible(obj)) {
        return PS_ECORRUPT;
    }
    rc = read_header(c, obj, hdr, &hlen, &t);
    if (rc < 0) {
        return rc;
    }
    return referents(c, obj, t, hdr, hlen, fn, arg);
}

/* ---- the walk ---------------------------------------------------------- */

void
census_queue(struct census *c, raddr_t obj, uint64_t parent)
{
    if (!plausible(obj) || !addrset_add(&c->seen, obj)) {
        return;
    }
    if (!(c->flags & CENSUS_PARENTS) &&
        (memsrc_cached(c->mem, obj) ||
         (obj > c->parent ? obj - c->parent : c->parent - obj) <
             CENSUS_NEAR)) {
        XGROW(c->stack, c->stack_alloc, c->nstack + 1);
        c->stack[c->nstack++] = obj;
        return;
    }
    addrset_add(&c->next, obj);
    if (c->flags & CENSUS_PARENTS) {
        hashmap_put(&c->parents, obj, (void *)(uintptr_t)parent);
    }
}

void
census_queue_unseen_tracked(struct census *c)
{
    struct addrset_iter it;
    uint64_t obj;

    addrset_iter_init(&it, &c->tracked);
    while (addrset_iter_next(&it, &obj)) {
        census_queue(c, obj, CENSUS_PARENT_ORPHAN);
    }
    addrset_iter_release(&it);
}

static void
queue_ref(void *arg, const struct census_ref *r)
{
    struct census *c = arg;

    census_queue(c, r->to, c->parent);
}

/*
 * Objects whose variable part is inline (str, bytes, tuple, int, and
 * other var-sized objects) end inside mapped memory: a size that runs
 * past it is a damaged length, not 1 TiB of objects.
 */
static int
size_plausible(struct census *c, raddr_t obj, const struct census_type *t,
               uint64_t size)
{
    unsigned char last;

    if (t->kind != CENSUS_STR && t->kind != CENSUS_BYTES &&
        t->kind != CENSUS_TUPLE && t->kind != CENSUS_INT &&
        !(t->kind == CENSUS_OBJECT && t->itemsize > 0)) {
        return 1;
    }
    return obj + size > obj && rd(c, obj + size - 1, &last, 1) == 0;
}

static void
process(struct census *c, raddr_t obj)
{
    unsigned char hdr[CENSUS_HEADER_MAX];
    struct census_type *t;
    size_t hlen;
    uint64_t size;

    if (read_header(c, obj, hdr, &hlen, &t) < 0) {
        c->unreadable++;
        return;
    }
    size = object_size(c, obj, t, hdr, hlen);
    if (size > CENSUS_BIG && !size_plausible(c, obj, t, size)) {
        /* A length that does not fit in memory (damage, or an object
         * caught half-made): counted at its fixed size, flagged. */
        size = (uint64_t)t->basicsize;
        c->partial++;
    }
    t->count++;
    t->bytes += size;
    c->objects++;
    c->bytes += size;
    if (addrset_has(&c->tracked, obj)) {
        t->tracked++;
    }
    if (c->on_object != NULL) {
        c->on_object(c->on_object_arg, obj, t, size);
    }
    c->parent = obj;
    if (referents(c, obj, t, hdr, hlen, queue_ref, c) < 0) {
        c->partial++;
    }
}

/* Count what is waiting on the stack (found near what was counted). */
static void
drain_stack(struct census *c)
{
    while (c->nstack > 0) {
        process(c, c->stack[--c->nstack]);
    }
}

/*
 * A plain census counts a tracked object as soon as the list walk gives
 * it: the chunk its GC header was just read from holds the object, and
 * the objects allocated beside it (its values, its strs and ints) are
 * usually in the chunks read next.  Counting them after the whole walk
 * meant reading most chunks twice on heaps larger than the cache.
 */
int
census_add_tracked(struct census *c, raddr_t obj)
{
    struct census_type *t;

    if (!addrset_add(&c->tracked, obj)) {
        return 1;
    }
    c->tracked_objects++;
    if (c->flags & CENSUS_PARENTS) {
        return 0;
    }
    drain_stack(c);
    /* Queued for a later level by an object that refers to it from far
     * away (a list of instances made before them): count it now too, its
     * chunk will be long gone by then. */
    if (addrset_add(&c->seen, obj) || addrset_remove(&c->next, obj)) {
        if (c->levels == 0) {
            c->levels = 1;
        }
        process(c, obj);
        drain_stack(c);
    } else if (!addrset_has(&c->frontier, obj)) {
        /* Counted already, reached before the list walk came to it
         * (a list's items made after the list): its type word is enough,
         * but for 2.7's instances, counted under their class. */
        uint64_t type = 0;

        t = rd64(c, obj + c->l->obj_type, &type) == 0
                ? census_type_get(c, type)
                : NULL;
        if (t != NULL && t->valid && t->kind == CENSUS_INSTANCE &&
            census_object_type(c, obj, &t) < 0) {
            t = NULL;
        }
        if (t != NULL && t->valid) {
            t->tracked++;
        }
    }
    return 0;
}

int
census_run(struct census *c)
{
    struct addrset_iter it;
    uint64_t obj;

    /* Queued objects wait in next (a plain census has counted the
     * tracked ones as they were given). */
    drain_stack(c);
    for (;;) {
        if (c->frontier.count == 0) {
            struct addrset t = c->frontier;

            if (c->next.count == 0) {
                break;
            }
            c->frontier = c->next;
            c->next = t;
        }
        if (c->levels >= CENSUS_LEVELS_MAX) {
            c->truncated = 1;
            break;
        }
        c->levels++;
        addrset_iter_init(&it, &c->frontier);
        while (addrset_iter_next(&it, &obj)) {
            process(c, obj);
            drain_stack(c);
        }
        addrset_iter_release(&it);
        addrset_release(&c->frontier);
    }
    addrset_release(&c->frontier);
    addrset_release(&c->next);
    return 0;
}
