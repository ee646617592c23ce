"""Many small transfers from one thread: a dataset job's items as greenlets, parked on CRT requests.

A worker thread per object in flight costs more CPU than the object's own work once the
requests go on the CRT: each completion is a CRT thread taking the GIL to wake one of 32
waiting threads, which then contend for the GIL among themselves (py-spy: a third of a
download job's samples). Instead the job's own thread runs each small item in a greenlet
(the ``greenlet`` package, the C extension gevent and SQLAlchemy use) and runs the item's
code unchanged: where it would block on a CRT request, :func:`park` switches back to the
hub, and the CRT's completion callback puts the greenlet on the hub's queue to be resumed.
One thread, one wake-up per completion, no worker blocked per request.

Only CRT requests park. Anything else an item does (reading a file, a botocore call on an
error path) runs on the job's thread to its end, so the runner keeps large transfers
(s3transfer's multipart) on worker threads and hands the hub small objects only.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

try:
    from greenlet import getcurrent, greenlet
except ImportError:  # pragma: no cover - a dependency; without it, items run on threads
    greenlet = None


def available() -> bool:
    return greenlet is not None


@dataclass
class _Parked:
    finished: Any  # the request's future
    overdue: Callable[[float], bool]
    give_up: Callable[[], None]
    gave_up: bool = False


@dataclass
class Resume:
    """On the hub's queue: a parked item whose request finished."""

    item: Any  # the greenlet
    finished: Any  # the future it was parked on


class _ItemGreenlet(greenlet if greenlet is not None else object):  # type: ignore[misc]
    hub: Hub


@dataclass
class Hub:
    """The job thread's side: starts items as greenlets, resumes them as their requests end.

    ``completions`` is the runner's queue: :class:`Resume` entries arrive on it from CRT
    threads, beside whatever else the runner puts there."""

    completions: queue.SimpleQueue[Any]
    _parked: dict[Any, _Parked] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._home = getcurrent()

    @property
    def parked(self) -> int:
        return len(self._parked)

    def start(self, run: Callable[[Any], object], item: object) -> object:
        """Run ``run(item)`` in a greenlet until it parks (None) or returns (its value)."""
        child = _ItemGreenlet(run, parent=self._home)
        child.hub = self
        return self._value(child.switch(item))

    def resume(self, resumed: Resume) -> object:
        """Go on with a parked item until it parks again (None) or returns (its value). A
        resume that is no longer news (the item was resumed by :meth:`resume_finished`, and
        may be parked on another request by now) does nothing."""
        parked = self._parked.get(resumed.item)
        if parked is None or parked.finished is not resumed.finished:
            return None
        return self._value(resumed.item.switch())

    def resume_finished(self) -> list[object]:
        """Go on with every parked item whose request has finished, whether or not its
        :class:`Resume` came (after Ctrl-C, it may have been taken off the queue and lost);
        what those that returned returned."""
        ended = []
        for item, parked in list(self._parked.items()):
            if parked.finished.done() and self._parked.get(item) is parked:
                value = self._value(item.switch())
                if value is not None:
                    ended.append(value)
        return ended

    def check_overdue(self) -> None:
        """Give up the requests whose server has been silent too long (their items resume
        with the request's own failure, and see :func:`park`'s answer)."""
        now = time.monotonic()
        for parked in list(self._parked.values()):
            if not parked.gave_up and not parked.finished.done() and parked.overdue(now):
                parked.gave_up = True
                parked.give_up()

    def abandon(self) -> None:
        """End the items still parked, by raising GreenletExit where they wait, so that their
        own clean-up (temporary files, folders held open) runs now, on this thread, rather
        than whenever the garbage collector finds them."""
        for item in list(self._parked):
            item.throw()

    def _park(self, finished: Any, parked: _Parked) -> bool:
        me = getcurrent()
        self._parked[me] = parked
        # Called on the CRT thread that finished the request (or here, if it already has).
        finished.add_done_callback(lambda _: self.completions.put(Resume(me, finished)))
        try:
            self._home.switch(_PARKED)
        finally:
            del self._parked[me]
        return parked.gave_up

    @staticmethod
    def _value(switched: object) -> object:
        return None if switched is _PARKED else switched


_PARKED = object()


def current() -> Hub | None:
    """The hub running the calling code as one of its items, or None (a thread of its own)."""
    if greenlet is None:
        return None
    me = getcurrent()
    return me.hub if isinstance(me, _ItemGreenlet) else None


def park(
    hub: Hub,
    finished: Any,
    *,
    overdue: Callable[[float], bool],
    give_up: Callable[[], None],
) -> bool:
    """Wait, as an item of ``hub``, for the ``finished`` future of a CRT request; the hub runs
    other items meanwhile. True if the hub gave the request up because ``overdue`` said so."""
    return hub._park(finished, _Parked(finished, overdue, give_up))
