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

long
py_ucs_to_utf8(int kind, const void *data, size_t n, char *out, size_t outcap)
{
    const uint8_t *p = data;
    size_t need = 0, used = 0, i;
    int full = 0;

    if (outcap > 0) {
        out[0] = '\0';
    }
    if (kind != 1 && kind != 2 && kind != 4) {
        return PY_STR_EKIND;
    }
    for (i = 0; i < n; i++) {
        unsigned char buf[4];
        uint32_t cp = code_point_at(kind, p, i);
        size_t len;

        if (cp > 0x10FFFF) {
            if (outcap > 0) {
                out[0] = '\0';
            }
            return PY_STR_ERANGE;
        }
        len = encode_one(cp, buf);
        /* A str long enough to overflow a long cannot exist; stop. */
        if (need > (size_t)LONG_MAX - len) {
            if (outcap > 0) {
                out[0] = '\0';
            }
            return PY_STR_ERANGE;
        }
        need += len;
        /*
         * Once one character does not fit, later ones are not written even
         * if shorter: the output is a prefix of the string.
         */
        if (!full && outcap > 0 && len < outcap - used) {
            size_t k;

            for (k = 0; k < len; k++) {
                out[used++] = (char)buf[k];
            }
        } else {
            full = 1;
        }
    }
    if (outcap > 0) {
        out[used] = '\0';
    }
    return (long)need;
}
