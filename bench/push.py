"""Benchmark: record --push as an agent that runs for weeks.

pyspect pushes to a receiver in this process (127.0.0.1, port 0, always
200) while sampling a 20-thread service (targets_service.py: 4 handlers
busy in bursts, 15 parked workers, a sleeping main thread) at 100 Hz:

1. its own CPU time (user + system, all its threads, the sender's
   included) as a share of one core once it is running (from the first
   reading, a few seconds in, to the last), in cpu, wall (all 20 stacks
   every round) and gil mode, beside the same recording written to a
   file: what pushing adds, and what sampling itself costs.  Aim (issue
   16): under 1%.
2. its memory over time (VmRSS every few seconds; --every 1 sends the
   profile and starts it afresh every second): flat, not growing.

The machine may be shared: the load average is printed beside the
figures, and CPU time (not wall time) is what is measured.

    /usr/bin/python3 bench/push.py [--pyspect build/pyspect] [--quick]
"""
import argparse
import http.server
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
SERVICE = str(HERE / "targets_service.py")


class Sink:
    """A Pyroscope stand-in that takes every profile."""

    def __init__(self):
        self.count = 0
        self.bytes = 0
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(n)
                sink.count += 1
                sink.bytes += n
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]


def cpu_s(pid):
    """utime + stime of a process, all its threads, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def load():
    return os.getloadavg()[0]


def run(pyspect, args, seconds):
    """(CPU share of one core in %, RSS readings in KiB) of `pyspect
    record ARGS` running for seconds."""
    p = subprocess.Popen([pyspect, "record", "-q", "-d", str(seconds)] +
                         [str(a) for a in args], stderr=subprocess.PIPE,
                         text=True)
    rss, samples = [], []
    try:
        while p.poll() is None:
            time.sleep(min(2.0, seconds / 10))
            try:
                r = rss_kib(p.pid)
                c = cpu_s(p.pid)
            except (OSError, IndexError):
                break
            if r > 0:  # not yet a zombie
                rss.append(r)
                samples.append((time.monotonic(), c))
        err = p.communicate()[1]
    finally:
        if p.poll() is None:
            p.kill()
    if p.returncode != 0:
        sys.exit("pyspect failed: %s" % err)
    # Steady state: from the first reading (attaching, reading the
    # interpreter's symbols, is done by then) to the last.
    (t0, c0), (t1, c1) = samples[0], samples[-1]
    return 100.0 * (c1 - c0) / (t1 - t0), rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", default=str(HERE.parent / "build" /
                                             "pyspect"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    seconds = 10 if args.quick else 40
    sink = Sink()
    svc = subprocess.Popen([args.python, SERVICE], stdout=subprocess.PIPE,
                           text=True)
    try:
        assert svc.stdout.readline().strip() == "READY"
        print("20-thread service (%s), 100 Hz, %d s per run; load average "
              "%.1f at the start" % (args.python, seconds, load()))
        print("pyspect's own CPU, % of one core (aim for --push: < 1%)")
        print("%-5s %6s %12s %12s %9s %11s %9s %5s" % (
            "mode", "every", "to a file", "--push", "profiles",
            "RSS KiB at", "at end", "load"))
        out = tempfile.mktemp(suffix=".txt")
        for mode, every in (("cpu", 10), ("wall", 10), ("gil", 10),
                            ("wall", 1)):
            base, _ = run(args.pyspect, ["--mode", mode, "-r", "100", "-o",
                                         out, svc.pid], seconds)
            before = sink.count
            share, rss = run(args.pyspect, [
                "--push", sink.url, "--app", "bench", "--every", every,
                "--mode", mode, "-r", "100", svc.pid], seconds)
            print("%-5s %5ds %11.2f%% %11.2f%% %9d %11d %9d %5.1f" % (
                mode, every, base, share, sink.count - before,
                rss[0] if rss else 0, rss[-1] if rss else 0, load()),
                flush=True)
        if os.path.exists(out):
            os.unlink(out)
    finally:
        svc.kill()
        svc.wait()
        sink.server.shutdown()


if __name__ == "__main__":
    main()
