/*
 * mem.c - `pyspect mem`: where a process's memory is, and why RSS stays
 * high after the load is gone.
 *
 * Layer: cmd.  Gathers, in this order: glibc malloc's and pymalloc's
 * state located (symbols, debug files or search; target running); one
 * short pause (ptrace seize/interrupt) for a consistent picture of
 * malloc's free lists, pymalloc's arenas and the threads' stack pointers;
 * then, running again, smaps and smaps_rollup, the resident split by what
 * holds each page (pagemap), the blocks malloc mmapped on their own, and
 * a census of the large blocks that are Python objects (a walk of every
 * malloc chunk in large reads).  mem_verdict.c turns the numbers into a
 * diagnosis; this file prints text or JSON.  `--watch` is mem_watch.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/mem.h"
#include "core/error.h"
#include "core/escape.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "python/blocks.h"
#include "python/freelists.h"
#include "python/pymalloc.h"
#include "python/runtime.h"
#include "target/glibc_heap.h"
#include "target/pagemap.h"
#include "target/resident.h"
#include "target/smaps.h"
#include "core/banned.h"

static const char mem_usage[] =
    "usage: pyspect mem [options] PID\n"
    "       pyspect mem [options] --core FILE\n"
    "       pyspect mem --watch [options] (-p PID | -- COMMAND ARGS...)\n"
    "\n"
    "Where a process's memory is, and why RSS stays high after the load is\n"
    "gone: RSS, PSS, USS and swap; resident memory split by what holds it\n"
    "(C heap, pymalloc arenas, large mmapped blocks, thread stacks, files,\n"
    "other); glibc malloc's memory in use and free-but-retained; pymalloc's\n"
    "arenas; the large blocks that are Python objects; and a verdict with\n"
    "what to do.  The target is paused (ptrace seize/interrupt, never\n"
    "SIGSTOP) while malloc's and pymalloc's lists are read; the pause is\n"
    "reported.  Nothing runs inside the target.\n"
    "\n"
    "options:\n"
    "  -p, --pid PID       the process (or give PID as an "
    "argument)\n" CMD_CORE_USAGE
    "      --json          print one JSON document instead of text\n"
    "      --no-census     skip the census of large Python objects in\n"
    "                      malloc (a walk of every chunk, done while the\n"
    "                      target runs); faster on huge heaps\n"
    "      --max-pause MS  stop walking malloc's free lists after this long\n"
    "                      so the target is never held longer (default\n"
    "                      1000); the free figures are then marked partial\n"
    "      --locate=HOW    how to find glibc's main_arena and pymalloc's\n"
    "                      state in stripped binaries: auto (symbols, then\n"
    "                      debug files, then a validated search; default)\n"
    "                      or search (search only)\n"
    "  -v, --verbose       report reads and timings on stderr\n"
    "  -h, --help          show this help\n"
    "\n"
    "over time (pyspect mem --watch --help for more):\n"
    "      --watch         record RSS and its split until the target exits,\n"
    "                      --duration, or Ctrl-C\n"
    "      --interval SEC  seconds between samples (default 0.1)\n"
    "      --duration SEC  stop after this long\n"
    "  -o, --output FILE   write the series: FILE.svg (a plot) or FILE.csv\n"
    "                      (repeatable)\n"
    "  -- COMMAND ARGS...  start COMMAND and record it; exit with its status\n"
    "\n"
    "Debug symbols are read from $PYSPECT_DEBUG_FILE_DIRECTORY (default\n"
    "/usr/lib/debug) when installed (Debian: libc6-dbg); never required.\n"
    "\n"
    "exit status: 0 success, 2 usage, 3 no such process, 4 permission\n"
    "denied, 5 not a Python process, 6 unsupported Python, 7 interpreter\n"
    "not ready, 8 target exited, 9 zombie, 10 target kept changing, 13\n"
    "traced by another process, 14 a thread would not stop, 15 not a core\n"
    "file, 16 truncated core, 17 core of another machine.\n";

struct mem_options {
    struct cmd_target target;
    int help;
    int json;
    int verbose;
    int census;
    int search;
    long max_pause_ms;
};

/* Largest number of resident pages the mmapped-block scan looks at. */
#define MEM_MMAP_SCAN_MAX (4ULL << 20)
/* Block size of the chunk walk. */
#define MEM_CHUNK_BLOCK (1u << 20)
/* Types listed in the census. */
#define MEM_CENSUS_TYPES 10

struct mem_report {
    struct target *target;
    struct py_runtime *rt;
    struct mem_options *opt;
    double paused_ms;
    int paused;
    struct smaps_counts tot;
    struct smaps sm;
    struct mem_split split;

    struct glibc_malloc gm;
    int gm_located, gm_walked;
    struct strbuf gm_problem;

    struct pymalloc pym;
    int pym_rc;

    int census_done;
    struct strbuf census_problem;
    struct py_blocks census;
    struct py_freelists freelists; /* 2.7 */
    uint64_t py_in_malloc, py_in_malloc_n, py_in_mmap, py_in_mmap_n;
    struct glibc_chunk_stats cst;

