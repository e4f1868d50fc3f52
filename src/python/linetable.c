/*
 * linetable.c - decoders for the line-table formats of CPython 2.7, 3.6+.
 *
 * Layer: python (pure).  Each decoder reproduces its version's
 * PyCode_Addr2Line(): 2.7 and 3.6 - 3.9 co_lnotab (Objects/lnotab_notes.txt;
 * 2.7's line increments are unsigned, 3.6's signed), 3.10
 * co_linetable, 3.11+ location table (Objects/locations.md).  They are
 * written from the format descriptions and checked against fixtures that
 * the real interpreters produce (tools/gen_linetable_fixtures.py).
 *
 * The table is remote memory: its length comes from the target and its
 * bytes may be garbage.  Each loop consumes at least one byte per
 * iteration and stops at len; reads at or past len go through byte_at()
 * and see 0.  Offsets are accumulated in 64 bits and lines in uint32_t
 * (wrapping, as CPython's int arithmetic does in practice), so no garbage
 * can overflow a signed int.
 */
#include "linetable.h"

#include <limits.h>

/* table[i], or 0 (the bytes object's NUL terminator) at or past len. */
static unsigned int
byte_at(const uint8_t *table, size_t len, size_t i)
{
    return i < len ? table[i] : 0;
}

/* A line kept modulo 2^32, back to an int (two's complement view). */
static int
line_to_int(uint32_t line)
{
    if (line <= (uint32_t)INT_MAX) {
        return (int)line;
    }
    return -(int)(UINT32_MAX - line) - 1;
}

/* A signed byte as a uint32_t line delta. */
static uint32_t
signed_byte(unsigned int b)
{
    return b < 128 ? (uint32_t)b : (uint32_t)b - 256u;
}

/*
 * co_lnotab: pairs (address increment, line increment: signed from 3.6,
 * unsigned in 2.7).  The line of addrq is firstlineno plus the increments
 * of every pair whose cumulative address is <= addrq.  A negative addrq
 * stops at the first pair (cumulative addresses are >= 0), so it gets
 * firstlineno; an addrq past the end gets the last line.  A trailing odd
 * byte is not a pair.
 */
static int
addr2line_lnotab(const uint8_t *t, size_t len, int firstlineno, int addrq,
                 int signed_lines)
{
    uint32_t line = (uint32_t)firstlineno;
    int64_t addr = 0;
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        addr += t[i];
        if (addr > addrq) {
            break;
        }
        line += signed_lines ? signed_byte(t[i + 1]) : t[i + 1];
    }
    return line_to_int(line);
}

/*
 * 3.10 co_linetable: pairs (range length in bytes, signed line delta).
 * Ranges follow each other from offset 0.  A delta of -128 means the range
 * has no line and leaves the running line alone.  Zero-length ranges only
 * carry line changes (CPython's iterator skips them, keeping their delta),
 * so the answer is the line of the first non-empty range ending after
 * addrq.
 */
static int
addr2line_310(const uint8_t *t, size_t len, int firstlineno, int addrq)
{
    uint32_t line = (uint32_t)firstlineno;
    int64_t start = 0, end = 0;
    int none = 1;
    size_t pos = 0;

    if (addrq < 0) {
        return firstlineno;
    }
    while (end <= addrq) {
        if (pos >= len) {
            return PY_LINE_NONE;
        }
        do {
            unsigned int ldelta = byte_at(t, len, pos + 1);

            start = end;
            end += t[pos];
            pos += 2;
            none = ldelta == 0x80;
            if (!none) {
                line += signed_byte(ldelta);
            }
        } while (start == end && pos < len);
        if (start == end) {
            /*
             * The table ends in zero-length ranges.  CPython would read on
             * past its end here (it asserts this cannot happen); there is
             * no range left for addrq.
             */
            return PY_LINE_NONE;
        }
    }
    return none ? PY_LINE_NONE : line_to_int(line);
}

