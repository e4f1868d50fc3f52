"""Oracle for torn stacks: call chains that alternate every few
microseconds.  Thread "chains" runs a1->a2->a3->spin and b1->b2->b3->spin
in turn; thread "generator" consumes a generator in a loop.  A stack that
holds frames of both chains, or a produce() frame under use() (or the
reverse), cannot have happened.  Runs until killed."""
import _common


def spin(n):
    x = 0
    for i in range(n):
        x += i
    return x


def a1(n): return a2(n)  # noqa: E704
def a2(n): return a3(n)  # noqa: E704
def a3(n): return spin(n)  # noqa: E704
def b1(n): return b2(n)  # noqa: E704
def b2(n): return b3(n)  # noqa: E704
def b3(n): return spin(n)  # noqa: E704


def chains():
    _common.arrived()
    while True:
        a1(20)
        b1(20)


def inner_p(i):
    return i * 2


def produce():
    i = 0
    while True:
        yield inner_p(i)
        i += 1


def inner_u(v):
    return v + 1


def use(v):
    return inner_u(v)


def generator():
    _common.arrived()
    for v in produce():
        use(v)


_common.start_thread(chains, "chains")
_common.start_thread(generator, "generator")
_common.wait_arrivals(2)
_common.report({})
_common.HOLD.acquire()
