"""Settings for s3transfer's managed transfers, and the subscribers lakeops hands it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.s3.transfer import TransferConfig
from s3transfer.subscribers import BaseSubscriber

from lakeops.hashing import ProgressCallback, announce, finish

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class TransferSettings:
    """Sizes and concurrency for transfers; memory is about chunk x concurrency.

    Objects below ``multipart_threshold`` move in one request each; larger ones are s3transfer's
    managed multipart transfers, with ``max_concurrency`` parts in flight. Dataset jobs run
    ``workers`` objects at once (each large one with its own parts in flight).
    """

    multipart_threshold: int = 16 * MiB
    multipart_chunksize: int = 16 * MiB
    max_concurrency: int = 8
    # One CopyObject could take up to 5 GiB, but the server answers only when the copy is done,
    # and a long silence would trip the read timeout; parts of 256 MiB each answer in seconds.
    copy_multipart_threshold: int = 256 * MiB
    copy_chunksize: int = 256 * MiB
    workers: int = 32
    # s3transfer retries a download whose body breaks off; lakeops sets it to the configured
    # attempts so that a dying connection is tried as often as any other failure.
    download_attempts: int = 3

    @property
    def pool_connections(self) -> int:
        return max(self.workers, self.max_concurrency) + self.max_concurrency

    def for_files(self) -> TransferConfig:
        # "classic": with awscrt installed, boto3 may otherwise pick its CRT transfer manager
        # on some machines, which runs none of the botocore hooks lakeops relies on
        # (If-None-Match on bronze, the written versions).
        return TransferConfig(
            preferred_transfer_client="classic",
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
            num_download_attempts=self.download_attempts,
        )

    def for_copy(self) -> TransferConfig:
        return TransferConfig(
            preferred_transfer_client="classic",
            multipart_threshold=self.copy_multipart_threshold,
            multipart_chunksize=self.copy_chunksize,
            max_concurrency=self.max_concurrency,
        )


class _Progress(BaseSubscriber):
    def __init__(self, callback: ProgressCallback, total: int) -> None:
        self._callback = callback
        self._total = total

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        announce(self._callback, self._total)

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        self._callback(bytes_transferred)

    def on_done(self, future: Any, **kwargs: Any) -> None:
        finish(self._callback)


class _KnownObject(BaseSubscriber):
    """Hands s3transfer the size and ETag from our own HEAD, so it need not send another."""

    def __init__(self, size: int, etag: str | None) -> None:
        self._size = size
        self._etag = etag

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self._size)
        if self._etag:
            future.meta.provide_object_etag(self._etag)


def subscribers(
    size: int, progress: ProgressCallback | None, *, etag: str | None = None, known: bool = False
) -> list[BaseSubscriber]:
    """Progress reporting, and (``known``) the object's size and ETag for reads and copies."""
    chosen: list[BaseSubscriber] = [_KnownObject(size, etag)] if known else []
    if progress is not None:
        chosen.append(_Progress(progress, size))
    return chosen
