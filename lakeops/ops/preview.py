"""What a single-object upload, download or promotion would do, found out without writing:
``--dry-run`` on one object.

Each preview makes the checks the real operation makes before its first write (the key, the
metadata, the local file, the promotion's direction, bronze's history and, on bronze, whether
the key holds other content) and raises the error the real run would raise. It only reads:
it never probes the server's conditional writes either (that is a PUT, refused, but a request).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakeops.errors import IntegrityError
from lakeops.hashing import digest_file
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.metadata import META_SHA256
from lakeops.ops.history import ensure_original, what_is_there
from lakeops.ops.promote import check_promotion
from lakeops.ops.upload import check_upload, same_content_or_refuse
from lakeops.results import PlannedWrite
from lakeops.s3errors import normalize_version
from lakeops.validation import optional_text, validate_existing_key

if TYPE_CHECKING:
    from lakeops.ops.context import Context
    from lakeops.ops.download import Pinned


def preview_put(
    ctx: Context,
    file_path: object,
    layer: StorageLayer | str,
    object_key: str,
    metadata: object = None,
    *,
    content_type: str | None = None,
) -> PlannedWrite:
    """What :func:`lakeops.ops.upload.put_file` would do."""
    checked = check_upload(ctx, file_path, layer, object_key, metadata, content_type=content_type)
    layer, uri, path, target = checked.layer, checked.uri, checked.path, checked.target
    size = path.stat().st_size
    if LAYOUT[layer].append_only:
        head = ctx.peek(target)
        if head is None:
            return PlannedWrite("upload", str(path), uri, size, "create")
        # Raises ImmutableObjectError, as the real upload would, when the content differs.
        same_content_or_refuse(
            ctx, target=target, head=head, path=path, size=size, digests=digest_file(path)
        )
        return PlannedWrite("upload", str(path), uri, size, "identical")
    there, version = what_is_there(ctx, target)
    action = "replace" if there else "create"
    return PlannedWrite("upload", str(path), uri, size, action, replaced_version_id=version)


def preview_get(
    ctx: Context,
    layer: StorageLayer | str,
    object_key: str,
    destination: str,
    *,
    version_id: str | None = None,
    pinned: Pinned | None = None,
) -> PlannedWrite:
    """What :func:`lakeops.ops.download.get_file` would do. With ``pinned`` (the key belongs
    to a published dataset), a live object that is plainly not the published one (another
    version, with another recorded SHA-256 and ETag) is refused as the download would refuse
    it; one that cannot be told without reading its bytes is left to the download."""
    layer = StorageLayer.parse(layer)
    key = validate_existing_key(object_key)
    version_id = optional_text(version_id, "version id")
    target = ctx.target("download", layer, key, version_id)
    head = ctx.head(target)
    if LAYOUT[layer].append_only and version_id is None:
        ensure_original(ctx, target, normalize_version(head.get("VersionId")))
    own = head.get("Metadata", {}).get(META_SHA256)
    live = normalize_version(head.get("VersionId"))
    if pinned is not None and live != pinned.published_version_id:
        etag = str(head.get("ETag", "")).strip('"')
        if own != pinned.sha256 and etag != (pinned.published_etag or "").strip('"'):
            raise IntegrityError(
                f"{target.where} is not the object published in {pinned.manifest_uri} "
                f"(published {pinned.written_at}; published version "
                f"{pinned.published_version_id or 'null'}): it was changed since publication, "
                "and the download would be refused. Nothing was written (--dry-run).",
                hint=pinned.hint(),
            )
    recorded = pinned.sha256 if pinned is not None else own
    return PlannedWrite(
        "download",
        ctx.uri(layer, key),
        destination,
        int(head["ContentLength"]),
        "download",
        verified=recorded is not None,
    )


def preview_promote(
    ctx: Context,
    object_key: str,
    source_layer: StorageLayer | str,
    target_layer: StorageLayer | str,
    target_key: str | None = None,
    *,
    version_id: str | None = None,
) -> PlannedWrite:
    """What :func:`lakeops.ops.promote.promote_object` would do."""
    checked = check_promotion(
        ctx, object_key, source_layer, target_layer, target_key, version_id=version_id
    )
    destination, new_key = checked.destination, checked.new_key
    there, version = what_is_there(ctx, ctx.target("promote to", destination, new_key))
    return PlannedWrite(
        "promote",
        checked.source_uri,
        ctx.uri(destination, new_key),
        checked.known.size,
        "replace" if there else "create",
        replaced_version_id=version,
    )
