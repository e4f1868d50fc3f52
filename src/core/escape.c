/*
 * escape.c - C-style escapes of untrusted names for a terminal.
 *
 * Layer: core.
 */
#include "escape.h"

#include <stdint.h>
#include <string.h>

#include "core/utf8.h"
#include "core/banned.h"

#define ESC_RING 8

/* Code points shown as \uXXXX. */
static int
esc_codepoint(uint32_t cp)
{
    return cp == 0 || (cp >= 0x80 && cp <= 0x9f) || utf8_is_surrogate(cp) ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static void
esc_add(struct strbuf *sb, const char *s)
{
    static const char controls[] = "\a\b\t\n\v\f\r\033";
    static const char letters[] = "abtnvfre";
    size_t len = strlen(s), i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        const char *p;
        uint32_t cp;
        int n;

        if (c >= 0x20 && c < 0x7f && c != '\\') {
            size_t start = i;

            while (i < len && (unsigned char)s[i] >= 0x20 &&
                   (unsigned char)s[i] < 0x7f && s[i] != '\\') {
                i++;
            }
            strbuf_add(sb, s + start, i - start);
            continue;
        }
        if (c == '\\') {
            strbuf_addstr(sb, "\\\\");
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            p = memchr(controls, c, sizeof(controls) - 1);
            if (p != NULL) {
                strbuf_addch(sb, '\\');
                strbuf_addch(sb, letters[p - controls]);
            } else {
                strbuf_addf(sb, "\\x%02x", c);
            }
            i++;
            continue;
        }
        n = utf8_next(s + i, len - i, &cp);
        if (n < 0) {
            strbuf_addf(sb, "\\x%02x", c);
            i++;
        } else if (esc_codepoint(cp)) {
            strbuf_addf(sb, "\\u%04x", (unsigned)cp);
            i += (size_t)n;
        } else {
            strbuf_add(sb, s + i, (size_t)n);
            i += (size_t)n;
        }
    }
}

int
esc_needed(const char *s)
{
    size_t len, i = 0;

    if (s == NULL) {
        return 0;
    }
    len = strlen(s);
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        int n;

        if (c >= 0x20 && c < 0x7f) {
            if (c == '\\') {
                return 1;
            }
            i++;
            continue;
        }
        if (c < 0x80) {
            return 1;
        }
        n = utf8_next(s + i, len - i, &cp);
        if (n < 0 || esc_codepoint(cp)) {
            return 1;
        }
        i += (size_t)n;
    }
    return 0;
}

void
strbuf_add_escaped(struct strbuf *sb, const char *s)
{
    if (s != NULL) {
        esc_add(sb, s);
    }
}

const char *
esc(const char *s)
{
    static struct strbuf ring[ESC_RING];
    static int next;
    struct strbuf *sb;

    if (s == NULL) {
        return "";
    }
    if (!esc_needed(s)) {
        return s;
    }
    sb = &ring[next];
    next = (next + 1) % ESC_RING;
    if (sb->buf == NULL) {
        strbuf_init(sb);
    }
    strbuf_reset(sb);
    esc_add(sb, s);
    return sb->buf;
}
