"""An object's versions, and whether a bronze object is still the one first written.

Bronze is append-only for lakeops and for the pipeline roles, but any client holding the root
login (or a server that ignores ``If-None-Match``) can still write a second version. Versioning
keeps the original, so a replaced object can be noticed: its current version is not its oldest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from lakeops.errors import AccessDeniedError, CredentialsRejectedError, ReplacedObjectError
from lakeops.s3errors import Target, normalize_version, translate

if TYPE_CHECKING:
    from lakeops.ops.context import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectVersion:
    key: str
    version_id: str | None
    is_latest: bool
    is_delete_marker: bool
    last_modified: datetime
    size: int | None
    etag: str | None

    @classmethod
    def from_listing(cls, entry: dict[str, Any], *, delete_marker: bool) -> ObjectVersion:
        return cls(
            key=entry["Key"],
            version_id=normalize_version(entry.get("VersionId")),
            is_latest=bool(entry.get("IsLatest")),
            is_delete_marker=delete_marker,
            last_modified=entry["LastModified"],
            size=None if delete_marker else int(entry.get("Size", 0)),
            etag=None if delete_marker else str(entry.get("ETag", "")).strip('"'),
        )


def iter_versions(ctx: Context, target: Target, prefix: str) -> Iterator[ObjectVersion]:
    """Versions and delete markers under ``prefix``, newest first within each key."""
    assert target.bucket is not None
    pages = ctx.client.get_paginator("list_object_versions").paginate(
        Bucket=target.bucket, Prefix=prefix
    )
    try:
        for page in pages:
            entries = [
                ObjectVersion.from_listing(dict(v), delete_marker=False)
                for v in page.get("Versions", [])
            ] + [
                ObjectVersion.from_listing(dict(m), delete_marker=True)
                for m in page.get("DeleteMarkers", [])
            ]
            # S3 lists a page's versions and delete markers apart, each newest first per key;
            # merge them. The sort is stable, so versions that tie on time keep S3's order.
            entries.sort(key=lambda v: (v.key, -v.last_modified.timestamp()))
            yield from entries
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise translate(exc, target) from exc


def key_history(ctx: Context, target: Target) -> list[ObjectVersion]:
    """Every version and delete marker of exactly ``target.key``, newest first."""
    assert target.key is not None
    history = []
    for version in iter_versions(ctx, target, target.key):
        if version.key == target.key:
            history.append(version)
        elif version.key > target.key:
            break
    return history


def ensure_original(ctx: Context, target: Target, current_version: str | None) -> None:
    """Raise ReplacedObjectError if the bronze object's current version is not its first.

    Needs s3:ListBucketVersions; without it the check is skipped with a warning, since a
    download must not fail for want of a permission the check alone needs.
    """
    try:
        history = key_history(ctx, target)
    except CredentialsRejectedError:
        raise
    except AccessDeniedError:
        log.warning(
            "cannot check that %s is still its first version: listing versions is denied "
            "(s3:ListBucketVersions).",
            target.where,
        )
        return
    versions = [v for v in history if not v.is_delete_marker]
    if len(history) <= 1 or not versions:
        return
    # S3 lists a key's versions newest first; timestamps may tie (second resolution), the
    # order does not.
    original = versions[-1]
    if current_version == original.version_id:
        return
    raise ReplacedObjectError(
        f"{target.where} has been replaced since it was first written: its current version "
        f"{current_version or 'null'} is not the original {original.version_id or 'null'} "
        f"(written {original.last_modified:%Y-%m-%d %H:%M:%S}); {len(history)} versions in all. "
        "Bronze is append-only, so a client that ignores its rule (or a server that ignores "
        "If-None-Match) wrote over it. Nothing was downloaded.",
        hint=f"Download the original with --version-id {original.version_id}, list the history "
        f"with `lakeops versions {target.layer} {target.key}`, and tell the lake's owners.",
    )


def what_is_there(ctx: Context, target: Target) -> tuple[bool, str | None]:
    """Whether an object is at ``target`` now, and its version: what a write to silver or
    gold would replace. A look the credentials may not make counts as nothing known."""
    try:
        head = ctx.peek(target)
    except CredentialsRejectedError:
        raise
    except AccessDeniedError:
        return False, None
    if head is None:
        return False, None
    return True, normalize_version(head.get("VersionId"))
