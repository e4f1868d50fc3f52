"""pyspect dump against the truth the target computes about itself."""
import json
import os
import time

import pytest

from conftest import dump_json, pyspect

pytestmark = pytest.mark.sanitize


def frames_key(frames):
    return [(f["function"], f["file"], f["line"]) for f in frames]


def compare(truth, doc, check_qualname):
    """Problems as (ident, text); empty when pyspect saw what the target
    saw."""
    problems = []
    seen = {t["ident"]: t for t in doc["threads"]}
    for ident, tt in truth["threads"].items():
        pt = seen.get(int(ident))
        if pt is None:
            problems.append((ident, "thread missing from the dump"))
            continue
        want, got = frames_key(tt["frames"]), frames_key(pt["frames"])
        if want != got:
            first = next((i for i, (a, b) in enumerate(zip(want, got))
                          if a != b), min(len(want), len(got)))
            problems.append((ident, "frames differ at %d: want %s, got %s "
                             "(%d vs %d frames)" % (
                                 first, want[first:first + 2],
                                 got[first:first + 2], len(want), len(got))))
        elif check_qualname:
            wq = [f["qualname"] for f in tt["frames"]]
            gq = [f["qualname"] for f in pt["frames"]]
            if wq != gq:
                problems.append((ident, "qualnames differ: %s / %s" %
                                 (wq[:3], gq[:3])))
    for ident, pt in seen.items():
        if str(ident) not in truth["threads"] and pt["frames"]:
            problems.append((str(ident), "thread with frames not in truth"))
    return problems


def dump_until_main_parked(target, *extra):
    """The reporting thread parks right after saying READY; give it a
    moment to get there.  Any other difference fails at once."""
    main = str(target.truth["reporter"])
    deadline = time.monotonic() + 10
    while True:
        doc = dump_json(target.pid, *extra)
        problems = compare(target.truth, doc,
                           check_qualname=target.python.version >= (3, 11))
        others = [p for p in problems if p[0] != main]
        if not problems or others or time.monotonic() > deadline:
            return doc, problems
        time.sleep(0.02)


def test_dump_matches_sys_current_frames(python, scenario):
    doc, problems = dump_until_main_parked(scenario)
    assert problems == []
    assert len(doc["threads"]) >= 25


def test_document_fields(python, scenario):
    doc = dump_json(scenario.pid)
    assert doc["pid"] == scenario.pid
    assert doc["python"]["version"] == "%d.%d.%d" % python.version
    assert os.path.basename(doc["python"]["executable"]).startswith("python")
    if python.static:
        assert doc["python"]["library"] is None
    else:
        assert "libpython" in doc["python"]["library"]
    expected_layout = ("_Py_DebugOffsets" if python.version >= (3, 13)
                       else "generated")
    assert doc["python"]["layout"] == expected_layout
    for t in doc["threads"]:
        assert set(t) >= {"tid", "ident", "name", "gil", "state", "frames"}
        assert t["state"] in ("running", "idle")
        for f in t["frames"]:
            assert set(f) >= {"function", "qualname", "file", "line"}
            if python.version < (3, 11):
                assert f["qualname"] is None


