"""Oracle for `dump --tasks`: two event loops in two threads, with tasks
that wait in known places, and one that runs.

The main thread's loop runs "main", which awaits gather("worker-1",
"worker-2"); "worker-1" awaits a helper coroutine that awaits a future
never set, "worker-2" sleeps; "waiter" awaits the task "child" directly,
which waits on an asyncio.Event; "timed" awaits wait_for("slow");
"py-task" (3.7+) is a pure-Python task
(asyncio.tasks._PyTask); on 3.11+ "tg-parent" waits in a TaskGroup for
"tg-child".  The second thread's loop runs "spinner", which never yields
(it sleeps in C: the task stays running), and "b-sleeper".

Once everything is parked, a callback of the main loop (no task runs
then) writes the truth: asyncio.all_tasks() of each loop; per task its
id, name (3.8+), state, loop thread, get_stack(), the await chain the
target walks itself (cr_await / gi_yieldfrom, with each frame's
f_lineno), and the tasks that await it (a task whose _fut_waiter is it
or a gather() of it, or runs the __aexit__ of a TaskGroup that holds it;
on 3.14+ also CPython's own asyncio.capture_call_graph()).

asyncio is 3.4+ and async def 3.5+: on 2.7 this file only parses (the
test skips 2.7), so the coroutines are compiled from a string.
"""
import sys
import threading
import time

import _common

if sys.version_info < (3, 6):
    sys.stderr.write("no asyncio tasks before 3.6\n")
    sys.exit(3)

import asyncio  # noqa: E402

V = sys.version_info
NAMES = V >= (3, 8)

exec('''
async def helper(fut):
    await fut


async def worker_one(fut):
    await helper(fut)


async def worker_two():
    await asyncio.sleep(3600)


async def child(event):
    await event.wait()


async def waiter(task):
    await task


async def timed(task):
    await asyncio.wait_for(task, 3600)


async def main_a(w1, w2):
    await asyncio.gather(w1, w2)


async def py_task_body(fut):
    await fut


async def tg_parent(fut):
    async with asyncio.TaskGroup() as tg:
        make(tg.create_task, tg_child(fut), "tg-child")


async def tg_child(fut):
    await fut


async def spin(started):
    started.set()
    while True:
        time.sleep(0.01)


async def b_sleeper():
    await asyncio.sleep(3600)
''')


def make(create, coro, name, **kw):
    if NAMES:
        return create(coro, name=name, **kw)
    return create(coro, **kw)


def all_tasks(loop):
    if V >= (3, 7):
        tasks = asyncio.all_tasks(loop)
    else:
        tasks = set(t for t in asyncio.Task.all_tasks(loop) if not t.done())
    # 3.14's all_tasks() reads only its own task lists: a task of another
    # class (here _PyTask) that asyncio registered in _scheduled_tasks is
    # left out.  pyspect shows it; so does the truth.
    for t in list(getattr(asyncio.tasks, "_scheduled_tasks", ())):
        if not t.done() and t.get_loop() is loop:
            tasks.add(t)
    return tasks


def current_task(loop):
    if V >= (3, 7):
        return asyncio.current_task(loop)
    return asyncio.Task.current_task(loop)


def frame_dict(f):
    co = f.f_code
    return {"function": co.co_name, "file": co.co_filename,
            "line": f.f_lineno}


def await_chain(coro):
    """The target's own walk of a coroutine's await chain."""
    out = []
    for _ in range(256):
        frame = getattr(coro, "cr_frame", getattr(coro, "gi_frame", None))
        if frame is None:
            break
        out.append(frame_dict(frame))
        nxt = getattr(coro, "cr_await", None)
        if nxt is None:
            nxt = getattr(coro, "gi_yieldfrom", None)
        if not (asyncio.iscoroutine(nxt) and
                (hasattr(nxt, "cr_frame") or hasattr(nxt, "gi_frame"))):
            break
        coro = nxt
    return out


def group_of(task):
    """The TaskGroup whose __aexit__ the task's await chain runs."""
    coro = task._coro
    for _ in range(256):
        frame = getattr(coro, "cr_frame", None)
        if frame is None:
            return None
        owner = frame.f_locals.get("self")
        if (isinstance(owner, getattr(asyncio, "TaskGroup", ())) and
                "aexit" in frame.f_code.co_name):
            return owner
        coro = getattr(coro, "cr_await", None)
    return None


def awaiting(task, tasks):
    """Ids of the tasks that await task."""
    by = set()
    for other in tasks:
        w = getattr(other, "_fut_waiter", None)
        if w is task or task in getattr(w, "_children", ()):
            by.add(id(other))
        group = group_of(other) if V >= (3, 11) else None
        if group is not None and task in group._tasks:
            by.add(id(other))
    if V >= (3, 14) and isinstance(task, asyncio.tasks._CTask):
        def up(fut, depth):
            for g in asyncio.capture_call_graph(fut).awaited_by:
                if isinstance(g.future, asyncio.Task):
                    by.add(id(g.future))
                elif depth < 8:
                    up(g.future, depth + 1)
        up(task, 0)
    return sorted(by)


loop_b = asyncio.new_event_loop()
b_started = threading.Event()
b_tid = []


def thread_b():
    b_tid.append(_common.gettid())
    asyncio.set_event_loop(loop_b)
    make(loop_b.create_task, b_sleeper(), "b-sleeper")
    make(loop_b.create_task, spin(b_started), "spinner")
    loop_b.run_forever()


def truth(loop_a):
    tids = {id(loop_a): _common.gettid(), id(loop_b): b_tid[0]}
    doc = []
    for loop in (loop_a, loop_b):
        tasks = all_tasks(loop)
        running = current_task(loop)
        for t in tasks:
            doc.append({
                "id": id(t),
                "name": t.get_name() if NAMES else None,
                "state": "running" if t is running else "pending",
                "loop_thread": tids[id(loop)],
                "get_stack": [frame_dict(f) for f in t.get_stack()],
                "chain": await_chain(t._coro),
                "awaited_by": awaiting(t, tasks),
            })
    _common.write_json(sys.argv[1], {"tasks": doc})
    _common.say_ready()


def main():
    threading.Thread(target=thread_b, name="loop-b", daemon=True).start()
    b_started.wait(60)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    never = loop.create_future()
    event = asyncio.Event()
    w1 = make(loop.create_task, worker_one(never), "worker-1")
    w2 = make(loop.create_task, worker_two(), "worker-2")
    c = make(loop.create_task, child(event), "child")
    make(loop.create_task, waiter(c), "waiter")
    slow = make(loop.create_task, worker_two(), "slow")
    make(loop.create_task, timed(slow), "timed")
    if V >= (3, 7):
        # (3.6's _PyTask derives from the C future.)
        py = asyncio.tasks._PyTask(py_task_body(never), loop=loop)
        if NAMES:
            py.set_name("py-task")
    if V >= (3, 11):
        make(loop.create_task, tg_parent(never), "tg-parent")
    loop.call_later(0.5, truth, loop)
    m = main_a(w1, w2)
    if NAMES:
        loop.run_until_complete(make(loop.create_task, m, "main"))
    else:
        loop.run_until_complete(m)


main()
