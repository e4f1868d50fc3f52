/*
 * tracker.c - the allocation tracker's slow path: what is live, where it
 * was allocated, and the file that reports it.
 *
 * Layer: alloc, in-process side (libpyspect-alloc.so; see tracker.h for
 * the rules it keeps inside malloc).  hooks.c calls in here when a thread
 * takes a sample -- every allocation with --all, otherwise one per
 * sample_bytes allocated on average (a Poisson process over the bytes, as
 * tcmalloc and Go's heap profiler sample) -- and when a block that may be
 * a sampled one is freed.
 *
 * A sampled block of n bytes was sampled with probability
 * p = 1 - exp(-n / sample_bytes), so it stands for n / p bytes and 1 / p
 * blocks: the per-stack sums are unbiased estimates.  The live set maps
 * each sampled block's address to its size and stack, so a free takes
 * back exactly what the allocation added; its size bounds the tracker's
 * memory by what is live, never by run time.
 *
 * Every stack keeps its counters in its record of the store (store.h):
 * allocated, live, and live at the peak.  The peak is kept without a
 * snapshot of every stack: when total live bytes reach a new high, a
 * global epoch advances; a stack about to change whose epoch is older has
 * not changed since that peak, so its live figures are its figures at the
 * peak, and are copied before the change.
 *
 * One lock guards everything here; the Python allocators run under the
 * GIL, so it is rarely contended; and a process with one thread takes it
 * not at all on the hot paths (hot_lock()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define ALLOC_HAVE_SINGLE_THREADED 1
#endif
#endif

#include "alloc/store.h"
#include "alloc/tracker.h"
#include "core/rand.h"

/* Stack indexes in the live set take 24 bits, sizes the other 40. */
#define STACK_INDEX_BITS 24
#define STACK_INDEX_MAX ((1u << STACK_INDEX_BITS) - 1)
#define SIZE_MAX_TRACKED ((1ull << (64 - STACK_INDEX_BITS)) - 1)
/* While waiting for Python to start: look at every allocation, so that
 * its allocators are wrapped at the first malloc after it is ready. */
#define WAIT_COUNTDOWN 0
/* Never, in practice: a process that is not tracked. */
#define OFF_COUNTDOWN (INT64_MAX / 4)
/* A process that was attached to (-p) and may be again: its threads
 * look in now and then, so that a new attach reaches all of them. */
#define INERT_COUNTDOWN (64 * 1024)
/* The file grows by at least this much, and at most by LOG_STEP_MAX. */
#define LOG_STEP_MIN (1u << 20)
#define LOG_STEP_MAX (64u << 20)

/* ---- state ------------------------------------------------------------- */

__thread struct alloc_tls alloc_tls __attribute__((tls_model("initial-exec")));

unsigned char alloc_filter[ALLOC_FILTER_SLOTS];

/* The live set's young blocks (see live_insert()). */
#define YOUNG_BITS 12
#define YOUNG_SLOTS (1u << YOUNG_BITS)

static struct young_slot {
    uint64_t key;             /* address; 0: empty */
    uint64_t val;             /* as the map's: size << 24 | stack index */
    struct alloc_counters *c; /* the stack's counters */
} young[YOUNG_SLOTS];

/*
 * An open-addressing map from nonzero 64-bit keys to 64-bit values, in
 * pages from mmap: linear probing, at most half full, deletion by
 * backward shift (no tombstones).
 */
struct u64map {
    uint64_t *slots; /* key, value pairs */
    size_t cap;      /* a power of two, or 0 */
    size_t count;
    int shift; /* 64 - log2(cap) */
};

struct tracker {
    /* configuration (tracker_configure) */
    int configured;
    int enabled; /* this process is to be tracked */
    int follow;  /* forked children are tracked too */
    int all;     /* --all */
    int native;
    int64_t sample_bytes;
    int root_pid;
    int controller;         /* attached: pyspect's pid; 0 when preloaded */
    uint64_t controller_at; /* and its start time (/proc/PID/stat) */
    int attachable;         /* attached once: may be again */
    char dir[512];
    /* running state */
    volatile int tracking; /* recording allocations now */
    int ended;             /* the interpreter began to shut down */
    int pid;
    int lock;
    /* the store */
    int fd;
    unsigned char *base; /* reservation; the header, then the log */
    size_t mapped;       /* bytes of the file mapped at base */
    struct alloc_header *hdr;
    /* tables */
    struct u64map live;    /* address -> size << 24 | stack index */
    struct u64map stacks;  /* stack hash -> stack index */
    struct u64map frames;  /* frame key -> frame id */
    struct u64map strings; /* content hash -> string id */
    uint32_t *stack_ids;   /* stack index -> record id */
    size_t stack_ids_cap;
    uint32_t nstacks;
    uint32_t empty_stack;   /* the stack of no frame */
    uint32_t full_stack;    /* where stacks go once the table is full */
    uint32_t gen;           /* changes when stack indexes are forgotten */
    uint64_t next_check_ns; /* attached: when to look for pyspect again */
    /* The interpreter's running flag while tracking with no pyspect
     * attached, else a zero (running_now()). */
    const int *running;
    /* The same, but a zero unless with --all and no --native: the one
     * word the common cases of --all ask (py_record_all()). */
    const int *all_running;
};

static const int not_running;
static struct tracker g = {
    .fd = -1, .gen = 1, .running = &not_running, .all_running = &not_running};

/* After tracking, the controller or the interpreter's flag changed. */
static void
running_sync(void)
{
    const int *flag = pyframes_initialized;
    const int *running =
        g.tracking && g.controller == 0 && flag != NULL ? flag : &not_running;

    __atomic_store_n(&g.running, running, __ATOMIC_RELAXED);
    __atomic_store_n(&g.all_running,
                     g.all && !g.native ? running : &not_running,
                     __ATOMIC_RELAXED);
}

/* ---- small helpers ------------------------------------------------------ */

static void
lock(void)
{
    while (__atomic_exchange_n(&g.lock, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&g.lock, __ATOMIC_RELAXED)) {
            sched_yield();
        }
    }
}

static void
unlock(void)
{
    __atomic_store_n(&g.lock, 0, __ATOMIC_RELEASE);
}

/*
 * The lock of the hot paths (an allocation recorded, a free looked up):
 * taken only when the process has more than one thread.  The atomic
 * exchange of lock() is much of what a recorded allocation costs, and a
 * single-threaded process needs none: glibc clears
 * __libc_single_threaded before pthread_create() starts a second thread
 * (and never sets it again but in a forked child, which then has one
 * thread), so a thread that reads it set is alone and stays alone until
 * it creates a thread itself -- which the tracker never does inside its
 * critical section.  glibc's own malloc skips its locks on the same
 * condition.  Returns whether the lock was taken, for hot_unlock().
 */
static inline int
hot_lock(void)
{
#ifdef ALLOC_HAVE_SINGLE_THREADED
    if (ALLOC_LIKELY(__libc_single_threaded)) {
        return 0;
    }
#endif
    lock();
    return 1;
}

static inline void
hot_unlock(int taken)
{
    if (taken) {
        unlock();
    }
}

/* hot_lock() for the common cases of --all, which call nothing: 1 when
 * the process has one thread, else whether the lock was free (then it
 * is taken); when it was not, take the general path, which waits.
 * locked: whether the process has more than one thread, asked by the
 * caller (hot_alone()). */
static inline __attribute__((always_inline)) int
hot_trylock(int locked)
{
    return !locked || !__atomic_exchange_n(&g.lock, 1, __ATOMIC_ACQUIRE);
}

static inline __attribute__((always_inline)) int
hot_alone(void)
{
#ifdef ALLOC_HAVE_SINGLE_THREADED
    return ALLOC_LIKELY(__libc_single_threaded != 0);
#else
    return 0;
#endif
}

