/*
 * test_alloc_report.c - the allocation tracker's files read back.
 *
 * Layer: tests.  Store files (alloc/store.h) are built here byte by byte,
 * as the tracker writes them: strings, frames, stacks with their
 * counters.  The reader must give the figures the format defines (peak
 * by the epoch rule, blocks rounded from fixed point, an image followed
 * by another of its pid counted as replaced), and refuse, whole, a file
 * whose records do not hold together.  The by-line table is checked on
 * the profile the report fills.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/report.h"
#include "alloc/store.h"
#include "core/strbuf.h"
#include "output/output.h"
#include "tap.h"

/* A store being built: the header and the log. */
struct fake {
    struct alloc_header h;
    unsigned char log[8192];
    size_t len;
};

static void
fake_init(struct fake *f, int pid, unsigned gen)
{
    memset(f, 0, sizeof(*f));
    memcpy(f->h.magic, ALLOC_STORE_MAGIC, 8);
    f->h.version = ALLOC_STORE_VERSION;
    f->h.header_size = ALLOC_STORE_HEADER;
    f->h.pid = pid;
    f->h.generation = gen;
    f->h.state = ALLOC_STATE_EXITED;
    f->h.mode = ALLOC_MODE_ALL;
    f->h.log_max = ALLOC_LOG_MAX;
    snprintf(f->h.python_version, sizeof(f->h.python_version), "3.12.1");
    snprintf(f->h.command, sizeof(f->h.command), "python3 app.py");
}

static uint32_t
fake_rec(struct fake *f, uint32_t kind, const void *body, size_t n)
{
    struct alloc_rec r = {kind, (uint32_t)(sizeof(r) + n)};
    uint32_t id = (uint32_t)(f->len / 8);

    memcpy(f->log + f->len, &r, sizeof(r));
    memcpy(f->log + f->len + sizeof(r), body, n);
    f->len += (sizeof(r) + n + 7) & ~(size_t)7;
    return id;
}

static uint32_t
fake_string(struct fake *f, const char *s)
{
    return fake_rec(f, ALLOC_REC_STRING, s, strlen(s));
}

static uint32_t
fake_frame(struct fake *f, uint32_t name, uint32_t file, int line)
{
    struct alloc_rec_frame fr;

    memset(&fr, 0, sizeof(fr));
    fr.name = name;
    fr.file = file;
    fr.line = line;
    fr.firstlineno = line;
    return fake_rec(f, ALLOC_REC_FRAME, (const char *)&fr + sizeof(fr.rec),
                    sizeof(fr) - sizeof(fr.rec));
}

/* A stack of n frames (innermost first) with counters in bytes and
 * whole blocks. */
static uint32_t
fake_stack(struct fake *f, const uint32_t *frames, uint32_t n, uint64_t live,
           uint64_t live_blocks, uint64_t allocated, uint64_t peak,
           uint64_t epoch)
{
    unsigned char body[sizeof(struct alloc_rec_stack) +
                       (ALLOC_FRAMES_MAX + 1) * sizeof(uint32_t)];
    struct alloc_rec_stack s;

    memset(&s, 0, sizeof(s));
    s.nframes = n;
    s.c.live_bytes = live;
    s.c.live_blocks = live_blocks * ALLOC_BLOCK_ONE;
    s.c.allocated_bytes = allocated;
    s.c.allocated_blocks = (live_blocks + 1) * ALLOC_BLOCK_ONE;
    s.c.peak_bytes = peak;
    s.c.peak_blocks = live_blocks * ALLOC_BLOCK_ONE;
    s.c.epoch = epoch;
    memcpy(body, (const char *)&s + sizeof(s.rec), sizeof(s) - sizeof(s.rec));
    if (n > 0) {
        memcpy(body + sizeof(s) - sizeof(s.rec), frames, n * sizeof(uint32_t));
    }
    return fake_rec(f, ALLOC_REC_STACK, body,
                    sizeof(s) - sizeof(s.rec) + n * sizeof(uint32_t));
}

static void
fake_write(struct fake *f, const char *path)
{
    unsigned char hdr[ALLOC_STORE_HEADER];
    FILE *fp = fopen(path, "wb");

    f->h.log_len = f->len;
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, &f->h, sizeof(f->h));
    fwrite(hdr, 1, sizeof(hdr), fp);
    fwrite(f->log, 1, f->len, fp);
    fclose(fp);
}

