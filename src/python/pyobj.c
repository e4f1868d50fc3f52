/*
 * pyobj.c - str, bytes, int, dict and attribute readers.
 *
 * Layer: python.  Reads go through rt->mem (the page cache), so the many
 * small reads of a dict walk cost little more than the pages they touch.
 */
#include "pyobj.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "python/pystr.h"
#include "core/banned.h"

#define PY_BYTES_MAX (16u << 20)

int
py_obj_type(struct py_runtime *rt, raddr_t addr, raddr_t *type)
{
    return memsrc_read_u64(rt->mem, addr + rt->layout.obj_type, type);
}

int
py_cstr_read(struct py_runtime *rt, raddr_t addr, size_t max,
             struct strbuf *sb)
{
    char chunk[256];
    size_t done = 0;

    while (done < max) {
        /* Never read across a page we have not seen yet in one go: the
         * string may end right before an unmapped page. */
        size_t to_page = 4096 - (size_t)((addr + done) & 4095);
        size_t want = sizeof(chunk) < to_page ? sizeof(chunk) : to_page;
        char *nul;
        int rc;

        if (want > max - done) {
            want = max - done;
        }
        rc = memsrc_read(rt->mem, addr + done, chunk, want);
        if (rc < 0) {
            return rc;
        }
        nul = memchr(chunk, '\0', want);
        if (nul != NULL) {
            strbuf_add(sb, chunk, (size_t)(nul - chunk));
            return 0;
        }
        strbuf_add(sb, chunk, want);
        done += want;
    }
    return 0;
}

/* Is type want, or a type whose tp_base is want? */
static int
type_is(struct py_runtime *rt, raddr_t type, raddr_t want)
{
    raddr_t base = 0;

    if (want == 0 || type == 0) {
        return 0;
    }
    return type == want ||
           (memsrc_read_u64(rt->mem, type + rt->layout.type_base, &base) ==
                0 &&
            base == want);
}

/* Append n code units of data, decoded by fn, to sb. */
static int
add_text(struct strbuf *sb, const unsigned char *data, size_t n,
         long (*fn)(const void *, size_t, char *, size_t))
{
    long need = fn(data, n, NULL, 0);

    if (need < 0) {
        return PS_ECORRUPT;
    }
    strbuf_grow(sb, (size_t)need);
    fn(data, n, sb->buf + sb->len, (size_t)need + 1);
    sb->len += (size_t)need;
    sb->buf[sb->len] = '\0';
    return 0;
}

static long
ucs4_to_utf8(const void *data, size_t n, char *out, size_t outcap)
{
    return py_ucs_to_utf8(4, data, n, out, outcap);
}

/*
 * 2.7's text: a byte string (str: names, file names; UTF-8 by
 * convention, other bytes escaped) or a unicode, whose Py_UNICODE buffer
 * is behind a pointer (UCS-4, or UTF-16 on narrow builds).
 */
static int
text_read_27(struct py_runtime *rt, raddr_t addr, size_t max,
             struct strbuf *sb, int *truncated)
{
    const struct py_layout *l = &rt->layout;
    unsigned char hdr[64], *buf;
    int32_t width = l->unicode_char_size;
    uint64_t type, n;
    raddr_t data;
    int bytes, rc;

