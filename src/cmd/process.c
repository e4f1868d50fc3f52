/*
 * process.c - a process a sampling command follows, until it runs Python.
 *
 * Layer: cmd.  record and top follow the same processes the same way: the
 * one given by PID, the command they started (the session, target/
 * session.h), and with --subprocesses its children.  This is what they
 * share about each: opening it and finding its Python runtime, the grace
 * a started process gets before it is declared not Python (it may exec
 * one in a moment), and waiting for a started command's first Python
 * code.  What each command does with the runtime (its sampler) stays in
 * the command.
 */
#include "cmd.h"

#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/util.h"
#include "python/runtime.h"
#include "python/stack.h"
#include "target/session.h"
#include "target/target.h"
#include "core/banned.h"

/* How long a started command may take to become Python. */
#define LAUNCH_WAIT_S 30.0
/* A started program that is still not Python after this is not one. */
#define NOT_PYTHON_WAIT_S 1.0

static double
now_s(void)
{
    return (double)clock_now_ns() / 1e9;
}

void
cmd_process_init(struct cmd_process *p, int pid)
{
    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->first_seen = now_s();
}

int
cmd_process_attach(struct cmd_process *p)
{
    int rc = 0;

    if (p->rt != NULL) {
        return 0;
    }
    if (p->target == NULL) {
        rc = target_live_open(p->pid, &p->target);
    }
    if (rc == 0) {
        rc = py_runtime_attach(p->target, &p->rt);
    }
    if (rc == 0) {
        return 0;
    }
    if (rc == PS_ENOTPY && p->started &&
        (p->script || now_s() - p->first_seen < NOT_PYTHON_WAIT_S)) {
        rc = PS_ENOTREADY; /* it may exec a Python in a moment */
    }
    if (rc != PS_ENOTREADY) {
        p->gone = 1;
    }
    return rc;
}

void
cmd_process_release(struct cmd_process *p)
{
    py_runtime_free(p->rt);
    p->rt = NULL;
    target_free(p->target);
    p->target = NULL;
}

int
cmd_process_wait_python(struct cmd_process *p, struct session *s,
                        const char *name, const volatile sig_atomic_t *stop)
{
    double deadline = now_s() + LAUNCH_WAIT_S;
    int rc;

    for (;;) {
        rc = cmd_process_attach(p);
        if (rc == 0) {
            struct py_threads threads = PY_THREADS_INIT;

            /* Ready once the main thread runs Python code. */
            rc = py_threads_read(p->rt, &threads);
            if (rc == 0 && threads.n > 0) {
                py_threads_release(&threads);
                return 0;
            }
            py_threads_release(&threads);
            cmd_process_release(p);
            rc = PS_ENOTREADY;
        }
        if (session_exited(s)) {
            return err_set(PS_ECOMMAND,
                           "'%s' exited (status %d) before its Python "
                           "started",
                           name, session_exit_status(s));
        }
        if (rc != PS_ENOTREADY) {
            if (rc == PS_ENOTPY) {
                return err_set(PS_ENOTPY, "'%s' is not a Python program",
                               name);
            }
            return rc;
        }
        if (*stop || now_s() > deadline) {
            return err_set(PS_ENOTREADY, "'%s' did not start Python", name);
        }
        usleep(500);
    }
}
