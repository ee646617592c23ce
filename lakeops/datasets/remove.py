"""``lakeops rm``: removing an object, or everything under a prefix, from silver or gold.

A published dataset is removed only as a whole: its readers were promised that it never
changes, so a removal that would take some of its objects and leave its manifest is refused.
Removing the whole dataset removes its manifest and ``_SUCCESS`` first, which unpublishes it:
a reader that goes through the manifest then finds no dataset, never part of one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakeops.datasets.manifest import read_manifest
from lakeops.datasets.plan import dataset_prefix
from lakeops.datasets.published import ancestors, manifests_at, published_membership
from lakeops.errors import (
    DatasetPublishedError,
    InvalidKeyError,
    NotFoundError,
)
from lakeops.layout import LAYOUT, StorageLayer, is_marker_key
from lakeops.ops import listing
from lakeops.ops.remove import delete_current, refuse_bronze
from lakeops.validation import MANIFEST_NAME, RESERVED_KEY_NAMES, validate_existing_key

if TYPE_CHECKING:
    from lakeops.ops.context import Context


@dataclass
class RemovalResult:
    """What ``rm`` removed (or, with ``dry_run``, would remove)."""

    target: str  # s3://bucket/key, or s3://bucket/prefix/
    dry_run: bool
    keys: list[str] = field(default_factory=list)
    bytes: int = 0
    # The published datasets removed whole, by their s3://bucket/prefix/.
    unpublished: list[str] = field(default_factory=list)
    # True: each removal added a delete marker (the bucket is versioned; the old versions stay
    # recoverable). False: removed for good (unversioned). None: nothing was removed.
    delete_markers: bool | None = None


def remove(
    ctx: Context, layer: StorageLayer, key: str, *, recursive: bool, dry_run: bool
) -> RemovalResult:
    refuse_bronze(layer, ctx.uri(layer, key))
    if recursive:
        result, ordered = _plan_prefix(ctx, layer, key, dry_run)
    else:
        result, ordered = _plan_object(ctx, layer, key, dry_run)
    if dry_run:
        return result
    # The manifests and _SUCCESS markers first: the datasets are unpublished before any of
    # their objects goes.
    for keys in ordered:
        if keys:
            removed = delete_current(ctx, layer, keys)
            if result.delete_markers is None:
                result.delete_markers = removed.delete_markers
    return result


def _plan_object(
    ctx: Context, layer: StorageLayer, key: str, dry_run: bool
) -> tuple[RemovalResult, list[list[str]]]:
    key = validate_existing_key(key)
    uri = ctx.uri(layer, key)
    if is_marker_key(layer, key):
        raise InvalidKeyError(
            f"{uri} is the marker of one of {layer}'s declared prefixes, part of the lake's "
            "layout; it is not removed.",
            hint=f"Remove what is under it with `lakeops rm --recursive {layer} {key}`.",
        )
    head = ctx.head(ctx.target("remove", layer, key))
    name = key.rsplit("/", 1)[-1]
    member = published_membership(ctx, layer, key)
    own = key[: -len(name)]
    if member is not None or (
        name in RESERVED_KEY_NAMES and read_manifest(ctx, layer, own) is not None
    ):
        dataset = member.manifest.dataset if member else ctx.uri(layer, own)
        prefix = member.manifest.prefix if member else own
        raise DatasetPublishedError(
            f"{uri} belongs to the published dataset {dataset}; a published dataset is "
            "removed only as a whole, never an object at a time. Nothing was removed.",
            hint=f"`lakeops rm --recursive {layer} {prefix}` removes the whole dataset (and "
            "unpublishes it); to correct it, publish the corrected data under a new prefix.",
        )
    result = RemovalResult(uri, dry_run, [key], int(head.get("ContentLength", 0)))
    return result, [[key]]


def _plan_prefix(
    ctx: Context, layer: StorageLayer, given: str, dry_run: bool
) -> tuple[RemovalResult, list[list[str]]]:
    prefix = dataset_prefix(layer, given, writing=False)
    where = ctx.uri(layer, prefix)
    if not prefix:
        raise InvalidKeyError(
            f"rm --recursive needs a prefix: removing all of {layer} at once is not offered.",
            hint=f"Name the prefix, for example `lakeops rm --recursive {layer} "
            f"{LAYOUT[layer].prefixes[0]}orders/`.",
        )
    _refuse_part_of_a_dataset(ctx, layer, prefix)
    result = RemovalResult(where, dry_run)
    first: list[str] = []
    rest: list[str] = []
    for entry in listing.iter_objects(ctx, layer, prefix):
        key = entry["Key"]
        result.keys.append(key)
        result.bytes += int(entry.get("Size", 0))
        name = key.rsplit("/", 1)[-1]
        if name in RESERVED_KEY_NAMES:
            first.append(key)
            if name == MANIFEST_NAME:
                result.unpublished.append(ctx.uri(layer, key[: -len(name)]))
        else:
            rest.append(key)
    if not result.keys:
        raise NotFoundError(
            f"nothing to remove under {where}.",
            hint=f"`lakeops ls {layer} {prefix}` shows what is there.",
        )
    # A manifest before its _SUCCESS, so that no reader sees _SUCCESS without a dataset.
    first.sort(key=lambda key: not key.endswith(MANIFEST_NAME))
    return result, [first, rest]


def _refuse_part_of_a_dataset(ctx: Context, layer: StorageLayer, prefix: str) -> None:
    """Refuse a prefix inside a published dataset (a manifest above it lists objects under
    it): that would remove part of the dataset."""
    for above, manifest in manifests_at(ctx, layer, ancestors(prefix.rstrip("/") + "/x")[1:]):
        inside = prefix[len(above) :]
        if any(entry.key.startswith(inside) for entry in manifest.entries):
            raise DatasetPublishedError(
                f"{ctx.uri(layer, prefix)} is part of the published dataset {manifest.dataset}; "
                "a published dataset is removed only as a whole. Nothing was removed.",
                hint=f"`lakeops rm --recursive {layer} {above}` removes the whole dataset (and "
                "unpublishes it).",
            )
