"""Benchmark target: deep, fast recursion (fib(22), then a walk 60 calls
deep), the stack changing every few hundred nanoseconds.  Forever; or,
with argv[1] = rounds of work to time, that many rounds, printing their
wall time ("work <seconds>") before exiting."""
import sys
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def walk(n):
    return 0 if n == 0 else walk(n - 1) + 1


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    t0 = time.time()
    i = 0
    while rounds == 0 or i < rounds:
        fib(22)
        walk(60)
        i += 1
    sys.stdout.write("work %.6f\n" % (time.time() - t0))
    sys.stdout.flush()


main()
