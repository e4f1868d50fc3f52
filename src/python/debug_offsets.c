/*
 * debug_offsets.c - read CPython's _Py_DebugOffsets (3.13+) into a layout.
 *
 * Layer: python.  From 3.13 the runtime starts with a table of the sizes
 * and offsets an out-of-process reader needs ("xdebugpy" cookie, version,
 * free-threaded flag, then groups of uint64 values, most starting with
 * the size of their struct).  The table is untrusted input: it is
 * validated once, here, as CPython's own reader does (cookie, version,
 * build flavour, every offset inside its struct), so the walkers can use
 * the values without further checks.  The table's own layout grows with
 * every minor version (3.14 and 3.15 append fields to groups and add
 * groups), so each minor has its own row list below, checked against
 * sizeof(_Py_DebugOffsets) of its header; a minor without one is refused
 * by name, as is a pre-release other than the one the generated side
 * table came from.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "python/runtime.h"
#include "core/banned.h"

/* A group's size field and its offsets must stay below this. */
#define DEBUG_OFFSETS_MAX_STRUCT (64u << 20)

/*
 * One uint64 of the table: its group, its name in CPython's header, the
 * layout field it sets (NULL: read, not kept) and how it is checked.
 */
enum debug_offset_kind {
    /* An offset inside the group's struct (below the group's size). */
    DO_OFFSET,
    /* A field of the interpreter's inline _gil struct: the table gives it
     * relative to the interpreter, the layout wants it relative to the
     * _gil struct (at gil_runtime_state). */
    DO_GIL,
    /* The size of the group's struct: it starts the group. */
    DO_SIZE,
    /* The size of a leading part of the group's struct. */
    DO_PART,
    /* A value that is no offset in the group's struct (the groups without
     * a size, flags, buffer sizes): pyspect keeps none of them. */
    DO_OTHER,
};

struct debug_offset_row {
    const char *group;
    const char *name;
    const char *field;
    enum debug_offset_kind kind;
};

/*
 * Runs of rows that 3.13, 3.14 and 3.15 share, in table order, cut where
 * a later version inserts rows.
 */
/* clang-format off */
#define ROWS_RUNTIME                                                          \
    {"runtime_state", "size", NULL, DO_SIZE},                                 \
    {"runtime_state", "finalizing", "rt_finalizing", DO_OFFSET},              \
    {"runtime_state", "interpreters_head", "rt_interpreters_head",            \
     DO_OFFSET},                                                              \
    {"interpreter_state", "size", "interp_size", DO_SIZE},                    \
    {"interpreter_state", "id", "interp_id", DO_OFFSET},                      \
    {"interpreter_state", "next", "interp_next", DO_OFFSET},                  \
    {"interpreter_state", "threads_head", "interp_tstate_head", DO_OFFSET}

#define ROWS_INTERP_TAIL                                                      \
    {"interpreter_state", "gc", "interp_gc", DO_OFFSET},                      \
    {"interpreter_state", "imports_modules", "interp_modules", DO_OFFSET},    \
    {"interpreter_state", "sysdict", "interp_sysdict", DO_OFFSET},            \
    {"interpreter_state", "builtins", "interp_builtins", DO_OFFSET},          \
    {"interpreter_state", "ceval_gil", "interp_ceval_gil", DO_OFFSET},        \
    {"interpreter_state", "gil_runtime_state", "interp_gil", DO_OFFSET},      \
    {"interpreter_state", "gil_runtime_state_enabled", NULL, DO_OTHER},       \
    {"interpreter_state", "gil_runtime_state_locked", "gil_locked", DO_GIL},  \
    {"interpreter_state", "gil_runtime_state_holder", "gil_last_holder",      \
     DO_GIL}

#define ROWS_THREAD_HEAD                                                      \
    {"thread_state", "size", "tstate_size", DO_SIZE},                         \
    {"thread_state", "prev", "tstate_prev", DO_OFFSET},                       \
    {"thread_state", "next", "tstate_next", DO_OFFSET},                       \
    {"thread_state", "interp", "tstate_interp", DO_OFFSET},                   \
    {"thread_state", "current_frame", "tstate_current_frame", DO_OFFSET}

