/*
 * main.c - pyspect's entry point: global options and the command table.
 *
 * Layer: top.  Looks up the command in commands[] (after git.c) and hands
 * it the rest of the command line, then checks that standard output was
 * written.  Exit statuses are documented in docs/pyspect.1: 0 success, 2
 * usage, other values per failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/error.h"
#include "core/escape.h"
#include "core/banned.h"

#ifndef PYSPECT_VERSION
#define PYSPECT_VERSION "unknown"
#endif

struct cmd_struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct cmd_struct commands[] = {
    {"alloc", cmd_alloc,
     "which lines allocate the memory that stays (runs code inside it)"},
    {"dump", cmd_dump, "print every thread's Python stack, right now"},
    {"heap", cmd_heap, "objects by type, their growth, who holds them"},
    {"mem", cmd_mem, "where the memory is, and why RSS stays high"},
    {"record", cmd_record,
     "sample stacks over time: flame graph, speedscope, table"},
    {"top", cmd_top, "a live view of the hottest functions, like top"},
};

static void
usage(FILE *stream)
{
    size_t i;

    fputs("usage: pyspect COMMAND [options] PID\n"
          "       pyspect --version | --help | help COMMAND\n"
          "\n"
          "Look inside a running CPython 2.7 or 3.6-3.15 process: what every\n"
          "thread is doing, where time and memory go.  Read-only: nothing\n"
          "runs inside the target, except with alloc, which loads a tracker\n"
          "into the program it starts (or, with -p, into a running one).  A\n"
          "process in a container is read from the host by its host pid:\n"
          "its files are opened through /proc/PID/root and\n"
          "/proc/PID/map_files, never by the names it sees.\n"
          "\n"
          "commands:\n",
          stream);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(stream, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
    fputs("\nRun 'pyspect COMMAND --help' for a command's options.\n", stream);
}

/*
 * After a command (after git's run_builtin()): what it wrote through
 * stdio must have reached standard output; a full disk or a closed pipe
 * is a failure, not a silent success.
 */
static int
finish_stdout(int status)
{
    int failed = fflush(stdout) != 0 || ferror(stdout);

    if (fclose(stdout) != 0) {
        failed = 1;
    }
    if (failed && status == 0) {
        status = cmd_fail(
            err_set(PS_EIO, "cannot write the output: %s", strerror(errno)));
    }
    return status;
}

static int
run_command(const struct cmd_struct *cmd, int argc, char **argv)
{
    return finish_stdout(cmd->fn(argc, argv));
}

static const struct cmd_struct *
find_command(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    const struct cmd_struct *cmd;

    /* A closed pipe on stdout is reported as a write error, not a
     * silent death. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return err_exit_status(PS_EUSAGE);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return finish_stdout(0);
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("pyspect %s\n", PYSPECT_VERSION);
        return finish_stdout(0);
    }
    if (strcmp(argv[1], "help") == 0) {
        char help[] = "--help";
        char *help_argv[] = {argv[2], help, NULL};

        if (argc < 3) {
            usage(stdout);
            return finish_stdout(0);
        }
        cmd = find_command(argv[2]);
        if (cmd != NULL) {
            return run_command(cmd, 2, help_argv);
        }
    } else {
        cmd = find_command(argv[1]);
        if (cmd != NULL) {
            return run_command(cmd, argc - 1, argv + 1);
        }
    }
    fprintf(
        stderr, "pyspect: '%s' is not a command (see pyspect --help)\n",
        esc(argc >= 3 && strcmp(argv[1], "help") == 0 ? argv[2] : argv[1]));
    return err_exit_status(PS_EUSAGE);
}
