"""Planning a dataset job before anything is written.

A plan lists every object of the job with what will happen to it: new, changed (replaced
where the layer allows it), identical (skipped), conflict, or invalid. It is made from one
listing of each side (a page of up to 1,000 keys per request) and, only where sizes are equal
and a listing cannot tell, from content hashes: local files are hashed, and an S3 ETag that is
an MD5 (single-part objects, or multipart ones of lakeops' part size) is compared with them.
A HEAD is sent only where neither can tell. A published dataset's manifest, when there is one,
gives each object's SHA-256 and version outright.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from lakeops.datasets.filters import PathFilter
from lakeops.datasets.manifest import RESERVED_NAMES, Manifest, ManifestEntry, read_manifest
from lakeops.datasets.results import Action, Item
from lakeops.errors import InvalidKeyError, LocalFileError, ValidationError
from lakeops.hashing import Digests, digest_file
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.metadata import META_SHA256, META_SOURCE_URI, META_SOURCE_VERSION_ID, encode_uri
from lakeops.ops import pages as pages_of
from lakeops.ops.context import S3_FAILURES
from lakeops.ops.download_folder import is_temporary, temporary_of, temporary_stem
from lakeops.ops.upload import stored_sha256
from lakeops.redaction import quoted
from lakeops.s3errors import normalize_version, translate
from lakeops.validation import local_path, validate_prefix, validate_write_key

if TYPE_CHECKING:
    from lakeops.ops.context import Context

log = logging.getLogger(__name__)

# Called with how many objects planning has looked at so far.
PlanProgress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Listed:
    size: int
    etag: str
    version_id: str | None = None


@dataclass
class Plan:
    operation: str  # upload | download | promote
    source: str  # a local folder or an s3:// URI, for people
    target: str
    items: list[Item]
    # The lake side: the target of uploads and promotions, the source of downloads.
    layer: StorageLayer
    prefix: str
    source_layer: StorageLayer | None = None
    source_prefix: str | None = None
    source_manifest: Manifest | None = None
    # The target's manifest, when the dataset was published before.
    published: Manifest | None = None
    # lakeops' own temporary files that an interrupted download of these objects left, by
    # path below the download folder: removed before the transfers.
    stale_partials: list[str] = field(default_factory=list)
    reserved_skipped: list[str] = field(default_factory=list)
    # A download of a published dataset: its objects whose live version is not the one
    # published (replaced or removed since), by relative key. The published ones are read.
    live_changed: list[str] = field(default_factory=list)
    left_out: int = 0  # by --include / --exclude
    # HEADs of target objects the plan looked at, by key, for the manifest to reuse.
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)

    def count(self, action: Action) -> int:
        return sum(1 for item in self.items if item.action is action)

    def of(self, *actions: Action) -> list[Item]:
        return [item for item in self.items if item.action in actions]


# -- names -------------------------------------------------------------------------------------


def dataset_prefix(layer: StorageLayer, prefix: object, *, writing: bool) -> str:
    """A dataset's root prefix, ending in '/'. One that is written must lie under one of the
    layer's declared prefixes, like every key lakeops writes."""
    checked = validate_prefix(prefix)
    if checked and not checked.endswith("/"):
        checked += "/"
    if writing:
        if not checked:
            raise InvalidKeyError(
                f"a dataset in {layer} needs a prefix under one of "
                f"{', '.join(LAYOUT[layer].prefixes)}.",
                hint=f"For example {quoted(LAYOUT[layer].prefixes[0] + 'orders/2024-01-15/')}.",
            )
        validate_write_key(layer, checked + "x", what="dataset prefix")
    return checked


# The longest file name the file systems lakeops writes to hold (ext4, XFS, APFS, NTFS).
MAX_NAME_BYTES = 255


