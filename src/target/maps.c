/*
 * maps.c - parse /proc/PID/maps.
 *
 * Layer: target.
 */
#include "maps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "core/banned.h"

static int
maps_hex(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    int digits = 0;

    while (*p < end) {
        char c = **p;
        int d;

        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            break;
        }
        if (digits++ >= 16) {
            return -1;
        }
        v = (v << 4) | (uint64_t)d;
        (*p)++;
    }
    *out = v;
    return digits ? 0 : -1;
}

static int
maps_expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c) {
        return -1;
    }
    (*p)++;
    return 0;
}

/*
 * The kernel writes a newline in a mapped file's name as "\012" (the
 * only character it escapes there): undo it, so the name matches the
 * file's (readlink of /proc/PID/exe).  A name that really holds the four
 * characters \012 reads as a newline too: no better can be done.
 */
static void
maps_unmangle(char *path)
{
    char *r = path, *w = path;

    while (*r) {
        if (r[0] == '\\' && r[1] == '0' && r[2] == '1' && r[3] == '2') {
            *w++ = '\n';
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* One line: "start-end perms offset dev:dev inode [path]". */
int
maps_parse_entry(const char *p, const char *end, struct map_entry *e)
{
    uint64_t dev, inode;
    int i;

    if (maps_hex(&p, end, &e->start) < 0 || maps_expect(&p, end, '-') < 0 ||
        maps_hex(&p, end, &e->end) < 0 || maps_expect(&p, end, ' ') < 0) {
        return -1;
    }
    for (i = 0; i < 4; i++) {
        if (p >= end) {
            return -1;
        }
        e->perms[i] = *p++;
    }
    e->perms[4] = '\0';
    if (maps_expect(&p, end, ' ') < 0 || maps_hex(&p, end, &e->offset) < 0 ||
        maps_expect(&p, end, ' ') < 0 || maps_hex(&p, end, &dev) < 0 ||
        maps_expect(&p, end, ':') < 0 || maps_hex(&p, end, &dev) < 0 ||
        maps_expect(&p, end, ' ') < 0) {
        return -1;
    }
    inode = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        inode = inode * 10 + (uint64_t)(*p++ - '0');
    }
    e->inode = (unsigned long)inode;
    while (p < end && *p == ' ') {
        p++;
    }
    e->path = xstrndup(p, (size_t)(end - p));
    maps_unmangle(e->path);
    if (e->end < e->start) {
        free(e->path);
        return -1;
    }
    return 0;
}

int
maps_parse(const char *text, size_t len, struct maps *out)
{
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        struct map_entry e;

        if (eol > p) {
            memset(&e, 0, sizeof(e));
            if (maps_parse_entry(p, eol, &e) < 0) {
                return err_set(PS_ECORRUPT, "cannot parse maps line '%.*s'",
                               (int)(eol - p), p);
            }
            XGROW(out->v, out->alloc, out->n + 1);
            out->v[out->n++] = e;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int
maps_read(int pid, struct maps *out)
{
    char path[64];
    struct strbuf sb = STRBUF_INIT;
    int rc;

    snprintf(path, sizeof(path), "/proc/%d/maps", pid);
    rc = read_file(path, 64u << 20, &sb);
    if (rc == PS_ENOTFOUND) {
        rc = err_set(PS_EEXITED, "pid %d", pid);
    } else if (rc == PS_EPERM) {
        rc = err_set(PS_EPERM, "cannot read %s", path);
    } else if (rc == 0) {
        rc = maps_parse(sb.buf, sb.len, out);
    }
    strbuf_release(&sb);
    return rc;
}

void
maps_release(struct maps *m)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        free(m->v[i].path);
    }
    free(m->v);
    m->v = NULL;
    m->n = m->alloc = 0;
}

const struct map_entry *
maps_find(const struct maps *m, raddr_t addr)
{
    size_t lo = 0, hi = m->n;

    /* The kernel lists mappings in address order. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (addr < m->v[mid].start) {
            hi = mid;
        } else if (addr >= m->v[mid].end) {
            lo = mid + 1;
        } else {
            return &m->v[mid];
        }
    }
    return NULL;
}

int
maps_readable(const struct maps *m, raddr_t addr, size_t len)
{
    raddr_t end = addr + len;

    if (end < addr) {
        return 0;
    }
    while (addr < end) {
        const struct map_entry *e = maps_find(m, addr);

        if (e == NULL || e->perms[0] != 'r') {
            return 0;
        }
        addr = e->end;
    }
    return 1;
}
