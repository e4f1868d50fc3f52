/*
 * term.c - raw keys and a full screen on a terminal, always given back.
 *
 * Layer: core.  The saved modes live in statics so that term_restore()
 * needs nothing from its caller: it runs from the command's normal exit,
 * from atexit() (an exit() deep in xalloc), and from signal paths.
 */
#include "core/term.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "core/error.h"
#include "core/banned.h"

/* Alternate screen on, cursor hidden; and back. */
#define TERM_ENTER "\033[?1049h\033[?25l"
#define TERM_LEAVE "\033[?25h\033[?1049l"

static struct termios term_saved;
static volatile int term_on;
static int term_in = -1, term_out = -1;
static int term_atexit;

static void
write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

int
term_start(int in_fd, int out_fd)
{
    struct termios raw;

    if (!isatty(in_fd) || tcgetattr(in_fd, &term_saved) < 0) {
        return err_set(PS_EIO, "standard input is not a terminal");
    }
    raw = term_saved;
    /* Bytes as they are typed, not echoed; signals (Ctrl-C) still on. */
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(in_fd, TCSANOW, &raw) < 0) {
        return err_set(PS_EIO, "cannot set up the terminal");
    }
    term_in = in_fd;
    term_out = out_fd;
    term_on = 1;
    if (!term_atexit) {
        atexit(term_restore);
        term_atexit = 1;
    }
    write_all(term_out, TERM_ENTER, sizeof(TERM_ENTER) - 1);
    return 0;
}

void
term_restore(void)
{
    if (!term_on) {
        return;
    }
    term_on = 0;
    write_all(term_out, TERM_LEAVE, sizeof(TERM_LEAVE) - 1);
    tcsetattr(term_in, TCSANOW, &term_saved);
}

int
term_active(void)
{
    return term_on;
}

void
term_size(int *rows, int *cols)
{
    struct winsize ws;

    *rows = 24;
    *cols = 80;
    if (term_out >= 0 && ioctl(term_out, TIOCGWINSZ, &ws) == 0 &&
        ws.ws_row > 0 && ws.ws_col > 0) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

/* One byte if one comes within timeout_ms; -1 otherwise. */
static int
read_byte(int timeout_ms)
{
    struct pollfd pfd = {term_in, POLLIN, 0};
    unsigned char c;

    if (poll(&pfd, 1, timeout_ms) <= 0 || read(term_in, &c, 1) != 1) {
        return -1;
    }
    return c;
}

int
term_key(int timeout_ms)
{
    int c, d;

    if (!term_on) {
        return TERM_KEY_NONE;
    }
    c = read_byte(timeout_ms);
    if (c < 0) {
        return TERM_KEY_NONE;
    }
    if (c != 0x1b) {
        return c;
    }
    /* ESC [ A..D (or ESC O A..D in application mode): an arrow.  The
     * rest of a sequence arrives with its ESC; a lone ESC is a key. */
    d = read_byte(20);
    if (d != '[' && d != 'O') {
        return 0x1b;
    }
    switch (read_byte(20)) {
    case 'A':
        return TERM_KEY_UP;
    case 'B':
        return TERM_KEY_DOWN;
    case 'C':
        return TERM_KEY_RIGHT;
    case 'D':
        return TERM_KEY_LEFT;
    default:
        return TERM_KEY_NONE;
    }
}

int
term_write(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(term_out >= 0 ? term_out : STDOUT_FILENO, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return err_set(PS_EIO, "cannot write to the terminal: %s",
                           strerror(n < 0 ? errno : EIO));
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}
