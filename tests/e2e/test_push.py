"""pyspect record --push: continuous profiling into Grafana Pyroscope.

Each test starts its own ingest server on 127.0.0.1 (port 0, or a port
it knows to be free when the server must be down at first), which
records every request and answers as the test says: at once, slowly,
with errors, or over HTTPS with a certificate the test makes.  Every
request is checked (path, query, headers) and every body decoded with
the real `go tool pprof`.  Pushing does not depend on the Python
version, so these tests use one interpreter.
"""
import collections
import http.server
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

import pytest

import conftest
import gopprof
from conftest import PYSPECT, Target, pyspect

pytestmark = pytest.mark.skipif(
    gopprof.GO is None, reason="needs go (Debian golang-go, installed by "
    "tools/install-deps)")

Request = collections.namedtuple("Request", "path query headers body t")


class Receiver:
    """A Pyroscope ingest endpoint run by the test.  answer(i, request)
    gives (status, body, delay_s) for the i-th request (from 0)."""

    def __init__(self, answer=None, port=0, tls=None):
        self.requests = []
        self.answer = answer or (lambda i, req: (200, b"", 0))
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                u = urllib.parse.urlsplit(self.path)
                req = Request(u.path, urllib.parse.parse_qs(u.query),
                              dict(self.headers), body, time.time())
                with lock:
                    i = len(receiver.requests)
                    receiver.requests.append(req)
                status, text, delay = receiver.answer(i, req)
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                                      Handler)
        self.server.daemon_threads = True
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, scheme="http"):
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    started = []
    yield started
    for r in started:
        r.stop()


def serve(receivers, **kw):
    r = Receiver(**kw)
    receivers.append(r)
    return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def py():
    p = conftest.PYTHONS.get("system") or next(
        iter(conftest.PYTHONS.values()), None)
    if p is None:
        pytest.skip("no Python found")
    return p


@pytest.fixture
def busy(py, target):
    return target(py, "busy.py")


def push(*args, timeout=60):
    return pyspect("record", *args, timeout=timeout)


class Pushing:
    """pyspect record --push ... running in the background, known to be
    sampling: its first line ("pushing a profile ...") was read."""

    def __init__(self, *args):
        self.p = subprocess.Popen([PYSPECT, "record"] + [str(a) for a in args],
                                  stderr=subprocess.PIPE)
        self.head = b""
        fd = self.p.stderr.fileno()
        deadline = time.monotonic() + 60
        while b"pushing a profile" not in self.head:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                self.head += chunk
            assert time.monotonic() < deadline, self.head
        assert b"pushing a profile" in self.head, self.head

    def wait(self, timeout=60, sig=None):
        """Send sig (if any), wait; (exit status, stderr)."""
        try:
            if sig is not None:
                self.p.send_signal(sig)
            _, rest = self.p.communicate(timeout=timeout)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        return self.p.returncode, (self.head + rest).decode("utf-8", "replace")


def check_request(req, tmp_path, name, rate=100, every=1.0):
    """The request is what Pyroscope's ingest API takes; returns the body
    as go tool pprof -raw reads it."""
    q = req.query
    assert req.path == "/ingest"
    assert q["name"] == [name]
    assert q["format"] == ["pprof"] and q["spyName"] == ["pyspect"]
    assert q["sampleRate"] == [str(rate)]
    start, until = int(q["from"][0]), int(q["until"][0])
    assert start < until <= start + every + 1, q
    assert req.headers["Content-Type"] == "application/octet-stream"
    assert req.headers["User-Agent"].startswith("pyspect/")
    assert req.body[:2] == b"\x1f\x8b", "not gzip"
    path = tmp_path / ("req-%f.pb.gz" % req.t)
    path.write_bytes(req.body)
    raw = gopprof.raw(path)
    assert raw.sample_types == ["samples/count", "cpu/nanoseconds"]
    assert raw.period == 10 ** 9 // rate
    # A cut comes at the first round after the interval's end; attaching
    # a new process can hold a round up a while.
    assert gopprof.duration(path) <= every * 2
    return raw


def pushed_samples(raw):
    return sum(s.values[0] for s in raw.samples)


