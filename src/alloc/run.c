/*
 * run.c - start a program with the allocation tracker preloaded.
 *
 * Layer: alloc (pyspect's side).  The command is started with the
 * session module (target/session.h); the tracker is configured through
 * two environment variables it inherits, and every program it execs
 * after it: LD_PRELOAD (the library first, the program's own preloads
 * after it, so that a preloaded jemalloc still serves the memory) and
 * PYSPECT_ALLOC (store.h), which names the directory and pyspect's pid:
 * the process to track is pyspect's child, whatever it execs.  Other
 * processes that inherit the variables track themselves only when
 * children are followed; otherwise the library stays inert in them.
 */
#define _GNU_SOURCE
#include "alloc/run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc/inject.h"
#include "alloc/report.h"
#include "alloc/store.h"
#include "core/error.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "target/proc.h"
#include "target/session.h"
#include "core/banned.h"

#ifndef PYSPECT_ALLOC_LIBDIR
#define PYSPECT_ALLOC_LIBDIR "/usr/local/lib/pyspect"
#endif

#define ALLOC_LIBRARY "libpyspect-alloc.so"

/* This process's start time, field 22 of /proc/self/stat: with its pid,
 * how the tracker knows it is still the pyspect that attached it. */
static unsigned long long
self_start_time(void)
{
    struct strbuf stat = STRBUF_INIT;
    unsigned long long start = 0;
    const char *p;
    int field;

    if (read_file("/proc/self/stat", 4096, &stat) == 0 &&
        (p = strrchr(stat.buf, ')')) != NULL) {
        for (p++, field = 2; *p != '\0' && field < 22; p++) {
            field += *p == ' ';
        }
        start = strtoull(p, NULL, 10);
    }
    strbuf_release(&stat);
    return start;
}

/* The owner of pid: /proc/PID's. */
static int
stat_pid(int pid, struct stat *st)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d", pid);
    return stat(path, st);
}

static int
usable(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int
alloc_library_find(struct strbuf *path)
{
    const char *env = getenv("PYSPECT_ALLOC_LIBRARY");
    char exe[PATH_MAX];
    ssize_t n;

    strbuf_reset(path);
    if (env != NULL && *env != '\0') {
        if (usable(env)) {
            strbuf_addstr(path, env);
            return 0;
        }
        return err_set(PS_ENOTFOUND,
                       "PYSPECT_ALLOC_LIBRARY names %s, which is not a file",
                       env);
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        char *slash;

        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            strbuf_add(path, exe, (size_t)(slash - exe) + 1);
            strbuf_addstr(path, ALLOC_LIBRARY);
            if (usable(path->buf)) {
                return 0;
            }
            strbuf_reset(path);
        }
    }
    strbuf_addstr(path, PYSPECT_ALLOC_LIBDIR "/" ALLOC_LIBRARY);
    if (usable(path->buf)) {
        return 0;
    }
    strbuf_reset(path);
    return err_set(PS_ENOTFOUND,
                   "cannot find " ALLOC_LIBRARY
                   " next to pyspect or in " PYSPECT_ALLOC_LIBDIR
                   " (reinstall pyspect, or set PYSPECT_ALLOC_LIBRARY)");
}

void
alloc_run_init(struct alloc_run *run)
{
    memset(run, 0, sizeof(*run));
    strbuf_init(&run->dir);
    strbuf_init(&run->library);
}

/*
 * A private directory in $TMPDIR or /tmp: paths a command that enters a
 * chroot or a container of its own usually still shares (/dev/shm is
 * rarely shared), and where the tracker's files can be read after it.
 */
static int
make_dir(struct strbuf *dir)
{
    const char *bases[] = {getenv("TMPDIR"), "/tmp", "/dev/shm"};
    size_t i;

    for (i = 0; i < ARRAY_SIZE(bases); i++) {
        if (bases[i] == NULL || *bases[i] == '\0') {
            continue;
        }
        strbuf_reset(dir);
        strbuf_addf(dir, "%s/pyspect-alloc-XXXXXX", bases[i]);
        if (mkdtemp(dir->buf) != NULL) {
            return 0;
        }
    }
    strbuf_reset(dir);
    return err_set(PS_EIO, "cannot make a directory for the tracker in "
                           "$TMPDIR, /tmp or /dev/shm");
}

/* Set name to value, or unset it when value is NULL. */
static void
env_set(const char *name, const char *value)
{
    if (value != NULL) {
        setenv(name, value, 1);
    } else {
        unsetenv(name);
    }
}

/* getenv(name), copied (NULL when unset). */
static char *
env_copy(const char *name)
{
    const char *v = getenv(name);

    return v != NULL ? xstrdup(v) : NULL;
}

int
alloc_run_start(struct alloc_run *run, char **argv,
                const struct alloc_run_options *o)
{
    const char *preload;
    struct strbuf lib = STRBUF_INIT, conf = STRBUF_INIT;
    char *old_preload, *old_conf;
    int rc;

    rc = make_dir(&run->dir);
    if (rc < 0) {
        return rc;
    }
    /*
     * The command inherits the tracker's environment from pyspect, which
     * sets it around the launch only: the library first in LD_PRELOAD
     * (the program's own preloads after it, so that a preloaded jemalloc
     * still serves the memory), and the configuration, which names
     * pyspect as the parent of the process to track (its pid is not
     * known before the fork).
     */
    preload = getenv("LD_PRELOAD");
    strbuf_addstr(&lib, run->library.buf);
    if (preload != NULL && *preload != '\0') {
        strbuf_addf(&lib, ":%s", preload);
    }
    strbuf_addf(&conf,
                "dir=%s;parent=%d;mode=%s;sample=%llu;follow=%d;native=%d",
                run->dir.buf, (int)getpid(), o->all ? "all" : "sampled",
                (unsigned long long)o->sample_bytes, o->follow, o->native);
    old_preload = env_copy("LD_PRELOAD");
    old_conf = env_copy(ALLOC_ENV);
    env_set("LD_PRELOAD", lib.buf);
    env_set(ALLOC_ENV, conf.buf);
    run->start_ns = clock_now_ns();
    rc = session_launch(&run->session, argv);
    env_set("LD_PRELOAD", old_preload);
    env_set(ALLOC_ENV, old_conf);
    free(old_preload);
    free(old_conf);
    strbuf_release(&lib);
    strbuf_release(&conf);
    return rc;
}

