"""Which published dataset an object belongs to, for checking a single-object read against
the dataset's manifest rather than against the object's own metadata (which anyone who can
write the object can write too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakeops.datasets.manifest import Manifest, ManifestEntry, manifest_key, read_manifest
from lakeops.errors import AccessDeniedError, CredentialsRejectedError
from lakeops.ops.download import Pinned

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from lakeops.layout import StorageLayer
    from lakeops.ops.context import Context


@dataclass(frozen=True)
class Membership:
    manifest: Manifest
    entry: ManifestEntry

    @property
    def manifest_uri(self) -> str:
        return f"{self.manifest.dataset}{manifest_key('')}"

    def pinned(self) -> Pinned | None:
        """What a download must match; None when the manifest records no SHA-256."""
        if self.entry.sha256 is None:
            return None
        return Pinned(
            sha256=self.entry.sha256,
            dataset=self.manifest.dataset,
            manifest_uri=self.manifest_uri,
            published_version_id=self.entry.version_id,
            written_at=self.manifest.written_at,
            published_etag=self.entry.etag or None,
        )


def ancestors(key: str) -> list[str]:
    """The prefixes a key lies under, nearest first: ``a/b/c.csv`` -> ``a/b/``, ``a/``."""
    parts = key.split("/")[:-1]
    return ["/".join(parts[:depth]) + "/" for depth in range(len(parts), 0, -1)]


def manifests_at(
    ctx: Context, layer: StorageLayer, prefixes: Iterable[str]
) -> Iterator[tuple[str, Manifest]]:
    """The manifests at ``prefixes``, in their order, read one at a time as they are asked
    for (one GET each, most of them not found). A manifest the credentials may not read is
    passed over, as though there were none."""
    for prefix in prefixes:
        try:
            manifest = read_manifest(ctx, layer, prefix)
        except CredentialsRejectedError:
            raise
        except AccessDeniedError:
            continue
        if manifest is not None:
            yield prefix, manifest


def published_membership(ctx: Context, layer: StorageLayer, key: str) -> Membership | None:
    """The published dataset that lists ``key``: the nearest manifest above it that does (one
    GET per level, most of them not found). A manifest the credentials may not read is passed
    over: the object is then checked as it would be without one."""
    for prefix, manifest in manifests_at(ctx, layer, ancestors(key)):
        entry = manifest.by_key().get(key[len(prefix) :])
        if entry is not None:
            return Membership(manifest, entry)
    return None
