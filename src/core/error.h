/*
 * error.h - project error codes, their messages and exit statuses.
 *
 * Layer: core.  Functions return 0 or a negative PS_E* code; results go
 * through out-parameters.  A low layer may attach one line of context with
 * err_set() (for example "cannot read pid 4242"); it never prints.  The
 * command layer turns the code and the context into the one line the user
 * sees (err_report()) and the exit status (err_exit_status()).
 */
#ifndef PYSPECT_CORE_ERROR_H
#define PYSPECT_CORE_ERROR_H

#include <stdio.h>

enum err_class {
    ERR_CLASS_USAGE,     /* the command line is wrong */
    ERR_CLASS_FATAL,     /* retrying will not help */
    ERR_CLASS_TRANSIENT, /* the target changed under us: retry or drop */
};

/*
 * X(code, value, class, exit status, message, hint).  Exit statuses are
 * part of the user contract (docs/pyspect.1): 0 success, 2 usage, then one
 * per failure kind.
 */
/* clang-format off */
#define PS_ERRORS(X)                                                          \
    X(PS_EUSAGE, -1, ERR_CLASS_USAGE, 2, "invalid usage",                    \
      "see pyspect --help")                                                  \
    X(PS_ENOMEM, -2, ERR_CLASS_FATAL, 1, "out of memory", NULL)              \
    X(PS_ENOPROC, -3, ERR_CLASS_FATAL, 3, "no such process",                 \
      "check the pid with ps")                                               \
    X(PS_EPERM, -4, ERR_CLASS_FATAL, 4, "permission denied",                 \
      "run as root or as the target's user, and allow ptrace: sysctl "       \
      "kernel.yama.ptrace_scope=0, or grant CAP_SYS_PTRACE")                 \
    X(PS_ENOTPY, -5, ERR_CLASS_FATAL, 5,                                     \
      "not a Python process", "no CPython runtime is loaded in it")          \
    X(PS_EVERSION, -6, ERR_CLASS_FATAL, 6, "unsupported Python version",     \
      "pyspect supports CPython 2.7 and 3.6 to 3.15")                        \
    X(PS_ENOTREADY, -7, ERR_CLASS_TRANSIENT, 7,                              \
      "the Python interpreter is not ready yet",                             \
      "it is still starting up or already shutting down; try again")         \
    X(PS_EEXITED, -8, ERR_CLASS_FATAL, 8, "the target process exited",      \
      NULL)                                                                  \
    X(PS_EZOMBIE, -9, ERR_CLASS_FATAL, 9,                                    \
      "the process is a zombie (it has exited)",                            \
      "its parent has not reaped it; there is no memory left to read")      \
    X(PS_EFAULT, -10, ERR_CLASS_TRANSIENT, 10,                               \
      "read of unmapped memory (the target changed while being read)",       \
      "try again, or use --blocking")                                        \
    X(PS_ECHANGED, -11, ERR_CLASS_TRANSIENT, 10,                             \
      "the target changed while being read", "try again, or use --blocking") \
    X(PS_ECORRUPT, -12, ERR_CLASS_TRANSIENT, 10,                             \
      "inconsistent data in the target",                                     \
      "its memory does not look like a CPython runtime of that version")    \
    X(PS_EIO, -13, ERR_CLASS_FATAL, 11, "input/output error", NULL)          \
    X(PS_EELF, -14, ERR_CLASS_FATAL, 5, "cannot read the ELF file", NULL)    \
    X(PS_ENOTFOUND, -15, ERR_CLASS_FATAL, 1, "not found", NULL)              \
    X(PS_EINTERNAL, -16, ERR_CLASS_FATAL, 1, "internal error",               \
      "please report this as a pyspect bug")                                 \
    X(PS_ECOMMAND, -18, ERR_CLASS_FATAL, 12, "cannot run the command",     \
      "check its name and that it is a Python program")                     \
    X(PS_ELIMIT, -17, ERR_CLASS_TRANSIENT, 10,                               \
      "a walk over target memory hit its bound",                             \
      "the structure is too large or corrupt")                               \
    X(PS_ETRACED, -19, ERR_CLASS_FATAL, 13,                                  \
      "the target is traced by another process",                             \
      "a debugger or tracer (gdb, strace) holds it: detach it first; "       \
      "pyspect dump without --blocking can still read it")                   \
    X(PS_ESTUCK, -20, ERR_CLASS_FATAL, 14,                                   \
      "a thread of the target would not stop",                               \
      "it is in uninterruptible sleep (state D), e.g. on a hung file "       \
      "system; try again later")                                            \
    X(PS_ENOTCORE, -21, ERR_CLASS_FATAL, 15, "not a core file",             \
      "give an ELF core file: gcore PID, or coredumpctl dump -o FILE")      \
    X(PS_ETRUNCATED, -22, ERR_CLASS_FATAL, 16,                               \
      "the core file is truncated",                                          \
      "take it again; a core size limit or a full disk can cut it short")   \
    X(PS_EARCH, -23, ERR_CLASS_FATAL, 17,                                    \
      "the core file is from another architecture",                          \
      "pyspect reads x86-64 cores")                                          \
    X(PS_ENOTINCORE, -24, ERR_CLASS_FATAL, 16,                               \
      "memory the core file does not hold",                                  \
      "its writer could not read it: gdb's gcore leaves out the rest of a "  \
      "mapping after a failed read (a thread stack's guard page)")           \
    X(PS_EUNSAFE, -25, ERR_CLASS_FATAL, 18,                                  \
      "code cannot be run inside the target safely now",                    \
      "alloc -p needs a thread blocked in a system call (sleeping, waiting " \
      "for I/O); try when the program waits, or start it under pyspect "     \
      "alloc -- COMMAND")
/* clang-format on */

enum ps_error {
#define PS_ERR_ENUM(code, value, cls, status, msg, hint) code = value,
    PS_ERRORS(PS_ERR_ENUM)
#undef PS_ERR_ENUM
};

/*
 * Record one line of context for the error being returned, and return
 * code, so a caller can write `return err_set(PS_ENOPROC, "pid %d", pid);`.
 * The context is per thread and replaced by the next call.
 */
int err_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Forget any recorded context. */
void err_clear(void);

/* The recorded context, "" when none. */
const char *err_context(void);

const char *err_message(int code);
const char *err_hint(int code);
enum err_class err_class(int code);
int err_exit_status(int code);
/* The code's symbolic name, "PS_ENOPROC"; for JSON and debug output. */
const char *err_name(int code);

/*
 * Print "pyspect: <context>: <message> (<hint>)" as one line to stream.
 */
void err_report(FILE *stream, int code);

#endif /* PYSPECT_CORE_ERROR_H */
