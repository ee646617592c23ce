"""Tables by name in DuckDB: a view per table the role can read, over ``iceberg_scan``.

``lake.duckdb()`` calls :func:`create_views`: DuckDB's iceberg extension (``duckdb-ext-iceberg``
1.4.4, and ``duckdb-ext-avro``, which it reads manifests with) is loaded from its PyPI wheel,
offline like httpfs, and each table of each table layer becomes ``<namespace>.<table>``
(``SELECT ... FROM cleaned.users``), a view over ``iceberg_scan('<its current metadata file>')``
read through the lake's S3 secret. DuckDB reads one table without a catalog when it is handed
the metadata file, which is what lakeops looks up in the stack's catalog for it.

"The tables the role can read": a layer whose tables the catalog will not list (Glue refuses a
role outside its layers) and a table whose metadata S3 refuses the role get no view. A view
shows the snapshot that was current when it was made; ``lake.duckdb()`` makes them again on
each call.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lakeops.catalog_contract import TABLE_LAYERS, CatalogKind
from lakeops.errors import LakeOpsError
from lakeops.tables.names import TableName

if TYPE_CHECKING:
    from lakeops.lake import Lake

log = logging.getLogger(__name__)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tables_configured(lake: Lake) -> bool:
    """Whether there can be tables to show: pyiceberg installed, a catalog declared, and (for
    the embedded SQLite catalog) its file made by a first write."""
    spec = lake.config.catalog
    if spec is None:
        return False
    try:
        import pyiceberg  # noqa: F401
    except ImportError:
        return False
    return spec.kind is not CatalogKind.SQLITE or (spec.path is not None and spec.path.exists())


def create_views(lake: Lake, connection: Any) -> list[str]:
    """Make a view for each table the role can read; return their names."""
    if not tables_configured(lake):
        return []
    from lakeops import readers
    from lakeops.tables.history import list_tables

    readers.load_extension(connection, "avro")
    readers.load_extension(connection, "iceberg")
    made = []
    for layer in TABLE_LAYERS:
        try:
            names = list_tables(lake, layer)
        except LakeOpsError as refused:
            log.debug("no views for %s's tables: %s", layer, refused)
            continue
        for name in names:
            parsed = TableName.parse(layer, name)
            try:
                table = lake.table(layer, name)
                location = table.metadata_location
                if table.current_snapshot() is None:
                    continue
                connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(parsed.namespace)}")
                # Identifiers quoted, the location a SQL string literal: no injection.
                connection.execute(
                    f"CREATE OR REPLACE VIEW {_quoted(parsed.namespace)}.{_quoted(parsed.table)}"  # noqa: S608
                    f" AS SELECT * FROM iceberg_scan({readers.sql_string(location)})"
                )
            except Exception as refused:  # a table the role may not read: no view for it
                log.debug("no view for %s %s: %s", layer, name, refused)
                connection.execute(
                    f"DROP VIEW IF EXISTS {_quoted(parsed.namespace)}.{_quoted(parsed.table)}"
                )
                continue
            made.append(str(parsed))
    return made
