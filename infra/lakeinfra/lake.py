"""The MedallionLake component: the whole lake, on either backend, and its outputs contract."""

from __future__ import annotations

from typing import Any, Protocol

import pulumi

from lakeinfra.args import MedallionLakeArgs
from lakeinfra.catalog import AwsLakeCatalog, dev_catalog_outputs
from lakeinfra.policies import ROLES, KmsKey
from lakeops import contract
from lakeops.contract import Backend
from lakeops.layout import LAYOUT, StorageLayer

COMPONENT_TYPE = "lakeops:index:MedallionLake"


class _Layer(Protocol):
    """What the lake reads of a layer component, on either backend."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]


class MedallionLake(pulumi.ComponentResource):
    """Three layer buckets with prefixes, versioning and lifecycle, plus pipeline-role access.

    ``outputs`` is the stack-outputs contract that lakeops reads (see lakeops.contract).
    Pass the backend's provider in ``opts.providers``; every child uses it.
    """

    def __init__(
        self, name: str, args: MedallionLakeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.args = args
        names = {layer: args.bucket_name(layer) for layer in StorageLayer}
        policy_names = {role: args.resource_name(f"lake-{role}") for role in ROLES}
        object_lock = args.bronze_object_lock
        # Each backend's provider SDK is imported only where it is used, so that the dev
        # stack runs (and pulls provider plugins) without pulumi-aws installed.
        layers: dict[StorageLayer, _Layer]
        if args.backend is Backend.MINIO:
            from lakeinfra.minio_lake import MinioLakeAccess, MinioLakeLayer

            assert args.minio is not None
            minio_layers = {
                layer: MinioLakeLayer(
                    f"{name}-{layer}",
                    layer=layer,
                    bucket_name=names[layer],
                    noncurrent_version_days=args.noncurrent_version_days,
                    object_locking=object_lock is not None and LAYOUT[layer].append_only,
                    admin=args.minio.admin,
                    region=args.minio.region,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                for layer in StorageLayer
            }
            minio_access = MinioLakeAccess(
                f"{name}-access",
                buckets=names,
                name_for=policy_names,
                after=[layer.bucket for layer in minio_layers.values()],
                opts=pulumi.ResourceOptions(parent=self),
            )
            layers = dict(minio_layers)
            endpoint: str | None = args.minio.endpoint
            region = args.minio.region
            extra: dict[str, Any] = {
                contract.ROLE_ARNS: {},
                contract.ROLE_CREDENTIALS: pulumi.Output.secret(minio_access.credentials),
                **dev_catalog_outputs(args.catalog, args.bucket_prefix),
            }
            role_policy_names = minio_access.policy_names
        else:
            from lakeinfra.aws_lake import (
                AwsAccessLogBucket,
                AwsLakeAccess,
                AwsLakeLayer,
                resource_tags,
            )

            assert args.aws is not None
            log_bucket = None
            if args.aws.access_logs:
                log_bucket = AwsAccessLogBucket(
                    f"{name}-access-logs",
                    bucket_name=args.resource_name("access-logs"),
                    source_buckets=list(names.values()),
                    settings=args.aws,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            aws_layers = {
                layer: AwsLakeLayer(
                    f"{name}-{layer}",
                    layer=layer,
                    bucket_name=names[layer],
                    noncurrent_version_days=args.noncurrent_version_days,
                    settings=args.aws,
                    object_lock=object_lock if LAYOUT[layer].append_only else None,
                    access_log_bucket=log_bucket,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                for layer in StorageLayer
            }
            layers = dict(aws_layers)
            aws_access = AwsLakeAccess(
                f"{name}-access",
                buckets=names,
                name_for=policy_names,
                trust_policies=args.aws.role_trust_policies,
                kms=KmsKey(args.aws.kms_key_id, args.aws.region) if args.aws.kms_key_id else None,
                tags=resource_tags(args.aws),
                opts=pulumi.ResourceOptions(parent=self),
            )
            endpoint = None
            region = args.aws.region
            extra = {
                contract.ROLE_ARNS: aws_access.role_arns,
                contract.ROLE_POLICY_ARNS: aws_access.policy_arns,
                contract.BRONZE_OBJECT_LOCK: aws_layers[StorageLayer.BRONZE].object_lock,
            }
            if log_bucket is not None:
                extra[contract.ACCESS_LOG_BUCKET] = log_bucket.bucket_name
            catalog = AwsLakeCatalog(
                f"{name}-catalog",
                buckets=names,
                bucket_prefix=args.bucket_prefix,
                region=args.aws.region,
                name_for=policy_names,
                roles_created=list(args.aws.role_trust_policies),
                roles_exist_after=[aws_access],
                tags=resource_tags(args.aws),
                opts=pulumi.ResourceOptions(parent=self),
            )
            extra.update(catalog.outputs)
            role_policy_names = aws_access.policy_names

        self.layers = layers
        self.outputs: dict[str, Any] = {
            contract.BACKEND: args.backend.value,
            contract.ENDPOINT: endpoint,
            contract.REGION: region,
            contract.BUCKETS: {layer.value: layers[layer].bucket_name for layer in StorageLayer},
            contract.BUCKET_ARNS: {layer.value: layers[layer].bucket_arn for layer in StorageLayer},
            contract.ROLE_POLICIES: role_policy_names,
            contract.LIFECYCLE: args.lifecycle_intent().to_output(),
            contract.DEFAULT_ENCRYPTION: args.default_encryption(),
            contract.BRONZE_OBJECT_LOCK: object_lock is not None,
            # On AWS, the value checked against the bronze bucket (AwsLakeLayer.object_lock).
            **extra,
        }
        self.register_outputs(self.outputs)
