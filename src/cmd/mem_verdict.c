/*
 * mem_verdict.c - from the numbers to the diagnosis and what to do.
 *
 * Layer: cmd.  A pure function of struct mem_facts, so the unit tests can
 * feed it every situation.  Each candidate diagnosis says how many bytes
 * it explains; the largest one or two that matter (mem_significant) are
 * kept, "healthy" when none does.  Remedies are exact command lines:
 * glibc's environment tunables, malloc_trim through gdb or ctypes, and
 * the Debian packages and paths of jemalloc and tcmalloc.
 */
#include "mem.h"

#include <stdio.h>
#include <string.h>

#include "core/banned.h"

const char *const mem_region_names[MEM_REGIONS] = {
    "c_heap", "pymalloc", "mmap_large", "stacks", "file", "other",
};

const char *const mem_region_labels[MEM_REGIONS] = {
    "C heap (malloc)", "pymalloc arenas",         "large mmapped blocks",
    "thread stacks",   "files (code, libraries)", "other anonymous",
};

#define MiB (1024.0 * 1024.0)
#define SIGNIFICANT_MIN (16ULL << 20)
#define SIGNIFICANT_SHARE 0.20

const char *
mem_verdict_kind_name(enum mem_verdict_kind kind)
{
    switch (kind) {
    case MEM_V_RETENTION:
        return "allocator-retention";
    case MEM_V_PYTHON:
        return "python-objects";
    case MEM_V_PYMALLOC_FREE:
        return "pymalloc-free";
    case MEM_V_NATIVE:
        return "native";
    case MEM_V_FREELISTS:
        return "int-free-lists";
    case MEM_V_HEALTHY:
        return "healthy";
    }
    return "unknown";
}

void
mem_format_bytes(struct strbuf *out, uint64_t b)
{
    if (b >= (1ULL << 30)) {
        strbuf_addf(out, "%.2f GiB", (double)b / (1024.0 * MiB));
    } else if (b >= (1ULL << 20)) {
        strbuf_addf(out, "%.1f MiB", (double)b / MiB);
    } else if (b >= 1024) {
        strbuf_addf(out, "%.1f KiB", (double)b / 1024.0);
    } else {
        strbuf_addf(out, "%llu B", (unsigned long long)b);
    }
}

int
mem_significant(const struct mem_facts *f, uint64_t x)
{
    return x >= SIGNIFICANT_MIN &&
           (double)x >= SIGNIFICANT_SHARE * (double)f->rss;
}

static double
pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void
verdict_init(struct mem_verdict *v, enum mem_verdict_kind kind, uint64_t bytes)
{
    size_t i;

    memset(v, 0, sizeof(*v));
    v->kind = kind;
    v->bytes = bytes;
    strbuf_init(&v->text);
    for (i = 0; i < MEM_REMEDY_MAX; i++) {
        strbuf_init(&v->remedies[i].what);
        strbuf_init(&v->remedies[i].command);
    }
}

void
mem_verdict_release(struct mem_verdict *v)
{
    size_t i;

    strbuf_release(&v->text);
    for (i = 0; i < MEM_REMEDY_MAX; i++) {
        strbuf_release(&v->remedies[i].what);
        strbuf_release(&v->remedies[i].command);
    }
}

static void
evidence(struct mem_verdict *v, const char *key, uint64_t value)
{
    if (v->nevidence < MEM_EVIDENCE_MAX) {
        v->evidence[v->nevidence].key = key;
        v->evidence[v->nevidence].value = value;
        v->nevidence++;
    }
}

/* A new remedy: fill its what, and its command when there is one. */
static struct mem_remedy *
remedy(struct mem_verdict *v)
{
    return v->nremedies < MEM_REMEDY_MAX ? &v->remedies[v->nremedies++]
                                         : &v->remedies[MEM_REMEDY_MAX - 1];
}

static void
add_mib(struct strbuf *sb, uint64_t b)
{
    mem_format_bytes(sb, b);
}

static const char *
command_of(const struct mem_facts *f)
{
    return f->command && f->command[0] ? f->command : "COMMAND";
}

/* Where Debian installs shared libraries for this machine: the libc
 * directory's multiarch name under /usr/lib. */
