/*
 * test_census.c - the heap walker on memory built by hand.
 *
 * Layer: tests.  A small heap is laid out in a buffer with the generated
 * layouts of several versions (type objects, str, int, tuple, list, a
 * class with __slots__, GC list heads), served through the buffer memory
 * source.  Checked: counts, tracked flags and sys.getsizeof() sizes;
 * reference loops counted once; garbage (random bytes, pointers into
 * nowhere, absurd lengths, a looping tp_base chain, a looping GC list, a
 * GC list into garbage) ends the walk with errors counted, never a hang
 * or a crash; failing reads at every point; the pool-at-a-time list
 * reader; and the chunk cache against direct reads.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/xalloc.h"
#include "python/census.h"
#include "python/gc.h"
#include "python/heap.h"
#include "python/layout.h"
#include "python/pyobj.h"
#include "target/maps.h"
#include "tap.h"

/* TAP_EQ_* with a formatted name. */
static char tap_name[256];
#define EQ(got, want, ...)                                                    \
    do {                                                                      \
        snprintf(tap_name, sizeof(tap_name), __VA_ARGS__);                    \
        TAP_EQ_INT(got, want, tap_name);                                      \
    } while (0)
#define EQS(got, want, ...)                                                   \
    do {                                                                      \
        snprintf(tap_name, sizeof(tap_name), __VA_ARGS__);                    \
        TAP_EQ_STR(got, want, tap_name);                                      \
    } while (0)

#include "census_synth.h"

static struct census_type *
find_type(struct census *c, const char *name)
{
    struct census_type **v;
    struct census_type *found = NULL;
    size_t n, i;

    census_types(c, &v, &n);
    for (i = 0; i < n; i++) {
        if (v[i]->valid && v[i]->count && strcmp(v[i]->name, name) == 0) {
            found = v[i];
        }
    }
    free(v);
    return found;
}

static uint64_t
count_of(struct census *c, const char *name)
{
    struct census_type *t = find_type(c, name);

    return t ? t->count : 0;
}

static uint64_t
bytes_of(struct census *c, const char *name)
{
    struct census_type *t = find_type(c, name);

    return t ? t->bytes : 0;
}

/* A list and a tuple holding each other, strs, an int, an instance. */
static void
test_small_heap(const struct py_layout *l)
{
    struct fake f;
    struct py_runtime *rt;
    struct memsrc *mem;
    struct census c;
    raddr_t s1, s2, i1, tup, list, inst, items[4];
    uint64_t gch = (uint64_t)l->gchead_size;

    fk_init(&f, l);
    s1 = fk_str(&f, "hello");
    s2 = fk_str(&f, "slot value");
    i1 = fk_int(&f, 7);
    list = fk_list(&f, 0, 4, NULL);
    items[0] = s1;
    items[1] = list;
    tup = fk_tuple(&f, 2, items);
    inst = fk_obj(&f, f.klass, 24);
    fk_put(&f, inst, 16, s2);
    items[0] = s1;
    items[1] = i1;
    items[2] = tup;
    items[3] = inst;
    {
        /* Fill the list now that its items exist. */
        uint64_t arr;

        memcpy(&arr, f.mem + (list - BASE) + l->list_item, 8);
        fk_put(&f, list, l->var_size, 4);
        for (int i = 0; i < 4; i++) {
            fk_put(&f, arr, 8 * i, items[i]);
        }
    }
    rt = fk_runtime(&f, &mem);
    census_init(&c, rt, mem, &f.b, 0);
    EQ(census_add_tracked(&c, list), 0, "%d.%d: tracked list", l->major,
       l->minor);
    EQ(census_add_tracked(&c, list), 1, "%d.%d: the same node twice is a loop",
       l->major, l->minor);
    census_add_tracked(&c, inst);
    EQ(census_run(&c), 0, "%d.%d: census runs", l->major, l->minor);
    EQ(c.objects, 6, "%d.%d: six objects, each once", l->major, l->minor);
    EQ(c.unreadable, 0, "%d.%d: nothing unreadable", l->major, l->minor);
    EQ(count_of(&c, "str"), 2, "%d.%d: two str", l->major, l->minor);
    EQ(count_of(&c, "int"), 1, "%d.%d: one int", l->major, l->minor);
    EQ(count_of(&c, "tuple"), 1, "%d.%d: the tuple in the loop", l->major,
       l->minor);
    EQ(count_of(&c, "Klass"), 1, "%d.%d: the instance", l->major, l->minor);
    EQ(find_type(&c, "list")->tracked, 1, "%d.%d: list is tracked", l->major,
       l->minor);
    EQ(find_type(&c, "tuple")->tracked, 0, "%d.%d: tuple reached, not tracked",
       l->major, l->minor);
    EQ(find_type(&c, "Klass")->tracked, 1,
       "%d.%d: instance reached through the list, then tracked", l->major,
       l->minor);
    EQS(find_type(&c, "Klass")->module, "mod",
        "%d.%d: class module from tp_name", l->major, l->minor);
    EQS(find_type(&c, "str")->module, "builtins", "%d.%d: builtins module",
        l->major, l->minor);
    /* sys.getsizeof() of each. */
    EQ(bytes_of(&c, "str"), str_size(l, 5) + str_size(l, 10),
       "%d.%d: str sizes", l->major, l->minor);
    EQ(bytes_of(&c, "int"), (uint64_t)l->long_digit + 4, "%d.%d: int size",
       l->major, l->minor);
    EQ(bytes_of(&c, "tuple"), (uint64_t)l->tuple_item + 16 + gch,
       "%d.%d: tuple size", l->major, l->minor);
    EQ(bytes_of(&c, "list"), (uint64_t)l->list_size + 32 + gch,
       "%d.%d: list size counts allocated slots", l->major, l->minor);
    EQ(bytes_of(&c, "Klass"), 24 + gch, "%d.%d: instance size", l->major,
       l->minor);
    census_release(&c);
    fk_runtime_free(rt);
    free(f.mem);
}