/* The usual store: app.py's main() calling make() (line 3) and keep()
 * (line 7); the peak epoch is 5. */
static void
fake_app(struct fake *f, int pid, unsigned gen)
{
    uint32_t app, mainfn, make, keep, fmain, fmake, fkeep;
    uint32_t s1[2], s2[2];

    fake_init(f, pid, gen);
    app = fake_string(f, "/srv/app.py");
    mainfn = fake_string(f, "main");
    make = fake_string(f, "make");
    keep = fake_string(f, "keep");
    fmain = fake_frame(f, mainfn, app, 10);
    fmake = fake_frame(f, make, app, 3);
    fkeep = fake_frame(f, keep, app, 7);
    s1[0] = fmake;
    s1[1] = fmain;
    s2[0] = fkeep;
    s2[1] = fmain;
    /* make: changed after the peak (epoch 5): its peak figure is kept. */
    fake_stack(f, s1, 2, 1000, 10, 5000, 4000, 5);
    /* keep: unchanged since before the peak: live is its peak. */
    fake_stack(f, s2, 2, 300, 3, 300, 999999, 2);
    fake_stack(f, NULL, 0, 50, 1, 50, 50, 5);
    f->h.peak_epoch = 5;
    f->h.live_bytes = 1350;
    f->h.live_blocks = 14 * ALLOC_BLOCK_ONE;
    f->h.allocated_bytes = 5350;
    f->h.allocated_blocks = 17 * ALLOC_BLOCK_ONE;
    f->h.peak_bytes = 4350;
}

static const struct alloc_site *
site_of(const struct alloc_report *r, const struct alloc_site *sites, size_t n,
        const char *fn)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const char *name;

        if (sites[i].frame == PROF_NONE) {
            continue;
        }
        name = strtab_get(&r->names.strings,
                          r->names.frames[sites[i].frame].name);
        if (strcmp(name, fn) == 0) {
            return &sites[i];
        }
    }
    return NULL;
}

static void
test_figures(const char *dir)
{
    struct alloc_report r;
    struct alloc_site *sites;
    const struct alloc_site *make, *keep;
    struct fake f;
    char path[512];
    size_t n;

    snprintf(path, sizeof(path), "%s/100.0", dir);
    fake_app(&f, 100, 0);
    fake_write(&f, path);
    alloc_report_init(&r);
    TAP_EQ_INT(alloc_report_read_dir(&r, dir), 0, "read the directory");
    TAP_EQ_INT(r.nimages, 1, "one image");
    TAP_EQ_INT(r.unreadable, 0, "nothing unreadable");
    TAP_EQ_STR(r.images[0].python, "3.12.1", "the version");
    TAP_EQ_INT(r.images[0].totals.live_blocks, 14, "blocks from fixed point");
    alloc_report_sites(&r, &sites, &n);
    TAP_EQ_INT(n, 3, "three sites: two lines and no frame");
    make = site_of(&r, sites, n, "make");
    keep = site_of(&r, sites, n, "keep");
    TAP_OK(make && make == &sites[0], "largest live first");
    TAP_EQ_INT(make ? make->f.peak_bytes : 0, 4000,
               "peak kept when changed since the peak");
    TAP_EQ_INT(keep ? keep->f.peak_bytes : 0, 300,
               "peak is live when unchanged since the peak");
    TAP_EQ_INT(make ? make->f.allocated_blocks : 0, 11, "allocated blocks");
    TAP_EQ_INT(sites[2].frame, PROF_NONE, "the stack without frames");
    free(sites);

    /* The profile of a metric, and the table by line. */
    {
        struct out_options o;
        struct strbuf sb = STRBUF_INIT;

        r.names.meta.unit = "bytes";
        r.names.meta.what = "live at the end";
        alloc_report_fill(&r, ALLOC_METRIC_LIVE, 0);
        TAP_EQ_INT(r.names.total, 1350, "profile total is live bytes");
        TAP_EQ_INT(r.names.total_objects, 14, "and live blocks");
        out_options_init(&o);
        out_lines(&r.names, &o, &sb);
        TAP_OK(strstr(sb.buf, "1.32 KiB live at the end in 14 blocks") != NULL,
               "table header");
        TAP_OK(strstr(sb.buf, "    1000 B   74.1%          10       100 B  "
                              "/srv/app.py:3  make") != NULL,
               "table row of make");
        TAP_OK(strstr(sb.buf, "(no Python frames)") != NULL,
               "table row without frames");
        strbuf_release(&sb);
    }
    alloc_report_release(&r);
    unlink(path);
}

