"""Targets inside containers, read from the host.

A container is, from the host, a process whose files exist only under
/proc/PID/root: the paths in /proc/PID/maps and in its code objects name
files inside it (or, on the host, other files of the same name: the
host's glibc is 2.36, the root's 2.43).  Two kinds, both of the sid
root's interpreters (tools/sid-root), with the target scripts copied into
the root's own /var/tmp:

  chroot      chroot ROOT python3.X ...  (proc mounted inside the root in
              a private mount namespace, so nothing is left mounted)
  namespaces  unshare --mount --pid --fork --mount-proc, then pivot_root
              into the root and the host's tree unmounted, as container
              runtimes do: the mappings are named /usr/bin/python3.X and
              /usr/lib/x86_64-linux-gnu/libc.so.6, the process is pid 1
              and its threads have ids of their own

dump must match sys._current_frames() exactly and name threads by the
host's ids (and say the pid the target knows itself by), record must
take no impossible stack of the alternating-chains oracle, and heap must
match the census the target takes of itself.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import conftest
from conftest import SID_VERSIONS, dump_json, pyspect, sid_root
from test_dump import compare, dump_until_main_parked
from test_heap import census_problems, heap_json, wait_parked
from test_record import collapsed, impossible_stacks, record

KINDS = ("chroot", "namespaces")

# The namespaces kind: a mount and a pid namespace, the root bound onto
# itself and made the root, the host's tree let go.  The shell is the
# host's, loaded before the pivot; what it execs after is the root's.
PIVOT = ('root=$1; shift; '
         'mount --bind "$root" "$root" && '
         'mount -t proc proc "$root/proc" && cd "$root" && '
         'pivot_root . .oldroot && umount -l /.oldroot && cd / && '
         'exec "$@"')
# The chroot kind: proc inside the root, in a mount namespace of the
# target's own (no fork: the pid stays the interpreter's).
CHROOT = ('root=$1; shift; '
          'mount -t proc proc "$root/proc" && exec chroot "$root" "$@"')


class ContainerTarget(conftest.Target):
    """A target script run inside the sid root, as `kind`."""

    def __init__(self, python, kind, script, *args):
        self.root = str(sid_root())
        # Inside the root's own file system: no path the host has.
        self.host_dir = tempfile.mkdtemp(
            prefix="pyspect-ct-", dir=os.path.join(self.root, "var", "tmp"))
        super().__init__(python, script, *args, tmp=self.host_dir)
        self.kind = kind
        self.launcher = None

    def inside(self, path):
        """The name the target knows a host path under the root by."""
        return str(path)[len(self.root):]

    def start(self, timeout=60, ready=True):
        exe = "/usr/bin/python" + self.python.label
        argv = [exe, self.inside(self.script),
                self.inside(self.truth_path)] + self.args
        if self.kind == "chroot":
            cmd = ["unshare", "--mount", "--propagation", "private",
                   "sh", "-c", CHROOT, "sh", self.root] + argv
        else:
            cmd = ["unshare", "--mount", "--pid", "--fork", "--mount-proc",
                   "--kill-child", "sh", "-c", PIVOT, "sh",
                   self.root] + argv
        self.launcher = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env)
        self.proc = self.launcher
        self._pid = self.launcher.pid
        if self.kind == "namespaces":
            self._pid = self._child_of(self.launcher.pid, timeout)
        if ready:
            self.wait_line("READY", timeout)
            with open(str(self.truth_path), encoding="utf-8",
                      errors="surrogatepass") as f:
                self.truth = json.load(f)
        return self

    @staticmethod
    def _child_of(pid, timeout):
        """unshare --fork's child: pid 1 of the new namespace, which
        execs the interpreter."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    kids = f.read().split()
            except OSError:
                kids = []
            if kids:
                return int(kids[0])
            time.sleep(0.005)
        raise AssertionError("unshare %d started no child" % pid)

    @property
    def pid(self):
        return self._pid

    def stop(self):
        if self.launcher is not None and self._pid != self.launcher.pid:
            try:
                os.kill(self._pid, 9)
            except OSError:
                pass
        super().stop()
        shutil.rmtree(self.host_dir, ignore_errors=True)


