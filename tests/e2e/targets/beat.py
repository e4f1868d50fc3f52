"""A target that keeps working: a thread counts, a million times a second
at most, into a shared counter the test reads from outside (argv[2], an
8-byte file mapped by both), while the main thread parks in time.sleep.
Holds objects of a class Item for heap --refs, and of 400 classes.  For the signal
tests: the target must never be left stopped, and must keep counting."""
import ctypes
import mmap
import os
import sys
import threading
import time

import _common


class Item(object):
    def __init__(self, n):
        self.n = n


ITEMS = [Item(i) for i in range(2000)]
# Many types: heap's output is larger than a small pipe.
KINDS = [type("Kind%d" % i, (object,), {})() for i in range(400)]
fd = os.open(sys.argv[2], os.O_RDWR)
shared = mmap.mmap(fd, 8)
counter = ctypes.c_uint64.from_buffer(shared)


def work():
    _common.arrived()
    while True:
        counter.value += 1
        time.sleep(0.0005)


t = threading.Thread(target=work, name="worker")
t.daemon = True
t.start()
_common.wait_arrivals(1)
_common.report({})
while True:
    time.sleep(0.05)
