"""pyspect dump --native and --locals against what the target says of
itself: the Python frames within each mixed stack equal
sys._current_frames(), the innermost C function is the one each thread
parked in (time.sleep, libc's pause() through ctypes, a lock, zlib, a
stripped library), and each frame's variables read as repr() shows them.
"""
import gzip
import json
import os
import subprocess
import time

import pytest

from conftest import SID_VERSIONS, Target, dump_json, pyspect
from test_core import gcore, small_stacks

pytestmark = pytest.mark.sanitize

# Where time.sleep() blocks: select() before 3.11, clock_nanosleep() after.
SLEEP_FUNCTIONS = {"clock_nanosleep", "__clock_nanosleep", "select",
                   "__select", "__GI___select", "__clock_nanosleep_time64"}

STRIPPED_C = r"""
#include <unistd.h>

/* Static: no symbol once the library is stripped.  Not inlined and not
 * a tail call, so it keeps a frame of its own. */
__attribute__((noinline)) static int
hidden_wait(volatile int *x)
{
    *x += 1;
    pause();
    return *x;
}

int
strip_entry(void)
{
    volatile int x = 0;
    return hidden_wait(&x) + 1;
}
"""


@pytest.fixture(scope="session")
def stripped_lib(tmp_path_factory):
    """A shared library built without frame pointers and stripped, and
    where its static function lies (from the unstripped copy)."""
    d = tmp_path_factory.mktemp("stripped")
    src, full, lib = d / "strip.c", d / "libfull.so", d / "libstrip.so"
    src.write_text(STRIPPED_C)
    subprocess.run(["gcc", "-O2", "-fomit-frame-pointer", "-shared", "-fPIC",
                    "-o", str(full), str(src)], check=True, timeout=120)
    subprocess.run(["strip", "--strip-all", "-o", str(lib), str(full)],
                   check=True, timeout=60)
    out = subprocess.run(["nm", "-S", str(full)], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == "hidden_wait":
            start, size = int(parts[0], 16), int(parts[1], 16)
            return str(lib), start, start + size
    raise AssertionError("hidden_wait not in nm output:\n" + out)


_native_targets = {}


@pytest.fixture(scope="module")
def native_targets():
    """Targets of this module, stopped when it is done (they keep a
    thread busy in zlib and one spinning, at the lowest priority)."""
    try:
        yield _native_targets
    finally:
        for t in _native_targets.values():
            t.stop()
        _native_targets.clear()


@pytest.fixture
def native(python, native_targets, tmp_path_factory, stripped_lib):
    t = _native_targets.get(python.label)
    if t is None:
        t = Target(python, "native.py", stripped_lib[0],
                   tmp=tmp_path_factory.mktemp("native-" + python.label))
        _native_targets[python.label] = t
        t.start()
    return t


def frames_key(frames):
    return [(f["function"], f["file"], f["line"]) for f in frames]


def by_name(doc):
    return {t["name"]: t for t in doc["threads"]}


def truth_by_name(target):
    return {tt["name"]: (int(ident), tt)
            for ident, tt in target.truth["threads"].items()}


def python_frames(frames):
    return [f for f in frames if f["kind"] == "python"]


# glibc 2.42+ enters a cancellable system call through these (Debian
# sid's, under 3.14 and 3.15): the C function called sits below them.
SYSCALL_CANCEL = {"__syscall_cancel_arch", "__internal_syscall_cancel",
                  "__syscall_cancel"}


def leading_natives(frames):
    """The native frames above the innermost Python frame, without
    glibc's system-call cancellation wrappers on top."""
    out = []
    for f in frames:
        if f["kind"] == "python":
            break
        if not out and f["function"] in SYSCALL_CANCEL:
            continue
        out.append(f)
    return out


def dump_native(target, *extra):
    """A --native dump once the main thread has parked (it reports the
    truth and then takes one more step)."""
    main = truth_by_name(target)["MainThread"][1]
    deadline = time.monotonic() + 10
    while True:
        doc = dump_json(target.pid, "--native", *extra)
        got = by_name(doc)["MainThread"]["frames"]
        if (frames_key(python_frames(got)) == frames_key(main["frames"]) or
                time.monotonic() > deadline):
            return doc
        time.sleep(0.05)


def check_mixed_stacks(target, doc):
    """Every thread's Python frames, within its mixed stack, are the ones
    the target reported, in order."""
    threads = by_name(doc)
    busy = set(target.truth["busy"])
    for name, (ident, tt) in truth_by_name(target).items():
        t = threads[name]
        assert t["ident"] == ident
        frames = t["frames"]
        got = python_frames(frames)
        if name in busy:
            # Running: the lines move, the functions do not.
            assert [f["function"] for f in got] == \
                [f["function"] for f in tt["frames"]], name
        else:
            assert frames_key(got) == frames_key(tt["frames"]), name
        # Every parked thread is in C code: the innermost frame is
        # native; and every thread starts in C (thread start, or main()).
        if name != "spin":
            assert frames[0]["kind"] == "native", name
        assert frames[-1]["kind"] == "native", name
        for f in frames:
            if f["kind"] == "native":
                assert set(f) >= {"function", "library", "address",
                                  "offset"}
                assert f["address"] > 0


def check_parked_in_c(threads):
    """The C function each parked thread is blocked in."""
    sleep = leading_natives(threads["sleep"]["frames"])
    assert sleep[0]["function"] in SLEEP_FUNCTIONS, sleep[:3]
    assert "libc" in os.path.basename(sleep[0]["library"])
    pause = leading_natives(threads["pause"]["frames"])
    assert pause[0]["function"] == "pause", pause[:3]
    # ctypes called it: libffi between the C function and Python.
    assert "ffi_call" in [f["function"] for f in pause]
    lock = leading_natives(threads["lock"]["frames"])
    assert "libc" in os.path.basename(lock[0]["library"])
    # The semaphore wait of the lock (<=3.13), or of the parked thread
    # (3.14+: a lock is a PyMutex, and its waiters park).
    assert {"PyThread_acquire_lock_timed", "PyThread_acquire_lock",
            "_PySemaphore_Wait"} & \
        set(f["function"] for f in lock), lock


def check_stripped(frames, stripped_lib):
    """The stripped library's static function: no name, its library and
    an offset inside it; and the frames on either side of it."""
    path, start, end = stripped_lib
    natives = leading_natives(frames)
    assert natives[0]["function"] == "pause", natives[:4]
    hidden = natives[1]
    assert hidden["function"] is None, hidden
    assert os.path.basename(hidden["library"]) == "libstrip.so"
    # A return address: the call lies just before it, inside the static
    # function.
    assert start <= hidden["offset"] - 1 < end, (hidden, start, end)
    assert natives[2]["function"] == "strip_entry"
    assert "ffi_call" in [f["function"] for f in natives[3:]]
    assert python_frames(frames)[0]["function"] == "park_stripped"
    return hidden


def check_locals(target, doc):
    frames = by_name(doc)["sleep"]["frames"]
    for want in target.truth["locals"].values():
        got = [f for f in frames if f["function"] == want["function"]]
        assert len(got) == 1, want["function"]
        have = {v["name"]: v for v in got[0]["locals"]}
        assert sorted(have) == sorted(want["locals"]), want["function"]
        for name, w in want["locals"].items():
            assert have[name]["type"] == w["type"], name
            assert have[name]["repr"] == w["repr"], name
        args = [v["name"] for v in got[0]["locals"] if v["argument"]]
        assert args == [a for a in want["arguments"] if a in have]
        # Arguments come first.
        flags = [v["argument"] for v in got[0]["locals"]]
        assert flags == sorted(flags, reverse=True)


def test_python_frames_in_order_within_mixed_stacks(python, native):
    doc = dump_native(native)
    assert isinstance(doc["paused_ms"], float) and doc["paused_ms"] > 0
    check_mixed_stacks(native, doc)


def test_innermost_native_functions(python, native):
    check_parked_in_c(by_name(dump_native(native)))
    # zlib at work: in libz, or in a libc routine it called.  Between
    # two compressions it frees memory and takes the GIL back: look
    # again until it is caught compressing.
    for attempt in range(40):
        frames = by_name(dump_json(native.pid, "--native"))["zlib"]["frames"]
        zlib = leading_natives(frames)
        if "deflate" in [f["function"] for f in zlib]:
            break
    assert any("libz" in os.path.basename(f["library"] or "")
               for f in zlib[:2]), zlib[:3]
    assert "deflate" in [f["function"] for f in zlib]
    assert python_frames(frames)[0]["function"] == "compress_forever"


def test_stripped_library_without_frame_pointers(python, native,
                                                 stripped_lib):
    frames = by_name(dump_native(native))["stripped"]["frames"]
    hidden = check_stripped(frames, stripped_lib)
    # Text shows the library and the offset of a frame without a name.
    r = pyspect("dump", "--native", "--no-source", native.pid)
    assert r.rc == 0, r.err
    assert "libstrip.so +%#x" % hidden["offset"] in r.out
    assert "Paused for" in r.out


def test_locals_match_what_the_target_says(python, native):
    check_locals(native, dump_json(native.pid, "--locals"))


def test_locals_text(python, native):
    r = pyspect("dump", "--locals", "--no-source", native.pid)
    assert r.rc == 0, r.err
    block = r.out.split('"sleep"')[1].split("\nThread")[0]
    assert "        Arguments:\n            count: 3\n" in block
    assert "            ratio: 0.25\n" in block
    # 2.7: 2 ** 100 is a long, whose repr ends in L.
    assert "            big: 1267650600228229401496703205376%s\n" % (
        "L" if python.version < (3,) else "") in block


def test_native_and_locals_together_leave_target_running(python, native):
    doc = dump_json(native.pid, "--native", "--locals")
    sleep = by_name(doc)["sleep"]["frames"]
    assert any("locals" in f for f in python_frames(sleep))
    assert not any("locals" in f for f in sleep if f["kind"] == "native")
    for tid in os.listdir("/proc/%d/task" % native.pid):
        with open("/proc/%d/task/%s/status" % (native.pid, tid)) as f:
            assert "TracerPid:\t0\n" in f.read()


def test_record_native_every_format(python, native, tmp_path):
    """record --native: each sample's stack holds its C frames around its
    Python frames, in every output format."""
    outs = {"collapsed": tmp_path / "p.collapsed",
            "svg": tmp_path / "p.svg",
            "speedscope": tmp_path / "p.speedscope.json",
            "table": tmp_path / "p.table",
            "pprof": tmp_path / "p.pb.gz",
            "trace": tmp_path / "p.trace.json"}
    args = ["record", "--native", "--mode", "wall", "-r", "50", "-d", "1.5",
            "--top", "500", "-q"]
    for path in outs.values():
        args += ["-o", path]
    r = pyspect(*(args + [native.pid]), timeout=120)
    assert r.rc == 0, r.err
    stacks = [line.rsplit(" ", 1)[0].split(";")
              for line in outs["collapsed"].read_text().splitlines()]
    # The thread parked in pause() through ctypes.
    pauses = [s for s in stacks
              if any(f.startswith("park_pause ") for f in s)]
    assert pauses, stacks[:3]
    names = [f.split(" (")[0] for f in pauses[0]]
    while names[-1] in SYSCALL_CANCEL:
        names.pop()
    # Root first: the Python frames in order, then ctypes' C frames, then
    # libc's pause() at the leaf.
    assert names[-1] == "pause", names
    assert names.index("park_pause") < names.index("ffi_call"), names
    py = [n for n in names if n in ("park_pause", "run", "Thread.run")]
    assert py[-1] == "park_pause", names
    # The stripped library: its static function by library and offset.
    assert any(any(f.startswith("libstrip.so+0x") for f in s)
               for s in stacks), [s[-3:] for s in stacks][:5]
    for fmt, path in outs.items():
        data = path.read_bytes()
        if fmt == "pprof":
            data = gzip.decompress(data)
        assert b"pause" in data and b"park_pause" in data, fmt


def test_on_a_core(python, target, tmp_path, stripped_lib):
    """The same of a core of the target (gdb's gcore): every thread's
    registers come from the core, its stacks from the core's memory, its
    code from the files the core names."""
    if python.label in SID_VERSIONS:
        # gcore of the sid root's 3.14/3.15 writes zeros where the
        # threads' C stacks hold their eval loops' entry frames (the
        # core file itself, read raw): no stack walk of such a core gets
        # past them (test_core.py's dump of one fails the same way).
        pytest.skip("gcore writes the sid root's thread stacks as zeros")
    with small_stacks():
        t = target(python, "native.py", stripped_lib[0],
                   env={"MALLOC_ARENA_MAX": "1"})
    dump_native(t)  # the main thread has parked
    core = gcore(t.pid, tmp_path)
    t.stop()
    args = ["dump"] + core.args + ["--native", "--locals"]
    r = pyspect(*(args + ["--json"]), timeout=300)
    assert r.rc == 0, r.err
    doc = json.loads(r.out)
    assert doc["paused_ms"] is None
    check_mixed_stacks(t, doc)
    threads = by_name(doc)
    check_parked_in_c(threads)
    check_stripped(threads["stripped"]["frames"], stripped_lib)
    if python.version >= (3,):
        check_locals(t, doc)
    os.unlink(core.path)


def test_threads_whose_registers_cannot_be_had(python, native):
    """A target stopped by job control is read as it is, never seized
    (pause.h): its threads' registers are then only what /proc gives of a
    blocked thread, pc and sp.  The walks go as far as those allow and
    every Python frame is still there, in order."""
    import signal
    dump_native(native)  # the main thread has parked
    os.kill(native.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            states = set()
            for tid in os.listdir("/proc/%d/task" % native.pid):
                with open("/proc/%d/task/%s/stat" % (native.pid, tid)) as f:
                    states.add(f.read().rsplit(")", 1)[1].split()[0])
            if states == {"T"}:
                break
            time.sleep(0.01)
        doc = dump_json(native.pid, "--native")
        threads = by_name(doc)
        for name, (ident, tt) in truth_by_name(native).items():
            if name in native.truth["busy"]:
                continue
            got = python_frames(threads[name]["frames"])
            assert frames_key(got) == frames_key(tt["frames"]), name
        pause = leading_natives(threads["pause"]["frames"])
        assert pause and pause[0]["function"] == "pause", pause[:3]
    finally:
        os.kill(native.pid, signal.SIGCONT)
