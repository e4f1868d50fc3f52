/*
 * corefile.c - the ELF core-file target: a process as it was when its
 * core was written (by gdb's gcore or by the kernel).
 *
 * Layer: target.  Memory is the PT_LOAD segments.  What the core left
 * out (file-backed pages the coredump filter skips, and whole read-only
 * mappings gcore does not write) is read from the mapped file at its
 * offset, found through the NT_FILE note; a file whose first page
 * differs from the copy in the core is not the one that was mapped, and
 * is not used.  Threads and registers come from NT_PRSTATUS, the command
 * line from NT_PRPSINFO, the executable from the auxiliary vector.  A
 * core is always consistent: there is nothing to pause.
 *
 * A hole in the file inside a segment (bytes its writer never wrote) reads
 * as zeros, which is what memory the kernel found never touched holds;
 * but gcore leaves the same hole for the rest of a mapping after a read
 * it could not do (a guard page), so reads of holes are remembered
 * (target_take_missing()) for a walk that fails to say why.
 *
 * The file is untrusted input, like target memory: every count, size and
 * offset is checked against the file and bounded.  x86-64 cores only.
 */
#define _GNU_SOURCE
#include "target.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "core/banned.h"

#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif

/* Bounds on what a core may declare. */
#define CORE_MAX_SEGMENTS (1u << 20)
#define CORE_MAX_NOTES_BYTES (256u << 20)
#define CORE_MAX_FILES (1u << 20)
#define CORE_MAX_HOLES (1u << 20)
#define CORE_PAGE 4096u

/* x86-64's struct elf_prstatus and struct elf_prpsinfo. */
#define PRSTATUS_SIZE 336
#define PRSTATUS_PID 32
#define PRSTATUS_REGS 112
#define PRPSINFO_SIZE 136
#define PRPSINFO_PID 24
#define PRPSINFO_FNAME 40
#define PRPSINFO_PSARGS 56
/* Indices in user_regs_struct. */
#define REG_RBP 4
#define REG_ORIG_RAX 15
#define REG_RIP 16
#define REG_RSP 19

struct core_segment {
    raddr_t start, end; /* p_vaddr, p_vaddr + p_memsz */
    uint64_t offset;    /* p_offset */
    uint64_t filesz;    /* bytes the core holds (p_filesz) */
    uint64_t avail;     /* of which are in the file (less when cut) */
    uint32_t flags;     /* PF_R, PF_W, PF_X */
};

struct core_file {
    raddr_t start, end;
    uint64_t offset; /* in the file, bytes */
    char *path;      /* as the process saw it */
    int fd;          /* -1 not opened yet, -2 unusable */
    uint64_t size;
};

struct core_thread {
    int tid;
    struct target_regs regs;
};

/* Bytes of the core file no one wrote: [start, end), file offsets. */
struct core_hole {
    uint64_t start, end;
};

struct core_target {
    struct target base;
    int fd;
    uint64_t size;
    char *path;
    char *sysroot;
    char *exe_override;
    char *executable;
    char cmdline[81];          /* NT_PRPSINFO's */
    char *full_cmdline;        /* from argv, or NULL */
    struct core_segment *segs; /* by start */
    size_t nsegs;
    struct core_file *files; /* by start */
    size_t nfiles;
    struct core_thread *threads; /* by tid */
    size_t nthreads;
    struct core_hole *holes; /* by start */
    size_t nholes;
    raddr_t missing; /* first address read from a hole, 0 none */
    struct maps maps;
    uint64_t auxv_phdr, auxv_vdso, auxv_execfn;
    unsigned char auxv_head[32]; /* the first two entries, to find it */
    size_t auxv_head_len;
};

struct core_mem {
    struct memsrc base;
    struct core_target *ct;
};

static struct core_target *
core_of(struct target *t)
{
    return (struct core_target *)t;
}

/* Say why answers are partial (the first reason wins). */
static void
core_partial(struct core_target *ct, int error, const char *fmt,
             const char *arg)
{
    struct strbuf sb = STRBUF_INIT;

    if (ct->base.partial != NULL) {
        return;
    }
    strbuf_addf(&sb, fmt, arg);
    ct->base.partial = strbuf_detach(&sb);
    ct->base.partial_error = error;
}

static int
pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n =
            pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* ---- files behind mappings ------------------------------------------- */

static int
core_path(struct target *t, const char *path, struct strbuf *out)
{
    struct core_target *ct = core_of(t);
    struct stat st;
    size_t mark = out->len;

    if (path[0] != '/') {
        return PS_ENOTFOUND; /* a core does not record a working dir */
    }
    if (ct->sysroot != NULL) {
        strbuf_addf(out, "%s%s", ct->sysroot, path);
        if (stat(out->buf + mark, &st) == 0) {
            return 0;
        }
        out->len = mark;
        out->buf[mark] = '\0';
    }
    strbuf_addstr(out, path);
    return 0;
}

