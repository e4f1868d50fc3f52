"""Busy threads: argv[2] threads (default 2) each recurse argv[3] deep
(default 3000), return, and start again, until killed.  Frames and code
objects change under any reader all the time."""
import sys
import threading

import _common

NTHREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
DEPTH = int(sys.argv[3]) if len(sys.argv) > 3 else 3000


def down(n):
    if n > 0:
        down(n - 1)


def spin():
    _common.gettid()
    while True:
        down(DEPTH)


sys.setrecursionlimit(DEPTH + 200)
for i in range(NTHREADS):
    t = threading.Thread(target=spin, name="recurse-%d" % i)
    t.daemon = True
    t.start()
_common.report({})
HOLD = _common.HOLD
HOLD.acquire()
