#!/usr/bin/python3
"""Generate the line-table fixtures for tests/unit/test_linetable.c.

Usage: tools/gen_linetable_fixtures.py [OUTDIR] [PYTHON ...]

Runs every Python interpreter it can find (pyenv's versions/3.*/bin/python3
and versions/2.7*/bin/python2.7, /usr/bin/python3 and
tools/sid-bin/python3.14 and 3.15 when the sid root exists, or the ones
named on the command line) on a small
child script.  The child compiles a set of awkward functions (long jumps in
lines and in bytes, loops that jump backwards, decorators, multi-line
expressions, exception handlers, generators, comprehensions, very long
lines, code far down a file, ...) plus one real stdlib module, walks every
code object recursively through co_consts and writes, for each one, its
line table and the line of every byte offset of its bytecode.

Ground truth is the interpreter's own PyCode_Addr2Line(), called through
ctypes -- exactly what pyspect's decoder must reproduce.  The child also
checks it against the documented Python-level views (code.co_lines() on
3.10+, dis.findlinestarts() before) and stops with an error if the two
disagree on any in-range offset, so the fixture cannot silently encode a
CPython corner nobody understood.  Out-of-range queries (negative offsets,
offsets past the end) come only from PyCode_Addr2Line.

Output: OUTDIR/linetable-<version>.txt (default tests/unit/fixtures), one
per interpreter, in this format (whitespace-separated tokens):

    # comment lines
    python 3.11.7
    format 3                      1 = co_lnotab (3.6-3.9), 2 = 3.10
                                  co_linetable, 3 = 3.11+ locations,
                                  4 = co_lnotab with unsigned line
                                  increments (2.7)
    code NAME FIRSTLINENO CODELEN
    table HEX                     "-" when the table is empty
    lines LINE*COUNT ...          the line of byte offsets 0..CODELEN-1,
                                  run-length encoded; -1 = no line
    probes ADDR=LINE ...          out-of-range queries
    end

Runs under /usr/bin/python3 with the standard library only.  The child
script is kept compatible with Python 2.7 and 3.6; the snippets it
compiles say which versions can parse them.
"""

import os
import subprocess
import sys

