# -*- coding: utf-8 -*-
"""The e2e target of dump --native and --locals: threads parked in C.

Threads: one in time.sleep under a function with every kind of local
(arguments, *args, **kwargs, a cell and the closure that uses it), one
in libc's pause() through ctypes, one blocked on a lock, one in a long
zlib compression (running, at the lowest priority), one spinning in
Python, and, when argv[2] names a shared library built by the test
(a stripped one: exported strip_entry() calls a static function that
calls pause()), one parked in it.  The truth: sys._current_frames(), the
kernel ids, and each parked frame's locals as repr() shows them.
"""
import ctypes
import random
import sys
import threading
import time
import zlib

import _common
from _common import HOLD, arrived

LOCALS = {}
# The values pyspect renders as repr() does (2.7: its long and unicode).
SCALARS = (bool, int, float, str, bytes)
if sys.version_info[0] == 2:
    SCALARS += (long, unicode)  # noqa: F821


class Widget(object):
    pass


def describe(frame):
    """What pyspect should say of each variable of frame: repr() for the
    values it renders, `<type at 0x...>` (with len) for the rest."""
    out = {}
    for name, value in frame.f_locals.items():
        tname = type(value).__name__
        if value is None or isinstance(value, SCALARS):
            text = repr(value)
        elif isinstance(value, (list, tuple, dict, set, frozenset)):
            text = "<%s at %#x, len %d>" % (tname, id(value), len(value))
        else:
            text = "<%s at %#x>" % (tname, id(value))
        out[name] = {"type": tname, "repr": text}
    co = frame.f_code
    nargs = (co.co_argcount + getattr(co, "co_kwonlyargcount", 0) +
             bool(co.co_flags & 0x04) + bool(co.co_flags & 0x08))
    return {"function": co.co_name, "locals": out,
            "arguments": list(co.co_varnames[:nargs])}


def keep_locals(depth):
    frame = sys._getframe(depth + 1)
    LOCALS[frame.f_code.co_name] = describe(frame)


def park_sleep(count, label, *rest, **opts):
    ratio = 0.25
    big = 2 ** 100
    neg = -7
    text = u"h\u00e9llo 'x'\n"
    raw = b"\x00ab'"
    nothing = None
    flag = True
    items = [1, 2, 3]
    mapping = {"a": 1}
    widget = Widget()
    shared = "captured"

    def inner(extra):
        local_in = len(shared) + extra
        keep_locals(0)
        arrived()
        time.sleep(3600)
        return local_in

    keep_locals(0)
    inner(5)
    return (ratio, big, neg, text, raw, nothing, flag, items, mapping,
            widget)


def park_pause():
    arrived()
    ctypes.CDLL(None).pause()


def park_lock():
    arrived()
    HOLD.acquire()


def park_stripped(path):
    lib = ctypes.CDLL(path)
    arrived()
    lib.strip_entry()


def lowest_priority():
    """This thread alone at nice 19 (setpriority on a thread id)."""
    tid = _common.gettid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setpriority(0, tid, 19)


def compress_forever():
    # Text-like data (short matches everywhere) keeps level 9 busy for a
    # while: about 0.2 s per call.  Made before the thread drops to nice
    # 19, where a loaded machine would starve its making for minutes.
    rand = random.Random(7)
    words = ["%06x" % rand.getrandbits(24) for _ in range(4096)]
    data = " ".join(rand.choice(words) for _ in range(1 << 18))
    data = data.encode("ascii")
    lowest_priority()
    arrived()
    while True:
        zlib.compress(data, 9)


def spin_inner():
    x = 0
    while True:
        x += 1


def spin():
    lowest_priority()
    arrived()
    spin_inner()


def main():
    workers = [("sleep", lambda: park_sleep(3, "tag", "more", key="v")),
               ("pause", park_pause), ("lock", park_lock),
               ("zlib", compress_forever), ("spin", spin)]
    if len(sys.argv) > 2:
        workers.append(("stripped", lambda: park_stripped(sys.argv[2])))
    for name, fn in workers:
        _common.start_thread(fn, name)
    _common.wait_arrivals(len(workers))
    parked = [t for t in threading.enumerate()
              if t.name not in ("zlib", "spin")]
    _common.wait_blocked([_common.tids[t.ident] for t in parked
                          if t.ident in _common.tids])
    _common.gettid()
    frames = sys._current_frames()
    busy = dict((t.name, _common.tids.get(t.ident))
                for t in threading.enumerate()
                if t.name in ("zlib", "spin"))
    _common.report(frames, {"locals": LOCALS, "busy": busy}); HOLD.acquire()  # noqa


main()
