/*
 * report.c - read the allocation tracker's files into stacks and figures.
 *
 * Layer: alloc (pyspect's side).  A file is read whole up to the length
 * its header publishes, then parsed record by record; ids are offsets
 * into the log, so a table indexed by offset / 8 turns each string and
 * frame id into what pyspect interned for it.  The figures of a stack are
 * taken as the tracker defines them (tracker.c): live and allocated as
 * counted, and live at the peak either as kept (the stack changed after
 * the peak) or as live now (it did not).
 */
#include "alloc/report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/elf.h"
#include "core/banned.h"

/* What a log id refers to, once parsed. */
enum {
    ID_NONE = 0,
    ID_STRING,
    ID_FRAME,
};

static const char *const metric_names[] = {"live", "peak", "allocated"};

const char *
alloc_metric_name(enum alloc_metric m)
{
    return (size_t)m < ARRAY_SIZE(metric_names) ? metric_names[m] : "?";
}

int
alloc_metric_parse(const char *name, enum alloc_metric *m)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(metric_names); i++) {
        if (strcmp(name, metric_names[i]) == 0) {
            *m = (enum alloc_metric)i;
            return 0;
        }
    }
    return err_set(PS_EUSAGE,
                   "unknown metric '%s' (choose live, peak or allocated)",
                   name);
}

void
alloc_figures_get(const struct alloc_figures *f, enum alloc_metric m,
                  uint64_t *bytes, uint64_t *blocks)
{
    switch (m) {
    case ALLOC_METRIC_PEAK:
        *bytes = f->peak_bytes;
        *blocks = f->peak_blocks;
        break;
    case ALLOC_METRIC_ALLOCATED:
        *bytes = f->allocated_bytes;
        *blocks = f->allocated_blocks;
        break;
    default:
        *bytes = f->live_bytes;
        *blocks = f->live_blocks;
        break;
    }
}

static void
figures_add(struct alloc_figures *to, const struct alloc_figures *f)
{
    to->live_bytes += f->live_bytes;
    to->live_blocks += f->live_blocks;
    to->peak_bytes += f->peak_bytes;
    to->peak_blocks += f->peak_blocks;
    to->allocated_bytes += f->allocated_bytes;
    to->allocated_blocks += f->allocated_blocks;
}

/* Fixed-point blocks (store.h) to whole ones, rounded. */
static uint64_t
blocks(uint64_t fixed)
{
    return (fixed + ALLOC_BLOCK_ONE / 2) / ALLOC_BLOCK_ONE;
}

/* A module named by C frames, opened once. */
struct module {
    char *path;
    struct elf_image *elf; /* NULL: could not be opened */
};

void
alloc_report_init(struct alloc_report *r)
{
    memset(r, 0, sizeof(*r));
    profile_init(&r->names);
    hashmap_init(&r->modules);
}

void
alloc_report_release(struct alloc_report *r)
{
    size_t it = 0;
    uint64_t key;
    void *value;

    while (hashmap_next(&r->modules, &it, &key, &value)) {
        struct module *m = value;

        elf_image_close(m->elf);
        free(m->path);
        free(m);
    }
    hashmap_release(&r->modules);
    profile_release(&r->names);
    free(r->images);
    free(r->stacks);
    free(r->frame_ids);
    free(r->native);
    memset(r, 0, sizeof(*r));
}

int
alloc_report_native(const struct alloc_report *r, uint32_t frame)
{
    return frame < r->native_alloc && r->native[frame];
}

static void
mark_native(struct alloc_report *r, uint32_t frame)
{
    if (frame >= r->native_alloc) {
        size_t old = r->native_alloc;

        XGROW(r->native, r->native_alloc, (size_t)frame + 1);
        memset(r->native + old, 0, r->native_alloc - old);
    }
    r->native[frame] = 1;
}

static struct module *
module_get(struct alloc_report *r, const char *path)
{
    uint64_t key = hash_bytes(path, strlen(path));
    struct module *m = hashmap_get(&r->modules, key);

    if (m != NULL && strcmp(m->path, path) == 0) {
        return m;
    }
    if (m != NULL) {
        return NULL; /* a hash collision: leave it unnamed */
    }
    m = xcalloc(1, sizeof(*m));
    m->path = xstrdup(path);
    if (path[0] == '/' && elf_image_open(path, &m->elf) < 0) {
        m->elf = NULL;
    }
    hashmap_put(&r->modules, key, m);
    return m;
}

