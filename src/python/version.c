/*
 * version.c - CPython version numbers: the text and PY_VERSION_HEX.
 *
 * Layer: python (pure: no I/O, no allocation).  Shared by pyspect, which
 * reads the version from the target, and the allocation tracker, which
 * asks Py_GetVersion() in process (src/alloc/pyframes.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "python/runtime.h"
#include "core/banned.h"

int
py_version_hex_sane(uint64_t hex)
{
    unsigned level = (hex >> 4) & 0xf;

    return hex <= 0xffffffffu && ((hex >> 24) == 2 || (hex >> 24) == 3) &&
           (level == 0xa || level == 0xb || level == 0xc || level == 0xf);
}

void
py_version_from_hex(uint32_t hex, struct py_version *v)
{
    int level = (hex >> 4) & 0xf, serial = hex & 0xf;

    v->hex = hex;
    v->major = (hex >> 24) & 0xff;
    v->minor = (hex >> 16) & 0xff;
    v->micro = (hex >> 8) & 0xff;
    if (level == 0xf) {
        snprintf(v->text, sizeof(v->text), "%d.%d.%d", v->major, v->minor,
                 v->micro);
    } else {
        const char *tag = level == 0xa ? "a" : level == 0xb ? "b" : "rc";

        snprintf(v->text, sizeof(v->text), "%d.%d.%d%s%d", v->major, v->minor,
                 v->micro, tag, serial);
    }
}

static int
parse_uint(const char **p, const char *end, int *out)
{
    int v = 0, digits = 0;

    while (*p < end && isdigit((unsigned char)**p) && digits < 4) {
        v = v * 10 + (**p - '0');
        (*p)++;
        digits++;
    }
    *out = v;
    return digits ? 0 : -1;
}

int
py_version_parse(const char *text, size_t len, struct py_version *v)
{
    const char *p = text, *end = text + len, *start = text;
    int level = 0xf, serial = 0;

    memset(v, 0, sizeof(*v));
    if (parse_uint(&p, end, &v->major) < 0 || p >= end || *p++ != '.' ||
        parse_uint(&p, end, &v->minor) < 0 || p >= end || *p++ != '.' ||
        parse_uint(&p, end, &v->micro) < 0) {
        return -1;
    }
    if (p < end && (*p == 'a' || *p == 'b' || *p == 'r')) {
        level = *p == 'a' ? 0xa : *p == 'b' ? 0xb : 0xc;
        p += (*p == 'r' && p + 1 < end && p[1] == 'c') ? 2 : 1;
        if (parse_uint(&p, end, &serial) < 0) {
            return -1;
        }
    }
    if (p < end && *p == '+') {
        p++;
    }
    /* Py_GetVersion() text continues with " (build info)". */
    if (p < end && *p != ' ' && *p != '\0') {
        return -1;
    }
    if (v->major < 2 || v->major > 9 || v->minor > 99 || v->micro > 99) {
        return -1;
    }
    v->hex = ((uint32_t)v->major << 24) | ((uint32_t)v->minor << 16) |
             ((uint32_t)v->micro << 8) | ((uint32_t)level << 4) |
             (uint32_t)serial;
    snprintf(v->text, sizeof(v->text), "%.*s", (int)(p - start), start);
    return 0;
}
