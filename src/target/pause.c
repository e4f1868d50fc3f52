/*
 * pause.c - ptrace seize/interrupt of every thread, and the way back.
 *
 * Layer: target.  The threads are stopped with the guarded signals (and
 * SIGCHLD) blocked: the bookkeeping the signal guard reads is never half
 * written, and the waits for each thread's stop are sigtimedwait()s that
 * wake on SIGCHLD (a tracee's stop), on a guarded signal (undo the pause,
 * let the signal act, start again) or at a deadline (a thread that will
 * not stop).  Once every thread is held the signals are unblocked, and
 * the guard's handler lets the threads go before any of them acts.
 */
#define _GNU_SOURCE
#include "pause.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/sigguard.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/proc.h"
#include "core/banned.h"

/* A thread list that keeps changing for this many rounds is an error. */
#define PAUSE_MAX_ROUNDS 64
/* Signals that may interrupt the stopping before it gives up. */
#define PAUSE_MAX_INTERRUPTS 8

/* Pauses begun and not ended, newest first: what the guard lets go. */
static struct pause *held_pauses;

static void
detach(int tid, int sig)
{
    ptrace(PTRACE_DETACH, tid, 0, (void *)(uintptr_t)sig);
}

/*
 * The signal guard's function, in a signal handler: let every held thread
 * go (PTRACE_DETACH is a system call, safe here).  The main code changes
 * the lists only with the signals blocked, so they are whole.
 */
static void
pause_on_signal(int sig)
{
    struct pause *p;
    struct timespec ts;
    size_t i;

    for (p = held_pauses; p != NULL; p = p->next) {
        int let_go = 0;

        for (i = 0; i < p->n; i++) {
            if (p->state[i] == PAUSE_HELD) {
                detach(p->tids[i], p->signals[i]);
                p->state[i] = PAUSE_FREE;
                let_go = 1;
            }
        }
        if (let_go) {
            p->released_by = sig;
            if (p->end_ns == 0 && clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
                p->end_ns =
                    (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            }
        }
    }
}

static void
held_add(struct pause *p)
{
    p->next = held_pauses;
    held_pauses = p;
}

/* Take p off the list; 1 if it was on it. */
static int
held_remove(struct pause *p)
{
    struct pause **pp;

    for (pp = &held_pauses; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            p->next = NULL;
            return 1;
        }
    }
    return 0;
}

static int
pause_holds(const struct pause *p, int tid)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        if (p->tids[i] == tid) {
            return 1;
        }
    }
    return 0;
}

static void
pause_add(struct pause *p, int tid, int state)
{
    if (p->n == p->alloc) {
        size_t alloc = p->alloc ? 2 * p->alloc : 16;

        p->tids = xrealloc(p->tids, alloc * sizeof(*p->tids));
        p->signals = xrealloc(p->signals, alloc * sizeof(*p->signals));
        p->state = xrealloc(p->state, alloc);
        p->alloc = alloc;
    }
    p->tids[p->n] = tid;
    p->signals[p->n] = 0;
    p->state[p->n] = (unsigned char)state;
    p->n++;
}

/*
 * A reported stop of tid: 1 stopped (a signal to re-deliver in *sig), 0
 * gone.
 */
static int
stop_status(int status, int *sig)
{
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
        return 0;
    }
    if (WIFSTOPPED(status)) {
        int event = status >> 16;

        /* Our interrupt, or a group-stop: nothing to re-deliver.  A
         * signal-delivery stop holds a signal the thread was about to
         * take. */
        if (event == 0 && WSTOPSIG(status) != SIGTRAP) {
            *sig = WSTOPSIG(status);
        }
        return 1;
    }
    return 0;
}

/*
 * Is si, what waitid() reported of tid, the exit of a process pyspect
 * started (a thread-group leader whose parent is pyspect)?  Its exit
 * status is then the session's to collect (the command's status becomes
 * pyspect's): the pause must not reap it.
 */
