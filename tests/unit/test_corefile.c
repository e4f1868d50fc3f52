/*
 * test_corefile.c - unit tests of the core-file target on small ELF
 * cores made here, byte by byte.
 *
 * Layer: tests.  A made-up x86-64 process: an executable whose first page
 * is in the core and whose second mapping is not (read from the file
 * under a sysroot), a library mapping gcore-style left out entirely,
 * anonymous data, a stack and a vDSO; two threads, one in a system call.
 * Then the same core cut short, damaged, from another machine, and with
 * a file that is not the one that was mapped.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "tap.h"
#include "target/target.h"

#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif

#define PAGE 4096
#define EXE_BASE 0x400000ull  /* /usr/bin/prog, 2 pages: 1st in the core */
#define LIB_BASE 0x500000ull  /* /usr/lib/libx.so at page 1, not in it */
#define DATA_BASE 0x600000ull /* anonymous, 2 pages */
#define STACK_BASE 0x7ff000000ull
#define VDSO_BASE 0x7ff100000ull
#define MAIN_TID 4242
#define OTHER_TID 4250

static char dir[256];

/* ---- building a core ---------------------------------------------------- */

struct seg {
    uint64_t vaddr, memsz, filesz;
    uint32_t flags;
    const unsigned char *data; /* filesz bytes */
};

static void
put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void
put_u64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static void
add_note(struct strbuf *notes, uint32_t type, const char *name,
         const void *desc, size_t len)
{
    unsigned char hdr[12];
    size_t namesz = strlen(name) + 1;
    static const char zeros[8];

    put_u32(hdr, (uint32_t)namesz);
    put_u32(hdr + 4, (uint32_t)len);
    put_u32(hdr + 8, type);
    strbuf_add(notes, hdr, 12);
    strbuf_add(notes, name, namesz);
    strbuf_add(notes, zeros, (4 - namesz % 4) % 4);
    strbuf_add(notes, desc, len);
    strbuf_add(notes, zeros, (4 - len % 4) % 4);
}

static void
add_prstatus(struct strbuf *notes, int tid, int64_t orig_rax, uint64_t sp,
             uint64_t pc)
{
    unsigned char d[336];

    memset(d, 0, sizeof(d));
    put_u32(d + 32, (uint32_t)tid);
    put_u64(d + 112 + 8 * 4, 0x1234);              /* rbp */
    put_u64(d + 112 + 8 * 15, (uint64_t)orig_rax); /* orig_rax */
    put_u64(d + 112 + 8 * 16, pc);                 /* rip */
    put_u64(d + 112 + 8 * 19, sp);                 /* rsp */
    add_note(notes, NT_PRSTATUS, "CORE", d, sizeof(d));
}

/* Where execve() put the strings, on the made-up stack. */
#define STRINGS_AT 0xc00
static const char strings[] = "/usr/bin/prog\0--serve\0008080\0--name\0"
                              "a b\0HOME=/root\0/usr/bin/prog";
#define EXECFN_AT (STRINGS_AT + sizeof(strings) - 14)

static void
make_auxv(unsigned char *aux)
{
    put_u64(aux, AT_PHDR);
    put_u64(aux + 8, EXE_BASE + 64);
    put_u64(aux + 16, AT_SYSINFO_EHDR);
    put_u64(aux + 24, VDSO_BASE);
    put_u64(aux + 32, AT_EXECFN);
    put_u64(aux + 40, STACK_BASE + EXECFN_AT);
    put_u64(aux + 48, AT_NULL);
    put_u64(aux + 56, 0);
}

/*
 * The top of the stack as execve() leaves it: argc, argv[], NULL, envp[],
 * NULL, the auxiliary vector, then the strings.
 */
