/*
 * target.h - the program being looked at: a live process or a core file.
 *
 * Layer: target.  Everything python/ and the commands may know about the
 * program they inspect goes through a struct target: a narrow method
 * table (after memsrc.h and SQLite's VFS) in front of the backend.  It
 * gives the target's memory (a memsrc), its mappings, the files behind
 * them, its threads with their states and registers, who it is (pid,
 * command line, executable) and, for a live process, a pause for a
 * consistent picture.  No pid, /proc path or ptrace call reaches python/.
 *
 * Backends: a live process (live.c: process_vm_readv, /proc, ptrace
 * seize/interrupt through pause.c) and an ELF core file (corefile.c),
 * which is always consistent: pausing it does nothing and costs nothing.
 * A memory-only target (target_from_memsrc) serves unit tests.
 *
 * Remote addresses are raddr_t integers; paths the target uses are its
 * own (inside its mount namespace, or on the machine a core came from):
 * target_path() and target_mapped_path() turn them into paths pyspect can
 * open.
 */
#ifndef PYSPECT_TARGET_TARGET_H
#define PYSPECT_TARGET_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "target/maps.h"
#include "target/memsrc.h"

struct target;

enum target_kind {
    TARGET_LIVE,   /* a running process */
    TARGET_CORE,   /* a core file: a process as it was */
    TARGET_MEMORY, /* memory only (unit tests) */
};

/*
 * x86-64 general registers in DWARF numbering (the System V psABI), as
 * struct target_regs.gpr holds them and a CFI unwinder wants them.
 */
enum target_reg {
    TARGET_REG_RAX,
    TARGET_REG_RDX,
    TARGET_REG_RCX,
    TARGET_REG_RBX,
    TARGET_REG_RSI,
    TARGET_REG_RDI,
    TARGET_REG_RBP,
    TARGET_REG_RSP,
    TARGET_REG_R8,
    TARGET_REG_R9,
    TARGET_REG_R10,
    TARGET_REG_R11,
    TARGET_REG_R12,
    TARGET_REG_R13,
    TARGET_REG_R14,
    TARGET_REG_R15,
    TARGET_REG_RIP,
    TARGET_NREGS
};

/* What a thread's registers say, as far as the backend knows them. */
struct target_regs {
    uint64_t pc;     /* instruction pointer, 0 when unknown */
    uint64_t sp;     /* stack pointer, 0 when unknown */
    uint64_t fp;     /* frame pointer (rbp), 0 when unknown */
    int64_t syscall; /* the system call it is blocked in, -1 none */
    /* That system call's six arguments (rdi, rsi, rdx, r10, r8, r9),
     * valid when syscall >= 0: a futex wait names the word it sleeps on. */
    uint64_t args[6];
    /*
     * 1 when gpr holds every general register (a paused live thread, a
     * core's NT_PRSTATUS): enough to unwind its native stack from any
     * instruction.  0: only pc, sp and fp above are known.
     */
    int complete;
    uint64_t gpr[TARGET_NREGS];
};