static int
read_all(int fd, void *buf, size_t len, off_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n =
            pread(fd, (char *)buf + done, len - done, off + (off_t)done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? PS_EIO : PS_ECORRUPT;
        }
        done += (size_t)n;
    }
    return 0;
}

static int
header_check(const struct alloc_header *h)
{
    uint64_t len = __atomic_load_n(&h->log_len, __ATOMIC_ACQUIRE);

    if (memcmp(h->magic, ALLOC_STORE_MAGIC, 8) != 0 ||
        h->version != ALLOC_STORE_VERSION ||
        h->header_size != ALLOC_STORE_HEADER || len % 8 != 0 ||
        len > ALLOC_LOG_MAX || h->mode > ALLOC_MODE_ALL ||
        h->state > ALLOC_STATE_EXITED) {
        return err_set(PS_ECORRUPT, "not an allocation tracker file");
    }
    return 0;
}

int
alloc_header_read(const char *path, struct alloc_header *h)
{
    unsigned char buf[ALLOC_STORE_HEADER];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0) {
        return err_set(PS_EIO, "cannot read %s: %s", path, strerror(errno));
    }
    rc = read_all(fd, buf, sizeof(buf), 0);
    close(fd);
    if (rc < 0) {
        return err_set(rc, "cannot read %s", path);
    }
    memcpy(h, buf, sizeof(*h));
    return header_check(h);
}

/* A field of text from the header, NUL-terminated within its size. */
static void
copy_text(char *to, const char *from, size_t size)
{
    size_t n = strnlen(from, size - 1);

    memcpy(to, from, n);
    to[n] = '\0';
}

/* The parse of one log into the report: all or nothing. */
struct parse {
    struct alloc_report *r;
    const unsigned char *log;
    size_t len;
    unsigned char *kind; /* per id */
    uint32_t *val;       /* per id: strtab id or profile frame id */
    uint32_t image;
    const struct alloc_header *h;
    size_t nstacks0, nframe_ids0;
};

static int
parse_string(struct parse *ps, size_t off, uint32_t len)
{
    size_t n = len - sizeof(struct alloc_rec);
    char *s;

    if (n > ALLOC_STRING_MAX) {
        return PS_ECORRUPT;
    }
    s = xmalloc(n + 1);
    memcpy(s, ps->log + off + sizeof(struct alloc_rec), n);
    s[n] = '\0';
    ps->kind[off / 8] = ID_STRING;
    ps->val[off / 8] = strtab_intern(&ps->r->names.strings, s);
    free(s);
    return 0;
}

/*
 * A C frame's name: the function of the module's own symbol table that
 * holds the address (a static function too), else what the tracker's
 * dladdr() found, else the address.
 */
static uint32_t
native_name(struct parse *ps, const struct alloc_rec_frame *f)
{
    struct profile *p = &ps->r->names;
    const char *module = strtab_get(&p->strings, ps->val[f->file]);
    const char *found = strtab_get(&p->strings, ps->val[f->name]);
    struct module *m = module ? module_get(ps->r, module) : NULL;
    const char *name;
    uint64_t start;
    char hex[32];

    if (m != NULL && m->elf != NULL &&
        elf_image_symbol_at(m->elf, f->address, &name, &start) == 0) {
        return strtab_intern(&p->strings, name);
    }
    if (found != NULL && *found != '\0') {
        return ps->val[f->name];
    }
    snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)f->address);
    return strtab_intern(&p->strings, hex);
}

static int
parse_frame(struct parse *ps, size_t off, uint32_t len)
{
    struct alloc_rec_frame f;
    uint32_t name;

    if (len != sizeof(f)) {
        return PS_ECORRUPT;
    }
    memcpy(&f, ps->log + off, sizeof(f));
    if ((size_t)f.name >= ps->len / 8 || (size_t)f.file >= ps->len / 8 ||
        ps->kind[f.name] != ID_STRING || ps->kind[f.file] != ID_STRING) {
        return PS_ECORRUPT;
    }
    name = ps->val[f.name];
    if (f.flags & ALLOC_FRAME_NATIVE) {
        name = native_name(ps, &f);
        f.line = -1;
    }
    ps->kind[off / 8] = ID_FRAME;
    ps->val[off / 8] = profile_frame_id(&ps->r->names, name, ps->val[f.file],
                                        f.line >= 0 ? f.line : -1);
    if (f.flags & ALLOC_FRAME_NATIVE) {
        mark_native(ps->r, ps->val[off / 8]);
    }
    return 0;
}

