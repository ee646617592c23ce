"""Progress bars on stderr, only on a terminal: one per phase, cleared when the phase ends.

A single object goes through phases (hashing, uploading; downloading, verifying; a server-side
copy). Each phase gets its own bar when it starts and loses it when it ends, so the screen
shows what the user is waiting on, and nothing is left behind, Ctrl-C included. A server-side
copy has no byte count to show (the server answers when it is done), so its bar counts time.
A dataset job has one bar for the whole job: files and bytes done, throughput and time left.
"""

from __future__ import annotations

import os
import shutil
import threading
from typing import Any, TextIO

from tqdm import tqdm

from lakeops.datasets.runner import JobProgress

_VERBS = {"upload": "uploading", "download": "downloading", "promote": "copying (server-side)"}


def _width(stream: TextIO) -> dict[str, Any]:
    """tqdm's width settings: follow the terminal, unless it says it has no width (a pseudo-
    terminal nobody sized, as under `script` or some CI runners), where tqdm would draw
    nothing at all; then COLUMNS, or 100."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        columns = 0
    if columns:
        return {"dynamic_ncols": True}
    size = shutil.get_terminal_size((100, 24))
    # A height of 0 would make tqdm hide every bar as "more hidden" below the screen.
    return {"ncols": size.columns or 100, "nrows": size.lines or 24}


class PhaseBar:
    """A byte bar for one phase of one object; lakeops calls start(total), then with each
    increment, then finish(). A total of None means the amount cannot be known.

    s3transfer reports progress from its own threads, and may report a last increment after
    the transfer said it was done: the bar takes one caller at a time, and once finished it
    ignores increments until a new phase starts, so no bar is drawn again after it is cleared.
    """

    def __init__(self, label: str, stream: TextIO) -> None:
        self._label = label
        self._stream = stream
        self._bar: tqdm[Any] | None = None
        self._finished = False
        self._lock = threading.Lock()

    def start(self, total: int | None) -> None:
        with self._lock:
            self._open(total)

    def _open(self, total: int | None) -> None:
        if self._bar is not None:
            _clear(self._bar, self._stream)
        self._finished = False
        self._bar = tqdm(
            total=total,
            desc=self._label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=self._stream,
            leave=False,
            **_width(self._stream),
            # Without a total, show the time waited rather than a byte count stuck at 0.
            bar_format=None if total is not None else "{desc}: {elapsed}",
        )

    def __call__(self, amount: int) -> None:
        with self._lock:
            if self._finished:
                return
            if self._bar is None:
                self._open(None)
            assert self._bar is not None
            self._bar.update(amount)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            if self._bar is not None:
                _clear(self._bar, self._stream)
                self._bar = None


class JobBar:
    """The one bar of a dataset job, following its phases."""

    def __init__(self, operation: str, stream: TextIO) -> None:
        self._verb = _VERBS[operation]
        self._stream = stream
        self._bar: tqdm[Any] | None = None
        self._phase = ""

    def __call__(self, progress: JobProgress) -> None:
        if progress.phase != self._phase:
            self.close()
            self._phase = progress.phase
            self._bar = self._open(progress)
        if self._bar is None:
            return
        if progress.phase == "transferring":
            self._bar.update(progress.bytes_done - self._bar.n)
            failed = f", {progress.failures} failed" if progress.failures else ""
            self._bar.set_postfix_str(
                f"{progress.files_done}/{progress.files_total} files{failed}", refresh=False
            )
        else:
            self._bar.update(progress.files_done - self._bar.n)
        self._bar.refresh()

    def _open(self, progress: JobProgress) -> tqdm[Any] | None:
        common: dict[str, Any] = {"file": self._stream, "leave": False, **_width(self._stream)}
        if progress.phase == "planning":
            return tqdm(desc="planning", unit=" objects looked at", total=None, **common)
        if progress.phase == "transferring":
            return tqdm(
                desc=self._verb,
                total=progress.bytes_total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                **common,
            )
        if progress.phase == "publishing":
            return tqdm(desc="checking and publishing", total=None, unit=" objects", **common)
        return None

    def close(self) -> None:
        if self._bar is not None:
            _clear(self._bar, self._stream)
            self._bar = None


def _clear(bar: tqdm[Any], stream: TextIO) -> None:
    """Close a bar and leave the cursor at the start of its emptied line: tqdm blanks the
    line but leaves the cursor at its end, where the next line printed would start."""
    bar.close()
    stream.write("\r")
    stream.flush()
