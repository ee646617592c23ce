"""``lakeops rm``: silver and gold only, published datasets only as a whole, delete markers
that keep the old versions recoverable; as a pipeline role, with the stack's own policies.
Against the loopback S3 server, over real HTTP."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakeinfra.policies import role_policy
from lakeops.cli import main
from lakeops.layout import StorageLayer
from tests.conftest import s3_client
from tests.support.cli_lake import DeployedLake, Result
from tests.support.iam import create_iam_user
from tests.support.s3server import REGION, S3Endpoint, set_auth_enforcement

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def keys_and_markers(admin: S3Client, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
    listed = admin.list_object_versions(Bucket=bucket, Prefix=prefix)
    return (
        sorted(v["Key"] for v in listed.get("Versions", [])),
        sorted(m["Key"] for m in listed.get("DeleteMarkers", []) if m["IsLatest"]),
    )


def test_rm_adds_a_delete_marker_and_the_old_version_stays_recoverable(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    silver = dev_lake.buckets["silver"]
    dev_lake.admin.put_object(Bucket=silver, Key="cleaned/m/a.csv", Body=b"id\n1\n")
    (version,) = keys_and_markers(dev_lake.admin, silver, "cleaned/m/a.csv")[0:1]

    planned = dev_lake.run("rm", "silver", "cleaned/m/a.csv", "--dry-run")
    assert planned.code == 0 and "Nothing was removed" in planned.out
    assert keys_and_markers(dev_lake.admin, silver, "cleaned/m/") == (["cleaned/m/a.csv"], [])

    removed = dev_lake.run("rm", "silver", "cleaned/m/a.csv")
    again = dev_lake.run("rm", "silver", "cleaned/m/a.csv")

    assert removed.code == 0, removed.err
    assert "delete marker" in removed.out and "recoverable" in removed.out
    assert keys_and_markers(dev_lake.admin, silver, "cleaned/m/") == (
        ["cleaned/m/a.csv"],
        ["cleaned/m/a.csv"],
    )
    assert version == ["cleaned/m/a.csv"]
    assert again.code == 4  # nothing there any more: no second delete marker
    _, markers = keys_and_markers(dev_lake.admin, silver, "cleaned/m/")
    assert len(dev_lake.admin.list_object_versions(Bucket=silver)["DeleteMarkers"]) == 1
    assert markers == ["cleaned/m/a.csv"]


def test_rm_refuses_bronze_and_says_why_and_what_to_do(dev_lake: DeployedLake) -> None:
    bronze = dev_lake.buckets["bronze"]
    dev_lake.admin.put_object(Bucket=bronze, Key="files/k.csv", Body=b"id\n1\n")

    one = dev_lake.run("rm", "bronze", "files/k.csv")
    many = dev_lake.run("rm", "--recursive", f"s3://{bronze}/files/")

    for refused in (one, many):
        assert refused.code == 5, refused.err
        assert "append-only" in refused.err and "immutable by policy" in refused.err
        assert "under a new key" in refused.err
    assert keys_and_markers(dev_lake.admin, bronze, "files/") == (["files/", "files/k.csv"], [])


def test_a_published_dataset_is_removed_only_as_a_whole_which_unpublishes_it(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    gold = dev_lake.buckets["gold"]
    folder = tmp_path / "sales"
    (folder / "2024").mkdir(parents=True)
    (folder / "2024" / "a.csv").write_text("eu,10\n")
    (folder / "b.csv").write_text("us,20\n")
    assert dev_lake.run("upload", "-r", str(folder), "gold", "aggregated/sales/").code == 0
    dev_lake.admin.put_object(Bucket=gold, Key="aggregated/other.csv", Body=b"x\n")

    one = dev_lake.run("rm", "gold", "aggregated/sales/b.csv")
    part = dev_lake.run("rm", "-r", "gold", "aggregated/sales/2024/")
    manifest = dev_lake.run("rm", "gold", "aggregated/sales/_lakeops_manifest.json")
    planned = dev_lake.run("--json", "rm", "-r", "gold", "aggregated/sales/", "--dry-run")
    assert keys_and_markers(dev_lake.admin, gold, "aggregated/sales/")[1] == []

    whole = dev_lake.run("--json", "rm", "-r", "gold", "aggregated/sales")

    for refused in (one, part, manifest):
        assert refused.code == 5, refused.err
        assert "published dataset" in refused.err and "as a whole" in refused.err
        assert "rm --recursive gold aggregated/sales/" in refused.err
    assert planned.code == 0 and planned.json()["dry_run"] is True
    assert planned.json()["unpublished"] == [f"s3://{gold}/aggregated/sales/"]
    assert whole.code == 0, whole.err
    assert whole.json()["delete_markers"] is True
    assert sorted(whole.json()["keys"]) == sorted(planned.json()["keys"])
    assert len(whole.json()["keys"]) == 4  # two objects, the manifest and _SUCCESS
    live = dev_lake.admin.list_objects_v2(Bucket=gold, Prefix="aggregated/")
    assert sorted(o["Key"] for o in live["Contents"]) == ["aggregated/", "aggregated/other.csv"]
    unpublished = dev_lake.run("download", "-r", "gold", "aggregated/sales/", str(tmp_path / "d"))
    assert unpublished.code == 4
    # No manifest is left: the prefix can be published again.
    again = dev_lake.run("--json", "upload", "-r", str(folder), "gold", "aggregated/sales/")
    assert again.code == 0, again.err
    assert again.json()["published"] is True


def test_rm_says_when_nothing_matched(dev_lake: DeployedLake) -> None:
    assert dev_lake.run("rm", "silver", "cleaned/none.csv").code == 4
    assert dev_lake.run("rm", "-r", "silver", "cleaned/none/").code == 4
    marker = dev_lake.run("rm", "silver", "cleaned/")
    assert marker.code == 2 and "marker" in marker.err


# -- as the pipeline roles, with the stack's own policies ------------------------------------


def test_rm_as_a_role_removes_what_the_role_may_write_and_nothing_else(
    iam_moto: S3Endpoint,
    lake_buckets: dict[StorageLayer, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    users = {
        role: create_iam_user(
            iam_moto, f"{role}-{uuid.uuid4().hex[:6]}", role_policy(role, lake_buckets)
        )
        for role in ("transform", "analyst")
    }
    outputs = tmp_path / "outputs-dev.json"
    outputs.write_text(
        json.dumps(
            {
                "backend": "minio",
                "endpoint": iam_moto.url,
                "region": REGION,
                "buckets": {layer.value: name for layer, name in lake_buckets.items()},
                "rolePolicies": {role: f"lake-{role}" for role in users},
                "roleCredentials": {
                    role: {
                        "accessKeyId": user.access_key_id,
                        "secretAccessKey": user.secret_access_key,
                    }
                    for role, user in users.items()
                },
            }
        )
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "LAKEOPS_ROLE"):
        monkeypatch.delenv(name, raising=False)

    def run(role: str, *argv: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = main(["--outputs-file", str(outputs), "--role", role, *argv], out=out, err=err)
        return Result(code, out.getvalue(), err.getvalue())

    admin = s3_client(iam_moto)
    silver = lake_buckets[StorageLayer.SILVER]
    for n in range(3):
        admin.put_object(Bucket=silver, Key=f"cleaned/batch/{n}.csv", Body=b"id\n")
    set_auth_enforcement(iam_moto, enforced=True)
    transform = run("transform", "rm", "silver", "cleaned/seed.csv")
    recursive = run("transform", "rm", "-r", "silver", "cleaned/batch/")
    analyst = run("analyst", "rm", "gold", "aggregated/seed.csv")
    set_auth_enforcement(iam_moto, enforced=False)

    assert transform.code == 0, transform.err
    assert recursive.code == 0, recursive.err
    assert analyst.code == 6, analyst.err
    assert "Contents" not in admin.list_objects_v2(Bucket=silver, Prefix="cleaned/")
    gold = admin.list_objects_v2(Bucket=lake_buckets[StorageLayer.GOLD], Prefix="aggregated/")
    assert [o["Key"] for o in gold["Contents"]] == ["aggregated/seed.csv"]