# Before 3.11 a thread's kernel id is read from its C library descriptor
# (pthread_t), at an offset pyspect finds.  The upper half of a pointer
# there is 0x7fXX on x86-64, the same in every descriptor, and a live
# thread id once ids pass 32,512: the scan took it, and every thread got
# one thread's id (CI saw it).  The target is started with address
# randomization off (its mappings at 0x7fff........) as thread 32,767.
@pytest.mark.serial
def test_thread_ids_when_an_id_is_a_pointers_upper_half(python, target,
                                                        tmp_path):
    if python.version >= (3, 11):
        pytest.skip("3.11+ keep each thread's kernel id in its state")
    if python.static or not os.path.exists("/usr/bin/setarch"):
        pytest.skip("the static build is the system one, not before 3.11")
    wrapper = tmp_path / "norandom"
    wrapper.write_text("#!/bin/sh\nexec /usr/bin/setarch -R %s \"$@\"\n"
                       % python.exe)
    wrapper.chmod(0o755)
    if os.path.exists("/proc/32767"):
        pytest.skip("thread id 32767 is another process's now")
    for _ in range(20):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write("32766")
        t = target(python._replace(exe=str(wrapper)), "scenario.py")
        if t.pid == 32767:
            break
        t.stop()
    else:
        pytest.fail("the target never got thread id 32767")
    doc = dump_json(t.pid)
    by_ident = {x["ident"]: x for x in doc["threads"]}
    for ident, tt in t.truth["threads"].items():
        if tt["tid"] is not None:
            assert by_ident[int(ident)]["tid"] == tt["tid"], tt["name"]
    tids = sorted(int(x) for x in os.listdir("/proc/%d/task" % t.pid))
    assert sorted(x["tid"] for x in doc["threads"]) == tids


def test_thread_ids_names_and_states(python, scenario):
    doc = dump_json(scenario.pid)
    truth = scenario.truth["threads"]
    by_ident = {t["ident"]: t for t in doc["threads"]}
    for ident, tt in truth.items():
        t = by_ident[int(ident)]
        assert t["name"] == tt["name"], ident
        if tt["tid"] is not None:
            assert t["tid"] == tt["tid"], tt["name"]
    tids = sorted(int(x) for x in os.listdir("/proc/%d/task" % scenario.pid))
    assert sorted(t["tid"] for t in doc["threads"]) == tids
    main = [t for t in doc["threads"] if t["main"]]
    assert len(main) == 1 and main[0]["tid"] == scenario.pid
    assert main[0]["name"] == "MainThread"
    # Everything is parked: nobody runs or holds the GIL.  (A thread
    # released from another test's --blocking dump runs for a moment
    # before it blocks again: allow the states to settle.)
    deadline = time.monotonic() + 5
    while (any(t["state"] != "idle" for t in doc["threads"]) and
           time.monotonic() < deadline):
        time.sleep(0.01)
        doc = dump_json(scenario.pid)
    assert all(t["state"] == "idle" for t in doc["threads"])
    assert not any(t["gil"] for t in doc["threads"])


def test_thread_without_python_frames(python, scenario):
    doc = dump_json(scenario.pid)
    fl = scenario.truth["frameless"]
    t = [t for t in doc["threads"] if t["ident"] == fl["ident"]]
    assert len(t) == 1
    assert t[0]["frames"] == []
    assert t[0]["tid"] == fl["tid"]
    assert t[0]["name"] is None


def test_deep_recursion_and_nonascii(python, scenario):
    doc = dump_json(scenario.pid)
    by_name = {t["name"]: t for t in doc["threads"]}
    rec = by_name["recursion"]["frames"]
    assert sum(f["function"] == "recurse" for f in rec) == 1001
    assert not by_name["recursion"]["truncated"]
    assert "tgt-ünï-函数-𠀀" in rec[0]["file"]
    names = [f["function"] for f in by_name["fünf-函数-𠀀"]["frames"]]
    if python.version < (3,):
        # 2.7 identifiers are ASCII: the thread names are not.
        assert names[:3] == ["park_lock", "function", "five"]
        return
    assert names[:4] == ["park_lock", "𠀀", "函数", "fünf"]
    if python.version >= (3, 11):
        meth = [f for f in by_name["Ünïcode"]["frames"]
                if f["function"] == "méthode"]
        assert meth[0]["qualname"] == "Ünïcode.méthode"