static void
preload_dir(const struct mem_facts *f, struct strbuf *out)
{
    const char *dir = f->libdir ? f->libdir : "";
    const char *base = strrchr(dir, '/');

    base = base ? base + 1 : dir;
    if (strstr(base, "-linux-") != NULL) {
        strbuf_addf(out, "/usr/lib/%s", base);
    } else {
        strbuf_addstr(out, "/usr/lib/x86_64-linux-gnu");
    }
}

/* What the shares are of: RSS, or in a core the mapped total. */
static const char *
basis(const struct mem_facts *f)
{
    return f->core ? "mapped memory" : "RSS";
}

/* The pyspect heap command that looks at the same target. */
static void
heap_command(const struct mem_facts *f, struct strbuf *out)
{
    if (f->core != NULL) {
        strbuf_addf(out, "pyspect heap --core %s", f->core);
    } else {
        strbuf_addf(out, "pyspect heap %d", f->pid);
    }
}

static void
retention(const struct mem_facts *f, struct mem_verdict *v)
{
    uint64_t held =
        f->free_resident_known ? f->malloc_free_resident : f->malloc_free;
    struct strbuf dir = STRBUF_INIT;
    struct mem_remedy *r;
    const char *cmd = command_of(f);

    verdict_init(v, MEM_V_RETENTION, held);
    strbuf_addstr(&v->text, "the C allocator (glibc malloc) is retaining ");
    add_mib(&v->text, f->malloc_free);
    strbuf_addstr(&v->text, " of freed memory");
    if (f->free_resident_known) {
        strbuf_addstr(&v->text, ", ");
        add_mib(&v->text, f->malloc_free_resident);
        strbuf_addf(&v->text, " of it resident (%.0f%% of %s)",
                    pct(f->malloc_free_resident, f->rss), basis(f));
    }
    strbuf_addstr(&v->text, ", against ");
    add_mib(&v->text, f->malloc_in_use);
    strbuf_addf(&v->text,
                " in use, in %llu arena%s.  The program freed these blocks "
                "but malloc keeps the pages: the live blocks left among "
                "them (fragmentation) stop it from giving them back, so "
                "RSS stays high after the load is gone",
                (unsigned long long)f->malloc_arenas,
                f->malloc_arenas == 1 ? "" : "s");
    evidence(v, "malloc_free", f->malloc_free);
    if (f->free_resident_known) {
        evidence(v, "malloc_free_resident", f->malloc_free_resident);
    }
    evidence(v, "malloc_in_use", f->malloc_in_use);
    evidence(v, "malloc_arenas", f->malloc_arenas);
    evidence(v, "thread_arenas_free", f->malloc_thread_free);
    evidence(v, "rss", f->rss);

    if (f->core == NULL) {
        r = remedy(v);
        strbuf_addstr(&r->what, "give it back now (runs malloc_trim inside "
                                "the process, through gdb)");
        strbuf_addf(&r->command,
                    "gdb -p %d -batch -ex 'call (int) malloc_trim(0)'",
                    f->pid);
    }
    r = remedy(v);
    strbuf_addstr(&r->what, f->core ? "give it back from the program, after "
                                      "each burst"
                                    : "or from the program, after each burst");
    strbuf_addstr(&r->command, "import ctypes; "
                               "ctypes.CDLL('libc.so.6').malloc_trim(0)");
    if (f->malloc_arenas > 2 && mem_significant(f, f->malloc_thread_free)) {
        r = remedy(v);
        strbuf_addstr(&r->what, "use fewer arenas: ");
        add_mib(&r->what, f->malloc_thread_free);
        strbuf_addf(&r->what, " is free in %llu thread arenas",
                    (unsigned long long)(f->malloc_arenas - 1));
        strbuf_addf(&r->command, "MALLOC_ARENA_MAX=2 %s", cmd);
    }
    if (f->dynamic_threshold && f->mmap_threshold > (128u << 10)) {
        r = remedy(v);
        strbuf_addstr(&r->what, "glibc raised its mmap threshold to ");
        add_mib(&r->what, f->mmap_threshold);
        strbuf_addstr(&r->what, " after a large free, so blocks up to that "
                                "size now stay in the heap; pin it");
        strbuf_addf(&r->command,
                    "MALLOC_MMAP_THRESHOLD_=131072 "
                    "MALLOC_TRIM_THRESHOLD_=131072 %s",
                    cmd);
    } else {
        r = remedy(v);
        strbuf_addstr(&r->what, "return the end of the heap sooner (helps "
                                "only memory at the top; fragmentation "
                                "needs malloc_trim or another allocator)");
        strbuf_addf(&r->command, "MALLOC_TRIM_THRESHOLD_=131072 %s", cmd);
    }
    preload_dir(f, &dir);
    r = remedy(v);
    strbuf_addstr(&r->what, "or use an allocator that returns memory: "
                            "jemalloc (apt install libjemalloc2)");
    strbuf_addf(&r->command, "LD_PRELOAD=%s/libjemalloc.so.2 %s", dir.buf,
                cmd);
    r = remedy(v);
    strbuf_addstr(&r->what, "or tcmalloc (apt install libtcmalloc-minimal4)");
    strbuf_addf(&r->command, "LD_PRELOAD=%s/libtcmalloc_minimal.so.4 %s",
                dir.buf, cmd);
    strbuf_release(&dir);
}

