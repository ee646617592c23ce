"""Access policies as data: pure functions from bucket names to policy documents.

No Pulumi here, so tests can apply the very same documents to a live S3 server and check
their effect. Role policies are IAM documents; MinIO's IAM accepts the same grammar, so one
document serves both backends. Bucket policies are AWS-only: MinIO bucket policies govern
anonymous access only, so on MinIO the deny rules live in the role policies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lakeops.contract import PIPELINE_ROLES
from lakeops.layout import LAYOUT, StorageLayer, marker_key

PolicyDocument = dict[str, Any]

BRONZE, SILVER, GOLD = StorageLayer.BRONZE, StorageLayer.SILVER, StorageLayer.GOLD

# Listing and reading. Version and tagging reads let a role download or promote a given
# version (promotion's CopyObject reads the source's tags). Listing versions lets lakeops pin
# what a dataset job reads and notice a bronze object written over since it was first stored.
# Listing is granted under the layer's declared prefixes only (an s3:prefix condition).
LIST_ACTIONS = ("s3:ListBucket", "s3:ListBucketVersions")
LOCATE_ACTIONS = ("s3:GetBucketLocation",)
READ_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
)
# Writing, including what managed multipart uploads need. Tags are writable only where
# objects may change: an append-only layer's objects keep the tags they were written with.
WRITE_ACTIONS = (
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
TAG_WRITE_ACTIONS = ("s3:PutObjectTagging",)
# Replacing data is allowed on silver and gold; a delete there only adds a delete marker,
# since versioning keeps history. Removing a version for good is never granted to a role.
DELETE_CURRENT_ACTIONS = ("s3:DeleteObject",)
VERSION_DELETE_ACTION = "s3:DeleteObjectVersion"
DESTRUCTIVE_ACTIONS = ("s3:DeleteObject", VERSION_DELETE_ACTION)
# Bucket settings that can expire, unprotect or unlock an append-only layer's objects (AWS's
# PutBucketLifecycleConfiguration documentation: deny s3:PutLifecycleConfiguration as well as
# the deletes to keep users from removing objects).
BUCKET_CONFIGURATION_ACTIONS = (
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
)


@dataclass(frozen=True)
class RoleSpec:
    reads: tuple[StorageLayer, ...]
    writes: tuple[StorageLayer, ...]
    purpose: str


ROLES: Mapping[str, RoleSpec] = {
    # Ingest reads bronze only to recognise a re-upload of identical content.
    "ingest": RoleSpec(reads=(BRONZE,), writes=(BRONZE,), purpose="write bronze, never delete"),
    "transform": RoleSpec(
        reads=(BRONZE, SILVER), writes=(SILVER,), purpose="read bronze, read and write silver"
    ),
    "publish": RoleSpec(
        reads=(SILVER, GOLD), writes=(GOLD,), purpose="read silver, read and write gold"
    ),
    "analyst": RoleSpec(reads=(GOLD,), writes=(), purpose="read gold only"),
}
if tuple(ROLES) != PIPELINE_ROLES:
    raise RuntimeError(f"ROLES {tuple(ROLES)} must match lakeops.contract.PIPELINE_ROLES")


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def prefix_arns(layer: StorageLayer, bucket: str) -> list[str]:
    """Object ARNs under each of the layer's declared prefixes."""
    return [f"{bucket_arn(bucket)}/{prefix}*" for prefix in LAYOUT[layer].prefixes]


def marker_arns(layer: StorageLayer, bucket: str) -> list[str]:
    """Object ARNs of the layer's prefix markers, and nothing else."""
    return [f"{bucket_arn(bucket)}/{marker_key(prefix)}" for prefix in LAYOUT[layer].prefixes]


def _sid(*words: str) -> str:
    return "".join(word.capitalize() for word in words)


@dataclass(frozen=True)
class KmsKey:
    """The SSE-KMS key of the buckets, which every role must be able to use through S3."""

    arn: str
    region: str


