"""Writing tables: appends, overwrites, and published datasets added as they are.

Order of a write, so that nothing is lost or half-visible:

1. the table's name and layer are checked (bronze refused), the data becomes a PyArrow table;
2. the quality checks run on it (:mod:`lakeops.tables.checks`);
3. every lineage input is pinned to a version (:mod:`lakeops.tables.lineage`);
4. the table is loaded, or created from the data's schema (and partition spec); the data's
   schema is checked against the table's (:mod:`lakeops.tables.schema`);
5. only then are data files written, and committed as one snapshot.

A failure in 1-4 writes nothing. A commit is a compare-and-swap in the catalog; when another
writer committed first, pyiceberg refreshes the table and commits again on top (up to the
table's ``commit.retry.num-retries``: 10 on the tables lakeops creates), and when the retries
run out it removes the files it wrote for the commit (``Transaction.commit_transaction``): no
commit is ever lost, and none is half-visible. An appender that loses every retry gets
:class:`~lakeops.errors.TableCommitConflictError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakeops.catalog_contract import CatalogKind
from lakeops.errors import EmptyDatasetError, NotPublishedError, ValidationError
from lakeops.layout import StorageLayer
from lakeops.tables import lineage
from lakeops.tables.catalog import catalog_spec
from lakeops.tables.checks import run_checks
from lakeops.tables.errors import table_errors
from lakeops.tables.names import TableName
from lakeops.tables.schema import check_fits, iceberg_type_names, to_arrow

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Table

    from lakeops.lake import Lake

MODES = ("append", "overwrite")
# Set on every table lakeops creates. Ten retries instead of pyiceberg's (and Iceberg's) four:
# with the exponential backoff from 100 ms (and jitter) they span about a minute and a half,
# so a few pipelines appending to one table at once all get their commits in.
TABLE_PROPERTIES = {"commit.retry.num-retries": "10"}
# Partition transforms a partition_by entry may name: "day(ts)", or a bare column (identity).
_TRANSFORMS = ("identity", "year", "month", "day", "hour")


@dataclass(frozen=True)
class WriteResult:
    layer: StorageLayer
    name: str
    uri: str  # the table's location
    operation: str  # append, overwrite, add-files
    snapshot_id: int
    rows: int
    files: int
    created: bool  # this write created the table
    inputs: tuple[lineage.Source, ...]

    def summary(self) -> str:
        made = "created and wrote" if self.created else "wrote"
        return (
            f"{made} {self.layer} {self.name}: {self.operation} of {self.rows} rows in "
            f"{self.files} file{'s' if self.files != 1 else ''}, snapshot {self.snapshot_id}"
        )


def write_table(
    lake: Lake,
    layer: StorageLayer | str,
    name: str,
    data: Any,
    *,
    mode: str = "append",
    partition_by: Sequence[str] | None = None,
    checks: object = None,
    lineage_inputs: Sequence[Any] | None = None,
    job: str | None = None,
    lineage_target: str | None = None,
) -> WriteResult:
    table_name = TableName.parse(layer, name)
    if mode not in MODES:
        raise ValidationError(f"mode {mode!r} is not one of {', '.join(MODES)}.")
    what = f"write {table_name.layer} {table_name}"
    arrow = to_arrow(data)
    run_checks(checks, arrow)
    sources = lineage.resolve_sources(lake, lineage_inputs)
    job = job or what
    events = lineage.LineageEvents(lineage_target, lake.config) if lineage_target else None
    write_id = lineage.new_write_id()
    properties = lineage.summary(lake, sources, job, write_id)
    with table_errors(what, catalog=catalog_spec(lake).describe()):
        table, created = _load_or_create(lake, table_name, arrow.schema, partition_by)
        check_fits(table.schema(), arrow.schema, what)
        if events is not None:
            events.emit("START", job, sources, table_name)
        try:
            if mode == "append":
                table.append(arrow, snapshot_properties=properties)
            else:
                _overwrite_in_one_snapshot(table, arrow, properties)
        except BaseException:
            if events is not None:
                events.emit("FAIL", job, sources, table_name)
            raise
    snapshot = _snapshot_of(table, write_id)
    if events is not None:
        events.emit(
            "COMPLETE",
            job,
            sources,
            table_name,
            snapshot_id=snapshot.snapshot_id,
            schema=iceberg_type_names(table.schema()),
        )
    return _result(lake, table_name, mode, snapshot, arrow.num_rows, created, sources)


def register_dataset(
    lake: Lake,
    layer: StorageLayer | str,
    prefix: str,
    name: str,
    *,
    job: str | None = None,
    lineage_target: str | None = None,
) -> WriteResult:
    """Add a published dataset's Parquet files to a table, without rewriting them."""
    import pyarrow.parquet as pq

    table_name = TableName.parse(layer, name)
    what = f"register {lake.uri(table_name.layer, prefix)} as {table_name.layer} {table_name}"
    manifest = lake.read_manifest(table_name.layer, prefix)
    if manifest is None:
        raise NotPublishedError(
            f"{what}: {lake.uri(table_name.layer, prefix)} is not a published dataset (no "
            "manifest).",
            hint="Publish it first (upload --recursive or promote --recursive); only a "
            "published dataset's files are known to be complete.",
        )
    # Checked against the manifest first: the files added are exactly the published ones.
    files = [
        uri for uri in lake.dataset_files(table_name.layer, prefix) if uri.endswith(".parquet")
    ]
    if not files:
        raise EmptyDatasetError(
            f"{what}: the dataset has no .parquet files ({len(manifest.entries)} objects).",
            hint="Only Parquet files can be added to a table.",
        )
    filesystem = lake.pyarrow_filesystem()
    schemas = {
        uri: pq.read_schema(uri.removeprefix("s3://"), filesystem=filesystem) for uri in files
    }
    sources = [
        lineage.Source("dataset", lake.uri(table_name.layer, manifest.prefix), manifest.version_id)
    ]
    job = job or what
    write_id = lineage.new_write_id()
    events = lineage.LineageEvents(lineage_target, lake.config) if lineage_target else None
    with table_errors(what, catalog=catalog_spec(lake).describe()):
        table, created = _load_or_create(lake, table_name, schemas[files[0]], None)
        for uri, schema in schemas.items():
            check_fits(table.schema(), schema, f"{what} ({uri})")
        if events is not None:
            events.emit("START", job, sources, table_name)
        table.add_files(
            files,
            snapshot_properties=lineage.summary(lake, sources, job, write_id),
            check_duplicate_files=True,
        )
    snapshot = _snapshot_of(table, write_id)
    if events is not None:
        events.emit("COMPLETE", job, sources, table_name, snapshot_id=snapshot.snapshot_id)
    rows = int(lineage.summary_of(snapshot).get("added-records", 0))
    return _result(lake, table_name, "add-files", snapshot, rows, created, sources)