#define ROWS_THREAD_TAIL                                                      \
    {"thread_state", "thread_id", "tstate_thread_id", DO_OFFSET},             \
    {"thread_state", "native_thread_id", "tstate_native_thread_id",           \
     DO_OFFSET},                                                              \
    {"thread_state", "datastack_chunk", "tstate_datastack_chunk", DO_OFFSET}, \
    {"thread_state", "status", "tstate_status", DO_OFFSET}

#define ROWS_FRAME                                                            \
    {"interpreter_frame", "size", "iframe_size", DO_SIZE},                    \
    {"interpreter_frame", "previous", "iframe_previous", DO_OFFSET},          \
    {"interpreter_frame", "executable", "iframe_code", DO_OFFSET},            \
    {"interpreter_frame", "instr_ptr", "iframe_instr", DO_OFFSET},            \
    {"interpreter_frame", "localsplus", "iframe_localsplus", DO_OFFSET},      \
    {"interpreter_frame", "owner", "iframe_owner", DO_OFFSET}

#define ROWS_CODE                                                             \
    {"code_object", "size", "code_size", DO_SIZE},                            \
    {"code_object", "filename", "code_filename", DO_OFFSET},                  \
    {"code_object", "name", "code_name", DO_OFFSET},                          \
    {"code_object", "qualname", "code_qualname", DO_OFFSET},                  \
    {"code_object", "linetable", "code_linetable", DO_OFFSET},                \
    {"code_object", "firstlineno", "code_firstlineno", DO_OFFSET},            \
    {"code_object", "argcount", "code_argcount", DO_OFFSET},                  \
    {"code_object", "localsplusnames", "code_localsplusnames", DO_OFFSET},    \
    {"code_object", "localspluskinds", NULL, DO_OFFSET},                      \
    {"code_object", "co_code_adaptive", "code_code_adaptive", DO_OFFSET}

#define ROWS_OBJECT_TYPE                                                      \
    {"pyobject", "size", NULL, DO_SIZE},                                      \
    {"pyobject", "ob_type", "obj_type", DO_OFFSET},                           \
    {"type_object", "size", "type_size", DO_SIZE},                            \
    {"type_object", "tp_name", "type_name", DO_OFFSET},                       \
    {"type_object", "tp_repr", NULL, DO_OFFSET},                              \
    {"type_object", "tp_flags", "type_flags", DO_OFFSET}

#define ROWS_TUPLE_LIST                                                       \
    {"tuple_object", "size", "tuple_size", DO_SIZE},                          \
    {"tuple_object", "ob_item", "tuple_item", DO_OFFSET},                     \
    {"tuple_object", "ob_size", "var_size", DO_OFFSET},                       \
    {"list_object", "size", "list_size", DO_SIZE},                            \
    {"list_object", "ob_item", "list_item", DO_OFFSET},                       \
    {"list_object", "ob_size", NULL, DO_OFFSET}

#define ROWS_SET                                                              \
    {"set_object", "size", "set_size", DO_SIZE},                              \
    {"set_object", "used", "set_used", DO_OFFSET},                            \
    {"set_object", "table", "set_table", DO_OFFSET},                          \
    {"set_object", "mask", "set_mask", DO_OFFSET}

#define ROWS_DICT_TO_BYTES                                                    \
    {"dict_object", "size", "dict_size", DO_SIZE},                            \
    {"dict_object", "ma_keys", "dict_keys", DO_OFFSET},                       \
    {"dict_object", "ma_values", "dict_values", DO_OFFSET},                   \
    {"float_object", "size", "float_size", DO_SIZE},                          \
    {"float_object", "ob_fval", "float_fval", DO_OFFSET},                     \
    {"long_object", "size", "long_size", DO_SIZE},                            \
    {"long_object", "lv_tag", "long_lv_tag", DO_OFFSET},                      \
    {"long_object", "ob_digit", "long_digit", DO_OFFSET},                     \
    {"bytes_object", "size", "bytes_size", DO_SIZE},                          \
    {"bytes_object", "ob_size", NULL, DO_OFFSET},                             \
    {"bytes_object", "ob_sval", "bytes_sval", DO_OFFSET}

