#!/usr/bin/python3
"""Generate src/python/layouts_gen.c from CPython's own headers.

For every CPython minor version pyspect supports (2.7, 3.6 - 3.15) this
script writes a small C probe that includes that version's headers (Python.h,
frameobject.h and the internal pycore_*.h headers, compiled with
-DPy_BUILD_CORE), compiles it with gcc, runs it, and reads back one
"name value" line per field of `struct py_layout` (src/python/layout.h).
Every value is an offsetof()/sizeof() of a real header struct, a header
constant (enum value, flag macro), a bit position found by setting a
bitfield in a local struct, or - where the struct is private to a .c file
of that CPython version - an offsetof() into a mirror struct transcribed
from that file (the MIRROR_* strings below; each cites its source, and each
is checked against the header of the first version that publishes the same
struct, or against the running interpreter).

Every (field, version) pair is decided explicitly in FIELDS (3.x) and
FIELDS_27 (2.7): either a C expression or ABSENT.  The field list is parsed
out of layout.h, so adding a field there without deciding it here for every
version is an error.

Where the headers come from: pyenv's installs (`pyenv root`/versions/3.X.Y
and 2.7.Y, highest patch level of each minor) for 2.7 and 3.6 - 3.13; for
3.14 and 3.15 the -dev packages in the Debian sid root tools/sid-root
makes, compiled with the -D_Py_* flags that interpreter's core was built
with (its sysconfig data), whose interpreters run the runtime checks
inside that root.  Debian's /usr/include/python3.11, if present, is
probed too and must agree with pyenv's 3.11 on every field.

Cross-checks run after probing (each skipped, with a note, when the needed
binary is missing):
  * pymalloc constants against `sys._debugmallocstats()` of that pyenv
    interpreter (threshold, number of size classes, arena size, and the
    blocks-per-pool arithmetic that fixes POOL_SIZE); 2.7 has no such
    function, and its live check reads the pool headers instead;
  * a live read of each pyenv interpreter's own memory with ctypes, using
    only the generated offsets: runtime/interpreter/thread lists, GIL
    holder, thread ids, the frame chain and code objects (qualnames with
    non-ASCII identifiers), generators, str/bytes/int/float/tuple/list/
    set/dict internals (general and unicode keys, split/inline values),
    managed-dict pre-headers, heap types and their __slots__ PyMemberDef
    table, module dicts, GC generations and list links, and (3.12+) the
    per-interpreter pymalloc arena table;
  * for 3.13+, the _Py_DebugOffsets table embedded in libpython's (or the
    static interpreter's) .PyRuntime section;
  * for 2.7, a live read of the same kind written for 2.7 (LIVE_CHECK_27):
    threads, frames, code objects, byte and unicode strings, ints, the
    2.7 dict table, old-style classes and instances, GC lists, the int
    and float free-list blocks, and the pymalloc arenas and pool headers.

Usage:
  /usr/bin/python3 tools/gen_layouts.py            write layouts_gen.c
  /usr/bin/python3 tools/gen_layouts.py --check    compare, exit 1 on diff

Standard library only; needs gcc.
"""

import argparse
import difflib
import glob
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYOUT_H = os.path.join(ROOT, "src", "python", "layout.h")
OUTPUT = os.path.join(ROOT, "src", "python", "layouts_gen.c")