    uint64_t *sps;
    size_t nsps;
    const char *preload;
    struct strbuf libdir;
    struct strbuf cmdline;
    uint64_t start_ns;
    double total_ms, walk_ms, census_ms, regions_ms;
    uint64_t reads_before;
};

/* ---- gathering -------------------------------------------------------- */

static const char *
preloaded_allocator(const struct maps *maps)
{
    static const char *const names[] = {"libjemalloc", "libtcmalloc",
                                        "libmimalloc", "libhoard"};
    size_t i, k;

    for (i = 0; i < maps->n; i++) {
        const char *base = strrchr(maps->v[i].path, '/');

        base = base ? base + 1 : maps->v[i].path;
        for (k = 0; k < ARRAY_SIZE(names); k++) {
            if (strncmp(base, names[k], strlen(names[k])) == 0) {
                return names[k] + 3;
            }
        }
    }
    return NULL;
}

static void
census_chunk(void *ctx, raddr_t chunk, uint64_t size, int in_use,
             const unsigned char *data, size_t len)
{
    struct mem_report *r = ctx;

    if (in_use &&
        py_blocks_block(&r->census, chunk + 16, size, data, len) == 1) {
        r->py_in_malloc += size;
        r->py_in_malloc_n++;
    } else if (in_use) {
        py_freelists_consider(&r->freelists, chunk + 16, size, data, len);
    }
}

/* Which large blocks hold Python objects: every in-use malloc chunk and
 * every mmapped block, by the first bytes of its data. */
static int
take_census(struct mem_report *r)
{
    uint64_t t0 = clock_now_ns();
    raddr_t *addrs;
    unsigned char *hdr, *ok;
    size_t i;
    int rc;

    if (py_blocks_init(&r->census, r->rt) < 0) {
        strbuf_addf(&r->census_problem, "%s", err_context());
        return 0;
    }
    py_freelists_init(&r->freelists, r->rt);
    rc = glibc_chunk_walk(&r->gm, r->rt->proc, MEM_CHUNK_BLOCK, census_chunk,
                          r, &r->cst);
    if (rc == 0) {
        rc = py_freelists_finish(&r->freelists, r->rt->proc);
    }
    if (rc < 0) {
        return rc;
    }
    if (r->split.nmmapped > 0) {
        size_t n = r->split.nmmapped;

        addrs = xmalloc(n * sizeof(*addrs));
        hdr = xmalloc(n * 80);
        ok = xmalloc(n);
        for (i = 0; i < n; i++) {
            addrs[i] = r->split.mmapped[2 * i];
        }
        rc = memsrc_read_many(r->rt->proc, addrs, n, 80, hdr, ok);
        for (i = 0; rc == 0 && i < n; i++) {
            uint64_t size = r->split.mmapped[2 * i + 1] - addrs[i];

            if (ok[i] && py_blocks_block(&r->census, addrs[i] + 16, size,
                                         hdr + 80 * i + 16, 64) == 1) {
                r->py_in_mmap += size;
                r->py_in_mmap_n++;
            }
        }
        free(addrs);
        free(hdr);
        free(ok);
        if (rc < 0) {
            return rc;
        }
    }
    r->census_done = 1;
    if (!r->cst.complete) {
        strbuf_addstr(&r->census_problem, r->cst.problem);
    }
    r->census_ms = (double)(clock_now_ns() - t0) / 1e6;
    return 0;
}

static void
libc_dir(const struct glibc_malloc *gm, struct strbuf *out)
{
    const char *slash;

    if (gm->libc_path == NULL) {
        return;
    }
    slash = strrchr(gm->libc_path, '/');
    if (slash != NULL) {
        strbuf_add(out, gm->libc_path, (size_t)(slash - gm->libc_path));
    }
}

