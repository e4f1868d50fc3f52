/*
 * memsrc.c - the memory-source backends: live process, local buffers,
 * fault injection, the per-snapshot page cache and the chunk cache.
 *
 * Layer: target.
 */
#define _GNU_SOURCE
#include "memsrc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/addrset.h"
#include "core/error.h"
#include "core/hashmap.h"
#include "core/xalloc.h"
#include "target/maps.h"
#include "target/proc.h"
#include "core/banned.h"

int
memsrc_read_u64(struct memsrc *src, raddr_t addr, uint64_t *out)
{
    return memsrc_read(src, addr, out, sizeof(*out));
}

int
memsrc_read_u32(struct memsrc *src, raddr_t addr, uint32_t *out)
{
    return memsrc_read(src, addr, out, sizeof(*out));
}

int
memsrc_read_i32(struct memsrc *src, raddr_t addr, int32_t *out)
{
    return memsrc_read(src, addr, out, sizeof(*out));
}

/* Pieces per memsrc_readv() in memsrc_read_many(). */
#define MEMSRC_MANY_BATCH 256

int
memsrc_read_many(struct memsrc *src, const raddr_t *addrs, size_t n,
                 size_t len, void *out, unsigned char *ok)
{
    struct memsrc_iov iov[MEMSRC_MANY_BATCH];
    size_t done = 0, i;

    while (done < n) {
        size_t k = n - done < MEMSRC_MANY_BATCH ? n - done : MEMSRC_MANY_BATCH;
        int rc;

        for (i = 0; i < k; i++) {
            iov[i].addr = addrs[done + i];
            iov[i].buf = (char *)out + (done + i) * len;
            iov[i].len = len;
        }
        rc = memsrc_readv(src, iov, k);
        if (rc == PS_EEXITED) {
            return rc;
        }
        for (i = 0; i < k; i++) {
            /* All or nothing: after a failure, find which pieces read. */
            if (rc == 0) {
                ok[done + i] = 1;
            } else {
                int r = memsrc_read(src, iov[i].addr, iov[i].buf, len);

                if (r == PS_EEXITED) {
                    return r;
                }
                ok[done + i] = r == 0;
            }
        }
        done += k;
    }
    return 0;
}

int
memsrc_readv(struct memsrc *src, const struct memsrc_iov *iov, size_t n)
{
    size_t i;
    int rc;

    if (src->ops->readv != NULL) {
        src->nreads++;
        for (i = 0; i < n; i++) {
            src->nbytes += iov[i].len;
        }
        return src->ops->readv(src, iov, n);
    }
    for (i = 0; i < n; i++) {
        rc = memsrc_read(src, iov[i].addr, iov[i].buf, iov[i].len);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

void
memsrc_free(struct memsrc *src)
{
    if (src != NULL) {
        src->ops->free(src);
    }
}

/* ---- live process ---------------------------------------------------- */

struct memsrc_proc {
    struct memsrc base;
    int pid;
    int mem_fd; /* /proc/PID/mem, opened when process_vm_readv is absent */
};

static int
proc_errno_to_error(int e)
{
    switch (e) {
    case ESRCH:
        return PS_EEXITED;
    case EPERM:
    case EACCES:
        return PS_EPERM;
    default:
        return PS_EFAULT;
    }
}

static int
memsrc_proc_read_mem(struct memsrc_proc *p, raddr_t addr, void *buf,
                     size_t len)
{
    size_t done = 0;

    if (p->mem_fd < 0) {
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/mem", p->pid);
        p->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (p->mem_fd < 0) {
            return errno == ENOENT ? PS_EEXITED : proc_errno_to_error(errno);
        }
    }
    while (done < len) {
        ssize_t n = pread(p->mem_fd, (char *)buf + done, len - done,
                          (off_t)(addr + done));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n == 0 ? PS_EEXITED : proc_errno_to_error(errno);
        }
        done += (size_t)n;
    }
    return 0;
}

static int
memsrc_proc_read(struct memsrc *src, raddr_t addr, void *buf, size_t len)
{
    struct memsrc_proc *p = (struct memsrc_proc *)src;
    size_t done = 0;

    if (len == 0) {
        return 0;
    }
    if (addr + len < addr) {
        return PS_EFAULT;
    }
    if (p->mem_fd >= 0) {
        return memsrc_proc_read_mem(p, addr, buf, len);
    }
    while (done < len) {
        struct iovec local = {(char *)buf + done, len - done};
        struct iovec remote = {(void *)(uintptr_t)(addr + done), len - done};
        ssize_t n = process_vm_readv(p->pid, &local, 1, &remote, 1, 0);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == ENOSYS) {
                return memsrc_proc_read_mem(p, addr, buf, len);
            }
            return proc_errno_to_error(errno);
        }
        if (n == 0) {
            return PS_EFAULT;
        }
        done += (size_t)n;
    }
    return 0;
}

