"""The lake: one configuration, one client, and the operations pipelines use."""

from __future__ import annotations

import mimetypes
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from s3transfer.subscribers import BaseSubscriber

from lakeops.client import WrittenVersions, make_s3_client, make_writes_conditional
from lakeops.config import LakeConfig
from lakeops.errors import ImmutableObjectError, IntegrityError, PromotionDirectionError
from lakeops.hashing import ProgressCallback, announce, sha256_chunks, sha256_file
from lakeops.layout import LAYOUT, StorageLayer, can_promote, is_marker_key
from lakeops.s3errors import Target, error_code, missing_bucket, translate
from lakeops.validation import (
    RESERVED_METADATA_PREFIX,
    check_metadata_size,
    readable_file,
    validate_key,
    validate_metadata,
    validate_prefix,
    writable_target,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.manager import TransferManager

MiB = 1024 * 1024
GiB = 1024 * MiB

META_SHA256 = "lakeops-sha256"
META_SOURCE_URI = "lakeops-source-uri"
META_SOURCE_VERSION_ID = "lakeops-source-version-id"
META_SOURCE_ETAG = "lakeops-source-etag"
META_PROMOTED_AT = "lakeops-promoted-at"

# Room kept in the 2 KiB metadata budget for what lakeops adds: a SHA-256 on upload; on
# promotion the source URI (up to 1024 + 68 bytes), its version id, ETag and a timestamp.
_UPLOAD_METADATA_RESERVE = len(META_SHA256) + 64
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
_COPIED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


@dataclass(frozen=True)
class TransferSettings:
    """Sizes and concurrency for managed transfers; memory is about chunk x concurrency."""

    multipart_threshold: int = 16 * MiB
    multipart_chunksize: int = 16 * MiB
    max_concurrency: int = 8
    # A single CopyObject handles up to 5 GiB; larger objects need UploadPartCopy.
    copy_multipart_threshold: int = 5 * GiB
    copy_chunksize: int = 512 * MiB

    def for_files(self) -> TransferConfig:
        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
        )

    def for_copy(self) -> TransferConfig:
        return TransferConfig(
            multipart_threshold=self.copy_multipart_threshold,
            multipart_chunksize=self.copy_chunksize,
            max_concurrency=self.max_concurrency,
        )


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


class _Progress(BaseSubscriber):
    def __init__(self, callback: ProgressCallback, total: int) -> None:
        self._callback = callback
        self._total = total

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        announce(self._callback, self._total)

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        self._callback(bytes_transferred)


class _KnownObject(BaseSubscriber):
    """Hands s3transfer the size and ETag from our own HEAD, so it need not send another."""

    def __init__(self, size: int, etag: str | None) -> None:
        self._size = size
        self._etag = etag

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self._size)
        if self._etag:
            future.meta.provide_object_etag(self._etag)


def _version(head: Mapping[str, Any]) -> str | None:
    version = head.get("VersionId")
    return None if version in (None, "null") else str(version)


