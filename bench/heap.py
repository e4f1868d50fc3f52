"""Benchmark: `pyspect heap` on targets of about 128 thousand, 1 million
and 10 million objects.

Per interpreter and size it prints: the objects counted, the pause
(median and best of N runs; the target is stopped this long), pyspect's
CPU time for the walk, reads and megabytes copied from the target, that
copy over the heap's size (the census's bytes: sys.getsizeof of every
object), pyspect's peak memory (max RSS of the whole process) per object
walked, and, for comparison, how long counting the GC's objects by type
takes from inside the target (objgraph's typestats(): gc.get_objects()
and a dict, tracked objects only).  Aims (issue 11): 128K objects under
40 ms of pause, 1 million under 150 ms, bytes read at most the heap's
size; (issue 5) pyspect's memory under 64 bytes per object walked.

The machine may be shared: CPU time is the steadier figure, and the load
average is printed beside the figures.

    /usr/bin/python3 bench/heap.py [--pyspect build/pyspect] [--runs 5]
        [--pythons 3.12,system] [--sizes 128000,1000000]
        [--big 3.12,system]
"""
import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

import conftest  # noqa: E402  (interpreter discovery, Target)

VERBOSE = re.compile(
    r"paused ([\d.]+) ms \(walk ([\d.]+) ms, cpu ([\d.]+) ms.*?\), "
    r"(\d+) objects in \d+ levels, (\d+) reads, (\d+) bytes.*?"
    r"max RSS ([\d.]+) MiB")


# Pause aims by target size (issue 11, item 7).
AIM_MS = {128000: 40.0, 1000000: 150.0}


def inside_count(t):
    t.proc.stdin.write(b"count\n")
    t.proc.stdin.flush()
    line = b""
    while not line.startswith(b"counted "):
        line = t.proc.stdout.readline()
        if not line:
            raise RuntimeError("target died")
    return float(line.split()[1])


def bench_one(pyspect, python, size, runs, tmp):
    t = conftest.Target(python, "heapgrow.py", size, tmp=tmp)
    t.start(timeout=600)
    try:
        rows = []
        for _ in range(runs):
            r = subprocess.run([pyspect, "heap", "-v", "--json", "--top",
                                "1", str(t.pid)], capture_output=True,
                               text=True, timeout=600)
            if r.returncode != 0:
                raise RuntimeError(r.stderr)
            m = VERBOSE.search(r.stderr)
            rows.append([float(m.group(1)), float(m.group(3)),
                         int(m.group(4)), int(m.group(5)), int(m.group(6)),
                         float(m.group(7)), json.loads(r.stdout)["bytes"]])
            time.sleep(0.2)
        inside = statistics.median(inside_count(t) for _ in range(3))
        return rows, inside
    finally:
        t.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", default=str(HERE.parent / "build" /
                                             "pyspect"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pythons", default="",
                    help="labels for the 1M runs (default: all found)")
    ap.add_argument("--sizes", default="128000,1000000",
                    help="target sizes (objects) for every interpreter")
    ap.add_argument("--big", default="3.12,system",
                    help="labels that also get the 10M run")
    args = ap.parse_args()
    want = set(x for x in args.pythons.split(",") if x)
    big = set(x for x in args.big.split(",") if x)
    sizes = [int(x) for x in args.sizes.split(",") if x]
    print("pyspect heap: median (best) of %d runs per target; load "
          "average %.1f %.1f %.1f" % ((args.runs,) + os.getloadavg()))
    print("%-8s %10s %14s %8s %6s %8s %6s %8s %9s %11s %s" % (
        "python", "objects", "pause ms", "cpu ms", "reads", "MB read",
        "/heap", "RSS MiB", "B/object", "inside ms", "vs aims"))
    for label, python in sorted(conftest.PYTHONS.items(),
                                key=lambda kv: kv[1].version):
        for size in sizes + [10000000]:
            if size != 10000000 and want and label not in want:
                continue
            if size == 10000000 and label not in big:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                rows, inside = bench_one(args.pyspect, python, size,
                                         args.runs, tmp)
            pause = statistics.median(r[0] for r in rows)
            best = min(r[0] for r in rows)
            cpu = statistics.median(r[1] for r in rows)
            objects = rows[0][2]
            rss = max(r[5] for r in rows)
            per_object = rss * 1048576 / objects
            read_ratio = rows[0][4] / float(rows[0][6])
            aim = ""
            if size in AIM_MS:
                aim = "pause %.2fx of %d ms, " % (pause / AIM_MS[size],
                                                  AIM_MS[size])
            aim += "memory %.2fx of 64 B" % (per_object / 64.0)
            print("%-8s %10d %7.1f (%5.1f) %8.1f %6d %8.1f %5.2fx %8.1f "
                  "%9.1f %11.1f %s" % (
                      label if label != "system" else "sys3.11", objects,
                      pause, best, cpu, rows[0][3], rows[0][4] / 1e6,
                      read_ratio, rss, per_object, inside * 1e3, aim),
                  flush=True)
    print("load average after: %.1f %.1f %.1f" % os.getloadavg())


if __name__ == "__main__":
    main()