/* 2.7: a byte string (its str). */
static raddr_t
fk_bytes27(struct fake *f, const char *s)
{
    const struct py_layout *l = f->l;
    size_t n = strlen(s);
    raddr_t o =
        fk_obj(f, f->b.types[CENSUS_BYTES], (size_t)l->bytes_sval + n + 1);

    fk_put(f, o, l->var_size, n);
    memcpy(f->mem + (o - BASE) + l->bytes_sval, s, n + 1);
    return o;
}

/* 2.7: a dict or set table of mask + 1 entries; keys[i]/values[i] go to
 * slot slots[i] (values NULL for a set). */
static raddr_t
fk_table27(struct fake *f, raddr_t type, int set, raddr_t at_small,
           uint64_t mask, size_t n, const int *slots, const raddr_t *keys,
           const raddr_t *values, uint64_t fill, uint64_t used)
{
    const struct py_layout *l = f->l;
    int32_t esize = set ? l->setentry_size : l->dictentry_size;
    int32_t koff = set ? l->setentry_key : l->dictentry_key;
    raddr_t o = fk_obj(f, type, (size_t)(set ? l->set_size : l->dict_size));
    raddr_t table =
        at_small ? o + (raddr_t)(set ? l->set_smalltable : l->dict_smalltable)
                 : fk_alloc(f, (mask + 1) * (size_t)esize);
    size_t i;

    fk_put(f, o, set ? l->set_fill : l->dict_fill, fill);
    fk_put(f, o, set ? l->set_used : l->dict_used, used);
    fk_put(f, o, set ? l->set_mask : l->dict_mask, mask);
    fk_put(f, o, set ? l->set_table : l->dict_table, table);
    for (i = 0; i < n; i++) {
        raddr_t e = table + (raddr_t)(slots[i] * esize);

        fk_put(f, e, koff, keys[i]);
        if (!set) {
            fk_put(f, e, l->dictentry_value, values[i]);
        }
    }
    return o;
}

/* 2.7: old-style classes and instances (counted by class), the one-table
 * dict with a deleted entry, a set with its dummy, ints. */
