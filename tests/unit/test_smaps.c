/*
 * test_smaps.c - unit tests of the smaps parsers, the resident split
 * and the /proc/PID/task/TID/syscall parser (proc.c).
 *
 * Layer: tests.  The fixtures are a real smaps and smaps_rollup from a
 * Linux 6.18 process (tests/unit/fixtures).  The split runs on made-up
 * mappings with a pagemap read from a sparse file laid out like
 * /proc/PID/pagemap (8 bytes per page at address / 4096 * 8).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "tap.h"
#include "target/pagemap.h"
#include "target/proc.h"
#include "target/resident.h"
#include "target/smaps.h"

static const char *fixtures;

static void
load(const char *name, struct strbuf *sb)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", fixtures, name);
    if (read_file(path, 1 << 20, sb) < 0) {
        printf("Bail out! cannot read %s\n", path);
        exit(1);
    }
}

static void
test_parse(void)
{
    struct strbuf sb = STRBUF_INIT;
    struct smaps sm = SMAPS_INIT;
    struct smaps_counts tot, sum;
    const struct smaps_vma *v;
    size_t i, files = 0;

    load("smaps-6.18.txt", &sb);
    TAP_EQ_INT(smaps_parse(sb.buf, sb.len, &sm), 0, "parse smaps");
    TAP_EQ_INT(sm.n, 7, "seven mappings");
    TAP_EQ_INT(sm.v[0].map.start, 0x400000, "first start");
    TAP_EQ_STR(sm.v[0].map.path, "/usr/bin/python3.11", "first path");
    TAP_EQ_INT(sm.v[0].c.rss, 124 * 1024, "Rss in bytes");
    TAP_EQ_INT(sm.v[0].c.pss, 24 * 1024, "Pss in bytes");
    TAP_EQ_INT(sm.v[0].c.shared_clean, 124 * 1024, "Shared_Clean");
    v = smaps_find(&sm, 0x2b0cc000 + 4096);
    TAP_OK(v != NULL && strcmp(v->map.path, "[heap]") == 0, "find [heap]");
    TAP_OK(smaps_find(&sm, 0x300000) == NULL, "nothing below the first");
    for (i = 0; i < sm.n; i++) {
        files += smaps_vma_is_file(&sm.v[i]);
    }
    TAP_EQ_INT(files, 3, "file-backed: the executable, libc, [vdso]");
    smaps_sum(&sm, &sum);
    TAP_OK(sum.rss > 0 && sum.rss >= sm.v[2].c.rss, "sum");
    strbuf_reset(&sb);
    load("smaps_rollup-6.18.txt", &sb);
    TAP_EQ_INT(smaps_rollup_parse(sb.buf, sb.len, &tot), 0, "parse rollup");
    TAP_EQ_INT(tot.rss, 51600ULL * 1024, "rollup Rss");
    TAP_EQ_INT(tot.pss, 46549ULL * 1024, "rollup Pss");
    TAP_EQ_INT(tot.pss_anon, 45604ULL * 1024, "rollup Pss_Anon");
    TAP_EQ_INT(smaps_uss(&tot), 45604ULL * 1024, "USS: private pages");
    TAP_EQ_INT(tot.swap, 0, "rollup Swap");
    smaps_release(&sm);
    strbuf_release(&sb);
}

static void
test_bad_input(void)
{
    static const char field_first[] = "Rss:  4 kB\n";
    static const char bad_value[] =
        "00400000-00401000 r--p 00000000 00:00 0\nRss:  four kB\n";
    static const char bad_header[] = "0040zz00-00401000 r--p 0 0 0\n";
    static const char unknown[] =
        "00400000-00401000 r--p 00000000 00:00 0\nNewField: 3 kB\n"
        "Rss: 8 kB\nVmFlags: rd\n";
    static const char no_newline[] =
        "00400000-00401000 rw-p 00000000 00:00 0\nRss: 12 kB";
    struct smaps sm = SMAPS_INIT;
    struct smaps_counts c;

    TAP_OK(smaps_parse(field_first, strlen(field_first), &sm) < 0,
           "a field before any mapping");
    smaps_release(&sm);
    TAP_OK(smaps_parse(bad_value, strlen(bad_value), &sm) < 0,
           "a value that is not a number");
    smaps_release(&sm);
    TAP_OK(smaps_parse(bad_header, strlen(bad_header), &sm) < 0,
           "a header that is not a mapping");
    smaps_release(&sm);
    TAP_EQ_INT(smaps_parse(unknown, strlen(unknown), &sm), 0,
               "unknown fields are skipped");
    TAP_OK(sm.n == 1 && sm.v[0].c.rss == 8192, "and the known ones kept");
    smaps_release(&sm);
    TAP_EQ_INT(smaps_parse(no_newline, strlen(no_newline), &sm), 0,
               "no final newline");
    TAP_OK(sm.n == 1 && sm.v[0].c.rss == 12288, "last line read");
    smaps_release(&sm);
    TAP_OK(smaps_rollup_parse("Pss: 3 kB\n", 10, &c) < 0,
           "a rollup without Rss");
    TAP_EQ_INT(smaps_parse("", 0, &sm), 0, "empty: no mappings");
    smaps_release(&sm);
}

/* A fake pagemap: a sparse temporary file. */
static int
fake_pagemap(struct pagemap *pm, const uint64_t *pages, size_t n,
             uint64_t entry)
{
    char path[] = "/tmp/pyspect-pagemap-XXXXXX";
    int fd = mkstemp(path);
    size_t i;

    unlink(path);
    memset(pm, 0, sizeof(*pm));
    pm->fd = fd;
    pm->page_size = 4096;
    for (i = 0; i < n; i++) {
        if (pwrite(fd, &entry, 8, (off_t)(pages[i] / 4096 * 8)) != 8) {
            return -1;
        }
    }
    return fd;
}