static uint64_t
mono_ns(int coarse)
{
    struct timespec ts;

    clock_gettime(coarse ? CLOCK_MONOTONIC_COARSE : CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

void *
tracker_pages(size_t bytes)
{
    void *p = alloc_real_mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        return NULL;
    }
    if (g.hdr != NULL) {
        g.hdr->self_bytes += bytes;
    }
    return p;
}

void
tracker_pages_free(void *p, size_t bytes)
{
    if (p != NULL) {
        alloc_real_munmap(p, bytes);
        if (g.hdr != NULL) {
            g.hdr->self_bytes -= bytes;
        }
    }
}

/* Append the decimal digits of v to buf at *len (bounded by cap). */
static void
put_uint(char *buf, size_t *len, size_t cap, unsigned long v)
{
    char digits[24];
    int n = 0;

    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && *len + 1 < cap) {
        buf[(*len)++] = digits[--n];
    }
    buf[*len] = '\0';
}

static void
put_str(char *buf, size_t *len, size_t cap, const char *s)
{
    while (*s != '\0' && *len + 1 < cap) {
        buf[(*len)++] = *s++;
    }
    buf[*len] = '\0';
}

/* ---- the map ------------------------------------------------------------ */

static inline size_t
map_slot(uint64_t key, int shift)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> shift);
}

static int
map_grow(struct u64map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024, i;
    uint64_t *slots = tracker_pages(cap * 2 * sizeof(uint64_t));
    struct u64map n = {slots, cap, 0, 64 - __builtin_ctzll(cap)};

    if (slots == NULL) {
        return -1;
    }
    for (i = 0; i < m->cap; i++) {
        uint64_t key = m->slots[2 * i];

        if (key != 0) {
            size_t j = map_slot(key, n.shift);

            while (n.slots[2 * j] != 0) {
                j = (j + 1) & (cap - 1);
            }
            n.slots[2 * j] = key;
            n.slots[2 * j + 1] = m->slots[2 * i + 1];
            n.count++;
        }
    }
    tracker_pages_free(m->slots, m->cap * 2 * sizeof(uint64_t));
    *m = n;
    return 0;
}

static inline int
map_get(const struct u64map *m, uint64_t key, uint64_t *val)
{
    const uint64_t *slots = m->slots;
    size_t mask = m->cap - 1, j;

    if (slots == NULL) {
        return 0;
    }
    j = map_slot(key, m->shift);
    for (;;) {
        uint64_t k = slots[2 * j];

        if (k == key) {
            *val = slots[2 * j + 1];
            return 1;
        }
        if (k == 0) {
            return 0;
        }
        j = (j + 1) & mask;
    }
}

/*
 * Insert key, or replace its value: 1 when it was there (its old value in
 * *old), 0 when new, -1 when memory ran out (the map is unchanged).
 */
static inline int
map_put(struct u64map *m, uint64_t key, uint64_t val, uint64_t *old)
{
    uint64_t *slots;
    size_t mask, j;

    if (ALLOC_UNLIKELY((m->count + 1) * 2 > m->cap) && map_grow(m) < 0) {
        return -1;
    }
    slots = m->slots;
    mask = m->cap - 1;
    j = map_slot(key, m->shift);
    for (;;) {
        uint64_t k = slots[2 * j];

        if (k == key) {
            *old = slots[2 * j + 1];
            slots[2 * j + 1] = val;
            return 1;
        }
        if (k == 0) {
            break;
        }
        j = (j + 1) & mask;
    }
    slots[2 * j] = key;
    slots[2 * j + 1] = val;
    m->count++;
    return 0;
}

static inline int
map_del(struct u64map *m, uint64_t key, uint64_t *val)
{
    uint64_t *slots = m->slots;
    size_t mask = m->cap - 1, j, i;
    int shift = m->shift;

    if (slots == NULL) {
        return 0;
    }
    j = map_slot(key, shift);
    for (;;) {
        uint64_t k = slots[2 * j];

        if (k == key) {
            break;
        }
        if (k == 0) {
            return 0;
        }
        j = (j + 1) & mask;
    }
    *val = slots[2 * j + 1];
    /* Shift back the entries that probed past j. */
    i = j;
    for (;;) {
        uint64_t k;

        i = (i + 1) & mask;
        k = slots[2 * i];
        if (k == 0) {
            break;
        }
        /* Move entry i to j when its home is not in (j, i]. */
        if (((i - map_slot(k, shift)) & mask) >= ((i - j) & mask)) {
            slots[2 * j] = k;
            slots[2 * j + 1] = slots[2 * i + 1];
            j = i;
        }
    }
    slots[2 * j] = 0;
    slots[2 * j + 1] = 0;
    m->count--;
    return 1;
}

static void
map_release(struct u64map *m)
{
    tracker_pages_free(m->slots, m->cap * 2 * sizeof(uint64_t));
    memset(m, 0, sizeof(*m));
}

/* ---- the store ---------------------------------------------------------- */

/* Make the file (and its mapping) at least `need` bytes long. */
static int
store_reserve(size_t need)
{
    size_t want = g.mapped, step;
    void *p;

    if (need <= g.mapped) {
        return 0;
    }
    if (need > ALLOC_STORE_HEADER + ALLOC_LOG_MAX) {
        return -1;
    }
    step = g.mapped / 2;
    step = step < LOG_STEP_MIN ? LOG_STEP_MIN : step;
    step = step > LOG_STEP_MAX ? LOG_STEP_MAX : step;
    while (want < need) {
        want += step;
    }
    if (want > ALLOC_STORE_HEADER + ALLOC_LOG_MAX) {
        want = ALLOC_STORE_HEADER + ALLOC_LOG_MAX;
    }
    /* Allocate the blocks now: a page of a full tmpfs faulted in through
     * the mapping would kill the program with SIGBUS. */
    if (posix_fallocate(g.fd, (off_t)g.mapped, (off_t)(want - g.mapped)) !=
        0) {
        return -1;
    }
    p = alloc_real_mmap(g.base + g.mapped, want - g.mapped,
                        PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, g.fd,
                        (long)g.mapped);
    if (p == MAP_FAILED) {
        return -1;
    }
    g.hdr = (struct alloc_header *)g.base;
    if (g.mapped > 0) {
        g.hdr->self_bytes += want - g.mapped;
    }
    g.mapped = want;
    return 0;
}

/*
 * Append a record of len bytes (header included) and return its id, or
 * UINT32_MAX when the log is full.  The caller fills it, then calls
 * store_publish().
 */
static uint32_t
store_append(uint32_t kind, size_t len, void **rec)
{
    uint64_t off = g.hdr->log_len;
    size_t padded = (len + 7) & ~(size_t)7;
    struct alloc_rec *r;

    if (off + padded > ALLOC_LOG_MAX ||
        store_reserve(ALLOC_STORE_HEADER + off + padded) < 0) {
        g.hdr->dropped[ALLOC_DROP_LOG_FULL]++;
        return UINT32_MAX;
    }
    r = (struct alloc_rec *)(g.base + ALLOC_STORE_HEADER + off);
    r->kind = kind;
    r->len = (uint32_t)len;
    *rec = r;
    return (uint32_t)(off / 8);
}

static void
store_publish(size_t len)
{
    uint64_t next = g.hdr->log_len + ((len + 7) & ~(size_t)7);

    __atomic_store_n(&g.hdr->log_len, next, __ATOMIC_RELEASE);
}

static void *
store_record(uint32_t id)
{
    return g.base + ALLOC_STORE_HEADER + (uint64_t)id * 8;
}

