"""A target that damages its own interpreter structures, then parks.

Through ctypes it breaks, in objects and threads it never touches again:
code objects (co_name, co_filename, co_qualname pointing at things that
are not strs, or at nothing; a name whose length is absurd), frames (a
code pointer to a bytes object, a chain that loops), type pointers (to an
int, to nothing, into the middle of a type), type objects (a name that
is not a str, a base that is itself, an absurd size), dict keys (a keys
pointer to nothing, a keys header of garbage, a key whose type is
nothing), a full pymalloc pool's header and a looping pymalloc free list
in a size class nothing allocates afterwards, and glibc malloc chunks
(a free-list link that loops, an in-use chunk of size 0).

The collector is disabled and nothing damaged is ever used, freed or
collected, so the target itself runs on: every damage waits for a reader.
Threads: one healthy thread parked in known frames, one per damaged
frame.  The truth (argv[1]) names the damage done and holds the healthy
thread's frames; then READY, and the main thread parks in C.
"""
import ctypes
import gc
import json
import os
import sys
import threading

import _common
from _common import HOLD, arrived

gc.disable()
V = sys.version_info[:2]
WORD = ctypes.sizeof(ctypes.c_void_p)
NOWHERE = 0x10  # a pointer into the unmapped first page
KEEP = []  # everything damaged, kept alive forever
DONE = []  # what was damaged, for the truth


def peek(addr):
    return ctypes.c_uint64.from_address(addr).value


def poke(addr, value):
    ctypes.c_uint64.from_address(addr).value = value & (2 ** 64 - 1)


def find_word(base, value, size):
    """Offset of the first word equal to value in [base, base + size)."""
    for off in range(0, size - WORD + 1, WORD):
        if peek(base + off) == value:
            return off
    raise RuntimeError("word %#x not found in %#x" % (value, base))


def fresh_str(text):
    """A str object of our own (not interned, not shared)."""
    s = "".join([c for c in text])
    KEEP.append(s)
    return s


# ---- threads parked in the functions whose code or frames are damaged --

class Holder(object):
    def bad_name(self):
        arrived()
        HOLD.acquire()

    def bad_file(self):
        arrived()
        HOLD.acquire()

    def bad_qualname(self):
        arrived()
        HOLD.acquire()

    def long_name(self):
        arrived()
        HOLD.acquire()

    def bad_code(self):
        arrived()
        HOLD.acquire()


def loop_inner():
    arrived()
    HOLD.acquire()


def loop_outer():
    loop_inner()


def healthy_inner():
    arrived()
    HOLD.acquire()


def healthy():
    healthy_inner()


h = Holder()
PARKED = [("bad_name", h.bad_name), ("bad_file", h.bad_file),
          ("bad_qualname", h.bad_qualname), ("long_name", h.long_name),
          ("bad_code", h.bad_code), ("loop", loop_outer),
          ("healthy", healthy)]
threads = {}
for name, fn in PARKED:
    t = threading.Thread(target=fn, name=name)
    t.daemon = True
    t.start()
    threads[name] = t
_common.wait_arrivals(len(PARKED))
_common.settle()
frames = sys._current_frames()
top = dict((name, frames[t.ident]) for name, t in threads.items())


def iframe(frame):
    """3.11+: the _PyInterpreterFrame behind a frame object (f_frame)."""
    addr = peek(id(frame) + 3 * WORD)
    find_word(addr, id(frame.f_code), 64)  # it is the right frame
    return addr


def frame_code_slot(frame):
    if V >= (3, 11):
        base = iframe(frame)
        return base + find_word(base, id(frame.f_code), 96)
    return id(frame) + find_word(id(frame), id(frame.f_code),
                                 sys.getsizeof(frame))


def frame_back_slot(frame):
    if V >= (3, 11):
        base = iframe(frame)
        return base + find_word(base, iframe(frame.f_back), 96), iframe
    return (id(frame) + find_word(id(frame), id(frame.f_back),
                                  sys.getsizeof(frame)), id)


def code_slot(code, value):
    return id(code) + find_word(id(code), id(value),
                                min(sys.getsizeof(code), 256))


# Truth first: the healthy thread's frames, taken before anything breaks.
truth_threads = {}
for name, t in threads.items():
    truth_threads[name] = {
        "tid": _common.tids.get(t.ident), "ident": t.ident,
        "frames": _common.frames_of(top[name]) if name == "healthy" else None}


def damage_code():
    code = top["bad_name"].f_code
    poke(code_slot(code, code.co_name), id(12345678901))
    DONE.append("co_name is an int")
    code = top["bad_file"].f_code
    poke(code_slot(code, code.co_filename), NOWHERE)
    DONE.append("co_filename points nowhere")
    code = top["bad_qualname"].f_code
    if V >= (3, 11):
        junk = b"not a str" * 3
        KEEP.append(junk)
        poke(code_slot(code, code.co_qualname), id(junk))
        DONE.append("co_qualname is bytes")
    code = top["long_name"].f_code
    name = fresh_str("long_name")
    poke(code_slot(code, code.co_name), id(name))
    poke(id(name) + 2 * WORD, 2 ** 40)  # the str's length
    DONE.append("co_name of absurd length")


