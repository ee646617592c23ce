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
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:key/[A-Za-z0-9-]+$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::(?P<account>\d{12}):\S+$")
# S3 allows 50 tags on a bucket, IAM 50 on a policy or role; the program adds these three.
PROGRAM_TAGS = ("managed-by", "system", "lake-layer")
MAX_RESOURCE_TAGS = 50
# What a role's trust policy may grant: assuming the role, and the session details that go with it.
TRUST_ACTIONS = frozenset(
    {
        "sts:AssumeRole",
        "sts:AssumeRoleWithWebIdentity",
        "sts:AssumeRoleWithSAML",
        "sts:TagSession",
        "sts:SetSourceIdentity",
    }
)
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
    """Object lock on bronze, with a default retention. AWS enables it on an existing bucket
    but never disables it; MinIO chooses it when the bucket is created."""

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
    # The one AWS account the stack deploys into: the provider refuses any other
    # (allowed_account_ids), whatever AWS_PROFILE the shell has.
    account_id: str = ""
    # Who runs `pulumi up` (role ARNs, wildcards allowed): the only principals, with the
    # break-glass ones, that may change bronze's bucket configuration and write its markers.
    deployer_principals: Sequence[str] = ()
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
        if not _ACCOUNT_ID.match(self.account_id):
            raise LakeArgsError(
                f"lake:accountId must be the 12-digit ID of the AWS account the stack deploys "
                f"into, not {self.account_id!r}: the provider then refuses to act in any other "
                "account, whatever AWS_PROFILE the shell has. Set it in Pulumi.prod.yaml."
            )
        self._check_kms_key()
        self._check_principals()
        unknown = set(self.role_trust_policies) - set(ROLES)
        if unknown:
            raise LakeArgsError(
                f"roleTrust names unknown roles {sorted(unknown)}; roles are {sorted(ROLES)}."
            )
        for role, document in self.role_trust_policies.items():
            check_trust_policy(role, document)
        self._check_tags()

    def _check_kms_key(self) -> None:
        if self.kms_key_id is None:
            return
        found = _KMS_KEY_ARN.match(self.kms_key_id)
        if not found:
            raise LakeArgsError(
                f"kmsKeyId {self.kms_key_id!r} is not a key ARN "
                "(arn:aws:kms:<region>:<account>:key/<id>); the role policies need the key's ARN."
            )
        if found["region"] != self.region:
            raise LakeArgsError(
                f"kmsKeyId {self.kms_key_id!r} is a key in {found['region']}, but the stack's "
                f"buckets are in {self.region} (aws:region): S3 encrypts only with a key in the "
                "bucket's own region. Name a key (or a multi-Region replica) in "
                f"{self.region}."
            )

    def _check_principals(self) -> None:
        if not self.deployer_principals:
            raise LakeArgsError(
                "lake:deployerPrincipals must name who runs `pulumi up` for this stack (for "
                "example arn:aws:iam::<account>:role/lake-deployer): bronze's bucket policy "
                "refuses configuration changes to everyone else but the break-glass principals."
            )
        for key, principals in (
            ("deployerPrincipals", self.deployer_principals),
            ("breakGlassPrincipals", self.break_glass_principals),
        ):
            for principal in principals:
                found = _PRINCIPAL_ARN.match(principal)
                if not found:
                    raise LakeArgsError(
                        f"{key} entry {principal!r} is not an ARN "
                        "(arn:aws:iam::<account>:role/<name>)."
                    )
                if found["account"] != self.account_id:
                    raise LakeArgsError(
                        f"{key} entry {principal!r} is in account {found['account']}, not in "
                        f"lake:accountId {self.account_id}."
                    )

    def _check_tags(self) -> None:
        clashing = sorted(set(self.tags) & set(PROGRAM_TAGS))
        if clashing:
            raise LakeArgsError(f"lake:tags may not set {clashing}: the program sets them.")
        if len(self.tags) + len(PROGRAM_TAGS) > MAX_RESOURCE_TAGS:
            raise LakeArgsError(
                f"lake:tags has {len(self.tags)} tags; S3 buckets and IAM policies take "
                f"{MAX_RESOURCE_TAGS}, {len(PROGRAM_TAGS)} of them the program's own, so at most "
                f"{MAX_RESOURCE_TAGS - len(PROGRAM_TAGS)}."
            )


def check_trust_policy(role: str, document: Mapping[str, Any]) -> None:
    """A role's trust policy lets named principals assume it, and does nothing else.

    IAM accepts ``"Principal": "*"`` in a trust policy (anyone, in any account, may then assume
    the role unless a condition stops them), so the program refuses it, as it refuses any
    statement that is not an Allow of the sts assume actions."""
    where = f"roleTrust.{role}"
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise LakeArgsError(f"{where} is not a trust policy: it needs a 'Statement' list.")
    for number, statement in enumerate(statements):
        at = f"{where} statement {number}"
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            raise LakeArgsError(f"{at}: only Allow statements belong in a trust policy.")
        if "NotPrincipal" in statement or "NotAction" in statement:
            raise LakeArgsError(f"{at}: NotPrincipal and NotAction grant too much; name them.")
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else actions
        if not isinstance(actions, list) or not actions or not set(actions) <= TRUST_ACTIONS:
            raise LakeArgsError(f"{at}: Action {actions!r} must be among {sorted(TRUST_ACTIONS)}.")
        if _has_wildcard(statement.get("Principal")):
            raise LakeArgsError(
                f"{at}: Principal {statement.get('Principal')!r} lets anyone assume the role; "
                "name the service, account or role that may."
            )


def _has_wildcard(principal: object) -> bool:
    if principal is None:
        return True  # no principal: not a trust policy IAM would accept either
    if isinstance(principal, str):
        return "*" in principal
    if isinstance(principal, Mapping):
        return any(_has_wildcard(value) for value in principal.values())
    if isinstance(principal, list):
        return not principal or any(_has_wildcard(value) for value in principal)
    return True


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
