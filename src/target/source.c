/*
 * source.c - read and index the target's source files for display.
 *
 * Layer: target.
 */
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/openfile.h"
#include "core/banned.h"

/* Source files larger than this are not shown. */
#define SOURCE_MAX_BYTES (16u << 20)

struct source_file {
    char *name;
    struct strbuf text;
    size_t *lines; /* offsets of line starts */
    size_t nlines;
    int missing;
};

void
source_cache_init(struct source_cache *c, struct target *t)
{
    c->target = t;
    hashmap_init(&c->files);
}

void
source_cache_release(struct source_cache *c)
{
    size_t it = 0;
    uint64_t key;
    void *value;

    while (hashmap_next(&c->files, &it, &key, &value)) {
        struct source_file *f = value;

        free(f->name);
        strbuf_release(&f->text);
        free(f->lines);
        free(f);
    }
    hashmap_release(&c->files);
}

static void
source_load(struct source_cache *c, struct source_file *f)
{
    size_t i, alloc = 0;
    int fd, rc;

    /* The name is the target's to choose: opened only as the target
     * itself could (target_open_file). */
    rc = target_open_file(c->target, f->name, SOURCE_MAX_BYTES, &fd);
    if (rc == 0) {
        rc = openfile_read(fd, SOURCE_MAX_BYTES, &f->text);
        close(fd);
    }
    err_clear();
    if (rc < 0 || memchr(f->text.buf, '\0', f->text.len) != NULL) {
        f->missing = 1;
        return;
    }
    XGROW(f->lines, alloc, 1);
    f->lines[f->nlines++] = 0;
    for (i = 0; i < f->text.len; i++) {
        if (f->text.buf[i] == '\n' && i + 1 < f->text.len) {
            XGROW(f->lines, alloc, f->nlines + 1);
            f->lines[f->nlines++] = i + 1;
        }
    }
}

int
source_line(struct source_cache *c, const char *file, int line,
            struct strbuf *out)
{
    uint64_t key = hash_bytes(file, strlen(file));
    struct source_file *f = hashmap_get(&c->files, key);
    const char *start, *end, *text_end;

    if (f != NULL && strcmp(f->name, file) != 0) {
        return PS_ENOTFOUND; /* a hash collision: rare, just skip */
    }
    if (f == NULL) {
        if (file[0] == '<' || file[0] == '\0') {
            return PS_ENOTFOUND; /* "<string>", "<stdin>", frozen */
        }
        f = xcalloc(1, sizeof(*f));
        f->name = xstrdup(file);
        strbuf_init(&f->text);
        source_load(c, f);
        hashmap_put(&c->files, key, f);
    }
    if (f->missing || line < 1 || (size_t)line > f->nlines) {
        return PS_ENOTFOUND;
    }
    text_end = f->text.buf + f->text.len;
    start = f->text.buf + f->lines[line - 1];
    end = memchr(start, '\n', (size_t)(text_end - start));
    if (end == NULL) {
        end = text_end;
    }
    while (start < end && (*start == ' ' || *start == '\t')) {
        start++;
    }
    while (end > start && (end[-1] == '\r' || end[-1] == ' ')) {
        end--;
    }
    if (start == end) {
        return PS_ENOTFOUND;
    }
    strbuf_add(out, start, (size_t)(end - start));
    return 0;
}