@pytest.mark.sanitize
def test_every_interval_goes_to_the_ingest_api(busy, receivers, tmp_path):
    rx = serve(receivers)
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    r = push("--push", rx.url() + "/", "--app", "shop.api", "--label",
             "env=ci", "--label", "region=eu-1", "--every", "1", "-d", "3.5",
             "-r", "200", "--auth-token-file", token, "--tenant", "team-a",
             busy.pid)
    assert r.rc == 0, r.err
    reqs = rx.requests
    assert 3 <= len(reqs) <= 5, (len(reqs), r.err)
    sent = int(re.search(r"(\d+) profiles sent", r.err).group(1))
    assert sent == len(reqs)
    starts = []
    for req in reqs:
        raw = check_request(req, tmp_path, "shop.api{env=ci,region=eu-1}",
                            rate=200)
        assert req.headers["Authorization"] == "Bearer s3cret-token"
        assert req.headers["X-Scope-OrgID"] == "team-a"
        assert any("pid %d" % busy.pid in c for c in raw.comments)
        starts.append(int(req.query["from"][0]))
    # One interval after the other, and the hot function in them.
    assert starts == sorted(starts)
    names = set()
    for req in reqs[:-1]:
        path = tmp_path / ("req-%f.pb.gz" % req.t)
        raw = gopprof.raw(path)
        names |= {f[0] for s in raw.samples for f in s.stack}
        assert pushed_samples(raw) > 50
    assert {"hot", "outer"} <= names
    # The token never shows in pyspect's own lines.
    assert "s3cret" not in r.err


def test_sigterm_sends_the_last_interval(busy, receivers, tmp_path):
    rx = serve(receivers)
    p = Pushing("--push", rx.url(), "--app", "svc", "--every", "60",
                busy.pid)
    time.sleep(1.5)
    t0 = time.monotonic()
    rc, err = p.wait(30, signal.SIGTERM)
    assert rc == 0, err
    assert time.monotonic() - t0 < 5, "slow to stop"
    assert len(rx.requests) == 1, err
    raw = check_request(rx.requests[0], tmp_path, "svc", every=60)
    path = tmp_path / ("req-%f.pb.gz" % rx.requests[0].t)
    assert 1.0 <= gopprof.duration(path) < 10
    assert pushed_samples(raw) > 20
    assert "1 profiles sent" in err


def test_signals_go_to_the_sampling_thread(busy, receivers, tmp_path):
    # A signal sent to pyspect must be taken by the thread that samples
    # (and pauses, with --blocking: only it can let the target go), never
    # by the sender thread: that one blocks every signal but the faults.
    rx = serve(receivers)
    p = Pushing("--push", rx.url(), "--app", "svc", "--every", "60",
                "--blocking", "-r", "50", busy.pid)
    def masks():
        tids = [int(t) for t in os.listdir("/proc/%d/task" % p.p.pid)]
        out = {}
        for tid in tids:
            with open("/proc/%d/task/%d/status" % (p.p.pid, tid)) as f:
                out[tid] = int(re.search(r"SigBlk:\s*([0-9a-f]+)",
                                         f.read()).group(1), 16)
        return out

    segv = 1 << (signal.SIGSEGV - 1)
    # A new thread starts with every signal blocked (glibc) and takes the
    # mask it was given once it first runs: wait for that.
    deadline = time.monotonic() + 10
    while True:
        blocked = masks()
        if len(blocked) > 1 and not any(m & segv for m in blocked.values()):
            break
        assert time.monotonic() < deadline, blocked
        time.sleep(0.05)
    for tid, mask in blocked.items():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGTSTP,
                    signal.SIGHUP):
            assert bool(mask & (1 << (sig - 1))) == (tid != p.p.pid), \
                (tid, sig, hex(mask))
    rc, err = p.wait(30, signal.SIGINT)
    assert rc == 0, err
    with open("/proc/%d/status" % busy.pid) as f:
        status = f.read()
    assert "TracerPid:\t0\n" in status
    assert status.split("State:\t")[1][0] not in "tT"


