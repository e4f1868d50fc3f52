/*
 * runtime.h - a CPython runtime found in a target process.
 *
 * Layer: python.  py_runtime_attach() finds the object (executable or
 * shared library) that holds the CPython runtime, without trusting file
 * names; reads the exact version from the target; picks the layout
 * (generated tables for 2.7 and 3.6-3.12, the target's _Py_DebugOffsets
 * over them for 3.13-3.15); and locates the entry points the walkers
 * start from.
 */
#ifndef PYSPECT_PYTHON_RUNTIME_H
#define PYSPECT_PYTHON_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

#include "core/hashmap.h"
#include "python/layout.h"
#include "target/elf.h"
#include "target/maps.h"
#include "target/memsrc.h"
#include "target/target.h"

struct py_version {
    int major;
    int minor;
    int micro;
    uint32_t hex;  /* PY_VERSION_HEX, 0 when only the text is known */
    char text[48]; /* "3.12.1", "3.13.0rc2" */
};

struct py_runtime;

/*
 * How Python objects are read (pyobj.h, and every walker over objects):
 * the runtime gives the layout and the addresses of the builtin types,
 * mem where the bytes come from.  The runtime's own reader reads through
 * its page cache; a walk with a cache of its own (the heap census) makes
 * a reader over that instead and passes it explicitly.
 */
struct py_reader {
    const struct py_runtime *rt;
    struct memsrc *mem;
};

struct py_runtime {
    struct target *target;   /* what is read (not owned, see below) */
    struct memsrc *proc;     /* the target's memory, uncached (its own) */
    struct memsrc *mem;      /* page cache over proc: what walkers read */
    struct py_reader reader; /* objects, read through mem */
    struct maps maps;        /* the target's mappings at attach */
    struct elf_image *elf;   /* the object holding the runtime */
    char *elf_path;          /* where pyspect opened it from */
    uint64_t bias;           /* its load bias */
    char *executable;        /* the target's executable */
    char *library;           /* the shared library path, or NULL (static) */
    struct py_version version;
    struct py_layout layout; /* 3.13+: overlaid with _Py_DebugOffsets */
    int layout_from_debug_offsets;

    /* Entry points, 0 when absent. */
    raddr_t runtime;         /* &_PyRuntime (3.7+) */
    raddr_t interp_head;     /* &interp_head (2.7, 3.6; see below) */
    raddr_t tstate_current;  /* &_PyThreadState_Current (2.7, 3.6) */
    raddr_t gil_locked;      /* &gil_locked (3.6 static) */
    raddr_t gil_last_holder; /* &gil_last_holder (3.6 static) */
    raddr_t code_type;       /* &PyCode_Type */
    raddr_t str_type;        /* &PyUnicode_Type */
    raddr_t bytes_type;      /* &PyBytes_Type (2.7: PyString_Type) */
    raddr_t long_type;       /* &PyLong_Type */
    raddr_t int_type;        /* &PyInt_Type (2.7) */
    raddr_t float_type;      /* &PyFloat_Type */
    raddr_t dict_type;       /* &PyDict_Type */
    /* How interp_head was found: "symbols", "debug-file", "search", or
     * NULL (not yet: a stripped object is searched again while no thread
     * holds the GIL to lead there). */
    const char *interp_head_by;

    /* Offset of the kernel TID inside glibc's struct pthread (<=3.10),
     * -1 until found. */
    int pthread_tid_offset;

    int owns_target; /* py_runtime_from_memsrc()'s own target */

    /* Native stacks (python/native.h), made on first use (owned). */
    struct py_native *native;

    /* Code objects by remote address (struct py_code *, owned). */
    struct hashmap codes;
    uint32_t code_epoch; /* see py_code_get() */
    uint32_t code_check; /* see py_stack_check_codes() */
};

/*
 * Find the CPython runtime in target t: PS_ENOTPY, PS_EVERSION,
 * PS_ENOTREADY, PS_EEXITED, PS_EPERM.  Read-only.  The runtime borrows
 * t, which must outlive it.
 */
int py_runtime_attach(struct target *t, struct py_runtime **out);
void py_runtime_free(struct py_runtime *rt);

/*
 * A runtime over any memory source with a known layout, taking ownership
 * of src (through a memory-only target the runtime owns): no process, no
 * ELF file.  The entry points (runtime, code_type, ...) are left 0 for
 * the caller to set.  For unit tests.
 */
struct py_runtime *py_runtime_from_memsrc(struct memsrc *src,
                                          const struct py_layout *layout);

/* The address of a symbol of the runtime's object in the target. */
int py_runtime_symbol(struct py_runtime *rt, const char *name, raddr_t *addr);

/*
 * The first interpreter (PyInterpreterState *).  PS_ENOTREADY while the
 * runtime has none.
 */
int py_runtime_interp_head(struct py_runtime *rt, raddr_t *interp);

/*
 * The string sys.<name> of the first interpreter (prefix, base_prefix),
 * appended to out.  PS_ENOTFOUND when sys has no such str.
 */
int py_runtime_sys_str(struct py_runtime *rt, const char *name,
                       struct strbuf *out);

/* Start a new snapshot: forget cached target pages. */
void py_runtime_snapshot(struct py_runtime *rt);

/*
 * Parse "3.12.1", "3.13.0rc2 (main, ...)" into v.  Returns 0 or -1.
 */
int py_version_parse(const char *text, size_t len, struct py_version *v);

/* Does a PY_VERSION_HEX read from the target look like one? */
int py_version_hex_sane(uint64_t hex);

/* Fill v from a PY_VERSION_HEX value. */
void py_version_from_hex(uint32_t hex, struct py_version *v);

/*
 * Overlay the _Py_DebugOffsets table found at table (len bytes, a copy of
 * the target's) onto layout, the generated table of the same minor.
 * Validates every value first; PS_ECORRUPT or PS_EVERSION (naming the
 * version) on a table pyspect cannot trust or does not know.
 */
int py_debug_offsets_apply(const unsigned char *table, size_t len,
                           struct py_layout *layout);

/*
 * sizeof(_Py_DebugOffsets) of Python 3.minor (584 for 3.13, 760 for 3.14,
 * 888 for 3.15), or 0 when pyspect has no reader for it.
 */
size_t py_debug_offsets_size(int minor);

/* The largest table any known minor has. */
#define PY_DEBUG_OFFSETS_MAX_SIZE 888

#endif /* PYSPECT_PYTHON_RUNTIME_H */
