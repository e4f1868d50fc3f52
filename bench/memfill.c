/*
 * memfill.c - fill a process's C heap, for bench/mem_bench.py.
 *
 * Layer: bench.  Built by the benchmark into a shared library that a
 * Python target loads with ctypes, so a gibibyte of small blocks is made
 * in a second instead of minutes of ctypes calls.  memfill() mallocs
 * total bytes in blocks of size bytes, writes each, and frees all but
 * every keep_every-th (keep_every 1: free none).
 */
#include <stdlib.h>
#include <string.h>

static void **blocks;
static size_t nblocks;

size_t memfill(size_t total, size_t size, size_t keep_every);

size_t
memfill(size_t total, size_t size, size_t keep_every)
{
    size_t i, kept = 0;

    nblocks = total / size;
    blocks = malloc(nblocks * sizeof(*blocks));
    if (blocks == NULL) {
        return 0;
    }
    for (i = 0; i < nblocks; i++) {
        blocks[i] = malloc(size);
        if (blocks[i] != NULL) {
            memset(blocks[i], (int)(i & 0xff), size);
        }
    }
    for (i = 0; i < nblocks; i++) {
        if (keep_every > 1 && i % keep_every != 0) {
            free(blocks[i]);
            blocks[i] = NULL;
        } else {
            kept++;
        }
    }
    return kept;
}
