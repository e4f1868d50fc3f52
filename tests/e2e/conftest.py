"""End-to-end test harness: real target processes on every CPython found.

Interpreters are discovered at run time: pyenv's versions/3.X*/bin/python3
(and versions/2.7*/bin/python2.7), Debian's /usr/bin/python3 (a static
build), and 3.14 and 3.15 from the Debian sid root that tools/sid-root
makes (static builds too, run through tools/sid-bin/python3.X in that
root).  Every test that takes the
`python` fixture runs once per expected interpreter; one that is not
installed is a skip, and the summary at the end says which versions ran.
Set PYSPECT_TEST_PYTHONS=3.8,3.12,system to run a subset.

Targets compute the truth about themselves (sys._current_frames(), thread
names, kernel thread ids), write it to a JSON file, say READY on stdout and
park.  Every target is killed in a finally, and every wait has a timeout.
"""
import collections
import json
import os
import pathlib
import select
import shutil
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Absolute: some tests run pyspect from a temporary directory.
PYSPECT = os.path.abspath(
    os.environ.get("PYSPECT", str(ROOT / "build" / "pyspect")))
TARGETS = pathlib.Path(__file__).resolve().parent / "targets"
# A directory and file names with Latin-1, BMP and astral characters, so
# co_filename is a str of every PEP 393 kind.
NONASCII_DIR = "tgt-ünï-函数-𠀀"

EXPECTED = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13",
            "3.14", "3.15", "system"]
# Versions that live in the sid root (tools/sid-root), not in pyenv.
SID_BIN = ROOT / "tools" / "sid-bin"
SID_VERSIONS = ("3.14", "3.15")

Python = collections.namedtuple("Python", "label exe version static")


