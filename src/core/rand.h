/*
 * rand.h - a small, fast pseudo-random generator (xorshift64*).
 *
 * Layer: core, header only: the allocation tracker, which runs inside
 * other programs and links none of core's objects, uses it as well as
 * pyspect's samplers.  Not for anything that must be unpredictable.
 */
#ifndef PYSPECT_CORE_RAND_H
#define PYSPECT_CORE_RAND_H

#include <stdint.h>

/* The next number of the sequence; *state must not be 0. */
static inline uint64_t
rand_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

#endif /* PYSPECT_CORE_RAND_H */
