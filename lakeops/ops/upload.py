"""Uploading one local file to a layer.

Small files go in one PutObject; files from the multipart threshold up are s3transfer's
managed multipart uploads. On bronze every write carries ``If-None-Match: *`` (see
lakeops.client.make_writes_conditional), so that the server refuses atomically to replace a key.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from lakeops.errors import ImmutableObjectError, LocalFileError, ObjectNotFoundError, StorageError
from lakeops.hashing import (
    CallbackError,
    Digests,
    ProgressCallback,
    announce,
    digest_bytes,
    digest_file,
    finish,
    guarded,
    raising_callback_errors,
    sha256_chunks,
)
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.metadata import META_SHA256, upload_reserve
from lakeops.ops.conditional import conditional_writes_enforced
from lakeops.ops.context import S3_FAILURES, TRANSFER_FAILURES
from lakeops.ops.history import what_is_there
from lakeops.redaction import quoted
from lakeops.results import UploadResult
from lakeops.s3errors import CONFLICT_CODES, Target, error_code, normalize_version, translate
from lakeops.transfers import subscribers
from lakeops.validation import (
    optional_callback,
    optional_text,
    readable_file,
    validate_content_type,
    validate_metadata,
    validate_write_key,
)

if TYPE_CHECKING:
    from lakeops.crt import CrtTransport
    from lakeops.ops.context import Context


# Files up to this size are read into memory once (hashed, then sent), instead of twice.
IN_MEMORY_BYTES = 4 * 1024 * 1024


def file_state(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


# Data formats mimetypes does not know, by the types their projects registered.
_DATA_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".avro": "application/avro",
    ".orc": "application/vnd.apache.orc",
    ".jsonl": "application/jsonl",
    ".ndjson": "application/x-ndjson",
}


def guess_content_type(path: Path) -> str:
    known = _DATA_TYPES.get(path.suffix.lower())
    return known or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@dataclass(frozen=True)
class CheckedUpload:
    """An upload's arguments, checked as the upload checks them before its first request."""

    layer: StorageLayer
    key: str
    uri: str
    metadata: dict[str, str]
    content_type: str | None
    progress: ProgressCallback | None
    hash_progress: ProgressCallback | None
    path: Path
    target: Target


def check_upload(
    ctx: Context,
    file_path: object,
    layer: StorageLayer | str,
    object_key: str,
    metadata: object = None,
    *,
    content_type: str | None = None,
    progress: ProgressCallback | None = None,
    hash_progress: ProgressCallback | None = None,
) -> CheckedUpload:
    """The checks :func:`put_file` makes before its first request (the layer, the key, the
    metadata, the content type, the callbacks, the local file), in its order; ``--dry-run``
    makes the same, so that the preview cannot drift from the upload."""
    layer = StorageLayer.parse(layer)
    key = validate_write_key(layer, object_key)
    uri = ctx.uri(layer, key)
    user_metadata = validate_metadata(metadata, reserve=upload_reserve(uri))  # type: ignore[arg-type]
    return CheckedUpload(
        layer=layer,
        key=key,
        uri=uri,
        metadata=user_metadata,
        content_type=validate_content_type(optional_text(content_type, "content type")),
        progress=guarded(optional_callback(progress)),  # type: ignore[arg-type]
        hash_progress=guarded(optional_callback(hash_progress, "hash_progress")),  # type: ignore[arg-type]
        path=readable_file(file_path),
        target=ctx.target("upload to", layer, key),
    )


