"""The three dataset jobs: a folder to a layer, a prefix to a folder, a prefix forward.

Each one plans first and writes nothing until the plan is clean: objects that conflict or
cannot be transferred are all reported at once. Then the transfers run on a pool of workers,
each object under the single-object rules (bronze's conditional writes, lineage, verified and
atomic downloads). When every object is written and the target's listing confirms it, uploads
and promotions publish the dataset with a manifest and a ``_SUCCESS`` marker. Running a job
again skips what is already there and identical, so an interrupted job is finished by
running it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lakeops.datasets.filters import PathFilter
from lakeops.datasets.manifest import (
    Manifest,
    ManifestEntry,
    SourceRef,
    manifest_key,
    new_manifest,
    publish,
)
from lakeops.datasets.plan import (
    Listed,
    Plan,
    list_versions,
    plan_download,
    plan_promote,
    plan_upload,
)
from lakeops.datasets.results import TRANSFERS, Action, DatasetResult, Item, ItemFailure
from lakeops.datasets.runner import ItemBytes, JobInterrupted, ProgressListener, Tracker, run_items
from lakeops.errors import (
    DatasetConflictError,
    DatasetIncompleteError,
    DatasetInvalidError,
    DatasetPublishedError,
    EmptyDatasetError,
    ValidationError,
)
from lakeops.layout import StorageLayer
from lakeops.metadata import META_SHA256
from lakeops.ops import download, promote, upload
from lakeops.ops.download import KnownObject
from lakeops.ops.download_folder import DownloadFolder
from lakeops.ops.promote import SourceObject, carried_metadata, check_direction
from lakeops.redaction import quoted
from lakeops.s3errors import normalize_version
from lakeops.validation import validate_metadata

if TYPE_CHECKING:
    from lakeops.ops.context import Context

# How many objects an error message names before it says "and N more".
_NAMED_IN_MESSAGES = 10


def _workers(ctx: Context, workers: object) -> int:
    if workers is None:
        return ctx.transfer.workers
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise ValidationError(
            f"workers must be a whole number from 1 to 256, not {workers!r:.40}.",
            hint=f"Leave it out for the default ({ctx.transfer.workers}).",
        )
    return workers


def upload_folder(
    ctx: Context,
    local_dir: object,
    layer: StorageLayer | str,
    prefix: str,
    *,
    include: Sequence[str] | str | None = None,
    exclude: Sequence[str] | str | None = None,
    metadata: Mapping[str, str] | None = None,
    workers: int | None = None,
    dry_run: bool = False,
    skip_conflicts: bool = False,
    publish_dataset: bool = True,
    progress: ProgressListener | None = None,
) -> DatasetResult:
    layer = StorageLayer.parse(layer)
    count = _workers(ctx, workers)
    user_metadata = validate_metadata(metadata)
    tracker = Tracker(progress)
    plan = plan_upload(
        ctx,
        local_dir=local_dir,
        layer=layer,
        prefix=prefix,
        path_filter=PathFilter.of(include, exclude),
        workers=count,
        progress=tracker.planned,
    )

    def work(item: Item) -> ManifestEntry:
        result = upload.put_file(
            ctx,
            item.source,
            layer,
            item.target,
            user_metadata,
            progress=ItemBytes(tracker),
            known_absent=item.action is Action.NEW,
            fast=True,
        )
        return ManifestEntry(
            key=item.relative,
            size=result.size,
            sha256=result.sha256,
            etag=(result.etag or "").strip('"'),
            version_id=result.version_id,
            content_type=result.content_type,
            metadata={**user_metadata, META_SHA256: result.sha256},
        )

    return _execute(
        ctx,
        plan,
        work,
        workers=count,
        tracker=tracker,
        dry_run=dry_run,
        skip_conflicts=skip_conflicts,
        publish_dataset=publish_dataset,
    )


def download_prefix(
    ctx: Context,
    layer: StorageLayer | str,
    prefix: str,
    local_dir: object,
    *,
    include: Sequence[str] | str | None = None,
    exclude: Sequence[str] | str | None = None,
    workers: int | None = None,
    dry_run: bool = False,
    overwrite: bool = False,
    use_manifest: bool | None = None,
    progress: ProgressListener | None = None,
) -> DatasetResult:
    layer = StorageLayer.parse(layer)
    count = _workers(ctx, workers)
    tracker = Tracker(progress)
    plan = plan_download(
        ctx,
        layer=layer,
        prefix=prefix,
        local_dir=local_dir,
        path_filter=PathFilter.of(include, exclude),
        workers=count,
        overwrite=overwrite,
        use_manifest=use_manifest,
        progress=tracker.planned,
    )

    held: list[DownloadFolder] = []

    def hold() -> DownloadFolder:
        """The download folder, held open while the files are written into it (never through
        a link put there meanwhile); the temporaries an interrupted run left, removed."""
        folder = DownloadFolder.open(Path(plan.target))
        for stale in plan.stale_partials:
            folder.remove_temporary(stale)
        held.append(folder)
        return folder

    def work(item: Item) -> object:
        known = KnownObject(item.size, item.etag, item.version_id, item.sha256)
        return download.get_file(
            ctx,
            layer,
            item.source,
            item.target,
            known=known,
            progress=ItemBytes(tracker),
            fast=True,
            into=(held[0], item.relative),
        )

    return _execute(
        ctx,
        plan,
        work,
        workers=count,
        tracker=tracker,
        dry_run=dry_run,
        skip_conflicts=False,
        publish_dataset=False,
        local_folder=hold,
    )


def promote_prefix(
    ctx: Context,
    source_layer: StorageLayer | str,
    prefix: str,
    target_layer: StorageLayer | str,
    target_prefix: str,
    *,
    include: Sequence[str] | str | None = None,
    exclude: Sequence[str] | str | None = None,
    workers: int | None = None,
    dry_run: bool = False,
    publish_dataset: bool = True,
    use_manifest: bool | None = None,
    progress: ProgressListener | None = None,
    observer: JobObserver | None = None,
) -> DatasetResult:
    source = StorageLayer.parse(source_layer)
    destination = StorageLayer.parse(target_layer)
    check_direction(source, destination)
    count = _workers(ctx, workers)
    tracker = Tracker(progress)
    plan = plan_promote(
        ctx,
        source_layer=source,
        prefix=prefix,
        target_layer=destination,
        target_prefix=target_prefix,
        path_filter=PathFilter.of(include, exclude),
        use_manifest=use_manifest,
        workers=count,
        progress=tracker.planned,
    )
    from_manifest = plan.source_manifest.by_key() if plan.source_manifest else {}

    def work(item: Item) -> ManifestEntry:
        entry = from_manifest.get(item.relative)
        if entry is not None and entry.content_type is not None:
            known = SourceObject(
                size=entry.size,
                etag=entry.etag,
                version_id=entry.version_id,
                content_type=entry.content_type,
                metadata=dict(entry.metadata),
                headers=dict(entry.headers),
            )
        else:
            # No manifest says what metadata to carry: ask the source itself.
            head = ctx.head(ctx.target("promote", source, item.source, item.version_id), fast=True)
            known = SourceObject.from_head(head, item.version_id)
        result = promote.promote_object(
            ctx,
            item.source,
            source,
            destination,
            item.target,
            version_id=known.version_id,
            progress=ItemBytes(tracker),
            known=known,
            fast=True,
        )
        return ManifestEntry(
            key=item.relative,
            size=known.size,
            sha256=known.metadata.get(META_SHA256),
            etag=(result.etag or "").strip('"'),
            version_id=result.version_id,
            content_type=known.content_type,
            metadata=carried_metadata(known.metadata),
            headers=known.headers,
            source=SourceRef(item.source, known.version_id, known.etag.strip('"')),
        )

    return _execute(
        ctx,
        plan,
        work,
        workers=count,
        tracker=tracker,
        dry_run=dry_run,
        skip_conflicts=False,
        publish_dataset=publish_dataset,
        observer=observer,
    )


# -- the common part ---------------------------------------------------------------------------


class JobObserver(Protocol):
    """Told when a job's transfers start and how it ended (lineage events, for one)."""

    def started(self, plan: Plan) -> None: ...

    def finished(self, plan: Plan, result: DatasetResult) -> None: ...


