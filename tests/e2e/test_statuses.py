"""The README's "When something is wrong" table stays true: every status
it lists is one pyspect gives, each has a test that produces it, and the
message says what really happened.

The statuses 7 (not ready), 8 (exited while read), 10 (kept changing),
13 (traced by another process), 14 (a thread would not stop) and 17 (a
core of another architecture) are produced here on purpose, each
deterministically: a target stopped by a tracer at its exec, a target
killed during a held pause, a thread list that loops, a target another
process traces, a thread held in the kernel by a vfork that waits on a
FIFO, an aarch64 ELF header.  Then the messages the issue
found wrong: a kernel thread, a non-Python program whose path holds a
newline, a thread exiting during a pause, --duration beyond the clock, a
full disk.
"""
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import PYSPECT, PYTHONS, ROOT, pyspect

# Where each status of the README table is produced (file: test).
STATUS_TESTS = {
    0: ("test_dump.py", "test_dump_matches_sys_current_frames"),
    1: ("test_heap.py", "test_refs_unknown_type"),
    2: ("test_dump_errors.py", "test_usage_errors"),
    3: ("test_dump_errors.py", "test_no_such_process"),
    4: ("test_dump_errors.py", "test_permission_denied"),
    5: ("test_dump_errors.py", "test_not_python"),
    6: ("test_dump_errors.py", "test_unsupported_version"),
    7: ("test_statuses.py", "test_7_not_ready"),
    8: ("test_statuses.py", "test_8_exited_while_read"),
    9: ("test_dump_errors.py", "test_zombie"),
    10: ("test_statuses.py", "test_10_kept_changing"),
    11: ("test_statuses.py", "test_11_full_disk"),
    12: ("test_record.py", "test_bad_input"),
    13: ("test_statuses.py", "test_13_traced_by_another"),
    14: ("test_statuses.py", "test_14_thread_would_not_stop"),
    15: ("test_core.py", "test_not_a_core"),
    16: ("test_core.py", "test_truncated_core"),
    17: ("test_statuses.py", "test_17_core_of_another_architecture"),
    18: ("test_alloc.py", "test_attach_refuses"),
}


def any_python():
    return PYTHONS.get("system") or PYTHONS.get("3.12") or \
        next(iter(PYTHONS.values()))


def readme_statuses():
    text = (ROOT / "README.md").read_text()
    section = text.split("## When something is wrong", 1)[1]
    section = section.split("\n## ", 1)[0]
    return dict((int(m.group(1)), m.group(2).strip()) for m in
                re.finditer(r"^\| (\d+) \| (.*) \|$", section, re.M))


def error_statuses():
    """The exit statuses src/core/error.h gives its codes."""
    text = (ROOT / "src" / "core" / "error.h").read_text()
    return set(int(m.group(1)) for m in re.finditer(
        r"X\(PS_E\w+, -\d+, ERR_CLASS_\w+, (\d+),", text))


def test_status_table_is_true():
    table = readme_statuses()
    assert set(table) == error_statuses() | {0, 2}, sorted(table)
    for status in table:
        name, test = STATUS_TESTS[status]
        source = (ROOT / "tests" / "e2e" / name).read_text()
        assert ("def %s(" % test) in source, (status, name, test)


def run(*args, **kw):
    p = subprocess.run([PYSPECT] + [str(a) for a in args],
                       capture_output=True, timeout=kw.pop("timeout", 60),
                       **kw)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


