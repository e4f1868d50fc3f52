/*
 * session.h - the process a command follows: launched or attached to,
 * its descendants, and the way out (reaping it, stopping it).
 *
 * Layer: target.  What record, mem --watch (and top) share about
 * processes as processes: starting a command so that one that cannot
 * run fails at once, noticing when it exits and keeping its status,
 * stopping it at the end (a signal, a grace period, then SIGKILL), and
 * finding the processes it started.  Nothing here reads their memory.
 */
#ifndef PYSPECT_TARGET_SESSION_H
#define PYSPECT_TARGET_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct session {
    int pid;      /* the process followed */
    int launched; /* started by session_launch(): ours to reap */
    int reaped;   /* it exited and was reaped; status is its wait status */
    int status;
    char *cmdline;         /* session_follow_restarts(): what to look for */
    uint64_t next_look_ns; /* when session_restarted() looks next */
};

/*
 * Start argv (searched in PATH) as a child with SIGPIPE back to its
 * default, and follow it.  PS_ECOMMAND, with context, when it cannot be
 * started or its exec fails (then nothing is left running).
 */
int session_launch(struct session *s, char **argv);

/* Follow a process pyspect did not start (nothing is checked). */
void session_attach(struct session *s, int pid);

/*
 * Has the launched command exited?  Reaps it without waiting; 0 for an
 * attached process (its parent reaps it).
 */
int session_exited(struct session *s);

/*
 * Wait up to timeout seconds (< 0: for as long as it takes) for the
 * launched command; 1 when reaped.
 */
int session_wait(struct session *s, double timeout);

/*
 * End the launched command if it still runs: send sig (SIGTERM when 0),
 * give it grace seconds, then SIGKILL and reap.  Nothing for an attached
 * process.
 */
void session_stop(struct session *s, int sig, double grace);

/*
 * The launched command's exit status as a shell reports it (128 + the
 * signal that ended it), or -1 while it has not been reaped.
 */
int session_exit_status(const struct session *s);

/*
 * Follow an attached process across restarts: remember its command line
 * now, so that session_restarted() finds the process a supervisor starts
 * in its place.  PS_ENOTFOUND when it is gone already.  The memory goes
 * with session_release().
 */
int session_follow_restarts(struct session *s);

/*
 * The followed process exited: does another process run the same
 * command line (proc_find_cmdline)?  Looked for at most once a second.
 * 1 when one does: s->pid is that one from now on.  0 while none does,
 * and when the session does not follow restarts.
 */
int session_restarted(struct session *s);

/* Free what session_follow_restarts() kept. */
void session_release(struct session *s);

/*
 * The processes whose parent known() accepts, found level by level (a
 * grandchild's parent must be known first) and passed to add() at once,
 * so known() sees them on the next level.  Returns how many were added.
 * Bounded: at most 16 levels.
 */
size_t session_descendants(int (*known)(void *ctx, int pid),
                           void (*add)(void *ctx, int pid), void *ctx);

#endif /* PYSPECT_TARGET_SESSION_H */
