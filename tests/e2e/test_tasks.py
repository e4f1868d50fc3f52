"""pyspect dump --tasks: asyncio tasks, their coroutine stacks and who
awaits whom, against the truth the target takes of itself
(asyncio.all_tasks(), get_stack(), its own walk of each await chain)."""
import pytest

from conftest import dump_json, pyspect

pytestmark = pytest.mark.sanitize


def need_asyncio(python):
    if python.version < (3, 6):
        pytest.skip("Python %s has no asyncio tasks to show (pyspect reads "
                    "them from 3.6)" % python.label)


def frames(stack):
    return [(f["function"], f["file"], f["line"]) for f in stack]


@pytest.fixture
def tasks_target(python, target):
    need_asyncio(python)
    return target(python, "tasks.py")


def test_dump_tasks_match_all_tasks(python, tasks_target):
    t = tasks_target
    doc = dump_json(t.pid, "--tasks")
    truth = dict((x["id"], x) for x in t.truth["tasks"])
    # all_tasks() leaves out the done tasks asyncio still keeps.
    got = dict((x["id"], x) for x in doc["tasks"] if x["state"] != "done")
    assert sorted(got) == sorted(truth)
    assert doc["tasks_found_in"] in ("task lists", "_scheduled_tasks",
                                     "_all_tasks", "gc")
    for tid, want in truth.items():
        g = got[tid]
        what = want["name"] or tid
        assert g["name"] == want["name"], what
        assert g["state"] == want["state"], what
        assert g["loop_thread"] == want["loop_thread"], what
        assert sorted(g["awaited_by"]) == want["awaited_by"], what
        assert "error" not in g, what
        stack = frames(g["coroutine_stack"])
        if want["state"] == "running":
            # It runs on: its line moves.  get_stack() of a running task
            # ends with its coroutine's frame (its callers follow f_back).
            assert [f[0] for f in stack] == \
                [f["function"] for f in want["chain"]], what
            assert stack[0][0] == want["get_stack"][-1]["function"], what
        else:
            # get_stack() of a suspended task is its coroutine's own
            # frame: the outermost of the chain.
            assert stack[:1] == frames(want["get_stack"]), what
            assert stack == frames(want["chain"]), what
            assert g["waiting_on"] is not None, what


def test_dump_tasks_text_tree(python, tasks_target):
    t = tasks_target
    r = pyspect("dump", "--tasks", "--no-source", t.pid)
    assert r.rc == 0, r.err
    text = r.out
    assert "Asyncio tasks:" in text
    by_id = dict((x["id"], x) for x in t.truth["tasks"])
    loops = set(x["loop_thread"] for x in t.truth["tasks"])
    for tid in loops:
        assert "in thread %d" % tid in text
    lines = text.splitlines()
    for x in t.truth["tasks"]:
        if x["name"] is None:
            continue
        line = [ln for ln in lines if '"%s" (' % x["name"] in ln]
        assert line, x["name"]
        assert x["state"] in line[0]
        # A task awaited by another is printed deeper than its parent.
        for parent in x["awaited_by"]:
            pname = by_id[parent]["name"]
            pline = [ln for ln in lines if 'Task "%s" (' % pname in ln][0]
            assert line[0].index("Task") > pline.index("Task")


def test_dump_without_asyncio(python, target):
    # (2.7 comes here too: no asyncio, no tasks, no error.)
    t = target(python, "spinner.py")
    doc = dump_json(t.pid, "--tasks")
    assert doc["tasks"] == []
    assert doc["tasks_found_in"] is None
