"""pyspect alloc: per-line figures against the truth the target computes.

The target (targets/alloctruth.py) allocates known objects at known lines
-- kept 200-byte objects, kept 10 KiB buffers half of which it frees at
the end, 1 MiB buffers freed at once, a burst of 1 MiB buffers that makes
the peak -- in the main thread, in a second thread and in a forked child,
and writes for each line the bytes and blocks allocated, live at the end
and live at the peak, sized with sys.getsizeof().  tracemalloc, run on
the same target without pyspect, must agree with that truth too, so the
truth is the one a Python programmer already trusts.

With --all every figure must be within 2% (they are exact in practice);
sampled, bytes within 10% at --sample-bytes 4096: the standard error of
the estimate for a line of B bytes is about sqrt(sample_bytes / B), 2.3%
for the 8 MB lines here, so 10% is more than four of them.
"""
import json
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import NONASCII_DIR, PYSPECT, PYTHONS, TARGETS, pyspect

TARGET = "alloctruth.py"
SAMPLE_BYTES = 4096
SITES = ("small", "buf", "big", "burst_one", "thread_small")


def skip_unsupported(python):
    if python.version[0] < 3:
        pytest.skip("alloc needs Python's allocator API (3.4+): %s" %
                    python.label)


def target_dir(tmp_path):
    d = tmp_path / NONASCII_DIR
    d.mkdir(parents=True, exist_ok=True)
    for name in (TARGET, "_common.py"):
        (d / name).write_bytes((TARGETS / name).read_bytes())
    return d


def env():
    e = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    e.pop("PYTHONPATH", None)
    e.pop("PYTHONMALLOC", None)
    return e


def run_alloc(python, tmp_path, pyspect_args, target_args, timeout=240):
    """Run pyspect alloc on the truth target; returns (result, truth)."""
    d = target_dir(tmp_path)
    truth_path = tmp_path / "truth.json"
    cmd = ["alloc"] + pyspect_args + [
        "--", python.exe, str(d / TARGET), str(truth_path)] + target_args
    r = pyspect(*cmd, timeout=timeout, env=env())
    truth = None
    if truth_path.exists():
        with open(str(truth_path), encoding="utf-8",
                  errors="surrogatepass") as f:
            truth = json.load(f)
    return r, truth


def parse_json(out):
    return json.loads(out)


def sites_by_line(doc):
    return {(s["file"], s["line"]): s for s in doc["sites"]
            if s["file"] is not None}


def close(got, want, tol):
    if want == 0:
        return got <= max(64, tol * 1000)
    return abs(got - want) <= tol * want


def check_site(name, got, want, tol, blocks, keys=None):
    assert got is not None, "no site for %s (line %d)" % (name, want["line"])
    assert got["function"] == want["function"]
    if keys is None:
        keys = ["live_bytes", "allocated_bytes", "peak_bytes"]
        if blocks:
            keys += ["live_blocks", "allocations", "peak_blocks"]
    elif blocks:
        keys = keys + [k.replace("bytes", "blocks") for k in keys]
    bad = ["%s: %d, truth %d" % (k, got[k], want[k]) for k in keys
           if not close(got[k], want[k], tol)]
    assert not bad, "%s (line %d): %s" % (name, want["line"], "; ".join(bad))


def collapsed_by_leaf(text):
    """Bytes per innermost 'function (file:line)' of collapsed stacks."""
    out = {}
    for row in text.splitlines():
        stack, _, count = row.rpartition(" ")
        leaf = stack.split(";")[-1]
        out[leaf] = out.get(leaf, 0) + int(count)
    return out


def leaf_label(site):
    return "%s (%s:%d)" % (site["function"], site["file"], site["line"])


