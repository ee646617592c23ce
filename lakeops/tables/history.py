"""A table's catalogue entry, history, rollback, snapshot expiry and verification.

Expiry is pyiceberg's ``expire_snapshots`` (which only rewrites the metadata) followed by
lakeops deleting the files that no retained snapshot references any more: manifest lists,
manifests and data files, and only those under the table's own location, so a published
dataset added with ``register_dataset`` keeps its files (its manifest still promises them).
Deletes need ``s3:DeleteObject`` on the table's prefix, which the layer's writing role has;
on the lake's versioned buckets a delete adds a delete marker, and the bytes go when the
lifecycle expires noncurrent versions (``noncurrentVersionDays``). Files orphaned by writes
that failed before their commit are not found this way (pyiceberg has no orphan-file removal
yet, apache/iceberg-python#1065).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lakeops.errors import NotFoundError, ValidationError
from lakeops.layout import StorageLayer
from lakeops.tables.catalog import catalog_spec
from lakeops.tables.errors import table_errors
from lakeops.tables.lineage import SnapshotLineage, summary_of
from lakeops.tables.names import TableName, table_layer
from lakeops.tables.write import load

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

    from lakeops.lake import Lake


def _time(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds")


def list_tables(lake: Lake, layer: StorageLayer | str) -> list[str]:
    """The lakeops names of a layer's tables, sorted."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    parsed = table_layer(layer)
    spec = catalog_spec(lake)
    catalog = lake.catalog()
    with table_errors(f"list {parsed}'s tables", catalog=spec.describe()):
        try:
            identifiers = catalog.list_tables(spec.databases[parsed])
        except NoSuchNamespaceError:
            return []
    names = [TableName.from_identifier(parsed, identifier[-1]) for identifier in identifiers]
    return sorted(str(name) for name in names if name is not None)


@dataclass(frozen=True)
class TableInfo:
    layer: str
    name: str
    identifier: str
    location: str
    schema: list[dict[str, Any]]
    partitioning: list[str]
    current_snapshot_id: int | None
    last_updated: str
    files: int
    rows: int
    bytes: int
    snapshots: int
    format_version: int


def describe(lake: Lake, layer: StorageLayer | str, name: str) -> TableInfo:
    table_name = TableName.parse(layer, name)
    table = load(lake, table_name)
    schema = table.schema()
    snapshot = table.current_snapshot()
    totals = summary_of(snapshot) if snapshot else {}
    return TableInfo(
        layer=table_name.layer.value,
        name=str(table_name),
        identifier=".".join(table_name.identifier(catalog_spec(lake))),
        location=table.location(),
        schema=[
            {"name": f.name, "type": str(f.field_type), "required": f.required}
            for f in schema.fields
        ],
        partitioning=[
            f"{field.transform}({schema.find_field(field.source_id).name})"
            for field in table.spec().fields
        ],
        current_snapshot_id=snapshot.snapshot_id if snapshot else None,
        last_updated=_time(table.metadata.last_updated_ms),
        files=int(totals.get("total-data-files", 0)),
        rows=int(totals.get("total-records", 0)),
        bytes=int(totals.get("total-files-size", 0)),
        snapshots=len(table.metadata.snapshots),
        format_version=int(table.metadata.format_version),
    )


@dataclass(frozen=True)
class SnapshotEntry:
    snapshot_id: int
    parent_id: int | None
    time: str
    operation: str
    rows_added: int
    rows_removed: int
    rows: int
    current: bool
    job: str | None
    role: str | None
    inputs: list[dict[str, str]] = field(default_factory=list)


def history(lake: Lake, layer: StorageLayer | str, name: str) -> list[SnapshotEntry]:
    """Every snapshot still in the table's metadata, oldest first."""
    table = load(lake, TableName.parse(layer, name))
    current = table.current_snapshot()
    entries = []
    for snapshot in sorted(
        table.metadata.snapshots, key=lambda s: (s.timestamp_ms, s.sequence_number or 0)
    ):
        properties = summary_of(snapshot)
        operation = snapshot.summary.operation.value if snapshot.summary else "unknown"
        made_of = SnapshotLineage.of(properties)
        entries.append(
            SnapshotEntry(
                snapshot_id=snapshot.snapshot_id,
                parent_id=snapshot.parent_snapshot_id,
                time=_time(snapshot.timestamp_ms),
                operation=str(operation),
                rows_added=int(properties.get("added-records", 0)),
                rows_removed=int(properties.get("deleted-records", 0)),
                rows=int(properties.get("total-records", 0)),
                current=current is not None and snapshot.snapshot_id == current.snapshot_id,
                job=made_of.job,
                role=made_of.role,
                inputs=[source.to_json() for source in made_of.inputs],
            )
        )
    return entries


def rollback(lake: Lake, layer: StorageLayer | str, name: str, snapshot_id: int) -> SnapshotEntry:
    """Make a snapshot still in the table's history current again: an earlier one, or a later
    one an earlier rollback left behind. One commit; no data file is written or deleted."""
    table_name = TableName.parse(layer, name)
    table = load(lake, table_name)
    if table.snapshot_by_id(snapshot_id) is None:
        raise NotFoundError(
            f"{table_name.layer} {table_name} has no snapshot {snapshot_id} (never, or expired).",
            hint=f"`lakeops history {table_name.layer} {table_name}` lists its snapshots.",
        )
    with table_errors(
        f"roll back {table_name.layer} {table_name}", catalog=catalog_spec(lake).describe()
    ):
        table.manage_snapshots().set_current_snapshot(snapshot_id=snapshot_id).commit()
    return next(e for e in history(lake, table_name.layer, str(table_name)) if e.current)


