"""Helpers shared by the e2e target programs (run on CPython 2.7 and
3.6-3.13: no f-strings, no threading.Barrier, no time.thread_time).

A target computes the truth about itself with sys._current_frames(), its
threads' names and kernel ids, writes it to the JSON file named by argv[1],
prints READY and parks forever (the test kills it).

The compatibility names (get_ident, monotonic, start_thread...) are here
so that each target reads the same on every version.
"""
import ctypes
import json
import os
import sys
import threading
import time

PY2 = sys.version_info[0] == 2

try:
    import _thread as thread_module
except ImportError:             # 2.7
    import thread as thread_module

get_ident = thread_module.get_ident
# 2.7 has no monotonic clock in time; time.time() will do for deadlines.
monotonic = getattr(time, "monotonic", time.time)

_libc = ctypes.CDLL(None, use_errno=True)
SYS_gettid = 186  # x86-64

# A lock that is never released: acquiring it parks a thread in C.
HOLD = threading.Lock()
HOLD.acquire()
# An event that is never set: waiting on it parks a thread in Python
# (threading.py frames) and then C.
NEVER = threading.Event()

tids = {}  # ident -> kernel tid, filled by each thread that calls gettid()
_arrived = threading.Semaphore(0)


def start_thread(fn, name, args=()):
    """A daemon thread (2.7's Thread takes no daemon argument)."""
    t = threading.Thread(target=fn, name=name, args=args)
    t.daemon = True
    t.start()
    return t


def gettid():
    tid = _libc.syscall(SYS_gettid)
    tids[get_ident()] = tid
    return tid


def arrived():
    """Say that this thread is about to park."""
    gettid()
    _arrived.release()


def wait_arrivals(n, timeout=60):
    # 2.7's Semaphore.acquire() has no timeout: poll.
    deadline = monotonic() + timeout
    for _ in range(n):
        while not _arrived.acquire(False):
            if monotonic() > deadline:
                raise RuntimeError("a thread never arrived")
            time.sleep(0.001)


def frames_of(frame):
    out = []
    while frame is not None:
        co = frame.f_code
        out.append({
            "function": co.co_name,
            "qualname": getattr(co, "co_qualname", None),
            "file": co.co_filename,
            "line": frame.f_lineno,
        })
        frame = frame.f_back
    return out


def capture():
    return dict((ident, frames_of(f))
                for ident, f in sys._current_frames().items())


def settle(max_rounds=2000):
    """Wait until every thread's stack stops changing (each parked thread
    has finished its last Python steps before blocking)."""
    prev = None
    for _ in range(max_rounds):
        cur = capture()
        if cur == prev:
            return
        prev = cur
        time.sleep(0.002)
    raise RuntimeError("stacks never settled")


def write_json(path, doc):
    """Write doc to path atomically, as ASCII JSON (non-ASCII text and
    lone surrogates as escapes; 2.7's byte strings decoded as UTF-8)."""
    text = json.dumps(doc)
    with open(path + ".tmp", "wb") as f:
        f.write(text.encode("ascii"))
    os.rename(path + ".tmp", path)


def say_ready():
    sys.stdout.write("READY\n")
    sys.stdout.flush()


def report(frames, extra=None):
    """Write the truth: frames is the live result of sys._current_frames()
    taken on the caller's parking line."""
    names = dict((t.ident, t.name) for t in threading.enumerate())
    threads = {}
    for ident, frame in frames.items():
        threads[str(ident)] = {
            "name": names.get(ident),
            "tid": tids.get(ident),
            "frames": frames_of(frame),
        }
    doc = {"pid": os.getpid(), "version": list(sys.version_info[:3]),
           "threads": threads, "reporter": get_ident()}
    doc.update(extra or {})
    write_json(sys.argv[1], doc)
    say_ready()


def blocked_reader_tid(fd, timeout=60):
    """The kernel id of the thread of this process blocked in read(fd)."""
    deadline = time.time() + timeout
    want = "0 0x%x " % fd
    while time.time() < deadline:
        for tid in os.listdir("/proc/self/task"):
            try:
                with open("/proc/self/task/%s/syscall" % tid) as f:
                    if f.read().startswith(want):
                        return int(tid)
            except (OSError, IOError):
                pass
        time.sleep(0.002)
    raise RuntimeError("no thread blocked in read(%d)" % fd)


def wait_blocked(tids, timeout=60):
    """Wait until each of these threads sleeps in the kernel (state S)."""
    deadline = time.time() + timeout
    pending = set(tids) - set([gettid()])
    while pending and time.time() < deadline:
        for tid in list(pending):
            with open("/proc/self/task/%d/stat" % tid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "S":
                    pending.discard(tid)
        time.sleep(0.002)
    if pending:
        raise RuntimeError("threads never blocked: %s" % sorted(pending))
