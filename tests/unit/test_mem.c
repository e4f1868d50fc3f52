/*
 * test_mem.c - unit tests of mem's verdict, the timeline, the SVG plot
 * and the CSV writer.
 *
 * Layer: tests.  The verdict is fed the numbers of each situation the
 * issue names (allocator retention in the main arena and in thread
 * arenas, live Python objects, mostly-free pymalloc arenas, native
 * memory, a healthy process) and must name it, order by size, and give
 * the exact remedy command lines.  The timeline must stay bounded and
 * keep the peak; the SVG must carry its axes, lines, legend and peak.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmd/mem.h"
#include "output/csv.h"
#include "output/plot_svg.h"
#include "output/timeline.h"
#include "tap.h"

#define MiB (1ULL << 20)

static void
base(struct mem_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->pid = 4242;
    f->command = "python3 app.py";
    f->libdir = "/lib/x86_64-linux-gnu";
    f->malloc_known = 1;
    f->pymalloc_known = 1;
    f->census_known = 1;
    f->free_resident_known = 1;
    f->malloc_arenas = 1;
    f->mmap_threshold = 128 << 10;
    f->trim_threshold = 128 << 10;
    f->dynamic_threshold = 1;
    f->regions[MEM_FILE] = 8 * MiB;
}

/* Is there a remedy whose command (or, without one, text) has text? */
static int
has_remedy(const struct mem_verdict *v, const char *text)
{
    size_t i;

    for (i = 0; i < v->nremedies; i++) {
        const struct mem_remedy *r = &v->remedies[i];

        if (strstr(r->command.buf, text) != NULL ||
            strstr(r->what.buf, text) != NULL) {
            return 1;
        }
    }
    return 0;
}

static size_t
run(const struct mem_facts *f, struct mem_verdict *v)
{
    return mem_verdicts(f, v);
}

static void
release(struct mem_verdict *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        mem_verdict_release(&v[i]);
    }
}

static void
test_retention(void)
{
    struct mem_facts f;
    struct mem_verdict v[MEM_VERDICT_MAX];
    size_t n;

    base(&f);
    f.rss = 210 * MiB;
    f.malloc_in_use = 13 * MiB;
    f.malloc_free = 185 * MiB;
    f.malloc_free_resident = 160 * MiB;
    f.regions[MEM_C_HEAP] = 198 * MiB;
    f.pym_arenas_bytes = 6 * MiB;
    f.pym_used = 5 * MiB;
    f.pym_free = 1 * MiB;
    f.regions[MEM_PYMALLOC] = 5 * MiB;
    n = run(&f, v);
    TAP_EQ_INT(n, 1, "retention: one diagnosis");
    TAP_EQ_STR(mem_verdict_kind_name(v[0].kind), "allocator-retention",
               "retention named");
    TAP_OK(strstr(v[0].text.buf, "185.0 MiB") != NULL,
           "free bytes in text: %s", v[0].text.buf);
    TAP_EQ_STR(v[0].remedies[0].command.buf,
               "gdb -p 4242 -batch -ex 'call (int) malloc_trim(0)'",
               "malloc_trim through gdb, as a whole command");
    TAP_OK(has_remedy(&v[0], "ctypes.CDLL('libc.so.6').malloc_trim(0)"),
           "malloc_trim from the program");
    TAP_OK(has_remedy(&v[0], "apt install libjemalloc2") &&
               has_remedy(&v[0], "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/"
                                 "libjemalloc.so.2 python3 app.py"),
           "jemalloc package and path");
    TAP_OK(has_remedy(&v[0], "apt install libtcmalloc-minimal4") &&
               has_remedy(&v[0], "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/"
                                 "libtcmalloc_minimal.so.4 python3 app.py"),
           "tcmalloc package and path");
    TAP_OK(has_remedy(&v[0], "MALLOC_TRIM_THRESHOLD_=131072 python3 app.py"),
           "trim threshold");
    TAP_OK(!has_remedy(&v[0], "MALLOC_ARENA_MAX"),
           "no arena advice with one arena");
    release(v, n);

    /* Thread arenas hold it, and glibc raised its mmap threshold. */
    f.malloc_arenas = 5;
    f.malloc_thread_free = 170 * MiB;
    f.mmap_threshold = 4 * MiB;
    n = run(&f, v);
    TAP_OK(has_remedy(&v[0], "MALLOC_ARENA_MAX=2 python3 app.py"),
           "arena advice with thread arenas");
    TAP_OK(has_remedy(&v[0], "MALLOC_MMAP_THRESHOLD_=131072 "
                             "MALLOC_TRIM_THRESHOLD_=131072 python3 app.py"),
           "pin the thresholds when glibc moved them");
    release(v, n);

    /* Freed but no longer resident (after malloc_trim): not a problem. */
    f.malloc_free_resident = 0;
    n = run(&f, v);
    TAP_OK(v[0].kind != MEM_V_RETENTION, "free but not resident: no "
                                         "retention");
    release(v, n);
}

