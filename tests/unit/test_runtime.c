/*
 * test_runtime.c - version text parsing and the validation of CPython
 * 3.13's _Py_DebugOffsets.
 *
 * Layer: tests.  The offsets table is built from the generated 3.13
 * layout, in the order CPython lays it out; applying it must reproduce
 * those values, and any value that points outside its struct, a wrong
 * cookie or version, or a free-threaded build must be refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "python/layout.h"
#include "python/runtime.h"
#include "tap.h"

static void
test_versions(void)
{
    struct py_version v;

    TAP_EQ_INT(py_version_parse("3.9.18 (main, May  9 2026) [GCC]", 30, &v), 0,
               "Py_GetVersion text");
    TAP_EQ_STR(v.text, "3.9.18", "text");
    TAP_EQ_INT(v.hex, 0x030912f0, "hex");
    TAP_EQ_INT(py_version_parse("3.13.0rc2 (x", 12, &v), 0, "a pre-release");
    TAP_EQ_INT(v.hex, 0x030d00c2, "rc2 hex");
    TAP_EQ_INT(py_version_parse("2.7.18 (default", 15, &v), 0, "Python 2");
    TAP_EQ_INT(v.major, 2, "major 2");
    TAP_EQ_INT(py_version_parse("3.x.1", 5, &v), -1, "garbage");
    TAP_EQ_INT(py_version_parse("3.10.13abc", 10, &v), -1, "junk after");
    py_version_from_hex(0x030c01f0, &v);
    TAP_EQ_STR(v.text, "3.12.1", "from hex");
}

/* The 3.13 table: header, then these layout fields in CPython's order
 * ("-" = a value pyspect validates but does not keep; "=N" a literal). */
static const char *const rows313[] = {
    "=283320",
    "rt_finalizing",
    "rt_interpreters_head",
    "interp_size",
    "interp_id",
    "interp_next",
    "interp_tstate_head",
    "interp_gc",
    "interp_modules",
    "interp_sysdict",
    "interp_builtins",
    "interp_ceval_gil",
    "interp_gil",
    "=0",
    "+gil_locked",
    "+gil_last_holder",
    "tstate_size",
    "tstate_prev",
    "tstate_next",
    "tstate_interp",
    "tstate_current_frame",
    "tstate_thread_id",
    "tstate_native_thread_id",
    "tstate_datastack_chunk",
    "tstate_status",
    "iframe_size",
    "iframe_previous",
    "iframe_code",
    "iframe_instr",
    "iframe_localsplus",
    "iframe_owner",
    "code_size",
    "code_filename",
    "code_name",
    "code_qualname",
    "code_linetable",
    "code_firstlineno",
    "code_argcount",
    "=96",
    "=104",
    "code_code_adaptive",
    "=16",
    "obj_type",
    "type_size",
    "type_name",
    "=88",
    "type_flags",
    "tuple_size",
    "tuple_item",
    "var_size",
    "list_size",
    "list_item",
    "var_size",
    "dict_size",
    "dict_keys",
    "dict_values",
    "float_size",
    "float_fval",
    "long_size",
    "long_lv_tag",
    "long_digit",
    "bytes_size",
    "var_size",
    "bytes_sval",
    "=64",
    "unicode_state",
    "unicode_length",
    "unicode_ascii_size",
    "gcstate_size",
    "gcstate_collecting",
};

static void
build_table(const struct py_layout *l, unsigned char *t)
{
    uint64_t v;
    size_t i;

    memcpy(t, "xdebugpy", 8);
    v = 0x030d00f0;
    memcpy(t + 8, &v, 8);
    v = 0;
    memcpy(t + 16, &v, 8);
    for (i = 0; i < sizeof(rows313) / sizeof(rows313[0]); i++) {
        const char *r = rows313[i];

        if (r[0] == '=') {
            v = (uint64_t)strtoull(r + 1, NULL, 10);
        } else if (r[0] == '+') {
            /* GIL fields: relative to the interpreter in the table. */
            v = (uint64_t)(l->interp_gil +
                           py_layout_field_get(l,
                                               py_layout_field_index(r + 1)));
        } else {
            v = (uint64_t)py_layout_field_get(l, py_layout_field_index(r));
        }
        memcpy(t + 24 + 8 * i, &v, 8);
    }
}

static void
test_debug_offsets(void)
{
    const struct py_layout *gen = py_layout_find(3, 13);
    unsigned char t[584];
    struct py_layout l;
    uint64_t v;
    int i, same = 1;

    TAP_OK(gen != NULL, "a generated 3.13 layout exists");
    if (gen == NULL) {
        return;
    }
    TAP_EQ_INT(sizeof(rows313) / sizeof(rows313[0]) * 8 + 24,
               py_debug_offsets_size(13), "the test's row list is whole");
    build_table(gen, t);
    l = *gen;
    TAP_EQ_INT(py_debug_offsets_apply(t, sizeof(t), &l), 0,
               "a table built from the headers is accepted");
    for (i = 0; i < py_layout_field_count(); i++) {
        if (i != py_layout_field_index("rt_finalizing") &&
            py_layout_field_get(&l, i) != py_layout_field_get(gen, i)) {
            same = 0;
            printf("# %s: %d vs %d\n", py_layout_field_name(i),
                   py_layout_field_get(&l, i), py_layout_field_get(gen, i));
        }
    }
    TAP_OK(same, "applying it reproduces the generated layout");

    l = *gen;
    build_table(gen, t);
    memcpy(t, "ydebugpy", 8);
    TAP_EQ_INT(py_debug_offsets_apply(t, sizeof(t), &l), PS_ECORRUPT,
               "a wrong cookie");
    build_table(gen, t);
    v = 0x030c00f0;
    memcpy(t + 8, &v, 8);
    TAP_EQ_INT(py_debug_offsets_apply(t, sizeof(t), &l), PS_ECORRUPT,
               "a version that is not the target's");
    build_table(gen, t);
    v = 1;
    memcpy(t + 16, &v, 8);
    TAP_EQ_INT(py_debug_offsets_apply(t, sizeof(t), &l), PS_EVERSION,
               "free-threaded builds are refused");
    /* thread_state.current_frame beyond the thread state's size. */
    build_table(gen, t);
    v = 1u << 20;
    memcpy(t + 24 + 8 * 20, &v, 8);
    TAP_EQ_INT(py_debug_offsets_apply(t, sizeof(t), &l), PS_ECORRUPT,
               "an offset outside its struct");
    build_table(gen, t);
    v = 0;
    memcpy(t + 24 + 8 * 16, &v, 8);
    TAP_EQ_INT(py_debug_offsets_apply(t, sizeof(t), &l), PS_ECORRUPT,
               "a zero struct size");
    TAP_EQ_INT(py_debug_offsets_apply(t, 16, &l), PS_ECORRUPT, "too short");
    TAP_OK(memcmp(&l, gen, sizeof(l)) == 0,
           "a refused table leaves the layout untouched");
}

