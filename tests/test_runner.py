"""The dataset runner on its own: how it hands out work, collects failures and reports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from lakeops.datasets.results import Action, Item
from lakeops.datasets.runner import JobProgress, Tracker, run_items
from lakeops.errors import LakeOpsError


def _items(count: int) -> list[Item]:
    return [
        Item(f"f{n}", Action.NEW, 1, str(Path("/data") / f"f{n}"), f"t/f{n}") for n in range(count)
    ]


def test_workers_take_the_next_item_only_when_free() -> None:
    # Memory and the cost of each completion stay bounded by the workers, however long the
    # job: no item waits in a queue of submitted work.
    lock = threading.Lock()
    state = {"taken": 0, "finished": 0, "most": 0}

    def source() -> Iterator[Item]:
        for item in _items(200):
            with lock:
                state["taken"] += 1
                state["most"] = max(state["most"], state["taken"] - state["finished"])
            yield item

    def work(item: Item) -> str:
        with lock:
            state["finished"] += 1
        return item.relative

    outcome = run_items(source(), work, workers=3, tracker=Tracker(None), cancel=lambda: None)

    assert sorted(str(relative) for _, relative in outcome.done) == sorted(
        f"f{n}" for n in range(200)
    )
    assert state["most"] <= 3


def test_failures_are_collected_and_the_rest_go_on() -> None:
    def work(item: Item) -> str:
        if item.relative == "f3":
            raise LakeOpsError("refused")
        if item.relative == "f5":
            raise KeyError("odd")
        return item.relative

    seen: list[JobProgress] = []
    outcome = run_items(
        _items(10), work, workers=4, tracker=Tracker(seen.append), cancel=lambda: None
    )

    assert len(outcome.done) == 8
    failed = {failure.relative: failure.message for failure in outcome.failures}
    assert failed == {"f3": "refused", "f5": "unexpected KeyError: 'odd'"}
    assert seen[-1].files_done == 10 and seen[-1].failures == 2


class _Odd(BaseException):
    """Neither an Exception nor Ctrl-C: what a worker's item may still raise."""


def test_a_worker_items_base_exception_is_its_failure_and_the_rest_go_on() -> None:
    # Nothing else would take the items the worker's thread would have taken.
    def work(item: Item) -> str:
        if item.relative == "f1":
            raise _Odd("odd")
        return item.relative

    outcome = run_items(_items(6), work, workers=1, tracker=Tracker(None), cancel=lambda: None)

    assert len(outcome.done) == 5
    assert [failure.relative for failure in outcome.failures] == ["f1"]
