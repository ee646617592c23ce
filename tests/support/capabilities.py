"""What each S3 server can do, probed with raw boto3 (never through lakeops).

Tests that depend on a feature some servers lack require it (``@pytest.mark.requires(...)`` or
:meth:`Capabilities.require`) and are skipped there, with a reason that names the server and
the feature. For the kinds declared in ``KNOWN`` the probe must agree with the declaration, or
the session stops: a probe bug must never skip tests silently. For any other server (a user's
MinIO, say) the probe alone decides.
"""

from __future__ import annotations

import base64
import json
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tests.support.buckets import purge_bucket
from tests.support.s3server import REGION, S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

# Each feature, and how a skip says that a server lacks it.
FEATURES: dict[str, str] = {
    "put_if_none_match_versioned": "ignores If-None-Match on PutObject to versioned buckets",
    "put_if_none_match_unversioned": "ignores If-None-Match on PutObject to unversioned buckets",
    "complete_if_none_match": "ignores If-None-Match on CompleteMultipartUpload",
    "parts_count": "has no PartsCount on HEAD with a part number",
    "flexible_checksums": "does not store or return flexible checksums (x-amz-checksum-crc32)",
    "checksum_trailers": "refuses aws-chunked bodies with a checksum trailer (411)",
    "secure_transport": "does not enforce an aws:SecureTransport deny",
    "copy_source_if_match": "ignores CopySourceIfMatch on CopyObject",
    "copy_version_id": "returns no VersionId from CopyObject",
    "policy_binds_owner": "does not apply a bucket policy's Deny to the bucket's owner",
}
Feature = Literal[
    "put_if_none_match_versioned",
    "put_if_none_match_unversioned",
    "complete_if_none_match",
    "parts_count",
    "flexible_checksums",
    "checksum_trailers",
    "secure_transport",
    "copy_source_if_match",
    "copy_version_id",
    "policy_binds_owner",
]
# Some features show only on one scheme: trailers are sent over HTTPS only, and a
# SecureTransport deny can only refuse plain HTTP. Elsewhere the probe records None.
HTTPS_ONLY = frozenset({"checksum_trailers"})
HTTP_ONLY = frozenset({"secure_transport"})

_ALL_TRUE = dict.fromkeys(FEATURES, True)
# What the known servers do; the probe must find the same.
KNOWN: dict[str, tuple[str, dict[str, bool]]] = {
    "moto": ("moto 5", {**_ALL_TRUE, "copy_source_if_match": False}),
    "rgw": (
        "Ceph RGW 16.2",
        {
            **_ALL_TRUE,
            "put_if_none_match_versioned": False,
            "complete_if_none_match": False,
            "parts_count": False,
            "flexible_checksums": False,
            "checksum_trailers": False,
            "secure_transport": False,
            "copy_source_if_match": False,
            "copy_version_id": False,
        },
    ),
}


class ProbeError(RuntimeError):
    """The server answered a probe in a way no known server does."""


@dataclass(frozen=True)
class Capabilities:
    kind: str
    scheme: str
    found: Mapping[str, bool | None]  # None: the feature cannot show over this scheme

    def has(self, feature: Feature) -> bool:
        """Whether the server does it; a feature that cannot show here does not stand in the way."""
        return self.found[feature] is not False

    def missing_reason(self, feature: Feature) -> str:
        product = f" ({KNOWN[self.kind][0]})" if self.kind in KNOWN else ""
        return f"{self.kind}: {FEATURES[feature]}{product}"

    def require(self, *features: Feature) -> None:
        """Skip the calling test unless the server has every one of ``features``."""
        for feature in features:
            if not self.has(feature):
                pytest.skip(self.missing_reason(feature))

    def disagreements(self) -> list[str]:
        if self.kind not in KNOWN:
            return []
        product, declared = KNOWN[self.kind]
        return [
            f"{feature}: {product} is declared {declared[feature]}, the probe found {found}"
            for feature, found in self.found.items()
            if found is not None and found != declared[feature]
        ]

    def table(self) -> list[str]:
        shown = {True: "yes", False: "NO", None: "n/a"}
        return [f"  {feature:<30} {shown[found]}" for feature, found in self.found.items()]


def probe(endpoint: S3Endpoint) -> Capabilities:
    """Ask the server, in two throwaway buckets, what it does."""
    scheme = urlsplit(endpoint.url).scheme
    client = _client(endpoint, "when_required")
    run = uuid.uuid4().hex[:10]
    versioned, plain = f"lkt-probe-{run}-v", f"lkt-probe-{run}-u"
    client.create_bucket(Bucket=versioned)
    client.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Enabled"})
    client.create_bucket(Bucket=plain)
    probes: dict[str, Callable[[], bool | None]] = {
        "put_if_none_match_versioned": lambda: _put_if_none_match(client, versioned),
        "put_if_none_match_unversioned": lambda: _put_if_none_match(client, plain),
        "complete_if_none_match": lambda: _complete_if_none_match(client, versioned),
        "parts_count": lambda: _parts_count(client, versioned),
        "flexible_checksums": lambda: _flexible_checksums(client, versioned),
        "checksum_trailers": lambda: _checksum_trailers(endpoint, versioned),
        "secure_transport": lambda: _secure_transport(client, plain),
        "copy_source_if_match": lambda: _copy_source_if_match(client, versioned),
        "copy_version_id": lambda: _copy_version_id(client, versioned),
        "policy_binds_owner": lambda: _policy_binds_owner(client, plain),
    }
    found: dict[str, bool | None] = {}
    try:
        for feature, check in probes.items():
            shows = not (
                (feature in HTTPS_ONLY and scheme != "https")
                or (feature in HTTP_ONLY and scheme != "http")
            )
            found[feature] = check() if shows else None
    finally:
        purge_bucket(client, versioned)
        purge_bucket(client, plain)
    return Capabilities(endpoint.kind, scheme, found)