static int
mem_gather(struct mem_report *r)
{
    struct py_runtime *rt = r->rt;
    struct memsrc *heapcache;
    struct target *t = rt->target;
    struct pagemap pmap;
    int *tids = NULL;
    size_t ntids = 0, i;
    int have_pm = 0, rc, live = t->kind == TARGET_LIVE;
    uint64_t t0;

    r->preload = preloaded_allocator(&rt->maps);
    target_cmdline(t, &r->cmdline);
    rc = glibc_malloc_locate(t, rt->proc, &rt->maps, r->opt->search, &r->gm);
    if (rc < 0) {
        strbuf_addf(&r->gm_problem, "%s",
                    err_context()[0] ? err_context() : err_message(rc));
        err_clear();
    } else {
        r->gm_located = 1;
        libc_dir(&r->gm, &r->libdir);
    }
    rc = pymalloc_locate(
        rt, r->opt->search ? PYMALLOC_ROUTE_SEARCH : PYMALLOC_ROUTE_AUTO,
        &r->pym);
    if (rc < 0) {
        return rc;
    }
    /* A core's pid may name another process on this machine by now: only
     * a live target's /proc files are its own. */
    have_pm = live && pagemap_open(t->pid, &pmap) == 0;
    err_clear();

    /* The free-list walk reads the process directly: it chooses between
     * single reads and windows itself (glibc_heap.c, lread). */
    heapcache = rt->proc;
    rc = target_pause(t);
    if (rc < 0) {
        if (have_pm) {
            pagemap_close(&pmap);
        }
        return rc;
    }
    t0 = clock_now_ns();
    if (r->gm_located) {
        /* A bound on the pause: a core has none to bound. */
        if (live) {
            r->gm.deadline_ns = t0 + (uint64_t)r->opt->max_pause_ms * 1000000u;
        }
        rc = glibc_malloc_walk(&r->gm, heapcache, &rt->maps);
        if (rc == 0) {
            r->gm_walked = 1;
        }
        if (rc < 0 && rc != PS_EEXITED) {
            strbuf_addf(&r->gm_problem, "%s", err_context());
            err_clear();
            rc = 0;
        }
    }
    if (rc == 0) {
        rc = pymalloc_walk(rt, &r->pym);
    }
    if (rc == 0 && target_threads(t, &tids, &ntids) < 0) {
        ntids = 0;
    }
    r->sps = xcalloc(ntids + 1, sizeof(*r->sps));
    for (i = 0; rc == 0 && i < ntids; i++) {
        struct target_regs regs;

        if (tids[i] != t->pid && target_thread_regs(t, tids[i], &regs) == 0 &&
            regs.sp != 0) {
            r->sps[r->nsps++] = regs.sp;
        }
    }
    free(tids);
    err_clear();
    r->walk_ms = (double)(clock_now_ns() - t0) / 1e6;
    target_resume(t);
    r->paused = live;
    r->paused_ms = target_pause_ms(t);
    if (rc < 0) {
        goto out;
    }

    /* Running again: how much of each thing is resident.  The free
     * chunks' pages are looked up in pagemap first, a few milliseconds
     * after the walk found them (kept out of the pause: on a 1 GiB heap
     * it is a quarter of it). */
    t0 = clock_now_ns();
    if (r->gm_walked && have_pm) {
        rc = glibc_malloc_free_resident(&r->gm, &pmap);
    }
    if (rc == 0 && live) {
        rc = smaps_read(t->pid, &r->sm);
    } else if (rc == 0) {
        /* No residency in a core: split the mapped sizes. */
        smaps_from_maps(&rt->maps, &r->sm);
    }
    if (rc == 0 && live) {
        rc = smaps_rollup_read(t->pid, &r->tot);
    }
    if (rc == 0) {
        r->split.sm = &r->sm;
        r->split.gm = r->gm_walked ? &r->gm : NULL;
        r->split.pym = r->pym.found ? &r->pym : NULL;
        r->split.sps = r->sps;
        r->split.nsps = r->nsps;
        r->split.proc = r->gm_located ? rt->proc : NULL;
        r->split.mapped = !live;
        r->split.scan_max = MEM_MMAP_SCAN_MAX;
        rc = mem_split_run(&r->split, have_pm ? &pmap : NULL);
    }
    r->regions_ms = (double)(clock_now_ns() - t0) / 1e6;
    if (rc == 0 && r->opt->census && r->gm_walked) {
        rc = take_census(r);
    }
out:
    if (have_pm) {
        pagemap_close(&pmap);
    }
    return rc;
}

static void
mem_facts_fill(const struct mem_report *r, struct mem_facts *f)
{
    size_t i;

    memset(f, 0, sizeof(*f));
    f->pid = r->rt->target->pid;
    f->core = r->rt->target->file;
    f->command = r->cmdline.len ? r->cmdline.buf : NULL;
    f->libdir = r->libdir.len ? r->libdir.buf : NULL;
    f->preload = r->preload;
    f->rss = r->tot.rss;
    if (f->core != NULL) {
        for (i = 0; i < MEM_REGIONS; i++) {
            f->rss += r->split.regions[i];
        }
    }
    f->pss = r->tot.pss;
    f->uss = smaps_uss(&r->tot);
    f->swap = r->tot.swap;
    memcpy(f->regions, r->split.regions, sizeof(f->regions));
    if (r->gm_walked) {
        f->malloc_known = 1;
        f->malloc_in_use = r->gm.in_use;
        f->malloc_free = r->gm.free;
        f->malloc_free_resident = r->gm.free_resident;
        f->free_resident_known = r->split.exact;
        f->malloc_top = r->gm.top;
        f->malloc_tops = r->gm.tops;
        f->malloc_mmapped = r->gm.mmapped_mem;
        f->malloc_arenas = r->gm.narenas;
        f->mmap_threshold = r->gm.mmap_threshold;
        f->trim_threshold = r->gm.trim_threshold;
        f->dynamic_threshold = !r->gm.no_dyn_threshold;
        for (i = 0; i < r->gm.narenas; i++) {
            if (!r->gm.arenas[i].is_main) {
                f->malloc_thread_free += r->gm.arenas[i].free;
            }
        }
    }
    if (r->pym.found) {
        f->pymalloc_known = 1;
        f->pym_arenas_bytes = r->pym.arenas_bytes;
        f->pym_used = r->pym.used_bytes;
        f->pym_free = r->pym.free_bytes;
    }
    if (r->census_done) {
        f->census_known = 1;
        f->py_in_malloc = r->py_in_malloc;
        f->py_in_mmap = r->py_in_mmap;
    }
    if (r->census_done && r->freelists.enabled) {
        const struct py_freelists *fl = &r->freelists;

        f->freelists_known = 1;
        f->fl_bytes = fl->bytes;
        f->fl_blocks = fl->blocks;
        f->fl_live = fl->int_bytes + fl->float_bytes;
        f->fl_live_n = fl->ints + fl->floats;
        f->fl_free = fl->free_bytes;
        f->fl_free_slots = fl->free_slots;
        f->fl_empty = fl->empty_bytes;
    }
}

