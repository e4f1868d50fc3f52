/*
 * smaps.c - parse /proc/PID/smaps and /proc/PID/smaps_rollup.
 *
 * Layer: target.  The kernel prints one header line per mapping (the
 * /proc/PID/maps format, parsed by maps_parse_entry()) followed by
 * "Name:   N kB" lines; a few lines have no unit (THPeligible, VmFlags,
 * ProtectionKey) and are skipped like any field pyspect does not use.
 */
#include "smaps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "core/banned.h"

/* Largest smaps file read (a process with ~200k mappings). */
#define SMAPS_FILE_MAX (256u << 20)

struct smaps_field {
    const char *name;
    size_t offset;
};

#define SMAPS_FIELD(name, member)                                             \
    {                                                                         \
        name, offsetof(struct smaps_counts, member)                           \
    }

static const struct smaps_field smaps_fields[] = {
    SMAPS_FIELD("Size", size),
    SMAPS_FIELD("Rss", rss),
    SMAPS_FIELD("Pss", pss),
    SMAPS_FIELD("Pss_Anon", pss_anon),
    SMAPS_FIELD("Pss_File", pss_file),
    SMAPS_FIELD("Shared_Clean", shared_clean),
    SMAPS_FIELD("Shared_Dirty", shared_dirty),
    SMAPS_FIELD("Private_Clean", private_clean),
    SMAPS_FIELD("Private_Dirty", private_dirty),
    SMAPS_FIELD("Anonymous", anonymous),
    SMAPS_FIELD("AnonHugePages", anon_huge),
    SMAPS_FIELD("Swap", swap),
    SMAPS_FIELD("SwapPss", swap_pss),
};

static int
is_hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/*
 * A field line "Name:   1234 kB".  Returns 1 when it was a known field
 * (stored), 0 when it is some other line, -1 when a known field has a
 * malformed value.
 */
static int
smaps_field_line(const char *p, const char *end, struct smaps_counts *c)
{
    const char *colon = memchr(p, ':', (size_t)(end - p));
    size_t i, namelen;
    uint64_t v = 0;
    int digits = 0;

    if (colon == NULL) {
        return 0;
    }
    namelen = (size_t)(colon - p);
    for (i = 0; i < ARRAY_SIZE(smaps_fields); i++) {
        if (strlen(smaps_fields[i].name) == namelen &&
            memcmp(smaps_fields[i].name, p, namelen) == 0) {
            break;
        }
    }
    if (i == ARRAY_SIZE(smaps_fields)) {
        return 0;
    }
    p = colon + 1;
    while (p < end && *p == ' ') {
        p++;
    }
    while (p < end && *p >= '0' && *p <= '9' && digits < 15) {
        v = v * 10 + (uint64_t)(*p++ - '0');
        digits++;
    }
    if (digits == 0 || end - p != 3 || memcmp(p, " kB", 3) != 0) {
        return -1;
    }
    *(uint64_t *)((char *)c + smaps_fields[i].offset) = v * 1024;
    return 1;
}

int
smaps_parse(const char *text, size_t len, struct smaps *out)
{
    const char *p = text, *end = text + len;
    struct smaps_vma *cur = NULL;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;

        if (eol > p && is_hex_digit(*p)) {
            struct map_entry e;

            memset(&e, 0, sizeof(e));
            if (maps_parse_entry(p, eol, &e) < 0) {
                return err_set(PS_ECORRUPT, "cannot parse smaps line '%.*s'",
                               (int)(eol - p > 80 ? 80 : eol - p), p);
            }
            XGROW(out->v, out->alloc, out->n + 1);
            cur = &out->v[out->n++];
            memset(cur, 0, sizeof(*cur));
            cur->map = e;
        } else if (eol > p) {
            if (cur == NULL) {
                return err_set(PS_ECORRUPT, "smaps field before a mapping");
            }
            if (smaps_field_line(p, eol, &cur->c) < 0) {
                return err_set(PS_ECORRUPT, "cannot parse smaps line '%.*s'",
                               (int)(eol - p > 80 ? 80 : eol - p), p);
            }
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

static int
smaps_read_file(int pid, const char *name, struct strbuf *sb)
{
    char path[64];
    int rc;

    snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
    rc = read_file(path, SMAPS_FILE_MAX, sb);
    if (rc == PS_ENOTFOUND) {
        return err_set(PS_ENOTFOUND, "no %s", path);
    }
    if (rc == PS_EPERM) {
        return err_set(PS_EPERM, "cannot read %s", path);
    }
    if (rc < 0) {
        return err_set(rc, "cannot read %s", path);
    }
    return 0;
}

/* ENOENT on /proc/PID/x: the process is gone, or the file does not exist
 * on this kernel.  Tell them apart by /proc/PID itself. */
static int
smaps_missing(int pid)
{
    char path[64];
    struct strbuf sb = STRBUF_INIT;
    int rc;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    rc = read_file(path, 4096, &sb);
    strbuf_release(&sb);
    if (rc == PS_ENOTFOUND) {
        return err_set(PS_EEXITED, "pid %d exited", pid);
    }
    return PS_ENOTFOUND;
}

int
smaps_read(int pid, struct smaps *out)
{
    struct strbuf sb = STRBUF_INIT;
    int rc;

    rc = smaps_read_file(pid, "smaps", &sb);
    if (rc == PS_ENOTFOUND) {
        rc = smaps_missing(pid);
        if (rc == PS_ENOTFOUND) {
            rc = err_set(PS_EIO, "/proc/%d/smaps does not exist", pid);
        }
    }
    if (rc == 0) {
        rc = smaps_parse(sb.buf, sb.len, out);
    }
    strbuf_release(&sb);
    return rc;
}

void
smaps_release(struct smaps *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        free(s->v[i].map.path);
    }
    free(s->v);
    s->v = NULL;
    s->n = s->alloc = 0;
}

const struct smaps_vma *
smaps_find(const struct smaps *s, raddr_t addr)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (addr < s->v[mid].map.start) {
            hi = mid;
        } else if (addr >= s->v[mid].map.end) {
            lo = mid + 1;
        } else {
            return &s->v[mid];
        }
    }
    return NULL;
}

