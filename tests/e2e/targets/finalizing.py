"""A program whose interpreter takes a while to finalize: it builds a few
million small objects in a module global and exits, so that clearing the
module while the interpreter shuts down frees them all, with no Python
frame running.  For record's "(Python finalizing)"."""
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 3000000


def build(n):
    return [(i, str(i)) for i in range(n)]


objects = build(N)
