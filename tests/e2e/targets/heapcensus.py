# -*- coding: utf-8 -*-
"""A known heap, and the census the target takes of itself.

The population covers what the census must read: instances with a
__dict__ (3.11+: values kept without one, inline in 3.13), with many
attributes, with __slots__, subclasses of list/dict/str/int/tuple,
untracked tuples and dicts of atoms, sets, bytes, bytearrays, big ints,
floats, functions with defaults, closures and docstrings, bound methods,
class attributes, (3.12+) immortal objects referenced from containers,
and on 2.7 old-style classes and their instances (counted by class, as
guppy does), ints and longs, and unicode strs next to byte strs.

The truth is the same census pyspect takes, computed here with
gc.get_objects() (every tracked object) and, from them, every untracked
object reachable through the references listed in src/python/census.h,
found with gc.get_referents() (plus dict keys, which dict_traverse skips
for str keys).  Sizes are sys.getsizeof().

So that the heap pyspect reads is exactly the heap measured, the
collector is disabled first (a collection would untrack tuples and
dicts), every module the census needs is imported before, the census
runs in the frame that then parks, and everything it made is deleted
before parking.  After a first census that readies what it uses, the
census is taken twice and must agree with itself.

argv: truth-file [scale] [--freeze]
  --freeze: gc.freeze() part of the heap (3.7+); the truth is then the
  freeze count and marker counts, with the collector left enabled.
"""
import ctypes
import gc
import json
import os
import signal
import sys
import time
import types

PY2 = sys.version_info[0] == 2

SCALE = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() \
    else 2000
HEAPTYPE = 1 << 9


def _traverse_of(t):
    """tp_traverse of type t: offsetof(PyTypeObject, tp_traverse) is 184
    on x86-64 in every CPython 3.x (the 24th pointer-sized field)."""
    return ctypes.c_void_p.from_address(id(t) + 184).value


class _Probe(object):
    pass


# Instances of classes made by a class statement are followed through
# subtype_traverse (their __slots__, __dict__ and builtin base); the C
# code of extension types may hold anything, and is not followed.
SUBTYPE_TRAVERSE = _traverse_of(_Probe)
assert SUBTYPE_TRAVERSE and _traverse_of(int) is None
assert _traverse_of(type("Other", (object,), {})) == SUBTYPE_TRAVERSE


class Plain(object):
    """Attributes in a __dict__ (3.11+: values kept without a dict)."""

    def __init__(self, i):
        self.num = i
        self.big = 10 ** 20 + i
        self.text = "plain-%d" % i
        self.ratio = i / 7.0
        self.blob = b"blob-%d" % i


class WithDict(Plain):
    """Instances whose __dict__ has been asked for (3.11+ makes one)."""


class Many(object):
    """More attributes than 3.13 keeps inline."""

    def __init__(self, i):
        for k in range(40):
            setattr(self, "attr%d" % k, "many-%d-%d" % (i, k))


class Slotted(object):
    __slots__ = ("a", "b", "c")

    def __init__(self, i):
        self.a = "slot-%d" % i
        self.b = (i, "t-%d" % i)
        self.c = i * 0.5


class SlottedChild(Slotted):
    __slots__ = ("d", "unset")

    def __init__(self, i):
        Slotted.__init__(self, i)
        self.d = frozenset(("fs-%d" % i, i))


class ListSub(list):
    pass


class DictSub(dict):
    pass


class StrSub(str):
    pass


class IntSub(int):
    pass


class Registry(object):
    """Class attributes hold objects too."""
    items = ["registry-%d" % i for i in range(50)]
    table = {"k%d" % i: i * 3.25 for i in range(50)}


class Uncollectable(object):
    pass


class OldStyle:
    """An old-style class on 2.7 (its instances are all of type
    `instance`), an ordinary one on 3."""

    def __init__(self, i):
        self.num = i
        self.text = "old-%d" % i


if sys.version_info[0] >= 3:
    # Keyword-only defaults (__kwdefaults__) are Python 3 syntax.
    exec("""
def make_function(i):
    cell_value = "closure-%d" % i

    def fn(a="default-%d" % i, b=(i, "dt-%d" % i), *, c=("kw-%d" % i)):
        \"\"\"docstring of fn\"\"\"
        return cell_value, a, b, c
    fn.__doc__ = "doc-%d" % i
    return fn
""")
else:
    def make_function(i):
        cell_value = "closure-%d" % i

        def fn(a="default-%d" % i, b=(i, "dt-%d" % i)):
            """docstring of fn"""
            return cell_value, a, b
        fn.__doc__ = "doc-%d" % i
        return fn


