/*
 * live.c - the live-process target: memory through process_vm_readv,
 * facts from /proc, the pause through ptrace seize/interrupt.
 *
 * Layer: target.  A thin shell over what proc.c, maps.c, pause.c and the
 * process memsrc already do; what it adds is a cache of open per-thread
 * stat, schedstat and wchan files, so a sampler reads a thread's state,
 * its scheduler counts, or whether it sleeps, with one pread().
 */
#define _GNU_SOURCE
#include "target.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/openfile.h"
#include "target/pause.h"
#include "target/proc.h"
#include "core/banned.h"

/* Threads whose stat (and schedstat) files are kept open, at most: a
 * process that keeps starting threads must not run pyspect out of
 * descriptors. */
#define LIVE_STAT_FDS_MAX 256
/* A state of the first thread read this recently spares a pause its own
 * read of it. */
#define LIVE_LEADER_FRESH_NS (1000 * 1000ULL)

struct live_stat_fd {
    int tid;
    int fd;
    int sched_fd; /* its schedstat, -1 until asked for */
    int wchan_fd; /* its wchan, -1 until asked for */
};

/* A thread's id in the target's pid namespace and on the host. */
struct live_tid {
    int inner;
    int host;
};

struct live_target {
    struct target base;
    struct pause pause;
    struct live_stat_fd *stat_fds; /* sorted by tid */
    size_t nstat_fds;
    size_t stat_fds_alloc;
    struct live_tid *tids; /* in another pid namespace: the threads */
    size_t ntids;
    int runs_counted; /* the kernel counts runs: -1 not known yet */
    /* The first thread's state as last read, and when (clock_now_ns()):
     * a pause soon after need not read it again. */
    char leader_state;
    uint64_t leader_state_ns;
    int wchan_named;  /* a wchan read named a function */
    int wchan_probed; /* wchan_probe() was tried */
    /* The process's CPU clock: 1 known, -1 not to be had, 0 not asked. */
    clockid_t cpu_clock;
    int cpu_clock_known;
};

static struct live_target *
live_of(struct target *t)
{
    return (struct live_target *)t;
}

static int
live_maps(struct target *t, struct maps *out)
{
    return maps_read(t->pid, out);
}

static int
live_path(struct target *t, const char *path, struct strbuf *out)
{
    return proc_target_path(t->pid, path, out);
}

static int
live_mapped_path(struct target *t, const struct map_entry *e,
                 struct strbuf *out)
{
    return proc_mapped_path(t->pid, e, out);
}

/* Ids of the threads in the target's pid namespace, read again. */
static int
live_map_tids(struct live_target *lt)
{
    int *host = NULL;
    size_t n = 0, i;
    int rc = proc_tasks(lt->base.pid, &host, &n);

    if (rc < 0) {
        return rc;
    }
    free(lt->tids);
    lt->tids = xcalloc(n ? n : 1, sizeof(*lt->tids));
    lt->ntids = 0;
    for (i = 0; i < n; i++) {
        int inner;

        if (proc_ns_id(lt->base.pid, host[i], &inner) == 0) {
            lt->tids[lt->ntids].inner = inner;
            lt->tids[lt->ntids++].host = host[i];
        }
    }
    free(host);
    return 0;
}

static int
live_host_tid(struct target *t, int tid, int *host)
{
    struct live_target *lt = live_of(t);
    size_t i;
    int round;

    if (t->ns_pid == 0) {
        *host = tid;
        return 0;
    }
    /* A thread started since the last look: look again, once. */
    for (round = 0; round < 2; round++) {
        for (i = 0; i < lt->ntids; i++) {
            if (lt->tids[i].inner == tid) {
                *host = lt->tids[i].host;
                return 0;
            }
        }
        if (round == 0 && live_map_tids(lt) < 0) {
            break;
        }
    }
    return PS_ENOTFOUND;
}

