/*
 * source.h - source lines of the target's Python files.
 *
 * Layer: target.  File names are as the target sees them, and the
 * target's to choose: they are opened with target_open_file(), only as
 * the target itself could (from its root and working directory, so
 * containers work; as its user; regular files only, never blocking, at
 * most 16 MiB).  Files are read once and kept for the life of the
 * cache.
 */
#ifndef PYSPECT_TARGET_SOURCE_H
#define PYSPECT_TARGET_SOURCE_H

#include <stddef.h>

#include "core/hashmap.h"
#include "core/strbuf.h"
#include "target/target.h"

struct source_cache {
    struct target *target; /* not owned */
    struct hashmap files;  /* hash of the name -> struct source_file */
};

void source_cache_init(struct source_cache *c, struct target *t);
void source_cache_release(struct source_cache *c);

/*
 * Line `line` (1-based) of file, without its newline and leading
 * whitespace, appended to out.  Returns 0, or PS_ENOTFOUND when the file
 * or the line cannot be had.
 */
int source_line(struct source_cache *c, const char *file, int line,
                struct strbuf *out);

#endif /* PYSPECT_TARGET_SOURCE_H */
