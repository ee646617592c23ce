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
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from lakeops._version import __version__
from lakeops.errors import (
    DatasetPublishedError,
    InvalidKeyError,
    InvalidManifestError,
    InvalidMetadataError,
    LakeOpsError,
    StorageError,
)
from lakeops.layout import StorageLayer
from lakeops.metadata import META_SHA256
from lakeops.ops.conditional import conditional_writes_enforced
from lakeops.ops.context import S3_FAILURES
from lakeops.ops.promote import COPIED_HEADERS
from lakeops.redaction import quoted
from lakeops.s3errors import (
    CONFLICT_CODES,
    NOT_FOUND_CODES,
    error_code,
    normalize_version,
    translate,
)
from lakeops.validation import (
    MANIFEST_NAME,
    RESERVED_KEY_NAMES,
    SUCCESS_NAME,
    validate_content_type,
    validate_key,
)

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
    def from_json(cls, item: object) -> ManifestEntry:
        """An entry as lakeops writes them, or ValueError saying what lakeops would never
        write: the manifest is read from the store, where others may write too."""
        if not isinstance(item, Mapping):
            raise ValueError(f"is a {type(item).__name__}, not an object")
        try:
            key = validate_key(item.get("key"), what="its key")
        except InvalidKeyError as exc:
            raise ValueError(exc.message.rstrip(".")) from None
        source = item.get("source")
        if source is not None and not isinstance(source, Mapping):
            raise ValueError("has a source that is not an object")
        entry = cls(
            key=key,
            size=_size(item.get("size")),
            sha256=_sha256(item.get("sha256")),
            etag=_text(item.get("etag") or "", "etag"),
            version_id=_optional_text(item.get("version_id"), "version_id"),
            content_type=_content_type(item.get("content_type")),
            metadata=_metadata(item.get("metadata") or {}),
            headers=_headers(item.get("headers") or {}),
            source=SourceRef(
                _text(source.get("key"), "source key"),
                _optional_text(source.get("version_id"), "source version_id"),
                _text(source.get("etag") or "", "source etag"),
            )
            if source
            else None,
        )
        recorded = entry.metadata.get(META_SHA256)
        if recorded is not None and entry.sha256 is not None and recorded != entry.sha256:
            raise ValueError(f"records two SHA-256s ({entry.sha256[:12]}..., {recorded[:12]}...)")
        return entry


# What a manifest may say of an object, and nothing more. It is read from the store, where
# others may write too, and it steers a promotion's writes: only the headers a promotion copies
# (lakeops.ops.promote.COPIED_HEADERS), with values that are one header line each.
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# An HTTP token (RFC 9110 tchar), as S3 stores metadata names: lower-cased.
_METADATA_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]{0,2048}$")
MAX_OBJECT_BYTES = 5 * 1024**4  # S3's largest object


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"has a {what} that is not a string ({quoted(value, 40)})")
    return value


def _optional_text(value: object, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_OBJECT_BYTES:
        raise ValueError(f"has size {quoted(value, 40)}, not a whole number of bytes up to 5 TiB")
    return value


def _sha256(value: object) -> str | None:
    if value is not None and not (isinstance(value, str) and _SHA256.match(value)):
        raise ValueError(f"has sha256 {quoted(value, 80)}, not 64 lower-case hex digits")
    return value


def _content_type(value: object) -> str | None:
    try:
        return validate_content_type(value)  # type: ignore[arg-type]
    except InvalidMetadataError as exc:
        raise ValueError(f"has a {exc.message.rstrip('.')}") from None


def _header_value(value: object) -> bool:
    return isinstance(value, str) and _HEADER_VALUE.match(value) is not None


def _metadata(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError("has metadata that is not an object")
    for name, text in value.items():
        if not (isinstance(name, str) and _METADATA_NAME.match(name)) or not _header_value(text):
            raise ValueError(
                f"has metadata {quoted(name, 60)}: {quoted(text, 60)}, which is not a metadata "
                "name and a one-line ASCII value"
            )
    return dict(value)


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError("has headers that are not an object")
    for name, text in value.items():
        if name not in COPIED_HEADERS:
            raise ValueError(
                f"has header {quoted(name, 60)}, which a promotion never copies (only "
                f"{', '.join(COPIED_HEADERS)})"
            )
        if not _header_value(text):
            raise ValueError(f"has header {name} {quoted(text, 60)}, not a one-line ASCII value")
    return dict(value)


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
    def parse(
        cls,
        data: bytes,
        *,
        where: str,
        version_id: str | None,
        layer: StorageLayer | None = None,
        prefix: str | None = None,
    ) -> Manifest:
        """The manifest in ``data``, read at ``where``; one of another dataset (another
        ``layer`` or ``prefix`` than the one it was read at) is refused, or its entries would
        name that dataset's objects."""
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise ValueError(f"format {document.get('format')!r}")
            manifest = cls(
                dataset=str(document["dataset"]),
                layer=StorageLayer.parse(document["layer"]),
                prefix=str(document["prefix"]),
                endpoint=document.get("endpoint"),
                operation=str(document["operation"]),
                written_at=str(document["written_at"]),
                written_by=str(document["written_by"]),
                source=document.get("source"),
                source_manifest_version_id=document.get("source_manifest_version_id"),
                entries=(),
                version_id=version_id,
            )
            files = document["files"]
            if not isinstance(files, list):
                raise TypeError("files is not a list")
        except (ValueError, KeyError, TypeError, AttributeError, LakeOpsError) as exc:
            raise InvalidManifestError(
                f"the manifest {where} is not a lakeops manifest ({type(exc).__name__}: "
                f"{str(exc)[:80]}).",
                hint="Something else wrote that key; a dataset's manifest is written only by "
                "lakeops when it publishes the dataset.",
            ) from exc
        if (layer is not None and manifest.layer is not layer) or (
            prefix is not None and manifest.prefix != prefix
        ):
            raise InvalidManifestError(
                f"the manifest {where} is that of another dataset ({manifest.layer} "
                f"{quoted(manifest.prefix)}); it was copied there, so nothing was read from it.",
                hint="Restore this dataset's own manifest (an earlier version of the key), or "
                "publish the data again under a new prefix.",
            )
        return replace(manifest, entries=_entries(files, where))


def _entries(files: list[object], where: str) -> tuple[ManifestEntry, ...]:
    entries: list[ManifestEntry] = []
    seen: set[str] = set()
    for index, item in enumerate(files):
        try:
            entry = ManifestEntry.from_json(item)
            if entry.key in seen:
                raise ValueError("is listed twice")
        except ValueError as exc:
            named = item.get("key") if isinstance(item, Mapping) else None
            which = quoted(named) if isinstance(named, str) else f"number {index + 1}"
            raise InvalidManifestError(
                f"the manifest {where} lists an object lakeops would never write: entry "
                f"{which} {exc}; nothing was read or written.",
                hint="Something other than lakeops changed the manifest: restore its earlier "
                "version, or publish the data again under a new prefix.",
            ) from None
        seen.add(entry.key)
        entries.append(entry)
    return tuple(entries)


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
        layer=layer,
        prefix=prefix,
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
