"""Listing: S3's own entries, transparent pagination, and a lazy iterator."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from lakeops import BucketNotFoundError, InvalidKeyError, Lake, StorageLayer, UnknownLayerError
from lakeops.layout import marker_key
from tests.conftest import config_for
from tests.support.s3server import S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BRONZE = StorageLayer.BRONZE


def count_list_calls(lake: Lake) -> list[str]:
    calls: list[str] = []

    def record(**kwargs: Any) -> None:
        calls.append("ListObjectsV2")

    lake.client.meta.events.register("before-call.s3.ListObjectsV2", record)
    return calls


def test_entries_carry_key_size_last_modified_and_etag(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    admin.put_object(Bucket=buckets[BRONZE], Key="postgres/users/u.csv", Body=b"12345")
    admin.put_object(Bucket=buckets[BRONZE], Key="files/other.csv", Body=b"1")

    entries = lake.list_objects(BRONZE, "postgres/")

    assert [e["Key"] for e in entries] == ["postgres/users/u.csv"]
    entry = entries[0]
    assert entry["Size"] == 5
    assert isinstance(entry["LastModified"], datetime)
    assert entry["ETag"].strip('"')


def test_prefix_markers_are_hidden_unless_asked_for(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    admin.put_object(Bucket=buckets[BRONZE], Key=marker_key("postgres/"), Body=b"")
    admin.put_object(Bucket=buckets[BRONZE], Key="postgres/a.csv", Body=b"a")

    assert [e["Key"] for e in lake.list_objects(BRONZE, "postgres/")] == ["postgres/a.csv"]
    shown = lake.list_objects(BRONZE, "postgres/", include_markers=True)
    assert [e["Key"] for e in shown] == ["postgres/", "postgres/a.csv"]


def test_listing_pages_transparently(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    keys = [f"api/events/{n:03d}.json" for n in range(23)]
    for key in keys:
        admin.put_object(Bucket=buckets[BRONZE], Key=key, Body=b"{}")
    calls = count_list_calls(lake)

    listed = [e["Key"] for e in lake.iter_objects(BRONZE, "api/", page_size=5)]

    assert listed == keys
    assert len(calls) == 5


def test_the_iterator_is_lazy(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    for n in range(12):
        admin.put_object(Bucket=buckets[BRONZE], Key=f"streaming/{n:02d}", Body=b"")
    calls = count_list_calls(lake)

    entries = lake.iter_objects(BRONZE, "streaming/", page_size=4)
    assert calls == []
    first = next(entries)

    assert first["Key"] == "streaming/00"
    assert len(calls) == 1


def test_an_empty_prefix_lists_nothing(lake: Lake) -> None:
    assert lake.list_objects(BRONZE, "files/none/") == []


def test_bad_prefixes_fail_before_any_request(lake: Lake) -> None:
    calls = count_list_calls(lake)
    for prefix in ("/postgres/", "postgres/../files/", "a//b/"):
        with pytest.raises(InvalidKeyError, match="prefix"):
            lake.list_objects(BRONZE, prefix)
    assert calls == []


def test_listing_a_missing_bucket_says_so(s3: S3Endpoint, buckets: dict[StorageLayer, str]) -> None:
    lake = Lake(config_for(s3, {**buckets, BRONZE: "lkt-absent-raw"}))
    with pytest.raises(BucketNotFoundError, match=r"lkt-absent-raw.*pulumi up"):
        lake.list_objects(BRONZE)


def test_the_iterator_checks_layer_and_prefix_at_once(lake: Lake) -> None:
    calls = count_list_calls(lake)
    with pytest.raises(UnknownLayerError):
        lake.iter_objects("platinum")
    with pytest.raises(InvalidKeyError):
        lake.iter_objects(BRONZE, "/files/")
    assert calls == []