def _result(plan: Plan, *, dry_run: bool) -> DatasetResult:
    result = DatasetResult(plan.operation, plan.source, plan.target, dry_run, items=plan.items)
    result.from_manifest = plan.source_manifest is not None
    result.live_changed = len(plan.live_changed)
    for item in plan.items:
        setattr(result, _COUNTERS[item.action], getattr(result, _COUNTERS[item.action]) + 1)
        result.bytes_total += item.size
        if item.action in TRANSFERS:
            result.bytes_to_transfer += item.size
    return result


_COUNTERS = {
    Action.NEW: "new",
    Action.CHANGED: "changed",
    Action.IDENTICAL: "identical",
    Action.CONFLICT: "conflicts",
    Action.INVALID: "invalid",
}


def _named(items: Sequence[Item]) -> str:
    shown = "; ".join(f"{item.relative} ({item.note})" for item in items[:_NAMED_IN_MESSAGES])
    more = len(items) - _NAMED_IN_MESSAGES
    return shown + (f"; and {more} more" if more > 0 else "")


def _check(plan: Plan, result: DatasetResult, *, skip_conflicts: bool, publishing: bool) -> None:
    """Refuse, before any write, a plan that would break a rule."""
    invalid = plan.of(Action.INVALID)
    if invalid:
        raise DatasetInvalidError(
            f"{len(invalid)} of {len(plan.items)} objects cannot be transferred, so nothing "
            f"was: {_named(invalid)}.",
            hint="Rename or move them, or leave them out with --exclude.",
            result=result,
        )
    conflicts = plan.of(Action.CONFLICT)
    if conflicts and not skip_conflicts:
        if plan.operation == "download":
            hint = "Pass --force (overwrite=True) to replace the local files."
        else:
            hint = (
                f"{plan.layer} is append-only: write the new data under a new prefix, or pass "
                "--skip-conflicts (skip_conflicts=True) to upload the rest and leave these alone."
            )
        raise DatasetConflictError(
            f"{len(conflicts)} of {len(plan.items)} objects already exist with other content at "
            f"{plan.target}, so nothing was written: {_named(conflicts)}.",
            hint=hint,
            result=result,
        )
    if publishing and plan.published is not None and plan.of(*TRANSFERS, Action.CONFLICT):
        raise DatasetPublishedError(
            f"{plan.target} was published ({plan.published.written_at}, "
            f"{len(plan.published.entries)} objects) and this job would change it; nothing "
            "was written.",
            hint="Publish new data under a new prefix, or pass --no-publish to write without "
            "publishing (readers of the manifest keep seeing the published data).",
            result=result,
        )


