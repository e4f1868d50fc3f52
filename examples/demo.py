"""A small stand-in for a Python service, for `make demo`.

Worker threads take jobs from a queue and do CPU work (JSON encoding,
sorting, a little number crunching); one thread waits on a socket-like
Event; the main thread hands out work.  Runs until killed.  Prints
"ready" once every thread is running.
"""
import hashlib
import json
import queue
import random
import sys
import threading
import time

jobs = queue.Queue()
shutdown = threading.Event()


def checksum(payload):
    return hashlib.sha256(payload.encode()).hexdigest()


def render(order):
    doc = {"id": order, "items": sorted(random.sample(range(10000), 200))}
    return json.dumps(doc, sort_keys=True)


def parse(payload):
    return json.loads(payload)["items"]


def handle(order):
    total = 0
    for _ in range(20):
        payload = render(order)
        total += len(checksum(payload)) + len(parse(payload))
    return total


def worker():
    while not shutdown.is_set():
        order = jobs.get()
        handle(order)
        jobs.task_done()


def slow_poll():
    while not shutdown.wait(timeout=3600):
        pass


def main():
    for i in range(3):
        threading.Thread(target=worker, name="worker-%d" % i,
                         daemon=True).start()
    threading.Thread(target=slow_poll, name="poller", daemon=True).start()
    print("ready", flush=True)
    order = 0
    while True:
        while jobs.qsize() < 10:
            order += 1
            jobs.put(order)
        time.sleep(0.001)


if __name__ == "__main__":
    sys.exit(main())