/*
 * The target's working directory as it sees it: /proc/PID/cwd as we see
 * it, less the path of its root as we see it (a container's).
 */
static int
live_cwd_in_root(int pid, struct strbuf *out)
{
    char link[64], root[4096], cwd[4096];
    ssize_t nr, nc;

    snprintf(link, sizeof(link), "/proc/%d/root", pid);
    nr = readlink(link, root, sizeof(root) - 1);
    snprintf(link, sizeof(link), "/proc/%d/cwd", pid);
    nc = readlink(link, cwd, sizeof(cwd) - 1);
    if (nr <= 0 || nc <= 0 || cwd[0] != '/') {
        return PS_ENOTFOUND;
    }
    root[nr] = cwd[nc] = '\0';
    if (strcmp(root, "/") == 0) {
        strbuf_addstr(out, cwd);
    } else if (strncmp(cwd, root, (size_t)nr) == 0 &&
               (cwd[nr] == '/' || cwd[nr] == '\0')) {
        strbuf_addstr(out, cwd[nr] ? cwd + nr : "/");
    } else {
        return PS_ENOTFOUND;
    }
    return 0;
}

static int
live_open_file(struct target *t, const char *path, size_t max, int *fd)
{
    struct file_creds creds;
    struct strbuf full = STRBUF_INIT;
    char link[64];
    int root, rc;

    /* Whose the target is; unknown (it went away): only what everyone
     * may read. */
    if (proc_creds(t->pid, &creds) < 0) {
        memset(&creds, 0, sizeof(creds));
    }
    if (path[0] != '/') {
        rc = live_cwd_in_root(t->pid, &full);
        if (rc < 0) {
            strbuf_release(&full);
            return rc;
        }
        if (full.len > 0 && full.buf[full.len - 1] != '/') {
            strbuf_addch(&full, '/');
        }
    }
    strbuf_addstr(&full, path);
    snprintf(link, sizeof(link), "/proc/%d/root", t->pid);
    root = open(link, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        strbuf_release(&full);
        return PS_ENOTFOUND;
    }
    rc = openfile_in_root(root, full.buf, &creds, max, fd);
    close(root);
    strbuf_release(&full);
    return rc;
}

static int
live_threads(struct target *t, int **tids, size_t *n)
{
    return proc_tasks(t->pid, tids, n);
}

/* ---- thread states through kept-open stat files ----------------------- */

static size_t
stat_fd_index(const struct live_target *lt, int tid)
{
    size_t lo = 0, hi = lt->nstat_fds;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (lt->stat_fds[mid].tid < tid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static void
stat_fd_close(struct live_stat_fd *f)
{
    close(f->fd);
    if (f->sched_fd >= 0) {
        close(f->sched_fd);
    }
    if (f->wchan_fd >= 0) {
        close(f->wchan_fd);
    }
}

static void
stat_fd_drop(struct live_target *lt, size_t i)
{
    stat_fd_close(&lt->stat_fds[i]);
    memmove(&lt->stat_fds[i], &lt->stat_fds[i + 1],
            (lt->nstat_fds - i - 1) * sizeof(*lt->stat_fds));
    lt->nstat_fds--;
}

static int
stat_read(int fd, char *state)
{
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof(buf), 0);

    if (n <= 0) {
        return PS_ENOTFOUND;
    }
    return proc_parse_stat_state(buf, (size_t)n, state);
}

/* Close the files of threads that are gone, to make room. */
static void
stat_fds_prune(struct live_target *lt)
{
    size_t i = 0;
    char state;

    while (i < lt->nstat_fds) {
        if (stat_read(lt->stat_fds[i].fd, &state) < 0) {
            stat_fd_drop(lt, i);
        } else {
            i++;
        }
    }
}

static int
thread_state(struct live_target *lt, int tid, char *state)
{
    struct target *t = &lt->base;
    size_t i = stat_fd_index(lt, tid);
    char path[80];
    int fd, rc;

    if (i < lt->nstat_fds && lt->stat_fds[i].tid == tid) {
        if (stat_read(lt->stat_fds[i].fd, state) == 0) {
            return 0;
        }
        /* Gone, or its id now names another thread: open it again. */
        stat_fd_drop(lt, i);
    }
    if (tid <= 0) {
        return PS_ENOTFOUND;
    }
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", t->pid, tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return PS_ENOTFOUND;
    }
    rc = stat_read(fd, state);
    if (rc == 0 && lt->nstat_fds == LIVE_STAT_FDS_MAX) {
        stat_fds_prune(lt);
    }
    if (rc < 0 || lt->nstat_fds == LIVE_STAT_FDS_MAX) {
        close(fd);
        return rc;
    }
    i = stat_fd_index(lt, tid);
    XGROW(lt->stat_fds, lt->stat_fds_alloc, lt->nstat_fds + 1);
    memmove(&lt->stat_fds[i + 1], &lt->stat_fds[i],
            (lt->nstat_fds - i) * sizeof(*lt->stat_fds));
    lt->stat_fds[i].tid = tid;
    lt->stat_fds[i].fd = fd;
    lt->stat_fds[i].sched_fd = -1;
    lt->stat_fds[i].wchan_fd = -1;
    lt->nstat_fds++;
    return 0;
}