def test_server_down_then_back(busy, receivers, tmp_path):
    port = free_port()
    p = Pushing("--push", "http://127.0.0.1:%d" % port, "--app", "svc",
                "--every", "1", "-d", "6", busy.pid)
    time.sleep(2.5)
    rx = serve(receivers, port=port)
    rc, err = p.wait()
    assert rc == 0, err
    lines = [l for l in err.splitlines() if l.startswith("pyspect: push:")]
    # One line when it failed, one when it recovered, the total at the
    # end: no line per attempt.
    assert sum("retrying" in l for l in lines) == 1, err
    assert sum("sending again" in l for l in lines) == 1, err
    assert len(lines) <= 4, err
    # Nothing was lost: the queue held the profiles of the outage.
    starts = [int(r.query["from"][0]) for r in rx.requests]
    assert len(starts) >= 6 and starts == sorted(starts), (starts, err)
    assert "0 dropped" in lines[-1], err
    for req in rx.requests:
        check_request(req, tmp_path, "svc")


@pytest.mark.sanitize
def test_a_full_queue_drops_the_oldest(busy, receivers, tmp_path):
    port = free_port()
    p = Pushing("--push", "http://127.0.0.1:%d" % port, "--app", "svc",
                "--every", "1", "--queue", "1", "-d", "6.5", busy.pid)
    time.sleep(3.6)
    rx = serve(receivers, port=port)
    rc, err = p.wait()
    assert rc == 0, err
    m = re.search(r"(\d+) profiles sent \(\d+ bytes\), (\d+) dropped", err)
    sent, dropped = int(m.group(1)), int(m.group(2))
    assert sent == len(rx.requests) and dropped >= 1, err
    assert re.search(r"[1-9]\d* dropped \(queue full\)", err), err
    # What survived: the one in flight through the outage, then the
    # newest; an older one is what went.
    starts = [int(r.query["from"][0]) for r in rx.requests]
    assert starts == sorted(starts)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert max(gaps) >= 2, (starts, err)
    assert sent + dropped >= 7, err


@pytest.mark.sanitize
def test_errors_are_retried_and_4xx_said_once(busy, receivers, tmp_path):
    # 500s: retried until accepted; nothing lost.
    rx = serve(receivers, answer=lambda i, req: (
        (500, b"ingester unavailable\n", 0) if i < 2 else (200, b"", 0)))
    r = push("--push", rx.url(), "--app", "svc", "--every", "1", "-d", "3.5",
             busy.pid)
    assert r.rc == 0, r.err
    assert sum("retrying" in l for l in r.err.splitlines()) == 1, r.err
    assert "HTTP 500: ingester unavailable" in r.err
    ok = [q for q in rx.requests[2:]]
    assert len(ok) >= 4, r.err
    assert [int(q.query["from"][0]) for q in ok] == sorted(
        int(q.query["from"][0]) for q in ok)
    assert "0 dropped" in r.err

    # 401: the request is wrong; one clear line, no retries.
    rx = serve(receivers, answer=lambda i, req: (401, b"invalid token\n", 0))
    r = push("--push", rx.url(), "--app", "svc", "--every", "1", "-d", "3.5",
             busy.pid)
    assert r.rc == 0, r.err
    refused = [l for l in r.err.splitlines() if "refused a profile" in l]
    assert len(refused) == 1, r.err
    assert "HTTP 401: invalid token" in refused[0]
    n = len(rx.requests)
    assert 3 <= n <= 5, r.err
    assert "%d refused" % n in r.err.splitlines()[-2], r.err


def test_a_slow_server_does_not_slow_the_sampler(busy, receivers, tmp_path):
    rx = serve(receivers, answer=lambda i, req: (200, b"", 2.5))
    r = push("--push", rx.url(), "--app", "svc", "--every", "1", "-d", "4",
             busy.pid, timeout=90)
    assert r.rc == 0, r.err
    assert len(rx.requests) >= 4, r.err
    for req in rx.requests[:-1]:
        raw = check_request(req, tmp_path, "svc")
        m = re.search(r"in (\d+) rounds over ([\d.]+) s",
                      " ".join(raw.comments))
        rounds, secs = int(m.group(1)), float(m.group(2))
        # 100 Hz asked; on a loaded 2-core machine some rounds run late,
        # but a sampler waiting for a 2.5 s answer would take 1 round.
        assert rounds > 40 * secs, raw.comments


