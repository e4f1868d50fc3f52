"""Deep, fast recursion until killed: fib(22) then a walk 60 calls deep,
over and over, so the stack changes every few hundred nanoseconds.  Every
stack it can have is <module> -> main, then fib (up to 22 deep) or walk
(up to 61 deep); record must keep almost every
sample and never mix the two."""
import _common


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def walk(n):
    return 0 if n == 0 else walk(n - 1) + 1


def main():
    _common.report({})
    while True:
        fib(22)
        walk(60)


main()
