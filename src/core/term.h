/*
 * term.h - a full-screen terminal session: raw keys in, a screen out, and
 * the terminal given back as it was whatever way the program ends.
 *
 * Layer: core.  One terminal per process (the state lives in this module,
 * so that the atexit handler and signal paths can restore it).  Keys are
 * read without echo and without waiting for Enter; Ctrl-C still sends
 * SIGINT (ISIG stays on), so the caller's handler decides how to stop.
 */
#ifndef PYSPECT_CORE_TERM_H
#define PYSPECT_CORE_TERM_H

#include <stddef.h>

/* Keys term_key() returns besides plain bytes. */
enum {
    TERM_KEY_NONE = 0,
    TERM_KEY_UP = 0x100,
    TERM_KEY_DOWN,
    TERM_KEY_LEFT,
    TERM_KEY_RIGHT,
};

/*
 * Take the terminal on in_fd (keys) and out_fd (screen): no echo, no line
 * buffering, the alternate screen, the cursor hidden.  Registers an
 * atexit() restore, so an exit() from any layer gives it back too.  0, or
 * PS_EIO when in_fd is not a terminal.
 */
int term_start(int in_fd, int out_fd);

/*
 * Give the terminal back: the saved modes, the main screen, the cursor.
 * Safe to call more than once and from a signal handler (write() and
 * tcsetattr() only).
 */
void term_restore(void);

/* Is a terminal session on (term_start() and no term_restore())? */
int term_active(void);

/* The window's size; 24x80 when unknown. */
void term_size(int *rows, int *cols);

/*
 * Wait up to timeout_ms (0: do not wait) for a key: a byte, a TERM_KEY_*
 * for the arrow keys, TERM_KEY_NONE when none came (or a signal cut the
 * wait short).
 */
int term_key(int timeout_ms);

/* Write all of buf to the screen (retrying short writes); 0 or PS_EIO. */
int term_write(const char *buf, size_t len);

#endif /* PYSPECT_CORE_TERM_H */