static void
test_py27(const struct py_layout *l)
{
    struct fake f;
    struct py_runtime *rt;
    struct memsrc *mem;
    struct census c;
    uint64_t gc = (uint64_t)l->tpflags_have_gc;
    uint64_t gch = (uint64_t)l->gchead_size;
    raddr_t type, object, k, k2, v, mod, modkey, old, gone, dummy, five;
    raddr_t dict1, dict2, cls, inst, set, d, empty, list, items[3];
    int slots[2];

    if (!pyl_has(l->dict_table)) {
        return;
    }
    fk_init(&f, l);
    type = f.b.types[CENSUS_TYPE];
    object = f.b.types[CENSUS_OBJECT];
    f.b.types[CENSUS_BYTES] =
        fk_type(&f, type, "str", l->bytes_sval + 1, 1, 0, object);
    f.b.types[CENSUS_INT27] =
        fk_type(&f, type, "int", l->int_ival + 8, 0, 0, object);
    f.b.types[CENSUS_DICT] =
        fk_type(&f, type, "dict", l->dict_size, 0, gc, object);
    f.b.types[CENSUS_SET] =
        fk_type(&f, type, "set", l->set_size, 0, gc, object);
    f.b.types[CENSUS_INSTANCE] =
        fk_type(&f, type, "instance", l->instance_dict + 16, 0, gc, object);
    f.b.types[CENSUS_CLASSOBJ] =
        fk_type(&f, type, "classobj", l->class_delattr + 16, 0, gc, object);
    k = fk_bytes27(&f, "k");
    k2 = fk_bytes27(&f, "k2");
    v = fk_bytes27(&f, "v");
    mod = fk_bytes27(&f, "mod");
    modkey = fk_bytes27(&f, "__module__");
    old = fk_bytes27(&f, "Old");
    gone = fk_bytes27(&f, "gone");
    dummy = fk_bytes27(&f, "<dummy key>");
    five = fk_obj(&f, f.b.types[CENSUS_INT27], (size_t)l->int_ival + 8);
    fk_put(&f, five, l->int_ival, 5);
    empty = fk_tuple(&f, 0, NULL);
    slots[0] = 5;
    dict1 = fk_table27(&f, f.b.types[CENSUS_DICT], 0, 1, 7, 1, slots, &k,
                       &five, 1, 1);
    dict2 = fk_table27(&f, f.b.types[CENSUS_DICT], 0, 1, 7, 1, slots, &modkey,
                       &mod, 1, 1);
    cls =
        fk_obj(&f, f.b.types[CENSUS_CLASSOBJ], (size_t)l->class_delattr + 16);
    fk_put(&f, cls, l->class_bases, empty);
    fk_put(&f, cls, l->class_dict, dict2);
    fk_put(&f, cls, l->class_name, old);
    inst =
        fk_obj(&f, f.b.types[CENSUS_INSTANCE], (size_t)l->instance_dict + 16);
    fk_put(&f, inst, l->instance_class, cls);
    fk_put(&f, inst, l->instance_dict, dict1);
    /* A set with a deleted member: the dummy. */
    slots[0] = 1;
    slots[1] = 3;
    items[0] = dummy;
    items[1] = k;
    set = fk_table27(&f, f.b.types[CENSUS_SET], 1, 1, 7, 2, slots, items, NULL,
                     2, 1);
    /* A dict of its own table: a deleted entry (a key, no value), and an
     * item. */
    items[0] = gone;
    items[1] = k2;
    {
        raddr_t values[2] = {0, v};

        d = fk_table27(&f, f.b.types[CENSUS_DICT], 0, 0, 7, 2, slots, items,
                       values, 2, 1);
    }
    items[0] = inst;
    items[1] = set;
    items[2] = d;
    list = fk_list(&f, 3, 3, items);
    rt = fk_runtime(&f, &mem);
    census_init(&c, rt, mem, &f.b, 0);
    census_add_tracked(&c, list);
    EQ(census_run(&c), 0, "2.7: census runs");
    EQ(c.unreadable, 0, "2.7: nothing unreadable");
    EQ(count_of(&c, "Old"), 1, "2.7: an old-style instance, by its class");
    EQS(find_type(&c, "Old")->module, "mod",
        "2.7: ... in its class's __module__");
    EQ(bytes_of(&c, "Old"), (uint64_t)l->instance_dict + 16 + gch,
       "2.7: ... of the size of an instance");
    EQ(count_of(&c, "classobj"), 1, "2.7: the class itself");
    EQ(count_of(&c, "str"), 6, "2.7: strs: no dummy, no deleted key");
    EQ(count_of(&c, "int"), 1, "2.7: an int");
    EQ(count_of(&c, "dict"), 3, "2.7: three dicts");
    EQ(bytes_of(&c, "dict"),
       3 * ((uint64_t)l->dict_size + gch) + 8 * (uint64_t)l->dictentry_size,
       "2.7: dict sizes: a table of its own counts");
    EQ(c.b.set_dummy, dummy, "2.7: the set dummy found");
    EQ(c.objects, 15, "2.7: fifteen objects");
    census_release(&c);
    fk_runtime_free(rt);
    free(f.mem);
}