static void
store_close(void)
{
    if (g.base != NULL) {
        alloc_real_munmap(g.base, ALLOC_STORE_HEADER + ALLOC_LOG_MAX);
    }
    if (g.fd >= 0) {
        close(g.fd);
    }
    g.base = NULL;
    g.hdr = NULL;
    g.mapped = 0;
    g.fd = -1;
}

/* The command line, from /proc/self/cmdline, into the header. */
static void
store_command(void)
{
    char *out = g.hdr->command;
    size_t cap = sizeof(g.hdr->command), len = 0;
    ssize_t n;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return;
    }
    n = read(fd, out, cap - 1);
    close(fd);
    if (n <= 0) {
        out[0] = '\0';
        return;
    }
    len = (size_t)n;
    while (len > 0 && out[len - 1] == '\0') {
        len--;
    }
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '\0') {
            out[i] = ' ';
        }
    }
    out[len] = '\0';
}

/* Create DIR/PID.GEN (the first GEN free) and map it. */
static int
store_open(void)
{
    char path[600];
    unsigned gen;
    struct timespec ts;

    for (gen = 0; gen < 1000; gen++) {
        size_t len = 0;

        put_str(path, &len, sizeof(path), g.dir);
        put_str(path, &len, sizeof(path), "/");
        put_uint(path, &len, sizeof(path), (unsigned long)g.pid);
        put_str(path, &len, sizeof(path), ".");
        put_uint(path, &len, sizeof(path), gen);
        g.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (g.fd >= 0 || errno != EEXIST) {
            break;
        }
    }
    if (g.fd < 0) {
        return -1;
    }
    g.base =
        alloc_real_mmap(NULL, ALLOC_STORE_HEADER + ALLOC_LOG_MAX, PROT_NONE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g.base == MAP_FAILED) {
        g.base = NULL;
        store_close();
        return -1;
    }
    g.mapped = 0;
    if (store_reserve(ALLOC_STORE_HEADER + LOG_STEP_MIN) < 0) {
        store_close();
        return -1;
    }
    memcpy(g.hdr->magic, ALLOC_STORE_MAGIC, 8);
    g.hdr->version = ALLOC_STORE_VERSION;
    g.hdr->header_size = ALLOC_STORE_HEADER;
    g.hdr->pid = g.pid;
    g.hdr->ppid = (int32_t)getppid();
    g.hdr->generation = gen;
    g.hdr->mode = g.all ? ALLOC_MODE_ALL : ALLOC_MODE_SAMPLED;
    g.hdr->native = (uint32_t)g.native;
    g.hdr->sample_bytes = g.all ? 0 : (uint64_t)g.sample_bytes;
    g.hdr->log_max = ALLOC_LOG_MAX;
    g.hdr->self_bytes = g.mapped + sizeof(young);
    clock_gettime(CLOCK_REALTIME, &ts);
    g.hdr->start_unix_ns =
        (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    g.hdr->start_ns = mono_ns(0);
    store_command();
    return 0;
}

/* ---- strings, frames, stacks -------------------------------------------- */

static uint64_t
hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x84222325cbf29ce4ull ^ n;
    size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    }
    h = mix64(h);
    return h ? h : 1;
}

static uint32_t
string_id(const char *s, size_t n)
{
    uint64_t key, val;
    uint32_t id;
    void *rec;

    if (n > ALLOC_STRING_MAX) {
        n = ALLOC_STRING_MAX;
    }
    key = hash_bytes(s, n);
    if (map_get(&g.strings, key, &val)) {
        return (uint32_t)val;
    }
    id = store_append(ALLOC_REC_STRING, sizeof(struct alloc_rec) + n, &rec);
    if (id == UINT32_MAX) {
        return id;
    }
    memcpy((char *)rec + sizeof(struct alloc_rec), s, n);
    store_publish(sizeof(struct alloc_rec) + n);
    map_put(&g.strings, key, id, &val);
    return id;
}

static uint32_t
frame_lookup(void *ctx, uint64_t key)
{
    uint64_t val;

    (void)ctx;
    return map_get(&g.frames, key, &val) ? (uint32_t)val : UINT32_MAX;
}

static uint32_t
frame_add(void *ctx, uint64_t key, const char *name, size_t name_len,
          const char *file, size_t file_len, int32_t line, int32_t first)
{
    struct alloc_rec_frame *f;
    uint32_t name_id = string_id(name, name_len);
    uint32_t file_id = string_id(file, file_len);
    uint32_t id;

    (void)ctx;
    if (name_id == UINT32_MAX || file_id == UINT32_MAX) {
        return UINT32_MAX;
    }
    id = store_append(ALLOC_REC_FRAME, sizeof(*f), (void **)&f);
    if (id == UINT32_MAX) {
        return id;
    }
    f->name = name_id;
    f->file = file_id;
    f->line = line;
    f->firstlineno = first;
    f->flags = 0;
    f->address = 0;
    store_publish(sizeof(*f));
    g.hdr->nframes++;
    if (key != 0) {
        uint64_t old;

        map_put(&g.frames, key, id, &old);
    }
    return id;
}

/* Write a stack record of the given frames; its index, or UINT32_MAX. */
static uint32_t
stack_write(const uint32_t *ids, uint32_t n)
{
    struct alloc_rec_stack *s;
    size_t len = sizeof(*s) + (size_t)n * sizeof(uint32_t);
    uint32_t id, index;

    if (g.nstacks >= STACK_INDEX_MAX) {
        return UINT32_MAX;
    }
    if (g.nstacks == g.stack_ids_cap) {
        size_t cap = g.stack_ids_cap ? g.stack_ids_cap * 2 : 4096;
        uint32_t *v = tracker_pages(cap * sizeof(uint32_t));

        if (v == NULL) {
            return UINT32_MAX;
        }
        if (g.stack_ids != NULL) {
            memcpy(v, g.stack_ids, g.nstacks * sizeof(uint32_t));
        }
        tracker_pages_free(g.stack_ids, g.stack_ids_cap * sizeof(uint32_t));
        g.stack_ids = v;
        g.stack_ids_cap = cap;
    }
    id = store_append(ALLOC_REC_STACK, len, (void **)&s);
    if (id == UINT32_MAX) {
        return id;
    }
    s->nframes = n;
    memset(&s->c, 0, sizeof(s->c));
    s->c.epoch = g.hdr->peak_epoch;
    if (n > 0) {
        memcpy(s + 1, ids, (size_t)n * sizeof(uint32_t));
    }
    store_publish(len);
    index = g.nstacks++;
    g.stack_ids[index] = id;
    g.hdr->nstacks = g.nstacks;
    return index;
}

/* A stack of one made-up frame, for what has no real one. */
static uint32_t
stack_special(const char *name)
{
    uint32_t frame = frame_add(NULL, 0, name, strlen(name), "", 0, -1, -1);

    return frame == UINT32_MAX ? UINT32_MAX : stack_write(&frame, 1);
}

/* A C frame, by its pc. */
static uint32_t
frame_native(const struct native_frame *nf)
{
    struct alloc_rec_frame *f;
    uint64_t key = mix64(nf->pc ^ 0x6e61746976650000ull), val;
    uint32_t name, file, id;

    key = key ? key : 1;
    if (map_get(&g.frames, key, &val)) {
        return (uint32_t)val;
    }
    name = string_id(nf->name, strlen(nf->name));
    file = string_id(nf->module, strlen(nf->module));
    if (name == UINT32_MAX || file == UINT32_MAX) {
        return UINT32_MAX;
    }
    id = store_append(ALLOC_REC_FRAME, sizeof(*f), (void **)&f);
    if (id == UINT32_MAX) {
        return id;
    }
    f->name = name;
    f->file = file;
    f->line = -1;
    f->firstlineno = -1;
    f->flags = ALLOC_FRAME_NATIVE;
    f->address = nf->address;
    store_publish(sizeof(*f));
    g.hdr->nframes++;
    map_put(&g.frames, key, id, &val);
    return id;
}