def _pyenv_root():
    root = os.environ.get("PYENV_ROOT")
    if root:
        return pathlib.Path(root)
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True,
                             text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return pathlib.Path(out.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return pathlib.Path.home() / ".pyenv"


def _version_of(exe):
    out = subprocess.run(
        [exe, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True, text=True, timeout=30)
    return tuple(int(x) for x in out.stdout.strip().split("."))


def sid_root():
    """The sid root's path (tools/sid-root path)."""
    out = subprocess.run([str(ROOT / "tools" / "sid-root"), "path"],
                         capture_output=True, text=True, timeout=10)
    return pathlib.Path(out.stdout.strip())


def _sid_has(label):
    """Does the sid root hold python<label> (tools/sid-root ensure made
    it)?"""
    try:
        root = sid_root()
    except (OSError, subprocess.TimeoutExpired):
        return False
    return os.access(str(root / "usr" / "bin" / ("python" + label)),
                     os.X_OK)


def discover_pythons():
    found = {}
    versions = _pyenv_root() / "versions"
    if versions.is_dir():
        for d in sorted(versions.iterdir()):
            exe = d / "bin" / "python3"
            if not exe.exists():
                exe = d / "bin" / "python2.7"
            if not exe.exists():
                continue
            try:
                v = _version_of(str(exe))
            except (OSError, ValueError, subprocess.TimeoutExpired):
                continue
            label = "%d.%d" % v[:2]
            if label in EXPECTED and label not in found:
                found[label] = Python(label, str(exe), v, False)
    system = "/usr/bin/python3"
    if os.path.exists(system):
        try:
            v = _version_of(system)
            if (3, 6) <= v[:2] <= (3, 13):
                found["system"] = Python("system", system, v, True)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
    for label in SID_VERSIONS:
        if label in found or not _sid_has(label):
            continue
        exe = SID_BIN / ("python" + label)
        try:
            found[label] = Python(label, str(exe), _version_of(str(exe)),
                                  True)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
    wanted = os.environ.get("PYSPECT_TEST_PYTHONS")
    if wanted:
        keep = set(w.strip() for w in wanted.split(","))
        found = {k: v for k, v in found.items() if k in keep}
    return found


PYTHONS = discover_pythons()


def pytest_generate_tests(metafunc):
    if "python" in metafunc.fixturenames:
        metafunc.parametrize("python", EXPECTED, indirect=True)


@pytest.fixture
def python(request):
    p = PYTHONS.get(request.param)
    wanted = os.environ.get("PYSPECT_TEST_PYTHONS")
    if p is None and wanted and request.param not in wanted.split(","):
        pytest.skip("Python %s is not in PYSPECT_TEST_PYTHONS" %
                    request.param)
    if p is None:
        pytest.skip("Python %s is not installed here" % request.param)
    return p


def pytest_terminal_summary(terminalreporter):
    ran = ", ".join("%s (%s)" % (p.label, ".".join(map(str, p.version)))
                    for p in PYTHONS.values())
    missing = ", ".join(e for e in EXPECTED if e not in PYTHONS)
    terminalreporter.write_line("pyspect e2e: interpreters found: " +
                                (ran or "none"))
    if missing:
        terminalreporter.write_line("pyspect e2e: not installed (skipped): " +
                                    missing)


def pytest_sessionstart(session):
    if not os.access(PYSPECT, os.X_OK):
        pytest.exit("pyspect binary not found at %s (run make)" % PYSPECT,
                    returncode=3)
    # make test requires the sid root's interpreters: a silently skipped
    # 3.14 would be a hidden failure.
    required = os.environ.get("PYSPECT_REQUIRE_PYTHONS", "")
    missing = [r for r in required.split(",") if r and r not in PYTHONS]
    wanted = os.environ.get("PYSPECT_TEST_PYTHONS")
    if wanted:
        missing = [m for m in missing if m in wanted.split(",")]
    if missing:
        pytest.exit("required interpreters not found: %s (tools/sid-root "
                    "ensure makes 3.14 and 3.15)" % ", ".join(missing),
                    returncode=3)


def wait_interpreter(python, pid, timeout=30):
    """Return once pid runs the interpreter itself: the sid root's 3.14
    and 3.15 start as a chain of the host's programs (sh, unshare) that
    sets up the root and ends by exec'ing the root's interpreter."""
    if python.label not in SID_VERSIONS:
        return
    root = str(sid_root()) + "/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            return
        if exe.startswith(root):
            return
        time.sleep(0.0005)


# ---- running pyspect ------------------------------------------------------

Result = collections.namedtuple("Result", "rc out err")


def pyspect(*args, timeout=60, **kw):
    """Run pyspect; never hangs (timeout), returns rc/stdout/stderr."""
    p = subprocess.run([PYSPECT] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout,
                       errors="surrogateescape", **kw)
    return Result(p.returncode, p.stdout, p.stderr)


def dump_json(pid, *extra):
    r = pyspect("dump", pid, "--json", *extra)
    assert r.rc == 0, "pyspect dump failed (%d): %s" % (r.rc, r.err)
    return json.loads(r.out)


# ---- targets ----------------------------------------------------------------

class Target:
    """A target program copied into a non-ASCII directory and started."""

    def __init__(self, python, script, *args, tmp, env=None):
        self.python = python
        self.dir = pathlib.Path(tmp) / NONASCII_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        for f in TARGETS.glob("*.py"):
            shutil.copy(f, self.dir / f.name)
        self.script = self.dir / script
        self.truth_path = pathlib.Path(tmp) / ("truth-%s.json" % script)
        self.args = [str(a) for a in args]
        self.env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
                        **(env or {}))
        self.env.pop("PYTHONPATH", None)
        self.proc = None
        self.truth = None

    def start(self, timeout=60, ready=True):
        self.proc = subprocess.Popen(
            [self.python.exe, str(self.script), str(self.truth_path)] +
            self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env, cwd=str(self.dir))
        if ready:
            self.wait_line("READY", timeout)
            with open(str(self.truth_path), encoding="utf-8",
                      errors="surrogatepass") as f:
                self.truth = json.load(f)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def wait_line(self, word, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
                if (word + "\n").encode() in buf:
                    return
            elif self.proc.poll() is not None:
                break
        err = b""
        if self.proc.poll() is not None:
            err = self.proc.stderr.read()
        raise AssertionError("target %s did not say %s: %r %r" %
                             (self.script.name, word, buf, err[-2000:]))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if f is not None:
                    f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


_has_numpy = {}


def need_numpy(python):
    """Skip unless `python` can import numpy: Debian's python3-numpy
    (tools/install-deps) serves /usr/bin/python3, sid's (tools/sid-root)
    the root's 3.14 and 3.15; the pyenv builds have no packages."""
    if python.exe not in _has_numpy:
        r = subprocess.run([python.exe, "-c", "import numpy"],
                           capture_output=True, timeout=60)
        _has_numpy[python.exe] = r.returncode == 0
    if not _has_numpy[python.exe]:
        pytest.skip("numpy is not importable by %s (Debian's python3-numpy "
                    "is for /usr/bin/python3 and the sid root)" % python.exe)


@pytest.fixture
def target(tmp_path):
    """target(python, "script.py", args...) -> started Target, killed after."""
    started = []

    def start(python, script, *args, ready=True, env=None):
        t = Target(python, script, *args, tmp=tmp_path, env=env)
        started.append(t)
        return t.start(ready=ready)

    try:
        yield start
    finally:
        for t in started:
            t.stop()


_shared = {}


@pytest.fixture(scope="session")
def shared_targets(tmp_path_factory):
    """Targets shared between tests of one session (one per script and
    interpreter): they are parked and only ever read."""
    try:
        yield _shared
    finally:
        for t in _shared.values():
            t.stop()


def shared_target(shared, tmp_path_factory, python, script, ready=None):
    """The parked target `script` for `python`, started by the first test
    that asks and shared by the rest; ready(target) runs once, after it
    has said READY."""
    key = (script, python.label)
    t = shared.get(key)
    if t is None:
        t = Target(python, script, tmp=tmp_path_factory.mktemp(
            script.split(".")[0] + "-" + python.label))
        shared[key] = t
        t.start()
        if ready is not None:
            ready(t)
    return t


@pytest.fixture
def scenario(python, shared_targets, tmp_path_factory):
    """The parked scenario target (targets/scenario.py) for `python`."""
    return shared_target(shared_targets, tmp_path_factory, python,
                         "scenario.py")
