"""Benchmark target: one thread busy at a fixed stack depth (argv[1]),
forever; or, with argv[2] = seconds of work to time, a fixed amount of
CPU work whose wall time it prints ("work <seconds>") before exiting.
Runs on CPython 2.7 and 3.6+."""
import sys
import time

clock = getattr(time, "perf_counter", time.time)


def spin(n):
    x = 0
    for i in range(n):
        x += i
    return x


def descend(depth, work):
    if depth > 1:
        return descend(depth - 1, work)
    return work()


def forever():
    while True:
        spin(1000)


def fixed():
    t0 = clock()
    for _ in range(int(sys.argv[2])):
        spin(1000)
    sys.stdout.write("work %.6f\n" % (clock() - t0))
    sys.stdout.flush()


depth = int(sys.argv[1])
sys.setrecursionlimit(depth + 100)
sys.stdout.write("READY\n")
sys.stdout.flush()
descend(depth - 2, fixed if len(sys.argv) > 2 else forever)
