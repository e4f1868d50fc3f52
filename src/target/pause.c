/*
 * pause.c - ptrace seize/interrupt of every thread, and the way back.
 *
 * Layer: target.
 */
#define _GNU_SOURCE
#include "pause.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "core/error.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/proc.h"
#include "core/banned.h"

/* A thread list that keeps changing for this many rounds is an error. */
#define PAUSE_MAX_ROUNDS 64

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

/*
 * Wait until tid reports a stop.  Returns 1 when stopped, 0 when the
 * thread is gone.  A signal-delivery stop is a stop too; its signal is
 * kept for re-delivery.
 */
static int
pause_wait(int tid, int *signal_out)
{
    for (;;) {
        int status;
        pid_t r = waitpid(tid, &status, __WALL);

        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return 0;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            return 0;
        }
        if (WIFSTOPPED(status)) {
            int event = status >> 16;

            if (event == PTRACE_EVENT_STOP) {
                /* Our interrupt, or a group-stop: nothing to re-deliver. */
                return 1;
            }
            if (event == 0 && WSTOPSIG(status) != SIGTRAP) {
                *signal_out = WSTOPSIG(status);
            }
            return 1;
        }
    }
}

int
pause_begin(int pid, struct pause *p)
{
    int round, rc = 0;

    p->pid = pid;
    p->start_ns = clock_now_ns();
    p->end_ns = 0;
    for (round = 0; round < PAUSE_MAX_ROUNDS; round++) {
        int *tids = NULL;
        size_t ntids, i, first_new = p->n;

        rc = proc_tasks(pid, &tids, &ntids);
        if (rc < 0) {
            if (p->n == 0) {
                rc = err_set(PS_ENOPROC, "pid %d", pid);
            }
            free(tids);
            break;
        }
        for (i = 0; i < ntids; i++) {
            if (pause_holds(p, tids[i])) {
                continue;
            }
            if (ptrace(PTRACE_SEIZE, tids[i], 0, 0) < 0) {
                if (errno == ESRCH) {
                    continue; /* the thread exited meanwhile */
                }
                rc = err_set(errno == EPERM ? PS_EPERM : PS_EIO,
                             "cannot pause pid %d (ptrace seize: %s)", pid,
                             strerror(errno));
                break;
            }
            XGROW(p->tids, p->alloc, p->n + 1);
            p->signals = xrealloc(p->signals, p->alloc * sizeof(int));
            p->tids[p->n] = tids[i];
            p->signals[p->n] = 0;
            p->n++;
            if (ptrace(PTRACE_INTERRUPT, tids[i], 0, 0) < 0 &&
                errno != ESRCH) {
                rc = err_set(PS_EIO, "cannot pause pid %d (interrupt: %s)",
                             pid, strerror(errno));
                break;
            }
        }
        free(tids);
        for (i = first_new; i < p->n; i++) {
            if (!pause_wait(p->tids[i], &p->signals[i])) {
                p->tids[i] = -p->tids[i]; /* gone: never detach it */
            }
        }
        if (rc < 0 || p->n == first_new) {
            break; /* error, or no thread appeared since the last round */
        }
    }
    if (rc == 0 && round == PAUSE_MAX_ROUNDS) {
        rc = err_set(PS_ECHANGED, "pid %d keeps creating threads", pid);
    }
    if (rc < 0) {
        pause_end(p);
    }
    return rc;
}

int
pause_thread_begin(int pid, int tid, struct pause *p)
{
    p->pid = pid;
    p->start_ns = clock_now_ns();
    p->end_ns = 0;
    if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0) {
        if (errno == ESRCH) {
            return err_set(PS_ECHANGED, "thread %d exited", tid);
        }
        return err_set(errno == EPERM ? PS_EPERM : PS_EIO,
                       "cannot pause thread %d (ptrace seize: %s)", tid,
                       strerror(errno));
    }
    XGROW(p->tids, p->alloc, p->n + 1);
    p->signals = xrealloc(p->signals, p->alloc * sizeof(int));
    p->tids[p->n] = tid;
    p->signals[p->n] = 0;
    p->n++;
    if ((ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 && errno != ESRCH) ||
        !pause_wait(tid, &p->signals[p->n - 1])) {
        p->tids[p->n - 1] = -tid; /* gone: never detach it */
        pause_end(p);
        return err_set(PS_ECHANGED, "thread %d exited", tid);
    }
    return 0;
}

void
pause_end(struct pause *p)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        if (p->tids[i] > 0) {
            ptrace(PTRACE_DETACH, p->tids[i], 0,
                   (void *)(uintptr_t)p->signals[i]);
        }
    }
    p->n = 0;
    if (p->end_ns == 0) {
        p->end_ns = clock_now_ns();
    }
}

double
pause_ms(const struct pause *p)
{
    uint64_t end = p->end_ns ? p->end_ns : clock_now_ns();

    return (double)(end - p->start_ns) / 1e6;
}

void
pause_release(struct pause *p)
{
    pause_end(p);
    free(p->tids);
    free(p->signals);
    p->tids = NULL;
    p->signals = NULL;
    p->alloc = 0;
}
