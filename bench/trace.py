"""Benchmark: pyspect's own memory while it records a trace (-f trace).

A trace keeps every sample in time order, so its size grows with the
recording; pyspect's memory must not (PRODUCT.md, bounded cost).  This
records the 20-thread service of bench/push.py (targets_service.py) in
wall mode (all 20 stacks every round) at a high rate, so that a short
run holds as many samples as a long one at 100 Hz, for two durations,
and prints for each: the samples taken, the trace's size, pyspect's RSS
every few seconds, and its peak RSS (the kernel's ru_maxrss of the
finished process, which includes writing the trace out).  Flat means
the peak of the long run is about that of the short one.

The machine may be shared: the load average is printed beside the
figures.

    /usr/bin/python3 bench/trace.py [--pyspect build/pyspect] [--quick]
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
SERVICE = str(HERE / "targets_service.py")

# Runs pyspect and prints its peak RSS (KiB) as the kernel kept it: a
# process of its own, so that no other child's peak is mixed in.
PEAK = ("import resource, subprocess, sys\n"
        "rc = subprocess.call(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(rc)\n")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pyspect_pid(wrapper):
    """The pid of the wrapper's child (pyspect), once it exists."""
    for _ in range(200):
        try:
            with open("/proc/%d/task/%d/children" % (wrapper, wrapper)) as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except OSError:
            pass
        time.sleep(0.01)
    return None


def run(pyspect, target, rate, seconds, out):
    """(samples, trace bytes, [RSS KiB over time], peak RSS KiB)."""
    cmd = [sys.executable, "-c", PEAK, pyspect, "record", "-q", "--mode",
           "wall", "-r", str(rate), "-d", str(seconds), "-f", "trace", "-o",
           out, str(target)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    rss = []
    child = pyspect_pid(p.pid)
    while p.poll() is None and child is not None:
        time.sleep(seconds / 8)
        try:
            r = rss_kib(child)
        except OSError:
            break
        if r > 0:
            rss.append(r)
    peak = int(p.communicate()[0].split()[-1])
    if p.returncode != 0:
        sys.exit("pyspect failed (%d)" % p.returncode)
    with open(out) as f:
        doc = json.load(f)
    return doc["otherData"]["samples"], os.path.getsize(out), rss, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", default=str(HERE.parent / "build" /
                                             "pyspect"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rate = 1000
    durations = (5, 20) if args.quick else (10, 60)
    target = subprocess.Popen([args.python, SERVICE],
                              stdout=subprocess.PIPE, text=True)
    try:
        target.stdout.readline()
        print("record -f trace --mode wall -r %d of a 20-thread service "
              "(load %.1f)" % (rate, os.getloadavg()[0]))
        peaks = []
        with tempfile.TemporaryDirectory() as tmp:
            for s in durations:
                out = os.path.join(tmp, "t.trace.json")
                n, size, rss, peak = run(args.pyspect, target.pid, rate, s,
                                         out)
                peaks.append(peak)
                print("  %3d s: %8d samples, trace %6.1f MB, RSS %s KiB, "
                      "peak %d KiB (load %.1f)"
                      % (s, n, size / 1e6, " ".join(str(r) for r in rss),
                         peak, os.getloadavg()[0]))
        print("  peak RSS, %d s / %d s: %.2fx"
              % (durations[1], durations[0], peaks[1] / peaks[0]))
    finally:
        target.kill()
        target.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