static void
make_stack(unsigned char *st)
{
    static const int argv_at[] = {0, 14, 22, 27, 34};
    uint64_t sp = 0x800;
    int i;

    memset(st, 0x5a, PAGE);
    put_u64(st + sp, 5);
    for (i = 0; i < 5; i++) {
        put_u64(st + sp + 8 + 8 * i, STACK_BASE + STRINGS_AT + argv_at[i]);
    }
    put_u64(st + sp + 48, 0);
    put_u64(st + sp + 56, STACK_BASE + STRINGS_AT + 38);
    put_u64(st + sp + 64, 0);
    make_auxv(st + sp + 72);
    memcpy(st + STRINGS_AT, strings, sizeof(strings));
}

/* The notes of the made-up process. */
static void
make_notes(struct strbuf *n, int with_threads)
{
    unsigned char ps[136], aux[64], files[16 + 3 * 24 + 64];
    size_t off;

    memset(ps, 0, sizeof(ps));
    put_u32(ps + 24, MAIN_TID);
    memcpy(ps + 40, "prog", 4);
    memcpy(ps + 56, "/usr/bin/prog --serve 8080", 26);
    add_note(n, NT_PRPSINFO, "CORE", ps, sizeof(ps));
    if (with_threads) {
        add_prstatus(n, OTHER_TID, -1, STACK_BASE + 0x100, 0x401000);
        add_prstatus(n, MAIN_TID, 202, STACK_BASE + 0x800, 0x401234);
    }
    /* Some other notes a reader must skip. */
    add_note(n, 0x202, "LINUX", "xstate!!", 8);
    make_auxv(aux);
    add_note(n, NT_AUXV, "CORE", aux, 64);
    memset(files, 0, sizeof(files));
    put_u64(files, 3);
    put_u64(files + 8, PAGE);
    put_u64(files + 16, EXE_BASE);
    put_u64(files + 24, EXE_BASE + PAGE);
    put_u64(files + 32, 0);
    put_u64(files + 40, EXE_BASE + PAGE);
    put_u64(files + 48, EXE_BASE + 2 * PAGE);
    put_u64(files + 56, 1);
    put_u64(files + 64, LIB_BASE);
    put_u64(files + 72, LIB_BASE + PAGE);
    put_u64(files + 80, 1);
    off = 88;
    memcpy(files + off, "/usr/bin/prog", 14);
    off += 14;
    memcpy(files + off, "/usr/bin/prog", 14);
    off += 14;
    memcpy(files + off, "/usr/lib/libx.so", 17);
    off += 17;
    add_note(n, NT_FILE, "CORE", files, off);
}

/* An ELF core of the segments and notes; machine and type may be odd. */
static void
make_core(struct strbuf *out, const struct seg *segs, size_t nsegs,
          const struct strbuf *notes, uint16_t machine, uint16_t type)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    uint64_t data_off;
    size_t i;

    memset(&eh, 0, sizeof(eh));
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = type;
    eh.e_machine = machine;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof(eh);
    eh.e_ehsize = sizeof(eh);
    eh.e_phentsize = sizeof(ph);
    eh.e_phnum = (uint16_t)(nsegs + 1);
    strbuf_add(out, &eh, sizeof(eh));
    data_off = sizeof(eh) + (nsegs + 1) * sizeof(ph);
    memset(&ph, 0, sizeof(ph));
    ph.p_type = PT_NOTE;
    ph.p_offset = data_off;
    ph.p_filesz = notes->len;
    strbuf_add(out, &ph, sizeof(ph));
    data_off += notes->len;
    for (i = 0; i < nsegs; i++) {
        memset(&ph, 0, sizeof(ph));
        ph.p_type = PT_LOAD;
        ph.p_flags = segs[i].flags;
        ph.p_offset = data_off;
        ph.p_vaddr = segs[i].vaddr;
        ph.p_filesz = segs[i].filesz;
        ph.p_memsz = segs[i].memsz;
        strbuf_add(out, &ph, sizeof(ph));
        data_off += segs[i].filesz;
    }
    strbuf_add(out, notes->buf, notes->len);
    for (i = 0; i < nsegs; i++) {
        if (segs[i].filesz > 0) {
            strbuf_add(out, segs[i].data, segs[i].filesz);
        }
    }
}