static int
parse_stack(struct parse *ps, size_t off, uint32_t len)
{
    struct alloc_report *r = ps->r;
    struct alloc_rec_stack s;
    const struct alloc_counters *c = &s.c;
    struct alloc_stack *st;
    uint32_t i;

    if (len < sizeof(s)) {
        return PS_ECORRUPT;
    }
    memcpy(&s, ps->log + off, sizeof(s));
    if (s.nframes > ALLOC_FRAMES_MAX ||
        len != sizeof(s) + (size_t)s.nframes * sizeof(uint32_t)) {
        return PS_ECORRUPT;
    }
    XGROW(r->frame_ids, r->frame_ids_alloc, r->nframe_ids + s.nframes);
    for (i = 0; i < s.nframes; i++) {
        uint32_t id;

        memcpy(&id, ps->log + off + sizeof(s) + (size_t)i * sizeof(id),
               sizeof(id));
        if ((size_t)id >= ps->len / 8 || ps->kind[id] != ID_FRAME) {
            return PS_ECORRUPT;
        }
        r->frame_ids[r->nframe_ids + i] = ps->val[id];
    }
    XGROW(r->stacks, r->stacks_alloc, r->nstacks + 1);
    st = &r->stacks[r->nstacks++];
    st->image = ps->image;
    st->nframes = s.nframes;
    st->offset = r->nframe_ids;
    r->nframe_ids += s.nframes;
    st->f.live_bytes = c->live_bytes;
    st->f.live_blocks = blocks(c->live_blocks);
    st->f.allocated_bytes = c->allocated_bytes;
    st->f.allocated_blocks = blocks(c->allocated_blocks);
    if (c->epoch == ps->h->peak_epoch) {
        /* Changed since the peak: what it had then was kept. */
        st->f.peak_bytes = c->peak_bytes;
        st->f.peak_blocks = blocks(c->peak_blocks);
    } else {
        st->f.peak_bytes = c->live_bytes;
        st->f.peak_blocks = blocks(c->live_blocks);
    }
    return 0;
}

static int
parse_log(struct parse *ps)
{
    size_t off = 0;
    int rc = 0;

    while (rc == 0 && off < ps->len) {
        struct alloc_rec rec;

        if (ps->len - off < sizeof(rec)) {
            return PS_ECORRUPT;
        }
        memcpy(&rec, ps->log + off, sizeof(rec));
        if (rec.len < sizeof(rec) || rec.len > ps->len - off) {
            return PS_ECORRUPT;
        }
        switch (rec.kind) {
        case ALLOC_REC_STRING:
            rc = parse_string(ps, off, rec.len);
            break;
        case ALLOC_REC_FRAME:
            rc = parse_frame(ps, off, rec.len);
            break;
        case ALLOC_REC_STACK:
            rc = parse_stack(ps, off, rec.len);
            break;
        default:
            rc = PS_ECORRUPT;
            break;
        }
        off += ((size_t)rec.len + 7) & ~(size_t)7;
    }
    return rc;
}