static int
own_child_exit(int tid, const siginfo_t *si)
{
    long long tgid;
    int ppid;

    if (si->si_code != CLD_EXITED && si->si_code != CLD_KILLED &&
        si->si_code != CLD_DUMPED) {
        return 0;
    }
    return proc_status_field(tid, 0, "Tgid", 0, &tgid) == 0 && tgid == tid &&
           proc_ppid(tid, &ppid) == 0 && ppid == (int)getpid();
}

/*
 * Wait until tid reports a stop, with the guarded signals and SIGCHLD
 * blocked (wake holds them).  Returns 1 stopped, 0 gone, or PS_ESTUCK
 * past the deadline.  A guarded signal the guard handles that arrives
 * meanwhile ends the wait: 2, with the signal in *interrupt.
 */
static int
wait_stop(int tid, int *sig, uint64_t deadline, const sigset_t *wake,
          int *interrupt)
{
    for (;;) {
        siginfo_t si;
        int status;
        pid_t r;
        uint64_t now;
        struct timespec ts;
        int s;

        /* Looked at first with WNOWAIT, which leaves it to be taken: an
         * exit may be the session's (own_child_exit()).  A tracee's
         * stops are reported even without WSTOPPED. */
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)tid, &si,
                   WEXITED | WNOHANG | WNOWAIT | __WALL) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return 0; /* not ours any more: gone */
        }
        if (si.si_pid == tid) {
            if (own_child_exit(tid, &si)) {
                return 0;
            }
            r = waitpid(tid, &status, __WALL | WNOHANG);
            if (r == tid) {
                return stop_status(status, sig);
            }
            if (r < 0 && errno != EINTR) {
                return 0;
            }
        }
        now = clock_now_ns();
        if (now >= deadline) {
            return PS_ESTUCK;
        }
        ts.tv_sec = (time_t)((deadline - now) / 1000000000u);
        ts.tv_nsec = (long)((deadline - now) % 1000000000u);
        /* SIGCHLD comes with every stop of a tracee. */
        s = sigtimedwait(wake, NULL, &ts);
        if (s > 0 && s != SIGCHLD && sigguard_handles(s)) {
            *interrupt = s;
            return 2;
        }
    }
}

/*
 * Let every thread go, with the signals blocked.  A seized thread can
 * only be detached once stopped, so stops still due are waited for, up
 * to wait_ms (a guarded signal meanwhile is kept in *pending, not acted
 * on); a thread that never stops stays attached until pyspect exits,
 * when the kernel detaches it, or until the next pause takes it back.
 */
static void
let_go(struct pause *p, const sigset_t *wake, int *pending, uint64_t wait_ms)
{
    uint64_t deadline = clock_now_ns() + wait_ms * 1000000ull;
    size_t i;

    for (i = 0; i < p->n; i++) {
        while (p->state[i] == PAUSE_SEIZED) {
            int r =
                wait_stop(p->tids[i], &p->signals[i], deadline, wake, pending);

            if (r != 2) {
                p->state[i] = r == 1 ? PAUSE_HELD : PAUSE_GONE;
            }
        }
        if (p->state[i] == PAUSE_HELD) {
            detach(p->tids[i], p->signals[i]);
            p->state[i] = PAUSE_FREE;
        }
    }
}

/*
 * Why PTRACE_SEIZE of tid was refused with EPERM: the thread is exiting
 * (carry on without it: 1), we trace it already (2), another process
 * traces it (PS_ETRACED), or we may not (PS_EPERM).
 */
static int
seize_refused(int pid, int tid)
{
    long long tracer = 0;
    char state;

    if (proc_task_state(pid, tid, &state) < 0 || state == 'Z' ||
        state == 'X') {
        return 1;
    }
    if (proc_status_field(pid, tid, "TracerPid", 0, &tracer) == 0 &&
        tracer == (long long)getpid()) {
        return 2;
    }
    if (proc_status_field(pid, tid, "TracerPid", 0, &tracer) == 0 &&
        tracer != 0) {
        struct strbuf comm = STRBUF_INIT;
        char path[64];

        snprintf(path, sizeof(path), "/proc/%lld/comm", tracer);
        read_file(path, 64, &comm);
        strbuf_rtrim(&comm);
        err_set(PS_ETRACED,
                "cannot pause pid %d: process %lld%s%s%s "
                "traces it",
                pid, tracer, comm.len ? " (" : "", comm.buf,
                comm.len ? ")" : "");
        strbuf_release(&comm);
        return PS_ETRACED;
    }
    if (proc_exiting(pid)) {
        return err_set(PS_EEXITED, "pid %d exited", pid);
    }
    return err_set(PS_EPERM, "cannot pause pid %d (ptrace seize)", pid);
}