def test_https_with_a_self_signed_certificate(busy, receivers, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    rx = serve(receivers, tls=(str(cert), str(key)))
    r = push("--push", rx.url("https"), "--app", "svc", "--every", "1",
             "-d", "2.5", "--cacert", cert, busy.pid)
    assert r.rc == 0, r.err
    assert len(rx.requests) >= 2, r.err
    for req in rx.requests:
        check_request(req, tmp_path, "svc")
    # Without the certificate: refused by pyspect, said once.
    r = push("--push", rx.url("https"), "--app", "svc", "--every", "1",
             "-d", "1.5", busy.pid)
    assert r.rc == 0, r.err
    assert re.search(r"(?i)certificate", r.err), r.err
    assert "0 profiles sent" in r.err


def test_bad_push_options(busy, tmp_path):
    for args in (["--push", "ftp://x", "--app", "a"],
                 ["--push", "not a url", "--app", "a"],
                 ["--push", "http://x/?q=1", "--app", "a"],
                 ["--push", "http://x"],
                 ["--push", "http://x", "--app", "bad name"],
                 ["--push", "http://x", "--app", "a", "--label", "k"],
                 ["--push", "http://x", "--app", "a", "--label", "k=a,b"],
                 ["--push", "http://x", "--app", "a", "--label",
                  "__name__=x"],
                 ["--push", "http://x", "--app", "a", "--every", "0.1"],
                 ["--push", "http://x", "--app", "a", "-o", tmp_path / "x"],
                 ["--push", "http://x", "--app", "a", "-f", "svg"],
                 ["--push", "http://x", "--app", "a", "--queue", "0"],
                 ["--app", "a"], ["--label", "k=v"], ["--every", "5"]):
        r = push(*(args + [busy.pid]))
        assert r.rc == 2, (args, r)
        assert len(r.err.splitlines()) == 1, (args, r.err)
    r = push("--push", "http://x", "--app", "a", "--auth-token-file",
             tmp_path / "missing", busy.pid)
    assert r.rc != 0 and "missing" in r.err and len(r.err.splitlines()) == 1


def test_a_restarted_target_is_picked_up(py, receivers, tmp_path):
    rx = serve(receivers)
    t = Target(py, "busy.py", tmp=tmp_path)
    t.start()
    try:
        first = t.pid
        p = Pushing("--push", rx.url(), "--app", "svc", "--every", "1",
                    "-d", "6", first)
        time.sleep(1.5)
        t.stop()
        t.start()  # the same command line, as a supervisor restarts it
        second = t.pid
        rc, err = p.wait()
    finally:
        t.stop()
    assert rc == 0, err
    assert "pid %d exited; waiting for a process running" % first in err
    assert "now sampling pid %d" % second in err, err
    pids = set()
    for req in rx.requests:
        raw = check_request(req, tmp_path, "svc")
        pids |= {s.labels["pid"] for s in raw.samples}
    assert pids == {str(first), str(second)}, (pids, err)


def test_subprocesses_are_labelled_by_pid(py, receivers, tmp_path):
    rx = serve(receivers)
    r = push("--push", rx.url(), "--app", "svc", "--label", "env=ci",
             "--every", "1", "--subprocesses", "--", py.exe,
             conftest.TARGETS / "launched.py", tmp_path / "x", "0.5", "child")
    assert r.rc == 3, r.err
    by_pid = collections.defaultdict(set)
    for req in rx.requests:
        name = req.query["name"][0]
        m = re.match(r"^svc\{env=ci,pid=(\d+)\}$", name)
        assert m, name
        raw = check_request(req, tmp_path, name)
        assert {s.labels["pid"] for s in raw.samples} == {m.group(1)}
        by_pid[m.group(1)] |= {f[0] for s in raw.samples for f in s.stack}
    assert len(by_pid) == 2, by_pid
    assert sum("child_work" in f for f in by_pid.values()) == 1
    assert sum("compute" in f for f in by_pid.values()) == 1
