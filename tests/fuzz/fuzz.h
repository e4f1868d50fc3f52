/*
 * fuzz.h - what the libFuzzer harnesses share.
 *
 * Layer: tests.  Each harness (fuzz_*.c, built with clang
 * -fsanitize=fuzzer,address,undefined by `make fuzz` and `make test`)
 * feeds untrusted bytes to one parser or walker.  The walkers read a
 * synthetic target (tests/unit/synth.h and its kin): a well-formed image
 * the input then damages with patches, so the fuzzer explores the checks
 * rather than failing at the first one.
 */
#ifndef PYSPECT_TESTS_FUZZ_H
#define PYSPECT_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One patch: where (modulo the region), how, and the value. */
#define FUZZ_PATCH_SIZE 13

/*
 * Apply the input as patches to mem (size bytes, at remote address
 * base): records of a u32 offset, a u8 kind and a u64 value.  Kinds: 0 an
 * 8-byte word, 1 a pointer into the region (base + value modulo size), 2
 * a 4-byte word, 3 a byte.  Returns the number of patches.
 */
static inline size_t
fuzz_patch(unsigned char *mem, size_t size, uint64_t base, const uint8_t *data,
           size_t len)
{
    size_t n = 0;

    if (size < 16) {
        return 0;
    }
    while (len >= FUZZ_PATCH_SIZE) {
        uint32_t off;
        uint64_t v;
        uint32_t v32;
        uint8_t kind = data[4];

        memcpy(&off, data, 4);
        memcpy(&v, data + 5, 8);
        switch (kind % 4) {
        case 0:
            memcpy(mem + ((off % (size - 7)) & ~7u), &v, 8);
            break;
        case 1:
            v = base + ((v % size) & ~(uint64_t)7);
            memcpy(mem + ((off % (size - 7)) & ~7u), &v, 8);
            break;
        case 2:
            v32 = (uint32_t)v;
            memcpy(mem + ((off % (size - 3)) & ~3u), &v32, 4);
            break;
        default:
            mem[off % size] = (unsigned char)v;
            break;
        }
        data += FUZZ_PATCH_SIZE;
        len -= FUZZ_PATCH_SIZE;
        n++;
    }
    return n;
}

#endif /* PYSPECT_TESTS_FUZZ_H */