static int
memsrc_proc_readv(struct memsrc *src, const struct memsrc_iov *iov, size_t n)
{
    struct memsrc_proc *p = (struct memsrc_proc *)src;
    struct iovec local[64], remote[64];
    size_t i, done = 0;

    while (done < n) {
        size_t k = n - done < 64 ? n - done : 64, want = 0;
        ssize_t got;

        for (i = 0; i < k; i++) {
            local[i].iov_base = iov[done + i].buf;
            local[i].iov_len = iov[done + i].len;
            remote[i].iov_base = (void *)(uintptr_t)iov[done + i].addr;
            remote[i].iov_len = iov[done + i].len;
            want += iov[done + i].len;
        }
        got = p->mem_fd >= 0
                  ? -1
                  : process_vm_readv(p->pid, local, k, remote, k, 0);
        if (got < 0 && errno == ESRCH) {
            return PS_EEXITED;
        }
        if (got < 0 && (errno == EPERM || errno == EACCES)) {
            return PS_EPERM;
        }
        if (got != (ssize_t)want) {
            /* A piece is unmapped (or the syscall is missing): read the
             * batch piece by piece, which names the error exactly. */
            for (i = 0; i < k; i++) {
                int rc =
                    memsrc_proc_read(src, iov[done + i].addr,
                                     iov[done + i].buf, iov[done + i].len);

                if (rc < 0) {
                    return rc;
                }
            }
        }
        done += k;
    }
    return 0;
}

static void
memsrc_proc_free(struct memsrc *src)
{
    struct memsrc_proc *p = (struct memsrc_proc *)src;

    if (p->mem_fd >= 0) {
        close(p->mem_fd);
    }
    free(p);
}

static const struct memsrc_ops memsrc_proc_ops = {
    .name = "process",
    .read = memsrc_proc_read,
    .readv = memsrc_proc_readv,
    .free = memsrc_proc_free,
};

int
memsrc_proc_open(int pid, struct memsrc **out)
{
    struct memsrc_proc *p;
    int rc;

    rc = proc_check(pid);
    if (rc < 0) {
        return rc;
    }
    p = xcalloc(1, sizeof(*p));
    p->base.ops = &memsrc_proc_ops;
    p->pid = pid;
    p->mem_fd = -1;
    *out = &p->base;
    return 0;
}

/* ---- local buffers ---------------------------------------------------- */

struct memsrc_region {
    raddr_t addr;
    size_t len;
    unsigned char *data;
};

struct memsrc_buffer {
    struct memsrc base;
    struct memsrc_region *regions;
    size_t nregions, alloc;
};

static int
memsrc_buffer_read(struct memsrc *src, raddr_t addr, void *buf, size_t len)
{
    struct memsrc_buffer *b = (struct memsrc_buffer *)src;
    size_t i;

    if (addr + len < addr) {
        return PS_EFAULT;
    }
    for (i = 0; i < b->nregions; i++) {
        struct memsrc_region *r = &b->regions[i];

        if (addr >= r->addr && addr - r->addr <= r->len &&
            len <= r->len - (addr - r->addr)) {
            memcpy(buf, r->data + (addr - r->addr), len);
            return 0;
        }
    }
    return PS_EFAULT;
}

static void
memsrc_buffer_free(struct memsrc *src)
{
    struct memsrc_buffer *b = (struct memsrc_buffer *)src;
    size_t i;

    for (i = 0; i < b->nregions; i++) {
        free(b->regions[i].data);
    }
    free(b->regions);
    free(b);
}