def _nothing_to_do(plan: Plan, result: DatasetResult) -> EmptyDatasetError:
    """An empty job is a mistake far more often than an intention (a typo in a prefix, a
    pattern that matches nothing), and publishing it would freeze an empty dataset."""
    where = f"folder {quoted(plan.source)}" if plan.operation == "upload" else plan.source
    what = "files" if plan.operation == "upload" else "objects"
    filtered = f" ({plan.left_out} left out by --include/--exclude)" if plan.left_out else ""
    return EmptyDatasetError(
        f"nothing to {plan.operation}: {where} holds no {what}{filtered}; nothing was written "
        "or published.",
        hint="Check the path or prefix for a typo, and the --include/--exclude patterns.",
        result=result,
    )


def _execute(
    ctx: Context,
    plan: Plan,
    work: Callable[[Item], object],
    *,
    workers: int,
    tracker: Tracker,
    dry_run: bool,
    skip_conflicts: bool,
    publish_dataset: bool,
    observer: JobObserver | None = None,
    local_folder: Callable[[], AbstractContextManager[object]] | None = None,
) -> DatasetResult:
    result = _result(plan, dry_run=dry_run)
    result.skipped_conflicts = skip_conflicts and result.conflicts > 0
    if not plan.items:
        raise _nothing_to_do(plan, result)
    if dry_run:
        # The plan, and whether the job would run: a dry run is the job's own check.
        try:
            _check(plan, result, skip_conflicts=skip_conflicts, publishing=publish_dataset)
        except (DatasetInvalidError, DatasetConflictError) as refused:
            result.refusal, result.refusal_exit_code = refused.message, refused.exit_code
        result.seconds = tracker.seconds
        return result
    _check(plan, result, skip_conflicts=skip_conflicts, publishing=publish_dataset)

    def transfer_and_publish() -> DatasetResult:
        return _transfer_and_publish(
            ctx,
            plan=plan,
            result=result,
            work=work,
            workers=workers,
            tracker=tracker,
            publish_dataset=publish_dataset,
        )

    with local_folder() if local_folder is not None else nullcontext():
        if observer is None:
            return transfer_and_publish()
        observer.started(plan)
        try:
            done = transfer_and_publish()
        except (DatasetIncompleteError, JobInterrupted):
            observer.finished(plan, result)
            raise
        observer.finished(plan, done)
        return done