static void
write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
        printf("Bail out! cannot write %s\n", path);
        exit(1);
    }
    close(fd);
}

static unsigned char exe_file[2 * PAGE], lib_file[PAGE + 100], data[2 * PAGE];
static unsigned char stack[PAGE], vdso[PAGE];

static const char *
path_in(const char *name)
{
    static char buf[4][512];
    static int k;

    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
    return buf[k];
}

/* The whole made-up core, into core.good (and its sysroot). */
static void
make_world(struct strbuf *core)
{
    struct strbuf notes = STRBUF_INIT;
    size_t i;
    struct seg segs[] = {
        {EXE_BASE, PAGE, PAGE, PF_R, exe_file},
        {DATA_BASE, 2 * PAGE, 2 * PAGE, PF_R | PF_W, data},
        {STACK_BASE, PAGE, PAGE, PF_R | PF_W, stack},
        {VDSO_BASE, PAGE, PAGE, PF_R | PF_X, vdso},
        /* gdb style: the second exe mapping is in the list with no data */
        {EXE_BASE + PAGE, PAGE, 0, PF_R | PF_X, NULL},
    };

    for (i = 0; i < sizeof(exe_file); i++) {
        exe_file[i] = (unsigned char)(i * 7);
    }
    for (i = 0; i < sizeof(lib_file); i++) {
        lib_file[i] = (unsigned char)(i * 13 + 1);
    }
    for (i = 0; i < sizeof(data); i++) {
        data[i] = (unsigned char)(i * 3 + 5);
    }
    make_stack(stack);
    memset(vdso, 0x7f, sizeof(vdso));
    mkdir(path_in("root"), 0755);
    mkdir(path_in("root/usr"), 0755);
    mkdir(path_in("root/usr/bin"), 0755);
    mkdir(path_in("root/usr/lib"), 0755);
    write_file(path_in("root/usr/bin/prog"), exe_file, sizeof(exe_file));
    write_file(path_in("root/usr/lib/libx.so"), lib_file, sizeof(lib_file));
    make_notes(&notes, 1);
    make_core(core, segs, sizeof(segs) / sizeof(segs[0]), &notes, EM_X86_64,
              ET_CORE);
    write_file(path_in("core.good"), core->buf, core->len);
    strbuf_release(&notes);
}

/* ---- the tests ------------------------------------------------------------ */

static struct target *
open_core(const char *name, const char *exe, const char *sysroot, int *rc)
{
    struct target_core_options o = {exe, sysroot};
    struct target *t = NULL;

    err_clear();
    *rc = target_core_open(path_in(name), &o, &t);
    return t;
}