    if ((size_t)l->unicode_object_size > sizeof(hdr) ||
        (size_t)l->bytes_sval > sizeof(hdr) || (width != 2 && width != 4)) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(rt->mem, addr, hdr, (size_t)l->bytes_sval);
    if (rc < 0) {
        return rc;
    }
    type = load_u64(hdr, l->obj_type);
    bytes = type_is(rt, type, rt->bytes_type);
    if (bytes) {
        n = load_u64(hdr, l->var_size);
        data = addr + (raddr_t)l->bytes_sval;
        width = 1;
    } else if (type_is(rt, type, rt->str_type)) {
        rc = memsrc_read(rt->mem, addr, hdr, (size_t)l->unicode_object_size);
        if (rc < 0) {
            return rc;
        }
        n = load_u64(hdr, l->unicode_length);
        data = load_u64(hdr, l->unicode_str);
    } else {
        return PS_ECORRUPT;
    }
    if (n > (1u << 30) || (data == 0 && n > 0)) {
        return PS_ECORRUPT;
    }
    if (n > max) {
        n = max;
        if (truncated != NULL) {
            *truncated = 1;
        }
    }
    buf = xmalloc(n * (size_t)width + 1);
    rc = memsrc_read(rt->mem, data, buf, n * (size_t)width);
    if (rc == 0) {
        if (bytes && truncated != NULL && *truncated) {
            /* Cut at a character boundary, not inside a UTF-8 one. */
            size_t lead = n, k = 0;
            unsigned c;

            while (lead > 0 && k < 3 && (buf[lead - 1] & 0xC0) == 0x80) {
                lead--;
                k++;
            }
            c = lead > 0 ? buf[lead - 1] : 0;
            if (c >= 0xC0 && lead + (c >= 0xF0   ? 3u
                                     : c >= 0xE0 ? 2u
                                                 : 1u) >
                                 n) {
                n = lead - 1;
            }
        }
        rc = add_text(sb, buf, n,
                      bytes        ? py_bytes_to_utf8
                      : width == 2 ? py_utf16_to_utf8
                                   : ucs4_to_utf8);
    }
    free(buf);
    return rc;
}

int
py_str_read(struct py_runtime *rt, raddr_t addr, size_t max, struct strbuf *sb,
            int *truncated)
{
    const struct py_layout *l = &rt->layout;
    unsigned char hdr[128];
    uint64_t length;
    uint32_t state;
    int kind, compact, ascii, rc;
    raddr_t data;
    size_t n, nbytes;
    unsigned char *buf;
    long need;

    if (truncated != NULL) {
        *truncated = 0;
    }
    if (addr == 0) {
        return PS_ECORRUPT;
    }
    if (pyl_has(l->unicode_str)) {
        return text_read_27(rt, addr, max, sb, truncated);
    }
    if ((size_t)l->unicode_compact_size > sizeof(hdr)) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(rt->mem, addr, hdr, (size_t)l->unicode_compact_size);
    if (rc < 0) {
        return rc;
    }
    if (rt->str_type != 0 && load_u64(hdr, l->obj_type) != rt->str_type) {
        /* A str subclass would also do, but code objects never hold
         * one; anything else means the pointer is stale. */
        raddr_t base = 0;
        uint64_t type = load_u64(hdr, l->obj_type);

        if (type == 0 ||
            memsrc_read_u64(rt->mem, type + l->type_base, &base) < 0 ||
            base != rt->str_type) {
            return PS_ECORRUPT;
        }
    }
    length = load_u64(hdr, l->unicode_length);
    state = load_u32(hdr, l->unicode_state);
    kind = (int)((state >> l->unicode_state_kind_shift) & 7);
    compact = (state >> l->unicode_state_compact_bit) & 1;
    ascii = (state >> l->unicode_state_ascii_bit) & 1;
    if (length > (1u << 30) || (kind != 1 && kind != 2 && kind != 4) ||
        (ascii && kind != 1)) {
        return PS_ECORRUPT;
    }
    if (compact) {
        data =
            addr + (ascii ? l->unicode_ascii_size : l->unicode_compact_size);
    } else {
        if (pyl_has(l->unicode_state_ready_bit) &&
            !((state >> l->unicode_state_ready_bit) & 1)) {
            return PS_ECORRUPT; /* a legacy, never-readied str */
        }
        rc = memsrc_read_u64(rt->mem, addr + l->unicode_data_any, &data);
        if (rc < 0 || data == 0) {
            return rc < 0 ? rc : PS_ECORRUPT;
        }
    }
    n = length;
    if (n > max) {
        n = max;
        if (truncated != NULL) {
            *truncated = 1;
        }
    }
    nbytes = n * (size_t)kind;
    buf = xmalloc(nbytes + 1);
    rc = memsrc_read(rt->mem, data, buf, nbytes);
    if (rc == 0) {
        /* ASCII strs go through the same encoder: a corrupt str whose
         * "ascii" bytes are not ASCII must not leak raw bytes. */
        {
            need = py_ucs_to_utf8(kind, buf, n, NULL, 0);
            if (need < 0) {
                rc = PS_ECORRUPT;
            } else {
                strbuf_grow(sb, (size_t)need);
                py_ucs_to_utf8(kind, buf, n, sb->buf + sb->len,
                               (size_t)need + 1);
                sb->len += (size_t)need;
                sb->buf[sb->len] = '\0';
            }
        }
    }
    free(buf);
    return rc;
}

