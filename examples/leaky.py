"""A small service that leaks, for the README's `pyspect alloc` example.

Each request renders a page from a template and parses a payload; a cache
meant to hold the last few sessions keeps every one, and a report built
once in a while holds a large temporary buffer.  Handles a fixed number
of requests and exits.
"""
import json
import sys

SESSIONS = {}


def parse(payload):
    return json.loads(payload)


def remember(user, doc):
    # Meant to keep the last 100 sessions: keeps them all.
    SESSIONS[user] = {"user": user, "doc": doc, "seen": [user] * 20}


def render(user):
    rows = ["<tr><td>%d</td><td>%s</td></tr>" % (i, user) for i in range(50)]
    return "<table>%s</table>" % "".join(rows)


def report():
    snapshot = bytearray(8 << 20)
    return len(snapshot)


def handle(i):
    user = "user-%d" % i
    doc = parse('{"user": "%s", "items": %s}' % (user, list(range(20))))
    remember(user, doc)
    page = render(user)
    if i % 5000 == 0:
        report()
    return len(page)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30000
    total = 0
    for i in range(n):
        total += handle(i)
    print("served %d requests, %d bytes" % (n, total))


if __name__ == "__main__":
    main()
