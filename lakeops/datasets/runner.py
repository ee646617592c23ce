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
from typing import TypeVar, Union

from lakeops import hub
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
    pipelined: Callable[[Item], bool] | None = None,
) -> RunOutcome:
    """Run ``work`` on every item, ``workers`` at a time; failures are collected, not raised.

    The items ``pipelined`` picks (small ones, whose transfer is one CRT request) run as
    greenlets of a hub on the calling thread, up to ``workers`` at once, each parked while its
    request is under way (lakeops.hub). The others run on worker threads, each taking the
    next item itself. Both report on one completion queue, which the calling thread drains:
    O(1) per object, where waiting on a set of futures costs O(pending) per completion (it
    takes and releases every pending future's lock).

    ``cancel`` gives up transfers under way; it is called on Ctrl-C. The outcome then says
    ``interrupted`` and holds what finished.
    """
    if pipelined is None or not hub.available():
        # Taken one at a time as workers come free: a source of a million items is never
        # read ahead.
        run = _Run(work, workers, tracker, on_hub=[], on_threads=items, threads=workers)
    else:
        # A plan's list, split: references only, no work is submitted ahead.
        on_hub: list[Item] = []
        on_threads: list[Item] = []
        for item in items:
            (on_hub if pipelined(item) else on_threads).append(item)
        threads = min(workers, len(on_threads))
        run = _Run(work, workers, tracker, on_hub=on_hub, on_threads=on_threads, threads=threads)
    try:
        run.start_threads()
        run.start_items()
        while run.under_way():
            run.next_event()
        tracker.report(force=True)
    except KeyboardInterrupt:
        run.outcome.interrupted = True
        # Items not started are dropped; those under way are given up, and what they came
        # to (finished just in time, or failed for a reason of their own) is kept.
        run.stop.set()
        cancel()
        while run.under_way():
            run.next_event(quiet=True)
    finally:
        run.stop.set()
        if run.abandoned():
            # Left by an error of the job's own thread (a progress listener's, a second
            # Ctrl-C): give up their requests, then end them here.
            cancel()
            run.abandon()
        run.join()
    return run.outcome


_Event = Union["_Finished", "hub.Resume", None]


class _Run:
    """One run of :func:`run_items`: its worker threads, its hub, and their completion queue."""

    def __init__(
        self,
        work: Callable[[Item], object],
        workers: int,
        tracker: Tracker,
        *,
        on_hub: list[Item],
        on_threads: Iterable[Item],
        threads: int,
    ) -> None:
        self.work, self.workers, self.tracker = work, workers, tracker
        self.outcome = RunOutcome([], [])
        self.stop = threading.Event()
        self.finished: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self.items_hub = hub.Hub(self.finished) if on_hub else None
        self._waiting = iter(on_hub)
        self._source = iter(on_threads)
        self._taking = threading.Lock()
        self._threads = [
            threading.Thread(target=self._worker, name=f"lakeops-job_{n}", daemon=True)
            for n in range(threads)
        ]
        self._running = 0
        self._looked = time.monotonic()

    def start_threads(self) -> None:
        for thread in self._threads:
            thread.start()
            self._running += 1

    def join(self) -> None:
        for thread in self._threads[: self._running]:
            thread.join()

    def _worker(self) -> None:
        try:
            while not self.stop.is_set():
                with self._taking:
                    item = next(self._source, None)
                if item is None:
                    return
                # Whatever a worker's item raises is the item's to report: nothing else
                # would take the rest of the items this thread would have taken.
                self.finished.put(_attempt(self.work, item, catching=BaseException))
        finally:
            self.finished.put(None)

    def start_items(self) -> None:
        """Start hub items until ``workers`` are parked; one that needs no request ends here."""
        while self.items_hub is not None and not self.stop.is_set():
            if self.items_hub.parked >= self.workers:
                return
            item = next(self._waiting, None)
            if item is None:
                return
            ended = self.items_hub.start(lambda it: _attempt(self.work, it), item)
            if isinstance(ended, _Finished):
                _record(ended, self.outcome, self.tracker)

    def under_way(self) -> bool:
        parked = self.items_hub.parked if self.items_hub is not None else 0
        return bool(self._running or parked)

    def next_event(self, *, quiet: bool = False) -> None:
        """Handle what finished next (or a tenth of a second of nothing), then report.
        ``quiet``: draining after Ctrl-C; also go on with parked items whose request has
        finished, in case its news was taken off the queue by the interrupted loop."""
        try:
            self.settle(self.finished.get(timeout=_MIN_REPORT_SECONDS), quiet=quiet)
            self.start_items()
        except queue.Empty:
            pass
        now = time.monotonic()
        if self.items_hub is not None and now - self._looked >= _MIN_REPORT_SECONDS:
            self._looked = now
            self.items_hub.check_overdue()
            if quiet:
                for ended in self.items_hub.resume_finished():
                    _record(ended, self.outcome, self.tracker, quiet=True)  # type: ignore[arg-type]
        if not quiet:
            self.tracker.report()

    def abandoned(self) -> bool:
        return self.items_hub is not None and self.items_hub.parked > 0

    def abandon(self) -> None:
        assert self.items_hub is not None
        self.items_hub.abandon()

    def settle(self, event: _Event, *, quiet: bool = False) -> None:
        if event is None:
            self._running -= 1
            return
        if isinstance(event, hub.Resume):
            assert self.items_hub is not None
            ended = self.items_hub.resume(event)
            if not isinstance(ended, _Finished):
                return  # parked again
            event = ended
        _record(event, self.outcome, self.tracker, quiet=quiet)


def _attempt(
    work: Callable[[Item], object],
    item: Item,
    *,
    catching: type[BaseException] = Exception,
) -> _Finished:
    """``work(item)`` and what came of it. On the hub, a KeyboardInterrupt goes on to the
    hub's loop (Ctrl-C lands on the job's thread, often in an item's code): that item is
    then neither done nor failed, and running the job again finds it."""
    try:
        return _Finished(item, work(item), None)
    except catching as error:  # recorded by the calling thread
        return _Finished(item, None, error)


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
