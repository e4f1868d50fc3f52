/*
 * session.c - launch, follow, reap and stop the processes a command
 * follows.
 *
 * Layer: target.
 */
#define _GNU_SOURCE
#include "session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "target/proc.h"
#include "core/banned.h"

/* Levels of descendants looked for. */
#define SESSION_LEVELS 16

/* A restarted process is looked for this often. */
#define SESSION_RESTART_LOOK_NS 1000000000ull

int
session_launch(struct session *s, char **argv)
{
    int fds[2], e = 0;
    ssize_t n;
    pid_t pid;

    memset(s, 0, sizeof(*s));
    /* A close-on-exec pipe tells the parent whether exec worked. */
    if (pipe2(fds, O_CLOEXEC) < 0) {
        return err_set(PS_ECOMMAND, "cannot start '%s': %s", argv[0],
                       strerror(errno));
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return err_set(PS_ECOMMAND, "cannot start '%s': %s", argv[0],
                       strerror(errno));
    }
    if (pid == 0) {
        /* pyspect ignores SIGPIPE; the command should not inherit that. */
        signal(SIGPIPE, SIG_DFL);
        close(fds[0]);
        execvp(argv[0], argv);
        e = errno;
        n = write(fds[1], &e, sizeof(e));
        (void)n;
        _exit(127);
    }
    close(fds[1]);
    /* The pipe closes on a successful exec; an error comes through it. */
    do {
        n = read(fds[0], &e, sizeof(e));
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == (ssize_t)sizeof(e)) {
        waitpid(pid, NULL, 0);
        return err_set(PS_ECOMMAND, "cannot run '%s': %s", argv[0],
                       strerror(e));
    }
    s->pid = (int)pid;
    s->launched = 1;
    return 0;
}

void
session_attach(struct session *s, int pid)
{
    memset(s, 0, sizeof(*s));
    s->pid = pid;
}

int
session_exited(struct session *s)
{
    int status;

    if (!s->launched || s->reaped) {
        return s->reaped;
    }
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
        s->status = status;
        s->reaped = 1;
    }
    return s->reaped;
}

int
session_wait(struct session *s, double timeout)
{
    uint64_t end = clock_now_ns() + (uint64_t)(timeout * 1e9);
    struct timespec ts = {0, 10000000L};
    int status;

    if (timeout < 0 && s->launched && !s->reaped) {
        while (waitpid(s->pid, &status, 0) < 0) {
            if (errno != EINTR) {
                return 0;
            }
        }
        s->status = status;
        s->reaped = 1;
    }
    while (!session_exited(s)) {
        if (!s->launched || clock_now_ns() >= end) {
            return 0;
        }
        nanosleep(&ts, NULL);
    }
    return 1;
}

void
session_stop(struct session *s, int sig, double grace)
{
    if (!s->launched || session_exited(s)) {
        return;
    }
    kill(s->pid, sig ? sig : SIGTERM);
    if (!session_wait(s, grace)) {
        kill(s->pid, SIGKILL);
        session_wait(s, 5);
    }
}

int
session_exit_status(const struct session *s)
{
    if (!s->reaped) {
        return -1;
    }
    if (WIFEXITED(s->status)) {
        return WEXITSTATUS(s->status);
    }
    if (WIFSIGNALED(s->status)) {
        return 128 + WTERMSIG(s->status);
    }
    return 1;
}

int
session_follow_restarts(struct session *s)
{
    struct strbuf sb = STRBUF_INIT;

    if (proc_cmdline(s->pid, &sb) < 0 || sb.len == 0) {
        strbuf_release(&sb);
        return err_set(PS_ENOTFOUND, "pid %d has no command line", s->pid);
    }
    free(s->cmdline);
    s->cmdline = strbuf_detach(&sb);
    s->next_look_ns = 0;
    return 0;
}

int
session_restarted(struct session *s)
{
    uint64_t now = clock_now_ns();
    int pid;

    if (s->cmdline == NULL || now < s->next_look_ns) {
        return 0;
    }
    s->next_look_ns = now + SESSION_RESTART_LOOK_NS;
    if (proc_find_cmdline(s->cmdline, s->pid, &pid) < 0) {
        err_clear();
        return 0;
    }
    s->pid = pid;
    s->reaped = 0;
    s->status = 0;
    s->next_look_ns = 0;
    return 1;
}

void
session_release(struct session *s)
{
    free(s->cmdline);
    s->cmdline = NULL;
}

size_t
session_descendants(int (*known)(void *ctx, int pid),
                    void (*add)(void *ctx, int pid), void *ctx)
{
    size_t added = 0, before;
    int level;

    for (level = 0; level < SESSION_LEVELS; level++) {
        DIR *dir = opendir("/proc");
        struct dirent *de;

        if (dir == NULL) {
            break;
        }
        before = added;
        while ((de = readdir(dir)) != NULL) {
            long pid;
            int ppid;

            if (parse_long(de->d_name, 1, 0x7fffffff, &pid) < 0 ||
                known(ctx, (int)pid) || proc_ppid((int)pid, &ppid) < 0 ||
                !known(ctx, ppid)) {
                continue;
            }
            add(ctx, (int)pid);
            added++;
        }
        closedir(dir);
        if (added == before) {
            break;
        }
    }
    return added;
}