/* The index of a stack already seen, or UINT32_MAX.  Under the lock. */
static uint32_t
stack_find(uint64_t hash, uint32_t nframes)
{
    uint64_t val;

    if (nframes == 0) {
        return g.empty_stack;
    }
    return map_get(&g.stacks, hash, &val) ? (uint32_t)val : UINT32_MAX;
}

/*
 * Make the current thread's stack: its C frames (described, innermost
 * first; none without --native), then its Python frames.  Under the
 * lock.
 */
static uint32_t
stack_create(enum alloc_src src, uint64_t hash,
             const struct native_frame *native, uint32_t nnative)
{
    static uint32_t ids[NATIVE_FRAMES_MAX + ALLOC_FRAMES_MAX];
    uint64_t val;
    uint32_t n = 0, i, index;

    if (map_get(&g.stacks, hash, &val)) {
        return (uint32_t)val; /* made meanwhile by another thread */
    }
    for (i = 0; i < nnative; i++) {
        uint32_t id = frame_native(&native[i]);

        if (id != UINT32_MAX) {
            ids[n++] = id;
        }
    }
    n += pyframes_resolve(src, ids + n, ALLOC_FRAMES_MAX, frame_lookup,
                          frame_add, NULL);
    index = stack_write(ids, n);
    if (index == UINT32_MAX || map_put(&g.stacks, hash, index, &val) < 0) {
        g.hdr->dropped[ALLOC_DROP_STACKS_FULL]++;
        return index == UINT32_MAX ? g.full_stack : index;
    }
    return index;
}

static struct alloc_counters *
counters(uint32_t index)
{
    struct alloc_rec_stack *s = store_record(g.stack_ids[index]);

    return &s->c;
}

/* Before a stack's live figures change: keep its figures at the peak. */
static void
peak_sync(struct alloc_counters *c)
{
    if (c->epoch != g.hdr->peak_epoch) {
        c->peak_bytes = c->live_bytes;
        c->peak_blocks = c->live_blocks;
        c->epoch = g.hdr->peak_epoch;
    }
}

/* ---- weights ------------------------------------------------------------ */

/* What a block of n bytes stands for: bytes, and blocks in units. */
static inline __attribute__((always_inline)) void
weigh(size_t n, uint64_t *bytes, uint64_t *blocks, int all)
{
    double p;

    if (all || g.all || n == 0) {
        *bytes = n;
        *blocks = ALLOC_BLOCK_ONE;
        return;
    }
    p = -expm1(-(double)n / (double)g.sample_bytes);
    if (p <= 0) {
        p = 1e-300;
    }
    *bytes = (uint64_t)llround((double)n / p);
    *blocks = (uint64_t)llround((double)ALLOC_BLOCK_ONE / p);
}

/* Bytes to the next sample: exponential, mean sample_bytes. */
static int64_t
next_countdown(struct alloc_tls *t)
{
    double u;

    if (g.all) {
        return -1;
    }
    if (!t->seeded) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        t->rng = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)gettid() << 32) ^
                       (uint64_t)(uintptr_t)t) |
                 1;
        t->seeded = 1;
    }
    /* u in (0, 1]: 53 random bits. */
    u = (double)((rand_next(&t->rng) >> 11) + 1) / 9007199254740992.0;
    return (int64_t)(-log(u) * (double)g.sample_bytes) + 1;
}

/* ---- the live set ------------------------------------------------------- */

static void
filter_add(const void *p)
{
    unsigned char *f = &alloc_filter[alloc_filter_slot(p)];

    if (*f < 255) {
        __atomic_store_n(f, (unsigned char)(*f + 1), __ATOMIC_RELAXED);
    }
}

static void
filter_remove(const void *p)
{
    unsigned char *f = &alloc_filter[alloc_filter_slot(p)];

    /* A saturated slot stays: it no longer knows its count. */
    if (*f > 0 && *f < 255) {
        __atomic_store_n(f, (unsigned char)(*f - 1), __ATOMIC_RELAXED);
    }
}

/* Take back what a live block added (c: its stack's counters, or NULL
 * to look them up).  Under the lock. */
static inline __attribute__((always_inline)) void
live_remove(void *p, uint64_t val, int all, struct alloc_counters *c)
{
    size_t n = (size_t)(val >> STACK_INDEX_BITS);
    uint64_t bytes, blocks;

    if (c == NULL) {
        c = counters((uint32_t)(val & STACK_INDEX_MAX));
    }
    weigh(n, &bytes, &blocks, all);
    peak_sync(c);
    c->live_bytes -= bytes < c->live_bytes ? bytes : c->live_bytes;
    c->live_blocks -= blocks < c->live_blocks ? blocks : c->live_blocks;
    g.hdr->live_bytes -= bytes < g.hdr->live_bytes ? bytes : g.hdr->live_bytes;
    g.hdr->live_blocks -=
        blocks < g.hdr->live_blocks ? blocks : g.hdr->live_blocks;
    if (!all && !g.all) {
        filter_remove(p);
    }
}

/*
 * The live set's young blocks: a direct-mapped table in front of the map
 * (g.live).  Most blocks die young -- a temporary string, a dict built
 * and dropped -- and a block born and freed here never touches the map:
 * two slot writes in a table small enough to stay in cache, where the
 * map's insert and its deletion (a backward shift) each take a cache
 * miss once the live set is large.  A new block takes its slot; the one
 * it finds there moves to the map.  A free looks here first, then in
 * the map.  Under the lock, as the map.
 */
static inline struct young_slot *
young_at(uint64_t key)
{
    return &young[(key * 0x9E3779B97F4A7C15ull) >> (64 - YOUNG_BITS)];
}

/*
 * Make key live with val: 0, or -1 when the map ran out of memory (then
 * nothing changed).  A block found at the same address was freed by a
 * path the tracker does not see: it is not live any more.  (One that
 * went to the map is found when the new one follows it there.)
 */
static __attribute__((noinline)) int
young_evict(struct young_slot *y, uint64_t key)
{
    uint64_t old;
    int had;

    if (y->key == key) {
        live_remove((void *)(uintptr_t)key, y->val, g.all, y->c);
        return 0;
    }
    had = map_put(&g.live, y->key, y->val, &old);
    if (had < 0) {
        return -1;
    }
    if (had) {
        live_remove((void *)(uintptr_t)y->key, old, g.all, NULL);
    }
    return 0;
}

static inline int
live_insert(uint64_t key, uint64_t val, struct alloc_counters *c)
{
    struct young_slot *y = young_at(key);

    if (ALLOC_UNLIKELY(y->key != 0) && young_evict(y, key) < 0) {
        return -1;
    }
    y->key = key;
    y->val = val;
    y->c = c;
    return 0;
}

/* Take key out of the live set: 1 with its value and, when it was
 * young, its counters in *c (else NULL); 0 when not there.  Key 0 (a
 * null pointer) is never live: it marks an empty young slot. */
static inline int
live_take(uint64_t key, uint64_t *val, struct alloc_counters **c)
{
    struct young_slot *y = young_at(key);

    if (ALLOC_UNLIKELY(key == 0)) {
        return 0;
    }
    if (y->key == key) {
        *val = y->val;
        *c = y->c;
        y->key = 0;
        return 1;
    }
    *c = NULL;
    return map_del(&g.live, key, val);
}

static void
young_clear(void)
{
    memset(young, 0, sizeof(young));
}