def local_relative(relative: str) -> str:
    """A key below a dataset's prefix as a safe relative local path, or InvalidKeyError."""
    parts = relative.split("/")
    hint = "Download it on its own with `lakeops download` and a target name."
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise InvalidKeyError(
            f"key part {quoted(relative)} cannot be a local path (empty, '.' or '..' segments).",
            hint=hint,
        )
    if "\x00" in relative:
        raise InvalidKeyError(
            f"key part {quoted(relative)} holds a NUL byte, which no file name can.", hint=hint
        )
    longest = max(len(part.encode("utf-8", "surrogateescape")) for part in parts)
    if longest > MAX_NAME_BYTES:
        raise InvalidKeyError(
            f"key part {quoted(relative)} has a name of {longest} bytes; file names hold at "
            f"most {MAX_NAME_BYTES} bytes.",
            hint=hint,
        )
    return relative


# -- listings ----------------------------------------------------------------------------------


def list_current(
    ctx: Context, layer: StorageLayer, prefix: str, progress: PlanProgress | None = None
) -> dict[str, Listed]:
    """Current objects under ``prefix`` (ListObjectsV2), folder markers left out."""
    target = ctx.target("list", layer, prefix or None)
    found: dict[str, Listed] = {}
    pages = pages_of.list_objects(ctx, ctx.bucket(layer), prefix)
    try:
        for page in pages:
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if key.endswith("/") and not entry["Size"]:
                    continue
                found[key] = Listed(int(entry["Size"]), str(entry["ETag"]))
            if progress is not None:
                progress(len(found))
    except (*S3_FAILURES, *pages_of.PAGE_FAILURES) as exc:
        raise translate(exc, target) from exc
    return found


@dataclass
class Versions:
    """What ListObjectVersions says of a prefix, by full key."""

    current: dict[str, Listed]
    # Keys whose current version is not their first, with that first version's id: for bronze
    # sources, a replaced object is noticed.
    replaced: dict[str, str | None]
    # Every (key, version) still stored, current or not, with its size: what a manifest's
    # pins can read.
    kept: dict[tuple[str, str | None], int]


def list_versions(
    ctx: Context, layer: StorageLayer, prefix: str, progress: PlanProgress | None = None
) -> Versions:
    """The versions of the objects under ``prefix`` (ListObjectVersions), folder markers and
    deleted keys left out of the current ones."""
    target = ctx.target("list versions", layer, prefix or None)
    current: dict[str, Listed] = {}
    oldest: dict[str, str | None] = {}
    kept: dict[tuple[str, str | None], int] = {}
    deleted: set[str] = set()
    pages = pages_of.list_versions(ctx, ctx.bucket(layer), prefix)
    try:
        for page in pages:
            for marker in page.get("DeleteMarkers", []):
                if marker.get("IsLatest"):
                    deleted.add(marker["Key"])
            for version in page.get("Versions", []):
                key = version["Key"]
                if key.endswith("/") and not version["Size"]:
                    continue
                version_id = normalize_version(version.get("VersionId"))
                kept[key, version_id] = int(version["Size"])
                # S3 lists a key's versions newest first, so the last one seen is the first.
                oldest[key] = version_id
                if version.get("IsLatest"):
                    current[key] = Listed(int(version["Size"]), str(version["ETag"]), version_id)
            if progress is not None:
                progress(len(current))
    except (*S3_FAILURES, *pages_of.PAGE_FAILURES) as exc:
        raise translate(exc, target) from exc
    for key in deleted:
        current.pop(key, None)
    replaced = {
        key: first
        for key, first in oldest.items()
        if key in current and current[key].version_id != first
    }
    return Versions(current, replaced, kept)


# -- hashing -----------------------------------------------------------------------------------


class _Stopped(Exception):
    """Hashing given up: the caller stopped reading (Ctrl-C, an error)."""


