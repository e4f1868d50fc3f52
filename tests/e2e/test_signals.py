"""The target is never left stopped (promise 2), whatever happens to
pyspect while it holds a pause.

SIGTSTP (Ctrl-Z), SIGINT, SIGTERM, SIGPIPE and SIGKILL are sent to
pyspect at random moments of every command that pauses (dump --blocking,
record --blocking, mem, heap, heap --refs), 50 times each; every pause is
held a few milliseconds longer (PYSPECT_TEST_HOLD_PAUSE_MS) so that most
signals land inside one.  While pyspect is stopped, and after it has
gone, the target must be running, untraced, and still counting
(targets/beat.py).  Each command has its own target and the five run side
by side.  Then: a target stopped by job control stays exactly as stopped
through every pausing command, and a reader that never reads pyspect's
output never holds the target stopped.
"""
import concurrent.futures
import fcntl
import os
import random
import signal
import struct
import subprocess
import threading
import time

import pytest

from conftest import PYSPECT, PYTHONS

RUNS = 50
SIGNALS = [signal.SIGTSTP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE,
           signal.SIGKILL]
HOLD_MS = 15
# Statuses pyspect may end with: success, the target kept changing (a
# pause let go early reads a running target), or killed by the signal
# (SIGPIPE too, when it comes before pyspect has started to ignore it).
ENDINGS = (0, 10, -signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL,
           -signal.SIGPIPE)


def python_for_signals():
    return PYTHONS.get("system") or PYTHONS.get("3.12") or \
        next(iter(PYTHONS.values()))


