/*
 * sigguard.c - the guard's handler, and the way each signal goes on.
 *
 * Layer: core.  One guard per process (pyspect pauses one target at a
 * time); the saved actions live in static storage because the handler
 * needs them.
 */
#define _GNU_SOURCE
#include "sigguard.h"

#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "core/banned.h"

/* Signals whose default is to stop or end the process, and that can be
 * caught.  Real-time signals (also deadly by default) are added at run
 * time: SIGRTMIN is not a constant. */
static const int guarded_fixed[] = {
    SIGHUP,    SIGINT,  SIGQUIT, SIGILL,    SIGTRAP, SIGABRT, SIGBUS,
    SIGFPE,    SIGUSR1, SIGSEGV, SIGUSR2,   SIGPIPE, SIGALRM, SIGTERM,
    SIGSTKFLT, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO,   SIGPWR,
    SIGSYS,    SIGTSTP, SIGTTIN, SIGTTOU,
};

static struct sigaction saved[_NSIG];
static unsigned char installed[_NSIG];
static sigguard_fn guard_fn;
static int depth;

static int
is_guarded(int sig)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(guarded_fixed); i++) {
        if (guarded_fixed[i] == sig) {
            return 1;
        }
    }
    return sig >= SIGRTMIN && sig <= SIGRTMAX;
}

void
sigguard_set(sigset_t *set)
{
    /* Asked for several times by each pause: made once. */
    static sigset_t guarded;
    static int made;
    int sig;

    if (!made) {
        sigemptyset(&guarded);
        for (sig = 1; sig < _NSIG; sig++) {
            if (is_guarded(sig)) {
                sigaddset(&guarded, sig);
            }
        }
        made = 1;
    }
    *set = guarded;
}

int
sigguard_handles(int sig)
{
    return sig > 0 && sig < _NSIG && installed[sig];
}

void
sigguard_block(sigset_t *old)
{
    sigset_t set;

    sigguard_set(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, old);
}

void
sigguard_unblock(const sigset_t *old)
{
    sigprocmask(SIG_SETMASK, old, NULL);
}

/*
 * What the signal would have done without the guard: stop or end the
 * process.  Called in the handler, where sig is blocked: it is raised
 * again with the default action and unblocked, so it acts now.  After a
 * stop, once continued, the guard's handler is put back.
 */
static void
default_action(int sig)
{
    struct sigaction dfl, ours;
    sigset_t one, prev;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, &ours);
    sigemptyset(&one);
    sigaddset(&one, sig);
    raise(sig);
    sigprocmask(SIG_UNBLOCK, &one, &prev);
    /* Still here: a stop signal and we were continued (or a stop the
     * kernel discarded, in an orphaned process group). */
    sigprocmask(SIG_SETMASK, &prev, NULL);
    sigaction(sig, &ours, NULL);
}

static void
on_signal(int sig, siginfo_t *info, void *ctx)
{
    int saved_errno = errno;
    const struct sigaction *old = &saved[sig];

    if (guard_fn != NULL) {
        guard_fn(sig);
    }
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, info, ctx);
    } else if (old->sa_handler == SIG_DFL) {
        default_action(sig);
    } else if (old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    }
    errno = saved_errno;
}

void
sigguard_enter(sigguard_fn fn)
{
    struct sigaction sa;
    sigset_t mask;
    int sig;

    if (depth++ > 0) {
        return;
    }
    /* Blocked while the saved actions are being written: the handler
     * reads them. */
    sigguard_block(&mask);
    guard_fn = fn;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigguard_set(&sa.sa_mask);
    for (sig = 1; sig < _NSIG; sig++) {
        installed[sig] = 0;
        if (!is_guarded(sig) || sigaction(sig, &sa, &saved[sig]) < 0) {
            continue;
        }
        installed[sig] = 1;
        /* An ignored signal does nothing to us: leave it so. */
        if (!(saved[sig].sa_flags & SA_SIGINFO) &&
            saved[sig].sa_handler == SIG_IGN) {
            sigaction(sig, &saved[sig], NULL);
            installed[sig] = 0;
        } else if (((saved[sig].sa_flags & SA_SIGINFO) ||
                    saved[sig].sa_handler != SIG_DFL) &&
                   !(saved[sig].sa_flags & SA_RESTART)) {
            /* The program's handler interrupts system calls (a blocked
             * write ends on Ctrl-C): so must the guard's, which may stay
             * in place for a whole recording. */
            struct sigaction again = sa;

            again.sa_flags &= ~SA_RESTART;
            sigaction(sig, &again, NULL);
        }
    }
    sigguard_unblock(&mask);
}

void
sigguard_leave(void)
{
    sigset_t mask;
    int sig;

    if (depth == 0 || --depth > 0) {
        return;
    }
    sigguard_block(&mask);
    for (sig = 1; sig < _NSIG; sig++) {
        if (installed[sig]) {
            sigaction(sig, &saved[sig], NULL);
            installed[sig] = 0;
        }
    }
    guard_fn = NULL;
    sigguard_unblock(&mask);
}
