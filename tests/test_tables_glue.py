"""The prod catalog's stand-in: tables in moto's Glue (server mode), the data in moto's S3,
every pipeline role an IAM user with the prod stack's own policies, and moto enforcing them.

What moto cannot enforce, exactly:

* **Glue resource scoping.** moto authorises every Glue request against the resource ``*``
  (``moto/core/responses.py``, ``call_action``: only services with a ``_determine_resource``
  name one, and Glue has none), so a statement scoped to the catalog, database and table ARNs
  would match nothing there. Each role's Glue statements are applied with their resources
  widened to ``*``: moto checks *which Glue actions* a role holds (the analyst may read, not
  update; ingest may do nothing), not *on which database*. The scoping to each layer's
  database is asserted on the documents themselves (tests/infra/test_catalog.py). S3 is
  enforced in full, per bucket and key, so a role still cannot read or write another layer's
  table files.
* **Glue's optimistic locking.** moto's ``UpdateTable`` ignores the ``VersionId`` that pyiceberg
  sends as its compare-and-swap (``moto/glue/models.py``, ``update_table``), so two writers
  committing at once could both "win" there; AWS refuses the second with
  ``ConcurrentModificationException``, which pyiceberg retries. The concurrent-writer tests run
  on the SQL catalogs (SQLite and PostgreSQL), which do compare and swap.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import polars as pl
import pytest

from lakeinfra.catalog import catalog_policy, databases
from lakeinfra.policies import ROLES, role_policy
from lakeops import AccessDeniedError, Lake, LakeConfig, StorageLayer, TableNotFoundError
from tests.conftest import s3_client
from tests.support.buckets import layout_buckets, purge_bucket
from tests.support.iam import create_iam_user
from tests.support.s3server import REGION, S3Endpoint, set_auth_enforcement
from tests.test_roles import dev_outputs
from tests.test_tables import USERS, users

BRONZE, SILVER, GOLD = StorageLayer.BRONZE, StorageLayer.SILVER, StorageLayer.GOLD
REPORT = "reports.users_by_country"
MOTO_ACCOUNT = "123456789012"
pytestmark = pytest.mark.s3


def as_moto_enforces(document: dict[str, Any]) -> dict[str, Any]:
    """A Glue policy with its resources widened to '*', the one resource moto checks Glue
    requests against (see the module docstring)."""
    widened = copy.deepcopy(document)
    for statement in widened["Statement"]:
        statement["Resource"] = "*"
    return widened


def merged(*documents: dict[str, Any] | None) -> dict[str, Any]:
    statements = [s for d in documents if d is not None for s in d["Statement"]]
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.fixture
def glue_lake(iam_moto: S3Endpoint, tmp_path: Path) -> Iterator[Path]:
    """The prod lake's stand-in, with its role policies enforced; yields its outputs file."""
    admin = s3_client(iam_moto)
    buckets = layout_buckets(admin)
    prefix = f"t{uuid.uuid4().hex[:6]}"
    names = databases(prefix)
    glue = boto3.client(
        "glue",
        endpoint_url=iam_moto.url,
        region_name=REGION,
        aws_access_key_id=iam_moto.access_key,
        aws_secret_access_key=iam_moto.secret_key,
    )
    # As the prod stack declares them: one database per table layer, in its bucket.
    for layer, database in names.items():
        glue.create_database(
            DatabaseInput={"Name": database, "LocationUri": f"s3://{buckets[layer]}/"}
        )

    def user(name: str, s3_role: str, glue_role: str) -> dict[str, str]:
        glue_policy = catalog_policy(glue_role, names, REGION, MOTO_ACCOUNT)
        document = merged(
            role_policy(s3_role, buckets),
            as_moto_enforces(glue_policy) if glue_policy else None,
        )
        created = create_iam_user(iam_moto, f"{name}-{uuid.uuid4().hex[:6]}", document)
        return {
            "accessKeyId": created.access_key_id,
            "secretAccessKey": created.secret_access_key,
        }

    credentials = {role: user(role, role, role) for role in ROLES}
    # A principal with publish's S3 rights but only the analyst's Glue actions: whatever S3
    # lets through, Glue must still refuse its commits.
    credentials["reader-of-glue"] = user("reader-of-glue", "publish", "analyst")
    outputs = tmp_path / "outputs-prod-standin.json"
    outputs.write_text(
        json.dumps(
            {
                **dev_outputs(iam_moto.url, buckets, credentials),
                "catalog": {
                    "kind": "glue",
                    "region": REGION,
                    "catalogId": MOTO_ACCOUNT,
                    "endpoint": iam_moto.url,
                    "databases": {layer.value: name for layer, name in names.items()},
                },
            }
        )
    )
    set_auth_enforcement(iam_moto, enforced=True)
    try:
        yield outputs
    finally:
        set_auth_enforcement(iam_moto, enforced=False)
        for name in buckets.values():
            purge_bucket(admin, name)
        for database in names.values():
            for table in glue.get_tables(DatabaseName=database)["TableList"]:
                glue.delete_table(DatabaseName=database, Name=table["Name"])
            glue.delete_database(Name=database)


