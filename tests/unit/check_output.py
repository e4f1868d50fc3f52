"""Structure checks of pyspect's profile outputs, run by test_writers.

usage: check_output.py svg|speedscope|collapsed|table FILE

Exits 0 when FILE is a well-formed file of that kind, 1 (with the reasons
on stdout as TAP comments) otherwise.  The checks are what a reader of the
format relies on:

svg         parses as XML (xml.etree); has its script and style; every
            frame <g> has a <title>, a <rect> whose x and width are its
            sample range scaled to the drawable width, and sits inside a
            frame one level down (the parent covers it, children never
            overflow it); every label fits its rectangle.
speedscope  parses as JSON with the fields the speedscope file-format
            schema requires: $schema, shared.frames[].name,
            profiles[] of type "sampled" with name, unit, startValue,
            endValue, samples (indexes into shared.frames) and weights of
            the same length summing to endValue - startValue.
collapsed   every line is "frame;frame;... COUNT" with a positive count,
            no empty frame, no control character.
table       valid UTF-8 with the two views' headers.
"""
import json
import re
import sys
import unicodedata
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
SCHEMA = "https://www.speedscope.app/file-format-schema.json"
UNITS = {"none", "nanoseconds", "microseconds", "milliseconds", "seconds",
         "bytes"}
CHAR_W = 7.25  # the writer's static estimate of a 12px monospace character


def cols(s):
    n = 0
    for ch in s:
        if unicodedata.combining(ch):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return n


def check_svg(path, errors):
    root = ET.parse(path).getroot()
    if root.tag != SVG + "svg":
        errors.append("root is %s, not svg" % root.tag)
        return
    if root.find(SVG + "script") is None or root.find(SVG + "style") is None:
        errors.append("no script or no style")
    total = float(root.get("data-total"))
    pad = float(root.get("data-pad"))
    inner = float(root.get("data-inner"))
    box = None
    for g in root.iter(SVG + "g"):
        if g.get("id") == "frames":
            box = g
    if box is None:
        errors.append("no frames group")
        return
    frames = []
    for g in box.findall(SVG + "g"):
        title = g.find(SVG + "title")
        rect = g.find(SVG + "rect")
        text = g.find(SVG + "text")
        if title is None or rect is None or not title.text:
            errors.append("a frame without title or rect")
            continue
        x, w, d = int(g.get("data-x")), int(g.get("data-w")), int(g.get("data-d"))
        rx, rw = float(rect.get("x")), float(rect.get("width"))
        if abs(rx - (pad + x / total * inner)) > 0.01 or \
                abs(rw - w / total * inner) > 0.01:
            errors.append("frame %r: rect x=%s width=%s is not its range "
                          "%d+%d of %d" % (title.text, rx, rw, x, w, total))
        if text is not None and text.text:
            if cols(text.text) * CHAR_W > rw - 6 + 0.01:
                errors.append("label %r overflows its %.2f px" % (text.text, rw))
            # The rectangle shows the file by its base name.
            label = re.sub(r" \((?:[^()]*/)?([^/()]*)\)$", r" (\1)",
                           title.text.split("\n")[0])
            if not (text.text == label or (text.text.endswith("\u2026") and
                                           label.startswith(text.text[:-1]))):
                errors.append("label %r is not a prefix of %r" % (text.text, label))
        frames.append((d, x, w, title.text))
    if total > 0 and not frames:
        errors.append("no frames drawn")
    by_depth = {}
    for f in frames:
        by_depth.setdefault(f[0], []).append(f)
    roots = by_depth.get(0, [])
    if total > 0 and (len(roots) != 1 or roots[0][2] != total):
        errors.append("not one root covering all %d samples" % total)
    for d, x, w, name in frames:
        if d == 0:
            continue
        parents = [p for p in by_depth.get(d - 1, [])
                   if p[1] <= x and x + w <= p[1] + p[2]]
        if len(parents) != 1:
            errors.append("frame %r at depth %d has %d parents" %
                          (name, d, len(parents)))
    for d, row in by_depth.items():
        row.sort(key=lambda f: f[1])
        for a, b in zip(row, row[1:]):
            if a[1] + a[2] > b[1]:
                errors.append("frames %r and %r overlap" % (a[3], b[3]))


def check_speedscope(path, errors):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("$schema") != SCHEMA:
        errors.append("$schema is %r" % doc.get("$schema"))
    frames = doc.get("shared", {}).get("frames")
    if not isinstance(frames, list):
        errors.append("no shared.frames")
        return
    for fr in frames:
        if not isinstance(fr.get("name"), str):
            errors.append("frame without a name: %r" % fr)
        if "file" in fr and not isinstance(fr["file"], str):
            errors.append("frame file is not a string: %r" % fr)
        if "line" in fr and not isinstance(fr["line"], int):
            errors.append("frame line is not an integer: %r" % fr)
    profiles = doc.get("profiles")
    if not isinstance(profiles, list) or not profiles:
        errors.append("no profiles")
        return
    if not 0 <= doc.get("activeProfileIndex", 0) < len(profiles):
        errors.append("activeProfileIndex out of range")
    for p in profiles:
        for key in ("type", "name", "unit", "startValue", "endValue",
                    "samples", "weights"):
            if key not in p:
                errors.append("profile %r lacks %s" % (p.get("name"), key))
                return
        if p["type"] != "sampled" or p["unit"] not in UNITS:
            errors.append("profile %r: type %r unit %r" %
                          (p["name"], p["type"], p["unit"]))
        if len(p["samples"]) != len(p["weights"]):
            errors.append("profile %r: %d samples, %d weights" %
                          (p["name"], len(p["samples"]), len(p["weights"])))
        for s in p["samples"]:
            if not all(isinstance(i, int) and 0 <= i < len(frames) for i in s):
                errors.append("profile %r: bad frame index in %r" %
                              (p["name"], s))
                break
        if sum(p["weights"]) != p["endValue"] - p["startValue"]:
            errors.append("profile %r: weights do not span start..end" %
                          p["name"])


def check_collapsed(path, errors):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        errors.append("no final newline")
    for n, line in enumerate(text.splitlines(), 1):
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or int(count) <= 0:
            errors.append("line %d: no stack and positive count" % n)
        if any(fr == "" for fr in stack.split(";")):
            errors.append("line %d: an empty frame" % n)
        if any(ord(c) < 0x20 or c == "\x7f" for c in line):
            errors.append("line %d: a control character" % n)


def check_table(path, errors):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if "samples" not in text:
        errors.append("no samples line")


def main():
    kind, path = sys.argv[1], sys.argv[2]
    errors = []
    try:
        {"svg": check_svg, "speedscope": check_speedscope,
         "collapsed": check_collapsed, "table": check_table}[kind](path, errors)
    except Exception as e:  # a parse error is a failed check, not a crash
        errors.append("%s: %s" % (type(e).__name__, e))
    for e in errors[:20]:
        print("#   %s: %s" % (path, e))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