/* A live block's bytes and blocks (weighed) added to its stack's
 * counters c and the totals; to the allocated ones too when allocated.
 * Under the lock; the peak is the caller's. */
static inline __attribute__((always_inline)) void
live_count(struct alloc_counters *c, uint64_t bytes, uint64_t blocks,
           int allocated)
{
    struct alloc_header *h = g.hdr;

    peak_sync(c);
    if (allocated) {
        c->allocated_bytes += bytes;
        c->allocated_blocks += blocks;
        h->allocated_bytes += bytes;
        h->allocated_blocks += blocks;
    }
    c->live_bytes += bytes;
    c->live_blocks += blocks;
    h->live_bytes += bytes;
    h->live_blocks += blocks;
}

/* Add a live block of n bytes on stack index; allocated says whether it
 * is a new allocation (not a mapping that shrank).  Under the lock. */
static inline __attribute__((always_inline)) void
live_add(void *p, size_t n, uint32_t index, int allocated, int all,
         struct alloc_counters *c)
{
    struct alloc_header *h = g.hdr;
    uint64_t bytes, blocks;

    if (ALLOC_UNLIKELY(n > SIZE_MAX_TRACKED)) {
        n = SIZE_MAX_TRACKED;
    }
    if (c == NULL) {
        c = counters(index);
    }
    if (live_insert((uint64_t)(uintptr_t)p,
                    ((uint64_t)n << STACK_INDEX_BITS) | index, c) < 0) {
        return;
    }
    weigh(n, &bytes, &blocks, all);
    live_count(c, bytes, blocks, allocated);
    if (h->live_bytes > h->peak_bytes) {
        h->peak_bytes = h->live_bytes;
        h->peak_ns = mono_ns(1);
        h->peak_epoch++;
    }
    if (!all && !g.all) {
        filter_add(p);
    }
}

/* ---- starting, stopping ------------------------------------------------- */

/* Parse a configuration (ALLOC_ENV's syntax).  No allocation. */
static void
configure(const char *env)
{
    const char *s;
    int root = 0, parent = 0;

    g.configured = 1;
    g.enabled = 0;
    g.pid = (int)getpid();
    if (env == NULL) {
        return;
    }
    g.sample_bytes = 64 * 1024;
    g.all = g.follow = g.native = 0;
    g.controller = 0;
    g.controller_at = 0;
    s = env;
    while (*s != '\0') {
        const char *key = s, *val, *end;
        size_t klen, vlen;

        while (*s != '\0' && *s != '=' && *s != ';') {
            s++;
        }
        klen = (size_t)(s - key);
        if (*s != '=') {
            break;
        }
        val = ++s;
        while (*s != '\0' && *s != ';') {
            s++;
        }
        end = s;
        vlen = (size_t)(end - val);
        if (*s == ';') {
            s++;
        }
        if (klen == 3 && memcmp(key, "dir", 3) == 0 && vlen < sizeof(g.dir)) {
            memcpy(g.dir, val, vlen);
            g.dir[vlen] = '\0';
        } else {
            long v = 0;
            size_t i;

            for (i = 0; i < vlen && val[i] >= '0' && val[i] <= '9'; i++) {
                v = v * 10 + (val[i] - '0');
            }
            if (klen == 4 && memcmp(key, "root", 4) == 0) {
                root = (int)v;
            } else if (klen == 6 && memcmp(key, "parent", 6) == 0) {
                parent = (int)v;
            } else if (klen == 4 && memcmp(key, "mode", 4) == 0) {
                g.all = vlen == 3 && memcmp(val, "all", 3) == 0;
            } else if (klen == 6 && memcmp(key, "sample", 6) == 0 && v > 0) {
                g.sample_bytes = v;
            } else if (klen == 6 && memcmp(key, "follow", 6) == 0) {
                g.follow = v != 0;
            } else if (klen == 6 && memcmp(key, "native", 6) == 0) {
                g.native = v != 0;
            } else if (klen == 10 && memcmp(key, "controller", 10) == 0) {
                g.controller = (int)v;
            } else if (klen == 13 && memcmp(key, "controller_at", 13) == 0) {
                g.controller_at = (uint64_t)v;
            }
        }
    }
    /* The started command is pyspect's child (parent=), in every image
     * it execs; its own children are not, unless followed. */
    if (parent != 0 && (int)getppid() == parent) {
        root = g.pid;
    }
    g.root_pid = root;
    g.enabled = g.dir[0] != '\0' && (g.pid == root || g.follow);
    running_sync();
}

void
tracker_configure(void)
{
    configure(getenv(ALLOC_ENV));
}

int
tracker_native(void)
{
    return g.enabled && g.native;
}

int
tracker_all(void)
{
    return g.all;
}

/* Create the file and the tables, and switch tracking on.  The caller
 * holds the lock (or is alone). */
static int
start_locked(void)
{
    const char *v;

    if (g.hdr == NULL && store_open() < 0) {
        return -1;
    }
    v = pyframes_version();
    memcpy(g.hdr->python_version, v,
           strnlen(v, sizeof(g.hdr->python_version) - 1));
    g.empty_stack = stack_write(NULL, 0);
    g.full_stack = stack_special("[stack table full]");
    if (g.empty_stack == UINT32_MAX || g.full_stack == UINT32_MAX) {
        return -1;
    }
    g.hdr->controller = g.controller;
    g.hdr->state = ALLOC_STATE_TRACKING;
    g.next_check_ns = 0;
    g.tracking = 1;
    memset(alloc_filter, g.all ? 255 : 0, sizeof(alloc_filter));
    running_sync();
    return 0;
}

/* Let go of the file and the tables (attached: the program goes on
 * without the tracker's memory).  Under the lock, tracking off. */
static void
release_locked(void)
{
    store_close();
    map_release(&g.live);
    young_clear();
    map_release(&g.stacks);
    map_release(&g.frames);
    map_release(&g.strings);
    tracker_pages_free(g.stack_ids, g.stack_ids_cap * sizeof(uint32_t));
    g.stack_ids = NULL;
    g.stack_ids_cap = 0;
    g.nstacks = 0;
    g.gen = g.gen + 1 != 0 ? g.gen + 1 : 1;
}

int
tracker_start(void)
{
    int rc = 0;

    lock();
    if (!g.tracking && !g.ended) {
        rc = start_locked();
    }
    unlock();
    return rc;
}

static void
stop_locked(enum alloc_state state)
{
    g.tracking = 0;
    memset(alloc_filter, 0, sizeof(alloc_filter));
    if (g.hdr != NULL) {
        g.hdr->update_ns = mono_ns(0);
        g.hdr->state = state;
    }
    if (g.controller != 0) {
        /* The file stays for pyspect to read; the mapping goes, and the
         * tracker stays off until attached again. */
        release_locked();
        g.controller = 0;
        g.enabled = 0;
    }
    running_sync();
}

void
tracker_stop(void)
{
    lock();
    stop_locked(ALLOC_STATE_STOPPED);
    unlock();
}

/*
 * Is the pyspect that attached the tracker still there?  Its pid, with
 * the start time it gave, so that another process that got its pid later
 * does not keep the tracker going.  open() and read(), no allocation.
 */
static int
controller_alive(void)
{
    char path[64], buf[1024];
    size_t len = 0;
    ssize_t n;
    int fd, field = 1;
    uint64_t start = 0;
    char *p;

    put_str(path, &len, sizeof(path), "/proc/");
    put_uint(path, &len, sizeof(path), (unsigned long)g.controller);
    put_str(path, &len, sizeof(path), "/stat");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno != ENOENT && errno != ESRCH;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    /* Field 22, starttime, counted after the command's closing ')'. */
    p = strrchr(buf, ')');
    if (p == NULL) {
        return 0;
    }
    for (p++, field = 2; *p != '\0' && field < 22; p++) {
        if (*p == ' ') {
            field++;
        }
    }
    while (*p >= '0' && *p <= '9') {
        start = start * 10 + (uint64_t)(*p++ - '0');
    }
    return g.controller_at == 0 || start == g.controller_at;
}

