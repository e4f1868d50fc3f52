"""pyspect record -f pprof, read back by the real `go tool pprof`.

One recording is written twice (-o p.pb.gz -o p.txt): what -raw, -traces
and -top print about the pprof file must be exactly what the collapsed
file of the same recording says: the same stacks with the same counts,
on the same threads, and the same flat and cumulative counts per
function.  The writer's odd cases (names with markup and non-ASCII
characters, a thread without Python frames) run through build/prof-replay
with a profile the test writes itself.
"""
import collections
import os
import pathlib
import re
import subprocess

import pytest

import gopprof
from conftest import PYSPECT, pyspect

pytestmark = pytest.mark.skipif(
    gopprof.GO is None, reason="needs go (Debian golang-go, installed by "
    "tools/install-deps)")

REPLAY = pathlib.Path(PYSPECT).resolve().parent / "prof-replay"


def collapsed_lines(path):
    """[(frames root first as labels, count)] from a collapsed file."""
    out = []
    with open(str(path), encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                frames, count = line.rsplit(" ", 1)
                out.append((tuple(frames.split(";")), int(count)))
    return out


def label(frame):
    name, file, line = frame
    if frame[0] == gopprof.NO_FRAMES:
        return name
    return "%s (%s:%d)" % (name, file, line)


def name_of(label_text):
    return label_text.split(" (")[0]


def thread_root(labels):
    return 'thread %s "%s"' % (labels["thread_id"], labels["thread_name"])


def check_against_collapsed(pb, txt, threads):
    """Every figure go tool pprof prints about pb matches txt."""
    want = collections.Counter()
    for frames, count in collapsed_lines(txt):
        want[frames] += count
    assert want, "empty recording"

    # -raw: every sample's stack (function, file, line) and count.
    raw = gopprof.raw(pb)
    got = collections.Counter()
    for s in raw.samples:
        assert s.values[1] == s.values[0] * raw.period, s
        stack = tuple(label(f) for f in s.stack)
        if threads:
            stack = (thread_root(s.labels),) + stack
        got[stack] += s.values[0]
    assert got == want

    # -traces: the same, by function names, per thread.
    got = collections.Counter()
    for count, frames, labels in gopprof.traces(pb):
        stack = frames
        if threads:
            stack = (thread_root(labels),) + stack
        got[stack] += count
    by_names = collections.Counter()
    for frames, count in want.items():
        names = tuple(name_of(f) for f in frames[1 if threads else 0:])
        if threads:
            names = (frames[0],) + names
        by_names[names] += count
    assert got == by_names

    # -top: flat (leaf) and cumulative (in the stack) samples per
    # function, and the total.
    total, rows = gopprof.top(pb)
    assert total == sum(want.values())
    flat, cum = collections.Counter(), collections.Counter()
    for frames, count in want.items():
        names = [name_of(f) for f in frames[1 if threads else 0:]]
        flat[names[-1]] += count
        for n in set(names):
            cum[n] += count
    assert {r[0]: r[1] for r in rows if r[1]} == dict(flat)
    assert {r[0]: r[2] for r in rows} == dict(cum)
    assert len(rows) == len({r[0] for r in rows}), rows
    return raw


@pytest.fixture
def busy(python, target):
    return target(python, "busy.py")


def test_wall_mode_threads_match_collapsed(python, busy, tmp_path):
    pb, txt = tmp_path / "p.pb.gz", tmp_path / "p.txt"
    r = pyspect("record", "-d", "1", "-r", "200", "--mode", "wall",
                "--threads", "-o", pb, "-o", txt, busy.pid)
    assert r.rc == 0, r.err
    assert "pprof to %s, collapsed to %s" % (pb, txt) in r.err
    summary = int(re.search(r"(\d+) samples in", r.err).group(1))
    raw = check_against_collapsed(pb, txt, threads=True)
    assert raw.sample_types == ["samples/count", "wall/nanoseconds"]
    assert raw.period_type == "wall nanoseconds"
    assert raw.period == 5000000
    assert sum(s.values[0] for s in raw.samples) == summary
    # Both threads, labelled with their names, their kernel ids (as the
    # kernel lists them) and the pid.
    tids = set(os.listdir("/proc/%d/task" % busy.pid))
    seen = {(s.labels["thread_name"], s.labels["thread_id"],
             s.labels["pid"]) for s in raw.samples}
    assert {n for n, _, _ in seen} == {"MainThread", "sleeper"}
    assert {p for _, _, p in seen} == {str(busy.pid)}
    assert {t for _, t, _ in seen} <= tids and len(seen) == 2
    assert ("MainThread", str(busy.pid), str(busy.pid)) in seen
    assert any(busy.script.name in c for c in raw.comments), raw.comments
    assert any("pid %d" % busy.pid in c for c in raw.comments)
    duration = float(re.search(r"samples in ([\d.]+) s", r.err).group(1))
    assert abs(gopprof.duration(pb) - duration) < 0.02


@pytest.mark.sanitize
def test_cpu_mode_lines_match_collapsed(python, busy, tmp_path):
    pb, txt = tmp_path / "l.pprof", tmp_path / "l.txt"
    r = pyspect("record", "-d", "1", "-r", "200", "--lines", "-o", pb,
                "-o", txt, busy.pid)
    assert r.rc == 0, r.err
    raw = check_against_collapsed(pb, txt, threads=False)
    assert raw.sample_types == ["samples/count", "cpu/nanoseconds"]
    # hot() is sampled on several of its lines: several locations, one
    # function (check_against_collapsed saw one -top row for it).
    hot_lines = {loc[2] for loc in raw.locations.values() if loc[0] == "hot"}
    assert len(hot_lines) >= 2, raw.locations


@pytest.mark.sanitize
def test_writer_odd_names_and_empty_stacks(tmp_path):
    if not REPLAY.exists():
        pytest.skip("needs build/prof-replay")
    app = "/srv/app/m\u00e4in.py"
    stacks = [
        (101, "MainThread", 50, [("<module>", app, 1), ("<lambda>", app, 9),
                                 ("f.<locals>.g", app, 20)]),
        (101, "MainThread", 7, []),
        (102, "w\u00f6rker <&\"'>", 25,
         [("Thread.run", "/usr/lib/python3.11/threading.py", 964),
          ("\u51fd\u6570", "/srv/\u51fd\u6570.py", 3)]),
    ]
    samples = tmp_path / "samples.txt"
    with open(str(samples), "w", encoding="utf-8") as f:
        f.write("#meta\tcommand\tpython3 app.py\n#meta\tthreads\t1\n"
                "#meta\trate\t250\n#meta\tmode\twall\n")
        for tid, name, count, frames in stacks:
            inner_first = ["%s\x1f%s\x1f%d" % fr for fr in reversed(frames)]
            f.write("\t".join(["1", str(tid), str(tid * 1000), name,
                               str(count)] + inner_first) + "\n")
    for out in ("o.pb.gz", "o.txt"):
        subprocess.run([str(REPLAY), str(samples), str(tmp_path / out)],
                       check=True, timeout=60, capture_output=True)
    got = collections.Counter()
    for count, frames, labels in gopprof.traces(tmp_path / "o.pb.gz"):
        got[(labels["thread_name"],) + frames] += count
    want = collections.Counter()
    for tid, name, count, frames in stacks:
        names = tuple(f[0] for f in frames) or (gopprof.NO_FRAMES,)
        want[(name,) + names] += count
    assert got == want
    total, rows = gopprof.top(tmp_path / "o.pb.gz")
    assert total == 82
    # pprof "demangles" a function whose system name equals its name:
    # angle brackets would vanish.  They must not.
    assert {"<module>", "<lambda>", "f.<locals>.g"} <= {r[0] for r in rows}
    raw = gopprof.raw(tmp_path / "o.pb.gz")
    assert raw.period == 4000000
    assert raw.sample_types == ["samples/count", "wall/nanoseconds"]
