"""A target that grows on request, for --growth, and a big heap for the
kill-during-the-pause test.

argv: truth-file [objects]
stdin commands (one per line), each answered on stdout:
  grow N   make N more Grown instances (each with its own str): "grown"
  ping     "pong" (proves the target runs)
  count    count the GC's objects by type from inside, as objgraph's
           typestats() does: "counted SECONDS" (for bench/heap.py)
"""
import gc
import json
import os
import sys
import time


class Grown(object):
    def __init__(self, i):
        self.label = "grown-%d" % i


class Ballast(object):
    def __init__(self, i):
        self.i = i
        self.text = "ballast-%d" % i


clock = getattr(time, "perf_counter", time.time)
size = int(sys.argv[2]) if len(sys.argv) > 2 else 0
ballast = [Ballast(i) for i in range(size // 3)]
kept = []
gc.collect()
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump({"pid": os.getpid(), "ballast": len(ballast)}, f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
sys.stdout.write("READY\n")
sys.stdout.flush()
# (2.7's `for line in sys.stdin` reads ahead: readline() answers at once)
for line in iter(sys.stdin.readline, ""):
    words = line.split()
    if words and words[0] == "grow":
        n = int(words[1])
        base = len(kept)
        kept.extend(Grown(base + i) for i in range(n))
        sys.stdout.write("grown\n")
    elif words and words[0] == "ping":
        sys.stdout.write("pong\n")
    elif words and words[0] == "count":
        t0 = clock()
        stats = {}
        for o in gc.get_objects():
            name = type(o).__name__
            stats[name] = stats.get(name, 0) + 1
        took = clock() - t0
        del stats, o
        sys.stdout.write("counted %.6f\n" % took)
    sys.stdout.flush()
