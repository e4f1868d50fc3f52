"""Instances of Leaky held in known ways, for `pyspect heap --refs`.

The truth is the list of chains the target built, as path patterns
(indexes and addresses replaced by N and ADDR) with how many instances
each holds.  The collector is disabled so the garbage cycle stays.
"""
import gc
import json
import os
import sys
import threading
import time


class Leaky(object):
    def __init__(self, i):
        self.i = i


class Registry(object):
    items = []


class Holder(object):
    def __init__(self):
        self.child = Leaky(-1)


class SlotHolder(object):
    __slots__ = ("item",)

    def __init__(self):
        self.item = Leaky(-2)


def make_closure():
    captured = Leaky(-3)

    def fn():
        return captured
    return fn


def gen():
    local = Leaky(-4)
    yield 1
    yield local


cache = {"k": [Leaky(i) for i in range(100)]}
Registry.items.append(Leaky(-5))
holders = [Holder()]
slotted = SlotHolder()
by_id = {42: Leaky(-6)}
fn = make_closure()
g = gen()
next(g)
cyc = [Leaky(-7)]
cyc.append(cyc)
started = threading.Event()


def worker():
    mine = Leaky(-9)
    started.set()
    while mine:
        time.sleep(3600)


holder = threading.Thread(target=worker, name="holder")
holder.daemon = True
holder.start()
started.wait()
gc.collect()
gc.disable()
# A garbage cycle: unreachable, kept only because the collector is off.
garbage = [Leaky(-10)]
garbage.append(garbage)
del garbage

TRUTH = {
    "total": 109,
    "paths": {
        "__main__.cache['k'][N]": 100,
        "__main__.Registry.items[N]": 1,
        "__main__.holders[N].child": 1,
        "__main__.slotted.item": 1,
        "__main__.by_id[42]": 1,
        "__main__.fn.__closure__[N].cell_contents": 1,
        "__main__.g.gi_frame.f_locals['local']": 1,
        "__main__.cyc[N]": 1,
        "<list at ADDR>[N]": 1,
        "mine": 1,
    },
    "roots": {
        "__main__.Registry.items[N]": "class",
        "<list at ADDR>[N]": "unreached",
        "mine": "frame",
        "__main__.cache['k'][N]": "module",
    },
    "thread_function": "worker",
}

with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump(TRUTH, f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
sys.stdout.write("READY\n")
sys.stdout.flush()
while True:
    time.sleep(3600)
