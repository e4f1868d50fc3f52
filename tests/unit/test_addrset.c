/*
 * test_addrset.c - unit tests of the sparse address bitmaps.
 *
 * Layer: tests.  Against a sorted array as reference: adds (new and
 * repeated), removes, membership, counts, in-order iteration across
 * regions far apart, the region cache under many regions, and a zeroed
 * struct being an empty set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/addrset.h"
#include "tap.h"

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* A small deterministic generator (xorshift). */
static uint64_t
next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void
test_basic(void)
{
    struct addrset s;
    struct addrset_iter it;
    uint64_t a, got[8];
    size_t n = 0;

    addrset_init(&s);
    TAP_EQ_INT(addrset_add(&s, 0x7f0000001000), 1, "first add is new");
    TAP_EQ_INT(addrset_add(&s, 0x7f0000001000), 0, "second add is not");
    TAP_EQ_INT(addrset_add(&s, 0x7f0000001008), 1, "next word is new");
    TAP_EQ_INT(addrset_add(&s, 0x1000), 1, "a low region");
    TAP_EQ_INT(addrset_add(&s, 0x7ffffffff000), 1, "a high region");
    TAP_EQ_INT(s.count, 4, "count");
    TAP_OK(addrset_has(&s, 0x7f0000001008), "has an added address");
    TAP_OK(!addrset_has(&s, 0x7f0000001010), "not a neighbour");
    TAP_OK(!addrset_has(&s, 0x5000000000), "not an untouched region");
    TAP_EQ_INT(addrset_remove(&s, 0x7f0000001008), 1, "remove present");
    TAP_EQ_INT(addrset_remove(&s, 0x7f0000001008), 0, "remove absent");
    TAP_EQ_INT(addrset_remove(&s, 0x6000000000), 0, "remove unknown region");
    TAP_EQ_INT(s.count, 3, "count after remove");
    addrset_iter_init(&it, &s);
    while (n < 8 && addrset_iter_next(&it, &a)) {
        got[n++] = a;
    }
    addrset_iter_release(&it);
    TAP_EQ_INT(n, 3, "iteration yields every address");
    TAP_OK(n == 3 && got[0] == 0x1000 && got[1] == 0x7f0000001000 &&
               got[2] == 0x7ffffffff000,
           "iteration is in address order");
    addrset_release(&s);
    TAP_EQ_INT(s.count, 0, "released set is empty");
    TAP_OK(!addrset_has(&s, 0x1000), "released set has nothing");
    addrset_release(&s);
}

static void
test_zeroed(void)
{
    struct addrset s;
    struct addrset_iter it;
    uint64_t a;

    memset(&s, 0, sizeof(s));
    TAP_OK(!addrset_has(&s, 0x1234560), "zeroed set is empty");
    addrset_iter_init(&it, &s);
    TAP_OK(!addrset_iter_next(&it, &a), "iterating an empty set");
    addrset_iter_release(&it);
    TAP_EQ_INT(addrset_add(&s, 0x1234560), 1, "zeroed set takes adds");
    addrset_release(&s);
}

static void
test_random(void)
{
    enum { N = 200000 };
    struct addrset s;
    struct addrset_iter it;
    uint64_t *ref = malloc(N * sizeof(*ref));
    uint64_t seed = 0x9e3779b97f4a7c15ull, a;
    size_t i, n = 0, k = 0, uniq = 0, bad = 0;

    addrset_init(&s);
    for (i = 0; i < N; i++) {
        /* Clustered: 300 regions of arenas, 8-byte aligned. */
        uint64_t r = next_rand(&seed);
        uint64_t region = 0x7f0000000000ull + ((r >> 40) % 300) * (3u << 20);

        a = region + ((r & 0x3fffff) & ~(uint64_t)7);
        ref[n++] = a;
        addrset_add(&s, a);
    }
    qsort(ref, n, sizeof(*ref), cmp_u64);
    for (i = 0; i < n; i++) {
        if (i == 0 || ref[i] != ref[i - 1]) {
            ref[uniq++] = ref[i];
        }
    }
    TAP_EQ_INT(s.count, uniq, "count equals distinct addresses");
    addrset_iter_init(&it, &s);
    while (addrset_iter_next(&it, &a)) {
        if (k >= uniq || ref[k] != a) {
            bad++;
        }
        k++;
    }
    addrset_iter_release(&it);
    TAP_EQ_INT(k, uniq, "iteration visits each once");
    TAP_EQ_INT(bad, 0, "iteration matches the sorted reference");
    for (i = 0, bad = 0; i < uniq; i++) {
        bad += !addrset_has(&s, ref[i]);
    }
    TAP_EQ_INT(bad, 0, "membership of every address");
    for (i = 0, bad = 0; i < uniq; i += 2) {
        bad += addrset_remove(&s, ref[i]) != 1;
    }
    TAP_EQ_INT(bad, 0, "removing half");
    TAP_EQ_INT(s.count, uniq - (uniq + 1) / 2, "count after removing half");
    TAP_OK(addrset_memory(&s) > 0, "memory is reported");
    addrset_release(&s);
    free(ref);
}

int
main(void)
{
    test_basic();
    test_zeroed();
    test_random();
    return tap_done();
}
