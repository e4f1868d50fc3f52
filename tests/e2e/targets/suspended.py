"""Oracle for the sizes of suspended generators, coroutines and async
generators: it makes many of each, with frames of different sizes (a few
or many locals, a shallow or deep value stack where they stop), counts
every object of those kinds the collector tracks and adds up
sys.getsizeof() of each kind itself, reports {kind: [count, bytes]} as
"sizes", and parks.  Coroutines and async generators are 3.5+/3.6+;
2.7 has generators (and their frames) only."""
import gc
import sys

import _common

KINDS = ("generator", "coroutine", "async_generator", "frame")
N = 60
keep = []

# Generators with 1, 8 and 40 locals, stopped at a shallow and at a deep
# point of the value stack.
for nlocals in (1, 8, 40):
    names = ", ".join("v%d" % i for i in range(nlocals))
    src = ("def gen_%d(k):\n"
           "    %s = %s\n"
           "    yield k\n"
           "    x = (k, (k, (k, (k, (k, (k, (yield k)))))))\n"
           "    yield x\n" % (nlocals, names, ", ".join(["k"] * nlocals)
                             if nlocals > 1 else "k"))
    exec(src)
for i in range(N):
    g = globals()["gen_%d" % (1, 8, 40)[i % 3]](i)
    next(g)
    if i % 2:
        next(g)
    keep.append(g)

if sys.version_info >= (3, 6):
    exec('''
class Suspend(object):
    """An awaitable that stops its awaiter once."""
    def __await__(self):
        yield self


async def coro_small(k):
    await Suspend()


async def coro_big(k):
    a, b, c, d, e, f, g, h = k, k, k, k, k, k, k, k
    x = (k, (k, (k, (k, await Suspend()))))
    return x


async def agen(k):
    a, b, c = k, k, k
    yield k
    await Suspend()
''')
    for i in range(N):
        c = (coro_small if i % 2 else coro_big)(i)
        c.send(None)
        keep.append(c)
        a = agen(i)
        step = a.asend(None)
        try:
            step.send(None)
        except StopIteration:
            pass  # the async generator is suspended at its yield
        keep.append(a)


def census():
    sizes = dict((k, [0, 0]) for k in KINDS)
    me = sys._getframe()  # gone when the target parks
    for o in gc.get_objects():
        name = type(o).__name__
        if name in sizes and o is not me:
            sizes[name][0] += 1
            sizes[name][1] += sys.getsizeof(o)
    del me  # or the frame would keep itself alive
    return sizes


gc.collect()
gc.disable()
_common.settle()
_common.report({}, {"sizes": census()})
_common.HOLD.acquire()