/* ---- printing ----------------------------------------------------------- */

static void
json_null_or_str(struct json *j, const char *key, const char *s)
{
    if (s != NULL && s[0] != '\0') {
        json_kv_string(j, key, s);
    } else {
        json_kv_null(j, key);
    }
}

static void
mem_json(const struct mem_report *r, const struct mem_verdict *v, size_t nv,
         struct strbuf *out)
{
    const struct glibc_malloc *gm = &r->gm;
    const struct pymalloc *pm = &r->pym;
    const char *core = r->rt->target->file;
    struct json j;
    size_t i, k;

    json_init(&j, out, 1);
    json_object_begin(&j);
    json_kv_int(&j, "pid", r->rt->target->pid);
    if (core != NULL) {
        json_kv_string(&j, "core", core);
        json_kv_bool(&j, "core_partial", r->rt->target->partial != NULL);
        json_kv_null(&j, "paused_ms");
    } else {
        json_kv_double(&j, "paused_ms", r->paused_ms);
    }
    json_key(&j, "python");
    json_object_begin(&j);
    json_kv_string(&j, "version", r->rt->version.text);
    json_kv_string(&j, "executable", r->rt->executable);
    json_kv_string(&j, "library", r->rt->library);
    json_object_end(&j);
    if (core != NULL) {
        /* A core records no residency. */
        json_kv_null(&j, "rss");
        json_kv_null(&j, "pss");
        json_kv_null(&j, "uss");
        json_kv_null(&j, "swap");
    } else {
        json_kv_uint(&j, "rss", r->tot.rss);
        json_kv_uint(&j, "pss", r->tot.pss);
        json_kv_uint(&j, "uss", smaps_uss(&r->tot));
        json_kv_uint(&j, "swap", r->tot.swap);
    }

    json_key(&j, "regions");
    json_object_begin(&j);
    for (i = 0; i < MEM_REGIONS; i++) {
        json_kv_uint(&j, mem_region_names[i], r->split.regions[i]);
    }
    json_kv_bool(&j, "exact", r->split.exact);
    if (core != NULL) {
        json_kv_string(&j, "basis", "mapped");
    }
    json_object_end(&j);

    json_key(&j, "pymalloc");
    json_object_begin(&j);
    if (pm->found) {
        json_kv_uint(&j, "arenas_bytes", pm->arenas_bytes);
        json_kv_uint(&j, "used_bytes", pm->used_bytes);
        json_kv_uint(&j, "free_bytes", pm->free_bytes);
        json_kv_uint(&j, "overhead_bytes", pm->overhead_bytes);
        json_kv_uint(&j, "free_in_pools_bytes", pm->free_block_bytes);
        json_kv_uint(&j, "free_pools_bytes", pm->free_pool_bytes);
        json_kv_uint(&j, "arenas", pm->narenas);
        json_kv_uint(&j, "arena_size", pm->arena_size);
        json_kv_uint(&j, "pool_size", pm->pool_size);
        json_kv_uint(&j, "pools_used", pm->pools_used);
        json_kv_uint(&j, "pools_free", pm->pools_free);
        json_kv_uint(&j, "blocks_used", pm->blocks_used);
        json_kv_string(&j, "located_by", pm->located_by);
    } else {
        json_kv_null(&j, "arenas_bytes");
        json_kv_null(&j, "used_bytes");
        json_kv_null(&j, "free_bytes");
        json_kv_null(&j, "arenas");
        json_kv_null(&j, "located_by");
    }
    json_kv_bool(&j, "complete", pm->found && pm->complete);
    json_null_or_str(&j, "problem", pm->problem);
    json_object_end(&j);

