"""Looking at one object: its size, version, checksum, metadata and lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakeops.layout import StorageLayer
from lakeops.metadata import META_SHA256, read_lineage
from lakeops.results import Lineage, ObjectInfo
from lakeops.s3errors import normalize_version
from lakeops.validation import RESERVED_METADATA_PREFIX, optional_text, validate_existing_key

if TYPE_CHECKING:
    from lakeops.ops.context import Context


def describe(
    ctx: Context, layer: StorageLayer | str, object_key: str, *, version_id: str | None = None
) -> ObjectInfo:
    layer = StorageLayer.parse(layer)
    key = validate_existing_key(object_key)
    version_id = optional_text(version_id, "version id")
    head = ctx.head(ctx.target("read", layer, key, version_id))
    metadata = dict(head.get("Metadata", {}))
    found = read_lineage(metadata)
    return ObjectInfo(
        uri=ctx.uri(layer, key),
        layer=layer,
        key=key,
        size=int(head.get("ContentLength", 0)),
        etag=str(head.get("ETag", "")).strip('"'),
        version_id=normalize_version(head.get("VersionId")),
        last_modified=head.get("LastModified"),
        content_type=head.get("ContentType"),
        sha256=metadata.get(META_SHA256),
        metadata={
            name: value
            for name, value in metadata.items()
            if not name.startswith(RESERVED_METADATA_PREFIX)
        },
        lineage=Lineage(*found) if found else None,
        storage_class=head.get("StorageClass"),
        head=head,
    )
