"""Data to PyArrow, and whether it fits a table's schema.

A table's first write takes its schema from the data; every later write must have the same
columns, each of the table's type or one Iceberg promotes to it (``int`` to ``long``, ``float``
to ``double``), and no nulls where the table requires a value. Anything else is refused before
a file is written, naming each column that differs and how. pyiceberg checks the same again
when it writes (``_check_pyarrow_schema_compatible``), but lets a missing optional column
through (it writes nulls), which a pipeline writing the wrong frame should not get.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakeops.errors import SchemaMismatchError, ValidationError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.schema import Schema


def to_arrow(data: Any) -> pa.Table:
    """A PyArrow table from a PyArrow table or record batch, or a pandas or Polars frame."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__
    if module.startswith("pandas") and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if module.startswith("polars") and hasattr(data, "to_arrow"):
        if hasattr(data, "collect"):  # a LazyFrame
            data = data.collect()
        return data.to_arrow()
    raise ValidationError(
        f"cannot write a {type(data).__module__}.{type(data).__name__} to a table.",
        hint="Give a PyArrow table, or a pandas or Polars data frame.",
    )


def iceberg_type_names(schema: Schema) -> list[tuple[str, str]]:
    return [(field.name, str(field.field_type)) for field in schema.fields]


def differences(table_schema: Schema, data: pa.Schema) -> list[str]:
    """How ``data`` differs from ``table_schema``, a line per column; empty when it fits."""
    import pyarrow as pa
    from pyiceberg.exceptions import ResolveError
    from pyiceberg.io.pyarrow import pyarrow_to_schema
    from pyiceberg.schema import promote
    from pyiceberg.types import PrimitiveType

    wanted = {field.name: field for field in table_schema.fields}
    given = set(data.names)
    found = []
    for name in [n for n in data.names if n not in wanted]:
        found.append(f"{name}: in the data ({data.field(name).type}), not in the table")
    for name in [n for n in wanted if n not in given]:
        found.append(f"{name}: in the table ({wanted[name].field_type}), not in the data")
    shared = pa.schema([data.field(name) for name in data.names if name in wanted])
    try:
        converted = pyarrow_to_schema(shared, name_mapping=table_schema.name_mapping)
    except (ValueError, TypeError) as exc:
        return [*found, f"the data's types have no Iceberg equivalent: {exc}"]
    for field in converted.fields:
        expected = wanted[field.name]
        if expected.required and not field.required:
            # As pyiceberg decides: by the column's nullable flag, not by its values.
            found.append(f"{field.name}: the table requires a value, the data may hold nulls")
        if field.field_type == expected.field_type:
            continue
        if isinstance(field.field_type, PrimitiveType) and isinstance(
            expected.field_type, PrimitiveType
        ):
            try:
                promote(field.field_type, expected.field_type)
                continue
            except ResolveError:
                pass
        found.append(
            f"{field.name}: the table has {expected.field_type}, the data {field.field_type}"
        )
    return found


def check_fits(table_schema: Schema, data: pa.Schema, what: str) -> None:
    found = differences(table_schema, data)
    if found:
        raise SchemaMismatchError(
            f"{what}: the data does not match the table's schema, so nothing was written: "
            f"{'; '.join(found)}.",
            hint="Write the table's columns with its types (lakeops table LAYER NAME shows "
            "them), or write to a new table.",
        )