POP = {}


def build(n):
    POP["plain"] = [Plain(i) for i in range(n)]
    POP["withdict"] = [WithDict(i) for i in range(n // 4)]
    for o in POP["withdict"]:
        o.__dict__["extra"] = "extra-%d" % o.num
    POP["many"] = [Many(i) for i in range(n // 50)]
    POP["slotted"] = [Slotted(i) for i in range(n // 2)]
    POP["slotchild"] = [SlottedChild(i) for i in range(n // 4)]
    ls = []
    for i in range(n // 10):
        x = ListSub(["ls-%d" % i, i, float(i)])
        x.tag = "tag-%d" % i
        ls.append(x)
    POP["listsub"] = ls
    POP["dictsub"] = [DictSub({"ds-%d" % i: i}) for i in range(n // 10)]
    POP["strsub"] = [StrSub("strsub-%d" % i) for i in range(n // 10)]
    POP["intsub"] = [IntSub(10 ** 12 + i) for i in range(n // 10)]
    POP["tuples"] = [(i, "tup-%d" % i, i + 0.25, (i, "in-%d" % i))
                     for i in range(n)]
    POP["atomdicts"] = [{"a": i, "b": "ad-%d" % i, "c": i * 1.5}
                        for i in range(n // 2)]
    POP["intkeys"] = {i: "ik-%d" % i for i in range(n)}
    POP["sets"] = [{"s-%d-%d" % (i, k) for k in range(5)}
                   for i in range(n // 10)]
    POP["bigset"] = set("bs-%d" % i for i in range(n))
    POP["frozen"] = frozenset(range(10 ** 6, 10 ** 6 + n // 2))
    POP["bytes"] = [("b-%d" % i).encode() * (1 + i % 7) for i in range(n)]
    POP["bytearrays"] = [bytearray(b"x" * (i % 300)) for i in range(n // 10)]
    POP["floats"] = [i * 1.125 for i in range(n)]
    POP["bigints"] = [2 ** 100 + i for i in range(n)]
    POP["functions"] = [make_function(i) for i in range(n // 20)]
    POP["methods"] = [o.__init__ for o in POP["plain"][: n // 20]]
    POP["immortal"] = [None, True, False, 0, 1, -5, 256, "", (), "a",
                       Ellipsis, NotImplemented]
    POP["nonascii"] = [u"fünf-%d" % i for i in range(n // 10)] + \
        [u"函数-%d" % i for i in range(n // 10)] + \
        [u"\U00020000-%d" % i for i in range(n // 10)]
    POP["oldstyle"] = [OldStyle(i) for i in range(n // 10)]
    POP["classes"] = [OldStyle, type(POP["oldstyle"][0])]
    POP["ints"] = [i * 1000003 for i in range(n)]
    for i in range(3):
        gc.garbage.append(Uncollectable())


def kind_of(t, cache):
    k = cache.get(t)
    if k is not None:
        return k
    base = t
    k = "object"
    while base is not None:
        if base in KINDS:
            k = KINDS[base]
            break
        base = base.__base__
    cache[t] = k
    return k


def _cell():
    x = 1

    def f():
        return x
    return f.__closure__[0]


KINDS = {object: "object", type: "type", str: "str", bytes: "bytes",
         int: "int", float: "float", tuple: "tuple", list: "list",
         dict: "dict", set: "set", frozenset: "frozenset",
         bytearray: "bytearray", types.FunctionType: "function",
         types.MethodType: "method", type(_cell()): "cell",
         types.ModuleType: "module"}
if sys.version_info[0] == 2:
    # Old-style classes and their instances: followed as their
    # tp_traverse does (class and __dict__; bases, __dict__, name and the
    # cached __getattr__/__setattr__/__delattr__).
    KINDS.update({types.InstanceType: "instance",
                  types.ClassType: "classobj"})
FOLLOW = ("list", "tuple", "dict", "set", "frozenset", "function",
          "method", "cell", "instance", "classobj")


def referents(o, kinds):
    """What src/python/census.h says the census follows from o."""
    t = type(o)
    k = kind_of(t, kinds)
    if k != "type" and t.__flags__ & HEAPTYPE and \
            _traverse_of(t) == SUBTYPE_TRAVERSE:
        r = gc.get_referents(o)        # __slots__, __dict__, base's
    elif k in FOLLOW:
        r = gc.get_referents(o)
    elif k == "type":
        r = gc.get_referents(o) if o.__flags__ & HEAPTYPE else []
    elif k == "module":
        r = [o.__dict__]
    else:
        r = []
    if k == "dict":
        r.extend(dict.keys(o))
    return r


INSTANCE = getattr(types, "InstanceType", None)


def census():
    """The heap right now, as JSON text (a str: untracked, so that the
    result of one census is not part of the next):
    [[module, name, count, tracked, bytes], ...], tracked objects."""
    objs = gc.get_objects()
    # Everything below is made after the listing, and dies with it.
    me = id(objs)
    # <= 3.10 this call's frame is a tracked object of the listing; the
    # heap pyspect reads (this target parked) does not have it.
    frame = id(sys._getframe()) if sys.version_info < (3, 11) else None
    seen = set()
    seen_add = seen.add
    for o in objs:
        seen_add(id(o))
    seen.discard(me)
    seen.discard(frame)
    ntracked = len(seen)
    table = {}
    kinds = {}
    level = []
    for o in objs:
        i = id(o)
        if i != me and i != frame:
            level.append(o)
    del objs
    tracked = True
    getsizeof = sys.getsizeof
    while level:
        nxt = []
        for o in level:
            t = type(o)
            if t is INSTANCE:
                t = o.__class__     # by class, as guppy does
            key = (t.__module__, t.__name__)
            row = table.get(key)
            if row is None:
                row = table[key] = [0, 0, 0]
            row[0] += 1
            if tracked:
                row[1] += 1
            row[2] += getsizeof(o, 0)
            for r in referents(o, kinds):
                i = id(r)
                if i not in seen:
                    seen_add(i)
                    nxt.append(r)
        level = nxt
        tracked = False
    del level, nxt, seen, kinds
    rows = sorted([m, n, v[0], v[1], v[2]] for (m, n), v in table.items())
    del table
    return json.dumps([rows, ntracked])


def freeze_main(path):
    class Marker(object):
        pass
    frozen = [Marker() for _ in range(300)]
    gc.freeze()
    fresh = [Marker() for _ in range(200)]
    doc = {"frozen": gc.get_freeze_count(), "markers": 500,
           "listed": len(gc.get_objects()) - 1,
           "enabled": gc.isenabled(), "threshold": list(gc.get_threshold())}
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.rename(path + ".tmp", path)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while frozen and fresh:
        time.sleep(1)


def main(path):
    build(SCALE)
    gc.collect()
    gc.collect()
    # 3.12 starts with objects in the permanent generation, which
    # gc.get_objects() does not list; the --freeze mode tests that one.
    if hasattr(gc, "unfreeze"):
        gc.unfreeze()
    gc.disable()
    # The first call of some C functions with keywords makes a tuple of
    # their names that lives forever (3.6-3.7): make them now.
    warm = path + ".warm"
    with open(warm, "w") as f:
        f.write("x")
    del f
    os.rename(warm, warm + "2")
    os.unlink(warm + "2")
    json.loads(json.dumps({"warm": [1, 2.5, "x"]}))
    sys.stdout.write("")
    sys.stdout.flush()
    # From here on nothing that the heap keeps may be made, and nothing
    # tracked made before may die: the census runs, the truth is written,
    # and this frame parks.
    gens = None
    if sys.version_info >= (3, 8):
        gens = "%d %d %d" % (len(gc.get_objects(generation=0)),
                             len(gc.get_objects(generation=1)),
                             len(gc.get_objects(generation=2)))
    # A first census readies what it uses (2.7 readies some builtin
    # types on their first attribute lookup, adding descriptors), and may
    # change the heap once (3.14's enum leaves a name such as
    # '_IntFlag__in_progress' reachable until a lookup made while walking
    # replaces it; when, depends on the walk's order: the hash seed).
    census()
    first = census()
    again = census()
    if again != first:
        sys.stderr.write("census is not stable\n")
        sys.exit(3)
    text = json.dumps({
        "pid": os.getpid(), "version": list(sys.version_info[:3]),
        "census": json.loads(first), "scale": SCALE,
        "gc": {"enabled": gc.isenabled(),
               "threshold": list(gc.get_threshold()),
               "generations": gens and [int(x) for x in gens.split()],
               "garbage": len(gc.garbage)}})
    del again
    with open(path + ".tmp", "w") as f:
        f.write(text)
    del f, text
    os.rename(path + ".tmp", path)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    # Park without making an object (nor a frame): 2.7's time.sleep()
    # takes its argument in a tuple (tracked by the GC) that lives while
    # it sleeps; signal.pause() takes none.
    while True:
        if PY2:
            signal.pause()
        else:
            time.sleep(3600)


if __name__ == "__main__":
    if "--freeze" in sys.argv:
        freeze_main(sys.argv[1])
    else:
        main(sys.argv[1])
