/*
 * strbuf.c - growable strings.
 *
 * Layer: core.
 */
#include "strbuf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

char strbuf_empty[1];

void
strbuf_init(struct strbuf *sb)
{
    sb->buf = strbuf_empty;
    sb->len = 0;
    sb->alloc = 0;
}

void
strbuf_release(struct strbuf *sb)
{
    if (sb->alloc) {
        free(sb->buf);
    }
    strbuf_init(sb);
}

void
strbuf_reset(struct strbuf *sb)
{
    sb->len = 0;
    if (sb->alloc) {
        sb->buf[0] = '\0';
    }
}

void
strbuf_grow(struct strbuf *sb, size_t extra)
{
    size_t need = sb->len + extra + 1;

    if (need <= sb->alloc) {
        return;
    }
    if (sb->alloc == 0) {
        sb->buf = NULL;
    }
    XGROW(sb->buf, sb->alloc, need);
    if (sb->len == 0) {
        sb->buf[0] = '\0';
    }
}

void
strbuf_add_slow(struct strbuf *sb, const void *data, size_t len)
{
    strbuf_grow(sb, len);
    memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

void
strbuf_addstr(struct strbuf *sb, const char *s)
{
    strbuf_add(sb, s, strlen(s));
}

void
strbuf_addch(struct strbuf *sb, int c)
{
    char ch = (char)c;

    strbuf_add(sb, &ch, 1);
}

void
strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    strbuf_grow(sb, 64);
    va_copy(cp, ap);
    n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, cp);
    va_end(cp);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sb->alloc - sb->len) {
        strbuf_grow(sb, (size_t)n);
        va_copy(cp, ap);
        n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, cp);
        va_end(cp);
    }
    sb->len += (size_t)n;
}

void
strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
}

char *
strbuf_detach(struct strbuf *sb)
{
    char *p;

    if (sb->alloc == 0) {
        return xstrdup("");
    }
    p = sb->buf;
    strbuf_init(sb);
    return p;
}

void
strbuf_rtrim(struct strbuf *sb)
{
    while (sb->len > 0 && isspace((unsigned char)sb->buf[sb->len - 1])) {
        sb->len--;
    }
    if (sb->alloc) {
        sb->buf[sb->len] = '\0';
    }
}