#define ROWS_UNICODE                                                          \
    {"unicode_object", "size", "unicode_object_size", DO_SIZE},               \
    {"unicode_object", "state", "unicode_state", DO_OFFSET},                  \
    {"unicode_object", "length", "unicode_length", DO_OFFSET},                \
    {"unicode_object", "asciiobject_size", "unicode_ascii_size", DO_PART}

#define ROWS_GC                                                               \
    {"gc", "size", "gcstate_size", DO_SIZE},                                  \
    {"gc", "collecting", "gcstate_collecting", DO_OFFSET}

/* 3.14 added these groups after gc (generators, asyncio task lists and
 * PEP 768's remote execution; only the generator's offsets are kept). */
#define ROWS_GEN_TO_DEBUGGER                                                  \
    {"gen_object", "size", NULL, DO_SIZE},                                    \
    {"gen_object", "gi_name", "gen_name", DO_OFFSET},                         \
    {"gen_object", "gi_iframe", "gen_iframe", DO_OFFSET},                     \
    {"gen_object", "gi_frame_state", "gen_frame_state", DO_OFFSET},           \
    {"llist_node", "next", NULL, DO_OTHER},                                   \
    {"llist_node", "prev", NULL, DO_OTHER},                                   \
    {"debugger_support", "eval_breaker", NULL, DO_OTHER},                     \
    {"debugger_support", "remote_debugger_support", NULL, DO_OTHER},          \
    {"debugger_support", "remote_debugging_enabled", NULL, DO_OTHER},         \
    {"debugger_support", "debugger_pending_call", NULL, DO_OTHER},            \
    {"debugger_support", "debugger_script_path", NULL, DO_OTHER},             \
    {"debugger_support", "debugger_script_path_size", NULL, DO_OTHER}

/* clang-format on */

/* Include/internal/pycore_debug_offsets.h, 3.13. */
static const struct debug_offset_row debug_offsets_313[] = {
    ROWS_RUNTIME,       ROWS_INTERP_TAIL, ROWS_THREAD_HEAD, ROWS_THREAD_TAIL,
    ROWS_FRAME,         ROWS_CODE,        ROWS_OBJECT_TYPE, ROWS_TUPLE_LIST,
    ROWS_DICT_TO_BYTES, ROWS_UNICODE,     ROWS_GC,
};

/* 3.14: the main thread, code-object generation and free-threaded
 * fields; the frame's stackpointer; sets, generators and the rest. */
static const struct debug_offset_row debug_offsets_314[] = {
    ROWS_RUNTIME,
    {"interpreter_state", "threads_main", "interp_threads_main", DO_OFFSET},
    ROWS_INTERP_TAIL,
    {"interpreter_state", "code_object_generation", NULL, DO_OFFSET},
    {"interpreter_state", "tlbc_generation", NULL, DO_OTHER},
    ROWS_THREAD_HEAD,
    ROWS_THREAD_TAIL,
    ROWS_FRAME,
    {"interpreter_frame", "stackpointer", "iframe_stackpointer", DO_OFFSET},
    {"interpreter_frame", "tlbc_index", NULL, DO_OTHER},
    ROWS_CODE,
    {"code_object", "co_tlbc", NULL, DO_OTHER},
    ROWS_OBJECT_TYPE,
    ROWS_TUPLE_LIST,
    ROWS_SET,
    ROWS_DICT_TO_BYTES,
    ROWS_UNICODE,
    ROWS_GC,
    ROWS_GEN_TO_DEBUGGER,
};

/* 3.15: the base frame and profiler fields of the thread state, the
 * exception state, type sizes, heap types, the compact str header and
 * the GC's statistics. */
