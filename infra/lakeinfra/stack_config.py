"""Reading the stack's config into the component's arguments and its provider.

Keys (namespace ``lake`` unless written otherwise):

========================================  ======  =============================================
key                                       stacks  meaning
========================================  ======  =============================================
backend                                   both    ``minio`` (dev) or ``aws`` (prod)
bucketPrefix                              both    bucket names become ``<prefix>-raw`` ...;
                                                  required on AWS
noncurrentVersionDays                     both    days a replaced or deleted version is kept (30)
bronzeObjectLock                          both    object lock on bronze (false); never turned off
bronzeObjectLockMode / ...Days            both    default retention (GOVERNANCE, 365); AWS only
endpoint                                  dev     S3 URL clients use (http(s)://minioServer)
minio:minioServer                         dev     host:port Pulumi reaches MinIO at
minio:minioUser / minio:minioPassword     dev     MinIO root login (password may be a secret)
minio:minioRegion / minio:minioSsl        dev     region (us-east-1), TLS (false)
aws:region                                prod    AWS region
accountId                                 prod    the one AWS account the provider may act in
deployerPrincipals                        prod    ARNs that run `pulumi up` (bronze's config)
kmsKeyId                                  prod    SSE-KMS key; SSE-S3 when unset
breakGlassPrincipals                      prod    ARNs that may still delete in bronze
bronzeTransitionDays / bronzeStorageClass prod    bronze moves to a cheaper class (30, STANDARD_IA)
abortIncompleteMultipartDays              prod    abort stale multipart uploads after (7)
accessLogs                                prod    server access logs to <prefix>-access-logs
roleTrust                                 prod    {role: trust policy}; creates those IAM roles
tags                                      prod    tags on every AWS resource
========================================  ======  =============================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from lakeinfra.args import (
    AwsLakeArgs,
    LakeArgsError,
    MedallionLakeArgs,
    MinioAdmin,
    MinioLakeArgs,
    ObjectLockArgs,
    minio_endpoint,
)
from lakeinfra.catalog import load_catalog_args
from lakeops.contract import Backend


@dataclass(frozen=True)
class MinioConnection:
    server: str
    user: str
    password: pulumi.Input[str]
    region: str
    ssl: bool


def _object(config: pulumi.Config, key: str) -> Any:
    try:
        return config.get_object(key)
    except json.JSONDecodeError as exc:  # pragma: no cover - the CLI parses YAML for us
        raise LakeArgsError(f"lake:{key} is not valid structured config: {exc}") from exc


def _int(config: pulumi.Config, key: str, default: int) -> int:
    # Not `get_int(key) or default`: a configured 0 must reach validation, not vanish.
    value = config.get_int(key)
    return default if value is None else value


def load_lake_args() -> tuple[MedallionLakeArgs, MinioConnection | None]:
    lake = pulumi.Config("lake")
    raw_backend = lake.require("backend")
    try:
        backend = Backend(raw_backend)
    except ValueError:
        raise LakeArgsError(
            f"lake:backend is {raw_backend!r}; use 'minio' (dev) or 'aws' (prod)."
        ) from None
    object_lock = None
    if lake.get_bool("bronzeObjectLock"):
        object_lock = ObjectLockArgs(
            mode=lake.get("bronzeObjectLockMode") or "GOVERNANCE",
            days=_int(lake, "bronzeObjectLockDays", 365),
        )
    connection = None
    minio_args = None
    aws_args = None
    if backend is Backend.MINIO:
        minio = pulumi.Config("minio")
        server = minio.require("minioServer")
        ssl = bool(minio.get_bool("minioSsl"))
        connection = MinioConnection(
            server=server,
            user=minio.require("minioUser"),
            password=minio.require_secret("minioPassword"),
            region=minio.get("minioRegion") or "us-east-1",
            ssl=ssl,
        )
        minio_args = MinioLakeArgs(
            endpoint=minio_endpoint(server, ssl, lake.get("endpoint") or None),
            admin=MinioAdmin(
                url=minio_endpoint(server, ssl),
                user=connection.user,
                password=connection.password,
            ),
            region=connection.region,
        )
    else:
        aws_args = AwsLakeArgs(
            region=pulumi.Config("aws").require("region"),
            account_id=str(lake.get("accountId") or ""),
            deployer_principals=tuple(_object(lake, "deployerPrincipals") or ()),
            kms_key_id=lake.get("kmsKeyId") or None,
            break_glass_principals=tuple(_object(lake, "breakGlassPrincipals") or ()),
            bronze_transition_days=_int(lake, "bronzeTransitionDays", 30),
            bronze_storage_class=lake.get("bronzeStorageClass") or "STANDARD_IA",
            abort_incomplete_multipart_days=_int(lake, "abortIncompleteMultipartDays", 7),
            access_logs=bool(lake.get_bool("accessLogs")),
            role_trust_policies=_object(lake, "roleTrust") or {},
            tags=_object(lake, "tags") or {},
        )
    args = MedallionLakeArgs(
        backend=backend,
        bucket_prefix=lake.get("bucketPrefix") or None,
        noncurrent_version_days=_int(lake, "noncurrentVersionDays", 30),
        bronze_object_lock=object_lock,
        minio=minio_args,
        aws=aws_args,
        catalog=load_catalog_args(lake),
    )
    return args, connection
