"""The dataset runner on its own: how it hands out work, collects failures and reports."""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lakeops import hub
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


def _request(delay: float) -> concurrent.futures.Future[None]:
    """A stand-in for a CRT request: a future another thread finishes after ``delay``."""
    future: concurrent.futures.Future[None] = concurrent.futures.Future()
    threading.Timer(delay, future.set_result, args=(None,)).start()
    return future


def _parking_work(state: dict[str, int], threads: set[int]) -> Callable[[Item], str]:
    def work(item: Item) -> str:
        threads.add(threading.get_ident())
        in_hub = hub.current()
        assert in_hub is not None, "a pipelined item runs in the hub"
        state["parked"] += 1
        state["most"] = max(state["most"], state["parked"])
        try:
            hub.park(in_hub, _request(0.02), overdue=lambda now: False, give_up=lambda: None)
        finally:
            state["parked"] -= 1
        if item.relative == "f7":
            raise LakeOpsError("refused")
        return item.relative

    return work


def test_small_items_run_on_the_calling_thread_parked_on_their_requests() -> None:
    # No worker thread per request: the hub runs up to `workers` items at once, each parked
    # while its request is under way, all on the job's own thread.
    state = {"parked": 0, "most": 0}
    threads: set[int] = set()

    outcome = run_items(
        _items(60),
        _parking_work(state, threads),
        workers=8,
        tracker=Tracker(None),
        cancel=lambda: None,
        pipelined=lambda item: True,
    )

    assert threads == {threading.get_ident()}
    assert len(outcome.done) == 59
    assert [failure.relative for failure in outcome.failures] == ["f7"]
    assert 1 < state["most"] <= 8


def test_items_the_hub_does_not_take_run_on_worker_threads_beside_it() -> None:
    state = {"parked": 0, "most": 0}
    threads: set[int] = set()
    parking = _parking_work(state, threads)
    on_threads: set[str] = set()

    def work(item: Item) -> str:
        if item.size > 1:
            on_threads.add(threading.current_thread().name)
            return item.relative
        return parking(item)

    items = [*_items(10), Item("big", Action.NEW, 2, "/data/big", "t/big")]
    outcome = run_items(
        items,
        work,
        workers=4,
        tracker=Tracker(None),
        cancel=lambda: None,
        pipelined=lambda item: item.size == 1,
    )

    assert sorted(str(relative) for _, relative in outcome.done) == sorted(
        [f"f{n}" for n in range(10) if n != 7] + ["big"]
    )
    assert len(on_threads) == 1 and next(iter(on_threads)).startswith("lakeops-job_")


def test_a_request_silent_too_long_is_given_up_by_the_hub() -> None:
    given_up: list[str] = []

    def work(item: Item) -> bool:
        in_hub = hub.current()
        assert in_hub is not None
        never: concurrent.futures.Future[None] = concurrent.futures.Future()

        def give_up() -> None:
            given_up.append(item.relative)
            never.set_result(None)  # a cancelled CRT request finishes with its error

        started = time.monotonic()
        return hub.park(in_hub, never, overdue=lambda now: now - started > 0.2, give_up=give_up)

    outcome = run_items(
        _items(3),
        work,
        workers=3,
        tracker=Tracker(None),
        cancel=lambda: None,
        pipelined=lambda item: True,
    )

    assert sorted(given_up) == ["f0", "f1", "f2"]
    assert [silent for _, silent in outcome.done] == [True, True, True]


