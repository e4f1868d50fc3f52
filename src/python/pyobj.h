/*
 * pyobj.h - reading Python objects out of target memory.
 *
 * Layer: python.  str, bytes, int, dict and instance attributes, for every
 * supported version's layout (2.7: byte strings and unicode, int and long,
 * the one-table dict), through a struct py_reader (runtime.h).  The one
 * place these objects are decoded, whoever walks them (dump's thread
 * names, the heap census, the back-reference search, the block walk).
 * Everything read is untrusted: lengths are
 * bounded, types are checked where a wrong type would mislead, and a
 * pointer that leads nowhere gives PS_EFAULT or PS_ECORRUPT.
 */
#ifndef PYSPECT_PYTHON_PYOBJ_H
#define PYSPECT_PYTHON_PYOBJ_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "python/pystr.h"
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
int py_str_read(const struct py_reader *r, raddr_t addr, size_t max,
                struct strbuf *sb, int *truncated);

/* Does the str at addr equal the UTF-8 text s?  0 or 1, or an error. */
int py_str_equals(const struct py_reader *r, raddr_t addr, const char *s);

/* A NUL-terminated C string (such as tp_name) of at most max bytes. */
int py_cstr_read(const struct py_reader *r, raddr_t addr, size_t max,
                 struct strbuf *sb);

/* The contents of a bytes object, at most max bytes (malloc'd). */
int py_bytes_read(const struct py_reader *r, raddr_t addr, size_t max,
                  unsigned char **data, size_t *len);

/*
 * The item count a variable-size object's ob_size word holds: an int keeps
 * its sign there, so the count is the magnitude. Unsigned, so a hostile
 * word (INT64_MIN) cannot overflow a negation.
 */
static inline uint64_t
py_var_count(uint64_t ob_size)
{
    return (int64_t)ob_size < 0 ? 0 - ob_size : ob_size;
}

/*
 * An int's sign and its count of 30-bit digits (3.12+'s lv_tag, or
 * ob_size before), unchecked: callers bound the count.
 */
int py_long_sign(const struct py_reader *r, raddr_t addr, int *negative,
                 int64_t *ndigits);

/* An int that fits in 64 bits (two's complement for negatives). */
int py_long_read(const struct py_reader *r, raddr_t addr, int64_t *value);

/* The same of an int or, on 2.7, of an int or a long: PS_ECORRUPT for
 * anything else. */
int py_int_read(const struct py_reader *r, raddr_t addr, int64_t *value);

/* ob_type. */
int py_obj_type(const struct py_reader *r, raddr_t addr, raddr_t *type);

struct py_dict_item {
    raddr_t key;
    raddr_t value;
};

/*
 * The items of the dict at addr (combined or split table), in table
 * order; *items is malloc'd.  Empty slots are skipped.
 */
int py_dict_items(const struct py_reader *r, raddr_t addr,
                  struct py_dict_item **items, size_t *count);

/* Look up a str key in a dict: PS_ENOTFOUND when absent. */
int py_dict_get_str(const struct py_reader *r, raddr_t dict, const char *key,
                    raddr_t *value);

/* Look up an int key in a dict: PS_ENOTFOUND when absent. */
int py_dict_get_int(const struct py_reader *r, raddr_t dict, int64_t key,
                    raddr_t *value);

/*
 * The instance attributes of obj: its __dict__ wherever the version keeps
 * it (tp_dictoffset, the managed-dict pre-header, or inline values).
 */
int py_object_attrs(const struct py_reader *r, raddr_t obj,
                    struct py_dict_item **items, size_t *count);

/* One instance attribute by name: PS_ENOTFOUND when absent. */
int py_object_getattr(const struct py_reader *r, raddr_t obj, const char *name,
                      raddr_t *value);

/*
 * A dict's entry table, decoded and checked: a 3.x keys object
 * (PyDictKeysObject), or 2.7's one table seen as one (every one of its
 * mask + 1 slots an entry, no index).  An entry with no key, or no
 * value, is empty or deleted.
 */
struct py_dict_keys {
    uint64_t refcnt; /* 2.7: 1 (the table is the dict's) */
    uint64_t size;   /* slots in the hash table, a power of two */
    uint64_t usable;
    uint64_t nentries;    /* entries used (some may be deleted) */
    uint64_t index_bytes; /* bytes of the index table before them */
    int32_t entry_size, key_off, value_off;
    raddr_t entries;
};

/*
 * The 3.x keys object at keys: PS_ECORRUPT when it is not one (sizes
 * that are not powers of two, more entries than slots).  Callers bound
 * the entries they walk.
 */
int py_dict_keys_read(const struct py_reader *r, raddr_t keys,
                      struct py_dict_keys *k);

/* Bytes of a dict object py_dict_table() reads its table from. */
size_t py_dict_header_size(const struct py_layout *l);

/*
 * The table of the dict whose first py_dict_header_size() bytes are hdr:
 * its keys object, or 2.7's table.  *values is the split values array
 * (PyDictValues, 3.x), or 0 when values are in the entries.
 */
int py_dict_table(const struct py_reader *r, const unsigned char *hdr,
                  struct py_dict_keys *k, raddr_t *values);

/* A 3.x str's state word, decoded with the layout's bit positions. */
int py_str_state(const struct py_layout *l, uint32_t state,
                 struct py_str_state *out);

/*
 * Is meta the type of a type: type_type itself, or a metaclass (its
 * flags say it subclasses type: PyType_Check's rule)?  0 or 1;
 * unreadable is 0.
 */
int py_type_is_metatype(const struct py_reader *r, raddr_t meta,
                        raddr_t type_type);

#endif /* PYSPECT_PYTHON_PYOBJ_H */
