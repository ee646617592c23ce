"""The dev catalogs enforce no roles; S3 still does, for every data and metadata file. Checked
with the dev stack's own role policies on the IAM-enforcing test server and the embedded
SQLite catalog, as the dev lake runs them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from lakeinfra.policies import ROLES, role_policy
from lakeops import AccessDeniedError, Lake, LakeConfig, StorageLayer
from tests.conftest import s3_client
from tests.support.buckets import layout_buckets, purge_bucket
from tests.support.iam import create_iam_user
from tests.support.s3server import S3Endpoint, set_auth_enforcement
from tests.test_roles import dev_outputs
from tests.test_tables import USERS, users

SILVER, GOLD = StorageLayer.SILVER, StorageLayer.GOLD
REPORT = "reports.users_by_country"
pytestmark = pytest.mark.s3


@pytest.fixture
def dev_lake(iam_moto: S3Endpoint, tmp_path: Path) -> Iterator[Path]:
    admin = s3_client(iam_moto)
    buckets = layout_buckets(admin)
    credentials = {}
    for role in ROLES:
        user = create_iam_user(
            iam_moto, f"{role}-{uuid.uuid4().hex[:6]}", role_policy(role, buckets)
        )
        credentials[role] = {
            "accessKeyId": user.access_key_id,
            "secretAccessKey": user.secret_access_key,
        }
    folder = tmp_path / ".lakeops"
    folder.mkdir()
    outputs = folder / "outputs-dev.json"
    outputs.write_text(
        json.dumps(
            {
                **dev_outputs(iam_moto.url, buckets, credentials),
                "catalog": {"kind": "sqlite", "path": "catalog-dev.db"},
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


def as_role(outputs: Path, role: str) -> Lake:
    return Lake(LakeConfig.resolve(outputs_file=outputs, role=role, env={}))


def test_the_dev_catalog_lists_every_table_but_s3_keeps_each_role_to_its_layers(
    dev_lake: Path,
) -> None:
    transform, publish, analyst = (
        as_role(dev_lake, r) for r in ("transform", "publish", "analyst")
    )
    transform.write_table(SILVER, USERS, users([1, 2]))
    first = publish.write_table(GOLD, REPORT, pd.DataFrame({"country": ["GB"], "users": [2]}))
    assert (dev_lake.parent / "catalog-dev.db").is_file()

    # The catalog enforces nothing: the analyst sees silver's table listed.
    assert analyst.tables(SILVER) == [USERS]
    # S3 does: its files, metadata included, are refused to the analyst.
    with pytest.raises(AccessDeniedError):
        analyst.read_table(SILVER, USERS)
    with pytest.raises(AccessDeniedError):
        analyst.write_table(GOLD, REPORT, pd.DataFrame({"country": ["FR"], "users": [1]}))
    with pytest.raises(AccessDeniedError):
        transform.write_table(GOLD, REPORT, pd.DataFrame({"country": ["FR"], "users": [1]}))
    assert publish.describe_table(GOLD, REPORT).current_snapshot_id == first.snapshot_id
    assert analyst.read_table(GOLD, REPORT).num_rows == 1
    views = {
        row[0] for row in analyst.duckdb().sql("SELECT schema_name FROM duckdb_views()").fetchall()
    }
    assert "reports" in views and "cleaned" not in views