static int
is_executable_path(const struct core_target *ct, const char *path)
{
    return ct->executable != NULL && strcmp(path, ct->executable) == 0;
}

/* A path for a file the process mapped: --executable, or through the
 * sysroot. */
static int
file_path(struct core_target *ct, const char *path, struct strbuf *out)
{
    if (path[0] != '/') {
        return PS_ENOTFOUND;
    }
    if (ct->exe_override != NULL && is_executable_path(ct, path)) {
        strbuf_addstr(out, ct->exe_override);
        return 0;
    }
    return core_path(&ct->base, path, out);
}

static const struct core_segment *
segment_at(const struct core_target *ct, raddr_t addr, size_t *next)
{
    size_t lo = 0, hi = ct->nsegs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (addr < ct->segs[mid].start) {
            hi = mid;
        } else if (addr >= ct->segs[mid].end) {
            lo = mid + 1;
        } else {
            return &ct->segs[mid];
        }
    }
    *next = lo;
    return NULL;
}

static struct core_file *
file_at(struct core_target *ct, raddr_t addr)
{
    size_t lo = 0, hi = ct->nfiles;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (addr < ct->files[mid].start) {
            hi = mid;
        } else if (addr >= ct->files[mid].end) {
            lo = mid + 1;
        } else {
            return &ct->files[mid];
        }
    }
    return NULL;
}

/* Bytes at addr that the core itself holds: 1 when all len are there. */
static int
core_holds(const struct core_target *ct, raddr_t addr, size_t len)
{
    size_t next;
    const struct core_segment *s = segment_at(ct, addr, &next);

    return s != NULL && addr - s->start + len <= s->avail;
}

/*
 * Is the file on disk the one that was mapped?  Where the core holds the
 * first page of the file's offset-0 mapping (both gcore and the kernel
 * keep ELF headers), it must match the file's first page.
 */
static int
file_matches(struct core_target *ct, const struct core_file *f, int fd)
{
    unsigned char mem[256], disk[256];
    const struct core_segment *s;
    size_t i, next;

    for (i = 0; i < ct->nfiles; i++) {
        const struct core_file *g = &ct->files[i];

        if (g->offset != 0 || strcmp(g->path, f->path) != 0 ||
            !core_holds(ct, g->start, sizeof(mem))) {
            continue;
        }
        s = segment_at(ct, g->start, &next);
        if (pread_all(ct->fd, mem, sizeof(mem),
                      s->offset + (g->start - s->start)) < 0 ||
            pread_all(fd, disk, sizeof(disk), 0) < 0) {
            return 0;
        }
        return memcmp(mem, disk, sizeof(mem)) == 0;
    }
    return 1; /* nothing to compare with */
}

static int
file_open(struct core_target *ct, struct core_file *f)
{
    struct strbuf path = STRBUF_INIT;
    struct stat st;
    int fd = -1;

    if (f->fd != -1) {
        return f->fd >= 0 ? 0 : PS_EFAULT;
    }
    if (file_path(ct, f->path, &path) == 0) {
        fd = open(path.buf, O_RDONLY | O_CLOEXEC);
    }
    if (fd >= 0 && (fstat(fd, &st) < 0 || !file_matches(ct, f, fd))) {
        close(fd);
        fd = -1;
        core_partial(ct, PS_ENOTFOUND,
                     "%s is not the file the process mapped (give "
                     "--sysroot DIR or --executable PATH)",
                     path.buf);
    } else if (fd < 0) {
        core_partial(ct, PS_ENOTFOUND,
                     "cannot open %s (give --sysroot DIR or --executable "
                     "PATH)",
                     path.len ? path.buf : f->path);
    }
    strbuf_release(&path);
    if (fd < 0) {
        f->fd = -2;
        return PS_EFAULT;
    }
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    return 0;
}

/*
 * The file mapped at e, checked against the core (see file_matches()):
 * one that cannot be had is PS_ENOTFOUND, and makes the target partial.
 */
static int
core_mapped_path(struct target *t, const struct map_entry *e,
                 struct strbuf *out)
{
    struct core_target *ct = core_of(t);
    struct core_file *f = file_at(ct, e->start);

    if (f != NULL && strcmp(f->path, e->path) == 0 && file_open(ct, f) < 0) {
        return PS_ENOTFOUND;
    }
    return file_path(ct, e->path, out);
}

/*
 * Read len bytes at addr from the file mapped there.  Past its end, the
 * rest of the last page reads as zeros, as the kernel maps it.
 */