static int
live_thread_state(struct target *t, int tid, char *state)
{
    struct live_target *lt = live_of(t);
    int rc = thread_state(lt, tid, state);

    if (rc == 0 && tid == t->pid) {
        lt->leader_state = *state;
        lt->leader_state_ns = clock_now_ns();
    }
    return rc;
}

static int
schedstat_read(int fd, uint64_t *runs, uint64_t *cpu_ns)
{
    char buf[128];
    uint64_t wait_ns;
    ssize_t n = pread(fd, buf, sizeof(buf), 0);

    if (n <= 0) {
        return PS_ENOTFOUND;
    }
    return proc_parse_schedstat(buf, (size_t)n, cpu_ns, &wait_ns, runs);
}

/*
 * Does the kernel count runs (CONFIG_SCHED_INFO; some older kernels
 * count them only with delay accounting on)?  This thread has been on a
 * CPU: its own count is not 0 where the kernel keeps them.
 */
static int
runs_counted(struct live_target *lt)
{
    if (lt->runs_counted < 0) {
        int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        uint64_t runs = 0, cpu_ns;

        lt->runs_counted =
            fd >= 0 && schedstat_read(fd, &runs, &cpu_ns) == 0 && runs > 0;
        if (fd >= 0) {
            close(fd);
        }
    }
    return lt->runs_counted;
}

/*
 * A thread's schedstat, through the file kept open beside its stat file.
 * A thread whose stat file is not open yet (never asked for its state),
 * or whose schedstat cannot be read, is left to live_thread_state(),
 * which knows when a thread went and its id came back: 1, not counted.
 */
static int
live_thread_runs(struct target *t, int tid, uint64_t *runs, uint64_t *cpu_ns)
{
    struct live_target *lt = live_of(t);
    size_t i = stat_fd_index(lt, tid);
    struct live_stat_fd *f;

    if (!runs_counted(lt) || i == lt->nstat_fds ||
        lt->stat_fds[i].tid != tid) {
        return 1;
    }
    f = &lt->stat_fds[i];
    if (f->sched_fd < 0) {
        char path[80];

        snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", t->pid,
                 tid);
        f->sched_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (f->sched_fd < 0) {
            return 1;
        }
    }
    return schedstat_read(f->sched_fd, runs, cpu_ns) == 0 ? 0 : 1;
}

/*
 * Every register of a thread our pause holds.  PTRACE_GETREGS succeeds
 * only for a thread traced by us and stopped; anything else (a thread
 * that appeared after the pause, a target stopped by job control, which
 * the pause leaves as it is) fails and the caller falls back to /proc.
 */
