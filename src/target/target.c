/*
 * target.c - what every target shares: the pause bookkeeping, the
 * defaults, and the memory-only target of the unit tests.
 *
 * Layer: target.  The backends are live.c (a running process) and
 * corefile.c (an ELF core file).
 */
#include "target.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/elf.h"
#include "target/openfile.h"
#include "core/banned.h"

void
target_free(struct target *t)
{
    if (t == NULL) {
        return;
    }
    target_resume(t);
    t->ops->free(t);
    memsrc_free(t->mem);
    free(t->name);
    free(t->file);
    free(t->partial);
    free(t);
}

int
target_pause(struct target *t)
{
    int rc;

    if (t->paused) {
        return 0;
    }
    t->pause_start_ns = clock_now_ns();
    t->pause_end_ns = 0;
    if (t->ops->pause == NULL) {
        return 0;
    }
    rc = t->ops->pause(t);
    if (rc < 0) {
        t->pause_end_ns = clock_now_ns();
        return rc;
    }
    t->paused = 1;
    return 0;
}

int
target_pause_thread(struct target *t, int tid)
{
    int rc;

    if (t->paused) {
        return 0;
    }
    t->pause_start_ns = clock_now_ns();
    t->pause_end_ns = 0;
    if (t->ops->pause_thread == NULL) {
        return 0;
    }
    rc = t->ops->pause_thread(t, tid);
    if (rc < 0) {
        t->pause_end_ns = clock_now_ns();
        return rc;
    }
    t->paused = 1;
    return 0;
}

void
target_resume(struct target *t)
{
    if (t->paused) {
        t->ops->resume(t);
        t->paused = 0;
    }
    if (t->pause_end_ns == 0) {
        t->pause_end_ns = clock_now_ns();
    }
}

double
target_pause_ms(const struct target *t)
{
    uint64_t end = t->pause_end_ns ? t->pause_end_ns : clock_now_ns();

    if (t->ops->pause == NULL || t->pause_start_ns == 0) {
        return 0;
    }
    return (double)(end - t->pause_start_ns) / 1e6;
}

int
target_open_elf(struct target *t, const struct map_entry *e,
                struct strbuf *where, struct elf_image **out)
{
    struct strbuf path = STRBUF_INIT;
    int rc;

    rc = target_mapped_path(t, e, &path);
    if (rc == 0) {
        rc = elf_image_open(path.buf, out);
    }
    err_clear();
    if (rc == 0 && where != NULL) {
        strbuf_add(where, path.buf, path.len);
    }
    strbuf_release(&path);
    return rc;
}

int
target_open_file(struct target *t, const char *path, size_t max, int *fd)
{
    struct file_creds nobody;
    struct strbuf where = STRBUF_INIT;
    int rc;

    if (t->ops->open_file != NULL) {
        return t->ops->open_file(t, path, max, fd);
    }
    /* Whose file it is cannot be known: only what anyone may read. */
    memset(&nobody, 0, sizeof(nobody));
    rc = target_path(t, path, &where);
    if (rc == 0) {
        rc = openfile_path(where.buf, &nobody, max, fd);
    }
    strbuf_release(&where);
    return rc < 0 ? PS_ENOTFOUND : 0;
}

int
target_check(struct target *t)
{
    return t->ops->check ? t->ops->check(t) : 0;
}

int
target_exiting(struct target *t)
{
    return t->ops->exiting ? t->ops->exiting(t) : 0;
}

/* ---- memory only ------------------------------------------------------ */

static int
memory_maps(struct target *t, struct maps *out)
{
    (void)t;
    (void)out;
    return 0;
}

static int
memory_path(struct target *t, const char *path, struct strbuf *out)
{
    (void)t;
    (void)path;
    (void)out;
    return PS_ENOTFOUND;
}

static int
memory_mapped_path(struct target *t, const struct map_entry *e,
                   struct strbuf *out)
{
    (void)t;
    (void)e;
    (void)out;
    return PS_ENOTFOUND;
}

static int
memory_threads(struct target *t, int **tids, size_t *n)
{
    (void)t;
    *tids = NULL;
    *n = 0;
    return 0;
}

static int
memory_thread_state(struct target *t, int tid, char *state)
{
    (void)t;
    (void)tid;
    (void)state;
    return PS_ENOTFOUND;
}

static int
memory_thread_regs(struct target *t, int tid, struct target_regs *regs)
{
    (void)t;
    (void)tid;
    (void)regs;
    return PS_ENOTFOUND;
}

static int
memory_cmdline(struct target *t, struct strbuf *out)
{
    (void)t;
    (void)out;
    return 0;
}

static int
memory_executable(struct target *t, struct strbuf *out)
{
    (void)t;
    (void)out;
    return 0;
}

static void
memory_free(struct target *t)
{
    (void)t;
}

static const struct target_ops memory_ops = {
    .name = "memory",
    .maps = memory_maps,
    .path = memory_path,
    .mapped_path = memory_mapped_path,
    .threads = memory_threads,
    .thread_state = memory_thread_state,
    .thread_regs = memory_thread_regs,
    .cmdline = memory_cmdline,
    .executable = memory_executable,
    .free = memory_free,
};

struct target *
target_from_memsrc(struct memsrc *src)
{
    struct target *t = xcalloc(1, sizeof(*t));

    t->ops = &memory_ops;
    t->kind = TARGET_MEMORY;
    t->mem = src;
    t->name = xstrdup("memory");
    return t;
}
