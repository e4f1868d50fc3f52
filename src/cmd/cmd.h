/*
 * cmd.h - the commands and what they share.
 *
 * Layer: cmd.  Each command lives in its own file, takes argc/argv after
 * the command name, and returns the process exit status.
 *
 * The contract of a command's option parser: it returns 0, or an error
 * code it has already reported (PS_EUSAGE, through cmd_usage_error() and
 * friends, which return it); --help sets a flag and returns 0, and the
 * command prints its help.  main() checks that standard output was
 * written after every command.
 */
#ifndef PYSPECT_CMD_CMD_H
#define PYSPECT_CMD_CMD_H

#include <signal.h>
#include <stdio.h>

#include "core/strbuf.h"

int cmd_alloc(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_heap(int argc, char **argv);
int cmd_mem(int argc, char **argv);
int cmd_record(int argc, char **argv);
/* `pyspect mem --watch` (cmd_mem() hands it over). */
int cmd_mem_watch(int argc, char **argv);
int cmd_top(int argc, char **argv);

struct target;
struct py_runtime;

/*
 * What a command looks at: a live process (PID as an argument, or -p
 * PID) or a core file (--core FILE, with --executable PATH and --sysroot
 * DIR for the files it mapped).
 */
struct cmd_target {
    int pid;
    const char *core;
    const char *executable;
    const char *sysroot;
    char **command; /* -- COMMAND ARGS..., for commands that launch */
};

/* getopt_long() values of the core-file options. */
enum {
    CMD_OPT_CORE = 0x1000,
    CMD_OPT_EXECUTABLE,
    CMD_OPT_SYSROOT,
};

/* The long options of a command that reads a process or a core. */
/* clang-format off */
#define CMD_TARGET_LONGOPTS                                                   \
    {"pid", required_argument, NULL, 'p'},                                   \
    {"core", required_argument, NULL, CMD_OPT_CORE},                         \
    {"executable", required_argument, NULL, CMD_OPT_EXECUTABLE},             \
    {"sysroot", required_argument, NULL, CMD_OPT_SYSROOT}
/* clang-format on */

/* Their lines in a command's --help (20 columns for the option). */
#define CMD_CORE_USAGE                                                        \
    "      --core FILE     a core file instead of a process (gcore PID, or\n" \
    "                      coredumpctl dump -o FILE)\n"                       \
    "      --executable PATH\n"                                               \
    "                      with --core: the program, where the core's\n"      \
    "                      record of it is wrong or missing\n"                \
    "      --sysroot DIR   with --core: find the files the process mapped\n"  \
    "                      under DIR (a container's root, a copy of the\n"    \
    "                      machine the core came from)\n"

/*
 * Take option c (from CMD_TARGET_LONGOPTS, or -p) into t: 1 when it was
 * one of them, 0 when not, PS_EUSAGE (reported) for a bad value.
 */
int cmd_target_option(const char *cmd, int c, const char *arg,
                      struct cmd_target *t);

/*
 * For commands that can launch a program: cut "-- COMMAND ARGS..." off
 * argv into t->command, leaving in *argc what getopt_long() should see.
 * 0 or PS_EUSAGE (reported: nothing after --).
 */
int cmd_target_command(const char *cmd, int *argc, char **argv,
                       struct cmd_target *t);

/* cmd_target_finish() flags. */
enum {
    CMD_TARGET_LAUNCH = 1 << 0, /* -- COMMAND may name the target */
};

/*
 * After the options: the PID argument, if any (argv[optind..]), and the
 * checks that exactly one target was named (a PID, as an argument or -p,
 * a core, or a command).  0 or PS_EUSAGE (reported).
 */
int cmd_target_finish(const char *cmd, int argc, char **argv, unsigned flags,
                      struct cmd_target *t);

/*
 * Open the target (the process, or the core file) and find its Python
 * runtime.  On failure nothing is left open (*t and *rt stay NULL) and
 * the error is returned for cmd_fail().  A core that is missing some of
 * its memory is reported on stderr; the caller marks its answer partial.
 */
int cmd_open(const struct cmd_target *spec, struct target **t,
             struct py_runtime **rt);

struct session;

/*
 * A process record and top follow (process.c): the PID given, the command
 * started, or a child of either.  Zeroed by cmd_process_init(); target
 * and rt are opened by cmd_process_attach() and freed by
 * cmd_process_release().
 */
struct cmd_process {
    int pid;
    struct target *target; /* opened on the first attempt */
    struct py_runtime *rt;
    int gone;    /* exited, or never going to be Python */
    int started; /* started by pyspect or a child: may exec Python */
    int script;  /* the started command is a script: wait for Python */
    double first_seen;
};

/* Follow pid from now (its grace period starts now). */
void cmd_process_init(struct cmd_process *p, int pid);

/*
 * Open p and its Python runtime, unless p->rt is open already: 0 when it
 * is, PS_ENOTREADY to try again later (a started process that is not
 * Python yet: for a moment, or as long as it takes when it is a script),
 * or why it never will be (then p->gone is set).  What was opened is kept
 * for the next attempt.
 */
int cmd_process_attach(struct cmd_process *p);

/* Free p's runtime and target (attached again by the next attempt). */
void cmd_process_release(struct cmd_process *p);

/*
 * Wait until the command started as session s (its argv[0] is name, for
 * the messages) runs Python code in its main thread: 0 with p->rt open.
 * Gives up, with the reason set, when the command exits, turns out not
 * to be Python, has not started Python after 30 seconds, or *stop is
 * set (a signal to pyspect).
 */
int cmd_process_wait_python(struct cmd_process *p, struct session *s,
                            const char *name,
                            const volatile sig_atomic_t *stop);

/* Open the live process pid (as cmd_open()). */
int cmd_attach(int pid, struct target **t, struct py_runtime **rt);
/* Free what cmd_open() opened (either may be NULL). */
void cmd_detach(struct target *t, struct py_runtime *rt);

/* Parse a PID argument; 0, or PS_EUSAGE (reported). */
int cmd_parse_pid(const char *cmd, const char *arg, int *pid);

/*
 * The usage error for the option getopt_long() just refused (unknown,
 * or missing its value); returns PS_EUSAGE.
 */
int cmd_option_error(const char *cmd, char **argv);

/* Report rc on stderr (one line) and return its exit status. */
int cmd_fail(int rc);

/* Print "pyspect CMD: MESSAGE" and the usage hint; return PS_EUSAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * -d/--duration SECS of cmd: a positive number of seconds into *out, or
 * the usage error said (cmd_usage_error()) and its code returned.
 */
int cmd_parse_duration(const char *cmd, const char *arg, double *out);

/*
 * Write buf as the whole of the file path (created or truncated); 0 or
 * PS_EIO naming the system's reason (a full disk: "No space left on
 * device").
 */
int cmd_write_file(const char *path, const char *buf, size_t len);

/* Write all of buf to stdout; 0 or PS_EIO (e.g. a closed pipe). */
int cmd_write_stdout(const char *buf, size_t len);

/*
 * Open an output file before the work starts, so that a path that cannot
 * be written fails at once and not after a long recording.  The file is
 * not truncated until cmd_output_write(); *created says whether it is
 * new (a failed run removes it).  "-" is standard output.  0 or PS_EIO.
 */
int cmd_output_open(const char *path, int *fd, int *created);

/* Write sb: a regular file from its start (replacing what it held),
 * anything else (a pipe, a terminal) as a stream.  0 or PS_EIO. */
int cmd_output_write(int fd, const char *path, const struct strbuf *sb);

/*
 * Append sb to an output written as the work goes (record -f trace): at
 * the first call (*started 0, then 1) a regular file is emptied, then
 * each call writes on from where the last ended.  0 or PS_EIO.
 */
int cmd_output_append(int fd, const char *path, int *started,
                      const struct strbuf *sb);

/*
 * Is the command execvp() will run for name a "#!" script (found through
 * PATH like execvp)?  A script runs its interpreter first, which may exec
 * a Python later than any fixed grace period allows (wrapper scripts,
 * the chroot launchers of containers).  0 when not, or not found.
 */
int cmd_is_script(const char *name);

#endif /* PYSPECT_CMD_CMD_H */