static int
read_from_file(struct core_target *ct, raddr_t addr, void *buf, size_t len)
{
    struct core_file *f = file_at(ct, addr);
    uint64_t off, have, page_end;

    if (f == NULL || len > f->end - addr || file_open(ct, f) < 0) {
        return PS_EFAULT;
    }
    off = f->offset + (addr - f->start);
    page_end = (f->size + CORE_PAGE - 1) & ~(uint64_t)(CORE_PAGE - 1);
    if (off + len > page_end) {
        return PS_EFAULT;
    }
    have = off < f->size ? f->size - off : 0;
    if (have > len) {
        have = len;
    }
    if (have > 0 && pread_all(f->fd, buf, (size_t)have, off) < 0) {
        return PS_EFAULT;
    }
    memset((char *)buf + have, 0, len - (size_t)have);
    return 0;
}

/* ---- memory ------------------------------------------------------------ */

/* The first file offset in [off, off + len) that is in a hole, or
 * UINT64_MAX when the file holds all of it. */
static uint64_t
hole_in(const struct core_target *ct, uint64_t off, uint64_t len)
{
    size_t lo = 0, hi = ct->nholes;

    /* The first hole that ends after off. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ct->holes[mid].end <= off) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == ct->nholes || ct->holes[lo].start >= off + len) {
        return UINT64_MAX;
    }
    return ct->holes[lo].start > off ? ct->holes[lo].start : off;
}

static int
core_mem_read(struct memsrc *src, raddr_t addr, void *buf, size_t len)
{
    struct core_target *ct = ((struct core_mem *)src)->ct;
    char *p = buf;

    if (addr + len < addr) {
        return PS_EFAULT;
    }
    while (len > 0) {
        size_t next = 0, n;
        const struct core_segment *s = segment_at(ct, addr, &next);
        uint64_t in;
        int rc;

        if (s == NULL) {
            /* Not in the core at all: a mapping gcore left out. */
            raddr_t limit = next < ct->nsegs ? ct->segs[next].start : 0;

            n = limit != 0 && limit - addr < len ? (size_t)(limit - addr)
                                                 : len;
            rc = read_from_file(ct, addr, p, n);
        } else {
            in = addr - s->start;
            n = s->end - addr < len ? (size_t)(s->end - addr) : len;
            if (in < s->avail) {
                uint64_t hole;

                if (n > s->avail - in) {
                    n = (size_t)(s->avail - in);
                }
                rc = pread_all(ct->fd, p, n, s->offset + in) < 0 ? PS_EFAULT
                                                                 : 0;
                hole = hole_in(ct, s->offset + in, n);
                if (rc == 0 && hole != UINT64_MAX && ct->missing == 0) {
                    ct->missing = addr + (hole - (s->offset + in));
                }
            } else if (in < s->filesz) {
                rc = PS_EFAULT; /* the core was cut short here */
            } else {
                rc = read_from_file(ct, addr, p, n);
            }
        }
        if (rc < 0) {
            return rc;
        }
        addr += n;
        p += n;
        len -= n;
    }
    return 0;
}

static void
core_mem_free(struct memsrc *src)
{
    free(src);
}

static const struct memsrc_ops core_mem_ops = {
    .name = "core",
    .read = core_mem_read,
    .readv = NULL,
    .free = core_mem_free,
};

/* ---- threads and identity ---------------------------------------------- */

static int
core_maps(struct target *t, struct maps *out)
{
    const struct maps *m = &core_of(t)->maps;
    size_t i;

    for (i = 0; i < m->n; i++) {
        XGROW(out->v, out->alloc, out->n + 1);
        out->v[out->n] = m->v[i];
        out->v[out->n].path = xstrdup(m->v[i].path);
        out->n++;
    }
    return 0;
}

static int
core_threads(struct target *t, int **tids, size_t *n)
{
    struct core_target *ct = core_of(t);
    size_t i;

    *tids = xcalloc(ct->nthreads + 1, sizeof(**tids));
    for (i = 0; i < ct->nthreads; i++) {
        (*tids)[i] = ct->threads[i].tid;
    }
    *n = ct->nthreads;
    return 0;
}

static const struct core_thread *
thread_of(struct core_target *ct, int tid)
{
    size_t i;

    for (i = 0; i < ct->nthreads; i++) {
        if (ct->threads[i].tid == tid) {
            return &ct->threads[i];
        }
    }
    return NULL;
}

/*
 * The kernel does not record thread states in a core.  orig_rax says
 * whether a thread was inside a system call (waiting, as far as a user
 * can tell) or in user code (running).
 */
static int
core_thread_state(struct target *t, int tid, char *state)
{
    const struct core_thread *th = thread_of(core_of(t), tid);

    if (th == NULL) {
        return PS_ENOTFOUND;
    }
    *state = th->regs.syscall >= 0 ? 'S' : 'R';
    return 0;
}

static int
core_thread_regs(struct target *t, int tid, struct target_regs *regs)
{
    const struct core_thread *th = thread_of(core_of(t), tid);

    if (th == NULL) {
        return PS_ENOTFOUND;
    }
    *regs = th->regs;
    return 0;
}

static int
core_cmdline(struct target *t, struct strbuf *out)
{
    struct core_target *ct = core_of(t);

    strbuf_addstr(out, ct->full_cmdline ? ct->full_cmdline : ct->cmdline);
    return 0;
}

