"""Listing a layer's objects under a prefix, lazily, one page of keys at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lakeops.layout import StorageLayer, is_marker_key
from lakeops.ops.context import S3_FAILURES
from lakeops.s3errors import translate
from lakeops.validation import validate_prefix

if TYPE_CHECKING:
    from lakeops.ops.context import Context


def iter_objects(
    ctx: Context,
    layer: StorageLayer | str,
    prefix: str = "",
    *,
    include_markers: bool = False,
    page_size: int = 1000,
) -> Iterator[dict[str, Any]]:
    """See :meth:`lakeops.Lake.iter_objects`. Arguments are checked at once; requests start
    when iteration does."""
    layer = StorageLayer.parse(layer)
    prefix = validate_prefix(prefix)
    target = ctx.target("list", layer, prefix or None)
    pages = ctx.client.get_paginator("list_objects_v2").paginate(
        Bucket=ctx.bucket(layer), Prefix=prefix, PaginationConfig={"PageSize": page_size}
    )

    def entries() -> Iterator[dict[str, Any]]:
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    if include_markers or not is_marker_key(layer, item["Key"]):
                        yield dict(item)
        except S3_FAILURES as exc:
            raise translate(exc, target) from exc

    return entries()


def nearest_prefixes(ctx: Context, layer: StorageLayer, prefix: str, limit: int = 3) -> list[str]:
    """Prefixes that do exist near a prefix that matched nothing: the folders one level up
    whose names look most like the missing part. For "did you mean" hints."""
    import difflib

    parent, _, leaf = prefix.rstrip("/").rpartition("/")
    parent = f"{parent}/" if parent else ""
    try:
        response = ctx.client.list_objects_v2(
            Bucket=ctx.bucket(layer), Prefix=parent, Delimiter="/", MaxKeys=1000
        )
    except S3_FAILURES:
        return []
    candidates = [p["Prefix"] for p in response.get("CommonPrefixes", [])]
    candidates += [o["Key"] for o in response.get("Contents", []) if o["Key"] != parent]
    names = {c[len(parent) :].rstrip("/"): c for c in candidates}
    close = difflib.get_close_matches(leaf, list(names), n=limit, cutoff=0.4)
    return [names[name] for name in close] or sorted(candidates)[:limit]
