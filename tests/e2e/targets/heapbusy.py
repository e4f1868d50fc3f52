"""A target that keeps its collector busy: it makes reference cycles and
runs full collections all the time, so a pause often lands in the middle
of one (when the generation lists are spliced).
"""
import gc
import json
import os
import sys


class Node(object):
    def __init__(self):
        self.me = self


keep = [Node() for _ in range(20000)]
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump({"pid": os.getpid(), "kept": len(keep)}, f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
sys.stdout.write("READY\n")
sys.stdout.flush()
while True:
    for _ in range(2000):
        a = []
        a.append(a)
    del a
    gc.collect()
