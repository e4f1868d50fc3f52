/*
 * run.h - a program run under the allocation tracker.
 *
 * Layer: alloc (pyspect's side).  Finds libpyspect-alloc.so, makes the
 * private directory the tracker writes its files to, starts the command
 * with the library preloaded and the tracker configured through the
 * environment (store.h, ALLOC_ENV), and answers questions while it runs:
 * has it exited (and with what status), how much memory does the tracker
 * see live, what is its RSS.  The directory and its files are removed by
 * alloc_run_release().
 */
#ifndef PYSPECT_ALLOC_RUN_H
#define PYSPECT_ALLOC_RUN_H

#include <stdint.h>
#include <sys/types.h>

#include "core/strbuf.h"
#include "target/session.h"

struct alloc_run_options {
    int all;               /* record every allocation */
    uint64_t sample_bytes; /* mean bytes between samples */
    int follow;            /* track forked and spawned children */
    int native;            /* C frames too */
};

struct alloc_run {
    struct strbuf dir;      /* where the tracker writes */
    struct strbuf library;  /* libpyspect-alloc.so */
    struct session session; /* the process tracked: started or attached */
    int attached;           /* -p: loaded into a running process */
    uint64_t start_ns;      /* CLOCK_MONOTONIC when it was started */
};

/*
 * Where libpyspect-alloc.so is: $PYSPECT_ALLOC_LIBRARY when set, else
 * next to the pyspect executable (the build tree), else in the
 * directory it is installed to (PYSPECT_ALLOC_LIBDIR).  PS_ENOTFOUND
 * with a message saying where it looked.
 */
int alloc_library_find(struct strbuf *path);

void alloc_run_init(struct alloc_run *run);

/*
 * Make the directory, then fork and exec argv with the tracker preloaded.
 * PS_ECOMMAND when the command cannot be run (the reason in the
 * context), PS_EIO when the directory cannot be made.
 */
int alloc_run_start(struct alloc_run *run, char **argv,
                    const struct alloc_run_options *o);

/*
 * Load the tracker into the running process pid (-p): the directory, then
 * alloc_inject() (inject.h), which refuses where it cannot do it safely.
 * Tracking stops at alloc_run_stop(), or by itself when pyspect is gone.
 */
int alloc_run_attach(struct alloc_run *run, int pid,
                     const struct alloc_run_options *o, double timeout_s);

/* Attached: ask the tracker to stop; it lets go of its memory. */
void alloc_run_stop(struct alloc_run *run);

/* Has the command (or the attached process) exited?  Reaps a started
 * command without waiting. */
int alloc_run_exited(struct alloc_run *run);

/* Wait for it to exit. */
void alloc_run_wait(struct alloc_run *run);

/* Its exit status as a shell gives it: the code, or 128 + signal; -1
 * before it has been reaped. */
int alloc_run_exit_status(const struct alloc_run *run);

/*
 * What the tracker of pid's newest image says is live now, in bytes
 * (estimated in sampled mode); PS_ENOTFOUND before it has started.
 */
int alloc_run_live(const struct alloc_run *run, int pid, uint64_t *bytes);

/* Remove the tracker's files and the directory; free everything. */
void alloc_run_release(struct alloc_run *run);

#endif /* PYSPECT_ALLOC_RUN_H */
