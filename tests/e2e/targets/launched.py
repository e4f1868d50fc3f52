"""Started by pyspect record -- ...: busy for argv[2] seconds in
compute(), then optionally starts a Python child (argv[3] == "child"),
and exits with status 3."""
import subprocess
import sys
import time

wall = getattr(time, "monotonic", time.time)


def compute(seconds):
    end = wall() + seconds
    x = 0
    while wall() < end:
        x += 1
    return x


def run_child():
    subprocess.call([sys.executable, "-c",
                     "import time\n"
                     "wall = getattr(time, 'monotonic', time.time)\n"
                     "def child_work():\n"
                     "    end = wall() + 1.0\n"
                     "    while wall() < end:\n"
                     "        pass\n"
                     "child_work()\n"])


compute(float(sys.argv[2]))
if len(sys.argv) > 3 and sys.argv[3] == "child":
    run_child()
sys.exit(3)
