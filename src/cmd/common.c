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
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
    return PS_EUSAGE;
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
        return cmd_usage_error(cmd, "'%s' is not a process id", arg);
    }
    *pid = (int)v;
    return 0;
}

int
cmd_target_option(const char *cmd, int c, const char *arg,
                  struct cmd_target *t)
{
    switch (c) {
    case 'p':
        return cmd_parse_pid(cmd, arg, &t->pid) < 0 ? PS_EUSAGE : 1;
    case CMD_OPT_CORE:
        t->core = arg;
        return 1;
    case CMD_OPT_EXECUTABLE:
        t->executable = arg;
        return 1;
    case CMD_OPT_SYSROOT:
        t->sysroot = arg;
        return 1;
    default:
        return 0;
    }
}

int
cmd_target_command(const char *cmd, int *argc, char **argv,
                   struct cmd_target *t)
{
    int i;

    for (i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            if (i + 1 >= *argc) {
                return cmd_usage_error(cmd, "no command after --");
            }
            t->command = argv + i + 1;
            *argc = i;
            break;
        }
    }
    return 0;
}

int
cmd_target_finish(const char *cmd, int argc, char **argv, unsigned flags,
                  struct cmd_target *t)
{
    const char *or_command =
        flags & CMD_TARGET_LAUNCH ? ", or a command after --" : "";
    int named = (t->pid != 0) + (t->core != NULL) + (t->command != NULL);

    if (optind < argc) {
        if (t->core != NULL) {
            return cmd_usage_error(cmd,
                                   "give a process id or --core, not both");
        }
        if (named > 0 || optind + 1 < argc) {
            return cmd_usage_error(cmd, "give one process id%s", or_command);
        }
        if (cmd_parse_pid(cmd, argv[optind], &t->pid) < 0) {
            return PS_EUSAGE;
        }
        named++;
    }
    if (t->pid != 0 && t->core != NULL) {
        return cmd_usage_error(cmd, "give a process id or --core, not both");
    }
    if (named > 1) {
        return cmd_usage_error(cmd, "give a process id or a command, not "
                                    "both");
    }
    if ((t->executable != NULL || t->sysroot != NULL) && t->core == NULL) {
        return cmd_usage_error(cmd,
                               "--executable and --sysroot go with --core");
    }
    if (named == 0) {
        return cmd_usage_error(cmd, "which process? give a PID%s", or_command);
    }
    return 0;
}

int
cmd_open(const struct cmd_target *spec, struct target **t,
         struct py_runtime **rt)
{
    struct target_core_options copt = {spec->executable, spec->sysroot};
    int rc;

    *t = NULL;
    *rt = NULL;
    if (spec->core != NULL) {
        rc = target_core_open(spec->core, &copt, t);
    } else {
        rc = target_live_open(spec->pid, t);
    }
    if (rc < 0) {
        return rc;
    }
    rc = py_runtime_attach(*t, rt);
    if ((*t)->partial != NULL) {
        /* What is missing may be what stopped the attach: say that
         * rather than its symptom. */
        if (rc < 0 && rc != PS_EPERM) {
            rc = err_set((*t)->partial_error ? (*t)->partial_error : rc, "%s",
                         (*t)->partial);
        } else if (rc == 0) {
            fprintf(stderr, "pyspect: warning: %s; answers are partial\n",
                    esc((*t)->partial));
        }
    }
    if (rc < 0) {
        target_free(*t);
        *t = NULL;
    }
    return rc;
}

int
cmd_attach(int pid, struct target **t, struct py_runtime **rt)
{
    struct cmd_target spec = {pid, NULL, NULL, NULL, NULL};

    return cmd_open(&spec, t, rt);
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

int
cmd_output_open(const char *path, int *fd, int *created)
{
    if (strcmp(path, "-") == 0) {
        *created = 0;
        *fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        if (*fd < 0) {
            return err_set(PS_EIO, "cannot write to standard output: %s",
                           strerror(errno));
        }
        return 0;
    }
    *created = 1;
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (*fd < 0 && errno == EEXIST) {
        *created = 0;
        *fd = open(path, O_WRONLY | O_CLOEXEC);
    }
    if (*fd < 0) {
        return err_set(PS_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

int
cmd_output_write(int fd, const char *path, const struct strbuf *sb)
{
    struct stat st;
    size_t done = 0;
    int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);

    /* A regular file is rewritten from its start; a pipe or a device
     * (-o /dev/stdout) is written to as it is. */
    if (regular && ftruncate(fd, 0) < 0) {
        return err_set(PS_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    while (done < sb->len) {
        ssize_t n =
            regular ? pwrite(fd, sb->buf + done, sb->len - done, (off_t)done)
                    : write(fd, sb->buf + done, sb->len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return err_set(PS_EIO, "cannot write %s: %s", path,
                           strerror(n < 0 ? errno : ENOSPC));
        }
        done += (size_t)n;
    }
    return 0;
}

int
cmd_output_append(int fd, const char *path, int *started,
                  const struct strbuf *sb)
{
    struct stat st;
    size_t done = 0;

    if (!*started) {
        *started = 1;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            ftruncate(fd, 0) < 0) {
            return err_set(PS_EIO, "cannot write %s: %s", path,
                           strerror(errno));
        }
    }
    while (done < sb->len) {
        ssize_t n = write(fd, sb->buf + done, sb->len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return err_set(PS_EIO, "cannot write %s: %s", path,
                           strerror(n < 0 ? errno : ENOSPC));
        }
        done += (size_t)n;
    }
    return 0;
}

static int
file_is_script(const char *path)
{
    char magic[2];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        return 0;
    }
    n = read(fd, magic, sizeof(magic));
    close(fd);
    return n == 2 && magic[0] == '#' && magic[1] == '!';
}

int
cmd_is_script(const char *name)
{
    const char *path = getenv("PATH"), *p;
    struct strbuf file = STRBUF_INIT;
    int found = 0;

    if (strchr(name, '/') != NULL) {
        return file_is_script(name);
    }
    for (p = path ? path : "/usr/bin:/bin"; !found && *p != '\0';) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);

        strbuf_reset(&file);
        strbuf_addf(&file, "%.*s/%s", (int)len, len ? p : ".", name);
        if (access(file.buf, X_OK) == 0) {
            found = 1;
        }
        p += colon ? len + 1 : len;
    }
    found = found && file_is_script(file.buf);
    strbuf_release(&file);
    return found;
}

int
cmd_parse_duration(const char *cmd, const char *arg, double *out)
{
    if (parse_double(arg, out) < 0 || *out <= 0) {
        return cmd_usage_error(cmd,
                               "duration '%s' is not a positive number of "
                               "seconds",
                               arg);
    }
    return 0;
}