int
alloc_run_attach(struct alloc_run *run, int pid,
                 const struct alloc_run_options *o, double timeout_s)
{
    struct strbuf config = STRBUF_INIT, ready = STRBUF_INIT;
    struct stat st;
    int rc;

    rc = make_dir(&run->dir);
    if (rc < 0) {
        return rc;
    }
    /* The target writes its file here: its user must be able to. */
    if (stat("/proc/self", &st) == 0 && stat_pid(pid, &st) == 0 &&
        chown(run->dir.buf, st.st_uid, st.st_gid) < 0 && errno != EPERM) {
        return err_set(PS_EIO, "cannot give %s to pid %d's user: %s",
                       run->dir.buf, pid, strerror(errno));
    }
    if (!alloc_same_file_inside(pid, run->dir.buf)) {
        return err_set(PS_ENOTFOUND,
                       "%s is not the same directory inside pid %d's root (a "
                       "container?): its tracker could not report there",
                       run->dir.buf, pid);
    }
    strbuf_addf(&config,
                "dir=%s;root=%d;mode=%s;sample=%llu;follow=0;native=%d;"
                "controller=%d;controller_at=%llu",
                run->dir.buf, pid, o->all ? "all" : "sampled",
                (unsigned long long)o->sample_bytes, o->native, (int)getpid(),
                self_start_time());
    session_attach(&run->session, pid);
    run->attached = 1;
    run->start_ns = clock_now_ns();
    strbuf_addf(&ready, "%s/%d.0", run->dir.buf, pid);
    rc = alloc_inject(pid, run->library.buf, config.buf, ready.buf, timeout_s);
    strbuf_release(&config);
    strbuf_release(&ready);
    return rc;
}

void
alloc_run_stop(struct alloc_run *run)
{
    DIR *d = opendir(run->dir.buf);
    struct strbuf path = STRBUF_INIT;
    struct dirent *de;
    uint32_t one = 1;

    while (d != NULL && (de = readdir(d)) != NULL) {
        int fd;

        if (de->d_name[0] == '.') {
            continue;
        }
        strbuf_reset(&path);
        strbuf_addf(&path, "%s/%s", run->dir.buf, de->d_name);
        fd = open(path.buf, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (pwrite(fd, &one, sizeof(one),
                       offsetof(struct alloc_header, stop)) < 0) {
                /* The tracker also stops when pyspect is gone. */
            }
            close(fd);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    strbuf_release(&path);
}

int
alloc_run_exited(struct alloc_run *run)
{
    if (run->attached) {
        char state;

        /* Not ours to reap: gone, or a zombie its parent has not. */
        return proc_task_state(run->session.pid, run->session.pid, &state) <
                   0 ||
               state == 'Z' || state == 'X';
    }
    return !run->session.launched || session_exited(&run->session);
}

void
alloc_run_wait(struct alloc_run *run)
{
    session_wait(&run->session, -1);
}

int
alloc_run_exit_status(const struct alloc_run *run)
{
    return session_exit_status(&run->session);
}

int
alloc_run_live(const struct alloc_run *run, int pid, uint64_t *bytes)
{
    struct strbuf path = STRBUF_INIT;
    struct alloc_header h;
    unsigned gen = 0;
    int found = 0, rc;
    struct dirent *de;
    DIR *d = opendir(run->dir.buf);
    char prefix[32];
    size_t plen;

    if (d == NULL) {
        return PS_ENOTFOUND;
    }
    plen = (size_t)snprintf(prefix, sizeof(prefix), "%d.", pid);
    /* The newest image of pid: the highest generation. */
    while ((de = readdir(d)) != NULL) {
        long g;

        if (strncmp(de->d_name, prefix, plen) == 0 &&
            parse_long(de->d_name + plen, 0, 1000000, &g) == 0 &&
            (!found || (unsigned)g > gen)) {
            gen = (unsigned)g;
            found = 1;
        }
    }
    closedir(d);
    if (!found) {
        return PS_ENOTFOUND;
    }
    strbuf_addf(&path, "%s/%d.%u", run->dir.buf, pid, gen);
    rc = alloc_header_read(path.buf, &h);
    strbuf_release(&path);
    if (rc < 0) {
        return rc;
    }
    if (h.state == ALLOC_STATE_WAITING) {
        return PS_ENOTFOUND;
    }
    *bytes = h.live_bytes;
    return 0;
}

void
alloc_run_release(struct alloc_run *run)
{
    if (run->dir.len > 0) {
        DIR *d = opendir(run->dir.buf);
        struct strbuf path = STRBUF_INIT;
        struct dirent *de;

        while (d != NULL && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 ||
                strcmp(de->d_name, "..") == 0) {
                continue;
            }
            strbuf_reset(&path);
            strbuf_addf(&path, "%s/%s", run->dir.buf, de->d_name);
            unlink(path.buf);
        }
        if (d != NULL) {
            closedir(d);
        }
        rmdir(run->dir.buf);
        strbuf_release(&path);
    }
    strbuf_release(&run->dir);
    strbuf_release(&run->library);
}