int
py_str_equals(struct py_runtime *rt, raddr_t addr, const char *s)
{
    struct strbuf sb = STRBUF_INIT;
    size_t len = strlen(s);
    int truncated, rc;

    rc = py_str_read(rt, addr, len + 1, &sb, &truncated);
    if (rc == 0) {
        rc = !truncated && sb.len == len && memcmp(sb.buf, s, len) == 0;
    }
    strbuf_release(&sb);
    return rc;
}

int
py_bytes_read(struct py_runtime *rt, raddr_t addr, size_t max,
              unsigned char **data, size_t *len)
{
    const struct py_layout *l = &rt->layout;
    uint64_t size, type;
    unsigned char *buf;
    int rc;

    rc = py_obj_type(rt, addr, &type);
    if (rc < 0) {
        return rc;
    }
    if (rt->bytes_type != 0 && type != rt->bytes_type) {
        return PS_ECORRUPT;
    }
    rc = memsrc_read_u64(rt->mem, addr + l->var_size, &size);
    if (rc < 0) {
        return rc;
    }
    if (size > PY_BYTES_MAX || size > max) {
        return PS_ECORRUPT;
    }
    buf = xmalloc(size + 1);
    rc = memsrc_read(rt->mem, addr + l->bytes_sval, buf, size);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[size] = '\0';
    *data = buf;
    *len = size;
    return 0;
}

int
py_long_read(struct py_runtime *rt, raddr_t addr, int64_t *value)
{
    const struct py_layout *l = &rt->layout;
    uint32_t digits[3];
    uint64_t mag = 0;
    int64_t ndigits;
    int negative, i, rc;

    if (pyl_has(l->long_lv_tag)) {
        uint64_t tag;

        rc = memsrc_read_u64(rt->mem, addr + l->long_lv_tag, &tag);
        if (rc < 0) {
            return rc;
        }
        negative = (tag & 3) == 2;
        ndigits = (int64_t)(tag >> 3);
    } else {
        uint64_t size;

        rc = memsrc_read_u64(rt->mem, addr + l->var_size, &size);
        if (rc < 0) {
            return rc;
        }
        negative = (int64_t)size < 0;
        ndigits = negative ? -(int64_t)size : (int64_t)size;
    }
    if (ndigits > 3) {
        return PS_ECORRUPT; /* more than 64 bits: not a value we need */
    }
    if (ndigits > 0) {
        rc = memsrc_read(rt->mem, addr + l->long_digit, digits,
                         (size_t)ndigits * 4);
        if (rc < 0) {
            return rc;
        }
    }
    for (i = (int)ndigits - 1; i >= 0; i--) {
        if (mag >> 34) {
            return PS_ECORRUPT;
        }
        mag = (mag << 30) | (digits[i] & 0x3fffffff);
    }
    *value = negative ? -(int64_t)mag : (int64_t)mag;
    return 0;
}

int
py_int_read(struct py_runtime *rt, raddr_t addr, int64_t *value)
{
    raddr_t type;
    int rc = py_obj_type(rt, addr, &type);

    if (rc < 0) {
        return rc;
    }
    if (pyl_has(rt->layout.int_ival) && rt->int_type != 0 &&
        type_is(rt, type, rt->int_type)) {
        return memsrc_read(rt->mem, addr + rt->layout.int_ival, value, 8);
    }
    if (rt->long_type != 0 && !type_is(rt, type, rt->long_type)) {
        return PS_ECORRUPT;
    }
    return py_long_read(rt, addr, value);
}

/*
 * 2.7's dict: one table of mask + 1 entries (hash, key, value); a slot
 * with no key is empty, one with a key and no value was deleted.
 */