static const struct memsrc_ops memsrc_buffer_ops = {
    .name = "buffer",
    .read = memsrc_buffer_read,
    .readv = NULL,
    .free = memsrc_buffer_free,
};

struct memsrc *
memsrc_buffer_new(void)
{
    struct memsrc_buffer *b = xcalloc(1, sizeof(*b));

    b->base.ops = &memsrc_buffer_ops;
    return &b->base;
}

void
memsrc_buffer_add(struct memsrc *src, raddr_t addr, const void *data,
                  size_t len)
{
    struct memsrc_buffer *b = (struct memsrc_buffer *)src;
    struct memsrc_region *r;

    XGROW(b->regions, b->alloc, b->nregions + 1);
    r = &b->regions[b->nregions++];
    r->addr = addr;
    r->len = len;
    r->data = xmalloc(len);
    memcpy(r->data, data, len);
}

/* ---- fault injection --------------------------------------------------- */

struct memsrc_faulty {
    struct memsrc base;
    struct memsrc *inner;
    uint64_t fail_after;
    uint64_t seen;
    int error;
};

static int
memsrc_faulty_read(struct memsrc *src, raddr_t addr, void *buf, size_t len)
{
    struct memsrc_faulty *f = (struct memsrc_faulty *)src;

    if (f->seen++ >= f->fail_after) {
        return f->error;
    }
    return memsrc_read(f->inner, addr, buf, len);
}

static void
memsrc_faulty_free(struct memsrc *src)
{
    free(src);
}

static const struct memsrc_ops memsrc_faulty_ops = {
    .name = "faulty",
    .read = memsrc_faulty_read,
    .readv = NULL,
    .free = memsrc_faulty_free,
};

struct memsrc *
memsrc_faulty_new(struct memsrc *inner, uint64_t fail_after, int error)
{
    struct memsrc_faulty *f = xcalloc(1, sizeof(*f));

    f->base.ops = &memsrc_faulty_ops;
    f->inner = inner;
    f->fail_after = fail_after;
    f->error = error;
    return &f->base;
}

/* ---- page cache -------------------------------------------------------- */

struct memsrc_page {
    raddr_t page;        /* page address */
    uint64_t generation; /* valid when equal to the cache's */
};

struct memsrc_cache {
    struct memsrc base;
    struct memsrc *inner;
    size_t page_size; /* a power of two */
    size_t npages;    /* a power of two */
    uint64_t generation;
    struct memsrc_page *pages;
    unsigned char *data;
};

static int
memsrc_cache_read(struct memsrc *src, raddr_t addr, void *buf, size_t len)
{
    struct memsrc_cache *c = (struct memsrc_cache *)src;
    raddr_t page = addr & ~(raddr_t)(c->page_size - 1);
    size_t slot;
    struct memsrc_page *p;
    unsigned char *data;
    int rc;

    if (len > c->page_size || addr + len < addr ||
        ((addr + len - 1) & ~(raddr_t)(c->page_size - 1)) != page) {
        return memsrc_read(c->inner, addr, buf, len);
    }
    slot = (size_t)(page / c->page_size) & (c->npages - 1);
    p = &c->pages[slot];
    data = c->data + slot * c->page_size;
    if (p->generation != c->generation || p->page != page) {
        rc = memsrc_read(c->inner, page, data, c->page_size);
        if (rc < 0) {
            /* A page that straddles the end of a mapping: read directly. */
            p->generation = 0;
            return rc == PS_EFAULT ? memsrc_read(c->inner, addr, buf, len)
                                   : rc;
        }
        p->page = page;
        p->generation = c->generation;
    }
    memcpy(buf, data + (addr - page), len);
    return 0;
}

static void
memsrc_cache_free(struct memsrc *src)
{
    struct memsrc_cache *c = (struct memsrc_cache *)src;

    free(c->pages);
    free(c->data);
    free(c);
}

static const struct memsrc_ops memsrc_cache_ops = {
    .name = "cache",
    .read = memsrc_cache_read,
    .readv = NULL,
    .free = memsrc_cache_free,
};

