/*
 * pyobj.c - str, bytes, int, dict and attribute readers.
 *
 * Layer: python.  Reads go through r->mem (the page cache), so the many
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
py_obj_type(const struct py_reader *r, raddr_t addr, raddr_t *type)
{
    return memsrc_read_u64(r->mem, addr + r->rt->layout.obj_type, type);
}

int
py_cstr_read(const struct py_reader *r, raddr_t addr, size_t max,
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
        rc = memsrc_read(r->mem, addr + done, chunk, want);
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
type_is(const struct py_reader *r, raddr_t type, raddr_t want)
{
    raddr_t base = 0;

    if (want == 0 || type == 0) {
        return 0;
    }
    return type == want ||
           (memsrc_read_u64(r->mem, type + r->rt->layout.type_base, &base) ==
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
text_read_27(const struct py_reader *r, raddr_t addr, size_t max,
             struct strbuf *sb, int *truncated)
{
    const struct py_layout *l = &r->rt->layout;
    unsigned char hdr[64], *buf;
    int32_t width = l->unicode_char_size;
    uint64_t type, n;
    raddr_t data;
    int bytes, rc;

    if ((size_t)l->unicode_object_size > sizeof(hdr) ||
        (size_t)l->bytes_sval > sizeof(hdr) || (width != 2 && width != 4)) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(r->mem, addr, hdr, (size_t)l->bytes_sval);
    if (rc < 0) {
        return rc;
    }
    type = load_u64(hdr, l->obj_type);
    bytes = type_is(r, type, r->rt->bytes_type);
    if (bytes) {
        n = load_u64(hdr, l->var_size);
        data = addr + (raddr_t)l->bytes_sval;
        width = 1;
    } else if (type_is(r, type, r->rt->str_type)) {
        rc = memsrc_read(r->mem, addr, hdr, (size_t)l->unicode_object_size);
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
    rc = memsrc_read(r->mem, data, buf, n * (size_t)width);
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
py_str_read(const struct py_reader *r, raddr_t addr, size_t max,
            struct strbuf *sb, int *truncated)
{
    const struct py_layout *l = &r->rt->layout;
    unsigned char hdr[128];
    struct py_str_state st;
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
        return text_read_27(r, addr, max, sb, truncated);
    }
    if ((size_t)l->unicode_compact_size > sizeof(hdr)) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(r->mem, addr, hdr, (size_t)l->unicode_compact_size);
    if (rc < 0) {
        return rc;
    }
    if (r->rt->str_type != 0 &&
        load_u64(hdr, l->obj_type) != r->rt->str_type) {
        /* A str subclass would also do, but code objects never hold
         * one; anything else means the pointer is stale. */
        raddr_t base = 0;
        uint64_t type = load_u64(hdr, l->obj_type);

        if (type == 0 ||
            memsrc_read_u64(r->mem, type + l->type_base, &base) < 0 ||
            base != r->rt->str_type) {
            return PS_ECORRUPT;
        }
    }
    length = load_u64(hdr, l->unicode_length);
    state = load_u32(hdr, l->unicode_state);
    if (py_str_state(l, state, &st) < 0 || length > (1u << 30) ||
        (st.kind != 1 && st.kind != 2 && st.kind != 4) ||
        (st.ascii && st.kind != 1)) {
        return PS_ECORRUPT;
    }
    kind = st.kind;
    compact = st.compact;
    ascii = st.ascii;
    if (compact) {
        data =
            addr + (ascii ? l->unicode_ascii_size : l->unicode_compact_size);
    } else {
        if (pyl_has(l->unicode_state_ready_bit) &&
            !((state >> l->unicode_state_ready_bit) & 1)) {
            return PS_ECORRUPT; /* a legacy, never-readied str */
        }
        rc = memsrc_read_u64(r->mem, addr + l->unicode_data_any, &data);
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
    rc = memsrc_read(r->mem, data, buf, nbytes);
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
py_str_equals(const struct py_reader *r, raddr_t addr, const char *s)
{
    struct strbuf sb = STRBUF_INIT;
    size_t len = strlen(s);
    int truncated, rc;

    rc = py_str_read(r, addr, len + 1, &sb, &truncated);
    if (rc == 0) {
        rc = !truncated && sb.len == len && memcmp(sb.buf, s, len) == 0;
    }
    strbuf_release(&sb);
    return rc;
}

int
py_bytes_read(const struct py_reader *r, raddr_t addr, size_t max,
              unsigned char **data, size_t *len)
{
    const struct py_layout *l = &r->rt->layout;
    uint64_t size, type;
    unsigned char *buf;
    int rc;

    rc = py_obj_type(r, addr, &type);
    if (rc < 0) {
        return rc;
    }
    if (r->rt->bytes_type != 0 && type != r->rt->bytes_type) {
        return PS_ECORRUPT;
    }
    rc = memsrc_read_u64(r->mem, addr + l->var_size, &size);
    if (rc < 0) {
        return rc;
    }
    if (size > PY_BYTES_MAX || size > max) {
        return PS_ECORRUPT;
    }
    buf = xmalloc(size + 1);
    rc = memsrc_read(r->mem, addr + l->bytes_sval, buf, size);
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
py_long_sign(const struct py_reader *r, raddr_t addr, int *negative,
             int64_t *ndigits)
{
    const struct py_layout *l = &r->rt->layout;
    uint64_t word;
    int rc;

    if (pyl_has(l->long_lv_tag)) {
        /* 3.12+: digit count above three bits of sign (2: negative). */
        rc = memsrc_read_u64(r->mem, addr + l->long_lv_tag, &word);
        if (rc < 0) {
            return rc;
        }
        *negative = (word & 3) == 2;
        *ndigits = (int64_t)(word >> 3);
        return 0;
    }
    /* ob_size: the digit count, negative for a negative int. */
    rc = memsrc_read_u64(r->mem, addr + l->var_size, &word);
    if (rc < 0) {
        return rc;
    }
    *negative = (int64_t)word < 0;
    word = py_var_count(word);
    if (word > INT64_MAX) {
        return PS_ECORRUPT;
    }
    *ndigits = (int64_t)word;
    return 0;
}

int
py_long_read(const struct py_reader *r, raddr_t addr, int64_t *value)
{
    const struct py_layout *l = &r->rt->layout;
    uint32_t digits[3];
    uint64_t mag = 0;
    int64_t ndigits;
    int negative, i, rc;

    rc = py_long_sign(r, addr, &negative, &ndigits);
    if (rc < 0) {
        return rc;
    }
    if (ndigits > 3) {
        return PS_ECORRUPT; /* more than 64 bits: not a value we need */
    }
    if (ndigits > 0) {
        rc = memsrc_read(r->mem, addr + l->long_digit, digits,
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
py_int_read(const struct py_reader *r, raddr_t addr, int64_t *value)
{
    raddr_t type;
    int rc = py_obj_type(r, addr, &type);

    if (rc < 0) {
        return rc;
    }
    if (pyl_has(r->rt->layout.int_ival) && r->rt->int_type != 0 &&
        type_is(r, type, r->rt->int_type)) {
        return memsrc_read(r->mem, addr + r->rt->layout.int_ival, value, 8);
    }
    if (r->rt->long_type != 0 && !type_is(r, type, r->rt->long_type)) {
        return PS_ECORRUPT;
    }
    return py_long_read(r, addr, value);
}

int
py_dict_keys_read(const struct py_reader *r, raddr_t keys,
                  struct py_dict_keys *k)
{
    const struct py_layout *l = &r->rt->layout;
    unsigned char hdr[64];
    int rc;

    if ((size_t)l->dictkeys_indices > sizeof(hdr)) {
        return PS_EINTERNAL;
    }
    if (keys == 0 || (keys & 7) != 0) {
        return PS_ECORRUPT;
    }
    rc = memsrc_read(r->mem, keys, hdr, (size_t)l->dictkeys_indices);
    if (rc < 0) {
        return rc;
    }
    k->refcnt = load_u64(hdr, l->dictkeys_refcnt);
    k->usable = load_u64(hdr, l->dictkeys_usable);
    k->nentries = load_u64(hdr, l->dictkeys_nentries);
    if (pyl_has(l->dictkeys_size)) {
        /* 3.6-3.10: the slot count, and the index width from it. */
        k->size = load_u64(hdr, l->dictkeys_size);
        if (k->size == 0 || (k->size & (k->size - 1)) != 0 ||
            k->size > (1ull << 32)) {
            return PS_ECORRUPT;
        }
        k->index_bytes = k->size * (k->size <= 0xff          ? 1
                                    : k->size <= 0xffff      ? 2
                                    : k->size <= 0xffffffffu ? 4
                                                             : 8);
        k->entry_size = l->dictentry_size;
        k->key_off = l->dictentry_key;
        k->value_off = l->dictentry_value;
    } else {
        /* 3.11+: log2 sizes, and str-only keys in smaller entries. */
        unsigned log2 = hdr[l->dictkeys_log2_size];
        unsigned log2_index = hdr[l->dictkeys_log2_index_bytes];

        if (log2 > 32 || log2_index > 35) {
            return PS_ECORRUPT;
        }
        k->size = 1ull << log2;
        k->index_bytes = 1ull << log2_index;
        if ((int32_t)hdr[l->dictkeys_kind] == l->dictkeys_kind_general) {
            k->entry_size = l->dictentry_size;
            k->key_off = l->dictentry_key;
            k->value_off = l->dictentry_value;
        } else {
            k->entry_size = l->dictuentry_size;
            k->key_off = l->dictuentry_key;
            k->value_off = l->dictuentry_value;
        }
    }
    if (k->nentries > k->size || k->usable > k->size) {
        return PS_ECORRUPT;
    }
    k->entries = keys + (raddr_t)l->dictkeys_indices + k->index_bytes;
    return 0;
}

size_t
py_dict_header_size(const struct py_layout *l)
{
    if (pyl_has(l->dict_table)) {
        /* 2.7's dict holds a small table inline: only its header. */
        return (size_t)(l->dict_table > l->dict_mask ? l->dict_table
                                                     : l->dict_mask) +
               8;
    }
    return (size_t)l->dict_size;
}

int
py_dict_table(const struct py_reader *r, const unsigned char *hdr,
              struct py_dict_keys *k, raddr_t *values)
{
    const struct py_layout *l = &r->rt->layout;

    *values = 0;
    if (pyl_has(l->dict_table)) {
        /* 2.7: one table of mask + 1 entries (hash, key, value), each
         * slot an entry; a slot with no key is empty, one with a key and
         * no value was deleted. */
        uint64_t mask = load_u64(hdr, l->dict_mask);
        raddr_t table = load_u64(hdr, l->dict_table);

        if (table == 0 || (table & 7) != 0 || (mask & (mask + 1)) != 0 ||
            mask >= (1ull << 32)) {
            return PS_ECORRUPT;
        }
        memset(k, 0, sizeof(*k));
        k->refcnt = 1;
        k->size = k->usable = k->nentries = mask + 1;
        k->entry_size = l->dictentry_size;
        k->key_off = l->dictentry_key;
        k->value_off = l->dictentry_value;
        k->entries = table;
        return 0;
    }
    *values = load_u64(hdr, l->dict_values);
    return py_dict_keys_read(r, load_u64(hdr, l->dict_keys), k);
}

int
py_str_state(const struct py_layout *l, uint32_t state,
             struct py_str_state *out)
{
    return py_str_state_decode(state, l->unicode_state_kind_shift,
                               l->unicode_state_compact_bit,
                               l->unicode_state_ascii_bit, out);
}

int
py_type_is_metatype(const struct py_reader *r, raddr_t meta, raddr_t type_type)
{
    const struct py_layout *l = &r->rt->layout;
    uint64_t flags;

    if (meta != 0 && meta == type_type) {
        return 1;
    }
    /* A metaclass: a subclass of type (Py_TPFLAGS_TYPE_SUBCLASS). */
    if (meta == 0 || (meta & 7) != 0 ||
        memsrc_read_u64(r->mem, meta + l->type_flags, &flags) < 0) {
        return 0;
    }
    return (flags >> l->tpflags_type_subclass_bit) & 1;
}

/*
 * Collect the items of a table's entries (py_dict_table()); values come
 * from the entries (values == 0) or from a split values array.  Empty
 * and deleted slots (no key, or no value) are skipped.
 */
static int
entries_items(const struct py_reader *r, const struct py_dict_keys *k,
              raddr_t values, struct py_dict_item **items, size_t *count)
{
    unsigned char *ents = NULL;
    uint64_t *vals = NULL;
    struct py_dict_item *out = NULL;
    size_t n = 0, i;
    int rc = 0;

    if (k->nentries > PY_DICT_MAX) {
        return PS_ELIMIT;
    }
    if (k->nentries > 0) {
        ents = xmalloc(k->nentries * (size_t)k->entry_size);
        rc = memsrc_read(r->mem, k->entries, ents,
                         k->nentries * (size_t)k->entry_size);
        if (rc == 0 && values != 0) {
            vals = xmalloc(k->nentries * 8);
            rc = memsrc_read(r->mem, values, vals, k->nentries * 8);
        }
        if (rc < 0) {
            goto out;
        }
        out = xmalloc(k->nentries * sizeof(*out));
    }
    for (i = 0; i < k->nentries; i++) {
        const unsigned char *e = ents + i * (size_t)k->entry_size;
        raddr_t key = load_u64(e, k->key_off);
        raddr_t value = values ? vals[i] : load_u64(e, k->value_off);

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
py_dict_items(const struct py_reader *r, raddr_t addr,
              struct py_dict_item **items, size_t *count)
{
    const struct py_layout *l = &r->rt->layout;
    unsigned char hdr[64];
    size_t want = py_dict_header_size(l);
    struct py_dict_keys k;
    raddr_t values;
    int rc;

    if (want > sizeof(hdr)) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(r->mem, addr, hdr, want);
    if (rc == 0) {
        rc = py_dict_table(r, hdr, &k, &values);
    }
    if (rc < 0) {
        return rc;
    }
    if (values != 0) {
        values += (raddr_t)l->dictvalues_values;
    }
    return entries_items(r, &k, values, items, count);
}

/* Find the item whose key is the str s; frees items. */
static int
items_find_str(const struct py_reader *r, struct py_dict_item *items, size_t n,
               const char *s, raddr_t *value)
{
    size_t i;
    int rc = PS_ENOTFOUND;

    for (i = 0; i < n; i++) {
        if (py_str_equals(r, items[i].key, s) == 1) {
            *value = items[i].value;
            rc = 0;
            break;
        }
    }
    free(items);
    return rc;
}

int
py_dict_get_str(const struct py_reader *r, raddr_t dict, const char *key,
                raddr_t *value)
{
    struct py_dict_item *items = NULL;
    size_t n;
    int rc = py_dict_items(r, dict, &items, &n);

    return rc < 0 ? rc : items_find_str(r, items, n, key, value);
}

int
py_dict_get_int(const struct py_reader *r, raddr_t dict, int64_t key,
                raddr_t *value)
{
    struct py_dict_item *items = NULL;
    size_t n, i;
    int rc;

    rc = py_dict_items(r, dict, &items, &n);
    if (rc < 0) {
        return rc;
    }
    rc = PS_ENOTFOUND;
    for (i = 0; i < n; i++) {
        int64_t v;

        if (py_int_read(r, items[i].key, &v) == 0 && v == key) {
            *value = items[i].value;
            rc = 0;
            break;
        }
    }
    free(items);
    return rc;
}

int
py_object_attrs(const struct py_reader *r, raddr_t obj,
                struct py_dict_item **items, size_t *count)
{
    const struct py_layout *l = &r->rt->layout;
    raddr_t type, dict = 0, values = 0, keys = 0;
    struct py_dict_keys k;
    uint64_t flags = 0;
    int64_t dictoffset = 0;
    int rc;

    rc = py_obj_type(r, obj, &type);
    if (rc == 0) {
        rc = memsrc_read_u64(r->mem, type + l->type_flags, &flags);
    }
    if (rc == 0) {
        rc = memsrc_read(r->mem, type + l->type_dictoffset, &dictoffset, 8);
    }
    if (rc < 0) {
        return rc;
    }
    if (pyl_has(l->tpflags_managed_dict) &&
        (flags & (uint64_t)l->tpflags_managed_dict)) {
        uint64_t slot = 0;

        rc = memsrc_read_u64(r->mem, obj + l->obj_managed_dict, &slot);
        if (rc < 0) {
            return rc;
        }
        if (l->obj_managed_dict_tagged == 1 && (slot & 1)) {
            values = slot + 1; /* 3.12: values - 1, tagged by bit 0 */
        } else {
            dict = slot;
        }
        if (dict == 0 && values == 0 && pyl_has(l->obj_managed_values)) {
            rc = memsrc_read_u64(r->mem, obj + l->obj_managed_values,
                                 &values); /* 3.11 */
            if (rc < 0) {
                return rc;
            }
        }
        if (dict == 0 && values == 0 && pyl_has(l->tpflags_inline_values) &&
            (flags & (uint64_t)l->tpflags_inline_values)) {
            int64_t basicsize;
            unsigned char valid = 1;

            rc = memsrc_read(r->mem, type + l->type_basicsize, &basicsize, 8);
            if (rc == 0 && pyl_has(l->dictvalues_valid)) {
                rc = memsrc_read(
                    r->mem, obj + (raddr_t)basicsize + l->dictvalues_valid,
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
            rc =
                memsrc_read_u64(r->mem, type + l->heaptype_cached_keys, &keys);
            if (rc == 0) {
                rc = py_dict_keys_read(r, keys, &k);
            }
            if (rc < 0) {
                return rc;
            }
            return entries_items(r, &k, values + (raddr_t)l->dictvalues_values,
                                 items, count);
        }
    } else if (dictoffset > 0 && dictoffset < (1 << 20)) {
        rc = memsrc_read_u64(r->mem, obj + (raddr_t)dictoffset, &dict);
        if (rc < 0) {
            return rc;
        }
    } else if (dictoffset < 0 && dictoffset > -(1 << 20)) {
        /* Variable-size objects keep __dict__ after their items. */
        int64_t basicsize, itemsize, size;
        uint64_t tsize;

        rc = memsrc_read(r->mem, type + l->type_basicsize, &basicsize, 8);
        if (rc == 0) {
            rc = memsrc_read(r->mem, type + l->type_itemsize, &itemsize, 8);
        }
        if (rc == 0) {
            rc = memsrc_read_u64(r->mem, obj + l->var_size, &tsize);
        }
        if (rc < 0) {
            return rc;
        }
        tsize = py_var_count(tsize);
        if (tsize > (1u << 30) || itemsize < 0 || itemsize > (1 << 20)) {
            return PS_ECORRUPT;
        }
        size = (basicsize + (int64_t)tsize * itemsize + 7) & ~(int64_t)7;
        rc =
            memsrc_read_u64(r->mem, obj + (raddr_t)(size + dictoffset), &dict);
        if (rc < 0) {
            return rc;
        }
    }
    if (dict == 0) {
        return PS_ENOTFOUND;
    }
    return py_dict_items(r, dict, items, count);
}

int
py_object_getattr(const struct py_reader *r, raddr_t obj, const char *name,
                  raddr_t *value)
{
    struct py_dict_item *items = NULL;
    size_t n;
    int rc = py_object_attrs(r, obj, &items, &n);

    return rc < 0 ? rc : items_find_str(r, items, n, name, value);
}