/*
 * The one object reader: pyobj's readers read the memory they are given
 * (the census its own source, while the runtime's memory is another,
 * neither read nor swapped), and one rule says what the type of a type
 * is (type, or a subclass of type by its flags), for the census as for
 * the block walk.
 */
static void
test_one_reader(const struct py_layout *l)
{
    struct fake f;
    struct py_runtime *rt;
    struct memsrc *mem, *elsewhere;
    struct census c;
    struct strbuf sb = STRBUF_INIT;
    struct py_str_state st;
    uint64_t heap = (uint64_t)l->tpflags_heaptype;
    raddr_t type, object, meta, cls, inst, s;
    uint32_t state;

    fk_init(&f, l);
    type = f.b.types[CENSUS_TYPE];
    object = f.b.types[CENSUS_OBJECT];
    meta = fk_type(&f, type, "Meta", l->heaptype_size, l->memberdef_size,
                   heap | (1ull << l->tpflags_type_subclass_bit), type);
    cls = fk_type(&f, meta, "WithMeta", 24, 0, heap, object);
    inst = fk_obj(&f, cls, 24);
    s = fk_str(&f, "abc");
    rt = fk_runtime(&f, &mem);
    EQ(py_type_is_metatype(&rt->reader, type, type), 1,
       "%d.%d: type is the type of a type", l->major, l->minor);
    EQ(py_type_is_metatype(&rt->reader, meta, type), 1,
       "%d.%d: so is a subclass of type", l->major, l->minor);
    EQ(py_type_is_metatype(&rt->reader, f.klass, type), 0,
       "%d.%d: a class is not (its instances are not types)", l->major,
       l->minor);
    EQ(py_type_is_metatype(&rt->reader, cls, type), 0,
       "%d.%d: nor is a class with a metaclass", l->major, l->minor);
    EQ(py_type_is_metatype(&rt->reader, 0, type), 0, "%d.%d: nor is NULL",
       l->major, l->minor);
    if (!pyl_has(l->unicode_str)) {
        memcpy(&state, f.mem + (s - BASE) + l->unicode_state, 4);
        TAP_OK(py_str_state(l, state, &st) == 0 && st.kind == 1 &&
                   st.compact && st.ascii,
               "py_str_state: an ASCII str's state word");
    }

    elsewhere = memsrc_buffer_new();
    rt->mem = rt->reader.mem = elsewhere;
    census_init(&c, rt, mem, &f.b, 0);
    EQ(py_str_read(&c.reader, s, 16, &sb, NULL), 0,
       "%d.%d: the census's reader reads its own source", l->major, l->minor);
    EQS(sb.buf, "abc", "%d.%d: ... the str", l->major, l->minor);
    strbuf_reset(&sb);
    TAP_OK(py_str_read(&rt->reader, s, 16, &sb, NULL) < 0,
           "the runtime's reader reads the runtime's memory");
    err_clear();
    census_add_tracked(&c, inst);
    EQ(census_run(&c), 0, "%d.%d: census runs", l->major, l->minor);
    EQ(count_of(&c, "WithMeta"), 1,
       "%d.%d: an instance of a class with a metaclass", l->major, l->minor);
    TAP_OK(rt->mem == elsewhere && rt->reader.mem == elsewhere,
           "nothing swapped the runtime's memory");
    census_release(&c);
    strbuf_release(&sb);
    memsrc_free(elsewhere);
    fk_runtime_free(rt);
    free(f.mem);
}

