"""A running program for `pyspect alloc -p`: it waits for commands on
stdin (blocked in read(), where the tracker can be loaded) and answers on
stdout.  Runs on Python 2.7 and 3.6+.

  READY SIZE FILE LINE   first: the size of one object make() returns,
                         and the file and line of its allocation
  work N    -> DONE K    make N more objects and keep them (K in all)
  check     -> OK K      every kept object still holds what it was made
                         with (or BAD I)
"""
import sys


def make(i):
    return b"%07d" % i + b"k" * 993


def main():
    kept = []
    co = make.__code__
    sys.stdout.write("READY %d %s %d\n" % (
        sys.getsizeof(make(0)), co.co_filename, co.co_firstlineno + 1))
    sys.stdout.flush()
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        words = line.split()
        if words[0] == "work":
            for _ in range(int(words[1])):
                kept.append(make(len(kept)))
            sys.stdout.write("DONE %d\n" % len(kept))
        elif words[0] == "check":
            bad = [i for i, b in enumerate(kept) if b != make(i)]
            sys.stdout.write("BAD %d\n" % bad[0] if bad else
                             "OK %d\n" % len(kept))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
