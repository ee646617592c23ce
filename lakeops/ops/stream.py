"""Streaming one object to a binary stream (``lakeops download LAYER KEY -``), still verified.

The bytes are out before the last of them can be hashed, so a mismatch cannot be held back as
a file download's is: it is reported at the end, as an error that says the output already
written is not to be trusted (exit 8 from the command).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lakeops.errors import IntegrityError
from lakeops.hashing import CHUNK_BYTES, HashingWriter
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.metadata import META_SHA256
from lakeops.ops.context import S3_FAILURES
from lakeops.ops.history import ensure_original
from lakeops.results import DownloadResult
from lakeops.s3errors import normalize_version, translate
from lakeops.validation import optional_text, validate_existing_key

if TYPE_CHECKING:
    from lakeops.ops.context import Context
    from lakeops.ops.download import Pinned

UNTRUSTED = "the output already written is not to be trusted"


def stream_object(
    ctx: Context,
    layer: StorageLayer | str,
    object_key: str,
    sink: BinaryIO,
    *,
    version_id: str | None = None,
    pinned: Pinned | None = None,
) -> DownloadResult:
    """Write an object's bytes to ``sink`` as they arrive; see :meth:`lakeops.Lake.stream_file`."""
    layer = StorageLayer.parse(layer)
    key = validate_existing_key(object_key)
    version_id = optional_text(version_id, "version id")
    target = ctx.target("download", layer, key, version_id)
    head = ctx.head(target)
    current = normalize_version(head.get("VersionId"))
    if LAYOUT[layer].append_only and version_id is None:
        ensure_original(ctx, target, current)
    expected = pinned.sha256 if pinned else head.get("Metadata", {}).get(META_SHA256)
    args: dict[str, Any] = ctx.object_args(target)
    if version_id or current:
        args["VersionId"] = version_id or current
    elif head.get("ETag"):
        args["IfMatch"] = head["ETag"]
    out = HashingWriter(sink)
    try:
        body = ctx.client.get_object(**args)["Body"]
        for chunk in body.iter_chunks(CHUNK_BYTES):
            out.write(chunk)
        sink.flush()
    except S3_FAILURES as exc:
        error = translate(exc, target)
        if out.written:
            error.message = f"{error.message.rstrip('.')}; after {out.written} bytes: {UNTRUSTED}."
        raise error from exc
    actual = out.hexdigest()
    if pinned is not None and actual != pinned.sha256:
        raise IntegrityError(
            f"{pinned.mismatch(target.where, actual)}; {UNTRUSTED}.", hint=pinned.hint()
        )
    if expected is not None and actual != expected:
        raise IntegrityError(
            f"streamed {target.where} does not match the sha256 recorded at upload "
            f"({actual[:12]}... instead of {expected[:12]}...); {UNTRUSTED}.",
            hint="Retry; if it persists, the stored object is damaged.",
        )
    return DownloadResult(
        Path("-"),
        ctx.uri(layer, key),
        out.written,
        version_id or current,
        expected is not None,
        published_in=pinned.manifest_uri if pinned else None,
    )