    json_key(&j, "malloc");
    json_object_begin(&j);
    json_kv_string(&j, "allocator", "glibc");
    json_null_or_str(&j, "glibc", r->gm_located ? gm->version : NULL);
    json_null_or_str(&j, "preloaded", r->preload);
    if (r->gm_walked) {
        json_kv_uint(&j, "in_use", gm->in_use);
        json_kv_uint(&j, "free", gm->free);
        json_kv_uint(&j, "top", gm->top);
        json_kv_uint(&j, "arenas", gm->narenas);
        json_kv_uint(&j, "mmapped", gm->mmapped_mem);
        json_kv_int(&j, "mmapped_blocks", gm->n_mmaps);
        json_kv_uint(&j, "system", gm->system_mem);
        json_kv_uint(&j, "fastbin_free", gm->fastbin_free);
        json_kv_uint(&j, "tops", gm->tops);
        json_kv_uint(&j, "free_chunks", gm->free_chunks);
        if (r->split.exact) {
            json_kv_uint(&j, "free_resident", gm->free_resident);
        } else {
            json_kv_null(&j, "free_resident");
        }
        json_kv_uint(&j, "trim_threshold", gm->trim_threshold);
        json_kv_uint(&j, "mmap_threshold", gm->mmap_threshold);
        json_kv_bool(&j, "dynamic_thresholds", !gm->no_dyn_threshold);
        json_kv_uint(&j, "arena_max", gm->arena_max);
        json_kv_string(&j, "located_by", gm->located_by);
        json_key(&j, "per_arena");
        json_array_begin(&j);
        for (i = 0; i < gm->narenas; i++) {
            const struct glibc_arena *a = &gm->arenas[i];

            json_object_begin(&j);
            json_kv_uint(&j, "address", a->addr);
            json_kv_bool(&j, "main", a->is_main);
            json_kv_uint(&j, "system", a->system_mem);
            json_kv_uint(&j, "in_use",
                         a->system_mem > a->free ? a->system_mem - a->free
                                                 : 0);
            json_kv_uint(&j, "free", a->free);
            json_kv_uint(&j, "top", a->top);
            json_kv_uint(&j, "free_chunks", a->free_chunks);
            json_kv_uint(&j, "heaps", a->nheaps);
            json_kv_uint(&j, "threads", a->attached_threads);
            json_kv_bool(&j, "complete", a->complete);
            json_object_end(&j);
        }
        json_array_end(&j);
    } else {
        json_kv_null(&j, "in_use");
        json_kv_null(&j, "free");
        json_kv_null(&j, "top");
        json_kv_null(&j, "arenas");
        json_kv_null(&j, "mmapped");
        json_kv_null(&j, "located_by");
    }
    json_kv_bool(&j, "complete", r->gm_walked && gm->complete);
    json_null_or_str(&j, "problem",
                     r->gm_problem.len ? r->gm_problem.buf : gm->problem);
    json_key(&j, "mmapped_found");
    json_object_begin(&j);
    json_kv_uint(&j, "blocks", r->split.nmmapped);
    {
        uint64_t b = 0;

        for (i = 0; i < r->split.nmmapped; i++) {
            b += r->split.mmapped[2 * i + 1] - r->split.mmapped[2 * i];
        }
        json_kv_uint(&j, "bytes", b);
    }
    json_kv_bool(&j, "complete", r->split.mmap_complete);
    json_object_end(&j);
    json_object_end(&j);

    json_key(&j, "objects_in_malloc");
    if (r->census_done) {
        struct py_blocks_type **types;
        size_t ntypes;

        json_object_begin(&j);
        json_kv_uint(&j, "bytes", r->py_in_malloc);
        json_kv_uint(&j, "blocks", r->py_in_malloc_n);
        json_kv_uint(&j, "mmapped_bytes", r->py_in_mmap);
        json_kv_uint(&j, "mmapped_blocks", r->py_in_mmap_n);
        json_kv_uint(&j, "chunks_in_use", r->cst.chunks_in_use);
        json_kv_uint(&j, "chunk_bytes_in_use", r->cst.bytes_in_use);
        json_kv_uint(&j, "chunks_free", r->cst.chunks_free);
        json_kv_uint(&j, "chunk_bytes_free", r->cst.bytes_free);
        json_kv_uint(&j, "bytes_read", r->cst.bytes_read);
        json_kv_bool(&j, "complete", r->cst.complete);
        json_null_or_str(&j, "problem", r->census_problem.buf);
        py_blocks_types(&r->census, &types, &ntypes);
        json_key(&j, "types");
        json_array_begin(&j);
        for (k = 0; k < ntypes && k < MEM_CENSUS_TYPES; k++) {
            json_object_begin(&j);
            json_kv_string(&j, "type", types[k]->name);
            json_kv_uint(&j, "count", types[k]->count);
            json_kv_uint(&j, "bytes", types[k]->bytes);
            json_object_end(&j);
        }
        json_array_end(&j);
        free(types);
        json_object_end(&j);
    } else {
        json_null(&j);
    }

    /* 2.7's int and float free-list blocks (null on Python 3). */
    json_key(&j, "freelists");
    if (r->census_done && r->freelists.enabled) {
        const struct py_freelists *fl = &r->freelists;

        json_object_begin(&j);
        json_kv_uint(&j, "blocks", fl->blocks);
        json_kv_uint(&j, "bytes", fl->bytes);
        json_kv_uint(&j, "ints", fl->ints);
        json_kv_uint(&j, "int_bytes", fl->int_bytes);
        json_kv_uint(&j, "floats", fl->floats);
        json_kv_uint(&j, "float_bytes", fl->float_bytes);
        json_kv_uint(&j, "free_slots", fl->free_slots);
        json_kv_uint(&j, "free_bytes", fl->free_bytes);
        json_kv_uint(&j, "empty_blocks", fl->empty_blocks);
        json_kv_uint(&j, "empty_bytes", fl->empty_bytes);
        json_object_end(&j);
    } else {
        json_null(&j);
    }