static int
core_executable(struct target *t, struct strbuf *out)
{
    struct core_target *ct = core_of(t);

    if (ct->executable == NULL) {
        return PS_ENOTFOUND;
    }
    strbuf_addstr(out, ct->executable);
    return 0;
}

static raddr_t
core_take_missing(struct target *t)
{
    struct core_target *ct = core_of(t);
    raddr_t addr = ct->missing;

    ct->missing = 0;
    return addr;
}

static void
core_free(struct target *t)
{
    struct core_target *ct = core_of(t);
    size_t i;

    for (i = 0; i < ct->nfiles; i++) {
        if (ct->files[i].fd >= 0) {
            close(ct->files[i].fd);
        }
        free(ct->files[i].path);
    }
    free(ct->files);
    free(ct->segs);
    free(ct->threads);
    free(ct->holes);
    maps_release(&ct->maps);
    if (ct->fd >= 0) {
        close(ct->fd);
    }
    free(ct->path);
    free(ct->sysroot);
    free(ct->exe_override);
    free(ct->executable);
    free(ct->full_cmdline);
}

static const struct target_ops core_ops = {
    .name = "core",
    .maps = core_maps,
    .path = core_path,
    .mapped_path = core_mapped_path,
    .threads = core_threads,
    .thread_state = core_thread_state,
    .thread_regs = core_thread_regs,
    .cmdline = core_cmdline,
    .executable = core_executable,
    .pause = NULL,
    .resume = NULL,
    .check = NULL,
    .exiting = NULL,
    .take_missing = core_take_missing,
    .free = core_free,
};

/* ---- parsing ----------------------------------------------------------- */

static const char *
machine_name(unsigned m)
{
    switch (m) {
    case EM_386:
        return "i386";
    case EM_ARM:
        return "arm";
    case EM_AARCH64:
        return "aarch64";
    case EM_PPC64:
        return "ppc64";
    case EM_S390:
        return "s390x";
    case EM_RISCV:
        return "riscv";
    case EM_X86_64:
        return "x86-64";
    default:
        return "an unknown machine";
    }
}

static int
by_segment_start(const void *a, const void *b)
{
    const struct core_segment *x = a, *y = b;

    return (x->start > y->start) - (x->start < y->start);
}

static int
by_file_start(const void *a, const void *b)
{
    const struct core_file *x = a, *y = b;

    return (x->start > y->start) - (x->start < y->start);
}

static int
by_thread_tid(const void *a, const void *b)
{
    const struct core_thread *x = a, *y = b;

    return (x->tid > y->tid) - (x->tid < y->tid);
}

static int
by_map_start(const void *a, const void *b)
{
    const struct map_entry *x = a, *y = b;

    return (x->start > y->start) - (x->start < y->start);
}

static void
parse_prstatus(struct core_target *ct, const unsigned char *d, size_t len)
{
    struct core_thread *th;
    const unsigned char *r = d + PRSTATUS_REGS;

    if (len < PRSTATUS_SIZE || ct->nthreads >= CORE_MAX_SEGMENTS) {
        return;
    }
    ct->threads =
        xrealloc(ct->threads, (ct->nthreads + 1) * sizeof(*ct->threads));
    th = &ct->threads[ct->nthreads++];
    th->tid = (int)load_u32(d, PRSTATUS_PID);
    th->regs.fp = load_u64(r, 8 * REG_RBP);
    th->regs.syscall = (int64_t)load_u64(r, 8 * REG_ORIG_RAX);
    th->regs.pc = load_u64(r, 8 * REG_RIP);
    th->regs.sp = load_u64(r, 8 * REG_RSP);
    if (th->regs.syscall < -1) {
        th->regs.syscall = -1;
    }
}

static void
parse_prpsinfo(struct core_target *ct, const unsigned char *d, size_t len)
{
    size_t n;

    if (len < PRPSINFO_SIZE) {
        return;
    }
    ct->base.pid = (int)load_u32(d, PRPSINFO_PID);
    memcpy(ct->cmdline, d + PRPSINFO_PSARGS, 80);
    ct->cmdline[80] = '\0';
    n = strlen(ct->cmdline);
    while (n > 0 && ct->cmdline[n - 1] == ' ') {
        ct->cmdline[--n] = '\0';
    }
    if (n == 0) {
        memcpy(ct->cmdline, d + PRPSINFO_FNAME, 16);
        ct->cmdline[16] = '\0';
    }
}

static void
parse_auxv(struct core_target *ct, const unsigned char *d, size_t len)
{
    size_t i;

    ct->auxv_head_len = len < sizeof(ct->auxv_head) ? len & ~(size_t)15
                                                    : sizeof(ct->auxv_head);
    memcpy(ct->auxv_head, d, ct->auxv_head_len);
    for (i = 0; i + 16 <= len; i += 16) {
        uint64_t type = load_u64(d, i), val = load_u64(d, i + 8);

        if (type == AT_PHDR) {
            ct->auxv_phdr = val;
        } else if (type == AT_SYSINFO_EHDR) {
            ct->auxv_vdso = val;
        } else if (type == AT_EXECFN) {
            ct->auxv_execfn = val;
        } else if (type == AT_NULL) {
            break;
        }
    }
}

