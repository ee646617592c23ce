"""Turning botocore and s3transfer failures into lakeops errors that say what failed, where,
and what to do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import botocore.parsers
import s3transfer.exceptions

from lakeops.contract import Backend
from lakeops.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ConfigurationError,
    CredentialsRejectedError,
    EndpointUnreachableError,
    IntegrityError,
    LakeOpsError,
    ObjectNotFoundError,
    StorageError,
)
from lakeops.layout import LAYOUT, StorageLayer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
)
# The connection was made, then broke mid-request or mid-body.
_DROPPED = (
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
)
_NO_CREDENTIALS = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
    botocore.exceptions.TokenRetrievalError,
    botocore.exceptions.SSOError,
    botocore.exceptions.ProfileNotFound,
)
CREDENTIALS_REJECTED_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)
# HEAD requests have no body, so their errors carry only the HTTP status as a code.
NOT_FOUND_CODES = frozenset({"404", "NotFound", "NoSuchKey", "NoSuchBucket", "NoSuchVersion"})
DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled"})
CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412"})
# Keys may be 1,024 bytes; a message shows enough of one to recognise it.
_SHOWN_KEY_CHARS = 200


def normalize_version(version: object) -> str | None:
    """S3 says "null" for the version of an object written while versioning was off."""
    return None if version in (None, "null") else str(version)


def shorten(text: str, limit: int = _SHOWN_KEY_CHARS) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


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
    role: str | None = None  # the pipeline role acted as, if any

    @property
    def where(self) -> str:
        uri = f"s3://{self.bucket}/{shorten(self.key)}" if self.key else f"s3://{self.bucket}"
        if self.version_id:
            uri += f" (version {shorten(self.version_id, 64)})"
        return f"{self.layer} {uri}" if self.layer else uri


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: BaseException, target: Target) -> LakeOpsError:  # noqa: PLR0911 - one per kind
    """Map any failure of botocore or s3transfer to the matching LakeOpsError."""
    if isinstance(exc, LakeOpsError):
        return exc
    if isinstance(exc, s3transfer.exceptions.RetriesExceededError):
        # s3transfer's own retries of a download whose body kept breaking off.
        return translate(exc.last_exception, target)
    if isinstance(exc, botocore.exceptions.SSLError):
        return EndpointUnreachableError(
            f"the TLS handshake with {target.endpoint} failed to {target.action} {target.where} "
            f"({shorten(str(exc), 160)}).",
            hint="Check the endpoint's scheme (http:// or https://), and for a server with a "
            "private certificate authority, set AWS_CA_BUNDLE to its CA file.",
        )
    if isinstance(exc, _UNREACHABLE):
        return EndpointUnreachableError(
            f"cannot reach the S3 endpoint {target.endpoint} to {target.action} {target.where} "
            f"({_reason(exc)}).",
            hint=_unreachable_hint(target.backend),
        )
    if isinstance(exc, _DROPPED):
        return EndpointUnreachableError(
            f"the connection to {target.endpoint} kept breaking off while trying to "
            f"{target.action} {target.where}, on every attempt; nothing partial was kept.",
            hint="Check the network and the server's health, then retry; "
            "LAKEOPS_MAX_ATTEMPTS sets how often lakeops tries.",
        )
    if isinstance(exc, botocore.exceptions.FlexibleChecksumError):
        return IntegrityError(
            f"the bytes received for {target.where} from {target.endpoint} failed their "
            "checksum in transit; nothing was written.",
            hint="Retry; if it persists, the network or the stored object is damaged.",
        )
    if isinstance(exc, _NO_CREDENTIALS):
        return ConfigurationError(
            f"no usable credentials to {target.action} {target.where} at {target.endpoint} "
            f"({type(exc).__name__}).",
            hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (and log in "
            "to it), or a lakeops role; `lakeops config` shows what is used.",
        )
    if isinstance(exc, botocore.parsers.ResponseParserError) or (
        isinstance(exc, botocore.exceptions.ClientError) and not answers_like_s3(exc)
    ):
        return not_s3(target)
    if isinstance(exc, botocore.exceptions.ClientError):
        return _translate_client_error(exc, target)
    return StorageError(
        f"failed to {target.action} {target.where} at {target.endpoint}: "
        f"{type(exc).__name__}: {shorten(str(exc))}"
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ReadTimeoutError):
        return "it accepted the connection but did not answer in time"
    if isinstance(exc, botocore.exceptions.ConnectTimeoutError):
        return "the connection timed out"
    return "the connection failed"


def _translate_client_error(  # noqa: PLR0911 - one return per kind of error
    exc: botocore.exceptions.ClientError, target: Target
) -> LakeOpsError:
    code = error_code(exc)
    detail = shorten(str(exc.response.get("Error", {}).get("Message") or code))
    if code == "NoSuchBucket":
        return missing_bucket(target)
    if target.version_id and code in ("400", "InvalidArgument"):
        return ObjectNotFoundError(
            f"{target.where} at {target.endpoint}: the version id is not valid here ({detail}).",
            hint="Check the version id (`lakeops versions` lists them); objects written while "
            "versioning was off have the version 'null'.",
        )
    if code in ("NoSuchKey", "NoSuchVersion") or (code == "404" and target.key):
        return ObjectNotFoundError(
            f"{target.where} does not exist at {target.endpoint}.",
            hint=f"List what is there with `{_listing_beside(target)}`."
            if target.layer
            else "Check the key.",
        )
    if code == "404":
        return missing_bucket(target)
    if code in CREDENTIALS_REJECTED_CODES:
        return credentials_rejected(target, code)
    if code in DENIED_CODES:
        return access_denied(target)
    if code in ("MissingContentLength", "411"):
        return StorageError(
            f"{target.endpoint} refused to {target.action} {target.where}: {code} ({detail}).",
            hint="This server does not take boto3's checksum trailers (aws-chunked bodies, sent "
            "over HTTPS); set LAKEOPS_REQUEST_CHECKSUM_CALCULATION=when_required.",
        )
    if code in ("SlowDown", "503", "ServiceUnavailable"):
        return StorageError(
            f"{target.endpoint} is overloaded ({code}) and kept refusing to {target.action} "
            f"{target.where}.",
            hint="Retry later, or with fewer workers (--workers).",
        )
    return StorageError(
        f"failed to {target.action} {target.where} at {target.endpoint}: {code}: {detail}"
    )


def _listing_beside(target: Target) -> str:
    """The `ls` of the missing key's parent: its siblings, not the whole layer."""
    key = target.key or ""
    parent = shorten(key[: key.rfind("/") + 1])
    return f"lakeops ls {target.layer} {parent}".strip()