static void
test_whole(void)
{
    struct target *t;
    struct strbuf sb = STRBUF_INIT;
    struct maps maps = MAPS_INIT;
    struct target_regs regs;
    unsigned char buf[2 * PAGE];
    int rc, *tids = NULL;
    size_t n = 0, i;
    char state = 0;

    t = open_core("core.good", NULL, path_in("root"), &rc);
    TAP_EQ_INT(rc, 0, "open a made-up core");
    if (rc < 0) {
        return;
    }
    TAP_EQ_STR(t->ops->name, "core", "its backend");
    TAP_EQ_INT(t->kind, TARGET_CORE, "a core");
    TAP_EQ_INT(t->pid, MAIN_TID, "the pid from NT_PRPSINFO");
    TAP_OK(t->partial == NULL, "whole");
    target_cmdline(t, &sb);
    TAP_EQ_STR(sb.buf, "/usr/bin/prog --serve 8080 --name a b",
               "its whole command line, from argv on its stack");
    strbuf_reset(&sb);
    TAP_EQ_INT(target_executable(t, &sb), 0, "its executable");
    TAP_EQ_STR(sb.buf, "/usr/bin/prog", "the file holding AT_PHDR");
    strbuf_reset(&sb);

    TAP_EQ_INT(target_threads(t, &tids, &n), 0, "its threads");
    TAP_OK(n == 2 && tids[0] == MAIN_TID && tids[1] == OTHER_TID,
           "both, sorted by id");
    free(tids);
    TAP_EQ_INT(target_thread_regs(t, MAIN_TID, &regs), 0, "registers");
    TAP_OK(regs.syscall == 202 && regs.sp == STACK_BASE + 0x800 &&
               regs.pc == 0x401234 && regs.fp == 0x1234,
           "orig_rax, rsp, rip and rbp");
    TAP_EQ_INT(target_thread_state(t, MAIN_TID, &state), 0, "a state");
    TAP_EQ_INT(state, 'S', "in a system call: sleeping");
    TAP_EQ_INT(target_thread_state(t, OTHER_TID, &state), 0, "a state");
    TAP_EQ_INT(state, 'R', "in user code: running");
    TAP_OK(target_thread_state(t, 1, &state) < 0, "no such thread");

    TAP_EQ_INT(target_maps(t, &maps), 0, "its mappings");
    TAP_EQ_INT(maps.n, 6, "files, data, stack, vDSO");
    for (i = 0; i + 1 < maps.n; i++) {
        if (maps.v[i].end > maps.v[i + 1].start) {
            break;
        }
    }
    TAP_OK(i + 1 >= maps.n, "in address order, not overlapping");
    {
        const struct map_entry *e = maps_find(&maps, EXE_BASE + PAGE);
        const struct map_entry *l = maps_find(&maps, LIB_BASE);
        const struct map_entry *s = maps_find(&maps, STACK_BASE);
        const struct map_entry *v = maps_find(&maps, VDSO_BASE);
        const struct map_entry *d = maps_find(&maps, DATA_BASE);

        TAP_OK(e && strcmp(e->path, "/usr/bin/prog") == 0 &&
                   e->offset == PAGE && strcmp(e->perms, "r-xp") == 0,
               "the exe's second mapping: name, offset, permissions");
        TAP_OK(l && strcmp(l->path, "/usr/lib/libx.so") == 0 &&
                   strcmp(l->perms, "r--p") == 0 && map_entry_is_file(l),
               "a mapping only NT_FILE names");
        TAP_OK(s && strcmp(s->path, "[stack]") == 0, "the main stack");
        TAP_OK(v && strcmp(v->path, "[vdso]") == 0, "the vDSO");
        TAP_OK(d && d->path[0] == '\0' && strcmp(d->perms, "rw-p") == 0 &&
                   !map_entry_is_file(d),
               "anonymous data");
    }
    maps_release(&maps);

    TAP_EQ_INT(memsrc_read(t->mem, DATA_BASE + 10, buf, PAGE), 0,
               "read anonymous memory");
    TAP_OK(memcmp(buf, data + 10, PAGE) == 0, "as the core holds it");
    TAP_EQ_INT(memsrc_read(t->mem, EXE_BASE + 100, buf, 2 * PAGE - 100), 0,
               "read across the core and a page it left out");
    TAP_OK(memcmp(buf, exe_file + 100, 2 * PAGE - 100) == 0,
           "the rest from the file, at its offset");
    TAP_EQ_INT(memsrc_read(t->mem, LIB_BASE + 8, buf, 64), 0,
               "read a mapping the core left out");
    TAP_OK(memcmp(buf, lib_file + PAGE + 8, 64) == 0,
           "from the file at the mapping's offset");
    memset(buf, 1, 200);
    TAP_EQ_INT(memsrc_read(t->mem, LIB_BASE + 50, buf, 100), 0,
               "read past the end of a mapped file, in its last page");
    TAP_OK(memcmp(buf, lib_file + PAGE + 50, 50) == 0 && buf[50] == 0 &&
               buf[99] == 0,
           "the file, then zeros");
    TAP_EQ_INT(memsrc_read(t->mem, 0x100000, buf, 8), PS_EFAULT,
               "unmapped memory is a fault");
    TAP_EQ_INT(memsrc_read(t->mem, DATA_BASE + 2 * PAGE - 4, buf, 8),
               PS_EFAULT, "so is a read running off a mapping");
    TAP_OK(t->partial == NULL, "still whole");

    TAP_OK(!target_can_pause(t), "a core needs no pause");
    TAP_EQ_INT(target_pause(t), 0, "pausing is a no-op");
    target_resume(t);
    TAP_OK(target_pause_ms(t) == 0, "and takes no time");
    TAP_EQ_INT(target_check(t), 0, "a core is always there");
    TAP_EQ_INT(target_path(t, "/usr/lib/libx.so", &sb), 0, "a path");
    TAP_EQ_STR(sb.buf, path_in("root/usr/lib/libx.so"), "under --sysroot");
    strbuf_reset(&sb);
    TAP_OK(target_path(t, "relative.py", &sb) < 0,
           "no working directory in a core");
    target_free(t);

    /* Without the sysroot the files are not there. */
    t = open_core("core.good", NULL, NULL, &rc);
    TAP_EQ_INT(rc, 0, "open it without --sysroot");
    TAP_EQ_INT(memsrc_read(t->mem, LIB_BASE, buf, 8), PS_EFAULT,
               "a left-out page of a missing file cannot be read");
    TAP_OK(t->partial != NULL && strstr(t->partial, "--sysroot") != NULL &&
               t->partial_error == PS_ENOTFOUND,
           "the target says so: %s", t->partial ? t->partial : "(none)");
    TAP_EQ_INT(memsrc_read(t->mem, DATA_BASE, buf, 8), 0,
               "what the core holds still reads");
    target_free(t);
    strbuf_release(&sb);
}

