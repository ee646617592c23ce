"""What the detailed operations of a Lake return."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    uri: str
    size: int
    version_id: str | None
    # True when the bytes were checked against the SHA-256 recorded at upload.
    verified: bool


@dataclass(frozen=True)
class PromotionResult:
    uri: str
    source_uri: str
    source_version_id: str | None
    source_etag: str
    size: int
    multipart: bool