int
alloc_report_read_file(struct alloc_report *r, const char *path)
{
    struct alloc_header h;
    struct alloc_image *im;
    struct parse ps;
    unsigned char *buf = NULL;
    struct stat st;
    uint64_t len;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return err_set(PS_EIO, "cannot read %s: %s", path, strerror(errno));
    }
    rc = read_all(fd, &h, sizeof(h), 0);
    if (rc == 0) {
        rc = header_check(&h);
    }
    len = h.log_len;
    if (rc == 0 && (fstat(fd, &st) < 0 ||
                    (uint64_t)st.st_size < ALLOC_STORE_HEADER + len)) {
        rc = err_set(PS_ECORRUPT, "%s is shorter than its header says", path);
    }
    if (rc == 0) {
        buf = xmalloc(len ? len : 1);
        rc = read_all(fd, buf, len, ALLOC_STORE_HEADER);
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }

    memset(&ps, 0, sizeof(ps));
    ps.r = r;
    ps.log = buf;
    ps.len = len;
    ps.h = &h;
    ps.kind = xcalloc(len / 8 + 1, 1);
    ps.val = xcalloc(len / 8 + 1, sizeof(uint32_t));
    ps.image = (uint32_t)r->nimages;
    ps.nstacks0 = r->nstacks;
    ps.nframe_ids0 = r->nframe_ids;
    rc = parse_log(&ps);
    free(ps.kind);
    free(ps.val);
    free(buf);
    if (rc < 0) {
        /* All or nothing: interned strings and frames may stay (they
         * are names, not figures); stacks go. */
        r->nstacks = ps.nstacks0;
        r->nframe_ids = ps.nframe_ids0;
        return err_set(PS_ECORRUPT, "%s does not parse", path);
    }

    XGROW(r->images, r->images_alloc, r->nimages + 1);
    im = &r->images[r->nimages++];
    memset(im, 0, sizeof(*im));
    im->pid = h.pid;
    im->ppid = h.ppid;
    im->generation = h.generation;
    im->state = (enum alloc_state)h.state;
    im->mode = (enum alloc_mode)h.mode;
    im->sample_bytes = h.sample_bytes;
    copy_text(im->python, h.python_version, sizeof(im->python));
    copy_text(im->command, h.command, sizeof(im->command));
    im->start_ns = h.start_ns;
    im->peak_ns = h.peak_ns;
    im->samples = h.samples;
    im->self_bytes = h.self_bytes;
    memcpy(im->dropped, h.dropped, sizeof(im->dropped));
    im->totals.live_bytes = h.live_bytes;
    im->totals.live_blocks = blocks(h.live_blocks);
    im->totals.allocated_bytes = h.allocated_bytes;
    im->totals.allocated_blocks = blocks(h.allocated_blocks);
    im->totals.peak_bytes = h.peak_bytes;
    /* Blocks at the peak: the sum over its stacks. */
    for (size_t i = ps.nstacks0; i < r->nstacks; i++) {
        im->totals.peak_blocks += r->stacks[i].f.peak_blocks;
    }
    return 0;
}

/* Names like "4242.0": pid, dot, generation. */
static int
store_name(const char *name)
{
    const char *dot = strchr(name, '.');
    long v;

    if (dot == NULL || dot == name || dot[1] == '\0') {
        return 0;
    }
    for (const char *c = name; *c != '\0'; c++) {
        if (c != dot && (*c < '0' || *c > '9')) {
            return 0;
        }
    }
    return parse_long(dot + 1, 0, 1000000, &v) == 0;
}

/* An image followed by another of the same pid ended in exec: what it
 * had live went with it. */
static void
mark_execed(struct alloc_report *r)
{
    size_t i, j;

    for (i = 0; i < r->nimages; i++) {
        for (j = 0; j < r->nimages; j++) {
            if (r->images[j].pid == r->images[i].pid &&
                r->images[j].generation > r->images[i].generation) {
                r->images[i].execed = 1;
                break;
            }
        }
        if (r->images[i].execed) {
            r->images[i].totals.live_bytes = 0;
            r->images[i].totals.live_blocks = 0;
        }
    }
    for (i = 0; i < r->nstacks; i++) {
        if (r->images[r->stacks[i].image].execed) {
            r->stacks[i].f.live_bytes = 0;
            r->stacks[i].f.live_blocks = 0;
        }
    }
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
alloc_report_read_dir(struct alloc_report *r, const char *dir)
{
    struct strbuf path = STRBUF_INIT;
    char **names = NULL;
    size_t n = 0, alloc = 0, i;
    struct dirent *de;
    DIR *d = opendir(dir);

    if (d == NULL) {
        return err_set(PS_EIO, "cannot list %s: %s", dir, strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        if (store_name(de->d_name)) {
            XGROW(names, alloc, n + 1);
            names[n++] = xstrdup(de->d_name);
        }
    }
    closedir(d);
    /* A stable order: the same files give the same report. */
    if (n > 1) {
        qsort(names, n, sizeof(*names), name_cmp);
    }
    for (i = 0; i < n; i++) {
        strbuf_reset(&path);
        strbuf_addf(&path, "%s/%s", dir, names[i]);
        if (alloc_report_read_file(r, path.buf) < 0) {
            r->unreadable++;
        }
        free(names[i]);
    }
    free(names);
    strbuf_release(&path);
    mark_execed(r);
    return 0;
}

void
alloc_report_process(const struct alloc_report *r, int pid,
                     struct alloc_figures *out, uint64_t *peak_bytes,
                     uint64_t *peak_ns)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    *peak_bytes = 0;
    *peak_ns = 0;
    for (i = 0; i < r->nimages; i++) {
        const struct alloc_image *im = &r->images[i];

        if (im->pid != pid) {
            continue;
        }
        figures_add(out, &im->totals);
        if (im->totals.peak_bytes > *peak_bytes) {
            *peak_bytes = im->totals.peak_bytes;
            *peak_ns = im->peak_ns;
        }
    }
}

void
alloc_report_totals(const struct alloc_report *r, struct alloc_figures *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < r->nimages; i++) {
        figures_add(out, &r->images[i].totals);
    }
}