/* Is the interpreter shutting down?  Then the figures are final: what is
 * live now is what the program left live; teardown is not its doing. */
static int
check_ended(void)
{
    if (g.tracking && !pyframes_running()) {
        g.ended = 1;
        stop_locked(ALLOC_STATE_EXITED);
        return 1;
    }
    if (g.controller != 0 && g.tracking) {
        /* Attached: pyspect asks to stop through the file; and if it is
         * gone (killed, say), tracking stops by itself.  Looked for at
         * most four times a second. */
        uint64_t now;

        if (__atomic_load_n(&g.hdr->stop, __ATOMIC_RELAXED)) {
            stop_locked(ALLOC_STATE_STOPPED);
            return 1;
        }
        now = mono_ns(1);
        if (now >= g.next_check_ns) {
            g.next_check_ns = now + 250000000u;
            if (!controller_alive()) {
                stop_locked(ALLOC_STATE_STOPPED);
                return 1;
            }
        }
    }
    return 0;
}

int
tracker_attach(const char *config)
{
    int rc = 0;

    lock();
    if (g.tracking && g.controller != 0 && controller_alive()) {
        rc = -2; /* another pyspect is attached */
    } else {
        if (g.tracking) {
            stop_locked(ALLOC_STATE_STOPPED);
        }
        configure(config);
        g.ended = 0;
        g.attachable = 1;
        if (!g.enabled || g.controller == 0) {
            rc = -1;
        }
    }
    unlock();
    return rc;
}

void
tracker_exit(void)
{
    lock();
    if (g.tracking) {
        stop_locked(ALLOC_STATE_EXITED);
    }
    unlock();
}

/* ---- the slow paths ----------------------------------------------------- */

/*
 * Has tracking just ended?  The question every recorded allocation and
 * free asks under the lock: inline, one load of the interpreter's flag
 * when no pyspect is attached; check_ended() for the rest.
 */
static __attribute__((noinline)) int
ended_slow(void)
{
    int r;

    /* Stopping unmaps and closes: not to be seen by the hooks. */
    alloc_tls.busy++;
    r = check_ended();
    alloc_tls.busy--;
    return r;
}

/*
 * Tracking, and not just ended?  The question every recorded allocation
 * and free asks under the lock: one flag while tracking with no pyspect
 * attached (the interpreter's own, through g.running), else the full
 * answer.
 */
static inline __attribute__((always_inline)) int ended(void);

static inline __attribute__((always_inline)) int
running_now(void)
{
    if (ALLOC_LIKELY(*__atomic_load_n(&g.running, __ATOMIC_RELAXED) != 0)) {
        return 1;
    }
    return g.tracking && !ended();
}

static inline __attribute__((always_inline)) int
ended(void)
{
    if (ALLOC_LIKELY(g.controller == 0) && ALLOC_LIKELY(pyframes_running())) {
        return 0;
    }
    return ended_slow();
}

/* Not tracking (yet): wait for Python's allocators to be wrapped. */
static __attribute__((noinline)) void
alloc_waiting(struct alloc_tls *t)
{
    t->countdown = g.attachable ? INERT_COUNTDOWN : OFF_COUNTDOWN;
    if (g.enabled && !g.ended) {
        t->countdown = WAIT_COUNTDOWN;
        if (pyframes_try_hook() && tracker_start() == 0) {
            t->countdown = next_countdown(t);
        } else if (pyframes_unreadable()) {
            /* 2.7: nothing to wait for in this image (an exec starts
             * afresh); each thread stops looking at its next call. */
            t->countdown = OFF_COUNTDOWN;
        }
    }
}

/* With --native: the C frames are part of the stack. */
static __attribute__((noinline)) void
alloc_native(void *p, size_t n, enum alloc_src src, uint64_t hash,
             uint32_t nframes)
{
    uintptr_t pcs[NATIVE_FRAMES_MAX];
    uint32_t npcs, i, index = UINT32_MAX;
    int held;

    npcs = native_capture(pcs, NATIVE_FRAMES_MAX);
    for (i = 0; i < npcs; i++) {
        hash = mix64(hash ^ pcs[i]);
    }
    hash = hash ? hash : 1;
    held = hot_lock();
    if (g.tracking && !ended()) {
        index = stack_find(hash, nframes + npcs);
        if (index == UINT32_MAX && npcs > 0) {
            /* Describing C frames takes the loader's lock: not with
             * ours held. */
            struct native_frame *nf;

            hot_unlock(held);
            nf = native_describe(pcs, npcs);
            held = hot_lock();
            if (g.tracking && !ended()) {
                index = stack_create(src, hash, nf, nf != NULL ? npcs : 0);
            }
        } else if (index == UINT32_MAX) {
            index = stack_create(src, hash, NULL, 0);
        }
        if (index != UINT32_MAX && g.tracking) {
            g.hdr->samples++;
            live_add(p, n, index, 1, g.all, NULL);
        }
    }
    hot_unlock(held);
}

/*
 * The stacks recorded last: a direct-mapped cache in front of the stack
 * table (g.stacks), under the lock as the table is.  Allocations come
 * in runs from a few places (a dict and its keys, the pieces of a
 * formatted string, each at its own instruction), and a hit here costs
 * a compare where the table costs a probe and the stack's record a few
 * dependent loads.  An entry is good while its gen is the tracker's.
 * 1024 entries (24 KiB): with 64, bench/alloc_workload.py under --all
 * missed on 1 lookup in 19 (44,000 of 848,000, at 300 instructions
 * each), its hot stacks colliding; with 1024, only on new stacks.
 */
#define SCACHE_BITS 10
static struct scache_slot {
    uint64_t hash;
    struct alloc_counters *c;
    uint32_t index;
    uint32_t gen;
} scache[1u << SCACHE_BITS];

static inline struct scache_slot *
scache_at(uint64_t hash)
{
    return &scache[hash >> (64 - SCACHE_BITS)];
}

/* The stack index of hash when the cache does not have it: the table's,
 * or a new one; cached.  Under the lock. */
static __attribute__((noinline)) uint32_t
stack_lookup(struct alloc_tls *t, enum alloc_src src, uint64_t hash,
             uint32_t nframes)
{
    uint32_t index = stack_find(hash, nframes);

    if (ALLOC_UNLIKELY(index == UINT32_MAX)) {
        t->busy++;
        index = stack_create(src, hash, NULL, 0);
        t->busy--;
    }
    if (index != UINT32_MAX && index != g.full_stack) {
        struct scache_slot *e = scache_at(hash);

        e->hash = hash;
        e->index = index;
        e->c = counters(index);
        e->gen = g.gen;
    }
    return index;
}

/* pyframes_hash(), with its fast case inline (tracker.h). */
static inline __attribute__((always_inline)) uint64_t
stack_hash(enum alloc_src src, uint32_t *nframes)
{
    const struct pyframes_fast *fast = &pyframes_fast;

    if (ALLOC_LIKELY(src == ALLOC_SRC_PY) &&
        ALLOC_LIKELY(fast->slot != NULL)) {
        const char *ts = __atomic_load_n(fast->slot, __ATOMIC_RELAXED);
        const char *f = NULL;

        if (ALLOC_LIKELY(ts != NULL)) {
            memcpy(&f, ts + fast->top, sizeof(f));
            if (ALLOC_LIKELY(f != NULL)) {
                memcpy(&f, f + fast->cframe_current, sizeof(f));
            }
        }
        return pyframes_walk_owned(f, fast->back, fast->pos, fast->owner,
                                   fast->skip, nframes);
    }
    return pyframes_hash(src, nframes);
}

