/*
 * unwind.c - native stacks and symbols through elfutils' libdwfl.
 *
 * Layer: target.  libdwfl does the hard parts (call frame information,
 * symbol tables, separate debug files); this file feeds it from a struct
 * target instead of from /proc: modules are reported from the target's
 * mappings with files opened through target_mapped_path(), memory is
 * read through a page cache over the target's memsrc, and each thread's
 * first registers come from target_thread_regs() as the caller passes
 * them.  libdwfl's own /proc and core readers are not used: they would
 * see neither a container's files nor our pause.
 */
#define _GNU_SOURCE
#include "unwind.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/hashmap.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/debuginfo.h"
#include "target/maps.h"
#include "core/banned.h"

/* Page cache over the target's memory, for the words unwinding reads:
 * one stack page serves many frames. */
#define UNWIND_PAGE 4096
#define UNWIND_PAGES 32
/* Cached symbol lookups before the cache starts afresh. */
#define UNWIND_SYMBOLS_MAX (1u << 18)
/* Mappings read again at most this often, when a walk meets code in no
 * known file. */
#define UNWIND_REFRESH_NS (200 * 1000 * 1000ULL)
/* The largest vDSO copied out of the target. */
#define UNWIND_VDSO_MAX (1u << 20)
/* Cached unwinding steps before the cache starts afresh. */
#define UNWIND_STEPS_MAX (1u << 16)

/* A module's function symbols, sorted: names by binary search, not by
 * libdwfl's scan of the whole table per lookup. */
struct sym_entry {
    uint64_t start;
    uint64_t end;
    const char *name; /* libdwfl's, valid until dwfl_end() */
    uint32_t rank;    /* among symbols at one address: global first */
};

struct sym_index {
    struct sym_entry *v;
    size_t n;
};

struct cached_symbol {
    const char *function; /* libdwfl's, valid until dwfl_end() */
    const char *library;
    uint64_t offset;
    uint64_t symbol_offset;
};

/*
 * How one frame's code finds its caller's registers (its CFI at one
 * address, boiled down): the canonical frame address (CFA) is a
 * register plus an offset, and each register of the caller is unknown,
 * unchanged, saved at CFA + off, or CFA + off itself.  Cached by code
 * address, so a sampler that meets the same code sample after sample
 * interprets its CFI once, not once per sample.  What this cannot say
 * (an expression, a signal frame, no CFI at all) is a step libdwfl
 * takes: the walk is then left to it.
 */
enum step_how {
    STEP_UNDEF,
    STEP_SAME,
    STEP_AT,  /* saved at CFA + off */
    STEP_VAL, /* CFA + off */
};

struct step {
    int32_t cfa_off;
    uint8_t cfa_reg;
    uint8_t how[TARGET_NREGS];
    int32_t off[TARGET_NREGS];
};

/* The step of code whose CFI the cache cannot hold. */
static struct step no_step;

struct unwinder {
    struct target *t;
    Dwfl *dwfl;
    Dwfl_Callbacks callbacks;
    struct memsrc *cache; /* pages of target memory, per walk */
    int attached;         /* dwfl_attach_state() done */
    /* The walk in progress. */
    const struct target_regs *regs;
    struct native_frame *out;
    size_t max;
    size_t n;
    /* Files reported, keyed by the start of their first mapping, so a
     * refresh reports only what is new. */
    struct hashmap reported;
    unsigned char *vdso; /* the vDSO's image, for elf_memory() */
    size_t vdso_len;
    struct hashmap symbols; /* (pc << 1 | activation) -> cached_symbol */
    struct hashmap names;   /* hash -> char *: names without @VERSION */
    struct hashmap modsyms; /* Dwfl_Module * -> struct sym_index */
    uint64_t refreshed_ns;  /* when the mappings were last read */
    /* tid + 1 -> bytes of stack the thread's last walk went over + 1:
     * read in one go at the start of its next walk */
    struct hashmap spans;
    struct hashmap steps; /* lookup address -> struct step (or &no_step) */
    struct unwinder_stats stats;
};