static int
live_getregs(int tid, struct target_regs *regs)
{
    struct user_regs_struct u;

    if (ptrace(PTRACE_GETREGS, tid, 0, &u) < 0) {
        return -1;
    }
    regs->gpr[TARGET_REG_RAX] = u.rax;
    regs->gpr[TARGET_REG_RDX] = u.rdx;
    regs->gpr[TARGET_REG_RCX] = u.rcx;
    regs->gpr[TARGET_REG_RBX] = u.rbx;
    regs->gpr[TARGET_REG_RSI] = u.rsi;
    regs->gpr[TARGET_REG_RDI] = u.rdi;
    regs->gpr[TARGET_REG_RBP] = u.rbp;
    regs->gpr[TARGET_REG_RSP] = u.rsp;
    regs->gpr[TARGET_REG_R8] = u.r8;
    regs->gpr[TARGET_REG_R9] = u.r9;
    regs->gpr[TARGET_REG_R10] = u.r10;
    regs->gpr[TARGET_REG_R11] = u.r11;
    regs->gpr[TARGET_REG_R12] = u.r12;
    regs->gpr[TARGET_REG_R13] = u.r13;
    regs->gpr[TARGET_REG_R14] = u.r14;
    regs->gpr[TARGET_REG_R15] = u.r15;
    regs->gpr[TARGET_REG_RIP] = u.rip;
    regs->complete = 1;
    regs->pc = u.rip;
    regs->sp = u.rsp;
    regs->fp = u.rbp;
    /* Stopped inside a system call (interrupted, to be restarted on
     * resume): orig_rax is its number; entered through anything else,
     * -1. */
    regs->syscall = (int64_t)u.orig_rax >= 0 ? (int64_t)u.orig_rax : -1;
    regs->args[0] = u.rdi;
    regs->args[1] = u.rsi;
    regs->args[2] = u.rdx;
    regs->args[3] = u.r10;
    regs->args[4] = u.r8;
    regs->args[5] = u.r9;
    return 0;
}

static int
live_thread_regs(struct target *t, int tid, struct target_regs *regs)
{
    memset(regs, 0, sizeof(*regs));
    if (t->paused && live_getregs(tid, regs) == 0) {
        return 0;
    }
    memset(regs, 0, sizeof(*regs));
    return proc_task_syscall(t->pid, tid, &regs->syscall, &regs->sp, &regs->pc,
                             regs->args);
}

static int
live_cmdline(struct target *t, struct strbuf *out)
{
    return proc_cmdline(t->pid, out);
}

static int
live_executable(struct target *t, struct strbuf *out)
{
    return proc_exe(t->pid, out);
}

static int
live_pause(struct target *t)
{
    struct live_target *lt = live_of(t);

    /* The first thread's state read just now (a sampler choosing the
     * threads it samples): whether the process is stopped by job control
     * is known without another read. */
    lt->pause.leader_running =
        lt->leader_state_ns != 0 && lt->leader_state != 'T' &&
        clock_now_ns() - lt->leader_state_ns < LIVE_LEADER_FRESH_NS;
    lt->leader_state_ns = 0;
    /* Ended by live_resume(): begun again, it reuses what it keeps. */
    return pause_begin(t->pid, &lt->pause);
}

static int
live_pause_thread(struct target *t, int tid)
{
    struct live_target *lt = live_of(t);

    pause_release(&lt->pause);
    return pause_thread_begin(t->pid, tid, &lt->pause);
}

static void
live_resume(struct target *t)
{
    pause_end(&live_of(t)->pause);
}

static int
live_check(struct target *t)
{
    int rc = proc_check(t->pid);

    if (rc == PS_ENOPROC || rc == PS_EZOMBIE) {
        return PS_EEXITED;
    }
    return rc;
}

static int
live_exiting(struct target *t)
{
    return proc_exiting(t->pid);
}

