"""pyspect record -f trace: every sample in time order, per thread.

The target (targets/phases.py) alternates a computing phase and a
sleeping phase in its main thread and logs when each begins; a trace of
it must show the phases where the log puts them, with the main thread
running and holding the GIL while it computes and sleeping without the
GIL while it rests.  The same recording written as collapsed stacks
(-o t.txt) says which stacks were sampled: the trace must hold exactly
those.

Then the trace is opened in speedscope (the npm package, installed by
tools/install-deps from tests/js/package-lock.json) in headless
Chromium, and driven as a person would: for each thread's profile
(keypress "n" for the next), the mouse hovers the middle of each long
slice of the time-ordered view, and the tooltip speedscope shows must
name that slice and its duration, as the trace file has them.
"""
import base64
import collections
import html
import json
import pathlib
import re
import shutil
import signal
import subprocess
import time

import pytest

import conftest
from conftest import pyspect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SPEEDSCOPE = (conftest.ROOT / "tests" / "js" / "node_modules" / "speedscope" /
              "dist" / "release" / "index.html")


def slices(doc):
    """{(pid, tid): [(depth, name, start_us, end_us)]} from Begin/End
    events, checking that every End closes the innermost open frame."""
    open_, out = collections.defaultdict(list), collections.defaultdict(list)
    last = {}
    for e in doc["traceEvents"]:
        if e["ph"] not in "BE":
            assert e["ph"] == "M", e
            continue
        key = (e["pid"], e["tid"])
        assert e["ts"] >= last.get(key, 0), "events out of order: %r" % e
        last[key] = e["ts"]
        if e["ph"] == "B":
            open_[key].append((e["name"], e["ts"]))
        else:
            assert open_[key], "End with nothing open: %r" % e
            name, start = open_[key].pop()
            assert name == e["name"], (name, e)
            assert e["ts"] >= start
            out[key].append((len(open_[key]), name, start, e["ts"]))
    assert not any(open_.values()), "frames left open"
    return out


def stacks_shown(doc, key):
    """Every stack a thread shows for longer than an instant (root first):
    a frame that ends where another begins ends a nanosecond before."""
    shown, stack = set(), []
    events = [e for e in doc["traceEvents"]
              if e["ph"] in "BE" and (e["pid"], e["tid"]) == key]
    for i, e in enumerate(events):
        if e["ph"] == "B":
            stack.append(e["name"])
        else:
            stack.pop()
        nxt = events[i + 1] if i + 1 < len(events) else None
        if stack and (nxt is None or nxt["ts"] > e["ts"] + 0.0015):
            shown.add(tuple(stack))
    return shown


def phases(path):
    """[(name, start, end)] in time.time() seconds, from the target's log."""
    rows = []
    with open(str(path)) as f:
        for line in f:
            name, t = line.split()
            rows.append((name, float(t)))
    return [(n, t, rows[i + 1][1]) for i, (n, t) in enumerate(rows[:-1])]


def phase_at(log, t, margin):
    for name, start, end in log:
        if start + margin <= t <= end - margin:
            return name
    return None


def record_phases(python, target, tmp_path, *extra):
    t = target(python, "phases.py", "0.15")
    trace, txt = tmp_path / "t.trace.json", tmp_path / "t.txt"
    r = pyspect("record", "-d", "1.5", "-r", "200", "--mode", "wall",
                "-o", trace, "-o", txt, t.pid, *extra)
    assert r.rc == 0, r.err
    with open(str(trace), encoding="utf-8") as f:
        doc = json.load(f)
    return t, doc, txt


