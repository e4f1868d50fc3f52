/*
 * debug_offsets.c - read CPython 3.13's _Py_DebugOffsets into a layout.
 *
 * Layer: python.  From 3.13 the runtime starts with a table of the sizes
 * and offsets an out-of-process reader needs ("xdebugpy" cookie, version,
 * free-threaded flag, then groups of uint64 values, each group starting
 * with the size of its struct).  The table is untrusted input: it is
 * validated once, here, as CPython's own reader does (cookie, version,
 * build flavour, every offset inside its struct), so the walkers can use
 * the values without further checks.  The table's own layout changes with
 * every minor version, so each minor has its own field list below; 3.14
 * and later need only a new list (and the matching generated side table
 * for the fields the offsets table does not carry).
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
 * One uint64 of the table: its group, its name in CPython's header, and
 * the layout field it sets (NULL: read and validated, not used).  A row
 * whose name is "size" starts a group.  `relative_to` names a group field
 * the value is relative to instead of the group's struct (the GIL fields
 * are offsets inside the _gil struct, itself at gil_runtime_state).
 */
struct debug_offset_row {
    const char *group;
    const char *name;
    const char *field;
    /* 1: a field of the interpreter's inline _gil struct, which the
     * table gives relative to the interpreter; the layout wants it
     * relative to the _gil struct (at gil_runtime_state). */
    int in_gil;
};

static const struct debug_offset_row debug_offsets_313[] = {
    {"runtime_state", "size", NULL, 0},
    {"runtime_state", "finalizing", "rt_finalizing", 0},
    {"runtime_state", "interpreters_head", "rt_interpreters_head", 0},
    {"interpreter_state", "size", "interp_size", 0},
    {"interpreter_state", "id", "interp_id", 0},
    {"interpreter_state", "next", "interp_next", 0},
    {"interpreter_state", "threads_head", "interp_tstate_head", 0},
    {"interpreter_state", "gc", "interp_gc", 0},
    {"interpreter_state", "imports_modules", "interp_modules", 0},
    {"interpreter_state", "sysdict", "interp_sysdict", 0},
    {"interpreter_state", "builtins", "interp_builtins", 0},
    {"interpreter_state", "ceval_gil", "interp_ceval_gil", 0},
    {"interpreter_state", "gil_runtime_state", "interp_gil", 0},
    {"interpreter_state", "gil_runtime_state_enabled", NULL, 1},
    {"interpreter_state", "gil_runtime_state_locked", "gil_locked", 1},
    {"interpreter_state", "gil_runtime_state_holder", "gil_last_holder", 1},
    {"thread_state", "size", "tstate_size", 0},
    {"thread_state", "prev", "tstate_prev", 0},
    {"thread_state", "next", "tstate_next", 0},
    {"thread_state", "interp", "tstate_interp", 0},
    {"thread_state", "current_frame", "tstate_current_frame", 0},
    {"thread_state", "thread_id", "tstate_thread_id", 0},
    {"thread_state", "native_thread_id", "tstate_native_thread_id", 0},
    {"thread_state", "datastack_chunk", "tstate_datastack_chunk", 0},
    {"thread_state", "status", "tstate_status", 0},
    {"interpreter_frame", "size", "iframe_size", 0},
    {"interpreter_frame", "previous", "iframe_previous", 0},
    {"interpreter_frame", "executable", "iframe_code", 0},
    {"interpreter_frame", "instr_ptr", "iframe_instr", 0},
    {"interpreter_frame", "localsplus", "iframe_localsplus", 0},
    {"interpreter_frame", "owner", "iframe_owner", 0},
    {"code_object", "size", "code_size", 0},
    {"code_object", "filename", "code_filename", 0},
    {"code_object", "name", "code_name", 0},
    {"code_object", "qualname", "code_qualname", 0},
    {"code_object", "linetable", "code_linetable", 0},
    {"code_object", "firstlineno", "code_firstlineno", 0},
    {"code_object", "argcount", "code_argcount", 0},
    {"code_object", "localsplusnames", "code_localsplusnames", 0},
    {"code_object", "localspluskinds", "code_localspluskinds", 0},
    {"code_object", "co_code_adaptive", "code_code_adaptive", 0},
    {"pyobject", "size", NULL, 0},
    {"pyobject", "ob_type", "obj_type", 0},
    {"type_object", "size", "type_size", 0},
    {"type_object", "tp_name", "type_name", 0},
    {"type_object", "tp_repr", NULL, 0},
    {"type_object", "tp_flags", "type_flags", 0},
    {"tuple_object", "size", "tuple_size", 0},
    {"tuple_object", "ob_item", "tuple_item", 0},
    {"tuple_object", "ob_size", "var_size", 0},
    {"list_object", "size", "list_size", 0},
    {"list_object", "ob_item", "list_item", 0},
    {"list_object", "ob_size", NULL, 0},
    {"dict_object", "size", "dict_size", 0},
    {"dict_object", "ma_keys", "dict_keys", 0},
    {"dict_object", "ma_values", "dict_values", 0},
    {"float_object", "size", "float_size", 0},
    {"float_object", "ob_fval", "float_fval", 0},
    {"long_object", "size", "long_size", 0},
    {"long_object", "lv_tag", "long_lv_tag", 0},
    {"long_object", "ob_digit", "long_digit", 0},
    {"bytes_object", "size", "bytes_size", 0},
    {"bytes_object", "ob_size", NULL, 0},
    {"bytes_object", "ob_sval", "bytes_sval", 0},
    {"unicode_object", "size", NULL, 0},
    {"unicode_object", "state", "unicode_state", 0},
    {"unicode_object", "length", "unicode_length", 0},
    {"unicode_object", "asciiobject_size", "unicode_ascii_size", 0},
    {"gc", "size", "gcstate_size", 0},
    {"gc", "collecting", "gcstate_collecting", 0},
};