struct target_ops {
    const char *name;
    /*
     * The target's mappings now, in address order, into out (which the
     * caller releases).  A live process's change: read them again after
     * pausing it.  PS_EEXITED, PS_EPERM.
     */
    int (*maps)(struct target *t, struct maps *out);
    /*
     * A path pyspect can open for the file the target sees as path:
     * absolute names inside the target's root (a container's, or
     * --sysroot for a core), relative ones against its working directory.
     * Appends to out.  PS_ENOTFOUND when there is no such file.
     */
    int (*path)(struct target *t, const char *path, struct strbuf *out);
    /*
     * A path pyspect can open for the very file mapped at e (a live
     * process: /proc/PID/map_files, which survives the file being
     * replaced or deleted; a core: --executable for the executable's
     * mappings, else path()).  Appends to out; PS_ENOTFOUND.
     */
    int (*mapped_path)(struct target *t, const struct map_entry *e,
                       struct strbuf *out);
    /* Thread ids, sorted ascending; *tids is malloc'd.  PS_EEXITED. */
    int (*threads)(struct target *t, int **tids, size_t *n);
    /*
     * The thread the target itself calls tid -- its id in the target's
     * pid namespace, what gettid() and CPython's native_thread_id say in
     * a container -- by the id the other methods use (the host's).
     * PS_ENOTFOUND for no such thread.  NULL: the same ids.
     */
    int (*host_tid)(struct target *t, int tid, int *host);
    /*
     * A thread's state letter as /proc shows it ('R' on a CPU or waiting
     * for one, 'S' sleeping, 'D' disk wait, 't' traced...).  A core,
     * where the kernel did not record it: 'S' for a thread blocked in a
     * system call, 'R' for one that was in user code.  PS_ENOTFOUND when
     * the thread is gone or unknown.  Cheap enough for a sampler.
     */
    int (*thread_state)(struct target *t, int tid, char *state);
    /*
     * How many times the scheduler has put a thread on a CPU, and the CPU
     * time it has had (ns, brought up to date at each tick and each
     * switch), as /proc/PID/task/TID/schedstat counts them: a thread that
     * got a CPU since the last call changed the first.  Cheaper than
     * thread_state(), so a sampler asks it first.  0; 1 when the target
     * does not count them (a core, a kernel built without them);
     * PS_ENOTFOUND when the thread is gone.  NULL: never counted.
     */
    int (*thread_runs)(struct target *t, int tid, uint64_t *runs,
                       uint64_t *cpu_ns);
    /*
     * Is the thread asleep now: blocked, neither on a CPU nor waiting for
     * one, so that thread_state() would not say 'R'?  1 when the backend
     * knows it is; 0 when it may be runnable, is gone, or the backend
     * cannot tell (ask thread_state()).  Cheaper than thread_state() for
     * a thread that sleeps, dearer by the same for one that runs: a
     * sampler asks it of threads it found asleep before.  2 when the
     * backend knows it is not (running or waiting for a CPU: 'R').
     * NULL: never known.
     */
    int (*thread_asleep)(struct target *t, int tid);
    /*
     * The CPU time of the whole process (ns): the sum of what each of its
     * threads' counts say (thread_runs()), and of those that ended,
     * brought up to date at the same moments (each tick, each switch) --
     * one cheap call where thread_runs() is one per thread, so that a
     * sampler finds with it that threads it did not ask had no CPU since
     * it last looked.  0; PS_ENOTFOUND when it cannot be read.  NULL:
     * never known (target_cpu_time() returns 1).
     */
    int (*cpu_time)(struct target *t, uint64_t *ns);
    /*
     * A thread's registers.  A live process gives pc, sp, the system
     * call and its arguments without stopping the thread only while it
     * is blocked in the kernel: for a thread on a CPU the fields stay
     * unknown (0, and -1 for syscall) and the call still succeeds.  While
     * target_pause() holds it, a live thread gives every register
     * (complete, through PTRACE_GETREGS); a core always does.
     * PS_ENOTFOUND for an unknown thread.
     */
    int (*thread_regs)(struct target *t, int tid, struct target_regs *regs);
    /*
     * The command line, arguments separated by spaces, appended to out
     * (a core keeps only its first 80 bytes).
     */
    int (*cmdline)(struct target *t, struct strbuf *out);
    /*
     * The executable's path as the target sees it, appended to out (a
     * live process's changes when it calls execve()).  PS_ENOTFOUND when
     * it has none (a kernel thread), PS_EPERM.
     */
    int (*executable)(struct target *t, struct strbuf *out);
    /*
     * Open, for reading, a file the target names (a source file), only
     * as the target itself could (target/openfile.h: from its root, as
     * its user, a regular file, never blocking, at most max bytes).
     * PS_ENOTFOUND when it cannot or may not.  NULL: through path(),
     * and only what everyone may read.
     */
    int (*open_file)(struct target *t, const char *path, size_t max, int *fd);
    /*
     * Stop every thread for a consistent picture (NULL: the target is
     * always consistent).  On failure nothing stays stopped.
     */
    int (*pause)(struct target *t);
    /*
     * Stop one thread (tid) the same way, the others running on (NULL:
     * always consistent).  PS_ECHANGED when the thread is gone.
     */
    int (*pause_thread)(struct target *t, int tid);
    /* Let it run again; safe when not paused. */
    void (*resume)(struct target *t);
    /*
     * Is the target still there?  0, or PS_EEXITED when it has exited
     * (or is a zombie); 1 from exiting when it is on its way out (an
     * exiting process loses its mappings before it becomes a zombie;
     * one in the middle of execve() briefly lacks them too).  NULL:
     * always there.
     */
    int (*check)(struct target *t);
    int (*exiting)(struct target *t);
    /*
     * The first address, since the last call, of bytes a read returned
     * that the target does not hold (a core: a hole its writer left in a
     * segment, read as zeros -- a page the kernel found never touched,
     * or memory gcore could not read), 0 when none; starts over.  What a
     * walk that failed read from there is not the target's fault.  NULL:
     * the target holds everything it returns.
     */
    raddr_t (*take_missing)(struct target *t);
    /* Release the backend's state (not the struct target fields). */
    void (*free)(struct target *t);
};

struct target {
    const struct target_ops *ops;
    enum target_kind kind;
    struct memsrc *mem; /* the target's memory (owned) */
    int pid;            /* live: the process; core: the pid it had */
    int ns_pid;         /* its own pid in its pid namespace, 0: the same */
    char *name;         /* "pid 4242", "core core.4242": for messages */
    char *file;         /* a core's file, NULL for a live process */
    /*
     * Why answers about this target may be partial (a core cut short, a
     * mapped file that could not be had), for the user; NULL when the
     * target is whole.  Reads of what is missing fail with PS_EFAULT.
     */
    char *partial;
    /* What a command fails with when the missing part was needed:
     * PS_ETRUNCATED, PS_ENOTFOUND (a file). */
    int partial_error;
    int paused; /* between target_pause() and target_resume() */
    uint64_t pause_start_ns;
    uint64_t pause_end_ns;
};

