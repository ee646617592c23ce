"""The lake on AWS S3 (prod): hardened buckets, lifecycle, bucket policies and IAM."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from lakeinfra.args import AwsLakeArgs, ObjectLockArgs
from lakeinfra.policies import (
    ROLES,
    KmsKey,
    access_log_bucket_policy,
    bucket_policy,
    role_policy,
)
from lakeops.layout import LAYOUT, StorageLayer, marker_key

ACCESS_LOG_RETENTION_DAYS = 365


def _harden(name: str, bucket: aws.s3.Bucket, parent: pulumi.Resource) -> list[pulumi.Resource]:
    """Owner-enforced objects and all four public-access blocks, on any bucket we make."""
    child = pulumi.ResourceOptions(parent=parent)
    return [
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        ),
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        ),
    ]


LifecycleRule = aws.s3.BucketLifecycleConfigurationRuleArgsDict
EncryptionRule = aws.s3.BucketServerSideEncryptionConfigurationRuleArgsDict


def _abort_uploads_rule(days: int) -> LifecycleRule:
    return {
        "id": "abort-incomplete-multipart-uploads",
        "status": "Enabled",
        "filter": {"prefix": ""},
        "abort_incomplete_multipart_upload": {"days_after_initiation": days},
    }


class AwsLakeLayer(pulumi.ComponentResource):
    """One layer on S3, with everything a production bucket should have."""

    def __init__(
        self,
        name: str,
        *,
        layer: StorageLayer,
        bucket_name: str,
        noncurrent_version_days: int,
        settings: AwsLakeArgs,
        object_lock: ObjectLockArgs | None,
        access_log_bucket: AwsAccessLogBucket | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("lakeops:aws:LakeLayer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name,
            object_lock_enabled=object_lock is not None,
            force_destroy=False,
            tags={"lake-layer": layer.value},
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        hardening = _harden(name, self.bucket, self)
        public_access_block = hardening[1]
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[_encryption_rule(settings.kms_key_id)],
            opts=child,
        )
        rules: list[LifecycleRule] = [
            _abort_uploads_rule(settings.abort_incomplete_multipart_days),
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrent_version_expiration": {"noncurrent_days": noncurrent_version_days},
                "expiration": {"expired_object_delete_marker": True},
            },
        ]
        if LAYOUT[layer].append_only:
            rules.append(
                {
                    "id": f"bronze-to-{settings.bronze_storage_class.lower().replace('_', '-')}",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "transitions": [
                        {
                            "days": settings.bronze_transition_days,
                            "storage_class": settings.bronze_storage_class,
                        }
                    ],
                }
            )
        after_versioning = pulumi.ResourceOptions(parent=self, depends_on=[self.versioning])
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=self.bucket.id, rules=rules, opts=after_versioning
        )
        if object_lock is not None:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=self.bucket.id,
                rule={"default_retention": {"mode": object_lock.mode, "days": object_lock.days}},
                opts=after_versioning,
            )
        if access_log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-access-logging",
                bucket=self.bucket.id,
                target_bucket=access_log_bucket.bucket_name,
                target_prefix=f"{bucket_name}/",
                # S3 delivers logs from the moment logging is on, and with ownership enforced
                # only the log bucket's policy lets the logging service write: deliveries
                # before both exist are lost. (terraform-provider-aws bucket_logging.go,
                # resourceBucketLoggingCreate, retries PutBucketLogging on NoSuchBucket only.)
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=access_log_bucket.accepts_logs_after
                ),
            )
        # Markers go in once encryption and ownership are set, so they are stored like data.
        after_setup = pulumi.ResourceOptions(
            parent=self, depends_on=[self.versioning, self.encryption, *hardening]
        )
        self.markers = [
            aws.s3.BucketObjectv2(
                f"{name}-marker-{prefix.rstrip('/')}",
                bucket=self.bucket.id,
                # No content: a zero-byte object, the folder marker readers skip. With none of
                # source, content and content_base64 set, terraform-provider-aws uploads an
                # empty body (internal/service/s3/object.go, resourceObjectUpload:
                # bytes.NewReader([]byte{})), and its key cleaning (sdkv1CompatibleCleanKey)
                # keeps the trailing '/'.
                key=marker_key(prefix),
                opts=after_setup,
            )
            for prefix in LAYOUT[layer].prefixes
        ]
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=json.dumps(bucket_policy(layer, bucket_name, settings.break_glass_principals)),
            # After the public-access block, which it otherwise races; and on bronze after the
            # markers, whose writes carry no If-None-Match and would be refused.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[public_access_block, *self.markers]
            ),
        )
        self.bucket_name: pulumi.Output[str] = self.bucket.bucket
        self.bucket_arn: pulumi.Output[str] = self.bucket.arn
        self.register_outputs({"bucket": self.bucket_name, "arn": self.bucket_arn})


def _encryption_rule(kms_key_id: str | None) -> EncryptionRule:
    if kms_key_id:
        return {
            "apply_server_side_encryption_by_default": {
                "sse_algorithm": "aws:kms",
                "kms_master_key_id": kms_key_id,
            },
            # S3 Bucket Keys cut KMS requests (and their cost) by orders of magnitude.
            "bucket_key_enabled": True,
        }
    return {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}


class AwsAccessLogBucket(pulumi.ComponentResource):
    """The bucket that receives S3 server access logs of the lake's buckets."""

    def __init__(
        self,
        name: str,
        *,
        bucket_name: str,
        source_buckets: Sequence[str],
        settings: AwsLakeArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("lakeops:aws:AccessLogBucket", name, None, opts)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name,
            force_destroy=False,
            tags={"lake-layer": "access-logs"},
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        hardening = _harden(name, self.bucket, self)
        # Log delivery writes with SSE-S3 only; a KMS default would make it drop logs.
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[_encryption_rule(None)],
            opts=child,
        )
        policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=account.account_id.apply(
                lambda account_id: json.dumps(
                    access_log_bucket_policy(bucket_name, source_buckets, account_id)
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[hardening[1]]),
        )
        # What must exist before a bucket may log here: ownership controls (policies are
        # then the only grant) and the policy that lets the logging service write.
        self.accepts_logs_after: list[pulumi.Resource] = [hardening[0], policy]
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                _abort_uploads_rule(settings.abort_incomplete_multipart_days),
                {
                    "id": "expire-access-logs",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": ACCESS_LOG_RETENTION_DAYS},
                },
            ],
            opts=child,
        )
        self.bucket_name: pulumi.Output[str] = self.bucket.bucket
        self.register_outputs({"bucket": self.bucket_name})


