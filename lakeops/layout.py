"""The lake's layout, declared once.

Layers, their default bucket names, their prefixes and the promotion order live here and
nowhere else: the Pulumi program in ``infra/`` imports this module to declare buckets and
prefix markers, and the library uses it to resolve names and to check promotions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from lakeops.errors import UnknownLayerError


class StorageLayer(StrEnum):
    """A medallion layer. The value is the layer's name as used in config and outputs."""

    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"

    @classmethod
    def parse(cls, value: StorageLayer | str) -> StorageLayer:
        """Accept a layer, its name (``bronze``) or its default (dev) bucket name (``raw``)."""
        if isinstance(value, StorageLayer):
            return value
        if isinstance(value, str):
            wanted = value.strip().lower()
            for layer in cls:
                if wanted in (layer.value, LAYOUT[layer].default_bucket):
                    return layer
        raise UnknownLayerError(value)


@dataclass(frozen=True)
class LayerSpec:
    layer: StorageLayer
    default_bucket: str
    prefixes: tuple[str, ...]
    purpose: str
    # Bronze keeps data exactly as received: an object, once written, never changes.
    append_only: bool


LAYOUT: Mapping[StorageLayer, LayerSpec] = MappingProxyType(
    {
        StorageLayer.BRONZE: LayerSpec(
            layer=StorageLayer.BRONZE,
            default_bucket="raw",
            prefixes=("postgres/", "files/", "api/", "streaming/"),
            purpose="Raw data exactly as received; immutable, append-only.",
            append_only=True,
        ),
        StorageLayer.SILVER: LayerSpec(
            layer=StorageLayer.SILVER,
            default_bucket="staging",
            prefixes=("cleaned/", "validated/", "deduplicated/"),
            purpose="Cleaned, validated and deduplicated data.",
            append_only=False,
        ),
        StorageLayer.GOLD: LayerSpec(
            layer=StorageLayer.GOLD,
            default_bucket="curated",
            prefixes=("aggregated/", "reports/", "ml/"),
            purpose="Business-ready, aggregated data.",
            append_only=False,
        ),
    }
)

PROMOTION_ORDER: tuple[StorageLayer, ...] = (
    StorageLayer.BRONZE,
    StorageLayer.SILVER,
    StorageLayer.GOLD,
)


# Each declared prefix is marked by one zero-byte object whose key is the prefix itself
# ("cleaned/"): the S3 console's folder convention, so that the prefix exists (S3 has no
# folders) and can be verified. Most readers take such keys for folders and skip them: DuckDB
# globs skip zero-byte keys ending in '/', Polars skips them, PyArrow sees folders and Spark's
# S3A directory markers. s3fs (pandas' storage_options) skips them at or below a layout
# prefix, but lists a marker as an empty file when it reads a whole bucket as one dataset
# (fsspec/s3fs#300); docs/reference.md says so. tests/test_readers.py reads through DuckDB,
# Polars, PyArrow and s3fs with the markers present. A named file such as ".keep" would not
# do: DuckDB globs read ".keep" and "_keep" as data.
def marker_key(prefix: str) -> str:
    return prefix


def is_marker_key(layer: StorageLayer, key: str) -> bool:
    return any(key == marker_key(prefix) for prefix in LAYOUT[layer].prefixes)


def can_promote(source: StorageLayer, target: StorageLayer) -> bool:
    """Promotion only moves data forward: bronze to silver to gold (bronze to gold too)."""
    return PROMOTION_ORDER.index(source) < PROMOTION_ORDER.index(target)