@pytest.mark.parametrize("mode", ["all", "sampled"])
def test_figures_per_line(python, mode, tmp_path):
    """Live, peak and allocated bytes and blocks of every line, in the
    main thread, a second thread and (--all) a forked child; the JSON
    summary's totals and the collapsed stacks agree with it."""
    skip_unsupported(python)
    collapsed = tmp_path / "live.collapsed"
    args = ["--json", "-q", "-o", str(collapsed)]
    if mode == "all":
        args += ["--all", "--subprocesses"]
    else:
        args += ["--sample-bytes", str(SAMPLE_BYTES)]
    r, truth = run_alloc(python, tmp_path, args,
                         ["--thread", "--fork"])
    assert r.rc == 0, r.err
    doc = parse_json(r.out)
    tol = 0.02 if mode == "all" else 0.10
    got = sites_by_line(doc)

    assert doc["pid"] == truth["pid"]
    assert doc["python"].startswith(".".join(map(str, truth["version"])))
    assert doc["mode"] == mode
    assert doc["sample_bytes"] == (None if mode == "all" else SAMPLE_BYTES)
    assert doc["exit_status"] == 0
    assert doc["command"].endswith("--thread --fork")

    for name in SITES:
        want = truth["sites"][name]
        # Sampled, a line of two block sizes (buf: a 56-byte object and
        # its 10 KiB buffer) has a noisy block count: its bytes are what
        # the aim is about.
        blocks = mode == "all" or name != "buf"
        check_site(name, got.get((want["file"], want["line"])), want, tol,
                   blocks)
    # Lists grown by append: their item arrays are made and grown by
    # realloc (which pymalloc serves in place up to 512 bytes).  What is
    # live at the end is checked; how often realloc moved them is not.
    want = truth["sites"]["grow_append"]
    check_site("grow_append", got.get((want["file"], want["line"])), want,
               tol, mode == "all", keys=["live_bytes"])

    # The peak: the burst, with everything kept still live.
    burst = truth["sites"]["burst_one"]
    assert doc["peak"]["bytes"] >= burst["peak_bytes"]
    assert 0 < doc["peak"]["time_s"] <= doc["duration_s"]

    # Totals are counted apart from the stacks: they must agree.
    totals = doc["totals"]
    for key, site_key in (("allocated_bytes", "allocated_bytes"),
                          ("live_bytes", "live_bytes"),
                          ("allocations", "allocations"),
                          ("live_blocks", "live_blocks")):
        total = sum(s[site_key] for s in doc["sites"])
        assert close(total, totals[key], 0.001 if mode == "all" else 0.01), (
            key, total, totals[key])

    # The forked child: its own process, followed only when asked.
    child = truth["child"]
    pids = sorted(p["pid"] for p in doc["processes"])
    if mode == "all":
        assert pids == sorted([truth["pid"], child["pid"]])
        want = child["sites"]["child_small"]
        check_site("child_small", got.get((want["file"], want["line"])),
                   want, tol, True)
    else:
        assert pids == [truth["pid"]]
        want = child["sites"]["child_small"]
        assert (want["file"], want["line"]) not in got

    # The collapsed stacks: live bytes by innermost line, as in the JSON.
    leaves = collapsed_by_leaf(collapsed.read_text(encoding="utf-8"))
    for name in SITES:
        site = got[(truth["sites"][name]["file"],
                    truth["sites"][name]["line"])]
        assert leaves.get(leaf_label(site), 0) == site["live_bytes"], name


def test_truth_agrees_with_tracemalloc(python, tmp_path):
    """The target's truth is what tracemalloc reports for the same lines."""
    skip_unsupported(python)
    d = target_dir(tmp_path)
    truth_path = tmp_path / "truth.json"
    subprocess.run([python.exe, str(d / TARGET), str(truth_path),
                    "--tracemalloc"], check=True, timeout=120, env=env(),
                   )
    with open(str(truth_path), encoding="utf-8",
              errors="surrogatepass") as f:
        truth = json.load(f)
    for name in ("small", "buf"):
        want = truth["sites"][name]
        tm = truth["tracemalloc"][name]
        assert close(tm["live_bytes"], want["live_bytes"], 0.01), (name, tm)
        assert tm["live_blocks"] == want["live_blocks"], (name, tm)


