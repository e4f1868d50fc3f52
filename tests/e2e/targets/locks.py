# -*- coding: utf-8 -*-
"""The e2e target of lock waits and deadlocks.

Threads: transfer_a and transfer_b deadlocked on two RLocks; one holding
a Condition (over an RLock) while it sleeps and one blocked entering it;
one blocked on a Lock; one in Event.wait(), one in Semaphore.acquire()
and one in Queue.get(), each of which sleeps on a lock of its own; and,
once the truth is written, one that takes the GIL for good (a libc
pause() called through ctypes.PyDLL, which keeps the GIL), so that the
main thread waits for the GIL behind it.  The truth: each thread's kernel
id and the id() of what it waits for.
"""
import ctypes
import sys
import threading
import time

try:
    import queue
except ImportError:             # 2.7
    import Queue as queue

import _common
from _common import HOLD, arrived

A = threading.RLock()
B = threading.RLock()
COND = threading.Condition(threading.RLock())
EVENT = threading.Event()
SEMAPHORE = threading.Semaphore(0)
QUEUE = queue.Queue()
GO = threading.Event()
holding = []  # appends are atomic: who holds their first lock


def wait_for(n):
    while len(holding) < n:
        time.sleep(0.001)


def transfer_a():
    with A:
        holding.append("a")
        wait_for(2)
        arrived()
        with B:
            pass


def transfer_b():
    with B:
        holding.append("b")
        wait_for(2)
        arrived()
        with A:
            pass


def cond_holder():
    wait_for(2)
    with COND:
        holding.append("cond")
        arrived()
        time.sleep(3600)


def cond_waiter():
    wait_for(3)
    arrived()
    with COND:
        pass


def lock_waiter():
    arrived()
    HOLD.acquire()


def event_waiter():
    arrived()
    EVENT.wait()


def semaphore_waiter():
    arrived()
    SEMAPHORE.acquire()


def queue_waiter():
    arrived()
    QUEUE.get()


def gil_hog():
    arrived()
    GO.wait()
    # PyDLL keeps the GIL across the call: nobody else runs Python again.
    ctypes.PyDLL(None).pause()


def private(obj, name):
    """obj._name, which 2.7 spells obj._Class__name."""
    for cls in type(obj).__mro__:
        for attr in ("_" + name, "_%s__%s" % (cls.__name__.lstrip("_"),
                                             name)):
            if hasattr(obj, attr):
                return getattr(obj, attr)
    raise AttributeError(name)


def waiters(cond):
    return private(cond, "waiters")


def waiter_lock(obj):
    """The lock a thread waiting on obj (a Condition, or something made
    of one) sleeps on."""
    cond = obj if hasattr(obj, "notify") else private(obj, "cond")
    return waiters(cond)[0]


def main():
    names = ["transfer_a", "transfer_b", "cond_holder", "cond_waiter",
             "lock_waiter", "event_waiter", "semaphore_waiter",
             "queue_waiter", "gil_hog"]
    threads = dict((n, _common.start_thread(globals()[n], n))
                   for n in names)
    _common.wait_arrivals(len(names))
    tid_of = dict((n, _common.tids[threads[n].ident]) for n in names)
    # Each waiter must be asleep in the kernel before the truth is told.
    _common.wait_blocked([tid_of[n] for n in names])
    while not (waiters(private(EVENT, "cond")) and
               waiters(private(SEMAPHORE, "cond")) and
               waiters(QUEUE.not_empty)):
        time.sleep(0.001)
    expect = {
        "transfer_a": ("rlock", id(B), tid_of["transfer_b"]),
        "transfer_b": ("rlock", id(A), tid_of["transfer_a"]),
        "cond_waiter": ("rlock", id(private(COND, "lock")),
                        tid_of["cond_holder"]),
        "lock_waiter": ("lock", id(HOLD), None),
        "event_waiter": ("lock", id(waiter_lock(EVENT)), None),
        "semaphore_waiter": ("lock", id(waiter_lock(SEMAPHORE)), None),
        "queue_waiter": ("lock", id(waiter_lock(QUEUE.not_empty)), None),
    }
    _common.gettid()
    _common.report(sys._current_frames(),
                   {"tids": tid_of, "expect": expect})
    GO.set()
    while True:
        time.sleep(0.01)


main()