/*
 * A varint of the location table at t[pos]: 6-bit groups, least
 * significant first, 0x40 set on every byte but the last.  At most six
 * bytes (32 bits) are read: a longer varint only occurs in garbage, where
 * CPython's own shift is undefined, and the cap keeps a table of 0xf7
 * bytes from costing a full scan per entry.  Bytes at or past len read as
 * 0, which ends the varint.
 */
static uint32_t
read_varint(const uint8_t *t, size_t len, size_t pos)
{
    unsigned int b = byte_at(t, len, pos);
    uint32_t val = b & 63;
    unsigned int group;

    for (group = 1; group < 6 && (b & 64); group++) {
        b = byte_at(t, len, pos + group);
        val |= (uint32_t)(b & 63) << (6 * group);
    }
    return val;
}

/* Sign in the low bit, magnitude above it (not zig-zag). */
static uint32_t
read_signed_varint(const uint8_t *t, size_t len, size_t pos)
{
    uint32_t u = read_varint(t, len, pos);

    return (u & 1) ? 0u - (u >> 1) : u >> 1;
}

/* The line delta of the location entry whose first byte is t[pos]. */
static uint32_t
location_line_delta(const uint8_t *t, size_t len, size_t pos)
{
    unsigned int code = (t[pos] >> 3) & 15;

    switch (code) {
    case 13: /* no columns: signed varint line delta */
    case 14: /* long form: signed varint line delta, then three varints */
        return read_signed_varint(t, len, pos + 1);
    case 11: /* one-line forms: delta 0, 1, 2 */
    case 12:
        return code - 10;
    default: /* short forms 0-9, one-line 10, no location 15 */
        return 0;
    }
}

/*
 * 3.11+ location table.  Each entry starts with a byte with bit 7 set:
 * bits 6-3 the code, bits 2-0 the range length - 1 in 2-byte code units.
 * Like CPython, the walk does not parse an entry's extra bytes to find the
 * next one: it skips to the next byte with bit 7 set (extra bytes never
 * have it), so it resynchronises after any malformed entry.  Code 15 marks
 * a range with no location; its line is "none" and the running line stays.
 */
static int
addr2line_locations(const uint8_t *t, size_t len, int firstlineno, int addrq)
{
    uint32_t line = (uint32_t)firstlineno;
    int64_t end = 0;
    int none = 1;
    size_t pos = 0;

    if (addrq < 0) {
        return firstlineno;
    }
    while (end <= addrq) {
        unsigned int first;

        if (pos >= len) {
            return PY_LINE_NONE;
        }
        first = t[pos];
        line += location_line_delta(t, len, pos);
        /*
         * Only a real entry byte (bit 7 set) with code 15 means "none"; a
         * first table byte without bit 7 is garbage that CPython decodes
         * as an entry anyway, and so do we.
         */
        none = (first >> 3) == 0x1f;
        end += (int64_t)((first & 7) + 1) * 2;
        do {
            pos++;
        } while (pos < len && (t[pos] & 128) == 0);
    }
    return none ? PY_LINE_NONE : line_to_int(line);
}

int
py_linetable_addr2line(int format, const uint8_t *table, size_t len,
                       int firstlineno, int addrq)
{
    if (table == NULL) {
        if (len > 0) {
            return PY_LINE_NONE;
        }
        /* Not dereferenced when len is 0; just avoid NULL arithmetic. */
        table = (const uint8_t *)"";
    }
    switch (format) {
    case PY_LINES_LNOTAB:
        return addr2line_lnotab(table, len, firstlineno, addrq, 1);
    case PY_LINES_LNOTAB_UNSIGNED:
        return addr2line_lnotab(table, len, firstlineno, addrq, 0);
    case PY_LINES_310:
        return addr2line_310(table, len, firstlineno, addrq);
    case PY_LINES_LOCATIONS:
        return addr2line_locations(table, len, firstlineno, addrq);
    default:
        return PY_LINE_NONE;
    }
}
