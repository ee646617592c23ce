"""Listing a layer's objects under a prefix, lazily, one page of keys at a time."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lakeops.layout import LAYOUT, StorageLayer, is_marker_key
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
    delimiter: str | None = None,
) -> Iterator[dict[str, Any]]:
    """See :meth:`lakeops.Lake.iter_objects`. Arguments are checked at once; requests start
    when iteration does.

    With a ``delimiter`` ("/"), one level is listed: the keys up to the next delimiter are
    rolled up into entries ``{"Prefix": "a/b/"}``, in key order among the objects."""
    layer = StorageLayer.parse(layer)
    prefix = validate_prefix(prefix)
    target = ctx.target("list", layer, prefix or None)
    rolled_up = {"Delimiter": delimiter} if delimiter else {}
    pages = ctx.client.get_paginator("list_objects_v2").paginate(
        Bucket=ctx.bucket(layer),
        Prefix=prefix,
        PaginationConfig={"PageSize": page_size},
        **rolled_up,  # type: ignore[arg-type]
    )

    def entries() -> Iterator[dict[str, Any]]:
        try:
            for page in pages:
                found: list[dict[str, Any]] = [
                    dict(item)
                    for item in page.get("Contents", [])
                    if include_markers or not is_marker_key(layer, item["Key"])
                ]
                if delimiter:
                    # A page's prefixes and objects each come sorted; pages follow key order.
                    found += [{"Prefix": p["Prefix"]} for p in page.get("CommonPrefixes", [])]
                    found.sort(key=lambda entry: str(entry.get("Key") or entry["Prefix"]))
                yield from found
        except S3_FAILURES as exc:
            raise translate(exc, target) from exc

    return entries()


def nearest_prefixes(ctx: Context, layer: StorageLayer, prefix: str, limit: int = 3) -> list[str]:
    """Keys and prefixes that do exist beside a prefix that matched nothing, whose last part
    looks like a typo of the missing one (``file/`` -> ``files/``). For "did you mean" hints:
    better none than unrelated ones, so only close names count, and never a sibling that
    has other numbers in it (``part-0200.csv`` is not a typo of ``part-0010.csv``)."""
    top, _, rest = prefix.partition("/")
    declared = [p.rstrip("/") for p in LAYOUT[layer].prefixes]
    if rest and top not in declared:
        # A typo in the first part (file/dr/x.csv): its siblings are the layout's prefixes.
        close = difflib.get_close_matches(top, declared, n=limit, cutoff=_CLOSE)
        if close:
            return [f"{name}/{rest}" for name in close]
    parent, _, leaf = prefix.rstrip("/").rpartition("/")
    parent = f"{parent}/" if parent else ""
    # At the top, the layout's own prefixes: a role may not be allowed to list the bucket.
    candidates = list(LAYOUT[layer].prefixes) if not parent else []
    try:
        response = ctx.client.list_objects_v2(
            Bucket=ctx.bucket(layer), Prefix=parent, Delimiter="/", MaxKeys=1000
        )
    except S3_FAILURES:
        response = {}  # type: ignore[typeddict-item]
    candidates += [p["Prefix"] for p in response.get("CommonPrefixes", [])]
    candidates += [o["Key"] for o in response.get("Contents", []) if o["Key"] != parent]
    names = {c[len(parent) :].rstrip("/"): c for c in candidates}
    close = difflib.get_close_matches(leaf, list(names), n=len(names), cutoff=_CLOSE)
    return [names[name] for name in close if not _other_numbers(name, leaf)][:limit]


# difflib's ratio above which a name is taken for a typo of another: "file" and "files" (0.89),
# "cleand" and "cleaned" (0.92); "users" and "orders" (0.55) are just different names.
_CLOSE = 0.75
_NUMBERS = re.compile(r"[0-9]+")


def _other_numbers(one: str, other: str) -> bool:
    """Names whose numbers differ are siblings in a series, not typos of each other."""
    return _NUMBERS.findall(one) != _NUMBERS.findall(other)
