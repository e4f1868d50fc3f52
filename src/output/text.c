/*
 * text.c - cleaning, escaping, measuring and labelling text for writers.
 *
 * Layer: output.  One policy for every format: what is not a character a
 * reader can show (invalid UTF-8, lone surrogates, NUL, control
 * characters) becomes U+FFFD, so a name can never break a line of
 * collapsed stacks, an XML document or a table row.
 */
#include "text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "core/xalloc.h"
#include "core/banned.h"

/* Length of the UTF-8 scalar value at s (at most len bytes) and its code
 * point in *cp; 0 when the bytes are not one: invalid, a surrogate, or
 * U+0000 in its C0 80 form. */
static size_t
utf8_scalar(const unsigned char *s, size_t len, uint32_t *cp)
{
    int n = utf8_next((const char *)s, len, cp);

    if (n < 0 || utf8_is_surrogate(*cp) || (*cp == 0 && n == 2)) {
        return 0;
    }
    return (size_t)n;
}

void
text_clean(struct strbuf *out, const char *str, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len, i = 0;

    if (s == NULL) {
        return;
    }
    len = strlen(str);
    while (i < len) {
        size_t start = i, n;
        uint32_t cp;

        /* The common case: a run of printable ASCII. */
        while (i < len && s[i] >= 0x20 && s[i] < 0x7f &&
               !(s[i] == ';' && (flags & TEXT_NO_SEMICOLON))) {
            i++;
        }
        strbuf_add(out, s + start, i - start);
        if (i >= len) {
            break;
        }
        if (s[i] == ';') {
            strbuf_addch(out, ':');
            i++;
            continue;
        }
        if (s[i] == 0xc0 && i + 1 < len && s[i + 1] == 0x80) {
            /* U+0000 as the python layer keeps it out of C strings. */
            strbuf_addstr(out, TEXT_REPLACEMENT);
            i += 2;
            continue;
        }
        n = utf8_scalar(s + i, len - i, &cp);
        if (n == 0) {
            /* An invalid byte, or a surrogate: replace the whole
             * three-byte sequence of a surrogate, one byte otherwise. */
            n = (s[i] == 0xed && i + 2 < len && (s[i + 1] & 0xe0) == 0xa0 &&
                 (s[i + 2] & 0xc0) == 0x80)
                    ? 3
                    : 1;
            strbuf_addstr(out, TEXT_REPLACEMENT);
        } else if (cp < 0x20 || cp == 0x7f || cp == 0xfffe || cp == 0xffff) {
            strbuf_addstr(out, TEXT_REPLACEMENT);
        } else {
            strbuf_add(out, s + i, n);
        }
        i += n;
    }
}

void
text_xml_escape(struct strbuf *out, const char *s)
{
    const char *p;

    for (p = s; *p; p++) {
        switch (*p) {
        case '&':
            strbuf_addstr(out, "&amp;");
            break;
        case '<':
            strbuf_addstr(out, "&lt;");
            break;
        case '>':
            strbuf_addstr(out, "&gt;");
            break;
        case '"':
            strbuf_addstr(out, "&quot;");
            break;
        case '\'':
            strbuf_addstr(out, "&#39;");
            break;
        default:
            strbuf_addch(out, *p);
        }
    }
}

