"""pyspect top, used as a person uses it: in a terminal (tmux: keys sent
with send-keys, the screen read with capture-pane) and through a pipe.

The target (targets/hotspot.py) says which function is hot, where it is,
and its threads' kernel ids; the tests check the header against the
target, that the hot function leads the table, that every key does what
the help says, and that q, SIGTERM, SIGINT and Ctrl-Z give the terminal
back (the same stty settings, the main screen)."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from conftest import PYSPECT, pyspect

ROW = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+([\d.]+)s\s+([\d.]+)s  (.*)$")

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed "
                                "(tools/install-deps installs it)")


def version_text(python):
    return ".".join(str(v) for v in python.version)


def rows(screen):
    """The table rows of a screen or snapshot: (own%, total%, own time,
    total time, rest), rest being [thread] function file:line."""
    out = []
    for line in screen.splitlines():
        m = ROW.match(line)
        if m:
            out.append((float(m.group(1)), float(m.group(2)),
                        float(m.group(3)), float(m.group(4)),
                        m.group(5).rstrip()))
    return out


def is_hot(rest, hot, lines=False):
    """Does a row's function and file:line name hot (lines: a line of its
    body)?"""
    words = rest.split()
    where = words[-1]
    base = os.path.basename(hot["file"])
    m = re.search(re.escape(base) + r":(\d+)$", where)
    if m is None or hot["function"] not in words[:-1]:
        return False
    line = int(m.group(1))
    if lines:
        return hot["line"] < line <= hot["last_line"]
    return line == hot["line"]


class Tmux:
    """A tmux server of our own (its own socket, no config) running one
    command in a window of a known size."""

    def __init__(self, tmp_path, cols=160, lines=40):
        self.sock = "pyspect-top-%s" % uuid.uuid4().hex[:12]
        self.env = dict(os.environ, LC_ALL="C.UTF-8")
        self.env.pop("TMUX", None)
        self.tmp = tmp_path
        self.cols, self.lines = cols, lines

    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null"] +
                              list(args), capture_output=True, text=True,
                              timeout=30, env=self.env, check=check,
                              errors="replace")

    def start(self, pyspect_args):
        """Run pyspect in the window, between two stty -g readings; then
        say how it exited and stay, so the screen can be read after."""
        before, after = self.tmp / "stty.before", self.tmp / "stty.after"
        self.before, self.after = before, after
        self.status = self.tmp / "status"
        cmd = ("stty -g > %s; %s %s; echo $? > %s.tmp; stty -g > %s; "
               "mv %s.tmp %s; echo PYSPECT-EXITED; sleep 600" %
               (before, PYSPECT, " ".join(str(a) for a in pyspect_args),
                self.status, after, self.status, self.status))
        self.tmux("new-session", "-d", "-s", "top", "-x", str(self.cols),
                  "-y", str(self.lines), cmd)
        return self

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "top", *keys)

    def screen(self):
        r = self.tmux("capture-pane", "-p", "-t", "top", check=False)
        if r.returncode != 0:
            # A shell left with a raw terminal reads an end of file.
            raise AssertionError("the window is gone (its command or "
                                 "shell exited): %s" % r.stderr.strip())
        return r.stdout

    def wait(self, pred, what, timeout=30):
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if pred(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s; the screen:\n%s" %
                             (what, screen))

    def exit_status(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status.exists():
                return int(self.status.read_text().strip())
            time.sleep(0.1)
        raise AssertionError("pyspect did not exit; the screen:\n%s" %
                             self.screen())

    def pyspect_pid(self, timeout=10):
        """The pid of the pyspect running in the window: the child of the
        window's shell (never another test's pyspect running beside)."""
        shell = int(self.tmux("display-message", "-p", "-t", "top",
                              "#{pane_pid}").stdout.strip())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open("/proc/%d/task/%d/children" % (shell, shell)) as f:
                for child in f.read().split():
                    try:
                        exe = os.readlink("/proc/%s/exe" % child)
                    except OSError:
                        continue
                    if os.path.basename(exe) == "pyspect":
                        return int(child)
            time.sleep(0.05)
        raise AssertionError("no pyspect under the window's shell %d" % shell)

    def close(self):
        self.tmux("kill-server", check=False)


def assert_restored(tm, screen):
    """The stty settings are those from before, and the main screen is
    back (the table was on the alternate screen)."""
    assert tm.before.read_text() == tm.after.read_text()
    assert "PYSPECT-EXITED" in screen
    assert "pyspect top - pid" not in screen
    assert "%Own" not in screen


@needs_tmux
def test_top_in_a_terminal(python, target, tmp_path):
    t = target(python, "hotspot.py")
    truth = t.truth
    hot = truth["hot"]
    tm = Tmux(tmp_path).start(["top", "--rate", "200", "--interval", "0.5",
                               t.pid])
    try:
        screen = tm.wait(lambda s: len(rows(s)) >= 2 and
                         "Samples:" in s and rows(s)[0][2] >= 0.3,
                         "a table with 0.3 s counted")
        lines = screen.splitlines()
        # The header, against the target's own account of itself.
        assert ("pyspect top - pid %d, Python %s, cpu mode at 200 Hz" %
                (truth["pid"], version_text(python))) in lines[0]
        assert re.search(r"Hz: \S*python", lines[0]), lines[0]
        assert re.search(r"Threads: 2 ", screen), screen
        assert re.search(r"CPU: [\d.]+%", screen), screen
        assert re.search(r"GIL: [\d.]+% of samples", screen), screen
        assert re.search(r"RSS: [\d.]+ MiB", screen), screen
        m = re.search(r"Samples: \d+ in the last ([\d.]+) s \(\d+ "
                      r"dropped\), \d+ in [\d.]+ s \(\d+ dropped\)", screen)
        assert m, screen
        # The interval as measured: 0.5 s asked, never less; longer when
        # the machine is loaded (two full parallel runs saw one sample in
        # 2.1-2.2 s: top's loop stalled at the start, cause not known yet;
        # a write to the pane blocked by a busy tmux is the suspect).
        assert float(m.group(1)) >= 0.5, screen
        assert ("%%Own, %%Total: the last %s s; OwnTime, TotalTime: totals "
                "since the start" % m.group(1)) in screen, screen
        assert "View: functions, all threads; sorted by OwnTime" in screen
        # The hot function leads, sorted by own time.
        top = rows(screen)[0]
        assert is_hot(top[4], hot), screen
        assert top[2] == max(r[2] for r in rows(screen))
        assert "*OwnTime" in screen

        # 1-4 and the arrows choose the sorted column.
        for key, name in (("1", "%Own"), ("2", "%Total"),
                          ("4", "TotalTime"), ("3", "OwnTime")):
            tm.keys(key)
            screen = tm.wait(lambda s: "sorted by %s " % name in s + " " and
                             "*" + name in s, "sorted by " + name)
        tm.keys("Right")
        screen = tm.wait(lambda s: "sorted by TotalTime" in s,
                         "Right: TotalTime")
        # By total, the outermost frames (every sample) lead.
        by_total = rows(screen)
        assert by_total[0][3] == max(r[3] for r in by_total)
        tm.keys("Left")
        tm.keys("Left")
        tm.wait(lambda s: "sorted by %Total" in s, "Left Left: %Total")
        tm.keys("3")
        tm.wait(lambda s: "sorted by OwnTime" in s, "3: OwnTime")

        # t: a row per thread, the thread's kernel id first.
        tm.keys("t")
        screen = tm.wait(lambda s: "per thread" in s and "Thread" in s,
                         "per thread")
        top = rows(screen)[0]
        assert top[4].split()[0] == str(truth["main_tid"]), screen
        assert "MainThread" in top[4] and is_hot(top[4], hot), screen
        tm.keys("t")
        tm.wait(lambda s: "all threads" in s, "all threads again")

        # l: lines; the top row is a line of hot's body.
        tm.keys("l")
        screen = tm.wait(lambda s: "View: lines" in s and
                         "File:line" in s, "lines")
        assert is_hot(rows(screen)[0][4], hot, lines=True), screen
        tm.keys("l")
        tm.wait(lambda s: "View: functions" in s, "functions again")

        # p: the screen stops changing (three refreshes), sampling goes on.
        tm.keys("p")
        paused = tm.wait(lambda s: "[PAUSED]" in s, "paused")
        time.sleep(1.6)
        assert tm.screen() == paused
        tm.keys("p")
        screen = tm.wait(lambda s: "[PAUSED]" not in s and
                         s != paused, "unpaused")

        # r: the totals start again.
        before = max(r[3] for r in rows(screen))
        tm.keys("r")
        # Right after r the table is empty; then it fills again.
        screen = tm.wait(lambda s: "since the reset" in s and rows(s),
                         "reset, then samples")
        assert max(r[3] for r in rows(screen)) < before

        # q: gone, and the terminal is as it was.
        tm.keys("q")
        assert tm.exit_status() == 0
        screen = tm.wait(lambda s: "PYSPECT-EXITED" in s, "the shell")
        assert_restored(tm, screen)
        assert t.proc.poll() is None  # the target carries on
    finally:
        tm.close()


@needs_tmux
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "C-c"])
def test_top_signals_restore_the_terminal(how, target, tmp_path):
    from conftest import PYTHONS
    python = PYTHONS.get("system") or next(iter(PYTHONS.values()), None)
    if python is None:
        pytest.skip("no Python installed")
    t = target(python, "hotspot.py")
    tm = Tmux(tmp_path).start(["top", "--interval", "0.5", t.pid])
    try:
        tm.wait(lambda s: len(rows(s)) >= 1, "a table")
        if how == "C-c":
            tm.keys("C-c")
        else:
            os.kill(tm.pyspect_pid(), getattr(signal, how))
        assert tm.exit_status() == 0
        screen = tm.wait(lambda s: "PYSPECT-EXITED" in s, "the shell")
        assert_restored(tm, screen)
        assert t.proc.poll() is None
    finally:
        tm.close()


def proc_status(pid):
    """/proc/PID/status as a dict of its fields."""
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def running(pid):
    """pid is a process that has not exited (a zombie has)."""
    try:
        return not proc_status(pid)["State"].startswith("Z")
    except (OSError, KeyError):
        return False


@needs_tmux
@pytest.mark.skipif(shutil.which("dash") is None,
                    reason="dash is not installed")
def test_top_ctrl_z_gives_the_terminal_back(target, tmp_path):
    """Ctrl-Z in a job-control shell: pyspect stops with the terminal as
    it was and the main screen back, the target runs on untraced; fg draws
    the whole screen again and keys work at once (raw again); q restores
    the terminal.  dash, because it leaves the terminal's modes as the job
    left them (bash would hide a terminal left raw)."""
    from conftest import PYTHONS
    python = PYTHONS.get("system") or next(iter(PYTHONS.values()), None)
    if python is None:
        pytest.skip("no Python installed")
    t = target(python, "hotspot.py")
    tm = Tmux(tmp_path)
    tm.tmux("new-session", "-d", "-s", "top", "-x", str(tm.cols), "-y",
            str(tm.lines), "env PS1='PROMPT$ ' dash -i")
    stty = [tmp_path / ("stty.%s" % n) for n in ("before", "during", "after")]

    def shell(line, what):
        tm.keys(line, "Enter")
        return tm.wait(lambda s: what in s, what)

    try:
        tm.wait(lambda s: "PROMPT$" in s, "the shell's prompt")
        shell("stty -g > %s; echo SAVED" % stty[0], "\nSAVED")
        tm.keys("%s top --interval 0.5 %d" % (PYSPECT, t.pid), "Enter")
        tm.wait(lambda s: len(rows(s)) >= 1, "a table")
        pid = tm.pyspect_pid()

        tm.keys("C-z")
        screen = tm.wait(lambda s: "Stopped" in s and
                         s.rstrip().endswith("PROMPT$"), "the job stopped")
        assert "pyspect top - pid" not in screen and "%Own" not in screen
        assert proc_status(pid)["State"].startswith("T")
        status = proc_status(t.pid)
        assert status["TracerPid"] == "0", status
        assert status["State"][0] in "RS", status
        # Cooked: the line is echoed and Enter runs it.
        shell("stty -g > %s; echo COOKED-$((6*7))" % stty[1], "COOKED-42")
        assert stty[1].read_text() == stty[0].read_text()

        tm.keys("fg", "Enter")
        screen = tm.wait(lambda s: "pyspect top - pid" in s and
                         len(rows(s)) >= 1, "the screen again")
        assert "COOKED" not in screen and "Stopped" not in screen, screen
        tm.keys("l")  # no Enter: raw again
        tm.wait(lambda s: "View: lines" in s, "l: lines")

        tm.keys("q")
        # Type the next line only once pyspect is gone: keys that reach
        # the terminal while it is still raw come to the shell without
        # echo and with a carriage return for Enter, which a cooked
        # terminal does not take for the end of a line.
        deadline = time.monotonic() + 30
        while running(pid):
            assert time.monotonic() < deadline, "pyspect top did not exit"
            time.sleep(0.05)
        shell("echo EXIT=$?; stty -g > %s; echo DONE" % stty[2], "\nDONE")
        screen = tm.screen()
        assert "EXIT=0" in screen, screen
        assert "%Own" not in screen, screen
        assert stty[2].read_text() == stty[0].read_text()
        assert t.proc.poll() is None
    finally:
        tm.close()


def test_top_through_a_pipe(python, target):
    t = target(python, "hotspot.py")
    hot = t.truth["hot"]
    r = pyspect("top", "--interval", "0.5", "--duration", "2.6",
                "--rate", "200", t.pid, timeout=60)
    assert r.rc == 0, r.err
    # Plain text: no escape sequences, one snapshot per interval.
    assert "\033" not in r.out
    shots = [s for s in r.out.split("pyspect top - pid ") if s.strip()]
    assert 4 <= len(shots) <= 6, r.out
    for shot in shots[1:]:
        assert shot.startswith("%d, Python %s" % (t.pid,
                                                  version_text(python)))
        table = rows(shot)
        assert table and is_hot(table[0][4], hot), shot
    # Totals grow from one snapshot to the next.
    firsts = [rows(s)[0][2] for s in shots if rows(s)]
    assert firsts[-1] > firsts[0]


def test_top_views_from_options(target):
    from conftest import PYTHONS
    python = PYTHONS.get("system") or next(iter(PYTHONS.values()), None)
    if python is None:
        pytest.skip("no Python installed")
    t = target(python, "hotspot.py")
    hot = t.truth["hot"]
    r = pyspect("top", "--interval", "0.5", "--duration", "1.2", "--lines",
                "--threads", "--mode", "wall", "--top", "3", t.pid)
    assert r.rc == 0, r.err
    shot = r.out.split("pyspect top - pid ")[-1]
    assert "wall mode" in shot and "View: lines, per thread" in shot
    table = rows(shot)
    assert 1 <= len(table) <= 3
    # In wall mode the napper's sleep is sampled too, on its own row.
    assert any(r[4].split()[0] == str(t.truth["main_tid"]) and
               is_hot(r[4], hot, lines=True) for r in table), shot


def watch_command(tmp_path, argv, options=(), want=None):
    """Run top -- argv in tmp_path (a copy of hotspot.py there) until a
    snapshot passes want(snapshot), then SIGTERM it; its output, its exit
    status, and the snapshot."""
    from conftest import TARGETS
    for name in ("hotspot.py", "_common.py"):
        shutil.copy(str(TARGETS / name), str(tmp_path / name))
    p = subprocess.Popen([PYSPECT, "top", "--interval", "0.5"] +
                         list(options) + ["--"] + argv,
                         cwd=str(tmp_path), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, shot, deadline = "", "", time.monotonic() + 90
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            out += line
            if line == "\n" and "pyspect top - pid " in out:
                shot = out.split("pyspect top - pid ")[-1]
                if want(shot):
                    break
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        return out, rc, shot, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=30)
        p.stdout.close()
        p.stderr.close()


def hot_leads(shot):
    return bool(rows(shot)) and "hot" in rows(shot)[0][4].split()


def system_python():
    from conftest import PYTHONS
    python = PYTHONS.get("system") or next(iter(PYTHONS.values()), None)
    if python is None:
        pytest.skip("no Python installed")
    return python


def test_top_starts_a_command(tmp_path):
    """top -- COMMAND: the command runs (its output goes through), its
    hot function leads, and pyspect stops it when it is stopped itself."""
    python = system_python()
    out, rc, shot, err = watch_command(
        tmp_path, [python.exe, "hotspot.py", "truth.json"],
        want=lambda s: hot_leads(s))
    assert rc == 0, err
    assert "READY" in out  # the command's own output goes through
    assert hot_leads(shot), out
    assert "hotspot.py:" in rows(shot)[0][4]
    # The command was stopped with pyspect, and reaped.
    child = int(shot.split(",")[0].split()[0])
    assert not os.path.exists("/proc/%d" % child)


def test_top_follows_subprocesses(tmp_path):
    """--subprocesses: a Python child of the command is sampled too."""
    python = system_python()
    parent = ("import os, subprocess, sys\n"
              "null = open(os.devnull, 'w')\n"
              "p = subprocess.Popen([sys.executable, 'hotspot.py', "
              "'truth.json'], stdout=null, stderr=null)\n"
              "try:\n    p.wait()\nfinally:\n    p.kill()\n")
    out, rc, shot, err = watch_command(
        tmp_path, [python.exe, "-c", parent], options=["--subprocesses"],
        want=lambda s: " and 1 child," in s and hot_leads(s))
    try:
        assert " and 1 child," in shot, out
        assert hot_leads(shot), out
    finally:
        # Stopping the command (SIGTERM) leaves its child an orphan.
        truth = tmp_path / "truth.json"
        if truth.exists():
            pid = json.loads(truth.read_text())["pid"]
            if os.path.exists("/proc/%d" % pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("args,message", [
    ([], "which process?"),
    (["--mode", "fast", "1"], "unknown mode 'fast'"),
    (["--interval", "0", "1"], "interval '0'"),
    (["--rate", "-3", "1"], "rate '-3'"),
])
def test_top_usage_errors(args, message):
    r = pyspect("top", *args)
    assert r.rc == 2
    assert message in r.err, r.err


def test_top_help():
    r = pyspect("top", "--help")
    assert r.rc == 0
    for word in ("--mode", "--rate", "--subprocesses", "--interval",
                 "keys:", "reset", "pause"):
        assert word in r.out
