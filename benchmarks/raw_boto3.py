"""The raw boto3 ceiling: one shared client, a thread pool, one request per object.

    raw_boto3.py upload|copy|download SOURCE TARGET [--workers 32]

What lakeops does per object, without lakeops: uploads carry the SHA-256 metadata (hashed
first) and, to bronze, If-None-Match; copies replace metadata with the source's plus lineage
(from a HEAD-free listing, so metadata is the caller's job here); downloads stream to a temp
file, hash and rename. Endpoint and credentials come from AWS_* variables.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import botocore.config


def split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("operation", choices=["upload", "copy", "download"])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--workers", type=int, default=32)
    args = parser.parse_args()
    client = boto3.client(
        "s3",
        config=botocore.config.Config(
            max_pool_connections=args.workers + 8, s3={"addressing_style": "path"}
        ),
    )
    jobs: list[tuple[str, str]] = []
    if args.operation == "upload":
        root = Path(args.source)
        bucket, prefix = split(args.target)
        jobs = [(str(p), f"{prefix}{p.relative_to(root).as_posix()}") for p in root.rglob("*")]

        def one(job: tuple[str, str]) -> None:
            path, key = job
            data = Path(path).read_bytes()
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                Metadata={"lakeops-sha256": hashlib.sha256(data).hexdigest()},
                IfNoneMatch="*",
            )

    elif args.operation == "copy":
        bucket, prefix = split(args.source)
        target_bucket, target_prefix = split(args.target)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        jobs = [(o["Key"], o["ETag"]) for page in pages for o in page.get("Contents", [])]

        def one(job: tuple[str, str]) -> None:
            key, etag = job
            client.copy_object(
                CopySource={"Bucket": bucket, "Key": key},
                Bucket=target_bucket,
                Key=target_prefix + key[len(prefix) :],
                MetadataDirective="REPLACE",
                Metadata={
                    "lakeops-source-uri": f"s3://{bucket}/{key}",
                    "lakeops-source-etag": etag,
                },
                CopySourceIfMatch=etag,
            )

    else:
        bucket, prefix = split(args.source)
        root = Path(args.target)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        jobs = [(o["Key"], o["ETag"]) for page in pages for o in page.get("Contents", [])]

        def one(job: tuple[str, str]) -> None:
            key, etag = job
            final = root / key[len(prefix) :]
            final.parent.mkdir(parents=True, exist_ok=True)
            partial = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}")
            response = client.get_object(Bucket=bucket, Key=key, IfMatch=etag)
            digest = hashlib.sha256()
            with partial.open("wb") as out:
                for chunk in response["Body"].iter_chunks(1024 * 1024):
                    digest.update(chunk)
                    out.write(chunk)
            partial.replace(final)

    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for _ in pool.map(one, jobs):
            pass
    print(len(jobs), file=sys.stderr)


if __name__ == "__main__":
    main()
