"""Downloading one object to a local file: atomic, verified, version-pinned.

Bytes go to a temporary file beside the target, are checked against the SHA-256 recorded at
upload when there is one, and only then renamed over the target, so a failed or interrupted
download leaves the target as it was. Small objects are one GET, hashed as they stream in;
large ones are s3transfer's ranged, parallel download, written in order and hashed as they are
written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

from lakeops.errors import IntegrityError, LocalFileError
from lakeops.hashing import (
    CHUNK_BYTES,
    CallbackError,
    HashingWriter,
    ProgressCallback,
    announce,
    finish,
    guarded,
    raising_callback_errors,
)
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.metadata import META_SHA256
from lakeops.ops.context import S3_FAILURES, TRANSFER_FAILURES
from lakeops.ops.download_folder import DownloadFolder, TemporaryFile
from lakeops.ops.history import ensure_original
from lakeops.redaction import quoted
from lakeops.results import DownloadResult
from lakeops.s3errors import Target, normalize_version, translate
from lakeops.transfers import subscribers
from lakeops.validation import (
    download_target,
    local_path,
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


@dataclass(frozen=True)
class Pinned:
    """The content a download must have, from elsewhere than the object's own metadata: the
    manifest of the published dataset the key belongs to."""

    sha256: str
    dataset: str  # s3://bucket/prefix/
    manifest_uri: str
    published_version_id: str | None
    written_at: str
    published_etag: str | None = None

    def mismatch(self, where: str, actual: str) -> str:
        return (
            f"downloaded {where} does not match the published dataset's manifest "
            f"{self.manifest_uri} (published {self.written_at}; published version "
            f"{self.published_version_id or 'null'} of this key has sha256 {self.sha256[:12]}..., "
            f"the live object {actual[:12]}...): it was changed since publication"
        )

    def hint(self) -> str:
        pinned = (
            f"with --version-id {self.published_version_id}"
            if self.published_version_id
            else "with download --recursive"
        )
        return (
            f"Download the published version {pinned}; `lakeops verify {self.dataset}` shows "
            "what changed."
        )


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
    into: tuple[DownloadFolder, str] | None = None,
    pinned: Pinned | None = None,
) -> DownloadResult:
    """Download an object; see :meth:`lakeops.Lake.get_file`.

    ``known`` comes from a dataset plan, whose listing already checked bronze's history;
    ``fast`` sends a single GET on the CRT transport when there is one (lakeops.crt);
    ``into`` is a dataset's download folder, held open, and the file's path below it
    (``file_path`` then only names the file in messages); ``pinned`` is the content the
    manifest of the dataset the key belongs to says it has, checked instead of the object's
    own recorded SHA-256.
    """
    layer = StorageLayer.parse(layer)
    key = validate_existing_key(object_key)
    version_id = optional_text(version_id, "version id")
    progress = guarded(optional_callback(progress))  # type: ignore[arg-type]
    hash_progress = guarded(optional_callback(hash_progress, "hash_progress"))  # type: ignore[arg-type]
    # A dataset's plan checked its targets before any request, and its held folder guards
    # every write (``into``): checking each path again cost a stat per folder level per file.
    path = (
        download_target(file_path)
        if into is None
        else local_path(file_path, what="download target")
    )
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
            sha256=pinned.sha256 if pinned else head.get("Metadata", {}).get(META_SHA256),
        )
    elif known.sha256 is None and known.size >= ctx.transfer.multipart_threshold:
        # Ranged GETs give no one response whose metadata holds the recorded SHA-256, and a
        # listing holds none: ask for it, or the download would go unverified.
        head = ctx.head(replace(target, version_id=known.version_id))
        known = replace(known, sha256=head.get("Metadata", {}).get(META_SHA256))
    fetch = _Fetch(ctx, target, known, path, fast, progress, hash_progress, pinned)
    if into is None:
        with DownloadFolder.open(path.parent) as folder:
            expected = fetch.into(folder, path.name)
    else:
        expected = fetch.into(*into)
    return DownloadResult(
        path,
        ctx.uri(layer, key),
        known.size,
        known.version_id,
        expected is not None,
        published_in=pinned.manifest_uri if pinned else None,
    )


@dataclass(frozen=True)
class _Fetch:
    ctx: Context
    target: Target
    known: KnownObject
    path: Path  # for messages
    fast: bool
    progress: ProgressCallback | None
    hash_progress: ProgressCallback | None
    pinned: Pinned | None = None

    def into(self, folder: DownloadFolder, relative: str) -> str | None:
        """Fetch the object into a temporary file below ``folder``, check it, and rename it
        onto ``relative``; the SHA-256 it was checked against, if any."""
        ctx, target, known, progress = self.ctx, self.target, self.known, self.progress
        try:
            # Made before the first request: from here on, the folder it is in is fixed.
            with folder.temporary(relative) as partial:
                transport = ctx.fast() if self.fast else None
                if known.size < ctx.transfer.multipart_threshold and transport is not None:
                    expected, actual = _get_crt(transport, target, known, partial.file, progress)
                elif known.size < ctx.transfer.multipart_threshold:
                    expected, actual = _get_single(ctx, target, known, partial, progress)
                else:
                    writer = HashingWriter(partial.file, self.hash_progress)
                    _get_multipart(ctx, target, known, writer, progress)
                    expected, actual = known.sha256, writer.hexdigest()
                if self.pinned is not None and actual != self.pinned.sha256:
                    raise IntegrityError(
                        f"{self.pinned.mismatch(target.where, actual)}; "
                        f"{quoted(str(self.path))} was not written.",
                        hint=self.pinned.hint(),
                    )
                if expected is not None and actual != expected:
                    raise IntegrityError(
                        f"downloaded {target.where} does not match the sha256 recorded at upload "
                        f"({actual[:12]}... instead of {expected[:12]}...); "
                        f"{quoted(str(self.path))} was not written.",
                        hint="Retry the download; if it persists, the stored object is damaged.",
                    )
                partial.commit()
        except TRANSFER_FAILURES as exc:
            raise translate(exc, target) from exc
        except OSError as exc:
            raise LocalFileError(
                f"writing {quoted(str(self.path))} failed: {exc}; the target was left as it was.",
                hint="Check the disk space and the folder's permissions.",
            ) from exc
        except CallbackError:
            raise
        except Exception as exc:  # s3transfer raises whatever broke inside it
            raise translate(exc, target) from exc
        return expected


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
    partial: TemporaryFile,
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
            partial.restart()
            out = HashingWriter(partial.file, progress)
            try:
                for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
                    out.write(chunk)
            except S3_FAILURES:
                if progress is not None:
                    progress(-out.written)
                if attempt == attempts:
                    raise
                continue
            return expected, out.hexdigest()
    finally:
        finish(progress)
    raise AssertionError("unreachable")


def _get_crt(
    transport: CrtTransport,
    target: Target,
    known: KnownObject,
    out: BinaryIO,
    progress: ProgressCallback | None,
) -> tuple[str | None, str]:
    """One GET on the CRT, which retries by itself; streamed to ``out`` and hashed."""
    assert target.bucket is not None and target.key is not None
    announce(progress, known.size)
    writer = HashingWriter(out, progress)
    try:
        response = transport.get(
            target.bucket,
            target.key,
            version_id=known.version_id,
            if_match=None if known.version_id else known.etag,
            on_body=writer.write,
        )
    finally:
        finish(progress)
    return known.sha256 or response.metadata().get(META_SHA256), writer.hexdigest()


def _get_multipart(
    ctx: Context,
    target: Target,
    known: KnownObject,
    out: BinaryIO | HashingWriter,
    progress: ProgressCallback | None,
) -> None:
    assert target.bucket is not None and target.key is not None
    extra_args = {"VersionId": known.version_id} if known.version_id else {}
    bucket, key = target.bucket, target.key
    # Into a file lakeops opened: s3transfer, given a name, writes to a temporary file of its
    # own naming, which an interrupted run would leave behind.
    ctx.run_transfer(
        "files",
        lambda manager: manager.download(
            bucket,
            key,
            # A writer without seek is written in order (s3transfer's non-seekable path).
            cast("IO[bytes]", out),
            extra_args=extra_args,
            subscribers=subscribers(known.size, progress, etag=known.etag, known=True),
        ),
    )
    finish(progress)