/* ---- libdwfl callbacks: files ------------------------------------------ */

/*
 * Only the vDSO reaches find_elf (every file is reported with its ELF
 * already open): it has no file, so libdwfl gets the image copied from
 * the target.  *userdata is the unwinder (set when it was reported).
 */
static int
find_elf(Dwfl_Module *mod, void **userdata, const char *modname,
         Dwarf_Addr base, char **file_name, Elf **elfp)
{
    struct unwinder *u = *userdata;

    (void)mod;
    (void)base;
    *file_name = NULL;
    *elfp = NULL;
    if (u == NULL || u->vdso == NULL || strcmp(modname, "[vdso]") != 0) {
        return -1;
    }
    *elfp = elf_memory((char *)u->vdso, u->vdso_len);
    return -1;
}

/*
 * A stripped file's symbols: its separate debug file, by build id,
 * inside the target's root first (debuginfo.h).  Never debuginfod: no
 * network behind the user's back.
 */
static int
find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
               Dwarf_Addr base, const char *file_name,
               const char *debuglink_file, GElf_Word debuglink_crc,
               char **debuginfo_file_name)
{
    struct unwinder *u = *userdata;
    struct strbuf where = STRBUF_INIT;
    int fd = -1;

    (void)mod;
    (void)modname;
    (void)base;
    (void)debuglink_file;
    (void)debuglink_crc;
    *debuginfo_file_name = NULL;
    if (u == NULL || file_name == NULL) {
        return -1;
    }
    if (debuginfo_find(u->t, file_name, &where) == 0) {
        fd = open(where.buf, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            *debuginfo_file_name = strbuf_detach(&where);
        }
    }
    strbuf_release(&where);
    err_clear();
    return fd;
}

/* ---- libdwfl callbacks: the thread being unwound ------------------------ */

static pid_t
next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
    (void)dwfl;
    (void)arg;
    (void)thread_argp;
    return 0; /* threads are only ever asked for by id */
}

static bool
get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
    (void)dwfl;
    (void)tid;
    *thread_argp = arg;
    return true;
}

static bool
memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
    struct unwinder *u = arg;
    uint64_t v;

    (void)dwfl;
    u->stats.reads++;
    if (memsrc_read(u->cache, addr, &v, sizeof(v)) < 0) {
        err_clear();
        return false;
    }
    *result = v;
    return true;
}