static void
python_objects(const struct mem_facts *f, uint64_t live, struct mem_verdict *v)
{
    struct mem_remedy *r;

    verdict_init(v, MEM_V_PYTHON, live);
    strbuf_addstr(&v->text, "live Python objects account for ");
    add_mib(&v->text, live);
    strbuf_addf(&v->text, " (%.0f%% of %s): ", pct(live, f->rss), basis(f));
    if (f->pymalloc_known) {
        add_mib(&v->text, f->pym_used);
        strbuf_addstr(&v->text, " in small objects (pymalloc)");
    } else {
        strbuf_addstr(&v->text,
                      "pymalloc is not in use (PYTHONMALLOC=malloc?)");
    }
    if (f->census_known) {
        strbuf_addstr(&v->text, " and ");
        add_mib(&v->text, f->py_in_malloc + f->py_in_mmap);
        strbuf_addstr(&v->text, " in objects in malloc's blocks");
    } else {
        strbuf_addstr(&v->text, "; large objects in malloc were not counted");
    }
    strbuf_addstr(&v->text, ".  This is data the program still holds: "
                            "a cache, a list that only grows, objects kept "
                            "alive by a reference cycle or a global");
    evidence(v, "pymalloc_used", f->pym_used);
    if (f->census_known) {
        evidence(v, "objects_in_malloc", f->py_in_malloc);
        evidence(v, "objects_in_mmap", f->py_in_mmap);
    }
    evidence(v, "rss", f->rss);
    r = remedy(v);
    strbuf_addstr(&r->what, "see which types they are and who holds them");
    heap_command(f, &r->command);
}

static void
pymalloc_free(const struct mem_facts *f, uint64_t held, struct mem_verdict *v)
{
    struct mem_remedy *r;

    verdict_init(v, MEM_V_PYMALLOC_FREE, held);
    strbuf_addstr(&v->text, "pymalloc arenas are mostly free: ");
    add_mib(&v->text, f->pym_free);
    strbuf_addstr(&v->text, " free of ");
    add_mib(&v->text, f->pym_arenas_bytes);
    strbuf_addstr(&v->text, " (");
    add_mib(&v->text, f->pym_used);
    strbuf_addstr(&v->text,
                  " in use).  Python freed the objects, but an arena goes "
                  "back to the system only when every object in it is gone, "
                  "and a few survivors are keeping these arenas");
    evidence(v, "pymalloc_free", f->pym_free);
    evidence(v, "pymalloc_arenas_bytes", f->pym_arenas_bytes);
    evidence(v, "pymalloc_used", f->pym_used);
    evidence(v, "pymalloc_resident", f->regions[MEM_PYMALLOC]);
    r = remedy(v);
    strbuf_addstr(&r->what, "the space is reused for new small objects, so "
                            "it stops growing; to give it back, recycle "
                            "workers (gunicorn --max-requests, celery "
                            "--max-tasks-per-child)");
    strbuf_addstr(&r->command, "gunicorn --max-requests 1000 "
                               "--max-requests-jitter 100 ...");
    r = remedy(v);
    strbuf_addstr(&r->what, "create long-lived objects before a burst of "
                            "short-lived ones, so they do not end up "
                            "scattered across the burst's arenas");
    r = remedy(v);
    strbuf_addstr(&r->what, "or let glibc manage small objects (then "
                            "malloc_trim can return them)");
    strbuf_addf(&r->command, "PYTHONMALLOC=malloc %s", command_of(f));
}

