"""Oracle for accuracy: fast() and slow() do 1x and 2x the same work, in
turn; the target adds up the CPU time it spends in each with
time.thread_time() and, after argv[2] seconds, writes the totals to
argv[1] and exits."""
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


def main():
    t_fast = t_slow = 0.0
    # time.thread_time() is 3.7+; it is this clock.
    clock = getattr(time, "thread_time", None) or (
        lambda: time.clock_gettime(time.CLOCK_THREAD_CPUTIME_ID))
    print("READY", flush=True)
    end = time.monotonic() + DURATION
    while time.monotonic() < end:
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