def test_ctrl_c_in_a_hub_item_gives_up_the_parked_ones_and_keeps_what_finished() -> None:
    requests: list[concurrent.futures.Future[None]] = []
    cancelled: list[bool] = []

    def work(item: Item) -> str:
        if item.relative == "f5":
            raise KeyboardInterrupt
        in_hub = hub.current()
        assert in_hub is not None
        request: concurrent.futures.Future[None] = concurrent.futures.Future()
        if item.relative == "f0":
            request.set_result(None)
        requests.append(request)
        hub.park(in_hub, request, overdue=lambda now: False, give_up=lambda: None)
        if not request.done() or request.cancelled():
            raise LakeOpsError("given up")
        return item.relative

    def cancel() -> None:
        cancelled.append(True)
        for request in requests:
            request.cancel()  # as CrtTransport.cancel ends what is under way

    outcome = run_items(
        _items(10),
        work,
        workers=8,
        tracker=Tracker(None),
        cancel=cancel,
        pipelined=lambda item: True,
    )

    assert outcome.interrupted and cancelled == [True]
    assert [relative for _, relative in outcome.done] == ["f0"]
    assert len(outcome.failures) == 4  # f1-f4, parked when Ctrl-C came; f6-f9 never started


class _Odd(BaseException):
    """Neither an Exception nor Ctrl-C: what a worker's item may still raise."""


def test_a_worker_items_base_exception_is_its_failure_and_the_rest_go_on() -> None:
    def work(item: Item) -> str:
        if item.relative == "f1":
            raise _Odd("odd")
        return item.relative

    outcome = run_items(_items(6), work, workers=1, tracker=Tracker(None), cancel=lambda: None)

    assert len(outcome.done) == 5
    assert [failure.relative for failure in outcome.failures] == ["f1"]


def test_news_of_an_earlier_request_does_not_wake_an_item_parked_on_the_next() -> None:
    first: concurrent.futures.Future[None] = concurrent.futures.Future()
    second: concurrent.futures.Future[None] = concurrent.futures.Future()
    finished: queue.SimpleQueue[object] = queue.SimpleQueue()
    items_hub = hub.Hub(finished)

    def work(_: object) -> str:
        for request in (first, second):
            hub.park(items_hub, request, overdue=lambda now: False, give_up=lambda: None)
        return "done"

    assert items_hub.start(work, None) is None
    first.set_result(None)
    news = finished.get_nowait()
    assert isinstance(news, hub.Resume)
    assert items_hub.resume(news) is None  # parked again, on the second request
    threading.Timer(0.3, second.set_result, args=(None,)).start()

    assert items_hub.resume(news) is None  # old news: the item stays parked
    assert items_hub.parked == 1
    assert items_hub.resume(finished.get(timeout=5)) == "done"  # type: ignore[arg-type]


def test_a_request_that_finished_is_not_given_up_as_silent() -> None:
    finished: queue.SimpleQueue[object] = queue.SimpleQueue()
    items_hub = hub.Hub(finished)
    request: concurrent.futures.Future[None] = concurrent.futures.Future()
    given_up: list[bool] = []

    def work(_: object) -> bool:
        return hub.park(
            items_hub, request, overdue=lambda now: True, give_up=lambda: given_up.append(True)
        )

    items_hub.start(work, None)
    request.set_result(None)  # finished; its news is on the queue, not yet taken
    items_hub.check_overdue()

    assert given_up == []
    assert items_hub.resume(finished.get_nowait()) is False  # type: ignore[arg-type]


def test_items_parked_when_the_job_fails_are_ended_and_their_requests_given_up() -> None:
    cleaned: list[str] = []
    cancelled: list[bool] = []

    def work(item: Item) -> str:
        in_hub = hub.current()
        assert in_hub is not None
        never: concurrent.futures.Future[None] = concurrent.futures.Future()
        try:
            hub.park(in_hub, never, overdue=lambda now: False, give_up=lambda: None)
        finally:
            cleaned.append(item.relative)  # a temporary file removed, say
        return item.relative

    def listener(progress: JobProgress) -> None:
        if progress.phase == "transferring":
            raise RuntimeError("the terminal went away")

    tracker = Tracker(listener)
    tracker.phase = "transferring"
    with pytest.raises(RuntimeError, match="terminal"):
        run_items(
            _items(4),
            work,
            workers=4,
            tracker=tracker,
            cancel=lambda: cancelled.append(True),
            pipelined=lambda item: True,
        )

    assert sorted(cleaned) == ["f0", "f1", "f2", "f3"]
    assert cancelled == [True]
