"""Benchmark: `pyspect dump` of a target with 50 threads, each 100 frames
deep, on every interpreter found.

Prints, per interpreter: the wall time of the whole command (exec to
exit, median of N runs), pyspect's CPU time (user + system, the steadier
figure on a shared machine), the time pyspect spends taking the snapshot
(its own -v figure), and the number of process_vm_readv calls and bytes
per dump.  Aim (issue 2): the whole dump under 5 ms.

    /usr/bin/python3 bench/dump.py [--pyspect build/pyspect] [--runs 30]
"""
import argparse
import os
import pathlib
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

import conftest  # noqa: E402  (interpreter discovery, Target)


def bench_one(pyspect, python, runs, tmp):
    t = conftest.Target(python, "deep.py", 50, 100, tmp=tmp)
    t.start()
    try:
        walls, cpus, snaps, reads, nbytes = [], [], [], [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = subprocess.run([pyspect, "dump", "--json", "-v",
                                str(t.pid)], capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(c1.ru_utime - c0.ru_utime + c1.ru_stime -
                        c0.ru_stime)
            if r.returncode != 0:
                raise RuntimeError(r.stderr)
            m = re.search(r"(\d+) threads in ([\d.]+) ms .*?, (\d+) reads, "
                          r"(\d+) bytes", r.stderr)
            snaps.append(float(m.group(2)))
            reads.append(int(m.group(3)))
            nbytes.append(int(m.group(4)))
        return (statistics.median(walls) * 1e3,
                statistics.median(cpus) * 1e3, statistics.median(snaps),
                statistics.median(reads), statistics.median(nbytes))
    finally:
        t.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", default=str(HERE.parent / "build" /
                                             "pyspect"))
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    import tempfile
    print("pyspect dump: 50 threads x 100 frames, median of %d runs"
          % args.runs)
    print("%-8s %9s %7s %11s %7s %9s %s" % (
        "python", "wall ms", "cpu ms", "snapshot ms", "reads", "KiB",
        "vs 5 ms aim"))
    for label, python in sorted(conftest.PYTHONS.items(),
                                key=lambda kv: kv[1].version):
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, snap, reads, nbytes = bench_one(args.pyspect, python,
                                                       args.runs, tmp)
        print("%-8s %9.2f %7.2f %11.2f %7d %9.0f %.2fx" % (
            label if label != "system" else "sys3.11", wall, cpu, snap,
            reads, nbytes / 1024, wall / 5.0))


if __name__ == "__main__":
    main()
