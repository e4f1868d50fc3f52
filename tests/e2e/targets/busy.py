"""A busy main thread (hot() under outer()) and a sleeping thread, until
killed.  For record's format, mode and option tests."""
import time

import _common


def sleeper():
    _common.arrived()
    time.sleep(3600)


def hot():
    x = 0
    for i in range(1000):
        x += i
    return x


def outer():
    while True:
        hot()


_common.start_thread(sleeper, "sleeper")
_common.wait_arrivals(1)
_common.gettid()
_common.wait_blocked(list(_common.tids.values()))
_common.report({})
outer()
