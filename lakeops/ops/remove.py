"""Removing objects from silver or gold: the one kind of delete lakeops makes.

On a versioned bucket (every bucket of the lake) a removal adds a delete marker: the old
version stays, recoverable with ``lakeops versions`` and ``download --version-id``. Removing a
version for good is never done by lakeops, and no pipeline role is allowed to. Bronze is refused
before any request: it is append-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from lakeops.errors import AccessDeniedError, ImmutableObjectError, StorageError
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.ops.context import S3_FAILURES
from lakeops.s3errors import DENIED_CODES, error_code, translate

if TYPE_CHECKING:
    from lakeops.ops.context import Context

# DeleteObjects takes at most 1,000 keys per request.
BATCH = 1000


def refuse_bronze(layer: StorageLayer, where: str) -> None:
    """Bronze is never removed from: say why, and what to do instead."""
    if LAYOUT[layer].append_only:
        raise ImmutableObjectError(
            f"{where} is in {layer}, which is append-only: its objects are immutable by "
            "policy (no pipeline role may delete there, and lakeops never does). Nothing was "
            "removed.",
            hint="Write corrected data under a new key (a new date or version in its path) and "
            "promote from there; to stop using an object downstream, remove its copies from "
            "silver or gold. Removing bronze data for good (retention, a legal request) is for "
            "the lake's owners, with the break-glass principals (docs/production.md).",
        )


@dataclass
class Removed:
    """What a batch of removals did."""

    keys: list[str] = field(default_factory=list)
    # True when a removal added a delete marker (a versioned bucket); False when an object
    # was removed for good (an unversioned bucket); None when nothing was removed.
    delete_markers: bool | None = None


def delete_current(ctx: Context, layer: StorageLayer, keys: Sequence[str]) -> Removed:
    """Remove the current version of each key (a delete marker on a versioned bucket): one
    DeleteObject for one key, DeleteObjects in batches of 1,000 for more. A key the server
    refuses stops the removal with the error for it; the keys removed before stay removed."""
    refuse_bronze(layer, ctx.uri(layer, keys[0] if keys else ""))
    done = Removed()
    for start in range(0, len(keys), BATCH):
        batch = list(keys[start : start + BATCH])
        outcomes = (
            _delete_one(ctx, layer, batch[0])
            if len(batch) == 1
            else _delete_batch(ctx, layer, batch)
        )
        refused_whole = outcomes[1] and not outcomes[0]
        if len(batch) > 1 and refused_whole and _all_denied(outcomes[1]):
            # Some servers (moto) authorise a multi-object delete on the bucket rather than on
            # each key, as AWS does: a batch refused whole is asked key by key, which a policy
            # scoped to prefixes then decides.
            outcomes = _key_by_key(ctx, layer, batch)
        deleted, errors = outcomes
        for entry in deleted:
            done.keys.append(entry["Key"])
            if done.delete_markers is None:
                done.delete_markers = bool(entry.get("DeleteMarker"))
        if errors:
            _refused(ctx, layer, len(batch), errors, len(done.keys))
    return done


def _all_denied(errors: list[dict[str, Any]]) -> bool:
    return all(error.get("Code") in DENIED_CODES for error in errors)


Outcome = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def _delete_one(ctx: Context, layer: StorageLayer, key: str) -> Outcome:
    target = ctx.target("remove", layer, key)
    try:
        response = ctx.client.delete_object(Bucket=ctx.bucket(layer), Key=key)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in DENIED_CODES:
            return [], [{"Key": key, "Code": error_code(exc), "Message": str(exc)}]
        raise translate(exc, target) from exc
    except S3_FAILURES as exc:
        raise translate(exc, target) from exc
    return [{"Key": key, "DeleteMarker": response.get("DeleteMarker")}], []


def _delete_batch(ctx: Context, layer: StorageLayer, batch: list[str]) -> Outcome:
    try:
        response = ctx.client.delete_objects(
            Bucket=ctx.bucket(layer),
            Delete={"Objects": [{"Key": key} for key in batch], "Quiet": False},
        )
    except S3_FAILURES as exc:
        raise translate(exc, ctx.target("remove", layer)) from exc
    deleted = [dict(entry) for entry in response.get("Deleted", [])]
    return deleted, [dict(error) for error in response.get("Errors", [])]


def _key_by_key(ctx: Context, layer: StorageLayer, batch: list[str]) -> Outcome:
    deleted: list[dict[str, Any]] = []
    for key in batch:
        one, errors = _delete_one(ctx, layer, key)
        if errors:
            return deleted, errors
        deleted += one
    return deleted, []


def _refused(
    ctx: Context, layer: StorageLayer, asked: int, errors: list[dict[str, Any]], done: int
) -> None:
    first = errors[0]
    what = f"{len(errors)} of {asked} removals in {ctx.uri(layer, '')} were refused"
    detail = f"{ctx.uri(layer, first['Key'])}: {first.get('Code')}"
    already = f"; {done} objects were removed before" if done else ""
    if first.get("Code") in DENIED_CODES:
        raise AccessDeniedError(
            f"{what} ({detail}: access denied){already}.",
            hint="Remove as the role that writes this layer (--role transform for silver, "
            "--role publish for gold).",
        )
    raise StorageError(f"{what} ({detail}: {first.get('Message')}){already}.", hint="Retry.")