def digest_many(
    paths: Iterable[Path], workers: int, part_size: int
) -> Generator[tuple[Path, Digests | OSError]]:
    """Digests of many local files, several at once (hashlib releases the GIL on large
    buffers); an unreadable file gives its OSError instead. Only a few files are hashed
    ahead of the caller, and once it stops (Ctrl-C) the files being hashed are given up at
    their next chunk, so a large folder does not hold an interrupt back."""
    stop = threading.Event()

    def checked(amount: int) -> None:
        if stop.is_set():
            raise _Stopped

    def one(path: Path) -> tuple[Path, Digests | OSError]:
        try:
            return path, digest_file(path, checked, part_size=part_size)
        except OSError as exc:
            return path, exc

    count = max(1, min(workers, 8))
    pool = ThreadPoolExecutor(max_workers=count)
    waiting = iter(paths)
    pending = deque(pool.submit(one, path) for path in islice(waiting, count * 2))
    try:
        while pending:
            yield pending.popleft().result()
            following = next(waiting, None)
            if following is not None:
                pending.append(pool.submit(one, following))
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _compare(
    ctx: Context,
    *,
    layer: StorageLayer,
    key: str,
    digests: Digests,
    listed: Listed,
    published: ManifestEntry | None,
) -> bool:
    """Whether the stored object at ``key`` holds the bytes ``digests`` describe."""
    if published is not None and published.sha256 and published.etag == listed.etag.strip('"'):
        return published.sha256 == digests.sha256
    by_etag = digests.matches_etag(listed.etag)
    if by_etag is not None:
        return by_etag
    # The ETag is no MD5 (SSE-KMS, another part size): the recorded SHA-256 decides.
    target = ctx.target("compare with", layer, key, listed.version_id)
    head = ctx.head(target)
    return stored_sha256(ctx, target, head, listed.size) == digests.sha256


# -- upload ------------------------------------------------------------------------------------


def walk_folder(root: Path) -> Iterator[tuple[Path, str, str | None]]:
    """Everything below ``root`` as (path, relative posix path, problem), in sorted order.
    Regular files, and links to them, have no problem. What cannot be uploaded is reported,
    not skipped: a folder that cannot be read, a link to a folder (not followed: no cycles),
    a broken link, a socket or a device, a temporary file a lakeops download left; a job that
    leaves data out must say so."""
    unreadable: list[OSError] = []
    for folder, dirs, files in os.walk(root, followlinks=False, onerror=unreadable.append):
        while unreadable:
            failed = unreadable.pop()
            where = Path(failed.filename or folder)
            yield where, _relative(where, root), f"folder cannot be read: {failed.strerror}"
        dirs.sort()
        base = Path(folder)
        for name in sorted(dirs):
            path = base / name
            if path.is_symlink():
                yield path, _relative(path, root), "a link to a folder, which is not followed"
        for name in sorted(files):
            path = base / name
            relative = _relative(path, root)
            if is_temporary(name):
                yield path, relative, _TEMPORARY_FILE
            elif path.is_file():
                yield path, relative, None
            elif path.is_symlink():
                yield path, relative, "a broken link"
            else:
                yield path, relative, "not a regular file (a socket, a pipe or a device)"
    for failed in unreadable:
        where = Path(failed.filename or root)
        yield where, _relative(where, root), f"folder cannot be read: {failed.strerror}"


_TEMPORARY_FILE = (
    "a temporary file of an interrupted lakeops download (.<name>.<12 hex "
    "digits>.lakeops-partial); delete it, or leave it out with --exclude"
)


def _relative(path: Path, root: Path) -> str:
    return PurePosixPath(path.relative_to(root).as_posix()).as_posix()


def plan_upload(
    ctx: Context,
    *,
    local_dir: object,
    layer: StorageLayer,
    prefix: object,
    path_filter: PathFilter,
    workers: int,
    progress: PlanProgress | None = None,
) -> Plan:
    root = _folder(local_dir, "folder to upload")
    prefix = dataset_prefix(layer, prefix, writing=True)
    remote = list_current(ctx, layer, prefix, progress)
    published = read_manifest(ctx, layer, prefix)
    published_by_key = published.by_key() if published else {}
    append_only = LAYOUT[layer].append_only
    plan = Plan("upload", str(root), ctx.uri(layer, prefix), [], layer, prefix, published=published)
    to_compare: dict[Path, tuple[Item, Listed]] = {}
    for path, relative, found_problem in walk_folder(root):
        if not path_filter(relative):
            plan.left_out += 1
            continue
        if relative in RESERVED_NAMES:
            plan.reserved_skipped.append(relative)
            continue
        key = prefix + relative
        item = Item(relative, Action.NEW, 0, str(path), key)
        plan.items.append(item)
        problem = found_problem or _write_key_problem(layer, key) or _read_size(item, path)
        if problem is not None:
            item.action, item.note = Action.INVALID, problem
            continue
        listed = remote.get(key)
        if listed is not None and listed.size != item.size:
            item.action = Action.CONFLICT if append_only else Action.CHANGED
            item.note = f"stored size {listed.size}, local size {item.size}"
        elif listed is not None:
            to_compare[path] = (item, listed)
    by_etag: list[Item] = []
    for path, digests in digest_many(to_compare, workers, ctx.transfer.multipart_chunksize):
        item, listed = to_compare[path]
        if isinstance(digests, OSError):
            item.action, item.note = Action.INVALID, f"cannot be read: {digests.strerror}"
            continue
        entry = published_by_key.get(item.relative)
        same = _compare(
            ctx, layer=layer, key=item.target, digests=digests, listed=listed, published=entry
        )
        item.sha256 = digests.sha256
        if same:
            item.action = Action.IDENTICAL
            if not _by_manifest(entry, listed) and digests.matches_etag(listed.etag):
                by_etag.append(item)
        else:
            item.action = Action.CONFLICT if append_only else Action.CHANGED
            item.note = "stored content differs (same size)"
    _confirm_recorded_hashes(ctx, plan, by_etag, workers)
    return plan