static void
test_executable_and_mismatch(void)
{
    struct target *t;
    struct maps maps = MAPS_INIT;
    struct strbuf sb = STRBUF_INIT;
    unsigned char buf[64], other[2 * PAGE];
    int rc;

    /* The executable elsewhere: --executable. */
    write_file(path_in("prog-copy"), exe_file, sizeof(exe_file));
    t = open_core("core.good", path_in("prog-copy"), NULL, &rc);
    TAP_EQ_INT(rc, 0, "open with --executable");
    target_maps(t, &maps);
    TAP_EQ_INT(target_mapped_path(t, maps_find(&maps, EXE_BASE), &sb), 0,
               "the executable's mapping");
    TAP_EQ_STR(sb.buf, path_in("prog-copy"), "is --executable");
    TAP_EQ_INT(memsrc_read(t->mem, EXE_BASE + PAGE, buf, 64), 0,
               "a left-out page of the executable reads");
    TAP_OK(memcmp(buf, exe_file + PAGE, 64) == 0, "from --executable");
    maps_release(&maps);
    target_free(t);
    strbuf_reset(&sb);

    /* A file whose first page is not what the core holds. */
    memcpy(other, exe_file, sizeof(other));
    other[16] ^= 0xff;
    write_file(path_in("prog-other"), other, sizeof(other));
    t = open_core("core.good", path_in("prog-other"), NULL, &rc);
    TAP_EQ_INT(rc, 0, "open with the wrong --executable");
    target_maps(t, &maps);
    TAP_EQ_INT(target_mapped_path(t, maps_find(&maps, EXE_BASE), &sb),
               PS_ENOTFOUND, "it is refused");
    TAP_EQ_INT(memsrc_read(t->mem, EXE_BASE + PAGE, buf, 64), PS_EFAULT,
               "and never read");
    TAP_OK(t->partial != NULL && strstr(t->partial, "is not the file") &&
               t->partial_error == PS_ENOTFOUND,
           "the target says why: %s", t->partial ? t->partial : "(none)");
    maps_release(&maps);
    target_free(t);
    strbuf_release(&sb);
}