/* Random bytes, and pointers into them and into nowhere. */
static void
test_garbage(const struct py_layout *l)
{
    struct fake f;
    struct py_runtime *rt;
    struct memsrc *mem;
    struct census c;
    raddr_t junk, list, bad_type, loop_type, obj, items[7];
    uint64_t seed = 88172645463325252ull;
    size_t i;

    fk_init(&f, l);
    junk = fk_alloc(&f, 65536);
    for (i = 0; i < 65536; i += 8) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        /* Half the words look like pointers into the junk itself. */
        fk_put(&f, junk, (int32_t)i,
               (seed & 1) ? junk + (seed % 65536) : seed);
    }
    /* A type whose tp_base is itself. */
    loop_type = fk_type(&f, f.b.types[CENSUS_TYPE], "Loop", 16, 0, 0, 0);
    fk_put(&f, loop_type, l->type_base, loop_type);
    obj = fk_obj(&f, loop_type, 16);
    /* An object whose type is not a type. */
    bad_type = fk_obj(&f, junk + 8, 32);
    items[0] = 0x7000000001ull;   /* unaligned */
    items[1] = 0x7e0000000000ull; /* unmapped */
    items[2] = bad_type;
    items[3] = junk + 1024; /* random bytes */
    items[4] = obj;
    items[5] = fk_list(&f, 0, 0, NULL);
    fk_put(&f, items[5], l->var_size, 1ull << 40); /* absurd length */
    items[6] = fk_str(&f, "a str of absurd length");
    fk_put(&f, items[6], l->unicode_length, 1ull << 39);
    list = fk_list(&f, 7, 7, items);
    rt = fk_runtime(&f, &mem);
    census_init(&c, rt, mem, &f.b, 0);
    census_add_tracked(&c, list);
    for (i = 0; i < 2000; i++) {
        census_add_tracked(&c, (junk + (i * 7919) % 65536) & ~(raddr_t)7);
    }
    EQ(census_run(&c), 0, "%d.%d: a census over garbage ends", l->major,
       l->minor);
    TAP_OK(c.unreadable >= 3, "%d.%d: garbage counted unreadable (%llu)",
           l->major, l->minor, (unsigned long long)c.unreadable);
    TAP_OK(c.partial >= 1, "%d.%d: the absurd list is partial", l->major,
           l->minor);
    EQ(count_of(&c, "Loop"), 1, "%d.%d: a looping tp_base is bounded",
       l->major, l->minor);
    TAP_OK(count_of(&c, "str") == 1 && bytes_of(&c, "str") < 4096,
           "%d.%d: a length past mapped memory is not counted (%llu bytes)",
           l->major, l->minor, (unsigned long long)bytes_of(&c, "str"));
    {
        /* Rows leave out what is not a type (no name to sort by). */
        struct py_heap_type *rows;
        size_t nrows, named = 0;
        uint64_t counted = 0;

        py_heap_rows(&c, &rows, &nrows);
        for (i = 0; i < nrows; i++) {
            named += rows[i].name != NULL && rows[i].module != NULL;
            counted += rows[i].count;
        }
        EQ(named, nrows, "%d.%d: every row of a damaged heap is named",
           l->major, l->minor);
        EQ(counted, c.objects, "%d.%d: the rows hold every object counted",
           l->major, l->minor);
        py_heap_types_free(rows, nrows);
    }
    census_release(&c);
    fk_runtime_free(rt);
    free(f.mem);
}

/* A source that fails after n reads, for every n up to a full run. */
static void
test_faults(const struct py_layout *l)
{
    struct fake f;
    struct py_runtime *rt;
    struct memsrc *mem;
    raddr_t items[3], list;
    uint64_t full = 0, n, fine = 0;

    fk_init(&f, l);
    items[0] = fk_str(&f, "a");
    items[1] = fk_int(&f, 3);
    items[2] = fk_tuple(&f, 2, items);
    list = fk_list(&f, 3, 3, items);
    rt = fk_runtime(&f, &mem);
    for (n = 0;; n++) {
        struct memsrc *faulty = memsrc_faulty_new(mem, n, PS_EFAULT);
        struct census c;
        uint64_t reads;

        census_init(&c, rt, faulty, &f.b, 0);
        census_add_tracked(&c, list);
        census_run(&c);
        reads = faulty->nreads;
        fine += c.objects <= 5;
        census_release(&c);
        memsrc_free(faulty);
        if (reads <= n) {
            full = n;
            break;
        }
    }
    TAP_OK(full > 0, "%d.%d: a clean run takes %llu reads", l->major, l->minor,
           (unsigned long long)full);
    EQ(fine, n + 1, "%d.%d: every failing point ends cleanly", l->major,
       l->minor);
    fk_runtime_free(rt);
    free(f.mem);
}

/*
 * An object queued for a later level (far from what refers to it, and
 * not in memory already copied) that the list walk then gives: counted
 * at once, once, as tracked.
 */