/*
 * A live process.  Checks that it exists and may be read: PS_ENOPROC,
 * PS_EZOMBIE, PS_EPERM.  Reads nothing else and stops nothing.
 */
int target_live_open(int pid, struct target **out);

/* What a core file needs besides itself. */
struct target_core_options {
    /* The executable, where the core's record of it is wrong or missing
     * (NULL: the path the core names, under sysroot). */
    const char *executable;
    /* Where the core's files are (a container's root, a copy of the
     * machine it came from); NULL: this machine's root. */
    const char *sysroot;
};

/*
 * An ELF core file (gcore's or the kernel's).  PS_ENOTFOUND, PS_EPERM,
 * PS_ENOTCORE, PS_EARCH (not x86-64), PS_ETRUNCATED (cut short before
 * its notes end); a core whose memory is cut short opens, with partial
 * set.  opt may be NULL.
 */
int target_core_open(const char *path, const struct target_core_options *opt,
                     struct target **out);

/*
 * A target with memory only (no mappings, threads or files), taking
 * ownership of src.  For unit tests of the walkers.
 */
struct target *target_from_memsrc(struct memsrc *src);

void target_free(struct target *t);

static inline int
target_maps(struct target *t, struct maps *out)
{
    return t->ops->maps(t, out);
}

static inline int
target_path(struct target *t, const char *path, struct strbuf *out)
{
    return t->ops->path(t, path, out);
}

static inline int
target_mapped_path(struct target *t, const struct map_entry *e,
                   struct strbuf *out)
{
    return t->ops->mapped_path(t, e, out);
}

static inline int
target_threads(struct target *t, int **tids, size_t *n)
{
    return t->ops->threads(t, tids, n);
}

static inline int
target_host_tid(struct target *t, int tid, int *host)
{
    if (t->ops->host_tid == NULL) {
        *host = tid;
        return 0;
    }
    return t->ops->host_tid(t, tid, host);
}

static inline int
target_thread_state(struct target *t, int tid, char *state)
{
    return t->ops->thread_state(t, tid, state);
}

static inline int
target_thread_runs(struct target *t, int tid, uint64_t *runs, uint64_t *cpu_ns)
{
    if (t->ops->thread_runs == NULL) {
        return 1;
    }
    return t->ops->thread_runs(t, tid, runs, cpu_ns);
}

static inline int
target_thread_asleep(struct target *t, int tid)
{
    return t->ops->thread_asleep != NULL && t->ops->thread_asleep(t, tid) == 1;
}

/* 1 asleep, 2 known not asleep ('R'), 0 not known (see thread_asleep). */
static inline int
target_thread_sleeps(struct target *t, int tid)
{
    return t->ops->thread_asleep != NULL ? t->ops->thread_asleep(t, tid) : 0;
}

static inline int
target_cpu_time(struct target *t, uint64_t *ns)
{
    if (t->ops->cpu_time == NULL) {
        return 1;
    }
    return t->ops->cpu_time(t, ns);
}

static inline int
target_thread_regs(struct target *t, int tid, struct target_regs *regs)
{
    return t->ops->thread_regs(t, tid, regs);
}

static inline int
target_cmdline(struct target *t, struct strbuf *out)
{
    return t->ops->cmdline(t, out);
}

static inline int
target_executable(struct target *t, struct strbuf *out)
{
    return t->ops->executable(t, out);
}

/* See target_ops.open_file. */
int target_open_file(struct target *t, const char *path, size_t max, int *fd);

/*
 * Pause the target (nothing to do for a core).  Nested calls are not
 * counted: one target_resume() ends the pause.  The time it was held is
 * target_pause_ms().
 */
int target_pause(struct target *t);
void target_resume(struct target *t);

/*
 * Pause one thread (tid) for a read of that thread's own state, the
 * others running on: a sampler's way to read a stack that changes faster
 * than it can be copied.  target_resume() lets it go.  Nothing to do for a
 * target that is always consistent, or already paused whole.
 */
int target_pause_thread(struct target *t, int tid);

/* How long the last pause lasted (or has lasted so far), in ms. */
double target_pause_ms(const struct target *t);

/* Can the target be paused at all (a live process)? */
static inline int
target_can_pause(const struct target *t)
{
    return t->ops->pause != NULL;
}

/*
 * Open the ELF file mapped at e (target_mapped_path()).  Where (if not
 * NULL) gets the path that opened.  PS_ENOTFOUND, PS_EELF.
 */
struct elf_image;
int target_open_elf(struct target *t, const struct map_entry *e,
                    struct strbuf *where, struct elf_image **out);

/* See target_ops.check and .exiting. */
int target_check(struct target *t);
int target_exiting(struct target *t);

/* See target_ops.take_missing. */
static inline raddr_t
target_take_missing(struct target *t)
{
    return t->ops->take_missing != NULL ? t->ops->take_missing(t) : 0;
}

#endif /* PYSPECT_TARGET_TARGET_H */