class Lake:
    """A lake reached through one configuration and one S3 client.

    ``Lake()`` resolves its configuration like the module functions do; pass a
    :class:`LakeConfig`, or keyword overrides for :meth:`LakeConfig.resolve`, to choose.
    """

    def __init__(
        self,
        config: LakeConfig | None = None,
        *,
        transfer: TransferSettings | None = None,
        **overrides: Any,
    ) -> None:
        if config is not None and overrides:
            raise TypeError("pass either a LakeConfig or keyword overrides, not both")
        self.config = config if config is not None else LakeConfig.resolve(**overrides)
        self.transfer = transfer or TransferSettings()
        self.client: S3Client = make_s3_client(self.config)
        self._written = WrittenVersions(self.client)
        for layer, spec in LAYOUT.items():
            if spec.append_only:
                make_writes_conditional(self.client, self.config.bucket(layer))

    def __repr__(self) -> str:
        return f"Lake({self.config!r})"

    def uri(self, layer: StorageLayer | str, key: str) -> str:
        return f"s3://{self.config.bucket(layer)}/{key}"

    def _target(
        self,
        action: str,
        layer: StorageLayer,
        key: str | None = None,
        version_id: str | None = None,
    ) -> Target:
        return Target(
            action=action,
            endpoint=self.config.endpoint_label,
            backend=self.config.backend,
            layer=layer,
            bucket=self.config.bucket(layer),
            key=key,
            version_id=version_id,
        )

    @contextmanager
    def _transfers(self, config: TransferConfig) -> Iterator[TransferManager]:
        manager = create_transfer_manager(self.client, config)
        with manager:
            yield manager

    # -- reading metadata -------------------------------------------------------------------

    def stat(
        self, layer: StorageLayer | str, object_key: str, *, version_id: str | None = None
    ) -> dict[str, Any]:
        """The object's HEAD response: size, ETag, version, content type and metadata."""
        layer = StorageLayer.parse(layer)
        key = validate_key(object_key)
        return self._head(self._target("read", layer, key, version_id))

    def _head(self, target: Target) -> dict[str, Any]:
        assert target.bucket is not None and target.key is not None
        args: dict[str, Any] = {"Bucket": target.bucket, "Key": target.key}
        if target.version_id:
            args["VersionId"] = target.version_id
        try:
            return dict(self.client.head_object(**args))
        except botocore.exceptions.ClientError as exc:
            # A HEAD has no body, so a 404 does not say whether the bucket or the key is missing.
            if error_code(exc) in ("404", "NoSuchKey", "NotFound") and not self._bucket_exists(
                target.bucket
            ):
                raise missing_bucket(target) from exc
            raise translate(exc, target) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, target) from exc

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self.client.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            return error_code(exc) not in ("404", "NoSuchBucket", "NotFound")
        return True

    # -- upload -------------------------------------------------------------------------------

    def upload(
        self,
        file_path: str | os.PathLike[str],
        layer: StorageLayer | str,
        object_key: str,
        metadata: Mapping[str, str] | None = None,
        *,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
        hash_progress: ProgressCallback | None = None,
    ) -> str:
        """Upload a local file and return its ``s3://bucket/key`` URI."""
        return self.put_file(
            file_path,
            layer,
            object_key,
            metadata,
            content_type=content_type,
            progress=progress,
            hash_progress=hash_progress,
        ).uri

    def put_file(
        self,
        file_path: str | os.PathLike[str],
        layer: StorageLayer | str,
        object_key: str,
        metadata: Mapping[str, str] | None = None,
        *,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
        hash_progress: ProgressCallback | None = None,
    ) -> UploadResult:
        """Upload a local file; like :meth:`upload`, with the details of what happened.

        On bronze the write is conditional: an existing key is never replaced. Uploading the
        same content again succeeds with ``created=False``; different content raises
        :class:`ImmutableObjectError` and leaves the stored object as it was.
        """
        layer = StorageLayer.parse(layer)
        key = validate_key(object_key)
        user_metadata = validate_metadata(metadata)
        check_metadata_size(user_metadata, reserve=_UPLOAD_METADATA_RESERVE)
        path = readable_file(file_path)
        target = self._target("upload to", layer, key)

        size = path.stat().st_size
        digest = sha256_file(path, hash_progress)
        extra_args = {
            "Metadata": {**user_metadata, META_SHA256: digest},
            "ContentType": content_type
            or mimetypes.guess_type(path.name)[0]
            or "application/octet-stream",
            "ChecksumAlgorithm": "CRC32",
        }
        subscribers = [_Progress(progress, size)] if progress else []
        try:
            with self._transfers(self.transfer.for_files()) as manager:
                manager.upload(
                    str(path),
                    self.config.bucket(layer),
                    key,
                    extra_args=extra_args,
                    subscribers=subscribers,
                ).result()
        except botocore.exceptions.ClientError as exc:
            if LAYOUT[layer].append_only and error_code(exc) in _CONFLICT_CODES:
                return self._existing_bronze_object(target, path, size, digest)
            raise translate(exc, target) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, target) from exc
        version = self._written.take(self.config.bucket(layer), key)
        return UploadResult(self.uri(layer, key), layer, key, size, digest, version, True)

    def _existing_bronze_object(
        self, target: Target, path: Path, size: int, digest: str
    ) -> UploadResult:
        """The conditional write found the key taken: succeed only if the content is the same."""
        assert target.layer is not None and target.key is not None
        head = self._head(replace(target, action="compare with the existing object"))
        stored = head.get("Metadata", {}).get(META_SHA256)
        if stored is None and head.get("ContentLength") == size:
            # Written by another tool, without our checksum: compare the bytes themselves.
            stored = self._remote_sha256(target, _version(head))
        uri = self.uri(target.layer, target.key)
        if stored != digest:
            raise ImmutableObjectError(
                f"{target.layer} {uri} already exists with different content "
                f"(stored sha256 {str(stored or 'unknown')[:12]}..., local file {str(path)!r} "
                f"sha256 {digest[:12]}...). Bronze is append-only; the stored object is unchanged.",
                hint="Write the new data under a new key, for example with the extraction date "
                "or a version in its path.",
            )
        return UploadResult(uri, target.layer, target.key, size, digest, _version(head), False)

    def _remote_sha256(self, target: Target, version_id: str | None) -> str:
        args: dict[str, Any] = {"Bucket": target.bucket, "Key": target.key}
        if version_id:
            args["VersionId"] = version_id
        try:
            body = self.client.get_object(**args)["Body"]
            return sha256_chunks(body.iter_chunks(1024 * 1024))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise translate(exc, target) from exc

    # -- download -----------------------------------------------------------------------------

    def download(
        self,
        layer: StorageLayer | str,
        object_key: str,
        file_path: str | os.PathLike[str],
        *,
        version_id: str | None = None,
        progress: ProgressCallback | None = None,
        hash_progress: ProgressCallback | None = None,
    ) -> str:
        """Download an object to ``file_path`` atomically and return the path."""
        self.get_file(
            layer,
            object_key,
            file_path,
            version_id=version_id,
            progress=progress,
            hash_progress=hash_progress,
        )
        return str(file_path)

    def get_file(
        self,
        layer: StorageLayer | str,
        object_key: str,
        file_path: str | os.PathLike[str],
        *,
        version_id: str | None = None,
        progress: ProgressCallback | None = None,
        hash_progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        """Download like :meth:`download`, returning the details.

        The bytes go to a temporary file beside the target, are checked against the SHA-256
        recorded at upload when there is one, and only then renamed over the target. A failed
        or interrupted download leaves the target as it was.
        """
        layer = StorageLayer.parse(layer)
        key = validate_key(object_key)
        path = writable_target(file_path)
        target = self._target("download", layer, key, version_id)
        head = self._head(target)
        pinned = version_id or _version(head)
        extra_args = {"VersionId": pinned} if pinned else {}
        size = int(head["ContentLength"])
        subscribers: list[BaseSubscriber] = [_KnownObject(size, head.get("ETag"))]
        if progress:
            subscribers.append(_Progress(progress, size))

        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.lakeops-partial")
        try:
            with self._transfers(self.transfer.for_files()) as manager:
                manager.download(
                    self.config.bucket(layer),
                    key,
                    str(partial),
                    extra_args=extra_args,
                    subscribers=subscribers,
                ).result()
            expected = head.get("Metadata", {}).get(META_SHA256)
            if expected is not None:
                actual = sha256_file(partial, hash_progress)
                if actual != expected:
                    raise IntegrityError(
                        f"downloaded {target.where} does not match the sha256 recorded at upload "
                        f"({actual[:12]}... instead of {expected[:12]}...); "
                        f"{str(path)!r} was not written.",
                        hint="Retry the download; if it persists, the stored object is damaged.",
                    )
            partial.replace(path)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise translate(exc, target) from exc
        finally:
            partial.unlink(missing_ok=True)
        return DownloadResult(path, self.uri(layer, key), size, pinned, expected is not None)

    # -- listing ------------------------------------------------------------------------------

    def iter_objects(
        self,
        layer: StorageLayer | str,
        prefix: str = "",
        *,
        include_markers: bool = False,
        page_size: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """Yield the layer's objects under ``prefix`` lazily, one page of keys at a time.

        Each item is S3's own listing entry (``Key``, ``Size``, ``LastModified``, ``ETag``,
        ...). The layout's prefix markers are left out unless ``include_markers``.
        """
        layer = StorageLayer.parse(layer)
        prefix = validate_prefix(prefix)
        target = self._target("list", layer, prefix or None)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.config.bucket(layer),
            Prefix=prefix,
            PaginationConfig={"PageSize": page_size},
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    if include_markers or not is_marker_key(layer, item["Key"]):
                        yield dict(item)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise translate(exc, target) from exc

    def list_objects(
        self, layer: StorageLayer | str, prefix: str = "", *, include_markers: bool = False
    ) -> list[dict[str, Any]]:
        return list(self.iter_objects(layer, prefix, include_markers=include_markers))

    # -- promotion ----------------------------------------------------------------------------

    def promote(
        self,
        object_key: str,
        source_layer: StorageLayer | str,
        target_layer: StorageLayer | str,
        target_key: str | None = None,
        *,
        version_id: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Copy an object forward to another layer, server-side; return the target URI."""
        return self.promote_object(
            object_key,
            source_layer,
            target_layer,
            target_key,
            version_id=version_id,
            progress=progress,
        ).uri

    def promote_object(
        self,
        object_key: str,
        source_layer: StorageLayer | str,
        target_layer: StorageLayer | str,
        target_key: str | None = None,
        *,
        version_id: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> PromotionResult:
        """Promote like :meth:`promote`, returning the details.

        The bytes never pass through this machine: objects up to the copy threshold (5 GiB)
        use one CopyObject, larger ones a managed multipart copy. The target keeps the
        source's content type and user metadata and gains lineage metadata.
        """
        source = StorageLayer.parse(source_layer)
        destination = StorageLayer.parse(target_layer)
        if not can_promote(source, destination):
            raise PromotionDirectionError(
                f"cannot promote from {source} to {destination}: promotion only moves forward "
                "(bronze -> silver -> gold, or bronze -> gold).",
                hint="Promote from an earlier layer, or upload to the target layer directly.",
            )
        key = validate_key(object_key)
        new_key = validate_key(target_key if target_key is not None else key, what="target key")
        source_target = self._target("promote", source, key, version_id)
        head = self._head(source_target)
        source_version = version_id or _version(head)
        source_uri = self.uri(source, key)
        metadata = {
            name: value
            for name, value in head.get("Metadata", {}).items()
            if name == META_SHA256 or not name.startswith(RESERVED_METADATA_PREFIX)
        }
        metadata.update(
            {
                META_SOURCE_URI: source_uri,
                META_SOURCE_VERSION_ID: source_version or "null",
                META_SOURCE_ETAG: str(head.get("ETag", "")).strip('"'),
                META_PROMOTED_AT: datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        check_metadata_size(metadata)
        extra_args: dict[str, Any] = {
            "MetadataDirective": "REPLACE",
            "Metadata": metadata,
            "ContentType": head.get("ContentType", "application/octet-stream"),
            **{name: head[name] for name in _COPIED_HEADERS if head.get(name)},
        }
        if head.get("ETag"):
            extra_args["CopySourceIfMatch"] = head["ETag"]
        copy_source: dict[str, Any] = {"Bucket": self.config.bucket(source), "Key": key}
        if source_version:
            copy_source["VersionId"] = source_version
        size = int(head["ContentLength"])
        subscribers: list[BaseSubscriber] = [_KnownObject(size, head.get("ETag"))]
        if progress:
            subscribers.append(_Progress(progress, size))
        destination_target = self._target("promote to", destination, new_key)
        try:
            with self._transfers(self.transfer.for_copy()) as manager:
                manager.copy(
                    copy_source,
                    self.config.bucket(destination),
                    new_key,
                    extra_args=extra_args,
                    subscribers=subscribers,
                ).result()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise translate(exc, destination_target) from exc
        return PromotionResult(
            uri=self.uri(destination, new_key),
            source_uri=source_uri,
            source_version_id=source_version,
            source_etag=metadata[META_SOURCE_ETAG],
            size=size,
            multipart=size >= self.transfer.copy_multipart_threshold,
        )