def _client(
    endpoint: S3Endpoint, checksums: Literal["when_supported", "when_required"]
) -> S3Client:
    # The checksum mode is explicit, whatever the environment says: "when_required" keeps each
    # probe independent of whether the server takes checksum trailers.
    return boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name=REGION,
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation=checksums,
            retries={"mode": "standard", "max_attempts": 1},
        ),
    )


def _refused(call: Callable[[], object], codes: set[str]) -> bool:
    """True when ``call`` fails with one of ``codes``, False when it succeeds."""
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in codes or str(status) in codes:
            return True
        raise ProbeError(f"unexpected answer {status} {code}: {exc}") from exc
    return False


_DENIED = {"AccessDenied", "403"}
_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def _put_if_none_match(client: S3Client, bucket: str) -> bool:
    client.put_object(Bucket=bucket, Key="inm", Body=b"first")
    refused = _refused(
        lambda: client.put_object(Bucket=bucket, Key="inm", Body=b"second", IfNoneMatch="*"),
        _CONDITION_FAILED,
    )
    body = client.get_object(Bucket=bucket, Key="inm")["Body"].read()
    if refused != (body == b"first"):
        raise ProbeError(f"If-None-Match refused={refused}, yet the object now holds {body!r}")
    return refused


def _complete_if_none_match(client: S3Client, bucket: str) -> bool:
    client.put_object(Bucket=bucket, Key="cmu-inm", Body=b"first")
    upload = client.create_multipart_upload(Bucket=bucket, Key="cmu-inm")["UploadId"]
    part = client.upload_part(
        Bucket=bucket, Key="cmu-inm", UploadId=upload, PartNumber=1, Body=b"second"
    )
    refused = _refused(
        lambda: client.complete_multipart_upload(
            Bucket=bucket,
            Key="cmu-inm",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
            IfNoneMatch="*",
        ),
        _CONDITION_FAILED,
    )
    if refused:
        client.abort_multipart_upload(Bucket=bucket, Key="cmu-inm", UploadId=upload)
    return refused


def _multipart_object(client: S3Client, bucket: str, key: str, parts: list[bytes]) -> None:
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done: list[CompletedPartTypeDef] = [
        {
            "PartNumber": number,
            "ETag": client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body
            )["ETag"],
        }
        for number, body in enumerate(parts, start=1)
    ]
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
    )


def _parts_count(client: S3Client, bucket: str) -> bool:
    _multipart_object(client, bucket, "parts", [b"a" * (5 * 1024 * 1024), b"b"])
    try:
        head = client.head_object(Bucket=bucket, Key="parts", PartNumber=1)
    except botocore.exceptions.ClientError:
        return False
    return head.get("PartsCount") == 2


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _flexible_checksums(client: S3Client, bucket: str) -> bool:
    # The headers boto3 sends over HTTP. The value is given, not computed by boto3, so it goes
    # in a header on any scheme and trailers play no part.
    body = b"checksummed"
    client.put_object(
        Bucket=bucket, Key="crc", Body=body, ChecksumAlgorithm="CRC32", ChecksumCRC32=_crc32(body)
    )
    head = client.head_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    return head.get("ChecksumCRC32") == _crc32(body)


def _checksum_trailers(endpoint: S3Endpoint, bucket: str) -> bool:
    # boto3's default over HTTPS: an aws-chunked body with an x-amz-checksum-crc32 trailer.
    client = _client(endpoint, "when_supported")
    if _refused(
        lambda: client.put_object(Bucket=bucket, Key="trailer", Body=b"trailed"),
        {"MissingContentLength", "411"},
    ):
        return False
    return client.get_object(Bucket=bucket, Key="trailer")["Body"].read() == b"trailed"


def _with_deny(client: S3Client, bucket: str, statement: dict[str, object]) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", **statement}],
    }
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def _policy_binds_owner(client: S3Client, bucket: str) -> bool:
    client.put_object(Bucket=bucket, Key="kept", Body=b"x")
    _with_deny(
        client, bucket, {"Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    )
    try:
        return _refused(lambda: client.delete_object(Bucket=bucket, Key="kept"), _DENIED)
    finally:
        client.delete_bucket_policy(Bucket=bucket)


def _secure_transport(client: S3Client, bucket: str) -> bool:
    client.put_object(Bucket=bucket, Key="tls", Body=b"x")
    _with_deny(
        client,
        bucket,
        {
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    try:
        return _refused(lambda: client.get_object(Bucket=bucket, Key="tls"), _DENIED)
    finally:
        client.delete_bucket_policy(Bucket=bucket)


def _copy_source_if_match(client: S3Client, bucket: str) -> bool:
    client.put_object(Bucket=bucket, Key="copy-src", Body=b"x")
    return _refused(
        lambda: client.copy_object(
            Bucket=bucket,
            Key="copy-dst",
            CopySource={"Bucket": bucket, "Key": "copy-src"},
            CopySourceIfMatch='"0123456789abcdef0123456789abcdef"',
        ),
        _CONDITION_FAILED,
    )


def _copy_version_id(client: S3Client, bucket: str) -> bool:
    client.put_object(Bucket=bucket, Key="copy-src", Body=b"x")
    copied = client.copy_object(
        Bucket=bucket, Key="copy-dst", CopySource={"Bucket": bucket, "Key": "copy-src"}
    )
    return bool(copied.get("VersionId"))
