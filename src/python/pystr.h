/*
 * pystr.h - PEP 393 str contents to UTF-8, and the str state word; 2.7's
 * byte strings and narrow-build unicode to UTF-8.
 *
 * Layer: python (pure: no I/O, no allocation, no other pyspect headers).
 * The input is a copy of remote memory: any byte pattern is handled.
 */
#ifndef PYSPECT_PYTHON_PYSTR_H
#define PYSPECT_PYTHON_PYSTR_H

#include <stddef.h>
#include <stdint.h>

/* Negative results of py_ucs_to_utf8(). */
#define PY_STR_EKIND (-1)  /* kind is not 1, 2 or 4 */
#define PY_STR_ERANGE (-2) /* a UCS-4 code point above U+10FFFF */

/*
 * Bit positions of kind (3 bits), compact and ascii in PyASCIIObject.state
 * (bitfields in Include/cpython/unicodeobject.h, packed low bit first by
 * GCC on little-endian targets).  The default build of every version 3.6 -
 * 3.14 (and the 3.13 free-threaded build) uses the first set; the 3.14+
 * free-threaded build, where `interned` became a whole byte, the second.
 */
#define PY_STR_KIND_SHIFT 2
#define PY_STR_COMPACT_BIT 5
#define PY_STR_ASCII_BIT 6
#define PY_STR_FT314_KIND_SHIFT 8
#define PY_STR_FT314_COMPACT_BIT 11
#define PY_STR_FT314_ASCII_BIT 12

/* The fields of a str's state word pyspect needs. */
struct py_str_state {
    int kind;    /* 1, 2 or 4 bytes per code point; 0 = not ready (<=3.11) */
    int compact; /* 1: characters follow the header */
    int ascii;   /* 1: compact and all code points < 128 */
};

/*
 * Decode the 32-bit state word with the given bit positions into *out.
 * Returns 0, or -1 (and *out zeroed) if a position is out of range.  The
 * kind is returned as stored; it is untrusted like the rest of the word,
 * and py_ucs_to_utf8() rejects a bad one.
 */
int py_str_state_decode(uint32_t state, int kind_shift, int compact_bit,
                        int ascii_bit, struct py_str_state *out);

/*
 * Encode n code points of width kind (1 = Latin-1, 2 = UCS-2 little
 * endian, 4 = UCS-4 little endian; data need not be aligned) as UTF-8 into
 * out, capacity outcap (out may be NULL when outcap is 0).
 *
 * Like snprintf, returns the number of bytes the whole encoding needs, not
 * counting the NUL, so the output is complete iff the result < outcap.
 * When outcap > 0 out is always NUL-terminated, and truncation happens at
 * a character boundary: out holds the longest prefix of whole characters
 * that fits with its NUL, never part of a multi-byte sequence.
 *
 * Two deliberate departures from strict UTF-8, so that every Python str
 * survives to the JSON writer and it can escape what JSON needs:
 *   - Lone surrogates U+D800..U+DFFF (surrogateescape'd file names, or
 *     what '\ud83d' produces) are encoded as 3-byte sequences, each on its
 *     own even when a high and a low one are adjacent, as Python's
 *     'surrogatepass' error handler does.  Adjacent surrogates are two code
 *     points of the str, not one astral character.
 *   - U+0000 is encoded as C0 80 (as in Java's modified UTF-8), so the
 *     output never holds an embedded NUL and stays a C string.
 * utf8_next() (core/utf8.h) decodes both back.
 *
 * Returns PY_STR_EKIND for a kind other than 1, 2 or 4, PY_STR_ERANGE for
 * a code point above U+10FFFF (only possible with kind 4, from garbage);
 * out is then "" when outcap > 0.
 */
long py_ucs_to_utf8(int kind, const void *data, size_t n, char *out,
                    size_t outcap);

/*
 * The strings of Python 2.7, with the same contract as py_ucs_to_utf8():
 *
 * py_utf16_to_utf8(): n code units (UCS-2, little endian) of a narrow
 * build's unicode, where a high surrogate followed by a low one is one
 * astral character, as that build's own codecs read them; lone
 * surrogates as in py_ucs_to_utf8().
 *
 * py_bytes_to_utf8(): the n bytes of a byte string (2.7's str: names,
 * file names) as text: well-formed UTF-8 as it is, every other byte as
 * the lone surrogate U+DC80 + byte (what Python 3's 'surrogateescape'
 * makes of a file name that is not UTF-8), U+0000 as C0 80.
 */
long py_utf16_to_utf8(const void *data, size_t n, char *out, size_t outcap);
long py_bytes_to_utf8(const void *data, size_t n, char *out, size_t outcap);

#endif /* PYSPECT_PYTHON_PYSTR_H */