static void
test_tracked_after_queued(const struct py_layout *l)
{
    struct fake f;
    struct py_runtime *rt;
    struct memsrc *mem, *far;
    struct census c;
    raddr_t items[2], list;

    fk_init(&f, l);
    items[0] = fk_str(&f, "a");
    items[1] = fk_int(&f, 3);
    list = fk_list(&f, 2, 2, items);
    rt = fk_runtime(&f, &mem);
    /* Through a wrapper nothing counts as copied already. */
    far = memsrc_faulty_new(mem, UINT64_MAX, PS_EFAULT);
    census_init(&c, rt, far, &f.b, 0);
    census_queue(&c, list, CENSUS_PARENT_ORPHAN);
    EQ((int)c.next.count, 1, "%d.%d: a far object waits for the next level",
       l->major, l->minor);
    census_add_tracked(&c, list);
    EQ((int)c.next.count, 0, "%d.%d: the list walk takes it out", l->major,
       l->minor);
    EQ(c.objects, 3, "%d.%d: counted with what it holds", l->major, l->minor);
    EQ(census_run(&c), 0, "%d.%d: census runs", l->major, l->minor);
    EQ(c.objects, 3, "%d.%d: each once", l->major, l->minor);
    EQ(find_type(&c, "list")->tracked, 1, "%d.%d: and tracked once", l->major,
       l->minor);
    census_release(&c);
    memsrc_free(far);
    fk_runtime_free(rt);
    free(f.mem);
}

static int
walk_count(void *arg, raddr_t obj)
{
    (void)obj;
    (*(uint64_t *)arg)++;
    return 0;
}

static int
walk_census(void *arg, raddr_t obj)
{
    return census_add_tracked(arg, obj);
}

/* GC lists: a good ring, a ring that loops past its head, one into
 * garbage, and nodes in a pymalloc pool. */