/*
 * The state of the process's first thread and how many threads it has,
 * from /proc/PID/stat, kept open from pause to pause: one pread() where
 * a second listing of /proc/PID/task took five system calls.  -1 when
 * it cannot be read (the caller lists instead).
 */
static int
stat_threads(struct pause *p, char *state, long *threads)
{
    char buf[1024];
    ssize_t n;

    if (p->stat_fd < 0) {
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/stat", p->pid);
        p->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (p->stat_fd < 0) {
            return -1;
        }
    }
    n = pread(p->stat_fd, buf, sizeof(buf), 0);
    if (n <= 0 ||
        proc_parse_stat_threads(buf, (size_t)n, state, threads) < 0) {
        return -1;
    }
    return 0;
}

/*
 * How many threads the process has: the link count of /proc/PID/task is
 * two plus its threads.  One fstat() of the directory, kept open from
 * pause to pause, where /proc/PID/stat has the kernel format fifty
 * fields.  A kernel whose count says otherwise than /proc/PID/stat when
 * first opened is not asked again (task_fd -2): stat_threads() then.
 */
static int
count_threads(struct pause *p, long *threads)
{
    struct stat st;
    char state;

    if (p->task_fd == -1) {
        char path[64];
        long counted;

        snprintf(path, sizeof(path), "/proc/%d/task", p->pid);
        p->task_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (p->task_fd < 0 || fstat(p->task_fd, &st) < 0 ||
            stat_threads(p, &state, &counted) < 0 ||
            (long)st.st_nlink - 2 != counted) {
            if (p->task_fd >= 0) {
                close(p->task_fd);
            }
            p->task_fd = -2;
        }
    }
    if (p->task_fd < 0) {
        return stat_threads(p, &state, threads);
    }
    if (fstat(p->task_fd, &st) < 0) {
        return -1;
    }
    *threads = (long)st.st_nlink - 2;
    return 0;
}

/*
 * Is every thread of the process one that p holds?  Held threads are
 * stopped and cannot leave, so when the process counts no more threads
 * than p holds, no thread can have been missed: none was created before
 * its creator stopped.
 */
static int
all_held(struct pause *p)
{
    size_t i, held = 0;
    long threads;

    for (i = 0; i < p->n; i++) {
        held += p->state[i] == PAUSE_HELD;
    }
    return count_threads(p, &threads) == 0 && threads > 0 &&
           (size_t)threads == held;
}

/*
 * Is the whole process stopped by job control (every thread 'T')?  Such a
 * target is already still; seizing it would wake each thread into a
 * trace stop and back.  The first thread answers for the common case.
 */
static int
job_stopped(int pid, const int *tids, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char state;

        if (proc_task_state(pid, tids[i], &state) < 0 || state != 'T') {
            return 0;
        }
    }
    return n > 0;
}

/*
 * One try at stopping every thread, with the signals blocked.  Returns 0,
 * an error, or (> 0) a guarded signal that came meanwhile; on anything
 * but 0 every thread has been let go.
 */
