"""Cost of `pyspect mem` on a process with a 1 GiB C heap of small blocks.

Run by `make bench` (bench/run.py) or directly:
    /usr/bin/python3 bench/mem.py --pyspect build/pyspect

Builds bench/memfill.c into a shared library, starts a Python target
that loads it with ctypes and fills its C heap, then runs `pyspect mem
PID --json` a few times and prints, per scenario, the pause (what the
target feels), the free-list walk inside it, the chunk-walk census after
it (every chunk, read in 1 MiB blocks, target running), the whole
command's wall time and CPU time, and the same without the census.

Scenarios (1 GiB each):
  in-use     64-byte blocks, all live (about 13 million chunks)
  retention  2 KiB blocks, all but every 16th freed (fragmentation)
  fastbins   64-byte blocks, every other one freed: millions of chunks on
             the free lists -- the worst case for the list walk
The figures depend on the machine's load: the header says so.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GiB = 1 << 30

TARGET = r"""
import ctypes, sys, time
lib = ctypes.CDLL(sys.argv[1])
lib.memfill.restype = ctypes.c_size_t
lib.memfill.argtypes = [ctypes.c_size_t] * 3
kept = lib.memfill(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
sys.stdout.write("READY %d\n" % kept)
sys.stdout.flush()
time.sleep(3600)
"""

SCENARIOS = [
    ("in-use", 64, 1),
    ("retention", 2048, 16),
    ("fastbins", 64, 2),
]


def build(tmp):
    lib = os.path.join(tmp, "libmemfill.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", lib,
                    os.path.join(HERE, "memfill.c")], check=True)
    return lib


def start(lib, size, keep, python):
    p = subprocess.Popen([python, "-c", TARGET, lib, str(GiB), str(size),
                          str(keep)], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("READY"):
        p.kill()
        raise SystemExit("bench target did not start: %r" % line)
    return p


def run_mem(pyspect, pid, extra):
    before = os.times()
    t0 = time.monotonic()
    r = subprocess.run([pyspect, "mem", str(pid), "--json"] + extra,
                       capture_output=True, text=True, timeout=600)
    wall = (time.monotonic() - t0) * 1000
    after = os.times()
    cpu = ((after.children_user - before.children_user) +
           (after.children_system - before.children_system)) * 1000
    if r.returncode != 0:
        raise SystemExit("pyspect mem failed: %s" % r.stderr)
    doc = json.loads(r.stdout)
    return doc, wall, cpu


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", default=os.path.join(HERE, "..", "build",
                                                      "pyspect"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python", default="/usr/bin/python3")
    args = ap.parse_args()
    load = os.getloadavg()
    print("pyspect mem on a 1 GiB C heap (median of %d runs; load average "
          "%.2f %.2f %.2f on %d CPUs: %s)" %
          (args.runs, load[0], load[1], load[2], os.cpu_count(),
           "measured while the machine was shared" if load[0] > 0.5
           else "quiet machine"))
    print()
    print("%-10s %7s %7s %7s %7s %7s %7s %9s %8s %12s" % (
        "scenario", "chunks", "pause", "walk", "census", "total", "cpu",
        "no-census", "free", "--max-pause"))
    print("%-10s %7s %7s %7s %7s %7s %7s %9s %8s %12s" % (
        "", "(M)", "ms", "ms", "ms", "ms", "ms", "total ms", "MiB",
        "100: pause"))
    tmp = tempfile.mkdtemp()
    try:
        lib = build(tmp)
        for name, size, keep in SCENARIOS:
            p = start(lib, size, keep, args.python)
            try:
                rows = [run_mem(args.pyspect, p.pid, [])
                        for _ in range(args.runs)]
                fast = [run_mem(args.pyspect, p.pid, ["--no-census"])
                        for _ in range(args.runs)]
                capped = [run_mem(args.pyspect, p.pid,
                                  ["--no-census", "--max-pause", "100"])
                          for _ in range(args.runs)]
            finally:
                p.kill()
                p.wait()
            docs = [d for d, _, _ in rows]
            m = docs[-1]["malloc"]
            o = docs[-1]["objects_in_malloc"]
            chunks = (o["chunks_in_use"] + o["chunks_free"]) / 1e6
            complete = all(d["malloc"]["complete"] for d, _, _ in capped)
            print("%-10s %7.1f %7.1f %7.1f %7.1f %7.1f %7.1f %9.1f %8.0f "
                  "%7.1f %s" % (
                      name, chunks,
                      med([d["paused_ms"] for d in docs]),
                      med([d["timing"]["walk_ms"] for d in docs]),
                      med([d["timing"]["census_ms"] for d in docs]),
                      med([w for _, w, _ in rows]),
                      med([c for _, _, c in rows]),
                      med([w for _, w, _ in fast]),
                      m["free"] / (1 << 20),
                      med([d["paused_ms"] for d, _, _ in capped]),
                      "" if complete else "(partial)"))
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp)
    print()
    print("pause: the target is stopped (ptrace) while malloc's free lists, "
          "pymalloc's arenas\nand the stack pointers are read; the census "
          "walks every chunk afterwards,\nwith the target running "
          "(--no-census skips it).  --max-pause 100 bounds the pause; a\n"
          "walk cut short is reported as partial.")


if __name__ == "__main__":
    main()