/* Columns of one code point (after wcwidth's idea, in a few ranges). */
static size_t
char_width(uint32_t c)
{
    if ((c >= 0x300 && c <= 0x36f) || (c >= 0x200b && c <= 0x200f) ||
        (c >= 0xfe00 && c <= 0xfe0f)) {
        return 0;
    }
    if ((c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0x303e) ||
        (c >= 0x3041 && c <= 0x33ff) || (c >= 0x3400 && c <= 0x4dbf) ||
        (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xa000 && c <= 0xa4cf) ||
        (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
        (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
        (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
        (c >= 0x1f900 && c <= 0x1f9ff) || (c >= 0x20000 && c <= 0x3fffd)) {
        return 2;
    }
    return 1;
}

/* The next character of clean text: its byte length and columns. */
static size_t
next_char(const char *s, size_t len, size_t *cols)
{
    uint32_t cp;
    size_t n = utf8_scalar((const unsigned char *)s, len, &cp);

    if (n == 0) {
        *cols = 1;
        return 1;
    }
    *cols = char_width(cp);
    return n;
}

size_t
text_width(const char *s)
{
    size_t len = strlen(s), i = 0, w = 0, cols;

    while (i < len) {
        i += next_char(s + i, len - i, &cols);
        w += cols;
    }
    return w;
}

void
text_fit(struct strbuf *out, const char *s, size_t cols)
{
    size_t len = strlen(s), i = 0, w = 0, n, c;

    if (cols == 0) {
        return;
    }
    if (text_width(s) <= cols) {
        strbuf_add(out, s, len);
        return;
    }
    while (i < len) {
        n = next_char(s + i, len - i, &c);
        if (w + c > cols - 1) {
            break;
        }
        w += c;
        i += n;
    }
    strbuf_add(out, s, i);
    strbuf_addstr(out, TEXT_ELLIPSIS);
}

void
text_count(struct strbuf *out, uint64_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof(digits), "%" PRIu64, n), i;

    for (i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0) {
            strbuf_addch(out, ',');
        }
        strbuf_addch(out, digits[i]);
    }
}

void
text_bytes(struct strbuf *out, uint64_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;

    if (n < 1024) {
        strbuf_addf(out, "%" PRIu64 " B", n);
        return;
    }
    v /= 1024;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    strbuf_addf(out,
                v >= 100  ? "%.0f %s"
                : v >= 10 ? "%.1f %s"
                          : "%.2f %s",
                v, units[u]);
}

void
text_value(struct strbuf *out, const struct profile *p, uint64_t n)
{
    if (profile_counts_bytes(p)) {
        text_bytes(out, n);
        return;
    }
    text_count(out, n);
    strbuf_addstr(out, n == 1 ? " sample" : " samples");
}

void
text_frame_label(struct strbuf *out, const struct profile *p, uint32_t frame,
                 unsigned flags)
{
    const struct prof_frame *f = &p->frames[frame];
    const char *name = strtab_get(&p->strings, f->name);
    const char *file = strtab_get(&p->strings, f->file);

    if (name == NULL || *name == '\0') {
        name = "(unknown)";
    }
    text_clean(out, name, flags);
    if (file != NULL && *file != '\0') {
        strbuf_addstr(out, " (");
        text_clean(out, file, flags);
        if (f->line >= 0) {
            strbuf_addf(out, ":%d", (int)f->line);
        }
        strbuf_addch(out, ')');
    }
}

void
text_thread_label(struct strbuf *out, const struct profile *p, uint32_t thread,
                  int with_pid, unsigned flags)
{
    const struct prof_thread *t = &p->threads[thread];
    const char *name = strtab_get(&p->strings, t->name);

    if (with_pid) {
        strbuf_addf(out, "process %d ", t->pid);
    }
    if (t->tid > 0) {
        strbuf_addf(out, "thread %ld", t->tid);
    } else {
        strbuf_addf(out, "thread 0x%" PRIx64, t->ident);
    }
    if (name != NULL) {
        strbuf_addstr(out, " \"");
        text_clean(out, name, flags);
        strbuf_addch(out, '"');
    }
}

int
text_many_processes(const struct profile *p)
{
    size_t i;

    for (i = 1; i < p->nthreads; i++) {
        if (p->threads[i].pid != p->threads[0].pid) {
            return 1;
        }
    }
    return 0;
}

void
text_labels_frames(struct text_labels *l, const struct profile *p,
                   unsigned flags)
{
    size_t i;

    strbuf_init(&l->buf);
    l->n = p->nframes;
    l->off = xmalloc((l->n ? l->n : 1) * sizeof(*l->off));
    for (i = 0; i < l->n; i++) {
        l->off[i] = l->buf.len;
        text_frame_label(&l->buf, p, (uint32_t)i, flags);
        strbuf_addch(&l->buf, '\0');
    }
}

void
text_labels_threads(struct text_labels *l, const struct profile *p,
                    unsigned flags)
{
    int with_pid = text_many_processes(p);
    size_t i;

    strbuf_init(&l->buf);
    l->n = p->nthreads;
    l->off = xmalloc((l->n ? l->n : 1) * sizeof(*l->off));
    for (i = 0; i < l->n; i++) {
        l->off[i] = l->buf.len;
        text_thread_label(&l->buf, p, (uint32_t)i, with_pid, flags);
        strbuf_addch(&l->buf, '\0');
    }
}

void
text_labels_release(struct text_labels *l)
{
    strbuf_release(&l->buf);
    free(l->off);
    l->off = NULL;
    l->n = 0;
}

struct frame_key {
    const char *name;
    const char *file;
    int32_t line;
    uint32_t id;
};

static int
frame_key_cmp(const void *a, const void *b)
{
    const struct frame_key *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c == 0) {
        c = strcmp(x->file, y->file);
    }
    if (c == 0) {
        c = (x->line > y->line) - (x->line < y->line);
    }
    if (c == 0) {
        c = (x->id > y->id) - (x->id < y->id);
    }
    return c;
}

uint32_t *
text_frame_ranks(const struct profile *p)
{
    size_t n = p->nframes, i;
    struct frame_key *keys = xmalloc((n ? n : 1) * sizeof(*keys));
    uint32_t *rank = xmalloc((n ? n : 1) * sizeof(*rank));

    for (i = 0; i < n; i++) {
        const char *name = strtab_get(&p->strings, p->frames[i].name);
        const char *file = strtab_get(&p->strings, p->frames[i].file);

        keys[i].name = name ? name : "";
        keys[i].file = file ? file : "";
        keys[i].line = p->frames[i].line;
        keys[i].id = (uint32_t)i;
    }
    qsort(keys, n, sizeof(*keys), frame_key_cmp);
    for (i = 0; i < n; i++) {
        rank[keys[i].id] = (uint32_t)i;
    }
    free(keys);
    return rank;
}
