"""A target for top's benchmark: argv[1] threads (default 20), each
running Python in a loop a few frames deep; prints READY once all run."""
import sys
import threading
import time


def leaf(n):
    x = 0
    for i in range(n):
        x += i
    return x


def middle(n):
    return leaf(n)


def worker(ready):
    ready.release()
    while True:
        middle(500)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    ready = threading.Semaphore(0)
    for _ in range(n):
        t = threading.Thread(target=worker, args=(ready,))
        t.daemon = True
        t.start()
    for _ in range(n):
        ready.acquire()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


main()
