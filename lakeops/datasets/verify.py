"""Checking a published dataset against its manifest, by content.

The manifest pins each object's version and SHA-256. An object whose current version is the
published one is unchanged: versions never change. Any other was rewritten: it holds the same
bytes if its ETag, which the server computes, is the published one; two plain MD5 ETags that
differ mean other bytes. Only where ETags cannot tell (other part sizes, SSE-KMS) is the
SHA-256 the object records taken for its bytes (one HEAD): metadata anyone who can write the
object can copy. ``deep`` reads and hashes what a reader reads, each object's current version,
which also finds damage no stored checksum can. Objects under the prefix that the manifest
does not list are reported too: a glob would read them, the manifest would not.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakeops.datasets.manifest import RESERVED_NAMES, ManifestEntry, read_manifest
from lakeops.datasets.plan import dataset_prefix, list_versions
from lakeops.datasets.results import plural
from lakeops.errors import NotPublishedError
from lakeops.hashing import CHUNK_BYTES, ProgressCallback, announce, finish
from lakeops.layout import StorageLayer
from lakeops.metadata import META_SHA256
from lakeops.ops.context import S3_FAILURES
from lakeops.s3errors import translate

if TYPE_CHECKING:
    from lakeops.ops.context import Context

OK, UNCHANGED_CONTENT = "ok", "ok (rewritten, same content)"
# Rewritten, with another ETag, and only its recorded SHA-256 says the bytes are the same.
SAME_RECORDED_HASH = "ok (rewritten, same recorded SHA-256)"
# Deep, but nothing to compare the bytes with: objects other tools wrote, promoted, carry no
# recorded SHA-256, and a multipart ETag is no MD5.
NOT_HASHED = "ok (bytes not checkable)"


@dataclass(frozen=True)
class Row:
    key: str
    result: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.result.startswith(OK)


@dataclass
class DatasetReport:
    dataset: str
    manifest_version_id: str | None
    written_at: str
    deep: bool
    rows: list[Row] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def summary(self) -> str:
        bad = [row for row in self.rows if not row.ok]
        how = "read and hashed" if self.deep else "checked by version and stored SHA-256"
        if not bad:
            unchecked = sum(1 for row in self.rows if row.result == NOT_HASHED)
            caveat = f"; {unchecked} without a checksum to compare their bytes" if unchecked else ""
            return (
                f"all {plural(len(self.rows), 'object')} match the manifest of {self.written_at} "
                f"({how}{caveat})"
            )
        return f"{len(bad)} of {len(self.rows)} objects differ from the manifest ({how})"


@dataclass(frozen=True)
class _Live:
    version_id: str | None
    etag: str
    size: int


def verify_dataset(
    ctx: Context,
    where: StorageLayer,
    prefix: str,
    *,
    deep: bool = False,
    progress: ProgressCallback | None = None,
    workers: int = 16,
) -> DatasetReport:
    root = dataset_prefix(where, prefix, writing=False)
    manifest = read_manifest(ctx, where, root)
    if manifest is None:
        raise NotPublishedError(
            f"{ctx.uri(where, root)} has no manifest: it was never published.",
            hint="Only published datasets can be verified; `lakeops verify` checks the lake.",
        )
    report = DatasetReport(ctx.uri(where, root), manifest.version_id, manifest.written_at, deep)
    live, kept = _listing(ctx, where, root)
    entries = manifest.by_key()
    announce(progress, manifest.total_bytes if deep else None)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            report.rows = list(
                pool.map(
                    lambda entry: _check(
                        ctx,
                        layer=where,
                        root=root,
                        entry=entry,
                        live=live,
                        kept=kept,
                        deep=deep,
                        progress=progress,
                    ),
                    manifest.entries,
                )
            )
    finally:
        finish(progress)
    for key in sorted(set(live) - set(entries)):
        if key not in RESERVED_NAMES:
            report.rows.append(Row(key, "extra", "under the prefix but not in the manifest"))
    return report


def _listing(
    ctx: Context, layer: StorageLayer, root: str
) -> tuple[dict[str, _Live], set[tuple[str, str | None]]]:
    """Current objects by relative key, and every (relative key, version) still kept."""
    versions = list_versions(ctx, layer, root)
    live = {
        key[len(root) :]: _Live(listed.version_id, listed.etag.strip('"'), listed.size)
        for key, listed in versions.current.items()
    }
    kept = {(key[len(root) :], version) for key, version in versions.kept}
    return live, kept


def _check(
    ctx: Context,
    *,
    layer: StorageLayer,
    root: str,
    entry: ManifestEntry,
    live: dict[str, _Live],
    kept: set[tuple[str, str | None]],
    deep: bool,
    progress: ProgressCallback | None,
) -> Row:
    still_kept = (entry.key, entry.version_id) in kept
    kept_note = (
        "; the published version is still kept (readers of the manifest are unaffected)"
        if still_kept and entry.version_id
        else "; the published version is gone"
    )
    current = live.get(entry.key)
    if current is None:
        return Row(entry.key, "deleted", "no current object" + kept_note)
    if deep:
        hashed = _hash_check(
            ctx, layer=layer, key=root + entry.key, entry=entry, current=current, progress=progress
        )
        if hashed is not None and hashed.result != NOT_HASHED:
            return hashed
    row = _by_version(ctx, layer=layer, root=root, entry=entry, current=current, note=kept_note)
    if deep and row.ok:
        # The bytes were read: they are the published ones (or could not be compared).
        if hashed is not None:
            return hashed
        return row if _same_version(entry, current) else Row(entry.key, UNCHANGED_CONTENT)
    return row


def _hash_check(
    ctx: Context,
    *,
    layer: StorageLayer,
    key: str,
    entry: ManifestEntry,
    current: _Live,
    progress: ProgressCallback | None,
) -> Row | None:
    """Read what a reader reads, the current version, and compare its bytes with the
    manifest's SHA-256, or else with a published ETag that is an MD5: a row if they differ or
    cannot be compared, else None. Bytes that differ are "corrupt" when the current version
    is the published one (damaged in store), else "modified"."""
    sha256, md5 = _hash_version(ctx, layer, key, current.version_id, progress)
    published = _same_version(entry, current)
    if published:
        result, what = "corrupt", "published version"
    else:
        result, what = "modified", f"current version {current.version_id or 'null'}"
    if entry.sha256:
        if sha256 == entry.sha256:
            return None
        return Row(
            entry.key,
            result,
            f"{what} hashes to {sha256[:12]}..., the manifest says {entry.sha256[:12]}...",
        )
    if entry.etag and "-" not in entry.etag:
        if md5 == entry.etag:
            return None
        return Row(
            entry.key,
            result,
            f"{what}'s MD5 is {md5[:12]}..., the manifest's ETag says {entry.etag[:12]}...",
        )
    return Row(entry.key, NOT_HASHED, "no recorded SHA-256, and a multipart ETag")


def _same_version(entry: ManifestEntry, current: _Live) -> bool:
    if entry.version_id is not None:
        return current.version_id == entry.version_id
    return current.etag == entry.etag


def _by_version(
    ctx: Context,
    *,
    layer: StorageLayer,
    root: str,
    entry: ManifestEntry,
    current: _Live,
    note: str,
) -> Row:
    """Whether the current object is the published one: the same version; or else the same
    bytes, as its ETag says, or where ETags cannot tell, as its recorded SHA-256 says."""
    if _same_version(entry, current):
        return Row(entry.key, OK)
    now = f"now version {current.version_id or 'null'}"
    if current.etag == entry.etag and current.size == entry.size:
        return Row(entry.key, UNCHANGED_CONTENT, now)
    if _plain_md5(current.etag) and _plain_md5(entry.etag):
        pass  # two MD5s that differ: other bytes, whatever the metadata says
    elif entry.sha256 and current.size == entry.size:
        head = ctx.head(ctx.target("verify", layer, root + entry.key, current.version_id))
        if head.get("Metadata", {}).get(META_SHA256) == entry.sha256:
            return Row(entry.key, SAME_RECORDED_HASH, f"{now}; --deep reads its bytes")
    return Row(
        entry.key,
        "modified",
        f"current version {current.version_id or 'null'} ({current.size} bytes) is not the "
        f"published {entry.version_id or 'null'} ({entry.size} bytes)" + note,
    )


def _plain_md5(etag: str) -> bool:
    return len(etag) == 32 and "-" not in etag


def _hash_version(
    ctx: Context,
    layer: StorageLayer,
    key: str,
    version_id: str | None,
    progress: ProgressCallback | None,
) -> tuple[str, str]:
    """The SHA-256 and MD5 of a stored version's bytes."""
    target = ctx.target("read", layer, key, version_id)
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    try:
        body = ctx.client.get_object(**ctx.object_args(target))["Body"]
        for chunk in body.iter_chunks(CHUNK_BYTES):
            sha256.update(chunk)
            md5.update(chunk)
            if progress is not None:
                progress(len(chunk))
    except S3_FAILURES as exc:
        raise translate(exc, target) from exc
    return sha256.hexdigest(), md5.hexdigest()
