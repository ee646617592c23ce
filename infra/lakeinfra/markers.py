"""The dev lake's prefix markers: zero-byte "<prefix>/" objects, written by the program itself.

The MinIO provider cannot make them, whatever its arguments (terraform-provider-minio 1.20.1,
bridged by pulumi-minio 0.17.1, with minio-go 7.0.63):

- resource_minio_s3_object.go, minioPutObject, reads only ``content`` and ``content_base64``,
  each with ``d.GetOk``, which takes "" for unset; ``source`` is in the schema but never read
  (reading it with os.Open came in provider 2.1.0). A zero-byte object fails with "one of
  source / content / content_base64 is not set".
- Whatever the body, it calls minio-go ``PutObject`` with size -1, which always takes the
  multipart path (api-put-object.go, putObjectCommon: putObjectMultipartStreamNoLength), and
  MinIO refuses to start a multipart upload for a key ending in "/" (cmd/erasure-server-pool.go,
  NewMultipartUpload: checkNewMultipartArgs, then IsValidObjectName, which rejects a trailing
  slash). A single zero-byte PutObject is accepted (checkPutObjectArgs only asks for
  IsValidObjectPrefix) and stored as a directory object (cmd/utils.go, encodeDirObject).
- Each such upload also buffers a whole part first: OptimalPartInfo(-1, 0) makes it 528 MiB
  (5 TiB / 10,000 parts, rounded up to a multiple of 16 MiB), allocated up front in
  putObjectMultipartStreamNoLength (``make([]byte, partSize)``), once per marker the engine
  runs at once: nothing ordered them, so only ``pulumi up --parallel`` bounded that.

A Pulumi dynamic provider is no way out either: the stacks disable default providers ("*"),
and the engine exempts only the "pulumi" package from that (defaultProviders.
shouldDenyRequest), not the "pulumi-python" one dynamic resources use; nor does a provider
class outside ``__main__`` unpickle in the provider process (pulumi/pulumi#7453).

So during an update (never a preview), once a bucket's versioning is on, the program looks for
each marker and PUTs the missing ones with an empty body: one request at a time, no buffer
(see _ONE_REQUEST_AT_A_TIME).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import botocore.exceptions

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# What a HEAD of a missing key answers: HEAD responses have no body, so only the status.
_MISSING = frozenset({"404", "NotFound", "NoSuchKey"})


@dataclass(frozen=True)
class S3Login:
    """Where and as whom the program writes the markers: the provider's own server and login."""

    endpoint: str
    region: str
    access_key_id: str
    secret_access_key: str


def s3_client(login: S3Login) -> S3Client:
    """The same client lakeops uses (path-style, short timeouts), with exactly these settings."""
    from lakeops.client import make_s3_client
    from lakeops.config import LakeConfig

    return make_s3_client(
        LakeConfig.resolve(
            endpoint_url=login.endpoint,
            region=login.region,
            access_key_id=login.access_key_id,
            secret_access_key=login.secret_access_key,
            env={},
        )
    )


def marker_exists(client: S3Client, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
            return False
        raise
    return True


def put_missing_markers(client: S3Client, bucket: str, keys: Sequence[str]) -> list[str]:
    """PUT each missing marker with an empty body (a single request, never multipart); return
    the keys written. A marker hidden by a delete marker is missing, and is written again."""
    written: list[str] = []
    for key in keys:
        if marker_exists(client, bucket, key):
            continue
        client.put_object(Bucket=bucket, Key=key, Body=b"")
        written.append(key)
    return written


# The bound on what marker writing costs, whatever `pulumi up --parallel` is: one request in
# flight for the whole program run (a HEAD, or a PUT of zero bytes from memory: no part buffer,
# where each provider upload allocated 528 MiB). Apply callbacks run on the program's event
# loop, one at a time, today; this lock keeps the bound if they ever run on threads.
_ONE_REQUEST_AT_A_TIME = threading.Lock()


def write_markers(login: S3Login, bucket: str, keys: Sequence[str]) -> list[str]:
    with _ONE_REQUEST_AT_A_TIME:
        return put_missing_markers(s3_client(login), bucket, keys)