CHILD = r'''
import binascii
import ctypes
import dis
import sys
import types

VERSION = sys.version_info
if VERSION >= (3, 11):
    FORMAT = 3
elif VERSION >= (3, 10):
    FORMAT = 2
elif VERSION >= (3, 6):
    FORMAT = 1
else:
    FORMAT = 4

addr2line = ctypes.pythonapi.PyCode_Addr2Line
addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
addr2line.restype = ctypes.c_int


def table_of(code):
    if FORMAT in (1, 4):
        return code.co_lnotab
    return code.co_linetable


def documented_lines(code):
    """Line of every byte offset, from the Python-level API."""
    n = len(code.co_code)
    out = [None] * n
    if FORMAT in (1, 4):
        starts = list(dis.findlinestarts(code))
        line = code.co_firstlineno
        j = 0
        for off in range(n):
            while j < len(starts) and starts[j][0] <= off:
                line = starts[j][1]
                j += 1
            out[off] = line
        return out
    for start, end, line in code.co_lines():
        for off in range(max(start, 0), min(end, n)):
            out[off] = -1 if line is None else line
    return out


def walk(code, seen):
    # seen maps id() to the code object itself: holding the reference keeps
    # the id from being reused by a later snippet's code objects.
    if id(code) in seen:
        return
    seen[id(code)] = code
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            for sub in walk(const, seen):
                yield sub


def rle(values):
    runs = []
    for v in values:
        if runs and runs[-1][0] == v:
            runs[-1][1] += 1
        else:
            runs.append([v, 1])
    return " ".join("%d*%d" % (v, c) for v, c in runs)


def emit(code, out, stats):
    n = len(code.co_code)
    truth = [addr2line(code, off) for off in range(n)]
    doc = documented_lines(code)
    for off in range(n):
        if doc[off] is None:
            raise SystemExit("%s: co_lines() leaves byte %d of %s uncovered"
                             % (sys.version.split()[0], off, code.co_name))
        if doc[off] != truth[off]:
            raise SystemExit(
                "%s: %s offset %d: PyCode_Addr2Line says %d, the "
                "documented API says %d" % (sys.version.split()[0],
                                            code.co_name, off, truth[off],
                                            doc[off]))
    probes = []
    for addr in (-1000, -2, -1, n, n + 1, n + 2, n + 100, 1 << 20):
        probes.append("%d=%d" % (addr, addr2line(code, addr)))
    table = table_of(code)
    name = "".join(c if c.isalnum() or c in "<>_." else "_"
                   for c in code.co_name)
    out.append("code %s %d %d" % (name, code.co_firstlineno, n))
    out.append("table %s" % (binascii.hexlify(table).decode()
                             if table else "-"))
    out.append("lines %s" % rle(truth))
    out.append("probes %s" % " ".join(probes))
    out.append("end")
    stats["codes"] += 1
    stats["offsets"] += n
    stats["noline"] += truth.count(-1)


SNIPPETS = []


def snippet(min_version, text, prefix_lines=0):
    if VERSION >= min_version:
        SNIPPETS.append(("\n" * prefix_lines) + text)


snippet((2, 7), """
def empty():
    pass

def docstring_only():
    'just a docstring'

def lambdas(xs):
    f = lambda x: (x +
                   1)
    g = lambda: None
    return [f(x) for x in xs], g
""")

# A body with lots of bytecode on one line: ranges longer than 255 bytes
# (several lnotab pairs / 3.10 entries, several 3.11 entries of 8 units).
snippet((2, 7), "def one_big_line(a, b, c, d):\n    return " +
        " + ".join("a[%d] * b.x%d(c, d=%d)" % (i, i, i) for i in range(45)) +
        "\n")

# Line jumps of more than 127 / 255 lines, forwards and backwards.
snippet((2, 7), "def far_lines(n):\n    x = 1\n" + "\n" * 300 +
        "    y = 2\n" + "    # comment\n" * 200 + "    for i in range(n):\n"
        "        x += i\n" + "\n" * 400 + "        y -= i\n"
        "        if x > y:\n            continue\n" + "\n" * 130 +
        "    return x, y\n")

snippet((2, 7), "def long_loop_body(n):\n    total = 0\n"
        "    while n > 0:\n" +
        "".join("        total += n * %d\n" % i for i in range(200)) +
        "        n -= 1\n    return total\n")

snippet((2, 7), """
import functools

def deco(f):
    return f

@deco
@functools.lru_cache(
    maxsize=None,
)
def decorated(a,
              b=2,
              *args,
              **kw):
    return (a
            + b
            - len(args)
            * len(kw))

class Klass(object):
    attr = 1

    @staticmethod
    def s():
        return 1

    @property
    def p(self):
        return [y
                for x in range(3)
                for y in range(x)
                if y % 2]

    def __init__(self):
        self.d = {k: v for k, v in
                  zip('abc', range(3))}
""")

snippet((3, 6), """
def exceptions(f):
    try:
        f()
    except ValueError as e:
        print(e)
    except (TypeError,
            KeyError):
        raise
    else:
        f(1)
    finally:
        f(2)
    try:
        return f(3)
    finally:
        del f

def withs(path):
    with open(path) as a, \\
         open(path) as b:
        data = a.read()
        if not data:
            return None
    try:
        pass
    except Exception:
        pass
    return data + b.read()

def gen(n):
    for i in range(n):
        yield i
        yield from range(i)
    return n

def nested_comp(m):
    return [[x * y for x in row if x]
            for y, row in enumerate(m)
            if row], {a for a in m}, (b for b in m)

async def coro(q):
    async with q as r:
        async for item in r:
            await q.put(item)
    return [i async for i in q]

def loops(n):
    out = []
    for i in range(n):
        if i % 3 == 0:
            continue
        elif i % 5 == 0:
            break
        while i:
            i -= 1
        else:
            out.append(i)
    else:
        out.append(None)
    return out

def call_args(f, g):
    return f(
        1,
        g(
            2,
            3,
        ),
        key=[
            4,
        ],
    ).attr.method(
    )
""")

# Very long lines: columns past 127 force the 3.11+ long form even when the
# line does not change.
snippet((2, 7), "def wide(v):\n    w = " + "v + " * 120 + "v\n"
        "    return [" + ", ".join("w.a%d" % i for i in range(60)) + "]\n")

snippet((2, 7), "def deep_if(x):\n" + "".join(
    "    %sif x > %d:\n" % ("el" if i else "", i) +
    "        x = x * %d + %d\n" % (i, i) for i in range(70)) +
    "    return x\n")

# Code far down a file: co_firstlineno near 100000.
snippet((2, 7), """
def far_down(a):
    b = a * 2
    return b
""", prefix_lines=99990)

snippet((3, 8), """
def walrus(xs):
    if (n := len(xs)) > 3:
        return [y for x in xs if (y := x * 2)]
    return n

def positional(a, /, b, *, c):
    return a, b, c
""")

snippet((3, 10), """
def matcher(cmd):
    match cmd.split():
        case ["go", direction]:
            return direction
        case ["drop", *objects] if objects:
            return objects
        case {"x": x, **rest}:
            return x, rest
        case Point(x=0, y=y) | [y]:
            return y
        case _:
            return None
""")

snippet((3, 11), """
def groups(f):
    try:
        f()
    except* ValueError as eg:
        print(eg)
    except* (TypeError,
             KeyError):
        raise
    return f
""")

snippet((3, 12), """
def typed[T](x: T) -> T:
    return x

type Alias = list[int]

class Box[T]:
    def get(self) -> T:
        return self.item
""")

snippet((3, 14), """
def templated(name, f):
    greeting = t"hello {name!r:>{10}}"
    try:
        f(greeting)
    except ValueError, TypeError:
        return None
    finally:
        pass
    return greeting
""")

# One real module, for variety.
STDLIB = ("textwrap",)


def main():
    out = []
    stats = {"codes": 0, "offsets": 0, "noline": 0}
    seen = {}
    for i, text in enumerate(SNIPPETS):
        code = compile(text, "<snippet %d>" % i, "exec")
        for c in walk(code, seen):
            emit(c, out, stats)
    for mod in STDLIB:
        path = __import__(mod).__file__
        if path.endswith(".pyc"):
            path = path[:-1]            # 2.7 names the compiled file
        with open(path) as f:
            code = compile(f.read(), mod + ".py", "exec")
        for c in walk(code, seen):
            emit(c, out, stats)
    head = [
        "# generated by tools/gen_linetable_fixtures.py; do not edit",
        "# %s" % sys.version.replace("\n", " "),
        "# %(codes)d code objects, %(offsets)d byte offsets, "
        "%(noline)d without a line" % stats,
        "python %d.%d.%d" % VERSION[:3],
        "format %d" % FORMAT,
    ]
    sys.stdout.write("\n".join(head + out) + "\n")


main()
'''


