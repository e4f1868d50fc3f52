/*
 * strbuf.h - growable NUL-terminated byte strings (after git's strbuf).
 *
 * Layer: core.  A strbuf starts as STRBUF_INIT (an empty string that owns
 * no memory); strbuf_release() frees it and leaves it reusable.  buf is
 * always NUL-terminated, and may hold NUL bytes before len.
 */
#ifndef PYSPECT_CORE_STRBUF_H
#define PYSPECT_CORE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct strbuf {
    char *buf;
    size_t len;
    size_t alloc;
};

extern char strbuf_empty[];
/* clang-format off */
#define STRBUF_INIT {strbuf_empty, 0, 0}
/* clang-format on */

void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
/* Empty the string, keeping its memory. */
void strbuf_reset(struct strbuf *sb);
/* Make room for extra more bytes. */
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_add_slow(struct strbuf *sb, const void *data, size_t len);

/* Append len bytes (inline: writers call this for every token). */
static inline void
strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
    if (sb->alloc - sb->len > len) {
        memcpy(sb->buf + sb->len, data, len);
        sb->len += len;
        sb->buf[sb->len] = '\0';
        return;
    }
    strbuf_add_slow(sb, data, len);
}
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, int c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
/* Give up ownership: return the buffer (malloc'd) and reset sb. */
char *strbuf_detach(struct strbuf *sb);
/* Drop trailing whitespace. */
void strbuf_rtrim(struct strbuf *sb);

#endif /* PYSPECT_CORE_STRBUF_H */
