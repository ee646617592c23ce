"""The module-level functions pipelines call (upload_to_layer, download_from_layer,
list_layer_objects, promote_data and the dataset ones), served by a default :class:`Lake`
built from the environment."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from lakeops.datasets.results import DatasetResult
from lakeops.datasets.runner import ProgressListener
from lakeops.hashing import ProgressCallback
from lakeops.lake import Lake
from lakeops.layout import StorageLayer

_default: Lake | None = None
_default_lock = threading.Lock()


def default_lake() -> Lake:
    """The lake the module functions use, resolved from the environment on first use.

    Built once, under a lock, so that threads calling the module functions at once share one
    client and connection pool instead of each building its own.
    """
    global _default  # noqa: PLW0603 - the module functions' one shared lake
    with _default_lock:
        if _default is None:
            _default = Lake()
        return _default


def reset_default_lake() -> None:
    """Forget the default lake, so the next call resolves the environment again."""
    global _default
    with _default_lock:
        old, _default = _default, None
    if old is not None:
        old.close()


def upload_to_layer(
    file_path: str | os.PathLike[str],
    layer: StorageLayer | str,
    object_key: str | None = None,
    metadata: Mapping[str, str] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> str:
    """Upload a local file to a layer; return ``s3://bucket/key``."""
    return default_lake().upload(file_path, layer, object_key, metadata, progress=progress)


def download_from_layer(
    layer: StorageLayer | str,
    object_key: str | None,
    file_path: str | os.PathLike[str],
    *,
    version_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> str:
    """Download an object atomically to ``file_path``; return the local path."""
    return default_lake().download(
        layer, object_key, file_path, version_id=version_id, progress=progress
    )


def list_layer_objects(layer: StorageLayer | str, prefix: str = "") -> list[dict[str, Any]]:
    """All objects of a layer under ``prefix``, as S3 listing entries (Key, Size, ...)."""
    return default_lake().list_objects(layer, prefix)


def iter_layer_objects(layer: StorageLayer | str, prefix: str = "") -> Iterator[dict[str, Any]]:
    """Like :func:`list_layer_objects`, lazily, for prefixes with millions of keys."""
    return default_lake().iter_objects(layer, prefix)


def promote_data(
    object_key: str,
    source_layer: StorageLayer | str | None = None,
    target_layer: StorageLayer | str | None = None,
    target_key: str | None = None,
    *,
    version_id: str | None = None,
) -> str:
    """Copy an object forward (bronze -> silver -> gold) server-side; return the target URI."""
    return default_lake().promote(
        object_key, source_layer, target_layer, target_key, version_id=version_id
    )


def upload_folder(
    local_dir: str | os.PathLike[str],
    layer: StorageLayer | str,
    prefix: str | None = None,
    *,
    include: Sequence[str] | str | None = None,
    exclude: Sequence[str] | str | None = None,
    workers: int | None = None,
    dry_run: bool = False,
    skip_conflicts: bool = False,
    publish: bool = True,
    progress: ProgressListener | None = None,
) -> DatasetResult:
    """Upload a local folder to a layer's prefix as one published dataset (see
    :meth:`Lake.upload_folder`)."""
    return default_lake().upload_folder(
        local_dir,
        layer,
        prefix,
        include=include,
        exclude=exclude,
        workers=workers,
        dry_run=dry_run,
        skip_conflicts=skip_conflicts,
        publish=publish,
        progress=progress,
    )


def download_prefix(
    layer: StorageLayer | str,
    prefix: str | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    *,
    include: Sequence[str] | str | None = None,
    exclude: Sequence[str] | str | None = None,
    workers: int | None = None,
    dry_run: bool = False,
    overwrite: bool = False,
    progress: ProgressListener | None = None,
) -> DatasetResult:
    """Download a prefix (a published dataset through its manifest) to a local folder (see
    :meth:`Lake.download_prefix`)."""
    return default_lake().download_prefix(
        layer,
        prefix,
        local_dir,
        include=include,
        exclude=exclude,
        workers=workers,
        dry_run=dry_run,
        overwrite=overwrite,
        progress=progress,
    )


def promote_prefix(
    source_layer: StorageLayer | str,
    prefix: str | None = None,
    target_layer: StorageLayer | str | None = None,
    target_prefix: str | None = None,
    *,
    include: Sequence[str] | str | None = None,
    exclude: Sequence[str] | str | None = None,
    workers: int | None = None,
    dry_run: bool = False,
    publish: bool = True,
    progress: ProgressListener | None = None,
) -> DatasetResult:
    """Promote a prefix forward, server-side, as one published dataset (see
    :meth:`Lake.promote_prefix`)."""
    return default_lake().promote_prefix(
        source_layer,
        prefix,
        target_layer,
        target_prefix,
        include=include,
        exclude=exclude,
        workers=workers,
        dry_run=dry_run,
        publish=publish,
        progress=progress,
    )
