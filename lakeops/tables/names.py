"""A table's name, and where that name says it lives.

A table is named ``NAMESPACE.TABLE`` within a layer, and its namespace is one of the layer's
declared prefixes: ``cleaned.users`` is a silver table whose files live under
``s3://<silver bucket>/cleaned/users/``, ``reports.users_by_country`` a gold table under
``s3://<gold bucket>/reports/users_by_country/``. The six prefixes are distinct, so the
name alone says where a table lives, and the layout, the roles and ``verify`` apply to it.

In the catalog, each table layer is one namespace (a Glue database in prod, the same name in
the dev catalogs), and a table's identifier there is ``<prefix>_<table>``: Glue and Athena
allow no dots in a table name. ``cleaned.users`` is ``silver.cleaned_users`` in the dev
catalog and ``<bucketPrefix>_silver.cleaned_users`` in Glue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lakeops.catalog_contract import TABLE_LAYERS, CatalogSpec
from lakeops.errors import ValidationError
from lakeops.layout import LAYOUT, StorageLayer

# Lower-case letters, digits and '_', starting with a letter: what Glue and Athena accept.
_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


def namespaces(layer: StorageLayer) -> tuple[str, ...]:
    """The table namespaces of a layer: its declared prefixes, without the '/'."""
    return tuple(prefix.rstrip("/") for prefix in LAYOUT[layer].prefixes)


def table_layer(layer: StorageLayer | str) -> StorageLayer:
    """A layer that holds tables; bronze is refused (bronze stays files, exactly as received)."""
    parsed = StorageLayer.parse(layer)
    if parsed not in TABLE_LAYERS:
        raise ValidationError(
            f"{parsed} holds no tables: it keeps files exactly as received.",
            hint="Write tables to silver or gold; read bronze files with the readers and "
            "name them in the table's lineage.",
        )
    return parsed


@dataclass(frozen=True)
class TableName:
    layer: StorageLayer
    namespace: str  # one of the layer's prefixes, without '/'
    table: str

    @classmethod
    def parse(cls, layer: StorageLayer | str, name: str) -> TableName:
        parsed = table_layer(layer)
        known = namespaces(parsed)
        namespace, dot, table = name.strip().partition(".")
        if not dot or namespace not in known or not _TABLE.match(table):
            raise ValidationError(
                f"{name!r} is not a {parsed} table name.",
                hint=f"Name it NAMESPACE.TABLE, the namespace one of {parsed}'s prefixes "
                f"({', '.join(known)}) and the table lower-case letters, digits and '_' "
                f"(for example {known[0]}.users).",
            )
        return cls(parsed, namespace, table)

    def __str__(self) -> str:
        return f"{self.namespace}.{self.table}"

    @property
    def prefix(self) -> str:
        """The table's folder in its layer's bucket: ``cleaned/users/``."""
        return f"{self.namespace}/{self.table}/"

    def identifier(self, catalog: CatalogSpec) -> tuple[str, str]:
        """(namespace, table) in the catalog: (``silver``, ``cleaned_users``)."""
        return catalog.databases[self.layer], f"{self.namespace}_{self.table}"

    @classmethod
    def from_identifier(cls, layer: StorageLayer, table: str) -> TableName | None:
        """The lakeops name of a catalog table of ``layer``; None for one lakeops did not name
        (another tool's table in the same database)."""
        for namespace in sorted(namespaces(layer), key=len, reverse=True):
            rest = table.removeprefix(f"{namespace}_")
            if rest != table and _TABLE.match(rest):
                return cls(layer, namespace, rest)
        return None
