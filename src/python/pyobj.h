/*
 * pyobj.h - reading Python objects out of target memory.
 *
 * Layer: python.  str, bytes, int, dict and instance attributes, for every
 * supported version's layout (2.7: byte strings and unicode, int and long,
 * the one-table dict).  Everything read is untrusted: lengths are
 * bounded, types are checked where a wrong type would mislead, and a
 * pointer that leads nowhere gives PS_EFAULT or PS_ECORRUPT.
 */
#ifndef PYSPECT_PYTHON_PYOBJ_H
#define PYSPECT_PYTHON_PYOBJ_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "python/runtime.h"

/* Longest str pyspect decodes, in code points; longer ones are cut. */
#define PY_STR_MAX 8192
/* Most entries pyspect walks in one dict. */
#define PY_DICT_MAX (1u << 24)

/*
 * Append the str at addr to sb as UTF-8 (lone surrogates as 3-byte
 * sequences).  At most max code points are decoded; *truncated (may be
 * NULL) says whether the str was longer.  PS_ECORRUPT when addr is not a
 * str.  On 2.7 a str is a byte string (read as UTF-8, other bytes as
 * U+DC80 + byte; max counts bytes) or a unicode.
 */
int py_str_read(struct py_runtime *rt, raddr_t addr, size_t max,
                struct strbuf *sb, int *truncated);

/* Does the str at addr equal the UTF-8 text s?  0 or 1, or an error. */
int py_str_equals(struct py_runtime *rt, raddr_t addr, const char *s);

/* A NUL-terminated C string (such as tp_name) of at most max bytes. */
int py_cstr_read(struct py_runtime *rt, raddr_t addr, size_t max,
                 struct strbuf *sb);

/* The contents of a bytes object, at most max bytes (malloc'd). */
int py_bytes_read(struct py_runtime *rt, raddr_t addr, size_t max,
                  unsigned char **data, size_t *len);

/* An int that fits in 64 bits (two's complement for negatives). */
int py_long_read(struct py_runtime *rt, raddr_t addr, int64_t *value);

/* The same of an int or, on 2.7, of an int or a long: PS_ECORRUPT for
 * anything else. */
int py_int_read(struct py_runtime *rt, raddr_t addr, int64_t *value);

/* ob_type. */
int py_obj_type(struct py_runtime *rt, raddr_t addr, raddr_t *type);

struct py_dict_item {
    raddr_t key;
    raddr_t value;
};

/*
 * The items of the dict at addr (combined or split table), in table
 * order; *items is malloc'd.  Empty slots are skipped.
 */
int py_dict_items(struct py_runtime *rt, raddr_t addr,
                  struct py_dict_item **items, size_t *count);

/* Look up a str key in a dict: PS_ENOTFOUND when absent. */
int py_dict_get_str(struct py_runtime *rt, raddr_t dict, const char *key,
                    raddr_t *value);

/* Look up an int key in a dict: PS_ENOTFOUND when absent. */
int py_dict_get_int(struct py_runtime *rt, raddr_t dict, int64_t key,
                    raddr_t *value);

/*
 * The instance attributes of obj: its __dict__ wherever the version keeps
 * it (tp_dictoffset, the managed-dict pre-header, or inline values).
 */
int py_object_attrs(struct py_runtime *rt, raddr_t obj,
                    struct py_dict_item **items, size_t *count);

/* One instance attribute by name: PS_ENOTFOUND when absent. */
int py_object_getattr(struct py_runtime *rt, raddr_t obj, const char *name,
                      raddr_t *value);

#endif /* PYSPECT_PYTHON_PYOBJ_H */
