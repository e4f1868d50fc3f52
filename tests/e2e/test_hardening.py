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