def _by_manifest(published: ManifestEntry | None, listed: Listed) -> bool:
    return bool(published and published.sha256 and published.etag == listed.etag.strip('"'))


def _confirm_recorded_hashes(ctx: Context, plan: Plan, items: list[Item], workers: int) -> None:
    """Objects whose ETag says they hold the local bytes are identical only if the SHA-256
    they record is those bytes' too: the manifest copies it, and every download is checked
    against it. A run that failed after the file changed under it leaves the new bytes with
    the old hash (an upload is refused then, but the object stays); taken as identical, the
    next run would publish a hash no download can match. Such an object is written again
    (or, in bronze, a conflict). The HEADs are those the publication reuses."""
    append_only = LAYOUT[plan.layer].append_only
    heads = _heads(ctx, plan.layer, [item.target for item in items], workers)
    for item in items:
        head = heads[item.target]
        recorded = head.get("Metadata", {}).get(META_SHA256)
        if recorded is None or recorded == item.sha256:
            plan.heads[item.target] = head
            continue
        item.action = Action.CONFLICT if append_only else Action.CHANGED
        item.note = (
            f"stored bytes are the local file's, but the SHA-256 it records ({recorded[:12]}...) "
            "is not theirs"
        )


def _read_size(item: Item, path: Path) -> str | None:
    try:
        item.size = path.stat().st_size
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    return None


def _write_key_problem(layer: StorageLayer, key: str) -> str | None:
    try:
        validate_write_key(layer, key)
    except InvalidKeyError as exc:
        return exc.message
    return None


# -- download ----------------------------------------------------------------------------------


def plan_download(
    ctx: Context,
    *,
    layer: StorageLayer,
    prefix: object,
    local_dir: object,
    path_filter: PathFilter,
    workers: int,
    overwrite: bool,
    use_manifest: bool | None,
    progress: PlanProgress | None = None,
) -> Plan:
    prefix = dataset_prefix(layer, prefix, writing=False)
    root = _folder(local_dir, "download folder", create=True)
    manifest = read_manifest(ctx, layer, prefix) if use_manifest is not False else None
    if use_manifest is True and manifest is None:
        raise ValidationError(
            f"{ctx.uri(layer, prefix)} has no manifest: it was never published.",
            hint="Download the live objects instead (use_manifest=None or False).",
        )
    plan = Plan(
        "download", ctx.uri(layer, prefix), str(root), [], layer, prefix, source_manifest=manifest
    )
    sources, unreadable = _sources(
        ctx,
        layer,
        prefix,
        manifest,
        progress=progress,
        verb="download",
        live_changed=plan.live_changed,
    )
    to_compare: dict[Path, tuple[Item, Listed]] = {}
    for relative, source in sources.items():
        if not path_filter(relative):
            plan.left_out += 1
            continue
        entry = source.listed
        item = Item(
            relative,
            Action.NEW,
            entry.size,
            prefix + relative,
            "",
            entry.etag,
            entry.version_id,
            source.sha256,
        )
        plan.items.append(item)
        path = _local_target(item, root, unreadable.get(relative), overwrite=overwrite)
        if path is not None:
            to_compare[path] = (item, entry)
    _file_and_folder_clashes(plan.items, to_compare)
    for path, digests in digest_many(to_compare, workers, ctx.transfer.multipart_chunksize):
        item, entry = to_compare[path]
        if isinstance(digests, OSError):
            item.action, item.note = Action.INVALID, f"local file unreadable: {digests.strerror}"
            continue
        if item.sha256 is not None:
            same = item.sha256 == digests.sha256
        else:
            same = _compare(
                ctx, layer=layer, key=item.source, digests=digests, listed=entry, published=None
            )
        if same:
            item.action = Action.IDENTICAL
        else:
            item.action = Action.CHANGED if overwrite else Action.CONFLICT
            item.note = "local content differs (same size)"
    plan.stale_partials = _own_temporaries(root, plan.items)
    return plan


