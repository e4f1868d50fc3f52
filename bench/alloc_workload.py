"""An allocation-heavy Python workload of fixed size, for bench/alloc.py.

Many small dicts, lists, tuples and strings, some 1 KiB bytes, a little
kept and the rest dropped, with a call stack a few frames deep, as a web
handler or a parser would have.  Runs on Python 2.7 and 3.6+.

usage: alloc_workload.py [ROUNDS] [thread]

With "thread", a second thread waits, idle, while the work runs: the
process has two threads, as a service has, and the tracker then takes
its lock on every recorded allocation and free.

Prints "work SECONDS ...": the CPU time of the work itself.

With ALLOC_WORKLOAD_HOOK=PATH (build/hookfloor.so), a hook that only
adds up the bytes is put in front of Python's allocators before the
work: what hooking them costs at all (bench/hookfloor.c).
"""
import os
import sys
import time


def make_record(i):
    name = "item-%d" % i
    tags = [name, str(i), "x" * (i % 40)]
    return {"id": i, "name": name, "tags": tags, "pos": (i, i + 1)}


def render(record):
    parts = []
    for key in sorted(record):
        parts.append("%s=%r" % (key, record[key]))
    return ";".join(parts)


def handle(i, kept):
    record = make_record(i)
    text = render(record)
    if i % 16 == 0:
        payload = bytes(bytearray(1024))
        kept.append(payload)
    if i % 64 == 0:
        kept.append(record)
    return len(text)


def clock():
    # CPU time of the process: what the work costs, whatever else runs.
    if hasattr(time, "process_time"):
        return time.process_time()
    return time.clock()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    idle = None
    if len(sys.argv) > 2 and sys.argv[2] == "thread":
        import threading
        done = threading.Event()
        idle = threading.Thread(target=done.wait)
        idle.start()
    hook = os.environ.get("ALLOC_WORKLOAD_HOOK")
    if hook:
        import ctypes
        ctypes.PyDLL(hook).pyspect_hookfloor_install()
    kept = []
    total = 0
    t0 = clock()
    for i in range(rounds):
        total += handle(i, kept)
        if len(kept) > 4096:
            del kept[:2048]
    work = clock() - t0
    if idle is not None:
        done.set()
        idle.join()
    sys.stdout.write("work %.6f result %d %d\n" % (work, total, len(kept)))


if __name__ == "__main__":
    main()