static void
test_cut_short(const struct strbuf *good)
{
    struct target *t;
    unsigned char buf[64];
    uint64_t cut;
    int rc;

    /* Cut in the middle of the last data: the vDSO, after the stack. */
    cut = good->len - PAGE / 2;
    write_file(path_in("core.cut"), good->buf, cut);
    t = open_core("core.cut", NULL, path_in("root"), &rc);
    TAP_EQ_INT(rc, 0, "a core cut in its memory opens");
    TAP_OK(t && t->partial != NULL && strstr(t->partial, "truncated") &&
               strstr(t->partial, "2048 of") &&
               t->partial_error == PS_ETRUNCATED,
           "partial, and says how much is missing: %s",
           t && t->partial ? t->partial : "(none)");
    if (t != NULL) {
        TAP_EQ_INT(memsrc_read(t->mem, VDSO_BASE, buf, 64), 0,
                   "what is there reads");
        TAP_EQ_INT(memsrc_read(t->mem, VDSO_BASE + PAGE - 64, buf, 64),
                   PS_EFAULT, "what is missing is a fault");
        TAP_EQ_INT(memsrc_read(t->mem, DATA_BASE, buf, 64), 0,
                   "other segments read");
        target_free(t);
    }

    /* Cut inside the notes. */
    write_file(path_in("core.cut"), good->buf,
               sizeof(Elf64_Ehdr) + 6 * sizeof(Elf64_Phdr) + 200);
    t = open_core("core.cut", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_ETRUNCATED, "a core cut in its notes: truncated");
    TAP_OK(strstr(err_context(), "notes") != NULL, "context: %s",
           err_context());
    /* Cut inside the program headers. */
    write_file(path_in("core.cut"), good->buf, sizeof(Elf64_Ehdr) + 20);
    t = open_core("core.cut", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_ETRUNCATED, "cut in its program headers");
    write_file(path_in("core.cut"), good->buf, 30);
    t = open_core("core.cut", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_ETRUNCATED, "cut in its ELF header");
    (void)t;
}

static void
test_not_cores(const struct strbuf *good)
{
    struct strbuf notes = STRBUF_INIT, core = STRBUF_INIT;
    struct seg seg = {DATA_BASE, PAGE, PAGE, PF_R, data};
    struct target *t;
    int rc;

    t = open_core("no-such-core", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_ENOTFOUND, "a missing file");
    write_file(path_in("text"), "hello, world\n", 13);
    t = open_core("text", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_ENOTCORE, "a text file is not a core");
    t = open_core("", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_ENOTCORE, "nor is a directory");

    make_notes(&notes, 1);
    make_core(&core, &seg, 1, &notes, EM_X86_64, ET_EXEC);
    write_file(path_in("exe"), core.buf, core.len);
    t = open_core("exe", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_ENOTCORE, "an executable is not a core");
    TAP_OK(strstr(err_context(), "executable") != NULL, "context: %s",
           err_context());

    strbuf_reset(&core);
    make_core(&core, &seg, 1, &notes, EM_AARCH64, ET_CORE);
    write_file(path_in("arm"), core.buf, core.len);
    t = open_core("arm", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_EARCH, "an aarch64 core: another architecture");
    TAP_OK(strstr(err_context(), "aarch64") != NULL, "context: %s",
           err_context());
    core.buf[EI_CLASS] = ELFCLASS32;
    write_file(path_in("i386"), core.buf, core.len);
    t = open_core("i386", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_EARCH, "a 32-bit core: another architecture");

    strbuf_reset(&core);
    strbuf_reset(&notes);
    make_notes(&notes, 0);
    make_core(&core, &seg, 1, &notes, EM_X86_64, ET_CORE);
    write_file(path_in("nothreads"), core.buf, core.len);
    t = open_core("nothreads", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_ENOTCORE, "a core without threads");

    /* An NT_FILE note claiming more entries than it holds. */
    strbuf_reset(&core);
    strbuf_addstr(&core, "");
    strbuf_add(&core, good->buf, good->len);
    {
        char *p = memmem(core.buf, core.len, "CORE\0\0\0\0", 8);
        char *nt = NULL;

        while (p != NULL) {
            uint32_t type;

            memcpy(&type, p - 4, 4);
            if (type == NT_FILE) {
                nt = p + 8;
                break;
            }
            p = memmem(p + 1, core.len - (size_t)(p + 1 - core.buf),
                       "CORE\0\0\0\0", 8);
        }
        TAP_OK(nt != NULL, "found the NT_FILE note to damage");
        if (nt != NULL) {
            put_u64((unsigned char *)nt, 1000000);
        }
    }
    write_file(path_in("badfiles"), core.buf, core.len);
    t = open_core("badfiles", NULL, NULL, &rc);
    TAP_EQ_INT(rc, PS_ENOTCORE, "a damaged NT_FILE note");
    (void)t;
    strbuf_release(&notes);
    strbuf_release(&core);
}

