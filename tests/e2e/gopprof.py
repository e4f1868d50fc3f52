"""Reading pprof files with the real `go tool pprof` (Debian's golang-go).

The tests never trust pyspect's own encoder to check itself: every pprof
file is decoded by the Go tool, and what it prints is parsed here.  The
Go tool wants a writable HOME and build cache and must not reach for the
network, so it runs with its own HOME, GOCACHE, GOPROXY=off and
GOTOOLCHAIN=local.
"""
import collections
import os
import re
import shutil
import subprocess
import tempfile

GO = shutil.which("go")
NO_FRAMES = "(no Python frames)"
_HOME = None


def env():
    global _HOME
    if _HOME is None:
        _HOME = tempfile.mkdtemp(prefix="pyspect-go-")
    e = dict(os.environ, HOME=_HOME, GOCACHE=os.path.join(_HOME, "cache"),
             GOPATH=os.path.join(_HOME, "gopath"), GOPROXY="off",
             GOFLAGS="", GOTOOLCHAIN="local", GOTELEMETRY="off")
    e.pop("PPROF_TMPDIR", None)
    return e


def run(path, *args):
    """`go tool pprof ARGS PATH`; its stdout (it must succeed)."""
    p = subprocess.run([GO, "tool", "pprof"] + list(args) + [str(path)],
                       capture_output=True, text=True, timeout=120, env=env(),
                       errors="surrogateescape")
    assert p.returncode == 0, "go tool pprof %s failed: %s" % (args, p.stderr)
    return p.stdout


Raw = collections.namedtuple(
    "Raw", "header sample_types period_type period samples locations "
    "comments")
# A sample: its values, its stack root first as (name, file, line), its
# labels {key: value}.
Sample = collections.namedtuple("Sample", "values stack labels")

_LOC = re.compile(r"^\s*(\d+): 0x[0-9a-f]+ M=\d+ (.*)$")
_LINE = re.compile(r"^(\S+) (.*?):(-?\d+) s=(-?\d+)(?:\((.*)\))?$")


def raw(path):
    """What `-raw` prints, parsed: sample types, period, samples (stacks
    resolved through the locations), comments.  Function names must hold
    no spaces (Python's never do; "<frozen getpath>" is a file name)."""
    text = run(path, "-raw")
    lines = text.splitlines()
    header, samples, locations, comments = {}, [], {}, []
    i = 0
    while i < len(lines) and lines[i] != "Samples:":
        line = lines[i]
        if line.startswith("Comment: "):
            comments.append(line[len("Comment: "):])
        elif ": " in line:
            k, v = line.split(": ", 1)
            header[k] = v
        i += 1
    i += 1
    sample_types = [t.replace("[dflt]", "") for t in lines[i].split()]
    i += 1
    pending = []
    while i < len(lines) and lines[i] != "Locations":
        line = lines[i]
        m = re.match(r"^\s*([\d ]+?):\s*([\d ]*)$", line)
        if m and not line.strip().endswith("]"):
            values = [int(v) for v in m.group(1).split()]
            ids = [int(x) for x in m.group(2).split()]
            pending.append([values, ids, {}])
        else:
            for k, v in re.findall(r"(\w+):\[([^\]]*)\]", line):
                pending[-1][2][k] = v
        i += 1
    i += 1
    while i < len(lines) and lines[i] != "Mappings":
        m = _LOC.match(lines[i])
        if m and m.group(2).startswith(NO_FRAMES + " "):
            locations[int(m.group(1))] = (NO_FRAMES, "", 0)
        elif m:
            lm = _LINE.match(m.group(2))
            assert lm, "unexpected location line %r" % lines[i]
            locations[int(m.group(1))] = (lm.group(1), lm.group(2),
                                          int(lm.group(3)))
        i += 1
    for values, ids, labels in pending:
        stack = tuple(locations[x] for x in reversed(ids))
        samples.append(Sample(values, stack, labels))
    return Raw(header, sample_types, header.get("PeriodType"),
               int(header.get("Period", "0")), samples, locations, comments)


def traces(path):
    """`-traces -sample_index=samples`, parsed: a list of (count, stack
    root first as function names, labels)."""
    text = run(path, "-traces", "-sample_index=samples")
    out = []
    for block in text.split("-----------+-")[1:]:
        labels, count, frames = {}, None, []
        for line in block.splitlines()[1:]:
            if not line.strip():
                continue
            m = re.match(r"^\s*(\w+):\s+(.*)$", line)
            if count is None and m and not re.match(r"^\s*\d+\s", line):
                labels[m.group(1)] = m.group(2).strip()
                continue
            m = re.match(r"^\s*(\d+)\s+(\S.*)$", line)
            if count is None and m:
                count = int(m.group(1))
                frames.append(m.group(2).strip())
            else:
                frames.append(line.strip())
        if count is not None:
            out.append((count, tuple(reversed(frames)), labels))
    return out


def top(path):
    """`-top -sample_index=samples` with nothing dropped: the total the
    header states and the rows as (function name, flat, cum)."""
    text = run(path, "-top", "-sample_index=samples", "-nodefraction=0",
               "-nodecount=1000000")
    total = int(re.search(r"% of (\d+) total", text).group(1))
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+(.*)$",
                     line)
        if m:
            rows.append((m.group(3), int(m.group(1)), int(m.group(2))))
    return total, rows


def duration(path):
    """The profile's duration in seconds, as the -top header states it
    (-raw cuts its figure to four characters)."""
    text = run(path, "-top", "-nodecount=1")
    m = re.search(r"Duration: ([\d.]+)(h|m|s|ms|us|\u00b5s|ns)\b", text)
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6,
             "\u00b5s": 1e-6, "ns": 1e-9}
    return float(m.group(1)) * scale[m.group(2)]
