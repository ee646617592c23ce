"""Single-request object transfers on the AWS Common Runtime's S3 client (``awscrt``).

Dataset jobs move thousands of small objects, and botocore spends 3-4 ms of CPU on each
request under the GIL, so a Python client tops out near half of s5cmd's speed on two cores.
The CRT (boto3's own C runtime, ``boto3[crt]``) signs, sends and retries on its own threads.
lakeops hands it the few requests a dataset job sends per object (PutObject, CopyObject,
GetObject, and the HeadObject before a bronze write where the server ignores
``If-None-Match``), and the pages of a dataset's listings, each with exactly the headers
lakeops' guarantees need: ``If-None-Match`` on bronze, the recorded SHA-256 and caller
metadata, ``Content-MD5`` (the server checks the bytes it receives), the pinned source version
and lineage of a copy, ``If-Match`` and the version of a read. Everything else (other HEADs,
manifests, multipart transfers) stays on boto3.

S3's error responses come back as botocore's own ``ClientError`` and connection failures as
botocore's exceptions, so lakeops translates them like any other.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import io
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import botocore.credentials
import botocore.exceptions

if TYPE_CHECKING:
    import boto3

    from lakeops.config import LakeConfig

log = logging.getLogger("lakeops.requests")

# Requests this client keeps on the wire at once; the CRT queues the rest.
DEFAULT_CONNECTIONS = 64
# Every request goes out as the CRT's "default" kind: sent as given, never split into parts
# or ranges. The sizes still bound the CRT's buffer pool, which aborts the process (a failed
# C assertion, not an exception) on a reservation larger than its memory limit.
_PART_BYTES = 16 * 1024**2
_XML_TAG = re.compile(rb"<(Code|Message|ETag)>([^<]*)</\1>")
# aws-c-s3's error once its retries of 503 SlowDown answers are spent (aws-c-s3
# include/aws/s3/s3.h, AWS_ERROR_S3_SLOW_DOWN).
_SLOW_DOWN = "AWS_ERROR_S3_SLOW_DOWN"
_SLOW_DOWN_BODY = (
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)


# The response headers boto3's head_object answer names, for those lakeops reads: a copy
# carries the four content headers over (lakeops.ops.promote.COPIED_HEADERS).
_HEAD_FIELDS = (
    ("etag", "ETag"),
    ("content-type", "ContentType"),
    ("cache-control", "CacheControl"),
    ("content-disposition", "ContentDisposition"),
    ("content-encoding", "ContentEncoding"),
    ("content-language", "ContentLanguage"),
)


def available() -> bool:
    try:
        import awscrt.s3  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    @property
    def version_id(self) -> str | None:
        version = self.headers.get("x-amz-version-id")
        return None if version in (None, "null") else version

    @property
    def etag(self) -> str | None:
        """The response's ETag: the header's, or a CopyObjectResult's."""
        if "etag" in self.headers:
            return self.headers["etag"]
        found = dict(_XML_TAG.findall(self.body))
        return found[b"ETag"].decode().replace("&quot;", '"') if b"ETag" in found else None

    def as_head(self) -> dict[str, object]:
        """The fields of boto3's ``head_object`` answer that lakeops reads."""
        head: dict[str, object] = {"Metadata": self.metadata()}
        if "content-length" in self.headers:
            head["ContentLength"] = int(self.headers["content-length"])
        for name, field in _HEAD_FIELDS:
            if name in self.headers:
                head[field] = self.headers[name]
        if "x-amz-version-id" in self.headers:
            head["VersionId"] = self.headers["x-amz-version-id"]
        return head

    def metadata(self) -> dict[str, str]:
        return {
            name[len("x-amz-meta-") :]: value
            for name, value in self.headers.items()
            if name.startswith("x-amz-meta-")
        }


