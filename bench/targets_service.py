"""A 20-thread service for bench/push.py: 4 request handlers that work in
bursts (about 5 ms of Python, then 15 ms waiting, like a request that
computes and then does I/O), 15 workers parked on a queue that never
gets an item, and the main thread asleep.  Prints READY, runs until
killed.  Runs on 2.7 and 3.6+."""
import sys
import threading
import time

try:
    import queue
except ImportError:  # 2.7
    import Queue as queue

IDLE = queue.Queue()


def render(n):
    return sum(i * i for i in range(n))


def handler():
    while True:
        end = time.time() + 0.005
        while time.time() < end:
            render(200)
        time.sleep(0.015)


def parked():
    IDLE.get()


for i in range(4):
    t = threading.Thread(target=handler, name="handler-%d" % i)
    t.daemon = True
    t.start()
for i in range(15):
    t = threading.Thread(target=parked, name="worker-%d" % i)
    t.daemon = True
    t.start()
sys.stdout.write("READY\n")
sys.stdout.flush()
while True:
    time.sleep(3600)
