/*
 * native.c - the C frames of an allocation, with --native.
 *
 * Layer: alloc, in-process side (libpyspect-alloc.so; rules in
 * tracker.h).  The C stack is unwound with glibc's backtrace() (the
 * unwinder reads .eh_frame, so code without frame pointers unwinds too),
 * from the allocator's caller outward, and cut at the first frame inside
 * the interpreter's eval loop: what is left are the C functions the
 * innermost Python line called into -- an extension's, or the
 * interpreter's own -- and, on a thread that runs no Python, the whole C
 * stack.  The tracker's own frames are dropped.
 *
 * A frame is described (module, file address, exported name) with
 * dladdr1(), which takes the loader's lock: never with the tracker's lock
 * held.  pyspect names the function later from the module's full symbol
 * table (report.c), so a static function gets its own name.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc/store.h"
#include "alloc/tracker.h"

static struct {
    int ready;
    uintptr_t self_lo, self_hi; /* this library's code */
    uintptr_t eval_lo, eval_hi; /* the eval loop's */
    pthread_key_t scratch_key;
    char exe[256]; /* the main program, which the loader names "" */
} nat;

/* Per thread: where frames are described between two takes of the
 * tracker's lock.  Pages from mmap, given back when the thread ends. */
struct native_scratch {
    struct native_frame frames[NATIVE_FRAMES_MAX];
};

static int
find_self(struct dl_phdr_info *info, size_t size, void *data)
{
    uintptr_t me = (uintptr_t)data;
    int i;

    (void)size;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= lo &&
            me < lo + ph->p_memsz) {
            nat.self_lo = lo;
            nat.self_hi = lo + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

static void
scratch_free(void *p)
{
    alloc_real_munmap(p, sizeof(struct native_scratch));
}

void
native_init(void)
{
    void *pcs[4];
    void *eval;

    if (nat.ready) {
        return;
    }
    dl_iterate_phdr(find_self, (void *)(uintptr_t)native_init);
    {
        ssize_t len = readlink("/proc/self/exe", nat.exe, sizeof(nat.exe) - 1);

        nat.exe[len > 0 ? len : 0] = '\0';
    }
    /* The eval loop's extent, when Python is there already (it is in a
     * preloaded program; an embedding one may load it later). */
    eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    if (eval != NULL) {
        Dl_info info;
        ElfW(Sym) *sym = NULL;

        if (dladdr1(eval, &info, (void **)&sym, RTLD_DL_SYMENT) != 0 &&
            sym != NULL && sym->st_size > 0) {
            nat.eval_lo = (uintptr_t)eval;
            nat.eval_hi = (uintptr_t)eval + sym->st_size;
        }
    }
    /* The first backtrace() loads the unwinder: do it now, not inside
     * some malloc. */
    backtrace(pcs, 4);
    pthread_key_create(&nat.scratch_key, scratch_free);
    nat.ready = 1;
}

uint32_t
native_capture(uintptr_t *pcs, uint32_t max)
{
    void *raw[NATIVE_FRAMES_MAX + 8];
    int n, i;
    uint32_t out = 0;

    if (!nat.ready) {
        return 0;
    }
    n = backtrace(raw, (int)(sizeof(raw) / sizeof(raw[0])));
    for (i = 0; i < n && out < max; i++) {
        uintptr_t pc = (uintptr_t)raw[i];

        if (pc >= nat.self_lo && pc < nat.self_hi) {
            continue; /* the tracker's own frames */
        }
        if (pc >= nat.eval_lo && pc < nat.eval_hi) {
            break; /* the interpreter: Python frames take over */
        }
        /* A return address: the call is the instruction before it. */
        pcs[out++] = pc - 1;
    }
    return out;
}

struct native_frame *
native_describe(const uintptr_t *pcs, uint32_t n)
{
    struct native_scratch *s = pthread_getspecific(nat.scratch_key);
    uint32_t i;

    if (s == NULL) {
        s = alloc_real_mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (s == MAP_FAILED) {
            return NULL;
        }
        pthread_setspecific(nat.scratch_key, s);
    }
    for (i = 0; i < n && i < NATIVE_FRAMES_MAX; i++) {
        struct native_frame *f = &s->frames[i];
        struct link_map *map = NULL;
        Dl_info info;

        memset(f, 0, sizeof(*f));
        f->pc = pcs[i];
        f->address = pcs[i];
        if (dladdr1((void *)pcs[i], &info, (void **)&map, RTLD_DL_LINKMAP) ==
            0) {
            continue;
        }
        if (map != NULL) {
            f->address = pcs[i] - map->l_addr;
        }
        if (map != NULL && (map->l_name == NULL || map->l_name[0] == '\0')) {
            alloc_copy_str(f->module, nat.exe, sizeof(f->module));
        } else if (info.dli_fname != NULL) {
            alloc_copy_str(f->module, info.dli_fname, sizeof(f->module));
        }
        if (info.dli_sname != NULL) {
            alloc_copy_str(f->name, info.dli_sname, sizeof(f->name));
        }
    }
    return s->frames;
}
