"""Run every benchmark in bench/ and print their figures.

    /usr/bin/python3 bench/run.py [--pyspect build/pyspect]
"""
import argparse
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
BENCHES = ["dump.py", "heap.py", "mem.py", "record.py", "push.py", "trace.py",
           "top.py"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", default=str(HERE.parent / "build" /
                                             "pyspect"))
    args = ap.parse_args()
    rc = 0
    for b in BENCHES:
        print("\n== bench/%s" % b, flush=True)
        rc |= subprocess.call([sys.executable, str(HERE / b), "--pyspect",
                               args.pyspect])
    return rc


if __name__ == "__main__":
    sys.exit(main())
