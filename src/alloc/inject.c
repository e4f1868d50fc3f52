/*
 * inject.c - load the allocation tracker into a running process.
 *
 * Layer: alloc (pyspect's side; see inject.h for the trampoline's part).
 * The one place pyspect changes a process it did not start, so every step
 * is built to leave the target whole whatever happens to pyspect:
 *
 *   1. Read-only checks: the target's C library is glibc 2.34 or later
 *      (dlopen and dlsym in libc itself), the tracker library is the same
 *      file inside the target's root (a container sees its own files),
 *      and the end of the C library's code mapping has unused zero bytes
 *      for the trampoline.
 *   2. The trampoline and its data are written there (/proc/PID/mem):
 *      bytes no code ever reaches, so the target runs on unchanged.
 *   3. One thread at a time is stopped with ptrace (seize + interrupt,
 *      never SIGSTOP) and looked at: it is at a safe point only when it
 *      is blocked in one of a few system calls (read, poll, select,
 *      epoll_wait, accept, sleep, wait...) in the C library's code.  Such
 *      a thread has released the GIL and holds neither malloc's nor the
 *      loader's locks, which the trampoline will need; a thread running
 *      Python code, or inside malloc, the loader or a lock, is let go
 *      untouched.  The interrupted system call is restarted as the kernel
 *      would have (the trampoline returns to the `syscall` instruction),
 *      or, where the kernel would have used its restart block (the
 *      sleeps), returns EINTR, which callers of those calls must take.
 *   4. Its saved registers are written into the trampoline's data, and a
 *      single ptrace call points it at the trampoline; it is let go.  If
 *      pyspect dies before that call, nothing changed; after it, the
 *      thread runs the trampoline by itself and comes back.
 *   5. pyspect watches the trampoline's status word, then the tracker's
 *      file.  The tracker stops when pyspect says so or is gone.
 */
#define _GNU_SOURCE
#include "alloc/inject.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

#include "alloc/report.h"
#include "alloc/store.h"
#include "core/error.h"
#include "core/util.h"
#include "target/elf.h"
#include "target/maps.h"
#include "target/pause.h"
#include "target/proc.h"
#include "target/target.h"
#include "core/banned.h"

/* The kernel's restart codes, as an interrupted system call leaves them
 * in rax (include/linux/errno.h, not exported to user space). */
#define K_ERESTARTSYS 512
#define K_ERESTARTNOINTR 513
#define K_ERESTARTNOHAND 514
#define K_ERESTART_RESTARTBLOCK 516

/* Between two looks at the threads, while none is at a safe point. */
#define ROUND_SLEEP_MS 20

/* What the trampoline needs from the target. */
struct inject {
    int pid;
    int fd;                   /* /proc/PID/mem */
    raddr_t libc_lo, libc_hi; /* the C library's code */
    raddr_t dlopen_addr, dlsym_addr;
    raddr_t cave; /* where the trampoline goes */
};

static int
mem_write(struct inject *in, raddr_t addr, const void *buf, size_t len)
{
    ssize_t n = pwrite(in->fd, buf, len, (off_t)addr);

    if (n != (ssize_t)len) {
        return err_set(PS_EIO, "cannot write to pid %d at %#llx: %s", in->pid,
                       (unsigned long long)addr,
                       n < 0 ? strerror(errno) : "short write");
    }
    return 0;
}

static int
mem_read(struct inject *in, raddr_t addr, void *buf, size_t len)
{
    ssize_t n = pread(in->fd, buf, len, (off_t)addr);

    if (n != (ssize_t)len) {
        return err_set(PS_EIO, "cannot read pid %d at %#llx: %s", in->pid,
                       (unsigned long long)addr,
                       n < 0 ? strerror(errno) : "short read");
    }
    return 0;
}

