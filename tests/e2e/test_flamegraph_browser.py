"""The flame graph SVG in a real browser: hover, zoom, search, reset.

Runs only where Chromium is installed (Debian's `chromium`; it is not a
build dependency).  A profile with known stacks is written by
build/prof-replay (tools/prof_replay.c), loaded in headless Chromium
inside an <iframe> of a small harness page, and driven the way a person
would: mouse events on frames and buttons, a search answered through
window.prompt, the Escape key.  The harness reports what it saw as JSON
in the page, read back with --dump-dom.  The oracle is the profile
itself: which samples contain a frame matching the search, which frames
are ancestors of the zoomed one, and how wide each should then be.
"""
import html
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import PYSPECT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPLAY = pathlib.Path(PYSPECT).resolve().parent / "prof-replay"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or not REPLAY.exists(),
    reason="needs chromium and build/prof-replay")

# (thread tid, thread name, count, frames root first as (function, file, line))
APP = "/srv/app/main.py"
STACKS = [
    (101, "MainThread", 50, [("<module>", APP, 1), ("main", APP, 10),
                             ("compute_total", APP, 20)]),
    (101, "MainThread", 30, [("<module>", APP, 1), ("main", APP, 10),
                             ("render", APP, 30),
                             ("compute_tax", "/srv/app/tax.py", 5)]),
    (101, "MainThread", 10, [("<module>", APP, 1), ("main", APP, 10),
                             ("render", APP, 30),
                             ("escape", "/usr/lib/python3.11/html/__init__.py",
                              12)]),
    (102, "worker <&\"'>", 25, [("Thread.run", "/usr/lib/python3.11/threading.py",
                                 964),
                                ("work <&\"'>", "/srv/app/<odd>&.py", 3),
                                ("compute_total", APP, 20)]),
    (102, "worker <&\"'>", 5, [("Thread.run", "/usr/lib/python3.11/threading.py",
                                964),
                               ("Session.get", "/opt/venv/lib/python3.11/"
                                "site-packages/requests/sessions.py", 600)]),
]
TOTAL = sum(s[2] for s in STACKS)

HARNESS = r"""<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="graph.svg" width="1200" height="500"></iframe>
<pre id="out">not loaded</pre>
<script>
function ev(el, type) {
  el.dispatchEvent(new MouseEvent(type, {bubbles: true}));
}
function visible(fg) {
  return fg.frames.filter(function (f) { return f.g.style.display !== 'none'; });
}
function overflow(fg) {
  /* Labels wider than their rectangle, measured with the real font. */
  return visible(fg).filter(function (f) {
    return f.text && f.text.textContent &&
           f.text.getComputedTextLength() > +f.rect.getAttribute('width') - 3;
  }).map(function (f) { return f.text.textContent; });
}
function geom(fg) {
  var out = {};
  visible(fg).forEach(function (f) {
    out[f.label] = [+f.rect.getAttribute('x'), +f.rect.getAttribute('width'),
                    f.g.getAttribute('class') || ''];
  });
  return out;
}
document.getElementById('f').addEventListener('load', function () {
  var w = this.contentWindow, d = this.contentDocument, r = {};
  try {
    var fg = w.fg;
    r.nframes = fg.frames.length;
    r.inner = fg.inner;
    r.labels = fg.frames.map(function (f) { return f.label; });
    r.overflow_initial = overflow(fg);
    var byLabel = function (s) {
      return fg.frames.filter(function (f) { return f.label.indexOf(s) === 0; })[0];
    };
    ev(byLabel('render ').g, 'mouseover');
    r.details_hover = d.getElementById('details').textContent;
    ev(byLabel('render ').g, 'mouseout');
    r.details_out = d.getElementById('details').textContent;
    ev(byLabel('render ').rect, 'click');
    r.zoomed = fg.zoomed && fg.zoomed.label;
    r.reset_visibility = d.getElementById('reset').style.visibility;
    r.geom_zoomed = geom(fg);
    r.overflow_zoomed = overflow(fg);
    w.prompt = function () { return 'compute_'; };
    ev(d.getElementById('search'), 'click');
    r.matched_zoomed = d.getElementById('matched').textContent;
    r.hits = fg.frames.filter(function (f) { return f.hit; }).map(function (f) { return f.label; });
    r.hit_fill = fg.frames.filter(function (f) { return f.hit; })[0].rect.getAttribute('fill');
    ev(d.getElementById('reset'), 'click');
    r.after_reset_visible = visible(fg).length;
    r.after_reset_zoomed = fg.zoomed;
    r.matched_all = d.getElementById('matched').textContent;
    r.search_button = d.getElementById('search').textContent;
    ev(byLabel('main ').rect, 'click');
    ev(byLabel('all').rect, 'click');
    r.root_click_unzooms = fg.zoomed === null;
    d.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}));
    r.after_escape_matched = d.getElementById('matched').textContent;
    r.after_escape_button = d.getElementById('search').textContent;
    r.after_escape_hits = fg.frames.filter(function (f) { return f.hit; }).length;
  } catch (e) {
    r.error = String(e) + ' ' + e.stack;
  }
  document.getElementById('out').textContent = JSON.stringify(r);
});
</script></body></html>
"""


