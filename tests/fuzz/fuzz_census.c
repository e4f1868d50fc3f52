/*
 * fuzz_census.c - the heap census (object headers, types, sizes,
 * references of every builtin kind) over a synthetic heap the input
 * damages.
 *
 * Layer: tests.  Input: a layout byte, a flags byte, then patches over
 * the heap.
 */
#define HEAP_SIZE (64u << 10) /* small: allocated per input */
#include "fuzz.h"

#include "census_synth.h"
#include "python/heap.h"

static void
ignore_ref(void *arg, const struct census_ref *ref)
{
    (void)arg;
    (void)ref;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct py_layout *l;
    struct fake f;
    struct py_runtime *rt;
    struct memsrc *mem;
    struct census c;
    struct py_heap_type *rows;
    raddr_t items[6], list, dict_like, inst;
    size_t nrows;
    unsigned flags;

    if (size < 2) {
        return 0;
    }
    l = py_layouts_generated[data[0] % py_layouts_generated_count];
    flags = data[1] & (CENSUS_FOLLOW_FRAMES | CENSUS_PARENTS);
    fk_init(&f, l);
    items[0] = fk_str(&f, "hello");
    items[1] = fk_int(&f, 7);
    items[2] = fk_tuple(&f, 2, items);
    inst = fk_obj(&f, f.klass, 24);
    fk_put(&f, inst, 16, items[0]);
    items[3] = inst;
    dict_like = fk_list(&f, 2, 4, items);
    items[4] = dict_like;
    items[5] = fk_str(&f, "");
    list = fk_list(&f, 6, 8, items);
    fuzz_patch(f.mem, f.used, BASE, data + 2, size - 2);
    rt = fk_runtime(&f, &mem);
    census_init(&c, rt, mem, &f.b, flags);
    census_add_tracked(&c, list);
    census_add_tracked(&c, inst);
    census_add_tracked(&c, BASE + ((size * 8) % f.used));
    census_run(&c);
    census_referents(&c, list, ignore_ref, NULL);
    py_heap_rows(&c, &rows, &nrows);
    py_heap_types_free(rows, nrows);
    census_release(&c);
    fk_runtime_free(rt);
    free(f.mem);
    return 0;
}
