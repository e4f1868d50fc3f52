"""The main thread has finished its module; a non-daemon thread runs on.

The main thread is then inside threading._shutdown(), called from the
interpreter's finalisation, waiting for the survivor to end."""
import sys
import threading
import time

import _common
from _common import HOLD


def main_is_shutting_down(ident):
    frame = sys._current_frames().get(ident)
    while frame is not None:
        if frame.f_code.co_name == "_shutdown":
            return True
        frame = frame.f_back
    return False


def survivor():
    _common.gettid()
    ident = threading.main_thread().ident
    while not main_is_shutting_down(ident):
        time.sleep(0.002)
    _common.settle()
    _common.report(sys._current_frames()); HOLD.acquire()  # noqa


_common.gettid()
threading.Thread(target=survivor, name="survivor").start()
