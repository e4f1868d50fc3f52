/*
 * cmd.h - the commands and what they share.
 *
 * Layer: cmd.  Each command lives in its own file, takes argc/argv after
 * the command name, and returns the process exit status.
 */
#ifndef PYSPECT_CMD_CMD_H
#define PYSPECT_CMD_CMD_H

#include <stdio.h>

int cmd_dump(int argc, char **argv);
int cmd_heap(int argc, char **argv);
int cmd_mem(int argc, char **argv);
int cmd_record(int argc, char **argv);

struct target;
struct py_runtime;

/*
 * Open the live process pid and find its Python runtime.  On failure
 * nothing is left open (*t and *rt stay NULL) and the error is returned
 * for cmd_fail().
 */
int cmd_attach(int pid, struct target **t, struct py_runtime **rt);
/* Free what cmd_attach() opened (either may be NULL). */
void cmd_detach(struct target *t, struct py_runtime *rt);

/* Parse a PID argument; prints a usage error and returns 2 on failure. */
int cmd_parse_pid(const char *cmd, const char *arg, int *pid);

/*
 * The usage error for the option getopt_long() just refused (unknown,
 * or missing its value); returns 2.
 */
int cmd_option_error(const char *cmd, char **argv);

/* Report rc on stderr (one line) and return its exit status. */
int cmd_fail(int rc);

/* Print "pyspect CMD: MESSAGE" and the usage hint; return 2. */
int cmd_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Write all of buf to stdout; 0 or PS_EIO (e.g. a closed pipe). */
int cmd_write_stdout(const char *buf, size_t len);

/*
 * Is the command execvp() will run for name a "#!" script (found through
 * PATH like execvp)?  A script runs its interpreter first, which may exec
 * a Python later than any fixed grace period allows (wrapper scripts,
 * the chroot launchers of containers).  0 when not, or not found.
 */
int cmd_is_script(const char *name);

#endif /* PYSPECT_CMD_CMD_H */
