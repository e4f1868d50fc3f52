/*
 * addrset.c - sparse bitmaps of 8-byte aligned addresses.
 *
 * Layer: core.  A region is 1 MiB of address space; its bitmap is
 * allocated the first time an address in it is added.
 */
#include "addrset.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "core/banned.h"

void
addrset_init(struct addrset *s)
{
    memset(s, 0, sizeof(*s));
    hashmap_init(&s->regions);
}

void
addrset_release(struct addrset *s)
{
    size_t i = 0;
    uint64_t key;
    void *bits;

    while (hashmap_next(&s->regions, &i, &key, &bits)) {
        free(bits);
    }
    hashmap_release(&s->regions);
    addrset_init(s);
}

/* The bitmap of addr's region; created when create is set, else NULL. */
static uint64_t *
region_bits(struct addrset *s, uint64_t addr, int create)
{
    uint64_t key = (addr >> ADDRSET_REGION_SHIFT) + 1;
    size_t slot = (size_t)key & (ADDRSET_CACHE - 1);
    uint64_t *bits;
    void **p;

    if (s->cache_key[slot] == key) {
        return s->cache_bits[slot];
    }
    if (!create) {
        bits = hashmap_get(&s->regions, key);
    } else {
        p = hashmap_slot(&s->regions, key);
        if (*p == NULL) {
            *p = xcalloc(ADDRSET_REGION_WORDS, sizeof(uint64_t));
        }
        bits = *p;
    }
    if (bits != NULL) {
        s->cache_key[slot] = key;
        s->cache_bits[slot] = bits;
    }
    return bits;
}

static inline size_t
bit_index(uint64_t addr)
{
    return (size_t)((addr & ((1u << ADDRSET_REGION_SHIFT) - 1)) >> 3);
}

int
addrset_add(struct addrset *s, uint64_t addr)
{
    uint64_t *bits = region_bits(s, addr, 1);
    size_t i = bit_index(addr);
    uint64_t m = (uint64_t)1 << (i & 63);

    if (bits[i >> 6] & m) {
        return 0;
    }
    bits[i >> 6] |= m;
    s->count++;
    return 1;
}

int
addrset_remove(struct addrset *s, uint64_t addr)
{
    uint64_t *bits = region_bits(s, addr, 0);
    size_t i = bit_index(addr);
    uint64_t m = (uint64_t)1 << (i & 63);

    if (bits == NULL || !(bits[i >> 6] & m)) {
        return 0;
    }
    bits[i >> 6] &= ~m;
    s->count--;
    return 1;
}

int
addrset_has(struct addrset *s, uint64_t addr)
{
    uint64_t *bits = region_bits(s, addr, 0);
    size_t i = bit_index(addr);

    return bits != NULL && (bits[i >> 6] >> (i & 63)) & 1;
}

size_t
addrset_memory(const struct addrset *s)
{
    return s->regions.count * ADDRSET_REGION_WORDS * sizeof(uint64_t) +
           (s->regions.mask + 1) * sizeof(struct hashmap_slot);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

void
addrset_iter_init(struct addrset_iter *it, const struct addrset *s)
{
    size_t i = 0, n = 0;
    uint64_t key;
    void *bits;

    memset(it, 0, sizeof(*it));
    it->set = s;
    it->keys = xmalloc((s->regions.count + 1) * sizeof(*it->keys));
    while (hashmap_next(&s->regions, &i, &key, &bits)) {
        it->keys[n++] = key;
    }
    qsort(it->keys, n, sizeof(*it->keys), cmp_u64);
    it->nkeys = n;
    it->k = 0;
    it->word = 0;
    it->bits = 0;
    it->map = n ? hashmap_get(&s->regions, it->keys[0]) : NULL;
    if (it->map != NULL) {
        it->bits = it->map[0];
    }
}

int
addrset_iter_next(struct addrset_iter *it, uint64_t *addr)
{
    while (it->k < it->nkeys) {
        if (it->bits != 0) {
            unsigned b = (unsigned)__builtin_ctzll(it->bits);

            it->bits &= it->bits - 1;
            *addr = ((it->keys[it->k] - 1) << ADDRSET_REGION_SHIFT) +
                    ((uint64_t)(it->word * 64 + b) << 3);
            return 1;
        }
        if (++it->word < ADDRSET_REGION_WORDS) {
            it->bits = it->map[it->word];
            continue;
        }
        it->word = 0;
        if (++it->k < it->nkeys) {
            it->map = hashmap_get(&it->set->regions, it->keys[it->k]);
            it->bits = it->map[0];
        }
    }
    return 0;
}

void
addrset_iter_release(struct addrset_iter *it)
{
    free(it->keys);
    it->keys = NULL;
    it->nkeys = 0;
}