struct memsrc *
memsrc_cache_new(struct memsrc *inner, size_t page_size, size_t npages)
{
    struct memsrc_cache *c = xcalloc(1, sizeof(*c));

    c->base.ops = &memsrc_cache_ops;
    c->inner = inner;
    c->page_size = page_size;
    c->npages = npages;
    c->generation = 1;
    c->pages = xcalloc(npages, sizeof(*c->pages));
    c->data = xmalloc(npages * page_size);
    return &c->base;
}

void
memsrc_cache_invalidate(struct memsrc *cache)
{
    struct memsrc_cache *c = (struct memsrc_cache *)cache;

    c->generation++;
}

int
memsrc_cache_prefetch(struct memsrc *cache, raddr_t addr, size_t len)
{
    struct memsrc_cache *c = (struct memsrc_cache *)cache;
    struct memsrc_iov iov[64];
    size_t slots[64];
    size_t n = 0, i, max = c->npages < 64 ? c->npages : 64;
    raddr_t page = addr & ~(raddr_t)(c->page_size - 1);
    int rc;

    if (len == 0 || addr + len < addr) {
        return 0;
    }
    for (; page < addr + len && n < max; page += c->page_size) {
        size_t slot = (size_t)(page / c->page_size) & (c->npages - 1);
        struct memsrc_page *p = &c->pages[slot];

        if (p->generation == c->generation && p->page == page) {
            continue;
        }
        iov[n].addr = page;
        iov[n].buf = c->data + slot * c->page_size;
        iov[n].len = c->page_size;
        slots[n++] = slot;
    }
    if (n == 0) {
        return 0;
    }
    /* Slots being filled are invalid until the read is whole. */
    for (i = 0; i < n; i++) {
        c->pages[slots[i]].generation = 0;
    }
    rc = memsrc_readv(c->inner, iov, n);
    if (rc < 0) {
        return rc;
    }
    for (i = 0; i < n; i++) {
        c->pages[slots[i]].page = iov[i].addr;
        c->pages[slots[i]].generation = c->generation;
    }
    return 0;
}

/* ---- chunk cache ------------------------------------------------------- */

/*
 * Slots are found through an open-addressing table and, before that, a
 * small direct-mapped array of recent chunks (a walk in address order
 * touches a handful at a time).  Eviction is CLOCK: a hit only sets a
 * bit, so hits cost no list surgery.
 */
struct memsrc_chunk {
    uint64_t key; /* chunk number + 1; 0 for a free slot */
    raddr_t base; /* first byte held (the chunk start, or its mapping's) */
    size_t len;
    unsigned char *data;
    int referenced; /* CLOCK bit */
};

#define CHUNK_RECENT 16

struct memsrc_chunks {
    struct memsrc base;
    struct memsrc *inner;
    /* The slots' memory, reserved at once and touched as used: huge
     * pages where the kernel gives them, so that filling a cache of tens
     * of MiB costs a few page faults, not thousands.  NULL: malloc. */
    unsigned char *arena;
    size_t arena_len;
    size_t arena_pad; /* from the mapping's start to arena */
    const struct maps *maps;
    unsigned shift;
    size_t nslots, used;
    struct memsrc_chunk *slots;
    size_t hand;   /* CLOCK hand */
    size_t *table; /* open addressing: slot index + 1, 0 empty */
    size_t table_mask;
    size_t recent[CHUNK_RECENT]; /* slot index + 1 by key, 0 none */
    struct addrset evicted;      /* keys of chunks dropped (statistics) */
    struct memsrc_chunks_stats st;
};

#define CHUNK_NONE SIZE_MAX

static size_t
chunks_home(const struct memsrc_chunks *c, uint64_t key)
{
    return (size_t)hash_u64(key) & c->table_mask;
}

static size_t
chunks_lookup(struct memsrc_chunks *c, uint64_t key)
{
    size_t r = c->recent[key & (CHUNK_RECENT - 1)], i;

    if (r != 0 && c->slots[r - 1].key == key) {
        return r - 1;
    }
    i = chunks_home(c, key);
    while (c->table[i] != 0) {
        size_t s = c->table[i] - 1;

        if (c->slots[s].key == key) {
            c->recent[key & (CHUNK_RECENT - 1)] = s + 1;
            return s;
        }
        i = (i + 1) & c->table_mask;
    }
    return CHUNK_NONE;
}

