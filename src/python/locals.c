/*
 * locals.c - frame variables and short renderings of objects.
 *
 * Layer: python.  Two layouts of a frame's variables, chosen by the
 * fields the layout has: code_varnames (<=3.10: named locals, then
 * cells, then free variables, then the value stack, all in
 * f_localsplus) or code_localsplusnames (3.11+: one names tuple and a
 * kinds byte per slot, in the interpreter frame's localsplus).
 */
#include "locals.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "python/code.h"
#include "python/pyobj.h"
#include "core/banned.h"

/* The largest struct read whole. */
#define STRUCT_MAX 4096
/* Longest type name kept. */
#define TYPE_NAME_MAX 128
/* Most 30-bit digits of an int rendered in decimal (about 580 digits). */
#define INT_DIGITS_MAX 64

/* Slot kinds, normalised across layouts. */
enum {
    VAR_CELL = 1,   /* the slot may hold a cell: look through it */
    VAR_HIDDEN = 2, /* not a variable of the function (3.12+) */
};

/* Static types pyspect recognises, by tp_name (2.7's names too). */
static const struct {
    const char *name;
    enum py_obj_kind kind;
} known_types[] = {
    {"NoneType", PY_OBJ_NONE},
    {"bool", PY_OBJ_BOOL},
    {"int", PY_OBJ_INT},
    {"float", PY_OBJ_FLOAT},
    {"str", PY_OBJ_STR},
    {"bytes", PY_OBJ_BYTES},
    {"list", PY_OBJ_LIST},
    {"tuple", PY_OBJ_TUPLE},
    {"dict", PY_OBJ_DICT},
    {"set", PY_OBJ_SET},
    {"frozenset", PY_OBJ_SET},
    {"cell", PY_OBJ_CELL},
    {"method", PY_OBJ_METHOD},
    {"builtin_function_or_method", PY_OBJ_CMETHOD},
    {"_thread.lock", PY_OBJ_LOCK},
    {"thread.lock", PY_OBJ_LOCK}, /* 2.7 */
    {"unicode", PY_OBJ_UNICODE},  /* 2.7 */
    {"long", PY_OBJ_LONG},        /* 2.7 */
    {"_thread.RLock", PY_OBJ_RLOCK},
};

void
py_objects_init(struct py_objects *o, struct py_runtime *rt)
{
    o->rt = rt;
    hashmap_init(&o->types);
}

void
py_objects_release(struct py_objects *o)
{
    size_t it = 0;
    uint64_t key;
    void *value;

    while (hashmap_next(&o->types, &it, &key, &value)) {
        struct py_type_info *ti = value;

        free(ti->name);
        free(ti);
    }
    hashmap_release(&o->types);
}

int
py_objects_type(struct py_objects *o, raddr_t obj,
                const struct py_type_info **out)
{
    struct py_runtime *rt = o->rt;
    const struct py_layout *l = &rt->layout;
    struct py_type_info *ti;
    struct strbuf name = STRBUF_INIT;
    uint64_t type = 0, tp_name = 0, flags = 0;
    size_t i;
    int rc;

    if (obj == 0 || (obj & 7) != 0) {
        return PS_ECORRUPT;
    }
    rc = memsrc_read_u64(rt->mem, obj + l->obj_type, &type);
    if (rc < 0) {
        return rc;
    }
    if (type == 0 || (type & 7) != 0) {
        return PS_ECORRUPT;
    }
    ti = hashmap_get(&o->types, type);
    if (ti != NULL) {
        *out = ti;
        return 0;
    }
    rc = memsrc_read_u64(rt->mem, type + l->type_name, &tp_name);
    if (rc == 0) {
        rc = memsrc_read_u64(rt->mem, type + l->type_flags, &flags);
    }
    if (rc == 0 && tp_name != 0) {
        rc = py_cstr_read(&rt->reader, tp_name, TYPE_NAME_MAX, &name);
    }
    if (rc < 0 || tp_name == 0 || name.len == 0) {
        strbuf_release(&name);
        return rc < 0 ? rc : PS_ECORRUPT;
    }
    ti = xcalloc(1, sizeof(*ti));
    ti->name = strbuf_detach(&name);
    ti->kind = PY_OBJ_OTHER;
    /* A class a program defines is a heap type named without a module
     * ("int" is possible): only static types pass on their name alone.
     * Extension modules make heap types from a spec named "module.name"
     * (_thread's locks, from 3.x on), which no class statement can. */
    for (i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++) {
        if (strcmp(ti->name, known_types[i].name) == 0 &&
            (!(flags & (uint64_t)l->tpflags_heaptype) ||
             strchr(ti->name, '.') != NULL)) {
            ti->kind = known_types[i].kind;
            break;
        }
    }
    hashmap_put(&o->types, type, ti);
    *out = ti;
    return 0;
}

