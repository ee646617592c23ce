"""Typed arguments of the lake component. Another Pulumi program can build these directly."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from lakeinfra.catalog import CatalogArgs
from lakeinfra.policies import ROLES
from lakeops.contract import Backend, LifecycleIntent
from lakeops.layout import LAYOUT, StorageLayer

_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}[a-z0-9]$|^[a-z0-9]$")
OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
# S3 refuses lifecycle transitions to the infrequent-access classes before 30 days.
_MINIMUM_TRANSITION_DAYS = {"STANDARD_IA": 30, "ONEZONE_IA": 30}
# Storage classes a lifecycle rule may move bronze to.
TRANSITION_CLASSES = (
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
)


def prefixed(prefix: str | None, name: str) -> str:
    """Names of buckets and principals: "<prefix>-<name>" when a prefix is set."""
    return f"{prefix}-{name}" if prefix else name


def minio_endpoint(server: str, ssl: bool, endpoint: str | None = None) -> str:
    """The S3 URL clients use: the configured one, else the server Pulumi reaches."""
    return endpoint or f"{'https' if ssl else 'http'}://{server}"


class LakeArgsError(ValueError):
    """A lake argument (or the stack config behind it) is invalid."""


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LakeArgsError(f"{name} must be a whole number of days >= 1, not {value!r}.")


@dataclass(frozen=True)
class ObjectLockArgs:
    """Object lock on bronze. It can only be chosen when the bucket is created."""

    mode: str = "GOVERNANCE"
    days: int = 365

    def __post_init__(self) -> None:
        if self.mode not in OBJECT_LOCK_MODES:
            raise LakeArgsError(
                f"bronzeObjectLockMode must be one of {', '.join(OBJECT_LOCK_MODES)}, "
                f"not {self.mode!r}."
            )
        _positive("bronzeObjectLockDays", self.days)


@dataclass(frozen=True)
class MinioAdmin:
    """How the program itself reaches MinIO, to write what the provider cannot (the prefix
    markers, see lakeinfra.markers): the provider's server URL and its login."""

    url: str
    user: str
    password: pulumi.Input[str]


@dataclass(frozen=True)
class MinioLakeArgs:
    # The S3 API URL that clients (lakeops) use; exported as the `endpoint` output.
    endpoint: str
    admin: MinioAdmin
    region: str = "us-east-1"


@dataclass(frozen=True)
class AwsLakeArgs:
    region: str
    kms_key_id: str | None = None
    break_glass_principals: Sequence[str] = ()
    bronze_transition_days: int = 30
    bronze_storage_class: str = "STANDARD_IA"
    abort_incomplete_multipart_days: int = 7
    access_logs: bool = False
    # Role name -> assume-role (trust) policy. A role is created for each one given.
    role_trust_policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _positive("bronzeTransitionDays", self.bronze_transition_days)
        _positive("abortIncompleteMultipartDays", self.abort_incomplete_multipart_days)
        if self.bronze_storage_class not in TRANSITION_CLASSES:
            raise LakeArgsError(
                f"bronzeStorageClass must be one of {', '.join(TRANSITION_CLASSES)}, "
                f"not {self.bronze_storage_class!r}."
            )
        minimum = _MINIMUM_TRANSITION_DAYS.get(self.bronze_storage_class, 0)
        if self.bronze_transition_days < minimum:
            raise LakeArgsError(
                f"bronzeTransitionDays must be at least {minimum} for "
                f"{self.bronze_storage_class}; S3 refuses earlier transitions to it."
            )
        if self.kms_key_id is not None and not _KMS_KEY_ARN.match(self.kms_key_id):
            raise LakeArgsError(
                f"kmsKeyId {self.kms_key_id!r} is not a key ARN "
                "(arn:aws:kms:<region>:<account>:key/<id>); the role policies need the key's ARN."
            )
        for principal in self.break_glass_principals:
            if not principal.startswith("arn:"):
                raise LakeArgsError(
                    f"breakGlassPrincipals entry {principal!r} is not an ARN "
                    "(arn:aws:iam::<account>:role/<name>)."
                )
        unknown = set(self.role_trust_policies) - set(ROLES)
        if unknown:
            raise LakeArgsError(
                f"roleTrust names unknown roles {sorted(unknown)}; roles are {sorted(ROLES)}."
            )


@dataclass(frozen=True)
class MedallionLakeArgs:
    backend: Backend
    # Bucket names are "<prefix>-<name>" when set (S3 names are global), else the layout's.
    bucket_prefix: str | None = None
    noncurrent_version_days: int = 30
    bronze_object_lock: ObjectLockArgs | None = None
    minio: MinioLakeArgs | None = None
    aws: AwsLakeArgs | None = None
    # The table catalog (lakeinfra.catalog): SQLite by default on MinIO, Glue on AWS.
    catalog: CatalogArgs = field(default_factory=CatalogArgs)

    def __post_init__(self) -> None:
        _positive("noncurrentVersionDays", self.noncurrent_version_days)
        self.catalog.resolved_kind(self.backend)
        if self.bucket_prefix is not None and not _PREFIX.match(self.bucket_prefix):
            raise LakeArgsError(
                f"bucketPrefix {self.bucket_prefix!r} must be lower-case letters, digits and "
                "'-', at most 42 characters, so that '<prefix>-curated' is a valid bucket name."
            )
        if self.backend is Backend.MINIO and self.minio is None:
            raise LakeArgsError("backend 'minio' needs MinIO settings (minio:minioServer).")
        if self.backend is Backend.AWS:
            if self.aws is None:
                raise LakeArgsError("backend 'aws' needs AWS settings (aws:region).")
            if self.bucket_prefix is None:
                raise LakeArgsError(
                    "backend 'aws' needs lake:bucketPrefix: S3 bucket names are global, so "
                    "'raw' is taken. Use something like '<org>-<env>'."
                )

    def bucket_name(self, layer: StorageLayer) -> str:
        return prefixed(self.bucket_prefix, LAYOUT[layer].default_bucket)

    def resource_name(self, name: str) -> str:
        """Names of non-bucket things (policies, users, roles), prefixed like the buckets."""
        return prefixed(self.bucket_prefix, name)

    def default_encryption(self) -> str | None:
        """The server-side encryption buckets get by default; None on MinIO (no KMS)."""
        if self.backend is not Backend.AWS or self.aws is None:
            return None
        return "aws:kms" if self.aws.kms_key_id else "AES256"

    def lifecycle_intent(self) -> LifecycleIntent:
        on_aws = self.aws if self.backend is Backend.AWS else None
        return LifecycleIntent(
            noncurrent_version_days=self.noncurrent_version_days,
            abort_incomplete_multipart_days=on_aws.abort_incomplete_multipart_days
            if on_aws
            else None,
            bronze_transition_days=on_aws.bronze_transition_days if on_aws else None,
            bronze_storage_class=on_aws.bronze_storage_class if on_aws else None,
        )
