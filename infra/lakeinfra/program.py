"""The Pulumi program: one explicit provider, one MedallionLake, its outputs exported."""

from __future__ import annotations

import pulumi

from lakeinfra.args import MedallionLakeArgs
from lakeinfra.lake import MedallionLake
from lakeinfra.stack_config import MinioConnection, load_lake_args
from lakeops.contract import Backend


def make_providers(
    args: MedallionLakeArgs, connection: MinioConnection | None
) -> list[pulumi.ProviderResource]:
    """The stack's providers, all explicit: default providers are disabled in the stack config
    (the engine denies only default ones: pkg/resource/deploy/providers, shouldDenyRequest)."""
    if args.backend is Backend.MINIO:
        import pulumi_command as command
        import pulumi_minio as minio

        assert connection is not None
        return [
            minio.Provider(
                "minio",
                minio_server=connection.server,
                minio_user=connection.user,
                minio_password=connection.password,
                minio_region=connection.region,
                minio_ssl=connection.ssl,
            ),
            # The prefix markers' (lakeinfra.markers); it takes no configuration.
            command.Provider("command"),
        ]
    import pulumi_aws as aws

    assert args.aws is not None
    # No default_tags: the provider would send them as object tags with every marker PUT
    # (terraform-provider-aws internal/service/s3/object.go, resourceObjectUpload: Tagging from
    # getTagsIn, which merges the provider's default tags), and S3 takes 10 per object. The
    # program tags each taggable resource itself (lakeinfra.aws_lake.resource_tags).
    return [
        aws.Provider(
            "aws",
            region=args.aws.region,
            # The account guard: the provider refuses credentials of any other account before it
            # makes a change (terraform-provider-aws internal/conns/config.go, ConfigureProvider:
            # awsbaseConfig.VerifyAccountIDAllowed, "AWS account ID not allowed").
            allowed_account_ids=[args.aws.account_id],
        )
    ]


def main() -> MedallionLake:
    args, connection = load_lake_args()
    providers = make_providers(args, connection)
    lake = MedallionLake("lake", args, opts=pulumi.ResourceOptions(providers=providers))
    for name, value in lake.outputs.items():
        pulumi.export(name, value)
    return lake