static void
test_gc_lists(const struct py_layout *l)
{
    struct fake f;
    struct py_runtime *rt;
    struct memsrc *mem;
    struct py_gc_reader reader;
    struct py_gc_generation gen;
    struct census c;
    raddr_t head, nodes[5], pool, junk;
    uint64_t n = 0;
    int32_t hs = l->gchead_size;
    uint32_t psize = (uint32_t)l->obm_pool_size, bsize = 64, i;
    int rc;

    fk_init(&f, l);
    head = fk_alloc(&f, (size_t)l->gcgen_size);
    for (i = 0; i < 5; i++) {
        nodes[i] = fk_alloc(&f, (size_t)hs + 32);
        fk_put(&f, nodes[i], hs + l->obj_type, f.b.types[CENSUS_LIST]);
    }
    for (i = 0; i < 5; i++) {
        fk_put(&f, nodes[i], l->gchead_next, i < 4 ? nodes[i + 1] : head);
    }
    fk_put(&f, head, l->gcgen_head + l->gchead_next, nodes[0]);
    rt = fk_runtime(&f, &mem);
    py_gc_reader_init(&reader, rt, mem);
    memset(&gen, 0, sizeof(gen));
    gen.head = head + (raddr_t)l->gcgen_head;
    rc = py_gc_walk(&reader, &gen, walk_count, &n);
    EQ(rc, 0, "%d.%d: a good list", l->major, l->minor);
    EQ(n, 5, "%d.%d: five nodes", l->major, l->minor);
    EQ(gen.objects, 5, "%d.%d: objects counted", l->major, l->minor);
    py_gc_reader_release(&reader);

    /* The last node points back at the second: a loop. */
    fk_put(&f, nodes[4], l->gchead_next, nodes[1]);
    memsrc_free(rt->proc);
    rt->proc = rt->mem = memsrc_buffer_new();
    rt->reader.mem = rt->mem;
    memsrc_buffer_add(rt->proc, BASE, f.mem, HEAP_SIZE);
    py_gc_reader_init(&reader, rt, rt->proc);
    census_init(&c, rt, rt->proc, &f.b, 0);
    rc = py_gc_walk(&reader, &gen, walk_census, &c);
    EQ(rc, PS_ECORRUPT, "%d.%d: a looping list is refused", l->major,
       l->minor);
    EQ(gen.objects, 5, "%d.%d: after every node once", l->major, l->minor);
    census_release(&c);
    py_gc_reader_release(&reader);

    /* Into random bytes. */
    junk = fk_alloc(&f, 4096);
    for (i = 0; i < 4096; i += 8) {
        fk_put(&f, junk, (int32_t)i, junk + ((i * 2654435761u) % 4096));
    }
    fk_put(&f, nodes[2], l->gchead_next, junk + 64);
    memsrc_free(rt->proc);
    rt->proc = rt->mem = memsrc_buffer_new();
    rt->reader.mem = rt->mem;
    memsrc_buffer_add(rt->proc, BASE, f.mem, HEAP_SIZE);
    py_gc_reader_init(&reader, rt, rt->proc);
    census_init(&c, rt, rt->proc, &f.b, 0);
    rc = py_gc_walk(&reader, &gen, walk_census, &c);
    TAP_OK(rc == PS_ECORRUPT || rc == PS_EFAULT,
           "%d.%d: a list into garbage stops (%d)", l->major, l->minor, rc);
    census_release(&c);
    py_gc_reader_release(&reader);

    /* A pool: header of size class 64 with 10 blocks in use, the nodes
     * on its grid. */
    f.used = (f.used + psize - 1) & ~(size_t)(psize - 1);
    pool = fk_alloc(&f, psize);
    {
        uint32_t hdr = ((uint32_t)l->poolhdr_size + 15) & ~15u;
        uint32_t szidx = bsize / (uint32_t)l->obm_alignment - 1;
        raddr_t first = pool + hdr;

        fk_put32(&f, pool, l->poolhdr_count, 10);
        fk_put32(&f, pool, l->poolhdr_szidx, szidx);
        fk_put32(&f, pool, l->poolhdr_nextoffset, hdr + 10 * bsize);
        fk_put32(&f, pool, l->poolhdr_maxnextoffset, psize - bsize);
        for (i = 0; i < 10; i++) {
            raddr_t node = first + i * bsize;

            fk_put(&f, node, l->gchead_next,
                   i < 9 ? node + bsize : head + (raddr_t)l->gcgen_head);
        }
        fk_put(&f, head, l->gcgen_head + l->gchead_next, first);
    }
    memsrc_free(rt->proc);
    rt->proc = rt->mem = memsrc_buffer_new();
    rt->reader.mem = rt->mem;
    memsrc_buffer_add(rt->proc, BASE, f.mem, HEAP_SIZE);
    {
        static const char whole[] = "100000000-100100000 rw-p 0 00:00 0 \n";
        struct maps m = MAPS_INIT;
        struct memsrc *chunks;
        uint64_t before = rt->proc->nreads;

        maps_parse(whole, sizeof(whole) - 1, &m);
        chunks = memsrc_chunks_new(rt->proc, &m, psize, 16 * psize);
        py_gc_reader_init(&reader, rt, chunks);
        n = 0;
        rc = py_gc_walk(&reader, &gen, walk_count, &n);
        EQ(rc, 0, "%d.%d: a list in a pool", l->major, l->minor);
        EQ(n, 10, "%d.%d: ten nodes", l->major, l->minor);
        EQ(reader.links, 11, "%d.%d: eleven links", l->major, l->minor);
        /* The pool's chunk and the head's: not a read per node. */
        TAP_OK(rt->proc->nreads - before <= 2,
               "%d.%d: the nodes read as one chunk (%llu reads)", l->major,
               l->minor, (unsigned long long)(rt->proc->nreads - before));
        py_gc_reader_release(&reader);
        memsrc_free(chunks);
        maps_release(&m);
    }
    fk_runtime_free(rt);
    free(f.mem);
}

/* The chunk cache serves what the buffer holds, across chunk and mapping
 * edges, within its budget. */