static void
chunks_table_insert(struct memsrc_chunks *c, size_t slot)
{
    size_t i = chunks_home(c, c->slots[slot].key);

    while (c->table[i] != 0) {
        i = (i + 1) & c->table_mask;
    }
    c->table[i] = slot + 1;
}

/* Linear-probing deletion by backward shift (no tombstones). */
static void
chunks_table_remove(struct memsrc_chunks *c, uint64_t key)
{
    size_t i = chunks_home(c, key), j;

    while (c->table[i] != 0 && c->slots[c->table[i] - 1].key != key) {
        i = (i + 1) & c->table_mask;
    }
    if (c->table[i] == 0) {
        return;
    }
    c->table[i] = 0;
    j = i;
    for (;;) {
        size_t home;

        j = (j + 1) & c->table_mask;
        if (c->table[j] == 0) {
            return;
        }
        home = chunks_home(c, c->slots[c->table[j] - 1].key);
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        if ((j > i && (home <= i || home > j)) ||
            (j < i && (home <= i && home > j))) {
            c->table[i] = c->table[j];
            c->table[j] = 0;
            i = j;
        }
    }
}

/* A slot to fill: a never used one, or CLOCK's victim. */
static size_t
chunks_victim(struct memsrc_chunks *c)
{
    size_t s;

    if (c->used < c->nslots) {
        s = c->used++;
        c->slots[s].data = c->arena != NULL
                               ? c->arena + ((size_t)s << c->shift)
                               : xmalloc((size_t)1 << c->shift);
        c->st.memory += (size_t)1 << c->shift;
        return s;
    }
    for (;;) {
        s = c->hand;
        c->hand = (c->hand + 1) % c->nslots;
        if (!c->slots[s].referenced || c->slots[s].key == 0) {
            break;
        }
        c->slots[s].referenced = 0;
    }
    if (c->slots[s].key != 0) {
        chunks_table_remove(c, c->slots[s].key);
        addrset_add(&c->evicted, c->slots[s].key << 3);
        c->slots[s].key = 0;
        c->st.evictions++;
    }
    return s;
}

/* Read the chunk holding addr into a slot; CHUNK_NONE when it cannot. */
static size_t
chunks_load(struct memsrc_chunks *c, raddr_t addr)
{
    const struct map_entry *m = maps_find(c->maps, addr), *lo, *hi;
    uint64_t key = (addr >> c->shift) + 1;
    raddr_t start = addr & ~(((raddr_t)1 << c->shift) - 1);
    raddr_t end = start + ((raddr_t)1 << c->shift);
    struct memsrc_chunk *ch;
    size_t s;

    if (m == NULL || m->perms[0] != 'r') {
        return CHUNK_NONE;
    }
    /* Clip to the readable mappings around addr.  Readable neighbours
     * are taken in (a library's .data and its .bss, anonymous mappings
     * back to back): the chunk is cached under one key, and clipped to
     * one mapping it would leave the other's part of it to be read piece
     * by piece, uncached. */
    lo = m;
    while (lo->start > start && lo > c->maps->v && lo[-1].end == lo->start &&
           lo[-1].perms[0] == 'r') {
        lo--;
    }
    hi = m;
    while (hi->end < end && hi + 1 < c->maps->v + c->maps->n &&
           hi[1].start == hi->end && hi[1].perms[0] == 'r') {
        hi++;
    }
    if (start < lo->start) {
        start = lo->start;
    }
    if (end > hi->end || end < start) {
        end = hi->end;
    }
    s = chunks_victim(c);
    ch = &c->slots[s];
    if (memsrc_read(c->inner, start, ch->data, (size_t)(end - start)) < 0) {
        ch->key = 0; /* stays free: the hand takes it first */
        ch->len = 0;
        ch->referenced = 0;
        return CHUNK_NONE;
    }
    ch->key = key;
    ch->base = start;
    ch->len = (size_t)(end - start);
    ch->referenced = 1;
    chunks_table_insert(c, s);
    c->recent[key & (CHUNK_RECENT - 1)] = s + 1;
    c->st.loads++;
    if (c->evicted.count > 0 && addrset_remove(&c->evicted, key << 3)) {
        c->st.reloads++;
        c->st.reload_bytes += ch->len;
    }
    return s;
}

