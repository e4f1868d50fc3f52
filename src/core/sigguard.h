/*
 * sigguard.h - do one thing first when a signal would stop or end us.
 *
 * Layer: core.  While a guard is entered, every catchable signal whose
 * action would stop or end the process (SIGTSTP, SIGTTIN, SIGTTOU, SIGINT,
 * SIGTERM, SIGSEGV, the real-time signals...) and every signal the
 * program handles itself first calls the guard's function, then takes its
 * course: the program's own handler runs, a stop signal stops the process
 * (and the guard is back in place once it is continued), a deadly one
 * ends it as it would have, with the same status.  Ignored signals stay
 * ignored; SIGKILL and SIGSTOP cannot be caught (the kernel's own clean-up
 * must do).
 *
 * The target layer's pause uses it so that a Ctrl-Z, a kill or a crash of
 * pyspect never leaves the target stopped.
 */
#ifndef PYSPECT_CORE_SIGGUARD_H
#define PYSPECT_CORE_SIGGUARD_H

#include <signal.h>

/*
 * Called from the signal handler with the signal number: it may only use
 * async-signal-safe calls, and must be safe to call more than once.
 */
typedef void (*sigguard_fn)(int sig);

/*
 * Install fn for the guarded signals, keeping their current actions to
 * chain to.  Guards nest: only the outermost enter installs, and fn must
 * then be the same.  A system call a signal interrupts is restarted or
 * not as the program's own handler asked (SA_RESTART), so a guard may
 * stay entered for long; meanwhile change none of the guarded signals'
 * actions (the outermost leave would undo the change).
 */
void sigguard_enter(sigguard_fn fn);

/* Undo one sigguard_enter(); the outermost restores the saved actions. */
void sigguard_leave(void);

/*
 * Block the guarded signals (and SIGCHLD) around bookkeeping the guard's
 * function reads, saving the old mask; sigguard_unblock() restores it.
 */
void sigguard_block(sigset_t *old);
void sigguard_unblock(const sigset_t *old);

/* The guarded signals, for sigtimedwait() while they are blocked. */
void sigguard_set(sigset_t *set);

/* Does the entered guard handle sig (a guarded signal not ignored)? */
int sigguard_handles(int sig);

#endif /* PYSPECT_CORE_SIGGUARD_H */
