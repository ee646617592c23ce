"""Downloading one object to a local file: atomic, verified, version-pinned.

Bytes go to a temporary file beside the target, are checked against the SHA-256 recorded at
upload when there is one, and only then renamed over the target, so a failed or interrupted
download leaves the target as it was. Small objects are one GET, hashed as they stream in;
large ones are s3transfer's ranged, parallel download, hashed afterwards.
"""

from __future__ import annotations

import hashlib
import uuid
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeops.errors import IntegrityError, LocalFileError
from lakeops.hashing import (
    CHUNK_BYTES,
    CallbackError,
    ProgressCallback,
    announce,
    finish,
    guarded,
    raising_callback_errors,
    sha256_file,
)
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.metadata import META_SHA256
from lakeops.ops.context import S3_FAILURES, TRANSFER_FAILURES
from lakeops.ops.history import ensure_original
from lakeops.redaction import quoted
from lakeops.results import DownloadResult
from lakeops.s3errors import Target, normalize_version, translate
from lakeops.transfers import subscribers
from lakeops.validation import (
    download_target,
    make_parent_folders,
    optional_callback,
    optional_text,
    validate_existing_key,
)

if TYPE_CHECKING:
    from lakeops.crt import CrtTransport
    from lakeops.ops.context import Context


@dataclass(frozen=True)
class KnownObject:
    """What a listing or a manifest already says of an object, so no HEAD is needed."""

    size: int
    etag: str | None
    version_id: str | None
    # None: take it from the GET's own metadata.
    sha256: str | None = None


def partial_path(path: Path) -> Path:
    # Short enough for any file system's 255-byte name limit, whatever the target's name.
    return path.with_name(f".{path.name[:80]}.{uuid.uuid4().hex[:12]}.lakeops-partial")


@raising_callback_errors
def get_file(
    ctx: Context,
    layer: StorageLayer | str,
    object_key: str,
    file_path: object,
    *,
    version_id: str | None = None,
    progress: ProgressCallback | None = None,
    hash_progress: ProgressCallback | None = None,
    known: KnownObject | None = None,
    fast: bool = False,
) -> DownloadResult:
    """Download an object; see :meth:`lakeops.Lake.get_file`.

    ``known`` comes from a dataset plan, whose listing already checked bronze's history;
    ``fast`` sends a single GET on the CRT transport when there is one (lakeops.crt).
    """
    layer = StorageLayer.parse(layer)
    key = validate_existing_key(object_key)
    version_id = optional_text(version_id, "version id")
    progress = guarded(optional_callback(progress))  # type: ignore[arg-type]
    hash_progress = guarded(optional_callback(hash_progress, "hash_progress"))  # type: ignore[arg-type]
    path = download_target(file_path)
    target = ctx.target("download", layer, key, version_id)
    if known is None:
        head = ctx.head(target)
        current = normalize_version(head.get("VersionId"))
        if LAYOUT[layer].append_only and version_id is None:
            ensure_original(ctx, target, current)
        known = KnownObject(
            size=int(head["ContentLength"]),
            etag=head.get("ETag"),
            version_id=version_id or current,
            sha256=head.get("Metadata", {}).get(META_SHA256),
        )
    elif known.sha256 is None and known.size >= ctx.transfer.multipart_threshold:
        # Ranged GETs give no one response whose metadata holds the recorded SHA-256, and a
        # listing holds none: ask for it, or the download would go unverified.
        head = ctx.head(replace(target, version_id=known.version_id))
        known = replace(known, sha256=head.get("Metadata", {}).get(META_SHA256))
    make_parent_folders(path)
    partial = partial_path(path)
    try:
        transport = ctx.fast() if fast else None
        if known.size < ctx.transfer.multipart_threshold and transport is not None:
            expected, actual = _get_crt(transport, target, known, partial, progress)
        elif known.size < ctx.transfer.multipart_threshold:
            expected, actual = _get_single(ctx, target, known, partial, progress)
        else:
            _get_multipart(ctx, target, known, partial, progress)
            expected, actual = known.sha256, sha256_file(partial, hash_progress)
        if expected is not None and actual != expected:
            raise IntegrityError(
                f"downloaded {target.where} does not match the sha256 recorded at upload "
                f"({actual[:12]}... instead of {expected[:12]}...); "
                f"{quoted(str(path))} was not written.",
                hint="Retry the download; if it persists, the stored object is damaged.",
            )
        partial.replace(path)
    except TRANSFER_FAILURES as exc:
        raise translate(exc, target) from exc
    except OSError as exc:
        raise LocalFileError(
            f"writing {quoted(str(path))} failed: {exc}; the target was left as it was.",
            hint="Check the disk space and the folder's permissions.",
        ) from exc
    except CallbackError:
        raise
    except Exception as exc:  # s3transfer raises whatever broke inside it
        raise translate(exc, target) from exc
    finally:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
    return DownloadResult(
        path, ctx.uri(layer, key), known.size, known.version_id, expected is not None
    )


