"""Allocates known amounts at known lines, for pyspect alloc's tests.

usage: alloctruth.py TRUTH.json [options]
  --thread     the small objects of one phase are made by a second thread
  --fork       a forked child makes its own small objects, then os._exit()
  --tracemalloc  also record tracemalloc's figures for the same lines
  --park       after the work, say PARKED on stdout and wait forever
  --scale=N    N times as many small objects, buffers and lists (bench/alloc.py)

Each allocating function has its allocation alone on its first line, so
that line holds exactly what the function allocates: one object per
call, whose size sys.getsizeof() gives (the request the allocator sees).

  small        kept, SMALL_N objects of 200 bytes
  buf          kept, BUF_N bytearrays of 10 KiB (two blocks each: the
               object and its buffer); half of them freed at the end
  big          BIG_N buffers of 1 MiB, each freed at once
  burst        BURST_N buffers of 1 MiB held together, then freed: the
               peak of the run, with all of small and buf live
  thread_small (--thread) SMALL_N objects of 200 bytes made by a thread
  grow_append  GROWN_N lists built by GROWN_LEN appends each, kept: each
               list's item array is made and grown by realloc at this
               line (only what is live is checked: how often realloc
               moves a block is the allocator's business)
  child_small  (--fork) in the child, CHILD_N objects of 200 bytes

The truth written: per function, its file and line, the bytes and blocks
allocated in all, live at the end, and live at the peak.  Runs on
Python 2.7 and 3.6+.
"""
import json
import os
import sys
import threading

SMALL_N = 40000
BUF_N = 800
BIG_N = 20
BURST_N = 24
CHILD_N = 20000
GROWN_N = 60000
GROWN_LEN = 20
SMALL_SIZE = 200
MiB = 1 << 20
SMALL_LEN = SMALL_SIZE - sys.getsizeof(b"")


def small(n):
    return b"x" * n


def thread_small(n):
    return b"y" * n


def child_small(n):
    return b"z" * n


def grow_append(items, x):
    items.append(x)


def buf():
    return bytearray(10240)


def big():
    return b"\0" * MiB


def burst_one():
    return b"\0" * MiB


def site(fn, size, blocks_each, allocated_n, live_n, peak_n):
    co = fn.__code__
    return {
        "function": fn.__name__,
        "file": co.co_filename,
        "line": co.co_firstlineno + 1,
        "size": size,
        "blocks_each": blocks_each,
        "allocated_bytes": size * allocated_n,
        "allocations": blocks_each * allocated_n,
        "live_bytes": size * live_n,
        "live_blocks": blocks_each * live_n,
        "peak_bytes": size * peak_n,
        "peak_blocks": blocks_each * peak_n,
    }


def make_small(fn, count, out):
    for i in range(count):
        out[i] = fn(SMALL_LEN)


def tracemalloc_lines(snapshot, sites):
    """tracemalloc's live bytes and blocks for each site's line."""
    by_line = {}
    for stat in snapshot.statistics("lineno"):
        frame = stat.traceback[0]
        by_line[(frame.filename, frame.lineno)] = (stat.size, stat.count)
    out = {}
    for name, s in sites.items():
        size, count = by_line.get((s["file"], s["line"]), (0, 0))
        out[name] = {"live_bytes": size, "live_blocks": count}
    return out


def main():
    global SMALL_N, BUF_N, GROWN_N
    truth_path = sys.argv[1]
    opts = set(sys.argv[2:])
    for o in list(opts):
        if o.startswith("--scale="):
            SMALL_N *= int(o.split("=")[1])
            BUF_N *= int(o.split("=")[1])
            GROWN_N *= int(o.split("=")[1])
    tm = None
    if "--tracemalloc" in opts:
        import tracemalloc
        tm = tracemalloc
        tm.start()

    # One of each, to size them as the allocator sees them.
    small_size = sys.getsizeof(small(SMALL_LEN))
    buf_size = sys.getsizeof(buf())
    big_size = sys.getsizeof(big())

    kept_small = [None] * SMALL_N
    make_small(small, SMALL_N, kept_small)
    kept_thread = [None] * SMALL_N
    if "--thread" in opts:
        t = threading.Thread(target=make_small,
                             args=(thread_small, SMALL_N, kept_thread))
        t.start()
        t.join()
    kept_grown = [None] * GROWN_N
    for i in range(GROWN_N):
        items = []
        for j in range(GROWN_LEN):
            grow_append(items, j)
        kept_grown[i] = items
    grown_bytes = sum(sys.getsizeof(x) for x in kept_grown) - \
        GROWN_N * sys.getsizeof([])
    kept_buf = [None] * BUF_N
    for i in range(BUF_N):
        kept_buf[i] = buf()
    for i in range(BIG_N):
        big()
    held = [None] * BURST_N
    for i in range(BURST_N):
        held[i] = burst_one()
    del held[:]
    for i in range(0, BUF_N, 2):
        kept_buf[i] = None

    n_thread = SMALL_N if "--thread" in opts else 0
    sites = {
        # +1 call of each: the sizing one above (freed at once).
        "small": site(small, small_size, 1, SMALL_N + 1, SMALL_N, SMALL_N),
        "buf": site(buf, buf_size, 2, BUF_N + 1, BUF_N // 2, BUF_N),
        "big": site(big, big_size, 1, BIG_N + 1, 0, 0),
        "burst_one": site(burst_one, big_size, 1, BURST_N, 0, BURST_N),
        "thread_small": site(thread_small, small_size, 1, n_thread,
                             n_thread, n_thread),
    }
    grown = site(grow_append, 0, 1, GROWN_N, GROWN_N, GROWN_N)
    grown["live_bytes"] = grown["peak_bytes"] = grown_bytes
    sites["grow_append"] = grown
    truth = {"pid": os.getpid(), "version": list(sys.version_info[:3]),
             "sites": sites}
    if tm is not None:
        truth["tracemalloc"] = tracemalloc_lines(tm.take_snapshot(), sites)
        tm.stop()

    if "--fork" in opts:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            kept_child = [None] * CHILD_N
            make_small(child_small, CHILD_N, kept_child)
            child = {"pid": os.getpid(),
                     "sites": {"child_small": site(child_small, small_size,
                                                   1, CHILD_N, CHILD_N,
                                                   CHILD_N)}}
            os.write(w, json.dumps(child).encode())
            os.close(w)
            os._exit(0)
        os.close(w)
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
        os.close(r)
        os.waitpid(pid, 0)
        truth["child"] = json.loads(data.decode())

    with open(truth_path, "w") as f:
        json.dump(truth, f)
    if "--park" in opts:
        sys.stdout.write("PARKED\n")
        sys.stdout.flush()
        threading.Event().wait()
    # Everything kept stays live to the end (the interpreter's own
    # teardown is not counted).
    return kept_small, kept_thread, kept_buf, kept_grown


if __name__ == "__main__":
    KEEP = main()
