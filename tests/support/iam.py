"""IAM users on a moto server, to act as a pipeline role or any other principal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from tests.support.s3server import REGION, S3Endpoint


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