void
alloc_report_fill(struct alloc_report *r, enum alloc_metric m, int by_process)
{
    struct profile *p = &r->names;
    uint32_t *threads;
    int many = 0;
    size_t i;

    for (i = 1; i < r->nimages; i++) {
        many |= r->images[i].pid != r->images[0].pid;
    }
    threads = xmalloc((r->nimages ? r->nimages : 1) * sizeof(*threads));
    for (i = 0; i < r->nimages; i++) {
        const struct alloc_image *im = &r->images[i];

        threads[i] = profile_thread_pid(p, im->pid, 0, im->pid, im->command);
    }
    p->meta.threads = by_process && many;
    for (i = 0; i < r->nstacks; i++) {
        const struct alloc_stack *s = &r->stacks[i];
        uint64_t bytes, nblocks;

        alloc_figures_get(&s->f, m, &bytes, &nblocks);
        profile_add_objects(p, threads[s->image], r->frame_ids + s->offset,
                            s->nframes, bytes, nblocks);
    }
    free(threads);
}

static int
site_cmp(const void *a, const void *b)
{
    const struct alloc_site *x = a, *y = b;

    if (x->f.live_bytes != y->f.live_bytes) {
        return x->f.live_bytes < y->f.live_bytes ? 1 : -1;
    }
    if (x->f.peak_bytes != y->f.peak_bytes) {
        return x->f.peak_bytes < y->f.peak_bytes ? 1 : -1;
    }
    if (x->f.allocated_bytes != y->f.allocated_bytes) {
        return x->f.allocated_bytes < y->f.allocated_bytes ? 1 : -1;
    }
    return (x->frame > y->frame) - (x->frame < y->frame);
}

void
alloc_report_sites(const struct alloc_report *r, struct alloc_site **out,
                   size_t *n)
{
    size_t nframes = r->names.nframes, count = 0, i;
    struct alloc_site *by_frame = xcalloc(nframes + 1, sizeof(*by_frame));
    struct alloc_site *sites;

    for (i = 0; i <= nframes; i++) {
        by_frame[i].frame = i < nframes ? (uint32_t)i : PROF_NONE;
    }
    for (i = 0; i < r->nstacks; i++) {
        const struct alloc_stack *s = &r->stacks[i];
        size_t at = nframes, k;

        /* The innermost Python frame: past the C frames of --native. */
        for (k = 0; k < s->nframes; k++) {
            uint32_t f = r->frame_ids[s->offset + k];

            if (!alloc_report_native(r, f)) {
                at = f;
                break;
            }
        }
        figures_add(&by_frame[at].f, &s->f);
    }
    sites = xmalloc((nframes + 1) * sizeof(*sites));
    for (i = 0; i <= nframes; i++) {
        const struct alloc_figures *f = &by_frame[i].f;

        if (f->live_bytes || f->peak_bytes || f->allocated_bytes ||
            f->allocated_blocks) {
            sites[count++] = by_frame[i];
        }
    }
    free(by_frame);
    qsort(sites, count, sizeof(*sites), site_cmp);
    *out = sites;
    *n = count;
}