MINORS = (6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
# Every version with a table: (major, minor).
VERSIONS = ((2, 7),) + tuple((3, m) for m in MINORS)
# Versions whose headers and interpreters come from the Debian sid root
# that tools/sid-root makes (Debian stable and pyenv's builds here stop
# at 3.13).
SID_MINORS = (14, 15)
SID_ROOT = os.path.join(ROOT, "tools", "sid-root")
ABSENT = None
# A value no header gives: measured in the running interpreter
# (MEASURE_ASYNCIO).
MEASURED = "MEASURED"
INT32_MIN = -2 ** 31


# ---------------------------------------------------------------------------
# Mirror structs.  Each mirrors a struct that the installed headers of the
# versions using it do not declare.  Names carry a probe_ prefix so they can
# never collide with a header type.
# ---------------------------------------------------------------------------

# Objects/dict-common.h, 3.6 branch: PyDictKeyEntry, dict_lookup_func and
# struct _dictkeysobject (dk_indices is still a union in 3.6).
MIRROR_DICT_36 = r"""
/* Mirror of Objects/dict-common.h (CPython 3.6). */
typedef struct {
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value;
} probe_PyDictKeyEntry;
typedef Py_ssize_t (*probe_dict_lookup_func)
    (PyDictObject *mp, PyObject *key, Py_hash_t hash,
     PyObject ***value_addr, Py_ssize_t *hashpos);
typedef struct {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    probe_dict_lookup_func dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    union {
        int8_t as_1[8];
        int16_t as_2[4];
        int32_t as_4[2];
#if SIZEOF_VOID_P > 4
        int64_t as_8[1];
#endif
    } dk_indices;
} probe_PyDictKeysObject;
"""

# Objects/dict-common.h, 3.7 - 3.10: dk_indices became a flexible char
# array and dict_lookup_func lost its hashpos argument; dk_size and
# dk_lookup are still there (3.11 replaced them by dk_log2_size/dk_kind and
# moved the struct to Include/internal/pycore_dict.h).
MIRROR_DICT_37 = r"""
/* Mirror of Objects/dict-common.h (CPython 3.7 - 3.10). */
typedef struct {
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value;
} probe_PyDictKeyEntry;
typedef Py_ssize_t (*probe_dict_lookup_func)
    (PyDictObject *mp, PyObject *key, Py_hash_t hash,
     PyObject **value_addr);
typedef struct {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    probe_dict_lookup_func dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} probe_PyDictKeysObject;
"""

# Objects/moduleobject.c, 2.7: nothing but the dict.
MIRROR_MODULE_27 = r"""
/* Mirror of PyModuleObject from Objects/moduleobject.c (CPython 2.7). */
typedef struct {
    PyObject_HEAD
    PyObject *md_dict;
} probe_PyModuleObject;
"""

# Objects/moduleobject.c, 3.6 - 3.9 (moved to
# Include/internal/pycore_moduleobject.h in 3.10; the 3.10 probe checks the
# mirror against that header).
MIRROR_MODULE = r"""
/* Mirror of PyModuleObject from Objects/moduleobject.c (CPython 3.6-3.9). */
typedef struct {
    PyObject_HEAD
    PyObject *md_dict;
    struct PyModuleDef *md_def;
    void *md_state;
    PyObject *md_weaklist;
    PyObject *md_name;
} probe_PyModuleObject;
"""

# Modules/gcmodule.c, 2.7 and 3.6: struct gc_generation and the static
# `generations[NUM_GENERATIONS]` array (3.7 moved the struct into
# Include/internal/mem.h; the 3.7 probe checks the mirror against it).
MIRROR_GC_36 = r"""
/* Mirror of struct gc_generation from Modules/gcmodule.c (CPython 3.6). */
struct probe_gc_generation {
    PyGC_Head head;
    int threshold;
    int count;
};
"""

# Objects/obmalloc.c, 2.7 and 3.6 - 3.11: struct pool_header, struct
# arena_object (unchanged from 2.7 to 3.11; 3.12 moved them verbatim into
# Include/internal/pycore_obmalloc.h, and the 3.12 probe checks this mirror
# against that header) and the geometry macros.
#
#   ALIGNMENT: 16 on 64-bit since bpo-27987 (3.8, backported to 3.7.4,
#     to the 3.6 branch and to 2.7: 3.6.15 and 3.7.16 report 32 size
#     classes for a 512-byte threshold, and 2.7.18's pool headers have
#     16-byte classes, which its live check verifies), 8 before.
#   SMALL_REQUEST_THRESHOLD: 512 (3.6 - 3.13).
#   2.7, 3.6 - 3.9: ARENA_SIZE (256 << 10), POOL_SIZE SYSTEM_PAGE_SIZE
#     (4 * 1024).
#   3.10 - 3.11 (bpo-37448 radix tree): WITH_PYMALLOC_RADIX_TREE defaults
#     to 1; on 64-bit USE_LARGE_ARENAS (ARENA_BITS 20) and, with the radix
#     tree, USE_LARGE_POOLS (POOL_BITS 14).
# These are checked against sys._debugmallocstats() of each interpreter.
MIRROR_OBMALLOC_COMMON = r"""
/* Mirror of struct pool_header and struct arena_object from
   Objects/obmalloc.c (CPython 3.6 - 3.11). */
typedef uint8_t probe_block;
struct probe_pool_header {
    union { probe_block *_padding;
            unsigned int count; } ref;
    probe_block *freeblock;
    struct probe_pool_header *nextpool;
    struct probe_pool_header *prevpool;
    unsigned int arenaindex;
    unsigned int szidx;
    unsigned int nextoffset;
    unsigned int maxnextoffset;
};
struct probe_arena_object {
    uintptr_t address;
    probe_block *pool_address;
    unsigned int nfreepools;
    unsigned int ntotalpools;
    struct probe_pool_header *freepools;
    struct probe_arena_object *nextarena;
    struct probe_arena_object *prevarena;
};
"""

MIRROR_OBMALLOC_36 = MIRROR_OBMALLOC_COMMON + r"""
/* Geometry macros of Objects/obmalloc.c (CPython 2.7, 3.6 - 3.9). */
#if SIZEOF_VOID_P > 4
#define PROBE_ALIGNMENT 16
#else
#define PROBE_ALIGNMENT 8
#endif
#define PROBE_SMALL_REQUEST_THRESHOLD 512
#define PROBE_SYSTEM_PAGE_SIZE (4 * 1024)
#define PROBE_ARENA_SIZE (256 << 10)
#define PROBE_POOL_SIZE PROBE_SYSTEM_PAGE_SIZE
"""

MIRROR_OBMALLOC_310 = MIRROR_OBMALLOC_COMMON + r"""
/* Geometry macros of Objects/obmalloc.c (CPython 3.10 - 3.11). */
#if SIZEOF_VOID_P > 4
#define PROBE_ALIGNMENT 16
#else
#define PROBE_ALIGNMENT 8
#endif
#define PROBE_SMALL_REQUEST_THRESHOLD 512
#if !defined(WITH_PYMALLOC_RADIX_TREE)
#define WITH_PYMALLOC_RADIX_TREE 1
#endif
#if SIZEOF_VOID_P > 4
#define PROBE_USE_LARGE_ARENAS
#if WITH_PYMALLOC_RADIX_TREE
#define PROBE_USE_LARGE_POOLS
#endif
#endif
#ifdef PROBE_USE_LARGE_ARENAS
#define PROBE_ARENA_BITS 20
#else
#define PROBE_ARENA_BITS 18
#endif
#define PROBE_ARENA_SIZE (1 << PROBE_ARENA_BITS)
#ifdef PROBE_USE_LARGE_POOLS
#define PROBE_POOL_BITS 14
#else
#define PROBE_POOL_BITS 12
#endif
#define PROBE_POOL_SIZE (1 << PROBE_POOL_BITS)
"""

# Checks that a mirror agrees with the header that later declared the same
# struct (compiled into that later version's probe).
CHECK_MODULE_MIRROR = MIRROR_MODULE + r"""
_Static_assert(offsetof(probe_PyModuleObject, md_dict)
               == offsetof(PyModuleObject, md_dict), "module mirror");
_Static_assert(offsetof(probe_PyModuleObject, md_name)
               == offsetof(PyModuleObject, md_name), "module mirror");
_Static_assert(sizeof(probe_PyModuleObject) == sizeof(PyModuleObject),
               "module mirror");
"""

CHECK_GC_MIRROR = MIRROR_GC_36 + r"""
_Static_assert(sizeof(struct probe_gc_generation)
               == sizeof(struct gc_generation), "gc mirror");
_Static_assert(offsetof(struct probe_gc_generation, threshold)
               == offsetof(struct gc_generation, threshold), "gc mirror");
_Static_assert(offsetof(struct probe_gc_generation, count)
               == offsetof(struct gc_generation, count), "gc mirror");
"""

CHECK_OBMALLOC_MIRROR = MIRROR_OBMALLOC_COMMON + "".join(
    "_Static_assert(offsetof(struct probe_%s, %s) == offsetof(struct %s, %s)"
    ", \"obmalloc mirror\");\n" % (s, m, s, m)
    for s, ms in (
        ("pool_header", ("ref.count", "freeblock", "nextpool", "prevpool",
                         "arenaindex", "szidx", "nextoffset",
                         "maxnextoffset")),
        ("arena_object", ("address", "pool_address", "nfreepools",
                          "ntotalpools", "freepools", "nextarena",
                          "prevarena")))
    for m in ms) + r"""
_Static_assert(sizeof(struct probe_pool_header)
               == sizeof(struct pool_header), "obmalloc mirror");
_Static_assert(sizeof(struct probe_arena_object)
               == sizeof(struct arena_object), "obmalloc mirror");
"""

# Modules/_threadmodule.c, 3.6 - 3.13: the lock objects, private to that
# file in every version (3.13 types rlock_owner as PyThread_ident_t, the
# same size).  Checked by the live read (a held RLock's owner is the
# thread's ident, its count the number of acquires).
MIRROR_THREAD = r"""
/* Mirror of lockobject and rlockobject (Modules/_threadmodule.c). */
#include "pythread.h"
typedef struct {
    PyObject_HEAD
    PyThread_type_lock lock_lock;
    PyObject *in_weakreflist;
    char locked;
} probe_lockobject;
typedef struct {
    PyObject_HEAD
    PyThread_type_lock rlock_lock;
    unsigned long rlock_owner;
    unsigned long rlock_count;
    PyObject *in_weakreflist;
} probe_rlockobject;
"""

# Modules/threadmodule.c, 2.7: thread.lock, its PyThread_type_lock (a
# sem_t, what a waiter sleeps on) right after the object header; 2.7 has
# no C RLock (threading.RLock is a Python class around a thread.lock).
# Checked by the live read (a thread blocked on a lock sleeps on it).
MIRROR_THREAD_27 = r"""
/* Mirror of lockobject (Modules/threadmodule.c, 2.7). */
#include "pythread.h"
typedef struct {
    PyObject_HEAD
    PyThread_type_lock lock_lock;
} probe_lockobject;
"""

# Modules/_threadmodule.c, 3.14 - 3.15: the locks became a PyMutex and a
# _PyRecursiveMutex (Include/internal/pycore_lock.h); and
# Python/parking_lot.c's wait entry, on the stack of a thread parked on
# a PyMutex, holding the semaphore it sleeps on and the mutex's address.
# Checked by the live read (a thread blocked on a Lock sleeps on the word
# whose wait entry names that lock's mutex).
MIRROR_THREAD_314 = r"""
/* Mirror of lockobject, rlockobject (Modules/_threadmodule.c) and
 * struct wait_entry (Python/parking_lot.c), CPython 3.14-3.15. */
#include "internal/pycore_lock.h"
#include "internal/pycore_semaphore.h"
#include "internal/pycore_llist.h"
typedef struct {
    PyObject_HEAD
    PyMutex lock;
} probe_lockobject;
typedef struct {
    PyObject_HEAD
    _PyRecursiveMutex lock;
} probe_rlockobject;
typedef struct {
    void *park_arg;
    uintptr_t addr;
    _PySemaphore sema;
    struct llist_node node;
    bool is_unparking;
} probe_wait_entry;
"""

# Helpers shared by every probe.
PROBE_HELPERS = r"""
/* Position of the single bit that `member = 1` sets in the 32-bit word at
   offsetof(T, word); -1 if the word is not 4 bytes or not exactly one bit
   changed (the caller rejects negative bit positions). */
#define PROBE_BIT(T, word, member) __extension__ ({                      \
        T probe_o_;                                                      \
        uint32_t probe_w_;                                               \
        memset(&probe_o_, 0, sizeof probe_o_);                           \
        probe_o_.member = 1;                                             \
        memcpy(&probe_w_, (char *)&probe_o_ + offsetof(T, word),         \
               sizeof probe_w_);                                         \
        (sizeof(((T *)0)->word) == 4 && probe_w_ != 0                    \
         && (probe_w_ & (probe_w_ - 1)) == 0)                            \
            ? (long)__builtin_ctz(probe_w_) : -1L;                       \
    })

/* `value`, but only compiles if T has a member m (pins a pyspect-defined
   constant to the header feature it describes). */
#define PROBE_HAS(T, m, value) ((void)sizeof(((T *)0)->m), (long)(value))

/* 1 if member m of T has type P, else 0. */
#define PROBE_IS_TYPE(T, m, P) \
    ((long)__builtin_types_compatible_p(__typeof__(((T *)0)->m), P))

/* `value` if expression e has type T (pins a pyspect-defined constant to
   the type of the header accessor it describes), else -1. */
#define PROBE_RETURNS(e, T, value) \
    (__builtin_types_compatible_p(__typeof__(e), T) ? (long)(value) : -1L)

/* a, after checking that a second header source agrees (else a value that
   does not fit an int32, which the generator rejects). */
#define PROBE_AGREE(a, b) ((long)(a) == (long)(b) ? (long)(a) : (1L << 40))

/* A fake object whose type has the given tp_flags, for calling the
   headers' inline pre-header accessors (pointer arithmetic only). */
static PyTypeObject probe_type;
static union {
    char bytes[512];
    long double align;
} probe_buffer;
static PyObject *
probe_object(unsigned long flags)
{
    PyObject *obj = (PyObject *)(probe_buffer.bytes + 256);
    probe_type.tp_flags = flags;
    probe_type.tp_basicsize = sizeof(PyObject);
    obj->ob_type = &probe_type;
    return obj;
}
#define PROBE_PTRDIFF(p, obj) ((long)((char *)(p) - (char *)(obj)))
#define MD_OBJ probe_object(Py_TPFLAGS_MANAGED_DICT)
"""

PRELUDE_COMMON = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "Python.h"
#include "frameobject.h"
#include "structmember.h"
"""

# Per-version includes and mirrors (2.7: PRELUDE_27).
PRELUDE_27 = r"""
#include "code.h"
#include "longintrepr.h"
/* Mirror of the free-list blocks of Objects/intobject.c and
   Objects/floatobject.c (CPython 2.7): ints and floats are not allocated
   one by one but BLOCK_SIZE bytes of them at a time, behind a link to
   the previous block, and never given back except by a full collection
   (PyInt_ClearFreeList, PyFloat_ClearFreeList) of blocks with no live
   object. */
#define PROBE_BLOCK_SIZE 1000
#define PROBE_BHEAD_SIZE 8
#define PROBE_N_INTOBJECTS \
    ((PROBE_BLOCK_SIZE - PROBE_BHEAD_SIZE) / sizeof(PyIntObject))
#define PROBE_N_FLOATOBJECTS \
    ((PROBE_BLOCK_SIZE - PROBE_BHEAD_SIZE) / sizeof(PyFloatObject))
struct probe_intblock {
    struct probe_intblock *next;
    PyIntObject objects[PROBE_N_INTOBJECTS];
};
struct probe_floatblock {
    struct probe_floatblock *next;
    PyFloatObject objects[PROBE_N_FLOATOBJECTS];
};
/* Include/bytesobject.h (2.7) makes bytes a name for str:
   #define PyBytes_Type PyString_Type. */
#if defined(PyBytes_Type)
#define PROBE_STR_IS_BYTES 1
#endif
""" + MIRROR_MODULE_27 + MIRROR_GC_36 + MIRROR_OBMALLOC_36

PRELUDES = {
    6: MIRROR_DICT_36 + MIRROR_MODULE + MIRROR_GC_36 + MIRROR_OBMALLOC_36,
    7: r"""
#include "internal/pystate.h"
""" + MIRROR_DICT_37 + MIRROR_MODULE + CHECK_GC_MIRROR + MIRROR_OBMALLOC_36,
    8: r"""
#include "internal/pycore_pystate.h"
""" + MIRROR_DICT_37 + MIRROR_MODULE + MIRROR_OBMALLOC_36,
    9: r"""
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"
#include "internal/pycore_gc.h"
""" + MIRROR_DICT_37 + MIRROR_MODULE + MIRROR_OBMALLOC_36,
    10: r"""
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_moduleobject.h"
""" + MIRROR_DICT_37 + CHECK_MODULE_MIRROR + MIRROR_OBMALLOC_310,
    11: r"""
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_moduleobject.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_dict.h"
#include "internal/pycore_object.h"
""" + MIRROR_OBMALLOC_310,
    12: r"""
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_moduleobject.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_dict.h"
#include "internal/pycore_object.h"
#include "internal/pycore_obmalloc.h"
""" + CHECK_OBMALLOC_MIRROR,
    13: r"""
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"
#include "internal/pycore_gc.h"
#include "internal/pycore_moduleobject.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_dict.h"
#include "internal/pycore_object.h"
#include "internal/pycore_obmalloc.h"
""",
}
# 3.14 and 3.15 add the headers of the thread-state implementation (the
# 3.15 base frame), tagged stack references and the generator struct.
PRELUDES[14] = PRELUDES[13] + r"""
#include "internal/pycore_tstate.h"
#include "internal/pycore_stackref.h"
#include "internal/pycore_genobject.h"
#include "internal/pycore_interpframe.h"
"""
PRELUDES[15] = PRELUDES[14]
# YIELD_FROM (3.6 - 3.10).
for _minor in (6, 7, 8, 9, 10):
    PRELUDES[_minor] = '#include "opcode.h"\n' + PRELUDES[_minor]


# ---------------------------------------------------------------------------
# The decisions: field -> [(versions, C expression or ABSENT), ...].
# Versions are "3.X" or "3.X-3.Y" (inclusive).  Every supported minor must
# be covered exactly once.
# ---------------------------------------------------------------------------

def off(struct_type, member):
    return "offsetof(%s, %s)" % (struct_type, member)


def size(struct_type):
    return "sizeof(%s)" % struct_type


RT = "_PyRuntimeState"
GIL = "struct _gil_runtime_state"
IS = "PyInterpreterState"
TS = "PyThreadState"
FO = "PyFrameObject"
IF = "_PyInterpreterFrame"
CO = "PyCodeObject"
GEN = "PyGenObject"
TP = "PyTypeObject"
HT = "PyHeapTypeObject"
FN = "PyFunctionObject"
GCS = "struct _gc_runtime_state"
GCG = "struct gc_generation"
OBM = "struct _obmalloc_state"

FIELDS = {
    # _PyRuntimeState: 3.6 has none (static interp_head etc.).
    "rt_initialized": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(RT, "initialized"))],
    "rt_core_initialized": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(RT, "core_initialized"))],
    "rt_finalizing": [
        ("3.6", ABSENT),
        ("3.7-3.8", off(RT, "finalizing")),
        ("3.9-3.15", off(RT, "_finalizing"))],
    "rt_interpreters_head": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(RT, "interpreters.head"))],
    "rt_interpreters_main": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(RT, "interpreters.main"))],
    "rt_main_thread": [
        ("3.6-3.7", ABSENT),
        ("3.8-3.15", off(RT, "main_thread"))],
    # 3.12 made the current tstate thread-local: no runtime-wide holder.
    "rt_gilstate_tstate_current": [
        ("3.6", ABSENT),
        ("3.7-3.11", off(RT, "gilstate.tstate_current")),
        ("3.12-3.15", ABSENT)],
    "rt_gil": [
        ("3.6", ABSENT),
        ("3.7-3.11", off(RT, "ceval.gil")),
        ("3.12-3.15", ABSENT)],
    "rt_gc": [
        ("3.6", ABSENT),
        ("3.7-3.8", off(RT, "gc")),
        ("3.9-3.15", ABSENT)],

    # struct _gil_runtime_state (3.6: file statics in ceval_gil.h).
    "gil_last_holder": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(GIL, "last_holder"))],
    "gil_locked": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(GIL, "locked"))],
    # A waiter for the GIL sleeps on a futex inside this struct (its
    # condition variables and mutexes).
    "gil_size": [
        ("3.6", ABSENT),
        ("3.7-3.15", size(GIL))],

    # PyInterpreterState
    "interp_size": [("3.6-3.15", size(IS))],
    "interp_next": [("3.6-3.15", off(IS, "next"))],
    "interp_tstate_head": [
        ("3.6-3.10", off(IS, "tstate_head")),
        ("3.11-3.15", off(IS, "threads.head"))],
    "interp_threads_main": [
        ("3.6-3.12", ABSENT),
        ("3.13-3.15", off(IS, "threads.main"))],
    "interp_id": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(IS, "id"))],
    "interp_modules": [
        ("3.6-3.11", off(IS, "modules")),
        ("3.12-3.15", off(IS, "imports.modules"))],
    "interp_sysdict": [("3.6-3.15", off(IS, "sysdict"))],
    "interp_builtins": [("3.6-3.15", off(IS, "builtins"))],
    "interp_ceval_gil": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(IS, "ceval.gil"))],
    "interp_gil": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(IS, "_gil"))],
    "interp_gc": [
        ("3.6-3.8", ABSENT),
        ("3.9-3.15", off(IS, "gc"))],
    "interp_obmalloc": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(IS, "obmalloc"))],
    # Derived from the member's type: struct (3.12) or pointer (3.13).
    "interp_obmalloc_is_ptr": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15",
         "PROBE_IS_TYPE(PyInterpreterState, obmalloc, "
         "struct _obmalloc_state *)")],

    # PyThreadState
    "tstate_size": [("3.6-3.15", size(TS))],
    "tstate_prev": [("3.6-3.15", off(TS, "prev"))],
    "tstate_next": [("3.6-3.15", off(TS, "next"))],
    "tstate_interp": [("3.6-3.15", off(TS, "interp"))],
    "tstate_frame": [
        ("3.6-3.10", off(TS, "frame")),
        ("3.11-3.15", ABSENT)],
    # 3.10's CFrame only carries use_tracing/previous (no current frame).
    "tstate_cframe": [
        ("3.6-3.9", ABSENT),
        ("3.10-3.12", off(TS, "cframe")),
        ("3.13-3.15", ABSENT)],
    "tstate_current_frame": [
        ("3.6-3.12", ABSENT),
        ("3.13-3.15", off(TS, "current_frame"))],
    "tstate_thread_id": [("3.6-3.15", off(TS, "thread_id"))],
    "tstate_native_thread_id": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(TS, "native_thread_id"))],
    "tstate_datastack_chunk": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(TS, "datastack_chunk"))],
    "tstate_status": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(TS, "_status"))],
    "tstate_status_holds_gil_bit": [
        ("3.6-3.12", ABSENT),
        ("3.13", "PROBE_BIT(PyThreadState, _status, _status.holds_gil)"),
        # 3.14 made holds_gil an int of its own, outside _status.
        ("3.14-3.15", ABSENT)],
    "tstate_status_finalized_bit": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", "PROBE_BIT(PyThreadState, _status, _status.finalized)")],
    "tstate_dict": [("3.6-3.15", off(TS, "dict"))],
    # 3.15: the sentinel frame at the bottom of every thread's chain; a
    # walk that does not reach it was torn.
    "tstate_base_frame": [
        ("3.6-3.14", ABSENT),
        ("3.15", off(TS, "base_frame"))],
    "tstate_id": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(TS, "id"))],

    # _PyCFrame (3.10: CFrame {use_tracing, previous})
    "cframe_current_frame": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.12", off("_PyCFrame", "current_frame")),
        ("3.13-3.15", ABSENT)],
    "cframe_previous": [
        ("3.6-3.9", ABSENT),
        ("3.10", off("CFrame", "previous")),
        ("3.11-3.12", off("_PyCFrame", "previous")),
        ("3.13-3.15", ABSENT)],

    # PyFrameObject (3.11+: struct _frame in pycore_frame.h)
    "frame_size": [("3.6-3.15", size(FO))],
    "frame_back": [("3.6-3.15", off(FO, "f_back"))],
    "frame_code": [
        ("3.6-3.10", off(FO, "f_code")),
        ("3.11-3.15", ABSENT)],
    # f_trace is still a PyFrameObject member in 3.11+.
    "frame_trace": [("3.6-3.15", off(FO, "f_trace"))],
    "frame_lasti": [
        ("3.6-3.10", off(FO, "f_lasti")),
        ("3.11-3.15", ABSENT)],
    "frame_lineno": [("3.6-3.15", off(FO, "f_lineno"))],
    "frame_iframe": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(FO, "f_frame"))],

    # _PyInterpreterFrame
    "iframe_size": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", size(IF))],
    "iframe_code": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.12", off(IF, "f_code")),
        ("3.13-3.15", off(IF, "f_executable"))],
    "iframe_previous": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(IF, "previous"))],
    "iframe_instr": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.12", off(IF, "prev_instr")),
        ("3.13-3.15", off(IF, "instr_ptr"))],
    # pyspect's own flag, pinned to the member name it describes.
    "iframe_instr_is_prev": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.12", "PROBE_HAS(_PyInterpreterFrame, prev_instr, 1)"),
        ("3.13-3.15", "PROBE_HAS(_PyInterpreterFrame, instr_ptr, 0)")],
    "iframe_owner": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(IF, "owner"))],
    "iframe_owner_generator": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", "FRAME_OWNED_BY_GENERATOR")],
    "iframe_owner_frame_object": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", "FRAME_OWNED_BY_FRAME_OBJECT")],
    "iframe_owner_cstack": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.14", "FRAME_OWNED_BY_CSTACK"),
        ("3.15", ABSENT)],
    # 3.14: the entry frame the eval loop pushes for itself (and, 3.15,
    # each thread's base frame) belong to the interpreter.
    "iframe_owner_interpreter": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", "FRAME_OWNED_BY_INTERPRETER")],
    # The tags of a _PyStackRef (Include/internal/pycore_stackref.h):
    # clear Py_TAG_BITS to get the object; a tag other than 0 and
    # Py_TAG_REFCNT (a tagged int, 3; 3.15's invalid marker, 2) is no
    # object.
    "stackref_tag_bits": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", "Py_TAG_BITS")],
    "stackref_tag_refcnt": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", "Py_TAG_REFCNT")],
    "iframe_frame_obj": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(IF, "frame_obj"))],
    "iframe_localsplus": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(IF, "localsplus"))],
    # 3.14 replaced the int stacktop by a stackpointer.
    "iframe_stacktop": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.13", off(IF, "stacktop")),
        ("3.14-3.15", ABSENT)],
    # 3.11 marks the first frame of each evaluator call; 3.12+ push an
    # entry frame instead.
    "iframe_is_entry": [
        ("3.6-3.10", ABSENT),
        ("3.11", off(IF, "is_entry")),
        ("3.12-3.15", ABSENT)],

    # _PyStackChunk
    "chunk_previous": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off("_PyStackChunk", "previous"))],
    "chunk_size": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off("_PyStackChunk", "size"))],
    "chunk_top": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off("_PyStackChunk", "top"))],
    "chunk_data": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off("_PyStackChunk", "data"))],

    # PyCodeObject
    "code_size": [("3.6-3.15", size(CO))],
    "code_argcount": [("3.6-3.15", off(CO, "co_argcount"))],
    "code_flags": [("3.6-3.15", off(CO, "co_flags"))],
    "code_firstlineno": [("3.6-3.15", off(CO, "co_firstlineno"))],
    "code_filename": [("3.6-3.15", off(CO, "co_filename"))],
    "code_name": [("3.6-3.15", off(CO, "co_name"))],
    "code_qualname": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(CO, "co_qualname"))],
    "code_linetable": [
        ("3.6-3.9", off(CO, "co_lnotab")),
        ("3.10-3.15", off(CO, "co_linetable"))],
    # pyspect's own enumeration (1 lnotab, 2 3.10 line table, 3 location
    # table), each pinned to the member that carries that format.
    "code_linetable_format": [
        ("3.6-3.9", "PROBE_HAS(PyCodeObject, co_lnotab, 1)"),
        ("3.10", "PROBE_HAS(PyCodeObject, co_linetable, 2)"),
        ("3.11-3.15", "PROBE_HAS(PyCodeObject, co_code_adaptive, 3)")],
    "code_code": [
        ("3.6-3.10", off(CO, "co_code")),
        ("3.11-3.15", ABSENT)],
    "code_code_adaptive": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(CO, "co_code_adaptive"))],
    "code_firsttraceable": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(CO, "_co_firsttraceable"))],
    # 3.11 pushes co_nlocalsplus + co_stacksize + FRAME_SPECIALS_SIZE
    # words (code.c computes it); 3.12 keeps the sum in the code object.
    "code_framesize": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(CO, "co_framesize"))],

    # PyGenObject
    "gen_frame": [
        ("3.6-3.10", off(GEN, "gi_frame")),
        ("3.11-3.15", ABSENT)],
    "gen_iframe": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(GEN, "gi_iframe"))],
    "gen_frame_state": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(GEN, "gi_frame_state"))],
    # What FRAME_STATE_FINISHED() tests: >= FRAME_COMPLETED up to 3.14;
    # 3.15 renumbered the states and only FRAME_CLEARED is finished.
    "gen_state_finished": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.14", "FRAME_COMPLETED"),
        ("3.15", "FRAME_CLEARED")],
    # 3.12 dropped gi_code (the code object is the frame's f_code).
    "gen_code": [
        ("3.6-3.11", off(GEN, "gi_code")),
        ("3.12-3.15", ABSENT)],
    "gen_name": [("3.6-3.15", off(GEN, "gi_name"))],
    "gen_qualname": [("3.6-3.15", off(GEN, "gi_qualname"))],
    # 3.10 dropped gi_running for the frame's f_state, whose values the
    # gen_state_* constants give there too.
    "gen_running": [
        ("3.6-3.9", off(GEN, "gi_running")),
        ("3.10-3.15", ABSENT)],
    "frame_state": [
        ("3.6-3.9", ABSENT),
        ("3.10", off(FO, "f_state")),
        ("3.11-3.15", ABSENT)],
    "gen_state_created": [
        ("3.6-3.9", ABSENT),
        ("3.10-3.15", "FRAME_CREATED")],
    "gen_state_suspended": [
        ("3.6-3.9", ABSENT),
        ("3.10-3.15", "FRAME_SUSPENDED")],
    # 3.13 split the suspended state: a frame suspended in `yield from`
    # (every await) says so; before, the instruction after it did.
    "gen_state_suspended_yf": [
        ("3.6-3.12", ABSENT),
        ("3.13-3.15", "FRAME_SUSPENDED_YIELD_FROM")],
    "gen_state_suspended_yf_locked": [
        ("3.6-3.14", ABSENT),
        ("3.15", "FRAME_SUSPENDED_YIELD_FROM_LOCKED")],
    "gen_state_executing": [
        ("3.6-3.9", ABSENT),
        ("3.10-3.15", "FRAME_EXECUTING")],
    # Objects/genobject.c, _PyGen_yf(): the awaited object is the top of
    # the suspended frame's stack; 3.15 keeps a second item above it
    # (measured: MEASURE_ASYNCIO checks the slot on every version).
    "gen_yf_slot": [
        ("3.6-3.15", MEASURED)],
    "code_flag_coroutine": [("3.6-3.15", "CO_COROUTINE")],
    # A frame of such code is a generator's: suspended, it has no caller.
    "code_flags_generator": [
        ("3.6-3.15", "CO_GENERATOR | CO_COROUTINE | CO_ITERABLE_COROUTINE"
                     " | CO_ASYNC_GENERATOR")],
    "opcode_yield_from": [
        ("3.6-3.10", "YIELD_FROM"),
        ("3.11-3.15", ABSENT)],
    "frame_stacktop": [
        ("3.6-3.9", off(FO, "f_stacktop")),
        ("3.10-3.15", ABSENT)],
    "frame_valuestack": [
        ("3.6-3.10", off(FO, "f_valuestack")),
        ("3.11-3.15", ABSENT)],
    "frame_stackdepth": [
        ("3.6-3.9", ABSENT),
        ("3.10", off(FO, "f_stackdepth")),
        ("3.11-3.15", ABSENT)],
    "iframe_stackpointer": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", off(IF, "stackpointer"))],
    "weakref_object": [("3.6-3.15", off("PyWeakReference", "wr_object"))],

    # _asyncio's FutureObj and TaskObj are private to
    # Modules/_asynciomodule.c (no header declares them, and their fields
    # moved in almost every release): measured in each interpreter by
    # MEASURE_ASYNCIO, which finds every field by the value it must hold
    # in tasks it builds.
    "fut_loop": [("3.6-3.15", MEASURED)],
    "fut_state": [("3.6-3.15", MEASURED)],
    "fut_state_pending": [("3.6-3.15", MEASURED)],
    "fut_state_cancelled": [("3.6-3.15", MEASURED)],
    "fut_state_finished": [("3.6-3.15", MEASURED)],
    "fut_awaited_by": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", MEASURED)],
    "task_fut_waiter": [("3.6-3.15", MEASURED)],
    "task_coro": [("3.6-3.15", MEASURED)],
    "task_name": [
        ("3.6-3.7", ABSENT),
        ("3.8-3.15", MEASURED)],
    "task_node": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", MEASURED)],
    "tstate_asyncio_tasks_head": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", off("_PyThreadStateImpl", "asyncio_tasks_head"))],
    "interp_asyncio_tasks_head": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", off(IS, "asyncio_tasks_head"))],

    # PyObject, PyVarObject
    "obj_refcnt": [("3.6-3.15", off("PyObject", "ob_refcnt"))],
    "obj_type": [("3.6-3.15", off("PyObject", "ob_type"))],
    "var_size": [("3.6-3.15", off("PyVarObject", "ob_size"))],
    # Pre-header slots, measured by calling the headers' own accessors on a
    # fake object (Include/internal/pycore_object.h):
    #   3.11 _PyObject_ManagedDictPointer / _PyObject_ValuesPointer,
    #   3.12 _PyObject_DictOrValuesPointer (one tagged slot),
    #   3.13 _PyObject_ManagedDictPointer (values are inline after
    #        tp_basicsize: _PyObject_InlineValues, so no values slot).
    "obj_managed_dict": [
        ("3.6-3.10", ABSENT),
        ("3.11",
         "PROBE_AGREE(PROBE_PTRDIFF(_PyObject_ManagedDictPointer(MD_OBJ), "
         "MD_OBJ), MANAGED_DICT_OFFSET)"),
        ("3.12",
         "PROBE_PTRDIFF(_PyObject_DictOrValuesPointer(MD_OBJ), MD_OBJ)"),
        ("3.13-3.15",
         "PROBE_AGREE(PROBE_PTRDIFF(_PyObject_ManagedDictPointer(MD_OBJ), "
         "MD_OBJ), MANAGED_DICT_OFFSET)")],
    "obj_managed_values": [
        ("3.6-3.10", ABSENT),
        ("3.11", "PROBE_PTRDIFF(_PyObject_ValuesPointer(MD_OBJ), MD_OBJ)"),
        ("3.12-3.15", ABSENT)],
    # 3.12: bit 0 of the slot set = values pointer (what the header's
    # _PyDictOrValues_IsValues says of a pointer with bit 0 set).  3.11
    # (PyObject **) and 3.13 (PyManagedDictPointer, a union holding only
    # `PyDictObject *dict`) store a plain dict pointer: 0, pinned to the
    # accessor's return type.
    "obj_managed_dict_tagged": [
        ("3.6-3.10", ABSENT),
        ("3.11", "PROBE_RETURNS(_PyObject_ManagedDictPointer(MD_OBJ), "
         "PyObject **, 0)"),
        ("3.12",
         "((long)_PyDictOrValues_IsValues("
         "(PyDictOrValues){.values = (char *)probe_buffer.bytes + 1}))"),
        ("3.13-3.15", "PROBE_RETURNS(_PyObject_ManagedDictPointer(MD_OBJ), "
         "PyManagedDictPointer *, 0)")],

    # PyTypeObject, PyHeapTypeObject
    "type_size": [("3.6-3.15", size(TP))],
    "type_name": [("3.6-3.15", off(TP, "tp_name"))],
    "type_basicsize": [("3.6-3.15", off(TP, "tp_basicsize"))],
    "type_itemsize": [("3.6-3.15", off(TP, "tp_itemsize"))],
    "type_dealloc": [("3.6-3.15", off(TP, "tp_dealloc"))],
    "type_flags": [("3.6-3.15", off(TP, "tp_flags"))],
    "type_traverse": [("3.6-3.15", off(TP, "tp_traverse"))],
    "type_weaklistoffset": [("3.6-3.15", off(TP, "tp_weaklistoffset"))],
    "type_base": [("3.6-3.15", off(TP, "tp_base"))],
    "type_dict": [("3.6-3.15", off(TP, "tp_dict"))],
    "type_dictoffset": [("3.6-3.15", off(TP, "tp_dictoffset"))],
    "type_mro": [("3.6-3.15", off(TP, "tp_mro"))],
    "heaptype_size": [("3.6-3.15", size(HT))],
    "heaptype_name": [("3.6-3.15", off(HT, "ht_name"))],
    "heaptype_slots": [("3.6-3.15", off(HT, "ht_slots"))],
    "heaptype_qualname": [("3.6-3.15", off(HT, "ht_qualname"))],
    "heaptype_cached_keys": [("3.6-3.15", off(HT, "ht_cached_keys"))],
    "heaptype_module": [
        ("3.6-3.8", ABSENT),
        ("3.9-3.15", off(HT, "ht_module"))],
    "tpflags_managed_dict": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", "Py_TPFLAGS_MANAGED_DICT")],
    "tpflags_inline_values": [
        ("3.6-3.12", ABSENT),
        ("3.13-3.15", "Py_TPFLAGS_INLINE_VALUES")],
    "tpflags_managed_weakref": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", "Py_TPFLAGS_MANAGED_WEAKREF")],
    "tpflags_heaptype": [("3.6-3.15", "Py_TPFLAGS_HEAPTYPE")],
    "tpflags_have_gc": [("3.6-3.15", "Py_TPFLAGS_HAVE_GC")],

    # PyMemberDef
    "memberdef_size": [("3.6-3.15", size("PyMemberDef"))],
    "memberdef_name": [("3.6-3.15", off("PyMemberDef", "name"))],
    "memberdef_type": [("3.6-3.15", off("PyMemberDef", "type"))],
    "memberdef_offset": [("3.6-3.15", off("PyMemberDef", "offset"))],

    # str
    "unicode_length": [("3.6-3.15", off("PyASCIIObject", "length"))],
    "unicode_hash": [("3.6-3.15", off("PyASCIIObject", "hash"))],
    "unicode_state": [("3.6-3.15", off("PyASCIIObject", "state"))],
    "unicode_state_kind_shift": [
        ("3.6-3.15", "PROBE_BIT(PyASCIIObject, state, state.kind)")],
    "unicode_state_compact_bit": [
        ("3.6-3.15", "PROBE_BIT(PyASCIIObject, state, state.compact)")],
    "unicode_state_ascii_bit": [
        ("3.6-3.15", "PROBE_BIT(PyASCIIObject, state, state.ascii)")],
    "unicode_state_ready_bit": [
        ("3.6-3.11", "PROBE_BIT(PyASCIIObject, state, state.ready)"),
        ("3.12-3.15", ABSENT)],
    "unicode_ascii_size": [("3.6-3.15", size("PyASCIIObject"))],
    "unicode_compact_size": [("3.6-3.15", size("PyCompactUnicodeObject"))],
    "unicode_data_any": [("3.6-3.15", off("PyUnicodeObject", "data.any"))],
    "unicode_utf8_length": [
        ("3.6-3.15", off("PyCompactUnicodeObject", "utf8_length"))],

    # bytes, int, float, tuple, list
    "bytes_size": [("3.6-3.15", size("PyBytesObject"))],
    "bytes_sval": [("3.6-3.15", off("PyBytesObject", "ob_sval"))],
    "long_size": [("3.6-3.15", size("PyLongObject"))],
    "long_lv_tag": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off("PyLongObject", "long_value.lv_tag"))],
    "long_digit": [
        ("3.6-3.11", off("PyLongObject", "ob_digit")),
        ("3.12-3.15", off("PyLongObject", "long_value.ob_digit"))],
    "float_size": [("3.6-3.15", size("PyFloatObject"))],
    "float_fval": [("3.6-3.15", off("PyFloatObject", "ob_fval"))],
    "tuple_size": [("3.6-3.15", size("PyTupleObject"))],
    "tuple_item": [("3.6-3.15", off("PyTupleObject", "ob_item"))],
    "list_size": [("3.6-3.15", size("PyListObject"))],
    "list_item": [("3.6-3.15", off("PyListObject", "ob_item"))],
    "list_allocated": [("3.6-3.15", off("PyListObject", "allocated"))],

    # dict
    "dict_size": [("3.6-3.15", size("PyDictObject"))],
    "dict_used": [("3.6-3.15", off("PyDictObject", "ma_used"))],
    "dict_keys": [("3.6-3.15", off("PyDictObject", "ma_keys"))],
    "dict_values": [("3.6-3.15", off("PyDictObject", "ma_values"))],
    # <= 3.10 ma_values is a bare PyObject *[] (PyObject **), so the values
    # start at the pointer itself: 0, pinned to that member type.
    "dictvalues_values": [
        ("3.6-3.10",
         "(PROBE_IS_TYPE(PyDictObject, ma_values, PyObject **) ? 0L : -1L)"),
        ("3.11-3.15", off("PyDictValues", "values"))],
    "dictvalues_valid": [
        ("3.6-3.12", ABSENT),
        ("3.13-3.15", off("PyDictValues", "valid"))],
    "dictkeys_refcnt": [
        ("3.6-3.10", off("probe_PyDictKeysObject", "dk_refcnt")),
        ("3.11-3.15", off("PyDictKeysObject", "dk_refcnt"))],
    "dictkeys_size": [
        ("3.6-3.10", off("probe_PyDictKeysObject", "dk_size")),
        ("3.11-3.15", ABSENT)],
    "dictkeys_log2_size": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off("PyDictKeysObject", "dk_log2_size"))],
    "dictkeys_log2_index_bytes": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off("PyDictKeysObject", "dk_log2_index_bytes"))],
    "dictkeys_kind": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off("PyDictKeysObject", "dk_kind"))],
    "dictkeys_usable": [
        ("3.6-3.10", off("probe_PyDictKeysObject", "dk_usable")),
        ("3.11-3.15", off("PyDictKeysObject", "dk_usable"))],
    "dictkeys_nentries": [
        ("3.6-3.10", off("probe_PyDictKeysObject", "dk_nentries")),
        ("3.11-3.15", off("PyDictKeysObject", "dk_nentries"))],
    "dictkeys_indices": [
        ("3.6-3.10", off("probe_PyDictKeysObject", "dk_indices")),
        ("3.11-3.15", off("PyDictKeysObject", "dk_indices"))],
    "dictkeys_kind_general": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", "DICT_KEYS_GENERAL")],
    "dictentry_size": [
        ("3.6-3.10", size("probe_PyDictKeyEntry")),
        ("3.11-3.15", size("PyDictKeyEntry"))],
    "dictentry_hash": [
        ("3.6-3.10", off("probe_PyDictKeyEntry", "me_hash")),
        ("3.11-3.15", off("PyDictKeyEntry", "me_hash"))],
    "dictentry_key": [
        ("3.6-3.10", off("probe_PyDictKeyEntry", "me_key")),
        ("3.11-3.15", off("PyDictKeyEntry", "me_key"))],
    "dictentry_value": [
        ("3.6-3.10", off("probe_PyDictKeyEntry", "me_value")),
        ("3.11-3.15", off("PyDictKeyEntry", "me_value"))],
    "dictuentry_size": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", size("PyDictUnicodeEntry"))],
    "dictuentry_key": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off("PyDictUnicodeEntry", "me_key"))],
    "dictuentry_value": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off("PyDictUnicodeEntry", "me_value"))],

    # set
    "set_size": [("3.6-3.15", size("PySetObject"))],
    "set_fill": [("3.6-3.15", off("PySetObject", "fill"))],
    "set_used": [("3.6-3.15", off("PySetObject", "used"))],
    "set_mask": [("3.6-3.15", off("PySetObject", "mask"))],
    "set_table": [("3.6-3.15", off("PySetObject", "table"))],
    "set_smalltable": [("3.6-3.15", off("PySetObject", "smalltable"))],
    "setentry_size": [("3.6-3.15", size("setentry"))],
    "setentry_key": [("3.6-3.15", off("setentry", "key"))],

    # module
    "module_dict": [
        ("3.6-3.9", off("probe_PyModuleObject", "md_dict")),
        ("3.10-3.15", off("PyModuleObject", "md_dict"))],

    # GC
    "gchead_size": [("3.6-3.15", size("PyGC_Head"))],
    "gchead_next": [
        ("3.6-3.7", off("PyGC_Head", "gc.gc_next")),
        ("3.8-3.15", off("PyGC_Head", "_gc_next"))],
    "gchead_prev": [
        ("3.6-3.7", off("PyGC_Head", "gc.gc_prev")),
        ("3.8-3.15", off("PyGC_Head", "_gc_prev"))],
    # 3.6 keeps the GC state in Modules/gcmodule.c statics (`generations`,
    # `enabled`, `collecting`, `garbage`): no struct to be relative to.
    "gcstate_size": [
        ("3.6", ABSENT),
        ("3.7-3.15", size(GCS))],
    "gcstate_enabled": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(GCS, "enabled"))],
    "gcstate_generations": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(GCS, "generations"))],
    "gcstate_permanent": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(GCS, "permanent_generation"))],
    "gcstate_collecting": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(GCS, "collecting"))],
    "gcstate_garbage": [
        ("3.6", ABSENT),
        ("3.7-3.15", off(GCS, "garbage"))],
    "gcgen_size": [
        ("3.6", size("struct probe_gc_generation")),
        ("3.7-3.15", size(GCG))],
    "gcgen_head": [
        ("3.6", off("struct probe_gc_generation", "head")),
        ("3.7-3.15", off(GCG, "head"))],
    "gcgen_threshold": [
        ("3.6", off("struct probe_gc_generation", "threshold")),
        ("3.7-3.15", off(GCG, "threshold"))],
    "gcgen_count": [
        ("3.6", off("struct probe_gc_generation", "count")),
        ("3.7-3.15", off(GCG, "count"))],

    # pymalloc.  <= 3.11 the allocator state is separate file statics in
    # Objects/obmalloc.c (the walker finds them by symbol).
    "obm_usedpools": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(OBM, "pools.used"))],
    "obm_arenas": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(OBM, "mgmt.arenas"))],
    "obm_maxarenas": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(OBM, "mgmt.maxarenas"))],
    "obm_narenas_currently_allocated": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(OBM, "mgmt.narenas_currently_allocated"))],
    "obm_narenas_highwater": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(OBM, "mgmt.narenas_highwater"))],
    "arenaobj_size": [
        ("3.6-3.11", size("struct probe_arena_object")),
        ("3.12-3.15", size("struct arena_object"))],
    "arenaobj_address": [
        ("3.6-3.11", off("struct probe_arena_object", "address")),
        ("3.12-3.15", off("struct arena_object", "address"))],
    "arenaobj_pool_address": [
        ("3.6-3.11", off("struct probe_arena_object", "pool_address")),
        ("3.12-3.15", off("struct arena_object", "pool_address"))],
    "arenaobj_nfreepools": [
        ("3.6-3.11", off("struct probe_arena_object", "nfreepools")),
        ("3.12-3.15", off("struct arena_object", "nfreepools"))],
    "arenaobj_ntotalpools": [
        ("3.6-3.11", off("struct probe_arena_object", "ntotalpools")),
        ("3.12-3.15", off("struct arena_object", "ntotalpools"))],
    "poolhdr_size": [
        ("3.6-3.11", size("struct probe_pool_header")),
        ("3.12-3.15", size("struct pool_header"))],
    "poolhdr_count": [
        ("3.6-3.11", off("struct probe_pool_header", "ref.count")),
        ("3.12-3.15", off("struct pool_header", "ref.count"))],
    "poolhdr_nextpool": [
        ("3.6-3.11", off("struct probe_pool_header", "nextpool")),
        ("3.12-3.15", off("struct pool_header", "nextpool"))],
    "poolhdr_prevpool": [
        ("3.6-3.11", off("struct probe_pool_header", "prevpool")),
        ("3.12-3.15", off("struct pool_header", "prevpool"))],
    "poolhdr_arenaindex": [
        ("3.6-3.11", off("struct probe_pool_header", "arenaindex")),
        ("3.12-3.15", off("struct pool_header", "arenaindex"))],
    "poolhdr_szidx": [
        ("3.6-3.11", off("struct probe_pool_header", "szidx")),
        ("3.12-3.15", off("struct pool_header", "szidx"))],
    "poolhdr_nextoffset": [
        ("3.6-3.11", off("struct probe_pool_header", "nextoffset")),
        ("3.12-3.15", off("struct pool_header", "nextoffset"))],
    "poolhdr_maxnextoffset": [
        ("3.6-3.11", off("struct probe_pool_header", "maxnextoffset")),
        ("3.12-3.15", off("struct pool_header", "maxnextoffset"))],
    "obm_arena_size": [
        ("3.6-3.11", "PROBE_ARENA_SIZE"),
        ("3.12-3.15", "ARENA_SIZE")],
    "obm_pool_size": [
        ("3.6-3.11", "PROBE_POOL_SIZE"),
        ("3.12-3.15", "POOL_SIZE")],
    "obm_alignment": [
        ("3.6-3.11", "PROBE_ALIGNMENT"),
        ("3.12-3.15", "ALIGNMENT")],
    "obm_small_request_threshold": [
        ("3.6-3.11", "PROBE_SMALL_REQUEST_THRESHOLD"),
        ("3.12-3.15", "SMALL_REQUEST_THRESHOLD")],

    # ---- fields the heap census reads (pyspect heap) ----
    # Frame locals: which slots of a frame are named locals, cells, frees.
    "code_nlocals": [("3.6-3.15", off(CO, "co_nlocals"))],
    # A 3.11+ generator's frame is inline, co_nlocalsplus + co_stacksize
    # slots of it, and sys.getsizeof() counts them.
    "code_stacksize": [("3.6-3.15", off(CO, "co_stacksize"))],
    "code_varnames": [
        ("3.6-3.10", off(CO, "co_varnames")),
        ("3.11-3.15", ABSENT)],
    "code_cellvars": [
        ("3.6-3.10", off(CO, "co_cellvars")),
        ("3.11-3.15", ABSENT)],
    "code_freevars": [
        ("3.6-3.10", off(CO, "co_freevars")),
        ("3.11-3.15", ABSENT)],
    "code_localsplusnames": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(CO, "co_localsplusnames"))],
    "code_nlocalsplus": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(CO, "co_nlocalsplus"))],
    "code_localspluskinds": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", off(CO, "co_localspluskinds"))],
    "code_kind_cell": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", "CO_FAST_CELL")],
    "code_kind_free": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15", "CO_FAST_FREE")],
    # 3.12 inlines comprehensions; their variables are hidden locals.
    "code_kind_hidden": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", "CO_FAST_HIDDEN")],
    "code_kwonlyargcount": [("3.6-3.15", off(CO, "co_kwonlyargcount"))],
    "code_flag_varargs": [("3.6-3.15", "CO_VARARGS")],
    "code_flag_varkeywords": [("3.6-3.15", "CO_VARKEYWORDS")],
    "frame_localsplus": [
        ("3.6-3.10", off(FO, "f_localsplus")),
        ("3.11-3.15", ABSENT)],
    # PyFunctionObject: every field func_traverse visits.
    "func_code": [("3.6-3.15", off(FN, "func_code"))],
    "func_globals": [("3.6-3.15", off(FN, "func_globals"))],
    "func_builtins": [
        ("3.6-3.9", ABSENT),
        ("3.10-3.15", off(FN, "func_builtins"))],
    "func_name": [("3.6-3.15", off(FN, "func_name"))],
    "func_qualname": [("3.6-3.15", off(FN, "func_qualname"))],
    "func_defaults": [("3.6-3.15", off(FN, "func_defaults"))],
    "func_kwdefaults": [("3.6-3.15", off(FN, "func_kwdefaults"))],
    "func_closure": [("3.6-3.15", off(FN, "func_closure"))],
    "func_doc": [("3.6-3.15", off(FN, "func_doc"))],
    "func_dict": [("3.6-3.15", off(FN, "func_dict"))],
    "func_module": [("3.6-3.15", off(FN, "func_module"))],
    "func_annotations": [("3.6-3.15", off(FN, "func_annotations"))],
    "func_typeparams": [
        ("3.6-3.11", ABSENT),
        ("3.12-3.15", off(FN, "func_typeparams"))],
    "method_func": [("3.6-3.15", off("PyMethodObject", "im_func"))],
    "method_self": [("3.6-3.15", off("PyMethodObject", "im_self"))],
    "cell_ref": [("3.6-3.15", off("PyCellObject", "ob_ref"))],
    "cfunc_self": [("3.6-3.15", off("PyCFunctionObject", "m_self"))],
    # The lock objects: a semaphore the waiter sleeps on (<=3.13), or a
    # PyMutex whose waiters park (3.14+: the futex is the parked thread's
    # own semaphore, inside its wait entry, which names the mutex).
    "lock_sem": [
        ("3.6-3.13", off("probe_lockobject", "lock_lock")),
        ("3.14-3.15", ABSENT)],
    "rlock_sem": [
        ("3.6-3.13", off("probe_rlockobject", "rlock_lock")),
        ("3.14-3.15", ABSENT)],
    "lock_mutex": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", off("probe_lockobject", "lock"))],
    "rlock_mutex": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", off("probe_rlockobject", "lock.mutex"))],
    "rlock_owner": [
        ("3.6-3.13", off("probe_rlockobject", "rlock_owner")),
        ("3.14-3.15", off("probe_rlockobject", "lock.thread"))],
    "rlock_count": [
        ("3.6-3.13", off("probe_rlockobject", "rlock_count")),
        ("3.14-3.15", ABSENT)],
    "mutex_locked": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", "_Py_LOCKED")],
    "parking_addr": [
        ("3.6-3.13", ABSENT),
        ("3.14-3.15", "(long)offsetof(probe_wait_entry, addr) - "
                      "(long)offsetof(probe_wait_entry, sema)")],
    "type_bases": [("3.6-3.15", off(TP, "tp_bases"))],
    "type_cache": [("3.6-3.15", off(TP, "tp_cache"))],
    "type_members": [("3.6-3.15", off(TP, "tp_members"))],
    "tpflags_immutabletype": [
        ("3.6-3.9", ABSENT),
        ("3.10-3.15", "Py_TPFLAGS_IMMUTABLETYPE")],
    "tpflags_long_subclass": [("3.6-3.15", "Py_TPFLAGS_LONG_SUBCLASS")],
    "tpflags_list_subclass": [("3.6-3.15", "Py_TPFLAGS_LIST_SUBCLASS")],
    "tpflags_tuple_subclass": [("3.6-3.15", "Py_TPFLAGS_TUPLE_SUBCLASS")],
    "tpflags_bytes_subclass": [("3.6-3.15", "Py_TPFLAGS_BYTES_SUBCLASS")],
    "tpflags_unicode_subclass": [
        ("3.6-3.15", "Py_TPFLAGS_UNICODE_SUBCLASS")],
    "tpflags_dict_subclass": [("3.6-3.15", "Py_TPFLAGS_DICT_SUBCLASS")],
    # 1UL << 31 does not fit the int32 table: keep its bit position.
    "tpflags_type_subclass_bit": [
        ("3.6-3.15", "(long)__builtin_ctzl(Py_TPFLAGS_TYPE_SUBCLASS)")],
    # The pre-header a managed-dict type puts before its objects (after
    # the GC header), as the header's own _PyType_PreHeaderSize() gives it
    # for a type with a managed dict and without GC.
    "preheader_size": [
        ("3.6-3.10", ABSENT),
        ("3.11-3.15",
         "((void)probe_object(Py_TPFLAGS_MANAGED_DICT), "
         "(long)_PyType_PreHeaderSize(&probe_type))")],
    # Behaviour, not layout: Python/sysmodule.c _PySys_GetSizeOf() adds
    # the pre-header of Py_TYPE(o) (a GC header, as `type` is a GC type)
    # to static types too in 3.11 and 3.12; 3.13 skips it for them, and
    # <= 3.10 asks PyObject_IS_GC(o), false for static types.  Checked
    # live against sys.getsizeof(int).
    "getsizeof_static_type_gc": [
        ("3.6-3.10", "0L"),
        ("3.11-3.12", "1L"),
        ("3.13-3.15", "0L")],
    "unicode_utf8": [("3.6-3.15", off("PyCompactUnicodeObject", "utf8"))],
    "unicode_wstr": [
        ("3.6-3.11", off("PyASCIIObject", "wstr")),
        ("3.12-3.15", ABSENT)],
    "unicode_wstr_length": [
        ("3.6-3.11", off("PyCompactUnicodeObject", "wstr_length")),
        ("3.12-3.15", ABSENT)],
    "unicode_object_size": [("3.6-3.15", size("PyUnicodeObject"))],
    # Behaviour: Objects/longobject.c int___sizeof__() counts at least one
    # digit from 3.11 on (sys.getsizeof(0) is 24 before, 28 after).
    # Checked live.
    "long_min_digits": [
        ("3.6-3.10", "0L"),
        ("3.11-3.15", "1L")],
    "bytearray_alloc": [("3.6-3.15", off("PyByteArrayObject", "ob_alloc"))],
    "bytearray_bytes_object": [
        ("3.6-3.14", ABSENT),
        ("3.15", off("PyByteArrayObject", "ob_bytes_object"))],
    "dictvalues_capacity": [
        ("3.6-3.12", ABSENT),
        ("3.13-3.15", off("PyDictValues", "capacity"))],
    "dictvalues_embedded": [
        ("3.6-3.12", ABSENT),
        ("3.13-3.15", off("PyDictValues", "embedded"))],
}

# Fields of Python 2.7's own structures and behaviours: absent from 3.x.
FIELDS_27_ONLY = ("str_is_bytes", "unicode_str", "unicode_char_size",
                  "int_ival", "dict_fill", "dict_mask", "dict_table",
                  "dict_smalltable", "method_class", "class_bases",
                  "class_dict", "class_name", "class_getattr",
                  "class_setattr", "class_delattr", "instance_class",
                  "instance_dict", "getsizeof_type_basic", "int_size",
                  "intblock_size", "intblock_objects", "floatblock_size",
                  "floatblock_objects")
for _name in FIELDS_27_ONLY:
    FIELDS[_name] = [("3.6-3.15", ABSENT)]


# The decisions for 2.7: field -> C expression or ABSENT.  No
# _PyRuntimeState, no _PyInterpreterFrame, no PEP 393 str, no split dicts:
# 2.7 keeps its interpreter list in the static `interp_head`, the GIL
# holder in the exported _PyThreadState_Current, frames as PyFrameObjects,
# names as byte strings (PyStringObject), unicode as a Py_UNICODE buffer,
# and every dict as one open-addressing table of PyDictEntry.
SO = "PyStringObject"
FIELDS_27 = {
    "rt_initialized": ABSENT,
    "rt_core_initialized": ABSENT,
    "rt_finalizing": ABSENT,
    "rt_interpreters_head": ABSENT,
    "rt_interpreters_main": ABSENT,
    "rt_main_thread": ABSENT,
    "rt_gilstate_tstate_current": ABSENT,
    "rt_gil": ABSENT,
    "rt_gc": ABSENT,
    "gil_last_holder": ABSENT,
    "gil_locked": ABSENT,
    # 2.7's GIL is a PyThread_type_lock behind Python/ceval.c's static
    # interpreter_lock (found by name, in locks.c), not a struct.
    "gil_size": ABSENT,
    "interp_size": size(IS),
    "interp_next": off(IS, "next"),
    "interp_tstate_head": off(IS, "tstate_head"),
    "interp_threads_main": ABSENT,
    "interp_id": ABSENT,
    "interp_modules": off(IS, "modules"),
    "interp_sysdict": off(IS, "sysdict"),
    "interp_builtins": off(IS, "builtins"),
    "interp_ceval_gil": ABSENT,
    "interp_gil": ABSENT,
    "interp_gc": ABSENT,
    "interp_obmalloc": ABSENT,
    "interp_obmalloc_is_ptr": ABSENT,
    "tstate_size": size(TS),
    # 2.7's thread states are singly linked.
    "tstate_prev": ABSENT,
    "tstate_next": off(TS, "next"),
    "tstate_interp": off(TS, "interp"),
    "tstate_frame": off(TS, "frame"),
    "tstate_cframe": ABSENT,
    "tstate_current_frame": ABSENT,
    "tstate_thread_id": off(TS, "thread_id"),
    "tstate_native_thread_id": ABSENT,
    "tstate_datastack_chunk": ABSENT,
    "tstate_status": ABSENT,
    "tstate_status_holds_gil_bit": ABSENT,
    "tstate_status_finalized_bit": ABSENT,
    "tstate_dict": off(TS, "dict"),
    "tstate_id": ABSENT,
    "tstate_base_frame": ABSENT,
    "cframe_current_frame": ABSENT,
    "cframe_previous": ABSENT,
    "frame_size": size(FO),
    "frame_back": off(FO, "f_back"),
    "frame_code": off(FO, "f_code"),
    "frame_trace": off(FO, "f_trace"),
    "frame_lasti": off(FO, "f_lasti"),
    "frame_lineno": off(FO, "f_lineno"),
    "frame_iframe": ABSENT,
    "iframe_size": ABSENT,
    "iframe_code": ABSENT,
    "iframe_previous": ABSENT,
    "iframe_instr": ABSENT,
    "iframe_instr_is_prev": ABSENT,
    "iframe_owner": ABSENT,
    "iframe_owner_generator": ABSENT,
    "iframe_owner_frame_object": ABSENT,
    "iframe_owner_cstack": ABSENT,
    "iframe_owner_interpreter": ABSENT,
    "stackref_tag_bits": ABSENT,
    "stackref_tag_refcnt": ABSENT,
    "iframe_frame_obj": ABSENT,
    "iframe_localsplus": ABSENT,
    "iframe_stacktop": ABSENT,
    "iframe_is_entry": ABSENT,
    "chunk_previous": ABSENT,
    "chunk_size": ABSENT,
    "chunk_top": ABSENT,
    "chunk_data": ABSENT,
    "code_size": size(CO),
    "code_argcount": off(CO, "co_argcount"),
    "code_flags": off(CO, "co_flags"),
    "code_firstlineno": off(CO, "co_firstlineno"),
    "code_filename": off(CO, "co_filename"),
    "code_name": off(CO, "co_name"),
    "code_qualname": ABSENT,
    "code_linetable": off(CO, "co_lnotab"),
    # 4: co_lnotab with unsigned line increments (2.7's PyCode_Addr2Line
    # adds them as unsigned char; 3.6 made them signed).
    "code_linetable_format": "PROBE_HAS(PyCodeObject, co_lnotab, 4)",
    "code_code": off(CO, "co_code"),
    "code_code_adaptive": ABSENT,
    "code_firsttraceable": ABSENT,
    "code_framesize": ABSENT,
    "code_nlocals": off(CO, "co_nlocals"),
    "code_stacksize": off(CO, "co_stacksize"),
    "code_varnames": off(CO, "co_varnames"),
    "code_cellvars": off(CO, "co_cellvars"),
    "code_freevars": off(CO, "co_freevars"),
    "code_localsplusnames": ABSENT,
    "code_nlocalsplus": ABSENT,
    "code_localspluskinds": ABSENT,
    "code_kind_cell": ABSENT,
    "code_kind_free": ABSENT,
    "code_kind_hidden": ABSENT,
    # No keyword-only arguments before 3.0.
    "code_kwonlyargcount": ABSENT,
    "code_flag_varargs": "CO_VARARGS",
    "code_flag_varkeywords": "CO_VARKEYWORDS",
    "frame_localsplus": off(FO, "f_localsplus"),
    "func_code": off(FN, "func_code"),
    "func_globals": off(FN, "func_globals"),
    "func_builtins": ABSENT,
    "func_name": off(FN, "func_name"),
    "func_qualname": ABSENT,
    "func_defaults": off(FN, "func_defaults"),
    "func_kwdefaults": ABSENT,
    "func_closure": off(FN, "func_closure"),
    "func_doc": off(FN, "func_doc"),
    "func_dict": off(FN, "func_dict"),
    "func_module": off(FN, "func_module"),
    "func_annotations": ABSENT,
    "func_typeparams": ABSENT,
    "method_func": off("PyMethodObject", "im_func"),
    "method_self": off("PyMethodObject", "im_self"),
    "cell_ref": off("PyCellObject", "ob_ref"),
    "cfunc_self": off("PyCFunctionObject", "m_self"),
    "lock_sem": off("probe_lockobject", "lock_lock"),
    # threading.RLock is Python code in 2.7 (_RLock: its __block, a
    # thread.lock, and __owner, an ident), read through its attributes.
    "rlock_sem": ABSENT,
    "lock_mutex": ABSENT,
    "rlock_mutex": ABSENT,
    "rlock_owner": ABSENT,
    "rlock_count": ABSENT,
    "mutex_locked": ABSENT,
    "parking_addr": ABSENT,
    "gen_frame": off(GEN, "gi_frame"),
    "gen_iframe": ABSENT,
    "gen_frame_state": ABSENT,
    "gen_state_finished": ABSENT,
    "gen_code": off(GEN, "gi_code"),
    "gen_name": ABSENT,
    "gen_qualname": ABSENT,
    # No asyncio in 2.7: pyspect reads no tasks there.
    "gen_running": ABSENT,
    "frame_state": ABSENT,
    "gen_state_created": ABSENT,
    "gen_state_suspended": ABSENT,
    "gen_state_suspended_yf": ABSENT,
    "gen_state_suspended_yf_locked": ABSENT,
    "gen_state_executing": ABSENT,
    "gen_yf_slot": ABSENT,
    "code_flag_coroutine": ABSENT,
    "code_flags_generator": "CO_GENERATOR",
    "opcode_yield_from": ABSENT,
    # NULL while the frame runs; where a suspended generator stopped.
    "frame_stacktop": off(FO, "f_stacktop"),
    "frame_valuestack": ABSENT,
    "frame_stackdepth": ABSENT,
    "iframe_stackpointer": ABSENT,
    "weakref_object": ABSENT,
    "fut_loop": ABSENT,
    "fut_state": ABSENT,
    "fut_state_pending": ABSENT,
    "fut_state_cancelled": ABSENT,
    "fut_state_finished": ABSENT,
    "fut_awaited_by": ABSENT,
    "task_fut_waiter": ABSENT,
    "task_coro": ABSENT,
    "task_name": ABSENT,
    "task_node": ABSENT,
    "tstate_asyncio_tasks_head": ABSENT,
    "interp_asyncio_tasks_head": ABSENT,
    "obj_refcnt": off("PyObject", "ob_refcnt"),
    "obj_type": off("PyObject", "ob_type"),
    "var_size": off("PyVarObject", "ob_size"),
    "obj_managed_dict": ABSENT,
    "obj_managed_values": ABSENT,
    "obj_managed_dict_tagged": ABSENT,
    "type_size": size(TP),
    "type_name": off(TP, "tp_name"),
    "type_basicsize": off(TP, "tp_basicsize"),
    "type_itemsize": off(TP, "tp_itemsize"),
    "type_dealloc": off(TP, "tp_dealloc"),
    "type_flags": off(TP, "tp_flags"),
    "type_traverse": off(TP, "tp_traverse"),
    "type_weaklistoffset": off(TP, "tp_weaklistoffset"),
    "type_base": off(TP, "tp_base"),
    "type_dict": off(TP, "tp_dict"),
    "type_dictoffset": off(TP, "tp_dictoffset"),
    "type_mro": off(TP, "tp_mro"),
    "type_bases": off(TP, "tp_bases"),
    "type_cache": off(TP, "tp_cache"),
    "type_members": off(TP, "tp_members"),
    "heaptype_size": size(HT),
    "heaptype_name": off(HT, "ht_name"),
    "heaptype_slots": off(HT, "ht_slots"),
    "heaptype_qualname": ABSENT,
    "heaptype_cached_keys": ABSENT,
    "heaptype_module": ABSENT,
    "tpflags_managed_dict": ABSENT,
    "tpflags_inline_values": ABSENT,
    "tpflags_managed_weakref": ABSENT,
    "tpflags_heaptype": "Py_TPFLAGS_HEAPTYPE",
    "tpflags_have_gc": "Py_TPFLAGS_HAVE_GC",
    "tpflags_immutabletype": ABSENT,
    "tpflags_long_subclass": "Py_TPFLAGS_LONG_SUBCLASS",
    "tpflags_list_subclass": "Py_TPFLAGS_LIST_SUBCLASS",
    "tpflags_tuple_subclass": "Py_TPFLAGS_TUPLE_SUBCLASS",
    "tpflags_bytes_subclass": "Py_TPFLAGS_STRING_SUBCLASS",
    "tpflags_unicode_subclass": "Py_TPFLAGS_UNICODE_SUBCLASS",
    "tpflags_dict_subclass": "Py_TPFLAGS_DICT_SUBCLASS",
    "tpflags_type_subclass_bit":
        "(long)__builtin_ctzl(Py_TPFLAGS_TYPE_SUBCLASS)",
    "preheader_size": ABSENT,
    # Python/sysmodule.c sys_getsizeof() asks PyObject_IS_GC(o): false
    # for static types (type_is_gc looks at Py_TPFLAGS_HEAPTYPE).
    "getsizeof_static_type_gc": "0L",
    "memberdef_size": size("PyMemberDef"),
    "memberdef_name": off("PyMemberDef", "name"),
    "memberdef_type": off("PyMemberDef", "type"),
    "memberdef_offset": off("PyMemberDef", "offset"),
    # unicode (Include/unicodeobject.h): a Py_UNICODE buffer behind a
    # pointer, no state word.
    "unicode_length": off("PyUnicodeObject", "length"),
    "unicode_hash": off("PyUnicodeObject", "hash"),
    "unicode_state": ABSENT,
    "unicode_state_kind_shift": ABSENT,
    "unicode_state_compact_bit": ABSENT,
    "unicode_state_ascii_bit": ABSENT,
    "unicode_state_ready_bit": ABSENT,
    "unicode_ascii_size": ABSENT,
    "unicode_compact_size": ABSENT,
    "unicode_data_any": ABSENT,
    "unicode_utf8_length": ABSENT,
    "unicode_utf8": ABSENT,
    "unicode_wstr": ABSENT,
    "unicode_wstr_length": ABSENT,
    "unicode_object_size": size("PyUnicodeObject"),
    # bytes is 2.7's str, PyStringObject.
    "bytes_size": size(SO),
    "bytes_sval": off(SO, "ob_sval"),
    "long_size": size("PyLongObject"),
    "long_lv_tag": ABSENT,
    "long_digit": off("PyLongObject", "ob_digit"),
    # Objects/longobject.c long_sizeof(): no digit for 0.  Checked live.
    "long_min_digits": "0L",
    "float_size": size("PyFloatObject"),
    "float_fval": off("PyFloatObject", "ob_fval"),
    "tuple_size": size("PyTupleObject"),
    "tuple_item": off("PyTupleObject", "ob_item"),
    "list_size": size("PyListObject"),
    "list_item": off("PyListObject", "ob_item"),
    "list_allocated": off("PyListObject", "allocated"),
    "bytearray_alloc": off("PyByteArrayObject", "ob_alloc"),
    "bytearray_bytes_object": ABSENT,
    "dict_size": size("PyDictObject"),
    "dict_used": off("PyDictObject", "ma_used"),
    "dict_keys": ABSENT,
    "dict_values": ABSENT,
    "dictvalues_values": ABSENT,
    "dictvalues_valid": ABSENT,
    "dictvalues_capacity": ABSENT,
    "dictvalues_embedded": ABSENT,
    "dictkeys_refcnt": ABSENT,
    "dictkeys_size": ABSENT,
    "dictkeys_log2_size": ABSENT,
    "dictkeys_log2_index_bytes": ABSENT,
    "dictkeys_kind": ABSENT,
    "dictkeys_usable": ABSENT,
    "dictkeys_nentries": ABSENT,
    "dictkeys_indices": ABSENT,
    "dictkeys_kind_general": ABSENT,
    "dictentry_size": size("PyDictEntry"),
    "dictentry_hash": off("PyDictEntry", "me_hash"),
    "dictentry_key": off("PyDictEntry", "me_key"),
    "dictentry_value": off("PyDictEntry", "me_value"),
    "dictuentry_size": ABSENT,
    "dictuentry_key": ABSENT,
    "dictuentry_value": ABSENT,
    "set_size": size("PySetObject"),
    "set_fill": off("PySetObject", "fill"),
    "set_used": off("PySetObject", "used"),
    "set_mask": off("PySetObject", "mask"),
    "set_table": off("PySetObject", "table"),
    "set_smalltable": off("PySetObject", "smalltable"),
    "setentry_size": size("setentry"),
    "setentry_key": off("setentry", "key"),
    "module_dict": off("probe_PyModuleObject", "md_dict"),
    "gchead_size": size("PyGC_Head"),
    "gchead_next": off("PyGC_Head", "gc.gc_next"),
    "gchead_prev": off("PyGC_Head", "gc.gc_prev"),
    # Modules/gcmodule.c statics, as in 3.6.
    "gcstate_size": ABSENT,
    "gcstate_enabled": ABSENT,
    "gcstate_generations": ABSENT,
    "gcstate_permanent": ABSENT,
    "gcstate_collecting": ABSENT,
    "gcstate_garbage": ABSENT,
    "gcgen_size": size("struct probe_gc_generation"),
    "gcgen_head": off("struct probe_gc_generation", "head"),
    "gcgen_threshold": off("struct probe_gc_generation", "threshold"),
    "gcgen_count": off("struct probe_gc_generation", "count"),
    "obm_usedpools": ABSENT,
    "obm_arenas": ABSENT,
    "obm_maxarenas": ABSENT,
    "obm_narenas_currently_allocated": ABSENT,
    "obm_narenas_highwater": ABSENT,
    "arenaobj_size": size("struct probe_arena_object"),
    "arenaobj_address": off("struct probe_arena_object", "address"),
    "arenaobj_pool_address": off("struct probe_arena_object",
                                 "pool_address"),
    "arenaobj_nfreepools": off("struct probe_arena_object", "nfreepools"),
    "arenaobj_ntotalpools": off("struct probe_arena_object", "ntotalpools"),
    "poolhdr_size": size("struct probe_pool_header"),
    "poolhdr_count": off("struct probe_pool_header", "ref.count"),
    "poolhdr_nextpool": off("struct probe_pool_header", "nextpool"),
    "poolhdr_prevpool": off("struct probe_pool_header", "prevpool"),
    "poolhdr_arenaindex": off("struct probe_pool_header", "arenaindex"),
    "poolhdr_szidx": off("struct probe_pool_header", "szidx"),
    "poolhdr_nextoffset": off("struct probe_pool_header", "nextoffset"),
    "poolhdr_maxnextoffset": off("struct probe_pool_header",
                                 "maxnextoffset"),
    "obm_arena_size": "PROBE_ARENA_SIZE",
    "obm_pool_size": "PROBE_POOL_SIZE",
    "obm_alignment": "PROBE_ALIGNMENT",
    "obm_small_request_threshold": "PROBE_SMALL_REQUEST_THRESHOLD",
    # ---- 2.7's own ----
    # `str` is PyString_Type: the type of every code object name.
    "str_is_bytes": "PROBE_STR_IS_BYTES",
    "unicode_str": off("PyUnicodeObject", "str"),
    "unicode_char_size": "sizeof(Py_UNICODE)",
    "int_ival": off("PyIntObject", "ob_ival"),
    "dict_fill": off("PyDictObject", "ma_fill"),
    "dict_mask": off("PyDictObject", "ma_mask"),
    "dict_table": off("PyDictObject", "ma_table"),
    "dict_smalltable": off("PyDictObject", "ma_smalltable"),
    "method_class": off("PyMethodObject", "im_class"),
    "class_bases": off("PyClassObject", "cl_bases"),
    "class_dict": off("PyClassObject", "cl_dict"),
    "class_name": off("PyClassObject", "cl_name"),
    "class_getattr": off("PyClassObject", "cl_getattr"),
    "class_setattr": off("PyClassObject", "cl_setattr"),
    "class_delattr": off("PyClassObject", "cl_delattr"),
    "instance_class": off("PyInstanceObject", "in_class"),
    "instance_dict": off("PyInstanceObject", "in_dict"),
    # Objects/typeobject.c has no type.__sizeof__ in 2.7: a type's size is
    # object.__sizeof__'s, the metatype's tp_basicsize plus tp_itemsize per
    # __slots__ member.  Checked live against sys.getsizeof(int).
    "getsizeof_type_basic": "1L",
    "int_size": size("PyIntObject"),
    "intblock_size": size("struct probe_intblock"),
    "intblock_objects": off("struct probe_intblock", "objects"),
    "floatblock_size": size("struct probe_floatblock"),
    "floatblock_objects": off("struct probe_floatblock", "objects"),
}


# Every value must be >= 0 (offsets, sizes, bit positions, flags; the
# probe helpers return -1 when they cannot derive a value) except these
# pre-header offsets, which lie before the object, and frame states.
NON_NEGATIVE_EXCEPT = ("obj_managed_dict", "obj_managed_values",
                       # frame states: 3.10 - 3.14 number them from -2
                       "gen_state_created", "gen_state_suspended",
                       "gen_state_suspended_yf",
                       "gen_state_suspended_yf_locked",
                       "gen_state_executing",
                       # where a parked thread's wait entry names its mutex,
                       # from its semaphore (before it)
                       "parking_addr")


# ---------------------------------------------------------------------------
# Field list and decision table
# ---------------------------------------------------------------------------

def fail(msg):
    sys.stderr.write("gen_layouts: error: %s\n" % msg)
    sys.exit(2)


def note(msg):
    sys.stderr.write("gen_layouts: %s\n" % msg)


def parse_layout_fields(path=LAYOUT_H):
    """Return the field names of PY_LAYOUT_FIELDS(X), in order."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"#define PY_LAYOUT_FIELDS\(X\)(.*?)\n\s*\n", text, re.S)
    if not m:
        fail("PY_LAYOUT_FIELDS not found in %s" % path)
    body = m.group(1)
    names = re.findall(r"\bX\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,", body)
    if not names:
        fail("no X(name, ...) entries in PY_LAYOUT_FIELDS")
    if len(set(names)) != len(names):
        fail("duplicate field names in PY_LAYOUT_FIELDS")
    return names


def parse_versions(spec):
    m = re.fullmatch(r"3\.(\d+)(?:-3\.(\d+))?", spec)
    if not m:
        fail("bad version range %r" % spec)
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) else lo
    if hi < lo:
        fail("bad version range %r" % spec)
    return range(lo, hi + 1)


