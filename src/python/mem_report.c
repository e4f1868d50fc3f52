/*
 * mem_report.c - gather what `pyspect mem` reports about a process or a
 * core: its allocators' state, read under one short pause, then the
 * split of its memory and the census of large Python objects.
 *
 * Layer: python.  In this order: glibc malloc's and pymalloc's state
 * located (symbols, debug files or search; target running); one short
 * pause (ptrace seize/interrupt; nothing for a core) for a consistent
 * picture of malloc's free lists, pymalloc's arenas and the threads'
 * stack pointers; then, running again, smaps and smaps_rollup (a core:
 * the mapped sizes), the split by what holds each page (pagemap), the
 * blocks malloc mmapped on their own, and a census of the large blocks
 * that are Python objects (a walk of every malloc chunk in large reads).
 */
#include "mem.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/pagemap.h"
#include "core/banned.h"

/* Largest number of resident pages the mmapped-block scan looks at. */
#define MEM_MMAP_SCAN_MAX (4ULL << 20)
/* Block size of the chunk walk. */
#define MEM_CHUNK_BLOCK (1u << 20)

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
    rc = glibc_malloc_locate(t, rt->proc, &rt->maps, r->opt.search, &r->gm);
    if (rc < 0) {
        strbuf_addf(&r->gm_problem, "%s",
                    err_context()[0] ? err_context() : err_message(rc));
        err_clear();
    } else {
        r->gm_located = 1;
        libc_dir(&r->gm, &r->libdir);
    }
    rc = pymalloc_locate(
        rt, r->opt.search ? PYMALLOC_ROUTE_SEARCH : PYMALLOC_ROUTE_AUTO,
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
            r->gm.deadline_ns = t0 + (uint64_t)r->opt.max_pause_ms * 1000000u;
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
    if (rc == 0 && r->opt.census && r->gm_walked) {
        rc = take_census(r);
    }
out:
    if (have_pm) {
        pagemap_close(&pmap);
    }
    return rc;
}

void
mem_report_facts(const struct mem_report *r, struct mem_facts *f)
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

int
mem_report_take(struct py_runtime *rt, const struct mem_report_options *opt,
                struct mem_report *r)
{
    int rc;

    memset(r, 0, sizeof(*r));
    strbuf_init(&r->gm_problem);
    strbuf_init(&r->census_problem);
    strbuf_init(&r->libdir);
    strbuf_init(&r->cmdline);
    r->rt = rt;
    r->opt = *opt;
    r->start_ns = clock_now_ns();
    rc = mem_gather(r);
    r->total_ms = (double)(clock_now_ns() - r->start_ns) / 1e6;
    return rc;
}

void
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