/*
 * Record p: hash the stack, find its index and add the block.  The path
 * every allocation takes with --all, so it is kept lean: no busy mark
 * (nothing here allocates but stack_lookup(), which marks itself), no
 * lock in a process of one thread; the stack's index from the cache of
 * the stacks recorded last, else from the table.
 */
static inline __attribute__((always_inline)) void
alloc_record_hashed(struct alloc_tls *t, void *p, size_t n, enum alloc_src src,
                    int all, uint64_t hash, uint32_t nframes)
{
    struct alloc_counters *c = NULL;
    struct scache_slot *e = scache_at(hash);
    uint32_t index;
    int held;

    held = hot_lock();
    if (ALLOC_LIKELY(running_now())) {
        if (ALLOC_LIKELY(e->hash == hash) && ALLOC_LIKELY(e->gen == g.gen)) {
            index = e->index;
            c = e->c;
        } else {
            index = stack_lookup(t, src, hash, nframes);
        }
        if (ALLOC_LIKELY(index != UINT32_MAX)) {
            g.hdr->samples++;
            live_add(p, n, index, 1, all, c);
        }
    }
    hot_unlock(held);
}

static inline __attribute__((always_inline)) void
alloc_record(struct alloc_tls *t, void *p, size_t n, enum alloc_src src,
             int all)
{
    uint64_t hash;
    uint32_t nframes;

    hash = stack_hash(src, &nframes);
    alloc_record_hashed(t, p, n, src, all, hash, nframes);
}

void
tracker_alloc(struct alloc_tls *t, void *p, size_t n, enum alloc_src src)
{
    if (ALLOC_LIKELY(g.all) && ALLOC_LIKELY(g.tracking) &&
        ALLOC_LIKELY(!g.native)) {
        t->countdown = -1;
        alloc_record(t, p, n, src, 1);
        return;
    }
    t->busy++;
    if (ALLOC_UNLIKELY(!g.tracking)) {
        alloc_waiting(t);
        t->busy--;
        return;
    }
    if (g.all) {
        t->countdown = -1;
    } else {
        if (!t->seeded) {
            /* A thread's first draw: the point may fall inside this
             * block. */
            t->countdown += next_countdown(t);
            if (t->countdown >= 0) {
                t->busy--;
                return;
            }
        }
        t->countdown = next_countdown(t);
    }
    if (ALLOC_UNLIKELY(g.native)) {
        uint32_t nframes;
        uint64_t hash = pyframes_hash(src, &nframes);

        alloc_native(p, n, src, hash, nframes);
        t->busy--;
        return;
    }
    alloc_record(t, p, n, src, 0);
    t->busy--;
}

static inline __attribute__((always_inline)) void
free_record(void *p)
{
    struct alloc_counters *c;
    uint64_t val;
    int held;

    held = hot_lock();
    if (ALLOC_LIKELY(running_now()) &&
        live_take((uint64_t)(uintptr_t)p, &val, &c)) {
        live_remove(p, val, g.all, c);
    }
    hot_unlock(held);
}

void
tracker_free(void *p)
{
    free_record(p);
}

int
tracker_take(void *p, size_t *n)
{
    struct alloc_counters *c;
    uint64_t val;
    int held, found = 0;

    held = hot_lock();
    if (ALLOC_LIKELY(running_now()) &&
        live_take((uint64_t)(uintptr_t)p, &val, &c)) {
        live_remove(p, val, g.all, c);
        *n = (size_t)(val >> STACK_INDEX_BITS);
        found = 1;
    }
    hot_unlock(held);
    return found;
}

/* ---- --all: Python's allocators ---------------------------------------- */

/* A block a Python allocator made, with --all. */
static inline __attribute__((always_inline)) void
py_record(struct alloc_tls *t, void *p, size_t n)
{
    if (ALLOC_LIKELY(g.all) && ALLOC_LIKELY(g.tracking) &&
        ALLOC_LIKELY(!g.native)) {
        t->countdown = -1;
        alloc_record(t, p, n, ALLOC_SRC_PY, 1);
    } else {
        tracker_alloc(t, p, n, ALLOC_SRC_PY); /* the general path */
    }
}

/* free_record() for a Python allocator's block with --all: the common
 * case of tracker_py_free() inline, the rest in a call. */
static __attribute__((noinline)) void
py_free_record_slow(void *p)
{
    free_record(p);
}

static inline __attribute__((always_inline)) int
py_free_young(void *p, int locked)
{
    uint64_t key = (uint64_t)(uintptr_t)p;
    struct young_slot *y = young_at(key);

    if (ALLOC_LIKELY(hot_trylock(locked))) {
        if (ALLOC_LIKELY(y->key == key) &&
            ALLOC_LIKELY(*__atomic_load_n(&g.all_running, __ATOMIC_RELAXED) !=
                         0)) {
            y->key = 0;
            live_remove(p, y->val, 1, y->c);
            hot_unlock(locked);
            return 1;
        }
        hot_unlock(locked);
    }
    return 0;
}

static inline __attribute__((always_inline)) void
py_free_record(void *p)
{
    if (!(hot_alone() ? py_free_young(p, 0) : py_free_young(p, 1))) {
        py_free_record_slow(p);
    }
}

/* py_record_all() but for its common case: the general path. */
static __attribute__((noinline)) void *
py_record_slow(void *p, size_t n)
{
    struct alloc_tls *t = &alloc_tls;

    if (ALLOC_LIKELY(p != NULL) && ALLOC_LIKELY(t->busy == 0)) {
        py_record(t, p, n);
    }
    return p;
}

/* py_record_all() past its common case, the stack hashed. */
static __attribute__((noinline)) void *
py_record_hashed(void *p, size_t n, uint64_t hash, uint32_t nframes)
{
    struct alloc_tls *t = &alloc_tls;

    t->countdown = -1;
    alloc_record_hashed(t, p, n, ALLOC_SRC_PY, 1, hash, nframes);
    return p;
}

/* The common case of py_record_all() once the stack is hashed. */
static inline __attribute__((always_inline)) void *
py_record_young(void *p, size_t n, uint64_t hash, uint32_t nframes, int locked)
{
    uint64_t key = (uint64_t)(uintptr_t)p;
    struct scache_slot *e = scache_at(hash);
    struct young_slot *y = young_at(key);
    struct alloc_header *h;
    struct alloc_counters *c;

    if (ALLOC_UNLIKELY(!hot_trylock(locked))) {
        return py_record_hashed(p, n, hash, nframes);
    }
    h = g.hdr;
    /* Asked again under the lock: tracking may have stopped. */
    if (ALLOC_UNLIKELY(*__atomic_load_n(&g.all_running, __ATOMIC_RELAXED) ==
                       0) ||
        ALLOC_UNLIKELY(e->hash != hash) || ALLOC_UNLIKELY(e->gen != g.gen) ||
        ALLOC_UNLIKELY(y->key != 0) || ALLOC_UNLIKELY(n > SIZE_MAX_TRACKED) ||
        ALLOC_UNLIKELY(h->live_bytes + n > h->peak_bytes)) {
        hot_unlock(locked);
        return py_record_hashed(p, n, hash, nframes);
    }
    /* live_add() for --all, the block young. */
    c = e->c;
    h->samples++;
    y->key = key;
    y->val = ((uint64_t)n << STACK_INDEX_BITS) | e->index;
    y->c = c;
    live_count(c, n, ALLOC_BLOCK_ONE, 1);
    hot_unlock(locked);
    return p;
}