def task_states(pid):
    """{tid: state letter} of every thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                out[int(tid)] = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            pass
    return out


def tracer(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return 0


def state_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


class Counter:
    """The count targets/beat.py keeps in a file both map."""

    def __init__(self, path):
        self.path = str(path)
        with open(self.path, "wb") as f:
            f.write(b"\0" * 8)

    def value(self):
        with open(self.path, "rb") as f:
            return struct.unpack("<Q", f.read(8))[0]

    def advancing(self, timeout=10):
        start = self.value()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.005)
            if self.value() > start:
                return True
        return False


def assert_free(pid, why):
    """The target runs: no thread stopped or traced."""
    states = task_states(pid)
    held = dict((t, s) for t, s in states.items() if s in "tT")
    assert not held, "%s: target threads stopped: %s" % (why, held)
    assert tracer(pid) == 0, "%s: target still traced" % why


def wait_stopped_or_gone(p, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            return False
        if state_of(p.pid) == "T":
            return True
        time.sleep(0.001)
    raise AssertionError("pyspect neither stopped nor ended")


def one_run(cmd, pid, sig, delay, env):
    p = subprocess.Popen([PYSPECT] + cmd + [str(pid)],
                         stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env,
                         process_group=0)
    try:
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(sig)
        if sig == signal.SIGTSTP and wait_stopped_or_gone(p):
            # pyspect is stopped: the target must not be.
            assert_free(pid, "pyspect stopped by SIGTSTP")
            p.send_signal(signal.SIGCONT)
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc in ENDINGS, "%s ended with %d after signal %d" % (cmd, rc, sig)
    assert_free(pid, "after pyspect ended (signal %d)" % sig)
    return rc


def run_command(name, cmd, python, tmp_path):
    """RUNS runs per signal of one command against its own target."""
    from conftest import Target
    counter = Counter(tmp_path / ("count-" + name))
    t = Target(python, "beat.py", counter.path, tmp=tmp_path / name)
    t.start()
    env = dict(os.environ, PYSPECT_TEST_HOLD_PAUSE_MS=str(HOLD_MS))
    rng = random.Random(name)
    runs = 0
    try:
        # How long one run takes, to spread the signals over all of it.
        t0 = time.monotonic()
        subprocess.run([PYSPECT] + cmd + [str(t.pid)], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
        span = time.monotonic() - t0
        for sig in SIGNALS:
            for _ in range(RUNS):
                one_run(cmd, t.pid, sig, rng.uniform(0, span), env)
                runs += 1
            assert counter.advancing(), \
                "%s: the target stopped counting after signal %d" % (name,
                                                                     sig)
        assert t.proc.poll() is None, "the target died"
    finally:
        t.stop()
    return runs


def test_signals_never_leave_the_target_stopped(tmp_path):
    python = python_for_signals()
    out = str(tmp_path / "record.collapsed")
    commands = {
        "dump": ["dump", "--blocking", "--json"],
        "record": ["record", "--blocking", "-d", "0.1", "-r", "100", "-q",
                   "-f", "collapsed", "-o", out],
        "mem": ["mem", "--json", "--no-census"],
        "heap": ["heap", "--json"],
        "refs": ["heap", "--refs", "Item", "--json"],
    }
    with concurrent.futures.ThreadPoolExecutor(len(commands)) as pool:
        futures = dict((name, pool.submit(run_command, name, cmd, python,
                                          tmp_path))
                       for name, cmd in commands.items())
        for name, f in futures.items():
            assert f.result() == RUNS * len(SIGNALS), name


def test_job_stopped_target_stays_stopped(target, tmp_path):
    """SIGSTOP the target: every pausing command reads it without ever
    waking a thread (no 't', no 'R' on any thread, ever)."""
    python = python_for_signals()
    counter = Counter(tmp_path / "count")
    t = target(python, "beat.py", counter.path)
    os.kill(t.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while set(task_states(t.pid).values()) != {"T"}:
        assert time.monotonic() < deadline, task_states(t.pid)
        time.sleep(0.005)
    seen = set()
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.update(task_states(t.pid).values())

    watcher = threading.Thread(target=watch)
    watcher.start()
    out = str(tmp_path / "r.collapsed")
    try:
        for cmd in (["dump", "--blocking"], ["mem", "--no-census"],
                    ["heap"], ["heap", "--refs", "Item"],
                    ["record", "--blocking", "-d", "0.2", "-q", "--mode",
                     "wall", "-o", out]):
            for _ in range(3):
                r = subprocess.run([PYSPECT] + cmd + [str(t.pid)],
                                   capture_output=True, timeout=60)
                assert r.returncode == 0, (cmd, r.stderr)
    finally:
        done.set()
        watcher.join()
    assert seen == {"T"}, "a thread of the stopped target moved: %s" % seen
    assert tracer(t.pid) == 0
    value = counter.value()
    time.sleep(0.1)
    assert counter.value() == value, "the stopped target counted"
    os.kill(t.pid, signal.SIGCONT)
    assert counter.advancing(), "the target did not carry on after SIGCONT"


def test_unread_output_never_holds_the_target(target, tmp_path):
    """pyspect writing into a pipe nobody reads blocks; the target it
    paused must be running meanwhile."""
    python = python_for_signals()
    counter = Counter(tmp_path / "count")
    t = target(python, "beat.py", counter.path)
    blocked_on = []
    for cmd in (["heap", "--json"], ["heap", "--refs", "Kind7", "--json"],
                ["dump", "--blocking", "--json"]):
        r, w = os.pipe()
        fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ: less than the output
        p = subprocess.Popen([PYSPECT] + cmd + [str(t.pid)], stdout=w,
                             stderr=subprocess.DEVNULL)
        os.close(w)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and p.poll() is None:
                with open("/proc/%d/wchan" % p.pid) as f:
                    if "pipe" in f.read():
                        blocked_on.append(cmd[1])
                        assert_free(t.pid, "%s blocked on its output" % cmd)
                        assert counter.advancing()
                        break
                time.sleep(0.005)
        finally:
            os.close(r)
            p.wait(timeout=30)
    assert "--json" in blocked_on, "heap --json never blocked on the pipe"
