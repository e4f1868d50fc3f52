"""Started by pyspect record -- ...: busy for argv[2] seconds in
compute(), then optionally starts a Python child (argv[3] == "child"),
and exits with status 3."""
import subprocess
import sys
import time


def compute(seconds):
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1
    return x


def run_child():
    subprocess.run([sys.executable, "-c",
                    "import time\n"
                    "def child_work():\n"
                    "    end = time.monotonic() + 1.0\n"
                    "    while time.monotonic() < end:\n"
                    "        pass\n"
                    "child_work()\n"])


compute(float(sys.argv[2]))
if len(sys.argv) > 3 and sys.argv[3] == "child":
    run_child()
sys.exit(3)