@pytest.fixture
def container(python):
    """container(kind, script, args...) -> a started ContainerTarget."""
    if python.label not in SID_VERSIONS:
        pytest.skip("containers are tested with the sid root's "
                    "interpreters")
    started = []

    def start(kind, script, *args, ready=True):
        t = ContainerTarget(python, kind, script, *args)
        started.append(t)
        return t.start(ready=ready)

    try:
        yield start
    finally:
        for t in started:
            t.stop()


def host_tids(pid):
    """{the id a thread has in the target's namespace: the host's}."""
    ids = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid),
                  errors="replace") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    ids[int(line.split()[-1])] = int(tid)
    return ids


@pytest.mark.parametrize("kind", KINDS)
def test_dump_in_container(python, container, kind):
    t = container(kind, "scenario.py")
    doc, problems = dump_until_main_parked(t)
    assert problems == []
    assert len(doc["threads"]) >= 25
    # The files it ran are only inside the root.
    frames = [f for th in doc["threads"] for f in th["frames"]]
    assert any(f["file"] == t.inside(t.script) for f in frames)
    assert not os.path.exists(t.inside(t.script))
    # Thread ids are the host's (the truth has the target's own).
    ids = host_tids(t.pid)
    by_ident = {th["ident"]: th for th in doc["threads"]}
    for ident, tt in t.truth["threads"].items():
        if tt["tid"] is not None:
            assert by_ident[int(ident)]["tid"] == ids[tt["tid"]]
    assert sorted(th["tid"] for th in doc["threads"]) == sorted(ids.values())
    assert doc["pid"] == t.pid
    text = pyspect("dump", t.pid).out
    if kind == "namespaces":
        # pid 1 of its namespace, named by the names it sees.
        assert doc["ns_pid"] == 1 != t.pid
        assert "(pid 1 in its namespace)" in text.splitlines()[0]
        assert doc["python"]["executable"] == \
            "/usr/bin/python" + python.label
    else:
        assert doc["ns_pid"] is None
    # Source lines, read through the target's root.
    assert "HOLD.acquire()" in text
    # Its C library is the root's glibc 2.43 (the host's is another, of
    # the same name), whose symbols come from the root's libc6-dbg.
    r = pyspect("mem", "--json", t.pid, timeout=120)
    assert r.rc == 0, r.err
    malloc = json.loads(r.out)["malloc"]
    assert malloc["glibc"] == "2.43" and malloc["complete"], malloc
    assert malloc["located_by"] == "debug-file"


@pytest.mark.serial
@pytest.mark.parametrize("kind", KINDS)
def test_record_in_container(python, container, kind, tmp_path):
    t = container(kind, "alternate.py")
    out = tmp_path / "a.txt"
    r = record("-d", "2", "-r", "1000", "--threads", "-o", out, t.pid)
    assert r.rc == 0, r.err
    stacks = collapsed(out)
    total = sum(stacks.values())
    assert total > 500, r.err
    assert impossible_stacks(stacks) / total < 0.001, (stacks, r.err)
    # --threads names each thread by the host's id.
    ids = set(host_tids(t.pid).values())
    seen = set(int(s[0].split()[1]) for s in stacks)
    assert seen and seen <= ids, (seen, ids)


@pytest.mark.parametrize("kind", KINDS)
def test_heap_in_container(python, container, kind):
    t = container(kind, "heapcensus.py")
    wait_parked(t.pid)
    doc = heap_json(t.pid)
    assert census_problems(doc, t.truth) == []


def test_dump_json_pid_fields(python, scenario):
    """Outside a container the target's pid is the host's: no ns_pid."""
    doc = dump_json(scenario.pid)
    assert doc["pid"] == scenario.pid and doc["ns_pid"] is None