def decisions(fields):
    """Return {(major, minor): [(field, expr or ABSENT)]} in layout.h order,
    after checking that every pair is decided exactly once."""
    errors = []
    extra = sorted(set(FIELDS) - set(fields))
    for name in extra:
        errors.append("FIELDS has %s, which layout.h does not declare" % name)
    for name in sorted(set(FIELDS_27) - set(fields)):
        errors.append("FIELDS_27 has %s, which layout.h does not declare"
                      % name)
    table = {(3, minor): [] for minor in MINORS}
    table[(2, 7)] = []
    for name in fields:
        if name not in FIELDS_27:
            errors.append("field %s (layout.h) has no entry in FIELDS_27 "
                          "(give an expression or ABSENT)" % name)
        else:
            table[(2, 7)].append((name, FIELDS_27[name]))
    for name in fields:
        rules = FIELDS.get(name)
        if rules is None:
            errors.append("field %s (layout.h) has no entry in FIELDS" % name)
            continue
        seen = {}
        for spec, expr in rules:
            for minor in parse_versions(spec):
                if minor not in MINORS:
                    errors.append("%s: 3.%d is not a supported version"
                                  % (name, minor))
                elif minor in seen:
                    errors.append("%s: 3.%d decided twice" % (name, minor))
                else:
                    seen[minor] = expr
        for minor in MINORS:
            if minor not in seen:
                errors.append("%s: 3.%d not decided (give an expression or "
                              "ABSENT)" % (name, minor))
            else:
                table[(3, minor)].append((name, seen[minor]))
    if errors:
        fail("field table incomplete:\n  " + "\n  ".join(errors))
    return table


