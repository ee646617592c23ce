"""The lake: one configuration, one client, and the operations pipelines use."""

from __future__ import annotations

import mimetypes
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions
from boto3.s3.transfer import create_transfer_manager
from botocore.credentials import ReadOnlyCredentials

from lakeops.client import (
    WrittenVersions,
    make_s3_client,
    make_session,
    make_writes_conditional,
)
from lakeops.config import LakeConfig
from lakeops.errors import (
    ImmutableObjectError,
    IntegrityError,
    LocalFileError,
    ObjectNotFoundError,
    PromotionDirectionError,
    StorageError,
)
from lakeops.hashing import ProgressCallback, sha256_chunks, sha256_file
from lakeops.layout import LAYOUT, StorageLayer, can_promote, is_marker_key
from lakeops.metadata import META_SHA256, check_promotable, lineage, upload_reserve
from lakeops.results import DownloadResult, PromotionResult, UploadResult
from lakeops.s3errors import (
    DENIED_CODES,
    NOT_FOUND_CODES,
    Target,
    error_code,
    missing_bucket,
    normalize_version,
    translate,
)
from lakeops.transfers import TransferSettings, subscribers
from lakeops.validation import (
    RESERVED_METADATA_PREFIX,
    download_target,
    make_parent_folders,
    readable_file,
    validate_content_type,
    validate_existing_key,
    validate_key,
    validate_metadata,
    validate_prefix,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_S3_FAILURES = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
_COPIED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


def _file_state(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


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
        self._config = config if config is not None else LakeConfig.resolve(**overrides)
        self.transfer = transfer or TransferSettings()
        self.session = make_session(self._config)
        self.client: S3Client = make_s3_client(self._config, self.session)
        self._written = WrittenVersions(self.client)
        for layer, spec in LAYOUT.items():
            if spec.append_only:
                make_writes_conditional(self.client, self._config.bucket(layer))

    @property
    def config(self) -> LakeConfig:
        # Read-only: the client and its bronze hooks were built for this configuration.
        return self._config

    def __repr__(self) -> str:
        return f"Lake({self._config!r})"

    def credentials(self) -> ReadOnlyCredentials | None:
        """The credentials this lake signs with, frozen now (None when none are found).

        For tools that take keys rather than a boto3 session: readers, other CLIs. Temporary
        credentials (a role, SSO) are valid only until they expire.
        """
        found = self.session.get_credentials()
        return found.get_frozen_credentials() if found is not None else None

    def uri(self, layer: StorageLayer | str, key: str) -> str:
        return f"s3://{self._config.bucket(layer)}/{key}"

    def _target(
        self,
        action: str,
        layer: StorageLayer,
        key: str | None = None,
        version_id: str | None = None,
    ) -> Target:
        return Target(
            action=action,
            endpoint=self._config.endpoint_label,
            backend=self._config.backend,
            layer=layer,
            bucket=self._config.bucket(layer),
            key=key,
            version_id=version_id,
        )

    @staticmethod
    def _object_args(target: Target) -> dict[str, Any]:
        args: dict[str, Any] = {"Bucket": target.bucket, "Key": target.key}
        if target.version_id:
            args["VersionId"] = target.version_id
        return args

    # -- reading metadata -------------------------------------------------------------------

    def stat(
        self, layer: StorageLayer | str, object_key: str, *, version_id: str | None = None
    ) -> dict[str, Any]:
        """The object's HEAD response: size, ETag, version, content type and metadata."""
        layer = StorageLayer.parse(layer)
        key = validate_existing_key(object_key)
        return self._head(self._target("read", layer, key, version_id))

    def _head(self, target: Target) -> dict[str, Any]:
        assert target.bucket is not None
        try:
            return dict(self.client.head_object(**self._object_args(target)))
        except botocore.exceptions.ClientError as exc:
            # A HEAD has no body, so a 404 does not say whether the bucket or the key is missing.
            if error_code(exc) in NOT_FOUND_CODES and not self._bucket_exists(target.bucket):
                raise missing_bucket(target) from exc
            raise translate(exc, target) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, target) from exc

    def _peek(self, target: Target) -> dict[str, Any] | None:
        """The HEAD of an object that may not exist; None when absent or not readable."""
        try:
            return dict(self.client.head_object(**self._object_args(target)))
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES | DENIED_CODES:
                return None
            raise translate(exc, target) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, target) from exc

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self.client.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            return error_code(exc) not in NOT_FOUND_CODES
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
        same content again succeeds with ``created=False`` (without sending it again, when
        the caller may read bronze); different content raises :class:`ImmutableObjectError`
        and leaves the stored object as it was.
        """
        layer = StorageLayer.parse(layer)
        key = validate_key(object_key)
        uri = self.uri(layer, key)
        user_metadata = validate_metadata(metadata, reserve=upload_reserve(uri))
        content_type = validate_content_type(content_type)
        path = readable_file(file_path)
        target = self._target("upload to", layer, key)

        before = _file_state(path)
        digest = self._hash_local(path, hash_progress)
        if _file_state(path) != before:
            raise LocalFileError(
                f"local file {str(path)!r} changed while it was being read; nothing was uploaded.",
                hint="Upload files once they are complete.",
            )
        size = before[0]
        if LAYOUT[layer].append_only:
            existing = self._peek(target)
            if existing is not None:
                return self._same_content_or_refuse(target, existing, path, size, digest)

        extra_args = {
            "Metadata": {**user_metadata, META_SHA256: digest},
            "ContentType": content_type
            or mimetypes.guess_type(path.name)[0]
            or "application/octet-stream",
        }
        bucket = self._config.bucket(layer)
        try:
            with create_transfer_manager(self.client, self.transfer.for_files()) as manager:
                manager.upload(
                    str(path),
                    bucket,
                    key,
                    extra_args=extra_args,
                    subscribers=subscribers(size, progress),
                ).result()
        except botocore.exceptions.ClientError as exc:
            if LAYOUT[layer].append_only and error_code(exc) in _CONFLICT_CODES:
                # Written by someone else since our look: the same rule applies.
                return self._same_content_or_refuse(target, None, path, size, digest)
            raise translate(exc, target) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, target) from exc
        except OSError as exc:
            raise LocalFileError(
                f"reading local file {str(path)!r} failed during the upload: {exc}; "
                f"{uri} was not written.",
                hint="Check the file and the disk, then retry.",
            ) from exc
        finally:
            version = self._written.take(bucket, key, digest)
        if _file_state(path) != before:
            raise LocalFileError(
                f"local file {str(path)!r} changed while it was being uploaded to {uri}; the "
                f"stored object (version {version or 'null'}) may not match its recorded sha256.",
                hint="Upload files once they are complete (on bronze, under a new key).",
            )
        return UploadResult(uri, layer, key, size, digest, version, True)

    @staticmethod
    def _hash_local(path: Path, progress: ProgressCallback | None) -> str:
        try:
            return sha256_file(path, progress)
        except OSError as exc:
            raise LocalFileError(
                f"local file {str(path)!r} cannot be read: {exc}.", hint="Check the file."
            ) from exc

    def _same_content_or_refuse(
        self,
        target: Target,
        head: dict[str, Any] | None,
        path: Path,
        size: int,
        digest: str,
    ) -> UploadResult:
        """A bronze key is taken: succeed only if it holds the same content."""
        assert target.layer is not None and target.key is not None
        uri = self.uri(target.layer, target.key)
        if head is None:
            try:
                head = self._head(replace(target, action="compare with the existing object"))
            except ObjectNotFoundError:
                raise StorageError(
                    f"another upload to {uri} is still in progress.",
                    hint="Retry when it has finished; bronze keeps whichever completes first.",
                ) from None
        stored = head.get("Metadata", {}).get(META_SHA256)
        if stored is None and head.get("ContentLength") == size:
            # Written by another tool, without our checksum: compare the bytes themselves.
            stored = self._remote_sha256(
                replace(target, version_id=normalize_version(head.get("VersionId")))
            )
        if stored != digest:
            raise ImmutableObjectError(
                f"{target.layer} {uri} already exists with different content "
                f"(stored sha256 {str(stored or 'unknown')[:12]}..., local file {str(path)!r} "
                f"sha256 {digest[:12]}...). Bronze is append-only; the stored object is unchanged.",
                hint="Write the new data under a new key, for example with the extraction date "
                "or a version in its path.",
            )
        version = normalize_version(head.get("VersionId"))
        return UploadResult(uri, target.layer, target.key, size, digest, version, False)

    def _remote_sha256(self, target: Target) -> str:
        try:
            body = self.client.get_object(**self._object_args(target))["Body"]
            return sha256_chunks(body.iter_chunks(1024 * 1024))
        except _S3_FAILURES as exc:
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
        key = validate_existing_key(object_key)
        path = download_target(file_path)
        target = self._target("download", layer, key, version_id)
        head = self._head(target)
        pinned = version_id or normalize_version(head.get("VersionId"))
        size = int(head["ContentLength"])
        expected = head.get("Metadata", {}).get(META_SHA256)
        make_parent_folders(path)
        # Short enough for any file system's 255-byte name limit, whatever the target's name.
        partial = path.with_name(f".{path.name[:80]}.{uuid.uuid4().hex[:12]}.lakeops-partial")
        try:
            with create_transfer_manager(self.client, self.transfer.for_files()) as manager:
                manager.download(
                    self._config.bucket(layer),
                    key,
                    str(partial),
                    extra_args={"VersionId": pinned} if pinned else {},
                    subscribers=subscribers(size, progress, etag=head.get("ETag"), known=True),
                ).result()
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
        except _S3_FAILURES as exc:
            raise translate(exc, target) from exc
        except OSError as exc:
            raise LocalFileError(
                f"writing {str(path)!r} failed: {exc}; the target was left as it was.",
                hint="Check the disk space and the folder's permissions.",
            ) from exc
        finally:
            with suppress(OSError):
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
        """The layer's objects under ``prefix``, fetched lazily one page of keys at a time.

        Each item is S3's own listing entry (``Key``, ``Size``, ``LastModified``, ``ETag``,
        ...). The layout's prefix markers are left out unless ``include_markers``. The layer
        and prefix are checked at once; requests start when iteration does.
        """
        layer = StorageLayer.parse(layer)
        prefix = validate_prefix(prefix)
        target = self._target("list", layer, prefix or None)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self._config.bucket(layer),
            Prefix=prefix,
            PaginationConfig={"PageSize": page_size},
        )

        def entries() -> Iterator[dict[str, Any]]:
            try:
                for page in pages:
                    for item in page.get("Contents", []):
                        if include_markers or not is_marker_key(layer, item["Key"]):
                            yield dict(item)
            except _S3_FAILURES as exc:
                raise translate(exc, target) from exc

        return entries()

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
        key = validate_existing_key(object_key)
        new_key = validate_key(target_key if target_key is not None else key, what="target key")
        source_target = self._target("promote", source, key, version_id)
        head = self._head(source_target)
        source_version = version_id or normalize_version(head.get("VersionId"))
        source_uri = self.uri(source, key)
        carried = {
            name: value
            for name, value in head.get("Metadata", {}).items()
            if name == META_SHA256 or not name.startswith(RESERVED_METADATA_PREFIX)
        }
        check_promotable(source_uri, carried)
        metadata = {**carried, **lineage(source_uri, source_version, str(head.get("ETag", "")))}
        extra_args: dict[str, Any] = {
            "MetadataDirective": "REPLACE",
            "Metadata": metadata,
            "ContentType": head.get("ContentType", "application/octet-stream"),
            **{name: head[name] for name in _COPIED_HEADERS if head.get(name)},
        }
        if head.get("ETag"):
            extra_args["CopySourceIfMatch"] = head["ETag"]
        copy_source = self._object_args(replace(source_target, version_id=source_version))
        size = int(head["ContentLength"])
        destination_target = self._target("promote to", destination, new_key)
        try:
            with create_transfer_manager(self.client, self.transfer.for_copy()) as manager:
                manager.copy(
                    copy_source,
                    self._config.bucket(destination),
                    new_key,
                    extra_args=extra_args,
                    subscribers=subscribers(size, progress, etag=head.get("ETag"), known=True),
                ).result()
        except _S3_FAILURES as exc:
            raise translate(exc, destination_target) from exc
        return PromotionResult(
            uri=self.uri(destination, new_key),
            source_uri=source_uri,
            source_version_id=source_version,
            source_etag=str(head.get("ETag", "")).strip('"'),
            size=size,
            multipart=size >= self.transfer.copy_multipart_threshold,
        )
