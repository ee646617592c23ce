"""Streaming SHA-256, in fixed-size chunks so that memory stays bounded."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

CHUNK_BYTES = 1024 * 1024

# Called with each increment of bytes done. A callback that also has a `start(total)` method
# is told the total first (see announce), which progress bars use.
ProgressCallback = Callable[[int], None]


def announce(progress: ProgressCallback | None, total: int) -> None:
    start = getattr(progress, "start", None)
    if callable(start):
        start(total)


def sha256_chunks(chunks: Iterable[bytes], progress: ProgressCallback | None = None) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        if progress is not None:
            progress(len(chunk))
    return digest.hexdigest()


def sha256_file(path: Path, progress: ProgressCallback | None = None) -> str:
    announce(progress, path.stat().st_size)
    with path.open("rb") as handle:
        return sha256_chunks(iter(lambda: handle.read(CHUNK_BYTES), b""), progress)
