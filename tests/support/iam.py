"""IAM users on a moto server, to act as a pipeline role or any other principal."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from tests.support.buckets import create_versioned_bucket, purge_bucket
from tests.support.s3server import REGION, S3Endpoint, set_auth_enforcement


@dataclass(frozen=True)
class IamUser:
    name: str
    access_key_id: str
    secret_access_key: str


def create_iam_user(
    endpoint: S3Endpoint, name: str, policy: dict[str, Any] | None = None
) -> IamUser:
    """A user with access keys and, when given, ``policy`` attached as a managed policy.

    Run it while IAM checks are off: it uses the server's own test credentials.
    """
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint.url,
        region_name=REGION,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
    )
    iam.create_user(UserName=name)
    if policy is not None:
        created = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(policy))
        iam.attach_user_policy(UserName=name, PolicyArn=created["Policy"]["Arn"])
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return IamUser(name, key["AccessKeyId"], key["SecretAccessKey"])


def iam_enforcement_faults(endpoint: S3Endpoint) -> list[str]:
    """What this server gets wrong when it checks requests against IAM policies; empty when
    it checks them as AWS does, as far as the least-privilege tests rely on it.

    The tests of the roles' policies mean something only on a server that checks the IAM
    *action* a request needs, not the name of the API operation. moto 5.2.6 checks operation
    names (``s3:HeadObject``, ``s3:ListObjectsV2``): it refuses HeadObject and ListObjectsV2
    that ``s3:GetObject`` / ``s3:ListBucket`` allow, and lets a versioned DeleteObject through
    under ``s3:DeleteObject`` despite an explicit ``s3:DeleteObjectVersion`` deny (AWS's
    "Actions, resources, and condition keys for Amazon S3": DeleteObject with a versionId
    needs s3:DeleteObjectVersion). moto 5.2.5 and AWS get all three right.

    Run it while IAM checks are off: it leaves them off.
    """
    run = uuid.uuid4().hex[:10]
    bucket = f"lkt-{run}-calibration"
    admin = boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name=REGION,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    create_versioned_bucket(admin, bucket)
    version = admin.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}"},
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Effect": "Deny",
                "Action": ["s3:DeleteObjectVersion"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
        ],
    }
    user = create_iam_user(endpoint, f"calibration-{run}", policy)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name=REGION,
        aws_access_key_id=user.access_key_id,
        aws_secret_access_key=user.secret_access_key,
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    checks: list[tuple[str, bool, Callable[[], object]]] = [
        ("HeadObject under s3:GetObject", True, lambda: client.head_object(Bucket=bucket, Key="k")),
        ("ListObjectsV2 under s3:ListBucket", True, lambda: client.list_objects_v2(Bucket=bucket)),
        (
            "a versioned DeleteObject under an explicit s3:DeleteObjectVersion deny",
            False,
            lambda: client.delete_object(Bucket=bucket, Key="k", VersionId=version),
        ),
    ]
    faults = []
    set_auth_enforcement(endpoint, enforced=True)
    try:
        for what, should_pass, request in checks:
            try:
                request()
                passed = True
            except botocore.exceptions.ClientError as exc:
                if exc.response["Error"]["Code"] not in ("AccessDenied", "403"):
                    raise
                passed = False
            if passed != should_pass:
                faults.append(f"{what}: {'allowed' if passed else 'refused'}")
    finally:
        set_auth_enforcement(endpoint, enforced=False)
        purge_bucket(admin, bucket)
    return faults
