"""asyncio tasks whose names attack a terminal (Task names: 3.8+), whose
coroutine's function and file names do too, in an event loop thread
with a hostile name; they wait on a future nothing completes.  Run on
3.8+ only (the test skips the others)."""
import asyncio
import sys
import threading

import _common
from _common import HOLD, arrived

NASTY = [u"\x1b]0;PWNED\x07", u"\x1b[2J\x1b[H", u"bell\x07bs\x08\x08",
         u"\nThread 999 \"forged\" (running)\n    forged  /x.py:1",
         u"c1\u009b31m", u"bidi\u202edesrever", u"lone\udcffsurrogate"]

SOURCE = "async def park(fut):\n    await fut\n"
scope = {}
exec(compile(SOURCE, "/tmp/" + "".join(n for n in NASTY
                                        if "\udcff" not in n), "exec"),
     scope)
park = scope["park"]
park.__code__ = park.__code__.replace(co_name="park" + NASTY[3] + NASTY[0])


def run_loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    fut = loop.create_future()
    for i, n in enumerate(NASTY):
        loop.create_task(park(fut), name="t%d" % i + n)
    loop.call_soon(arrived)  # after every task's first step
    loop.run_forever()


_common.start_thread(run_loop, "loop" + NASTY[0] + NASTY[3])
_common.wait_arrivals(1)
_common.settle()
_common.report(sys._current_frames())
HOLD.acquire()
