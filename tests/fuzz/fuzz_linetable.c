/*
 * fuzz_linetable.c - line tables (co_lnotab, 3.10's co_linetable, the
 * 3.11+ location table) as the target's code objects give them.
 *
 * Layer: tests.  Input: a format byte, a 4-byte first line, the table.
 */
#include "fuzz.h"

#include "python/linetable.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int32_t first;
    int format, q;

    if (size < 5) {
        return 0;
    }
    format = 1 + data[0] % 3;
    memcpy(&first, data + 1, 4);
    data += 5;
    size -= 5;
    for (q = -2; q < (int)(2 * size) + 8 && q < 65536; q += 2) {
        py_linetable_addr2line(format, data, size, first, q);
    }
    py_linetable_addr2line(format, data, size, first, 1 << 30);
    return 0;
}