/*
 * NT_FILE: count, page size, count x {start, end, page offset}, then
 * count NUL-terminated names.
 */
static int
parse_files(struct core_target *ct, const unsigned char *d, size_t len)
{
    uint64_t count, page, i;
    const char *name, *end = (const char *)d + len;

    if (ct->files != NULL || len < 16) {
        return 0;
    }
    count = load_u64(d, 0);
    page = load_u64(d, 8);
    if (count > CORE_MAX_FILES || count * 24 > len - 16 || page == 0 ||
        page > (1u << 30)) {
        return err_set(PS_ENOTCORE, "%s: bad NT_FILE note", ct->path);
    }
    ct->files = xcalloc(count + 1, sizeof(*ct->files));
    name = (const char *)d + 16 + count * 24;
    for (i = 0; i < count; i++) {
        const unsigned char *e = d + 16 + i * 24;
        const char *nul = memchr(name, '\0', (size_t)(end - name));
        struct core_file *f = &ct->files[ct->nfiles];

        if (nul == NULL) {
            return err_set(PS_ENOTCORE, "%s: bad NT_FILE names", ct->path);
        }
        f->start = load_u64(e, 0);
        f->end = load_u64(e, 8);
        f->offset = load_u64(e, 16) * page;
        f->fd = -1;
        if (f->end > f->start && load_u64(e, 16) < (UINT64_MAX / page)) {
            f->path = xstrdup(name);
            ct->nfiles++;
        }
        name = nul + 1;
    }
    if (ct->nfiles > 1) {
        qsort(ct->files, ct->nfiles, sizeof(*ct->files), by_file_start);
    }
    return 0;
}

static int
parse_notes(struct core_target *ct, const unsigned char *d, size_t len)
{
    size_t off = 0;
    int rc;

    while (off + 12 <= len) {
        uint32_t namesz = load_u32(d, off), descsz = load_u32(d, off + 4);
        uint32_t type = load_u32(d, off + 8);
        size_t name = off + 12;
        size_t desc = name + (((size_t)namesz + 3) & ~(size_t)3);
        size_t next = desc + (((size_t)descsz + 3) & ~(size_t)3);

        if (namesz > len || descsz > len || desc > len || next > len + 3 ||
            desc + descsz > len) {
            return err_set(PS_ETRUNCATED, "%s: its notes are cut short",
                           ct->path);
        }
        /* The process notes are named "CORE"; "LINUX" and "GDB" ones
         * carry extended registers and descriptions pyspect skips. */
        if (namesz == 5 && memcmp(d + name, "CORE", 5) == 0) {
            if (type == NT_PRSTATUS) {
                parse_prstatus(ct, d + desc, descsz);
            } else if (type == NT_PRPSINFO) {
                parse_prpsinfo(ct, d + desc, descsz);
            } else if (type == NT_AUXV) {
                parse_auxv(ct, d + desc, descsz);
            } else if (type == NT_FILE) {
                rc = parse_files(ct, d + desc, descsz);
                if (rc < 0) {
                    return rc;
                }
            }
        }
        off = next;
    }
    return 0;
}