def damage_frames():
    junk = b"not code" * 4
    KEEP.append(junk)
    poke(frame_code_slot(top["bad_code"]), id(junk))
    DONE.append("a frame's code is bytes")
    # loop_inner -> loop_outer -> back to loop_inner
    inner = top["loop"]
    slot, addr_of = frame_back_slot(inner.f_back)
    poke(slot, addr_of(inner))
    DONE.append("a frame chain that loops")


class Victim(object):
    pass


def damage_types():
    victims = [Victim() for _ in range(4)]
    a_list = [1, 2, 3]
    poke(id(victims[0]) + WORD, id(12345678902))
    poke(id(victims[1]) + WORD, NOWHERE)
    poke(id(victims[2]) + WORD, id(Victim) + 3 * WORD)
    junk = b"a list no more"
    KEEP.append(junk)
    poke(id(a_list) + WORD, id(junk))
    KEEP.append(victims)
    KEEP.append(a_list)
    DONE.append("type pointers to an int, nowhere, a type's middle, bytes")
    broken = []
    for name in ("BrokenName", "BrokenBase", "BrokenSize"):
        cls = type(name, (object,), {})
        broken.append(cls)
        KEEP.append([cls() for _ in range(3)])
    cls = broken[0]
    poke(id(cls) + 3 * WORD, NOWHERE)  # tp_name
    poke(id(cls) + find_word(id(cls), id(cls.__name__),
                             sys.getsizeof(cls)), id(12345678903))
    cls = broken[1]
    poke(id(cls) + find_word(id(cls), id(object), sys.getsizeof(cls)),
         id(cls))  # tp_base: itself
    cls = broken[2]
    poke(id(cls) + 4 * WORD, 2 ** 40)  # tp_basicsize
    KEEP.append(broken)
    DONE.append("types: a name not a str, a base that is itself, a size")


def damage_dicts():
    dicts = [dict(("key%d" % i, i) for i in range(n)) for n in (2, 6, 6)]
    if V < (3, 0):
        # 2.7: one table; ma_mask at 4 words, ma_table at 5.
        poke(id(dicts[0]) + 5 * WORD, NOWHERE)
        poke(id(dicts[1]) + 4 * WORD, 2 ** 64 - 2)
    else:
        keys_ptr = 4 * WORD  # ma_keys
        poke(id(dicts[0]) + keys_ptr, NOWHERE)
        keys = peek(id(dicts[1]) + keys_ptr)
        for k in range(1, 5):
            poke(keys + k * WORD, 2 ** 64 - 1 - k)
    key = fresh_str("damaged-key")
    dicts[2][key] = 1
    poke(id(key) + WORD, NOWHERE)
    KEEP.append(dicts)
    DONE.append("dicts: keys (2.7: a table) nowhere, a keys header (2.7: a "
                "mask) of garbage, a key whose type is nothing")


def pool_of(addr):
    return addr & ~((16384 if V >= (3, 10) else 4096) - 1)


def damage_pymalloc():
    # 500-byte bytes objects are in the largest size class (512), which
    # nothing allocates after this: a full pool's header, and a looping
    # free list in a pool with free blocks.
    blocks = [b"p" * 470 + str(i).encode() for i in range(200)]
    pools = {}
    for b in blocks:
        pools.setdefault(pool_of(id(b)), []).append(b)
    counts = sorted(set(len(v) for v in pools.values()))
    full = [p for p, v in sorted(pools.items()) if len(v) == counts[-1]]
    if len(full) < 3:
        raise RuntimeError("no full pools: %r" % counts)
    hdr = full[0]
    poke(hdr + 8, NOWHERE)            # freeblock
    poke(hdr + 16, hdr + 3)           # nextpool: odd
    poke(hdr + 32, 0xffffffffffffffff)  # arenaindex, szidx
    poke(hdr + 40, 0x7fffffff7fffffff)  # nextoffset, maxnextoffset
    # Free two blocks of the last full pool, then loop its free list.
    loop_pool = full[-1]
    victims = pools[loop_pool]
    first, second = id(victims[1]), id(victims[3])
    del victims[3]
    del victims[1]
    blocks = None
    freeblock = peek(loop_pool + 8)
    if freeblock not in (first, second):
        raise RuntimeError("the freed blocks are not on the free list")
    poke(freeblock, freeblock)
    KEEP.append(pools)


def damage_malloc():
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # Larger than the tcache and fastbins: freed chunks go to the unsorted
    # bin, kept apart by chunks in use.
    bufs = [libc.malloc(40000) for _ in range(8)]
    for i in (1, 3, 5):
        libc.free(bufs[i])
    poke(bufs[3], bufs[3] - 2 * WORD)  # fd of a free chunk: itself
    poke(bufs[6] - WORD, 0)  # the size of a chunk in use: 0


damage_code()
damage_frames()
damage_types()
damage_dicts()
DONE.append("pymalloc: a pool header of garbage, a free list that loops")
DONE.append("malloc: a free-list link that loops, a chunk of size 0")
doc = {"pid": os.getpid(), "version": list(sys.version_info[:3]),
       "threads": truth_threads, "damage": DONE}
path = sys.argv[1]
with open(path + ".tmp", "w") as f:
    json.dump(doc, f)
os.rename(path + ".tmp", path)
# Last, and nothing is allocated after them in their size classes
# (pymalloc's largest; malloc's big chunks): the allocators would trip on
# their own damaged lists.
damage_pymalloc()
damage_malloc()
os.write(1, b"READY\n")
HOLD.acquire()