def _get_args(ctx: Context, target: Target, known: KnownObject) -> dict[str, Any]:
    args = ctx.object_args(target)
    if known.version_id:
        args["VersionId"] = known.version_id
    elif known.etag:
        # Unversioned: at least make sure the bytes are those of the object looked at.
        args["IfMatch"] = known.etag
    return args


def _get_single(
    ctx: Context,
    target: Target,
    known: KnownObject,
    partial: Path,
    progress: ProgressCallback | None,
) -> tuple[str | None, str]:
    """One GET, streamed to ``partial`` and hashed on the way. A body that breaks off is
    fetched again, as often as requests are tried (botocore retries only until the response
    starts)."""
    announce(progress, known.size)
    attempts = ctx.config.timeouts.max_attempts
    try:
        for attempt in range(1, attempts + 1):
            response = ctx.client.get_object(**_get_args(ctx, target, known))
            expected = known.sha256 or response.get("Metadata", {}).get(META_SHA256)
            digest = hashlib.sha256()
            received = 0
            try:
                with partial.open("wb") as out:
                    for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        if progress is not None:
                            progress(len(chunk))
            except S3_FAILURES:
                if progress is not None:
                    progress(-received)
                if attempt == attempts:
                    raise
                continue
            return expected, digest.hexdigest()
    finally:
        finish(progress)
    raise AssertionError("unreachable")


def _get_crt(
    transport: CrtTransport,
    target: Target,
    known: KnownObject,
    partial: Path,
    progress: ProgressCallback | None,
) -> tuple[str | None, str]:
    """One GET on the CRT, which retries by itself; streamed to ``partial`` and hashed."""
    assert target.bucket is not None and target.key is not None
    announce(progress, known.size)
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:

            def take(chunk: bytes) -> None:
                out.write(chunk)
                digest.update(chunk)
                if progress is not None:
                    progress(len(chunk))

            response = transport.get(
                target.bucket,
                target.key,
                version_id=known.version_id,
                if_match=None if known.version_id else known.etag,
                on_body=take,
            )
    finally:
        finish(progress)
    return known.sha256 or response.metadata().get(META_SHA256), digest.hexdigest()


def _get_multipart(
    ctx: Context,
    target: Target,
    known: KnownObject,
    partial: Path,
    progress: ProgressCallback | None,
) -> None:
    assert target.bucket is not None and target.key is not None
    extra_args = {"VersionId": known.version_id} if known.version_id else {}
    bucket, key = target.bucket, target.key
    # Into a file lakeops opened: s3transfer, given a name, writes to a temporary file of its
    # own naming, which an interrupted run would leave behind.
    with partial.open("wb") as out:
        ctx.run_transfer(
            "files",
            lambda manager: manager.download(
                bucket,
                key,
                out,
                extra_args=extra_args,
                subscribers=subscribers(known.size, progress, etag=known.etag, known=True),
            ),
        )
    finish(progress)
