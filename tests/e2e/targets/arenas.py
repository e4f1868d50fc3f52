"""Oracle for mem --watch while malloc's thread arenas appear: after
READY, argv[2] threads start one after another, each making its own
arena busy (a free chunk in every one of its bins, as a long-running
server's arenas come to have) and then holding 16 MiB in 64 KiB blocks;
the main thread waits for them, writes what glibc's mallinfo2() says to
argv[1], waits a second and exits.  Nearly all of its memory is
malloc's: no sample may show much "other anonymous" memory."""
import ctypes
import json
import os
import sys
import threading
import time

from _common import start_thread

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
M_MXFAST, M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = 1, -1, -3


def bin_index(size):
    """glibc's bin of a free chunk of this size (64-bit)."""
    if size < 1024:
        return size >> 4
    for shift, limit, base in ((6, 48, 48), (9, 20, 91), (12, 10, 110),
                               (15, 4, 119), (18, 2, 124)):
        if (size >> shift) <= limit:
            return base + (size >> shift)
    return 126


# A request for each of the bins 2 to 126 (chunk = request + 8, rounded).
SIZES = {}
for size in range(32, 1 << 21, 16):
    SIZES.setdefault(bin_index(size), size - 8)
SIZES = [SIZES[b] for b in sorted(SIZES) if 2 <= b <= 126]
held = []


def worker(done):
    keep, free = [], []
    for s in SIZES:
        p = libc.malloc(s)
        libc.memset(p, 1, min(s, 4096))
        free.append(p)
        keep.append(libc.malloc(16))  # a guard that stays
    for p in free:
        libc.free(p)  # into the unsorted list, none next to another or top
    keep.append(libc.malloc(3 << 20))  # sorts them into their bins
    for _ in range(256):
        p = libc.malloc(65000)
        libc.memset(p, 2, 65000)
        keep.append(p)
    held.append(keep)
    done.release()


class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
        "fsmblks", "uordblks", "fordblks", "keepcost")]


# No fastbins (run it with GLIBC_TUNABLES=glibc.malloc.tcache_count=0 for
# no tcache either): every freed chunk goes to its bin.  Big blocks stay
# in the heaps, which are never trimmed.
libc.mallopt(M_MXFAST, 0)
libc.mallopt(M_MMAP_THRESHOLD, 8 << 20)
libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
sys.stdout.write("READY\n")
sys.stdout.flush()
done = threading.Semaphore(0)
n = int(sys.argv[2])
for i in range(n):
    start_thread(worker, "worker-%d" % i, (done,))
    time.sleep(0.1)
for i in range(n):
    done.acquire()
libc.mallinfo2.restype = Mallinfo2
mi = libc.mallinfo2()
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump({"arena": mi.arena, "mmapped": mi.hblkhd}, f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
sys.stdout.write("DONE\n")
sys.stdout.flush()
time.sleep(1)  # a second of samples with every arena in place, then exit