def _own_temporaries(root: Path, items: list[Item]) -> list[str]:
    """The temporary files, below ``root``, that this plan's downloads would make (the
    shape :mod:`lakeops.ops.download_folder` gives them, beside a target of this plan), left
    by an interrupted run. Nothing else is ever taken for one: a user's own file named
    ``*.lakeops-partial`` stays, and so do the temporaries of other downloads."""
    stems: dict[str, set[str]] = {}
    for item in items:
        if item.action is not Action.INVALID:
            folder, _, name = item.relative.rpartition("/")
            stems.setdefault(folder, set()).add(temporary_stem(name))
    planned = {item.relative for item in items}
    found: list[str] = []
    for folder, names in stems.items():
        try:
            with os.scandir(root / folder) as entries:
                for entry in entries:
                    relative = f"{folder}/{entry.name}" if folder else entry.name
                    if (
                        temporary_of(entry.name, names)
                        and relative not in planned
                        and entry.is_file(follow_symlinks=False)
                    ):
                        found.append(relative)
        except OSError:  # not there yet, or not a folder: the plan says what is in the way
            continue
    return sorted(found)


@dataclass(frozen=True, slots=True)
class Source:
    listed: Listed
    sha256: str | None = None  # recorded in the manifest


def _sources(
    ctx: Context,
    layer: StorageLayer,
    prefix: str,
    manifest: Manifest | None,
    *,
    progress: PlanProgress | None,
    verb: str,
    live_changed: list[str] | None = None,
) -> tuple[dict[str, Source], dict[str, str]]:
    """What a download or promotion reads, by relative key: the manifest's objects at their
    published versions, or else the live listing; and the objects that cannot be read as
    they should, each with why: a published version since deleted (noncurrent versions
    expire), a bronze object replaced since first written."""
    unreadable: dict[str, str] = {}
    if manifest is not None:
        sources = {
            e.key: Source(Listed(e.size, e.etag, e.version_id), e.sha256) for e in manifest.entries
        }
        versions = list_versions(ctx, layer, prefix, progress)
        for e in manifest.entries:
            problem = _stored_as_published(e, prefix + e.key, versions)
            if problem is not None:
                unreadable[e.key] = problem
            if live_changed is not None and not _live_as_published(e, prefix + e.key, versions):
                live_changed.append(e.key)
        return sources, unreadable
    if LAYOUT[layer].append_only:
        versions = list_versions(ctx, layer, prefix, progress)
        listed = versions.current
        for key, first in versions.replaced.items():
            unreadable[key[len(prefix) :]] = (
                f"bronze object replaced since first written (original version "
                f"{first or 'null'}); {verb} it on its own with --version-id"
            )
    else:
        listed = list_current(ctx, layer, prefix, progress)
    return {key[len(prefix) :]: Source(entry) for key, entry in listed.items()}, unreadable


def _live_as_published(entry: ManifestEntry, key: str, versions: Versions) -> bool:
    """Whether the live object is still the one published (by version, or by ETag where the
    bucket keeps no versions)."""
    live = versions.current.get(key)
    if live is None:
        return False
    if entry.version_id:
        return live.version_id == entry.version_id
    return live.etag.strip('"') == entry.etag.strip('"')