static int
read_headers(struct core_target *ct)
{
    Elf64_Ehdr eh;
    Elf64_Phdr *ph = NULL;
    uint64_t phnum, i, missing = 0, total = 0;
    int rc = 0;

    if (ct->size < EI_NIDENT ||
        pread_all(ct->fd, eh.e_ident, EI_NIDENT, 0) < 0 ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        return err_set(PS_ENOTCORE, "%s is not an ELF file", ct->path);
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        unsigned char machine[2] = {0, 0};

        pread_all(ct->fd, machine, 2, 18);
        return err_set(
            PS_EARCH, "%s: a %d-bit %s-endian core of %s", ct->path,
            eh.e_ident[EI_CLASS] == ELFCLASS32 ? 32 : 64,
            eh.e_ident[EI_DATA] == ELFDATA2MSB ? "big" : "little",
            machine_name(eh.e_ident[EI_DATA] == ELFDATA2MSB
                             ? (unsigned)(machine[0] << 8 | machine[1])
                             : (unsigned)(machine[1] << 8 | machine[0])));
    }
    if (ct->size < sizeof(eh) || pread_all(ct->fd, &eh, sizeof(eh), 0) < 0) {
        return err_set(PS_ETRUNCATED, "%s: its ELF header is cut short",
                       ct->path);
    }
    if (eh.e_type != ET_CORE) {
        return err_set(PS_ENOTCORE, "%s is an ELF %s, not a core", ct->path,
                       eh.e_type == ET_EXEC  ? "executable"
                       : eh.e_type == ET_DYN ? "shared object or executable"
                                             : "file");
    }
    if (eh.e_machine != EM_X86_64) {
        return err_set(PS_EARCH, "%s: a core of %s", ct->path,
                       machine_name(eh.e_machine));
    }
    phnum = eh.e_phnum;
    if (phnum == PN_XNUM) {
        Elf64_Shdr sh;

        /* More segments than e_phnum holds: the count is in section 0. */
        if (eh.e_shoff == 0 || eh.e_shoff > ct->size ||
            ct->size - eh.e_shoff < sizeof(sh) ||
            pread_all(ct->fd, &sh, sizeof(sh), eh.e_shoff) < 0) {
            return err_set(PS_ETRUNCATED, "%s: its section 0 is missing",
                           ct->path);
        }
        phnum = sh.sh_info;
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || phnum == 0 ||
        phnum > CORE_MAX_SEGMENTS) {
        return err_set(PS_ENOTCORE, "%s: bad program headers", ct->path);
    }
    if (eh.e_phoff > ct->size ||
        (ct->size - eh.e_phoff) / sizeof(*ph) < phnum) {
        return err_set(PS_ETRUNCATED, "%s: its program headers are cut short",
                       ct->path);
    }
    ph = xcalloc(phnum, sizeof(*ph));
    if (pread_all(ct->fd, ph, phnum * sizeof(*ph), eh.e_phoff) < 0) {
        free(ph);
        return err_set(PS_EIO, "cannot read %s", ct->path);
    }
    ct->segs = xcalloc(phnum, sizeof(*ct->segs));
    for (i = 0; i < phnum && rc == 0; i++) {
        const Elf64_Phdr *p = &ph[i];

        if (p->p_type == PT_NOTE) {
            unsigned char *notes;

            if (p->p_filesz > CORE_MAX_NOTES_BYTES) {
                rc = err_set(PS_ENOTCORE, "%s: notes too large", ct->path);
                break;
            }
            if (p->p_offset > ct->size ||
                ct->size - p->p_offset < p->p_filesz) {
                rc = err_set(PS_ETRUNCATED, "%s: its notes are cut short",
                             ct->path);
                break;
            }
            notes = xmalloc(p->p_filesz + 1);
            if (pread_all(ct->fd, notes, p->p_filesz, p->p_offset) < 0) {
                rc = err_set(PS_EIO, "cannot read %s", ct->path);
            } else {
                rc = parse_notes(ct, notes, p->p_filesz);
            }
            free(notes);
        } else if (p->p_type == PT_LOAD && p->p_memsz > 0 &&
                   p->p_vaddr + p->p_memsz > p->p_vaddr) {
            struct core_segment *s = &ct->segs[ct->nsegs++];

            s->start = p->p_vaddr;
            s->end = p->p_vaddr + p->p_memsz;
            s->offset = p->p_offset;
            s->filesz = p->p_filesz < p->p_memsz ? p->p_filesz : p->p_memsz;
            s->flags = p->p_flags;
            if (s->offset >= ct->size) {
                s->avail = 0;
            } else {
                s->avail = ct->size - s->offset < s->filesz
                               ? ct->size - s->offset
                               : s->filesz;
            }
            total += s->filesz;
            missing += s->filesz - s->avail;
        }
    }
    free(ph);
    if (rc < 0) {
        return rc;
    }
    if (ct->nthreads == 0) {
        return err_set(PS_ENOTCORE, "%s has no threads (no NT_PRSTATUS)",
                       ct->path);
    }
    if (ct->nsegs > 1) {
        qsort(ct->segs, ct->nsegs, sizeof(*ct->segs), by_segment_start);
    }
    if (ct->nthreads > 1) {
        qsort(ct->threads, ct->nthreads, sizeof(*ct->threads), by_thread_tid);
    }
    if (missing > 0) {
        struct strbuf sb = STRBUF_INIT;

        strbuf_addf(&sb,
                    "%s is truncated: %llu of %llu bytes of memory are "
                    "missing",
                    ct->path, (unsigned long long)missing,
                    (unsigned long long)total);
        ct->base.partial = strbuf_detach(&sb);
        ct->base.partial_error = PS_ETRUNCATED;
    }
    return 0;
}

/*
 * The holes of the file (SEEK_DATA/SEEK_HOLE; a file system without them
 * reports none), at most CORE_MAX_HOLES of them.
 */
