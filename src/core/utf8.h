/*
 * utf8.h - decode the UTF-8 pyspect's strings are made of.
 *
 * Layer: core.  Python strs may hold what strict UTF-8 cannot: lone
 * surrogates (surrogate-escaped file names) and NULs.  The python layer
 * keeps them as "generalized" UTF-8: a surrogate as its 3-byte sequence,
 * U+0000 as C0 80 (so strings stay C strings).  One decoder reads that
 * for every writer.
 */
#ifndef PYSPECT_CORE_UTF8_H
#define PYSPECT_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decode the sequence at s (len bytes available) into *cp: standard
 * UTF-8, plus surrogates as 3-byte sequences and C0 80 as U+0000.
 * Returns the bytes consumed, or -1 for bytes that are not a sequence
 * (overlong forms, stray continuation bytes, truncation, > U+10FFFF).
 */
int utf8_next(const char *s, size_t len, uint32_t *cp);

static inline int
utf8_is_surrogate(uint32_t cp)
{
    return cp >= 0xd800 && cp <= 0xdfff;
}

#endif /* PYSPECT_CORE_UTF8_H */