static int
label_default(const struct smaps_vma *v, void *ctx)
{
    (void)ctx;
    return smaps_vma_is_file(v) ? 2 : 3;
}

static void
vma(struct smaps_vma *v, uint64_t start, uint64_t end, unsigned long inode,
    uint64_t rss)
{
    static char empty[] = "";

    memset(v, 0, sizeof(*v));
    v->map.start = start;
    v->map.end = end;
    v->map.inode = inode;
    v->map.path = empty;
    memcpy(v->map.perms, "rw-p", 5);
    v->c.rss = rss;
}

static void
test_split(void)
{
    struct smaps_vma v[3];
    struct smaps sm = {v, 3, 3};
    struct resident_range r[3];
    struct pagemap pm;
    uint64_t bytes[4];
    /* Resident pages: two in the first range, one outside ranges. */
    static const uint64_t pages[] = {0x10000, 0x11000, 0x15000};

    vma(&v[0], 0x10000, 0x20000, 0, 3 * 4096);  /* anonymous, cut */
    vma(&v[1], 0x20000, 0x30000, 0, 16 * 4096); /* wholly labelled */
    vma(&v[2], 0x40000, 0x50000, 7, 5 * 4096);  /* a file */
    r[0] = (struct resident_range){0x20000, 0x30000, 1};
    r[1] = (struct resident_range){0x10000, 0x14000, 0};
    r[2] = (struct resident_range){0x12000, 0x13000, 1}; /* overlaps r[1] */
    TAP_OK(fake_pagemap(&pm, pages, 3, PAGEMAP_PRESENT | 77) >= 0,
           "fake pagemap");
    memset(bytes, 0, sizeof(bytes));
    TAP_EQ_INT(resident_split(&sm, r, 3, label_default, NULL, &pm, bytes, 4),
               0, "split");
    TAP_EQ_INT(bytes[0], 2 * 4096, "label 0: its resident pages");
    TAP_EQ_INT(bytes[1], 16 * 4096, "label 1: a whole mapping's Rss");
    TAP_EQ_INT(bytes[2], 5 * 4096, "file mappings");
    TAP_EQ_INT(bytes[3], 1 * 4096, "the rest of the cut mapping");
    TAP_EQ_INT(bytes[0] + bytes[1] + bytes[2] + bytes[3], 24 * 4096,
               "the parts add up to Rss");
    /* Zero pages: pagemap says present, Rss does not count them. */
    v[0].c.rss = 1 * 4096;
    memset(bytes, 0, sizeof(bytes));
    resident_split(&sm, r, 3, label_default, NULL, &pm, bytes, 4);
    TAP_EQ_INT(bytes[0] + bytes[3], 4096, "clamped to the mapping's Rss");
    pm.zero_pfn = 77;
    TAP_OK(!pagemap_resident(&pm, PAGEMAP_PRESENT | 77),
           "the zero page is not resident");
    TAP_OK(pagemap_resident(&pm, PAGEMAP_PRESENT | 78), "another page is");
    TAP_OK(!pagemap_resident(&pm, PAGEMAP_SWAPPED), "a swapped page is not");
    /* Without pagemap: shared out by size. */
    v[0].c.rss = 4 * 4096;
    memset(bytes, 0, sizeof(bytes));
    resident_split(&sm, r, 3, label_default, NULL, NULL, bytes, 4);
    TAP_EQ_INT(bytes[0], 4096, "estimate without pagemap");
    TAP_EQ_INT(bytes[0] + bytes[1] + bytes[2] + bytes[3], 25 * 4096,
               "estimate adds up too");
    close(pm.fd);
}

