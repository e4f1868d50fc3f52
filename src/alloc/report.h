/*
 * report.h - what the allocation tracker reported, read back by pyspect.
 *
 * Layer: alloc (pyspect's side; depends on profile and core).  The
 * tracker in each process writes a file (store.h); a report reads them
 * all -- one per process image -- into one set of stacks with their
 * figures, frames and strings interned in a profile, and answers the
 * three questions of `pyspect alloc`:
 *   live       what is still allocated at the end (the leaks);
 *   peak       what was allocated when live memory was highest;
 *   allocated  everything allocated, freed or not.
 * Figures are bytes and blocks; in sampled mode they are estimates.
 *
 * The files come from the target: every length, kind and id is checked
 * and a file that does not parse is skipped and counted, never trusted.
 */
#ifndef PYSPECT_ALLOC_REPORT_H
#define PYSPECT_ALLOC_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "alloc/store.h"
#include "core/hashmap.h"
#include "profile/profile.h"

enum alloc_metric {
    ALLOC_METRIC_LIVE,
    ALLOC_METRIC_PEAK,
    ALLOC_METRIC_ALLOCATED,
};

/* "live", "peak", "allocated"; and back (PS_EUSAGE for others). */
const char *alloc_metric_name(enum alloc_metric m);
int alloc_metric_parse(const char *name, enum alloc_metric *m);

/* Figures of a stack, a site or a process: bytes, and whole blocks. */
struct alloc_figures {
    uint64_t live_bytes;
    uint64_t live_blocks;
    uint64_t peak_bytes;
    uint64_t peak_blocks;
    uint64_t allocated_bytes;
    uint64_t allocated_blocks;
};

/* One process image: one file. */
struct alloc_image {
    int pid;
    int ppid;
    unsigned generation;
    enum alloc_state state;
    enum alloc_mode mode;
    uint64_t sample_bytes;
    char python[32];
    char command[256];
    uint64_t start_ns; /* CLOCK_MONOTONIC */
    uint64_t peak_ns;
    uint64_t samples;
    uint64_t self_bytes;
    uint64_t dropped[ALLOC_DROP_COUNT];
    int execed; /* replaced by a later image of its pid (exec) */
    struct alloc_figures totals;
};

/* One distinct stack of one image. */
struct alloc_stack {
    uint32_t image;
    uint32_t nframes;
    size_t offset; /* into frame_ids: profile frame ids, innermost first */
    struct alloc_figures f;
};

/* The figures of one innermost line (a frame of names). */
struct alloc_site {
    uint32_t frame; /* PROF_NONE: allocations with no Python frame */
    struct alloc_figures f;
};

struct alloc_report {
    struct profile names; /* strings and frames: stacks go in later */
    struct alloc_image *images;
    size_t nimages, images_alloc;
    struct alloc_stack *stacks;
    size_t nstacks, stacks_alloc;
    uint32_t *frame_ids;
    size_t nframe_ids, frame_ids_alloc;
    size_t unreadable; /* files skipped */
    /* Per profile frame id: 1 for a C frame (--native). */
    unsigned char *native;
    size_t native_alloc;
    /* Modules whose symbols name C frames: path hash -> struct. */
    struct hashmap modules;
};

void alloc_report_init(struct alloc_report *r);
void alloc_report_release(struct alloc_report *r);

/*
 * Read every tracker file in dir (names PID.GEN).  Files that cannot be
 * read or do not parse are counted in r->unreadable.  PS_EIO only when
 * dir itself cannot be listed.
 */
int alloc_report_read_dir(struct alloc_report *r, const char *dir);

/* Read one file; PS_ECORRUPT (and nothing added) when it does not
 * parse, PS_EIO when it cannot be read. */
int alloc_report_read_file(struct alloc_report *r, const char *path);

/*
 * The header of a file as it is now, for a timeline read while the
 * program runs.  PS_EIO, or PS_ECORRUPT when it is not a tracker file.
 */
int alloc_header_read(const char *path, struct alloc_header *h);

/* The root process's images' totals summed (live: the last image only),
 * and the highest peak of its images with its time. */
void alloc_report_process(const struct alloc_report *r, int pid,
                          struct alloc_figures *out, uint64_t *peak_bytes,
                          uint64_t *peak_ns);

/* Totals over every image. */
void alloc_report_totals(const struct alloc_report *r,
                         struct alloc_figures *out);

/*
 * Add every stack to r->names with the chosen metric's bytes as count and
 * blocks as objects (zero stacks left out).  by_process puts a root frame
 * per process when there are several.  Call once.
 */
void alloc_report_fill(struct alloc_report *r, enum alloc_metric m,
                       int by_process);

/* The figures of one metric. */
void alloc_figures_get(const struct alloc_figures *f, enum alloc_metric m,
                       uint64_t *bytes, uint64_t *blocks);

/* Is profile frame id a C frame? */
int alloc_report_native(const struct alloc_report *r, uint32_t frame);

/*
 * Sites: the stacks' figures summed by innermost Python frame (C frames
 * of --native are skipped: the site is the line that called into them),
 * sorted by live
 * bytes, then peak, then allocated (largest first).  The caller frees
 * *out.
 */
void alloc_report_sites(const struct alloc_report *r, struct alloc_site **out,
                        size_t *n);

#endif /* PYSPECT_ALLOC_REPORT_H */
