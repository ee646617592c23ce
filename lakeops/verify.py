"""Comparing the live lake with the declared layout and the stack's intent.

One row per check. A layer whose bucket is missing gets its other checks marked as skipped,
which counts as drift. A check the credentials may not make (a pipeline role's, say) is "not
checked", which is no drift: verify needs the admin login. Encryption and the public-access
block are checked on AWS only: MinIO encrypts only with a KMS configured, and has no
public-access block API.

Bronze gets two more: whether the server itself refuses overwrites under ``If-None-Match``
(Ceph RGW 16.2 does not, on versioned buckets), and whether any bronze key holds more than one
version, which means something wrote over it (a client with the root login, say).

"conditional writes" sends bronze's first prefix marker again under ``If-None-Match: *`` with
a wrong ``Content-MD5`` (lakeops.ops.conditional), which a server refuses whether it keeps the
rule (412) or not (BadDigest): nothing is written. A missing marker is not probed (the answer
would mean nothing). "written over" lists bronze's versions up to ``history_limit`` (``verify
--history``: all of them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from lakeops.contract import Backend, LifecycleIntent
from lakeops.errors import AccessDeniedError, CredentialsRejectedError
from lakeops.layout import LAYOUT, StorageLayer, is_marker_key, marker_key
from lakeops.s3errors import (
    CREDENTIALS_REJECTED_CODES,
    DENIED_CODES,
    NOT_FOUND_CODES,
    Target,
    credentials_rejected,
    error_code,
    translate,
)

if TYPE_CHECKING:
    from lakeops.lake import Lake

PASS, FAIL, SKIP = "pass", "FAIL", "skipped"
# Access denied: the check could not be made (no drift; verify needs the admin login).
NOT_CHECKED = "not checked"
# How many written-over bronze keys a row names.
_NAMED_KEYS = 5
# How many bronze versions the "written over" check lists by default (ten list requests).
HISTORY_LIMIT = 10_000
# The permission each request needs, for the "not checked" rows.
_PERMISSIONS = {
    "HeadBucket": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "HeadObject": "s3:GetObject",
    "ListObjectVersions": "s3:ListBucketVersions",
}
_MISSING_CONFIG = {
    "NoSuchLifecycleConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
}


@dataclass(frozen=True)
class Check:
    check: str
    layer: str
    bucket: str
    result: str  # PASS, FAIL or SKIP
    detail: str

    @property
    def ok(self) -> bool:
        return self.result == PASS

    @property
    def drift(self) -> bool:
        """What the row found differs from the layout (a check not made is no drift)."""
        return self.result in (FAIL, SKIP)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Denied(Exception):
    """Access denied to the request ``action``."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