/* Is path (pyspect's view) the very file path names inside pid's root? */
int
alloc_same_file_inside(int pid, const char *path)
{
    struct strbuf inside = STRBUF_INIT;
    struct stat a, b;
    int same;

    strbuf_addf(&inside, "/proc/%d/root%s", pid, path);
    same = stat(path, &a) == 0 && stat(inside.buf, &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    strbuf_release(&inside);
    return same;
}

static int
is_libc(const char *path)
{
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    return strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-", 5) == 0;
}

/*
 * The C library: its code mapping, dlopen and dlsym, and a cave at the
 * end of the code mapping.
 */
static int
find_libc(struct inject *in)
{
    struct maps maps = MAPS_INIT;
    struct elf_image *elf = NULL;
    struct elf_symbol sym;
    struct target *t = NULL;
    const struct map_entry *code = NULL, *base = NULL;
    unsigned char tail[4096];
    size_t zeros = 0, i, need;
    uint64_t bias;
    int rc;

    rc = target_live_open(in->pid, &t);
    if (rc == 0) {
        rc = target_maps(t, &maps);
    }
    if (rc < 0) {
        target_free(t);
        return rc;
    }
    for (i = 0; i < maps.n; i++) {
        const struct map_entry *e = &maps.v[i];

        if (e->path == NULL || e->path[0] != '/' || !is_libc(e->path)) {
            continue;
        }
        if (e->offset == 0 && base == NULL) {
            base = e;
        }
        if (e->perms[2] == 'x' && code == NULL) {
            code = e;
        }
    }
    if (base == NULL || code == NULL) {
        rc = err_set(PS_ENOTFOUND,
                     "pid %d has no GNU C library mapped (a static program, "
                     "or musl): the tracker cannot be loaded into it",
                     in->pid);
        goto out;
    }
    /* The very file mapped (a chroot or a container names it its own
     * way). */
    rc = target_open_elf(t, base, NULL, &elf);
    if (rc < 0) {
        rc = err_set(PS_ENOTFOUND, "cannot read pid %d's C library %s",
                     in->pid, base->path);
        goto out;
    }
    bias = elf_image_bias(elf, base->start);
    if (elf_image_dynamic_symbol(elf, "dlopen", &sym) < 0) {
        rc = err_set(PS_ENOTFOUND,
                     "pid %d's C library has no dlopen of its own (glibc "
                     "2.34 or later is needed)",
                     in->pid);
        goto out;
    }
    in->dlopen_addr = sym.value + bias;
    if (elf_image_dynamic_symbol(elf, "dlsym", &sym) < 0) {
        rc = err_set(PS_ENOTFOUND, "pid %d's C library has no dlsym", in->pid);
        goto out;
    }
    in->dlsym_addr = sym.value + bias;
    in->libc_lo = code->start;
    in->libc_hi = code->end;

    /* The cave: zero bytes at the end of the code mapping, past the
     * last function (or a trampoline left by an earlier attach). */
    need = (TR_SIZE + 63) & ~(size_t)63;
    if (code->end - code->start < sizeof(tail)) {
        rc = err_set(PS_ENOTFOUND, "pid %d's C library is too small", in->pid);
        goto out;
    }
    rc = mem_read(in, code->end - sizeof(tail), tail, sizeof(tail));
    if (rc < 0) {
        goto out;
    }
    in->cave = (code->end - need) & ~(raddr_t)63;
    /* Free, or holding an earlier attach's trampoline (which ran within
     * milliseconds of being entered: it is reused). */
    if (memcmp(tail + sizeof(tail) - (code->end - in->cave), alloc_trampoline,
               TR_DATA) != 0) {
        while (zeros < sizeof(tail) && tail[sizeof(tail) - 1 - zeros] == 0) {
            zeros++;
        }
        if (zeros < need + 64) {
            rc = err_set(PS_ENOTFOUND,
                         "no room for the tracker's loader in pid %d's C "
                         "library (%zu free bytes, %zu needed)",
                         in->pid, zeros, need + 64);
            goto out;
        }
    }
    rc = 0;
out:
    elf_image_close(elf);
    maps_release(&maps);
    target_free(t);
    return rc;
}

/* Blocking system calls a thread waits in with no lock the trampoline
 * needs held: the GIL released, outside malloc and the loader. */
static int
safe_syscall(long nr)
{
    switch (nr) {
    case SYS_read:
    case SYS_poll:
    case SYS_select:
    case SYS_nanosleep:
    case SYS_pause:
    case SYS_accept:
    case SYS_recvfrom:
    case SYS_recvmsg:
    case SYS_wait4:
    case SYS_waitid:
    case SYS_epoll_wait:
    case SYS_clock_nanosleep:
    case SYS_pselect6:
    case SYS_ppoll:
    case SYS_epoll_pwait:
    case SYS_accept4:
        return 1;
    default:
        return 0;
    }
}

/*
 * Is the stopped thread (regs) at a safe point?  Then fill saved with
 * the registers the trampoline returns with: the system call restarted
 * as the kernel would restart it, or failed with EINTR.
 */
static int
safe_point(struct inject *in, const struct user_regs_struct *regs,
           struct user_regs_struct *saved)
{
    long ret = (long)regs->rax;
    unsigned char insn[2];

    *saved = *regs;
    if ((long)regs->orig_rax < 0 || !safe_syscall((long)regs->orig_rax) ||
        regs->rip < in->libc_lo + 2 || regs->rip > in->libc_hi ||
        mem_read(in, regs->rip - 2, insn, 2) < 0 || insn[0] != 0x0f ||
        insn[1] != 0x05) {
        return 0;
    }
    switch (-ret) {
    case K_ERESTARTSYS:
    case K_ERESTARTNOINTR:
    case K_ERESTARTNOHAND:
        /* Back to the `syscall` instruction, with its number. */
        saved->rax = regs->orig_rax;
        saved->rip = regs->rip - 2;
        return 1;
    case K_ERESTART_RESTARTBLOCK:
    case EINTR:
        /* A sleep: its restart block may not survive the trampoline's
         * own system calls; it returns EINTR instead. */
        saved->rax = (unsigned long long)-EINTR;
        return 1;
    default:
        return 0; /* it was not blocked in the call */
    }
}

/* Try one thread: stop it, and if it is at a safe point, send it to the
 * trampoline.  1 when sent, 0 when not at a safe point, or an error. */
static int
try_thread(struct inject *in, int tid, raddr_t *sp)
{
    struct pause p;
    struct user_regs_struct regs, saved, go;
    uint64_t data[TR_NREGS];
    int rc, sent = 0;

    rc = pause_thread_begin(in->pid, tid, &p);
    if (rc == PS_ECHANGED) {
        return 0; /* gone, or exiting: another thread */
    }
    if (rc < 0) {
        return rc;
    }
    if (p.job_stopped || p.n != 1 || p.state[0] != PAUSE_HELD ||
        ptrace(PTRACE_GETREGS, tid, 0, &regs) < 0 ||
        !safe_point(in, &regs, &saved)) {
        pause_end(&p);
        pause_release(&p);
        return 0;
    }
    data[TR_RAX] = saved.rax;
    data[TR_RBX] = saved.rbx;
    data[TR_RCX] = saved.rcx;
    data[TR_RDX] = saved.rdx;
    data[TR_RSI] = saved.rsi;
    data[TR_RDI] = saved.rdi;
    data[TR_RBP] = saved.rbp;
    data[TR_RSP] = saved.rsp;
    data[TR_R8] = saved.r8;
    data[TR_R9] = saved.r9;
    data[TR_R10] = saved.r10;
    data[TR_R11] = saved.r11;
    data[TR_R12] = saved.r12;
    data[TR_R13] = saved.r13;
    data[TR_R14] = saved.r14;
    data[TR_R15] = saved.r15;
    data[TR_RIP] = saved.rip;
    data[TR_EFLAGS] = saved.eflags;
    rc = mem_write(in, in->cave + TR_DATA + TR_REGS, data, sizeof(data));
    if (rc == 0) {
        /* The one change to the thread: where it goes on.  orig_rax -1
         * keeps the kernel from restarting the call under us. */
        go = regs;
        go.rip = in->cave;
        go.orig_rax = (unsigned long long)-1;
        if (ptrace(PTRACE_SETREGS, tid, 0, &go) < 0) {
            rc = err_set(PS_EIO, "cannot set thread %d's registers: %s", tid,
                         strerror(errno));
        } else {
            sent = 1;
            *sp = regs.rsp;
        }
    }
    pause_end(&p);
    pause_release(&p);
    return rc < 0 ? rc : sent;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

/* Threads, the main one first. */
static int
list_threads(int pid, int **tids, size_t *n)
{
    size_t i;
    int rc = proc_tasks(pid, tids, n);

    if (rc < 0) {
        return rc;
    }
    for (i = 0; i < *n; i++) {
        if ((*tids)[i] == pid) {
            (*tids)[i] = (*tids)[0];
            (*tids)[0] = pid;
            break;
        }
    }
    return 0;
}

/* The trampoline saves vector registers with XSAVE. */
static int
cpu_has_xsave(void)
{
    struct strbuf info = STRBUF_INIT;
    int has;

    has = read_file("/proc/cpuinfo", 1u << 20, &info) == 0 &&
          strstr(info.buf, " xsave") != NULL;
    strbuf_release(&info);
    return has;
}

int
alloc_inject(int pid, const char *library, const char *config,
             const char *ready_path, double timeout_s)
{
    static const char symbol[] = "pyspect_alloc_attach";
    unsigned char blob[TR_SIZE];
    struct strbuf path = STRBUF_INIT;
    struct inject in;
    uint64_t deadline = clock_now_ns() + (uint64_t)(timeout_s * 1e9);
    uint64_t status = 0, addr;
    int64_t result = 0;
    raddr_t sp = 0;
    int rc, sent = 0;

    memset(&in, 0, sizeof(in));
    in.pid = pid;
    in.fd = -1;
    if (strlen(library) >= TR_PATH_MAX || strlen(config) >= TR_CONFIG_MAX) {
        return err_set(PS_EUSAGE, "the tracker's path or configuration is "
                                  "too long");
    }
    if (!cpu_has_xsave()) {
        return err_set(PS_EUNSAFE, "this CPU has no XSAVE, which loading "
                                   "the tracker needs");
    }
    if (!alloc_same_file_inside(pid, library)) {
        return err_set(PS_ENOTFOUND,
                       "%s is not the same file inside pid %d's root (a "
                       "container?): the tracker cannot be loaded there",
                       library, pid);
    }
    strbuf_addf(&path, "/proc/%d/mem", pid);
    in.fd = open(path.buf, O_RDWR | O_CLOEXEC);
    strbuf_release(&path);
    if (in.fd < 0) {
        return err_set(
            errno == EACCES || errno == EPERM ? PS_EPERM : PS_ENOPROC,
            "cannot open pid %d's memory: %s", pid, strerror(errno));
    }
    rc = find_libc(&in);
    if (rc < 0) {
        goto out;
    }

    /* The trampoline and its data, status "ready". */
    memcpy(blob, alloc_trampoline, TR_SIZE);
    memset(blob + TR_DATA, 0, TR_SIZE - TR_DATA);
    addr = in.dlopen_addr;
    memcpy(blob + TR_DATA + TR_DLOPEN, &addr, 8);
    addr = in.dlsym_addr;
    memcpy(blob + TR_DATA + TR_DLSYM, &addr, 8);
    memcpy(blob + TR_DATA + TR_PATH, library, strlen(library) + 1);
    memcpy(blob + TR_DATA + TR_SYMBOL, symbol, sizeof(symbol));
    memcpy(blob + TR_DATA + TR_CONFIG, config, strlen(config) + 1);
    rc = mem_write(&in, in.cave, blob, TR_SIZE);
    if (rc < 0) {
        goto out;
    }

    /* A thread at a safe point. */
    while (!sent) {
        int *tids = NULL;
        size_t n, i;

        rc = list_threads(pid, &tids, &n);
        for (i = 0; rc == 0 && i < n && !sent; i++) {
            rc = try_thread(&in, tids[i], &sp);
            if (rc > 0) {
                sent = 1;
                rc = 0;
            }
        }
        free(tids);
        if (rc < 0) {
            goto out;
        }
        if (!sent && clock_now_ns() > deadline) {
            rc = err_set(PS_EUNSAFE,
                         "no thread of pid %d waited in a system call "
                         "within %g s (every one was running, or inside "
                         "a lock)",
                         pid, timeout_s);
            goto out;
        }
        if (!sent) {
            sleep_ms(ROUND_SLEEP_MS);
        }
    }

    /* The trampoline runs on its own now.  Loaded and tracking once the
     * tracker's file says so; its word on the thread's stack tells a
     * failure (and may be overwritten once the thread has returned). */
    for (;;) {
        struct alloc_header h;

        if (alloc_header_read(ready_path, &h) == 0 &&
            h.state == ALLOC_STATE_TRACKING) {
            rc = 0;
            break;
        }
        if (mem_read(&in, sp - TR_STATUS_AT, &status, 8) < 0) {
            rc = err_set(PS_EEXITED,
                         "pid %d exited while the tracker "
                         "loaded",
                         pid);
            break;
        }
        if (status == (TR_ST_TAG | TR_ST_FAILED)) {
            rc = err_set(PS_EIO,
                         "pid %d could not load %s (dlopen failed: is it "
                         "built for this machine and C library?)",
                         pid, library);
            break;
        }
        if (status == (TR_ST_TAG | TR_ST_DONE) &&
            mem_read(&in, sp - TR_RESULT_AT, &result, 8) == 0 && result != 0) {
            static const char *const why[] = {
                "", "its configuration was refused",
                "another pyspect alloc is attached to it",
                "it runs no Python the tracker can read",
                "the tracker could not make its file"};

            rc = err_set(result == -3 ? PS_ENOTPY : PS_EIO,
                         "the tracker in pid %d did not start: %s", pid,
                         result < 0 && result >= -4 ? why[-result] : "?");
            break;
        }
        if (clock_now_ns() > deadline + 10000000000ull) {
            rc = err_set(PS_ESTUCK,
                         "the tracker did not start in pid %d; if it does, "
                         "it stops by itself once pyspect is gone",
                         pid);
            break;
        }
        sleep_ms(5);
    }
out:
    if (in.fd >= 0) {
        close(in.fd);
    }
    return rc;
}
