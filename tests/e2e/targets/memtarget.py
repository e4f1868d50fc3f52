"""Memory scenarios for the `pyspect mem` tests (CPython 2.7, 3.6-3.13).

Usage: memtarget.py TRUTH.json SCENARIO

Each scenario puts the process's memory in a known state, then measures
the truth about itself -- glibc's own mallinfo2() through ctypes,
pymalloc's figures parsed from sys._debugmallocstats(), its RSS -- writes
it to TRUTH.json, prints READY and parks without allocating.

Python 2.7 has no sys._debugmallocstats() (nor, in a release build, the
C function behind it): there the target computes the same figures the
way that function does, from its own allocator statics (arenas,
maxarenas, narenas_currently_allocated, found in its libpython's symbol
table) read with ctypes, with the GIL held -- CPython's own counters and
pool headers, read from inside.

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
  freelists          (2.7) 100000 ints and 50000 floats kept, 400000 ints
                     made and freed (the int free list keeps their
                     blocks); on "collect" (stdin) a full collection,
                     then "collected"
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
    if not hasattr(sys, "_debugmallocstats"):
        return own_pymalloc_stats()
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


def elf_symbols(path, names):
    """{name: st_value} of the wanted objects in path's .symtab, read in
    small pieces (a read over malloc's mmap threshold would change the
    very state this target measures)."""
    import struct
    piece = 32 << 10
    found = {}
    with open(path, "rb") as f:
        def at(off, n):
            f.seek(off)
            return f.read(n)
        shoff, = struct.unpack("<Q", at(0x28, 8))
        shentsize, shnum = struct.unpack("<HH", at(0x3A, 4))
        sections = [struct.unpack("<IIQQQQIIQQ", at(shoff + i * shentsize,
                                                    64))
                    for i in range(shnum)]
        for sh in sections:
            if sh[1] != 2:          # SHT_SYMTAB
                continue
            strtab = sections[sh[6]]
            # The string table in pieces (names may share their tails).
            strs = [at(off, min(piece, strtab[4] + strtab[5] - off))
                    for off in range(strtab[4], strtab[4] + strtab[5],
                                     piece)]

            def name_at(off):
                out = b""
                while off // piece < len(strs):
                    part = strs[off // piece][off % piece:]
                    end = part.find(b"\0")
                    if end >= 0:
                        return out + part[:end]
                    out += part
                    off += len(part)
                return out
            wanted = set(n.encode("ascii") for n in names)
            step = 24 * 1024            # whole symbols per read
            for off in range(sh[4], sh[4] + sh[5], step):
                chunk = at(off, min(step, sh[4] + sh[5] - off))
                for k in range(0, len(chunk) - 23, 24):
                    name_off, info = struct.unpack_from("<IB", chunk, k)
                    if (info & 0xf) != 1:   # STT_OBJECT
                        continue
                    name = name_at(name_off)
                    if name in wanted:
                        found[name.decode("ascii")], = struct.unpack_from(
                            "<Q", chunk, k + 8)
    return found


def own_statics():
    """The addresses of obmalloc.c's statics in this process (2.7)."""
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and "libpython" in parts[5] and \
                    int(parts[2], 16) == 0:
                base = int(parts[0].split("-")[0], 16)
                sym = elf_symbols(parts[5], ("arenas", "maxarenas",
                                             "narenas_currently_allocated"))
                return dict((k, base + v) for k, v in sym.items())
    return None


# Found once, before any scenario runs.
STATICS = None if hasattr(sys, "_debugmallocstats") else own_statics()


def own_pymalloc_stats():
    """What _PyObject_DebugMallocStats() reports, computed the way it does
    from this process's own allocator state (2.7: 256 KiB arenas of 4 KiB
    pools behind a 48-byte header; a used pool's block size is
    POOL_SIZE - maxnextoffset, a multiple of its size class + 1: 16 bytes
    apart in 2.7.18, 8 in older 2.7 releases)."""
    arena_size, pool_size, overhead = 256 << 10, 4 << 10, 48
    u64 = ctypes.c_uint64.from_address
    u32 = ctypes.c_uint32.from_address
    arenas = u64(STATICS["arenas"]).value
    maxarenas = u32(STATICS["maxarenas"]).value
    narenas = u64(STATICS["narenas_currently_allocated"]).value
    used = avail = unused_pools = seen = 0
    for i in range(maxarenas):
        ao = arenas + 48 * i
        address = u64(ao).value
        if not address:
            continue
        seen += 1
        pool_address = u64(ao + 8).value
        unused_pools += u32(ao + 16).value
        pool = (address + pool_size - 1) & ~(pool_size - 1)
        while pool < pool_address:
            count = u32(pool).value
            if count:
                size = pool_size - u32(pool + 44).value
                assert size % (u32(pool + 36).value + 1) == 0
                used += count * size
                avail += ((pool_size - overhead) // size - count) * size
            pool += pool_size
    assert seen == narenas
    return {"arenas": narenas, "arena_size": arena_size, "used": used,
            "avail": avail, "unused_pools": unused_pools,
            "pool_size": pool_size}


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
    extra["large_type"] = type(big[0]).__name__     # 2.7: str


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


def scenario_freelists(extra):
    """2.7 allocates ints and floats in blocks of their own, outside
    pymalloc, and keeps a block until a full collection finds it
    without a live object."""
    rng = getattr(__builtins__, "xrange", range)
    KEEP.append([i * 1000003 for i in rng(100000)])
    KEEP.append([i + 0.5 for i in rng(50000)])
    tmp = [i * 7 + 10 ** 6 for i in rng(400000)]
    del tmp
    extra.update(kept_ints=100000, kept_floats=50000, freed_ints=400000)


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
    # survives its own writing.  The first rounds leave blocks behind in
    # the free lists and caches they fill (3.11: 1 start in 8 had one
    # arena more by READY than its truth said), so three rounds at least.
    for i in range(8):
        # What runs between the measurement and parking (the READY line,
        # the sleep) runs once before it too: a first call can take a new
        # pool, and so an arena, of a size class not used yet.
        sys.stdout.write("")
        sys.stdout.flush()
        time.sleep(0.001)
        doc["pymalloc"] = debugmallocstats()
        # mallinfo2() last: what follows allocates little and frees it.
        doc["mallinfo"] = mallinfo()
        doc["rss"] = rss()
        write_truth(path, doc)
        if i >= 2 and \
                debugmallocstats()["arenas"] == doc["pymalloc"]["arenas"]:
            break
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    if name == "freelists":
        import gc
        for line in iter(sys.stdin.readline, ""):
            if line.strip() == "collect":
                gc.collect()
                sys.stdout.write("collected\n")
                sys.stdout.flush()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