def find_interpreters():
    found = []
    try:
        root = subprocess.check_output(["pyenv", "root"],
                                       universal_newlines=True).strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.path.expanduser("~/.pyenv")
    versions = os.path.join(root, "versions")
    if os.path.isdir(versions):
        for name in sorted(os.listdir(versions)):
            exe = os.path.join(versions, name, "bin", "python3")
            if name.startswith("2.7"):
                exe = os.path.join(versions, name, "bin", "python2.7")
            if name[:2] in ("2.", "3.") and os.access(exe, os.X_OK):
                found.append(exe)
    if os.access("/usr/bin/python3", os.X_OK):
        found.append("/usr/bin/python3")
    # 3.14 and 3.15 from the Debian sid root, when tools/sid-root made it.
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        root = subprocess.check_output([os.path.join(here, "sid-root"),
                                        "path"],
                                       universal_newlines=True).strip()
    except (OSError, subprocess.CalledProcessError):
        root = None
    for v in ("3.14", "3.15"):
        if root and os.access(os.path.join(root, "usr", "bin",
                                           "python" + v), os.X_OK):
            found.append(os.path.join(here, "sid-bin", "python" + v))
    return found


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.normpath(os.path.join(here, "..", "tests", "unit",
                                            "fixtures"))
    outdir = sys.argv[1] if len(sys.argv) > 1 else default
    pythons = sys.argv[2:] or find_interpreters()
    os.makedirs(outdir, exist_ok=True)
    written = {}
    for exe in pythons:
        # -I: isolated, so no user site or PYTHON* variables change what
        # the compiler does (2.7: -E -s); -S keeps startup small.
        two = os.path.basename(exe).startswith("python2")
        text = subprocess.run([exe] + (["-E", "-s"] if two else ["-I"]) +
                              ["-S", "-c", CHILD],
                              stdout=subprocess.PIPE, check=True,
                              universal_newlines=True, timeout=300).stdout
        version = next(l.split()[1] for l in text.splitlines()
                       if l.startswith("python "))
        if version in written:
            continue
        written[version] = exe
        path = os.path.join(outdir, "linetable-%s.txt" % version)
        with open(path, "w") as f:
            f.write(text)
        print("%s: %s (%s)" % (exe, path, text.splitlines()[2][2:]))


if __name__ == "__main__":
    main()