@dataclass(frozen=True)
class ExpireResult:
    layer: str
    name: str
    expired: list[int]
    retained: list[int]
    deleted_files: list[str]
    kept_outside_table: int  # unreachable files outside the table's location (datasets)


def _files_of(table: Table, snapshots: Iterable[Snapshot]) -> set[str]:
    """Every file these snapshots reference: manifest lists, manifests, live data files."""
    files: set[str] = set()
    for snapshot in snapshots:
        files.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            files.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                files.add(entry.data_file.file_path)
    return files


def expire(
    lake: Lake,
    layer: StorageLayer | str,
    name: str,
    *,
    older_than: timedelta,
    retain_last: int = 1,
) -> ExpireResult:
    """Expire the snapshots older than ``older_than``, keeping at least the ``retain_last``
    latest of the current history (and every branch or tag head), then delete the files only
    they referenced."""
    if retain_last < 1:
        raise ValidationError("retain_last must be at least 1: the current snapshot stays.")
    table_name = TableName.parse(layer, name)
    table = load(lake, table_name)
    what = f"expire snapshots of {table_name.layer} {table_name}"
    metadata = table.metadata
    kept: set[int] = {ref.snapshot_id for ref in metadata.refs.values()}
    ancestry: list[int] = []
    snapshot = table.current_snapshot()
    while snapshot is not None and len(ancestry) < retain_last:
        ancestry.append(snapshot.snapshot_id)
        snapshot = (
            table.snapshot_by_id(snapshot.parent_snapshot_id)
            if snapshot.parent_snapshot_id
            else None
        )
    kept |= set(ancestry)
    cutoff = int((datetime.now(UTC) - older_than).timestamp() * 1000)
    doomed = [
        s for s in metadata.snapshots if s.timestamp_ms < cutoff and s.snapshot_id not in kept
    ]
    retained = [s for s in metadata.snapshots if s not in doomed]
    if not doomed:
        return ExpireResult(
            table_name.layer.value, str(table_name), [], [s.snapshot_id for s in retained], [], 0
        )
    with table_errors(what, catalog=catalog_spec(lake).describe()):
        unreachable = _files_of(table, doomed) - _files_of(table, retained)
        table.maintenance.expire_snapshots().by_ids([s.snapshot_id for s in doomed]).commit()
        location = table.location().rstrip("/") + "/"
        ours = sorted(path for path in unreachable if path.startswith(location))
        for path in ours:
            table.io.delete(path)
    return ExpireResult(
        layer=table_name.layer.value,
        name=str(table_name),
        expired=sorted(s.snapshot_id for s in doomed),
        retained=sorted(s.snapshot_id for s in retained),
        deleted_files=ours,
        kept_outside_table=len(unreachable) - len(ours),
    )


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``0s``."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _DURATION_UNITS else ""
    number = value[: -len(unit)] if unit else value
    if not unit or not number.isdigit():
        raise ValidationError(
            f"duration {text!r} is not a number with a unit.",
            hint="Write it as 7d, 12h, 30m, 2w or 0s.",
        )
    return timedelta(seconds=int(number) * _DURATION_UNITS[unit])


@dataclass(frozen=True)
class FileCheck:
    path: str
    result: str  # ok, missing, size, rows, unreadable
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.result == "ok"


@dataclass(frozen=True)
class TableReport:
    table: str
    snapshot_id: int | None
    deep: bool
    rows: list[FileCheck]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def summary(self) -> str:
        bad = [row for row in self.rows if not row.ok]
        checked = "read and counted" if self.deep else "present with their recorded sizes"
        if not bad:
            return f"all {len(self.rows)} data files of snapshot {self.snapshot_id} are {checked}"
        return f"{len(bad)} of {len(self.rows)} data files of snapshot {self.snapshot_id} are not"


def verify(lake: Lake, layer: StorageLayer | str, name: str, *, deep: bool = False) -> TableReport:
    """Every data file the current snapshot references exists with its recorded size (a HEAD
    each, through lakeops' client); ``deep`` also reads each and counts its rows."""
    import pyarrow.parquet as pq

    from lakeops.locations import resolve

    table_name = TableName.parse(layer, name)
    table = load(lake, table_name)
    snapshot = table.current_snapshot()
    rows: list[FileCheck] = []
    if snapshot is None:
        return TableReport(f"{table_name.layer} {table_name}", None, deep, rows)
    with table_errors(
        f"verify {table_name.layer} {table_name}", catalog=catalog_spec(lake).describe()
    ):
        entries = [
            entry.data_file
            for manifest in snapshot.manifests(table.io)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
        ]
    for data_file in entries:
        path = data_file.file_path
        where, key = resolve(lake.config.buckets, None, path)
        target = lake.context.target("verify a table's data file", where, key)
        head = lake.context.peek(target)
        if head is None:
            rows.append(FileCheck(path, "missing", "the snapshot references it; S3 has none"))
            continue
        if int(head["ContentLength"]) != data_file.file_size_in_bytes:
            rows.append(
                FileCheck(
                    path,
                    "size",
                    f"{head['ContentLength']} bytes, recorded {data_file.file_size_in_bytes}",
                )
            )
            continue
        if deep:
            try:
                with table.io.new_input(path).open() as stream:
                    counted = pq.read_table(stream).num_rows
            except Exception as exc:
                rows.append(
                    FileCheck(path, "unreadable", f"{type(exc).__name__}: {str(exc)[:120]}")
                )
                continue
            if counted != data_file.record_count:
                rows.append(
                    FileCheck(path, "rows", f"{counted} rows, recorded {data_file.record_count}")
                )
                continue
        rows.append(FileCheck(path, "ok"))
    return TableReport(f"{table_name.layer} {table_name}", snapshot.snapshot_id, deep, rows)
