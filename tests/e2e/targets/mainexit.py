"""The main thread has finished its module; a non-daemon thread runs on.

The main thread is then inside threading's shutdown function, called from
the interpreter's finalisation, waiting for the survivor to end: it is
threading._shutdown() on Python 3 and _MainThread._exitfunc() (which
threading._shutdown names) on 2.7.  The truth says which."""
import sys
import threading
import time

import _common
from _common import HOLD

SHUTDOWN = getattr(threading._shutdown, "__name__", "_shutdown")
MAIN = _common.get_ident()


def main_is_shutting_down(ident):
    frame = sys._current_frames().get(ident)
    while frame is not None:
        if frame.f_code.co_name == SHUTDOWN:
            return True
        frame = frame.f_back
    return False


def survivor():
    _common.gettid()
    while not main_is_shutting_down(MAIN):
        time.sleep(0.002)
    _common.settle()
    _common.report(sys._current_frames(), {"shutdown": SHUTDOWN}); HOLD.acquire()  # noqa


_common.gettid()
threading.Thread(target=survivor, name="survivor").start()
