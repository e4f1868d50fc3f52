/*
 * hashmap.c - open addressing with linear probing, load factor <= 1/2.
 *
 * Layer: core.
 */
#include "hashmap.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void
hashmap_init(struct hashmap *map)
{
    map->slots = NULL;
    map->mask = 0;
    map->count = 0;
}

void
hashmap_release(struct hashmap *map)
{
    free(map->slots);
    hashmap_init(map);
}

void
hashmap_clear(struct hashmap *map)
{
    if (map->slots != NULL) {
        memset(map->slots, 0, (map->mask + 1) * sizeof(*map->slots));
    }
    map->count = 0;
}

static struct hashmap_slot *
hashmap_find(const struct hashmap *map, uint64_t key)
{
    size_t i = (size_t)hash_u64(key) & map->mask;

    for (;;) {
        struct hashmap_slot *s = &map->slots[i];

        if (s->key == key || s->key == 0) {
            return s;
        }
        i = (i + 1) & map->mask;
    }
}

static void
hashmap_resize(struct hashmap *map, size_t capacity)
{
    struct hashmap_slot *old = map->slots;
    size_t old_cap = old ? map->mask + 1 : 0, i;

    map->slots = xcalloc(capacity, sizeof(*map->slots));
    map->mask = capacity - 1;
    for (i = 0; i < old_cap; i++) {
        if (old[i].key != 0) {
            *hashmap_find(map, old[i].key) = old[i];
        }
    }
    free(old);
}

void *
hashmap_get(const struct hashmap *map, uint64_t key)
{
    if (map->slots == NULL || key == 0) {
        return NULL;
    }
    return hashmap_find(map, key)->value;
}

void **
hashmap_slot(struct hashmap *map, uint64_t key)
{
    struct hashmap_slot *s;

    if (map->slots == NULL) {
        hashmap_resize(map, 64);
    } else if ((map->count + 1) * 2 > map->mask + 1) {
        hashmap_resize(map, (map->mask + 1) * 2);
    }
    s = hashmap_find(map, key);
    if (s->key == 0) {
        s->key = key;
        s->value = NULL;
        map->count++;
    }
    return &s->value;
}

void
hashmap_put(struct hashmap *map, uint64_t key, void *value)
{
    *hashmap_slot(map, key) = value;
}

int
hashmap_next(const struct hashmap *map, size_t *iter, uint64_t *key,
             void **value)
{
    size_t cap = map->slots ? map->mask + 1 : 0;

    while (*iter < cap) {
        struct hashmap_slot *s = &map->slots[(*iter)++];

        if (s->key != 0) {
            *key = s->key;
            *value = s->value;
            return 1;
        }
    }
    return 0;
}

uint64_t
hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;

    /* Eight bytes at a time, each word mixed in with a multiply. */
    while (len >= 8) {
        uint64_t w;

        memcpy(&w, p, 8);
        h = (h ^ hash_u64(w)) * 0xff51afd7ed558ccdULL;
        p += 8;
        len -= 8;
    }
    if (len > 0) {
        uint64_t w = 0;

        memcpy(&w, p, len);
        h = (h ^ hash_u64(w)) * 0xff51afd7ed558ccdULL;
    }
    h = hash_u64(h);
    return h ? h : 1;
}
