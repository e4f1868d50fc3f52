/*
 * pause.h - stop every thread of a process for a consistent snapshot.
 *
 * Layer: target.  Uses PTRACE_SEIZE + PTRACE_INTERRUPT, never SIGSTOP:
 * the target sees no signal, its job-control state is untouched, and if
 * pyspect dies at any instant the kernel detaches and the target carries
 * on.  Signals that arrive while a thread is held are re-delivered on
 * resume.  Keep the pause short; report pause_ms() to the user.
 */
#ifndef PYSPECT_TARGET_PAUSE_H
#define PYSPECT_TARGET_PAUSE_H

#include <stddef.h>
#include <stdint.h>

struct pause {
    int pid;
    int *tids;    /* threads held */
    int *signals; /* per thread: a signal to re-deliver on resume, or 0 */
    size_t n;
    size_t alloc;
    uint64_t start_ns;
    uint64_t end_ns;
};

/* clang-format off */
#define PAUSE_INIT {0, NULL, NULL, 0, 0, 0, 0}
/* clang-format on */

/*
 * Stop all threads of pid, including threads created while stopping.
 * On failure nothing stays stopped.  PS_EPERM, PS_ENOPROC, PS_EEXITED.
 */
int pause_begin(int pid, struct pause *p);

/*
 * Stop one thread of pid (tid) the same way, the others running on: for
 * a read of that thread's own state.  pause_end() resumes it.  PS_EPERM;
 * PS_ECHANGED when the thread is gone.
 */
int pause_thread_begin(int pid, int tid, struct pause *p);

/* Resume every held thread.  Safe to call twice. */
void pause_end(struct pause *p);

/* How long the target was (or has been) paused, in milliseconds. */
double pause_ms(const struct pause *p);

void pause_release(struct pause *p);

#endif /* PYSPECT_TARGET_PAUSE_H */