def start(python, code, *args):
    """A small target running code; returns it once it says READY."""
    p = subprocess.Popen([python.exe, "-c", textwrap.dedent(code)] +
                         [str(a) for a in args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    line = p.stdout.readline()
    assert line == b"READY\n", (line, p.stderr.read())
    return p


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait(timeout=30)


PARK = """
    import sys, time
    sys.stdout.write("READY\\n"); sys.stdout.flush()
    time.sleep(600)
"""


def test_7_not_ready():
    """Stopped by its tracer right at exec: the interpreter does not exist
    yet."""
    python = any_python()
    helper = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        pid = os.fork()
        if pid == 0:
            libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME
            os.execv(sys.argv[1], [sys.argv[1], "-c", "import time; "
                                   "time.sleep(600)"])
        os.waitpid(pid, os.WUNTRACED)  # stopped at its exec
        sys.stdout.write("%d\\n" % pid); sys.stdout.flush()
        sys.stdin.read()
        os.kill(pid, 9)
        """), python.exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        pid = int(helper.stdout.readline())
        rc, out, err = run("dump", pid)
        assert rc == 7, err
        assert "not ready" in err
    finally:
        helper.stdin.close()
        helper.wait(timeout=30)


@pytest.mark.parametrize("command", [["heap"], ["mem", "--no-census"],
                                     ["dump", "--blocking"]])
def test_8_exited_while_read(command):
    """Killed while pyspect holds it paused: 'exited', not 'permission
    denied'."""
    python = any_python()
    t = start(python, PARK)
    try:
        env = dict(os.environ, PYSPECT_TEST_HOLD_PAUSE_MS="1500")
        p = subprocess.Popen([PYSPECT] + command + [str(t.pid)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open("/proc/%d/status" % t.pid) as f:
                if "t (tracing stop)" in f.read():
                    break
            time.sleep(0.005)
        t.kill()
        out, err = p.communicate(timeout=60)
        assert p.returncode == 8, (p.returncode, err)
        assert b"exited" in err
    finally:
        stop(t)


def test_10_kept_changing():
    """A thread list that loops is a target that keeps changing."""
    python = any_python()
    t = start(python, """
        import ctypes, sys, time
        get = ctypes.pythonapi.PyThreadState_Get
        get.restype = ctypes.c_void_p
        ts = get()
        # tstate->next (after prev, in every version): itself.
        ctypes.c_void_p.from_address(ts + ctypes.sizeof(ctypes.c_void_p)
                                     ).value = ts
        sys.stdout.write("READY\\n"); sys.stdout.flush()
        time.sleep(600)
    """)
    try:
        rc, out, err = run("dump", t.pid)
        assert rc == 10, err
        assert "changed" in err
    finally:
        stop(t)


def test_11_full_disk(tmp_path):
    """A full disk is named: No space left on device."""
    python = any_python()
    t = start(python, PARK)
    try:
        for name, args in (("p.txt", ["record", "-d", "0.2", "-q", "-f",
                                      "table"]),
                           ("g.dot", ["heap", "--refs", "str"]),
                           ("m.csv", ["mem", "--watch", "--duration", "0.2",
                                      "--json"]),
                           ("m.svg", ["mem", "--watch", "--duration", "0.2",
                                      "--json"])):
            path = tmp_path / name
            os.symlink("/dev/full", str(path))
            pid = ["-p", t.pid] if args[0] == "mem" else [t.pid]
            rc, out, err = run(*(args + ["-o", path] + pid))
            assert rc == 11, (args, err)
            assert "No space left on device" in err, err
        p = subprocess.run([PYSPECT, "dump", str(t.pid)],
                           stdout=open("/dev/full", "wb"),
                           stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 11
        assert b"No space left on device" in p.stderr
    finally:
        stop(t)


def test_13_traced_by_another():
    """gdb (here: another process) already traces the target: said so,
    naming it; dump without a pause still reads it."""
    python = any_python()
    t = start(python, PARK)
    tracer = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import ctypes, sys
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.ptrace(0x4206, int(sys.argv[1]), None, None) == 0
        sys.stdout.write("SEIZED\\n"); sys.stdout.flush()
        sys.stdin.read()
        """), str(t.pid)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert tracer.stdout.readline() == b"SEIZED\n"
        for command in (["heap"], ["mem"], ["dump", "--blocking"]):
            rc, out, err = run(*(command + [t.pid]))
            assert rc == 13, (command, err)
            assert "traced by another process" in err
            assert "process %d" % tracer.pid in err, err
        rc, out, err = run("dump", t.pid)
        assert rc == 0, err
    finally:
        tracer.stdin.close()
        tracer.wait(timeout=30)
        stop(t)


def test_14_thread_would_not_stop(tmp_path):
    """A thread the kernel holds (a vfork parent whose child waits on a
    FIFO before its exec) cannot be stopped: said so after 5 s, and the
    target is not left held."""
    python = any_python()
    if python is None:
        pytest.skip("no Python 3.12, 3.13 or system")
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    t = start(python, """
        import ctypes, os, sys, threading, time
        libc = ctypes.CDLL(None)
        def spawn():
            # Through ctypes, which lets the GIL go (os.posix_spawn
            # keeps it).
            actions = ctypes.create_string_buffer(256)
            libc.posix_spawn_file_actions_init(actions)
            libc.posix_spawn_file_actions_addopen(
                actions, 0, sys.argv[1].encode(), os.O_RDONLY, 0)
            argv = (ctypes.c_char_p * 2)(b"true", None)
            pid = ctypes.c_int()
            libc.posix_spawn(ctypes.byref(pid), b"/bin/true", actions,
                             None, argv, None)
        threading.Thread(target=spawn, daemon=True).start()
        time.sleep(0.5)
        sys.stdout.write("READY\\n"); sys.stdout.flush()
        time.sleep(600)
    """, fifo)
    try:
        rc, out, err = run("heap", t.pid)
        assert rc == 14, err
        assert "did not stop" in err
        assert "TracerPid:\t0\n" in open("/proc/%d/status" % t.pid).read()
    finally:
        try:
            # A writer lets the vfork child go on to its exec.
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        stop(t)


# ---- messages that said the wrong thing ------------------------------------

def test_17_core_of_another_architecture(tmp_path):
    """An aarch64 core (its ELF header is enough): named as such."""
    import struct
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 4, 183, 1, 0, 0, 0, 0, 64, 56,
                          0, 64, 0, 0)
    core = tmp_path / "core.arm"
    core.write_bytes(header)
    for cmd in ("dump", "heap", "mem"):
        rc, out, err = run(cmd, "--core", core)
        assert rc == 17, (cmd, err)
        assert "aarch64" in err and err.count("\n") == 1, (cmd, err)


def test_kernel_thread_is_not_python():
    rc, out, err = run("dump", 2)
    assert rc == 5, err
    assert "kernel thread" in err


def test_newline_in_a_non_python_path(tmp_path):
    exe = tmp_path / "sle\nep"
    import shutil
    shutil.copy("/bin/sleep", str(exe))
    p = subprocess.Popen([str(exe), "600"])
    try:
        time.sleep(0.2)
        rc, out, err = run("dump", p.pid)
        assert rc == 5, err
        assert "sle\\nep" in err  # escaped, on one line
    finally:
        p.kill()
        p.wait()


def test_thread_churn_during_pauses(tmp_path):
    """Threads start and exit all the time: a pause skips those going
    away (before: 'permission denied'), and record --blocking runs its
    whole duration (before: 'the target exited')."""
    python = any_python()
    t = start(python, """
        import sys, threading, time
        def churn():
            while True:
                ts = [threading.Thread(target=time.sleep, args=(0.001,))
                      for _ in range(8)]
                for x in ts: x.start()
                for x in ts: x.join()
        for _ in range(2):
            threading.Thread(target=churn, daemon=True).start()
        sys.stdout.write("READY\\n"); sys.stdout.flush()
        time.sleep(600)
    """)
    try:
        for command in (["dump", "--blocking"], ["heap"],
                        ["mem", "--no-census"]):
            for _ in range(10):
                rc, out, err = run(*(command + [t.pid]))
                assert rc in (0, 10), (command, rc, err)
        out = tmp_path / "churn.txt"
        rc, _, err = run("record", "--blocking", "-d", "1", "-f", "table",
                         "-o", out, t.pid)
        assert rc == 0, err
        assert "recording stopped: duration reached" in err, err
    finally:
        stop(t)


def test_duration_beyond_the_clock(tmp_path):
    """-d 1e300 is no end at all: it records until stopped."""
    python = any_python()
    t = start(python, PARK)
    try:
        out = tmp_path / "long.txt"
        p = subprocess.Popen([PYSPECT, "record", "-d", "1e300", "--mode",
                              "wall", "-f", "table", "-o", str(out),
                              str(t.pid)], stderr=subprocess.PIPE)
        time.sleep(1)
        assert p.poll() is None, p.stderr.read()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert b"interrupted" in err
        assert int(re.search(rb"(\d+) samples", err).group(1)) > 10
    finally:
        stop(t)