static void
test_syscall(void)
{
    uint64_t sp = 1, pc = 1, args[6] = {0};
    int64_t nr = 0;
    static const char blocked[] =
        "202 0x7f0a5c000b70 0x80 0x0 0x0 0x0 0x0 0x7f0a5bffe9a0 "
        "0x7f0a5d0a4e1e\n";
    static const char nosys[] = "-1 0x7ffc1b2c3d40 0x7f0a5d0a4e1e\n";

    TAP_EQ_INT(
        proc_parse_syscall(blocked, strlen(blocked), &nr, &sp, &pc, args), 0,
        "blocked in a system call");
    TAP_EQ_INT(nr, 202, "which one");
    TAP_EQ_INT(args[0], 0x7f0a5c000b70ULL, "its first argument");
    TAP_EQ_INT(args[1], 0x80, "its second argument");
    TAP_EQ_INT(args[5], 0, "its sixth argument");
    TAP_EQ_INT(sp, 0x7f0a5bffe9a0ULL, "its stack pointer");
    TAP_EQ_INT(pc, 0x7f0a5d0a4e1eULL, "its instruction pointer");
    TAP_EQ_INT(proc_parse_syscall(nosys, strlen(nosys), &nr, &sp, &pc, NULL),
               0, "stopped outside a system call");
    TAP_EQ_INT(nr, -1, "no system call");
    TAP_EQ_INT(sp, 0x7ffc1b2c3d40ULL, "its stack pointer");
    TAP_EQ_INT(proc_parse_syscall("running\n", 8, &nr, &sp, &pc, NULL), 0,
               "running");
    TAP_EQ_INT(sp, 0, "no stack pointer while running");
    TAP_OK(proc_parse_syscall("202 0x1\n", 8, &nr, &sp, &pc, NULL) < 0,
           "truncated");
}

int
main(int argc, char **argv)
{
    fixtures = argc > 1 ? argv[1] : getenv("PYSPECT_FIXTURES");
    if (fixtures == NULL) {
        printf("Bail out! no fixtures directory\n");
        return 1;
    }
    test_parse();
    test_bad_input();
    test_split();
    test_syscall();
    return tap_done();
}
