"""A target with one thread spinning in pure Python and the rest parked:
the spinner holds the GIL and is on a CPU; the others are idle."""
import sys
import time

import _common
from _common import HOLD, arrived


spin_ident = []


def spin():
    spin_ident.append(_common.get_ident())
    arrived()
    x = 0
    while True:
        x += 1


def sleeper():
    arrived()
    time.sleep(3600)


_common.start_thread(spin, "spinner")
for i in range(3):
    _common.start_thread(sleeper, "sleeper-%d" % i)
_common.wait_arrivals(4)
_common.gettid()
_common.wait_blocked([tid for ident, tid in _common.tids.items()
                      if ident != spin_ident[0]])
_common.report(sys._current_frames()); HOLD.acquire()  # noqa