static int
memsrc_chunks_read(struct memsrc *src, raddr_t addr, void *buf, size_t len)
{
    struct memsrc_chunks *c = (struct memsrc_chunks *)src;
    unsigned char *out = buf;

    if (addr + len < addr) {
        return PS_EFAULT;
    }
    while (len > 0) {
        uint64_t key = (addr >> c->shift) + 1;
        struct memsrc_chunk *ch;
        size_t s, n;

        s = chunks_lookup(c, key);
        if (s == CHUNK_NONE) {
            s = chunks_load(c, addr);
        }
        if (s == CHUNK_NONE || addr < c->slots[s].base ||
            addr - c->slots[s].base >= c->slots[s].len) {
            c->st.bypass++;
            return memsrc_read(c->inner, addr, out, len);
        }
        ch = &c->slots[s];
        ch->referenced = 1;
        n = ch->len - (size_t)(addr - ch->base);
        if (n > len) {
            n = len;
        }
        memcpy(out, ch->data + (addr - ch->base), n);
        c->st.hits++;
        out += n;
        addr += n;
        len -= n;
    }
    return 0;
}

static void
memsrc_chunks_free(struct memsrc *src)
{
    struct memsrc_chunks *c = (struct memsrc_chunks *)src;
    size_t i;

    if (c->arena != NULL) {
        munmap(c->arena - c->arena_pad, c->arena_len);
    } else {
        for (i = 0; i < c->used; i++) {
            free(c->slots[i].data);
        }
    }
    free(c->slots);
    free(c->table);
    addrset_release(&c->evicted);
    free(c);
}

static const struct memsrc_ops memsrc_chunks_ops = {
    .name = "chunks",
    .read = memsrc_chunks_read,
    .free = memsrc_chunks_free,
};

int
memsrc_cached(struct memsrc *src, raddr_t addr)
{
    struct memsrc_chunks *c;
    size_t s;

    if (src->ops == &memsrc_buffer_ops) {
        return 1; /* local memory */
    }
    if (src->ops != &memsrc_chunks_ops) {
        return 0;
    }
    c = (struct memsrc_chunks *)src;
    s = chunks_lookup(c, (addr >> c->shift) + 1);
    return s != CHUNK_NONE && addr >= c->slots[s].base &&
           addr - c->slots[s].base < c->slots[s].len;
}

/* Reserve the slots' memory, 2 MiB aligned for huge pages. */
static void
chunks_arena(struct memsrc_chunks *c)
{
    size_t len = c->nslots << c->shift, huge = (size_t)2 << 20;
    unsigned char *p;

    c->arena_len = len + huge;
    p = mmap(NULL, c->arena_len, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        c->arena = NULL;
        return;
    }
    c->arena_pad = (size_t)(-(uintptr_t)p & (huge - 1));
    c->arena = p + c->arena_pad;
#ifdef MADV_HUGEPAGE
    madvise(c->arena, len, MADV_HUGEPAGE);
#endif
}

struct memsrc *
memsrc_chunks_new(struct memsrc *inner, const struct maps *maps,
                  size_t chunk_size, size_t budget)
{
    struct memsrc_chunks *c = xcalloc(1, sizeof(*c));
    size_t table = 4;

    c->base.ops = &memsrc_chunks_ops;
    c->inner = inner;
    c->maps = maps;
    c->shift = 12;
    while (((size_t)1 << c->shift) < chunk_size && c->shift < 30) {
        c->shift++;
    }
    c->nslots = budget >> c->shift;
    if (c->nslots < 2) {
        c->nslots = 2;
    }
    while (table < c->nslots * 2) {
        table <<= 1;
    }
    c->slots = xcalloc(c->nslots, sizeof(*c->slots));
    c->table = xcalloc(table, sizeof(*c->table));
    c->table_mask = table - 1;
    addrset_init(&c->evicted);
    chunks_arena(c);
    return &c->base;
}

void
memsrc_chunks_stats(struct memsrc *chunks, struct memsrc_chunks_stats *st)
{
    *st = ((struct memsrc_chunks *)chunks)->st;
}
