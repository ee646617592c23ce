"""Running a plan's transfers on a pool of workers, with one progress report for the job.

Each worker takes the next item when it is free, so that a job of a million objects holds
no more than one item per worker in flight. One object's failure is recorded with its reason and the
others go on. On Ctrl-C the objects not started are dropped, the ones under way are given up
(s3transfer aborts multipart uploads; downloads remove their temporary files), and the
interruption goes on to the caller, with what was done so far.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from lakeops.datasets.results import Item, ItemFailure
from lakeops.errors import LakeOpsError

_T = TypeVar("_T")
_MIN_REPORT_SECONDS = 0.1


@dataclass(frozen=True)
class JobProgress:
    """A snapshot of a dataset job, given to its progress callback."""

    phase: str  # planning | transferring | publishing | done
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    failures: int
    seconds: float


ProgressListener = Callable[[JobProgress], None]


class Tracker:
    """The job's counters. Workers update them; the listener is called only from the thread
    that runs the job, at most ten times a second, so that it may draw on a screen (or raise
    KeyboardInterrupt) like any code of the caller's."""

    def __init__(self, listener: ProgressListener | None) -> None:
        self._listener = listener
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last = 0.0
        self.phase = "planning"
        self.files_done = self.files_total = self.bytes_done = self.bytes_total = 0
        self.failures = 0

    def begin(self, phase: str, files_total: int = 0, bytes_total: int = 0) -> None:
        with self._lock:
            self.phase, self.files_total, self.bytes_total = phase, files_total, bytes_total
            self.files_done = self.bytes_done = 0
        self.report(force=True)

    def planned(self, files_seen: int) -> None:
        with self._lock:
            self.files_done = files_seen
        self.report()

    def add_bytes(self, amount: int) -> None:
        with self._lock:
            self.bytes_done += amount

    def file_done(self, failed: bool = False) -> None:
        with self._lock:
            self.files_done += 1
            self.failures += failed

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._started

    def report(self, *, force: bool = False) -> None:
        if self._listener is None:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < _MIN_REPORT_SECONDS:
                return
            self._last = now
            snapshot = JobProgress(
                self.phase,
                self.files_done,
                self.files_total,
                self.bytes_done,
                self.bytes_total,
                self.failures,
                now - self._started,
            )
        self._listener(snapshot)


class ItemBytes:
    """A single-object progress callback that counts into the job's bytes."""

    def __init__(self, tracker: Tracker) -> None:
        self._tracker = tracker

    def __call__(self, amount: int) -> None:
        self._tracker.add_bytes(amount)


@dataclass
class RunOutcome:
    done: list[tuple[Item, object]]
    failures: list[ItemFailure]
    interrupted: bool = False


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C during a dataset job; ``result`` holds what was done before it."""

    def __init__(self, result: object) -> None:
        super().__init__("interrupted")
        self.result = result


def run_items(
    items: Iterable[Item],
    work: Callable[[Item], _T],
    *,
    workers: int,
    tracker: Tracker,
    cancel: Callable[[], None],
) -> RunOutcome:
    """Run ``work`` on every item, ``workers`` at a time; failures are collected, not raised.

    Each worker thread takes the next item itself and puts what came of it on one completion
    queue, which the calling thread drains: O(1) per object, where waiting on a set of futures
    costs O(pending) per completion (it takes and releases every pending future's lock).

    ``cancel`` gives up transfers under way; it is called on Ctrl-C. The outcome then says
    ``interrupted`` and holds what finished.
    """
    outcome = RunOutcome([], [])
    source = iter(items)
    taking = threading.Lock()
    stop = threading.Event()
    finished: queue.SimpleQueue[_Finished | None] = queue.SimpleQueue()

    def worker() -> None:
        try:
            while not stop.is_set():
                with taking:
                    item = next(source, None)
                if item is None:
                    return
                try:
                    finished.put(_Finished(item, work(item), None))
                except BaseException as error:  # recorded by the calling thread
                    finished.put(_Finished(item, None, error))
        finally:
            finished.put(None)

    threads = [
        threading.Thread(target=worker, name=f"lakeops-job_{n}", daemon=True)
        for n in range(workers)
    ]
    running = 0
    try:
        for thread in threads:
            thread.start()
            running += 1
        while running:
            try:
                done = finished.get(timeout=_MIN_REPORT_SECONDS)
            except queue.Empty:
                tracker.report()
                continue
            if done is None:
                running -= 1
            else:
                _record(done, outcome, tracker)
                tracker.report()
        tracker.report(force=True)
    except KeyboardInterrupt:
        outcome.interrupted = True
        # Items not started are dropped; those under way are given up, and what they came
        # to (finished just in time, or failed for a reason of their own) is kept.
        stop.set()
        cancel()
        while running:
            done = finished.get()
            if done is None:
                running -= 1
            else:
                _record(done, outcome, tracker, quiet=True)
    finally:
        stop.set()
        for thread in threads[:running]:
            thread.join()
    return outcome


@dataclass(frozen=True)
class _Finished:
    item: Item
    result: object
    error: BaseException | None


def _record(
    done: _Finished,
    outcome: RunOutcome,
    tracker: Tracker,
    *,
    quiet: bool = False,
) -> None:
    item, error = done.item, done.error
    if error is None:
        outcome.done.append((item, done.result))
        tracker.file_done()
    elif isinstance(error, LakeOpsError):
        outcome.failures.append(
            ItemFailure(
                item.relative, item.target, type(error).__name__, str(error), error.exit_code
            )
        )
        tracker.file_done(failed=True)
    elif not quiet:
        outcome.failures.append(
            ItemFailure(
                item.relative,
                item.target,
                type(error).__name__,
                f"unexpected {type(error).__name__}: {str(error)[:200]}",
                LakeOpsError.exit_code,
            )
        )
        tracker.file_done(failed=True)