static const struct debug_offset_row debug_offsets_315[] = {
    ROWS_RUNTIME,
    {"interpreter_state", "threads_main", "interp_threads_main", DO_OFFSET},
    ROWS_INTERP_TAIL,
    {"interpreter_state", "code_object_generation", NULL, DO_OFFSET},
    {"interpreter_state", "tlbc_generation", NULL, DO_OTHER},
    ROWS_THREAD_HEAD,
    {"thread_state", "base_frame", "tstate_base_frame", DO_OFFSET},
    {"thread_state", "last_profiled_frame", NULL, DO_OFFSET},
    {"thread_state", "last_profiled_frame_seq", NULL, DO_OFFSET},
    ROWS_THREAD_TAIL,
    {"thread_state", "holds_gil", NULL, DO_OFFSET},
    {"thread_state", "gil_requested", NULL, DO_OFFSET},
    {"thread_state", "current_exception", NULL, DO_OFFSET},
    {"thread_state", "exc_state", NULL, DO_OFFSET},
    {"err_stackitem", "exc_value", NULL, DO_OTHER},
    ROWS_FRAME,
    {"interpreter_frame", "stackpointer", "iframe_stackpointer", DO_OFFSET},
    {"interpreter_frame", "tlbc_index", NULL, DO_OTHER},
    ROWS_CODE,
    {"code_object", "co_tlbc", NULL, DO_OTHER},
    ROWS_OBJECT_TYPE,
    {"type_object", "tp_basicsize", "type_basicsize", DO_OFFSET},
    {"type_object", "tp_dictoffset", "type_dictoffset", DO_OFFSET},
    {"heap_type_object", "size", "heaptype_size", DO_SIZE},
    {"heap_type_object", "ht_cached_keys", "heaptype_cached_keys", DO_OFFSET},
    ROWS_TUPLE_LIST,
    ROWS_SET,
    ROWS_DICT_TO_BYTES,
    ROWS_UNICODE,
    {"unicode_object", "compactunicodeobject_size", "unicode_compact_size",
     DO_PART},
    ROWS_GC,
    {"gc", "frame", NULL, DO_OFFSET},
    {"gc", "generation_stats_size", NULL, DO_OTHER},
    {"gc", "generation_stats", NULL, DO_OFFSET},
    ROWS_GEN_TO_DEBUGGER,
};

/* cookie[8], version, free_threaded, then the rows. */
#define DEBUG_OFFSETS_HEADER 24

struct debug_offsets_version {
    int minor;
    const struct debug_offset_row *rows;
    size_t nrows;
};

static const struct debug_offsets_version debug_offsets_versions[] = {
    {13, debug_offsets_313, ARRAY_SIZE(debug_offsets_313)},
    {14, debug_offsets_314, ARRAY_SIZE(debug_offsets_314)},
    {15, debug_offsets_315, ARRAY_SIZE(debug_offsets_315)},
};

/* sizeof(_Py_DebugOffsets) of each version, from its header. */
_Static_assert(DEBUG_OFFSETS_HEADER + 8 * ARRAY_SIZE(debug_offsets_313) == 584,
               "the 3.13 row list must match the table's size");
_Static_assert(DEBUG_OFFSETS_HEADER + 8 * ARRAY_SIZE(debug_offsets_314) == 760,
               "the 3.14 row list must match the table's size");
_Static_assert(DEBUG_OFFSETS_HEADER + 8 * ARRAY_SIZE(debug_offsets_315) == 888,
               "the 3.15 row list must match the table's size");

static uint64_t
table_u64(const unsigned char *table, size_t index)
{
    uint64_t v;

    memcpy(&v, table + index, sizeof(v));
    return v;
}

static const struct debug_offsets_version *
version_rows(int minor)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(debug_offsets_versions); i++) {
        if (debug_offsets_versions[i].minor == minor) {
            return &debug_offsets_versions[i];
        }
    }
    return NULL;
}

size_t
py_debug_offsets_size(int minor)
{
    const struct debug_offsets_version *v = version_rows(minor);

    return v != NULL ? DEBUG_OFFSETS_HEADER + 8 * v->nrows : 0;
}

/* Check one value against its group; PS_ECORRUPT names it. */
static int
check_row(const struct debug_offset_row *row, uint64_t v, uint64_t group_size,
          const struct py_layout *out)
{
    switch (row->kind) {
    case DO_SIZE:
        if (v == 0 || v > DEBUG_OFFSETS_MAX_STRUCT) {
            return err_set(PS_ECORRUPT, "_Py_DebugOffsets: %s.size = %llu",
                           row->group, (unsigned long long)v);
        }
        return 0;
    case DO_PART:
        if (v == 0 || v > group_size) {
            break;
        }
        return 0;
    case DO_GIL:
        /* The _gil struct is small; its fields follow its start. */
        if (v < (uint64_t)out->interp_gil ||
            v - (uint64_t)out->interp_gil > 4096) {
            return err_set(PS_ECORRUPT,
                           "_Py_DebugOffsets: %s.%s = %llu is outside the "
                           "GIL state",
                           row->group, row->name, (unsigned long long)v);
        }
        /* fall through */
    case DO_OFFSET:
        /* Every field pyspect reads is at most 8 bytes wide. */
        if (v + 8 > group_size) {
            break;
        }
        return 0;
    case DO_OTHER:
        return 0;
    }
    return err_set(PS_ECORRUPT,
                   "_Py_DebugOffsets: %s.%s = %llu is outside "
                   "its struct",
                   row->group, row->name, (unsigned long long)v);
}

