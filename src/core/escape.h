/*
 * escape.h - names from the target, made safe to print on a terminal.
 *
 * Layer: core.  Function, thread, type and file names, command lines and
 * paths come from the target and may hold anything: ESC sequences that
 * set a window title or clear the screen, BEL, BS, a newline that forges
 * an output line, C1 controls, bidirectional overrides, bytes that are
 * not UTF-8.  Every text output and message passes them through here,
 * escaped as git quotes paths and `ls -b` shows names: C-style, so the
 * text stays readable and nothing reaches the terminal raw.
 *
 *   \a \b \t \n \v \f \r \e   those controls
 *   \\                        a backslash (so an escape is unambiguous)
 *   \xHH                      other C0 controls, DEL, bytes not UTF-8
 *   \uXXXX                    C1 controls, lone surrogates, U+0000 (the
 *                             python layer's C0 80), bidi overrides and
 *                             isolates (U+202A-202E, U+2066-2069)
 * Everything else (printable ASCII and valid UTF-8) is kept as is.
 */
#ifndef PYSPECT_CORE_ESCAPE_H
#define PYSPECT_CORE_ESCAPE_H

#include "core/strbuf.h"

/* Append s, escaped; NULL appends nothing. */
void strbuf_add_escaped(struct strbuf *sb, const char *s);

/*
 * s escaped, for a printf argument: the text lives in one of 8 buffers
 * used in turn, so at most 8 esc() results may be in use at once (one
 * printf).  Returns s itself when it needs no escape.  NULL gives "".
 */
const char *esc(const char *s);

/* Does s need escaping at all? */
int esc_needed(const char *s);

#endif /* PYSPECT_CORE_ESCAPE_H */