class _Layer:
    """The checks of one layer's bucket."""

    def __init__(self, lake: Lake, layer: StorageLayer, history_limit: int | None) -> None:
        self.lake = lake
        self.layer = layer
        self.bucket = lake.config.bucket(layer)
        self.client = lake.client
        self.history_limit = history_limit

    def row(self, check: str, ok: bool, detail: str) -> Check:
        return Check(check, self.layer.value, self.bucket, PASS if ok else FAIL, detail)

    def denied(self, check: str, action: str) -> Check:
        """The row of a check the credentials may not make."""
        role = self.lake.config.role
        who = f"role {role!r}" if role else "these credentials"
        lacks = _PERMISSIONS.get(action, action)
        request = "" if lacks == f"s3:{action}" else f" ({action})"
        detail = f"access denied: {who} lacks {lacks}{request}"
        return Check(check, self.layer.value, self.bucket, NOT_CHECKED, detail)

    def call(self, action: str, method: Callable[..., Any], **kwargs: Any) -> dict[str, Any] | None:
        """The response, None when the configuration does not exist; raises on other errors."""
        try:
            return dict(method(Bucket=self.bucket, **kwargs))
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            if code in _MISSING_CONFIG:
                return None
            if code in DENIED_CODES:
                raise _Denied(action) from exc
            raise translate(exc, self._target(action)) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, self._target(action)) from exc

    def _target(self, action: str) -> Target:
        config = self.lake.config
        return Target(action, config.endpoint_label, config.backend, self.layer, self.bucket)

    def checks(self) -> Iterator[Check]:
        exists = self.bucket_exists()
        yield exists
        planned: list[tuple[str, Callable[[], Check]]] = [
            ("versioning", self.versioning),
            *((f"prefix {p}", partial(self.prefix, p)) for p in LAYOUT[self.layer].prefixes),
            ("lifecycle", self.lifecycle),
        ]
        if self.lake.config.backend is Backend.AWS:
            planned += [
                ("encryption", self.encryption),
                ("public access block", self.public_access_block),
            ]
        if LAYOUT[self.layer].append_only:
            planned += [
                ("conditional writes", self.conditional_writes),
                ("written over", self.written_over),
            ]
        for name, check in planned:
            if exists.result == NOT_CHECKED:
                detail = "access denied to the bucket"
                yield Check(name, self.layer.value, self.bucket, NOT_CHECKED, detail)
                continue
            if not exists.ok:
                yield Check(name, self.layer.value, self.bucket, SKIP, "bucket missing")
                continue
            try:
                yield check()
            except _Denied as denied:
                yield self.denied(name, denied.action)

    def bucket_exists(self) -> Check:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in NOT_FOUND_CODES | DENIED_CODES:
                raise translate(exc, self._target("check")) from exc
            return self._why_head_bucket_failed()
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, self._target("check")) from exc
        return self.row("bucket exists", True, "")

    def _why_head_bucket_failed(self) -> Check:
        """A HEAD has no body: ask again with a listing, whose error says whether the bucket
        is missing, the policy refuses, or the credentials are rejected (which is no drift,
        and raises CredentialsRejectedError like every other command)."""
        try:
            self.client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            if code in NOT_FOUND_CODES:
                return self.row(
                    "bucket exists", False, "missing: run `make up` (dev) or `pulumi up`"
                )
            if code in CREDENTIALS_REJECTED_CODES:
                raise credentials_rejected(self._target("check"), code) from exc
            if code in DENIED_CODES:
                return self.denied("bucket exists", "HeadBucket")
            raise translate(exc, self._target("check")) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, self._target("check")) from exc
        # The listing proves the bucket exists; HEAD needs the same s3:ListBucket on AWS and
        # MinIO, so a policy or server that refuses only the HEAD is odd, and worth showing.
        return self.row("bucket exists", True, "HeadBucket refused, listing allowed")

    def versioning(self) -> Check:
        status = (self.call("GetBucketVersioning", self.client.get_bucket_versioning) or {}).get(
            "Status"
        )
        return self.row("versioning", status == "Enabled", status or "never enabled")

    def prefix(self, prefix: str) -> Check:
        listing = (
            self.call("ListObjectsV2", self.client.list_objects_v2, Prefix=prefix, MaxKeys=1) or {}
        )
        present = bool(listing.get("KeyCount") or listing.get("Contents"))
        detail = "" if present else f"no objects under it (marker {marker_key(prefix)} missing)"
        return self.row(f"prefix {prefix}", present, detail)

    def lifecycle(self) -> Check:
        config = self.call(
            "GetBucketLifecycleConfiguration", self.client.get_bucket_lifecycle_configuration
        )
        if config is None:
            return self.row("lifecycle", False, "no lifecycle configuration")
        rules = [r for r in config.get("Rules", []) if r.get("Status") == "Enabled"]
        intent = self.lake.config.lifecycle
        problems = _lifecycle_problems(rules, intent, self.lake.config.backend, self.layer)
        if problems:
            return self.row("lifecycle", False, "; ".join(problems))
        return self.row("lifecycle", True, f"{len(rules)} rule(s)")

    def encryption(self) -> Check:
        config = self.call("GetBucketEncryption", self.client.get_bucket_encryption)
        rules = ((config or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules", [])
        algorithms = [
            rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules
        ]
        shown = ", ".join(filter(None, algorithms)) or "none"
        declared = self.lake.config.default_encryption
        if declared is not None:
            # Every AWS bucket reports SSE-S3 at least, so only the declared kind says much.
            ok = declared in algorithms
            return self.row(
                "encryption", ok, shown if ok else f"{shown}, the stack declares {declared}"
            )
        ok = any(algorithm in ("AES256", "aws:kms", "aws:kms:dsse") for algorithm in algorithms)
        return self.row("encryption", ok, shown)

    def public_access_block(self) -> Check:
        config = self.call("GetPublicAccessBlock", self.client.get_public_access_block)
        flags = (config or {}).get("PublicAccessBlockConfiguration") or {}
        names = (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
        off = [name for name in names if not flags.get(name)]
        return self.row(
            "public access block", not off, f"off: {', '.join(off)}" if off else "all four on"
        )

    def conditional_writes(self) -> Check:
        # The probe asks about the layer's first marker, and tells nothing where it is missing.
        marker = marker_key(LAYOUT[self.layer].prefixes[0])
        try:
            self.client.head_object(Bucket=self.bucket, Key=marker)
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            if code in DENIED_CODES:
                return self.denied("conditional writes", "HeadObject")
            if code not in NOT_FOUND_CODES:
                raise translate(exc, self._target("check")) from exc
            detail = f"not probed: marker {marker} missing (verify creates no object)"
            return Check("conditional writes", self.layer.value, self.bucket, SKIP, detail)
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, self._target("check")) from exc
        enforced = self.lake.enforces_conditional_writes(self.layer)
        if enforced is None:
            role = self.lake.config.role
            return Check(
                "conditional writes",
                self.layer.value,
                self.bucket,
                NOT_CHECKED,
                f"could not tell: {f'role {role!r}' if role else 'these credentials'} may "
                "lack s3:PutObject, or the probe failed (see --debug)",
            )
        detail = (
            "the server refuses to overwrite (If-None-Match)"
            if enforced
            else "the server IGNORES If-None-Match: append-only holds only for lakeops, which "
            "looks before each write (racy); any other client can overwrite"
        )
        return self.row("conditional writes", enforced, detail)

    def written_over(self) -> Check:
        """Keys with more than one version (or a delete marker): bronze is append-only.
        Lists the first ``history_limit`` versions (None: all), and says so."""
        over: list[str] = []
        count, previous, seen, listed = 0, "", 0, 0
        limit = self.history_limit
        try:
            for version in self.lake.iter_versions(self.layer):
                listed += 1
                if limit is not None and listed > limit:
                    break
                if is_marker_key(self.layer, version.key):
                    continue
                if version.key == previous:
                    seen += 1
                    if seen == 2:
                        count += 1
                        if len(over) < _NAMED_KEYS:
                            over.append(version.key)
                else:
                    previous, seen = version.key, 1
        except CredentialsRejectedError:
            raise
        except AccessDeniedError:
            return self.denied("written over", "ListObjectVersions")
        scope = (
            f" among the first {limit:,} versions (`lakeops verify --history` lists them all)"
            if limit is not None and listed > limit
            else ""
        )
        if not count:
            return self.row("written over", True, f"every key has one version{scope}")
        more = f" and {count - len(over)} more" if count > len(over) else ""
        return self.row(
            "written over",
            False,
            f"{count} key(s) have more than one version{scope}: {', '.join(over)}{more} "
            "(`lakeops versions bronze KEY`)",
        )


def _days_problem(
    rules: list[dict[str, Any]], element: str, field: str, declared: int | None, what: str
) -> str | None:
    """Whether some rule has ``element`` (with ``field`` days as declared, when declared)."""
    found = [r[element].get(field) for r in rules if r.get(element)]
    if not found:
        return f"no rule {what}"
    if declared is not None and declared not in found:
        return f"a rule {what} after {found} days, the stack declares {declared}"
    return None


def _lifecycle_problems(
    rules: list[dict[str, Any]],
    intent: LifecycleIntent | None,
    backend: Backend,
    layer: StorageLayer,
) -> list[str]:
    checks = [
        (
            "NoncurrentVersionExpiration",
            "NoncurrentDays",
            intent.noncurrent_version_days if intent else None,
            "expires noncurrent versions",
        )
    ]
    if backend is Backend.AWS:
        checks.append(
            (
                "AbortIncompleteMultipartUpload",
                "DaysAfterInitiation",
                intent.abort_incomplete_multipart_days if intent else None,
                "aborts incomplete multipart uploads",
            )
        )
    problems = [p for p in (_days_problem(rules, *check) for check in checks) if p]
    bronze_transition = intent.bronze_transition_days if intent else None
    if backend is Backend.AWS and LAYOUT[layer].append_only and intent and bronze_transition:
        transitions = [t for r in rules for t in r.get("Transitions", [])]
        wanted = {"Days": bronze_transition, "StorageClass": intent.bronze_storage_class}
        if not any({k: t.get(k) for k in wanted} == wanted for t in transitions):
            problems.append(
                f"no transition to {intent.bronze_storage_class} after {bronze_transition} days"
            )
    return problems


def verify_lake(lake: Lake, *, history_limit: int | None = HISTORY_LIMIT) -> list[Check]:
    """Every check of every layer, in layout order; the "written over" check lists the first
    ``history_limit`` bronze versions (None: all)."""
    return [
        check for layer in StorageLayer for check in _Layer(lake, layer, history_limit).checks()
    ]
