"""pyspect against targets that are broken or busy: no crash, no hang, a
clear partial answer.

targets/damage.py damages its own code objects, frames, type pointers,
types, dict keys, a pymalloc pool header and free list, and malloc's
chunks through ctypes, then parks.  Every reading command runs against
it on every interpreter (and, marked `sanitize`, in the ASan + UBSan
build): each must end in bounded time with a status and, where it has
one, valid JSON that says what it could not read.  A busy target (two
threads recursing 3,000 deep, again and again) must dump cleanly.
"""
import json
import re
import os
import subprocess
import sys

import pytest

from conftest import PYSPECT, pyspect

# A command that hangs on damaged memory is a failure, not a wait.
BOUND_S = 60
# Statuses a command may end with on a damaged target: success, or "the
# target kept changing / is inconsistent".  Never a signal, never a
# sanitizer report (ASan exits 99, UBSan 98 in `make test`).
OK_STATUS = (0, 10)


def run(*args):
    r = pyspect(*args, timeout=BOUND_S)
    assert r.rc >= 0, "pyspect %s died of signal %d: %s" % (
        " ".join(map(str, args)), -r.rc, r.err[-3000:])
    assert r.rc not in (98, 99), "sanitizer report from %s:\n%s" % (
        " ".join(map(str, args)), r.err[-3000:])
    return r


def threads_by_name(doc):
    return dict((t["name"], t) for t in doc["threads"])


@pytest.mark.sanitize
def test_damaged_target(python, target, tmp_path):
    t = target(python, "damage.py")
    damaged = ["bad_name", "bad_file", "long_name", "bad_code", "loop"]
    if tuple(python.version) >= (3, 11):
        damaged.append("bad_qualname")

    # dump: the healthy thread exactly, every damaged one with its error.
    r = run("dump", t.pid, "--json")
    assert r.rc == 0, r.err
    threads = threads_by_name(json.loads(r.out))
    want = t.truth["threads"]["healthy"]["frames"]
    got = threads["healthy"]["frames"]
    assert [(f["function"], f["line"]) for f in got] == \
        [(f["function"], f["line"]) for f in want]
    for name in damaged:
        assert threads[name].get("error"), (name, threads[name])
        assert threads[name]["frames"] == []
    r = run("dump", t.pid, "--blocking")
    assert r.rc == 0, r.err
    assert "healthy_inner" in r.out and "<stack unreadable" in r.out

    # heap: objects whose type is not a type are unreadable, counted.
    r = run("heap", t.pid, "--json")
    assert r.rc in OK_STATUS, r.err
    if r.rc == 0:
        doc = json.loads(r.out)
        assert doc["unreadable"] >= 4, doc["unreadable"]
        assert doc["complete"] is False and doc["problem"]
        # A damaged length is not counted as memory (it said 1.0 TiB).
        assert doc["bytes"] < 1 << 30, doc["bytes"]
        names = set(row["type"] for row in doc["types"])
        assert "BrokenSize" not in names
    r = run("heap", t.pid, "--refs", "Victim", "--json")
    assert r.rc in OK_STATUS, r.err
    if r.rc == 0:
        assert json.loads(r.out)["instances"] >= 1

    # mem: the damaged allocator structures are reported, not trusted.
    r = run("mem", t.pid, "--json")
    assert r.rc in OK_STATUS, r.err
    if r.rc == 0:
        doc = json.loads(r.out)
        assert doc["pymalloc"]["complete"] is False
        assert doc["pymalloc"]["problem"]
        assert doc["malloc"]["complete"] is False
        assert doc["malloc"]["problem"]
        # The chunk of size 0 ends the walk of malloc's blocks: said so.
        assert doc["objects_in_malloc"]["complete"] is False
        assert doc["objects_in_malloc"]["problem"]

    # record: the damaged threads are dropped samples, the rest recorded.
    out = tmp_path / "damaged.collapsed"
    r = run("record", "-d", "0.3", "--mode", "wall", "--blocking", "-q",
            "-o", out, t.pid)
    assert r.rc == 0, r.err
    assert "healthy_inner" in out.read_text(errors="replace")


