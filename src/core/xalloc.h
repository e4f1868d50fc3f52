/*
 * xalloc.h - allocation that cannot fail.
 *
 * Layer: core.  Like git's xmalloc(): running out of memory in a command
 * line tool has no useful recovery, so these print one line and exit(1)
 * instead of returning NULL.  This is the one place a low layer may print.
 */
#ifndef PYSPECT_CORE_XALLOC_H
#define PYSPECT_CORE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Grow *array (of *alloc elements of elem_size) to hold at least need. */
void xgrow(void **array, size_t *alloc, size_t need, size_t elem_size);

/* The check inline: most calls (one per piece of a batch, say) have
 * room already.  need is evaluated twice: no side effects in it. */
#define XGROW(array, alloc, need)                                             \
    do {                                                                      \
        if ((size_t)(need) > (alloc)) {                                       \
            xgrow((void **)&(array), &(alloc), (need), sizeof(*(array)));     \
        }                                                                     \
    } while (0)

#endif /* PYSPECT_CORE_XALLOC_H */
