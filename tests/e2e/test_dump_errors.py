"""Bad input: one line on stderr that says what went wrong and what to do,
its own exit status, never a crash or a hang."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import PYSPECT, pyspect, wait_interpreter

pytestmark = pytest.mark.sanitize

# Exit statuses (README "When something is wrong").
USAGE, NOPROC, PERM, NOTPY, VERSION, NOTREADY, EXITED, ZOMBIE, CHANGED = \
    2, 3, 4, 5, 6, 7, 8, 9, 10


def one_line(err):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pyspect"), err
    return lines[0]


def unused_pid():
    with open("/proc/sys/kernel/pid_max") as f:
        pid = int(f.read()) - 1
    while os.path.exists("/proc/%d" % pid):
        pid -= 1
    return pid


def test_usage_errors():
    for args in (["dump"], ["dump", "abc"], ["dump", "1", "2"],
                 ["dump", "--bogus", "1"], ["dump", "-p", "0"],
                 ["nonsense"], []):
        r = pyspect(*args)
        assert r.rc == USAGE, (args, r)
        assert r.out == ""
        if args:
            one_line(r.err)


def test_write_failure_on_stdout():
    """Output that cannot be written (a full disk) is a failure, exit 11,
    for whatever printed it: a command's --help as much as its answer."""
    for args in (["--version"], ["--help"], ["dump", "--help"],
                 ["heap", "--help"], ["mem", "--help"], ["record", "--help"],
                 ["mem", "--watch", "--help"]):
        with open("/dev/full", "w") as full:
            p = subprocess.run([PYSPECT] + args, stdout=full,
                               stderr=subprocess.PIPE, timeout=30,
                               universal_newlines=True)
        assert p.returncode == 11, (args, p.stderr)
        assert "cannot write the output" in one_line(p.stderr)


def test_help_documents_every_option():
    r = pyspect("dump", "--help")
    assert r.rc == 0
    for opt in ("--pid", "--json", "--blocking", "--no-source", "--verbose",
                "--help"):
        assert opt in r.out
    r = pyspect("--help")
    assert r.rc == 0 and "dump" in r.out
    assert pyspect("help", "dump").out == pyspect("dump", "--help").out
    r = pyspect("--version")
    assert r.rc == 0 and r.out.startswith("pyspect ")


def test_no_such_process():
    r = pyspect("dump", unused_pid())
    assert r.rc == NOPROC
    assert "no such process" in one_line(r.err)


def test_not_python():
    p = subprocess.Popen(["sleep", "60"])
    try:
        r = pyspect("dump", p.pid)
        assert r.rc == NOTPY
        assert "not a Python process" in one_line(r.err)
    finally:
        p.kill()
        p.wait()


def test_zombie():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open("/proc/%d/stat" % p.pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        r = pyspect("dump", p.pid)
        assert r.rc == ZOMBIE
        assert "zombie" in one_line(r.err)
    finally:
        p.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_permission_denied():
    # Run pyspect as nobody against a root-owned Python.
    d = tempfile.mkdtemp(prefix="pyspect-perm-")
    exe = os.path.join(d, "pyspect")
    shutil.copy(PYSPECT, exe)
    os.chmod(d, 0o755)
    os.chmod(exe, 0o755)
    p = subprocess.Popen([sys.executable, "-c", "import time; "
                          "time.sleep(60)"])
    try:
        def drop():
            os.setgid(65534)
            os.setuid(65534)
        r = subprocess.run([exe, "dump", str(p.pid)],
                           capture_output=True, text=True, timeout=30,
                           preexec_fn=drop)
        assert r.returncode == PERM
        line = one_line(r.stderr)
        assert "permission denied" in line
        assert "ptrace_scope" in line and "CAP_SYS_PTRACE" in line
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(d)


def test_unsupported_version():
    """A runtime whose version text says 2.5 (2.7 and 3.6-3.10 read it from
    the buffer Py_GetVersion() fills; the target overwrites its own)."""
    import conftest
    pythons = [p for p in conftest.PYTHONS.values()
               if (2, 7) <= p.version[:2] <= (3, 10)]
    if not pythons:
        pytest.skip("no 2.7 or 3.6-3.10 installed to pose as Python 2.5")
    p = subprocess.Popen([pythons[0].exe, "-c",
                          "import ctypes, sys, time\n"
                          "api = ctypes.pythonapi\n"
                          "api.Py_GetVersion.restype = ctypes.c_void_p\n"
                          "text = b'2.5.6 (pretending)\\0'\n"
                          "ctypes.memmove(api.Py_GetVersion(), text, "
                          "len(text))\n"
                          "sys.stdout.write('READY\\n')\n"
                          "sys.stdout.flush()\n"
                          "time.sleep(60)\n"],
                         stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"READY\n"
        r = pyspect("dump", p.pid)
        assert r.rc == VERSION
        line = one_line(r.err)
        assert "unsupported Python version" in line
        assert "2.5.6" in line and "2.7 and 3.6 to 3.15" in line
    finally:
        p.kill()
        p.wait()


def test_dumped_right_after_start(python):
    """Either a valid dump or "not ready yet", at every moment of start-up."""
    seen = set()
    for delay in [0, 0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]:
        p = subprocess.Popen([python.exe, "-c",
                              "import time; time.sleep(30)"])
        try:
            # From the moment the interpreter is exec'd (the sid root's
            # pass through sh, unshare and chroot first).
            wait_interpreter(python, p.pid)
            time.sleep(delay)
            r = pyspect("dump", "--json", p.pid)
            assert r.rc in (0, NOTREADY), r
            if r.rc == NOTREADY:
                assert "not ready" in one_line(r.err)
            seen.add(r.rc)
        finally:
            p.kill()
            p.wait()
    assert 0 in seen


def test_target_exits_while_read(python, target):
    """A target with many deep threads exits on its own; dumps racing with
    the exit end in a clean error, never a crash."""
    outcomes = set()
    for i in range(3):
        t = target(python, "deep.py", 30, 100, (0.5, 0.1, 0.02)[i])
        deadline = time.monotonic() + 20
        while t.proc.poll() is None and time.monotonic() < deadline:
            r = pyspect("dump", "--json", t.pid, timeout=30)
            assert r.rc in (0, NOPROC, NOTREADY, EXITED, ZOMBIE, CHANGED), r
            if r.rc != 0:
                one_line(r.err)
            assert r.rc < 128, "pyspect crashed: %r" % (r,)
            outcomes.add(r.rc)
        t.stop()
    assert 0 in outcomes
