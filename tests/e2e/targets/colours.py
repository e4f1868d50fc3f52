"""Code from every kind of place, for the flame graph's colours, until
argv[1] seconds have passed: this file (the user's), a function compiled
as if it were a script installed with Python (sys.prefix/bin/fake-tool,
as /usr/bin/sphinx-build is), one compiled from no file ("<template>", as
template engines do), and the standard library (json)."""
import json
import os
import sys
import time

SRC = "def %s():\n    x = 0\n    for i in range(20000):\n        x += i\n    return x\n"
ns = {}
exec(compile(SRC % "tool_work", os.path.join(sys.prefix, "bin", "fake-tool"),
             "exec"), ns)
exec(compile(SRC % "template_work", "<template>", "exec"), ns)


def user_work():
    x = 0
    for i in range(20000):
        x += i
    return x


def main():
    data = [{"k": i, "v": [i] * 20} for i in range(500)]
    end = time.time() + float(sys.argv[1])
    while time.time() < end:
        user_work()
        ns["tool_work"]()
        ns["template_work"]()
        json.dumps(data)


main()