/* ---- renderings ------------------------------------------------------- */

/* Python's repr of a str, from its UTF-8 (as py_str_read() gives it). */
static void
render_str(const char *s, size_t len, int truncated, struct strbuf *out)
{
    char quote = '\'';
    size_t i;

    if (memchr(s, '\'', len) != NULL && memchr(s, '"', len) == NULL) {
        quote = '"';
    }
    strbuf_addch(out, quote);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == (unsigned char)quote || c == '\\') {
            strbuf_addch(out, '\\');
            strbuf_addch(out, (char)c);
        } else if (c == '\n') {
            strbuf_addstr(out, "\\n");
        } else if (c == '\r') {
            strbuf_addstr(out, "\\r");
        } else if (c == '\t') {
            strbuf_addstr(out, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            strbuf_addf(out, "\\x%02x", c);
        } else if (c == 0xc0 && i + 1 < len &&
                   (unsigned char)s[i + 1] == 0x80) {
            /* U+0000, which py_str_read() writes as C0 80. */
            strbuf_addstr(out, "\\x00");
            i++;
        } else if (c == 0xed && i + 2 < len &&
                   ((unsigned char)s[i + 1] & 0xe0) == 0xa0) {
            /* A lone surrogate: Python shows it escaped. */
            unsigned cp = (unsigned)(c & 0x0f) << 12 |
                          (unsigned)((unsigned char)s[i + 1] & 0x3f) << 6 |
                          (unsigned)((unsigned char)s[i + 2] & 0x3f);

            strbuf_addf(out, "\\u%04x", cp);
            i += 2;
        } else {
            strbuf_addch(out, (char)c);
        }
    }
    strbuf_addch(out, quote);
    if (truncated) {
        strbuf_addstr(out, "...");
    }
}

/* Python's repr of bytes (prefix "b"), or of 2.7's str (prefix ""). */
static void
render_bytes(const char *prefix, const unsigned char *b, size_t len,
             int truncated, struct strbuf *out)
{
    char quote = '\'';
    size_t i;

    if (memchr(b, '\'', len) != NULL && memchr(b, '"', len) == NULL) {
        quote = '"';
    }
    strbuf_addstr(out, prefix);
    strbuf_addch(out, quote);
    for (i = 0; i < len; i++) {
        unsigned char c = b[i];

        if (c == (unsigned char)quote || c == '\\') {
            strbuf_addch(out, '\\');
            strbuf_addch(out, (char)c);
        } else if (c == '\n') {
            strbuf_addstr(out, "\\n");
        } else if (c == '\r') {
            strbuf_addstr(out, "\\r");
        } else if (c == '\t') {
            strbuf_addstr(out, "\\t");
        } else if (c < 0x20 || c >= 0x7f) {
            strbuf_addf(out, "\\x%02x", c);
        } else {
            strbuf_addch(out, (char)c);
        }
    }
    strbuf_addch(out, quote);
    if (truncated) {
        strbuf_addstr(out, "...");
    }
}

/* The code point of the UTF-8 sequence at s[*i], advancing *i past it. */
static unsigned
utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    unsigned c = s[*i], cp, more, k;

    if (c < 0x80) {
        *i += 1;
        return c;
    }
    more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    cp = c & (0x3f >> more);
    for (k = 1; k <= more && *i + k < len; k++) {
        if ((s[*i + k] & 0xc0) != 0x80) {
            break;
        }
        cp = cp << 6 | (s[*i + k] & 0x3f);
    }
    if (more == 0 || k <= more) {
        *i += 1;
        return 0xfffd; /* not UTF-8: py_str_read() never writes it */
    }
    *i += more + 1;
    return cp;
}