static void
test_exec(const char *dir)
{
    struct alloc_report r;
    struct alloc_figures t;
    uint64_t peak, peak_ns;
    struct fake f;
    char p0[512], p1[512];

    snprintf(p0, sizeof(p0), "%s/200.0", dir);
    snprintf(p1, sizeof(p1), "%s/200.1", dir);
    fake_app(&f, 200, 0);
    fake_write(&f, p0);
    fake_app(&f, 200, 1);
    f.h.peak_bytes = 9000;
    fake_write(&f, p1);
    alloc_report_init(&r);
    alloc_report_read_dir(&r, dir);
    TAP_EQ_INT(r.nimages, 2, "two images of one pid");
    alloc_report_process(&r, 200, &t, &peak, &peak_ns);
    TAP_EQ_INT(t.live_bytes, 1350, "live: the last image only");
    TAP_EQ_INT(t.allocated_bytes, 2 * 5350, "allocated: both");
    TAP_EQ_INT(peak, 9000, "the higher peak");
    TAP_OK(r.images[0].execed && !r.images[1].execed, "the first replaced");
    alloc_report_release(&r);
    unlink(p0);
    unlink(p1);
}

/* Each corruption must make the file unreadable, not half read. */
static void
test_corrupt(const char *dir)
{
    static const char *const what[] = {
        "bad magic",
        "log longer than the file",
        "record past the end",
        "frame naming a frame as its name",
        "stack naming a string as a frame",
        "unknown record kind",
        "string too long",
        "stack of too many frames",
    };
    size_t k;
    char path[512];

    snprintf(path, sizeof(path), "%s/300.0", dir);
    for (k = 0; k < sizeof(what) / sizeof(what[0]); k++) {
        struct alloc_report r;
        struct fake f;
        struct alloc_rec rec;
        int rc;

        fake_app(&f, 300, 0);
        switch (k) {
        case 0:
            f.h.magic[0] = 'x';
            break;
        case 1:
            /* written below: the header claims more than is there */
            break;
        case 2:
            memcpy(&rec, f.log, sizeof(rec));
            rec.len = 60000;
            memcpy(f.log, &rec, sizeof(rec));
            break;
        case 3: {
            /* The frame of "make" (the 6th record) names itself. */
            struct alloc_rec_frame fr;
            size_t off = 0, i;

            for (i = 0; i < 5; i++) {
                memcpy(&rec, f.log + off, sizeof(rec));
                off += (rec.len + 7) & ~(size_t)7;
            }
            memcpy(&fr, f.log + off, sizeof(fr));
            fr.name = (uint32_t)(off / 8);
            memcpy(f.log + off, &fr, sizeof(fr));
            break;
        }
        case 4: {
            uint32_t app = 0;

            fake_stack(&f, &app, 1, 1, 1, 1, 1, 0);
            break;
        }
        case 5:
            fake_rec(&f, 99, "x", 1);
            break;
        case 6: {
            static char big[ALLOC_STRING_MAX + 2];

            memset(big, 'a', sizeof(big) - 1);
            if (f.len + sizeof(big) + 16 < sizeof(f.log)) {
                fake_string(&f, big);
            } else {
                f.h.magic[1] = 'x'; /* no room: fail another way */
            }
            break;
        }
        case 7: {
            uint32_t ids[ALLOC_FRAMES_MAX + 1];

            memset(ids, 0, sizeof(ids));
            fake_stack(&f, ids, ALLOC_FRAMES_MAX + 1, 1, 1, 1, 1, 0);
            break;
        }
        }
        fake_write(&f, path);
        if (k == 1) {
            FILE *fp = fopen(path, "r+b");
            uint64_t len = f.len + 4096;

            fseek(fp, (long)offsetof(struct alloc_header, log_len), SEEK_SET);
            fwrite(&len, sizeof(len), 1, fp);
            fclose(fp);
        }
        alloc_report_init(&r);
        rc = alloc_report_read_file(&r, path);
        TAP_OK(rc < 0 && r.nimages == 0 && r.nstacks == 0, "refused: %s",
               what[k]);
        alloc_report_release(&r);
        unlink(path);
    }
}

int
main(void)
{
    char dir[] = "/tmp/pyspect-test-alloc-XXXXXX";

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_figures(dir);
    test_exec(dir);
    test_corrupt(dir);
    rmdir(dir);
    return tap_done();
}
