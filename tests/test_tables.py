"""Silver and gold as Iceberg tables, on the embedded SQLite catalog, with the data on the
server under test (moto; Ceph RGW over HTTP and HTTPS under `make test-rgw`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lakeops import (
    ChecksFailedError,
    Lake,
    NotFoundError,
    SchemaMismatchError,
    StorageLayer,
    ValidationError,
)
from lakeops.cli import main
from tests.conftest import config_for
from tests.support.concurrent import append_at_once, check_nothing_lost
from tests.support.s3server import S3Endpoint
from tests.test_readers import polars_trusts_the_ca

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["polars_trusts_the_ca"]  # a fixture, used by name
BRONZE, SILVER, GOLD = StorageLayer.BRONZE, StorageLayer.SILVER, StorageLayer.GOLD
USERS = "cleaned.users"

pytestmark = pytest.mark.s3


def users(ids: list[int], country: str = "GB") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ids,
            "email": [f"user{i}@example.com" for i in ids],
            "country": [country] * len(ids),
        }
    )


def sqlite_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'catalog.db'}"


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    folder.mkdir()
    return folder


def server_settings(s3: S3Endpoint) -> dict[str, Any]:
    """What a user of this server sets. Ceph RGW 16.2 refuses uploads with checksum trailers
    (411), which PyArrow's AWS SDK sends over HTTP too: the README's setting for such servers,
    over HTTP as well as HTTPS for tables."""
    return {"request_checksum_calculation": "when_required"} if s3.kind == "rgw" else {}


@pytest.fixture(autouse=True)
def _sdk_checksums_from_the_lake(monkeypatch: pytest.MonkeyPatch) -> None:
    """lakeops passes its request-checksum setting to PyArrow's AWS SDK through the process's
    AWS_REQUEST_CHECKSUM_CALCULATION (readers.set_sdk_checksum_calculation): start each test
    without it, so that the lake's setting is what reaches the SDK, and restore it after."""
    monkeypatch.delenv("AWS_REQUEST_CHECKSUM_CALCULATION", raising=False)


@pytest.fixture
def tlake(s3: S3Endpoint, buckets: dict[StorageLayer, str], catalog_dir: Path) -> Lake:
    """A lake on the server under test, its tables in a SQLite catalog of its own."""
    return Lake(
        config_for(
            s3,
            buckets,
            env={"LAKEOPS_CATALOG_URI": sqlite_uri(catalog_dir)},
            **server_settings(s3),
        )
    )


def keys_under(admin: S3Client, bucket: str, prefix: str) -> set[str]:
    found = set()
    for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found |= {item["Key"] for item in page.get("Contents", [])}
    return found


# -- writing -----------------------------------------------------------------------------------


def test_a_first_write_creates_the_table_and_every_frame_kind_appends(tlake: Lake) -> None:
    created = tlake.write_table(SILVER, USERS, users([1, 2, 3]))
    assert created.created and created.operation == "append" and created.rows == 3
    tlake.write_table(SILVER, USERS, pl.from_pandas(users([4], "US")))
    tlake.write_table(SILVER, USERS, pa.Table.from_pandas(users([5], "FR"), preserve_index=False))

    rows = tlake.read_table(SILVER, USERS).to_pandas().sort_values("id")
    assert rows["id"].tolist() == [1, 2, 3, 4, 5]
    assert rows["country"].tolist() == ["GB", "GB", "GB", "US", "FR"]
    info = tlake.describe_table(SILVER, USERS)
    assert info.location == f"s3://{tlake.config.bucket(SILVER)}/cleaned/users"
    assert [c["name"] for c in info.schema] == ["id", "email", "country"]
    assert (info.rows, info.snapshots) == (5, 3)
    assert tlake.tables(SILVER) == [USERS] and tlake.tables(GOLD) == []


