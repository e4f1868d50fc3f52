"""Run every benchmark in bench/ (the *_bench.py scripts) against one
pyspect binary: `make bench`."""
import argparse
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspect", required=True)
    args = ap.parse_args()
    status = 0
    for script in sorted(glob.glob(os.path.join(HERE, "*_bench.py"))):
        print("==== %s" % os.path.basename(script))
        sys.stdout.flush()
        r = subprocess.run([sys.executable, script, "--pyspect",
                            os.path.abspath(args.pyspect)])
        status = status or r.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
