/*
 * linetable.h - the line number of a bytecode offset, from a code object's
 * line table.
 *
 * Layer: python (pure: no I/O, no allocation, no other pyspect headers).
 * The table is a copy of remote memory and is treated as untrusted: every
 * walk is bounded by its length and terminates on any input.
 */
#ifndef PYSPECT_PYTHON_LINETABLE_H
#define PYSPECT_PYTHON_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* Which encoding a code object's line table uses. */
enum py_linetable_format {
    PY_LINES_LNOTAB = 1,    /* co_lnotab, 3.6 - 3.9 */
    PY_LINES_310 = 2,       /* co_linetable, 3.10 */
    PY_LINES_LOCATIONS = 3, /* co_linetable location table, 3.11+ */
    /* co_lnotab with unsigned line increments, 2.7 */
    PY_LINES_LNOTAB_UNSIGNED = 4,
};

/* What py_linetable_addr2line() returns when CPython reports no line. */
#define PY_LINE_NONE (-1)

/*
 * The line of the instruction at byte offset addrq in a code object whose
 * line table (co_lnotab for PY_LINES_LNOTAB(_UNSIGNED), co_linetable
 * otherwise) is
 * table[0..len) and whose co_firstlineno is firstlineno: exactly what that
 * version's PyCode_Addr2Line(co, addrq) returns.
 *
 * Callers pass addrq in bytes:
 *   2.7, 3.6 - 3.9  f_lasti
 *   3.10        f_lasti * 2 (f_lasti counts 2-byte code units there)
 *   3.11+       instruction pointer - address of co_code_adaptive
 *
 * Results, by format:
 *   PY_LINES_LNOTAB,    firstlineno for a negative addrq; the line of the
 *   ..._UNSIGNED        last entry for an addrq past the end of the table
 *                       (CPython never reports "no line" before 3.10).
 *   PY_LINES_310,       firstlineno for a negative addrq; PY_LINE_NONE
 *   PY_LINES_LOCATIONS  for an offset in a range marked "no line" (3.10's
 *                       line delta -128, 3.11's code 15) and for an addrq
 *                       past the last range of the table.
 *
 * Untrusted input: a byte at or past len is read as 0 -- what CPython
 * itself reads there, since every bytes object stores a NUL after its data.
 * So a table cut off mid-entry decodes the way CPython would decode a bytes
 * object of that length (3.6 - 3.9 ignore a trailing odd byte, 3.10 reads a
 * lone final byte as a range with line delta 0, 3.11+ end a truncated
 * varint early).  Where CPython would read further than that (3.10 tables
 * that end in zero-length ranges) the table is treated as ended and the
 * result is PY_LINE_NONE; a 3.11+ varint is read for at most 6 bytes (32
 * bits, the most a real one has).  Garbage produces some int, negative or
 * huge (line arithmetic wraps modulo 2^32, never overflows); callers should
 * treat a result below 1 as "unknown".  An unknown format, or a NULL table
 * with len > 0, gives PY_LINE_NONE.
 */
int py_linetable_addr2line(int format, const uint8_t *table, size_t len,
                           int firstlineno, int addrq);

#endif /* PYSPECT_PYTHON_LINETABLE_H */
