"""For top: the main thread spends its time in hot() (called by
outer()), a second thread named "napper" sleeps.  The truth names hot's
function, file, first line and the lines of its body, and the kernel ids
of both threads; then the target runs until killed."""
import inspect
import sys
import time

import _common


def napper():
    _common.arrived()
    time.sleep(3600)


def hot():
    x = 0
    for i in range(2000):
        x += i * i
    return x


def outer():
    while True:
        hot()


_common.start_thread(napper, "napper")
_common.wait_arrivals(1)
main_tid = _common.gettid()
code = hot.__code__
body = inspect.getsourcelines(hot)[0]
_common.report({}, {
    "hot": {"function": code.co_name, "file": code.co_filename,
            "line": code.co_firstlineno,
            "last_line": code.co_firstlineno + len(body) - 1},
    "main_tid": main_tid,
    "tids": sorted(_common.tids.values()),
})
outer()
