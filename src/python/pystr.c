/*
 * pystr.c - turn the characters of a PEP 393 str into UTF-8.
 *
 * Layer: python (pure).  A str stores its code points at 1, 2 or 4 bytes
 * each (its "kind"); pyspect copies them out of the target and transcodes
 * here.  The bytes are untrusted: a kind or a code point that no real str
 * could hold is an error, never undefined behaviour, and the output buffer
 * is never overrun.
 */
#include "pystr.h"

#include <limits.h>

int
py_str_state_decode(uint32_t state, int kind_shift, int compact_bit,
                    int ascii_bit, struct py_str_state *out)
{
    if (kind_shift < 0 || kind_shift > 29 || compact_bit < 0 ||
        compact_bit > 31 || ascii_bit < 0 || ascii_bit > 31) {
        out->kind = 0;
        out->compact = 0;
        out->ascii = 0;
        return -1;
    }
    out->kind = (int)((state >> kind_shift) & 7);
    out->compact = (int)((state >> compact_bit) & 1);
    out->ascii = (int)((state >> ascii_bit) & 1);
    return 0;
}

/* Code point i of data, read byte by byte (little endian, unaligned). */
static uint32_t
code_point_at(int kind, const uint8_t *p, size_t i)
{
    switch (kind) {
    case 1:
        return p[i];
    case 2:
        p += i * 2;
        return (uint32_t)p[0] | (uint32_t)p[1] << 8;
    default:
        p += i * 4;
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
               (uint32_t)p[3] << 24;
    }
}

/*
 * Encode cp (<= 0x10FFFF) into buf, returning the length.  Surrogates take
 * the ordinary 3-byte pattern; U+0000 takes C0 80 (see pystr.h).
 */
static size_t
encode_one(uint32_t cp, unsigned char buf[4])
{
    if (cp == 0) {
        buf[0] = 0xC0;
        buf[1] = 0x80;
        return 2;
    }
    if (cp < 0x80) {
        buf[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (unsigned char)(0xC0 | cp >> 6);
        buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (unsigned char)(0xE0 | cp >> 12);
        buf[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (unsigned char)(0xF0 | cp >> 18);
    buf[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    buf[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    buf[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * The UTF-8 being written: like snprintf, need counts every byte the
 * whole encoding takes, and once one character does not fit, later ones
 * are not written even if shorter (the output is a prefix).
 */
struct utf8_sink {
    char *out;
    size_t outcap;
    size_t used;
    size_t need;
    int full;
};

/* Append cp (<= 0x10FFFF); -1 when need would overflow a long. */
static int
sink_put(struct utf8_sink *o, uint32_t cp)
{
    unsigned char buf[4];
    size_t len = encode_one(cp, buf), k;

    if (o->need > (size_t)LONG_MAX - len) {
        return -1;
    }
    o->need += len;
    if (!o->full && o->outcap > 0 && len < o->outcap - o->used) {
        for (k = 0; k < len; k++) {
            o->out[o->used++] = (char)buf[k];
        }
    } else {
        o->full = 1;
    }
    return 0;
}

static void
sink_init(struct utf8_sink *o, char *out, size_t outcap)
{
    o->out = out;
    o->outcap = outcap;
    o->used = o->need = 0;
    o->full = 0;
    if (outcap > 0) {
        out[0] = '\0';
    }
}

/* Terminate and return the length needed, or err (output "") on error. */
static long
sink_end(struct utf8_sink *o, long err)
{
    if (o->outcap > 0) {
        o->out[err < 0 ? 0 : o->used] = '\0';
    }
    return err < 0 ? err : (long)o->need;
}

long
py_ucs_to_utf8(int kind, const void *data, size_t n, char *out, size_t outcap)
{
    const uint8_t *p = data;
    struct utf8_sink o;
    size_t i;

    sink_init(&o, out, outcap);
    if (kind != 1 && kind != 2 && kind != 4) {
        return PY_STR_EKIND;
    }
    for (i = 0; i < n; i++) {
        uint32_t cp = code_point_at(kind, p, i);

        if (cp > 0x10FFFF || sink_put(&o, cp) < 0) {
            return sink_end(&o, PY_STR_ERANGE);
        }
    }
    return sink_end(&o, 0);
}

long
py_utf16_to_utf8(const void *data, size_t n, char *out, size_t outcap)
{
    const uint8_t *p = data;
    struct utf8_sink o;
    size_t i;

    sink_init(&o, out, outcap);
    for (i = 0; i < n; i++) {
        uint32_t cp = code_point_at(2, p, i);

        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n) {
            uint32_t lo = code_point_at(2, p, i + 1);

            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i++;
            }
        }
        if (sink_put(&o, cp) < 0) {
            return sink_end(&o, PY_STR_ERANGE);
        }
    }
    return sink_end(&o, 0);
}

/*
 * The length of the well-formed UTF-8 sequence at p (at most n bytes
 * left) and its code point, or 0 when there is none: no overlong forms,
 * no encoded surrogates, nothing above U+10FFFF.
 */
static size_t
utf8_valid(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint32_t c = p[0], min;
    size_t len, k;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        c &= 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        c &= 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (p[k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        return 0;
    }
    *cp = c;
    return len;
}

long
py_bytes_to_utf8(const void *data, size_t n, char *out, size_t outcap)
{
    const uint8_t *p = data;
    struct utf8_sink o;
    size_t i = 0;

    sink_init(&o, out, outcap);
    while (i < n) {
        uint32_t cp;
        size_t len = utf8_valid(p + i, n - i, &cp);

        if (len == 0) {
            cp = 0xDC00 + p[i]; /* surrogateescape */
            len = 1;
        }
        if (sink_put(&o, cp) < 0) {
            return sink_end(&o, PY_STR_ERANGE);
        }
        i += len;
    }
    return sink_end(&o, 0);
}