static void
test_others(void)
{
    struct mem_facts f;
    struct mem_verdict v[MEM_VERDICT_MAX];
    size_t n;

    /* Live Python objects. */
    base(&f);
    f.rss = 300 * MiB;
    f.pym_arenas_bytes = 250 * MiB;
    f.pym_used = 240 * MiB;
    f.pym_free = 8 * MiB;
    f.regions[MEM_PYMALLOC] = 250 * MiB;
    f.malloc_in_use = 30 * MiB;
    f.py_in_malloc = 25 * MiB;
    n = run(&f, v);
    TAP_EQ_STR(mem_verdict_kind_name(v[0].kind), "python-objects",
               "python objects named");
    TAP_OK(has_remedy(&v[0], "pyspect heap 4242"), "points to pyspect heap");
    TAP_EQ_INT(n, 1, "and nothing else");
    release(v, n);

    /* PYTHONMALLOC=malloc: no pymalloc, every object in malloc. */
    base(&f);
    f.pymalloc_known = 0;
    f.rss = 160 * MiB;
    f.malloc_in_use = 139 * MiB;
    f.py_in_malloc = 138 * MiB;
    n = run(&f, v);
    TAP_EQ_STR(mem_verdict_kind_name(v[0].kind), "python-objects",
               "objects found in malloc without pymalloc");
    TAP_EQ_INT(n, 1, "and not native");
    release(v, n);

    /* pymalloc arenas mostly free. */
    base(&f);
    f.rss = 200 * MiB;
    f.pym_arenas_bytes = 180 * MiB;
    f.pym_used = 20 * MiB;
    f.pym_free = 155 * MiB;
    f.regions[MEM_PYMALLOC] = 180 * MiB;
    n = run(&f, v);
    TAP_EQ_STR(mem_verdict_kind_name(v[0].kind), "pymalloc-free",
               "pymalloc-free named");
    TAP_OK(has_remedy(&v[0], "PYTHONMALLOC=malloc python3 app.py"),
           "the PYTHONMALLOC remedy");
    release(v, n);

    /* Native memory: malloc blocks that are not objects. */
    base(&f);
    f.rss = 220 * MiB;
    f.malloc_in_use = 205 * MiB;
    f.py_in_malloc = 1 * MiB;
    f.malloc_free = 2 * MiB;
    f.malloc_free_resident = 1 * MiB;
    n = run(&f, v);
    TAP_EQ_STR(mem_verdict_kind_name(v[0].kind), "native", "native named");
    TAP_OK(has_remedy(&v[0], "memray run --native python3 app.py"),
           "memray remedy");
    release(v, n);

    /* Without a census, malloc in use is not called native... */
    f.census_known = 0;
    n = run(&f, v);
    TAP_EQ_STR(mem_verdict_kind_name(v[0].kind), "healthy",
               "no census: no guess about malloc blocks");
    release(v, n);
    /* ...but anonymous memory nobody owns is. */
    f.regions[MEM_OTHER] = 100 * MiB;
    n = run(&f, v);
    TAP_EQ_STR(mem_verdict_kind_name(v[0].kind), "native",
               "other anonymous memory is native");
    release(v, n);

    /* Two causes: the larger first, at most two. */
    base(&f);
    f.rss = 400 * MiB;
    f.malloc_in_use = 10 * MiB;
    f.malloc_free = 200 * MiB;
    f.malloc_free_resident = 190 * MiB;
    f.pym_arenas_bytes = 150 * MiB;
    f.pym_used = 100 * MiB;
    f.pym_free = 48 * MiB;
    f.regions[MEM_PYMALLOC] = 150 * MiB;
    n = run(&f, v);
    TAP_EQ_INT(n, 2, "two diagnoses");
    TAP_OK(v[0].kind == MEM_V_RETENTION && v[1].kind == MEM_V_PYTHON,
           "largest first");
    release(v, n);

    /* 2.7: freed ints held in their free-list blocks, which are
     * Python's, not native. */
    base(&f);
    f.rss = 140 * MiB;
    f.malloc_in_use = 110 * MiB;
    f.freelists_known = 1;
    f.fl_blocks = 107000;
    f.fl_bytes = 103 * MiB;
    f.fl_live = 9 * MiB;
    f.fl_live_n = 400000;
    f.fl_free = 91 * MiB;
    f.fl_free_slots = 4000000;
    f.fl_empty = 93 * MiB;
    n = run(&f, v);
    TAP_EQ_STR(mem_verdict_kind_name(v[0].kind), "int-free-lists",
               "2.7's int free lists named");
    TAP_OK(has_remedy(&v[0], "import gc; gc.collect()"),
           "a full collection frees their empty blocks");
    TAP_OK(n == 1 || v[1].kind != MEM_V_NATIVE,
           "the blocks are not native memory");
    release(v, n);

    /* A small idle process. */
    base(&f);
    f.rss = 12 * MiB;
    f.malloc_in_use = 1 * MiB;
    f.pym_used = 2 * MiB;
    n = run(&f, v);
    TAP_EQ_INT(n, 1, "healthy: one verdict");
    TAP_EQ_STR(mem_verdict_kind_name(v[0].kind), "healthy", "healthy named");
    release(v, n);
    TAP_OK(!mem_significant(&f, 15 * MiB), "15 MiB never matters");
}

