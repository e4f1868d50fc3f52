"""The e2e dump scenario: every kind of stack the dump tests check, parked.

Threads: nested calls, methods, generators, coroutines (bare and under
asyncio), lambdas, comprehensions, 1000-deep recursion, non-ASCII function
names (Latin-1, UCS-2, UCS-4), threads blocked in time.sleep, Lock.acquire
and Event.wait, a pool that brings the count past 20, and a thread with a
thread state but no Python frame.  The main thread takes the truth and
parks on the same line.
"""
import _thread
import asyncio
import os
import sys
import threading
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
class Service:
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


# generators
def producer():
    yield 1
    park_event()
    yield 2


def consume():
    for _ in producer():
        pass


# coroutines, driven by hand and by asyncio
async def co_inner():
    park_lock()


async def co_outer():
    await co_inner()


def drive_coroutine():
    coro = co_outer()
    coro.send(None)


def run_asyncio():
    loop = asyncio.new_event_loop()
    loop.run_until_complete(co_outer())


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


# non-ASCII identifiers: Latin-1, UCS-2 and UCS-4 strs
def fünf():
    函数()


def 函数():
    𠀀()


def 𠀀():
    park_lock()


class Ünïcode:
    def méthode(self):
        park_event()


def pool_worker(i):
    (park_sleep, park_lock, park_event)[i % 3]()


def main():
    workers = [
        ("nested", outer), ("method", Service.make), ("generator", consume),
        ("coroutine", drive_coroutine), ("asyncio", run_asyncio),
        ("lambda", use_lambda), ("listcomp", use_comprehensions),
        ("genexpr", use_genexpr), ("dictcomp", use_dictcomp),
        ("recursion", lambda: recurse(DEPTH)),
        ("fünf-函数-𠀀", fünf), ("Ünïcode", Ünïcode().méthode),
    ]
    for i in range(12):
        workers.append(("pool-%d" % i, (lambda i=i: pool_worker(i))))
    for name, fn in workers:
        threading.Thread(target=fn, name=name, daemon=True).start()
    _common.wait_arrivals(len(workers))
    # A thread state without any Python frame: a builtin as the thread's
    # function, blocked reading a pipe nobody writes.
    r, w = os.pipe()
    frameless = _thread.start_new_thread(os.read, (r, 1))
    frameless_tid = _common.blocked_reader_tid(r)
    _common.gettid()
    _common.settle()
    extra = {"frameless": {"ident": frameless, "tid": frameless_tid}}
    _common.report(sys._current_frames(), extra); HOLD.acquire()  # noqa


main()