def load(lake: Lake, table_name: TableName) -> Table:
    catalog = lake.catalog()
    with table_errors(f"{table_name.layer} {table_name}", catalog=catalog_spec(lake).describe()):
        table: Table = catalog.load_table(table_name.identifier(catalog_spec(lake)))
    return table


def _load_or_create(
    lake: Lake, table_name: TableName, schema: pa.Schema, partition_by: Sequence[str] | None
) -> tuple[Table, bool]:
    from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError

    catalog = lake.catalog()
    spec = catalog_spec(lake)
    identifier = table_name.identifier(spec)
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        pass
    else:
        _check_partitioning(table, partition_by, table_name)
        return table, False
    if spec.kind is not CatalogKind.GLUE:
        # The dev catalogs have no databases of their own; in Glue the stack declares them,
        # and a role may not create one.
        catalog.create_namespace_if_not_exists(identifier[0])
    try:
        with catalog.create_table_transaction(
            identifier,
            schema=schema,
            location=lake.uri(table_name.layer, table_name.prefix).rstrip("/"),
            properties={
                lineage.TABLE_LAYER: table_name.layer.value,
                lineage.TABLE_NAME: str(table_name),
                **TABLE_PROPERTIES,
            },
        ) as create:
            if partition_by:
                with create.update_spec() as partitioning:
                    for entry in partition_by:
                        _add_partition_field(partitioning, entry)
    except TableAlreadyExistsError:  # another writer created it first: write to theirs
        table = catalog.load_table(identifier)
        _check_partitioning(table, partition_by, table_name)
        return table, False
    return catalog.load_table(identifier), True


