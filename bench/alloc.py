"""Benchmark: what `pyspect alloc` costs the program, and how close it is.

1. Slowdown.  An allocation-heavy workload of fixed size
   (alloc_workload.py: small dicts, lists, tuples and strings, some 1 KiB
   bytes) runs plain, under `pyspect alloc` sampled (the default) and
   with --all, and under tracemalloc (PYTHONTRACEMALLOC=1: one frame,
   its cheapest setting, and 25 frames), in interleaved rounds: each
   round runs every variant once, in a rotating order, so load on a
   shared machine hits them alike.  Two figures per run: "work", the
   CPU time of the workload's loop measured inside it, and "total", the
   CPU time of the whole process tree (startup, pyspect itself and the
   tracker's teardown included) from the kernel.  Ratios are the median
   over rounds of the run's figure over the plain run's of the same
   round.  Aims (issue 14): sampled at most 1.05, --all at most 1.5.
   "any hook (pass-through)" runs the plain workload with a hook in
   front of Python's allocators that only adds up the bytes
   (bench/hookfloor.c, built as build/hookfloor.so; 3.5+): the least
   any tracker that sees Python's allocations costs, the floor under
   the sampled figure.  On an interpreter built with profile feedback
   (Debian's) that floor is most of the sampled cost.
   "--all, 2 threads" runs the workload with a second thread waiting
   idle: the tracker skips its lock in a process of one thread only.
   With --instructions (valgrind installed), also the instructions each
   variant executes, counted by callgrind over a smaller workload: a
   figure the load on a shared machine does not move.
2. Accuracy.  The e2e truth target (tests/e2e/targets/alloctruth.py)
   allocates known bytes at known lines, here scaled up eightfold (64 MB
   of 200-byte objects, 33 MB of 10 KiB buffers, a thread's 64 MB, 1 MiB
   buffers); pyspect sampled (default rate), pyspect --all and
   tracemalloc report them; per line, the reported live and allocated
   bytes over the truth.  Aims: sampled within 10%, --all within 2%.
   Sampled, the expected relative error of a line of B bytes is about
   sqrt(sample_bytes / B): 3% for 64 MB at the default 64 KiB.

    /usr/bin/python3 bench/alloc.py [--pyspect build/pyspect]
        [--python 3.12] [--rounds 15] [--work 300000] [--quick]
"""
import argparse
import json
import os
import pathlib
import re
import resource
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

import conftest  # noqa: E402

WORKLOAD = str(HERE / "alloc_workload.py")
HOOKFLOOR = HERE.parent / "build" / "hookfloor.so"
TRUTH = str(HERE.parent / "tests" / "e2e" / "targets" / "alloctruth.py")