@pytest.mark.sanitize
def test_metrics_and_formats(tmp_path):
    """Each metric in every format: the flame graph's title, the table's
    rows, speedscope's weights and the collapsed stacks all carry the
    JSON summary's bytes for the lines of the truth."""
    python = system_python()
    for metric in ("live", "peak", "allocated"):
        out = tmp_path / metric
        out.mkdir()
        args = ["--all", "--json", "-q", "--metric", metric,
                "-o", str(out / "a.collapsed"), "-o", str(out / "a.svg"),
                "-o", str(out / "a.speedscope.json"),
                "-o", str(out / "a.table")]
        if metric == "live":
            # The truth target runs for well under 0.1 s (the default
            # interval) on a quiet machine: ask for a point every 10 ms.
            args += ["--timeline", str(out / "t.csv"), "--interval", "0.01"]
        r, truth = run_alloc(python, out, args, [])
        assert r.rc == 0, r.err
        doc = parse_json(r.out)
        assert doc["metric"] == metric
        got = sites_by_line(doc)
        key = {"live": "live_bytes", "peak": "peak_bytes",
               "allocated": "allocated_bytes"}[metric]
        total = sum(s[key] for s in doc["sites"])
        leaves = collapsed_by_leaf(
            (out / "a.collapsed").read_text(encoding="utf-8"))
        assert sum(leaves.values()) == total
        speedscope = json.loads(
            (out / "a.speedscope.json").read_text(encoding="utf-8"))
        assert all(p["unit"] == "bytes" for p in speedscope["profiles"])
        assert sum(sum(p["weights"]) for p in speedscope["profiles"]) == total
        table = (out / "a.table").read_text(encoding="utf-8")
        svg = (out / "a.svg").read_text(encoding="utf-8")
        what = {"live": "live at the end", "peak": "live at the peak",
                "allocated": "allocated"}[metric]
        assert what in table.splitlines()[1]
        assert "pyspect alloc: " in svg and what in svg
        for name in SITES[:4]:
            want = truth["sites"][name]
            site = got[(want["file"], want["line"])]
            if site[key] == 0:
                continue
            assert leaves[leaf_label(site)] == site[key]
            # The table: the line, its function and its source.
            row = "%s:%d  %s" % (want["file"], want["line"], name)
            assert row in table, (row, table)
        if metric == "live":
            rows = (out / "t.csv").read_text().splitlines()
            assert rows[0] == "time_s,tracked_live,rss"
            full = [r.split(",") for r in rows[1:] if "" not in r.split(",")]
            assert len(full) >= 2
            # The tracker sees less than RSS (the interpreter, its code,
            # the allocators' own overhead are not allocations).  The last
            # point may fall in the interpreter's teardown, which frees
            # what the tracker no longer counts: RSS shrinks under the
            # final live figure there.  Before it, RSS stays above.
            live = [int(r[1]) for r in full]
            rss = [int(r[2]) for r in full]
            assert 0 < live[-1] < max(rss)
            assert all(l < r for l, r in zip(live, rss)
                       if l < live[-1]), (live, rss)


def system_python():
    from conftest import PYTHONS
    p = PYTHONS.get("system") or next(iter(PYTHONS.values()), None)
    if p is None:
        pytest.skip("no Python found")
    return p


@pytest.mark.sanitize
def test_exit_status_and_a_killed_command(tmp_path):
    """The command's exit status becomes pyspect's; a command killed by a
    signal still leaves its figures (the tracker's file survives it)."""
    python = system_python()
    code = ("import os, sys\n"
            "def make(n):\n"
            "    return b'k' * n\n"
            "keep = [None] * 2000\n"
            "for i in range(2000):\n"
            "    keep[i] = make(5000)\n"
            "if sys.argv[1] == 'kill':\n"
            "    os.kill(os.getpid(), 9)\n"
            "sys.exit(int(sys.argv[1]))\n")
    script = tmp_path / "exits.py"
    script.write_text(code)
    r = pyspect("alloc", "--all", "--json", "-q", "--", python.exe,
                str(script), "3", timeout=120)
    assert r.rc == 3, r.err
    assert parse_json(r.out)["exit_status"] == 3
    r = pyspect("alloc", "--all", "--json", "-q", "--", python.exe,
                str(script), "kill", timeout=120)
    assert r.rc == 128 + 9, r.err
    doc = parse_json(r.out)
    site = [s for s in doc["sites"] if s["line"] == 3 and s["file"] ==
            str(script)]
    assert site and site[0]["live_blocks"] == 2000
    assert site[0]["live_bytes"] == 2000 * (5000 + sys.getsizeof(b""))