static int
pause_try(int pid, struct pause *p, const sigset_t *wake)
{
    int round, rc = 0, interrupt = 0;
    char state = 0;
    long threads;
    /* A process stopped by job control has its first thread stopped:
     * only then are the others looked at.  A caller that has just seen
     * that thread's state says so, and it is not read again. */
    int maybe_stopped =
        !p->leader_running &&
        (stat_threads(p, &state, &threads) < 0 || state == 'T');

    p->leader_running = 0;

    for (round = 0; round < PAUSE_MAX_ROUNDS; round++) {
        int *tids = NULL;
        size_t ntids, i, first_new = p->n;
        uint64_t deadline;
        /* The threads of the last pause, tried before any listing: a
         * sampler pauses a process whose threads mostly stay. */
        int hinted = round == 0 && p->hint > 0 && !maybe_stopped;

        if (hinted) {
            ntids = p->hint;
            tids = xmalloc(ntids * sizeof(*tids));
            memcpy(tids, p->tids, ntids * sizeof(*tids));
            rc = 0;
        } else {
            rc = proc_tasks(pid, &tids, &ntids);
        }
        p->hint = 0;
        if (rc < 0) {
            if (p->n == 0) {
                rc = err_set(PS_ENOPROC, "pid %d", pid);
            } else {
                rc = err_set(PS_EEXITED, "pid %d exited", pid);
            }
            free(tids);
            break;
        }
        if (round == 0 && maybe_stopped && job_stopped(pid, tids, ntids)) {
            for (i = 0; i < ntids; i++) {
                pause_add(p, tids[i], PAUSE_FREE);
            }
            p->job_stopped = 1;
            free(tids);
            return 0;
        }
        for (i = 0; i < ntids && rc == 0; i++) {
            if (pause_holds(p, tids[i])) {
                continue;
            }
            /* A thread of the last pause may have gone since, and its
             * id be another process's now: seize only a thread of pid
             * (a listed one is, as far as any listing can say).  The
             * first thread's id is pid's as long as pid is. */
            if (hinted && tids[i] != pid &&
                syscall(SYS_tgkill, pid, tids[i], 0) < 0) {
                continue;
            }
            if (ptrace(PTRACE_SEIZE, tids[i], 0, 0) < 0) {
                if (errno == ESRCH) {
                    continue; /* the thread exited meanwhile */
                }
                if (errno == EPERM) {
                    rc = seize_refused(pid, tids[i]);
                    if (rc == 1) {
                        rc = 0; /* an exiting thread: carry on */
                    } else if (rc == 2) {
                        /* Ours still, from a pause that could not let
                         * it go (it would not stop then): take it back. */
                        rc = 0;
                        pause_add(p, tids[i], PAUSE_SEIZED);
                        ptrace(PTRACE_INTERRUPT, tids[i], 0, 0);
                    }
                    continue;
                }
                rc = err_set(PS_EIO, "cannot pause pid %d (ptrace seize: %s)",
                             pid, strerror(errno));
                break;
            }
            pause_add(p, tids[i], PAUSE_SEIZED);
            if (ptrace(PTRACE_INTERRUPT, tids[i], 0, 0) < 0 &&
                errno != ESRCH) {
                rc = err_set(PS_EIO, "cannot pause pid %d (interrupt: %s)",
                             pid, strerror(errno));
            }
        }
        free(tids);
        deadline = clock_now_ns() + PAUSE_STOP_TIMEOUT_MS * 1000000ull;
        for (i = first_new; rc == 0 && interrupt == 0 && i < p->n; i++) {
            int r = wait_stop(p->tids[i], &p->signals[i], deadline, wake,
                              &interrupt);

            if (r == PS_ESTUCK) {
                rc = err_set(PS_ESTUCK,
                             "cannot pause pid %d: thread %d did not stop "
                             "within %d s",
                             pid, p->tids[i], PAUSE_STOP_TIMEOUT_MS / 1000);
            } else if (r != 2) {
                p->state[i] = r == 1 ? PAUSE_HELD : PAUSE_GONE;
            }
        }
        if (rc < 0 || interrupt != 0) {
            break;
        }
        if (!hinted && p->n == first_new) {
            break; /* no thread appeared since the last listing */
        }
        if (all_held(p)) {
            break; /* none can have appeared: no need to list */
        }
    }
    if (rc == 0 && interrupt == 0 && round == PAUSE_MAX_ROUNDS) {
        rc = err_set(PS_ECHANGED, "pid %d keeps creating threads", pid);
    }
    if (rc < 0 || interrupt != 0) {
        /* A thread that would not stop will not stop now either. */
        let_go(p, wake, &interrupt,
               rc == PS_ESTUCK ? 200 : PAUSE_STOP_TIMEOUT_MS);
        p->n = 0;
    }
    if (interrupt != 0) {
        /* Pending again: it acts once unblocked. */
        raise(interrupt);
    }
    return rc < 0 ? rc : interrupt;
}

