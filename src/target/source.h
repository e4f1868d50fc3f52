/*
 * source.h - source lines of the target's Python files.
 *
 * Layer: target.  File names are as the target sees them: relative ones
 * are resolved against its working directory (/proc/PID/cwd) and absolute
 * ones through its root (/proc/PID/root), so containers work.  Files are
 * read once and kept for the life of the cache.
 */
#ifndef PYSPECT_TARGET_SOURCE_H
#define PYSPECT_TARGET_SOURCE_H

#include <stddef.h>

#include "core/hashmap.h"
#include "core/strbuf.h"

struct source_cache {
    int pid;
    struct hashmap files; /* hash of the name -> struct source_file */
};

void source_cache_init(struct source_cache *c, int pid);
void source_cache_release(struct source_cache *c);

/*
 * Line `line` (1-based) of file, without its newline and leading
 * whitespace, appended to out.  Returns 0, or PS_ENOTFOUND when the file
 * or the line cannot be had.
 */
int source_line(struct source_cache *c, const char *file, int line,
                struct strbuf *out);

#endif /* PYSPECT_TARGET_SOURCE_H */