def test_text_output(python, scenario):
    r = pyspect("dump", scenario.pid)
    assert r.rc == 0, r.err
    assert r.err == ""
    out = r.out
    assert ("Process %d:" % scenario.pid) in out
    assert ("Python %d.%d.%d" % python.version) in out
    assert ('Thread %d "MainThread"' % scenario.pid) in out
    # Source lines are shown under frames whose file is readable.
    assert "        (lambda: park_sleep())()" in out
    assert "        time.sleep(3600)" in out
    # Function names of one thread are aligned.
    block = out.split('"nested"')[1].split("\nThread")[0]
    lines = [ln for ln in block.splitlines()[1:] if ln.startswith("    ")
             and not ln.startswith("        ")]
    columns = set(ln.index("/") for ln in lines[:3])
    assert len(columns) == 1, lines[:3]
    r = pyspect("dump", "--no-source", "-p", scenario.pid)
    assert r.rc == 0 and "time.sleep(3600)" not in r.out


def test_blocking_snapshot_reports_pause(python, scenario):
    doc, problems = dump_until_main_parked(scenario, "--blocking")
    assert problems == []
    assert isinstance(doc["paused_ms"], float) and doc["paused_ms"] > 0
    r = pyspect("dump", "--blocking", scenario.pid)
    assert "Paused for" in r.out
    # The target carries on: no thread is left stopped or traced.
    for tid in os.listdir("/proc/%d/task" % scenario.pid):
        with open("/proc/%d/task/%s/status" % (scenario.pid, tid),
                  errors="replace") as f:
            status = f.read()
        assert "TracerPid:\t0\n" in status
        state = status.split("State:\t")[1][0]
        assert state not in "tT", status


def test_verbose_reports_reads(python, scenario):
    r = pyspect("dump", "-v", "--json", scenario.pid)
    assert r.rc == 0
    json.loads(r.out)
    assert "reads" in r.err and "threads in" in r.err


def test_gil_holder_and_running_thread(python, target):
    t = target(python, "spinner.py")
    spinner = [int(i) for i, tt in t.truth["threads"].items()
               if tt["name"] == "spinner"][0]
    holds = running = 0
    rounds = 10
    # Blocking dumps last: a thread released from a ptrace stop runs for
    # a moment before it blocks again, so right after one it may show R.
    for blocking in (False, True):
        for i in range(rounds):
            doc = dump_json(t.pid, *(["--blocking"] if blocking else []))
            for th in doc["threads"]:
                if th["ident"] == spinner:
                    holds += th["gil"]
                    running += th["state"] == "running"
                elif th["name"] and th["name"].startswith("sleeper"):
                    assert not th["gil"]
                    if not blocking:
                        assert th["state"] == "idle"
            assert sum(th["gil"] for th in doc["threads"]) <= 1
    assert holds >= 2 * rounds * 0.7
    assert running >= 2 * rounds * 0.7


def test_main_thread_finished(python, target):
    t = target(python, "mainexit.py")
    doc, problems = dump_until_main_parked(t)
    # Here the reporter is the survivor, not the main thread.
    assert problems == []
    main = [th for th in doc["threads"] if th["main"]]
    assert len(main) == 1
    assert t.truth["shutdown"] in [f["function"] for f in main[0]["frames"]]
    assert [th["name"] for th in doc["threads"] if not th["main"]] == \
        ["survivor"]


# Issue 11: a gunicorn master and its workers needed one dump each.
# --subprocesses adds every Python descendant, and leaves the rest out.
def test_subprocesses(python, target):
    t = target(python, "forker.py", 3)
    workers, other = sorted(t.truth["workers"]), t.truth["other"]
    try:
        doc = dump_json(t.pid, "--subprocesses")
        assert doc["pid"] == t.pid
        subs = doc["subprocesses"]
        assert sorted(s["pid"] for s in subs) == workers
        for s in subs:
            main = [th for th in s["threads"] if th["main"]][0]
            assert main["frames"][0]["function"] in ("worker_park", "sleep")
            assert any(f["function"] == "worker_park"
                       for f in main["frames"]), main["frames"]
        assert "subprocesses" not in dump_json(t.pid)
        r = pyspect("dump", t.pid, "--subprocesses")
        assert r.rc == 0, r.err
        for pid in workers:
            assert "Process %d: " % pid in r.out
        assert "Process %d:" % other not in r.out
    finally:
        try:
            os.kill(other, 9)
        except OSError:
            pass