def test_the_tables_files_live_under_its_layout_prefix(
    tlake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    tlake.write_table(SILVER, USERS, users([1]))
    written = keys_under(admin, buckets[SILVER], "")
    assert written and all(key.startswith("cleaned/users/") for key in written)
    assert any(key.startswith("cleaned/users/data/") for key in written)
    assert any(key.startswith("cleaned/users/metadata/") for key in written)


def test_bronze_holds_no_tables_and_names_must_use_the_layers_prefixes(tlake: Lake) -> None:
    with pytest.raises(ValidationError, match="holds no tables"):
        tlake.write_table(BRONZE, "postgres.users", users([1]))
    for bad in ("users", "reports.users", "cleaned.Users", "cleaned/users"):
        with pytest.raises(ValidationError, match="is not a silver table name"):
            tlake.write_table(SILVER, bad, users([1]))


def test_a_schema_mismatch_is_refused_naming_the_columns_and_nothing_is_written(
    tlake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    first = tlake.write_table(SILVER, USERS, users([1, 2]))
    before = keys_under(admin, buckets[SILVER], "cleaned/users/")
    wrong = pd.DataFrame({"id": ["x"], "email": ["a@b"], "city": ["Leeds"]})

    with pytest.raises(SchemaMismatchError) as refused:
        tlake.write_table(SILVER, USERS, wrong)

    message = str(refused.value)
    assert "city: in the data (large_string), not in the table" in message
    assert "country: in the table (string), not in the data" in message
    assert "id: the table has long, the data string" in message
    assert refused.value.exit_code == 2
    assert keys_under(admin, buckets[SILVER], "cleaned/users/") == before
    assert tlake.describe_table(SILVER, USERS).current_snapshot_id == first.snapshot_id


def test_a_missing_optional_column_is_refused_too(tlake: Lake) -> None:
    tlake.write_table(SILVER, USERS, users([1]))
    with pytest.raises(SchemaMismatchError, match="country: in the table"):
        tlake.write_table(SILVER, USERS, users([2]).drop(columns="country"))


def test_a_type_iceberg_promotes_is_accepted(tlake: Lake) -> None:
    tlake.write_table(SILVER, USERS, users([1]))
    narrow = pa.table(
        {
            "id": pa.array([2], pa.int32()),
            "email": ["b@example.com"],
            "country": ["GB"],
        }
    )
    tlake.write_table(SILVER, USERS, narrow)
    assert sorted(tlake.read_table(SILVER, USERS)["id"].to_pylist()) == [1, 2]


def test_a_failed_check_leaves_the_snapshot_and_no_new_files(
    tlake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    first = tlake.write_table(SILVER, USERS, users([1]))
    before = keys_under(admin, buckets[SILVER], "cleaned/users/")
    bad = users([2, 3, 4])
    bad.loc[1, "email"] = "not-an-email"
    bad.loc[2, "email"] = None

    def valid_emails(table: pa.Table) -> pa.Array:
        return pc.match_substring(table["email"], "@")

    with pytest.raises(ChecksFailedError) as refused:
        tlake.write_table(SILVER, USERS, bad, checks=[valid_emails, lambda t: t.num_rows < 100])

    assert "1 quality check failed on 3 rows: valid_emails (2 rows)" in str(refused.value)
    assert refused.value.failures[0].rows == 2
    assert keys_under(admin, buckets[SILVER], "cleaned/users/") == before
    assert tlake.describe_table(SILVER, USERS).current_snapshot_id == first.snapshot_id


def test_checks_by_name_count_and_whole_table_answers(tlake: Lake) -> None:
    with pytest.raises(ChecksFailedError) as refused:
        tlake.write_table(
            SILVER,
            USERS,
            users([1, 2]),
            checks={
                "no more than one row": lambda t: t.num_rows <= 1,
                "two bad ids": lambda t: 2,
                "fine": lambda t: None,
                "broken": lambda t: 1 / 0,
            },
        )
    failed = {f.check: f for f in refused.value.failures}
    assert set(failed) == {"no more than one row", "two bad ids", "broken"}
    assert failed["no more than one row"].rows is None
    assert failed["two bad ids"].rows == 2
    assert "ZeroDivisionError" in failed["broken"].detail
    assert tlake.tables(SILVER) == []  # the table was never created


def test_a_pandera_schema_is_a_check(tlake: Lake) -> None:
    import pandera.pandas as pa_schema

    schema = pa_schema.DataFrameSchema(
        {"country": pa_schema.Column(str, pa_schema.Check.isin(["GB", "US"]))}, name="countries"
    )
    tlake.write_table(SILVER, USERS, users([1]), checks=schema)
    with pytest.raises(ChecksFailedError, match="countries"):
        tlake.write_table(SILVER, USERS, users([2, 3], "FR"), checks=schema)
    assert tlake.read_table(SILVER, USERS).num_rows == 1


def test_an_overwrite_replaces_every_row_in_one_snapshot(tlake: Lake) -> None:
    first = tlake.write_table(SILVER, USERS, users([1, 2]))
    tlake.write_table(SILVER, USERS, users([3]))
    replaced = tlake.write_table(SILVER, USERS, users([7, 8], "US"), mode="overwrite")

    assert sorted(tlake.read_table(SILVER, USERS)["id"].to_pylist()) == [7, 8]
    history = tlake.table_history(SILVER, USERS)
    assert [h.operation for h in history] == ["append", "append", "overwrite"]
    last = history[-1]
    assert (last.snapshot_id, last.rows_added, last.rows_removed, last.rows) == (
        replaced.snapshot_id,
        2,
        3,
        2,
    )
    assert last.parent_id == history[1].snapshot_id and last.current
    # The earlier snapshots still read as they were.
    assert tlake.read_table(SILVER, USERS, snapshot_id=first.snapshot_id).num_rows == 2


def test_partitioned_tables_keep_their_partitioning(tlake: Lake) -> None:
    tlake.write_table(SILVER, USERS, users([1]), partition_by=["country"])
    tlake.write_table(SILVER, USERS, users([2], "US"))
    assert tlake.describe_table(SILVER, USERS).partitioning == ["identity(country)"]
    assert tlake.read_table(SILVER, USERS, row_filter="country = 'US'")["id"].to_pylist() == [2]
    with pytest.raises(ValidationError, match="partitioned by identity"):
        tlake.write_table(SILVER, USERS, users([3]), partition_by=["day(id)"])


# -- reading -----------------------------------------------------------------------------------


def test_time_travel_returns_the_earlier_rows(tlake: Lake) -> None:
    first = tlake.write_table(SILVER, USERS, users([1, 2]))
    between = datetime.now(UTC)
    time.sleep(0.05)
    tlake.write_table(SILVER, USERS, users([3]))

    assert sorted(tlake.read_table(SILVER, USERS)["id"].to_pylist()) == [1, 2, 3]
    assert sorted(tlake.read_table(SILVER, USERS, as_of=between)["id"].to_pylist()) == [1, 2]
    assert tlake.read_table(SILVER, USERS, as_of=between.isoformat()).num_rows == 2
    early = tlake.read_table(SILVER, USERS, snapshot_id=first.snapshot_id, columns=["id"])
    assert early.column_names == ["id"] and early.num_rows == 2
    with pytest.raises(NotFoundError, match="no snapshot at or before"):
        tlake.read_table(SILVER, USERS, as_of=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(NotFoundError, match="has no snapshot 42"):
        tlake.read_table(SILVER, USERS, snapshot_id=42)


def test_every_reader_reads_a_table_by_name(tlake: Lake, polars_trusts_the_ca: None) -> None:
    tlake.write_table(SILVER, USERS, users([1, 2, 3]))
    tlake.write_table(GOLD, "reports.users_by_country", pd.DataFrame({"country": ["GB"], "n": [3]}))

    duckdb = tlake.duckdb()
    assert duckdb.sql("SELECT count(*) FROM cleaned.users").fetchall() == [(3,)]
    assert duckdb.sql("SELECT n FROM reports.users_by_country").fetchall() == [(3,)]
    frame = pl.scan_iceberg(
        tlake.table(SILVER, USERS), storage_options=tlake.polars_storage_options()
    ).collect()
    assert frame.height == 3
    assert len(tlake.read_table(SILVER, USERS).to_pandas()) == 3
    batches = tlake.read_table_batches(SILVER, USERS)
    assert sum(batch.num_rows for batch in batches) == 3

    # A view shows the snapshot current when lake.duckdb() made it; the next call remakes it.
    tlake.write_table(SILVER, USERS, users([4]))
    assert tlake.duckdb().sql("SELECT count(*) FROM cleaned.users").fetchall() == [(4,)]


# -- history -----------------------------------------------------------------------------------


def test_rollback_makes_an_earlier_snapshot_current_and_back(tlake: Lake) -> None:
    first = tlake.write_table(SILVER, USERS, users([1]))
    second = tlake.write_table(SILVER, USERS, users([2]))

    back = tlake.rollback_table(SILVER, USERS, first.snapshot_id)

    assert back.snapshot_id == first.snapshot_id
    assert tlake.read_table(SILVER, USERS)["id"].to_pylist() == [1]
    tlake.rollback_table(SILVER, USERS, second.snapshot_id)
    assert sorted(tlake.read_table(SILVER, USERS)["id"].to_pylist()) == [1, 2]
    with pytest.raises(NotFoundError):
        tlake.rollback_table(SILVER, USERS, 12345)


def test_expiry_removes_only_files_no_retained_snapshot_references(
    tlake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    tlake.write_table(SILVER, USERS, users([1]))
    tlake.write_table(SILVER, USERS, users([2]))
    kept_before = keys_under(admin, buckets[SILVER], "cleaned/users/data/")
    tlake.write_table(SILVER, USERS, users([3, 4]), mode="overwrite")
    tlake.write_table(SILVER, USERS, users([5]))
    # A published dataset added as it is: its files lie outside the table's own folder.
    folder = tmp_path / "extra"
    folder.mkdir()
    users([6]).to_parquet(folder / "part-0.parquet", index=False)
    tlake.upload_folder(folder, SILVER, "cleaned/extra/2024-01-15/")
    registered = tlake.register_dataset(SILVER, "cleaned/extra/2024-01-15/", USERS)
    last = tlake.write_table(SILVER, USERS, users([9]), mode="overwrite")
    before = keys_under(admin, buckets[SILVER], "")

    result = tlake.expire_snapshots(SILVER, USERS, older_than="0s", retain_last=2)

    assert result.retained == sorted([registered.snapshot_id, last.snapshot_id])
    assert len(result.expired) == 4
    after = keys_under(admin, buckets[SILVER], "")
    deleted = before - after
    assert {f"s3://{buckets[SILVER]}/{key}" for key in deleted} == set(result.deleted_files)
    # The first two appends' data files went; every file a retained snapshot uses stayed.
    assert kept_before <= deleted
    assert tlake.verify_table(SILVER, USERS, deep=True).ok
    assert tlake.read_table(SILVER, USERS)["id"].to_pylist() == [9]
    assert sorted(
        tlake.read_table(SILVER, USERS, snapshot_id=registered.snapshot_id)["id"].to_pylist()
    ) == [3, 4, 5, 6]

    # Once no snapshot uses the dataset's file, it is still not deleted: it lies outside the
    # table's folder, and its manifest still promises it.
    again = tlake.expire_snapshots(SILVER, USERS, older_than="0s", retain_last=1)
    assert again.expired == [registered.snapshot_id] and again.kept_outside_table == 1
    assert "cleaned/extra/2024-01-15/part-0.parquet" in keys_under(admin, buckets[SILVER], "")
    assert tlake.verify_dataset(SILVER, "cleaned/extra/2024-01-15/").ok
    assert len(tlake.table_history(SILVER, USERS)) == 1


def test_verify_finds_a_missing_data_file(
    tlake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    tlake.write_table(SILVER, USERS, users([1]))
    tlake.write_table(SILVER, USERS, users([2]))
    report = tlake.verify_table(SILVER, USERS, deep=True)
    assert report.ok and len(report.rows) == 2
    victim = report.rows[0].path.removeprefix(f"s3://{buckets[SILVER]}/")
    admin.delete_object(Bucket=buckets[SILVER], Key=victim)

    broken = tlake.verify_table(SILVER, USERS)
    assert not broken.ok
    assert [(r.path, r.result) for r in broken.rows if not r.ok] == [
        (report.rows[0].path, "missing")
    ]


# -- datasets and lineage ----------------------------------------------------------------------


def test_a_published_dataset_is_added_without_rewriting_its_files(
    tlake: Lake, tmp_path: Path, buckets: dict[StorageLayer, str]
) -> None:
    folder = tmp_path / "users-clean"
    folder.mkdir()
    users([1, 2]).to_parquet(folder / "part-0.parquet", index=False)
    users([3]).to_parquet(folder / "part-1.parquet", index=False)
    (folder / "README.txt").write_text("not data")
    published = tlake.upload_folder(folder, SILVER, "cleaned/users/2024-01-15/")

    result = tlake.register_dataset(SILVER, "cleaned/users/2024-01-15/", USERS)

    assert result.created and result.operation == "add-files" and result.rows == 3
    files = {row.path for row in tlake.verify_table(SILVER, USERS).rows}
    assert files == {
        f"s3://{buckets[SILVER]}/cleaned/users/2024-01-15/part-0.parquet",
        f"s3://{buckets[SILVER]}/cleaned/users/2024-01-15/part-1.parquet",
    }
    (source,) = result.inputs
    assert (source.kind, source.version) == ("dataset", published.manifest_version_id)
    # The same files again are refused by pyiceberg (check_duplicate_files).
    with pytest.raises(ValidationError):
        tlake.register_dataset(SILVER, "cleaned/users/2024-01-15/", USERS)
    with pytest.raises(NotFoundError, match="not a published dataset"):
        tlake.register_dataset(SILVER, "cleaned/nothing/", USERS)


def test_a_gold_snapshot_traces_back_to_the_bronze_versions(
    tlake: Lake, tmp_path: Path, buckets: dict[StorageLayer, str]
) -> None:
    raw = tmp_path / "users.csv"
    raw.write_text("id,email,country\n1,a@example.com,GB\n2,b@example.com,US\n")
    uploaded = tlake.put_file(raw, BRONZE, "postgres/users/2024-01-15/users.csv")
    events = tmp_path / "lineage.jsonl"

    frame = pd.read_csv(raw)
    silver = tlake.write_table(
        SILVER,
        USERS,
        frame,
        lineage=[uploaded.uri],
        job="clean users",
        lineage_target=f"file:{events}",
    )
    by_country = tlake.read_table(SILVER, USERS).to_pandas().groupby("country").size()
    gold = tlake.write_table(
        GOLD,
        "reports.users_by_country",
        by_country.rename("users").reset_index(),
        lineage=[tlake.table(SILVER, USERS)],
        job="users by country",
        lineage_target=f"file:{events}",
    )

    history = tlake.table_history(GOLD, "reports.users_by_country")
    assert history[-1].job == "users by country"
    assert history[-1].inputs == [
        {
            "kind": "table",
            "uri": f"s3://{buckets[SILVER]}/cleaned/users/",
            "version": str(silver.snapshot_id),
            "layer": "silver",
            "name": USERS,
        }
    ]
    traced = tlake.table_lineage(GOLD, "reports.users_by_country")
    (silver_node,) = traced.inputs
    (bronze_node,) = silver_node.inputs
    assert bronze_node.source.uri == uploaded.uri
    assert uploaded.version_id is not None
    assert bronze_node.source.version == uploaded.version_id

    emitted = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["eventType"] for e in emitted] == ["START", "COMPLETE", "START", "COMPLETE"]
    gold_done = emitted[-1]
    assert gold_done["job"]["name"] == "users by country"
    (inp,) = gold_done["inputs"]
    (out,) = gold_done["outputs"]
    endpoint = tlake.config.endpoint_url
    assert (inp["namespace"], inp["name"]) == (endpoint, f"{buckets[SILVER]}/cleaned/users")
    assert inp["facets"]["version"]["datasetVersion"] == str(silver.snapshot_id)
    assert (out["namespace"], out["name"]) == (
        endpoint,
        f"{buckets[GOLD]}/reports/users_by_country",
    )
    assert out["facets"]["version"]["datasetVersion"] == str(gold.snapshot_id)
    assert [f["name"] for f in out["facets"]["schema"]["fields"]] == ["country", "users"]
    silver_in = emitted[1]["inputs"][0]
    assert silver_in["name"] == f"{buckets[BRONZE]}/postgres/users/2024-01-15/users.csv"
    _check_against_the_openlineage_model(emitted)


def _check_against_the_openlineage_model(emitted: list[dict[str, Any]]) -> None:
    """Each event, rebuilt through the OpenLineage client's own model (which validates run
    ids, times, event types and facets), serialises back to what was emitted."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
    from openlineage.client.event_v2 import RunState as EventType
    from openlineage.client.facet_v2 import dataset_version_dataset, schema_dataset
    from openlineage.client.serde import Serde

    def facets(raw: dict[str, Any]) -> dict[str, Any]:
        built: dict[str, Any] = {}
        if "version" in raw:
            built["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=raw["version"]["datasetVersion"]
            )
        if "schema" in raw:
            built["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name=f["name"], type=f["type"])
                    for f in raw["schema"]["fields"]
                ]
            )
        return built

    for event in emitted:
        rebuilt = RunEvent(
            eventType=EventType[event["eventType"]],
            eventTime=event["eventTime"],
            run=Run(runId=event["run"]["runId"]),
            job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
            inputs=[
                InputDataset(namespace=d["namespace"], name=d["name"], facets=facets(d["facets"]))
                for d in event["inputs"]
            ],
            outputs=[
                OutputDataset(namespace=d["namespace"], name=d["name"], facets=facets(d["facets"]))
                for d in event["outputs"]
            ],
            producer=event["producer"],
        )
        again = Serde.to_dict(rebuilt)
        for name in ("eventType", "eventTime", "job", "producer", "schemaURL"):
            assert again[name] == event[name]
        for kind in ("inputs", "outputs"):
            for mine, theirs in zip(again[kind], event[kind], strict=True):
                assert (mine["namespace"], mine["name"]) == (theirs["namespace"], theirs["name"])
                for facet in theirs["facets"]:
                    for key, value in theirs["facets"][facet].items():
                        if not key.startswith("_"):
                            assert mine["facets"][facet][key] == value


# -- concurrency -------------------------------------------------------------------------------


def test_two_processes_appending_at_once_lose_nothing(
    tlake: Lake, s3: S3Endpoint, buckets: dict[StorageLayer, str], catalog_dir: Path, tmp_path: Path
) -> None:
    tlake.write_table(SILVER, USERS, users([0]))  # the table exists; both append to it
    settings = {
        "endpoint_url": s3.url,
        "access_key_id": s3.access_key,
        "secret_access_key": s3.secret_key,
        "region": tlake.config.region,
        "buckets": buckets,
        "env": {"LAKEOPS_CATALOG_URI": sqlite_uri(catalog_dir), **s3.client_env},
        **server_settings(s3),
    }
    outcome = append_at_once(settings, USERS, tmp_path)
    check_nothing_lost(tlake, USERS, [0], outcome)


# -- the command -------------------------------------------------------------------------------


def _run(tlake: Lake, s3: S3Endpoint, catalog_dir: Path, *words: str) -> tuple[int, Any, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    config = tlake.config
    environment = {
        "AWS_ENDPOINT_URL_S3": s3.url,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_REGION": config.region,
        "LAKEOPS_CATALOG_URI": sqlite_uri(catalog_dir),
        **{f"LAKEOPS_BUCKET_{layer.name}": name for layer, name in config.buckets.items()},
        **({"LAKEOPS_REQUEST_CHECKSUM_CALCULATION": "when_required"} if s3.kind == "rgw" else {}),
    }
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        code = main(["--json", *words], out=out, err=err)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else None, err.getvalue()


def test_the_table_commands(tlake: Lake, s3: S3Endpoint, catalog_dir: Path) -> None:
    first = tlake.write_table(SILVER, USERS, users([1, 2]))
    tlake.write_table(SILVER, USERS, users([3]))

    assert _run(tlake, s3, catalog_dir, "tables", "silver")[:2] == (0, [USERS])
    code, info, _ = _run(tlake, s3, catalog_dir, "table", "silver", USERS)
    assert code == 0 and info["rows"] == 3 and info["files"] == 2
    code, history, _ = _run(tlake, s3, catalog_dir, "history", "staging", USERS)
    assert code == 0 and [h["rows_added"] for h in history] == [2, 1]
    code, done, _ = _run(
        tlake, s3, catalog_dir, "rollback", "silver", USERS, str(first.snapshot_id)
    )
    assert code == 0 and done["snapshot_id"] == first.snapshot_id and done["rows"] == 2
    code, report, _ = _run(tlake, s3, catalog_dir, "verify", "silver", USERS, "--deep")
    assert code == 0 and report["ok"] and report["deep"]
    code, expired, _ = _run(tlake, s3, catalog_dir, "expire", "silver", USERS, "--older-than", "0s")
    assert code == 0 and len(expired["expired"]) == 1  # the rolled-back-over snapshot
    code, _, err = _run(tlake, s3, catalog_dir, "table", "silver", "cleaned.nothing")
    assert code == 4 and "TableNotFoundError" in err
    code, _, err = _run(tlake, s3, catalog_dir, "tables", "bronze")
    assert code == 2 and "holds no tables" in err
    code, _, err = _run(tlake, s3, catalog_dir, "expire", "silver", USERS, "--older-than", "soon")
    assert code == 2 and "not a number with a unit" in err


def test_verify_of_a_table_exits_1_when_a_file_is_missing(
    tlake: Lake, s3: S3Endpoint, catalog_dir: Path, admin: S3Client
) -> None:
    tlake.write_table(SILVER, USERS, users([1]))
    (row,) = tlake.verify_table(SILVER, USERS).rows
    bucket, _, key = row.path.removeprefix("s3://").partition("/")
    admin.delete_object(Bucket=bucket, Key=key)
    code, report, _ = _run(tlake, s3, catalog_dir, "verify", "silver", USERS)
    assert code == 1 and report["rows"][0]["result"] == "missing"


def test_expire_keeps_snapshots_younger_than_the_cutoff(tlake: Lake) -> None:
    tlake.write_table(SILVER, USERS, users([1]))
    tlake.write_table(SILVER, USERS, users([2]))
    result = tlake.expire_snapshots(SILVER, USERS, older_than=timedelta(hours=1))
    assert result.expired == [] and len(result.retained) == 2


@pytest.fixture(autouse=True)
def _quiet_polars(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Polars asks for its optional planner plugin on every Iceberg scan otherwise.
    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")
    yield


def test_the_parquet_files_are_iceberg_data_files(tlake: Lake) -> None:
    tlake.write_table(SILVER, USERS, users([1]))
    (row,) = tlake.verify_table(SILVER, USERS).rows
    metadata = pq.read_metadata(
        row.path.removeprefix("s3://"), filesystem=tlake.pyarrow_filesystem()
    )
    assert metadata.num_rows == 1
    assert metadata.schema.to_arrow_schema().field("id").metadata[b"PARQUET:field_id"] == b"1"


def test_pyicebergs_filesystem_trusts_the_lakes_ca_and_keeps_its_other_settings(
    tmp_path: Path,
) -> None:
    """pyiceberg 0.12 has no property for a CA file: lakeops' FileIO adds it (an HTTPS server
    with a private CA is tested under `make test-rgw`; this checks the options everywhere)."""
    from lakeops.readers import ICEBERG_TLS_CA_FILE
    from lakeops.tables.fileio import LakeFileIO

    ca = tmp_path / "ca.pem"
    ca.write_text("not read until a connection is made")
    properties = {
        "s3.endpoint": "https://127.0.0.1:9",
        "s3.region": "eu-west-1",
        "s3.access-key-id": "key",
        "s3.secret-access-key": "secret",
        "s3.force-virtual-addressing": "false",
        ICEBERG_TLS_CA_FILE: str(ca),
    }
    filesystem = LakeFileIO(properties).fs_by_scheme("s3", "bucket")
    _, (options,) = filesystem.__reduce__()
    assert options["tls_ca_file_path"] == str(ca)
    assert (options["endpoint_override"], options["region"]) == ("https://127.0.0.1:9", "eu-west-1")
    assert (options["access_key"], options["force_virtual_addressing"]) == ("key", False)
    plain = LakeFileIO({k: v for k, v in properties.items() if k != ICEBERG_TLS_CA_FILE})
    assert plain.fs_by_scheme("s3", "bucket").__reduce__()[1][0]["tls_ca_file_path"] == ""