def as_role(outputs: Path, role: str) -> Lake:
    return Lake(LakeConfig.resolve(outputs_file=outputs, role=role, env={}))


def test_pipelines_write_silver_and_gold_through_glue_and_the_analyst_reads_gold_by_name(
    glue_lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")
    transform, publish, analyst = [as_role(glue_lake, r) for r in ROLES if r != "ingest"]
    silver = transform.write_table(SILVER, USERS, users([1, 2, 3]))
    transform.write_table(SILVER, USERS, users([4], "US"))
    assert transform.describe_table(SILVER, USERS).identifier.endswith("_silver.cleaned_users")

    counts = publish.read_table(SILVER, USERS).to_pandas().groupby("country").size().rename("users")
    gold = publish.write_table(
        GOLD,
        REPORT,
        counts.reset_index(),
        lineage=[publish.table(SILVER, USERS)],
        job="users by country",
    )
    assert gold.inputs[0].version == str(
        transform.describe_table(SILVER, USERS).current_snapshot_id
    )
    assert silver.snapshot_id != gold.snapshot_id

    assert analyst.tables(GOLD) == [REPORT]
    rows = analyst.read_table(GOLD, REPORT).to_pandas().sort_values("country")
    assert rows.to_dict("records") == [
        {"country": "GB", "users": 3},
        {"country": "US", "users": 1},
    ]
    duckdb = analyst.duckdb()
    assert duckdb.sql(f"SELECT sum(users) FROM {REPORT}").fetchall() == [(4,)]
    # No view of silver's table: S3 refuses the analyst its metadata (Glue, here, would list it).
    shown = {row[0] for row in duckdb.sql("SELECT schema_name FROM duckdb_views()").fetchall()}
    assert "reports" in shown and "cleaned" not in shown
    frame = pl.scan_iceberg(
        analyst.table(GOLD, REPORT), storage_options=analyst.polars_storage_options()
    ).collect()
    assert frame.height == 2
    with pytest.raises(AccessDeniedError):
        analyst.read_table(SILVER, USERS)


def test_the_analyst_is_refused_a_write_and_gold_does_not_change(glue_lake: Path) -> None:
    publish, analyst = as_role(glue_lake, "publish"), as_role(glue_lake, "analyst")
    first = publish.write_table(GOLD, REPORT, pd.DataFrame({"country": ["GB"], "users": [3]}))

    with pytest.raises(AccessDeniedError):
        analyst.write_table(GOLD, REPORT, pd.DataFrame({"country": ["FR"], "users": [1]}))

    assert publish.describe_table(GOLD, REPORT).current_snapshot_id == first.snapshot_id
    assert publish.read_table(GOLD, REPORT).num_rows == 1


def test_glue_refuses_a_commit_the_role_may_not_make_even_where_s3_allows_it(
    glue_lake: Path,
) -> None:
    publish = as_role(glue_lake, "publish")
    first = publish.write_table(GOLD, REPORT, pd.DataFrame({"country": ["GB"], "users": [3]}))
    reader = as_role(glue_lake, "reader-of-glue")

    with pytest.raises(AccessDeniedError, match="the Glue catalog refused it"):
        reader.write_table(GOLD, REPORT, pd.DataFrame({"country": ["FR"], "users": [1]}))

    assert publish.describe_table(GOLD, REPORT).current_snapshot_id == first.snapshot_id
    with pytest.raises(AccessDeniedError, match="the Glue catalog refused it"):
        reader.write_table(GOLD, "reports.new_table", pd.DataFrame({"n": [1]}))


def test_ingest_holds_no_glue_rights_at_all(glue_lake: Path) -> None:
    ingest = as_role(glue_lake, "ingest")
    for layer in (SILVER, GOLD):
        with pytest.raises(AccessDeniedError, match="the Glue catalog refused it"):
            ingest.tables(layer)


def test_a_database_the_stack_did_not_declare_is_not_created_by_a_role(glue_lake: Path) -> None:
    outputs = json.loads(glue_lake.read_text())
    outputs["catalog"]["databases"]["silver"] = "undeclared_silver"
    glue_lake.write_text(json.dumps(outputs))
    transform = as_role(glue_lake, "transform")
    with pytest.raises(TableNotFoundError, match="has no such database") as missing:
        transform.write_table(SILVER, USERS, users([1]))
    assert "undeclared_silver" in str(missing.value) and "pulumi up" in str(missing.value)