def role_policy(
    role: str, buckets: Mapping[StorageLayer, str], kms: KmsKey | None = None
) -> PolicyDocument:
    """The IAM policy of a pipeline role, scoped by bucket and by the layout's prefixes."""
    spec = ROLES[role]
    statements: list[dict[str, Any]] = []
    touched = [layer for layer in StorageLayer if layer in spec.reads or layer in spec.writes]
    statements.append(
        {
            "Sid": "LocateLayerBuckets",
            "Effect": "Allow",
            "Action": list(LOCATE_ACTIONS),
            "Resource": [bucket_arn(buckets[layer]) for layer in touched],
        }
    )
    for layer in touched:
        # A listing without a prefix, or outside the declared ones, is refused: s3:prefix is
        # absent then, and StringLike fails on an absent key.
        statements.append(
            {
                "Sid": _sid("list", layer.value),
                "Effect": "Allow",
                "Action": list(LIST_ACTIONS),
                "Resource": bucket_arn(buckets[layer]),
                "Condition": {
                    "StringLike": {"s3:prefix": [f"{p}*" for p in LAYOUT[layer].prefixes]}
                },
            }
        )
    for layer in spec.reads:
        statements.append(
            {
                "Sid": _sid("read", layer.value),
                "Effect": "Allow",
                "Action": list(READ_ACTIONS),
                "Resource": prefix_arns(layer, buckets[layer]),
            }
        )
    for layer in spec.writes:
        actions = list(WRITE_ACTIONS)
        if not LAYOUT[layer].append_only:
            actions += TAG_WRITE_ACTIONS + DELETE_CURRENT_ACTIONS
        statements.append(
            {
                "Sid": _sid("write", layer.value),
                "Effect": "Allow",
                "Action": actions,
                "Resource": prefix_arns(layer, buckets[layer]),
            }
        )
    if kms is not None:
        # SSE-KMS: writing needs a data key, reading needs decryption; only by way of S3.
        actions = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if spec.writes else [])
        statements.append(
            {
                "Sid": "UseTheLakeKeyThroughS3",
                "Effect": "Allow",
                "Action": actions,
                "Resource": kms.arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{kms.region}.amazonaws.com"}},
            }
        )
    # An explicit deny outranks any allow another policy might add to the same principal.
    statements.append(
        {
            "Sid": "DenyDeletingBronze",
            "Effect": "Deny",
            "Action": list(DESTRUCTIVE_ACTIONS),
            "Resource": [f"{bucket_arn(buckets[BRONZE])}/*"],
        }
    )
    # On every bucket, whatever the role may write. On MinIO this deny is what stops a version
    # delete at all: cmd/auth-handler.go (authorizeRequest) lets a DeleteObject with a versionId
    # through on s3:DeleteObject alone, and checks s3:DeleteObjectVersion with DenyOnly, so
    # only an explicit Deny refuses it. On AWS it also outranks any allow added elsewhere.
    statements.append(
        {
            "Sid": "DenyRemovingVersions",
            "Effect": "Deny",
            "Action": [VERSION_DELETE_ACTION],
            "Resource": [f"{bucket_arn(buckets[layer])}/*" for layer in StorageLayer],
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


def deny_insecure_transport(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn(bucket), f"{bucket_arn(bucket)}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _principal_condition(operator: str, principals: Sequence[str]) -> dict[str, Any]:
    return {operator: {"aws:PrincipalArn": list(principals)}} if principals else {}


def deny_object_deletion(bucket: str, break_glass_principals: Sequence[str]) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": "DenyObjectDeletion",
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(DESTRUCTIVE_ACTIONS),
        "Resource": f"{bucket_arn(bucket)}/*",
    }
    exempt = _principal_condition("ArnNotLike", break_glass_principals)
    if exempt:
        statement["Condition"] = exempt
    return statement


def bucket_policy(
    layer: StorageLayer,
    bucket: str,
    break_glass_principals: Sequence[str] = (),
    deployer_principals: Sequence[str] = (),
) -> PolicyDocument:
    """The AWS bucket policy of a layer: TLS only. On bronze, for all but break-glass
    principals: no deletes, no object creation without ``If-None-Match`` (no overwrites,
    whichever client writes), and no change to the settings that keep objects (lifecycle,
    policy, versioning, object lock). The deployers may change those settings and write the
    prefix markers (``BucketObjectv2`` sends no If-None-Match), nothing else."""
    statements = [deny_insecure_transport(bucket)]
    if not LAYOUT[layer].append_only:
        return {"Version": "2012-10-17", "Statement": statements}
    statements.append(deny_object_deletion(bucket, break_glass_principals))
    unconditional_creation = {
        "Null": {"s3:if-none-match": "true"},
        # s3:ObjectCreationOperation keeps the deny off CreateMultipartUpload, UploadPart and
        # UploadPartCopy, which cannot carry the header.
        "Bool": {"s3:ObjectCreationOperation": "true"},
    }
    administrators = [*deployer_principals, *break_glass_principals]
    statements.append(
        {
            "Sid": "DenyUnconditionalObjectCreation",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn(bucket)}/*",
            "Condition": {
                **unconditional_creation,
                **_principal_condition("ArnNotLike", administrators),
            },
        }
    )
    if deployer_principals:
        # The deployers' exemption above covers the prefix markers only.
        statements.append(
            {
                "Sid": "DenyDeployerWritesOutsideMarkers",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "NotResource": marker_arns(layer, bucket),
                "Condition": {
                    **unconditional_creation,
                    **_principal_condition("ArnLike", deployer_principals),
                },
            }
        )
    configuration: dict[str, Any] = {
        "Sid": "DenyBucketConfigurationChanges",
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(BUCKET_CONFIGURATION_ACTIONS),
        "Resource": bucket_arn(bucket),
    }
    if administrators:
        configuration["Condition"] = _principal_condition("ArnNotLike", administrators)
    statements.append(configuration)
    return {"Version": "2012-10-17", "Statement": statements}


def access_log_bucket_policy(
    log_bucket: str,
    source_buckets: Sequence[str],
    account_id: str,
    break_glass_principals: Sequence[str] = (),
) -> PolicyDocument:
    """Lets S3's logging service write access logs for the lake's buckets, over TLS only.
    Bucket names are global, so the source account is pinned too."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            deny_insecure_transport(log_bucket),
            # Logs are evidence: only their lifecycle expiry removes them (S3 applies lifecycle
            # rules itself, not as a principal a bucket policy names).
            deny_object_deletion(log_bucket, break_glass_principals),
            {
                "Sid": "AllowS3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn(log_bucket)}/*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": [bucket_arn(b) for b in source_buckets]},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
        ],
    }