static bool
set_initial_registers(Dwfl_Thread *thread, void *arg)
{
    struct unwinder *u = arg;
    const struct target_regs *r = u->regs;
    Dwarf_Word w;

    if (r->complete) {
        Dwarf_Word gpr[TARGET_NREGS];
        size_t i;

        for (i = 0; i < TARGET_NREGS; i++) {
            gpr[i] = r->gpr[i];
        }
        return dwfl_thread_state_registers(thread, 0, TARGET_NREGS, gpr);
    }
    /* Only what /proc tells of a thread blocked in the kernel. */
    w = r->sp;
    if (!dwfl_thread_state_registers(thread, TARGET_REG_RSP, 1, &w)) {
        return false;
    }
    if (r->fp != 0) {
        w = r->fp;
        if (!dwfl_thread_state_registers(thread, TARGET_REG_RBP, 1, &w)) {
            return false;
        }
    }
    w = r->pc;
    return dwfl_thread_state_registers(thread, TARGET_REG_RIP, 1, &w);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

/* ---- modules ------------------------------------------------------------ */

/*
 * The load bias of an ELF mapped with its first byte at map_start: the
 * first PT_LOAD (rounded down to its alignment) lands there.  -1 for a
 * file with no code (a mapped data file that happens to be ELF): the
 * permissions of the mappings cannot say (a core leaves out the text
 * pages the kernel's filter skipped, and with them their flags).
 */
static int
elf_bias(Elf *elf, raddr_t map_start, uint64_t *bias)
{
    GElf_Ehdr ehdr;
    size_t nph, i;
    int code = 0, found = 0;

    if (gelf_getehdr(elf, &ehdr) == NULL || elf_getphdrnum(elf, &nph) != 0 ||
        (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN)) {
        return -1;
    }
    for (i = 0; i < nph; i++) {
        GElf_Phdr ph;

        if (gelf_getphdr(elf, (int)i, &ph) == NULL || ph.p_type != PT_LOAD) {
            continue;
        }
        if (!found) {
            uint64_t align = ph.p_align > 1 ? ph.p_align : 1;

            *bias = ehdr.e_type == ET_EXEC
                        ? 0
                        : map_start - (ph.p_vaddr & ~(align - 1));
            found = 1;
        }
        code |= (ph.p_flags & PF_X) != 0;
    }
    return found && code ? 0 : -1;
}

static void
module_set_userdata(struct unwinder *u, Dwfl_Module *mod)
{
    void **ud = NULL;

    dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
    if (ud != NULL) {
        *ud = u;
    }
}

/* Report the file whose offset-0 mapping is e. */
static void
report_file(struct unwinder *u, const struct map_entry *e)
{
    struct strbuf path = STRBUF_INIT;
    Dwfl_Module *mod;
    Elf *elf = NULL;
    uint64_t bias = 0;
    int fd = -1;

    if (target_mapped_path(u->t, e, &path) < 0) {
        goto out;
    }
    fd = open(path.buf, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        goto out;
    }
    elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (elf == NULL || elf_kind(elf) != ELF_K_ELF ||
        elf_bias(elf, e->start, &bias) < 0) {
        goto out;
    }
    elf_end(elf);
    elf = NULL;
    /* libdwfl takes the descriptor on success; the module is named by
     * the path the target knows, the file by where we opened it. */
    mod = dwfl_report_elf(u->dwfl, e->path, path.buf, fd, bias, true);
    if (mod != NULL) {
        fd = -1;
        module_set_userdata(u, mod);
        u->stats.modules++;
    }
out:
    if (elf != NULL) {
        elf_end(elf);
    }
    if (fd >= 0) {
        close(fd);
    }
    strbuf_release(&path);
    err_clear();
}

static void
report_vdso(struct unwinder *u, const struct map_entry *e)
{
    Dwfl_Module *mod;
    size_t len = (size_t)(e->end - e->start);

    if (u->vdso != NULL || len == 0 || len > UNWIND_VDSO_MAX) {
        return;
    }
    u->vdso = xmalloc(len);
    if (memsrc_read(u->t->mem, e->start, u->vdso, len) < 0) {
        free(u->vdso);
        u->vdso = NULL;
        err_clear();
        return;
    }
    u->vdso_len = len;
    mod = dwfl_report_module(u->dwfl, "[vdso]", e->start, e->end);
    if (mod != NULL) {
        module_set_userdata(u, mod);
        u->stats.modules++;
    }
}

static int
report_modules(struct unwinder *u)
{
    struct maps m = MAPS_INIT;
    size_t i;
    int rc;

    rc = target_maps(u->t, &m);
    if (rc < 0) {
        return rc;
    }
    u->refreshed_ns = clock_now_ns();
    dwfl_report_begin_add(u->dwfl);
    for (i = 0; i < m.n; i++) {
        const struct map_entry *e = &m.v[i];
        void **slot;

        if (strcmp(e->path, "[vdso]") == 0) {
            report_vdso(u, e);
            continue;
        }
        /* Each file once, at its first mapping (file offset 0). */
        if (e->path[0] != '/' || e->offset != 0 ||
            (i > 0 && m.v[i - 1].inode == e->inode &&
             strcmp(m.v[i - 1].path, e->path) == 0)) {
            continue;
        }
        slot = hashmap_slot(&u->reported, e->start);
        if (*slot != NULL) {
            continue;
        }
        *slot = u;
        report_file(u, e);
    }
    dwfl_report_end(u->dwfl, NULL, NULL);
    maps_release(&m);
    if (!u->attached && u->stats.modules > 0) {
        /* The architecture comes from the modules (x86-64 here). */
        if (!dwfl_attach_state(u->dwfl, NULL, u->t->pid, &thread_callbacks,
                               u)) {
            return err_set(PS_EINTERNAL, "libdwfl: %s", dwfl_errmsg(-1));
        }
        u->attached = 1;
    }
    return 0;
}

/* ---- the interface ------------------------------------------------------ */

int
unwinder_new(struct target *t, struct unwinder **out)
{
    struct unwinder *u = xcalloc(1, sizeof(*u));
    int rc;

    *out = NULL;
    u->t = t;
    u->callbacks.find_elf = find_elf;
    u->callbacks.find_debuginfo = find_debuginfo;
    u->callbacks.section_address = dwfl_offline_section_address;
    u->dwfl = dwfl_begin(&u->callbacks);
    if (u->dwfl == NULL) {
        free(u);
        return err_set(PS_EINTERNAL, "libdwfl: %s", dwfl_errmsg(-1));
    }
    u->cache = memsrc_cache_new(t->mem, UNWIND_PAGE, UNWIND_PAGES);
    rc = report_modules(u);
    if (rc < 0) {
        unwinder_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

void
unwinder_free(struct unwinder *u)
{
    size_t it = 0;
    uint64_t key;
    void *value;

    if (u == NULL) {
        return;
    }
    dwfl_end(u->dwfl);
    memsrc_free(u->cache);
    while (hashmap_next(&u->symbols, &it, &key, &value)) {
        free(value);
    }
    hashmap_release(&u->symbols);
    it = 0;
    while (hashmap_next(&u->names, &it, &key, &value)) {
        free(value);
    }
    hashmap_release(&u->names);
    it = 0;
    while (hashmap_next(&u->modsyms, &it, &key, &value)) {
        struct sym_index *ix = value;

        free(ix->v);
        free(ix);
    }
    hashmap_release(&u->modsyms);
    it = 0;
    while (hashmap_next(&u->steps, &it, &key, &value)) {
        if (value != &no_step) {
            free(value);
        }
    }
    hashmap_release(&u->steps);
    hashmap_release(&u->spans);
    hashmap_release(&u->reported);
    free(u->vdso);
    free(u);
}

int
unwinder_refresh(struct unwinder *u)
{
    return report_modules(u);
}

/* ---- cached steps ------------------------------------------------------- */

/*
 * The rule of one register, from dwarf_frame_register()'s answer: 0, or
 * -1 for one the cache cannot hold.  libdw gives offset rules as "CFA,
 * plus N" in the caller's own array (ops_mem), with DW_OP_stack_value at
 * the end for a value rather than a place; anything else (an expression
 * of the CFI's own, another register) is left to libdwfl.
 */
static int
step_register(const Dwarf_Op *ops_mem, const Dwarf_Op *ops, size_t nops,
              uint8_t *how, int32_t *off)
{
    size_t i = 1;
    int64_t v = 0;

    *off = 0;
    if (nops == 0) {
        if (ops == NULL) {
            *how = STEP_SAME;
            return 0;
        }
        if (ops == ops_mem) {
            *how = STEP_UNDEF;
            return 0;
        }
        return -1;
    }
    if (ops != ops_mem || nops > 3 || ops[0].atom != DW_OP_call_frame_cfa) {
        return -1;
    }
    if (i < nops && ops[i].atom == DW_OP_plus_uconst) {
        v = (int64_t)ops[i].number;
        i++;
    }
    *how = STEP_AT;
    if (i < nops && ops[i].atom == DW_OP_stack_value) {
        *how = STEP_VAL;
        i++;
    }
    if (i != nops || v < INT32_MIN || v > INT32_MAX) {
        return -1;
    }
    *off = (int32_t)v;
    return 0;
}

/* The step of frame, or NULL for one the cache cannot hold. */
static struct step *
step_of(Dwarf_Frame *frame)
{
    struct step st;
    Dwarf_Op *ops;
    size_t nops;
    bool signal = false;
    int64_t off;
    int ra, reg;

    memset(&st, 0, sizeof(st));
    ra = dwarf_frame_info(frame, NULL, NULL, &signal);
    /* A signal frame's caller is an interrupted instruction, not a
     * call: libdwfl knows what that changes. */
    if (ra != TARGET_REG_RIP || signal ||
        dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops != 1) {
        return NULL;
    }
    if (ops[0].atom == DW_OP_bregx) {
        reg = (int)ops[0].number;
        off = (int64_t)ops[0].number2;
    } else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
        reg = ops[0].atom - DW_OP_breg0;
        off = (int64_t)ops[0].number;
    } else {
        return NULL;
    }
    if (reg < 0 || reg >= TARGET_NREGS || off < INT32_MIN || off > INT32_MAX) {
        return NULL;
    }
    st.cfa_reg = (uint8_t)reg;
    st.cfa_off = (int32_t)off;
    for (reg = 0; reg < TARGET_NREGS; reg++) {
        Dwarf_Op ops_mem[3];

        if (dwarf_frame_register(frame, reg, ops_mem, &ops, &nops) != 0 ||
            step_register(ops_mem, ops, nops, &st.how[reg], &st.off[reg]) <
                0) {
            return NULL;
        }
    }
    return memcpy(xmalloc(sizeof(st)), &st, sizeof(st));
}

/*
 * The step at code address lookup (a return address less one), found as
 * libdwfl finds it: the module's .eh_frame first, then .debug_frame.
 */
static const struct step *
step_get(struct unwinder *u, uint64_t lookup)
{
    struct step *st;
    void **slot;

    if (u->steps.count >= UNWIND_STEPS_MAX) {
        size_t it = 0;
        uint64_t k;
        void *v;

        while (hashmap_next(&u->steps, &it, &k, &v)) {
            if (v != &no_step) {
                free(v);
            }
        }
        hashmap_clear(&u->steps);
    }
    slot = hashmap_slot(&u->steps, lookup);
    if (*slot == NULL) {
        Dwfl_Module *mod = dwfl_addrmodule(u->dwfl, lookup);
        Dwarf_Frame *frame = NULL;

        st = NULL;
        if (mod != NULL) {
            Dwarf_Addr bias = 0;
            Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);

            if (cfi == NULL ||
                dwarf_cfi_addrframe(cfi, lookup - bias, &frame) != 0) {
                frame = NULL;
                cfi = dwfl_module_dwarf_cfi(mod, &bias);
                if (cfi != NULL &&
                    dwarf_cfi_addrframe(cfi, lookup - bias, &frame) != 0) {
                    frame = NULL;
                }
            }
        }
        if (frame != NULL) {
            st = step_of(frame);
            free(frame);
        }
        if (mod == NULL) {
            /* A file not reported yet, maybe: ask again next time. */
            return &no_step;
        }
        *slot = st != NULL ? st : &no_step;
    }
    return *slot;
}

/*
 * Walk the stack from complete registers by cached steps alone, frames
 * into u->out as frame_cb() takes them.  1 when the walk is done; 0 when
 * it met a step the cache cannot hold: libdwfl walks it then.
 */
static int
cached_walk(struct unwinder *u, const struct target_regs *regs)
{
    uint64_t r[TARGET_NREGS], next[TARGET_NREGS];
    uint32_t known = (1u << TARGET_NREGS) - 1, next_known;
    int activation = 1;
    size_t i;

    for (i = 0; i < TARGET_NREGS; i++) {
        r[i] = regs->gpr[i];
    }
    for (;;) {
        const struct step *st;
        uint64_t pc = r[TARGET_REG_RIP], cfa, sp;
        struct native_frame *f;

        /* As frame_cb() does. */
        sp = known & (1u << TARGET_REG_RSP) ? r[TARGET_REG_RSP] : 0;
        if (pc == 0 || (u->n > 0 && sp != 0 && u->out[u->n - 1].sp != 0 &&
                        sp < u->out[u->n - 1].sp)) {
            return 1;
        }
        f = &u->out[u->n++];
        f->pc = pc;
        f->sp = sp;
        f->activation = activation;
        if (u->n >= u->max) {
            return 1;
        }
        /* A return address points after the call: its CFI is the
         * call's. */
        st = step_get(u, activation ? pc : pc - 1);
        if (st == &no_step) {
            return 0;
        }
        if (!(known & (1u << st->cfa_reg))) {
            return 1; /* libdwfl stops here too */
        }
        cfa = r[st->cfa_reg] + (uint64_t)(int64_t)st->cfa_off;
        next_known = 0;
        for (i = 0; i < TARGET_NREGS; i++) {
            uint64_t addr = cfa + (uint64_t)(int64_t)st->off[i];

            switch (st->how[i]) {
            case STEP_SAME:
                next[i] = r[i];
                next_known |= known & (1u << i);
                break;
            case STEP_AT:
                u->stats.reads++;
                if (memsrc_read(u->cache, addr, &next[i], sizeof(next[i])) ==
                    0) {
                    next_known |= 1u << i;
                } else {
                    err_clear();
                }
                break;
            case STEP_VAL:
                next[i] = addr;
                next_known |= 1u << i;
                break;
            default:
                break;
            }
        }
        /* No return address (undefined: the outermost frame), or one
         * that cannot be read: the walk ends. */
        if (!(next_known & (1u << TARGET_REG_RIP))) {
            return 1;
        }
        memcpy(r, next, sizeof(r));
        known = next_known;
        activation = 0;
    }
}

static int
frame_cb(Dwfl_Frame *state, void *arg)
{
    struct unwinder *u = arg;
    struct native_frame *f;
    Dwarf_Addr pc;
    Dwarf_Word sp = 0;
    bool activation = false;

    if (!dwfl_frame_pc(state, &pc, &activation) || pc == 0) {
        return DWARF_CB_ABORT;
    }
    if (dwfl_frame_reg(state, TARGET_REG_RSP, &sp) != 0) {
        sp = 0;
    }
    /* A caller's stack pointer lies above its callee's: one that does
     * not was read from a stack that is not one (or that changed). */
    if (u->n > 0 && sp != 0 && u->out[u->n - 1].sp != 0 &&
        sp < u->out[u->n - 1].sp) {
        return DWARF_CB_ABORT;
    }
    f = &u->out[u->n++];
    f->pc = pc;
    f->sp = sp;
    f->activation = activation;
    return u->n < u->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/*
 * One walk into u->out: by cached steps where they go, else by libdwfl.
 * A walk that ends early (no CFI for a frame, a bad return address)
 * returns an error from libdwfl: the frames found are still good.
 */
static void
walk(struct unwinder *u, int tid, const struct target_regs *regs)
{
    u->n = 0;
    if (regs->complete && cached_walk(u, regs)) {
        return;
    }
    u->n = 0;
    u->stats.slow++;
    dwfl_getthread_frames(u->dwfl, tid > 0 ? tid : 1, frame_cb, u);
}

int
unwinder_stack(struct unwinder *u, int tid, const struct target_regs *regs,
               struct native_frame *out, size_t max, size_t *n)
{
    raddr_t sp;
    uintptr_t span;

    *n = 0;
    if (regs->pc == 0 && !(regs->complete && regs->gpr[TARGET_REG_RIP])) {
        return PS_ENOTFOUND;
    }
    if (!u->attached || max == 0) {
        return 0;
    }
    if (max > UNWIND_FRAMES_MAX) {
        max = UNWIND_FRAMES_MAX;
    }
    memsrc_cache_invalidate(u->cache);
    sp = regs->complete ? regs->gpr[TARGET_REG_RSP] : regs->sp;
    span = (uintptr_t)hashmap_get(&u->spans, (uint64_t)(unsigned)tid + 1);
    if (sp != 0 && span > 1) {
        /* The pages the last walk of this thread went over, in one
         * read rather than one read per page as the walk reaches it.
         * A stack that cannot be read so is read page by page. */
        if (memsrc_cache_prefetch(u->cache, sp, span - 1) < 0) {
            err_clear();
        }
    }
    u->regs = regs;
    u->out = out;
    u->max = max;
    u->n = 0;
    walk(u, tid, regs);
    /* A walk that ends in no known file met one loaded since the
     * mappings were read (a module imported during a recording): read
     * them again, at most every UNWIND_REFRESH_NS, and walk again. */
    if (u->n > 0 && u->n < max &&
        dwfl_addrmodule(u->dwfl, u->out[u->n - 1].pc) == NULL &&
        clock_now_ns() - u->refreshed_ns > UNWIND_REFRESH_NS &&
        report_modules(u) == 0) {
        walk(u, tid, regs);
    }
    err_clear();
    /* The stack below the outermost frame's: what the next walk will
     * likely read (a word below that frame's sp was read for its return
     * address, so its page is mapped). */
    span = 0;
    if (sp != 0 && u->n > 1 && u->out[u->n - 1].sp > sp &&
        u->out[u->n - 1].sp - sp <= UNWIND_PAGES * UNWIND_PAGE / 2) {
        span = (uintptr_t)(u->out[u->n - 1].sp - sp) + 1;
    }
    hashmap_put(&u->spans, (uint64_t)(unsigned)tid + 1, (void *)span);
    *n = u->n;
    u->stats.stacks++;
    u->stats.frames += u->n;
    u->regs = NULL;
    u->out = NULL;
    return 0;
}

/*
 * Sort a module's function symbols, made in table order, by address and
 * at one address by rank: a stable pass by rank's class (global, weak,
 * local), then a stable radix sort of the addresses, a byte a pass over
 * the bytes in which they differ (three for a library of a few
 * megabytes).  qsort() took milliseconds over libpython's ten thousand,
 * once per recording but all in its first samples.
 */
static void
sym_sort(struct sym_entry *v, size_t n)
{
    struct sym_entry *tmp, *src = v, *dst, *swap;
    size_t count[256], i, k, at;
    uint64_t diff = 0;
    int shift;

    if (n < 2) {
        return;
    }
    tmp = xmalloc(n * sizeof(*tmp));
    dst = tmp;
    at = 0;
    for (k = 0; k < 3; k++) {
        for (i = 0; i < n; i++) {
            if (src[i].rank >> 28 == k) {
                dst[at++] = src[i];
            }
        }
    }
    swap = src, src = dst, dst = swap;
    for (i = 1; i < n; i++) {
        diff |= src[i].start ^ src[0].start;
    }
    for (shift = 0; shift < 64; shift += 8) {
        if (((diff >> shift) & 0xff) == 0) {
            continue;
        }
        memset(count, 0, sizeof(count));
        for (i = 0; i < n; i++) {
            count[(src[i].start >> shift) & 0xff]++;
        }
        for (k = 0, at = 0; k < 256; k++) {
            size_t c = count[k];

            count[k] = at;
            at += c;
        }
        for (i = 0; i < n; i++) {
            dst[count[(src[i].start >> shift) & 0xff]++] = src[i];
        }
        swap = src, src = dst, dst = swap;
    }
    if (src != v) {
        memcpy(v, src, n * sizeof(*v));
    }
    free(tmp);
}

/*
 * The function symbols of mod, sorted by address; at one address the
 * global ones first, then weak, then local, each in table order (the
 * name libdwfl would give: __select over its weak alias select).
 */
static const struct sym_index *
module_symbols(struct unwinder *u, Dwfl_Module *mod)
{
    void **slot = hashmap_slot(&u->modsyms, (uint64_t)(uintptr_t)mod);
    struct sym_index *ix = *slot;
    int n, i;

    if (ix != NULL) {
        return ix;
    }
    ix = xcalloc(1, sizeof(*ix));
    *slot = ix;
    n = dwfl_module_getsymtab(mod);
    if (n <= 0) {
        return ix;
    }
    ix->v = xmalloc((size_t)n * sizeof(*ix->v));
    for (i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr = 0;
        GElf_Word shndx = 0;
        const char *name =
            dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, NULL, NULL);
        int type, bind;
        struct sym_entry *e;

        if (name == NULL) {
            continue;
        }
        type = GELF_ST_TYPE(sym.st_info);
        bind = GELF_ST_BIND(sym.st_info);
        if (*name == '\0' || sym.st_size == 0 || shndx == SHN_UNDEF ||
            (type != STT_FUNC && type != STT_GNU_IFUNC)) {
            continue;
        }
        e = &ix->v[ix->n++];
        e->start = addr;
        e->end = addr + sym.st_size;
        e->name = name;
        e->rank = (uint32_t)(bind == STB_GLOBAL ? 0
                             : bind == STB_WEAK ? 1
                                                : 2)
                      << 28 |
                  (uint32_t)i;
    }
    sym_sort(ix->v, ix->n);
    return ix;
}

/* The function symbol of mod that holds addr, or NULL. */
static const struct sym_entry *
symbol_at(struct unwinder *u, Dwfl_Module *mod, uint64_t addr)
{
    const struct sym_index *ix = module_symbols(u, mod);
    size_t lo = 0, hi = ix->n, k;

    /* The first entry that starts after addr. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ix->v[mid].start <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    /* Back from the last that starts at or before addr, to the nearest
     * that holds it; at its address the best ranked comes first. */
    for (k = lo; k-- > 0 && lo - k <= 16;) {
        if (addr < ix->v[k].end) {
            while (k > 0 && ix->v[k - 1].start == ix->v[k].start &&
                   addr < ix->v[k - 1].end) {
                k--;
            }
            return &ix->v[k];
        }
    }
    return NULL;
}

/*
 * A symbol's name without the version a shared library gives it
 * ("clock_nanosleep@GLIBC_2.2.5"): the name a reader knows.  Interned,
 * so the cache may hold it as long as the unwinder lives.
 */
static const char *
plain_name(struct unwinder *u, const char *name)
{
    const char *at;
    uint64_t h;
    char **slot;
    size_t len;

    if (name == NULL || (at = strchr(name, '@')) == NULL || at == name) {
        return name;
    }
    len = (size_t)(at - name);
    h = hash_bytes(name, len);
    for (;;) {
        slot = (char **)hashmap_slot(&u->names, h);
        if (*slot == NULL) {
            *slot = xstrndup(name, len);
            return *slot;
        }
        if (strncmp(*slot, name, len) == 0 && (*slot)[len] == '\0') {
            return *slot;
        }
        h = hash_u64(h) | 1; /* a collision: probe on */
    }
}

void
unwinder_symbol(struct unwinder *u, const struct native_frame *f,
                struct native_symbol *out)
{
    uint64_t key = f->pc << 1 | (f->activation ? 1 : 0);
    struct cached_symbol *c;
    void **slot;

    if (key == 0) {
        memset(out, 0, sizeof(*out));
        return;
    }
    if (u->symbols.count >= UNWIND_SYMBOLS_MAX) {
        size_t it = 0;
        uint64_t k;
        void *v;

        while (hashmap_next(&u->symbols, &it, &k, &v)) {
            free(v);
        }
        hashmap_clear(&u->symbols);
    }
    slot = hashmap_slot(&u->symbols, key);
    c = *slot;
    if (c == NULL) {
        /* A return address points after the call: look up the call. */
        Dwarf_Addr lookup = f->activation ? f->pc : f->pc - 1;
        Dwfl_Module *mod = dwfl_addrmodule(u->dwfl, lookup);

        c = xcalloc(1, sizeof(*c));
        if (mod != NULL) {
            const struct sym_entry *e = symbol_at(u, mod, lookup);
            Dwarf_Addr bias = 0;

            c->library = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL,
                                          NULL, NULL);
            if (e != NULL) {
                c->function = plain_name(u, e->name);
                c->symbol_offset = f->pc - e->start;
            }
            if (dwfl_module_getelf(mod, &bias) != NULL) {
                c->offset = f->pc - bias;
            } else {
                dwfl_module_info(mod, NULL, &bias, NULL, NULL, NULL, NULL,
                                 NULL);
                c->offset = f->pc - bias;
            }
        } else {
            c->offset = f->pc;
        }
        *slot = c;
    }
    out->function = c->function;
    out->library = c->library;
    out->offset = c->offset;
    out->symbol_offset = c->symbol_offset;
}

void
unwinder_stats(const struct unwinder *u, struct unwinder_stats *st)
{
    *st = u->stats;
}