def _stored_as_published(entry: ManifestEntry, key: str, versions: Versions) -> str | None:
    """Why the object a manifest entry pins cannot be read as published, if it cannot. Its
    size is the listing's, checked before a single part is planned from the manifest's claim
    (a claim of 10^12 bytes would be 119,000 ranged GETs)."""
    if entry.version_id:
        stored = versions.kept.get((key, entry.version_id))
        if stored is None:
            return (
                f"published version {entry.version_id} no longer exists (deleted, or "
                "expired as a noncurrent version), so the dataset cannot be read whole"
            )
    else:
        current = versions.current.get(key)
        if current is None:
            return "deleted since it was published, so the dataset cannot be read whole"
        stored = current.size
    if stored != entry.size:
        return (
            f"the manifest says {entry.size} bytes, the stored object holds {stored} bytes: "
            "the manifest does not describe it"
        )
    return None


def _local_target(
    item: Item, root: Path, unreadable: str | None, *, overwrite: bool
) -> Path | None:
    """Set the item's local target and its action from what is there; return the path when
    a local file of the same size needs its content compared."""
    try:
        path = root / local_relative(item.relative)
    except InvalidKeyError as exc:
        item.action, item.note = Action.INVALID, exc.message
        return None
    item.target = str(path)
    try:
        return _local_state(item, path, root, unreadable, overwrite=overwrite)
    except OSError as exc:  # a path too long for the system, a folder that cannot be read
        item.action, item.note = Action.INVALID, f"cannot be a local file: {exc.strerror}"
        return None


def _local_state(
    item: Item, path: Path, root: Path, unreadable: str | None, *, overwrite: bool
) -> Path | None:
    if unreadable is not None:
        item.action, item.note = Action.INVALID, unreadable
    elif path.is_symlink() or any(p.is_symlink() for p in _parents_below(path, root)):
        # Written through, a link would put the file outside the download folder.
        item.action, item.note = Action.INVALID, "a link is in the way (never written through)"
    elif path.is_dir() or any(parent.is_file() for parent in _parents_below(path, root)):
        item.action, item.note = Action.INVALID, "a local folder or file is in the way"
    elif path.exists():
        local_size = path.stat().st_size
        if local_size == item.size:
            return path
        item.action = Action.CHANGED if overwrite else Action.CONFLICT
        item.note = f"local size {local_size}, stored size {item.size}"
    return None


def _file_and_folder_clashes(items: list[Item], to_compare: dict[Path, Any]) -> None:
    """Keys such as ``x`` and ``x/y``: S3 holds both, a disk cannot. Both are invalid, found
    now rather than halfway through the downloads."""
    names = {item.relative for item in items}
    folders = {
        str(parent)
        for item in items
        for parent in PurePosixPath(item.relative).parents
        if str(parent) != "."
    }
    clashing = names & folders
    if not clashing:
        return
    for item in items:
        above = [str(p) for p in PurePosixPath(item.relative).parents if str(p) in clashing]
        if item.relative in clashing:
            note = f"both an object and a folder of objects ({item.relative}/...)"
        elif above:
            note = f"below {above[0]}, which is also an object"
        else:
            continue
        item.action, item.note = Action.INVALID, note
        to_compare.pop(Path(item.target), None)


def _parents_below(path: Path, root: Path) -> Iterator[Path]:
    for parent in path.parents:
        if parent == root:
            return
        yield parent


# -- promotion ---------------------------------------------------------------------------------


