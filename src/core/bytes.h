/*
 * bytes.h - read a field out of a copy of target memory.
 *
 * Layer: core.  Walkers copy a struct from the target into a local buffer
 * and pick fields out of it at offsets from the layout; these do that
 * without alignment or aliasing trouble (x86-64 is little-endian, like
 * every target pyspect reads).
 */
#ifndef PYSPECT_CORE_BYTES_H
#define PYSPECT_CORE_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint64_t
load_u64(const unsigned char *buf, int32_t off)
{
    uint64_t v;

    memcpy(&v, buf + off, sizeof(v));
    return v;
}

static inline uint32_t
load_u32(const unsigned char *buf, int32_t off)
{
    uint32_t v;

    memcpy(&v, buf + off, sizeof(v));
    return v;
}

static inline int32_t
load_i32(const unsigned char *buf, int32_t off)
{
    int32_t v;

    memcpy(&v, buf + off, sizeof(v));
    return v;
}

#endif /* PYSPECT_CORE_BYTES_H */
