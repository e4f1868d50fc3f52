"""Names chosen to attack a terminal and the files written from them.

Thread names, a function's name and file, a class's name and module, dict
keys on the way to it, and the command line (argv[2:]) hold ESC
sequences that set the window title or clear the screen, BEL, BS, a
newline followed by a forged output line, a C1 control (CSI), a
bidirectional override, U+0000 and a lone surrogate.  Threads park in
the hostile function; instances of HostileRef are held through the
hostile names, for heap --refs.
"""
import sys
import threading

import _common
from _common import HOLD, arrived

NASTY = [u"\x1b]0;PWNED\x07", u"\x1b[2J\x1b[H", u"bell\x07bs\x08\x08",
         u"\nThread 999 \"forged\" (running)\n    forged  /x.py:1",
         u"c1\u009b31m", u"bidi\u202edesrever", u"nul\x00byte",
         u"lone\udcffsurrogate", u"tab\there\r"]
try:
    unicode_type = unicode  # 2.7
except NameError:
    unicode_type = str


def hostile(i):
    return u"h%d" % i + NASTY[i % len(NASTY)]


def thread_name(i):
    # 2.7's thread names are bytes (its lone surrogate goes as UTF-8 would
    # spell it: invalid UTF-8, hostile too).
    return hostile(i).encode("utf-8") if _common.PY2 else hostile(i)


# A function whose file (and, where code objects can be replaced, name)
# is hostile.
SOURCE = "def park():\n    arrived(); HOLD.acquire()\n"
scope = {"arrived": arrived, "HOLD": HOLD}
filename = u"/tmp/" + u"".join(n for n in NASTY if u"\udcff" not in n and
                               u"\x00" not in n)
if _common.PY2:
    filename = filename.encode("utf-8")  # 2.7's compile() takes bytes
exec(compile(SOURCE, filename, "exec"), scope)
park = scope["park"]
if hasattr(park.__code__, "replace"):  # 3.8+
    park.__code__ = park.__code__.replace(co_name=u"park" + NASTY[3] +
                                          NASTY[0])
    if hasattr(park.__code__, "co_qualname"):  # 3.11+
        park.__code__ = park.__code__.replace(co_qualname=u"Q" + NASTY[1] +
                                              NASTY[3])

threads = []
for i in range(len(NASTY)):
    t = threading.Thread(target=park, name=thread_name(i))
    t.daemon = True
    threads.append(t)
    t.start()


class HostileRef(object):
    pass


Holder = type(str("Holder\x1b[2J\nforged"), (object,), {})
Holder.__module__ = u"mod\x07" + NASTY[4]
HOLDER = Holder()
HOLDER.cache = dict((hostile(i), HostileRef()) for i in range(len(NASTY)))
ALSO = {u"key" + NASTY[3]: [HostileRef() for _ in range(3)]}
_common.wait_arrivals(len(NASTY))
_common.settle()
_common.report(sys._current_frames())
HOLD.acquire()