class AwsLakeAccess(pulumi.ComponentResource):
    """An IAM policy per pipeline role; a role too where its trust policy is configured."""

    def __init__(
        self,
        name: str,
        *,
        buckets: Mapping[StorageLayer, str],
        name_for: Mapping[str, str],
        trust_policies: Mapping[str, Mapping[str, Any]],
        kms: KmsKey | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("lakeops:aws:LakeAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.policy_names: dict[str, pulumi.Output[str]] = {}
        self.policy_arns: dict[str, pulumi.Output[str]] = {}
        self.role_arns: dict[str, pulumi.Output[str]] = {}
        for role, spec in ROLES.items():
            policy = aws.iam.Policy(
                f"{name}-{role}-policy",
                name=name_for[role],
                description=f"Lake pipeline role '{role}': {spec.purpose}.",
                policy=json.dumps(role_policy(role, buckets, kms)),
                opts=child,
            )
            self.policy_names[role] = policy.name
            self.policy_arns[role] = policy.arn
            if role in trust_policies:
                iam_role = aws.iam.Role(
                    f"{name}-{role}-role",
                    name=name_for[role],
                    description=f"Lake pipeline role '{role}': {spec.purpose}.",
                    assume_role_policy=json.dumps(trust_policies[role]),
                    opts=child,
                )
                aws.iam.RolePolicyAttachment(
                    f"{name}-{role}-attachment",
                    role=iam_role.name,
                    policy_arn=policy.arn,
                    opts=child,
                )
                self.role_arns[role] = iam_role.arn
        self.register_outputs({"policies": self.policy_names, "roles": self.role_arns})