static void
find_holes(struct core_target *ct)
{
    size_t cap = 0;
    uint64_t pos = 0;

    while (pos < ct->size && ct->nholes < CORE_MAX_HOLES) {
        off_t data = lseek(ct->fd, (off_t)pos, SEEK_DATA);
        off_t hole;

        if (data < 0 && errno != ENXIO) {
            break; /* no way to tell */
        }
        if (data < 0 || (uint64_t)data > pos) {
            uint64_t end = data < 0 ? ct->size : (uint64_t)data;

            if (ct->nholes == cap) {
                cap = cap ? 2 * cap : 16;
                ct->holes = xrealloc(ct->holes, cap * sizeof(*ct->holes));
            }
            ct->holes[ct->nholes].start = pos;
            ct->holes[ct->nholes].end = end;
            ct->nholes++;
            if (data < 0) {
                break;
            }
        }
        hole = lseek(ct->fd, data, SEEK_HOLE);
        if (hole <= data) {
            break;
        }
        pos = (uint64_t)hole;
    }
}

/* ---- the mappings ------------------------------------------------------ */

static void
perms_of(uint32_t flags, char *perms)
{
    perms[0] = flags & PF_R ? 'r' : '-';
    perms[1] = flags & PF_W ? 'w' : '-';
    perms[2] = flags & PF_X ? 'x' : '-';
    perms[3] = 'p';
    perms[4] = '\0';
}

static void
add_map(struct maps *m, raddr_t start, raddr_t end, uint64_t offset,
        const char *perms, const char *path)
{
    struct map_entry *e;

    XGROW(m->v, m->alloc, m->n + 1);
    e = &m->v[m->n++];
    memset(e, 0, sizeof(*e));
    e->start = start;
    e->end = end;
    e->offset = offset;
    memcpy(e->perms, perms, sizeof(e->perms));
    e->path = xstrdup(path);
}

/*
 * The mappings: every NT_FILE entry (with the permissions of its segment,
 * "r--p" when the core left it out), and the pieces of segments no file
 * covers (anonymous memory; the main thread's stack and the vDSO named
 * as /proc names them).
 */
static void
build_maps(struct core_target *ct)
{
    const struct core_thread *main_thread = thread_of(ct, ct->base.pid);
    raddr_t main_sp = main_thread ? main_thread->regs.sp : 0;
    size_t i, j = 0;
    char perms[5];

    for (i = 0; i < ct->nfiles; i++) {
        const struct core_file *f = &ct->files[i];
        size_t next;
        const struct core_segment *s = segment_at(ct, f->start, &next);

        if (s != NULL) {
            perms_of(s->flags, perms);
        } else {
            memcpy(perms, "r--p", 5);
        }
        add_map(&ct->maps, f->start, f->end, f->offset, perms, f->path);
    }
    for (i = 0; i < ct->nsegs; i++) {
        const struct core_segment *s = &ct->segs[i];
        raddr_t at = s->start;

        perms_of(s->flags, perms);
        while (at < s->end) {
            raddr_t end = s->end;
            const char *name = "";

            /* Skip files before at; a file covering at hides that part. */
            while (j < ct->nfiles && ct->files[j].end <= at) {
                j++;
            }
            if (j < ct->nfiles && ct->files[j].start <= at) {
                at = ct->files[j].end;
                continue;
            }
            if (j < ct->nfiles && ct->files[j].start < end) {
                end = ct->files[j].start;
            }
            if (main_sp >= at && main_sp < end) {
                name = "[stack]";
            } else if (ct->auxv_vdso == at) {
                name = "[vdso]";
            }
            add_map(&ct->maps, at, end, 0, perms, name);
            at = end;
        }
    }
    if (ct->maps.n > 1) {
        qsort(ct->maps.v, ct->maps.n, sizeof(*ct->maps.v), by_map_start);
    }
}

/*
 * The executable: the file holding the program headers (AT_PHDR), else
 * the name execve() got (AT_EXECFN, on the stack).
 */
static void
find_executable(struct core_target *ct)
{
    struct core_file *f = ct->auxv_phdr ? file_at(ct, ct->auxv_phdr) : NULL;
    char name[4096];

    if (f != NULL) {
        ct->executable = xstrdup(f->path);
        return;
    }
    if (ct->auxv_execfn != 0 &&
        core_mem_read(ct->base.mem, ct->auxv_execfn, name, 256) == 0 &&
        memchr(name, '\0', 256) != NULL && name[0] == '/') {
        ct->executable = xstrdup(name);
    }
}

/* Bounds on the command line read back from the stack. */
#define ARGV_WINDOW (1u << 20)
#define ARGV_MAX 100000
#define CMDLINE_MAX (1u << 16)

/*
 * The whole command line, from the process's own argv: gcore keeps only
 * argv[0] in NT_PRPSINFO, the kernel only the first 80 bytes.  execve()
 * left argc, argv[], NULL, envp[], NULL and the auxiliary vector at the
 * top of the stack: find the vector (NT_AUXV holds a copy) near the
 * string AT_EXECFN points to, and walk back.  Kept only when it begins
 * with what NT_PRPSINFO says.
 */