    json_key(&j, "verdict");
    json_array_begin(&j);
    for (i = 0; i < nv; i++) {
        json_object_begin(&j);
        json_kv_string(&j, "kind", mem_verdict_kind_name(v[i].kind));
        json_kv_string(&j, "text", v[i].text.buf);
        json_key(&j, "evidence");
        json_object_begin(&j);
        for (k = 0; k < v[i].nevidence; k++) {
            json_kv_uint(&j, v[i].evidence[k].key, v[i].evidence[k].value);
        }
        json_object_end(&j);
        json_key(&j, "remedies");
        json_array_begin(&j);
        for (k = 0; k < v[i].nremedies; k++) {
            json_object_begin(&j);
            json_kv_string(&j, "what", v[i].remedies[k].what.buf);
            json_null_or_str(&j, "command", v[i].remedies[k].command.buf);
            json_object_end(&j);
        }
        json_array_end(&j);
        json_object_end(&j);
    }
    json_array_end(&j);

    json_key(&j, "timing");
    json_object_begin(&j);
    json_kv_double(&j, "total_ms", r->total_ms);
    json_kv_double(&j, "walk_ms", r->walk_ms);
    json_kv_double(&j, "regions_ms", r->regions_ms);
    json_kv_double(&j, "census_ms", r->census_ms);
    json_object_end(&j);
    json_object_end(&j);
    strbuf_addch(out, '\n');
}

/* "  label ....... 12.3 MiB  45.6%" */
static void
text_row(struct strbuf *out, const char *label, uint64_t bytes, uint64_t whole,
         const char *note)
{
    struct strbuf b = STRBUF_INIT;

    mem_format_bytes(&b, bytes);
    strbuf_addf(out, "  %-26s %11s", label, b.buf);
    if (whole > 0) {
        strbuf_addf(out, "  %5.1f%%", 100.0 * (double)bytes / (double)whole);
    }
    if (note != NULL && note[0] != '\0') {
        strbuf_addf(out, "  %s", note);
    }
    strbuf_addch(out, '\n');
    strbuf_release(&b);
}

/* Fold a long line at spaces to width, with an indent. */
static void
text_wrap(struct strbuf *out, const char *text, int indent, int width)
{
    const char *p = text;
    int col = indent;

    strbuf_addf(out, "%*s", indent, "");
    while (*p != '\0') {
        const char *sp = strchr(p, ' ');
        int len = sp ? (int)(sp - p) : (int)strlen(p);

        if (col > indent && col + 1 + len > width) {
            strbuf_addf(out, "\n%*s", indent + 2, "");
            col = indent + 2;
        } else if (col > indent) {
            strbuf_addch(out, ' ');
            col++;
        }
        strbuf_add(out, p, (size_t)len);
        col += len;
        p += len;
        while (*p == ' ') {
            p++;
        }
    }
    strbuf_addch(out, '\n');
}

static void
mem_text(const struct mem_report *r, const struct mem_verdict *v, size_t nv,
         struct strbuf *out)
{
    const struct glibc_malloc *gm = &r->gm;
    const struct pymalloc *pm = &r->pym;
    const char *core = r->rt->target->file;
    struct strbuf b = STRBUF_INIT, note = STRBUF_INIT;
    size_t i, k;

    /* What comes from the target (its command line, paths, type names,
     * problems naming them) is escaped in every text line. */
    strbuf_addf(out, "Process %d: %s\n", r->rt->target->pid,
                esc(r->cmdline.len ? r->cmdline.buf : r->rt->executable));
    if (core != NULL) {
        strbuf_addf(out, "Core file %s%s\n", esc(core),
                    r->rt->target->partial ? " (partial: memory missing)"
                                           : "");
    }
    strbuf_addf(out, "Python %s", esc(r->rt->version.text));
    if (r->gm_located) {
        strbuf_addf(out, ", glibc %s", esc(gm->version));
    }
    if (core != NULL) {
        strbuf_addstr(out, "\n\n");
    } else {
        strbuf_addf(out, "; paused for %.2f ms\n\n", r->paused_ms);
    }

    strbuf_addstr(out, "Memory\n");
    if (core != NULL) {
        uint64_t mapped = 0;

        for (i = 0; i < MEM_REGIONS; i++) {
            mapped += r->split.regions[i];
        }
        strbuf_addstr(out, "  RSS is not in a core file: the kernel keeps no "
                           "record of what was\n  resident.  Below are "
                           "the sizes of the mappings.\n");
        text_row(out, "mapped", mapped, 0, NULL);
        strbuf_addstr(out, "\nMapped memory by what holds it\n");
        for (i = 0; i < MEM_REGIONS; i++) {
            text_row(out, mem_region_labels[i], r->split.regions[i], mapped,
                     NULL);
        }
    } else {
        text_row(out, "RSS (resident)", r->tot.rss, 0, NULL);
        text_row(out, "PSS (proportional)", r->tot.pss, 0, NULL);
        text_row(out, "USS (private)", smaps_uss(&r->tot), 0, NULL);
        text_row(out, "swapped out", r->tot.swap, 0, NULL);

        strbuf_addf(out, "\nResident memory by what holds it%s\n",
                    r->split.exact ? "" : " (estimated: pagemap unreadable)");
        for (i = 0; i < MEM_REGIONS; i++) {
            text_row(out, mem_region_labels[i], r->split.regions[i],
                     r->tot.rss, NULL);
        }
    }