class CrtTransport:
    """One CRT S3 client for a lake; safe to share between threads."""

    def __init__(
        self,
        config: LakeConfig,
        session: boto3.session.Session,
        *,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        from awscrt.auth import AwsCredentials, AwsCredentialsProvider
        from awscrt.io import (
            ClientBootstrap,
            ClientTlsContext,
            DefaultHostResolver,
            EventLoopGroup,
            TlsContextOptions,
        )
        from awscrt.s3 import S3Client, S3RequestTlsMode, create_default_s3_signing_config

        self._region = config.region
        self._endpoint = config.endpoint_label
        if config.endpoint_url is not None:
            parts = urlsplit(config.endpoint_url)
            self._host: str | None = parts.netloc
            tls = parts.scheme == "https"
        else:
            self._host, tls = None, True
        tls_options = None
        if tls:
            options = TlsContextOptions()
            # botocore trusts AWS_CA_BUNDLE; the CRT reads no variable itself.
            bundle = os.environ.get("AWS_CA_BUNDLE", "").strip()
            if bundle:
                options.override_default_trust_store_from_path(ca_filepath=bundle)
            tls_options = ClientTlsContext(options).new_connection_options()

        def current() -> AwsCredentials:
            # botocore's credentials, refreshed as they near expiry (an assumed role, SSO).
            found = session.get_credentials()
            if found is None:
                raise botocore.exceptions.NoCredentialsError()
            frozen = found.get_frozen_credentials()
            return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

        provider = _static_provider(session) or AwsCredentialsProvider.new_delegate(current)
        group = EventLoopGroup()
        self._client = S3Client(
            bootstrap=ClientBootstrap(group, DefaultHostResolver(group)),
            region=config.region,
            tls_mode=S3RequestTlsMode.ENABLED if tls else S3RequestTlsMode.DISABLED,
            tls_connection_options=tls_options,
            signing_config=create_default_s3_signing_config(
                region=config.region, credential_provider=provider
            ),
            part_size=_PART_BYTES,
            multipart_upload_threshold=_PART_BYTES,
            max_active_connections_override=connections,
        )
        # The CRT has no read timeout of its own: a server that accepts and never answers
        # would hold a request for minutes. lakeops gives up after the same silence boto3
        # would sit through (every attempt's read timeout).
        self._patience = config.timeouts.read_seconds * config.timeouts.max_attempts
        self.observers: list[Callable[[str], None]] = []
        self._lock = threading.Lock()
        self._in_flight: set[Any] = set()
        self._cancelled = False

    def cancel(self) -> None:
        """Give up every request under way (Ctrl-C); later requests fail at once."""
        with self._lock:
            self._cancelled = True
            in_flight = list(self._in_flight)
        for request in in_flight:
            request.cancel()

    # -- the three operations ------------------------------------------------------------------

    def put(
        self, bucket: str, key: str, body: bytes, headers: Mapping[str, str], md5_hex: str
    ) -> Response:
        sent = {
            **headers,
            "Content-Length": str(len(body)),
            "Content-MD5": base64.b64encode(bytes.fromhex(md5_hex)).decode(),
        }
        return self._send(
            "PutObject", method="PUT", bucket=bucket, key=key, query="", headers=sent, body=body
        )

    def copy(
        self,
        bucket: str,
        key: str,
        *,
        source_bucket: str,
        source_key: str,
        source_version: str | None,
        headers: Mapping[str, str],
    ) -> Response:
        source = f"/{source_bucket}/{quote(source_key, safe='/~')}"
        if source_version:
            source += f"?versionId={quote(source_version, safe='')}"
        sent = {**headers, "x-amz-copy-source": source, "Content-Length": "0"}
        response = self._send(
            "CopyObject",
            method="PUT",
            bucket=bucket,
            key=key,
            query="",
            headers=sent,
            keep_body=True,
        )
        # S3 may report a failed copy inside a 200 response.
        if b"<Error>" in response.body:
            raise _client_error(response.status, response.body, "CopyObject")
        return response

    def get(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None,
        if_match: str | None,
        on_body: Callable[[bytes], object],
    ) -> Response:
        query = f"versionId={quote(version_id, safe='')}" if version_id else ""
        sent = {"If-Match": if_match} if if_match else {}
        return self._send(
            "GetObject",
            method="GET",
            bucket=bucket,
            key=key,
            query=query,
            headers=sent,
            on_body=on_body,
        )

    def head(self, bucket: str, key: str, *, version_id: str | None = None) -> Response:
        """An object's HEAD; a missing object is a ``ClientError`` with code 404, as botocore's."""
        query = f"versionId={quote(version_id, safe='')}" if version_id else ""
        return self._send(
            "HeadObject", method="HEAD", bucket=bucket, key=key, query=query, headers={}
        )

    def list_page(self, operation: str, bucket: str, query: str) -> Response:
        """One page of a bucket listing (lakeops.ops.pages builds the query, parses the page)."""
        return self._send(
            operation,
            method="GET",
            bucket=bucket,
            key="",
            query=query,
            headers={},
            keep_body=True,
        )

    # -- the wire ------------------------------------------------------------------------------

    def _address(self, bucket: str, key: str, query: str) -> tuple[str, str]:
        path = quote(key, safe="/~")
        suffix = f"?{query}" if query else ""
        if self._host is not None:
            return self._host, f"/{bucket}/{path}{suffix}"
        if "." in bucket:
            # A dotted name breaks the wildcard certificate of virtual-hosted addresses.
            return f"s3.{self._region}.amazonaws.com", f"/{bucket}/{path}{suffix}"
        return f"{bucket}.s3.{self._region}.amazonaws.com", f"/{path}{suffix}"

    def _send(
        self,
        operation: str,
        *,
        method: str,
        bucket: str,
        key: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes | None = None,
        keep_body: bool = False,
        on_body: Callable[[bytes], object] | None = None,
    ) -> Response:
        from awscrt.exceptions import AwsCrtError
        from awscrt.http import HttpHeaders, HttpRequest
        from awscrt.s3 import S3RequestType, S3ResponseError

        host, path = self._address(bucket, key, query)
        request = HttpRequest(
            method,
            path,
            HttpHeaders([("Host", host), *headers.items()]),
            io.BytesIO(body) if body is not None else None,
        )
        received: dict[str, Any] = {"chunks": []}
        heard = [time.monotonic()]

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            heard[0] = time.monotonic()
            received["status"] = status_code
            received["headers"] = {name.lower(): value for name, value in headers}

        def on_chunk(chunk: bytes, **_: Any) -> None:
            heard[0] = time.monotonic()
            if on_body is not None:
                on_body(chunk)
            elif keep_body:
                received["chunks"].append(chunk)

        def on_progress(progress: int) -> None:
            heard[0] = time.monotonic()

        for observe in self.observers:
            observe(operation)
        started = time.monotonic()
        with self._lock:
            if self._cancelled:
                raise RequestCancelled(operation)
            sent = self._client.make_request(
                type=S3RequestType.DEFAULT,
                request=request,
                operation_name=operation,
                on_headers=on_headers,
                on_body=on_chunk,
                on_progress=on_progress,
            )
            self._in_flight.add(sent)
        try:
            self._wait(sent, heard)
        except S3ResponseError as failed:
            self._log(method, host, path, str(failed.status_code), started)
            raise _client_error(failed.status_code, failed.body or b"", operation) from failed
        except _Silent as silent:
            self._log(method, host, path, "no answer", started)
            raise botocore.exceptions.ReadTimeoutError(endpoint_url=self._endpoint) from silent
        except AwsCrtError as failed:
            self._log(method, host, path, failed.name, started)
            if self._cancelled:
                raise RequestCancelled(operation) from failed
            if failed.name == _SLOW_DOWN:
                # The CRT retried 503 SlowDown itself, then gave up with an error of its own
                # instead of S3's response: the same throttling boto3 reports as SlowDown.
                raise _client_error(503, _SLOW_DOWN_BODY, operation) from failed
            raise _connection_error(failed, self._endpoint) from failed
        finally:
            with self._lock:
                self._in_flight.discard(sent)
        self._log(method, host, path, str(received.get("status", "")), started)
        return Response(
            int(received.get("status", 0)),
            received.get("headers", {}),
            b"".join(received["chunks"]),
        )

    def _wait(self, sent: Any, heard: list[float]) -> None:
        """Wait for a request to finish; cancel it once the server has been silent too long."""
        finished = sent.finished_future
        while True:
            quiet = time.monotonic() - heard[0]
            if quiet >= self._patience:
                sent.cancel()
                # Its own error now says "cancelled": the silence is the news.
                with contextlib.suppress(Exception):
                    finished.result()
                raise _Silent
            try:
                finished.result(timeout=self._patience - quiet)
            except concurrent.futures.TimeoutError:
                continue
            return

    @staticmethod
    def _log(method: str, host: str, path: str, outcome: str, started: float) -> None:
        shown = path.split("?", 1)[0]
        elapsed = (time.monotonic() - started) * 1000
        log.debug("%s %s%s -> %s in %.0f ms (crt)", method, host, shown, outcome, elapsed)


def _static_provider(session: boto3.session.Session) -> Any:
    """Credentials that never change (keys from the environment or a file) as the CRT's own
    static provider; None for any that botocore refreshes (an assumed role, SSO), which stay
    behind a delegate. The CRT asks its provider before signing each request, and a delegate
    is a call into Python, taking the GIL from a CRT thread, on every request."""
    from awscrt.auth import AwsCredentialsProvider

    try:
        found = session.get_credentials()
    except botocore.exceptions.BotoCoreError:
        return None  # the delegate raises it again on the first request, as before
    if found is None or isinstance(found, botocore.credentials.RefreshableCredentials):
        return None
    frozen = found.get_frozen_credentials()
    return AwsCredentialsProvider.new_static(frozen.access_key, frozen.secret_key, frozen.token)


class _Silent(Exception):
    """The server stopped answering a request."""


class RequestCancelled(Exception):
    """A request given up because the job was interrupted."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"{operation} cancelled: the job was interrupted")


def _client_error(status: int, body: bytes, operation: str) -> botocore.exceptions.ClientError:
    """An S3 error response as botocore's own exception, with S3's error code."""
    found = {tag.decode(): value.decode(errors="replace") for tag, value in _XML_TAG.findall(body)}
    code = found.get("Code") or str(status)
    response: Any = {
        "Error": {"Code": code, "Message": found.get("Message", "")},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, operation)


def _connection_error(failed: Exception, endpoint: str) -> botocore.exceptions.BotoCoreError:
    """A CRT network failure as the botocore exception that names the same kind of failure."""
    name = getattr(failed, "name", "") or ""
    if "TLS" in name or "SSL" in name:
        return botocore.exceptions.SSLError(endpoint_url=endpoint, error=failed)
    if "TIMEOUT" in name:
        return botocore.exceptions.ConnectTimeoutError(endpoint_url=endpoint, error=failed)
    if "CLOSED" in name or "RESET" in name or "BROKEN" in name:
        return botocore.exceptions.ConnectionClosedError(endpoint_url=endpoint)
    return botocore.exceptions.EndpointConnectionError(endpoint_url=endpoint, error=failed)
