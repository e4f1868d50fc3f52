"""Every way the evaluator calls a Python function, in turn, until
killed: each kind of call reaches work() through a frame of its own
(named k_<kind> where the code is ours), so record must keep its samples
-- a check that refuses a caller the evaluator left in an unusual state
(3.13+'s __init__ trampoline, a property, a generator) drops them all.
Runs on 2.7 and 3.6+."""
import _common


def work():
    x = 0
    for i in range(300):
        x += i
    return x


class K(object):
    def __init__(self):                  # CALL_ALLOC_AND_ENTER_INIT (3.13+)
        work()

    @property
    def k_property(self):                # LOAD_ATTR_PROPERTY
        return work()

    def __getitem__(self, key):          # BINARY_SUBSCR_GETITEM
        return work()

    def k_method(self):                  # CALL_BOUND_METHOD_EXACT_ARGS
        return work()


class Sub(K):
    def __init__(self):
        super(Sub, self).__init__()      # super() then a call


def k_generator():                       # FOR_ITER_GEN
    while True:
        yield work()


def k_star(*args, **kwargs):             # CALL_FUNCTION_EX
    return work()


def k_defaults(a, b=1, c=2):             # CALL_PY_WITH_DEFAULTS
    return work()


def k_key(v):                            # a Python key, called from C
    return work()


def main():
    _common.report({})
    k = K()
    gen = k_generator()
    while True:
        for _ in range(20):
            K()
            Sub()
            k.k_property
            k[0]
            k.k_method()
            next(gen)
            k_star(*(1, 2), **{"x": 3})
            k_defaults(1)
            sorted([3, 1, 2], key=k_key)


main()