static void
test_timeline(void)
{
    static const char *const keys[] = {"rss", "heap"};
    static const char *const labels[] = {"RSS", "C heap <malloc> & co"};
    struct timeline tl;
    struct strbuf svg = STRBUF_INIT, csv = STRBUF_INIT;
    double v[2];
    size_t i, lines = 0;
    const char *p;

    timeline_init(&tl, 2, keys, labels);
    snprintf(tl.title, sizeof(tl.title), "pid 1 \"quoted\" & <x>");
    for (i = 0; i < 100000; i++) {
        v[0] = (double)(i == 77777 ? 900 * MiB : 100 * MiB + i);
        v[1] = i < 10 ? NAN : (double)(50 * MiB);
        timeline_add(&tl, (double)i * 0.1, v);
    }
    TAP_OK(tl.n <= TIMELINE_MAX_POINTS, "bounded: %zu points for %zu samples",
           tl.n, tl.samples);
    TAP_EQ_INT(tl.samples, 100000, "every sample counted");
    TAP_OK(tl.peak == 900.0 * MiB && fabs(tl.peak_t - 7777.7) < 1e-6,
           "exact peak kept");
    {
        double m = 0;

        for (i = 0; i < tl.n; i++) {
            m = tl.v[0][i] > m ? tl.v[0][i] : m;
        }
        TAP_OK(m == 900.0 * MiB, "the merged series keeps the peak too");
    }
    TAP_OK(tl.t[tl.n - 1] > 9000, "and reaches the end");

    plot_svg_write(&tl, &svg);
    TAP_OK(strncmp(svg.buf, "<?xml", 5) == 0 && strstr(svg.buf, "</svg>"),
           "an SVG document");
    TAP_OK(strstr(svg.buf, "time (s)") && strstr(svg.buf, "memory (MiB)"),
           "labelled axes");
    TAP_OK(strstr(svg.buf, "peak 900 MiB at 7777.7 s") != NULL,
           "the peak is marked");
    TAP_OK(strstr(svg.buf, "C heap &lt;malloc&gt; &amp; co") != NULL,
           "legend text escaped");
    TAP_OK(strstr(svg.buf, "&quot;quoted&quot; &amp; &lt;x&gt;") != NULL,
           "title escaped");
    for (p = svg.buf; (p = strstr(p, "<polyline")) != NULL; p++) {
        lines++;
    }
    TAP_EQ_INT(lines, 2, "one line per series (unknown values skipped)");
    TAP_OK(strstr(svg.buf, "<script") == NULL &&
               strstr(svg.buf, "href") == NULL,
           "self-contained");

    csv_write(&tl, &csv);
    TAP_OK(strncmp(csv.buf, "time_s,rss,heap\n0.000,", 22) == 0, "CSV header");
    lines = 0;
    for (p = csv.buf; (p = strchr(p, '\n')) != NULL; p++) {
        lines++;
    }
    TAP_EQ_INT(lines, tl.n + 1, "CSV: a header and a row per point");
    strbuf_release(&svg);
    strbuf_release(&csv);
    timeline_release(&tl);

    /* Raw rows: an unknown value is an empty field. */
    timeline_init(&tl, 2, keys, labels);
    v[0] = 1048576;
    v[1] = NAN;
    csv_row(&tl, 0.25, v, &csv);
    TAP_EQ_STR(csv.buf, "0.250,1048576,\n", "CSV row with an unknown value");
    strbuf_release(&csv);
    timeline_release(&tl);

    /* One sample only: still a plot. */
    timeline_init(&tl, 2, keys, labels);
    v[0] = 5 * MiB;
    v[1] = 1 * MiB;
    timeline_add(&tl, 0, v);
    plot_svg_write(&tl, &svg);
    TAP_OK(strstr(svg.buf, "<circle") != NULL, "a single sample is a dot");
    strbuf_release(&svg);
    timeline_release(&tl);

    TAP_OK(plot_nice_step(237, 6) == 50, "nice step 50");
    TAP_OK(plot_nice_step(3.2, 8) == 0.5, "nice step 0.5");
    TAP_OK(plot_nice_step(0, 8) == 1, "nice step of nothing");
}

static void
test_format(void)
{
    struct strbuf sb = STRBUF_INIT;

    mem_format_bytes(&sb, 0);
    TAP_EQ_STR(sb.buf, "0 B", "0 B");
    strbuf_reset(&sb);
    mem_format_bytes(&sb, 1536);
    TAP_EQ_STR(sb.buf, "1.5 KiB", "KiB");
    strbuf_reset(&sb);
    mem_format_bytes(&sb, 212 * MiB + MiB / 2);
    TAP_EQ_STR(sb.buf, "212.5 MiB", "MiB");
    strbuf_reset(&sb);
    mem_format_bytes(&sb, 3ULL << 30);
    TAP_EQ_STR(sb.buf, "3.00 GiB", "GiB");
    strbuf_release(&sb);
}

int
main(void)
{
    test_retention();
    test_others();
    test_timeline();
    test_format();
    return tap_done();
}