int
smaps_rollup_parse(const char *text, size_t len, struct smaps_counts *out)
{
    const char *p = text, *end = text + len;
    int have_rss = 0;

    memset(out, 0, sizeof(*out));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;

        if (eol > p && !is_hex_digit(*p)) {
            int r = smaps_field_line(p, eol, out);

            if (r < 0) {
                return err_set(PS_ECORRUPT,
                               "cannot parse smaps_rollup line '%.*s'",
                               (int)(eol - p > 80 ? 80 : eol - p), p);
            }
            if (r > 0 && eol - p > 4 && memcmp(p, "Rss:", 4) == 0) {
                have_rss = 1;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (!have_rss) {
        return err_set(PS_ECORRUPT, "smaps_rollup without an Rss line");
    }
    return 0;
}

void
smaps_sum(const struct smaps *s, struct smaps_counts *out)
{
    size_t i, k;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < s->n; i++) {
        const uint64_t *in = (const uint64_t *)&s->v[i].c;
        uint64_t *sum = (uint64_t *)out;

        for (k = 0; k < sizeof(*out) / sizeof(uint64_t); k++) {
            sum[k] += in[k];
        }
    }
}

int
smaps_rollup_read(int pid, struct smaps_counts *out)
{
    struct strbuf sb = STRBUF_INIT;
    int rc;

    rc = smaps_read_file(pid, "smaps_rollup", &sb);
    if (rc == 0) {
        rc = smaps_rollup_parse(sb.buf, sb.len, out);
    } else if (rc == PS_ENOTFOUND) {
        rc = smaps_missing(pid);
        if (rc == PS_ENOTFOUND) {
            struct smaps all = SMAPS_INIT;

            /* A kernel before 4.14: add up smaps. */
            rc = smaps_read(pid, &all);
            if (rc == 0) {
                smaps_sum(&all, out);
            }
            smaps_release(&all);
        }
    }
    strbuf_release(&sb);
    return rc;
}

int
smaps_vma_is_file(const struct smaps_vma *v)
{
    const char *path = v->map.path;

    if (map_entry_is_file(&v->map)) {
        return 1;
    }
    /* The kernel's code pages mapped into every process. */
    return strcmp(path, "[vdso]") == 0 || strcmp(path, "[vvar]") == 0 ||
           strcmp(path, "[vsyscall]") == 0 ||
           strcmp(path, "[vvar_vclock]") == 0;
}

void
smaps_from_maps(const struct maps *m, struct smaps *out)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        struct smaps_vma *v;

        XGROW(out->v, out->alloc, out->n + 1);
        v = &out->v[out->n++];
        memset(v, 0, sizeof(*v));
        v->map = m->v[i];
        v->map.path = xstrdup(m->v[i].path);
        v->c.size = m->v[i].end - m->v[i].start;
        v->c.rss = v->c.size;
        if (!smaps_vma_is_file(v)) {
            /* Anonymous memory nothing may write is a reservation or a
             * guard page (which gcore writes out as readable zeros):
             * it holds nothing. */
            if (v->map.perms[1] != 'w') {
                v->c.rss = 0;
            }
            v->c.anonymous = v->c.rss;
        } else if (v->map.perms[0] != 'r') {
            v->c.rss = 0;
        }
    }
}
