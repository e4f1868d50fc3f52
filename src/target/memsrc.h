/*
 * memsrc.h - where target bytes come from.
 *
 * Layer: target.  Every reader of target memory goes through a struct
 * memsrc: a narrow method table (after SQLite's VFS) in front of the
 * backend.  Backends today: a live process (process_vm_readv, falling
 * back to /proc/PID/mem), a set of local buffers (unit tests, and the
 * shape a core file backend will take), a fault-injecting wrapper, and a
 * per-snapshot page cache that wraps any of them.  The CPython walkers see
 * only this interface.
 *
 * Remote addresses are raddr_t integers, never C pointers.
 */
#ifndef PYSPECT_TARGET_MEMSRC_H
#define PYSPECT_TARGET_MEMSRC_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t raddr_t;

struct memsrc;

/* One piece of a batched read. */
struct memsrc_iov {
    raddr_t addr;
    void *buf;
    size_t len;
};

struct memsrc_ops {
    const char *name;
    /*
     * Copy exactly len bytes at addr into buf.  Returns 0, PS_EFAULT
     * when any byte is not mapped, PS_EEXITED when the target is gone,
     * PS_EPERM when reading is not allowed.
     */
    int (*read)(struct memsrc *src, raddr_t addr, void *buf, size_t len);
    /*
     * Read n pieces at once (NULL: done one by one).  All or nothing:
     * 0, or the error of the first piece that could not be read.  A
     * live process does it in one process_vm_readv(), which costs about
     * as much as reading one piece: samplers batch what they can.
     */
    int (*readv)(struct memsrc *src, const struct memsrc_iov *iov, size_t n);
    /* Release the source and everything it owns. */
    void (*free)(struct memsrc *src);
};

struct memsrc {
    const struct memsrc_ops *ops;
    /* Statistics: calls that reached the backend, bytes copied. */
    uint64_t nreads;
    uint64_t nbytes;
};

static inline int
memsrc_read(struct memsrc *src, raddr_t addr, void *buf, size_t len)
{
    src->nreads++;
    src->nbytes += len;
    return src->ops->read(src, addr, buf, len);
}

/* Batched read; see memsrc_ops.readv.  Counts as one read. */
int memsrc_readv(struct memsrc *src, const struct memsrc_iov *iov, size_t n);

/*
 * Read n pieces of len bytes each (pool headers, chunk headers: small
 * reads at scattered addresses) into out + i * len; ok[i] says which were
 * read.  Unlike memsrc_readv() a piece that cannot be read does not fail
 * the others.  Returns 0 (even when some pieces failed), or PS_EEXITED
 * when the target is gone.
 */
int memsrc_read_many(struct memsrc *src, const raddr_t *addrs, size_t n,
                     size_t len, void *out, unsigned char *ok);

/* Typed helpers: read one little-endian word at addr. */
int memsrc_read_u64(struct memsrc *src, raddr_t addr, uint64_t *out);
int memsrc_read_u32(struct memsrc *src, raddr_t addr, uint32_t *out);
int memsrc_read_i32(struct memsrc *src, raddr_t addr, int32_t *out);

void memsrc_free(struct memsrc *src);

/*
 * Live process backend.  Opening checks that the process exists and can
 * be read (PS_ENOPROC, PS_EZOMBIE, PS_EPERM).
 */
int memsrc_proc_open(int pid, struct memsrc **out);

/*
 * Buffer backend: reads are served from regions added with
 * memsrc_buffer_add(); anything else is PS_EFAULT.  The data is copied.
 */
struct memsrc *memsrc_buffer_new(void);
void memsrc_buffer_add(struct memsrc *src, raddr_t addr, const void *data,
                       size_t len);

/*
 * Fault injection: every read through the wrapper after the first
 * fail_after reads returns error (PS_EFAULT, PS_EEXITED, ...).  The
 * wrapper does not own inner.
 */
struct memsrc *memsrc_faulty_new(struct memsrc *inner, uint64_t fail_after,
                                 int error);

/*
 * Page cache: reads that fit in one page are served from a small cache
 * of whole pages read from inner; larger reads go straight through.
 * Cached pages are valid until memsrc_cache_invalidate(), which a
 * sampler calls once per snapshot.  The cache does not own inner.
 */
struct memsrc *memsrc_cache_new(struct memsrc *inner, size_t page_size,
                                size_t npages);
void memsrc_cache_invalidate(struct memsrc *cache);

/*
 * Read the pages of [addr, addr + len) that are not cached yet into the
 * cache, all in one batched read (at most as many pages as the cache
 * holds): for a walk that will read them one by one, such as a stack's.
 * Nothing is cached when any of them cannot be read (the reads then go
 * page by page, as without it).  0, or the batched read's error.
 */
int memsrc_cache_prefetch(struct memsrc *cache, raddr_t addr, size_t len);

/*
 * Chunk cache, for walks over a lot of memory (the heap census): a read
 * is served from the chunk_size-aligned block that holds it, read whole
 * from inner (clipped to the readable mappings around it, so a chunk
 * never reaches into unmapped memory) and kept within budget bytes, the least
 * recently used going first (CLOCK).  Reads that leave the mappings in
 * maps, or whose chunk cannot be read, go straight to inner.  chunk_size
 * is a power of two.  Neither inner nor maps is owned; maps must outlive
 * the cache and describe the target as it is now (re-read it after
 * pausing).
 */
struct maps;
struct memsrc *memsrc_chunks_new(struct memsrc *inner, const struct maps *maps,
                                 size_t chunk_size, size_t budget);

struct memsrc_chunks_stats {
    uint64_t hits;      /* reads served from a cached chunk */
    uint64_t loads;     /* chunks read from inner */
    uint64_t bypass;    /* reads sent straight to inner */
    uint64_t evictions; /* chunks dropped to stay within the budget */
    /* Chunks read again after an eviction, and their bytes: a walk in a
     * good order over a heap larger than the budget keeps them low. */
    uint64_t reloads;
    uint64_t reload_bytes;
    size_t memory; /* bytes held */
};

void memsrc_chunks_stats(struct memsrc *chunks,
                         struct memsrc_chunks_stats *st);

/*
 * 1 when a read at addr would be served from memory already copied (a
 * chunk cache's chunk, a local buffer), 0 when it would reach the target.
 * Walkers use it to visit what is at hand first.
 */
int memsrc_cached(struct memsrc *src, raddr_t addr);

#endif /* PYSPECT_TARGET_MEMSRC_H */