static void
test_chunks(void)
{
    static const char maps_text[] =
        "100000000-100030000 rw-p 00000000 00:00 0 \n"
        "100030000-100050000 r--p 00000000 00:00 0 \n"
        "100060000-100070000 ---p 00000000 00:00 0 \n";
    unsigned char *data = xmalloc(0x70000), buf[9000], want[9000];
    struct memsrc *inner = memsrc_buffer_new(), *c;
    struct maps m = MAPS_INIT;
    struct memsrc_chunks_stats st;
    uint64_t seed = 12345;
    size_t i, bad = 0;

    for (i = 0; i < 0x70000; i++) {
        data[i] = (unsigned char)(i * 131 + (i >> 8));
    }
    memsrc_buffer_add(inner, BASE, data, 0x50000);
    maps_parse(maps_text, sizeof(maps_text) - 1, &m);
    c = memsrc_chunks_new(inner, &m, 0x8000, 0x10000);
    for (i = 0; i < 5000; i++) {
        size_t off, len;

        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        off = seed % 0x4e000;
        len = 1 + (seed >> 32) % sizeof(buf);
        if (off + len > 0x50000) {
            len = 0x50000 - off;
        }
        memcpy(want, data + off, len);
        if (memsrc_read(c, BASE + off, buf, len) != 0 ||
            memcmp(buf, want, len) != 0) {
            bad++;
        }
    }
    EQ(bad, 0, "random reads equal the source");
    memsrc_chunks_stats(c, &st);
    TAP_OK(st.evictions > 0, "the budget forces evictions");
    TAP_OK(st.reloads > 0 && st.reloads <= st.evictions &&
               st.reload_bytes <= st.reloads * 0x8000,
           "chunks read again are counted (%llu of %llu loads)",
           (unsigned long long)st.reloads, (unsigned long long)st.loads);
    TAP_OK(st.memory <= 0x10000, "memory within budget (%zu)", st.memory);
    TAP_OK(memsrc_read(c, BASE + 0x4fff8, buf, 16) != 0,
           "a read past the data fails");
    TAP_OK(memsrc_read(c, BASE + 0x60000, buf, 8) != 0,
           "an unreadable mapping fails");
    TAP_OK(memsrc_read(c, 0x200000000ull, buf, 8) != 0,
           "outside every mapping fails");
    TAP_OK(memsrc_read(c, BASE + 0x2fff0, buf, 32) == 0 &&
               memcmp(buf, data + 0x2fff0, 32) == 0,
           "a read across two mappings");
    TAP_OK(memsrc_cached(c, BASE + 0x2fff0), "what was read is cached");
    TAP_OK(!memsrc_cached(c, BASE + 0x10000 - 0x8000 * 8),
           "what was not is not");
    memsrc_free(c);
    /* Two readable mappings back to back inside one chunk: one read
     * serves both. */
    {
        static const char two[] = "100000000-100001000 rw-p 0 00:00 0 \n"
                                  "100001000-100003000 rw-p 0 00:00 0 \n"
                                  "100003000-100004000 ---p 0 00:00 0 \n";
        struct maps m2 = MAPS_INIT;
        uint64_t before = inner->nreads;

        maps_parse(two, sizeof(two) - 1, &m2);
        c = memsrc_chunks_new(inner, &m2, 0x4000, 0x10000);
        TAP_OK(memsrc_read(c, BASE + 0x800, buf, 16) == 0 &&
                   memsrc_read(c, BASE + 0x1800, buf, 16) == 0 &&
                   memcmp(buf, data + 0x1800, 16) == 0 &&
                   memsrc_read(c, BASE + 0xff8, buf, 16) == 0 &&
                   memcmp(buf, data + 0xff8, 16) == 0,
               "reads in two adjacent mappings");
        EQ(inner->nreads - before, 1, "one chunk read for both mappings");
        TAP_OK(memsrc_cached(c, BASE + 0x2ff8) &&
                   !memsrc_cached(c, BASE + 0x3000),
               "the chunk stops at the unreadable mapping");
        memsrc_free(c);
        maps_release(&m2);
    }
    /* Within the budget nothing is read twice. */
    c = memsrc_chunks_new(inner, &m, 0x8000, 0x100000);
    for (i = 0; i < 2 * 0x50000; i += 4096) {
        memsrc_read(c, BASE + i % 0x50000, buf, 8);
    }
    memsrc_chunks_stats(c, &st);
    TAP_OK(st.loads > 0 && st.reloads == 0 && st.reload_bytes == 0,
           "no chunk read again within the budget");
    memsrc_free(c);
    memsrc_free(inner);
    maps_release(&m);
    free(data);
}

int
main(void)
{
    static const int versions[][2] = {{2, 7},  {3, 6},  {3, 7},  {3, 8},
                                      {3, 10}, {3, 11}, {3, 12}, {3, 13}};
    size_t i;

    for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        const struct py_layout *l =
            py_layout_find(versions[i][0], versions[i][1]);

        if (l == NULL) {
            continue;
        }
        test_small_heap(l);
        test_py27(l);
        test_one_reader(l);
        test_garbage(l);
        test_faults(l);
        test_tracked_after_queued(l);
        test_gc_lists(l);
    }
    test_chunks();
    return tap_done();
}
