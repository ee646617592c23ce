"""Naming a place in the lake: a layer and a key, or the ``s3://bucket/key`` URI lakeops prints.

Everywhere a layer and a key are asked for, a URI of one of the lake's buckets is taken too, so
that what one command prints can be pasted into the next.
"""

from __future__ import annotations

from collections.abc import Mapping

from lakeops.errors import UnknownLayerError, ValidationError
from lakeops.layout import StorageLayer
from lakeops.redaction import quoted

SCHEME = "s3://"


def is_uri(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEME)


def parse_uri(buckets: Mapping[StorageLayer, str], uri: str) -> tuple[StorageLayer, str]:
    """The layer and key (possibly empty) of an ``s3://bucket/key`` URI of this lake."""
    bucket, _, key = uri[len(SCHEME) :].partition("/")
    for layer, name in buckets.items():
        if name == bucket:
            return layer, key
    known = ", ".join(f"{name} ({layer})" for layer, name in buckets.items())
    raise ValidationError(
        f"{quoted(uri)} is not in this lake: bucket {quoted(bucket)} is none of its layers'.",
        hint=f"The lake's buckets are {known}; `lakeops config` shows where they come from.",
    )


def resolve(
    buckets: Mapping[StorageLayer, str],
    layer: StorageLayer | str | None,
    key: str | None,
) -> tuple[StorageLayer, str | None]:
    """(layer, key) from a layer and a key, either of which may be a URI of the lake.

    ``resolve(b, "bronze", "postgres/x.csv")``, ``resolve(b, "s3://raw/postgres/x.csv", None)``
    and ``resolve(b, None, "s3://raw/postgres/x.csv")`` all name the same object. A URI's layer
    must agree with a layer given beside it.
    """
    if is_uri(layer):
        if key not in (None, ""):
            raise ValidationError(
                f"both a URI ({quoted(layer)}) and a key ({quoted(key)}) were given.",
                hint="Give the URI alone, or a layer and a key.",
            )
        return parse_uri(buckets, str(layer))
    if is_uri(key):
        from_uri, inner = parse_uri(buckets, str(key))
        if layer is not None and StorageLayer.parse(layer) is not from_uri:
            raise ValidationError(
                f"{quoted(key)} is in {from_uri}, not in {StorageLayer.parse(layer)}.",
                hint="Give the URI alone, or the key without 's3://bucket/'.",
            )
        return from_uri, inner
    if layer is None:
        raise UnknownLayerError(layer)
    return StorageLayer.parse(layer), key