def write_samples(path):
    with open(path, "w") as f:
        f.write("#meta\tcommand\tpython3 app.py\n#meta\tthreads\t1\n")
        for tid, name, count, frames in STACKS:
            inner_first = ["%s\x1f%s\x1f%d" % fr for fr in reversed(frames)]
            f.write("\t".join(["1", str(tid), str(tid * 1000), name,
                               str(count)] + inner_first) + "\n")


def run_browser(tmp_path):
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", "--user-data-dir=%s" % profile,
           "--allow-file-access-from-files", "--virtual-time-budget=10000",
           "--dump-dom", (tmp_path / "harness.html").as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="out">(.*?)</pre>', p.stdout, re.S)
    assert m, "no harness output: %s" % p.stderr[-2000:]
    return json.loads(html.unescape(m.group(1)))


def label(fr):
    return "%s (%s:%d)" % fr


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fg")
    write_samples(tmp / "samples.txt")
    subprocess.run([str(REPLAY), str(tmp / "samples.txt"),
                    str(tmp / "graph.svg")], check=True, timeout=60,
                   capture_output=True)
    (tmp / "harness.html").write_text(HARNESS)
    r = run_browser(tmp)
    assert "error" not in r, r["error"]
    return r


def test_labels_are_unescaped_names_and_fit(seen):
    labels = set(seen["labels"])
    assert 'thread 102 "worker <&\"\'>"' in labels
    assert label(("work <&\"'>", "/srv/app/<odd>&.py", 3)) in labels
    assert seen["overflow_initial"] == []


def test_hover_shows_samples_and_share(seen):
    render = [s for s in STACKS if ("render", APP, 30) in s[3]]
    n = sum(s[2] for s in render)
    assert seen["details_hover"] == "%s \u2014 %d samples (%.2f%%)" % (
        label(("render", APP, 30)), n, 100.0 * n / TOTAL)
    assert seen["details_out"].startswith("Hover a frame")


def test_zoom(seen):
    assert seen["zoomed"] == label(("render", APP, 30))
    assert seen["reset_visibility"] == "visible"
    g = seen["geom_zoomed"]
    inner = seen["inner"]
    # The zoomed frame spans the graph; its ancestors too, faded; its
    # children in proportion; nothing else is shown.
    render_n = 40
    assert g[label(("render", APP, 30))][:2] == [10, inner]
    for anc in ["all", 'thread 101 "MainThread"', label(("<module>", APP, 1)),
                label(("main", APP, 10))]:
        assert g[anc] == [10, inner, "anc"]
    tax = g[label(("compute_tax", "/srv/app/tax.py", 5))]
    assert abs(tax[1] - 30 / render_n * inner) < 0.01
    assert set(g) == {"all", 'thread 101 "MainThread"',
                      label(("<module>", APP, 1)), label(("main", APP, 10)),
                      label(("render", APP, 30)),
                      label(("compute_tax", "/srv/app/tax.py", 5)),
                      label(("escape", "/usr/lib/python3.11/html/__init__.py",
                             12))}
    assert seen["overflow_zoomed"] == []


def test_search_highlights_and_measures(seen):
    matching = [s for s in STACKS if any("compute_" in fr[0] for fr in s[3])]
    want_all = sum(s[2] for s in matching)
    # One highlighted rectangle per call-tree node (thread, path) whose
    # function matches.
    nodes = {(s[0], tuple(s[3][:i + 1])) for s in STACKS
             for i, fr in enumerate(s[3]) if "compute_" in fr[0]}
    assert sorted(seen["hits"]) == sorted(label(n[1][-1]) for n in nodes)
    assert seen["hit_fill"] == "rgb(224,64,251)"
    # Within the zoom on render: compute_tax is 30 of render's 40.
    assert seen["matched_zoomed"] == "Matched: %.2f%% of the zoom (%.2f%% of all)" % (
        100.0 * 30 / 40, 100.0 * 30 / TOTAL)
    assert seen["matched_all"] == "Matched: %.2f%%" % (100.0 * want_all / TOTAL)
    assert seen["search_button"] == "Clear search"


def test_reset_and_escape(seen):
    assert seen["after_reset_zoomed"] is None
    assert seen["after_reset_visible"] == seen["nframes"]
    assert seen["root_click_unzooms"] is True
    assert seen["after_escape_matched"] == ""
    assert seen["after_escape_button"] == "Search"
    assert seen["after_escape_hits"] == 0
