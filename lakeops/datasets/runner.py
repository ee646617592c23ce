"""Running a plan's transfers on a pool of workers, with one progress report for the job.

Work is handed out a few items per worker at a time, so that a job of a million objects
holds a bounded number of futures. One object's failure is recorded with its reason and the
others go on. On Ctrl-C the objects not started are dropped, the ones under way are given up
(s3transfer aborts multipart uploads; downloads remove their temporary files), and the
interruption goes on to the caller, with what was done so far.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from lakeops.datasets.results import Item, ItemFailure
from lakeops.errors import LakeOpsError

_T = TypeVar("_T")
# Enough queued work to keep every worker busy between two checks of the finished ones.
_QUEUED_PER_WORKER = 4
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

    ``cancel`` gives up transfers under way; it is called on Ctrl-C. The outcome then says
    ``interrupted`` and holds what finished.
    """
    outcome = RunOutcome([], [])
    pending: dict[Future[_T], Item] = {}
    queue = iter(items)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lakeops-job")
    try:
        while True:
            while len(pending) < workers * _QUEUED_PER_WORKER:
                item = next(queue, None)
                if item is None:
                    break
                pending[pool.submit(work, item)] = item
            if not pending:
                break
            finished, _ = wait(pending, timeout=_MIN_REPORT_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                _record(future, pending.pop(future), outcome, tracker)
            tracker.report()
        tracker.report(force=True)
    except KeyboardInterrupt:
        outcome.interrupted = True
        for future in pending:
            future.cancel()
        cancel()
        for future, item in pending.items():
            if not future.cancelled():
                _record(future, item, outcome, tracker, quiet=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return outcome


def _record(
    future: Future[_T],
    item: Item,
    outcome: RunOutcome,
    tracker: Tracker,
    *,
    quiet: bool = False,
) -> None:
    try:
        result = future.result()
    except LakeOpsError as error:
        outcome.failures.append(
            ItemFailure(
                item.relative, item.target, type(error).__name__, str(error), error.exit_code
            )
        )
        tracker.file_done(failed=True)
    except BaseException as error:
        if quiet:
            return
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
    else:
        outcome.done.append((item, result))
        tracker.file_done()
