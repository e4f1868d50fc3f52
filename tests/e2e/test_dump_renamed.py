"""Neither the executable's nor the library's file name matters: pyspect
finds the runtime by what the object defines and reads the version from
the target's memory."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import (SID_BIN, SID_VERSIONS, pyspect, sid_root,
                      wait_interpreter)

pytestmark = pytest.mark.sanitize


def dump_when_parked(pid, deadline=30):
    """Dump until the target has reached parked_here() (it starts up
    first), or the deadline."""
    end = time.monotonic() + deadline
    while True:
        r = pyspect("dump", "--json", pid)
        if r.rc == 0 and "parked_here" in r.out:
            return r
        if r.rc not in (0, 7) or time.monotonic() > end:
            return r
        time.sleep(0.02)


def run_parked(cmd, env=None):
    return subprocess.Popen(cmd + ["-c", "import time\n"
                                   "def parked_here():\n"
                                   "    time.sleep(60)\n"
                                   "parked_here()\n"],
                            env=env)


def renamed_copy(python, tmp_path):
    """A copy of the static interpreter named billing-service: the path
    pyspect must report and the command that runs it.  The sid root's
    interpreters need that root's C library, so their copy goes into the
    root (its /var/tmp) and runs there."""
    if python.label not in SID_VERSIONS:
        exe = tmp_path / "billing-service"
        shutil.copy(os.path.realpath(python.exe), str(exe))
        os.chmod(str(exe), 0o755)
        return str(exe), [str(exe)]
    root = sid_root()
    d = tempfile.mkdtemp(prefix="pyspect-renamed-",
                         dir=str(root / "var" / "tmp"))
    exe = os.path.join(d, "billing-service")
    shutil.copy(str(root / "usr" / "bin" / ("python" + python.label)), exe)
    inside = exe[len(str(root)):]
    return exe, [str(SID_BIN.parent / "sid-root"), "run", inside]


def test_renamed_static_interpreter(python, tmp_path):
    if not python.static:
        pytest.skip("the static build is the system one")
    exe, cmd = renamed_copy(python, tmp_path)
    p = run_parked(cmd)
    try:
        wait_interpreter(python, p.pid)
        r = dump_when_parked(p.pid)
        assert r.rc == 0, r.err
        doc = json.loads(r.out)
        assert doc["python"]["executable"] == str(exe)
        assert doc["python"]["library"] is None
        assert doc["python"]["version"] == "%d.%d.%d" % python.version
        frames = [f["function"] for t in doc["threads"] for f in t["frames"]]
        assert "parked_here" in frames
    finally:
        p.kill()
        p.wait()
        if exe.startswith(str(sid_root())):
            shutil.rmtree(os.path.dirname(exe))


def test_renamed_shared_library(python, tmp_path):
    if python.static:
        pytest.skip("no shared library in the static build")
    libdir = os.path.join(os.path.dirname(os.path.dirname(python.exe)),
                          "lib")
    libs = [f for f in os.listdir(libdir)
            if f.startswith("libpython") and ".so." in f]
    if not libs:
        pytest.skip("no libpython next to %s" % python.exe)
    lib = tmp_path / "libruntime.so"
    shutil.copy(os.path.join(libdir, sorted(libs)[0]), str(lib))
    # The loader takes a preloaded object for the NEEDED entry with its
    # SONAME, so the process maps libruntime.so and no libpython file.
    env = dict(os.environ, LD_PRELOAD=str(lib))
    p = run_parked([python.exe], env=env)
    try:
        r = dump_when_parked(p.pid)
        assert r.rc == 0, r.err
        doc = json.loads(r.out)
        with open("/proc/%d/maps" % p.pid) as f:
            maps = f.read()
        assert "libpython" not in maps
        assert doc["python"]["library"] == str(lib)
        assert doc["python"]["version"] == "%d.%d.%d" % python.version
        frames = [f["function"] for t in doc["threads"] for f in t["frames"]]
        assert "parked_here" in frames
    finally:
        p.kill()
        p.wait()


def test_stripped_shared_library(python, tmp_path):
    """A libpython without .symtab: 2.7 and 3.6 keep the interpreter list
    in a static (interp_head), found then by a validated search of the
    library's data.  Every thread, with its name."""
    if python.static or python.version[:2] not in ((2, 7), (3, 6)):
        pytest.skip("the interpreter list is exported (_PyRuntime)")
    libdir = os.path.join(os.path.dirname(os.path.dirname(python.exe)),
                          "lib")
    libs = sorted(f for f in os.listdir(libdir)
                  if f.startswith("libpython") and ".so." in f)
    lib = tmp_path / "libpython-stripped.so"
    subprocess.run(["strip", "-o", str(lib), os.path.join(libdir, libs[0])],
                   check=True)
    env = dict(os.environ, LD_PRELOAD=str(lib))
    p = subprocess.Popen([python.exe, "-c", "import threading, time\n"
                          "def parked_here():\n"
                          "    time.sleep(60)\n"
                          "t = threading.Thread(target=parked_here, "
                          "name='worker')\n"
                          "t.daemon = True\n"
                          "t.start()\n"
                          "parked_here()\n"], env=env)
    try:
        r = dump_when_parked(p.pid)
        assert r.rc == 0, r.err
        doc = json.loads(r.out)
        assert doc["python"]["library"] == str(lib)
        # Both threads sleep: no GIL holder leads to the interpreter.
        # The worker parks first; main may still be in t.start()'s wait
        # for it (a moment; longer on a loaded machine).
        deadline = time.monotonic() + 10
        while (len(doc["threads"]) < 2 or
               any(not t["frames"] or
                   t["frames"][0]["function"] != "parked_here"
                   for t in doc["threads"])) and \
                time.monotonic() < deadline:
            time.sleep(0.02)
            doc = json.loads(dump_when_parked(p.pid).out)
        names = sorted(t["name"] for t in doc["threads"])
        assert names == ["MainThread", "worker"]
        for t in doc["threads"]:
            assert t["frames"][0]["function"] == "parked_here"
            assert not t["gil"]
    finally:
        p.kill()
        p.wait()