static void
live_free(struct target *t)
{
    struct live_target *lt = live_of(t);
    size_t i;

    pause_release(&lt->pause);
    for (i = 0; i < lt->nstat_fds; i++) {
        stat_fd_close(&lt->stat_fds[i]);
    }
    free(lt->stat_fds);
    free(lt->tids);
}

/* ---- whether the kernel names wchan functions -------------------------- */

struct wchan_probe {
    int back[2]; /* the probe's id, to us */
    int go[2];   /* closed by us: the probe returns */
};

static void *
wchan_sleeper(void *arg)
{
    struct wchan_probe *p = arg;
    pid_t tid = gettid();
    char c;

    if (write(p->back[1], &tid, sizeof(tid)) == (ssize_t)sizeof(tid)) {
        while (read(p->go[0], &c, 1) < 0 && errno == EINTR) {
        }
    }
    return NULL;
}

/*
 * Does the kernel name the function a blocked thread waits in, to us?
 * A thread of our own blocked in read() on a pipe says: the symbols and
 * the unwinding that naming needs are the kernel's, not a process's, and
 * a thread of our own is one we may always ask about.  Of the target it
 * also takes the right to ask (a ptrace read check, the one reading its
 * /proc/PID/maps passed, and which reading its memory all along passes
 * a stronger form of).  A thread that runs single (a busy target
 * with one thread, which never sleeps) is then asked by wchan too, the
 * cheaper read, where no read of its own could name a function.  About
 * 100 us, once.
 */