@raising_callback_errors
def put_file(
    ctx: Context,
    file_path: object,
    layer: StorageLayer | str,
    object_key: str,
    metadata: object = None,
    *,
    content_type: str | None = None,
    progress: ProgressCallback | None = None,
    hash_progress: ProgressCallback | None = None,
    known_absent: bool = False,
    fast: bool = False,
    report_replaced: bool = False,
) -> UploadResult:
    """Upload a file; see :meth:`lakeops.Lake.put_file`.

    ``known_absent`` says a listing made just before found no object at the key (a dataset
    plan), so bronze need not look before writing; the conditional write still guards it.
    ``fast`` sends a small file's single PUT on the CRT transport when there is one.
    ``report_replaced`` looks first on silver and gold (one HEAD) to say which version the
    upload replaces.
    """
    checked = check_upload(
        ctx,
        file_path,
        layer,
        object_key,
        metadata,
        content_type=content_type,
        progress=progress,
        hash_progress=hash_progress,
    )
    layer, key, uri = checked.layer, checked.key, checked.uri
    path, target = checked.path, checked.target
    user_metadata, content_type = checked.metadata, checked.content_type
    progress, hash_progress = checked.progress, checked.hash_progress

    before = file_state(path)
    size = before[0]
    # A small file is read once: hashed and sent from memory (at most workers x this much).
    body = _read(path) if size <= IN_MEMORY_BYTES else None
    digests = (
        digest_bytes(body, hash_progress) if body is not None else _digest(path, hash_progress)
    )
    if file_state(path) != before:
        raise LocalFileError(
            f"local file {quoted(str(path))} changed while it was being read; nothing was "
            "uploaded.",
            hint="Upload files once they are complete.",
        )
    append_only = LAYOUT[layer].append_only
    if append_only and not _needs_no_look(ctx, layer, size, known_absent=known_absent):
        existing = ctx.peek(target, fast=fast)
        if existing is not None:
            return same_content_or_refuse(
                ctx, target=target, head=existing, path=path, size=size, digests=digests
            )

    replaced, replaced_version = (
        what_is_there(ctx, target) if report_replaced and not append_only else (False, None)
    )
    content_type = content_type or guess_content_type(path)
    extra_args: dict[str, Any] = {
        "Metadata": {**user_metadata, META_SHA256: digests.sha256},
        "ContentType": content_type,
    }
    bucket = ctx.bucket(layer)
    try:
        version, etag = _send(
            ctx,
            path=path,
            body=body,
            bucket=bucket,
            key=key,
            extra_args=extra_args,
            size=size,
            digests=digests,
            conditional=append_only,
            progress=progress,
            fast=fast,
        )
    except botocore.exceptions.ClientError as exc:
        if append_only and error_code(exc) in CONFLICT_CODES:
            # Taken since we looked (or we did not look): the same rule applies.
            return same_content_or_refuse(
                ctx, target=target, head=None, path=path, size=size, digests=digests
            )
        raise translate(exc, target) from exc
    except TRANSFER_FAILURES as exc:
        raise translate(exc, target) from exc
    except OSError as exc:
        raise LocalFileError(
            f"reading local file {quoted(str(path))} failed during the upload: {exc}; "
            f"{uri} was not written.",
            hint="Check the file and the disk, then retry.",
        ) from exc
    except CallbackError:
        raise
    except Exception as exc:  # s3transfer raises whatever broke inside it (a KeyError, say)
        raise translate(exc, target) from exc
    if body is None and file_state(path) != before:
        raise LocalFileError(
            f"local file {quoted(str(path))} changed while it was being uploaded to {uri}; the "
            f"stored object (version {version or 'null'}) may not match its recorded sha256.",
            hint="Upload files once they are complete (on bronze, under a new key).",
        )
    return UploadResult(
        uri,
        layer,
        key,
        size,
        digests.sha256,
        version,
        True,
        etag=etag,
        content_type=content_type,
        replaced=replaced,
        replaced_version_id=replaced_version,
    )


def _send(
    ctx: Context,
    *,
    path: Path,
    body: bytes | None,
    bucket: str,
    key: str,
    extra_args: dict[str, Any],
    size: int,
    digests: Digests,
    conditional: bool,
    progress: ProgressCallback | None,
    fast: bool,
) -> tuple[str | None, str | None]:
    """Send the object the cheapest way its size allows: one CRT request, one boto3 PUT, or
    a multipart upload."""
    transport = ctx.fast() if fast and body is not None else None
    if transport is not None and body is not None:
        return _put_crt(
            transport,
            bucket=bucket,
            key=key,
            body=body,
            extra_args=extra_args,
            digests=digests,
            conditional=conditional,
            progress=progress,
        )
    if size < ctx.transfer.multipart_threshold:
        return _put_single(
            ctx,
            body=body if body is not None else path,
            bucket=bucket,
            key=key,
            extra_args=extra_args,
            size=size,
            progress=progress,
        )
    return _put_multipart(
        ctx,
        path=path,
        bucket=bucket,
        key=key,
        extra_args=extra_args,
        size=size,
        progress=progress,
        digests=digests,
    )


def _needs_no_look(ctx: Context, layer: StorageLayer, size: int, *, known_absent: bool) -> bool:
    """Whether a bronze write may go without looking first. Only where the server enforces
    the condition: then the refusal of a single PUT is the existence check, and a listing
    made just before (``known_absent``) spares a multipart upload the look too, leaving only
    a race that CompleteMultipartUpload's condition settles. Where the server ignores the
    condition, the look is the only guard, however recent the listing."""
    # Only a dataset job (which listed the keys: ``known_absent``) probes; one file looks first
    # unless an earlier command left the answer (a probe would cost as much as the look).
    if conditional_writes_enforced(ctx, layer, may_probe=known_absent) is not True:
        return False
    return known_absent or size < ctx.transfer.multipart_threshold


