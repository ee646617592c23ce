"""The shared dev catalog: pyiceberg's SQL catalog on a real PostgreSQL server (Debian's
packages, started on loopback by tests/support/postgres.py), declared by the stack outputs as
the dev stack declares it, with the data on the server under test."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakeops import ConfigurationError, EndpointUnreachableError, Lake, LakeConfig, StorageLayer
from lakeops.catalog_contract import CATALOG, CATALOG_PASSWORD
from tests.support import postgres
from tests.support.concurrent import append_at_once, check_nothing_lost
from tests.support.s3server import REGION, S3Endpoint
from tests.test_tables import USERS, _sdk_checksums_from_the_lake, server_settings, users

SILVER = StorageLayer.SILVER
pytestmark = pytest.mark.s3
# Autouse: the lake's checksum setting, not the environment's, reaches PyArrow's AWS SDK.
__all__ = ["_sdk_checksums_from_the_lake"]


@pytest.fixture(scope="session")
def pg() -> Iterator[postgres.PostgresServer]:
    if postgres.binaries() is None and not os.environ.get(postgres.REQUIRE_VAR):
        pytest.skip(f"PostgreSQL is not installed. {postgres.INSTALL_HINT}")
    server = postgres.start()
    try:
        yield server
    finally:
        postgres.stop(Path(server.state))
        shutil.rmtree(server.state, ignore_errors=True)


def outputs(
    s3: S3Endpoint, buckets: dict[StorageLayer, str], pg: postgres.PostgresServer, database: str
) -> dict[str, Any]:
    """Stack outputs as the dev stack exports them with the shared catalog chosen."""
    return {
        "backend": "minio",
        "endpoint": s3.url,
        "region": REGION,
        "buckets": {layer.value: name for layer, name in buckets.items()},
        CATALOG: {
            "kind": "postgres",
            "host": "127.0.0.1",
            "port": pg.port,
            "database": database,
            "user": pg.user,
            "databases": {"silver": "silver", "gold": "gold"},
        },
        CATALOG_PASSWORD: pg.password,
    }


@pytest.fixture
def database(pg: postgres.PostgresServer) -> Iterator[str]:
    """A database of its own per test: the catalog's tables start empty."""
    import psycopg2

    name = f"catalog_{os.urandom(4).hex()}"
    connection = psycopg2.connect(
        host="127.0.0.1", port=pg.port, user=pg.user, password=pg.password, dbname="postgres"
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")
    connection.close()


@pytest.fixture
def outputs_file(
    tmp_path: Path,
    s3: S3Endpoint,
    buckets: dict[StorageLayer, str],
    pg: postgres.PostgresServer,
    database: str,
) -> Path:
    path = tmp_path / "outputs-dev.json"
    path.write_text(json.dumps(outputs(s3, buckets, pg, database)))
    return path


def lake_for(s3: S3Endpoint, outputs_file: Path) -> Lake:
    return Lake(
        LakeConfig.resolve(
            outputs_file=outputs_file,
            access_key_id=s3.access_key,
            secret_access_key=s3.secret_key,
            env=dict(s3.client_env),
            **server_settings(s3),
        )
    )


def test_the_shared_catalog_from_the_stack_outputs_keeps_tables(
    s3: S3Endpoint, outputs_file: Path, pg: postgres.PostgresServer
) -> None:
    lake = lake_for(s3, outputs_file)
    assert lake.config.catalog is not None
    assert lake.config.catalog.describe() == (
        f"postgres lakeops@127.0.0.1:{pg.port}/{lake.config.catalog.database}"
    )
    assert pg.password not in repr(lake.config)
    first = lake.write_table(SILVER, USERS, users([1, 2]))
    lake.write_table(SILVER, USERS, users([3]))

    # Another process, another Lake: the same catalog, the same tables.
    other = lake_for(s3, outputs_file)
    assert other.tables(SILVER) == [USERS]
    assert sorted(other.read_table(SILVER, USERS)["id"].to_pylist()) == [1, 2, 3]
    assert other.read_table(SILVER, USERS, snapshot_id=first.snapshot_id).num_rows == 2
    assert other.describe_table(SILVER, USERS).identifier == "silver.cleaned_users"


def test_two_processes_appending_through_postgres_lose_nothing(
    s3: S3Endpoint, outputs_file: Path, tmp_path: Path
) -> None:
    lake = lake_for(s3, outputs_file)
    lake.write_table(SILVER, USERS, users([0]))
    settings = {
        "outputs_file": str(outputs_file),
        "access_key_id": s3.access_key,
        "secret_access_key": s3.secret_key,
        "env": dict(s3.client_env),
        **server_settings(s3),
    }
    outcome = append_at_once(settings, USERS, tmp_path, count=8)
    check_nothing_lost(lake, USERS, [0], outcome)


def test_an_export_without_secrets_says_so(
    s3: S3Endpoint, tmp_path: Path, buckets: dict[StorageLayer, str], pg: postgres.PostgresServer
) -> None:
    document = outputs(s3, buckets, pg, "whatever")
    document[CATALOG_PASSWORD] = "[secret]"
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigurationError, match="exported without --show-secrets"):
        lake_for(s3, path).tables(SILVER)


def test_a_catalog_server_that_is_down_is_named(
    s3: S3Endpoint, tmp_path: Path, buckets: dict[StorageLayer, str], pg: postgres.PostgresServer
) -> None:
    from tests.support.s3server import free_port

    document = outputs(s3, buckets, pg, "whatever")
    document[CATALOG]["port"] = free_port()
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(document))
    with pytest.raises(EndpointUnreachableError, match="the SQL catalog cannot be used") as down:
        lake_for(s3, path).tables(SILVER)
    assert pg.password not in str(down.value)
