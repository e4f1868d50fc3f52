/*
 * mem.h - what `pyspect mem` learns about a process, and the verdict.
 *
 * Layer: cmd.  mem.c gathers the facts (smaps, glibc malloc, pymalloc,
 * the resident split, the census of large Python objects), mem_verdict.c
 * turns them into the one or two diagnoses that explain the numbers (a
 * pure function, unit-tested), mem_watch.c records the cheap parts over
 * time.
 */
#ifndef PYSPECT_CMD_MEM_H
#define PYSPECT_CMD_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/strbuf.h"
#include "target/smaps.h"

/* What holds resident memory. */
enum mem_region {
    MEM_C_HEAP,     /* malloc's heaps: [heap] and thread arena heaps */
    MEM_PYMALLOC,   /* pymalloc arenas */
    MEM_MMAP_LARGE, /* blocks malloc mmapped on their own */
    MEM_STACKS,     /* thread stacks */
    MEM_FILE,       /* file-backed: code, libraries, mapped files */
    MEM_OTHER,      /* other anonymous memory */
    MEM_REGIONS
};

extern const char *const mem_region_names[MEM_REGIONS];  /* JSON keys */
extern const char *const mem_region_labels[MEM_REGIONS]; /* for people */

/* The numbers the verdict looks at (bytes unless said). */
struct mem_facts {
    int pid;
    /* A core file: rss is then the mapped total (a core records no
     * residency), and no remedy acts on the process. */
    const char *core;
    const char *command; /* how the target was started, for examples */
    const char *libdir;  /* libc's directory, for LD_PRELOAD paths */
    const char *preload; /* an allocator preloaded instead of glibc's */
    uint64_t rss, pss, uss, swap;
    uint64_t regions[MEM_REGIONS];

    int malloc_known;
    uint64_t malloc_in_use, malloc_free, malloc_free_resident;
    int free_resident_known;
    uint64_t malloc_top, malloc_tops, malloc_mmapped;
    uint64_t malloc_thread_free; /* free in thread arenas */
    uint64_t malloc_arenas;
    uint64_t mmap_threshold, trim_threshold;
    int dynamic_threshold; /* glibc may still move the thresholds */

    int pymalloc_known;
    uint64_t pym_arenas_bytes, pym_used, pym_free;

    int census_known;      /* large malloc blocks were classified */
    uint64_t py_in_malloc; /* in-use malloc blocks that are objects */
    uint64_t py_in_mmap;   /* mmapped blocks that are objects */

    /* 2.7's int and float free-list blocks (malloc blocks in use). */
    int freelists_known;
    uint64_t fl_bytes;      /* the blocks */
    uint64_t fl_blocks;     /* how many */
    uint64_t fl_live;       /* bytes of the live ints and floats in them */
    uint64_t fl_live_n;     /* how many */
    uint64_t fl_free;       /* bytes of their free slots */
    uint64_t fl_free_slots; /* how many */
    uint64_t fl_empty;      /* bytes of the blocks without a live object */
};

enum mem_verdict_kind {
    MEM_V_RETENTION,
    MEM_V_PYTHON,
    MEM_V_PYMALLOC_FREE,
    MEM_V_NATIVE,
    MEM_V_FREELISTS,
    MEM_V_HEALTHY,
};

#define MEM_VERDICT_MAX 2
#define MEM_EVIDENCE_MAX 10
#define MEM_REMEDY_MAX 8

struct mem_evidence {
    const char *key;
    uint64_t value;
};

/* What to do: a sentence, and the exact command line when there is one
 * (empty otherwise). */
struct mem_remedy {
    struct strbuf what;
    struct strbuf command;
};

struct mem_verdict {
    enum mem_verdict_kind kind;
    uint64_t bytes; /* how much memory it explains (for ordering) */
    struct strbuf text;
    struct mem_evidence evidence[MEM_EVIDENCE_MAX];
    size_t nevidence;
    struct mem_remedy remedies[MEM_REMEDY_MAX];
    size_t nremedies;
};

/* "allocator-retention", "python-objects", ... */
const char *mem_verdict_kind_name(enum mem_verdict_kind kind);

/*
 * The diagnoses that explain the numbers, largest first, at most
 * MEM_VERDICT_MAX; "healthy" when nothing stands out.  Returns the
 * number written to out (at least 1).  Release each with
 * mem_verdict_release().
 */
size_t mem_verdicts(const struct mem_facts *f, struct mem_verdict *out);
void mem_verdict_release(struct mem_verdict *v);

/* Is x big enough to matter: at least 16 MiB and 20% of RSS. */
int mem_significant(const struct mem_facts *f, uint64_t x);

/* "212.4 MiB", "48.0 KiB", "0 B". */
void mem_format_bytes(struct strbuf *out, uint64_t bytes);

/* What the resident split is told (mem_regions.c). */
struct glibc_malloc;
struct pymalloc;
struct pagemap;
struct smaps;
struct memsrc;

struct mem_split {
    /* in */
    const struct smaps *sm;
    const struct glibc_malloc *gm; /* heaps, or NULL */
    const struct pymalloc *pym;    /* arenas, or NULL */
    const uint64_t *sps;           /* threads' stack pointers */
    size_t nsps;
    /* to read heap and block headers; NULL: no scan.  Blocks are looked
     * for only when gm is set too. */
    struct memsrc *proc;
    uint64_t scan_max; /* pages the mmapped-block scan may look at */
    /* sm's counts are mapped sizes (a core file): scan every page, with
     * no pagemap to say which are resident. */
    int mapped;
    /* out */
    uint64_t regions[MEM_REGIONS];
    int exact;         /* pagemap was read */
    uint64_t *mmapped; /* start, end pairs of blocks found */
    size_t nmmapped, mmapped_alloc;
    uint64_t scanned;
    int mmap_complete;
};

/*
 * Label heaps, arenas and stacks, find the blocks malloc mmapped on its
 * own among the other anonymous memory (when proc and gm are set), and split
 * the resident memory (pm may be NULL: estimated).  Release with
 * mem_split_release().
 */
int mem_split_run(struct mem_split *sp, struct pagemap *pm);
void mem_split_release(struct mem_split *sp);

/* The region of a mapping's unlabelled resident memory. */
int mem_default_region(const struct smaps_vma *v, void *ctx);

/* `pyspect mem --watch`. */
int cmd_mem_watch(int argc, char **argv);

#endif /* PYSPECT_CMD_MEM_H */
