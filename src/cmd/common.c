/*
 * common.c - helpers every command uses: PID arguments, failures, output.
 *
 * Layer: cmd.
 */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/escape.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "python/runtime.h"
#include "target/pause.h"
#include "target/target.h"
#include "core/banned.h"

int
cmd_usage_error(const char *cmd, const char *fmt, ...)
{
    struct strbuf msg = STRBUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(&msg, fmt, ap);
    va_end(ap);
    /* Arguments are quoted back: escaped, like everything printed. */
    fprintf(stderr, "pyspect %s: %s (see pyspect %s --help)\n", cmd,
            esc(msg.buf), cmd);
    strbuf_release(&msg);
    return err_exit_status(PS_EUSAGE);
}

int
cmd_option_error(const char *cmd, char **argv)
{
    /* getopt_long() with opterr = 0 leaves the option in optopt when its
     * value is missing, and 0 for an option it does not know. */
    if (optopt != 0 && optopt != '?') {
        return cmd_usage_error(cmd, "option '%s' needs a value",
                               argv[optind - 1]);
    }
    return cmd_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int
cmd_parse_pid(const char *cmd, const char *arg, int *pid)
{
    long v;

    if (parse_long(arg, 1, 0x7fffffff, &v) < 0) {
        cmd_usage_error(cmd, "'%s' is not a process id", arg);
        return PS_EUSAGE;
    }
    *pid = (int)v;
    return 0;
}

int
cmd_attach(int pid, struct target **t, struct py_runtime **rt)
{
    int rc;

    *t = NULL;
    *rt = NULL;
    rc = target_live_open(pid, t);
    if (rc < 0) {
        return rc;
    }
    rc = py_runtime_attach(*t, rt);
    if (rc < 0) {
        target_free(*t);
        *t = NULL;
    }
    return rc;
}

void
cmd_detach(struct target *t, struct py_runtime *rt)
{
    py_runtime_free(rt);
    target_free(t);
}

int
cmd_fail(int rc)
{
    pause_end_all();
    err_report(stderr, rc);
    return err_exit_status(rc);
}

int
cmd_write_file(const char *path, const char *buf, size_t len)
{
    int fd, e;

    pause_end_all();
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        return err_set(PS_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            close(fd);
            return err_set(PS_EIO, "cannot write %s: %s", path, strerror(e));
        }
        buf += n;
        len -= (size_t)n;
    }
    /* Some file systems report a full disk only now. */
    if (close(fd) < 0) {
        return err_set(PS_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

int
cmd_write_stdout(const char *buf, size_t len)
{
    /* A reader that does not read must never hold the target stopped. */
    pause_end_all();
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return err_set(PS_EIO, "cannot write the output: %s",
                           strerror(errno));
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}
