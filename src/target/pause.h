/*
 * pause.h - stop every thread of a process for a consistent snapshot.
 *
 * Layer: target.  Uses PTRACE_SEIZE + PTRACE_INTERRUPT, never SIGSTOP:
 * the target sees no signal, its job-control state is untouched, and if
 * pyspect dies at any instant the kernel detaches and the target carries
 * on.  Signals that arrive while a thread is held are re-delivered on
 * resume.  Keep the pause short; report pause_ms() to the user.
 *
 * The target is never left stopped by us:
 * - While a pause is held, a signal that would stop or end pyspect
 *   (Ctrl-Z, SIGTERM, SIGSEGV...) or that pyspect handles releases the
 *   target first (core/sigguard.h), then takes its course.  A pause
 *   released that way says so (pause_released_by()): what is read after
 *   it is read from a running target.
 * - A signal while the threads are being stopped undoes the pause, acts,
 *   and, if pyspect is still there, the pause starts again.
 * - A target already stopped by job control (SIGSTOP, Ctrl-Z) is still:
 *   it is read as it is, never seized, so it stays exactly as stopped as
 *   it was.
 * - Write no output while a pause is held (a full pipe would block with
 *   the target stopped); cmd/ releases every pause before it writes.
 */
#ifndef PYSPECT_TARGET_PAUSE_H
#define PYSPECT_TARGET_PAUSE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* pause.state[i] */
enum {
    PAUSE_SEIZED, /* attached and interrupted, stop not yet seen */
    PAUSE_HELD,   /* stopped by us */
    PAUSE_GONE,   /* exited while being stopped */
    PAUSE_FREE,   /* let go (resumed, or never held: job-stopped) */
};

struct pause {
    int pid;
    int *tids;            /* threads seen */
    int *signals;         /* per thread: a signal to re-deliver, or 0 */
    unsigned char *state; /* per thread: PAUSE_* */
    size_t n;
    size_t alloc;
    int job_stopped; /* stopped by job control already: read as it is */
    volatile sig_atomic_t released_by; /* a signal that let it go early */
    uint64_t start_ns;
    uint64_t end_ns;
    /* /proc/PID/stat and /proc/PID/task, open from one pause_begin() to
     * the next, or -1 (task_fd -2: its link count is no thread count) */
    int stat_fd;
    int task_fd;
    size_t hint; /* tids[0..hint) are the last pause's, to try first */
    /* Set by the caller before pause_begin() for the same pid, which
     * clears it: the first thread's state was read a moment ago and it
     * was not stopped by job control, so the pause need not read it. */
    int leader_running;
    struct pause *next; /* pauses held, for the signal guard */
};

/* clang-format off */
#define PAUSE_INIT {.stat_fd = -1, .task_fd = -1}
/* clang-format on */

/* How long a thread may take to stop before the pause gives up. */
#define PAUSE_STOP_TIMEOUT_MS 5000

/*
 * Stop all threads of pid, including threads created while stopping;
 * threads that exit meanwhile are skipped.  p is PAUSE_INIT or a pause
 * ended before (pause_end(), pause_release()): a pause begun again
 * reuses what the last one allocated and, for the same pid, the /proc
 * file it opened and the threads it found, tried before any listing.  On failure nothing stays stopped and nothing is held
 * (no pause_release() needed).  PS_EPERM,
 * PS_ETRACED (another tracer, such as gdb), PS_ENOPROC, PS_EEXITED,
 * PS_ESTUCK (a thread would not stop), PS_ECHANGED (threads kept
 * appearing).
 */
int pause_begin(int pid, struct pause *p);

/*
 * Stop one thread of pid (tid) the same way, the others running on: for
 * a read of that thread's own state.  The same guarantees hold: a signal
 * lets it go first, a thread stopped by job control is read as it is.
 * pause_end() resumes it.  PS_EPERM, PS_ETRACED, PS_ESTUCK; PS_ECHANGED
 * when the thread is gone or exiting.
 */
int pause_thread_begin(int pid, int tid, struct pause *p);

/* Resume every held thread.  Safe to call twice. */
void pause_end(struct pause *p);

/* How long the target was (or has been) paused, in milliseconds. */
double pause_ms(const struct pause *p);

/* The signal that released the target before pause_end(), or 0. */
int pause_released_by(const struct pause *p);

/* pause_end() and free what p holds (p is then as PAUSE_INIT). */
void pause_release(struct pause *p);

/*
 * Keep the pauses' signal guard (core/sigguard.h) in place from now until
 * pause_guard_drop(), for a command that pauses again and again (record
 * --blocking): each pause then skips installing and restoring the
 * actions of every guarded signal, about a hundred system calls, most of
 * what a pause costs pyspect.  Between pauses a signal takes its course
 * as it would without the guard (there is nothing to let go).  Install
 * the command's own handlers first, and change no signal action until
 * pause_guard_drop().  Calls pair up; they may nest.
 */
void pause_guard_hold(void);
void pause_guard_drop(void);

/* Is any pause held now? */
int pause_any_held(void);

/* Resume every held pause (before writing output, for one). */
void pause_end_all(void);

#endif /* PYSPECT_TARGET_PAUSE_H */
