"""Phases in time, for the time-ordered trace tests: the main thread
computes for PHASE seconds (compute() -> spin()), then sleeps for PHASE
seconds (rest()), over and over until killed, and appends each phase's
name and start time (time.time()) to argv[1] + ".phases" as it begins.
A second thread, "ticker", sleeps all along.  Runs on 2.7 and 3.6+.
"""
import sys
import threading
import time

import _common

PHASE = float(sys.argv[2]) if len(sys.argv) > 2 else 0.15


def spin():
    x = 0
    for i in range(2000):
        x += i
    return x


def compute(until):
    while time.time() < until:
        spin()


def rest(until):
    while True:
        left = until - time.time()
        if left <= 0:
            return
        time.sleep(left)


def ticker():
    _common.arrived()
    while True:
        time.sleep(3600)


t = threading.Thread(target=ticker, name="ticker")
t.daemon = True
t.start()
_common.wait_arrivals(1)
_common.report({})
log = open(sys.argv[1] + ".phases", "w")
while True:
    for name, phase in (("compute", compute), ("rest", rest)):
        start = time.time()
        log.write("%s %.6f\n" % (name, start))
        log.flush()
        phase(start + PHASE)