/*
 * Python 2.7's repr of a unicode, from its UTF-8: u'...', every
 * character outside printable ASCII escaped (\xNN, \uNNNN, \UNNNNNNNN).
 */
static void
render_unicode27(const char *s, size_t len, int truncated, struct strbuf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    char quote = '\'';
    size_t i = 0;

    if (memchr(s, '\'', len) != NULL && memchr(s, '"', len) == NULL) {
        quote = '"';
    }
    strbuf_addch(out, 'u');
    strbuf_addch(out, quote);
    while (i < len) {
        unsigned cp = utf8_next(u, len, &i);

        if (cp == (unsigned char)quote || cp == '\\') {
            strbuf_addch(out, '\\');
            strbuf_addch(out, (char)cp);
        } else if (cp == '\n') {
            strbuf_addstr(out, "\\n");
        } else if (cp == '\r') {
            strbuf_addstr(out, "\\r");
        } else if (cp == '\t') {
            strbuf_addstr(out, "\\t");
        } else if (cp < 0x20 || (cp >= 0x7f && cp < 0x100)) {
            strbuf_addf(out, "\\x%02x", cp);
        } else if (cp >= 0x100 && cp < 0x10000) {
            strbuf_addf(out, "\\u%04x", cp);
        } else if (cp >= 0x10000) {
            strbuf_addf(out, "\\U%08x", cp);
        } else {
            strbuf_addch(out, (char)cp);
        }
    }
    strbuf_addch(out, quote);
    if (truncated) {
        strbuf_addstr(out, "...");
    }
}

/*
 * Python's repr of a float: the shortest digits that read back as the
 * same double, in exponent form below 1e-4 and from 1e16 on, with ".0"
 * on whole numbers.
 */