/*
 * For the tests only: PYSPECT_TEST_HOLD_PAUSE_MS holds every pause that
 * long once taken, so that they can signal or kill pyspect in the middle
 * of one.
 */
static void
test_hold(void)
{
    static long ms = -1;

    if (ms < 0) {
        const char *env = getenv("PYSPECT_TEST_HOLD_PAUSE_MS");

        if (env == NULL || parse_long(env, 1, 600000, &ms) < 0) {
            ms = 0;
        }
    }
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        /* Interrupted by a signal (a handler ran): the pause goes on. */
        nanosleep(&ts, NULL);
    }
}

/*
 * Make p, PAUSE_INIT or a pause ended before, ready to pause pid: its
 * arrays are kept for reuse, and its /proc file for the same pid.
 */
static void
pause_reset(struct pause *p, int pid)
{
    struct pause keep = *p;

    if (keep.pid != pid) {
        if (keep.stat_fd >= 0) {
            close(keep.stat_fd);
        }
        if (keep.task_fd >= 0) {
            close(keep.task_fd);
        }
        keep.stat_fd = -1;
        keep.task_fd = -1;
    }
    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->tids = keep.tids;
    p->signals = keep.signals;
    p->state = keep.state;
    p->alloc = keep.alloc;
    p->stat_fd = keep.stat_fd;
    p->task_fd = keep.task_fd;
    p->leader_running = keep.leader_running && keep.pid == pid;
    if (keep.pid == pid) {
        p->hint = keep.n;
    }
}

/* Free what p holds; it is then as PAUSE_INIT. */
static void
pause_free(struct pause *p)
{
    free(p->tids);
    free(p->signals);
    free(p->state);
    if (p->stat_fd >= 0) {
        close(p->stat_fd);
    }
    if (p->task_fd >= 0) {
        close(p->task_fd);
    }
    memset(p, 0, sizeof(*p));
    p->stat_fd = -1;
    p->task_fd = -1;
}

int
pause_begin(int pid, struct pause *p)
{
    sigset_t mask, wake;
    int rc = 0, tries;

    pause_reset(p, pid);
    sigguard_set(&wake);
    sigaddset(&wake, SIGCHLD);
    for (tries = 0;; tries++) {
        sigguard_block(&mask);
        sigguard_enter(pause_on_signal);
        held_add(p);
        p->start_ns = clock_now_ns();
        rc = pause_try(pid, p, &wake);
        if (rc == 0) {
            /* Held: from here a signal lets the threads go first. */
            sigguard_unblock(&mask);
            test_hold();
            return 0;
        }
        /* Nothing is held.  A signal that came meanwhile acts now, as it
         * would have without us (it stops us, ends us, or runs a
         * handler); if we are still here, start again. */
        held_remove(p);
        sigguard_leave();
        sigguard_unblock(&mask);
        if (rc < 0) {
            break;
        }
        if (tries == PAUSE_MAX_INTERRUPTS) {
            rc = err_set(PS_ECHANGED,
                         "pausing pid %d was interrupted by signals", pid);
            break;
        }
    }
    pause_free(p);
    return rc;
}

