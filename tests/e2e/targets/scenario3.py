"""The parts of the dump scenario that Python 2.7 cannot even parse:
coroutines (bare and under asyncio) and non-ASCII identifiers (Latin-1,
UCS-2 and UCS-4 strs).  scenario.py imports it on Python 3."""
import asyncio

from _common import HOLD, NEVER, arrived


def park_lock():
    arrived()
    HOLD.acquire()


def park_event():
    arrived()
    NEVER.wait()


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


def fünf():
    函数()


def 函数():
    𠀀()


def 𠀀():
    park_lock()


class Ünïcode:
    def méthode(self):
        park_event()


WORKERS = [
    ("coroutine", drive_coroutine), ("asyncio", run_asyncio),
    ("fünf-函数-𠀀", fünf), ("Ünïcode", Ünïcode().méthode),
]
