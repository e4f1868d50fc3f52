"""Memory scenarios for the `pyspect mem` tests (CPython 3.6-3.13).

Usage: memtarget.py TRUTH.json SCENARIO

Each scenario puts the process's memory in a known state, then measures
the truth about itself -- glibc's own mallinfo2() through ctypes,
pymalloc's figures parsed from sys._debugmallocstats(), its RSS -- writes
it to TRUTH.json, prints READY and parks without allocating.

  accuracy           a little of everything, for the exact comparisons:
                     freed 2 KiB blocks (bins), freed 48-byte blocks
                     (fastbins), a thread arena, mmapped blocks, small
                     and large Python objects
  retention          ~200 MiB in 2 KiB blocks, all but every 16th freed
  retention-threads  the same in four threads (thread arenas)
  python-objects     ~200 MiB of live small Python objects
  pymalloc-free      ~200 MiB of small objects, all but 1 in 100 freed
  native             ~200 MiB malloc'd by "an extension" and kept
  healthy            nothing in particular
  census             200000 str objects (run with PYTHONMALLOC=malloc)
  spinner            counts forever, writing the count to argv[3]
  grow               for --watch: grows in steps to a peak, holds it,
                     frees, and exits with status 3
"""
import ctypes
import json
import os
import re
import resource
import sys
import tempfile
import threading
import time

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
libc.memset.restype = ctypes.c_void_p

FIELDS = ("arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks "
          "fordblks keepcost").split()


class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in FIELDS]


libc.mallinfo2.restype = Mallinfo2
MiB = 1 << 20
# Kept alive for the life of the process.
KEEP = []
PARK = threading.Event()


def mallinfo():
    m = libc.mallinfo2()
    return dict((n, getattr(m, n)) for n in FIELDS)


def debugmallocstats():
    """sys._debugmallocstats() writes to C's stderr: catch it in a file."""
    fd, path = tempfile.mkstemp()
    saved = os.dup(2)
    try:
        os.dup2(fd, 2)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    with open(path) as f:
        text = f.read()
    os.unlink(path)

    def num(pattern):
        m = re.search(pattern, text, re.M)
        return int(m.group(1).replace(",", "")) if m else None

    return {
        "arenas": num(r"# arenas allocated current\s+=\s+([\d,]+)"),
        "arena_size": num(r"arenas \* (\d+) bytes/arena"),
        "used": num(r"# bytes in allocated blocks\s+=\s+([\d,]+)"),
        "avail": num(r"# bytes in available blocks\s+=\s+([\d,]+)"),
        "unused_pools": num(r"^(\d+) unused pools \*"),
        "pool_size": num(r"^\d+ unused pools \* (\d+) bytes"),
    }


def rss():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                return int(line.split()[1]) * 1024
    return None


def c_blocks(n, size, keep_every, touch=True):
    """malloc n blocks, free all but every keep_every-th."""
    ptrs = [libc.malloc(size) for _ in range(n)]
    if touch:
        for p in ptrs:
            libc.memset(p, 1, size)
    kept = []
    for i, p in enumerate(ptrs):
        if keep_every and i % keep_every == 0:
            kept.append(p)
        else:
            libc.free(p)
    KEEP.append(kept)
    return len(kept) * size


def in_thread(fn, *args):
    """Run fn in a thread that then stays alive (its arena stays
    attached); return fn's result."""
    out = []
    ready = threading.Event()

    def run():
        out.append(fn(*args))
        ready.set()
        PARK.wait()

    t = threading.Thread(target=run, name="worker")
    t.daemon = True
    t.start()
    ready.wait()
    return out[0]


def scenario_accuracy(extra):
    c_blocks(20000, 2048, 4)
    c_blocks(20000, 48, 2)
    extra["thread_kept"] = in_thread(c_blocks, 10000, 1024, 2)
    mm = [libc.malloc(1 << 20) for _ in range(3)]
    for p in mm:
        libc.memset(p, 2, 1 << 20)
    KEEP.append(mm)
    KEEP.append([("%d" % i) * 3 for i in range(100000)])
    big = [b"x" * 4000 + str(i).encode() for i in range(50)]
    KEEP.append(big)
    extra["large_bytes"] = len(big)


def scenario_retention(extra):
    extra["kept"] = c_blocks(100000, 2048, 16)


def scenario_retention_threads(extra):
    results = []
    for _ in range(4):
        results.append(in_thread(c_blocks, 25000, 2048, 16))
    extra["kept"] = sum(results)


def scenario_python_objects(extra):
    objs = [str(i).zfill(40) for i in range(2000000)]
    KEEP.append(objs)
    extra["objects_bytes"] = sum(sys.getsizeof(o) for o in objs)


def scenario_pymalloc_free(extra):
    objs = [str(i).zfill(40) for i in range(2000000)]
    survivors = objs[::100]
    del objs
    KEEP.append(survivors)


def scenario_native(extra):
    size = 64 << 10
    ptrs = [libc.malloc(size) for _ in range(3200)]
    for p in ptrs:
        libc.memset(p, 3, size)
    KEEP.append(ptrs)
    extra["native_bytes"] = size * len(ptrs)


def scenario_healthy(extra):
    pass


def scenario_census(extra):
    """Run with PYTHONMALLOC=malloc: every object is a malloc block."""
    KEEP.append([str(i).zfill(40) for i in range(200000)])
    extra["strs"] = 200000


def write_truth(path, doc):
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.rename(path + ".tmp", path)


def spinner(path):
    """Count forever; the count goes to path every 20 ms."""
    n = 0
    last = 0
    while True:
        n += 1
        now = time.time()
        if now - last > 0.02:
            with open(path + ".tmp", "w") as f:
                f.write(str(n))
            os.rename(path + ".tmp", path)
            last = now


def grow(path):
    """Grow in steps to a peak, hold it, free, report, exit 3."""
    steps = []
    for _ in range(8):
        steps.append(bytearray(16 * MiB))
        time.sleep(0.15)
    peak_rss = rss()
    time.sleep(0.6)
    del steps[:]
    time.sleep(0.4)
    write_truth(path, {
        "pid": os.getpid(),
        "peak_rss": peak_rss,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    })
    sys.exit(3)


def main():
    path, name = sys.argv[1], sys.argv[2]
    if name == "spinner":
        write_truth(path, {"pid": os.getpid()})
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        spinner(sys.argv[3])
    if name == "grow":
        grow(path)
    extra = {}
    globals()["scenario_" + name.replace("-", "_")](extra)
    doc = {
        "pid": os.getpid(),
        "version": list(sys.version_info[:3]),
        "scenario": name,
    }
    doc.update(extra)
    # Writing the truth allocates a little: when that takes pymalloc over
    # an arena boundary, measure and write again, until a measurement
    # survives its own writing.
    for _ in range(5):
        doc["pymalloc"] = debugmallocstats()
        # mallinfo2() last: what follows allocates little and frees it.
        doc["mallinfo"] = mallinfo()
        doc["rss"] = rss()
        write_truth(path, doc)
        if debugmallocstats()["arenas"] == doc["pymalloc"]["arenas"]:
            break
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
