"""The pyiceberg catalog of a lake, as its role, built from the lake's resolved configuration.

The catalog is the one the stack declares (``catalog`` in the stack outputs,
:class:`~lakeops.catalog_contract.CatalogSpec`), or ``LAKEOPS_CATALOG_URI``. Its FileIO gets
the same S3 settings the readers do (:func:`lakeops.readers.pyiceberg_properties`): endpoint,
path-style addressing, region, TLS and CA file, the role's keys or assumed-role session.

Where commits are decided: a SQL catalog commits with ``UPDATE ... WHERE metadata_location =
<the one read>`` and Glue with the table's version id, a compare-and-swap in the catalog
either way (``pyiceberg/catalog/sql.py`` and ``glue.py``, ``commit_table``). So no commit
depends on the object store honouring ``If-None-Match`` (Ceph RGW 16.2 ignores it on
versioned buckets).

Roles: the Glue catalog enforces them (each role's IAM policy grants exactly the Glue actions
it needs on its layers' databases). The dev catalogs (SQLite, PostgreSQL) do not: any role may
list or commit to any table there, and only S3 refuses it the data files its role may not read
or write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import botocore.config

from lakeops._version import __version__
from lakeops.catalog_contract import CatalogKind, CatalogSpec
from lakeops.errors import ConfigurationError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from lakeops.lake import Lake

# The catalog's name inside pyiceberg (it appears in its messages and in DuckDB's views).
CATALOG_NAME = "lake"


def require_tables_extra() -> None:
    try:
        import pyiceberg  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            "tables need pyiceberg, which is not installed.",
            hint="Install the extra: pip install 'lakeops[tables]'.",
        ) from exc


def catalog_spec(lake: Lake) -> CatalogSpec:
    spec = lake.config.catalog
    if spec is None:
        raise ConfigurationError(
            "no table catalog is declared for this lake: the stack outputs name none, and "
            "LAKEOPS_CATALOG_URI is not set.",
            hint="Export the outputs of a stack that declares one (make outputs; the dev "
            "stack's default is a SQLite file in .lakeops/), or set LAKEOPS_CATALOG_URI="
            "sqlite:////path/catalog.db.",
        )
    return spec


def open_catalog(lake: Lake) -> Catalog:
    """A new pyiceberg catalog for ``lake``; :meth:`Lake.catalog` keeps one per lake."""
    require_tables_extra()
    from lakeops import readers
    from lakeops.tables.errors import table_errors

    spec = catalog_spec(lake)
    with table_errors(f"open the table catalog ({spec.describe()})"):
        return _open(lake, spec, readers.pyiceberg_properties(lake))


def _open(lake: Lake, spec: CatalogSpec, properties: dict[str, str]) -> Catalog:
    if spec.kind is CatalogKind.GLUE:
        from pyiceberg.catalog.glue import GlueCatalog

        # lakeops' own session: with a role on AWS, the role assumed and refreshed as it
        # expires, which pyiceberg's own session (built from keys) could not do.
        client = lake.session.client(
            "glue",
            region_name=spec.region,
            endpoint_url=spec.endpoint,
            config=botocore.config.Config(
                connect_timeout=lake.config.timeouts.connect_seconds,
                read_timeout=lake.config.timeouts.read_seconds,
                retries={
                    "mode": "standard",
                    "total_max_attempts": lake.config.timeouts.max_attempts,
                },
                user_agent_extra=f"lakeops/{__version__}",
            ),
        )
        if spec.catalog_id:
            properties["glue.id"] = spec.catalog_id
        return GlueCatalog(CATALOG_NAME, client=client, **properties)
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(CATALOG_NAME, uri=_sql_uri(spec), **properties)


def _sql_uri(spec: CatalogSpec) -> str:
    from sqlalchemy.engine import URL

    if spec.kind is CatalogKind.SQLITE:
        assert spec.path is not None
        try:
            spec.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"the SQLite catalog's folder {str(spec.path.parent)!r} cannot be made: "
                f"{exc.strerror}.",
                hint="Check the folder's permissions, or set LAKEOPS_CATALOG_URI.",
            ) from None
        return f"sqlite:///{spec.path}"
    if spec.password is None:
        masked = " (exported without --show-secrets)" if spec.password_masked else ""
        raise ConfigurationError(
            f"the PostgreSQL catalog {spec.describe()} has no password in the stack outputs"
            f"{masked}.",
            hint="Export the outputs again with `make outputs` (it shows secrets for dev), or "
            "set LAKEOPS_CATALOG_URI=postgresql://user:password@host:5432/database.",
        )
    url = URL.create(
        "postgresql+psycopg2",
        username=spec.user,
        password=spec.password,
        host=spec.host,
        port=spec.port,
        database=spec.database,
    )
    return url.render_as_string(hide_password=False)


def describe(lake: Lake) -> dict[str, Any]:
    spec = catalog_spec(lake)
    return {
        "kind": spec.kind.value,
        "where": spec.describe(),
        "databases": {layer.value: name for layer, name in spec.databases.items()},
        "enforces_roles": spec.kind is CatalogKind.GLUE,
    }
