"""Promotion: forward only, server-side, keeping metadata and adding lineage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lakeops import (
    BucketNotFoundError,
    InvalidKeyError,
    InvalidMetadataError,
    Lake,
    ObjectNotFoundError,
    PromotionDirectionError,
    StorageLayer,
    TransferSettings,
)
from lakeops.metadata import (
    META_PROMOTED_AT,
    META_SHA256,
    META_SOURCE_ETAG,
    META_SOURCE_URI,
    META_SOURCE_VERSION_ID,
)
from lakeops.transfers import MiB
from tests.conftest import config_for
from tests.support.buckets import all_versions
from tests.support.s3server import S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BRONZE, SILVER, GOLD = StorageLayer.BRONZE, StorageLayer.SILVER, StorageLayer.GOLD


def record_operations(lake: Lake) -> list[str]:
    """The S3 operations the lake's client sends from now on."""
    seen: list[str] = []

    def record(model: Any, **kwargs: Any) -> None:
        seen.append(model.name)

    lake.client.meta.events.register("before-call.s3", record)
    return seen


@pytest.fixture
def users_csv(lake: Lake, tmp_path: Path) -> str:
    source = tmp_path / "users.csv"
    source.write_bytes(b"id,email\n1,ada@example.com\n")
    return lake.upload(source, BRONZE, "postgres/users/users.csv", {"source": "postgres"})


def test_promotion_copies_server_side_and_keeps_metadata_with_lineage(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], users_csv: str
) -> None:
    source_head = admin.head_object(Bucket=buckets[BRONZE], Key="postgres/users/users.csv")
    operations = record_operations(lake)
    before = datetime.now(UTC) - timedelta(seconds=1)

    uri = lake.promote("postgres/users/users.csv", BRONZE, SILVER, "cleaned/users/users.csv")

    assert uri == f"s3://{buckets[SILVER]}/cleaned/users/users.csv"
    # The HEAD gives metadata to carry; the listing checks that bronze was never overwritten.
    assert operations == [
        "HeadObject",
        "ListObjectVersions",
        "CopyObject",
    ], "the bytes never pass through the client"
    target = admin.get_object(Bucket=buckets[SILVER], Key="cleaned/users/users.csv")
    assert target["Body"].read() == b"id,email\n1,ada@example.com\n"
    assert target["ContentType"] == "text/csv"
    metadata = target["Metadata"]
    assert metadata["source"] == "postgres"
    assert metadata[META_SHA256] == source_head["Metadata"][META_SHA256]
    assert metadata[META_SOURCE_URI] == users_csv
    assert metadata[META_SOURCE_VERSION_ID] == source_head["VersionId"]
    assert metadata[META_SOURCE_ETAG] == source_head["ETag"].strip('"')
    promoted_at = datetime.fromisoformat(metadata[META_PROMOTED_AT])
    assert before <= promoted_at <= datetime.now(UTC)


def test_bronze_may_promote_straight_to_gold(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], users_csv: str
) -> None:
    uri = lake.promote("postgres/users/users.csv", BRONZE, GOLD, "ml/users/users.csv")
    assert uri == f"s3://{buckets[GOLD]}/ml/users/users.csv"


def test_a_target_outside_the_layers_prefixes_is_refused_before_any_request(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], users_csv: str
) -> None:
    # The key defaults to the source key, which no silver prefix holds: the roles would refuse
    # it in prod, so the root login must not write it in dev either.
    operations = record_operations(lake)
    with pytest.raises(InvalidKeyError) as refused:
        lake.promote("postgres/users/users.csv", BRONZE, SILVER)

    assert "outside silver's prefixes (cleaned/, validated/, deduplicated/)" in str(refused.value)
    assert "'cleaned/postgres/users/users.csv'" in str(refused.value)
    assert operations == []
    assert all_versions(admin, buckets[SILVER]) == []


def test_a_second_hop_records_its_own_source(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], users_csv: str
) -> None:
    silver_uri = lake.promote("postgres/users/users.csv", BRONZE, SILVER, "validated/users.csv")
    lake.promote("validated/users.csv", SILVER, GOLD, "reports/users.csv")

    metadata = admin.head_object(Bucket=buckets[GOLD], Key="reports/users.csv")["Metadata"]
    assert metadata[META_SOURCE_URI] == silver_uri
    assert metadata["source"] == "postgres"


@pytest.mark.parametrize(
    ("source", "target"), [(SILVER, BRONZE), (GOLD, SILVER), (GOLD, BRONZE), (SILVER, SILVER)]
)
def test_promotion_never_moves_backwards_or_sideways(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    source: StorageLayer,
    target: StorageLayer,
) -> None:
    operations = record_operations(lake)
    with pytest.raises(PromotionDirectionError, match=f"from {source} to {target}"):
        lake.promote("cleaned/x.csv", source, target, "cleaned/y.csv")
    assert operations == []
    assert all_versions(admin, buckets[target]) == []