/* Is the common case of py_record_all() to be tried at all? */
static inline __attribute__((always_inline)) int
py_record_may(void *p)
{
    return ALLOC_LIKELY(p != NULL) && ALLOC_LIKELY(alloc_tls.busy == 0) &&
           ALLOC_LIKELY(*__atomic_load_n(&g.all_running, __ATOMIC_RELAXED) !=
                        0);
}

/* py_record_all() from a stack hashed by pyframes_hash(). */
static __attribute__((noinline)) void *
py_record_from(void *p, size_t n, uint64_t hash, uint32_t nframes)
{
    return hot_alone() ? py_record_young(p, n, hash, nframes, 0)
                       : py_record_young(p, n, hash, nframes, 1);
}

/* py_record_all() where the walk has no fast case (not 3.11): the
 * stack hashed by a call. */
static __attribute__((noinline)) void *
py_record_called(void *p, size_t n)
{
    uint64_t hash;
    uint32_t nframes;

    if (!py_record_may(p)) {
        return py_record_slow(p, n);
    }
    hash = pyframes_hash(ALLOC_SRC_PY, &nframes);
    return py_record_from(p, n, hash, nframes);
}

static inline __attribute__((always_inline)) void *
py_record_all_as(void *p, size_t n, int locked)
{
    const struct pyframes_fast *fast = &pyframes_fast;
    const char *ts, *f = NULL;
    uint64_t hash;
    uint32_t nframes;

    ts = __atomic_load_n(fast->slot, __ATOMIC_RELAXED);
    if (ALLOC_LIKELY(ts != NULL)) {
        memcpy(&f, ts + fast->top, sizeof(f));
        if (ALLOC_LIKELY(f != NULL)) {
            memcpy(&f, f + fast->cframe_current, sizeof(f));
        }
    }
    hash = pyframes_walk_owned(f, fast->back, fast->pos, fast->owner,
                               fast->skip, &nframes);
    return py_record_young(p, n, hash, nframes, locked);
}

/*
 * Record p, n bytes from a Python allocator, and return it.  The common
 * case -- tracking with --all, no pyspect attached, the lock free or
 * not needed (one thread), the stack in the cache, the block's young
 * slot free, no new peak -- makes no call, so that the function needs
 * no registers saved; any other case leaves for py_record_slow() or
 * py_record_hashed() before it has changed anything, as a tail call.
 */
static __attribute__((noinline)) void *
py_record_all(void *p, size_t n)
{
    if (ALLOC_UNLIKELY(pyframes_fast.slot == NULL)) {
        return py_record_called(p, n);
    }
    if (!py_record_may(p)) {
        return py_record_slow(p, n);
    }
    return hot_alone() ? py_record_all_as(p, n, 0) : py_record_all_as(p, n, 1);
}

void *
tracker_py_malloc(void *ctx, size_t n)
{
    const struct alloc_py_allocator *a = ctx;
    struct alloc_tls *t = &alloc_tls;
    void *p;

    if (ALLOC_LIKELY(n <= alloc_py_small_max)) {
        p = a->malloc(a->ctx, n);
    } else {
        t->busy++;
        p = a->malloc(a->ctx, n);
        t->busy--;
    }
    return py_record_all(p, n);
}

void *
tracker_py_calloc(void *ctx, size_t nelem, size_t elsize)
{
    const struct alloc_py_allocator *a = ctx;
    struct alloc_tls *t = &alloc_tls;
    void *p;

    t->busy++;
    p = a->calloc(a->ctx, nelem, elsize);
    t->busy--;
    return py_record_all(p, nelem * elsize);
}

void *
tracker_py_realloc(void *ctx, void *p, size_t n)
{
    const struct alloc_py_allocator *a = ctx;
    struct alloc_tls *t = &alloc_tls;
    void *q;

    if (p != NULL && t->busy == 0) {
        py_free_record(p);
    }
    t->busy++;
    q = a->realloc(a->ctx, p, n);
    t->busy--;
    return py_record_all(q, n);
}

/* tracker_py_free() but for its common case: the general path. */
static __attribute__((noinline)) void
py_free_slow(const struct alloc_py_allocator *a, void *p)
{
    if (p != NULL && alloc_tls.busy == 0) {
        free_record(p);
    }
    a->free(a->ctx, p);
}

/*
 * The common case -- tracking with --all, no pyspect attached, the
 * lock free or not needed, the block still in the young table -- is
 * handled here with no call but the free itself, a tail call, so that
 * the function needs no registers saved: every other case goes to
 * py_free_slow(), as a tail call too.
 */
static inline __attribute__((always_inline)) void
py_free_as(const struct alloc_py_allocator *a, void *p, int locked)
{
    if (ALLOC_LIKELY(p != NULL) && ALLOC_LIKELY(alloc_tls.busy == 0) &&
        ALLOC_LIKELY(py_free_young(p, locked))) {
        a->free(a->ctx, p);
        return;
    }
    py_free_slow(a, p);
}

void
tracker_py_free(void *ctx, void *p)
{
    if (hot_alone()) {
        py_free_as(ctx, p, 0);
    } else {
        py_free_as(ctx, p, 1);
    }
}

void
tracker_unmap(void *p, size_t n)
{
    struct alloc_tls *t = &alloc_tls;
    struct alloc_counters *c;
    uint64_t val;
    int held;

    t->busy++;
    held = hot_lock();
    if (ALLOC_LIKELY(g.tracking) && ALLOC_LIKELY(!ended()) &&
        live_take((uint64_t)(uintptr_t)p, &val, &c)) {
        size_t size = (size_t)(val >> STACK_INDEX_BITS);
        uint32_t index = (uint32_t)(val & STACK_INDEX_MAX);

        live_remove(p, val, g.all, c);
        /* Unmapping the head of a mapping leaves its tail live. */
        if (n < size) {
            n = (n + 4095) & ~(size_t)4095;
            if (n < size) {
                live_add((char *)p + n, size - n, index, 0, g.all, NULL);
            }
        }
    }
    hot_unlock(held);
    t->busy--;
}

/* ---- fork --------------------------------------------------------------- */

void
tracker_fork_prepare(void)
{
    alloc_tls.busy++;
    lock();
}

void
tracker_fork_parent(void)
{
    unlock();
    alloc_tls.busy--;
}

/*
 * The child has a copy of everything, the parent's file mapping included
 * (shared!).  It lets go of all of it, then starts afresh in a file of its
 * own when children are followed: its report is about what it allocates
 * itself.
 */
void
tracker_fork_child(void)
{
    int was = g.tracking;

    g.lock = 0;
    g.tracking = 0;
    running_sync();
    memset(alloc_filter, 0, sizeof(alloc_filter));
    if (g.base != NULL) {
        alloc_real_munmap(g.base, ALLOC_STORE_HEADER + ALLOC_LOG_MAX);
        g.base = NULL;
        g.hdr = NULL;
        g.mapped = 0;
    }
    if (g.fd >= 0) {
        close(g.fd);
        g.fd = -1;
    }
    map_release(&g.live);
    young_clear();
    map_release(&g.stacks);
    map_release(&g.frames);
    map_release(&g.strings);
    tracker_pages_free(g.stack_ids, g.stack_ids_cap * sizeof(uint32_t));
    g.stack_ids = NULL;
    g.stack_ids_cap = 0;
    g.nstacks = 0;
    g.gen = g.gen + 1 != 0 ? g.gen + 1 : 1;
    g.pid = (int)getpid();
    g.enabled = g.enabled && g.follow;
    alloc_tls.countdown = OFF_COUNTDOWN;
    if (was && g.enabled && !g.ended && start_locked() == 0) {
        alloc_tls.countdown = next_countdown(&alloc_tls);
    }
    alloc_tls.busy--;
}