def plan_promote(
    ctx: Context,
    *,
    source_layer: StorageLayer,
    prefix: object,
    target_layer: StorageLayer,
    target_prefix: object,
    path_filter: PathFilter,
    use_manifest: bool | None,
    workers: int,
    progress: PlanProgress | None = None,
) -> Plan:
    prefix = dataset_prefix(source_layer, prefix, writing=False)
    target_prefix = dataset_prefix(target_layer, target_prefix, writing=True)
    manifest = read_manifest(ctx, source_layer, prefix) if use_manifest is not False else None
    if use_manifest is True and manifest is None:
        raise ValidationError(
            f"{ctx.uri(source_layer, prefix)} has no manifest: it was never published.",
            hint="Promote the live objects instead (use_manifest=None or False).",
        )
    sources, unreadable = _sources(
        ctx, source_layer, prefix, manifest, progress=progress, verb="promote"
    )
    existing = list_current(ctx, target_layer, target_prefix, progress)
    published = read_manifest(ctx, target_layer, target_prefix)
    candidates: list[Item] = []
    plan = Plan(
        "promote",
        ctx.uri(source_layer, prefix),
        ctx.uri(target_layer, target_prefix),
        [],
        target_layer,
        target_prefix,
        source_layer=source_layer,
        source_prefix=prefix,
        source_manifest=manifest,
        published=published,
    )
    for relative, source in sources.items():
        if relative in RESERVED_NAMES:
            continue
        if not path_filter(relative):
            plan.left_out += 1
            continue
        key = target_prefix + relative
        entry = source.listed
        item = Item(
            relative,
            Action.NEW,
            entry.size,
            prefix + relative,
            key,
            entry.etag,
            entry.version_id,
            source.sha256,
        )
        plan.items.append(item)
        try:
            validate_write_key(target_layer, key, what="target key")
        except InvalidKeyError as exc:
            item.action, item.note = Action.INVALID, exc.message
            continue
        if relative in unreadable:
            item.action, item.note = Action.INVALID, unreadable[relative]
            continue
        there = existing.get(key)
        if there is None:
            continue
        # Silver and gold may be replaced; promotion never writes bronze.
        item.action, item.note = Action.CHANGED, "target holds other content"
        if there.size == entry.size and _may_be_copy(there, entry, item):
            candidates.append(item)
    _recognise_copies(ctx, plan, candidates, workers)
    return plan


def _recognise_copies(ctx: Context, plan: Plan, candidates: list[Item], workers: int) -> None:
    """Mark as identical the targets that are this promotion's own earlier copies (a resumed
    job); the rest stay changed."""
    assert plan.source_layer is not None
    heads = _heads(ctx, plan.layer, [item.target for item in candidates], workers)
    for item in candidates:
        head = heads[item.target]
        source_uri = ctx.uri(plan.source_layer, item.source)
        if _is_copy_of(head, item, source_uri):
            item.action, item.note = Action.IDENTICAL, ""
            plan.heads[item.target] = head
        else:
            item.note = f"target holds the same bytes, but not promoted from {source_uri}"


def _may_be_copy(there: Listed, source: Listed, item: Item) -> bool:
    """Whether the target may hold the source's bytes. A single-part copy keeps the source's
    ETag (its MD5); a multipart one gets another, which the recorded SHA-256s decide."""
    same_etag = there.etag.strip('"') == source.etag.strip('"')
    return same_etag or ("-" in there.etag + source.etag and item.sha256 is not None)


def _is_copy_of(head: dict[str, Any], item: Item, source_uri: str) -> bool:
    """Whether the target is this promotion's copy: the same bytes, and lineage naming this
    source at this version (the same bytes written by anyone else would carry no lineage,
    or another)."""
    metadata: dict[str, str] = head.get("Metadata", {})
    same_etag = head.get("ETag", "").strip('"') == (item.etag or "").strip('"')
    same_sha = item.sha256 is not None and metadata.get(META_SHA256) == item.sha256
    return (
        (same_etag or same_sha)
        and metadata.get(META_SOURCE_URI) == encode_uri(source_uri)
        and metadata.get(META_SOURCE_VERSION_ID) == (item.version_id or "null")
    )


def _heads(
    ctx: Context, layer: StorageLayer, keys: list[str], workers: int
) -> dict[str, dict[str, Any]]:
    """HEADs of existing target objects, several at once: only a resumed promotion has any."""
    if not keys:
        return {}

    def one(key: str) -> tuple[str, dict[str, Any]]:
        return key, ctx.head(ctx.target("compare with", layer, key))

    with ThreadPoolExecutor(max_workers=max(1, min(workers, 16))) as pool:
        return dict(pool.map(one, keys))


def _folder(value: object, what: str, *, create: bool = False) -> Path:
    path = local_path(value, what=what)
    if create and not path.exists():
        return path
    if not path.is_dir():
        raise LocalFileError(
            f"{what} {quoted(str(path))} is not a folder.",
            hint="Pass a folder; for one file, leave out --recursive.",
        )
    return path
