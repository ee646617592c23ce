"""Creating and removing the throwaway buckets each test works in."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import botocore.exceptions

from lakeops.layout import LAYOUT, StorageLayer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def unique_bucket_names() -> dict[StorageLayer, str]:
    run = uuid.uuid4().hex[:10]
    return {layer: f"lkt-{run}-{layer.value}" for layer in StorageLayer}


def create_versioned_bucket(client: S3Client, name: str) -> None:
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def layout_buckets(client: S3Client) -> dict[StorageLayer, str]:
    """Three fresh versioned buckets, each with its layer's prefix markers, as a stack makes
    them: what a role-enforced lake starts from."""
    names = unique_bucket_names()
    for layer, name in names.items():
        create_versioned_bucket(client, name)
        for prefix in LAYOUT[layer].prefixes:
            client.put_object(Bucket=name, Key=prefix, Body=b"")
    return names


def purge_bucket(client: S3Client, name: str) -> None:
    """Delete every version, delete marker and upload of ``name``, then the bucket."""
    try:
        client.delete_bucket_policy(Bucket=name)
        for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        # Re-list from the start after each batch: paging on while deleting skips entries.
        while True:
            page = client.list_object_versions(Bucket=name, MaxKeys=1000)
            entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
            if not entries:
                break
            client.delete_objects(
                Bucket=name,
                Delete={
                    "Objects": [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries],
                    "Quiet": True,
                },
            )
        client.delete_bucket(Bucket=name)
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucket":
            raise


def all_versions(client: S3Client, bucket: str, prefix: str = "") -> list[dict[str, object]]:
    """Every version and delete marker in the bucket: what "nothing written" is checked against."""
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    found: list[dict[str, object]] = []
    for page in pages:
        found.extend(dict(v) for v in page.get("Versions", []))
        found.extend(dict(m) for m in page.get("DeleteMarkers", []))
    return found
