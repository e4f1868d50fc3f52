# -*- coding: utf-8 -*-
"""The e2e dump scenario: every kind of stack the dump tests check, parked.

Threads: nested calls, methods, generators, lambdas, comprehensions,
1000-deep recursion, threads blocked in time.sleep, Lock.acquire and
Event.wait, a pool that brings the count past 20, and a thread with a
thread state but no Python frame; on Python 3 also coroutines (bare and
under asyncio) and non-ASCII function names (scenario3.py), on 2.7 an
old-style class and the same non-ASCII thread names with ASCII functions
(2.7 identifiers are ASCII).  The main thread takes the truth and parks
on the same line.
"""
import os
import sys
import time

import _common
from _common import HOLD, NEVER, arrived

sys.setrecursionlimit(5000)
DEPTH = 1000


def park_sleep():
    arrived()
    time.sleep(3600)


def park_lock():
    arrived()
    HOLD.acquire()


def park_event():
    arrived()
    NEVER.wait()


# nested calls
def outer():
    middle()


def middle():
    inner()


def inner():
    park_sleep()


# methods
class Service(object):
    def handle(self):
        self._step()

    def _step(self):
        Service.helper()

    @staticmethod
    def helper():
        park_lock()

    @classmethod
    def make(cls):
        cls().handle()


# an old-style class on 2.7 (an ordinary one on 3)
class OldStyle:
    def method(self):
        park_event()


# generators
def producer():
    yield 1
    park_event()
    yield 2


def consume():
    for _ in producer():
        pass


# lambdas and comprehensions
def use_lambda():
    (lambda: park_sleep())()


def use_comprehensions():
    [park_event() for _ in range(1)]


def use_genexpr():
    list(park_lock() for _ in range(1))


def use_dictcomp():
    {k: park_sleep() for k in range(1)}


# recursion
def recurse(n):
    if n == 0:
        return park_sleep()
    return recurse(n - 1)


# Non-ASCII thread names with ASCII functions (2.7).
def five():
    function()


def function():
    park_lock()


def pool_worker(i):
    (park_sleep, park_lock, park_event)[i % 3]()


def main():
    workers = [
        ("nested", outer), ("method", Service.make), ("generator", consume),
        ("lambda", use_lambda), ("listcomp", use_comprehensions),
        ("genexpr", use_genexpr), ("dictcomp", use_dictcomp),
        ("recursion", lambda: recurse(DEPTH)),
        ("oldstyle", OldStyle().method),
    ]
    if _common.PY2:
        workers += [("fünf-函数-𠀀", five), ("Ünïcode", OldStyle().method)]
    else:
        import scenario3
        workers += scenario3.WORKERS
    for i in range(12):
        workers.append(("pool-%d" % i, (lambda i=i: pool_worker(i))))
    for name, fn in workers:
        _common.start_thread(fn, name)
    _common.wait_arrivals(len(workers))
    # A thread state without any Python frame: a builtin as the thread's
    # function, blocked reading a pipe nobody writes.
    r, w = os.pipe()
    frameless = _common.thread_module.start_new_thread(os.read, (r, 1))
    frameless_tid = _common.blocked_reader_tid(r)
    _common.gettid()
    _common.settle()
    extra = {"frameless": {"ident": frameless, "tid": frameless_tid}}
    _common.report(sys._current_frames(), extra); HOLD.acquire()  # noqa


main()
