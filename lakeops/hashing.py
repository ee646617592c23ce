"""Streaming content hashes, in fixed-size chunks so that memory stays bounded.

SHA-256 is what lakeops records and verifies. MD5 is computed beside it in the same pass only
to compare with S3 ETags, which are the MD5 of single-part objects on MinIO, Ceph and AWS
(without SSE-KMS): that lets a dataset plan recognise identical objects from a listing alone.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ParamSpec, TypeVar

CHUNK_BYTES = 1024 * 1024

# Called with each increment of bytes done. A callback that also has `start(total)` and
# `finish()` methods is told when a phase (hashing, sending, a server-side copy) begins, with
# its size (None when no byte count can be known), and when it ends: progress bars use them.
ProgressCallback = Callable[[int], None]


def announce(progress: ProgressCallback | None, total: int | None) -> None:
    start = getattr(progress, "start", None)
    if callable(start):
        start(total)


def finish(progress: ProgressCallback | None) -> None:
    """Tell a progress callback that has a ``finish()`` method that its phase is over."""
    done = getattr(progress, "finish", None)
    if callable(done):
        done()


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str
    # The ETag S3 gives a multipart upload of these bytes in parts of part_size: the MD5 of
    # the parts' MD5s, a dash and the part count. None when not asked for, or single-part.
    multipart_etag: str | None = None

    def matches_etag(self, etag: str | None) -> bool | None:
        """Whether an S3 ETag says the stored bytes are these; None when it cannot say (an
        ETag that is no MD5, as under SSE-KMS, or a multipart one of other part sizes)."""
        if not etag:
            return None
        value = etag.strip('"')
        if "-" in value:
            return True if value == self.multipart_etag else None
        if len(value) == 32 and all(c in "0123456789abcdef" for c in value.lower()):
            return value.lower() == self.md5
        return None


def digest_bytes(data: bytes, progress: ProgressCallback | None = None) -> Digests:
    """SHA-256 and MD5 of bytes in memory (single-part, so no multipart ETag)."""
    announce(progress, len(data))
    try:
        digests = Digests(
            hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()
        )
        if progress is not None:
            progress(len(data))
    finally:
        finish(progress)
    return digests


def sha256_chunks(chunks: Iterable[bytes], progress: ProgressCallback | None = None) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        if progress is not None:
            progress(len(chunk))
    return digest.hexdigest()


class HashingWriter:
    """A binary stream that hashes each byte as it is written to ``file``, instead of reading
    it back afterwards, and counts them (``written``) and reports them to ``progress``. Write
    only: s3transfer, given one without seek, writes the parts in order (buffering any that
    arrive early)."""

    def __init__(self, file: BinaryIO, progress: ProgressCallback | None = None) -> None:
        self._file = file
        self._digest = hashlib.sha256()
        self._progress = progress
        self.written = 0

    def write(self, data: bytes) -> int:
        written = self._file.write(data)
        self._digest.update(data)
        self.written += len(data)
        if self._progress is not None:
            self._progress(len(data))
        return written

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def digest_file(
    path: Path,
    progress: ProgressCallback | None = None,
    *,
    part_size: int | None = None,
    md5: bool = True,
) -> Digests:
    """SHA-256 and MD5 of a file, read once; with ``part_size`` (a multiple of 1 MiB), also
    the multipart ETag of an upload in parts of that size. ``md5=False`` leaves the MD5 out
    (empty): a multipart upload sends none, and it costs a third of the hashing."""
    size = path.stat().st_size
    announce(progress, size)
    sha256 = hashlib.sha256()
    whole = hashlib.md5(usedforsecurity=False) if md5 else None
    parts: list[bytes] = []
    part = hashlib.md5(usedforsecurity=False)
    in_part = 0
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                sha256.update(chunk)
                if whole is not None:
                    whole.update(chunk)
                if part_size:
                    part.update(chunk)
                    in_part += len(chunk)
                    if in_part >= part_size:
                        parts.append(part.digest())
                        part, in_part = hashlib.md5(usedforsecurity=False), 0
                if progress is not None:
                    progress(len(chunk))
    finally:
        finish(progress)
    if in_part:
        parts.append(part.digest())
    multipart = None
    if part_size and size >= part_size:
        combined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
        multipart = f"{combined}-{len(parts)}"
    return Digests(sha256.hexdigest(), whole.hexdigest() if whole else "", multipart)


def sha256_file(path: Path, progress: ProgressCallback | None = None) -> str:
    announce(progress, path.stat().st_size)
    try:
        with path.open("rb") as handle:
            return sha256_chunks(iter(lambda: handle.read(CHUNK_BYTES), b""), progress)
    finally:
        finish(progress)


class CallbackError(Exception):
    """A caller's progress callback raised. It carries the caller's own exception through
    s3transfer's threads and lakeops' error translation, to be raised again unchanged."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


class _Guarded:
    def __init__(self, progress: ProgressCallback) -> None:
        self._progress = progress

    def _call(self, method: Callable[..., object], *args: int | None) -> None:
        try:
            method(*args)
        except Exception as exc:
            raise CallbackError(exc) from exc

    def __call__(self, amount: int) -> None:
        self._call(self._progress, amount)

    def start(self, total: int | None) -> None:
        start = getattr(self._progress, "start", None)
        if callable(start):
            self._call(start, total)

    def finish(self) -> None:
        done = getattr(self._progress, "finish", None)
        if callable(done):
            self._call(done)


def guarded(progress: ProgressCallback | None) -> ProgressCallback | None:
    """``progress`` with its exceptions wrapped in :class:`CallbackError`."""
    return None if progress is None else _Guarded(progress)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def raising_callback_errors(operation: Callable[_P, _R]) -> Callable[_P, _R]:
    """Let a caller's progress callback's own exception out of ``operation`` unchanged."""

    @functools.wraps(operation)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return operation(*args, **kwargs)
        except CallbackError as failed:
            raise failed.original from None

    return run
