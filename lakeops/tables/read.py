"""Reading tables: the current snapshot, or an earlier one by id or by time (time travel)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakeops.errors import NotFoundError, ValidationError
from lakeops.tables.catalog import catalog_spec
from lakeops.tables.errors import table_errors
from lakeops.tables.names import TableName
from lakeops.tables.write import load

if TYPE_CHECKING:
    from pyiceberg.table import DataScan, Table

    from lakeops.lake import Lake


def as_of_millis(as_of: datetime | str | int) -> int:
    """A point in time as Iceberg's milliseconds since the epoch; naive datetimes are UTC."""
    if isinstance(as_of, int) and not isinstance(as_of, bool):
        return as_of
    if isinstance(as_of, str):
        try:
            as_of = datetime.fromisoformat(as_of.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"as_of {as_of!r} is not an ISO 8601 time.",
                hint="For example 2024-01-15T10:00:00Z.",
            ) from None
    if not isinstance(as_of, datetime):
        raise ValidationError("as_of must be a datetime, an ISO 8601 string or milliseconds.")
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    return int(as_of.timestamp() * 1000)


def snapshot_to_read(
    table: Table, name: TableName, as_of: datetime | str | int | None, snapshot_id: int | None
) -> int | None:
    """The snapshot id to read: the one named, the last at or before ``as_of``, or None for the
    current one."""
    if as_of is not None and snapshot_id is not None:
        raise ValidationError("give as_of or snapshot_id, not both.")
    if snapshot_id is not None:
        if table.snapshot_by_id(snapshot_id) is None:
            raise NotFoundError(
                f"{name.layer} {name} has no snapshot {snapshot_id} (never, or expired).",
                hint=f"`lakeops history {name.layer} {name}` lists its snapshots.",
            )
        return snapshot_id
    if as_of is None:
        return None
    millis = as_of_millis(as_of)
    found = table.snapshot_as_of_timestamp(millis)
    if found is None:
        first = min((s.timestamp_ms for s in table.metadata.snapshots), default=None)
        when = datetime.fromtimestamp(millis / 1000, UTC).isoformat()
        since = (
            f"its first is from {datetime.fromtimestamp(first / 1000, UTC).isoformat()}"
            if first is not None
            else "it has none"
        )
        raise NotFoundError(
            f"{name.layer} {name} has no snapshot at or before {when}: {since}.",
            hint=f"`lakeops history {name.layer} {name}` lists its snapshots.",
        )
    return int(found.snapshot_id)


def scan(
    lake: Lake,
    layer: Any,
    name: str,
    *,
    as_of: datetime | str | int | None = None,
    snapshot_id: int | None = None,
    columns: Sequence[str] | None = None,
    row_filter: Any = None,
) -> DataScan:
    table_name = TableName.parse(layer, name)
    table = load(lake, table_name)
    chosen = snapshot_to_read(table, table_name, as_of, snapshot_id)
    arguments: dict[str, Any] = {}
    if row_filter is not None:
        arguments["row_filter"] = row_filter
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        arguments["selected_fields"] = tuple(columns)
    if chosen is not None:
        arguments["snapshot_id"] = chosen
    with table_errors(
        f"read {table_name.layer} {table_name}", catalog=catalog_spec(lake).describe()
    ):
        return table.scan(**arguments)


def read_table(lake: Lake, layer: Any, name: str, **options: Any) -> Any:
    """The rows as one PyArrow table."""
    found = scan(lake, layer, name, **options)
    with table_errors(f"read {layer} {name}"):
        return found.to_arrow()


def read_batches(lake: Lake, layer: Any, name: str, **options: Any) -> Any:
    """The rows as a PyArrow RecordBatchReader, one batch at a time (memory bounded by the
    batch, not the table). Errors while reading surface from the reader itself."""
    found = scan(lake, layer, name, **options)
    with table_errors(f"read {layer} {name}"):
        return found.to_arrow_batch_reader()