static void
recover_cmdline(struct core_target *ct)
{
    const struct core_segment *s;
    unsigned char *buf;
    struct strbuf line = STRBUF_INIT;
    raddr_t lo, a = 0, q;
    uint64_t argc, v, j;
    size_t next, len, off;

    s = segment_at(ct, ct->auxv_execfn, &next);
    if (s == NULL || ct->auxv_head_len < 16 || s->avail == 0) {
        return;
    }
    lo = s->start + s->avail > ARGV_WINDOW ? s->start + s->avail - ARGV_WINDOW
                                           : s->start;
    if (lo < s->start) {
        lo = s->start;
    }
    len = (size_t)(s->start + s->avail - lo);
    buf = xmalloc(len);
    if (pread_all(ct->fd, buf, len, s->offset + (lo - s->start)) < 0) {
        free(buf);
        return;
    }
    for (off = 16; off + ct->auxv_head_len <= len; off += 8) {
        if (memcmp(buf + off, ct->auxv_head, ct->auxv_head_len) == 0) {
            a = lo + off;
            break;
        }
    }
    /* envp's NULL, then envp[] pointing into the stack, then argv's. */
    q = a - 8;
    if (a == 0 || load_u64(buf, (int32_t)(q - lo)) != 0) {
        goto out;
    }
    for (j = 0, q -= 8; q >= lo + 8 && j < ARGV_MAX; j++, q -= 8) {
        v = load_u64(buf, (int32_t)(q - lo));
        if (v < s->start || v >= s->end) {
            break;
        }
    }
    if (load_u64(buf, (int32_t)(q - lo)) != 0) {
        goto out;
    }
    /* argv[] back to argc, which counts them. */
    for (argc = 0, q -= 8; q >= lo && argc < ARGV_MAX; argc++, q -= 8) {
        v = load_u64(buf, (int32_t)(q - lo));
        if (v == argc && argc > 0) {
            break;
        }
        if (v < lo || v >= s->start + s->avail) {
            goto out;
        }
    }
    if (q < lo || argc == 0 || argc >= ARGV_MAX) {
        goto out;
    }
    for (j = 0; j < argc && line.len < CMDLINE_MAX; j++) {
        raddr_t str = load_u64(buf, (int32_t)(q + 8 + 8 * j - lo));
        const unsigned char *p = buf + (str - lo);
        const unsigned char *nul = memchr(p, '\0', len - (size_t)(str - lo));

        if (nul == NULL) {
            goto out;
        }
        if (j > 0) {
            strbuf_addch(&line, ' ');
        }
        strbuf_add(&line, p, (size_t)(nul - p));
    }
    if (strncmp(line.buf, ct->cmdline, strlen(ct->cmdline)) == 0) {
        ct->full_cmdline = strbuf_detach(&line);
    }
out:
    strbuf_release(&line);
    free(buf);
}

int
target_core_open(const char *path, const struct target_core_options *opt,
                 struct target **out)
{
    struct core_target *ct = xcalloc(1, sizeof(*ct));
    struct core_mem *mem;
    struct strbuf name = STRBUF_INIT;
    struct stat st;
    int rc;

    ct->base.ops = &core_ops;
    ct->base.kind = TARGET_CORE;
    ct->path = xstrdup(path);
    strbuf_addf(&name, "core %s", path);
    ct->base.name = strbuf_detach(&name);
    ct->base.file = xstrdup(path);
    if (opt != NULL && opt->sysroot != NULL && opt->sysroot[0] != '\0') {
        ct->sysroot = xstrdup(opt->sysroot);
        /* "/srv/root/" + "/usr/lib" would double the slash. */
        while (strlen(ct->sysroot) > 1 &&
               ct->sysroot[strlen(ct->sysroot) - 1] == '/') {
            ct->sysroot[strlen(ct->sysroot) - 1] = '\0';
        }
    }
    if (opt != NULL && opt->executable != NULL) {
        ct->exe_override = xstrdup(opt->executable);
    }
    mem = xcalloc(1, sizeof(*mem));
    mem->base.ops = &core_mem_ops;
    mem->ct = ct;
    ct->base.mem = &mem->base;
    ct->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (ct->fd < 0) {
        rc = err_set(errno == EACCES || errno == EPERM ? PS_EPERM
                                                       : PS_ENOTFOUND,
                     "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(ct->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = err_set(PS_ENOTCORE, "%s is not a regular file", path);
        goto fail;
    }
    ct->size = (uint64_t)st.st_size;
    rc = read_headers(ct);
    if (rc < 0) {
        goto fail;
    }
    if (ct->base.pid == 0) {
        ct->base.pid = ct->threads[0].tid;
    }
    find_holes(ct);
    find_executable(ct);
    recover_cmdline(ct);
    if (ct->executable == NULL && ct->exe_override != NULL) {
        ct->executable = xstrdup(ct->exe_override);
    }
    build_maps(ct);
    ct->missing = 0; /* what finding the executable read does not count */
    *out = &ct->base;
    return 0;
fail:
    target_free(&ct->base);
    return rc;
}