/* cookie[8], version, free_threaded, then the rows. */
#define DEBUG_OFFSETS_HEADER 24

_Static_assert(DEBUG_OFFSETS_HEADER + 8 * ARRAY_SIZE(debug_offsets_313) ==
                   PY_DEBUG_OFFSETS_313_SIZE,
               "the 3.13 row list must match the table's size");

static uint64_t
table_u64(const unsigned char *table, size_t index)
{
    uint64_t v;

    memcpy(&v, table + index, sizeof(v));
    return v;
}

int
py_debug_offsets_apply(const unsigned char *table, size_t len,
                       struct py_layout *layout)
{
    const struct debug_offset_row *rows = debug_offsets_313;
    size_t nrows = ARRAY_SIZE(debug_offsets_313), i;
    uint64_t version, group_size = 0;
    struct py_layout out = *layout;

    if (len < DEBUG_OFFSETS_HEADER || memcmp(table, "xdebugpy", 8) != 0) {
        return err_set(PS_ECORRUPT, "_PyRuntime does not start with the "
                                    "_Py_DebugOffsets cookie");
    }
    version = table_u64(table, 8);
    if (((version >> 24) & 0xff) != 3 ||
        (int)((version >> 16) & 0xff) != layout->minor) {
        return err_set(PS_ECORRUPT,
                       "_Py_DebugOffsets version %#llx does "
                       "not match Python 3.%d",
                       (unsigned long long)version, layout->minor);
    }
    if (table_u64(table, 16) != 0) {
        return err_set(PS_EVERSION, "free-threaded (no-GIL) builds are not "
                                    "supported yet");
    }
    if (layout->minor != 13 || len < DEBUG_OFFSETS_HEADER + 8 * nrows) {
        return err_set(PS_EVERSION, "no _Py_DebugOffsets reader for 3.%d",
                       layout->minor);
    }
    for (i = 0; i < nrows; i++) {
        uint64_t v = table_u64(table, DEBUG_OFFSETS_HEADER + 8 * i);
        int index;

        if (strcmp(rows[i].name, "size") == 0) {
            if (v == 0 || v > DEBUG_OFFSETS_MAX_STRUCT) {
                return err_set(PS_ECORRUPT,
                               "_Py_DebugOffsets: %s.size = "
                               "%llu",
                               rows[i].group, (unsigned long long)v);
            }
            group_size = v;
        } else if (v + 8 > group_size) {
            /* Every field pyspect reads is at most 8 bytes wide. */
            return err_set(PS_ECORRUPT,
                           "_Py_DebugOffsets: %s.%s = %llu "
                           "is outside its struct",
                           rows[i].group, rows[i].name, (unsigned long long)v);
        }
        if (rows[i].field == NULL) {
            continue;
        }
        index = py_layout_field_index(rows[i].field);
        if (index < 0) {
            return err_set(PS_EINTERNAL, "unknown layout field %s",
                           rows[i].field);
        }
        if (rows[i].in_gil) {
            /* The _gil struct is small; its fields follow its start. */
            if (v < (uint64_t)out.interp_gil ||
                v - (uint64_t)out.interp_gil > 4096) {
                return err_set(PS_ECORRUPT,
                               "_Py_DebugOffsets: %s.%s = %llu "
                               "is outside the GIL state",
                               rows[i].group, rows[i].name,
                               (unsigned long long)v);
            }
            v -= (uint64_t)out.interp_gil;
        }
        py_layout_field_set(&out, index, (int32_t)v);
    }
    out.source_hex = (uint32_t)version;
    *layout = out;
    return 0;
}