/*
 * A real table: fixtures/debug-offsets-<version>.txt holds the first
 * bytes of .PyRuntime of Debian sid's python3.14 / python3.15 (in hex),
 * as the sid root's interpreters carry them (dumped from the binaries
 * with tools/gen_layouts.py's elf_section()).
 */
static size_t
load_table(const char *dir, const char *version, unsigned char *t, size_t max)
{
    char path[512], line[256];
    size_t n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/debug-offsets-%s.txt", dir, version);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = line;
        unsigned v;

        if (line[0] == '#') {
            continue;
        }
        while (n < max && sscanf(p, "%2x", &v) == 1) {
            t[n++] = (unsigned char)v;
            p += 2;
        }
    }
    fclose(f);
    return n;
}

static void
test_real_table(const char *dir, int minor, const char *version)
{
    const struct py_layout *gen = py_layout_find(3, minor);
    unsigned char t[PY_DEBUG_OFFSETS_MAX_SIZE], bad[PY_DEBUG_OFFSETS_MAX_SIZE];
    size_t len = load_table(dir, version, t, sizeof(t));
    struct py_layout l;
    uint64_t v;
    int i, same = 1;

    TAP_OK(gen != NULL, "a generated 3.%d layout exists", minor);
    TAP_OK(len == py_debug_offsets_size(minor), "%s: the whole table",
           version);
    if (gen == NULL || len != py_debug_offsets_size(minor)) {
        return;
    }
    l = *gen;
    TAP_OK(py_debug_offsets_apply(t, len, &l) == 0, "%s: accepted", version);
    for (i = 0; i < py_layout_field_count(); i++) {
        if (i != py_layout_field_index("source_hex") &&
            py_layout_field_get(&l, i) != py_layout_field_get(gen, i)) {
            same = 0;
            printf("# %s: %d vs %d\n", py_layout_field_name(i),
                   py_layout_field_get(&l, i), py_layout_field_get(gen, i));
        }
    }
    TAP_OK(same, "%s: the target's table agrees with the headers' layout",
           version);
    TAP_OK(l.source_hex == gen->source_hex, "%s: the same patch release",
           version);

    /* A free-threaded build is refused by name. */
    memcpy(bad, t, len);
    v = 1;
    memcpy(bad + 16, &v, 8);
    l = *gen;
    TAP_OK(py_debug_offsets_apply(bad, len, &l) == PS_EVERSION,
           "%s: free-threaded refused", version);
    TAP_OK(strstr(err_context(), version) != NULL &&
               strstr(err_context(), "free-threaded") != NULL,
           "... saying so, with the version: %s", err_context());

    /* A pre-release of the same minor: its layout may differ. */
    memcpy(bad, t, len);
    v = 0x03000000u | ((uint64_t)minor << 16) | 0xb2;
    memcpy(bad + 8, &v, 8);
    l = *gen;
    TAP_OK(py_debug_offsets_apply(bad, len, &l) == PS_EVERSION,
           "%s: a beta refused", version);
    TAP_OK(strstr(err_context(), "pre-release") != NULL,
           "... as a pre-release: %s", err_context());

    /* Cut short: the table is not all there. */
    l = *gen;
    TAP_OK(py_debug_offsets_apply(t, len - 8, &l) == PS_ECORRUPT,
           "%s: a short table refused", version);

    /* Another collector (3.14.0 - 3.14.4's incremental one had a
     * struct of another size): the GC's list heads are unknown. */
    memcpy(bad, t, len);
    for (i = 0; i + 8 <= (int)len; i += 8) {
        memcpy(&v, bad + i, 8);
        if (i >= 24 && v == (uint64_t)gen->gcstate_size &&
            i + 16 <= (int)len) {
            uint64_t next;

            memcpy(&next, bad + i + 8, 8);
            if (next == (uint64_t)gen->gcstate_collecting) {
                v += 8;
                memcpy(bad + i, &v, 8);
                break;
            }
        }
    }
    l = *gen;
    TAP_OK(py_debug_offsets_apply(bad, len, &l) == 0,
           "%s: another GC state size is accepted", version);
    TAP_OK(!pyl_has(l.gcstate_generations) && pyl_has(l.interp_gc),
           "... without the GC's generations");
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("PYSPECT_FIXTURES");

    if (dir == NULL) {
        dir = "tests/unit/fixtures";
    }
    test_versions();
    test_debug_offsets();
    test_real_table(dir, 14, "3.14.10");
    test_real_table(dir, 15, "3.15.2");
    return tap_done();
}
