"""A pre-forking server's shape (gunicorn): the parent forks argv[2]
Python workers, each parked in worker_park(), and starts one program
that is not Python (sleep).  Reports the workers' pids ("workers") and
the other's ("other"), and parks.  A worker leaves when its parent has
gone; the test kills the sleep."""
import os
import subprocess
import sys
import time

import _common


def worker_park(parent):
    while os.getppid() == parent:
        time.sleep(0.05)
    os._exit(0)


def main():
    parent = os.getpid()
    workers = []
    for _ in range(int(sys.argv[2])):
        pid = os.fork()
        if pid == 0:
            worker_park(parent)
        workers.append(pid)
    other = subprocess.Popen(["sleep", "600"])
    time.sleep(0.3)  # the workers are in worker_park()
    _common.report({}, {"workers": workers, "other": other.pid})
    _common.HOLD.acquire()


main()
