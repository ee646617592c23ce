"""The metadata lakeops writes on objects: a content checksum and promotion lineage."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, unquote

from lakeops.errors import InvalidMetadataError
from lakeops.validation import MAX_METADATA_BYTES, metadata_size

META_SHA256 = "lakeops-sha256"
META_SOURCE_URI = "lakeops-source-uri"
META_SOURCE_VERSION_ID = "lakeops-source-version-id"
META_SOURCE_ETAG = "lakeops-source-etag"
META_PROMOTED_AT = "lakeops-promoted-at"
LINEAGE_NAMES = (META_SOURCE_URI, META_SOURCE_VERSION_ID, META_SOURCE_ETAG, META_PROMOTED_AT)

# Upper bounds of the values whose length lakeops cannot know ahead: version ids (AWS: 32
# characters, MinIO: 36) and multipart ETags (32 hex digits and a part count).
_VERSION_ID_BYTES = 64
_ETAG_BYTES = 64
_TIMESTAMP_BYTES = len("2024-01-15T00:00:00+00:00")
_SHA256_BYTES = len(META_SHA256) + 64


def encode_uri(uri: str) -> str:
    """S3 metadata is ASCII: percent-encode the rest (and keep the URI readable otherwise)."""
    return quote(uri, safe="/:@!$&'()*+,;=-._~")


def lineage(source_uri: str, version_id: str | None, etag: str) -> dict[str, str]:
    return {
        META_SOURCE_URI: encode_uri(source_uri),
        META_SOURCE_VERSION_ID: version_id or "null",
        META_SOURCE_ETAG: etag.strip('"'),
        META_PROMOTED_AT: datetime.now(UTC).isoformat(timespec="seconds"),
    }


def lineage_bytes(source_uri: str) -> int:
    """The most lineage metadata a promotion of the object at ``source_uri`` can add."""
    names = sum(len(name) for name in LINEAGE_NAMES)
    return names + len(encode_uri(source_uri)) + _VERSION_ID_BYTES + _ETAG_BYTES + _TIMESTAMP_BYTES


def upload_reserve(uri: str) -> int:
    """Room an upload keeps for its checksum and for the lineage of promoting it later."""
    return _SHA256_BYTES + lineage_bytes(uri)


def check_promotable(uri: str, metadata: dict[str, str]) -> None:
    """Refuse a promotion whose metadata plus lineage would exceed S3's limit."""
    carried = metadata_size(metadata)
    added = lineage_bytes(uri)
    if carried + added > MAX_METADATA_BYTES:
        raise InvalidMetadataError(
            f"cannot promote {uri}: its metadata ({carried} bytes) and the lineage promotion adds "
            f"(up to {added} bytes) exceed S3's {MAX_METADATA_BYTES}; nothing was written.",
            hint="Copy it without lakeops, or store its large attributes in a sidecar object.",
        )


def read_lineage(metadata: dict[str, str]) -> tuple[str, str | None, str | None, str | None] | None:
    """(source URI, version id, ETag, promoted at) from an object's metadata, or None."""
    uri = metadata.get(META_SOURCE_URI)
    if uri is None:
        return None
    version = metadata.get(META_SOURCE_VERSION_ID)
    return (
        unquote(uri),
        None if version in (None, "null") else version,
        metadata.get(META_SOURCE_ETAG),
        metadata.get(META_PROMOTED_AT),
    )
