"""Turning botocore failures into lakeops errors that say what failed, where, and what to do."""

from __future__ import annotations

from dataclasses import dataclass

import botocore.exceptions

from lakeops.contract import Backend
from lakeops.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ConfigurationError,
    EndpointUnreachableError,
    LakeOpsError,
    ObjectNotFoundError,
    StorageError,
)
from lakeops.layout import StorageLayer

_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)
_CREDENTIALS_REJECTED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
# HEAD requests have no body, so their errors carry only the HTTP status as a code.
NOT_FOUND_CODES = frozenset({"404", "NotFound", "NoSuchKey", "NoSuchBucket", "NoSuchVersion"})
DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled"})


def normalize_version(version: object) -> str | None:
    """S3 says "null" for the version of an object written while versioning was off."""
    return None if version in (None, "null") else str(version)


@dataclass(frozen=True)
class Target:
    """What an operation was working on, for messages."""

    action: str
    endpoint: str
    backend: Backend
    layer: StorageLayer | None = None
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None

    @property
    def where(self) -> str:
        uri = f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"
        if self.version_id:
            uri += f" (version {self.version_id})"
        return f"{self.layer} {uri}" if self.layer else uri


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: Exception, target: Target) -> LakeOpsError:
    """Map a botocore exception to the matching LakeOpsError."""
    if isinstance(exc, LakeOpsError):
        return exc
    if isinstance(exc, _UNREACHABLE):
        return EndpointUnreachableError(
            f"cannot reach the S3 endpoint {target.endpoint} to {target.action} {target.where}.",
            hint=_unreachable_hint(target.backend),
        )
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return ConfigurationError(
            f"no credentials found to {target.action} {target.where} at {target.endpoint}.",
            hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE.",
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        return _translate_client_error(exc, target)
    return StorageError(f"failed to {target.action} {target.where} at {target.endpoint}: {exc}")


def _translate_client_error(  # noqa: PLR0911 - one return per kind of error
    exc: botocore.exceptions.ClientError, target: Target
) -> LakeOpsError:
    code = error_code(exc)
    detail = exc.response.get("Error", {}).get("Message") or code
    if code == "NoSuchBucket":
        return missing_bucket(target)
    if target.version_id and code in ("400", "InvalidArgument"):
        return ObjectNotFoundError(
            f"{target.where} at {target.endpoint}: the version id is not valid here ({detail}).",
            hint="Check the version id; objects written while versioning was off have the "
            "version 'null'.",
        )
    if code in ("NoSuchKey", "NoSuchVersion") or (code == "404" and target.key):
        return ObjectNotFoundError(
            f"{target.where} does not exist at {target.endpoint}.",
            hint=f"List what is there with `lakeops ls {target.layer or ''}`."
            if target.layer
            else "Check the key.",
        )
    if code == "404":
        return missing_bucket(target)
    if code in _CREDENTIALS_REJECTED:
        return AccessDeniedError(
            f"{target.endpoint} rejected the credentials ({code}) to {target.action} "
            f"{target.where}.",
            hint="Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the dev MinIO uses "
            "minio / minio123), and `lakeops config` for where they come from.",
        )
    if code in DENIED_CODES:
        return AccessDeniedError(
            f"access denied to {target.action} {target.where} at {target.endpoint}.",
            hint="The credentials' policy does not allow this; pipeline roles are scoped "
            "to their layers and prefixes (see the README's access matrix).",
        )
    return StorageError(
        f"failed to {target.action} {target.where} at {target.endpoint}: {code}: {detail}"
    )


def missing_bucket(target: Target) -> BucketNotFoundError:
    layer = f" for {target.layer}" if target.layer else ""
    return BucketNotFoundError(
        f"bucket {target.bucket!r}{layer} does not exist at {target.endpoint}.",
        hint="Create the lake first: `make up` (dev) or `pulumi up` for the stack; "
        "or check the bucket name with `lakeops config`.",
    )


def _unreachable_hint(backend: Backend) -> str:
    if backend is Backend.AWS:
        return "Check the network, the region and AWS_ENDPOINT_URL if one is set."
    return (
        "Is MinIO running? Start it with `make up` (or `docker compose up -d`); check it with "
        "`docker compose ps minio`. Or point AWS_ENDPOINT_URL at the right server."
    )
