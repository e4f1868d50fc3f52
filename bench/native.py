"""Benchmark: what native stacks cost, on every interpreter found.

1. record --native: a thread busy about 30 frames deep in a mixed stack
   (Python frames and the C frames of the interpreter under them),
   sampled at 200 Hz for a few seconds.  Per sample: pyspect's CPU time in
   the sampling rounds ("work", its -v figure: pausing, registers,
   unwinding, symbols, the Python walk), the wall time the target was
   paused, and the same two for record --blocking without --native (the
   pause alone), so the difference is what native frames add.  Aim (issue
   13): at most 150 us per sample.
2. dump --native of the lock target (tests/e2e/targets/locks.py, ten
   threads): the pause it reports.

CPU figures on a loaded machine wander: --repeat N takes the median of N
recordings of each kind, taken in turn (native, blocking, native, ...),
and --baseline OTHER_PYSPECT interleaves the same recordings by another
build (say, one of the main branch) on the same target, printed on a
line of its own, so that a change is measured against what it changes
under the same load.

    /usr/bin/python3 bench/native.py [--pyspect build/pyspect] [--quick]
                                     [--repeat N] [--baseline PYSPECT]
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

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

import conftest  # noqa: E402

TARGET = str(HERE / "targets_deep_busy.py")
RATE = 200


def start(python, depth):
    p = subprocess.Popen([python.exe, TARGET, str(depth)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "READY"
    return p


def record(pyspect, pid, seconds, out, *extra):
    """(CPU us per sample in the rounds, paused us per sample, samples,
    frames in the commonest stack)."""
    r = subprocess.run([pyspect, "record", "-v", "-f", "collapsed", "-r",
                        str(RATE), "-d", str(seconds), "-o", out] +
                       list(extra) + [str(pid)],
                       capture_output=True, text=True)
    work = float(re.search(r"sampling took ([\d.]+) us of CPU per sample",
                           r.stderr).group(1))
    samples = int(re.search(r"(\d+) samples in", r.stderr).group(1))
    m = re.search(r"paused ([\d.]+) ms in all", r.stderr)
    paused = float(m.group(1)) * 1000 / max(samples, 1) if m else 0.0
    lines = [line.rsplit(" ", 1) for line in open(out) if line.strip()]
    top = max(lines, key=lambda x: int(x[1]))[0] if lines else ""
    return work, paused, samples, top.count(";") + 1 if top else 0


def depth_for(pyspect, python, out):
    """A Python depth whose mixed stack is about 30 frames."""
    depth = 12
    for _ in range(4):
        p = start(python, depth)
        try:
            frames = record(pyspect, p.pid, 1, out, "--native")[3]
        finally:
            p.kill()
            p.wait()
        if frames == 0 or abs(frames - 30) <= 2:
            break
        # Each Python level brings its share of C frames (one evaluator
        # call per frame before 3.11, none after).
        per_level = max(1.0, frames / float(depth + 8))
        depth = max(3, depth + int(round((30 - frames) / per_level)))
    return depth


def dump_pause(pyspect, python, tmp):
    t = conftest.Target(python, "locks.py", tmp=tmp)
    try:
        t.start()
        pauses = []
        for _ in range(5):
            r = subprocess.run([pyspect, "dump", "--native", "--json",
                                str(t.pid)], capture_output=True, text=True)
            pauses.append(json.loads(r.stdout)["paused_ms"])
        return sorted(pauses)[len(pauses) // 2]
    finally:
        t.stop()


def measure(builds, pid, secs, out, repeat):
    """{build: (native cpu, native wall, frames, blocking cpu, blocking
    wall)}: medians of repeat recordings of each kind by each build, all
    taken in turn."""
    runs = dict((b, []) for b in builds)
    for _ in range(repeat):
        for b in builds:
            ncpu, nwall, _, frames = record(b, pid, secs, out, "--native")
            bcpu, bwall, _, _ = record(b, pid, secs, out, "--blocking")
            runs[b].append((ncpu, nwall, frames, bcpu, bwall))
    return dict((b, tuple(statistics.median(r[i] for r in v)
                          for i in range(5)))
                for b, v in runs.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", default=str(HERE.parent / "build" /
                                             "pyspect"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="median of this many recordings of each kind")
    ap.add_argument("--baseline", help="another pyspect to interleave "
                    "with, on a line of its own")
    args = ap.parse_args()
    secs = 1 if args.quick else 3
    pythons = sorted(conftest.PYTHONS.values(), key=lambda p: p.version)
    print("load average %.2f %.2f %.2f" % os.getloadavg())
    print("record at %d Hz, %d s%s; us per sample: CPU of pyspect's rounds "
          "and wall time paused; aim: native CPU <= 150" % (
              RATE, secs, ", median of %d" % args.repeat
              if args.repeat > 1 else ""))
    print("%-8s %6s %7s %11s %11s %13s %13s %9s" % (
        "python", "depth", "frames", "native cpu", "native wall",
        "blocking cpu", "blocking wall", "dump ms"))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "p.txt")
        for py in pythons:
            label = py.label if py.label != "system" else "sys3.11"
            depth = depth_for(args.pyspect, py, out)
            builds = [args.pyspect]
            if args.baseline:
                builds.append(args.baseline)
            p = start(py, depth)
            try:
                got = measure(builds, p.pid, secs, out,
                              max(1, args.repeat))
            finally:
                p.kill()
                p.wait()
            for b in builds:
                ncpu, nwall, frames, bcpu, bwall = got[b]
                dump_ms = dump_pause(b, py, tempfile.mkdtemp(dir=tmp))
                print("%-8s %6d %7d %11.1f %11.1f %13.1f %13.1f %9.2f%s" % (
                    label, depth, frames, ncpu, nwall, bcpu, bwall, dump_ms,
                    "  (baseline)" if b != args.pyspect else ""))
        print("load average %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
