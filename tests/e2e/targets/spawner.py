"""Oracle for short-lived threads: the main thread starts one busy worker
thread after another and joins each (argv[3] seconds of CPU each), for
argv[2] seconds; then it writes to argv[1] the CPU time each worker
spent (each measures its own with getrusage(RUSAGE_THREAD)) and its own,
and exits.  Run under `record -- ...`: every sample of work() belongs to
a worker thread, never to the main one."""
import json
import os
import resource
import sys
import threading
import time

DURATION = float(sys.argv[2])
EACH = float(sys.argv[3])
RUSAGE_THREAD = 1  # Linux; resource.RUSAGE_THREAD is missing on 2.7
spent = {}  # worker name -> its CPU time


def thread_cpu():
    r = resource.getrusage(RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


def work():
    x = 0
    t0 = thread_cpu()
    while thread_cpu() - t0 < EACH:
        for i in range(2000):
            x += i
    spent[threading.current_thread().name] = thread_cpu()


def main():
    end = time.time() + DURATION
    n = 0
    while time.time() < end:
        t = threading.Thread(target=work, name="worker-%d" % n)
        t.start()
        t.join()
        n += 1
    doc = {"workers": spent, "main_cpu": thread_cpu()}
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump(doc, f)
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])


main()
