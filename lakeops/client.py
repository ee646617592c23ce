"""Building the boto3 S3 client for a configuration."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config

from lakeops._version import __version__
from lakeops.config import LakeConfig

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# An unreachable endpoint must fail in about ten seconds, not boto3's default minutes:
# three attempts with a 2 s connect timeout, plus the standard mode's short back-off.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 60
MAX_ATTEMPTS = 3


def make_s3_client(config: LakeConfig) -> S3Client:
    session = boto3.session.Session(
        profile_name=config.profile,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
        aws_session_token=config.session_token,
        region_name=config.region,
    )
    client_config = botocore.config.Config(
        region_name=config.region,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        # MinIO and most S3-compatible servers do not serve virtual-hosted bucket names.
        s3={"addressing_style": "path"} if config.endpoint_url is not None else None,
        user_agent_extra=f"lakeops/{__version__}",
    )
    return session.client("s3", endpoint_url=config.endpoint_url, config=client_config)


class WrittenVersions:
    """Version ids of completed writes, read off the write responses themselves.

    s3transfer returns nothing from an upload; a HEAD afterwards would cost a request and
    need read permission, which a write-only role lacks. Entries are keyed by bucket and key,
    and taken once.
    """

    def __init__(self, client: S3Client) -> None:
        self._versions: dict[tuple[str, str], str | None] = {}
        self._lock = threading.Lock()
        for operation in ("PutObject", "CompleteMultipartUpload"):
            client.meta.events.register(f"after-call.s3.{operation}", self._record)

    def _record(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        params = context.get("input_params") or {}
        succeeded = http_response.status_code < 300 and "Error" not in parsed
        if succeeded and "Bucket" in params and "Key" in params:
            with self._lock:
                self._versions[(params["Bucket"], params["Key"])] = parsed.get("VersionId")

    def take(self, bucket: str, key: str) -> str | None:
        with self._lock:
            version = self._versions.pop((bucket, key), None)
        return None if version in (None, "null") else version


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
