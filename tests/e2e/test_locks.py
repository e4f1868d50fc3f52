"""Lock waits, their holders and deadlocks, against what the target knows:
the id() of each lock its threads wait for, who holds the RLocks, and the
thread that took the GIL for good."""
import json
import os
import time

import pytest

from conftest import SID_VERSIONS, dump_json, pyspect, shared_target
from test_core import gcore, small_stacks

pytestmark = pytest.mark.sanitize


@pytest.fixture
def locks(python, shared_targets, tmp_path_factory):
    return shared_target(shared_targets, tmp_path_factory, python,
                         "locks.py")


def by_name(doc):
    return {t["name"]: t for t in doc["threads"]}


def dump_when_gil_taken(target, *extra):
    """The GIL is taken for good just after the truth is written: dump
    once the main thread waits for it."""
    deadline = time.monotonic() + 15
    while True:
        doc = dump_json(target.pid, *extra)
        main = by_name(doc)["MainThread"].get("waiting_for")
        if (main and main["kind"] == "gil") or time.monotonic() > deadline:
            return doc
        time.sleep(0.05)


def expected_waits(target):
    out = {}
    for name, (kind, address, owner) in target.truth["expect"].items():
        out[name] = {"kind": kind, "address": address, "owner_tid": owner}
    return out


@pytest.mark.parametrize("native", [False, True], ids=["live", "native"])
def test_waits_name_the_lock_and_its_holder(python, locks, native):
    doc = dump_when_gil_taken(locks, *(["--native"] if native else []))
    threads = by_name(doc)
    for name, want in expected_waits(locks).items():
        assert threads[name].get("waiting_for") == want, name
    # Threads that hold or sleep wait for nothing.
    for name in ("cond_holder", "gil_hog"):
        assert "waiting_for" not in threads[name], name


def test_gil_wait_names_the_holder(python, locks):
    doc = dump_when_gil_taken(locks)
    threads = by_name(doc)
    hog = locks.truth["tids"]["gil_hog"]
    assert threads["gil_hog"]["gil"] is True
    main = threads["MainThread"]["waiting_for"]
    assert main["kind"] == "gil"
    assert main["owner_tid"] == hog


def test_deadlock_cycle(python, locks):
    doc = dump_when_gil_taken(locks)
    tids = locks.truth["tids"]
    expect = locks.truth["expect"]
    a, b = tids["transfer_a"], tids["transfer_b"]
    fn = {a: "transfer_a", b: "transfer_b"}
    waits = {a: expect["transfer_a"][1], b: expect["transfer_b"][1]}
    first, second = sorted((a, b))
    text = ("thread %d `%s` waits for RLock %#x held by thread %d `%s`, "
            "which waits for RLock %#x held by thread %d" %
            (first, fn[first], waits[first], second, fn[second],
             waits[second], first))
    assert doc["deadlocks"] == [{"threads": [first, second], "text": text}]
    # Text: the deadlock comes first, before any thread.
    r = pyspect("dump", "--no-source", locks.pid)
    assert r.rc == 0, r.err
    head = r.out.split("\nThread ")[0]
    assert ("Deadlock: " + text) in head
    assert ("waiting for RLock %#x held by thread %d" %
            (waits[a], b)) in r.out


def test_waits_and_deadlock_on_a_core(python, target, tmp_path):
    """The same of a core: each thread's futex word comes from its
    registers in the core, the locks and holders from its memory."""
    if python.label in SID_VERSIONS:
        pytest.skip("gcore writes the sid root's thread stacks as zeros "
                    "(see test_native.test_on_a_core)")
    with small_stacks():
        t = target(python, "locks.py", env={"MALLOC_ARENA_MAX": "1"})
    live = dump_when_gil_taken(t)
    core = gcore(t.pid, tmp_path)
    t.stop()
    r = pyspect(*(["dump"] + core.args + ["--json"]), timeout=300)
    assert r.rc == 0, r.err
    doc = json.loads(r.out)
    os.unlink(core.path)
    threads = by_name(doc)
    for name, want in expected_waits(t).items():
        assert threads[name].get("waiting_for") == want, name
    # The GIL is waited for in timed waits of 5 ms (the interval): gcore
    # may catch the main thread between two, out of the futex call.
    assert threads["MainThread"].get("waiting_for") in \
        (None, by_name(live)["MainThread"].get("waiting_for"))
    assert doc["deadlocks"] == live["deadlocks"]
    assert len(doc["deadlocks"]) == 1
