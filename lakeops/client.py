"""Building the boto3 S3 client for a configuration."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.credentials

from lakeops._version import __version__
from lakeops.config import LakeConfig, check_credential_values
from lakeops.metadata import META_SHA256
from lakeops.roles import assumed_session
from lakeops.s3errors import normalize_version

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Enough connections for every worker of a dataset job and every part of a large transfer:
# below that, urllib3 opens and throws away connections, one TCP (and TLS) handshake each.
DEFAULT_POOL_CONNECTIONS = 64


def make_session(config: LakeConfig) -> boto3.session.Session:
    """The session of the configured credentials; with a role on AWS, of that role, assumed
    from them."""
    session = boto3.session.Session(
        profile_name=config.profile,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
        aws_session_token=config.session_token,
        region_name=config.region,
    )
    _check_static_credentials(session)
    if config.role_arn is None:
        return session
    return assumed_session(session, config.role_arn, config.role_session_name or "lakeops")


def _check_static_credentials(session: boto3.session.Session) -> None:
    """Keys read from a profile or the environment, checked as explicit ones are (a profile
    with an empty ``aws_access_key_id``). Credentials that refresh themselves (SSO, assumed
    roles, instance profiles) are left to botocore: looking would send a request."""
    found = session.get_credentials()
    if type(found) is botocore.credentials.Credentials:
        check_credential_values(found.access_key, found.secret_key, f"from {found.method}")


def make_s3_client(
    config: LakeConfig,
    session: boto3.session.Session | None = None,
    *,
    pool_connections: int = DEFAULT_POOL_CONNECTIONS,
) -> S3Client:
    session = session or make_session(config)
    timeouts = config.timeouts
    client_config = botocore.config.Config(
        region_name=config.region,
        connect_timeout=timeouts.connect_seconds,
        read_timeout=timeouts.read_seconds,
        # total_max_attempts counts the first try; botocore's "max_attempts" here would mean
        # retries, one more attempt than the number says.
        retries={"mode": "standard", "total_max_attempts": timeouts.max_attempts},
        max_pool_connections=pool_connections,
        # MinIO and most S3-compatible servers do not serve virtual-hosted bucket names.
        s3={"addressing_style": "path"} if config.endpoint_url is not None else None,
        user_agent_extra=f"lakeops/{__version__}",
        # None leaves it to boto3's own chain (AWS_REQUEST_CHECKSUM_CALCULATION, the profile).
        request_checksum_calculation=config.request_checksum_calculation,
    )
    return session.client("s3", endpoint_url=config.endpoint_url, config=client_config)


class WrittenVersions:
    """Version ids of completed multipart uploads, read off the write responses themselves.

    s3transfer returns nothing from an upload; a HEAD afterwards would cost a request and
    need read permission, which a write-only role lacks. Responses are matched to uploads by
    bucket, key and the content's SHA-256 (in the upload's metadata), carried from
    CreateMultipartUpload to CompleteMultipartUpload by upload id; so concurrent uploads of
    one key through one Lake cannot take each other's version, unless their bytes are equal.
    (Single-part uploads are lakeops' own PutObject calls, which read the response directly.)
    """

    def __init__(self, client: S3Client) -> None:
        self._versions: dict[tuple[str, str, str], tuple[str | None, str | None]] = {}
        self._uploads: dict[str, str] = {}
        self._lock = threading.Lock()
        events = client.meta.events
        events.register("before-parameter-build.s3.CreateMultipartUpload", self._note_checksum)
        events.register("after-call.s3.CreateMultipartUpload", self._note_upload)
        for operation in ("CompleteMultipartUpload", "AbortMultipartUpload"):
            events.register(f"before-parameter-build.s3.{operation}", self._note_completion)
        events.register("after-call.s3.CompleteMultipartUpload", self._record)

    def _note_checksum(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[META_SHA256] = (params.get("Metadata") or {}).get(META_SHA256)

    def _note_upload(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        # A body cut short parses to no UploadId; s3transfer then fails the upload itself.
        if http_response.status_code < 300 and context.get(META_SHA256) and "UploadId" in parsed:
            with self._lock:
                self._uploads[parsed["UploadId"]] = context[META_SHA256]

    def _note_completion(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            context[META_SHA256] = self._uploads.pop(params.get("UploadId", ""), None)

    def _record(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        params = context.get("input_params") or {}
        checksum = context.get(META_SHA256)
        if http_response.status_code < 300 and "Error" not in parsed and checksum:
            with self._lock:
                self._versions[(params["Bucket"], params["Key"], checksum)] = (
                    parsed.get("VersionId"),
                    parsed.get("ETag"),
                )

    def take(self, bucket: str, key: str, sha256: str) -> tuple[str | None, str | None]:
        """(version id, ETag) of the completed upload of ``sha256`` to ``bucket``/``key``."""
        with self._lock:
            version, etag = self._versions.pop((bucket, key, sha256), (None, None))
        return normalize_version(version), etag


def make_writes_conditional(client: S3Client, bucket: str) -> None:
    """Send every object write to ``bucket`` with ``If-None-Match: *``.

    s3transfer's managed uploads have no IfNoneMatch argument, so the header is added where
    botocore builds the request: on PutObject (single-part uploads) and on
    CompleteMultipartUpload (multipart ones). The server then refuses, atomically, to replace
    an existing key; no racy check-then-put is needed.
    """

    def add_if_none_match(params: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") == bucket:
            params.setdefault("IfNoneMatch", "*")

    for operation in ("PutObject", "CompleteMultipartUpload"):
        client.meta.events.register(f"before-parameter-build.s3.{operation}", add_if_none_match)


# Below this, a body is sent at once rather than after the server's "100 Continue": the extra
# round trip (and, on servers that never send one, botocore's one-second wait) costs more
# than sending a small body the server might refuse.
CONTINUE_FROM_BYTES = 8 * 1024 * 1024


def send_small_bodies_at_once(client: S3Client) -> None:
    """botocore asks for ``Expect: 100-continue`` on every file-like body, whatever its size
    (handlers.add_expect_header); drop it for bodies under :data:`CONTINUE_FROM_BYTES`."""

    def drop_expect(params: dict[str, Any], **_: Any) -> None:
        headers = params.get("headers", {})
        body: Any = params.get("body")
        if headers.get("Expect") != "100-continue" or not hasattr(body, "fileno"):
            return
        try:
            size = os.fstat(body.fileno()).st_size - body.tell()
        except (OSError, ValueError):
            return
        if size < CONTINUE_FROM_BYTES:
            del headers["Expect"]

    # Registered after botocore's own handler, so it runs after it.
    client.meta.events.register("before-call.s3.PutObject", drop_expect)
