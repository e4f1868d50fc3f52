/*
 * smaps.h - resident memory per mapping (/proc/PID/smaps) and in total
 * (/proc/PID/smaps_rollup).
 *
 * Layer: target.  The parsers are pure (unit-tested on fixture text);
 * the readers read a live process's files.  All figures are bytes (the
 * kernel prints kB).
 */
#ifndef PYSPECT_TARGET_SMAPS_H
#define PYSPECT_TARGET_SMAPS_H

#include <stddef.h>
#include <stdint.h>

#include "target/maps.h"

/* The fields pyspect uses, of one mapping or of the whole process. */
struct smaps_counts {
    uint64_t size; /* virtual size (0 in smaps_rollup) */
    uint64_t rss;
    uint64_t pss;
    uint64_t pss_anon; /* smaps_rollup only, kernel 5.7+ */
    uint64_t pss_file;
    uint64_t shared_clean;
    uint64_t shared_dirty;
    uint64_t private_clean;
    uint64_t private_dirty;
    uint64_t anonymous;
    uint64_t anon_huge;
    uint64_t swap;
    uint64_t swap_pss;
};

struct smaps_vma {
    struct map_entry map; /* map.path is owned */
    struct smaps_counts c;
};

struct smaps {
    struct smaps_vma *v;
    size_t n;
    size_t alloc;
};

/* clang-format off */
#define SMAPS_INIT {NULL, 0, 0}
/* clang-format on */

/*
 * Parse smaps text into out (appending).  Field lines pyspect does not
 * know are skipped; a header line that does not parse, or a field line
 * before the first header, gives PS_ECORRUPT.
 */
int smaps_parse(const char *text, size_t len, struct smaps *out);

/* Read and parse /proc/PID/smaps.  PS_EEXITED, PS_EPERM. */
int smaps_read(int pid, struct smaps *out);

void smaps_release(struct smaps *s);

/* The mapping that contains addr, or NULL. */
const struct smaps_vma *smaps_find(const struct smaps *s, raddr_t addr);

/*
 * Parse smaps_rollup text (one "[rollup]" header and fields) into out.
 * PS_ECORRUPT when there is no Rss line.
 */
int smaps_rollup_parse(const char *text, size_t len, struct smaps_counts *out);

/*
 * The process totals from /proc/PID/smaps_rollup; on kernels without it
 * (before 4.14) the sum of smaps.  PS_EEXITED, PS_EPERM.
 */
int smaps_rollup_read(int pid, struct smaps_counts *out);

/* Sum every mapping's counts into out. */
void smaps_sum(const struct smaps *s, struct smaps_counts *out);

/* Unique set size: memory only this process maps (private pages). */
static inline uint64_t
smaps_uss(const struct smaps_counts *c)
{
    return c->private_clean + c->private_dirty;
}

/*
 * The mappings of m as an smaps whose every mapping that holds memory
 * (readable files, writable anonymous memory) counts as wholly resident:
 * what a core file, which records no residency, can say (the split is
 * then one of mapped sizes).  Appends to out.
 */
void smaps_from_maps(const struct maps *m, struct smaps *out);

/* Is the mapping backed by a file (code, libraries, mapped files)? */
int smaps_vma_is_file(const struct smaps_vma *v);

#endif /* PYSPECT_TARGET_SMAPS_H */