def _transfer_and_publish(
    ctx: Context,
    *,
    plan: Plan,
    result: DatasetResult,
    work: Callable[[Item], object],
    workers: int,
    tracker: Tracker,
    publish_dataset: bool,
) -> DatasetResult:
    transfers = plan.of(*TRANSFERS)
    tracker.begin("transferring", len(transfers), sum(item.size for item in transfers))
    outcome = run_items(
        transfers,
        work,
        workers=workers,
        tracker=tracker,
        cancel=lambda: ctx.close(cancel=True),
    )
    result.transferred = len(outcome.done)
    result.bytes_transferred = sum(item.size for item, _ in outcome.done)
    result.failures = sorted(outcome.failures, key=lambda f: f.relative)
    result.seconds = tracker.seconds
    if outcome.interrupted:
        result.interrupted = True
        raise JobInterrupted(result)
    if result.failures:
        unpublished = "" if plan.operation == "download" else "; the dataset was not published"
        raise DatasetIncompleteError(
            f"{len(result.failures)} of {len(transfers)} objects failed and the others were "
            f"transferred{unpublished}. First: {result.failures[0].relative}: "
            f"{result.failures[0].message}",
            hint="Fix the cause and run the same command again: it skips what is already done.",
            result=result,
        )
    if publish_dataset and plan.operation != "download" and not result.skipped_conflicts:
        tracker.begin("publishing", len(plan.items))
        written = {item.relative: entry for item, entry in outcome.done}
        settled = _settle(ctx, plan, written, workers)  # type: ignore[arg-type]
        if isinstance(settled, list):
            result.failures = settled
            raise DatasetIncompleteError(
                f"{len(settled)} objects at {plan.target} are not what this job wrote: "
                f"{'; '.join(f'{p.relative} ({p.message})' for p in settled[:_NAMED_IN_MESSAGES])}"
                "; the dataset was not published.",
                hint="Another writer is using the same prefix; run the job again when it is done.",
                result=result,
            )
        manifest, published = publish(ctx, settled)
        result.manifest_uri = ctx.uri(plan.layer, manifest_key(plan.prefix))
        result.manifest_version_id = manifest.version_id
        result.published = published
    result.seconds = tracker.seconds
    tracker.begin("done", result.transferred)
    return result


def _settle(
    ctx: Context, plan: Plan, written: dict[str, ManifestEntry], workers: int
) -> Manifest | list[ItemFailure]:
    """The manifest to publish, once the target's listing shows every object as this job
    wrote or found it; else the objects that are not.

    The listing is needed even when every write's response gave its version: ``_SUCCESS``
    tells tools that read the live objects (Spark, Hive, Airflow sensors) that they are
    complete, so what another writer replaced meanwhile must stop the publication. It costs
    one request per 1,000 objects.
    """
    included = [item for item in plan.items if item.action in (*TRANSFERS, Action.IDENTICAL)]
    current = list_versions(ctx, plan.layer, plan.prefix).current
    entries: list[ManifestEntry] = []
    missing_details: list[Item] = []
    problems: list[ItemFailure] = []
    for item in included:
        listed = current.get(item.target)
        entry = written.get(item.relative)
        if listed is None or (
            entry is not None and entry.etag and entry.etag != listed.etag.strip('"')
        ):
            problems.append(
                ItemFailure(
                    item.relative,
                    item.target,
                    "StorageError",
                    "missing after the job" if listed is None else "changed by another writer",
                    9,
                )
            )
            continue
        if entry is None:
            missing_details.append(item)
            continue
        entries.append(_settled(entry, listed))
    if problems:
        return problems
    with ThreadPoolExecutor(max_workers=max(1, min(workers, 16))) as pool:
        entries += pool.map(
            lambda item: _described(ctx, plan, item, current[item.target]), missing_details
        )
    return _manifest(ctx, plan, entries)


def _manifest(ctx: Context, plan: Plan, entries: list[ManifestEntry]) -> Manifest:
    source_manifest = plan.source_manifest
    return new_manifest(
        ctx,
        plan.layer,
        plan.prefix,
        operation=plan.operation,
        source=plan.source if plan.operation == "promote" else f"file://{plan.source}",
        source_manifest_version_id=source_manifest.version_id if source_manifest else None,
        entries=entries,
    )


def _settled(entry: ManifestEntry, listed: Listed) -> ManifestEntry:
    """An entry with the version and ETag the target's listing confirms."""
    return ManifestEntry(
        key=entry.key,
        size=entry.size,
        sha256=entry.sha256,
        etag=listed.etag.strip('"'),
        version_id=listed.version_id,
        content_type=entry.content_type,
        metadata=entry.metadata,
        headers=entry.headers,
        source=entry.source,
    )


def _described(ctx: Context, plan: Plan, item: Item, listed: Listed) -> ManifestEntry:
    """An entry for an object this run found already there (a resumed job): one HEAD,
    unless the plan made it."""
    head = plan.heads.get(item.target) or ctx.head(
        ctx.target("describe", plan.layer, item.target, listed.version_id)
    )
    metadata = dict(head.get("Metadata", {}))
    source = None
    if plan.operation == "promote":
        source = SourceRef(item.source, item.version_id, (item.etag or "").strip('"'))
    return ManifestEntry(
        key=item.relative,
        size=listed.size,
        sha256=metadata.get(META_SHA256) or item.sha256,
        etag=listed.etag.strip('"'),
        version_id=normalize_version(head.get("VersionId")) or listed.version_id,
        content_type=head.get("ContentType"),
        metadata=carried_metadata(metadata),
        headers={name: str(head[name]) for name in promote.COPIED_HEADERS if head.get(name)},
        source=source,
    )