@pytest.mark.sanitize
def test_commands_that_cannot_be_tracked(tmp_path):
    r = pyspect("alloc", "-q", "--json", "--", "/nonexistent/command")
    assert r.rc == 12 and "cannot run" in r.err
    r = pyspect("alloc", "-q", "--json", "--", "/bin/true")
    assert r.rc == 5 and "ran no Python" in r.err
    r = pyspect("alloc", "--all", "--sample-bytes", "4096", "--", "true")
    assert r.rc == 2
    r = pyspect("alloc", "--help")
    assert r.rc == 0 and "runs code inside the program" in r.out
    # 2.7 has no allocator API to wrap: refused, saying so.
    py27 = PYTHONS.get("2.7")
    if py27 is not None:
        r = pyspect("alloc", "-q", "--json", "--", py27.exe, "-c", "x = 1")
        assert r.rc == 5 and "2.7" in r.err, r.err


def test_exec_replaces_the_image(tmp_path):
    """A program that execs a Python: the figures are the new image's;
    the old one is listed, marked as replaced."""
    python = system_python()
    d = target_dir(tmp_path)
    truth_path = tmp_path / "truth.json"
    code = ("import os, sys\n"
            "junk = [b'j' * len(sys.argv) for i in range(1000)]\n"
            "os.execv(sys.executable, [sys.executable] + sys.argv[1:])\n")
    (d / "execer.py").write_text(code)
    r = pyspect("alloc", "--all", "--json", "-q", "--", python.exe,
                str(d / "execer.py"), str(d / TARGET), str(truth_path),
                timeout=120, env=env())
    assert r.rc == 0, r.err
    doc = parse_json(r.out)
    with open(str(truth_path), encoding="utf-8",
              errors="surrogatepass") as f:
        truth = json.load(f)
    images = sorted((p["image"], p["execed"]) for p in doc["processes"])
    assert images == [(0, True), (1, False)]
    got = sites_by_line(doc)
    for name in ("small", "buf"):
        want = truth["sites"][name]
        check_site(name, got.get((want["file"], want["line"])), want, 0.02,
                   True)
    junk = [s for s in doc["sites"] if s["file"] == str(d / "execer.py")
            and s["line"] == 2]
    # Allocated before the exec, and gone with the old image.
    assert junk and sum(s["live_bytes"] for s in junk) == 0
    assert sum(s["allocations"] for s in junk) >= 1000


