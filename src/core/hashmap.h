/*
 * hashmap.h - open-addressing map from nonzero uint64_t keys to pointers.
 *
 * Layer: core.  Used for caches keyed by remote address (code objects,
 * types) and for string interning.  Key 0 is reserved (remote NULL is
 * never a useful key).  The map does not own the values.
 */
#ifndef PYSPECT_CORE_HASHMAP_H
#define PYSPECT_CORE_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct hashmap_slot {
    uint64_t key;
    void *value;
};

struct hashmap {
    struct hashmap_slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t count;
};

/* clang-format off */
#define HASHMAP_INIT {NULL, 0, 0}
/* clang-format on */

void hashmap_init(struct hashmap *map);
void hashmap_release(struct hashmap *map);
/* Remove every entry, keeping the table. */
void hashmap_clear(struct hashmap *map);
/* The value for key, or NULL. */
void *hashmap_get(const struct hashmap *map, uint64_t key);
/* Insert or replace; key must not be 0. */
void hashmap_put(struct hashmap *map, uint64_t key, void *value);
/* Pointer to the value slot for key, inserting NULL if absent. */
void **hashmap_slot(struct hashmap *map, uint64_t key);

/* Iterate: for (i = 0; hashmap_next(map, &i, &k, &v);) { ... } */
int hashmap_next(const struct hashmap *map, size_t *iter, uint64_t *key,
                 void **value);

/* A good 64-bit mixer (splitmix64 finaliser). */
static inline uint64_t
hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* A fast 64-bit hash of bytes; never returns 0. */
uint64_t hash_bytes(const void *data, size_t len);

#endif /* PYSPECT_CORE_HASHMAP_H */