    strbuf_addstr(out, "\nC allocator (glibc malloc)\n");
    if (r->gm_walked) {
        strbuf_reset(&note);
        if (r->split.exact) {
            mem_format_bytes(&note, gm->free_resident);
            strbuf_addstr(&note, " of it resident");
        }
        text_row(out, "in use", gm->in_use, 0, NULL);
        text_row(out, "free, kept by malloc", gm->free, 0, note.buf);
        text_row(out, "  at the top of the heap", gm->top, 0, "(trimmable)");
        strbuf_reset(&note);
        strbuf_addf(&note, "(%lld block%s)", (long long)gm->n_mmaps,
                    gm->n_mmaps == 1 ? "" : "s");
        text_row(out, "mmapped blocks", gm->mmapped_mem, 0, note.buf);
        strbuf_addf(out, "  %llu arena%s; mmap threshold ",
                    (unsigned long long)gm->narenas,
                    gm->narenas == 1 ? "" : "s");
        mem_format_bytes(out, gm->mmap_threshold);
        strbuf_addstr(out, ", trim threshold ");
        mem_format_bytes(out, gm->trim_threshold);
        strbuf_addf(out, "%s\n", gm->no_dyn_threshold ? " (set)" : "");
        if (r->preload) {
            strbuf_addf(out,
                        "  note: %s is preloaded; these figures are "
                        "glibc's own arenas only\n",
                        esc(r->preload));
        }
        if (!gm->complete) {
            strbuf_addf(out, "  partial: %s\n", esc(gm->problem));
        }
    } else {
        strbuf_addf(out, "  unknown: %s\n",
                    esc(r->gm_problem.len ? r->gm_problem.buf : gm->problem));
    }

    strbuf_addstr(out, "\npymalloc (Python's small objects)\n");
    if (pm->found) {
        strbuf_reset(&note);
        strbuf_addf(&note, "(%llu arenas of ",
                    (unsigned long long)pm->narenas);
        mem_format_bytes(&note, pm->arena_size);
        strbuf_addch(&note, ')');
        text_row(out, "arenas", pm->arenas_bytes, 0, note.buf);
        text_row(out, "in use", pm->used_bytes, 0, NULL);
        text_row(out, "free", pm->free_bytes, 0, NULL);
        if (!pm->complete) {
            strbuf_addf(out, "  partial: %s\n", esc(pm->problem));
        }
    } else {
        strbuf_addf(out, "  unknown: %s\n", esc(pm->problem));
    }

    if (r->census_done) {
        struct py_blocks_type **types;
        size_t ntypes;

        strbuf_addf(out, "\nPython objects in malloc's blocks%s, by type\n",
                    r->pym.found ? " (objects over 512 bytes)" : "");
        strbuf_reset(&note);
        strbuf_addf(&note, "(%llu objects)",
                    (unsigned long long)(r->py_in_malloc_n + r->py_in_mmap_n));
        text_row(out, "total", r->py_in_malloc + r->py_in_mmap, 0, note.buf);
        py_blocks_types(&r->census, &types, &ntypes);
        for (k = 0; k < ntypes && k < 5; k++) {
            struct strbuf label = STRBUF_INIT;

            /* The name in the label column (cut to fit it), the count
             * after the size, so the sizes stay aligned. */
            strbuf_addf(&label, "  %.24s", esc(types[k]->name));
            strbuf_reset(&note);
            strbuf_addf(&note, "(%llu)", (unsigned long long)types[k]->count);
            text_row(out, label.buf, types[k]->bytes, 0, note.buf);
            strbuf_release(&label);
        }
        free(types);
    }

    if (r->census_done && r->freelists.enabled) {
        const struct py_freelists *fl = &r->freelists;

        strbuf_addstr(out, "\nint and float free lists (Python 2.7, outside "
                           "pymalloc)\n");
        strbuf_reset(&note);
        strbuf_addf(&note, "(%llu blocks)", (unsigned long long)fl->blocks);
        text_row(out, "blocks", fl->bytes, 0, note.buf);
        strbuf_reset(&note);
        strbuf_addf(&note, "(%llu)", (unsigned long long)fl->ints);
        text_row(out, "  live ints", fl->int_bytes, 0, note.buf);
        strbuf_reset(&note);
        strbuf_addf(&note, "(%llu)", (unsigned long long)fl->floats);
        text_row(out, "  live floats", fl->float_bytes, 0, note.buf);
        strbuf_reset(&note);
        strbuf_addf(&note, "(%llu slots)", (unsigned long long)fl->free_slots);
        text_row(out, "  free", fl->free_bytes, 0, note.buf);
        strbuf_reset(&note);
        strbuf_addf(&note, "(%llu blocks; gc.collect() frees them)",
                    (unsigned long long)fl->empty_blocks);
        text_row(out, "  with no live object", fl->empty_bytes, 0, note.buf);
    }