# ---------------------------------------------------------------------------
# Finding headers and probing
# ---------------------------------------------------------------------------

class Install:
    def __init__(self, minor, label, include, prefix=None, root=None,
                 major=3):
        self.major = major
        self.minor = minor
        self.key = (major, minor)
        self.label = label          # e.g. "pyenv 3.11.7"
        self.include = include      # .../include/python3.X[m]
        self.prefix = prefix        # pyenv version dir, or None
        self.root = root            # the sid root (tools/sid-root), or None

    def python(self):
        """The command that runs this interpreter, or None."""
        if self.root:
            exe = os.path.join(self.root, "usr", "bin",
                               "python3.%d" % self.minor)
            if not os.access(exe, os.X_OK):
                return None
            return [SID_ROOT, "run", "3.%d" % self.minor]
        if not self.prefix:
            return None
        exe = os.path.join(self.prefix, "bin", "python%d.%d" % self.key)
        return [exe] if os.access(exe, os.X_OK) else None

    def libpython(self):
        """The file whose .PyRuntime section the interpreter runs."""
        if self.root:
            # Debian links the interpreter statically.
            exe = os.path.join(self.root, "usr", "bin",
                               "python3.%d" % self.minor)
            return exe if os.path.isfile(exe) else None
        if not self.prefix:
            return None
        libs = sorted(glob.glob(os.path.join(
            self.prefix, "lib", "libpython%d.%d*.so*" % self.key)))
        libs = [p for p in libs if not os.path.islink(p)] or libs
        return libs[0] if libs else None

    def core_defines(self):
        """The -D_Py_* / -DPy_* flags the interpreter's own core was built
        with (its sysconfig data's PY_CORE_CFLAGS): some change struct
        layouts (Debian's 3.14 and 3.15 build with the JIT's -D_Py_TIER2,
        which adds members to the thread state)."""
        base = self.root + "/usr" if self.root else self.prefix
        if not base:
            return []
        pattern = os.path.join(base, "lib", "python%d.%d" % self.key,
                               "_sysconfigdata_*.py")
        for path in sorted(glob.glob(pattern)):
            with open(path, encoding="utf-8") as f:
                m = re.search(r"'PY_CORE_CFLAGS': '([^']*)'", f.read())
            if m:
                return [d for d in m.group(1).split()
                        if re.match(r"-D_?Py_", d)
                        and d != "-DPy_BUILD_CORE"]
        return []

    def cflags(self):
        """gcc flags that find this version's headers and build them as
        the interpreter's core was built."""
        flags = self.core_defines() + ["-I", self.include]
        internal = os.path.join(self.include, "internal")
        if os.path.isdir(internal):
            flags += ["-I", internal]
        if self.root:
            # Debian's multiarch pyconfig.h, after the host's own headers.
            flags += ["-idirafter", os.path.join(self.root, "usr",
                                                 "include")]
        return flags