def test_interrupt_writes_what_is_live(tmp_path):
    """Ctrl-C (SIGINT to pyspect alone) while the program runs: the
    figures of that moment are written at once; pyspect then waits for
    the program."""
    python = system_python()
    d = target_dir(tmp_path)
    truth_path = tmp_path / "truth.json"
    out = tmp_path / "live.collapsed"
    p = subprocess.Popen(
        [PYSPECT, "alloc", "--all", "--json", "-q", "-o", str(out), "--",
         python.exe, str(d / TARGET), str(truth_path), "--park"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    try:
        deadline = time.monotonic() + 120
        line = b""
        while b"PARKED" not in line and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
        assert b"PARKED" in line, p.stderr.read()
        p.send_signal(signal.SIGINT)
        text = b""
        while time.monotonic() < deadline:
            chunk = p.stdout.read1(65536)
            if not chunk:
                break
            text += chunk
            try:
                doc = json.loads(text.decode())
                break
            except ValueError:
                continue
        doc = json.loads(text.decode())
        assert doc["stopped"] == "interrupted"
        assert doc["exit_status"] is None
        with open(str(truth_path), encoding="utf-8",
                  errors="surrogatepass") as f:
            truth = json.load(f)
        got = sites_by_line(doc)
        for name in ("small", "buf"):
            want = truth["sites"][name]
            check_site(name, got.get((want["file"], want["line"])), want,
                       0.02, True)
        assert out.stat().st_size > 0
    finally:
        # The program is pyspect's child: end it, and pyspect with it.
        for pid in child_pids(p.pid):
            os.kill(pid, signal.SIGKILL)
        try:
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()


def child_pids(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def human_bytes(n):
    """text_bytes() of src/output/text.c."""
    if n < 1024:
        return "%d B" % n
    v = n / 1024.0
    units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
    u = 0
    while v >= 1024 and u + 1 < len(units):
        v /= 1024.0
        u += 1
    fmt = "%.0f %s" if v >= 100 else "%.1f %s" if v >= 10 else "%.2f %s"
    return fmt % (v, units[u])


BROWSER_HARNESS = r"""<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="alloc.svg" width="1200" height="600"></iframe>
<pre id="out">not loaded</pre>
<script>
document.getElementById('f').addEventListener('load', function () {
  var w = this.contentWindow, d = this.contentDocument, r = {};
  try {
    var fg = w.fg;
    r.inner = fg.inner;
    r.title = d.getElementById('title').textContent;
    r.subtitle = d.getElementById('subtitle').textContent;
    r.frames = {};
    fg.frames.forEach(function (f) {
      f.g.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
      r.frames[f.label] = [+f.rect.getAttribute('width'),
                           d.getElementById('details').textContent];
      f.g.dispatchEvent(new MouseEvent('mouseout', {bubbles: true}));
    });
  } catch (e) {
    r.error = String(e) + ' ' + e.stack;
  }
  document.getElementById('out').textContent = JSON.stringify(r);
});
</script></body></html>
"""


def test_flame_graph_in_a_browser(tmp_path):
    """The alloc flame graph in headless Chromium: hover text in bytes,
    widths in proportion to the bytes of each line."""
    from test_flamegraph_browser import CHROMIUM, run_browser
    if CHROMIUM is None:
        pytest.skip("needs chromium")
    python = system_python()
    # A short path, so that the hover text is not cut to fit.
    short = pathlib.Path(tempfile.mkdtemp(prefix="pa", dir="/tmp"))
    try:
        script = short / TARGET
        script.write_bytes((TARGETS / TARGET).read_bytes())
        r = pyspect("alloc", "--all", "--json", "-q", "-o",
                    str(tmp_path / "alloc.svg"), "--", python.exe,
                    str(script), str(short / "truth.json"), timeout=240,
                    env=env())
        assert r.rc == 0, r.err
        with open(str(short / "truth.json")) as f:
            truth = json.load(f)
    finally:
        shutil.rmtree(str(short))
    doc = parse_json(r.out)
    total = sum(s["live_bytes"] for s in doc["sites"])
    (tmp_path / "harness.html").write_text(BROWSER_HARNESS)
    seen = run_browser(tmp_path)
    assert "error" not in seen, seen["error"]
    assert seen["title"].startswith("pyspect alloc: ")
    assert human_bytes(total) + " live at the end in" in seen["subtitle"]
    got = sites_by_line(doc)
    for name in ("small", "buf"):
        want = truth["sites"][name]
        site = got[(want["file"], want["line"])]
        label = "%s (%s:%d)" % (name, want["file"], want["line"])
        assert label in seen["frames"], sorted(seen["frames"])[:20]
        width, details = seen["frames"][label]
        # Its bytes, its share, and (all of them: nothing is called from
        # it) the bytes at the line itself.
        assert details == "%s \u2014 %s (%.2f%%), %s at this line itself" % (
            label, human_bytes(site["live_bytes"]),
            100.0 * site["live_bytes"] / total,
            human_bytes(site["live_bytes"]))
        assert abs(width - seen["inner"] * site["live_bytes"] / total) < 0.5


NATIVE_SCRIPT = """\
import ctypes
import sys
libc = ctypes.CDLL("libc.so.6")
libc.strdup.restype = ctypes.c_void_p
def dup(s):
    return libc.strdup(s)
keep = [None] * 500
for i in range(500):
    keep[i] = dup(b"x" * 4000)
with open(sys.argv[1], "w") as f:
    f.write(str(dup.__code__.co_firstlineno + 1))
"""


def test_native_frames(tmp_path):
    """--native: the C functions under the Python line that called into
    them; the site stays the Python line.  A C allocation made with the
    GIL released (ctypes) is attributed to the calling thread's line."""
    from conftest import PYTHONS
    python = PYTHONS.get("3.12") or system_python()
    script = tmp_path / "native.py"
    script.write_text(NATIVE_SCRIPT)
    out = tmp_path / "native.collapsed"
    r = pyspect("alloc", "--all", "--native", "--json", "-q", "-o", str(out),
                "--", python.exe, str(script), str(tmp_path / "line"),
                timeout=240, env=env())
    assert r.rc == 0, r.err
    doc = parse_json(r.out)
    assert doc["native"] is True
    line = int((tmp_path / "line").read_text())
    site = [s for s in doc["sites"]
            if s["file"] == str(script) and s["line"] == line]
    # The line keeps 500 strdup copies and the 500 ints ctypes returns.
    assert site and site[0]["live_blocks"] == 1000, site
    # The stacks: the Python line, then C frames ending in strdup, which
    # hold exactly the copies.
    label = "dup (%s:%d)" % (script, line)
    strdup = 0
    for row in out.read_text().splitlines():
        stack, _, count = row.rpartition(" ")
        frames = stack.split(";")
        if label in frames and "strdup" in frames[-1] and \
                "libc" in frames[-1]:
            assert frames.index(label) < len(frames) - 1
            strdup += int(count)
    assert strdup == 500 * 4001


# ---- -p: loading the tracker into a running process ----------------------

class Park:
    """targets/allocpark.py, started and answering commands."""

    def __init__(self, python, tmp_path):
        d = tmp_path / NONASCII_DIR
        d.mkdir(parents=True, exist_ok=True)
        script = d / "allocpark.py"
        script.write_bytes((TARGETS / "allocpark.py").read_bytes())
        self.proc = subprocess.Popen(
            [python.exe, str(script)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
        words = self.readline().split(" ", 3)
        assert words[0] == "READY", words
        self.size = int(words[1])
        self.file, self.line = words[2], int(words[3])

    @property
    def pid(self):
        return self.proc.pid

    def readline(self, timeout=60):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        buf = b""
        while time.monotonic() < deadline and not buf.endswith(b"\n"):
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                chunk = os.read(fd, 1)
                if not chunk:
                    break
                buf += chunk
            elif self.proc.poll() is not None:
                break
        assert buf.endswith(b"\n"), "target said %r, exit %r" % (
            buf, self.proc.poll())
        return buf.decode("utf-8", "surrogateescape").strip()

    def ask(self, command):
        self.proc.stdin.write((command + "\n").encode())
        self.proc.stdin.flush()
        return self.readline()

    def maps(self):
        with open("/proc/%d/maps" % self.pid) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def start_attach(pid, *args, cwd):
    """pyspect alloc -p, in cwd: a pyspect killed there leaves its
    output file, opened at the start, empty."""
    p = subprocess.Popen([PYSPECT, "alloc", "-p", str(pid)] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=str(cwd))
    return p


def wait_tracking(p, timeout=60):
    """Read pyspect's stderr up to the line that says it tracks."""
    deadline = time.monotonic() + timeout
    fd = p.stderr.fileno()
    buf = b""
    while time.monotonic() < deadline and b"tracking pid" not in buf:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
        elif p.poll() is not None:
            break
    assert b"tracking pid" in buf, (buf, p.poll())


@pytest.mark.sanitize
def test_attach_tracks_a_running_process(python, tmp_path):
    """-p: the tracker loads into a program blocked in read(), counts
    exactly what it allocates from then on, stops at Ctrl-C, lets go of
    its memory, and the program carries on with its data intact."""
    skip_unsupported(python)
    park = Park(python, tmp_path)
    p = None
    try:
        assert park.ask("work 300") == "DONE 300"  # before: not counted
        p = start_attach(park.pid, "--all", "--json", cwd=tmp_path)
        wait_tracking(p)
        assert "libpyspect-alloc.so" in park.maps()
        assert park.ask("work 2000") == "DONE 2300"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        doc = json.loads(out)
        assert doc["pid"] == park.pid and doc["exit_status"] is None
        site = [s for s in doc["sites"]
                if s["file"] == park.file and s["line"] == park.line]
        assert site, doc["sites"][:5]
        assert site[0]["live_blocks"] == 2000
        assert site[0]["live_bytes"] == 2000 * park.size
        # After: the program goes on, untouched; the tracker has let go
        # of its file and tables (it stays loaded, inert).
        assert park.ask("work 10") == "DONE 2310"
        assert park.ask("check") == "OK 2310"
        deadline = time.monotonic() + 10
        while "pyspect-alloc-" in park.maps().replace(
                "libpyspect-alloc", "") and time.monotonic() < deadline:
            park.ask("work 1")
            time.sleep(0.05)
        assert "pyspect-alloc-" not in park.maps().replace(
            "libpyspect-alloc", "")
    finally:
        if p is not None and p.poll() is None:
            p.kill()
        park.stop()


@pytest.mark.serial
def test_attach_survives_pyspect_killed(tmp_path):
    """pyspect killed at any moment of -p (before, during and after the
    tracker loads): the program never notices, its data stay right, and
    a tracker left behind stops by itself and lets go of its memory."""
    python = system_python()
    park = Park(python, tmp_path)
    rng = __import__("random").Random(14)
    delays = [0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    delays += [rng.uniform(0, 0.4) for _ in range(6)]
    count = 0
    try:
        for delay in delays:
            p = start_attach(park.pid, "--all", "-q", cwd=tmp_path)
            # The program keeps working while pyspect comes and goes.
            count += 50
            assert park.ask("work 50") == "DONE %d" % count
            time.sleep(delay)
            p.kill()
            p.wait(timeout=30)
            count += 50
            assert park.ask("work 50") == "DONE %d" % count
            assert park.ask("check") == "OK %d" % count
        # Every tracker let go: nothing of pyspect's is mapped but the
        # library itself (it notices within a quarter of a second).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "pyspect-alloc-" in \
                park.maps().replace("libpyspect-alloc", ""):
            count += 1
            assert park.ask("work 1") == "DONE %d" % count
            time.sleep(0.05)
        assert "pyspect-alloc-" not in park.maps().replace(
            "libpyspect-alloc", "")
        # And it can be attached again afterwards.
        p = start_attach(park.pid, "--all", "--json", cwd=tmp_path)
        wait_tracking(p)
        assert park.ask("work 100") == "DONE %d" % (count + 100)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        site = [s for s in json.loads(out)["sites"]
                if s["file"] == park.file and s["line"] == park.line]
        assert site and site[0]["live_blocks"] == 100
    finally:
        park.stop()


@pytest.mark.sanitize
def test_attach_refuses(tmp_path):
    """Where the tracker cannot be loaded, -p says why and loads
    nothing: not a Python process; a Python that never waits."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        r = pyspect("alloc", "-q", "--json", "-p", sleeper.pid)
        assert r.rc == 5, r.err
        with open("/proc/%d/maps" % sleeper.pid) as f:
            assert "pyspect" not in f.read()
    finally:
        sleeper.kill()
        sleeper.wait()
    python = system_python()
    spin = subprocess.Popen([python.exe, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        r = pyspect("alloc", "-q", "--json", "-p", spin.pid, timeout=120)
        assert r.rc == 18, r.err
        assert "system call" in r.err
        with open("/proc/%d/maps" % spin.pid) as f:
            assert "pyspect" not in f.read()
        assert spin.poll() is None
    finally:
        spin.kill()
        spin.wait()
    # A Python in another pid namespace: its tracker could not see
    # pyspect (it watches /proc/PYSPECT_PID).  Needs root to make one.
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return
    ns = subprocess.Popen(["unshare", "--pid", "--fork", python.exe, "-c",
                           "import time; time.sleep(120)"])
    child = None
    try:
        deadline = time.monotonic() + 30
        while child is None and time.monotonic() < deadline:
            for task in os.listdir("/proc/%d/task" % ns.pid):
                with open("/proc/%d/task/%s/children" % (ns.pid, task)) as f:
                    kids = f.read().split()
                if kids and os.readlink("/proc/%s/exe" % kids[0]) != \
                        os.readlink("/proc/%d/exe" % ns.pid):
                    child = int(kids[0])
            time.sleep(0.05)
        assert child is not None
        r = pyspect("alloc", "-q", "--json", "-p", child, timeout=120)
        assert r.rc != 0 and "pid namespace" in r.err, r.err
        with open("/proc/%d/maps" % child) as f:
            assert "pyspect" not in f.read()
    finally:
        if child is not None:
            os.kill(child, signal.SIGKILL)  # not unshare's to end
        ns.kill()
        ns.wait()
