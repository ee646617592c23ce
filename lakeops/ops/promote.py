"""Promoting one object forward to a later layer, server-side, with lineage.

The bytes never pass through this machine: one CopyObject up to the copy threshold, s3transfer's
managed multipart copy (UploadPartCopy) above it. The target keeps the source's content type and
user metadata (its recorded SHA-256 included) and gains lineage metadata naming the source's
URI, version and ETag. The copy is pinned to the source version looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lakeops.errors import PromotionDirectionError
from lakeops.hashing import (
    CallbackError,
    ProgressCallback,
    announce,
    finish,
    guarded,
    raising_callback_errors,
)
from lakeops.layout import LAYOUT, StorageLayer, can_promote
from lakeops.metadata import META_SHA256, check_promotable, lineage
from lakeops.ops.history import ensure_original, what_is_there
from lakeops.results import PromotionResult
from lakeops.s3errors import normalize_version, translate
from lakeops.transfers import subscribers
from lakeops.validation import (
    RESERVED_METADATA_PREFIX,
    optional_callback,
    optional_text,
    validate_existing_key,
    validate_write_key,
)

if TYPE_CHECKING:
    from lakeops.ops.context import Context
    from lakeops.s3errors import Target

COPIED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


@dataclass(frozen=True)
class SourceObject:
    """What a plan (listing plus manifest) knows of a source object: enough to copy it with
    its metadata and lineage without a HEAD."""

    size: int
    etag: str
    version_id: str | None
    content_type: str
    metadata: dict[str, str]
    headers: dict[str, str]

    @classmethod
    def from_head(cls, head: dict[str, Any], version_id: str | None) -> SourceObject:
        return cls(
            size=int(head["ContentLength"]),
            etag=str(head.get("ETag", "")),
            version_id=version_id or normalize_version(head.get("VersionId")),
            content_type=str(head.get("ContentType") or "application/octet-stream"),
            metadata=dict(head.get("Metadata", {})),
            headers={name: str(head[name]) for name in COPIED_HEADERS if head.get(name)},
        )


_HEADER_NAMES = {
    "ContentType": "Content-Type",
    "CacheControl": "Cache-Control",
    "ContentDisposition": "Content-Disposition",
    "ContentEncoding": "Content-Encoding",
    "ContentLanguage": "Content-Language",
    "MetadataDirective": "x-amz-metadata-directive",
    "CopySourceIfMatch": "x-amz-copy-source-if-match",
}


def _copy_headers(extra_args: dict[str, Any]) -> dict[str, str]:
    """A CopyObject's arguments as the HTTP headers botocore would send for them. Every
    argument must have its header: one dropped here would silently change the copy."""
    headers = {f"x-amz-meta-{name}": value for name, value in extra_args["Metadata"].items()}
    for name, value in extra_args.items():
        if name != "Metadata":
            headers[_HEADER_NAMES[name]] = str(value)
    return headers


def carried_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """What a promotion copies of the source's metadata: the caller's, and the recorded
    SHA-256; not the source's own lineage, which the promotion replaces."""
    return {
        name: value
        for name, value in metadata.items()
        if name == META_SHA256 or not name.startswith(RESERVED_METADATA_PREFIX)
    }


def check_direction(source: StorageLayer, destination: StorageLayer) -> None:
    if not can_promote(source, destination):
        raise PromotionDirectionError(
            f"cannot promote from {source} to {destination}: promotion only moves forward "
            "(bronze -> silver -> gold, or bronze -> gold).",
            hint="Promote from an earlier layer, or upload to the target layer directly.",
        )


@dataclass(frozen=True)
class CheckedPromotion:
    """A promotion's arguments and its source, checked as the promotion checks them before
    it copies."""

    source: StorageLayer
    destination: StorageLayer
    key: str
    new_key: str
    progress: ProgressCallback | None
    source_target: Target
    known: SourceObject
    source_uri: str
    carried: dict[str, str]