/*
 * The anonymous data's two pages left unwritten (a hole, as gcore leaves
 * the rest of a mapping it failed to read, and the kernel a page never
 * touched): they read as zeros, and the target says which address read
 * came from the hole, once.
 */
static void
test_hole(const struct strbuf *good)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)good->buf;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(good->buf + eh->e_phoff);
    unsigned char buf[2 * PAGE], zeros[2 * PAGE];
    uint64_t off = 0;
    struct target *t;
    size_t i;
    raddr_t at;
    off_t hole;
    int fd, rc;

    for (i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr == DATA_BASE) {
            off = ph[i].p_offset;
        }
    }
    fd = open(path_in("core.hole"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || pwrite(fd, good->buf, off, 0) != (ssize_t)off ||
        pwrite(fd, good->buf + off + 2 * PAGE, good->len - off - 2 * PAGE,
               (off_t)(off + 2 * PAGE)) !=
            (ssize_t)(good->len - off - 2 * PAGE)) {
        printf("Bail out! cannot write core.hole\n");
        exit(1);
    }
    hole = lseek(fd, 0, SEEK_HOLE);
    close(fd);
    if (hole < 0 || (uint64_t)hole >= good->len) {
        TAP_OK(1, "# SKIP the file system of %s has no holes", dir);
        return;
    }
    t = open_core("core.hole", NULL, path_in("root"), &rc);
    TAP_EQ_INT(rc, 0, "a core with a hole opens");
    if (t == NULL) {
        return;
    }
    TAP_OK(t->partial == NULL, "whole: a hole is not a cut");
    TAP_EQ_INT(target_take_missing(t), 0, "nothing read from a hole yet");
    TAP_EQ_INT(memsrc_read(t->mem, STACK_BASE, buf, 64), 0, "the stack");
    TAP_EQ_INT(target_take_missing(t), 0, "the stack is not in a hole");
    memset(zeros, 0, sizeof(zeros));
    TAP_EQ_INT(memsrc_read(t->mem, DATA_BASE, buf, sizeof(buf)), 0,
               "the data in the hole reads");
    TAP_OK(memcmp(buf, zeros, sizeof(buf)) == 0, "as zeros");
    at = target_take_missing(t);
    TAP_OK(at >= DATA_BASE && at < DATA_BASE + 2 * PAGE &&
               (off + (at - DATA_BASE)) % PAGE == 0,
           "the first address read from the hole, where a block of the "
           "file starts: 0x%llx",
           (unsigned long long)at);
    TAP_EQ_INT(target_take_missing(t), 0, "told once");
    target_free(t);
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

int
main(void)
{
    struct strbuf good = STRBUF_INIT;
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, sizeof(dir), "%s/pyspect-corefile-XXXXXX",
             tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    make_world(&good);
    test_whole();
    test_executable_and_mismatch();
    test_cut_short(&good);
    test_hole(&good);
    test_not_cores(&good);
    strbuf_release(&good);
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return tap_done();
}
