"""Benchmark: what `pyspect top` costs while it watches, on every
interpreter found (or --python LABEL).

pyspect top runs for --seconds against a target of 20 threads all running
Python (targets_threads.py), at the default rate (100 Hz) and interval
(1 s), its snapshots going to a pipe.  Two shares of one core: "all",
its CPU time (user + system, from getrusage of the finished child) over
its wall time, start-up included; and "steady", the CPU time its threads
had (schedstat, in ns) from 2 s in to 0.5 s before the end, over that
time: what watching costs once it runs.  Aim (issue 15): under 2% in cpu
mode.  Wall mode samples all 20 threads every round (cpu mode only those
on a CPU), so it is shown too.

    /usr/bin/python3 bench/top.py [--pyspect build/pyspect] [--quick]
        [--python 3.12] [--seconds 10] [--repeat 3]
"""
import argparse
import os
import pathlib
import resource
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

import conftest  # noqa: E402

TARGET = str(HERE / "targets_threads.py")


def cpu_ns(pid):
    """The CPU time all threads of pid have had, in ns (schedstat)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def top_cost(pyspect, pid, mode, seconds):
    """pyspect top's CPU time, its wall time, its steady share of a core
    (None for runs too short to tell) and its last snapshot's count."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen([pyspect, "top", "--mode", mode, "-d",
                          str(seconds), str(pid)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    steady = None
    try:
        if seconds >= 4:
            time.sleep(2)
            c0, s0 = cpu_ns(p.pid), time.monotonic()
            time.sleep(seconds - 2.5)
            c1, s1 = cpu_ns(p.pid), time.monotonic()
            steady = 100.0 * (c1 - c0) / 1e9 / (s1 - s0)
        out, err = p.communicate()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError("pyspect top failed: %s" % err)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    last = out.split("pyspect top - pid ")[-1]
    samples = [l for l in last.splitlines() if l.startswith("Samples:")]
    return cpu, wall, steady, samples[0] if samples else "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", default=str(HERE.parent / "build" /
                                             "pyspect"))
    ap.add_argument("--python", action="append",
                    help="only these labels (3.12, system...)")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each mode, taken in turn")
    args = ap.parse_args()
    secs = 5 if args.quick else args.seconds
    pythons = sorted(conftest.PYTHONS.values(), key=lambda p: p.version)
    if args.python:
        pythons = [p for p in pythons if p.label in args.python]
    print("load average before: %s" % open("/proc/loadavg").read().strip())
    print("%-8s %-5s %9s %9s %8s %8s  %s" % (
        "python", "mode", "cpu s", "wall s", "all %", "steady %",
        "last snapshot"))
    for python in pythons:
        p = subprocess.Popen([python.exe, TARGET, "20"],
                             stdout=subprocess.PIPE, text=True)
        try:
            if p.stdout.readline().strip() != "READY":
                print("%-8s target did not start" % python.label)
                continue
            conftest.wait_interpreter(python, p.pid)
            for mode in ("cpu", "wall") * args.repeat:
                cpu, wall, steady, samples = top_cost(args.pyspect, p.pid,
                                                      mode, secs)
                print("%-8s %-5s %9.3f %9.2f %7.2f%% %7s%%  %s" %
                      (python.label, mode, cpu, wall, 100 * cpu / wall,
                       "%.2f" % steady if steady is not None else "-",
                       samples), flush=True)
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
    print("load average after: %s" % open("/proc/loadavg").read().strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