@pytest.mark.sanitize
def test_phases_in_time_order(python, target, tmp_path):
    t, doc, txt = record_phases(python, target, tmp_path)
    start = doc["otherData"]["start_unix"]
    names = {(e["pid"], e["tid"]): e["args"]["name"]
             for e in doc["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    by_name = {v: k for k, v in names.items()}
    assert {"MainThread", "ticker", "MainThread: state",
            "ticker: state"} <= set(by_name), names
    main = by_name["MainThread"]
    assert main == (t.pid, t.pid)
    got = slices(doc)
    log = phases(str(t.truth_path) + ".phases")
    period = 1e6 / 200

    # The phases where the target's log puts them.
    seen = collections.Counter()
    for depth, name, b, e in got[main]:
        fn = name.split(" (")[0]
        # A slice of a sample or two may straddle a phase's start: only
        # slices of four periods and more are judged.
        if depth != 1 or fn not in ("compute", "rest") or e - b < 4 * period:
            continue
        mid = start + (b + e) / 2 / 1e6
        want = phase_at(log, mid, 2 * period / 1e6)
        if want is not None:
            seen[fn == want] += 1
    assert seen[True] >= 6 and seen[False] == 0, seen

    # The main thread's state beside it, by phase.
    states = collections.defaultdict(collections.Counter)
    for depth, name, b, e in got[by_name["MainThread: state"]]:
        want = phase_at(log, start + (b + e) / 2 / 1e6, 2 * period / 1e6)
        if want is not None:
            states[want][name] += e - b
    compute, rest = states["compute"], states["rest"]
    assert compute.most_common(1)[0][0] == "running (R), holds GIL", compute
    assert rest.most_common(1)[0][0] == "sleeping (S), no GIL", rest
    assert rest["sleeping (S), no GIL"] > 0.8 * sum(rest.values()), rest

    # Exactly the stacks the collapsed file of the same recording has.
    want = set()
    with open(str(txt), encoding="utf-8") as f:
        for line in f:
            want.add(tuple(line.rsplit(" ", 1)[0].split(";")))
    shown = stacks_shown(doc, main) | stacks_shown(doc, by_name["ticker"])
    assert shown == want
    total = 0
    with open(str(txt), encoding="utf-8") as f:
        total = sum(int(line.rsplit(" ", 1)[1]) for line in f)
    assert doc["otherData"]["samples"] == total


@pytest.mark.sanitize
def test_written_as_it_records(target, tmp_path):
    """The trace reaches its file while the recording runs (so pyspect
    keeps none of it: bench/trace.py measures its memory), and the file
    is whole once Ctrl-C ends the recording."""
    py = conftest.PYTHONS.get("system") or next(
        iter(conftest.PYTHONS.values()), None)
    if py is None:
        pytest.skip("no Python found")
    t = target(py, "busy.py")
    trace = tmp_path / "t.trace.json"
    # A frame per line: hot()'s loop changes the stack at every sample.
    p = subprocess.Popen([conftest.PYSPECT, "record", "-q", "--lines", "-r",
                          "1000", "-d", "120", "-o", str(trace), str(t.pid)],
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (not trace.exists() or trace.stat().st_size < 200000):
            assert p.poll() is None, p.communicate()[1]
            assert time.monotonic() < deadline, "trace not written yet"
            time.sleep(0.1)
        head = trace.read_bytes()
        assert head.startswith(b'{"displayTimeUnit":"ms","traceEvents":[')
        assert head.count(b'"ph":"B"') > 200
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=60)[1]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    with open(str(trace), encoding="utf-8") as f:
        doc = json.load(f)
    assert trace.read_bytes().startswith(head)
    got = slices(doc)
    main = (t.pid, t.pid)
    assert any(name.startswith("hot (") for _, name, _, _ in got[main])
    names = {(e["pid"], e["tid"]): e["args"]["name"]
             for e in doc["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    assert names[main] == "MainThread"
    assert doc["otherData"]["samples"] > 200


HARNESS = r"""<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" width="1400" height="700"></iframe>
<pre id="out">not loaded</pre>
<script>
var PLAN = %(plan)s;
var f = document.getElementById('f'), r = {titles: [], tips: {}}, tries = 0;
function done() { document.getElementById('out').textContent = JSON.stringify(r); }
function title(d) {
  /* The toolbar's middle line: "PROCESS (pid P), THREAD (tid T) (i/n)". */
  var m = d.body.innerText.match(/^.*\(tid \d+\) \(\d+\/\d+\)$/m);
  return m ? m[0] : null;
}
function tip(d) {
  var best = null;
  d.querySelectorAll('div').forEach(function (el) {
    var cs = d.defaultView.getComputedStyle(el);
    if (cs.position === 'absolute' && cs.pointerEvents === 'none' &&
        el.textContent) { best = el.textContent; }
  });
  return best;
}
function chart(d) {
  /* The flame chart: the canvas area below the minimap. */
  return d.elementFromPoint(700, 400);
}
function hover(d, el, x, y) {
  /* As a mouse arrives: from a pixel away, then onto the point. */
  var b = el.getBoundingClientRect();
  [[x - 1, y - 1], [x, y]].forEach(function (p) {
    el.dispatchEvent(new d.defaultView.MouseEvent('mousemove',
        {bubbles: true, clientX: b.left + p[0], clientY: p[1]}));
  });
}
function profile(d, k, waits) {
  /* Hover every planned point of the profile now shown, then go on.  A
   * loaded machine may not have drawn the switch to profile k + 1 yet:
   * wait for its title to say "(k+1/n)", or the last profile would be
   * hovered twice while the view moves on under the mouse. */
  var t = title(d), plan = null, i = 0;
  waits = waits || 0;
  if ((!t || t.slice(-(' (' + (k + 1) + '/' + PLAN.total + ')').length) !==
       ' (' + (k + 1) + '/' + PLAN.total + ')') && waits < 50) {
    setTimeout(function () { profile(d, k, waits + 1); }, 100);
    return;
  }
  r.titles.push(t);
  PLAN.forEach(function (p) { if (t && t.indexOf(p.name + ' (tid') >= 0) plan = p; });
  var next = function () {
    if (k + 1 >= PLAN.total) { done(); return; }
    d.defaultView.dispatchEvent(new d.defaultView.KeyboardEvent('keypress', {key: 'n'}));
    setTimeout(function () { profile(d, k + 1); }, 300);
  };
  if (!plan) { next(); return; }
  r.tips[plan.name] = [];
  var waited = 0;
  var step = function () {
    if (i > 0) {
      /* The tooltip comes with a later render, and a view just switched
       * to may still be settling (a loaded machine is slow to): hover
       * again, up to 25 times, a few pixels either side after the first
       * tries (a long slice is at least 56 px wide), in case the point
       * fell on a pixel the chart had not drawn yet. */
      if (tip(d) === null && waited++ < 25) {
        var dx = waited < 5 ? 0 : [3, -3, 6, -6][waited & 3];
        if (waited === 10 || waited === 18) {
          /* Still nothing: have the view measure itself again, and let
           * the mouse leave the chart before it comes back. */
          d.defaultView.dispatchEvent(new d.defaultView.Event('resize'));
          chart(d).dispatchEvent(new d.defaultView.MouseEvent('mouseleave',
              {bubbles: false, clientX: 0, clientY: 0}));
        }
        hover(d, chart(d), plan.points[i - 1][0] + dx, plan.points[i - 1][1]);
        setTimeout(step, 250);
        return;
      }
      if (tip(d) === null) {
        /* Say what was under the point, for whoever reads the failure. */
        var el = d.elementFromPoint(plan.points[i - 1][0], plan.points[i - 1][1]);
        r.missed = (r.missed || []).concat([{name: plan.name, title: title(d),
            point: plan.points[i - 1], under: el ? el.tagName + '.' + el.className : null}]);
      }
      r.tips[plan.name].push(tip(d));
    }
    if (i >= plan.points.length) { next(); return; }
    hover(d, chart(d), plan.points[i][0], plan.points[i][1]);
    i++;
    waited = 0;
    setTimeout(step, 60);
  };
  step();
}
function poll() {
  var d = f.contentDocument;
  if ((!d || !title(d)) && tries++ < 150) { setTimeout(poll, 100); return; }
  try { profile(d, 0); } catch (e) { r.error = String(e) + ' ' + e.stack; done(); }
}
/* Once: an iframe may also report the load of its first about:blank. */
var started = false;
f.addEventListener('load', function () {
  if (started || f.contentWindow.location.href === 'about:blank') { return; }
  started = true;
  setTimeout(poll, 200);
});
f.src = %(src)s;
</script></body></html>
"""

# Where speedscope draws the flame chart's rows: below the toolbar (20
# px) and the minimap, a row per depth.  Measured on speedscope 1.25's
# layout, 1400x700 frame: depth d is drawn at y = 142 + 20 d +- 8.
ROW_Y0, ROW_H = 153, 20


@pytest.mark.skipif(CHROMIUM is None or not SPEEDSCOPE.exists(),
                    reason="needs chromium and tests/js (npm ci)")
def test_speedscope_shows_the_trace(target, tmp_path):
    python = conftest.PYTHONS.get("system") or next(
        iter(conftest.PYTHONS.values()), None)
    if python is None:
        pytest.skip("no Python found")
    t, doc, txt = record_phases(python, target, tmp_path)
    names = {(e["pid"], e["tid"]): e["args"]["name"]
             for e in doc["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    got = slices(doc)
    plan, want = [], {}
    for key, name in names.items():
        sl = got[key]
        if not sl:
            continue
        # speedscope starts each thread's time at its first event and
        # shows all of it across the frame's width.
        t0 = min(b for _, _, b, _ in sl)
        t1 = max(e for _, _, _, e in sl)
        depth = 1 if name == "MainThread" else 0
        points, expect = [], []
        for d, n, b, e in sl:
            if d != depth or (e - b) < 0.04 * (t1 - t0):
                continue
            x = ((b + e) / 2 - t0) / (t1 - t0) * 1400
            points.append([x, ROW_Y0 + ROW_H * depth])
            expect.append((n, (e - b) / 1000.0))
        plan.append({"name": name, "points": points})
        want[name] = expect
    (tmp_path / "profile.js").write_text(
        "speedscope.loadFileFromBase64(%s, %s)\n" % (
            json.dumps("t.trace.json"),
            json.dumps(base64.b64encode(
                (tmp_path / "t.trace.json").read_bytes()).decode())))
    src = "%s#localProfilePath=%s" % (SPEEDSCOPE.as_uri(),
                                      str(tmp_path / "profile.js")[1:])
    harness = HARNESS % {"plan": json.dumps(plan), "src": json.dumps(src)}
    (tmp_path / "harness.html").write_text(
        harness.replace("PLAN.total", str(len(names))))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run",
           "--user-data-dir=%s" % (tmp_path / "chromium-profile"),
           "--allow-file-access-from-files", "--virtual-time-budget=30000",
           "--window-size=1400,800", "--dump-dom",
           (tmp_path / "harness.html").as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="out">(.*?)</pre>', p.stdout, re.S)
    assert m, "no harness output: %s" % p.stderr[-2000:]
    seen = json.loads(html.unescape(m.group(1)))
    assert "error" not in seen, seen["error"]

    # One profile per thread and state track, named as the trace says.
    shown = [re.sub(r" \(\d+/\d+\)$", "", x) for x in seen["titles"]]
    assert len(shown) == len(names), seen["titles"]
    for (pid, tid), name in names.items():
        assert any(s.endswith("%s (tid %d)" % (name, tid)) for s in shown), (
            name, shown)
    # Each long slice where the trace has it, with its duration.
    for name, expect in want.items():
        tips = seen["tips"][name]
        assert len(tips) == len(expect) and expect, (name, tips)
        for tip, (slice_name, ms) in zip(tips, expect):
            assert tip is not None, (name, slice_name, seen.get("missed"))
            m = re.match(r"^([\d.]+)(ms|s) \([^)]*%\) (.*)$", tip)
            assert m, tip
            assert m.group(3) == slice_name
            shown_ms = float(m.group(1)) * (1000 if m.group(2) == "s" else 1)
            assert abs(shown_ms - ms) < 0.02 * ms + 0.01, (tip, ms)
    assert any("compute" in n for n, _ in want["MainThread"])
    assert {n for n, _ in want["MainThread: state"]} >= {
        "running (R), holds GIL", "sleeping (S), no GIL"}