/*
 * The GC's list heads are not in the table: they come from the headers
 * of one patch release.  A struct of another size (3.14.0 - 3.14.4 ran
 * an incremental collector with other generations) means they are not
 * known: leave them out, and the GC walk says so.
 */
static void
check_gc_state(const struct py_layout *gen, struct py_layout *out)
{
    if (out->gcstate_size == gen->gcstate_size) {
        return;
    }
    out->gcstate_generations = PYL_ABSENT;
    out->gcstate_permanent = PYL_ABSENT;
    out->gcstate_enabled = PYL_ABSENT;
    out->gcstate_garbage = PYL_ABSENT;
}

int
py_debug_offsets_apply(const unsigned char *table, size_t len,
                       struct py_layout *layout)
{
    const struct debug_offsets_version *known;
    struct py_version v;
    uint64_t version, group_size = 0;
    struct py_layout out = *layout;
    size_t i;
    int rc;

    if (len < DEBUG_OFFSETS_HEADER || memcmp(table, "xdebugpy", 8) != 0) {
        return err_set(PS_ECORRUPT, "_PyRuntime does not start with the "
                                    "_Py_DebugOffsets cookie");
    }
    version = table_u64(table, 8);
    if (((version >> 24) & 0xff) != 3 ||
        (int)((version >> 16) & 0xff) != layout->minor ||
        !py_version_hex_sane(version)) {
        return err_set(PS_ECORRUPT,
                       "_Py_DebugOffsets version %#llx does "
                       "not match Python 3.%d",
                       (unsigned long long)version, layout->minor);
    }
    py_version_from_hex((uint32_t)version, &v);
    if (table_u64(table, 16) != 0) {
        return err_set(PS_EVERSION,
                       "Python %s is a free-threaded (no-GIL) build, "
                       "which pyspect does not read yet",
                       v.text);
    }
    known = version_rows(layout->minor);
    if (known == NULL) {
        return err_set(PS_EVERSION,
                       "Python %s: pyspect has no _Py_DebugOffsets "
                       "reader for 3.%d",
                       v.text, layout->minor);
    }
    /* Pre-releases move fields between betas: only the exact one. */
    if (((version >> 4) & 0xf) != 0xf && version != layout->source_hex) {
        return err_set(PS_EVERSION,
                       "Python %s is a pre-release whose _Py_DebugOffsets "
                       "layout pyspect does not know",
                       v.text);
    }
    if (len < DEBUG_OFFSETS_HEADER + 8 * known->nrows) {
        return err_set(PS_ECORRUPT,
                       "_Py_DebugOffsets of Python %s: %zu bytes, "
                       "expected %zu",
                       v.text, len, DEBUG_OFFSETS_HEADER + 8 * known->nrows);
    }
    for (i = 0; i < known->nrows; i++) {
        const struct debug_offset_row *row = &known->rows[i];
        uint64_t value = table_u64(table, DEBUG_OFFSETS_HEADER + 8 * i);
        int index;

        rc = check_row(row, value, group_size, &out);
        if (rc < 0) {
            return rc;
        }
        if (row->kind == DO_SIZE) {
            group_size = value;
        }
        if (row->field == NULL) {
            continue;
        }
        index = py_layout_field_index(row->field);
        if (index < 0) {
            return err_set(PS_EINTERNAL, "unknown layout field %s",
                           row->field);
        }
        if (row->kind == DO_GIL) {
            value -= (uint64_t)out.interp_gil;
        }
        py_layout_field_set(&out, index, (int32_t)value);
    }
    check_gc_state(layout, &out);
    out.source_hex = (uint32_t)version;
    *layout = out;
    return 0;
}
