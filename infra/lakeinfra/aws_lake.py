"""The lake on AWS S3 (prod): hardened buckets, lifecycle, bucket policies and IAM."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from lakeinfra.args import AwsLakeArgs, LakeArgsError, ObjectLockArgs
from lakeinfra.policies import (
    ROLES,
    KmsKey,
    access_log_bucket_policy,
    bucket_policy,
    role_policy,
)
from lakeops.layout import LAYOUT, StorageLayer, marker_key

ACCESS_LOG_RETENTION_DAYS = 365


def resource_tags(settings: AwsLakeArgs, **extra: str) -> dict[str, str]:
    """The tags of every taggable resource but objects (the markers carry none: S3 takes 10
    tags per object, and a marker needs none)."""
    return {"managed-by": "pulumi", "system": "lake", **settings.tags, **extra}


def _refuse_unlocking(bucket_name: str, wanted: bool) -> Any:
    """The check behind the bronzeObjectLock output: AWS never turns Object Lock off, so a
    bucket that has it (enabled by this stack, or out of band; refresh reads it) with
    bronzeObjectLock false stops the program, at preview as at update."""

    def check(enabled: bool | None) -> bool:
        if enabled and not wanted:
            raise LakeArgsError(
                f"lake:bronzeObjectLock is false, but bucket {bucket_name!r} has S3 Object Lock "
                "enabled, and AWS cannot turn it off. Set lake:bronzeObjectLock to true (and "
                "its mode and days to what the bucket's default retention is); to remove the "
                "default retention alone, a human with the break-glass role must do it."
            )
        return wanted

    return check


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
        # Protected, and so is every child that does not say otherwise (the SDK's Resource
        # takes protect from its parent: sdk/python/lib/pulumi/resource.py, Resource.__init__,
        # "Infer protection from parent"). The engine deletes a protected bucket's dependents
        # before it reaches the bucket (pkg/resource/deploy/step_generator.go, GenerateDeletes),
        # so protecting the bucket alone let a teardown strip its policies, public-access
        # blocks, lifecycle and versioning before refusing; DeleteStep.Apply
        # (pkg/resource/deploy/step.go) now refuses at the first of them, preview included.
        super().__init__(
            "lakeops:aws:LakeLayer",
            name,
            None,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)),
        )
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name,
            # No object_lock_enabled: it is ForceNew on aws_s3_bucket (terraform-provider-aws
            # internal/service/s3/bucket.go), so setting it (or refresh reading true after an
            # out-of-band change) meant replacing the bucket. Object Lock is enabled on the
            # existing bucket through BucketObjectLockConfiguration below.
            force_destroy=False,
            tags=resource_tags(settings, **{"lake-layer": layer.value}),
            opts=child,
        )
        hardening = _harden(name, self.bucket, self)
        public_access_block = hardening[1]
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            # Deleting it would suspend versioning (resourceBucketVersioningDelete sets
            # Suspended); whatever removes it from the program leaves versioning on.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
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
            # PutObjectLockConfiguration with ObjectLockEnabled "Enabled" turns Object Lock on
            # for an existing, versioned bucket (resourceBucketObjectLockConfigurationCreate);
            # hence after versioning. Deleting the resource only drops the default retention
            # (resourceBucketObjectLockConfigurationDelete puts the configuration without a
            # rule): it is protected with the layer, and the program refuses true -> false.
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=self.bucket.id,
                object_lock_enabled="Enabled",
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
        # Not protected, and kept on delete: a prefix removed from the layout leaves its marker
        # in the bucket and drops it from the state (DeleteStep.Apply makes no provider call
        # for RetainOnDelete), so neither protect nor bronze's no-delete policy stops the
        # change. A prefix added is a new marker, which the deployers may write.
        marker_options = pulumi.ResourceOptions(
            parent=self,
            depends_on=[self.versioning, self.encryption, *hardening],
            protect=False,
            retain_on_delete=True,
        )
        self.markers = [
            aws.s3.BucketObjectv2(
                f"{name}-marker-{prefix.rstrip('/')}",
                bucket=self.bucket.id,
                # No content: a zero-byte object, the folder marker readers skip. With none of
                # source, content and content_base64 set, terraform-provider-aws uploads an
                # empty body (internal/service/s3/object.go, resourceObjectUpload:
                # bytes.NewReader([]byte{})), and its key cleaning (sdkv1CompatibleCleanKey)
                # keeps the trailing '/'. No tags (resource_tags).
                key=marker_key(prefix),
                opts=marker_options,
            )
            for prefix in LAYOUT[layer].prefixes
        ]
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=json.dumps(
                bucket_policy(
                    layer,
                    bucket_name,
                    settings.break_glass_principals,
                    settings.deployer_principals,
                )
            ),
            # After the public-access block, which it otherwise races; and after the markers,
            # so that a first `up` never depends on the deployers' exemption.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[public_access_block, *self.markers]
            ),
        )
        self.bucket_name: pulumi.Output[str] = self.bucket.bucket
        self.bucket_arn: pulumi.Output[str] = self.bucket.arn
        # What lakeops reads as bronzeObjectLock: the configured value, once checked against
        # what the bucket has (true -> false is refused, see _refuse_unlocking).
        self.object_lock: pulumi.Output[bool] = self.bucket.object_lock_enabled.apply(
            _refuse_unlocking(bucket_name, object_lock is not None)
        )
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
        # Protected with everything in it, as a layer is (AwsLakeLayer).
        super().__init__(
            "lakeops:aws:AccessLogBucket",
            name,
            None,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)),
        )
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name,
            force_destroy=False,
            tags=resource_tags(settings, **{"lake-layer": "access-logs"}),
            opts=child,
        )
        hardening = _harden(name, self.bucket, self)
        # Versioned, and deletes denied (access_log_bucket_policy): a log removed or written
        # over stays as a noncurrent version until its lifecycle expires it.
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
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
                    access_log_bucket_policy(
                        bucket_name, source_buckets, account_id, settings.break_glass_principals
                    )
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
                    "noncurrent_version_expiration": {"noncurrent_days": 1},
                },
                {
                    "id": "remove-expired-delete-markers",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"expired_object_delete_marker": True},
                },
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
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
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("lakeops:aws:LakeAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.policy_names: dict[str, pulumi.Output[str]] = {}
        self.policy_arns: dict[str, pulumi.Output[str]] = {}
        self.role_arns: dict[str, pulumi.Output[str]] = {}
        for role, spec in ROLES.items():
            # Named from a prefix: name, name_prefix, description and path are ForceNew on
            # aws_iam_policy (terraform-provider-aws internal/service/iam/policy.go,
            # resourcePolicy), and the engine replaces create-before-delete, so a fixed name
            # made any such edit fail with EntityAlreadyExists. With a prefix the provider
            # makes a unique name (resourcePolicyCreate: create.Name), the replacement
            # coexists with the old policy until its attachments have moved, and the names
            # are exported (rolePolicies). A document edit stays an update in place
            # (resourcePolicyUpdate: CreatePolicyVersion).
            policy = aws.iam.Policy(
                f"{name}-{role}-policy",
                name_prefix=f"{name_for[role]}-",
                description=f"Lake pipeline role '{role}': {spec.purpose}.",
                policy=json.dumps(role_policy(role, buckets, kms)),
                tags=dict(tags),
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
                    tags=dict(tags),
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