def access_denied(target: Target, *, how: str = "") -> AccessDeniedError:
    outside = _outside_the_layout(target)
    who = f", as role {target.role!r}" if target.role else ""
    return AccessDeniedError(
        f"access denied to {target.action} {target.where} at {target.endpoint}{outside}{how}{who}.",
        hint="The credentials are valid, but their policy does not allow this: pipeline "
        "roles are scoped to their layers and prefixes (see the access matrix in "
        "docs/reference.md), and `lakeops config` shows which credentials are used.",
    )


def _outside_the_layout(target: Target) -> str:
    """Why a role may well be refused: the key lies outside its layer's declared prefixes,
    where no role is granted anything."""
    if target.layer is None or not target.key:
        return ""
    prefixes = LAYOUT[target.layer].prefixes
    if target.key.startswith(prefixes):
        return ""
    return f" (the key is outside {target.layer}'s prefixes, {', '.join(prefixes)})"


def credentials_rejected(target: Target, code: str) -> CredentialsRejectedError:
    # Never a secret, not even the dev default one: point at where the dev login is set.
    dev_login = (
        " (the dev MinIO's root login is MINIO_ROOT_USER / MINIO_ROOT_PASSWORD in .env)"
        if target.backend is Backend.MINIO
        else ""
    )
    return CredentialsRejectedError(
        f"{target.endpoint} rejected the credentials ({code}) to {target.action} {target.where}.",
        hint=f"Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the profile or the role{dev_login}"
        ", and `lakeops config` for where they come from.",
    )


def explain_forbidden(client: S3Client, target: Target, args: dict[str, Any]) -> LakeOpsError:
    """Why a HEAD got 403. It has no body to say whether the credentials or the policy refused
    it, so ask again with a one-byte GET, whose error body does."""
    try:
        client.get_object(**args, Range="bytes=0-0")
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES and answers_like_s3(exc):
            # The key is not there, but looking for it was refused: the refusal is what stops
            # the operation (an upload to bronze must look before it writes), not the absence.
            return access_denied(
                target, how=" (the HEAD that checks whether the key exists was refused)"
            )
        return translate(exc, target)
    except botocore.exceptions.BotoCoreError as exc:
        return translate(exc, target)
    return AccessDeniedError(
        f"access denied to {target.action} {target.where} at {target.endpoint} (reading its "
        "metadata is refused, reading its bytes is not).",
        hint="The policy grants s3:GetObject without the HEAD it implies; check the role.",
    )


def answers_like_s3(exc: botocore.exceptions.ClientError) -> bool:
    """Whether an error came from an S3 server. Every S3 server we know (AWS, MinIO, Ceph RGW,
    moto) marks its answers with x-amz headers, or at least sends XML (or, to a HEAD, nothing);
    a web page without them is another kind of server: MinIO's console port, a proxy's page."""
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    kind = str(headers.get("content-type", "")).lower()
    return _marked_s3(headers) or not kind or "xml" in kind


def head_like_s3(response: Mapping[str, Any]) -> bool:
    """Whether a successful HEAD came from an S3 server: a web page that answers every path
    (a console's) would otherwise pass for an object. An HTML object stored in S3 still comes
    with the server's x-amz headers."""
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return _marked_s3(headers) or "html" not in str(headers.get("content-type", "")).lower()


def _marked_s3(headers: Mapping[str, Any]) -> bool:
    return any(name.lower().startswith("x-amz") for name in headers)


def not_s3(target: Target) -> ConfigurationError:
    return ConfigurationError(
        f"the endpoint {target.endpoint} does not answer like S3 (trying to {target.action} "
        f"{target.where}): it is some other HTTP server.",
        hint="Check the endpoint URL (--endpoint-url, AWS_ENDPOINT_URL, `lakeops config`): "
        "MinIO's S3 API is on port 9000 by default, its web console on 9001.",
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