def check_promotion(
    ctx: Context,
    object_key: str,
    source_layer: StorageLayer | str,
    target_layer: StorageLayer | str,
    target_key: str | None = None,
    *,
    version_id: str | None = None,
    progress: ProgressCallback | None = None,
    known: SourceObject | None = None,
) -> CheckedPromotion:
    """The checks :func:`promote_object` makes before it copies (the direction, the keys, the
    callback; the source looked at, unless ``known``, and on bronze its history; the metadata
    it would carry), in its order; ``--dry-run`` makes the same, so that the preview cannot
    drift from the promotion."""
    source = StorageLayer.parse(source_layer)
    destination = StorageLayer.parse(target_layer)
    check_direction(source, destination)
    key = validate_existing_key(object_key)
    new_key = validate_write_key(
        destination, target_key if target_key is not None else key, what="target key"
    )
    version_id = optional_text(version_id, "version id")
    progress = guarded(optional_callback(progress))  # type: ignore[arg-type]
    source_target = ctx.target("promote", source, key, version_id)
    if known is None:
        head = ctx.head(source_target)
        known = SourceObject.from_head(head, version_id)
        if LAYOUT[source].append_only and version_id is None:
            ensure_original(ctx, source_target, known.version_id)
    source_uri = ctx.uri(source, key)
    carried = carried_metadata(known.metadata)
    check_promotable(source_uri, carried)
    return CheckedPromotion(
        source, destination, key, new_key, progress, source_target, known, source_uri, carried
    )


@raising_callback_errors
def promote_object(
    ctx: Context,
    object_key: str,
    source_layer: StorageLayer | str,
    target_layer: StorageLayer | str,
    target_key: str | None = None,
    *,
    version_id: str | None = None,
    progress: ProgressCallback | None = None,
    known: SourceObject | None = None,
    fast: bool = False,
    report_replaced: bool = False,
) -> PromotionResult:
    """Promote an object; see :meth:`lakeops.Lake.promote_object`. ``fast`` sends a single
    CopyObject on the CRT transport when there is one; ``report_replaced`` looks at the
    target first (one HEAD) to say which version the copy replaces."""
    checked = check_promotion(
        ctx,
        object_key,
        source_layer,
        target_layer,
        target_key,
        version_id=version_id,
        progress=progress,
        known=known,
    )
    source, destination, key, new_key = (
        checked.source,
        checked.destination,
        checked.key,
        checked.new_key,
    )
    progress, source_target, known = checked.progress, checked.source_target, checked.known
    source_uri, carried = checked.source_uri, checked.carried
    extra_args: dict[str, Any] = {
        "MetadataDirective": "REPLACE",
        "Metadata": {**carried, **lineage(source_uri, known.version_id, known.etag)},
        "ContentType": known.content_type,
        **known.headers,
    }
    if known.etag:
        extra_args["CopySourceIfMatch"] = known.etag
    copy_source = ctx.object_args(replace(source_target, version_id=known.version_id))
    bucket = ctx.bucket(destination)
    destination_target = ctx.target("promote to", destination, new_key)
    # Up to the threshold inclusive, one CopyObject (s3transfer splits from the threshold up, so
    # an object of exactly 256 MiB went part by part, the bytes moving inside the server where
    # one copy is often a metadata-only operation); above it, s3transfer's parts.
    multipart = known.size > ctx.transfer.copy_multipart_threshold
    replaced, replaced_version = (
        what_is_there(ctx, destination_target) if report_replaced else (False, None)
    )
    try:
        if multipart:
            ctx.run_transfer(
                "copies",
                lambda manager: manager.copy(
                    copy_source,
                    bucket,
                    new_key,
                    extra_args=extra_args,
                    subscribers=subscribers(known.size, progress, etag=known.etag, known=True),
                ),
            )
            written, etag = None, None
        elif fast and (transport := ctx.fast()) is not None:
            announce(progress, None)
            copied = transport.copy(
                bucket,
                new_key,
                source_bucket=ctx.bucket(source),
                source_key=key,
                source_version=known.version_id,
                headers=_copy_headers(extra_args),
            )
            written, etag = copied.version_id, copied.etag
        else:
            # The server answers when the copy is done: no byte count to show meanwhile.
            announce(progress, None)
            response = ctx.client.copy_object(
                CopySource=copy_source,  # type: ignore[arg-type]
                Bucket=bucket,
                Key=new_key,
                **extra_args,
            )
            written = normalize_version(response.get("VersionId"))
            etag = response.get("CopyObjectResult", {}).get("ETag")
    except CallbackError:
        raise
    except Exception as exc:  # botocore's, or whatever broke inside s3transfer
        raise translate(exc, destination_target) from exc
    finally:
        finish(progress)
    return PromotionResult(
        uri=ctx.uri(destination, new_key),
        source_uri=source_uri,
        source_version_id=known.version_id,
        source_etag=known.etag.strip('"'),
        size=known.size,
        multipart=multipart,
        version_id=written,
        etag=etag,
        replaced=replaced,
        replaced_version_id=replaced_version,
    )