def test_objects_over_the_copy_threshold_use_a_multipart_copy(
    s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    # The threshold is 5 GiB in production; a small one exercises the same path quickly.
    settings = TransferSettings(copy_multipart_threshold=5 * MiB, copy_chunksize=5 * MiB)
    lake = Lake(config_for(s3, buckets), transfer=settings)
    body = bytes(range(256)) * (12 * MiB // 256)
    admin.put_object(
        Bucket=buckets[SILVER],
        Key="deduplicated/big.parquet",
        Body=body,
        ContentType="application/vnd.apache.parquet",
        Metadata={"dataset": "orders"},
    )
    operations = record_operations(lake)

    result = lake.promote_object("deduplicated/big.parquet", SILVER, GOLD, "ml/big.parquet")

    assert result.multipart
    assert "UploadPartCopy" in operations
    assert "GetObject" not in operations and "UploadPart" not in operations
    head = admin.head_object(Bucket=buckets[GOLD], Key="ml/big.parquet")
    # The multipart ETag's "-<parts>" suffix: PartsCount is missing on some servers (Ceph RGW).
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentType"] == "application/vnd.apache.parquet"
    assert head["Metadata"]["dataset"] == "orders"
    assert head["Metadata"][META_SOURCE_URI] == f"s3://{buckets[SILVER]}/deduplicated/big.parquet"
    stored = admin.get_object(Bucket=buckets[GOLD], Key="ml/big.parquet")["Body"].read()
    assert stored == body


def test_an_object_of_exactly_the_copy_threshold_is_one_copy(
    s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    # One CopyObject takes up to 5 GiB; only objects above the threshold need parts (an object
    # of exactly 256 MiB went part by part, the bytes moving inside the server).
    settings = TransferSettings(copy_multipart_threshold=5 * MiB, copy_chunksize=5 * MiB)
    lake = Lake(config_for(s3, buckets), transfer=settings)
    body = bytes(range(256)) * (5 * MiB // 256)
    admin.put_object(Bucket=buckets[SILVER], Key="deduplicated/edge.bin", Body=body)
    operations = record_operations(lake)

    result = lake.promote_object("deduplicated/edge.bin", SILVER, GOLD, "ml/edge.bin")

    assert not result.multipart
    assert "UploadPartCopy" not in operations and "CopyObject" in operations
    head = admin.head_object(Bucket=buckets[GOLD], Key="ml/edge.bin")
    assert "-" not in head["ETag"]
    assert head["ContentLength"] == len(body)


def test_a_given_source_version_is_promoted(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = tmp_path / "t.csv"
    source.write_bytes(b"old")
    old = lake.put_file(source, SILVER, "cleaned/t.csv")
    source.write_bytes(b"new")
    lake.put_file(source, SILVER, "cleaned/t.csv")

    lake.promote("cleaned/t.csv", SILVER, GOLD, "aggregated/t.csv", version_id=old.version_id)

    target = admin.get_object(Bucket=buckets[GOLD], Key="aggregated/t.csv")
    assert target["Body"].read() == b"old"
    assert target["Metadata"][META_SOURCE_VERSION_ID] == old.version_id


def test_a_missing_source_is_named(lake: Lake, buckets: dict[StorageLayer, str]) -> None:
    with pytest.raises(ObjectNotFoundError) as caught:
        lake.promote("postgres/none.csv", BRONZE, SILVER, "cleaned/none.csv")
    assert f"bronze s3://{buckets[BRONZE]}/postgres/none.csv" in str(caught.value)


def test_a_missing_target_bucket_is_named(
    s3: S3Endpoint, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    lake = Lake(config_for(s3, {**buckets, GOLD: "lkt-absent-gold"}))
    source = tmp_path / "a.csv"
    source.write_bytes(b"a")
    lake.upload(source, SILVER, "cleaned/a.csv")
    with pytest.raises(BucketNotFoundError, match=r"lkt-absent-gold.*gold"):
        lake.promote("cleaned/a.csv", SILVER, GOLD, "reports/a.csv")


def test_keys_beyond_ascii_promote_with_encoded_lineage(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = tmp_path / "données.csv"
    source.write_bytes(b"a\n")
    lake.upload(source, BRONZE, "files/café/数据.csv")

    uri = lake.promote("files/café/数据.csv", BRONZE, SILVER, "cleaned/café/数据.csv")

    assert uri == f"s3://{buckets[SILVER]}/cleaned/café/数据.csv"
    metadata = admin.head_object(Bucket=buckets[SILVER], Key="cleaned/café/数据.csv")["Metadata"]
    assert metadata[META_SOURCE_URI] == (
        f"s3://{buckets[BRONZE]}/files/caf%C3%A9/%E6%95%B0%E6%8D%AE.csv"
    )


def test_uploads_keep_room_for_the_lineage_a_promotion_adds(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = tmp_path / "wide.csv"
    source.write_bytes(b"a\n")
    key = "files/wide.csv"
    fits = None
    for length in range(2048, 0, -16):
        try:
            lake.upload(source, BRONZE, key, {"note": "x" * length})
        except InvalidMetadataError:
            continue
        fits = length
        break
    assert fits is not None and fits < 1900, "an upload must leave room for lineage"

    lake.promote(key, BRONZE, SILVER, "cleaned/wide.csv")

    promoted = admin.head_object(Bucket=buckets[SILVER], Key="cleaned/wide.csv")["Metadata"]
    assert promoted["note"] == "x" * fits
    assert promoted[META_SOURCE_URI].endswith(key)


def test_objects_written_by_other_tools_can_be_promoted(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    admin.put_object(Bucket=buckets[BRONZE], Key="files//odd name.csv", Body=b"x")
    uri = lake.promote("files//odd name.csv", BRONZE, SILVER, "cleaned/odd.csv")
    assert uri.endswith("/cleaned/odd.csv")
