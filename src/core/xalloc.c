/*
 * xalloc.c - allocation wrappers that exit on exhaustion.
 *
 * Layer: core.
 */
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
xalloc_die(size_t size)
{
    fprintf(stderr, "pyspect: out of memory (allocating %zu bytes)\n", size);
    exit(1);
}

void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL) {
        xalloc_die(size);
    }
    return p;
}

void *
xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);

    if (p == NULL) {
        xalloc_die(count * size);
    }
    return p;
}

void *
xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL) {
        xalloc_die(size);
    }
    return p;
}

char *
xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void
xgrow(void **array, size_t *alloc, size_t need, size_t elem_size)
{
    size_t n;

    if (need <= *alloc) {
        return;
    }
    n = *alloc ? *alloc : 8;
    while (n < need) {
        if (n > (size_t)-1 / 2 / elem_size) {
            xalloc_die((size_t)-1);
        }
        n *= 2;
    }
    *array = xrealloc(*array, n * elem_size);
    *alloc = n;
}
