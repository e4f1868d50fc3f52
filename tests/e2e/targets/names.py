"""Threads parked in functions whose co_filename is whatever the test
names (argv[2:]): files the target may or may not read, a FIFO, a
device, a directory.  Each function's parking call is on line 4 of its
"file"; thread i is named "file-i".  For the tests of which source lines
pyspect shows: only those the target itself could read."""
import sys
import threading

import _common
from _common import HOLD, arrived

SOURCE = "\n\ndef park():\n    arrived(); HOLD.acquire()\n"
names = sys.argv[2:]
for i, name in enumerate(names):
    scope = {"arrived": arrived, "HOLD": HOLD}
    exec(compile(SOURCE, name, "exec"), scope)
    t = threading.Thread(target=scope["park"], name="file-%d" % i)
    t.daemon = True
    t.start()
_common.wait_arrivals(len(names))
_common.settle()
_common.report(sys._current_frames())
HOLD.acquire()
