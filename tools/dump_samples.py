#!/usr/bin/python3
"""Sample a live Python process with `pyspect dump --json`, for prof-replay.

A development tool for checking the output writers on real stacks before
`pyspect record` exists (and for comparing with it afterwards).  It runs
`pyspect dump PID --json --no-source` every 1/RATE seconds for DURATION
seconds and writes the stacks in prof-replay's input format (see
tools/prof_replay.c).  Each dump costs a fork and an exec, so the
achieved rate is far below what the sampler reaches; that is fine for
looking at a flame graph.

usage: dump_samples.py [--pyspect build/pyspect] [--rate 20]
                       [--duration 10] [--mode cpu|wall] [--lines]
                       [--threads] PID OUT
then:  build/prof-replay OUT graph.svg
"""
import argparse
import collections
import json
import subprocess
import time


def clean(s):
    return str(s).replace("\t", " ").replace("\x1f", " ").replace("\n", " ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", default="build/pyspect")
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--mode", choices=["cpu", "wall"], default="cpu")
    ap.add_argument("--lines", action="store_true")
    ap.add_argument("--threads", action="store_true")
    ap.add_argument("pid", type=int)
    ap.add_argument("out")
    args = ap.parse_args()

    counts = collections.Counter()
    rounds = errors = 0
    version = None
    start = time.time()
    t0 = time.monotonic()
    while time.monotonic() - t0 < args.duration:
        r = subprocess.run([args.pyspect, "dump", str(args.pid), "--json",
                            "--no-source"], capture_output=True, text=True,
                           timeout=30)
        rounds += 1
        if r.returncode != 0:
            errors += 1
            continue
        doc = json.loads(r.stdout)
        version = doc["python"]["version"]
        for t in doc["threads"]:
            if args.mode == "cpu" and t.get("state") != "running":
                continue
            frames = tuple(
                (clean(f.get("qualname") or f["function"]), clean(f["file"]),
                 (f["line"] if args.lines else f["firstlineno"])
                 if (f["line"] if args.lines else f["firstlineno"])
                 is not None else -1)
                for f in t["frames"])
            counts[(t["tid"], t["ident"], clean(t.get("name") or ""),
                    frames)] += 1
        time.sleep(1.0 / args.rate)
    duration = time.monotonic() - t0

    with open("/proc/%d/cmdline" % args.pid, "rb") as f:
        command = " ".join(a.decode(errors="replace")
                           for a in f.read().split(b"\0") if a)
    with open(args.out, "w") as out:
        for k, v in [("command", command), ("pid", args.pid),
                     ("python", version or "?"), ("mode", args.mode),
                     ("rate", args.rate), ("duration", "%.3f" % duration),
                     ("rounds", rounds), ("lines", int(args.lines)),
                     ("threads", int(args.threads)), ("start", start),
                     ("error", errors)]:
            out.write("#meta\t%s\t%s\n" % (k, clean(v)))
        for (tid, ident, name, frames), n in sorted(counts.items()):
            out.write("\t".join([str(args.pid), str(tid), str(ident), name,
                                 str(n)] +
                                ["%s\x1f%s\x1f%d" % f for f in frames]) + "\n")
    print("%d rounds in %.1f s, %d errors, %d distinct stacks -> %s" %
          (rounds, duration, errors, len(counts), args.out))


if __name__ == "__main__":
    main()