def pyenv_root():
    exe = shutil.which("pyenv")
    if exe:
        try:
            out = subprocess.run([exe, "root"], check=True,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL,
                                 universal_newlines=True).stdout.strip()
            if out:
                return out
        except (OSError, subprocess.CalledProcessError):
            pass
    for cand in (os.environ.get("PYENV_ROOT"),
                 os.path.expanduser("~/.pyenv")):
        if cand and os.path.isdir(cand):
            return cand
    return None


def find_pyenv_installs():
    """{(major, minor): Install}, the highest patch level of each supported
    version."""
    root = pyenv_root()
    found = {}
    if not root:
        return found
    best = {}
    for path in glob.glob(os.path.join(root, "versions", "[23].*")):
        m = re.fullmatch(r"([23])\.(\d+)\.(\d+)", os.path.basename(path))
        if not m:
            continue        # 3.13.0t, 3.12-dev, ...
        key = (int(m.group(1)), int(m.group(2)))
        patch = int(m.group(3))
        if key not in VERSIONS:
            continue
        inc = None
        for sub in ("python%d.%d" % key, "python%d.%dm" % key):
            cand = os.path.join(path, "include", sub)
            if os.path.isfile(os.path.join(cand, "Python.h")):
                inc = cand
                break
        if inc is None:
            continue
        if key not in best or patch > best[key][0]:
            best[key] = (patch, path, inc)
    for key, (patch, path, inc) in best.items():
        found[key] = Install(key[1], "pyenv %d.%d.%d" % (key + (patch,)),
                             inc, path, major=key[0])
    return found