@pytest.mark.sanitize
def test_busy_deep_threads(target):
    """Two threads recursing 3,000 deep again and again: frames come and
    go under the reader, code objects are read again and again."""
    from conftest import PYTHONS
    python = PYTHONS.get("3.12") or PYTHONS.get("3.13") or \
        next(iter(PYTHONS.values()))
    t = target(python, "recurse.py", 2, 3000)
    for _ in range(20):
        r = run("dump", t.pid, "--json")
        assert r.rc in OK_STATUS, r.err
        if r.rc == 0:
            doc = json.loads(r.out)
            assert len(doc["threads"]) == 3


def test_source_lines_only_as_the_target_could_read(tmp_path):
    """co_filename is the target's to choose: a root pyspect shows a
    source line only from a regular file the target's user may read, and
    a FIFO, /dev/stdin or a directory named there neither hang it nor
    make it read its own input."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to run the target as another user")
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs /usr/bin/python3 (a target any user may run)")
    import shutil
    import stat
    import tempfile
    from conftest import TARGETS
    d = tempfile.mkdtemp(prefix="pyspect-names-")
    try:
        os.chmod(d, 0o755)
        for script in ("_common.py", "names.py"):
            shutil.copy(str(TARGETS / script), d)
        out_dir = os.path.join(d, "out")
        os.mkdir(out_dir)
        os.chmod(out_dir, 0o777)

        def source(name, marker, mode):
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write("\n\n\n    %s\n" % marker)
            os.chmod(path, mode)
            return path
        readable = source("ok.py", "READABLE_LINE", 0o644)
        secret = source("secret.py", "SECRET_LINE", 0o600)
        os.mkdir(os.path.join(d, "hidden"), 0o700)
        hidden = source("hidden/inner.py", "HIDDEN_LINE", 0o644)
        fifo = os.path.join(d, "fifo")
        os.mkfifo(fifo, 0o666)
        names = [readable, secret, hidden, fifo, "/dev/stdin", d,
                 "/proc/self/fd/0"]

        def as_nobody():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        p = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(d, "names.py"),
             os.path.join(out_dir, "truth.json")] + names,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, preexec_fn=as_nobody, cwd=d)
        try:
            line = p.stdout.readline()
            assert line == b"READY\n", (line, p.stderr.read())
            r = subprocess.run([PYSPECT, "dump", str(p.pid)],
                               input=b"\n\n\n    STDIN_LEAK\n" * 100,
                               capture_output=True, timeout=BOUND_S)
            out = r.stdout.decode("utf-8", "replace")
            assert r.returncode == 0, r.stderr
            assert "READABLE_LINE" in out
            for leak in ("SECRET_LINE", "HIDDEN_LINE", "STDIN_LEAK"):
                assert leak not in out, out
            assert stat.S_ISFIFO(os.stat(fifo).st_mode)
        finally:
            p.kill()
            p.wait()
    finally:
        shutil.rmtree(d)


# ---- hostile names --------------------------------------------------------

# Characters that must never reach a terminal raw: C0 controls but the
# newline, DEL, C1 controls, bidirectional overrides and isolates.
RAW = re.compile(u"[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e"
                 u"\u2066-\u2069]")
LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
HOSTILE_ARGS = ["\x1b]0;ARGV\x07", "\nThread 998 \"forged\" (running)"]


def check_text(what, data):
    """Terminal text: valid UTF-8, nothing raw, no forged line."""
    text = data.decode("utf-8")  # strict: raises on anything else
    m = RAW.search(text)
    assert m is None, "%s: raw %r in %r" % (what, m.group(),
                                            text[max(0, m.start() - 60):
                                                 m.end() + 60])
    for line in text.splitlines():
        assert not line.startswith(("Thread 99", "    forged")), \
            "%s: a forged line %r" % (what, line)


def check_file(what, data):
    """A text file: valid UTF-8, no control characters but newlines."""
    text = data.decode("utf-8")
    m = re.search(u"[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f]", text)
    assert m is None, "%s: raw %r" % (what, m.group())


def check_json(what, data):
    text = data.decode("utf-8")
    assert LONE_SURROGATE.search(text) is None, "%s: a lone surrogate" % what
    return json.loads(text)


def run_bytes(*args):
    p = subprocess.run([PYSPECT] + [str(a) for a in args],
                       capture_output=True, timeout=BOUND_S)
    assert p.returncode >= 0 and p.returncode not in (98, 99), p.stderr
    return p


@pytest.mark.sanitize
def test_hostile_names(python, target, tmp_path):
    t = target(python, "hostile.py", *HOSTILE_ARGS)
    for args in (["dump"], ["dump", "--blocking"], ["heap"],
                 ["heap", "--refs", "HostileRef", "--max", "20"],
                 ["mem", "--no-census"], ["mem"]):
        p = run_bytes(*(args + [t.pid]))
        assert p.returncode == 0, (args, p.stderr)
        check_text(" ".join(args), p.stdout)
        check_text(" ".join(args) + " (stderr)", p.stderr)
    doc = check_json("dump --json", run_bytes("dump", "--json",
                                              t.pid).stdout)
    assert len(doc["threads"]) >= 10
    check_json("heap --json", run_bytes("heap", "--json", t.pid).stdout)
    check_json("heap --refs --json",
               run_bytes("heap", "--refs", "HostileRef", "--json",
                         t.pid).stdout)
    check_json("mem --json", run_bytes("mem", "--json", "--no-census",
                                       t.pid).stdout)
    # A name from the command line is quoted back escaped.
    p = run_bytes("heap", "--refs", "No\x1b[2JSuch\x07", t.pid)
    assert p.returncode == 1
    check_text("heap --refs (message)", p.stderr)
    # Files: every one valid in its format.
    dot = tmp_path / "refs.dot"
    p = run_bytes("heap", "--refs", "HostileRef", "-o", dot, t.pid)
    assert p.returncode == 0, p.stderr
    check_file("refs.dot", dot.read_bytes())
    out = tmp_path / "prof.json"
    p = run_bytes("record", "-d", "0.2", "--mode", "wall", "-q", "-f",
                  "speedscope", "-o", out, t.pid)
    assert p.returncode == 0, p.stderr
    check_json("speedscope", out.read_bytes())


def test_hostile_names_svg(target, tmp_path):
    """heap --refs -o x.svg through Graphviz: valid XML."""
    import shutil
    import xml.etree.ElementTree as ET
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed (tools/install-deps does)")
    from conftest import PYTHONS
    python = PYTHONS.get("system") or next(iter(PYTHONS.values()))
    t = target(python, "hostile.py", *HOSTILE_ARGS)
    svg = tmp_path / "refs.svg"
    p = run_bytes("heap", "--refs", "HostileRef", "-o", svg, t.pid)
    assert p.returncode == 0, p.stderr
    check_file("refs.svg", svg.read_bytes())
    ET.parse(str(svg))
    if shutil.which("xmllint"):
        subprocess.run(["xmllint", "--noout", str(svg)], check=True,
                       timeout=60)


def test_hostile_executable(target, tmp_path):
    """A static Python whose own path is hostile: headers and messages
    escape it."""
    import shutil
    exe = "/usr/bin/python3"
    if not os.path.exists(exe):
        pytest.skip("needs Debian's static /usr/bin/python3")
    from conftest import Python
    hostile_exe = tmp_path / "py\x1b]0;EXE\x07\nThread 997 forged"
    shutil.copy(os.path.realpath(exe), str(hostile_exe))
    py = Python("hostile", str(hostile_exe), (3, 11, 0), True)
    t = target(py, "hostile.py")
    for args in (["dump"], ["heap"], ["mem", "--no-census"]):
        p = run_bytes(*(args + [t.pid]))
        assert p.returncode == 0, (args, p.stderr)
        check_text(" ".join(args), p.stdout + p.stderr)