static void
render_float(double v, struct strbuf *out)
{
    char digits[64], *e;
    int prec, exp10, ndig, i;
    char mant[32];
    size_t m = 0;

    if (isnan(v)) {
        strbuf_addstr(out, "nan");
        return;
    }
    if (isinf(v)) {
        strbuf_addstr(out, v < 0 ? "-inf" : "inf");
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(digits, sizeof(digits), "%.*e", prec - 1, v);
        if (strtod(digits, NULL) == v) {
            break;
        }
    }
    /* digits: [-]D[.DDD]e[+-]XX */
    e = strchr(digits, 'e');
    if (e == NULL) {
        strbuf_addstr(out, digits);
        return;
    }
    exp10 = (int)strtol(e + 1, NULL, 10);
    for (i = 0; digits + i < e; i++) {
        if (digits[i] >= '0' && digits[i] <= '9' && m + 1 < sizeof(mant)) {
            mant[m++] = digits[i];
        }
    }
    mant[m] = '\0';
    while (m > 1 && mant[m - 1] == '0') {
        mant[--m] = '\0';
    }
    ndig = (int)m;
    if (v < 0 || (v == 0 && signbit(v))) {
        strbuf_addch(out, '-');
    }
    if (exp10 < -4 || exp10 >= 16) {
        strbuf_addch(out, mant[0]);
        if (ndig > 1) {
            strbuf_addf(out, ".%s", mant + 1);
        }
        strbuf_addf(out, "e%c%02d", exp10 < 0 ? '-' : '+',
                    exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        strbuf_addstr(out, "0.");
        for (i = -1; i > exp10; i--) {
            strbuf_addch(out, '0');
        }
        strbuf_addstr(out, mant);
    } else {
        for (i = 0; i <= exp10; i++) {
            strbuf_addch(out, i < ndig ? mant[i] : '0');
        }
        strbuf_addch(out, '.');
        if (ndig > exp10 + 1) {
            strbuf_addstr(out, mant + exp10 + 1);
        } else {
            strbuf_addch(out, '0');
        }
    }
}

/* An int of any size up to INT_DIGITS_MAX digits, in decimal. */
static int
render_int(struct py_runtime *rt, raddr_t obj, struct strbuf *out)
{
    const struct py_layout *l = &rt->layout;
    uint32_t digits[INT_DIGITS_MAX];
    /* Base 10^9 limbs of the value, least significant first. */
    uint32_t dec[INT_DIGITS_MAX * 30 / 29 + 2];
    size_t ndec = 0, i, j;
    int64_t ndigits;
    int negative, rc;

    rc = py_long_sign(&rt->reader, obj, &negative, &ndigits);
    if (rc < 0) {
        return rc;
    }
    if (ndigits < 0 || ndigits > INT_DIGITS_MAX) {
        return PS_ELIMIT;
    }
    if (ndigits > 0) {
        rc = memsrc_read(rt->mem, obj + l->long_digit, digits,
                         (size_t)ndigits * 4);
        if (rc < 0) {
            return rc;
        }
    }
    /* Horner's rule, most significant digit first: dec = dec * 2^30 + d. */
    for (i = (size_t)ndigits; i-- > 0;) {
        uint64_t carry = digits[i] & 0x3fffffff;

        for (j = 0; j < ndec; j++) {
            uint64_t v = ((uint64_t)dec[j] << 30) + carry;

            dec[j] = (uint32_t)(v % 1000000000u);
            carry = v / 1000000000u;
        }
        while (carry != 0 && ndec < sizeof(dec) / sizeof(dec[0])) {
            dec[ndec++] = (uint32_t)(carry % 1000000000u);
            carry /= 1000000000u;
        }
    }
    if (ndec == 0) {
        strbuf_addch(out, '0');
        return 0;
    }
    if (negative) {
        strbuf_addch(out, '-');
    }
    strbuf_addf(out, "%u", dec[ndec - 1]);
    for (i = ndec - 1; i-- > 0;) {
        strbuf_addf(out, "%09u", dec[i]);
    }
    return 0;
}

static int
container_len(struct py_runtime *rt, raddr_t obj, enum py_obj_kind kind,
              int64_t *len)
{
    const struct py_layout *l = &rt->layout;
    int32_t off = kind == PY_OBJ_DICT  ? l->dict_used
                  : kind == PY_OBJ_SET ? l->set_used
                                       : l->var_size;

    if (!pyl_has(off)) {
        return PS_ENOTFOUND;
    }
    return memsrc_read(rt->mem, obj + off, len, sizeof(*len));
}

void
py_objects_render(struct py_objects *o, raddr_t obj, struct strbuf *repr)
{
    struct py_runtime *rt = o->rt;
    const struct py_layout *l = &rt->layout;
    const struct py_type_info *ti;
    size_t mark = repr->len;
    enum py_obj_kind kind;
    int rc = py_objects_type(o, obj, &ti);

    if (rc < 0) {
        strbuf_addf(repr, "<unreadable at %#llx>", (unsigned long long)obj);
        err_clear();
        return;
    }
    kind = ti->kind;
    if (kind == PY_OBJ_STR && pyl_has(l->str_is_bytes) && l->str_is_bytes) {
        kind = PY_OBJ_BYTES; /* 2.7's str, shown without the b */
    }
    switch (kind) {
    case PY_OBJ_NONE:
        strbuf_addstr(repr, "None");
        return;
    case PY_OBJ_BOOL: {
        int64_t v = 0;

        rc = py_int_read(&rt->reader, obj, &v);
        if (rc == 0) {
            strbuf_addstr(repr, v ? "True" : "False");
            return;
        }
        break;
    }
    case PY_OBJ_INT:
        if (pyl_has(l->int_ival)) {
            /* 2.7's int: a C long. */
            int64_t v = 0;

            rc = py_int_read(&rt->reader, obj, &v);
            if (rc == 0) {
                strbuf_addf(repr, "%lld", (long long)v);
            }
        } else {
            rc = render_int(rt, obj, repr);
        }
        if (rc == 0) {
            return;
        }
        break;
    case PY_OBJ_LONG:
        rc = render_int(rt, obj, repr);
        if (rc == 0) {
            strbuf_addch(repr, 'L');
            return;
        }
        break;
    case PY_OBJ_FLOAT: {
        double v;

        rc = memsrc_read(rt->mem, obj + l->float_fval, &v, sizeof(v));
        if (rc == 0) {
            render_float(v, repr);
            return;
        }
        break;
    }
    case PY_OBJ_STR:
    case PY_OBJ_UNICODE: {
        struct strbuf s = STRBUF_INIT;
        int truncated = 0;

        rc = py_str_read(&rt->reader, obj, PY_REPR_STR_MAX, &s, &truncated);
        if (rc == 0 && ti->kind == PY_OBJ_UNICODE) {
            render_unicode27(s.buf, s.len, truncated, repr);
        } else if (rc == 0) {
            render_str(s.buf, s.len, truncated, repr);
        }
        strbuf_release(&s);
        if (rc == 0) {
            return;
        }
        break;
    }
    case PY_OBJ_BYTES: {
        unsigned char *data = NULL;
        size_t len = 0;
        int64_t full = 0;

        rc = py_bytes_read(&rt->reader, obj, PY_REPR_BYTES_MAX, &data, &len);
        if (rc == 0) {
            memsrc_read(rt->mem, obj + l->var_size, &full, sizeof(full));
            render_bytes(ti->kind == PY_OBJ_BYTES ? "b" : "", data, len,
                         full > (int64_t)len, repr);
        }
        free(data);
        if (rc == 0) {
            return;
        }
        break;
    }
    case PY_OBJ_LIST:
    case PY_OBJ_TUPLE:
    case PY_OBJ_DICT:
    case PY_OBJ_SET: {
        int64_t len = 0;

        if (container_len(rt, obj, ti->kind, &len) == 0 && len >= 0) {
            strbuf_addf(repr, "<%s at %#llx, len %lld>", ti->name,
                        (unsigned long long)obj, (long long)len);
            return;
        }
        break;
    }
    default:
        strbuf_addf(repr, "<%s at %#llx>", ti->name, (unsigned long long)obj);
        return;
    }
    /* The object said it was one of ours but did not read as one. */
    repr->len = mark;
    repr->buf[mark] = '\0';
    strbuf_addf(repr, "<%s at %#llx>", ti->name, (unsigned long long)obj);
    err_clear();
}

/* ---- frame variables ---------------------------------------------------- */

struct frame_vars {
    raddr_t slots; /* address of the first slot */
    size_t nvars;  /* named slots */
    size_t nstack; /* value-stack slots after them */
    size_t nargs;  /* the first nargs named slots are arguments */
    raddr_t *names;
    unsigned char *kinds;
};

static void
frame_vars_release(struct frame_vars *fv)
{
    free(fv->names);
    free(fv->kinds);
    memset(fv, 0, sizeof(*fv));
}

/* Up to max items of the tuple at addr, appended to names[*n...]. */
static int
tuple_append(struct py_runtime *rt, raddr_t tuple, size_t max, raddr_t **names,
             size_t *n, unsigned char **kinds, unsigned char kind)
{
    const struct py_layout *l = &rt->layout;
    int64_t size = 0;
    size_t i;
    int rc;

    if (tuple == 0) {
        return 0;
    }
    rc = memsrc_read(rt->mem, tuple + l->var_size, &size, sizeof(size));
    if (rc < 0) {
        return rc;
    }
    if (size < 0 || (uint64_t)size > max) {
        return err_set(PS_ECORRUPT, "a names tuple of %lld items",
                       (long long)size);
    }
    *names = xrealloc(*names, (*n + (size_t)size + 1) * sizeof(**names));
    *kinds = xrealloc(*kinds, *n + (size_t)size + 1);
    if (size > 0) {
        rc = memsrc_read(rt->mem, tuple + l->tuple_item, *names + *n,
                         (size_t)size * sizeof(**names));
        if (rc < 0) {
            return rc;
        }
    }
    for (i = 0; i < (size_t)size; i++) {
        (*kinds)[*n + i] = kind;
    }
    *n += (size_t)size;
    return 0;
}

static int
frame_vars_read(struct py_runtime *rt, const struct py_frame *f,
                struct frame_vars *fv)
{
    const struct py_layout *l = &rt->layout;
    unsigned char co[STRUCT_MAX];
    size_t n = 0;
    int32_t argc, kwonly, flags, stacksize;
    int rc;

    memset(fv, 0, sizeof(*fv));
    if (l->code_size <= 0 || (size_t)l->code_size > sizeof(co)) {
        return PS_EINTERNAL;
    }
    rc = memsrc_read(rt->mem, f->code->addr, co, (size_t)l->code_size);
    if (rc < 0) {
        return rc;
    }
    argc = load_i32(co, l->code_argcount);
    /* Keyword-only arguments: 3.x. */
    kwonly = pyl_has(l->code_kwonlyargcount)
                 ? load_i32(co, l->code_kwonlyargcount)
                 : 0;
    flags = load_i32(co, l->code_flags);
    stacksize = load_i32(co, l->code_stacksize);
    if (argc < 0 || kwonly < 0 || stacksize < 0 ||
        stacksize > PY_FRAME_SLOTS_MAX) {
        return err_set(PS_ECORRUPT, "code object %#llx",
                       (unsigned long long)f->code->addr);
    }
    if (pyl_has(l->code_varnames)) {
        /* <=3.10: f_localsplus holds the named locals, the cells, the
         * free variables, then the value stack. */
        int32_t nlocals = load_i32(co, l->code_nlocals);

        rc = tuple_append(rt, load_u64(co, l->code_varnames),
                          PY_FRAME_SLOTS_MAX, &fv->names, &n, &fv->kinds, 0);
        if (rc == 0 && (int32_t)n != nlocals) {
            rc = err_set(PS_ECORRUPT, "co_varnames does not match");
        }
        if (rc == 0) {
            rc = tuple_append(rt, load_u64(co, l->code_cellvars),
                              PY_FRAME_SLOTS_MAX, &fv->names, &n, &fv->kinds,
                              VAR_CELL);
        }
        if (rc == 0) {
            rc = tuple_append(rt, load_u64(co, l->code_freevars),
                              PY_FRAME_SLOTS_MAX, &fv->names, &n, &fv->kinds,
                              VAR_CELL);
        }
        fv->slots = f->addr + (raddr_t)l->frame_localsplus;
    } else {
        /* 3.11+: one names tuple, one kinds byte per slot. */
        int32_t nplus = load_i32(co, l->code_nlocalsplus);
        unsigned char *kinds = NULL;
        size_t i;

        rc = tuple_append(rt, load_u64(co, l->code_localsplusnames),
                          PY_FRAME_SLOTS_MAX, &fv->names, &n, &fv->kinds, 0);
        if (rc == 0 && (int32_t)n != nplus) {
            rc = err_set(PS_ECORRUPT, "co_localsplusnames does not match");
        }
        if (rc == 0 && n > 0) {
            rc = py_bytes_read(&rt->reader,
                               load_u64(co, l->code_localspluskinds), n,
                               &kinds, &i);
            if (rc == 0 && i != n) {
                rc = err_set(PS_ECORRUPT, "co_localspluskinds is short");
            }
        }
        for (i = 0; rc == 0 && i < n; i++) {
            unsigned char k = 0;

            if (kinds[i] & (unsigned)(l->code_kind_cell | l->code_kind_free)) {
                k |= VAR_CELL;
            }
            if (pyl_has(l->code_kind_hidden) &&
                (kinds[i] & (unsigned)l->code_kind_hidden)) {
                k |= VAR_HIDDEN;
            }
            fv->kinds[i] = k;
        }
        free(kinds);
        fv->slots = f->addr + (raddr_t)l->iframe_localsplus;
    }
    if (rc < 0) {
        frame_vars_release(fv);
        return rc;
    }
    fv->nvars = n;
    fv->nstack = (size_t)stacksize;
    if (fv->nvars + fv->nstack > PY_FRAME_SLOTS_MAX) {
        fv->nstack = PY_FRAME_SLOTS_MAX - fv->nvars;
    }
    fv->nargs = (size_t)argc + (size_t)kwonly +
                ((flags & l->code_flag_varargs) ? 1 : 0) +
                ((flags & l->code_flag_varkeywords) ? 1 : 0);
    if (fv->nargs > fv->nvars) {
        fv->nargs = fv->nvars;
    }
    return 0;
}

int
py_frame_slots(struct py_objects *o, const struct py_frame *f, raddr_t **slots,
               size_t *n, size_t *nvars)
{
    struct frame_vars fv;
    size_t total;
    int rc;

    *slots = NULL;
    *n = *nvars = 0;
    rc = frame_vars_read(o->rt, f, &fv);
    if (rc < 0) {
        return rc;
    }
    total = fv.nvars + fv.nstack;
    *slots = xmalloc((total ? total : 1) * sizeof(**slots));
    rc = total ? memsrc_read(o->rt->mem, fv.slots, *slots,
                             total * sizeof(**slots))
               : 0;
    if (rc < 0) {
        free(*slots);
        *slots = NULL;
    } else {
        size_t i;

        /* 3.14+: tagged references; a tagged int is no object. */
        for (i = 0; i < total; i++) {
            (*slots)[i] = pyl_stackref_object(&o->rt->layout, (*slots)[i]);
        }
        *n = total;
        *nvars = fv.nvars;
    }
    frame_vars_release(&fv);
    return rc;
}

int
py_frame_locals(struct py_objects *o, const struct py_frame *f,
                struct py_locals *out)
{
    struct py_runtime *rt = o->rt;
    struct frame_vars fv;
    struct strbuf repr = STRBUF_INIT;
    raddr_t *values = NULL;
    char **names = NULL;
    size_t i, k, pass;
    int rc;

    rc = frame_vars_read(rt, f, &fv);
    if (rc < 0) {
        return rc;
    }
    values = xmalloc((fv.nvars ? fv.nvars : 1) * sizeof(*values));
    names = xcalloc(fv.nvars ? fv.nvars : 1, sizeof(*names));
    if (fv.nvars > 0) {
        rc =
            memsrc_read(rt->mem, fv.slots, values, fv.nvars * sizeof(*values));
    }
    for (i = 0; rc == 0 && i < fv.nvars; i++) {
        struct strbuf name = STRBUF_INIT;

        if (py_str_read(&rt->reader, fv.names[i], 256, &name, NULL) == 0) {
            names[i] = strbuf_detach(&name);
        }
        strbuf_release(&name);
    }
    /* Arguments first, then the rest; each in the code object's order. */
    for (pass = 0; rc == 0 && pass < 2; pass++) {
        for (i = 0; i < fv.nvars; i++) {
            const struct py_type_info *ti;
            raddr_t v = pyl_stackref_object(&rt->layout, values[i]);
            struct py_local *lo;
            int arg = i < fv.nargs;

            if (names[i] == NULL || v == 0 || (fv.kinds[i] & VAR_HIDDEN)) {
                continue;
            }
            /* <=3.10: an argument that is also a cell keeps its value
             * in the cell, under the same name among the cells. */
            for (k = 0; !arg && k < fv.nargs; k++) {
                arg = names[k] != NULL && strcmp(names[k], names[i]) == 0;
            }
            if (arg != (pass == 0)) {
                continue;
            }
            if ((fv.kinds[i] & VAR_CELL) && py_objects_type(o, v, &ti) == 0 &&
                ti->kind == PY_OBJ_CELL) {
                uint64_t inner = 0;

                if (memsrc_read_u64(rt->mem, v + rt->layout.cell_ref, &inner) <
                        0 ||
                    inner == 0) {
                    continue; /* an empty cell: not bound yet */
                }
                v = inner;
            }
            for (k = 0; k < out->n; k++) {
                if (strcmp(out->v[k].name, names[i]) == 0) {
                    break;
                }
            }
            if (k < out->n) {
                continue;
            }
            strbuf_reset(&repr);
            py_objects_render(o, v, &repr);
            XGROW(out->v, out->alloc, out->n + 1);
            lo = &out->v[out->n++];
            lo->name = xstrdup(names[i]);
            lo->type =
                xstrdup(py_objects_type(o, v, &ti) == 0 ? ti->name : "?");
            lo->repr = xstrdup(repr.buf);
            lo->argument = arg;
        }
    }
    err_clear();
    for (i = 0; i < fv.nvars; i++) {
        free(names[i]);
    }
    free(names);
    free(values);
    strbuf_release(&repr);
    frame_vars_release(&fv);
    return rc;
}

void
py_locals_release(struct py_locals *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].type);
        free(l->v[i].repr);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->alloc = 0;
}
