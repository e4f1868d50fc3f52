"""Oracle for accuracy: fast() and slow() do 1x and 2x the same work, in
turn; the target adds up the CPU time it spends in each by its own clock
and, after argv[2] seconds, writes the totals to argv[1] and exits.

The clock is the thread's CPU time (time.thread_time(), 3.7+; the same
clock through clock_gettime on 3.6) and, on 2.7, time.clock(): the
process's CPU time, which is this one thread's here."""
import json
import os
import sys
import time

DURATION = float(sys.argv[2])


def work(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def fast():
    return work(3000)


def slow():
    return work(6000)


def cpu_clock():
    clock = getattr(time, "thread_time", None)
    if clock is None and hasattr(time, "clock_gettime"):
        def clock():
            return time.clock_gettime(time.CLOCK_THREAD_CPUTIME_ID)
    return clock or time.clock


def main():
    t_fast = t_slow = 0.0
    clock = cpu_clock()
    wall = getattr(time, "monotonic", time.time)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    end = wall() + DURATION
    while wall() < end:
        t0 = clock()
        fast()
        t1 = clock()
        slow()
        t2 = clock()
        t_fast += t1 - t0
        t_slow += t2 - t1
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump({"fast": t_fast, "slow": t_slow}, f)
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])


main()