static int
wchan_probe(void)
{
    struct wchan_probe p = {{-1, -1}, {-1, -1}};
    sigset_t all, old;
    pthread_t th;
    pid_t tid = 0;
    int named = 0, made, tries;

    if (pipe2(p.back, O_CLOEXEC) < 0) {
        return 0;
    }
    if (pipe2(p.go, O_CLOEXEC) < 0) {
        close(p.back[0]);
        close(p.back[1]);
        return 0;
    }
    /* Signals stay with the threads that wait for them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    made = pthread_create(&th, NULL, wchan_sleeper, &p) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (made && read(p.back[0], &tid, sizeof(tid)) == (ssize_t)sizeof(tid)) {
        char path[64], buf[64];
        int fd;

        snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        /* Until it blocks: a moment after it wrote. */
        for (tries = 0; fd >= 0 && tries < 20 && !named; tries++) {
            ssize_t n = pread(fd, buf, sizeof(buf), 0);
            struct timespec ts = {0, 50 * 1000};

            named =
                n > 0 && (buf[0] == '_' || (buf[0] >= 'a' && buf[0] <= 'z') ||
                          (buf[0] >= 'A' && buf[0] <= 'Z'));
            if (!named) {
                nanosleep(&ts, NULL);
            }
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    close(p.go[1]);
    if (made) {
        pthread_join(th, NULL);
    }
    close(p.go[0]);
    close(p.back[0]);
    close(p.back[1]);
    return named;
}

/*
 * Whether a thread sleeps, from /proc/PID/task/TID/wchan, kept open
 * beside its stat file as schedstat is: the kernel names the function a
 * blocked thread waits in only when it is neither running, waking nor
 * queued to run (the same moments its stat shows a letter other than
 * 'R'), and prints "0" otherwise -- also when it may not say (no
 * symbols, no access), which is why "0" is left to live_thread_state()
 * until a read named a function: then the kernel has the symbols and
 * lets us see (it asks less than for reading the memory, which a
 * sampler does all along), and "0" is a thread running or waiting for a
 * CPU (2), as 'R' would say.
 * Naming the function costs the kernel a short unwind of the thread's
 * kernel stack, about half what formatting the stat line costs; "0" for
 * a thread on a CPU less.
 */
static int
live_thread_asleep(struct target *t, int tid)
{
    struct live_target *lt = live_of(t);
    size_t i = stat_fd_index(lt, tid);
    struct live_stat_fd *f;
    char buf[64];
    ssize_t n;

    if (i == lt->nstat_fds || lt->stat_fds[i].tid != tid) {
        return 0;
    }
    f = &lt->stat_fds[i];
    if (f->wchan_fd < 0) {
        char path[80];

        snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", t->pid, tid);
        f->wchan_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (f->wchan_fd < 0) {
            return 0;
        }
    }
    n = pread(f->wchan_fd, buf, sizeof(buf), 0);
    if (n <= 0) {
        return 0;
    }
    /* A symbol's name; never a number (old kernels without symbols
     * printed the address). */
    if (buf[0] == '_' || (buf[0] >= 'a' && buf[0] <= 'z') ||
        (buf[0] >= 'A' && buf[0] <= 'Z')) {
        lt->wchan_named = 1;
        return 1;
    }
    if (n != 1 || buf[0] != '0') {
        return 0;
    }
    if (!lt->wchan_named && !lt->wchan_probed) {
        lt->wchan_probed = 1;
        lt->wchan_named = wchan_probe();
    }
    if (!lt->wchan_named) {
        return 0;
    }
    if (tid == t->pid) {
        /* Not stopped either (a stopped thread names where it stopped):
         * what a pause needs to know of the first thread. */
        lt->leader_state = 'R';
        lt->leader_state_ns = clock_now_ns();
    }
    return 2;
}

/*
 * The process's CPU clock (clock_gettime() on the id
 * clock_getcpuclockid() gives, asked once): it adds up the threads'
 * sum_exec_runtime, the first number of their schedstat, and that of
 * those gone.  Any process may read it.
 */
static int
live_cpu_time(struct target *t, uint64_t *ns)
{
    struct live_target *lt = live_of(t);
    struct timespec ts;

    if (!lt->cpu_clock_known) {
        lt->cpu_clock_known =
            clock_getcpuclockid(t->pid, &lt->cpu_clock) == 0 ? 1 : -1;
    }
    if (lt->cpu_clock_known < 0 || !runs_counted(lt) ||
        clock_gettime(lt->cpu_clock, &ts) != 0) {
        return PS_ENOTFOUND;
    }
    *ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return 0;
}

static const struct target_ops live_ops = {
    .name = "live",
    .maps = live_maps,
    .path = live_path,
    .mapped_path = live_mapped_path,
    .threads = live_threads,
    .host_tid = live_host_tid,
    .thread_state = live_thread_state,
    .thread_runs = live_thread_runs,
    .thread_asleep = live_thread_asleep,
    .cpu_time = live_cpu_time,
    .thread_regs = live_thread_regs,
    .cmdline = live_cmdline,
    .executable = live_executable,
    .open_file = live_open_file,
    .pause = live_pause,
    .pause_thread = live_pause_thread,
    .resume = live_resume,
    .check = live_check,
    .exiting = live_exiting,
    .free = live_free,
};

int
target_live_open(int pid, struct target **out)
{
    struct live_target *lt;
    struct memsrc *mem = NULL;
    struct strbuf name = STRBUF_INIT;
    int rc;

    rc = memsrc_proc_open(pid, &mem);
    if (rc < 0) {
        return rc;
    }
    lt = xcalloc(1, sizeof(*lt));
    lt->base.ops = &live_ops;
    lt->base.kind = TARGET_LIVE;
    lt->runs_counted = -1;
    lt->base.mem = mem;
    lt->base.pid = pid;
    /* In a container with a pid namespace of its own, the process and its
     * threads have ids of their own there. */
    if (proc_ns_id(pid, 0, &lt->base.ns_pid) < 0 || lt->base.ns_pid == pid) {
        lt->base.ns_pid = 0;
    }
    strbuf_addf(&name, "pid %d", pid);
    lt->base.name = strbuf_detach(&name);
    lt->pause = (struct pause)PAUSE_INIT;
    *out = &lt->base;
    return 0;
}