static int
table_items(struct py_runtime *rt, raddr_t addr, const unsigned char *hdr,
            struct py_dict_item **items, size_t *count)
{
    const struct py_layout *l = &rt->layout;
    uint64_t mask = load_u64(hdr, l->dict_mask), i;
    raddr_t table = load_u64(hdr, l->dict_table);
    size_t esize = (size_t)l->dictentry_size, n = 0;
    struct py_dict_item *out;
    unsigned char *ents;
    int rc;

    (void)addr;
    if (table == 0 || (mask & (mask + 1)) != 0) {
        return PS_ECORRUPT;
    }
    if (mask >= PY_DICT_MAX) {
        return PS_ELIMIT;
    }
    ents = xmalloc((mask + 1) * esize);
    rc = memsrc_read(rt->mem, table, ents, (mask + 1) * esize);
    if (rc < 0) {
        free(ents);
        return rc;
    }
    out = xmalloc((mask + 1) * sizeof(*out));
    for (i = 0; i <= mask; i++) {
        const unsigned char *e = ents + i * esize;

        out[n].key = load_u64(e, l->dictentry_key);
        out[n].value = load_u64(e, l->dictentry_value);
        if (out[n].key != 0 && out[n].value != 0) {
            n++;
        }
    }
    free(ents);
    *items = out;
    *count = n;
    return 0;
}

/*
 * The entries of a keys object: where they start, how many, their size
 * and where key/value sit in one.
 */
struct keys_info {
    raddr_t entries;
    uint64_t nentries;
    int32_t entry_size;
    int32_t key_off;
    int32_t value_off;
};

static int
keys_info_read(struct py_runtime *rt, raddr_t keys, struct keys_info *ki)
{
    const struct py_layout *l = &rt->layout;
    unsigned char hdr[64];
    uint64_t index_bytes;
    int rc;

    if ((size_t)l->dictkeys_indices > sizeof(hdr)) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(rt->mem, keys, hdr, (size_t)l->dictkeys_indices);
    if (rc < 0) {
        return rc;
    }
    ki->nentries = load_u64(hdr, l->dictkeys_nentries);
    if (pyl_has(l->dictkeys_size)) {
        uint64_t size = load_u64(hdr, l->dictkeys_size);

        if (size == 0 || (size & (size - 1)) != 0 || size > PY_DICT_MAX * 2) {
            return PS_ECORRUPT;
        }
        index_bytes = size * (size <= 0xff          ? 1
                              : size <= 0xffff      ? 2
                              : size <= 0xffffffffu ? 4
                                                    : 8);
        ki->entry_size = l->dictentry_size;
        ki->key_off = l->dictentry_key;
        ki->value_off = l->dictentry_value;
        if (ki->nentries > size) {
            return PS_ECORRUPT;
        }
    } else {
        unsigned log2_size = hdr[l->dictkeys_log2_size];
        unsigned log2_index = hdr[l->dictkeys_log2_index_bytes];
        unsigned kind = hdr[l->dictkeys_kind];

        if (log2_size > 30 || log2_index > 34 ||
            ki->nentries > ((uint64_t)1 << log2_size)) {
            return PS_ECORRUPT;
        }
        index_bytes = (uint64_t)1 << log2_index;
        if ((int32_t)kind == l->dictkeys_kind_general) {
            ki->entry_size = l->dictentry_size;
            ki->key_off = l->dictentry_key;
            ki->value_off = l->dictentry_value;
        } else {
            ki->entry_size = l->dictuentry_size;
            ki->key_off = l->dictuentry_key;
            ki->value_off = l->dictuentry_value;
        }
    }
    if (ki->nentries > PY_DICT_MAX) {
        return PS_ELIMIT;
    }
    ki->entries = keys + (raddr_t)l->dictkeys_indices + index_bytes;
    return 0;
}

/*
 * Collect items from a keys object; values come from the entries
 * (values == 0) or from a split values array.
 */
static int
keys_items(struct py_runtime *rt, raddr_t keys, raddr_t values,
           struct py_dict_item **items, size_t *count)
{
    struct keys_info ki;
    unsigned char *ents = NULL;
    uint64_t *vals = NULL;
    struct py_dict_item *out = NULL;
    size_t n = 0, i;
    int rc;