def find_sid_installs():
    """{minor: Install} for the versions the sid root holds (3.14, 3.15:
    Debian's -dev headers of the very interpreters the tests run)."""
    found = {}
    try:
        root = subprocess.run([SID_ROOT, "path"], check=True,
                              stdout=subprocess.PIPE,
                              universal_newlines=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return found
    for minor in SID_MINORS:
        inc = os.path.join(root, "usr", "include", "python3.%d" % minor)
        if os.path.isfile(os.path.join(inc, "Python.h")):
            found[minor] = Install(minor, "Debian sid 3.%d" % minor, inc,
                                   root=root)
    return found


def probe_source(key, rows):
    if key == (2, 7):
        prelude = PRELUDE_27 + MIRROR_THREAD_27
    else:
        prelude = PRELUDES[key[1]] + (MIRROR_THREAD if key[1] <= 13
                                      else MIRROR_THREAD_314)
    out = ["/* pyspect layout probe for CPython %d.%d (generated). */"
           % key, PRELUDE_COMMON, prelude, PROBE_HELPERS]
    out.append("int\nmain(void)\n{")
    out.append('    printf("source_hex %lu\\n", '
               '(unsigned long)PY_VERSION_HEX);')
    out.append('    printf("source_version %s\\n", PY_VERSION);')
    for name, expr in rows:
        if expr is ABSENT or expr is MEASURED:
            continue
        out.append('    printf("%s %%ld\\n", (long)(%s));' % (name, expr))
    out.append("    return 0;\n}\n")
    return "\n".join(out)


def run_probe(inst, rows, workdir):
    src = os.path.join(workdir, "probe_%d_%d.c" % inst.key)
    exe = os.path.join(workdir, "probe_%d_%d" % inst.key)
    with open(src, "w", encoding="utf-8") as f:
        f.write(probe_source(inst.key, rows))
    cmd = ["gcc", "-std=gnu11", "-O0", "-w", "-DPy_BUILD_CORE"]
    cmd += inst.cflags() + ["-o", exe, src]
    res = subprocess.run(cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True)
    if res.returncode != 0:
        fail("probe for %s failed to compile (%s):\n%s"
             % (inst.label, " ".join(cmd), res.stdout))
    res = subprocess.run([exe], stdout=subprocess.PIPE,
                         universal_newlines=True)
    if res.returncode != 0:
        fail("probe for %s failed to run" % inst.label)
    values = {}
    source_hex = None
    version = None
    for line in res.stdout.splitlines():
        key, val = line.split(None, 1)
        if key == "source_hex":
            source_hex = int(val)
        elif key == "source_version":
            version = val.strip()
        else:
            values[key] = int(val)
    if source_hex is None or (source_hex >> 24, (source_hex >> 16) & 0xff) \
            != inst.key:
        fail("%s: headers are not CPython %d.%d" % ((inst.label,) +
                                                    inst.key))
    result = {}
    for name, expr in rows:
        if expr is ABSENT or expr is MEASURED:
            result[name] = expr
            continue
        v = values[name]
        if not (INT32_MIN < v < 2 ** 31):
            fail("%s: %s = %d does not fit an int32" % (inst.label, name, v))
        if v < 0 and name not in NON_NEGATIVE_EXCEPT:
            fail("%s: %s = %d is negative (a probe helper could not derive "
                 "it)" % (inst.label, name, v))
        result[name] = v
    return source_hex, version, result


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def hex_to_version(h):
    major, minor, micro = h >> 24, (h >> 16) & 0xff, (h >> 8) & 0xff
    level, serial = (h >> 4) & 0xf, h & 0xf
    s = "%d.%d.%d" % (major, minor, micro)
    if level != 0xf:
        s += {0xa: "a", 0xb: "b", 0xc: "rc"}.get(level, "?") + str(serial)
    return s


def render_block(key, source_hex, fields, values):
    lines = ["static const struct py_layout layout_%d_%d = {" % key,
             "    .major = %d," % key[0],
             "    .minor = %d," % key[1],
             "    .source_hex = 0x%08X," % source_hex]
    for name in fields:
        v = values[name]
        lines.append("    .%s = %s," % (name, "PYL_ABSENT" if v is ABSENT
                                          else str(v)))
    lines.append("};")
    for line in lines:
        if len(line) > 79:
            fail("generated line too long: %r" % line)
    return "\n".join(lines) + "\n"


def render_file(blocks):
    """blocks: {(major, minor): (source_hex, text)}"""
    minors = sorted(blocks)
    versions = ", ".join(hex_to_version(blocks[m][0]) for m in minors)
    head = [
        "/*",
        " * layouts_gen.c - CPython structure layouts, one table per minor "
        "version.",
        " *",
        " * Layer: python.  Generated by tools/gen_layouts.py from the "
        "headers of",
    ]
    words = ("CPython %s (pyenv installs); do not edit." % versions).split()
    line = " *"
    for w in words:
        if len(line) + 1 + len(w) > 79:
            head.append(line)
            line = " *"
        line += " " + w
    head += [line, " *",
             " * Regenerate with:  /usr/bin/python3 tools/gen_layouts.py",
             " * Check with:       /usr/bin/python3 tools/gen_layouts.py "
             "--check"]
    head += [" */", "", '#include "layout.h"', ""]
    out = "\n".join(head) + "\n"
    for m in minors:
        out += blocks[m][1] + "\n"
    out += "const struct py_layout *const py_layouts_generated[] = {\n"
    for m in minors:
        out += "    &layout_%d_%d,\n" % m
    out += "};\n"
    out += "const int py_layouts_generated_count = %d;\n" % len(minors)
    return out


def parse_committed_blocks(text):
    """{(major, minor): (source_hex, block text)} from an existing
    layouts_gen.c."""
    blocks = {}
    for m in re.finditer(r"^static const struct py_layout "
                         r"layout_(\d+)_(\d+) = \{\n.*?^\};\n", text,
                         re.S | re.M):
        block = m.group(0)
        h = re.search(r"\.source_hex = 0x([0-9A-Fa-f]+),", block)
        blocks[(int(m.group(1)), int(m.group(2)))] = \
            (int(h.group(1), 16) if h else 0, block)
    return blocks


# ---------------------------------------------------------------------------
# Cross-checks
# ---------------------------------------------------------------------------

def check_debian_311(fields, table, pyenv_values, workdir):
    inc = "/usr/include/python3.11"
    if not os.path.isfile(os.path.join(inc, "Python.h")):
        note("note: %s not present; Debian 3.11 cross-check skipped" % inc)
        return True
    if pyenv_values is None:
        note("note: no pyenv 3.11; Debian 3.11 cross-check skipped")
        return True
    inst = Install(11, "Debian python3.11", inc)
    h, version, values = run_probe(inst, table[(3, 11)], workdir)
    # (Only what headers give: the measured fields are the pyenv
    # interpreter's.)
    bad = [(n, pyenv_values[n], values[n]) for n in fields
           if values[n] is not MEASURED and values[n] != pyenv_values[n]]
    if bad:
        sys.stderr.write("\n" + "!" * 72 + "\n")
        sys.stderr.write("gen_layouts: Debian %s headers DISAGREE with "
                         "pyenv 3.11:\n" % version)
        for n, a, b in bad:
            sys.stderr.write("    %-36s pyenv %-12s debian %s\n"
                             % (n, a, b))
        sys.stderr.write("!" * 72 + "\n\n")
        return False
    note("Debian %s headers agree with pyenv 3.11 on all %d fields"
         % (version, len(fields)))
    return True


def check_debugmallocstats(inst, values):
    """pymalloc geometry against the interpreter's own statistics."""
    exe = inst.python()
    if inst.major == 2:
        return []       # no sys._debugmallocstats(): see LIVE_CHECK_27
    if not exe:
        note("note: no interpreter for %s; pymalloc check skipped"
             % inst.label)
        return []
    res = subprocess.run(
        exe + ["-I", "-S", "-c", "import sys; sys._debugmallocstats()"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True)
    text = res.stdout
    errs = []
    m = re.search(r"Small block threshold = (\d+), in (\d+) size classes",
                  text)
    if not m:
        return ["%s: cannot parse sys._debugmallocstats()" % inst.label]
    threshold, nclasses = int(m.group(1)), int(m.group(2))
    if threshold != values["obm_small_request_threshold"]:
        errs.append("threshold %d != %d" % (
            threshold, values["obm_small_request_threshold"]))
    if threshold // nclasses != values["obm_alignment"]:
        errs.append("alignment %d != %d" % (threshold // nclasses,
                                            values["obm_alignment"]))
    m = re.search(r"(\d+) bytes/arena", text)
    if m and int(m.group(1)) != values["obm_arena_size"]:
        errs.append("arena size %s != %d" % (m.group(1),
                                             values["obm_arena_size"]))
    # class size num_pools blocks_in_use avail_blocks: every pool of size
    # class s holds (POOL_SIZE - POOL_OVERHEAD) // s blocks.
    checked = 0
    for cm in re.finditer(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$",
                          text, re.M):
        _, sz, npools, used, avail = map(int, cm.groups())
        if npools == 0:
            continue
        per_pool = (values["obm_pool_size"] - values["poolhdr_size"]) // sz
        if used + avail != npools * per_pool:
            errs.append("size class %d: %d blocks in %d pools, expected %d "
                        "per pool" % (sz, used + avail, npools, per_pool))
        checked += 1
    if checked == 0:
        errs.append("no size-class lines in sys._debugmallocstats()")
    if not errs:
        note("%s: pymalloc geometry agrees with sys._debugmallocstats()"
             % inst.label)
    return ["%s: pymalloc: %s" % (inst.label, e) for e in errs]


# A script run *inside* each pyenv interpreter: it reads its own memory with
# ctypes through the generated offsets.  argv[1] is "name=value,..." with
# ABSENT fields omitted.
LIVE_CHECK = r"""# -*- coding: utf-8 -*-
import ctypes, gc, sys, threading
L = dict((k, int(v)) for k, v in
         (kv.split("=") for kv in sys.argv[1].split(",")))
errors = []
def has(n): return n in L
def ptr(a): return ctypes.c_void_p.from_address(a).value or 0
def u64(a): return ctypes.c_uint64.from_address(a).value
def i64(a): return ctypes.c_int64.from_address(a).value
def i32(a): return ctypes.c_int32.from_address(a).value
def u32(a): return ctypes.c_uint32.from_address(a).value
def u8(a): return ctypes.c_uint8.from_address(a).value
def expect(what, got, want):
    if got != want:
        errors.append("%s: got %r, want %r" % (what, got, want))
def pystr(a):
    # Decode a compact str through the layout (kinds 1/2/4, ascii or not).
    state = u32(a + L["unicode_state"])
    kind = (state >> L["unicode_state_kind_shift"]) & 7
    ascii_ = (state >> L["unicode_state_ascii_bit"]) & 1
    compact = (state >> L["unicode_state_compact_bit"]) & 1
    n = i64(a + L["unicode_length"])
    if not compact:
        return None
    data = a + (L["unicode_ascii_size"] if ascii_ else
                L["unicode_compact_size"])
    raw = ctypes.string_at(data, n * kind)
    return raw.decode({1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind])
api = ctypes.pythonapi
api.PyThreadState_Get.restype = ctypes.c_void_p
tstate = api.PyThreadState_Get()
interp = ptr(tstate + L["tstate_interp"])
# thread list contains us
t, seen = ptr(interp + L["interp_tstate_head"]), False
for _ in range(1000):
    if not t: break
    if t == tstate: seen = True
    t = ptr(t + L["tstate_next"])
expect("tstate in interp thread list", seen, True)
expect("tstate.thread_id", u64(tstate + L["tstate_thread_id"]),
       threading.get_ident())
if has("tstate_native_thread_id"):
    expect("tstate.native_thread_id",
           u64(tstate + L["tstate_native_thread_id"]),
           threading.get_native_id())
expect("interp.sysdict", ptr(interp + L["interp_sysdict"]), id(sys.__dict__))
expect("interp.modules", ptr(interp + L["interp_modules"]), id(sys.modules))
if has("rt_interpreters_head"):
    rt = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    expect("runtime.interpreters.head",
           ptr(rt + L["rt_interpreters_head"]), interp)
    expect("runtime.interpreters.main",
           ptr(rt + L["rt_interpreters_main"]), interp)
    expect("runtime.initialized", i32(rt + L["rt_initialized"]), 1)
    expect("runtime.core_initialized", i32(rt + L["rt_core_initialized"]), 1)
    if has("rt_main_thread"):
        expect("runtime.main_thread", u64(rt + L["rt_main_thread"]),
               threading.main_thread().ident)
    if has("rt_gilstate_tstate_current"):
        expect("gilstate.tstate_current",
               ptr(rt + L["rt_gilstate_tstate_current"]), tstate)
    if has("rt_gil"):
        gil = rt + L["rt_gil"]
        expect("gil.locked", i32(gil + L["gil_locked"]), 1)
        expect("gil.last_holder", ptr(gil + L["gil_last_holder"]), tstate)
if has("interp_ceval_gil"):
    gil = ptr(interp + L["interp_ceval_gil"])
    expect("interp.ceval.gil -> interp._gil", gil, interp + L["interp_gil"])
    expect("gil.locked", i32(gil + L["gil_locked"]), 1)
    expect("gil.last_holder", ptr(gil + L["gil_last_holder"]), tstate)
if has("tstate_status_holds_gil_bit"):
    expect("tstate._status.holds_gil",
           (u32(tstate + L["tstate_status"])
            >> L["tstate_status_holds_gil_bit"]) & 1, 1)
# the current frame is this module's code: function f() calls check()
def code_name_of_frame(depth):
    # The first read must not go through a Python helper: the current frame
    # would then be the helper's, dead by the time the chain is walked.
    cvp = ctypes.c_void_p
    names = []
    if has("tstate_frame"):
        f = cvp.from_address(tstate + L["tstate_frame"]).value
        while f and len(names) < depth:
            co = ptr(f + L["frame_code"])
            names.append(pystr(ptr(co + L["code_name"])))
            f = ptr(f + L["frame_back"])
    else:
        if has("tstate_current_frame"):
            f = cvp.from_address(tstate + L["tstate_current_frame"]).value
        else:
            f = cvp.from_address(cvp.from_address(
                tstate + L["tstate_cframe"]).value
                + L["cframe_current_frame"]).value
        shims = [L[k] for k in ("iframe_owner_cstack",
                                "iframe_owner_interpreter") if has(k)]
        last = 0
        while f:
            owner = u8(f + L["iframe_owner"])
            if owner not in shims and len(names) < depth:
                co = ptr(f + L["iframe_code"])
                if has("stackref_tag_bits"):
                    co &= ~L["stackref_tag_bits"]
                names.append(pystr(ptr(co + L["code_qualname"])))
            last, f = f, ptr(f + L["iframe_previous"])
        if has("tstate_base_frame"):
            expect("the chain ends at tstate->base_frame", last,
                   ptr(tstate + L["tstate_base_frame"]))
            expect("the base frame's owner", u8(last + L["iframe_owner"]),
                   L["iframe_owner_interpreter"])
    return names
class Outer:
    def meth(self):
        return code_name_of_frame(3)
def fünf():
    return Outer().meth()
got = fünf()
if has("code_qualname"):
    want = ["code_name_of_frame", "Outer.meth", "fünf"]
else:
    want = ["code_name_of_frame", "meth", "fünf"]
expect("frame walk", got, want)
# code object line fields: firstlineno of code_name_of_frame
co = code_name_of_frame.__code__
expect("code.co_firstlineno", i32(id(co) + L["code_firstlineno"]),
       co.co_firstlineno)
expect("code.co_filename", ptr(id(co) + L["code_filename"]),
       id(co.co_filename))
# objects
expect("ob_type", ptr(id(co) + L["obj_type"]), id(type(co)))
expect("tp_name", ctypes.string_at(ptr(id(type(co)) + L["type_name"])),
       b"code")
expect("tp_flags", u64(id(dict) + L["type_flags"]), dict.__flags__)
expect("tp_basicsize", i64(id(dict) + L["type_basicsize"]),
       dict.__basicsize__)
expect("str decode", pystr(id("\u51fd\u6570x")), "\u51fd\u6570x")
expect("str decode 4", pystr(id("\U00020000y")), "\U00020000y")
lst = [1, 2, 3]
expect("list.ob_item[1]", ptr(ptr(id(lst) + L["list_item"]) + 8), id(lst[1]))
tup = (lst, None)
expect("tuple.ob_item[1]", ptr(id(tup) + L["tuple_item"] + 8), id(None))
expect("float", ctypes.c_double.from_address(
    id(2.5) + L["float_fval"]).value, 2.5)
expect("bytes", ctypes.string_at(id(b"xyz") + L["bytes_sval"], 3), b"xyz")
# module dict
expect("module.md_dict", ptr(id(sys) + L["module_dict"]), id(sys.__dict__))
# dict keys and entries (a general and, 3.11+, a unicode-keyed dict)
def first_entry(d):
    keys = ptr(id(d) + L["dict_keys"])
    nent = i64(keys + L["dictkeys_nentries"])
    if has("dictkeys_size"):
        size = i64(keys + L["dictkeys_size"])
        general = True
    else:
        size = 1 << u8(keys + L["dictkeys_log2_size"])
        general = u8(keys + L["dictkeys_kind"]) == L["dictkeys_kind_general"]
    ixsize = 1 if size <= 0xff else 2 if size <= 0xffff else 4
    if has("dictkeys_log2_index_bytes"):
        ix = 1 << u8(keys + L["dictkeys_log2_index_bytes"])
    else:
        ix = size * ixsize
    ent = keys + L["dictkeys_indices"] + ix
    if general:
        return nent, ptr(ent + L["dictentry_key"]), \
            ptr(ent + L["dictentry_value"])
    return nent, ptr(ent + L["dictuentry_key"]), \
        ptr(ent + L["dictuentry_value"])
k0, v0 = (1, 2), "v"
d = {k0: v0, 3: 4}
expect("dict general entry", first_entry(d), (2, id(k0), id(v0)))
ks = "kk" + str(len(d))
d2 = {ks: v0}
expect("dict unicode entry", first_entry(d2), (1, id(ks), id(v0)))
expect("dict.ma_used", i64(id(d) + L["dict_used"]), 2)
# set
s = {k0}
expect("set.used", i64(id(s) + L["set_used"]), 1)
expect("set.table is smalltable", ptr(id(s) + L["set_table"]),
       id(s) + L["set_smalltable"])
# GC generations: thresholds as gc.get_threshold() reports them
if has("rt_gc"):
    gcs = rt + L["rt_gc"]
elif has("interp_gc"):
    gcs = interp + L["interp_gc"]
else:
    # 3.6: exported _PyGC_generation0 points at generations[0].head
    gcs = None
    g0 = ctypes.c_void_p.in_dll(api, "_PyGC_generation0").value
    gens = g0 - L["gcgen_head"]
if gcs is not None:
    expect("gc.enabled", i32(gcs + L["gcstate_enabled"]), int(gc.isenabled()))
    expect("gc.collecting", i32(gcs + L["gcstate_collecting"]), 0)
    expect("gc.garbage", ptr(gcs + L["gcstate_garbage"]), id(gc.garbage))
    gens = gcs + L["gcstate_generations"]
th = tuple(i32(gens + i * L["gcgen_size"] + L["gcgen_threshold"])
           for i in range(3))
expect("gc thresholds", th, gc.get_threshold())
# a tracked object sits on some list right after its PyGC_Head
class Marker: pass
m = Marker()
# Collect first: m then sits in the oldest generation, between objects
# that outlive this check.  Young neighbours come and go with every
# ctypes object ptr() makes (3.14 tracks them on allocation).
gc.collect()
gch = id(m) - L["gchead_size"]
nxt = ptr(gch + L["gchead_next"]) & ~3
expect("gc_head.next.prev -> obj", ptr(nxt + L["gchead_prev"]) & ~3, gch)
# more code-object fields
def sample(a, b=2):
    return a + b
co = sample.__code__
expect("code.co_argcount", i32(id(co) + L["code_argcount"]), 2)
expect("code.co_flags", i32(id(co) + L["code_flags"]), co.co_flags)
def kwsample(a, *args, k=1, **kw):
    x = 1
    return x
kco = kwsample.__code__
expect("code.co_kwonlyargcount", i32(id(kco) + L["code_kwonlyargcount"]), 1)
expect("code.co_stacksize", i32(id(kco) + L["code_stacksize"]),
       kco.co_stacksize)
expect("CO_VARARGS", bool(kco.co_flags & L["code_flag_varargs"]), True)
expect("CO_VARKEYWORDS", bool(kco.co_flags & L["code_flag_varkeywords"]),
       True)
expect("CO_VARARGS of sample", co.co_flags & L["code_flag_varargs"], 0)
def gsample():
    yield 1
expect("generator flags", bool(gsample.__code__.co_flags &
                                L["code_flags_generator"]), True)
expect("generator flags of sample", co.co_flags & L["code_flags_generator"],
       0)
# lock objects: a held RLock names its owner and counts its acquires
import threading
lk = threading.Lock()
rl = threading.RLock()
rl.acquire()
rl.acquire()
expect("rlock.rlock_owner", u64(id(rl) + L["rlock_owner"]),
       threading.get_ident())
if has("lock_sem"):
    expect("lock.lock_lock", ptr(id(lk) + L["lock_sem"]) != 0, True)
    expect("rlock.rlock_lock", ptr(id(rl) + L["rlock_sem"]) != 0, True)
    expect("rlock.rlock_count", u64(id(rl) + L["rlock_count"]), 2)
else:
    expect("rlock mutex locked",
           u8(id(rl) + L["rlock_mutex"]) & L["mutex_locked"], 1)
rl.release()
rl.release()
if has("lock_sem"):
    expect("rlock.rlock_owner released", u64(id(rl) + L["rlock_owner"]), 0)
else:
    expect("rlock mutex released",
           u8(id(rl) + L["rlock_mutex"]) & L["mutex_locked"], 0)
# A thread blocked on a lock sleeps on a futex word that names it: the
# lock's semaphore, or (3.14+) its wait entry's.  (On its way there it
# may wait for the GIL, on another word: look until it settles.)
import os
import time
lk.acquire()
blocked = threading.Thread(target=lk.acquire)
blocked.daemon = True
blocked.start()


def names_lock(futex):
    if has("lock_sem"):
        return futex == ptr(id(lk) + L["lock_sem"])
    return u64(futex + L["parking_addr"]) == id(lk) + L["lock_mutex"]


found = False
for _ in range(5000):
    for task in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/syscall" % task) as f:
                words = f.read().split()
        except OSError:
            continue
        # The only other thread: the one blocked.
        if words and words[0] == "202" and int(task) != os.getpid():
            found = found or names_lock(int(words[1], 16))
    if found:
        break
    time.sleep(0.001)
expect("a blocked thread's futex names its lock", found, True)
lk.release()
blocked.join()
rl_acquire = rl.acquire
expect("builtin method m_self", ptr(id(rl_acquire) + L["cfunc_self"]),
       id(rl))
expect("code.co_name", ptr(id(co) + L["code_name"]), id(co.co_name))
if L["code_linetable_format"] == 1:
    expect("code.co_lnotab", ptr(id(co) + L["code_linetable"]),
           id(co.co_lnotab))
else:
    expect("code.co_linetable", ptr(id(co) + L["code_linetable"]),
           id(co.co_linetable))
if has("code_code"):
    expect("code.co_code", ptr(id(co) + L["code_code"]), id(co.co_code))
if has("code_qualname"):
    expect("code.co_qualname", ptr(id(co) + L["code_qualname"]),
           id(co.co_qualname))
# frame objects
fr = sys._getframe()
if has("frame_code"):
    expect("frame.f_code", ptr(id(fr) + L["frame_code"]), id(fr.f_code))
else:
    expect("frame.f_frame->code",
           ptr(ptr(id(fr) + L["frame_iframe"]) + L["iframe_code"]),
           id(fr.f_code))
# generators
def gen_fn():
    yield 1
g = gen_fn()
expect("gen.gi_name", ptr(id(g) + L["gen_name"]), id(g.__name__))
expect("gen.gi_qualname", ptr(id(g) + L["gen_qualname"]), id(g.__qualname__))
if has("gen_code"):
    expect("gen.gi_code", ptr(id(g) + L["gen_code"]), id(g.gi_code))
if has("gen_frame"):
    expect("gen.gi_frame", ptr(id(g) + L["gen_frame"]), id(g.gi_frame))
else:
    code = ptr(id(g) + L["gen_iframe"] + L["iframe_code"])
    if has("stackref_tag_bits"):
        code &= ~L["stackref_tag_bits"]
    expect("gen.gi_iframe.code", code, id(g.gi_code))
    expect("gen.gi_iframe.owner",
           u8(id(g) + L["gen_iframe"] + L["iframe_owner"]),
           L["iframe_owner_generator"])
    state = ctypes.c_int8.from_address(id(g) + L["gen_frame_state"])
    expect("a new generator is not finished",
           state.value < L["gen_state_finished"], True)
    done = gen_fn()
    for _ in done:
        pass
    state = ctypes.c_int8.from_address(id(done) + L["gen_frame_state"])
    expect("an exhausted generator is finished",
           state.value >= L["gen_state_finished"], True)
next(g)
if has("frame_lasti"):
    # a suspended generator's frame: f_lasti is stable.  3.10 stores code
    # units, the attribute reports bytes.
    gf = g.gi_frame
    unit = 2 if L["code_linetable_format"] == 2 else 1
    expect("frame.f_lasti", i32(id(gf) + L["frame_lasti"]) * unit,
           gf.f_lasti)
# thread-state dict, builtins, finalizing
api.PyThreadState_GetDict.restype = ctypes.c_void_p
tdict = api.PyThreadState_GetDict()
expect("tstate.dict", ptr(tstate + L["tstate_dict"]), tdict)
import builtins
expect("interp.builtins", ptr(interp + L["interp_builtins"]),
       id(builtins.__dict__))
if has("rt_finalizing"):
    expect("runtime.finalizing", ptr(rt + L["rt_finalizing"]), 0)
# ints
big = 12345678901234567890 * 3
nd = (big.bit_length() + 29) // 30
if has("long_lv_tag"):
    expect("int.lv_tag", u64(id(big) + L["long_lv_tag"]), nd << 3)
else:
    expect("int.ob_size", i64(id(big) + L["var_size"]), nd)
expect("int.ob_digit[0]", u32(id(big) + L["long_digit"]), big & (2**30 - 1))
# str extras: hash and the cached UTF-8 length
us = "\u00e9t\u00e9" + str(len(errors))
api.PyUnicode_AsUTF8AndSize.argtypes = [ctypes.py_object, ctypes.c_void_p]
api.PyUnicode_AsUTF8AndSize.restype = ctypes.c_void_p
api.PyUnicode_AsUTF8AndSize(us, None)
hus = hash(us)
expect("str.hash", i64(id(us) + L["unicode_hash"]), hus)
expect("str.utf8_length", i64(id(us) + L["unicode_utf8_length"]),
       len(us.encode("utf-8")))
# list/set extras
expect("list.allocated >= len", i64(id(lst) + L["list_allocated"]) >= 3, True)
expect("set.fill", i64(id(s) + L["set_fill"]), 1)
expect("set.mask", i64(id(s) + L["set_mask"]), 7)
expect("setentry.key", ptr(id(s) + L["set_smalltable"]
                           + (hash(k0) & 7) * L["setentry_size"]
                           + L["setentry_key"]), id(k0))
# heap types, __slots__ member table, managed dicts
class Plain:
    pass
class Slotted:
    __slots__ = ("xslot",)
expect("type.tp_mro", ptr(id(Plain) + L["type_mro"]), id(Plain.__mro__))
expect("type.tp_base", ptr(id(bool) + L["type_base"]), id(int))
expect("type.tp_itemsize", i64(id(tuple) + L["type_itemsize"]), 8)
expect("type.tp_dictoffset", i64(id(Plain) + L["type_dictoffset"]),
       Plain.__dictoffset__)
expect("type.tp_weaklistoffset", i64(id(Plain) + L["type_weaklistoffset"]),
       Plain.__weakrefoffset__)
expect("type.tp_dealloc set", ptr(id(Plain) + L["type_dealloc"]) != 0, True)
expect("type.tp_traverse set", ptr(id(Plain) + L["type_traverse"]) != 0,
       True)
expect("heap type flag", bool(Plain.__flags__ & L["tpflags_heaptype"]), True)
expect("have-gc flag", bool(Plain.__flags__ & L["tpflags_have_gc"]), True)
expect("ht_name", ptr(id(Plain) + L["heaptype_name"]), id(Plain.__name__))
expect("ht_qualname", ptr(id(Plain) + L["heaptype_qualname"]),
       id(Plain.__qualname__))
slots = ptr(id(Slotted) + L["heaptype_slots"])
expect("ht_slots", (i64(slots + L["var_size"]),
                    pystr(ptr(slots + L["tuple_item"]))), (1, "xslot"))
mdef = id(Slotted) + L["heaptype_size"]
expect("PyMemberDef.name", ctypes.string_at(ptr(mdef + L["memberdef_name"])),
       b"xslot")
expect("PyMemberDef.type", i32(mdef + L["memberdef_type"]), 16)
expect("PyMemberDef.offset", i64(mdef + L["memberdef_offset"]),
       Slotted.__basicsize__ - 8)
if has("obj_managed_dict"):
    expect("managed-dict flag",
           bool(Plain.__flags__ & L["tpflags_managed_dict"]), True)
    o = Plain()
    o.attr = big
    slot = ptr(id(o) + L["obj_managed_dict"])
    if has("obj_managed_values"):
        vals = ptr(id(o) + L["obj_managed_values"])
        expect("managed dict before materialising", slot, 0)
    elif L["obj_managed_dict_tagged"]:
        expect("tagged values pointer", slot & 1, 1)
        vals = slot + 1
    else:
        expect("inline-values flag",
               bool(Plain.__flags__ & L["tpflags_inline_values"]), True)
        vals = id(o) + i64(id(Plain) + L["type_basicsize"])
        expect("inline values valid", u8(vals + L["dictvalues_valid"]), 1)
    expect("values[0]", ptr(vals + L["dictvalues_values"]), id(big))
    dd = o.__dict__
    slot = ptr(id(o) + L["obj_managed_dict"])
    expect("managed dict slot", slot, id(dd))
# heap census fields: functions, methods, cells, types, frames, sizes
def census_outer():
    cellv = [1]
    def census_fn(a=1, *, b=2):
        "census doc"
        return cellv
    return census_fn
cf = census_outer()
cf.__dict__["z"] = 1
for fld, want in (("code", cf.__code__), ("globals", cf.__globals__),
                  ("name", cf.__name__), ("qualname", cf.__qualname__),
                  ("defaults", cf.__defaults__),
                  ("kwdefaults", cf.__kwdefaults__),
                  ("closure", cf.__closure__), ("doc", cf.__doc__),
                  ("dict", cf.__dict__), ("module", cf.__module__),
                  ("annotations", cf.__annotations__)):
    expect("func_" + fld, ptr(id(cf) + L["func_" + fld]), id(want))
if has("func_builtins"):
    expect("func_builtins", ptr(id(cf) + L["func_builtins"]),
           id(cf.__builtins__))
if has("func_typeparams"):
    expect("func_typeparams", ptr(id(cf) + L["func_typeparams"]), 0)
expect("cell.ob_ref", ptr(id(cf.__closure__[0]) + L["cell_ref"]),
       id(cf.__closure__[0].cell_contents))
bm = Outer().meth
expect("method.im_func", ptr(id(bm) + L["method_func"]), id(bm.__func__))
expect("method.im_self", ptr(id(bm) + L["method_self"]), id(bm.__self__))
expect("type.tp_bases", ptr(id(Plain) + L["type_bases"]),
       id(Plain.__bases__))
expect("type.tp_cache", ptr(id(Plain) + L["type_cache"]), 0)
expect("type.tp_members", ptr(id(Slotted) + L["type_members"]),
       id(Slotted) + L["heaptype_size"])
expect("Py_TPFLAGS_TYPE_SUBCLASS", (type.__flags__
                                    >> L["tpflags_type_subclass_bit"]) & 1, 1)
for flag, typ in (("long", bool), ("list", list), ("tuple", tuple),
                  ("bytes", bytes), ("unicode", str), ("dict", dict)):
    expect("Py_TPFLAGS_%s_SUBCLASS" % flag.upper(),
           bool(typ.__flags__ & L["tpflags_%s_subclass" % flag]), True)
if has("tpflags_immutabletype"):
    import functools
    expect("Py_TPFLAGS_IMMUTABLETYPE",
           (bool(functools._lru_cache_wrapper.__flags__
                 & L["tpflags_immutabletype"]),
            bool(Plain.__flags__ & L["tpflags_immutabletype"])),
           (True, False))
cco = census_fn_code = census_outer.__code__
expect("code.co_nlocals", i32(id(cco) + L["code_nlocals"]), cco.co_nlocals)
expect("code.co_stacksize", i32(id(cco) + L["code_stacksize"]),
       cco.co_stacksize)
if has("code_varnames"):
    expect("code.co_varnames", ptr(id(cco) + L["code_varnames"]),
           id(cco.co_varnames))
    expect("code.co_cellvars", ptr(id(cco) + L["code_cellvars"]),
           id(cco.co_cellvars))
    expect("code.co_freevars", ptr(id(cf.__code__) + L["code_freevars"]),
           id(cf.__code__.co_freevars))
else:
    names = ptr(id(cco) + L["code_localsplusnames"])
    n = i32(id(cco) + L["code_nlocalsplus"])
    expect("code.co_nlocalsplus", n, 2)
    expect("code.co_localsplusnames", sorted(
        pystr(ptr(names + L["tuple_item"] + 8 * i)) for i in range(n)),
        ["cellv", "census_fn"])
    kinds = ptr(id(cco) + L["code_localspluskinds"])
    kb = ctypes.string_at(kinds + L["bytes_sval"], n)
    byname = dict((pystr(ptr(names + L["tuple_item"] + 8 * i)), kb[i])
                  for i in range(n))
    expect("code.co_localspluskinds cell",
           bool(byname["cellv"] & L["code_kind_cell"]), True)
    expect("code.co_localspluskinds local",
           bool(byname["census_fn"] & L["code_kind_cell"]), False)
    fco = cf.__code__
    fnames = ptr(id(fco) + L["code_localsplusnames"])
    fkinds = ptr(id(fco) + L["code_localspluskinds"])
    fn_ = i32(id(fco) + L["code_nlocalsplus"])
    fkb = ctypes.string_at(fkinds + L["bytes_sval"], fn_)
    expect("code.co_localspluskinds free", [
        pystr(ptr(fnames + L["tuple_item"] + 8 * i)) for i in range(fn_)
        if fkb[i] & L["code_kind_free"]], list(fco.co_freevars))
def census_frame(p, q):
    return sys._getframe()
fo = census_frame(big, lst)
if has("frame_localsplus"):
    expect("frame.f_localsplus", (ptr(id(fo) + L["frame_localsplus"]),
           ptr(id(fo) + L["frame_localsplus"] + 8)), (id(big), id(lst)))
expect("sys.getsizeof(0)", sys.getsizeof(0),
       L["long_digit"] + 4 * L["long_min_digits"])
expect("sys.getsizeof(static type)", sys.getsizeof(int), L["type_size"]
       + L["getsizeof_static_type_gc"] * L["gchead_size"])
if has("preheader_size"):
    expect("sys.getsizeof(managed-dict object)", sys.getsizeof(Plain()),
           Plain.__basicsize__ + L["gchead_size"] + L["preheader_size"])
us2 = "\u00e9t\u00e9 " + str(len(errors))
api.PyUnicode_AsUTF8AndSize(us2, None)
utf8 = ptr(id(us2) + L["unicode_utf8"])
expect("str.utf8", ctypes.string_at(utf8, len(us2.encode())), us2.encode())
expect("sizeof(PyUnicodeObject)", L["unicode_object_size"],
       L["unicode_compact_size"] + 8)
if has("unicode_wstr"):
    expect("str.wstr", ptr(id(us2) + L["unicode_wstr"]), 0)
ba = bytearray(b"x" * 100)
# 3.15 keeps the buffer in a bytes object, whose header __sizeof__ counts.
buffer_header = (bytes.__basicsize__ if has("bytearray_bytes_object")
                 else 0)
expect("bytearray.ob_alloc", i64(id(ba) + L["bytearray_alloc"]),
       sys.getsizeof(ba) - bytearray.__basicsize__ - buffer_header)
if has("bytearray_bytes_object"):
    expect("bytearray.ob_bytes_object",
           ptr(id(ba) + L["bytearray_bytes_object"]) + L["bytes_sval"],
           ptr(id(ba) + L["bytearray_alloc"] + 8))
if has("dictvalues_embedded"):
    o = Plain()
    o.attr = big
    vals = id(o) + i64(id(Plain) + L["type_basicsize"])
    expect("inline values embedded", u8(vals + L["dictvalues_embedded"]), 1)
    expect("inline values capacity >= 1",
           u8(vals + L["dictvalues_capacity"]) >= 1, True)
# pymalloc state (3.12+: per interpreter): count the used arena slots
if has("interp_obmalloc"):
    obm = interp + L["interp_obmalloc"]
    if L["interp_obmalloc_is_ptr"]:
        obm = ptr(obm)
    arenas = ptr(obm + L["obm_arenas"])
    nmax = u32(obm + L["obm_maxarenas"])
    ncur = u64(obm + L["obm_narenas_currently_allocated"])
    used = sum(1 for i in range(nmax)
               if ptr(arenas + i * L["arenaobj_size"]
                      + L["arenaobj_address"]))
    expect("arena slots in use", used, ncur)
    expect("narenas_highwater >= current",
           u64(obm + L["obm_narenas_highwater"]) >= ncur, True)
    sys.stdout.write("narenas %d\n" % ncur)
    sys.stdout.flush()
    sys._debugmallocstats()
if errors:
    print("\n".join(errors))
    sys.exit(1)
print("ok")
"""


def check_live(inst, values, workdir):
    exe = inst.python()
    if not exe:
        note("note: no interpreter for %s; live check skipped" % inst.label)
        return []
    arg = ",".join("%s=%d" % (k, v) for k, v in sorted(values.items())
                   if v is not ABSENT)
    script = os.path.join(workdir, "live_%d_%d.py" % inst.key)
    with open(script, "w", encoding="utf-8") as f:
        f.write(LIVE_CHECK_27 if inst.key == (2, 7) else LIVE_CHECK)
    # (2.7 has no -I: -E -s is its isolation.)
    flags = ["-E", "-s", "-S"] if inst.major == 2 else ["-I", "-S"]
    res = subprocess.run(exe + flags + [script, arg],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = res.stdout.decode("utf-8", "replace").splitlines()
    err = res.stderr.decode("utf-8", "replace")
    narenas = [line for line in out if line.startswith("narenas ")]
    out = [line for line in out if not line.startswith("narenas ")]
    if res.returncode != 0 or out != ["ok"]:
        tail = err.splitlines()[-15:] if "Traceback" in err else []
        return ["%s: live check: %s" % (inst.label, line)
                for line in out + tail]
    if narenas:
        m = re.search(r"# arenas allocated current\s*=\s*([\d,]+)", err)
        want = int(m.group(1).replace(",", "")) if m else None
        got = int(narenas[0].split()[1])
        if got != want:
            return ["%s: live check: narenas_currently_allocated %d, "
                    "sys._debugmallocstats() says %s"
                    % (inst.label, got, want)]
    note("%s: live self-read through the generated offsets passed"
         % inst.label)
    return []


# Measures what no header declares: _asyncio's FutureObj and TaskObj
# (private to Modules/_asynciomodule.c) and the stack slot of a suspended
# `yield from`.  It builds tasks whose fields must hold known objects (the
# loop, the coroutine, the future a task waits on, its name, the task that
# awaits it, its neighbours on 3.14's task list) and finds each field as
# the one word of the task that holds that object; fut_state as the one
# int that tells a pending, a cancelled and a finished task apart.  Any
# field found at no offset or at two is an error, not a guess.  Runs in
# 3.6 - 3.15 (no f-strings).
MEASURE_ASYNCIO = r"""
import asyncio, ctypes, sys
L = dict((k, int(v)) for k, v in
         (kv.split("=") for kv in sys.argv[1].split(",") if kv))
P = ctypes.sizeof(ctypes.c_void_p)
def word(a): return ctypes.c_void_p.from_address(a).value or 0
def i32(a): return ctypes.c_int32.from_address(a).value
def fail(msg):
    sys.stdout.write("error " + msg + "\n")
    sys.exit(0)
import _asyncio
if asyncio.Task is not _asyncio.Task:
    fail("asyncio.Task is not the C task")
Task = _asyncio.Task
SIZE = Task.__basicsize__
found = []
def one(name, obj, value, also=()):
    hits = [o for o in range(2 * P, SIZE - P + 1, P)
            if word(id(obj) + o) == value]
    hits = [o for o in hits if all(word(id(x) + o) == v for x, v in also)]
    if len(hits) != 1:
        fail("%s: %d candidate offsets %r" % (name, len(hits), hits))
    found.append((name, hits[0]))
    return hits[0]

loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
fut = loop.create_future()
async def child():
    await fut
async def parent(t):
    await t
async def quick():
    return 1
async def spin():
    for _ in range(5):
        await asyncio.sleep(0)
child_coro = child()
t = Task(child_coro, loop=loop)
p = Task(parent(t), loop=loop)
done = Task(quick(), loop=loop)
cancelled = Task(child(), loop=loop)
cancelled.cancel()
loop.run_until_complete(spin())
if not (done.done() and cancelled.cancelled() and not t.done()
        and not p.done()):
    fail("tasks did not reach their states")

one("fut_loop", t, id(loop), [(p, id(loop)), (done, id(loop))])
one("task_coro", t, id(child_coro))
one("task_fut_waiter", t, id(fut), [(p, id(t))])
if sys.version_info >= (3, 8):
    t.set_name("pyspect-measure-name")
    one("task_name", t, id(t.get_name()))
if sys.version_info >= (3, 14):
    one("fut_awaited_by", t, id(p))
    hits = [o for o in range(2 * P, SIZE - 2 * P + 1, P)
            if word(id(t) + o) == id(p) + o
            and word(id(p) + o + P) == id(t) + o]
    if len(hits) != 1:
        fail("task_node: %d candidate offsets %r" % (len(hits), hits))
    found.append(("task_node", hits[0]))

states = []
for o in range(2 * P, SIZE - 3, 4):
    v = (i32(id(t) + o), i32(id(p) + o), i32(id(cancelled) + o),
         i32(id(done) + o))
    if v[0] == v[1] and len(set(v[1:])) == 3 and min(v) >= 0 and max(v) < 8:
        states.append((o, v))
if len(states) != 1:
    fail("fut_state: %d candidate offsets %r" % (len(states), states))
o, v = states[0]
found += [("fut_state", o), ("fut_state_pending", v[0]),
          ("fut_state_cancelled", v[2]), ("fut_state_finished", v[3])]

# The stack slot that holds what a suspended coroutine awaits: what
# cr_await says it awaits.
awaited = id(child_coro.cr_await)
if "iframe_stackpointer" in L:
    base = id(child_coro) + L["gen_iframe"]
    sp = word(base + L["iframe_stackpointer"])
    item = lambda k: word(sp - k * P) & ~L["stackref_tag_bits"]
elif "iframe_stacktop" in L:
    base = id(child_coro) + L["gen_iframe"]
    top = i32(base + L["iframe_stacktop"])
    item = lambda k: word(base + L["iframe_localsplus"] + (top - k) * P)
elif "frame_stackdepth" in L:
    f = id(child_coro.cr_frame)
    depth = i32(f + L["frame_stackdepth"])
    item = lambda k: word(word(f + L["frame_valuestack"]) + (depth - k) * P)
else:
    f = id(child_coro.cr_frame)
    item = lambda k: word(word(f + L["frame_stacktop"]) - k * P)
slots = [k for k in (1, 2, 3) if item(k) == awaited]
if len(slots) != 1:
    fail("gen_yf_slot: %r" % slots)
found.append(("gen_yf_slot", slots[0]))
fut.set_result(None)
loop.run_until_complete(asyncio.gather(t, p))
loop.close()
for name, value in found:
    sys.stdout.write("%s %d\n" % (name, value))
sys.stdout.write("ok\n")
"""


def measure_asyncio(inst, values, workdir):
    """Fill the MEASURED fields of values by running MEASURE_ASYNCIO in
    inst's interpreter; returns a list of problems."""
    wanted = [k for k, v in values.items() if v is MEASURED]
    if not wanted:
        return []
    exe = inst.python()
    if not exe:
        fail("no interpreter for %s: cannot measure %s"
             % (inst.label, ", ".join(wanted)))
    arg = ",".join("%s=%d" % (k, v) for k, v in sorted(values.items())
                   if v is not ABSENT and v is not MEASURED)
    script = os.path.join(workdir, "asyncio_%d_%d.py" % inst.key)
    with open(script, "w", encoding="utf-8") as f:
        f.write(MEASURE_ASYNCIO)
    res = subprocess.run(exe + ["-I", "-S", script, arg],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = res.stdout.decode("utf-8", "replace").splitlines()
    if res.returncode != 0 or not out or out[-1] != "ok":
        err = res.stderr.decode("utf-8", "replace").splitlines()[-10:]
        return ["%s: asyncio measure: %s" % (inst.label, line)
                for line in out + err]
    got = dict((line.split()[0], int(line.split()[1])) for line in out[:-1])
    problems = []
    for name in wanted:
        if name not in got:
            problems.append("%s: asyncio measure gave no %s"
                            % (inst.label, name))
        else:
            values[name] = got[name]
    note("%s: asyncio structures measured" % inst.label)
    return problems


# The live check for 2.7, in 2.7's own syntax: the same idea as
# LIVE_CHECK, over 2.7's structures.
LIVE_CHECK_27 = r"""# -*- coding: utf-8 -*-
import ctypes, gc, struct, sys, thread, threading
L = dict((k, int(v)) for k, v in
         (kv.split("=") for kv in sys.argv[1].split(",")))
errors = []
def has(n): return n in L
def ptr(a): return ctypes.c_void_p.from_address(a).value or 0
def u64(a): return ctypes.c_uint64.from_address(a).value
def i64(a): return ctypes.c_int64.from_address(a).value
def i32(a): return ctypes.c_int32.from_address(a).value
def u32(a): return ctypes.c_uint32.from_address(a).value
def expect(what, got, want):
    if got != want:
        errors.append("%s: got %r, want %r" % (what, got, want))
def pybytes(a):
    return ctypes.string_at(a + L["bytes_sval"], i64(a + L["var_size"]))
def pyunicode(a):
    n = i64(a + L["unicode_length"])
    raw = ctypes.string_at(ptr(a + L["unicode_str"]),
                           n * L["unicode_char_size"])
    return raw.decode({2: "utf-16-le", 4: "utf-32-le"}[
        L["unicode_char_size"]])
api = ctypes.pythonapi
api.PyThreadState_Get.restype = ctypes.c_void_p
tstate = api.PyThreadState_Get()
interp = ptr(tstate + L["tstate_interp"])
# threads: this one is on its interpreter's list, and holds the GIL
t, seen = ptr(interp + L["interp_tstate_head"]), False
for _ in range(1000):
    if not t: break
    if t == tstate: seen = True
    t = ptr(t + L["tstate_next"])
expect("tstate in interp thread list", seen, True)
expect("tstate.thread_id", u64(tstate + L["tstate_thread_id"]),
       thread.get_ident())
expect("_PyThreadState_Current",
       ctypes.c_void_p.in_dll(api, "_PyThreadState_Current").value, tstate)
expect("interp.sysdict", ptr(interp + L["interp_sysdict"]), id(sys.__dict__))
expect("interp.modules", ptr(interp + L["interp_modules"]), id(sys.modules))
import __builtin__
expect("interp.builtins", ptr(interp + L["interp_builtins"]),
       id(__builtin__.__dict__))
api.PyThreadState_GetDict.restype = ctypes.c_void_p
tdict = api.PyThreadState_GetDict()
expect("tstate.dict", ptr(tstate + L["tstate_dict"]), tdict)
# the frame chain, read before any helper runs
def code_names_of_frames(depth):
    f = ctypes.c_void_p.from_address(tstate + L["tstate_frame"]).value
    names = []
    while f and len(names) < depth:
        co = ptr(f + L["frame_code"])
        names.append(pybytes(ptr(co + L["code_name"])))
        f = ptr(f + L["frame_back"])
    return names
class Outer:
    def meth(self):
        return code_names_of_frames(3)
def five():
    return Outer().meth()
expect("frame walk", five(), ["code_names_of_frames", "meth", "five"])
def sample(a, b=2):
    return a + b
co = sample.__code__
expect("code.co_argcount", i32(id(co) + L["code_argcount"]), 2)
expect("code.co_flags", i32(id(co) + L["code_flags"]), co.co_flags)
expect("code.co_firstlineno", i32(id(co) + L["code_firstlineno"]),
       co.co_firstlineno)
expect("code.co_name", ptr(id(co) + L["code_name"]), id(co.co_name))
expect("code.co_filename", ptr(id(co) + L["code_filename"]),
       id(co.co_filename))
expect("code.co_lnotab", ptr(id(co) + L["code_linetable"]), id(co.co_lnotab))
expect("code.co_code", ptr(id(co) + L["code_code"]), id(co.co_code))
expect("code.co_nlocals", i32(id(co) + L["code_nlocals"]), co.co_nlocals)
expect("code.co_stacksize", i32(id(co) + L["code_stacksize"]),
       co.co_stacksize)
expect("code.co_varnames", ptr(id(co) + L["code_varnames"]),
       id(co.co_varnames))
expect("code.co_cellvars", ptr(id(co) + L["code_cellvars"]),
       id(co.co_cellvars))
expect("code.co_freevars", ptr(id(co) + L["code_freevars"]),
       id(co.co_freevars))
expect("str is the type of names", type(co.co_name), str)
def vsample(a, *args, **kw):
    return a
vco = vsample.__code__
expect("CO_VARARGS", bool(vco.co_flags & L["code_flag_varargs"]), True)
expect("CO_VARKEYWORDS", bool(vco.co_flags & L["code_flag_varkeywords"]),
       True)
expect("CO_VARARGS of sample", co.co_flags & L["code_flag_varargs"], 0)
def gsample():
    yield 1
expect("generator flags", bool(gsample.__code__.co_flags &
                                L["code_flags_generator"]), True)
expect("generator flags of sample", co.co_flags & L["code_flags_generator"],
       0)
# thread.lock: a thread blocked on one sleeps on its semaphore, the futex
# word at lock_lock (on its way there it may wait for the GIL, on
# another word: look until it settles)
import os, time
lk = thread.allocate_lock()
expect("lock.lock_lock", ptr(id(lk) + L["lock_sem"]) != 0, True)
lk.acquire()
blocked = threading.Thread(target=lk.acquire)
blocked.daemon = True
blocked.start()
found = False
for _ in range(5000):
    for task in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/syscall" % task) as f:
                words = f.read().split()
        except (IOError, OSError):
            continue
        if words and words[0] == "202" and int(task) != os.getpid():
            found = found or int(words[1], 16) == ptr(id(lk) + L["lock_sem"])
    if found:
        break
    time.sleep(0.001)
expect("a blocked thread's futex is its lock's semaphore", found, True)
lk.release()
blocked.join()
lk_acquire = lk.acquire
expect("builtin method m_self", ptr(id(lk_acquire) + L["cfunc_self"]),
       id(lk))
fr = (lambda: sys._getframe())()
expect("frame.f_code", ptr(id(fr) + L["frame_code"]), id(fr.f_code))
expect("frame.f_back", ptr(id(fr) + L["frame_back"]), id(fr.f_back))
expect("frame.f_trace", ptr(id(fr) + L["frame_trace"]), 0)
# generators: a suspended frame's f_lasti is stable, and the line of its
# yield comes from co_lnotab with unsigned increments
def gen_fn():
    x = 1
    yield x
g = gen_fn()
expect("gen.gi_code", ptr(id(g) + L["gen_code"]), id(g.gi_code))
expect("gen.gi_frame", ptr(id(g) + L["gen_frame"]), id(g.gi_frame))
next(g)
expect("frame.f_lasti", i32(id(g.gi_frame) + L["frame_lasti"]),
       g.gi_frame.f_lasti)
expect("frame.f_localsplus[0]",
       ptr(id(g.gi_frame) + L["frame_localsplus"]), id(1))
# objects
expect("ob_type", ptr(id(co) + L["obj_type"]), id(type(co)))
expect("ob_refcnt", i64(id(co) + L["obj_refcnt"]), sys.getrefcount(co) - 1)
expect("tp_name", ctypes.string_at(ptr(id(type(co)) + L["type_name"])),
       b"code")
expect("tp_flags", u64(id(dict) + L["type_flags"]), dict.__flags__)
expect("tp_basicsize", i64(id(dict) + L["type_basicsize"]),
       dict.__basicsize__)
expect("tp_itemsize", i64(id(tuple) + L["type_itemsize"]),
       tuple.__itemsize__)
expect("tp_base", ptr(id(bool) + L["type_base"]), id(int))
expect("tp_mro", ptr(id(bool) + L["type_mro"]), id(bool.__mro__))
expect("tp_bases", ptr(id(bool) + L["type_bases"]), id(bool.__bases__))
expect("tp_flags bit TYPE_SUBCLASS",
       (type.__flags__ >> L["tpflags_type_subclass_bit"]) & 1, 1)
expect("tp_flags HEAPTYPE", bool(int.__flags__ & L["tpflags_heaptype"]),
       False)
class Slots(object):
    __slots__ = ("a", "b")
expect("heap type", bool(Slots.__flags__ & L["tpflags_heaptype"]), True)
expect("ht_name", ptr(id(Slots) + L["heaptype_name"]), id(Slots.__name__))
slots = ptr(id(Slots) + L["heaptype_slots"])
expect("ht_slots", [pybytes(ptr(slots + L["tuple_item"] + 8 * i))
                    for i in range(i64(slots + L["var_size"]))], ["a", "b"])
mem = ptr(id(Slots) + L["type_members"])
names = []
for i in range(2):
    m = mem + i * L["memberdef_size"]
    names.append((ctypes.string_at(ptr(m + L["memberdef_name"])),
                  i64(m + L["memberdef_offset"])))
expect("PyMemberDef", names, [("a", Slots.a.__objclass__.__basicsize__
                                - 16), ("b", Slots.__basicsize__ - 8)])
expect("heap type size", sys.getsizeof(Slots), L["heaptype_size"] +
       2 * L["memberdef_size"] + L["gchead_size"])
expect("static type size", sys.getsizeof(int), L["heaptype_size"])
# strings: bytes and unicode of the build's width
expect("str", pybytes(id("xyz!")), "xyz!")
expect("unicode", pyunicode(id(u"f\xfcnf-\u51fd\u6570-\U00020000")),
       u"f\xfcnf-\u51fd\u6570-\U00020000")
expect("unicode width", L["unicode_char_size"], 4 if sys.maxunicode >
       0xffff else 2)
expect("unicode size", sys.getsizeof(u"abc"), L["unicode_object_size"] +
       4 * L["unicode_char_size"])
# numbers, sequences
expect("int", i64(id(123456789) + L["int_ival"]), 123456789)
big = 2 ** 70 + 5
expect("long digits", (i64(id(big) + L["var_size"]),
                       u32(id(big) + L["long_digit"])), (3, 5))
expect("long size", sys.getsizeof(0L), L["long_digit"] +
       4 * L["long_min_digits"])
expect("float", ctypes.c_double.from_address(
    id(2.5) + L["float_fval"]).value, 2.5)
lst = [1, 2, 3]
expect("list.ob_item[1]", ptr(ptr(id(lst) + L["list_item"]) + 8), id(lst[1]))
expect("list.allocated", i64(id(lst) + L["list_allocated"]) >= 3, True)
tup = (lst, None)
expect("tuple.ob_item[1]", ptr(id(tup) + L["tuple_item"] + 8), id(None))
ba = bytearray("abc")
expect("bytearray.ob_alloc", i64(id(ba) + L["bytearray_alloc"]),
       ba.__alloc__())
# dicts: one table of entries
k0, v0 = (1, 2), "v"
d = {k0: v0}
table = ptr(id(d) + L["dict_table"])
expect("dict small table", table, id(d) + L["dict_smalltable"])
mask = i64(id(d) + L["dict_mask"])
ents = [(ptr(table + i * L["dictentry_size"] + L["dictentry_key"]),
         ptr(table + i * L["dictentry_size"] + L["dictentry_value"]),
         i64(table + i * L["dictentry_size"] + L["dictentry_hash"]))
        for i in range(mask + 1)]
expect("dict entry", [e for e in ents if e[0]], [(id(k0), id(v0),
                                                  hash(k0))])
expect("dict.ma_used", i64(id(d) + L["dict_used"]), 1)
expect("dict.ma_fill", i64(id(d) + L["dict_fill"]), 1)
expect("dict size", sys.getsizeof(d), L["dict_size"] + L["gchead_size"])
# sets
s = set([k0])
expect("set.used", i64(id(s) + L["set_used"]), 1)
expect("set.table is smalltable", ptr(id(s) + L["set_table"]),
       id(s) + L["set_smalltable"])
keys = [ptr(ptr(id(s) + L["set_table"]) + i * L["setentry_size"] +
            L["setentry_key"]) for i in range(i64(id(s) + L["set_mask"]) + 1)]
expect("set key", [k for k in keys if k], [id(k0)])
# modules, functions, methods, cells, old-style classes and instances
expect("module.md_dict", ptr(id(sys) + L["module_dict"]), id(sys.__dict__))
def closure():
    c = []
    def f(a=k0):
        "doc"
        return c
    return f
fn = closure()
for field, want in (("func_code", fn.func_code),
                    ("func_globals", fn.func_globals),
                    ("func_defaults", fn.func_defaults),
                    ("func_closure", fn.func_closure),
                    ("func_doc", fn.func_doc), ("func_name", fn.func_name),
                    ("func_module", fn.__module__)):
    expect("function." + field, ptr(id(fn) + L[field]), id(want))
expect("cell", ptr(id(fn.func_closure[0]) + L["cell_ref"]),
       id(fn.func_closure[0].cell_contents))
class Old:
    x = 1
    def m(self):
        pass
o = Old()
o.y = 2
bm = o.m
expect("im_func", ptr(id(bm) + L["method_func"]), id(bm.im_func))
expect("im_self", ptr(id(bm) + L["method_self"]), id(o))
expect("im_class", ptr(id(bm) + L["method_class"]), id(Old))
expect("in_class", ptr(id(o) + L["instance_class"]), id(Old))
expect("in_dict", ptr(id(o) + L["instance_dict"]), id(o.__dict__))
expect("cl_bases", ptr(id(Old) + L["class_bases"]), id(Old.__bases__))
expect("cl_dict", ptr(id(Old) + L["class_dict"]), id(Old.__dict__))
expect("cl_name", ptr(id(Old) + L["class_name"]), id(Old.__name__))
for f in ("class_getattr", "class_setattr", "class_delattr"):
    expect(f, ptr(id(Old) + L[f]), 0)
# ints come from free-list blocks: after a full collection (which frees
# the blocks with no live int) new ones are taken from fresh blocks, last
# slot first, so their addresses fall by sizeof(PyIntObject) in runs of
# exactly the number of objects a block holds
gc.collect()
ints = [int("1%08d" % i) for i in range(3000)]
runs, run = [], 1
for a, b in zip(ints, ints[1:]):
    if id(b) == id(a) - L["int_size"]:
        run += 1
    else:
        runs.append(run)
        run = 1
expect("int free-list block size",
       max(runs), (L["intblock_size"] - L["intblock_objects"]) //
       L["int_size"])
floats = [float(i) + 0.5 for i in range(3000)]
runs, run = [], 1
for a, b in zip(floats, floats[1:]):
    if id(b) == id(a) - L["float_size"]:
        run += 1
    else:
        runs.append(run)
        run = 1
expect("float free-list block size",
       max(runs), (L["floatblock_size"] - L["floatblock_objects"]) //
       L["float_size"])
del ints, floats
# GC: a tracked object sits on a list right after its PyGC_Head; the
# generations are reached through the exported _PyGC_generation0
gch = id(o) - L["gchead_size"]
nxt = ptr(gch + L["gchead_next"])
expect("gc_head.next.prev -> obj", ptr(nxt + L["gchead_prev"]), gch)
gens = ctypes.c_void_p.in_dll(api, "_PyGC_generation0").value - \
    L["gcgen_head"]
expect("gc thresholds", tuple(i32(gens + i * L["gcgen_size"] +
                                  L["gcgen_threshold"]) for i in range(3)),
       gc.get_threshold())
# pymalloc: the statics from libpython's .symtab; every used pool's block
# size is POOL_SIZE - maxnextoffset = (szidx + 1) * ALIGNMENT
def symtab(path, wanted):
    data = open(path, "rb").read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
            for i in range(shnum)]
    out = {}
    for sh in secs:
        if sh[1] != 2:
            continue
        strs = secs[sh[6]][4]
        for off in range(sh[4], sh[4] + sh[5], 24):
            name, info, _, _, value, _ = struct.unpack_from("<IBBHQQ", data,
                                                             off)
            n = data[strs + name:data.index("\0", strs + name)]
            if n in wanted and info & 0xf == 1:
                out[n] = value
    return out
lib = None
for line in open("/proc/self/maps"):
    f = line.split()
    if len(f) >= 6 and "libpython" in f[5] and int(f[2], 16) == 0:
        lib, base = f[5], int(f[0].split("-")[0], 16)
        break
if lib is None:
    sys.stdout.write("narenas skipped\n")
else:
    sym = symtab(lib, ("arenas", "maxarenas", "narenas_currently_allocated"))
    arenas = ptr(base + sym["arenas"])
    used = pools = 0
    for i in range(u32(base + sym["maxarenas"])):
        ao = arenas + i * L["arenaobj_size"]
        addr = ptr(ao + L["arenaobj_address"])
        if not addr:
            continue
        used += 1
        pool = (addr + L["obm_pool_size"] - 1) & ~(L["obm_pool_size"] - 1)
        end = ptr(ao + L["arenaobj_pool_address"])
        while pool < end:
            if u32(pool + L["poolhdr_count"]):
                pools += 1
                size = (u32(pool + L["poolhdr_szidx"]) + 1) * \
                    L["obm_alignment"]
                expect("pool block size", L["obm_pool_size"] -
                       u32(pool + L["poolhdr_maxnextoffset"]), size)
                expect("pool size class < threshold",
                       size <= L["obm_small_request_threshold"], True)
            pool += L["obm_pool_size"]
        expect("arena pool count", ptr(ao + L["arenaobj_pool_address"]) -
               pool, 0)
    expect("arena slots in use", used,
           u64(base + sym["narenas_currently_allocated"]))
    expect("pools seen", pools > 10, True)
if errors:
    print("\n".join(errors))
    sys.exit(1)
print("ok")
"""


# _Py_DebugOffsets member -> generated field (3.13).
DEBUG_OFFSETS_MAP = {
    13: [
        ("runtime_state.finalizing", "rt_finalizing"),
        ("runtime_state.interpreters_head", "rt_interpreters_head"),
        ("interpreter_state.size", "interp_size"),
        ("interpreter_state.id", "interp_id"),
        ("interpreter_state.next", "interp_next"),
        ("interpreter_state.threads_head", "interp_tstate_head"),
        ("interpreter_state.gc", "interp_gc"),
        ("interpreter_state.imports_modules", "interp_modules"),
        ("interpreter_state.sysdict", "interp_sysdict"),
        ("interpreter_state.builtins", "interp_builtins"),
        ("interpreter_state.ceval_gil", "interp_ceval_gil"),
        ("interpreter_state.gil_runtime_state", "interp_gil"),
        ("thread_state.size", "tstate_size"),
        ("thread_state.prev", "tstate_prev"),
        ("thread_state.next", "tstate_next"),
        ("thread_state.interp", "tstate_interp"),
        ("thread_state.current_frame", "tstate_current_frame"),
        ("thread_state.thread_id", "tstate_thread_id"),
        ("thread_state.native_thread_id", "tstate_native_thread_id"),
        ("thread_state.datastack_chunk", "tstate_datastack_chunk"),
        ("thread_state.status", "tstate_status"),
        ("interpreter_frame.size", "iframe_size"),
        ("interpreter_frame.previous", "iframe_previous"),
        ("interpreter_frame.executable", "iframe_code"),
        ("interpreter_frame.instr_ptr", "iframe_instr"),
        ("interpreter_frame.localsplus", "iframe_localsplus"),
        ("interpreter_frame.owner", "iframe_owner"),
        ("code_object.size", "code_size"),
        ("code_object.filename", "code_filename"),
        ("code_object.name", "code_name"),
        ("code_object.qualname", "code_qualname"),
        ("code_object.linetable", "code_linetable"),
        ("code_object.firstlineno", "code_firstlineno"),
        ("code_object.argcount", "code_argcount"),
        ("code_object.localsplusnames", "code_localsplusnames"),
        ("code_object.localspluskinds", "code_localspluskinds"),
        ("code_object.co_code_adaptive", "code_code_adaptive"),
        ("pyobject.ob_type", "obj_type"),
        ("type_object.size", "type_size"),
        ("type_object.tp_name", "type_name"),
        ("type_object.tp_flags", "type_flags"),
        ("tuple_object.size", "tuple_size"),
        ("tuple_object.ob_item", "tuple_item"),
        ("list_object.size", "list_size"),
        ("list_object.ob_item", "list_item"),
        ("dict_object.size", "dict_size"),
        ("dict_object.ma_keys", "dict_keys"),
        ("dict_object.ma_values", "dict_values"),
        ("float_object.size", "float_size"),
        ("float_object.ob_fval", "float_fval"),
        ("long_object.size", "long_size"),
        ("long_object.lv_tag", "long_lv_tag"),
        ("long_object.ob_digit", "long_digit"),
        ("bytes_object.size", "bytes_size"),
        ("bytes_object.ob_sval", "bytes_sval"),
        ("unicode_object.state", "unicode_state"),
        ("unicode_object.length", "unicode_length"),
        ("unicode_object.asciiobject_size", "unicode_ascii_size"),
        ("gc.size", "gcstate_size"),
        ("gc.collecting", "gcstate_collecting"),
        ("code_object.localsplusnames", "code_localsplusnames"),
        ("unicode_object.size", "unicode_object_size"),
    ],
}
DEBUG_OFFSETS_MAP[14] = DEBUG_OFFSETS_MAP[13] + [
    ("interpreter_state.threads_main", "interp_threads_main"),
    ("set_object.size", "set_size"),
    ("set_object.used", "set_used"),
    ("set_object.table", "set_table"),
    ("set_object.mask", "set_mask"),
    ("gen_object.gi_name", "gen_name"),
    ("gen_object.gi_iframe", "gen_iframe"),
    ("gen_object.gi_frame_state", "gen_frame_state"),
    ("interpreter_frame.stackpointer", "iframe_stackpointer"),
]
DEBUG_OFFSETS_MAP[15] = DEBUG_OFFSETS_MAP[14] + [
    ("thread_state.base_frame", "tstate_base_frame"),
    ("type_object.tp_basicsize", "type_basicsize"),
    ("type_object.tp_dictoffset", "type_dictoffset"),
    ("heap_type_object.size", "heaptype_size"),
    ("heap_type_object.ht_cached_keys", "heaptype_cached_keys"),
    ("unicode_object.compactunicodeobject_size", "unicode_compact_size"),
]


# 3.13 declares _Py_DebugOffsets in pycore_runtime.h; 3.14 in a header of
# its own.
DEBUG_OFFSETS_INCLUDE = '#include "internal/pycore_debug_offsets.h"\n'


def elf_section(path, wanted):
    """(file offset, size) of section `wanted` in a 64-bit LE ELF file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def sh(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
    strtab = sh(shstrndx)
    for i in range(shnum):
        s = sh(i)
        start = strtab[4] + s[0]
        name = data[start:data.index(b"\0", start)].decode()
        if name == wanted:
            return data[s[4]:s[4] + s[5]]
    return None


def check_debug_offsets(inst, values, workdir):
    members = DEBUG_OFFSETS_MAP.get(inst.minor) if inst.major == 3 else None
    lib = inst.libpython()
    if not members:
        return []
    if not lib:
        note("note: no libpython for %s; _Py_DebugOffsets check skipped"
             % inst.label)
        return []
    section = elf_section(lib, ".PyRuntime")
    if section is None:
        return ["%s: no .PyRuntime section in %s" % (inst.label, lib)]
    rows = [("dbg_" + m.replace(".", "__"),
             "offsetof(_Py_DebugOffsets, %s)" % m) for m, _ in members]
    src = os.path.join(workdir, "dbg_3_%d.c" % inst.minor)
    exe = src[:-2]
    with open(src, "w", encoding="utf-8") as f:
        f.write(PRELUDE_COMMON + PRELUDES[inst.minor]
                + (DEBUG_OFFSETS_INCLUDE if inst.minor >= 14 else "")
                + "int main(void){\n"
                + "".join('printf("%s %%ld\\n", (long)(%s));\n' % r
                          for r in rows) + "return 0;}\n")
    cmd = (["gcc", "-std=gnu11", "-w", "-DPy_BUILD_CORE"] + inst.cflags()
           + ["-o", exe, src])
    if subprocess.run(cmd).returncode != 0:
        return ["%s: debug-offsets probe failed to compile" % inst.label]
    out = subprocess.run([exe], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    where = dict((k, int(v)) for k, v in
                 (line.split() for line in out.splitlines()))
    errs = []
    if section[:8] != b"xdebugpy":
        return ["%s: .PyRuntime does not start with the debug cookie"
                % inst.label]
    for (member, field), (key, _) in zip(members, rows):
        embedded, = struct.unpack_from("<Q", section, where[key])
        if embedded != values[field]:
            errs.append("%s: _Py_DebugOffsets.%s = %d but %s = %s"
                        % (inst.label, member, embedded, field,
                           values[field]))
    if not errs:
        note("%s: %d values agree with libpython's _Py_DebugOffsets"
             % (inst.label, len(members)))
    return errs


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="regenerate in memory and compare with %s"
                    % os.path.relpath(OUTPUT, ROOT))
    ap.add_argument("--keep-missing", action="store_true",
                    help="keep the committed table of versions whose "
                    "headers are not installed here")
    ap.add_argument("--no-runtime-checks", action="store_true",
                    help="skip the checks that run the interpreters")
    ap.add_argument("-o", "--output", default=OUTPUT)
    args = ap.parse_args()

    fields = parse_layout_fields()
    table = decisions(fields)
    if not shutil.which("gcc"):
        fail("gcc not found (the probes are C programs)")
    installs = find_pyenv_installs()
    for minor, inst in find_sid_installs().items():
        installs.setdefault((3, minor), inst)

    committed = ""
    if os.path.exists(args.output):
        with open(args.output, encoding="utf-8") as f:
            committed = f.read()
    committed_blocks = parse_committed_blocks(committed)

    missing = [v for v in VERSIONS if v not in installs]
    if missing:
        names = ", ".join("%d.%d" % v for v in missing)
        if args.check or args.keep_missing:
            note("note: no headers for %s here; their committed tables are "
                 "kept as they are" % names)
        else:
            fail("no pyenv headers for %s (install them with pyenv, or pass "
                 "--keep-missing to keep the committed tables)" % names)

    blocks = {}
    problems = []
    with tempfile.TemporaryDirectory(prefix="gen_layouts.") as workdir:
        values_by_version = {}
        for key in VERSIONS:
            if key not in installs:
                if key in committed_blocks:
                    blocks[key] = committed_blocks[key]
                continue
            inst = installs[key]
            h, version, values = run_probe(inst, table[key], workdir)
            note("probed %s (%s)" % (inst.label, version))
            problems += measure_asyncio(inst, values, workdir)
            if any(v is MEASURED for v in values.values()):
                continue
            values_by_version[key] = values
            blocks[key] = (h, render_block(key, h, fields, values))
            if not args.no_runtime_checks:
                problems += check_debugmallocstats(inst, values)
                problems += check_live(inst, values, workdir)
                problems += check_debug_offsets(inst, values, workdir)
        if not check_debian_311(fields, table,
                                values_by_version.get((3, 11)), workdir):
            problems.append("Debian 3.11 headers disagree with pyenv 3.11")

    if problems:
        sys.stderr.write("gen_layouts: CROSS-CHECK FAILURES:\n  "
                         + "\n  ".join(problems) + "\n")
        sys.exit(1)

    text = render_file(blocks)
    if args.check:
        if text != committed:
            sys.stdout.writelines(difflib.unified_diff(
                committed.splitlines(True), text.splitlines(True),
                os.path.relpath(args.output, ROOT) + " (committed)",
                os.path.relpath(args.output, ROOT) + " (regenerated)"))
            note("%s is out of date" % os.path.relpath(args.output, ROOT))
            sys.exit(1)
        note("%s is up to date" % os.path.relpath(args.output, ROOT))
        return
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    note("wrote %s (%d versions)" % (os.path.relpath(args.output, ROOT),
                                     len(blocks)))


if __name__ == "__main__":
    main()