    strbuf_addstr(out, "\nVerdict\n");
    for (i = 0; i < nv; i++) {
        strbuf_reset(&b);
        strbuf_addf(&b, "%s: %s", mem_verdict_kind_name(v[i].kind),
                    esc(v[i].text.buf));
        text_wrap(out, b.buf, 2, 79);
        if (v[i].nremedies > 0) {
            strbuf_addstr(out, "  What to do:\n");
        }
        for (k = 0; k < v[i].nremedies; k++) {
            const struct mem_remedy *rem = &v[i].remedies[k];

            strbuf_reset(&b);
            strbuf_addf(&b, "- %s%s", esc(rem->what.buf),
                        rem->command.len ? ":" : "");
            text_wrap(out, b.buf, 4, 79);
            /* Commands whole on their own line, to copy and paste. */
            if (rem->command.len) {
                strbuf_addf(out, "        %s\n", esc(rem->command.buf));
            }
        }
    }
    strbuf_release(&b);
    strbuf_release(&note);
}

/* ---- the command -------------------------------------------------------- */

static int
mem_parse(int argc, char **argv, struct mem_options *opt)
{
    static const struct option longopts[] = {
        CMD_TARGET_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {"no-census", no_argument, NULL, 'C'},
        {"locate", required_argument, NULL, 'L'},
        {"max-pause", required_argument, NULL, 'M'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, r;

    memset(opt, 0, sizeof(*opt));
    opt->census = 1;
    opt->max_pause_ms = 1000;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:vh", longopts, NULL)) != -1) {
        r = cmd_target_option("mem", c, optarg, &opt->target);
        if (r < 0) {
            return r;
        }
        if (r > 0) {
            continue;
        }
        switch (c) {
        case 'j':
            opt->json = 1;
            break;
        case 'C':
            opt->census = 0;
            break;
        case 'L':
            if (strcmp(optarg, "search") == 0) {
                opt->search = 1;
            } else if (strcmp(optarg, "auto") != 0) {
                return cmd_usage_error("mem",
                                       "--locate takes auto or search, "
                                       "not '%s'",
                                       optarg);
            }
            break;
        case 'M':
            if (parse_long(optarg, 1, 3600000, &opt->max_pause_ms) < 0) {
                return cmd_usage_error("mem",
                                       "--max-pause takes milliseconds, "
                                       "not '%s'",
                                       optarg);
            }
            break;
        case 'v':
            opt->verbose = 1;
            break;
        case 'h':
            opt->help = 1;
            return 0;
        default:
            return cmd_option_error("mem", argv);
        }
    }
    return cmd_target_finish("mem", argc, argv, 0, &opt->target);
}

static void
mem_report_release(struct mem_report *r)
{
    glibc_malloc_release(&r->gm);
    pymalloc_release(&r->pym);
    if (r->census.rt != NULL) {
        py_blocks_release(&r->census);
        py_freelists_release(&r->freelists);
    }
    smaps_release(&r->sm);
    mem_split_release(&r->split);
    free(r->sps);
    strbuf_release(&r->gm_problem);
    strbuf_release(&r->census_problem);
    strbuf_release(&r->libdir);
    strbuf_release(&r->cmdline);
}

static int
is_watch(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            return 0;
        }
        if (strcmp(argv[i], "--watch") == 0) {
            return 1;
        }
    }
    return 0;
}

int
cmd_mem(int argc, char **argv)
{
    struct mem_options opt;
    struct mem_report r;
    struct mem_verdict verdicts[MEM_VERDICT_MAX];
    struct mem_facts facts;
    struct strbuf out = STRBUF_INIT;
    size_t nv = 0, i;
    int rc;

    if (is_watch(argc, argv)) {
        return cmd_mem_watch(argc, argv);
    }
    rc = mem_parse(argc, argv, &opt);
    if (rc < 0) {
        return err_exit_status(rc);
    }
    if (opt.help) {
        fputs(mem_usage, stdout);
        return 0;
    }
    memset(&r, 0, sizeof(r));
    strbuf_init(&r.gm_problem);
    strbuf_init(&r.census_problem);
    strbuf_init(&r.libdir);
    strbuf_init(&r.cmdline);
    r.opt = &opt;
    r.start_ns = clock_now_ns();
    rc = cmd_open(&opt.target, &r.target, &r.rt);
    if (rc < 0) {
        mem_report_release(&r);
        return cmd_fail(rc);
    }
    rc = mem_gather(&r);
    if (rc == 0) {
        r.total_ms = (double)(clock_now_ns() - r.start_ns) / 1e6;
        mem_facts_fill(&r, &facts);
        nv = mem_verdicts(&facts, verdicts);
        if (opt.json) {
            mem_json(&r, verdicts, nv, &out);
        } else {
            mem_text(&r, verdicts, nv, &out);
        }
        rc = cmd_write_stdout(out.buf, out.len);
    }
    if (opt.verbose) {
        fprintf(stderr,
                "pyspect: paused %.2f ms (walk %.2f ms), regions %.2f ms, "
                "census %.2f ms, total %.2f ms; %llu reads, %llu bytes; "
                "%llu pages scanned for mmapped blocks\n",
                r.paused_ms, r.walk_ms, r.regions_ms, r.census_ms, r.total_ms,
                (unsigned long long)r.rt->proc->nreads,
                (unsigned long long)r.rt->proc->nbytes,
                (unsigned long long)r.split.scanned);
    }
    for (i = 0; i < nv; i++) {
        mem_verdict_release(&verdicts[i]);
    }
    strbuf_release(&out);
    mem_report_release(&r);
    cmd_detach(r.target, r.rt);
    return rc < 0 ? cmd_fail(rc) : 0;
}