    rc = keys_info_read(rt, keys, &ki);
    if (rc < 0) {
        return rc;
    }
    if (ki.nentries > 0) {
        ents = xmalloc(ki.nentries * (size_t)ki.entry_size);
        rc = memsrc_read(rt->mem, ki.entries, ents,
                         ki.nentries * (size_t)ki.entry_size);
        if (rc == 0 && values != 0) {
            vals = xmalloc(ki.nentries * 8);
            rc = memsrc_read(rt->mem, values, vals, ki.nentries * 8);
        }
        if (rc < 0) {
            goto out;
        }
        out = xmalloc(ki.nentries * sizeof(*out));
    }
    for (i = 0; i < ki.nentries; i++) {
        const unsigned char *e = ents + i * (size_t)ki.entry_size;
        raddr_t key = load_u64(e, ki.key_off);
        raddr_t value = values ? vals[i] : load_u64(e, ki.value_off);

        if (key == 0 || value == 0) {
            continue; /* an empty or deleted slot */
        }
        out[n].key = key;
        out[n].value = value;
        n++;
    }
    *items = out;
    *count = n;
    out = NULL;
out:
    free(out);
    free(ents);
    free(vals);
    return rc;
}

int
py_dict_items(struct py_runtime *rt, raddr_t addr, struct py_dict_item **items,
              size_t *count)
{
    const struct py_layout *l = &rt->layout;
    unsigned char hdr[64];
    raddr_t keys, values;
    /* 2.7's dict holds a small table inline: read only its header. */
    size_t want = pyl_has(l->dict_table)
                      ? (size_t)(l->dict_table > l->dict_mask ? l->dict_table
                                                              : l->dict_mask) +
                            8
                      : (size_t)l->dict_size;
    int rc;

    if (want > sizeof(hdr)) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(rt->mem, addr, hdr, want);
    if (rc < 0) {
        return rc;
    }
    if (pyl_has(l->dict_table)) {
        return table_items(rt, addr, hdr, items, count);
    }
    keys = load_u64(hdr, l->dict_keys);
    values = load_u64(hdr, l->dict_values);
    if (keys == 0) {
        return PS_ECORRUPT;
    }
    if (values != 0) {
        values += (raddr_t)l->dictvalues_values;
    }
    return keys_items(rt, keys, values, items, count);
}

/* Find the item whose key is the str s; frees items. */
static int
items_find_str(struct py_runtime *rt, struct py_dict_item *items, size_t n,
               const char *s, raddr_t *value)
{
    size_t i;
    int rc = PS_ENOTFOUND;

    for (i = 0; i < n; i++) {
        if (py_str_equals(rt, items[i].key, s) == 1) {
            *value = items[i].value;
            rc = 0;
            break;
        }
    }
    free(items);
    return rc;
}

int
py_dict_get_str(struct py_runtime *rt, raddr_t dict, const char *key,
                raddr_t *value)
{
    struct py_dict_item *items = NULL;
    size_t n;
    int rc = py_dict_items(rt, dict, &items, &n);

    return rc < 0 ? rc : items_find_str(rt, items, n, key, value);
}

int
py_dict_get_int(struct py_runtime *rt, raddr_t dict, int64_t key,
                raddr_t *value)
{
    struct py_dict_item *items = NULL;
    size_t n, i;
    int rc;

    rc = py_dict_items(rt, dict, &items, &n);
    if (rc < 0) {
        return rc;
    }
    rc = PS_ENOTFOUND;
    for (i = 0; i < n; i++) {
        int64_t v;

        if (py_int_read(rt, items[i].key, &v) == 0 && v == key) {
            *value = items[i].value;
            rc = 0;
            break;
        }
    }
    free(items);
    return rc;
}

int
py_object_attrs(struct py_runtime *rt, raddr_t obj,
                struct py_dict_item **items, size_t *count)
{
    const struct py_layout *l = &rt->layout;
    raddr_t type, dict = 0, values = 0, keys = 0;
    uint64_t flags = 0;
    int64_t dictoffset = 0;
    int rc;

