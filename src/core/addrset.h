/*
 * addrset.h - a set of 8-byte aligned addresses, kept as sparse bitmaps.
 *
 * Layer: core.  The heap census marks every object it has seen; with
 * millions of objects a hash set costs 16+ bytes each and a cache miss
 * per test, while objects packed in arenas make dense bitmaps: one bit per
 * 8-byte word of every 1 MiB region touched (16 KiB per region).  The low
 * three bits of an address are ignored.  Iteration is in address order,
 * which is what lets a walk read target memory sequentially.
 */
#ifndef PYSPECT_CORE_ADDRSET_H
#define PYSPECT_CORE_ADDRSET_H

#include <stddef.h>
#include <stdint.h>

#include "core/hashmap.h"

#define ADDRSET_REGION_SHIFT 20
#define ADDRSET_REGION_WORDS ((1u << ADDRSET_REGION_SHIFT) / 8 / 64)

#define ADDRSET_CACHE 64

struct addrset {
    struct hashmap regions; /* region number + 1 -> uint64_t[WORDS] */
    size_t count;           /* addresses in the set */
    /* Direct-mapped cache of regions in use: a walk hops between the
     * few regions of the arenas it is reading. */
    uint64_t cache_key[ADDRSET_CACHE];
    uint64_t *cache_bits[ADDRSET_CACHE];
};

/* Start empty (a zeroed struct is an empty set too). */
void addrset_init(struct addrset *s);
void addrset_release(struct addrset *s);

/* Add addr; returns 1 when it was not in the set, 0 when it was. */
int addrset_add(struct addrset *s, uint64_t addr);

/* Remove addr; returns 1 when it was in the set. */
int addrset_remove(struct addrset *s, uint64_t addr);

/* 1 when addr is in the set. */
int addrset_has(struct addrset *s, uint64_t addr);

/* Bytes of memory the set holds (for -v and the benchmarks). */
size_t addrset_memory(const struct addrset *s);

/*
 * In-order iteration.  The set must not change while an iterator is in
 * use:
 *     struct addrset_iter it;
 *     addrset_iter_init(&it, set);
 *     while (addrset_iter_next(&it, &addr)) { ... }
 *     addrset_iter_release(&it);
 */
struct addrset_iter {
    const struct addrset *set;
    uint64_t *keys; /* region keys, sorted */
    size_t nkeys;
    size_t k;            /* current region */
    size_t word;         /* current word in it */
    uint64_t bits;       /* bits of that word not yet returned */
    const uint64_t *map; /* the current region's bitmap */
};

void addrset_iter_init(struct addrset_iter *it, const struct addrset *s);
int addrset_iter_next(struct addrset_iter *it, uint64_t *addr);
void addrset_iter_release(struct addrset_iter *it);

#endif /* PYSPECT_CORE_ADDRSET_H */
