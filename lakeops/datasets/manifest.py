"""A dataset's manifest: the commit that publishes it.

When every object of a dataset has been written and verified, lakeops writes one manifest
object beside it (``<prefix>_lakeops_manifest.json``) listing each object's key, size, SHA-256,
ETag and version id, the source it came from, and when it was written; then a ``_SUCCESS``
marker, which Spark, Hive-style readers and Airflow sensors already wait for. Names that begin
with '_' are skipped by Spark, Hive and PyArrow datasets.

The manifest is written with ``If-None-Match: *``: the first publish of a dataset wins, and a
published dataset never changes under its readers. A reader that goes through the manifest
(``Lake.dataset_files``, ``download --recursive``) sees all of the dataset, at the versions
published, or, before it exists, none of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from lakeops._version import __version__
from lakeops.errors import ConfigurationError, DatasetPublishedError, StorageError
from lakeops.layout import StorageLayer
from lakeops.ops.conditional import conditional_writes_enforced
from lakeops.ops.context import S3_FAILURES
from lakeops.s3errors import (
    CONFLICT_CODES,
    NOT_FOUND_CODES,
    error_code,
    normalize_version,
    translate,
)
from lakeops.validation import MANIFEST_NAME, RESERVED_KEY_NAMES, SUCCESS_NAME

if TYPE_CHECKING:
    from lakeops.ops.context import Context

RESERVED_NAMES = RESERVED_KEY_NAMES
FORMAT = "lakeops.manifest/1"


@dataclass(frozen=True, slots=True)
class SourceRef:
    key: str
    version_id: str | None
    etag: str


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    key: str  # relative to the dataset's prefix
    size: int
    sha256: str | None
    etag: str
    version_id: str | None
    content_type: str | None = None
    # Everything a later promotion needs to copy the object without a HEAD: its metadata
    # (the recorded sha256 included) and headers such as Cache-Control.
    metadata: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    source: SourceRef | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "key": self.key,
            "size": self.size,
            "sha256": self.sha256,
            "etag": self.etag,
            "version_id": self.version_id,
            "content_type": self.content_type,
        }
        if self.metadata:
            document["metadata"] = dict(self.metadata)
        if self.headers:
            document["headers"] = dict(self.headers)
        if self.source is not None:
            document["source"] = {
                "key": self.source.key,
                "version_id": self.source.version_id,
                "etag": self.source.etag,
            }
        return document

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> ManifestEntry:
        source = item.get("source")
        return cls(
            key=str(item["key"]),
            size=int(item["size"]),
            sha256=item.get("sha256"),
            etag=str(item.get("etag") or ""),
            version_id=item.get("version_id"),
            content_type=item.get("content_type"),
            metadata=dict(item.get("metadata") or {}),
            headers=dict(item.get("headers") or {}),
            source=SourceRef(str(source["key"]), source.get("version_id"), str(source["etag"]))
            if source
            else None,
        )


@dataclass(frozen=True)
class Manifest:
    dataset: str  # s3://bucket/prefix/
    layer: StorageLayer
    prefix: str
    endpoint: str | None
    operation: str
    written_at: str
    written_by: str
    source: str | None
    source_manifest_version_id: str | None
    entries: tuple[ManifestEntry, ...]
    # The manifest object's own version, once read from or written to the store.
    version_id: str | None = None

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.entries)

    def by_key(self) -> dict[str, ManifestEntry]:
        return {entry.key: entry for entry in self.entries}

    def fingerprint(self) -> frozenset[tuple[str, int, str | None]]:
        """What the dataset holds, whoever wrote it and when: for telling a repeated publish
        of the same data from a different one."""
        return frozenset((e.key, e.size, e.sha256 or e.etag) for e in self.entries)

    def uris(self, bucket: str) -> Iterator[str]:
        for entry in self.entries:
            yield f"s3://{bucket}/{self.prefix}{entry.key}"

    def to_bytes(self) -> bytes:
        document: dict[str, Any] = {
            "format": FORMAT,
            "dataset": self.dataset,
            "layer": self.layer.value,
            "prefix": self.prefix,
            "endpoint": self.endpoint,
            "operation": self.operation,
            "written_at": self.written_at,
            "written_by": self.written_by,
            "source": self.source,
            "source_manifest_version_id": self.source_manifest_version_id,
            "objects": len(self.entries),
            "bytes": self.total_bytes,
        }
        # One line per object: readable, diffable, and a third the size of an indented one.
        lines = ",\n".join(
            json.dumps(entry.to_json(), separators=(",", ":")) for entry in self.entries
        )
        head = json.dumps(document, indent=1)[:-2]
        return f'{head},\n "files": [\n{lines}\n ]\n}}\n'.encode()

    @classmethod
    def parse(cls, data: bytes, *, where: str, version_id: str | None) -> Manifest:
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise ValueError(f"format {document.get('format')!r}")
            return cls(
                dataset=str(document["dataset"]),
                layer=StorageLayer.parse(document["layer"]),
                prefix=str(document["prefix"]),
                endpoint=document.get("endpoint"),
                operation=str(document["operation"]),
                written_at=str(document["written_at"]),
                written_by=str(document["written_by"]),
                source=document.get("source"),
                source_manifest_version_id=document.get("source_manifest_version_id"),
                entries=tuple(ManifestEntry.from_json(item) for item in document["files"]),
                version_id=version_id,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(
                f"the manifest {where} is not a lakeops manifest ({type(exc).__name__}: "
                f"{str(exc)[:80]}).",
                hint="Something else wrote that key; a dataset's manifest is written only by "
                "lakeops when it publishes the dataset.",
            ) from exc


def new_manifest(
    ctx: Context,
    layer: StorageLayer,
    prefix: str,
    *,
    operation: str,
    source: str | None,
    source_manifest_version_id: str | None,
    entries: list[ManifestEntry],
) -> Manifest:
    return Manifest(
        dataset=ctx.uri(layer, prefix),
        layer=layer,
        prefix=prefix,
        endpoint=ctx.config.endpoint_url,
        operation=operation,
        written_at=datetime.now(UTC).isoformat(timespec="seconds"),
        written_by=f"lakeops {__version__}",
        source=source,
        source_manifest_version_id=source_manifest_version_id,
        entries=tuple(sorted(entries, key=lambda e: e.key)),
    )


def manifest_key(prefix: str) -> str:
    return f"{prefix}{MANIFEST_NAME}"


def read_manifest(
    ctx: Context, layer: StorageLayer, prefix: str, *, version_id: str | None = None
) -> Manifest | None:
    """The dataset's manifest, or None when the dataset was never published."""
    key = manifest_key(prefix)
    target = ctx.target("read the manifest", layer, key, version_id)
    try:
        response = ctx.client.get_object(**ctx.object_args(target))
        data = response["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES and error_code(exc) != "NoSuchBucket":
            return None
        raise translate(exc, target) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise translate(exc, target) from exc
    return Manifest.parse(
        data,
        where=ctx.uri(layer, key),
        version_id=normalize_version(response.get("VersionId")),
    )


def publish(ctx: Context, manifest: Manifest) -> tuple[Manifest, bool]:
    """Write the manifest, then ``_SUCCESS``. Returns the manifest as stored and whether this
    call published it (False: an identical one was there already).

    A different manifest already there raises :class:`DatasetPublishedError`.
    """
    key = manifest_key(manifest.prefix)
    target = ctx.target("publish the manifest", manifest.layer, key)
    if conditional_writes_enforced(ctx, manifest.layer) is not True:
        # The server would not refuse a second manifest: look first (racy, but the best left).
        existing = read_manifest(ctx, manifest.layer, manifest.prefix)
        if existing is not None:
            return _same_or_refuse(ctx, manifest, existing), False
    try:
        response = ctx.client.put_object(
            Bucket=ctx.bucket(manifest.layer),
            Key=key,
            Body=manifest.to_bytes(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) not in CONFLICT_CODES:
            raise translate(exc, target) from exc
        existing = read_manifest(ctx, manifest.layer, manifest.prefix)
        if existing is None:
            raise StorageError(
                f"another publish of {manifest.dataset} is under way.",
                hint="Retry when it has finished.",
            ) from exc
        return _same_or_refuse(ctx, manifest, existing), False
    except botocore.exceptions.BotoCoreError as exc:
        raise translate(exc, target) from exc
    written = Manifest(
        **{**manifest.__dict__, "version_id": normalize_version(response.get("VersionId"))}
    )
    _write_success(ctx, manifest.layer, manifest.prefix)
    return written, True


def _write_success(ctx: Context, layer: StorageLayer, prefix: str) -> None:
    target = ctx.target("write the _SUCCESS marker", layer, f"{prefix}{SUCCESS_NAME}")
    try:
        ctx.client.put_object(
            Bucket=ctx.bucket(layer), Key=f"{prefix}{SUCCESS_NAME}", Body=b"", IfNoneMatch="*"
        )
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) not in CONFLICT_CODES:
            raise translate(exc, target) from exc
    except S3_FAILURES as exc:
        raise translate(exc, target) from exc


def _same_or_refuse(ctx: Context, manifest: Manifest, existing: Manifest) -> Manifest:
    if existing.fingerprint() == manifest.fingerprint():
        _write_success(ctx, manifest.layer, manifest.prefix)
        return existing
    raise DatasetPublishedError(
        f"{manifest.dataset} was already published ({existing.written_at}, by "
        f"{existing.written_by}, {len(existing.entries)} objects) with different content; "
        "a published dataset does not change.",
        hint="Publish the new data under a new prefix (a new date or version in its path).",
    )
