"""Applying a stack's declared S3 resources, as the mocks recorded them, to a test server.

This stands in for the providers' create calls, with the same inputs, so that `lakeops
verify` can be checked against exactly what the stack declares. It is a translation of
inputs, not a provider: IAM and bucket policies are left out (the policy-effect tests apply
those), as is access logging. The MinIO ILM translation follows terraform-provider-minio
1.20.1's resource_minio_ilm_policy.go (status Enabled, prefix filter, noncurrent days).
The dev stack's prefix markers (local Command resources that PUT a zero-byte object) are
applied as the zero-byte PUT they make; tests/infra/test_markers.py runs the commands themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.support.pulumi_stack import Registration, StackRun

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _integers(value: Any) -> Any:
    """Numbers cross Pulumi's RPC as floats; a provider's schema makes the whole ones ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integers(item) for item in value]
    return value


# Members whose acronyms the S3 API writes in capitals.
_API_NAMES = {"id": "ID", "sseAlgorithm": "SSEAlgorithm", "kmsMasterKeyId": "KMSMasterKeyID"}


def _api_shape(value: Any) -> Any:
    """Pulumi's camelCase inputs to the S3 API's PascalCase members."""
    if isinstance(value, dict):
        return {
            _API_NAMES.get(key, key[0].upper() + key[1:]): _api_shape(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_api_shape(item) for item in value]
    return value


def _minio_ilm_rule(rule: dict[str, Any]) -> dict[str, Any]:
    translated: dict[str, Any] = {
        "ID": rule["id"],
        "Status": "Enabled",
        "Filter": {"Prefix": rule.get("filter", "")},
    }
    if rule.get("noncurrentVersionExpirationDays"):
        translated["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": rule["noncurrentVersionExpirationDays"]
        }
    return translated


def _object_body(inputs: dict[str, Any]) -> bytes:
    """An object's bytes as resourceObjectUpload reads them: content, or else none."""
    assert "source" not in inputs and "contentBase64" not in inputs, "not translated"
    return str(inputs.get("content", "")).encode()


def _appliers(client: Any) -> dict[str, Callable[[dict[str, Any]], object]]:
    # `client` is an S3Client; the inputs are untyped data on their way to it.
    return {
        "minio:index/s3Bucket:S3Bucket": lambda i: client.create_bucket(Bucket=i["bucket"]),
        "aws:s3/bucket:Bucket": lambda i: client.create_bucket(Bucket=i["bucket"]),
        "minio:index/s3BucketVersioning:S3BucketVersioning": lambda i: client.put_bucket_versioning(
            Bucket=i["bucket"],
            VersioningConfiguration={"Status": i["versioningConfiguration"]["status"]},
        ),
        "aws:s3/bucketVersioning:BucketVersioning": lambda i: client.put_bucket_versioning(
            Bucket=i["bucket"],
            VersioningConfiguration={"Status": i["versioningConfiguration"]["status"]},
        ),
        "aws:s3/bucketObjectv2:BucketObjectv2": lambda i: client.put_object(
            Bucket=i["bucket"], Key=i["key"], Body=_object_body(i)
        ),
        "command:local:Command": lambda i: client.put_object(
            Bucket=i["environment"]["LAKE_BUCKET"],
            Key=i["environment"]["LAKE_MARKER_KEY"],
            Body=b"",
        ),
        "minio:index/ilmPolicy:IlmPolicy": lambda i: client.put_bucket_lifecycle_configuration(
            Bucket=i["bucket"],
            LifecycleConfiguration={"Rules": [_minio_ilm_rule(rule) for rule in i["rules"]]},
        ),
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
            lambda i: client.put_bucket_lifecycle_configuration(
                Bucket=i["bucket"], LifecycleConfiguration={"Rules": _api_shape(i["rules"])}
            )
        ),
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
            lambda i: client.put_bucket_encryption(
                Bucket=i["bucket"],
                ServerSideEncryptionConfiguration={"Rules": _api_shape(i["rules"])},
            )
        ),
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
            lambda i: client.put_public_access_block(
                Bucket=i["bucket"],
                PublicAccessBlockConfiguration={
                    key[0].upper() + key[1:]: value for key, value in i.items() if key != "bucket"
                },
            )
        ),
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls": (
            lambda i: client.put_bucket_ownership_controls(
                Bucket=i["bucket"], OwnershipControls={"Rules": [_api_shape(i["rule"])]}
            )
        ),
    }


def apply_s3_resources(run: StackRun, client: S3Client) -> list[Registration]:
    """Create the lake's buckets and their settings in dependency order; return what applied."""
    appliers = _appliers(client)
    # Buckets first, then settings, then objects: the order the engine's dependencies give.
    order = {"Bucket": 0, "S3Bucket": 0, "BucketObjectv2": 2, "Command": 2}
    applied = [r for r in run.registrations if r.type in appliers]
    applied.sort(key=lambda r: order.get(r.type.rsplit(":", 1)[-1], 1))
    for registration in applied:
        appliers[registration.type](_integers(registration.inputs))
    return applied


def lake_bucket_names(run: StackRun) -> list[str]:
    return list(run.outputs["buckets"].values())
