"""What every operation works with: one configuration, one client, shared transfer managers.

One :class:`Context` per ``Lake``. Its client and transfer managers are thread-safe and built
once, so that a dataset job's workers share one connection pool instead of each building their
own client (the cost of a client is tens of milliseconds and a pool of connections).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import botocore.parsers
import s3transfer.exceptions
from boto3.s3.transfer import create_transfer_manager

from lakeops import crt
from lakeops.client import (
    WrittenVersions,
    make_s3_client,
    make_session,
    make_writes_conditional,
    send_small_bodies_at_once,
)
from lakeops.config import LakeConfig
from lakeops.errors import ConfigurationError
from lakeops.layout import LAYOUT, StorageLayer
from lakeops.s3errors import (
    DENIED_CODES,
    NOT_FOUND_CODES,
    Target,
    answers_like_s3,
    error_code,
    explain_forbidden,
    head_like_s3,
    missing_bucket,
    not_s3,
    translate,
)
from lakeops.transfers import TransferSettings

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client
    from s3transfer.futures import TransferFuture
    from s3transfer.manager import TransferManager

    from lakeops.crt import CrtTransport

# ResponseParserError: an answer that is not S3's XML (another kind of server at the URL).
S3_FAILURES = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    botocore.parsers.ResponseParserError,
)
# What a managed transfer's future may raise besides botocore's own errors.
TRANSFER_FAILURES = (
    *S3_FAILURES,
    s3transfer.exceptions.RetriesExceededError,
    s3transfer.exceptions.S3UploadFailedError,
    s3transfer.exceptions.FatalError,
)


class Context:
    def __init__(self, config: LakeConfig, transfer: TransferSettings) -> None:
        self.config = config
        self.transfer = transfer
        self.session: boto3.session.Session = make_session(config)
        self.client: S3Client = make_s3_client(
            config, self.session, pool_connections=transfer.pool_connections
        )
        self.written = WrittenVersions(self.client)
        send_small_bodies_at_once(self.client)
        for layer, spec in LAYOUT.items():
            if spec.append_only:
                make_writes_conditional(self.client, config.bucket(layer))
        self._lock = threading.Lock()
        self._managers: dict[str, TransferManager] = {}
        self._futures: set[TransferFuture] = set()
        self._fast: CrtTransport | None = None

    # -- names ---------------------------------------------------------------------------------

    def bucket(self, layer: StorageLayer) -> str:
        return self.config.bucket(layer)

    def uri(self, layer: StorageLayer | str, key: str) -> str:
        return f"s3://{self.config.bucket(layer)}/{key}"

    def target(
        self,
        action: str,
        layer: StorageLayer,
        key: str | None = None,
        version_id: str | None = None,
    ) -> Target:
        return Target(
            action=action,
            endpoint=self.config.endpoint_label,
            backend=self.config.backend,
            layer=layer,
            bucket=self.config.bucket(layer),
            key=key,
            version_id=version_id,
            role=self.config.role,
        )

    @staticmethod
    def object_args(target: Target) -> dict[str, Any]:
        args: dict[str, Any] = {"Bucket": target.bucket, "Key": target.key}
        if target.version_id:
            args["VersionId"] = target.version_id
        return args

    # -- transports ----------------------------------------------------------------------------

    def fast(self) -> CrtTransport | None:
        """The CRT transport dataset jobs send single-request transfers on, or None for boto3
        (LAKEOPS_TRANSPORT=boto3, or awscrt not installed under "auto")."""
        if self.config.transport == "boto3":
            return None
        with self._lock:
            if self._fast is None:
                if not crt.available():
                    if self.config.transport == "crt":
                        raise ConfigurationError(
                            "transport 'crt' needs the AWS Common Runtime, which is not installed.",
                            hint="pip install 'boto3[crt]', or set LAKEOPS_TRANSPORT=boto3.",
                        )
                    return None
                self._fast = crt.CrtTransport(
                    self.config, self.session, connections=self.transport_connections
                )
            return self._fast

    @property
    def transport_connections(self) -> int:
        return max(self.transfer.workers * 2, crt.DEFAULT_CONNECTIONS)

    def manager(self, kind: str = "files") -> TransferManager:
        """The shared s3transfer manager for files (``files``) or server-side copies
        (``copies``), whose multipart thresholds differ."""
        with self._lock:
            if kind not in self._managers:
                config = self.transfer.for_copy() if kind == "copies" else self.transfer.for_files()
                self._managers[kind] = create_transfer_manager(self.client, config)
            return self._managers[kind]

    def run_transfer(self, kind: str, submit: Callable[[TransferManager], TransferFuture]) -> Any:
        """Run one managed transfer to its end; :meth:`close` with ``cancel`` gives it up."""
        future = submit(self.manager(kind))
        with self._lock:
            self._futures.add(future)
        try:
            return future.result()
        finally:
            with self._lock:
                self._futures.discard(future)

    def close(self, *, cancel: bool = False) -> None:
        """Stop the transfer managers' threads; with ``cancel``, give up transfers under way
        (multipart uploads are aborted). They are built again on next use."""
        with self._lock:
            managers, self._managers = list(self._managers.values()), {}
            futures = list(self._futures) if cancel else []
            fast, self._fast = (self._fast, None) if cancel else (None, self._fast)
        if fast is not None:
            fast.cancel()
        # Each future, not the manager: s3transfer 0.19's shutdown(cancel=True) passes its
        # arguments on in the wrong order and raises TypeError.
        for future in futures:
            future.cancel()
        for manager in managers:
            manager.shutdown()

    # -- reading an object's head --------------------------------------------------------------

    def head(self, target: Target, *, fast: bool = False) -> dict[str, Any]:
        """The HEAD of an object that must exist; a lakeops error naming it otherwise.
        ``fast`` sends it on the CRT transport when there is one; a refusal is then asked
        again through botocore, whose answer the error explains."""
        assert target.bucket is not None
        transport = self.fast() if fast else None
        if transport is not None:
            assert target.key is not None
            try:
                return transport.head(
                    target.bucket, target.key, version_id=target.version_id
                ).as_head()
            except botocore.exceptions.ClientError:
                pass
            except (crt.RequestCancelled, botocore.exceptions.BotoCoreError) as exc:
                raise translate(exc, target) from exc
        try:
            return _from_s3(self.client.head_object(**self.object_args(target)), target)
        except botocore.exceptions.ClientError as exc:
            # A HEAD has no body, so a 404 does not say whether the bucket or the key is missing,
            # nor a 403 whether the policy or the credentials refused it.
            code = error_code(exc)
            if not answers_like_s3(exc):
                raise not_s3(target) from exc
            if code in NOT_FOUND_CODES and not self.bucket_exists(target.bucket):
                raise missing_bucket(target) from exc
            if code in DENIED_CODES:
                raise explain_forbidden(self.client, target, self.object_args(target)) from exc
            raise translate(exc, target) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, target) from exc

    def peek(self, target: Target, *, fast: bool = False) -> dict[str, Any] | None:
        """The HEAD of an object that may not exist; None when absent. A refused HEAD is an
        error: who looks before writing to bronze must not take "not allowed to look" for
        "nothing there" (on AWS, a role without s3:ListBucket gets 403 for a missing key).
        ``fast`` sends it on the CRT transport when there is one: a dataset job's look before
        each bronze write costs a third of botocore's CPU there."""
        transport = self.fast() if fast else None
        try:
            if transport is not None:
                assert target.bucket is not None and target.key is not None
                return transport.head(
                    target.bucket, target.key, version_id=target.version_id
                ).as_head()
            return _from_s3(self.client.head_object(**self.object_args(target)), target)
        except crt.RequestCancelled as exc:
            raise translate(exc, target) from exc
        except botocore.exceptions.ClientError as exc:
            if not answers_like_s3(exc):
                raise not_s3(target) from exc
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            if error_code(exc) in DENIED_CODES:
                raise explain_forbidden(self.client, target, self.object_args(target)) from exc
            raise translate(exc, target) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, target) from exc

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self.client.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            return error_code(exc) not in NOT_FOUND_CODES
        return True


def _from_s3(response: Any, target: Target) -> dict[str, Any]:
    if not head_like_s3(response):
        raise not_s3(target)
    return dict(response)