    rc = py_obj_type(rt, obj, &type);
    if (rc == 0) {
        rc = memsrc_read_u64(rt->mem, type + l->type_flags, &flags);
    }
    if (rc == 0) {
        rc = memsrc_read(rt->mem, type + l->type_dictoffset, &dictoffset, 8);
    }
    if (rc < 0) {
        return rc;
    }
    if (pyl_has(l->tpflags_managed_dict) &&
        (flags & (uint64_t)l->tpflags_managed_dict)) {
        uint64_t slot = 0;

        rc = memsrc_read_u64(rt->mem, obj + l->obj_managed_dict, &slot);
        if (rc < 0) {
            return rc;
        }
        if (l->obj_managed_dict_tagged == 1 && (slot & 1)) {
            values = slot + 1; /* 3.12: values - 1, tagged by bit 0 */
        } else {
            dict = slot;
        }
        if (dict == 0 && values == 0 && pyl_has(l->obj_managed_values)) {
            rc = memsrc_read_u64(rt->mem, obj + l->obj_managed_values,
                                 &values); /* 3.11 */
            if (rc < 0) {
                return rc;
            }
        }
        if (dict == 0 && values == 0 && pyl_has(l->tpflags_inline_values) &&
            (flags & (uint64_t)l->tpflags_inline_values)) {
            int64_t basicsize;
            unsigned char valid = 1;

            rc = memsrc_read(rt->mem, type + l->type_basicsize, &basicsize, 8);
            if (rc == 0 && pyl_has(l->dictvalues_valid)) {
                rc = memsrc_read(
                    rt->mem, obj + (raddr_t)basicsize + l->dictvalues_valid,
                    &valid, 1);
            }
            if (rc < 0) {
                return rc;
            }
            if (basicsize <= 0 || basicsize > (1 << 20) || !valid) {
                return PS_ENOTFOUND;
            }
            values = obj + (raddr_t)basicsize; /* 3.13 inline values */
        }
        if (dict == 0 && values != 0) {
            rc = memsrc_read_u64(rt->mem, type + l->heaptype_cached_keys,
                                 &keys);
            if (rc < 0 || keys == 0) {
                return rc < 0 ? rc : PS_ECORRUPT;
            }
            return keys_items(rt, keys, values + (raddr_t)l->dictvalues_values,
                              items, count);
        }
    } else if (dictoffset > 0 && dictoffset < (1 << 20)) {
        rc = memsrc_read_u64(rt->mem, obj + (raddr_t)dictoffset, &dict);
        if (rc < 0) {
            return rc;
        }
    } else if (dictoffset < 0 && dictoffset > -(1 << 20)) {
        /* Variable-size objects keep __dict__ after their items. */
        int64_t basicsize, itemsize, size;
        uint64_t tsize;

        rc = memsrc_read(rt->mem, type + l->type_basicsize, &basicsize, 8);
        if (rc == 0) {
            rc = memsrc_read(rt->mem, type + l->type_itemsize, &itemsize, 8);
        }
        if (rc == 0) {
            rc = memsrc_read_u64(rt->mem, obj + l->var_size, &tsize);
        }
        if (rc < 0) {
            return rc;
        }
        if ((int64_t)tsize < 0) {
            tsize = (uint64_t)(-(int64_t)tsize);
        }
        if (tsize > (1u << 30) || itemsize < 0 || itemsize > (1 << 20)) {
            return PS_ECORRUPT;
        }
        size = (basicsize + (int64_t)tsize * itemsize + 7) & ~(int64_t)7;
        rc = memsrc_read_u64(rt->mem, obj + (raddr_t)(size + dictoffset),
                             &dict);
        if (rc < 0) {
            return rc;
        }
    }
    if (dict == 0) {
        return PS_ENOTFOUND;
    }
    return py_dict_items(rt, dict, items, count);
}

int
py_object_getattr(struct py_runtime *rt, raddr_t obj, const char *name,
                  raddr_t *value)
{
    struct py_dict_item *items = NULL;
    size_t n;
    int rc = py_object_attrs(rt, obj, &items, &n);

    return rc < 0 ? rc : items_find_str(rt, items, n, name, value);
}
