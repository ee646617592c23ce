"""Dataset listings on the CRT (lakeops.ops.pages) give what botocore's paginators give."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from lakeops import Lake, StorageLayer
from lakeops.datasets.plan import list_current, list_versions
from lakeops.errors import BucketNotFoundError
from lakeops.ops import pages
from tests.conftest import config_for
from tests.support.s3server import S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BRONZE = StorageLayer.BRONZE
# Characters XML cannot carry raw, that URL encoding changes, or that SigV4 encodes.
ODD = ["api/x/a b+c.csv", "api/x/100%.csv", "api/x/é ü/ñ.csv", "api/x/q?=&.csv", "api/x/t~*'.csv"]


FIELDS = {
    "Contents": ("Key", "Size", "ETag"),
    "Versions": ("Key", "VersionId", "IsLatest", "Size", "ETag"),
    "DeleteMarkers": ("Key", "VersionId", "IsLatest"),
}


Found = list[tuple[str, dict[str, Any]]]


def _botocore(admin: S3Client, kind: str, bucket: str, prefix: str) -> Found:
    fields = FIELDS
    found = []
    for page in admin.get_paginator(kind).paginate(Bucket=bucket, Prefix=prefix):  # type: ignore[call-overload]
        for name, wanted in fields.items():
            for entry in page.get(name, []):
                found.append((name, {field: entry[field] for field in wanted}))
    return sorted(found, key=repr)


def _ours(listed: Any) -> Found:
    found = []
    for page in listed:
        for name, entries in page.items():
            for entry in entries:
                found.append((name, {f: entry[f] for f in FIELDS[name]}))
    return sorted(found, key=repr)


@pytest.mark.parametrize("prefix", ["api/x/", "api/x/é", "api/x/a b"])
def test_pages_on_the_crt_match_botocore_with_odd_keys(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], prefix: str
) -> None:
    bucket = buckets[BRONZE]
    for key in ODD:
        admin.put_object(Bucket=bucket, Key=key, Body=b"one")
    admin.put_object(Bucket=bucket, Key=ODD[0], Body=b"second version")
    admin.delete_object(Bucket=bucket, Key=ODD[1])
    ctx = lake._ctx
    assert ctx.fast() is not None

    objects = [
        (name, {f: entry[f] for f in ("Key", "Size", "ETag")})
        for name, entries in (
            (n, e) for page in pages.list_objects(ctx, bucket, prefix) for n, e in page.items()
        )
        for entry in entries
    ]
    assert sorted(objects, key=repr) == _botocore(admin, "list_objects_v2", bucket, prefix)
    assert _ours(pages.list_versions(ctx, bucket, prefix)) == _botocore(
        admin, "list_object_versions", bucket, prefix
    )


def test_pages_follow_truncation(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    bucket = buckets[BRONZE]
    keys = [f"api/many/k{n:04d} +.bin" for n in range(1003)]
    for key in keys:
        admin.put_object(Bucket=bucket, Key=key, Body=b"")
    admin.put_object(Bucket=bucket, Key=keys[-1], Body=b"again")

    current = list_current(lake._ctx, BRONZE, "api/many/")
    versions = list_versions(lake._ctx, BRONZE, "api/many/")

    assert sorted(current) == keys
    assert sorted(versions.current) == keys
    assert len(versions.kept) == 1004
    assert list(versions.replaced) == [keys[-1]]


@pytest.mark.parametrize("listing", [list_current, list_versions])
def test_listing_a_missing_bucket_on_the_crt_says_so(
    s3: S3Endpoint, buckets: dict[StorageLayer, str], listing: Any
) -> None:
    lake = Lake(config_for(s3, {**buckets, BRONZE: "lkt-absent-raw"}))
    assert lake._ctx.fast() is not None
    with pytest.raises(BucketNotFoundError, match=r"lkt-absent-raw.*pulumi up"):
        listing(lake._ctx, BRONZE, "api/")