def _parse_partition(entry: str) -> tuple[str, str]:
    entry = entry.strip()
    if "(" in entry and entry.endswith(")"):
        transform, _, column = entry[:-1].partition("(")
        transform, column = transform.strip().lower(), column.strip()
    else:
        transform, column = "identity", entry
    if transform not in _TRANSFORMS or not column:
        raise ValidationError(
            f"partition_by entry {entry!r} is neither a column nor TRANSFORM(column).",
            hint=f"Transforms: {', '.join(_TRANSFORMS)}; for example partition_by=['country'] "
            "or ['day(created_at)'].",
        )
    return transform, column


def _add_partition_field(partitioning: Any, entry: str) -> None:
    from pyiceberg.transforms import DayTransform, HourTransform, MonthTransform, YearTransform

    transform, column = _parse_partition(entry)
    if transform == "identity":
        partitioning.add_identity(column)
        return
    kind = {"year": YearTransform, "month": MonthTransform, "day": DayTransform}.get(
        transform, HourTransform
    )
    partitioning.add_field(column, kind(), f"{column}_{transform}")


def _check_partitioning(table: Table, partition_by: Sequence[str] | None, name: TableName) -> None:
    if partition_by is None:
        return
    schema = table.schema()
    have = [
        (str(field.transform), schema.find_field(field.source_id).name)
        for field in table.spec().fields
    ]
    wanted = [_parse_partition(entry) for entry in partition_by]
    if have != wanted:
        shown = ", ".join(f"{t}({c})" for t, c in have) or "none"
        raise ValidationError(
            f"{name.layer} {name} is partitioned by {shown}, not as partition_by says.",
            hint="Leave partition_by out for an existing table (it keeps its partitioning).",
        )


def _overwrite_in_one_snapshot(table: Table, data: pa.Table, properties: Mapping[str, str]) -> None:
    """Replace every row in one OVERWRITE snapshot: the current data files deleted and the new
    ones added by one snapshot producer. pyiceberg's own ``Table.overwrite`` commits a DELETE
    snapshot and then an APPEND snapshot (atomically, in one commit, but a reader travelling to
    the first sees an empty table); this is the same producer with both halves in it."""
    # Private in pyiceberg 0.12 (pinned <0.13): the writer Table.append uses, which names
    # columns by the table's field ids and applies its partition spec.
    from pyiceberg.io.pyarrow import _dataframe_to_data_files
    from pyiceberg.manifest import DataFileContent

    with table.transaction() as transaction:
        current = transaction.table_metadata.current_snapshot()
        with transaction.update_snapshot(
            snapshot_properties=dict(properties)
        ).overwrite() as change:
            if current is not None:
                for manifest in current.manifests(table.io):
                    for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                        if entry.data_file.content == DataFileContent.DATA:
                            change.delete_data_file(entry.data_file)
            if data.num_rows:
                for data_file in _dataframe_to_data_files(
                    table_metadata=transaction.table_metadata,
                    write_uuid=change.commit_uuid,
                    df=data,
                    io=table.io,
                ):
                    change.append_data_file(data_file)


def _snapshot_of(table: Table, write_id: str) -> Any:
    """This write's snapshot, by the write id in its summary: after a retried commit the
    table's current snapshot may already be a later writer's."""
    for snapshot in reversed(table.metadata.snapshots):
        if lineage.summary_of(snapshot).get(lineage.WRITE_ID) == write_id:
            return snapshot
    raise ValidationError(f"the snapshot of write {write_id} is not in the table's history.")


def _result(  # noqa: PLR0917 - one private call site per kind of write
    lake: Lake,
    table_name: TableName,
    operation: str,
    snapshot: Any,
    rows: int,
    created: bool,
    sources: Sequence[lineage.Source],
) -> WriteResult:
    added = lineage.summary_of(snapshot).get("added-data-files", "0")
    return WriteResult(
        layer=table_name.layer,
        name=str(table_name),
        uri=lake.uri(table_name.layer, table_name.prefix),
        operation=operation,
        snapshot_id=snapshot.snapshot_id,
        rows=rows,
        files=int(added),
        created=created,
        inputs=tuple(sources),
    )
