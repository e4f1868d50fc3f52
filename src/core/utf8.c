/*
 * utf8.c - the one decoder of generalized UTF-8.
 *
 * Layer: core.
 */
#include "utf8.h"

#include "core/banned.h"

int
utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c, min;
    size_t need, k;

    if (len == 0) {
        return -1;
    }
    c = u[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c == 0xC0) {
        /* C0 80 is our U+0000; any other C0 xx is overlong. */
        if (len >= 2 && u[1] == 0x80) {
            *cp = 0;
            return 2;
        }
        return -1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        c &= 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        c &= 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        /* A continuation byte, C1 (always overlong) or F5..FF. */
        return -1;
    }
    if (len < need) {
        return -1;
    }
    for (k = 1; k < need; k++) {
        if ((u[k] & 0xC0) != 0x80) {
            return -1;
        }
        c = c << 6 | (u[k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF) {
        return -1;
    }
    *cp = c;
    return (int)need;
}
