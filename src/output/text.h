/*
 * text.h - text helpers shared by the writers (internal to src/output/).
 *
 * Layer: output.  Names come from the target and may hold anything a
 * Python str can: invalid UTF-8 is impossible from the python layer, but
 * lone surrogates (ED A0..BF xx), U+0000 as C0 80, control characters and
 * newlines are all possible.  Every writer passes names through
 * text_clean() so that its format stays parseable.
 */
#ifndef PYSPECT_OUTPUT_TEXT_H
#define PYSPECT_OUTPUT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "profile/profile.h"

/* text_clean() flags. */
#define TEXT_NO_SEMICOLON 1u /* ';' becomes ':' (collapsed stacks) */

/* The replacement character, U+FFFD, in UTF-8. */
#define TEXT_REPLACEMENT "\xef\xbf\xbd"
/* The ellipsis that ends truncated text, U+2026, in UTF-8. */
#define TEXT_ELLIPSIS "\xe2\x80\xa6"

/*
 * Append s as clean UTF-8: invalid bytes, surrogates, U+0000 (C0 80),
 * U+FFFE/U+FFFF, C0 control characters (newline and tab included) and DEL
 * each become U+FFFD; the result is valid UTF-8 and valid XML character
 * data before escaping.  NULL appends nothing.
 */
void text_clean(struct strbuf *out, const char *s, unsigned flags);

/* Append s (already clean) escaped for XML text and attribute values. */
void text_xml_escape(struct strbuf *out, const char *s);

/* Width of clean UTF-8 text in terminal / monospace columns: East Asian
 * wide characters count 2, combining marks 0, others 1. */
size_t text_width(const char *s);

/*
 * Append s (clean), cut to at most cols columns: when it is wider, as
 * many whole characters as fit in cols - 1 and an ellipsis.  cols 0
 * appends nothing.
 */
void text_fit(struct strbuf *out, const char *s, size_t cols);

/* Append n with thousands separators: 1,234,567. */
void text_count(struct strbuf *out, uint64_t n);

/* Append a size in bytes the way people read it: "512 B", "1.5 KiB",
 * "12.3 MiB", "2.00 GiB" (three significant digits). */
void text_bytes(struct strbuf *out, uint64_t n);

/* Append a profile's value: a size when the profile counts bytes,
 * otherwise "N sample(s)". */
void text_value(struct strbuf *out, const struct profile *p, uint64_t n);

/*
 * Append a frame as "function (file:line)", clean: "(file)" when the line
 * is unknown, no parenthesis when the file is empty, "(unknown)" for an
 * empty name.
 */
void text_frame_label(struct strbuf *out, const struct profile *p,
                      uint32_t frame, unsigned flags);

/*
 * Append a thread as `thread TID "NAME"`: the kernel thread id, or the
 * Python ident in hex (0x...) when the tid is unknown; no name part when
 * it has none.  with_pid prefixes "process PID " (profiles that span
 * several processes).
 */
void text_thread_label(struct strbuf *out, const struct profile *p,
                       uint32_t thread, int with_pid, unsigned flags);

/* Does the profile hold threads of more than one process? */
int text_many_processes(const struct profile *p);

/*
 * Labels of every frame (text_frame_label) or every thread
 * (text_thread_label), computed once, in one buffer.
 */
struct text_labels {
    struct strbuf buf;
    size_t *off;
    size_t n;
};

void text_labels_frames(struct text_labels *l, const struct profile *p,
                        unsigned flags);
void text_labels_threads(struct text_labels *l, const struct profile *p,
                         unsigned flags);
void text_labels_release(struct text_labels *l);

static inline const char *
text_labels_get(const struct text_labels *l, size_t i)
{
    return l->buf.buf + l->off[i];
}

/*
 * The rank of every frame id when frames are sorted by name, then file,
 * then line (bytewise): rank[id].  The caller frees the array.  Sorting
 * by rank makes children and stacks come out in a stable, readable order.
 */
uint32_t *text_frame_ranks(const struct profile *p);

/* The label of a stack that has no frame at all. */
#define TEXT_NO_FRAMES "(no Python frames)"

#endif /* PYSPECT_OUTPUT_TEXT_H */
