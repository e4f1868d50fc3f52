"""pyspect dump, heap and mem on core files against the live process.

Each test parks a target, asks the live commands first, then takes a
core with gdb's gcore (which stops the process for a moment and lets it
go; a parked target does not notice) and asks the same of the core: the
answers must be the same, field by field, except what only a live
process has (the pause, RSS).  Then cores pyspect must refuse with one
clear line: cut short, not a core, not Python, the wrong executable.
"""
import collections
import contextlib
import json
import os
import re
import resource
import shutil
import struct
import subprocess
import sys

import pytest

from conftest import PYTHONS, pyspect
from test_heap import send, wait_parked

GCORE = shutil.which("gcore")


# The vsyscall page, which gcore never can read (and no one needs).
VSYSCALL = 0xffffffffff600000

Core = collections.namedtuple("Core", "path args lost")


def load_segments(path):
    """{p_vaddr: p_vaddr + p_memsz} of the PT_LOAD segments of an x86-64
    ELF core."""
    with open(path, "rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    out = {}
    for i in range(phnum):
        p_type, _, _, vaddr, _, _, memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", table, i * phentsize)
        if p_type == 1:
            out[vaddr] = vaddr + memsz
    return out


def gcore(pid, directory):
    """A core of pid, taken by gdb's gcore (installed by tools/install-deps),
    as directory/core.PID.  args: what pyspect needs to read it (--sysroot
    for a target in a root of its own, like the 3.14/3.15 ones: the debug
    file of their glibc is in that root).  lost: (start, end) of the
    mappings gcore says it could not read.  gdb 13 copies a mapping 1 MiB
    at a time and, at the first read that fails, warns with the mapping's
    start address and writes nothing more of it (the rest is a hole in the
    file): glibc 2.42 and later put a guard region (MADV_GUARD_INSTALL)
    at the bottom of each thread stack, which cannot be read, so every
    thread stack but the main one is lost."""
    assert GCORE, "gcore not found (Debian package gdb)"
    root = os.readlink("/proc/%d/root" % pid)
    prefix = os.path.join(str(directory), "core")
    r = subprocess.run([GCORE, "-o", prefix, str(pid)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120, universal_newlines=True)
    path = "%s.%d" % (prefix, pid)
    assert r.returncode == 0 and os.path.exists(path), r.stderr[-2000:]
    segments = load_segments(path)
    lost = [(a, segments[a]) for a in (int(x, 16) for x in re.findall(
        r"Memory read failed for corefile section, \d+ bytes at "
        r"(0x[0-9a-f]+)", r.stderr)) if a != VSYSCALL]
    args = ["--core", path]
    if root != "/":
        args += ["--sysroot", root]
    return Core(path, args, lost)


@contextlib.contextmanager
def small_stacks():
    """Start targets with 2 MiB thread stacks (glibc sizes them from
    RLIMIT_STACK): gcore writes every page of every mapping, touched or
    not."""
    old = resource.getrlimit(resource.RLIMIT_STACK)
    resource.setrlimit(resource.RLIMIT_STACK, (2 << 20, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_STACK, old)


def scenario(python, target):
    """The dump scenario, its 25 threads sharing one malloc arena: gcore
    writes out even the 64 MiB reservation of each thread arena, and the
    core would be over 1 GB."""
    with small_stacks():
        return target(python, "scenario.py", env={"MALLOC_ARENA_MAX": "1"})


def run_json(*args):
    r = pyspect(*args, "--json", timeout=120)
    assert r.rc == 0, "pyspect %s failed (%d): %s" % (args[0], r.rc, r.err)
    return json.loads(r.out)


def one_line(err):
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    return lines[0]


# ---- the same answers --------------------------------------------------------

@pytest.mark.sanitize
def test_dump_core_equals_live(python, target, tmp_path):
    """Every thread of the dump scenario (20+ threads, 1000-deep recursion,
    names, GIL, states), live and from its core."""
    t = scenario(python, target)
    live = run_json("dump", t.pid)
    core = gcore(t.pid, tmp_path)
    doc = run_json("dump", *core.args)
    assert doc["core"] == core.path and doc["core_partial"] is False
    assert doc["pid"] == live["pid"] and doc["python"] == live["python"]
    assert doc["paused_ms"] is None
    assert len(doc["threads"]) == len(live["threads"]) > 20
    assert doc["threads"][0] == live["threads"][0]
    for got, want in zip(doc["threads"], live["threads"]):
        if got == want:
            continue
        # A stack that needs memory gcore said it lost is unreadable and
        # says where, never wrong.
        assert got["error"] == "memory the core file does not hold", \
            (got, want)
        assert any(a <= got["missing_address"] < b
                   for a, b in core.lost), (got, core.lost)
        # What it waits on is read from that stack too.
        assert dict(got, error=None, missing_address=None,
                    frames=want["frames"], waiting_for=None) == \
            dict(want, error=None, missing_address=None, waiting_for=None)
    lost = [t for t in doc["threads"] if "missing_address" in t]
    text = pyspect("dump", *core.args, timeout=120)
    assert text.rc == 0, text.err
    assert text.out.count("memory the core file does not hold (at 0x") == \
        len(lost)
    assert "Core file %s" % core.path in text.out
    assert ("Process %d: " % t.pid) in text.out.splitlines()[0]


def census_fields(doc):
    """What a census says about the heap, not about how it was taken."""
    return {k: v for k, v in doc.items()
            if k not in ("paused_ms", "core", "core_partial")}


def test_heap_and_mem_core_equal_live(python, target, tmp_path):
    """The heap census, glibc malloc's and pymalloc's figures and the census
    of objects in malloc's blocks, live and from the core; RSS is not in a
    core and the split is of mapped sizes."""
    t = target(python, "memtarget.py", "accuracy")
    wait_parked(t.pid)
    heap = run_json("heap", t.pid)
    mem = run_json("mem", t.pid)
    core = gcore(t.pid, tmp_path)

    h = run_json("heap", *core.args)
    assert h["core"] == core.path and h["paused_ms"] is None
    assert census_fields(h) == census_fields(heap)

    m = run_json("mem", *core.args)
    assert m["core"] == core.path and m["core_partial"] is False
    for key in ("rss", "pss", "uss", "swap", "paused_ms"):
        assert m[key] is None, key
    assert m["regions"]["basis"] == "mapped"
    assert m["regions"]["exact"] is False
    assert m["malloc"]["complete"] and m["pymalloc"]["complete"]
    # What is resident is not in a core; everything else is the same.
    assert m["malloc"].pop("free_resident") is None
    mem["malloc"].pop("free_resident")
    assert m["malloc"] == mem["malloc"]
    assert m["pymalloc"] == mem["pymalloc"]
    assert m["objects_in_malloc"] == mem["objects_in_malloc"]
    assert m["regions"]["mmap_large"] == mem["malloc"]["mmapped_found"][
        "bytes"]
    assert m["verdict"]
    text = pyspect("mem", *core.args, timeout=120)
    assert text.rc == 0, text.err
    assert "RSS is not in a core file" in text.out


def test_heap_growth_between_two_cores(python, target, tmp_path):
    """--growth takes the earlier core, --core the later one."""
    t = target(python, "heapgrow.py")
    send(t, "ping", "pong")  # it waits in readline() for the next one
    (tmp_path / "before").mkdir()
    before = gcore(t.pid, tmp_path / "before")
    send(t, "grow 1000", "grown")
    after = gcore(t.pid, tmp_path)
    doc = run_json("heap", "--growth", before.path, *after.args)
    assert doc["interval"] is None and doc["before"]["core"] == before.path
    rows = {(x["module"], x["type"]): x for x in doc["growth"]}
    grown = rows[("__main__", "Grown")]
    assert grown["delta"] == 1000 and grown["count"] == 1000


# ---- cores pyspect refuses --------------------------------------------------

@pytest.fixture(scope="module")
def some_python():
    for label in ("system", "3.12", "3.11", "3.13"):
        if label in PYTHONS:
            return PYTHONS[label]
    pytest.skip("no interpreter")


def notes_first(src, dst):
    """Rewrite gcore's core (notes at the end) as the kernel lays one out:
    headers, notes, then memory, so that cutting its end cuts memory only.
    Returns the offset where its last memory segment starts."""
    with open(src, "rb") as f:
        data = f.read()
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    phdrs = [list(struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i))
             for i in range(phnum)]
    notes = [p for p in phdrs if p[0] == 4]
    loads = [p for p in phdrs if p[0] != 4]
    out = bytearray(data[:64])
    struct.pack_into("<Q", out, 32, 64)
    struct.pack_into("<Q", out, 40, 0)  # no section headers
    struct.pack_into("<HH", out, 60, 0, 0)
    body, pos = bytearray(), 64 + 56 * phnum
    last = 0
    for p in notes + loads:
        chunk = data[p[2]:p[2] + p[5]]
        if p[0] == 1 and p[5]:
            last = pos + len(body)
        p[2] = pos + len(body)
        body += chunk
    for p in notes + loads:
        out += struct.pack("<IIQQQQQQ", *p)
    out += body
    with open(dst, "wb") as f:
        f.write(out)
    return last


@pytest.mark.sanitize
def test_truncated_core(some_python, target, tmp_path):
    """Cut in its notes: one line, exit 16.  Cut in its last memory (the
    highest mapping, not the Python heap): the answer for what is there,
    marked partial, with a warning."""
    t = scenario(some_python, target)
    live = run_json("dump", t.pid)
    core = gcore(t.pid, tmp_path).path
    with open(core, "rb") as f:
        data = f.read()

    # gcore writes its notes last (then section headers): a cut there
    # loses them.
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    notes_end = max(off + size for kind, _, off, _, _, size in (
        struct.unpack_from("<IIQQQQ", data, phoff + 56 * i)
        for i in range(phnum)) if kind == 4)
    cut = str(tmp_path / "core.notes")
    with open(cut, "wb") as f:
        f.write(data[:notes_end - 100])
    r = pyspect("dump", "--core", cut)
    assert r.rc == 16, r
    assert "truncated" in one_line(r.err) and "notes" in r.err

    kernel = str(tmp_path / "core.kernel")
    last = notes_first(core, kernel)
    assert run_json("dump", "--core", kernel)["threads"] == live["threads"]
    with open(kernel, "rb") as f:
        data = f.read()
    cut = str(tmp_path / "core.tail")
    with open(cut, "wb") as f:
        f.write(data[:last + (len(data) - last) // 2])
    r = pyspect("dump", "--core", cut, "--json")
    assert r.rc == 0, r.err
    assert "truncated" in one_line(r.err) and "partial" in r.err
    doc = json.loads(r.out)
    assert doc["core_partial"] is True
    assert doc["threads"] == live["threads"]


def test_core_of_a_program_that_is_not_python(tmp_path):
    p = subprocess.Popen(["sleep", "600"])
    try:
        core = gcore(p.pid, tmp_path).path
    finally:
        p.kill()
        p.wait()
    for cmd in ("dump", "heap", "mem"):
        r = pyspect(cmd, "--core", core)
        assert r.rc == 5, r
        line = one_line(r.err)
        assert "not a Python process" in line and core in line


def test_not_a_core(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not an ELF file\n")
    r = pyspect("dump", "--core", path)
    assert r.rc == 15 and "not a core file" in one_line(r.err), r
    r = pyspect("dump", "--core", sys.executable)
    assert r.rc == 15 and "not a core" in one_line(r.err), r
    r = pyspect("dump", "--core", tmp_path / "missing")
    assert r.rc == 1 and "No such file" in one_line(r.err), r


def test_wrong_executable(some_python, target, tmp_path):
    """--executable that is not the file the process ran is refused (its
    first page differs from the core's copy), and says so: the answer
    fails when the runtime is in the executable (a static build), and is
    marked partial when it is in libpython."""
    t = scenario(some_python, target)
    static = run_json("dump", t.pid)["python"]["library"] is None
    core = gcore(t.pid, tmp_path).path
    r = pyspect("dump", "--core", core, "--executable", "/bin/true",
                "--json")
    assert "is not the file the process mapped" in one_line(r.err), r.err
    if static:
        assert r.rc != 0 and r.out == ""
    else:
        assert r.rc == 0 and json.loads(r.out)["core_partial"] is True
    r = pyspect("dump", "--core", core, "--executable", some_python.exe)
    assert r.rc == 0 and r.err == "", r.err


def test_usage(tmp_path):
    for args in (["--core", "x", "1234"], ["-p", "1", "--core", "x"],
                 ["1234", "--sysroot", "/"], ["--executable", "x", "1"],
                 ["--core", "x", "--blocking"]):
        r = pyspect("dump", *args)
        assert r.rc == 2, (args, r)
    r = pyspect("heap", "--growth", "notacore", "--core", tmp_path / "x")
    assert r.rc == 1, r