def _put_single(
    ctx: Context,
    *,
    body: bytes | Path,
    bucket: str,
    key: str,
    extra_args: dict[str, Any],
    size: int,
    progress: ProgressCallback | None,
) -> tuple[str | None, str | None]:
    announce(progress, size)
    try:
        if isinstance(body, bytes):
            response = ctx.client.put_object(Bucket=bucket, Key=key, Body=body, **extra_args)
        else:
            with body.open("rb") as stream:
                response = ctx.client.put_object(Bucket=bucket, Key=key, Body=stream, **extra_args)
        if progress is not None:
            progress(size)
    finally:
        finish(progress)
    return normalize_version(response.get("VersionId")), response.get("ETag")


def _put_crt(
    transport: CrtTransport,
    *,
    bucket: str,
    key: str,
    body: bytes,
    extra_args: dict[str, Any],
    digests: Digests,
    conditional: bool,
    progress: ProgressCallback | None,
) -> tuple[str | None, str | None]:
    headers = {
        "Content-Type": extra_args["ContentType"],
        **{f"x-amz-meta-{name}": value for name, value in extra_args["Metadata"].items()},
    }
    if conditional:
        headers["If-None-Match"] = "*"
    announce(progress, len(body))
    try:
        response = transport.put(bucket, key, body, headers, digests.md5)
        if progress is not None:
            progress(len(body))
    finally:
        finish(progress)
    return response.version_id, response.etag


def _put_multipart(
    ctx: Context,
    *,
    path: Path,
    bucket: str,
    key: str,
    extra_args: dict[str, Any],
    size: int,
    progress: ProgressCallback | None,
    digests: Digests,
) -> tuple[str | None, str | None]:
    try:
        ctx.run_transfer(
            "files",
            lambda manager: manager.upload(
                str(path),
                bucket,
                key,
                extra_args=extra_args,
                subscribers=subscribers(size, progress),
            ),
        )
    finally:
        written = ctx.written.take(bucket, key, digests.sha256)
    return written


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LocalFileError(
            f"local file {quoted(str(path))} cannot be read: {exc}.", hint="Check the file."
        ) from exc


def _digest(path: Path, progress: ProgressCallback | None) -> Digests:
    try:
        # Files this large go in parts (or one boto3 PUT that computes its own checksum):
        # no Content-MD5 of the whole file is sent.
        return digest_file(path, progress, md5=False)
    except OSError as exc:
        raise LocalFileError(
            f"local file {quoted(str(path))} cannot be read: {exc}.", hint="Check the file."
        ) from exc


def same_content_or_refuse(
    ctx: Context,
    *,
    target: Target,
    head: dict[str, Any] | None,
    path: Path,
    size: int,
    digests: Digests,
) -> UploadResult:
    """A bronze key is taken: succeed only if it holds the same content."""
    assert target.layer is not None and target.key is not None
    uri = ctx.uri(target.layer, target.key)
    if head is None:
        try:
            head = ctx.head(replace(target, action="compare with the existing object"))
        except ObjectNotFoundError:
            raise StorageError(
                f"another upload to {uri} is still in progress.",
                hint="Retry when it has finished; bronze keeps whichever completes first.",
            ) from None
    stored = stored_sha256(ctx, target, head, size)
    if stored != digests.sha256:
        raise ImmutableObjectError(
            f"{target.layer} {uri} already exists with different content "
            f"(stored sha256 {str(stored or 'unknown')[:12]}..., local file {quoted(str(path))} "
            f"sha256 {digests.sha256[:12]}...). Bronze is append-only; the stored object is "
            "unchanged.",
            hint="Write the new data under a new key, for example with the extraction date "
            "or a version in its path.",
        )
    version = normalize_version(head.get("VersionId"))
    return UploadResult(
        uri,
        target.layer,
        target.key,
        size,
        digests.sha256,
        version,
        False,
        etag=head.get("ETag"),
        content_type=head.get("ContentType"),
    )


def stored_sha256(ctx: Context, target: Target, head: dict[str, Any], size: int) -> str | None:
    """The SHA-256 of a stored object: recorded by lakeops, or (for objects other tools wrote,
    when the size matches) computed from its bytes."""
    stored = head.get("Metadata", {}).get(META_SHA256)
    if stored is None and head.get("ContentLength") == size:
        pinned = replace(target, version_id=normalize_version(head.get("VersionId")))
        try:
            body = ctx.client.get_object(**ctx.object_args(pinned))["Body"]
            return sha256_chunks(body.iter_chunks(1024 * 1024))
        except S3_FAILURES as exc:
            raise translate(exc, pinned) from exc
    return str(stored) if stored is not None else None
