"""Many threads with deep stacks, parked; exits on its own after argv[2]
seconds when given (for the "target exits while read" test)."""
import os
import sys
import time

import _common
from _common import HOLD, arrived

NTHREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
DEPTH = int(sys.argv[3]) if len(sys.argv) > 3 else 100
EXIT_AFTER = float(sys.argv[4]) if len(sys.argv) > 4 else 0


def level(n):
    if n <= 1:
        arrived()
        HOLD.acquire()
    level(n - 1)


sys.setrecursionlimit(DEPTH + 100)
for i in range(NTHREADS):
    _common.start_thread(level, "deep-%d" % i, args=(DEPTH - 3,))
_common.wait_arrivals(NTHREADS)
_common.settle()
_common.report(sys._current_frames())
if EXIT_AFTER:
    time.sleep(EXIT_AFTER)
    os._exit(0)
HOLD.acquire()