def variant(cmd, env=None):
    """(work seconds, total CPU seconds) of one run.  The total is the
    CPU time of the whole process tree: the children's rusage grows by
    the run's, pyspect's and the program's under it alike."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, capture_output=True, env=env, timeout=600)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (
            cmd[0], p.returncode, p.stderr.decode()[-2000:]))
    total = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    work = float(re.search(r"work ([\d.]+)", p.stdout.decode()).group(1))
    return work, total


def slowdown(pyspect, python, rounds, work):
    base = [python.exe, WORKLOAD, str(work)]
    env = dict(os.environ)
    env.pop("PYTHONTRACEMALLOC", None)
    tm1 = dict(env, PYTHONTRACEMALLOC="1")
    tm25 = dict(env, PYTHONTRACEMALLOC="25")
    variants = [
        ("plain", base, env),
        ("alloc sampled", [pyspect, "alloc", "-q", "--json", "--"] + base,
         env),
        ("alloc --all", [pyspect, "alloc", "-q", "--all", "--json", "--"] +
         base, env),
        ("alloc --all, 2 threads", [pyspect, "alloc", "-q", "--all",
                                    "--json", "--"] + base + ["thread"],
         env),
        ("tracemalloc 1 frame", base, tm1),
        ("tracemalloc 25 frames", base, tm25),
    ]
    if HOOKFLOOR.exists() and python.version >= (3, 5):
        variants.insert(1, ("any hook (pass-through)", base,
                            dict(env, ALLOC_WORKLOAD_HOOK=str(HOOKFLOOR))))
    runs = {name: [] for name, _, _ in variants}
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for name, cmd, e in order:
            runs[name].append(variant(cmd, e))
    plain = runs["plain"]
    print("  %-23s %9s %7s %9s %7s" % ("", "work s", "ratio", "total s",
                                       "ratio"))
    result = {}
    for name, _, _ in variants:
        w = [x[0] for x in runs[name]]
        t = [x[1] for x in runs[name]]
        rw = statistics.median(x[0] / p[0] for x, p in zip(runs[name], plain))
        rt = statistics.median(x[1] / p[1] for x, p in zip(runs[name], plain))
        result[name] = (rw, rt)
        print("  %-23s %9.3f %7.3f %9.3f %7.3f" % (
            name, statistics.median(w), rw, statistics.median(t), rt))
    return result


def instructions(pyspect, python, work):
    """Instructions of each variant, every process of it counted, by
    callgrind."""
    base = [python.exe, WORKLOAD, str(work)]
    env = dict(os.environ)
    env.pop("PYTHONTRACEMALLOC", None)
    variants = [
        ("plain", base, env),
        ("alloc sampled", [pyspect, "alloc", "-q", "--json", "--"] + base,
         env),
        ("alloc --all", [pyspect, "alloc", "-q", "--all", "--json", "--"] +
         base, env),
        ("tracemalloc 1 frame", base, dict(env, PYTHONTRACEMALLOC="1")),
    ]
    counts = {}
    for name, cmd, e in variants:
        p = subprocess.run(["valgrind", "--tool=callgrind",
                            "--callgrind-out-file=/dev/null",
                            "--trace-children=yes"] + cmd,
                           capture_output=True, env=e, timeout=3600)
        refs = re.findall(r"I\s+refs:\s+([\d,]+)", p.stderr.decode())
        counts[name] = sum(int(r.replace(",", "")) for r in refs)
    print("  %-22s %15s %7s" % ("", "instructions", "ratio"))
    for name, _, _ in variants:
        print("  %-22s %15d %7.3f" % (name, counts[name],
                                      counts[name] / counts["plain"]))
    return counts


def truth_run(cmd, truth_path, env=None):
    subprocess.run(cmd, check=True, capture_output=True, env=env,
                   timeout=600)
    with open(truth_path, encoding="utf-8") as f:
        return json.load(f)


def accuracy(pyspect, python):
    with tempfile.TemporaryDirectory() as tmp:
        truth_path = os.path.join(tmp, "truth.json")
        base = [python.exe, TRUTH, truth_path, "--thread", "--scale=8"]
        got = {}
        for name, extra in (("sampled", []), ("--all", ["--all"])):
            out = subprocess.run([pyspect, "alloc", "-q", "--json"] + extra +
                                 ["--"] + base, check=True,
                                 capture_output=True, timeout=600).stdout
            doc = json.loads(out)
            got[name] = {(s["file"], s["line"]): s for s in doc["sites"]
                         if s["file"]}
        truth = truth_run(base + ["--tracemalloc"], truth_path)
    print("  %-13s %-9s %12s %9s %9s %9s" % (
        "line", "figure", "truth", "sampled", "--all", "tracemalloc"))
    worst = {"sampled": 0.0, "--all": 0.0}
    for name in ("small", "buf", "big", "burst_one", "thread_small",
                 "grow_append"):
        t = truth["sites"][name]
        for key in ("live_bytes", "allocated_bytes"):
            if t[key] == 0:
                continue
            row = []
            for mode in ("sampled", "--all"):
                s = got[mode].get((t["file"], t["line"]))
                ratio = (s[key] if s else 0) / t[key]
                worst[mode] = max(worst[mode], abs(ratio - 1))
                row.append(ratio)
            tm = truth["tracemalloc"].get(name, {}).get(key)
            print("  %-13s %-9s %12d %9.3f %9.3f %9s" % (
                name, key.split("_")[0], t[key], row[0], row[1],
                "%.3f" % (tm / t[key]) if tm is not None else "-"))
    print("  worst error: sampled %.1f%%, --all %.1f%%" % (
        100 * worst["sampled"], 100 * worst["--all"]))
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", default=str(HERE.parent / "build" /
                                             "pyspect"))
    ap.add_argument("--python", action="append",
                    help="labels as in the e2e tests (3.12, system); "
                         "default: system and the newest pyenv one")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--work", type=int, default=300000,
                    help="workload rounds (about a second plain)")
    ap.add_argument("--quick", action="store_true",
                    help="5 rounds of a smaller workload")
    ap.add_argument("--instructions", action="store_true",
                    help="also count instructions with callgrind")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.work = 5, 100000
    pythons = conftest.PYTHONS
    labels = args.python or [l for l in ("system", "3.13", "3.12")
                             if l in pythons][:2]
    print("pyspect alloc benchmark; load: %s" %
          open("/proc/loadavg").read().split(" ", 3)[:3])
    for label in labels:
        python = pythons.get(label)
        if python is None:
            print("Python %s: not installed, skipped" % label)
            continue
        print("\nPython %s (%s): slowdown, %d interleaved rounds, medians" %
              (".".join(map(str, python.version)), python.exe, args.rounds))
        slowdown(args.pyspect, python, args.rounds, args.work)
        if args.instructions:
            print("\nPython %s: instructions (callgrind, %d workload "
                  "rounds)" % (".".join(map(str, python.version)),
                               args.work // 5))
            instructions(args.pyspect, python, args.work // 5)
        print("\nPython %s: accuracy, reported / truth per line" %
              ".".join(map(str, python.version)))
        accuracy(args.pyspect, python)
    print("\nload after: %s" % open("/proc/loadavg").read().split(" ", 3)[:3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
