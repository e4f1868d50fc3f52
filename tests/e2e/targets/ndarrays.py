"""Oracle for numpy (Debian's python3-numpy): arrays that own their data
(large ones, in blocks malloc mmapped on its own, and small ones, of
several dtypes and orders, 0-d), views that do not, and instances of an
ndarray subclass.  Large arrays get numpy's madvise(MADV_HUGEPAGE) on
part of their block, which splits its mapping in two or three; one more
is split here with madvise(MADV_RANDOM) in case numpy did not.  Reports
sys.getsizeof() totals of its own arrays by type ("arrays", "sub"),
glibc's mallinfo2() figures ("mmapped": hblkhd, "blocks": hblks), how
many mappings were split off, and parks."""
import ctypes
import sys

import numpy as np

import _common


class Sub(np.ndarray):
    pass


MIB = 1 << 20
arrays = []
for i in range(12):
    arrays.append(np.ones((4 + i % 5) * MIB // 8))          # owns, mmapped
arrays.append(np.zeros((300, 700), dtype=np.int8, order="F"))
arrays.append(np.arange(1000, dtype=np.complex128))
arrays.append(np.array(3.5))                                  # 0-d
arrays += [a[3:] for a in arrays[:4]]                         # views
arrays.append(np.arange(12.0).reshape(3, 4).T)                # a view
subs = [np.ones(1000).view(Sub), np.ones(5 * MIB // 8).view(Sub)]

# One more split, whatever numpy did: the middle of a large array's block.
libc = ctypes.CDLL(None, use_errno=True)
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MADV_RANDOM = 1
page = 4096
start = (arrays[0].ctypes.data + 8 * page) & ~(page - 1)
libc.madvise(start, 16 * page, MADV_RANDOM)


class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
        "fsmblks", "uordblks", "fordblks", "keepcost")]


libc.mallinfo2.restype = Mallinfo2
mi = libc.mallinfo2()
with open("/proc/self/smaps") as f:
    flags = [l for l in f if l.startswith("VmFlags:")]
split = sum(1 for l in flags if " hg" in l or " rr" in l)

_common.report({}, {
    "arrays": [len(arrays), sum(sys.getsizeof(a) for a in arrays)],
    "sub": [len(subs), sum(sys.getsizeof(a) for a in subs)],
    "mmapped": mi.hblkhd, "blocks": mi.hblks, "split": split})
_common.HOLD.acquire()