/* 2.7: freed ints and floats kept in their blocks. */
static void
freelists(const struct mem_facts *f, uint64_t held, struct mem_verdict *v)
{
    struct mem_remedy *r;

    verdict_init(v, MEM_V_FREELISTS, held);
    strbuf_addstr(&v->text, "Python 2.7 keeps ");
    add_mib(&v->text, held);
    strbuf_addf(&v->text,
                " (%.0f%% of RSS) of freed ints and floats in their free "
                "lists: %llu blocks of ",
                pct(held, f->rss), (unsigned long long)f->fl_blocks);
    add_mib(&v->text, f->fl_bytes);
    strbuf_addf(&v->text,
                " hold %llu live ints and floats and %llu free slots; ",
                (unsigned long long)f->fl_live_n,
                (unsigned long long)f->fl_free_slots);
    add_mib(&v->text, f->fl_empty);
    strbuf_addstr(&v->text,
                  " of them in blocks with no live object.  2.7 allocates "
                  "ints and floats in such blocks outside pymalloc and never "
                  "gives a block back while it holds one live object, nor "
                  "at all until a full collection");
    evidence(v, "freelist_blocks_bytes", f->fl_bytes);
    evidence(v, "freelist_free_bytes", held);
    evidence(v, "freelist_empty_bytes", f->fl_empty);
    evidence(v, "freelist_live_bytes", f->fl_live);
    evidence(v, "rss", f->rss);
    r = remedy(v);
    strbuf_addstr(&r->what,
                  "a full collection frees the blocks with no live int or "
                  "float (PyInt_ClearFreeList), run it from the program "
                  "after the burst, then malloc can reuse or trim them");
    strbuf_addstr(&r->command, "import gc; gc.collect()");
    r = remedy(v);
    strbuf_addstr(&r->what,
                  "make fewer ints at once: xrange() instead of range(), "
                  "numbers in array.array or numpy arrays instead of lists");
    r = remedy(v);
    strbuf_addstr(&r->what, "Python 3 keeps them in pymalloc, shared with "
                            "every other small object");
}

static void
native(const struct mem_facts *f, uint64_t in_malloc, uint64_t in_mmap,
       uint64_t other, struct mem_verdict *v)
{
    struct mem_remedy *r;

    verdict_init(v, MEM_V_NATIVE, in_malloc + in_mmap + other);
    strbuf_addstr(&v->text, "native allocations not explained by Python "
                            "objects: ");
    add_mib(&v->text, in_malloc + in_mmap + other);
    strbuf_addf(&v->text,
                " (%.0f%% of %s): ", pct(in_malloc + in_mmap + other, f->rss),
                basis(f));
    add_mib(&v->text, in_malloc);
    strbuf_addstr(&v->text, " of malloc blocks in use, ");
    add_mib(&v->text, in_mmap);
    strbuf_addstr(&v->text, " of large mmapped blocks and ");
    add_mib(&v->text, other);
    strbuf_addstr(&v->text,
                  " of other anonymous memory that are not Python objects: "
                  "allocations by a C extension or library, or buffers "
                  "that objects point to (numpy arrays, list and dict "
                  "storage)");
    if (f->preload) {
        strbuf_addf(&v->text,
                    "; %s is preloaded, and pyspect reads only "
                    "glibc's allocator",
                    f->preload);
    }
    evidence(v, "malloc_in_use_not_objects", in_malloc);
    evidence(v, "mmapped_not_objects", in_mmap);
    evidence(v, "other_anonymous", other);
    evidence(v, "rss", f->rss);
    r = remedy(v);
    strbuf_addstr(&r->what, "find which extension allocates it (memray, "
                            "or heaptrack)");
    strbuf_addf(&r->command, "memray run --native %s", command_of(f));
    r = remedy(v);
    strbuf_addstr(&r->what, "if it grows without bound, look for caches in "
                            "extensions (numpy, pandas, pyarrow, torch) and "
                            "for objects of extension types kept alive");
    heap_command(f, &r->command);
}

