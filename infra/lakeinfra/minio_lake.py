"""The lake on MinIO (dev): buckets, prefixes, lifecycle, and access through MinIO's IAM.

What differs from AWS, on purpose:
- No bucket policies: MinIO bucket policies only govern anonymous access. The deny rules
  (no deletes on bronze) are explicit denies in the role policies instead.
- No default encryption: server-side encryption on MinIO needs a KMS (KES), which the
  local dev stack does not run.
- No abort-incomplete-multipart rule: MinIO's ILM has none; MinIO itself removes stale
  uploads (api stale_uploads_expiry, 24 h by default).
- No storage-class transition for bronze: that needs a remote tier configured in MinIO.
- Prefix markers are not MinIO provider resources: that provider cannot create a "<prefix>/"
  object, so each is a local Command resource of its own (see lakeinfra.markers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_minio as minio

from lakeinfra.args import MinioAdmin
from lakeinfra.markers import prefix_marker
from lakeinfra.policies import ROLES, role_policy
from lakeops.layout import LAYOUT, StorageLayer, marker_key


class MinioLakeLayer(pulumi.ComponentResource):
    """One layer: a versioned bucket, a marker per declared prefix, one ILM policy."""

    def __init__(
        self,
        name: str,
        *,
        layer: StorageLayer,
        bucket_name: str,
        noncurrent_version_days: int,
        object_locking: bool,
        admin: MinioAdmin,
        region: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("lakeops:minio:LakeLayer", name, None, opts)
        self.bucket = minio.S3Bucket(
            f"{name}-bucket",
            bucket=bucket_name,
            acl="private",
            # The dev lake is disposable: `make destroy` removes buckets with their data.
            force_destroy=True,
            object_locking=object_locking,
            opts=pulumi.ResourceOptions(
                parent=self,
                # Locking is chosen at creation, and the provider ignores later changes to it
                # (object_locking is not ForceNew in resource_minio_s3_bucket.go): replace the
                # (disposable, dev) bucket instead of reporting a lock it lacks.
                replace_on_changes=["objectLocking"],
                # The name is fixed and minioCreateBucket refuses an existing one ("bucket
                # already exists!"), so the old bucket must go before the new one is made.
                # Its versioning and ILM policy take the bucket as a ForceNew input, so the
                # engine deletes them first and recreates them after (step_generator.go,
                # calculateDependentReplacements).
                delete_before_replace=True,
            ),
        )
        self.versioning = minio.S3BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.bucket,
            versioning_configuration={"status": "Enabled"},
            # Deleting this resource suspends versioning (minioDeleteBucketVersioning), which
            # MinIO refuses on a bucket with object lock (PutBucketVersioningHandler:
            # InvalidBucketState). It goes with its bucket anyway (force_destroy above).
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        after_versioning = pulumi.ResourceOptions(parent=self, depends_on=[self.versioning])
        # After the bucket's versioning is on, so that the markers are versions like any object.
        self.markers = [
            prefix_marker(
                f"{name}-marker-{prefix.rstrip('/')}",
                bucket=self.bucket.bucket,
                key=marker_key(prefix),
                admin=admin,
                region=region,
                triggers=[self.bucket.bucket, self.versioning.id],
                opts=after_versioning,
            )
            for prefix in LAYOUT[layer].prefixes
        ]
        self.lifecycle = minio.IlmPolicy(
            f"{name}-lifecycle",
            bucket=self.bucket.bucket,
            rules=[
                {
                    "id": "expire-noncurrent-versions",
                    "noncurrent_version_expiration_days": noncurrent_version_days,
                }
            ],
            opts=after_versioning,
        )
        self.bucket_name: pulumi.Output[str] = self.bucket.bucket
        self.bucket_arn: pulumi.Output[str] = self.bucket.arn
        self.register_outputs({"bucket": self.bucket_name, "arn": self.bucket_arn})


class MinioLakeAccess(pulumi.ComponentResource):
    """A MinIO IAM policy and user per pipeline role, the policy attached to the user."""

    def __init__(
        self,
        name: str,
        *,
        buckets: Mapping[StorageLayer, str],
        name_for: Mapping[str, str],
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("lakeops:minio:LakeAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # On the policies themselves: a component's depends_on does not reach its children
        # (the SDK passes protect and providers down, nothing else: sdk/python/lib/pulumi/
        # resource.py, Resource.__init__), so the policies were created, and deleted, in no
        # order with the buckets they name.
        after_buckets = pulumi.ResourceOptions(parent=self, depends_on=list(after))
        self.policy_names: dict[str, pulumi.Output[str]] = {}
        self.credentials: dict[str, dict[str, pulumi.Output[str]]] = {}
        for role in ROLES:
            policy = minio.IamPolicy(
                f"{name}-{role}-policy",
                name=name_for[role],
                policy=json.dumps(role_policy(role, buckets)),
                opts=after_buckets,
            )
            # MinIO generates the secret key; it reaches the outputs only as a Pulumi secret.
            user = minio.IamUser(f"{name}-{role}-user", name=name_for[role], opts=child)
            minio.IamUserPolicyAttachment(
                f"{name}-{role}-attachment",
                user_name=user.name,
                policy_name=policy.name,
                opts=child,
            )
            self.policy_names[role] = policy.name
            self.credentials[role] = {
                "accessKeyId": user.name,
                "secretAccessKey": pulumi.Output.secret(user.secret),
            }
        self.register_outputs({"policies": self.policy_names})
