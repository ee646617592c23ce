"""What the detailed operations of a Lake return."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lakeops.layout import StorageLayer


@dataclass(frozen=True)
class UploadResult:
    uri: str
    layer: StorageLayer
    key: str
    size: int
    sha256: str
    version_id: str | None
    # False when a bronze object with identical content was already there.
    created: bool
    # The stored object's ETag and content type, when known.
    etag: str | None = None
    content_type: str | None = None
    # Silver and gold: True when an object was there and this upload replaced it; its
    # version then (None on an unversioned bucket). Known only when asked to look first.
    replaced: bool = False
    replaced_version_id: str | None = None


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    uri: str
    size: int
    version_id: str | None
    # True when the bytes were checked against the SHA-256 recorded at upload, or against
    # the manifest of the published dataset the key belongs to.
    verified: bool
    # The manifest the bytes were checked against, when the key belongs to a published
    # dataset.
    published_in: str | None = None


@dataclass(frozen=True)
class PromotionResult:
    uri: str
    source_uri: str
    source_version_id: str | None
    source_etag: str
    size: int
    multipart: bool
    # The target's new version, when the server says (Ceph RGW's CopyObject does not).
    version_id: str | None = None
    etag: str | None = None
    replaced: bool = False
    replaced_version_id: str | None = None


@dataclass(frozen=True)
class PlannedWrite:
    """What a single-object upload, download or promotion would do (``--dry-run``): nothing
    was written."""

    operation: str  # upload | download | promote
    source: str
    target: str
    size: int
    # create | replace | identical (bronze: the same content is there already) | download
    action: str
    replaced_version_id: str | None = None
    # download: whether the bytes would be checked against a recorded SHA-256
    verified: bool | None = None
    dry_run: bool = True


@dataclass(frozen=True)
class Lineage:
    """Where a promoted object came from (its lakeops-source-* metadata, decoded)."""

    source_uri: str
    source_version_id: str | None
    source_etag: str | None
    promoted_at: str | None


@dataclass(frozen=True)
class ObjectInfo:
    """One object version as lakeops sees it: what ``lakeops stat`` shows."""

    uri: str
    layer: StorageLayer
    key: str
    size: int
    etag: str
    version_id: str | None
    last_modified: datetime | None
    content_type: str | None
    # The SHA-256 lakeops recorded at upload; None for objects other tools wrote.
    sha256: str | None
    # Caller metadata, without lakeops' own names.
    metadata: dict[str, str]
    lineage: Lineage | None
    storage_class: str | None = None
    head: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