static void
healthy(const struct mem_facts *f, struct mem_verdict *v)
{
    verdict_init(v, MEM_V_HEALTHY, 0);
    strbuf_addstr(&v->text, "nothing stands out: ");
    add_mib(&v->text, f->rss);
    strbuf_addstr(&v->text, f->core ? " mapped, " : " resident, ");
    add_mib(&v->text, f->regions[MEM_FILE]);
    strbuf_addstr(&v->text, " of it code and mapped files");
    if (f->malloc_known) {
        strbuf_addstr(&v->text, ", ");
        add_mib(&v->text, f->malloc_in_use);
        strbuf_addstr(&v->text, " in use and ");
        add_mib(&v->text, f->malloc_free);
        strbuf_addstr(&v->text, " free in malloc");
    }
    if (f->pymalloc_known) {
        strbuf_addstr(&v->text, ", ");
        add_mib(&v->text, f->pym_used);
        strbuf_addstr(&v->text, " in Python's small objects");
    }
    evidence(v, "rss", f->rss);
    evidence(v, "file", f->regions[MEM_FILE]);
}

size_t
mem_verdicts(const struct mem_facts *f, struct mem_verdict *out)
{
    struct mem_verdict cand[5];
    size_t n = 0, i, j, kept = 0;

    if (f->malloc_known) {
        uint64_t held =
            f->free_resident_known ? f->malloc_free_resident : f->malloc_free;

        if (mem_significant(f, held)) {
            retention(f, &cand[n++]);
        }
    }
    if (f->pymalloc_known || f->census_known) {
        /* Without pymalloc (PYTHONMALLOC=malloc) every object is in
         * malloc, where the census finds it. */
        uint64_t live = (f->pymalloc_known ? f->pym_used : 0) +
                        f->py_in_malloc + f->py_in_mmap + f->fl_live;

        if (mem_significant(f, live)) {
            python_objects(f, live, &cand[n++]);
        }
    }
    if (f->pymalloc_known) {
        /* The resident part of the free space: arenas are resident in
         * proportion to what the split found. */
        uint64_t held = f->pym_free;

        if (f->pym_arenas_bytes > 0 &&
            f->regions[MEM_PYMALLOC] < f->pym_arenas_bytes) {
            held = (uint64_t)((double)f->pym_free *
                              (double)f->regions[MEM_PYMALLOC] /
                              (double)f->pym_arenas_bytes);
        }
        if (mem_significant(f, held)) {
            pymalloc_free(f, held, &cand[n++]);
        }
    }
    if (f->freelists_known && mem_significant(f, f->fl_free)) {
        freelists(f, f->fl_free, &cand[n++]);
    }
    {
        uint64_t in_malloc = 0, in_mmap = 0, other = f->regions[MEM_OTHER];

        if (f->malloc_known) {
            /* The free lists' blocks are Python's too. */
            uint64_t py = (f->census_known ? f->py_in_malloc : 0) +
                          (f->freelists_known ? f->fl_bytes : 0);

            in_malloc = f->malloc_in_use > py ? f->malloc_in_use - py : 0;
        } else {
            in_malloc = f->regions[MEM_C_HEAP];
        }
        in_mmap = f->regions[MEM_MMAP_LARGE] > f->py_in_mmap
                      ? f->regions[MEM_MMAP_LARGE] - f->py_in_mmap
                      : 0;
        /* Without a census the large objects cannot be told from native
         * blocks: only call it native when the evidence is clear. */
        if ((f->census_known || !f->malloc_known) &&
            mem_significant(f, in_malloc + in_mmap + other)) {
            native(f, in_malloc, in_mmap, other, &cand[n++]);
        } else if (!f->census_known && mem_significant(f, other)) {
            native(f, 0, 0, other, &cand[n++]);
        }
    }
    /* Largest first, at most MEM_VERDICT_MAX. */
    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (cand[j].bytes > cand[i].bytes) {
                struct mem_verdict t = cand[i];

                cand[i] = cand[j];
                cand[j] = t;
            }
        }
    }
    for (i = 0; i < n; i++) {
        if (kept < MEM_VERDICT_MAX) {
            out[kept++] = cand[i];
        } else {
            mem_verdict_release(&cand[i]);
        }
    }
    if (kept == 0) {
        healthy(f, &out[kept++]);
    }
    return kept;
}
