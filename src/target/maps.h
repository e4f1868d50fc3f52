/*
 * maps.h - the memory map of a process (/proc/PID/maps).
 *
 * Layer: target.  maps_parse() is pure (unit-tested on fixture text);
 * maps_read() reads a live process's file and parses it.
 */
#ifndef PYSPECT_TARGET_MAPS_H
#define PYSPECT_TARGET_MAPS_H

#include <stddef.h>
#include <stdint.h>

#include "target/memsrc.h"

struct map_entry {
    raddr_t start;
    raddr_t end;
    uint64_t offset;
    unsigned long inode;
    char perms[5]; /* "r-xp" */
    char *path;    /* "" for anonymous memory; "[heap]", "[stack]"... */
};

struct maps {
    struct map_entry *v;
    size_t n;
    size_t alloc;
};

/* clang-format off */
#define MAPS_INIT {NULL, 0, 0}
/* clang-format on */

/* Parse maps text; lines that do not parse give PS_ECORRUPT. */
int maps_parse(const char *text, size_t len, struct maps *out);
int maps_read(int pid, struct maps *out);
/*
 * Parse one maps line [p, end) (no newline) into e; e->path is malloc'd.
 * Returns 0, or -1 when the line is not a mapping (smaps.c uses it for
 * the header lines of /proc/PID/smaps).
 */
int maps_parse_entry(const char *p, const char *end, struct map_entry *e);
void maps_release(struct maps *m);
/*
 * Is the mapping backed by a file (not anonymous memory, a stack or the
 * heap)?  A core file records names, not inodes.
 */
static inline int
map_entry_is_file(const struct map_entry *e)
{
    return e->inode != 0 || e->path[0] == '/';
}

/* The mapping that contains addr, or NULL. */
const struct map_entry *maps_find(const struct maps *m, raddr_t addr);
/* Is [addr, addr + len) inside readable mappings? */
int maps_readable(const struct maps *m, raddr_t addr, size_t len);

#endif /* PYSPECT_TARGET_MAPS_H */