int
pause_thread_begin(int pid, int tid, struct pause *p)
{
    uint64_t deadline;
    sigset_t mask, wake;
    int rc = 0, interrupt = 0;
    char state;

    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->stat_fd = -1;
    p->task_fd = -1;
    /* A thread stopped by job control is still already: read it as it
     * is, as pause_begin() does for a whole process. */
    if (proc_task_state(pid, tid, &state) == 0 && state == 'T') {
        pause_add(p, tid, PAUSE_FREE);
        p->job_stopped = 1;
        p->start_ns = clock_now_ns();
        return 0;
    }
    sigguard_set(&wake);
    sigaddset(&wake, SIGCHLD);
    sigguard_block(&mask);
    sigguard_enter(pause_on_signal);
    held_add(p);
    p->start_ns = clock_now_ns();
    if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0) {
        if (errno == ESRCH) {
            rc = err_set(PS_ECHANGED, "thread %d exited", tid);
        } else if (errno == EPERM) {
            rc = seize_refused(pid, tid);
            if (rc == 1) {
                rc = err_set(PS_ECHANGED, "thread %d is exiting", tid);
            } else if (rc == 2) {
                /* Ours still, from a pause that could not let it go:
                 * take it back. */
                rc = 0;
            }
        } else {
            rc = err_set(PS_EIO, "cannot pause thread %d (ptrace seize: %s)",
                         tid, strerror(errno));
        }
    }
    if (rc == 0) {
        pause_add(p, tid, PAUSE_SEIZED);
        deadline = clock_now_ns() + PAUSE_STOP_TIMEOUT_MS * 1000000ull;
        if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 && errno != ESRCH) {
            rc = err_set(PS_EIO, "cannot pause thread %d (interrupt: %s)", tid,
                         strerror(errno));
        } else {
            int r =
                wait_stop(tid, &p->signals[0], deadline, &wake, &interrupt);

            if (r == PS_ESTUCK) {
                rc = err_set(PS_ESTUCK,
                             "cannot pause thread %d: it did not stop "
                             "within %d s",
                             tid, PAUSE_STOP_TIMEOUT_MS / 1000);
            } else if (r == 0) {
                p->state[0] = PAUSE_GONE;
                rc = err_set(PS_ECHANGED, "thread %d exited", tid);
            } else if (r == 1) {
                p->state[0] = PAUSE_HELD;
            }
        }
    }
    if (rc == 0 && interrupt == 0) {
        /* Held: from here a signal lets the thread go first. */
        sigguard_unblock(&mask);
        return 0;
    }
    /* Nothing stays held; a signal that came meanwhile acts now. */
    let_go(p, &wake, &interrupt,
           rc == PS_ESTUCK ? 200 : PAUSE_STOP_TIMEOUT_MS);
    p->end_ns = clock_now_ns();
    held_remove(p);
    sigguard_leave();
    if (interrupt != 0) {
        raise(interrupt);
        if (rc == 0) {
            rc =
                err_set(PS_ECHANGED, "pausing thread %d was interrupted", tid);
        }
    }
    sigguard_unblock(&mask);
    pause_free(p);
    return rc;
}

void
pause_end(struct pause *p)
{
    sigset_t mask, wake;
    int pending = 0;

    sigguard_block(&mask);
    sigguard_set(&wake);
    sigaddset(&wake, SIGCHLD);
    let_go(p, &wake, &pending, PAUSE_STOP_TIMEOUT_MS);
    if (p->start_ns != 0 && p->end_ns == 0) {
        p->end_ns = clock_now_ns();
    }
    if (held_remove(p)) {
        sigguard_leave();
    }
    if (pending != 0) {
        raise(pending);
    }
    sigguard_unblock(&mask);
}

double
pause_ms(const struct pause *p)
{
    uint64_t end = p->end_ns ? p->end_ns : clock_now_ns();

    return (double)(end - p->start_ns) / 1e6;
}

int
pause_released_by(const struct pause *p)
{
    return p->released_by;
}

void
pause_release(struct pause *p)
{
    pause_end(p);
    pause_free(p);
}

void
pause_guard_hold(void)
{
    sigguard_enter(pause_on_signal);
}

void
pause_guard_drop(void)
{
    sigguard_leave();
}

int
pause_any_held(void)
{
    return held_pauses != NULL;
}

void
pause_end_all(void)
{
    while (held_pauses != NULL) {
        pause_end(held_pauses);
    }
}
