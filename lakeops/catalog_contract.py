"""The table catalog in the stack-outputs contract: which catalog a stack's tables live in.

Part of the contract declared in :mod:`lakeops.contract` (which re-exports these names), kept
in a module of its own because it has a shape of its own. The Pulumi program builds the
``catalog`` output with :meth:`CatalogSpec.to_output`; lakeops reads it back with
:meth:`CatalogSpec.parse`. docs/reference.md ("The table catalog") documents each field.

Three kinds, one per way a stack keeps its tables' metadata:

* ``sqlite``: pyiceberg's SQL catalog on a SQLite file (the dev stack's default). ``path`` is
  relative to the folder the outputs were exported to (the checkout's ``.lakeops/``).
* ``postgres``: pyiceberg's SQL catalog on PostgreSQL (the dev stack's shared catalog, the
  compose service ``catalog-db``). Its password is the separate secret output
  ``catalogPassword``.
* ``glue``: the AWS Glue Data Catalog (prod), with one Glue database per table layer.

Every kind names the catalog namespace (``databases``) of each table layer: bronze has none,
since bronze stays files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from lakeops.errors import ConfigurationError
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.redaction import register_secret

CATALOG = "catalog"  # the object below
# dev, kind postgres: the database password (a secret output); the name, not a password.
CATALOG_PASSWORD = "catalogPassword"  # noqa: S105
# prod: {role: ARN of its Glue policy}, to attach to principals the stack does not create.
CATALOG_POLICY_ARNS = "catalogPolicyArns"

# Layers that hold tables: every layer that is not append-only (bronze stays files).
TABLE_LAYERS: tuple[StorageLayer, ...] = tuple(
    layer for layer in StorageLayer if not LAYOUT[layer].append_only
)
# Glue (and Athena) names: lower-case letters, digits and underscores.
_DATABASE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
DEFAULT_SQLITE_FILE = "catalog-dev.db"
DEFAULT_POSTGRES_PORT = 5432


class CatalogKind(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"
    GLUE = "glue"


def database_name(prefix: str | None, layer: StorageLayer) -> str:
    """The catalog namespace of a table layer: ``silver``, or ``<prefix>_silver`` with a bucket
    prefix (its '-' as '_', which Glue and Athena names allow)."""
    return f"{prefix.replace('-', '_')}_{layer.value}" if prefix else layer.value


def default_databases(prefix: str | None = None) -> dict[StorageLayer, str]:
    return {layer: database_name(prefix, layer) for layer in TABLE_LAYERS}


@dataclass(frozen=True)
class CatalogSpec:
    """Where a stack's tables are catalogued. ``repr`` never shows the password."""

    kind: CatalogKind
    databases: Mapping[StorageLayer, str]
    # sqlite: the database file (absolute once parsed).
    path: Path | None = None
    # postgres: where the database is, and who logs in.
    host: str | None = None
    port: int = DEFAULT_POSTGRES_PORT
    database: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    password_masked: bool = False
    # glue: the region and the catalog's id (the account); an endpoint for a stand-in only.
    region: str | None = None
    catalog_id: str | None = None
    endpoint: str | None = None
    # Where this came from, for messages.
    source: str = ""

    def to_output(self) -> dict[str, Any]:
        """The ``catalog`` output, as the Pulumi program exports it (no password in it)."""
        document: dict[str, Any] = {
            "kind": self.kind.value,
            "databases": {layer.value: name for layer, name in self.databases.items()},
        }
        if self.kind is CatalogKind.SQLITE:
            document["path"] = str(self.path)
        elif self.kind is CatalogKind.POSTGRES:
            document.update(host=self.host, port=self.port, database=self.database, user=self.user)
        else:
            document.update(region=self.region, catalogId=self.catalog_id)
            if self.endpoint:
                document["endpoint"] = self.endpoint
        return document

    def describe(self) -> str:
        """One line for `lakeops config` and messages; never the password."""
        if self.kind is CatalogKind.SQLITE:
            return f"sqlite {self.path}"
        if self.kind is CatalogKind.POSTGRES:
            return f"postgres {self.user}@{self.host}:{self.port}/{self.database}"
        return f"glue {self.catalog_id or '(this account)'} in {self.region}"

    @classmethod
    def parse(
        cls,
        raw: object,
        *,
        source: str,
        base_dir: Path | None,
        password: object = None,
    ) -> CatalogSpec:
        """The ``catalog`` output (and ``catalogPassword``), checked."""
        where = f"stack output {CATALOG!r} from {source}"
        if not isinstance(raw, Mapping):
            raise ConfigurationError(f"{where} is not an object.", hint=_REEXPORT)
        try:
            kind = CatalogKind(str(raw.get("kind", "")))
        except ValueError:
            raise ConfigurationError(
                f"{where} names catalog kind {raw.get('kind')!r}.",
                hint="Use sqlite, postgres or glue.",
            ) from None
        databases = _databases(raw.get("databases"), where)
        if kind is CatalogKind.SQLITE:
            path = Path(str(raw.get("path") or DEFAULT_SQLITE_FILE))
            if not path.is_absolute():
                if base_dir is None:
                    raise ConfigurationError(
                        f"{where} names a relative SQLite file, and there is no folder to "
                        "find it in.",
                        hint="Export the outputs to a file (make outputs) or set "
                        "LAKEOPS_CATALOG_URI.",
                    )
                path = base_dir / path
            return cls(kind, databases, path=path.resolve(), source=source)
        if kind is CatalogKind.POSTGRES:
            for name in ("host", "database", "user"):
                if not isinstance(raw.get(name), str) or not raw.get(name):
                    raise ConfigurationError(f"{where} lacks {name!r}.", hint=_REEXPORT)
            masked = password == "[secret]"  # noqa: S105 - the CLI's placeholder for a secret
            return cls(
                kind,
                databases,
                host=str(raw["host"]),
                port=int(raw.get("port") or DEFAULT_POSTGRES_PORT),
                database=str(raw["database"]),
                user=str(raw["user"]),
                password=str(password) if isinstance(password, str) and not masked else None,
                password_masked=masked,
                source=source,
            )
        region = raw.get("region")
        if not isinstance(region, str) or not region:
            raise ConfigurationError(f"{where} lacks the Glue catalog's 'region'.", hint=_REEXPORT)
        catalog_id = raw.get("catalogId")
        endpoint = raw.get("endpoint")
        return cls(
            kind,
            databases,
            region=region,
            catalog_id=str(catalog_id) if catalog_id else None,
            endpoint=str(endpoint) if endpoint else None,
            source=source,
        )

    @classmethod
    def from_uri(
        cls, uri: str, *, source: str, databases: Mapping[StorageLayer, str] | None = None
    ) -> CatalogSpec:
        """A SQL catalog named by URI (``LAKEOPS_CATALOG_URI``): ``sqlite:////abs/file.db`` or
        ``postgresql://user:password@host:port/database``."""
        parts = urlsplit(uri)
        chosen = dict(databases or default_databases())
        if parts.scheme == "sqlite":
            path = unquote(parts.path)
            if not path or path == "/":
                raise ConfigurationError(
                    f"catalog URI from {source} names no SQLite file.",
                    hint="Write sqlite:////absolute/path/catalog.db.",
                )
            return cls(CatalogKind.SQLITE, chosen, path=Path(path).resolve(), source=source)
        if parts.scheme.split("+")[0] in ("postgresql", "postgres"):
            if parts.password:
                register_secret(unquote(parts.password))
            if not parts.hostname or not parts.path.strip("/") or not parts.username:
                raise ConfigurationError(
                    f"catalog URI from {source} lacks a host, a user or a database.",
                    hint="Write postgresql://user:password@host:5432/database.",
                )
            return cls(
                CatalogKind.POSTGRES,
                chosen,
                host=parts.hostname,
                port=parts.port or DEFAULT_POSTGRES_PORT,
                database=parts.path.strip("/"),
                user=unquote(parts.username),
                password=unquote(parts.password) if parts.password else None,
                source=source,
            )
        raise ConfigurationError(
            f"catalog URI from {source} is neither sqlite: nor postgresql:.",
            hint="Write sqlite:////absolute/path/catalog.db or "
            "postgresql://user:password@host:5432/database.",
        )


_REEXPORT = "Run `pulumi up` for the stack, then export its outputs again (make outputs)."


def _databases(raw: object, where: str) -> dict[StorageLayer, str]:
    if raw is None:
        return default_databases()
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{where}: 'databases' is not an object.", hint=_REEXPORT)
    found = {}
    for layer in TABLE_LAYERS:
        name = raw.get(layer.value)
        if not isinstance(name, str) or not _DATABASE_NAME.match(name):
            raise ConfigurationError(
                f"{where}: 'databases' has no usable name for {layer} ({name!r}).",
                hint=_REEXPORT,
            )
        found[layer] = name
    return found
