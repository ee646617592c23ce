"""The policy documents, applied to a live S3 server that enforces them, do what they say.

Role policies: each pipeline role's IAM document is attached to an IAM user on a moto
server with IAM checks on, and that user's lakeops calls are tried against every layer.

Bucket policies: each statement of the AWS bucket policy is applied to a bucket and tried.

What moto cannot show, and where it is covered instead: moto evaluates only StringEquals
conditions and treats other condition operators as met. So it shows that the TLS statement
and the bronze delete-deny cover the right actions and resources, but not that requests over
TLS, or from a break-glass principal, are let through; the stack tests pin those conditions.
moto also checks bucket policies on object requests only, so bucket-level requests (listing)
are not tried against them.
MinIO's IAM is managed through its admin API, not AWS IAM, so these run on moto only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from lakeinfra.policies import ROLES, access_log_bucket_policy, bucket_policy, role_policy
from lakeops import AccessDeniedError, Lake, StorageLayer
from lakeops.layout import LAYOUT
from tests.conftest import config_for, s3_client
from tests.support.buckets import create_versioned_bucket, purge_bucket, unique_bucket_names
from tests.support.capabilities import Capabilities
from tests.support.iam import IamUser, create_iam_user, iam_enforcement_faults
from tests.support.s3server import REGION, S3Endpoint, set_auth_enforcement

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import BucketLifecycleConfigurationTypeDef, TaggingTypeDef

BRONZE, SILVER, GOLD = StorageLayer.BRONZE, StorageLayer.SILVER, StorageLayer.GOLD
SEED_BODY = b"id\n1\n"


def seed_key(layer: StorageLayer) -> str:
    return f"{LAYOUT[layer].prefixes[0]}seed.csv"


def test_the_iam_server_checks_actions_as_aws_does(iam_moto: S3Endpoint) -> None:
    """The calibration every policy test stands on: HeadObject under s3:GetObject and
    ListObjectsV2 under s3:ListBucket allowed, a versioned delete under an explicit
    s3:DeleteObjectVersion deny refused. The iam_moto fixture runs it too and fails every
    policy test on a server that gets it wrong; this test comes first in the module because
    the `roles` fixture keeps IAM checks on until the module ends."""
    assert iam_enforcement_faults(iam_moto) == []


@dataclass
class RoleLakes:
    endpoint: S3Endpoint
    buckets: dict[StorageLayer, str]
    lakes: dict[str, Lake]
    clients: dict[str, S3Client]


@pytest.fixture(scope="module")
def roles(iam_moto: S3Endpoint) -> Iterator[RoleLakes]:
    """One IAM user per pipeline role, with the role's policy; IAM checks on while tests run."""
    admin = s3_client(iam_moto)
    buckets = unique_bucket_names()
    for layer, name in buckets.items():
        create_versioned_bucket(admin, name)
        admin.put_object(Bucket=name, Key=seed_key(layer), Body=SEED_BODY)
    lakes: dict[str, Lake] = {}
    clients: dict[str, S3Client] = {}
    for role in ROLES:
        user = create_iam_user(
            iam_moto, f"lake-{role}-{uuid.uuid4().hex[:6]}", role_policy(role, buckets)
        )
        lakes[role] = lake_as(iam_moto, buckets, user)
        clients[role] = s3_client(iam_moto, user.access_key_id, user.secret_access_key)
    set_auth_enforcement(iam_moto, enforced=True)
    yield RoleLakes(iam_moto, buckets, lakes, clients)
    set_auth_enforcement(iam_moto, enforced=False)
    for name in buckets.values():
        purge_bucket(admin, name)


def lake_as(endpoint: S3Endpoint, buckets: dict[StorageLayer, str], user: IamUser) -> Lake:
    return Lake(
        config_for(
            endpoint,
            buckets,
            access_key_id=user.access_key_id,
            secret_access_key=user.secret_access_key,
        )
    )


def allowed(action: Callable[[], Any]) -> bool:
    try:
        action()
    except AccessDeniedError:
        return False
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] in ("AccessDenied", "403"):
            return False
        raise
    return True


# Written from the words, not derived from ROLES:
#   ingest: write bronze, never delete (and read bronze, to recognise re-uploads);
#   transform: read bronze, read and write silver;
#   publish: read silver, read and write gold;
#   analyst: read gold only.
READS = {
    "ingest": {BRONZE},
    "transform": {BRONZE, SILVER},
    "publish": {SILVER, GOLD},
    "analyst": {GOLD},
}
WRITES = {"ingest": {BRONZE}, "transform": {SILVER}, "publish": {GOLD}, "analyst": set()}
CASES = [(role, layer) for role in ROLES for layer in StorageLayer]


@pytest.mark.parametrize(("role", "layer"), CASES)
def test_reading(roles: RoleLakes, tmp_path: Path, role: str, layer: StorageLayer) -> None:
    lake = roles.lakes[role]
    can_download = allowed(lambda: lake.download(layer, seed_key(layer), tmp_path / "out.csv"))
    can_list = allowed(lambda: lake.list_objects(layer, LAYOUT[layer].prefixes[0]))
    assert can_download == (layer in READS[role])
    assert can_list == (layer in READS[role] | WRITES[role])


def stored(roles: RoleLakes, layer: StorageLayer, key: str) -> bool:
    """Whether the key exists, asked with IAM checks off: the effect, not the reply."""
    set_auth_enforcement(roles.endpoint, enforced=False)
    try:
        listing = s3_client(roles.endpoint).list_objects_v2(Bucket=roles.buckets[layer], Prefix=key)
    finally:
        set_auth_enforcement(roles.endpoint, enforced=True)
    return listing.get("KeyCount", 0) > 0


@pytest.mark.parametrize(("role", "layer"), CASES)
def test_writing(roles: RoleLakes, tmp_path: Path, role: str, layer: StorageLayer) -> None:
    source = tmp_path / "new.csv"
    source.write_bytes(b"id\n2\n")
    key = f"{LAYOUT[layer].prefixes[-1]}{role}-{uuid.uuid4().hex[:6]}.csv"
    can_upload = allowed(lambda: roles.lakes[role].upload(source, layer, key))
    assert can_upload == (layer in WRITES[role])
    assert stored(roles, layer, key) == can_upload, "the reply must match what was stored"


@pytest.mark.parametrize(("role", "layer"), CASES)
def test_deleting(roles: RoleLakes, role: str, layer: StorageLayer) -> None:
    client = roles.clients[role]
    bucket = roles.buckets[layer]
    set_auth_enforcement(roles.endpoint, enforced=False)
    key = f"{LAYOUT[layer].prefixes[0]}doomed-{uuid.uuid4().hex[:6]}.csv"
    version = s3_client(roles.endpoint).put_object(Bucket=bucket, Key=key, Body=b"x")["VersionId"]
    set_auth_enforcement(roles.endpoint, enforced=True)

    can_delete_version = allowed(
        lambda: client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    )
    can_delete = allowed(lambda: client.delete_object(Bucket=bucket, Key=key))

    # Nobody removes a version for good; replacing (a delete marker) only where a role writes,
    # and never in bronze.
    assert not can_delete_version
    assert can_delete == (layer in WRITES[role] and layer is not BRONZE)


def version_deletes_denied(document: dict[str, Any]) -> set[str]:
    """Resources on which a statement explicitly denies s3:DeleteObjectVersion, unconditionally."""
    denied: set[str] = set()
    for statement in document["Statement"]:
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if (
            statement["Effect"] == "Deny"
            and "Condition" not in statement
            and ({"s3:DeleteObjectVersion", "s3:*"} & set(actions))
        ):
            resources = statement["Resource"]
            denied |= {resources} if isinstance(resources, str) else set(resources)
    return denied


@pytest.mark.parametrize("role", list(ROLES))
def test_every_role_explicitly_denies_removing_versions_in_every_bucket(role: str) -> None:
    """On MinIO only an explicit Deny stops a version delete: cmd/auth-handler.go
    (authorizeRequest) lets a DeleteObject with a versionId through on s3:DeleteObject alone,
    checking s3:DeleteObjectVersion with DenyOnly."""
    buckets = unique_bucket_names()
    denied = version_deletes_denied(role_policy(role, buckets))
    assert {f"arn:aws:s3:::{bucket}/*" for bucket in buckets.values()} <= denied


# What MinIO's DenyOnly check amounts to, granted outright: whoever may delete may also
# remove versions unless a Deny says otherwise. moto needs the allow spelled out to behave so.
def version_delete_grant(buckets: dict[StorageLayer, str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": [f"arn:aws:s3:::{bucket}/*" for bucket in buckets.values()],
            }
        ],
    }


@pytest.mark.parametrize("role", list(ROLES))
def test_no_role_removes_a_version_even_where_another_policy_allows_it(
    roles: RoleLakes, role: str
) -> None:
    endpoint = roles.endpoint
    admin = s3_client(endpoint)
    set_auth_enforcement(endpoint, enforced=False)
    try:
        user = create_iam_user(
            endpoint, f"lake-{role}-{uuid.uuid4().hex[:6]}", role_policy(role, roles.buckets)
        )
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint.url,
            region_name=REGION,
            aws_access_key_id=endpoint.access_key,
            aws_secret_access_key=endpoint.secret_key,
        )
        extra = iam.create_policy(
            PolicyName=f"{user.name}-grant",
            PolicyDocument=json.dumps(version_delete_grant(roles.buckets)),
        )
        iam.attach_user_policy(UserName=user.name, PolicyArn=extra["Policy"]["Arn"])
        key = f"kept-{uuid.uuid4().hex[:6]}.csv"
        versions = {
            layer: admin.put_object(
                Bucket=bucket, Key=f"{LAYOUT[layer].prefixes[0]}{key}", Body=b"x"
            )["VersionId"]
            for layer, bucket in roles.buckets.items()
        }
    finally:
        set_auth_enforcement(endpoint, enforced=True)
    client = s3_client(endpoint, user.access_key_id, user.secret_access_key)

    def remove_version(layer: StorageLayer) -> Callable[[], Any]:
        return lambda: client.delete_object(
            Bucket=roles.buckets[layer],
            Key=f"{LAYOUT[layer].prefixes[0]}{key}",
            VersionId=versions[layer],
        )

    removed = {layer for layer in StorageLayer if allowed(remove_version(layer))}

    assert removed == set()
    set_auth_enforcement(endpoint, enforced=False)
    try:
        for layer, bucket in roles.buckets.items():
            kept = admin.list_object_versions(Bucket=bucket, Prefix=LAYOUT[layer].prefixes[0])
            assert versions[layer] in {v["VersionId"] for v in kept.get("Versions", [])}
    finally:
        set_auth_enforcement(endpoint, enforced=True)


@pytest.mark.parametrize("role", ["ingest", "transform"])
def test_writes_outside_the_declared_prefixes_are_refused(
    roles: RoleLakes, tmp_path: Path, role: str
) -> None:
    (layer,) = WRITES[role]
    source = tmp_path / "f.csv"
    source.write_bytes(b"x")
    assert allowed(
        lambda: roles.lakes[role].upload(source, layer, f"{LAYOUT[layer].prefixes[0]}ok.csv")
    )
    # lakeops itself refuses such keys before sending anything, so ask the server directly.
    lake = roles.lakes[role]
    assert not allowed(
        lambda: lake.client.put_object(
            Bucket=lake.config.bucket(layer), Key="undeclared/f.csv", Body=b"x"
        )
    )


@pytest.mark.parametrize(
    ("role", "source", "target", "expected"),
    [
        ("transform", BRONZE, SILVER, True),
        ("publish", SILVER, GOLD, True),
        ("ingest", BRONZE, SILVER, False),
        ("transform", SILVER, GOLD, False),
        ("analyst", SILVER, GOLD, False),
    ],
)
def test_promotion_follows_the_roles(
    roles: RoleLakes, role: str, source: StorageLayer, target: StorageLayer, expected: bool
) -> None:
    target_key = f"{LAYOUT[target].prefixes[0]}promoted-{role}-{uuid.uuid4().hex[:6]}.csv"
    promote = roles.lakes[role].promote
    assert allowed(lambda: promote(seed_key(source), source, target, target_key)) == expected


def test_a_bronze_reupload_by_ingest_is_recognised_under_its_policy(
    roles: RoleLakes, tmp_path: Path
) -> None:
    source = tmp_path / "batch.csv"
    source.write_bytes(b"id\n7\n")
    key = f"postgres/batch-{uuid.uuid4().hex[:6]}.csv"
    first = roles.lakes["ingest"].put_file(source, BRONZE, key)
    again = roles.lakes["ingest"].put_file(source, BRONZE, key)
    assert first.created and not again.created


@pytest.fixture
def policy_bucket(capabilities: Capabilities, admin: S3Client) -> Iterator[str]:
    # The owner's own requests show a policy's effect only where a Deny binds the owner too.
    capabilities.require("policy_binds_owner")
    name = unique_bucket_names()[BRONZE]
    create_versioned_bucket(admin, name)
    admin.put_object(Bucket=name, Key="postgres/a.csv", Body=b"a")
    yield name
    purge_bucket(admin, name)


def apply_statement(admin: S3Client, bucket: str, sid: str) -> None:
    document = bucket_policy(BRONZE, bucket)
    (statement,) = [s for s in document["Statement"] if s["Sid"] == sid]
    admin.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({**document, "Statement": [statement]})
    )


def test_the_bronze_delete_deny_refuses_deletes_and_nothing_else(
    admin: S3Client, policy_bucket: str
) -> None:
    apply_statement(admin, policy_bucket, "DenyObjectDeletion")

    assert not allowed(lambda: admin.delete_object(Bucket=policy_bucket, Key="postgres/a.csv"))
    assert allowed(lambda: admin.get_object(Bucket=policy_bucket, Key="postgres/a.csv"))
    assert allowed(lambda: admin.put_object(Bucket=policy_bucket, Key="postgres/b.csv", Body=b"b"))
    assert admin.get_object(Bucket=policy_bucket, Key="postgres/a.csv")["Body"].read() == b"a"


@pytest.mark.requires("secure_transport")
def test_the_tls_statement_refuses_plain_http_on_bucket_and_objects(
    s3: S3Endpoint, admin: S3Client, policy_bucket: str
) -> None:
    apply_statement(admin, policy_bucket, "DenyInsecureTransport")

    reads = allowed(lambda: admin.get_object(Bucket=policy_bucket, Key="postgres/a.csv"))
    writes = allowed(
        lambda: admin.put_object(Bucket=policy_bucket, Key="postgres/c.csv", Body=b"c")
    )

    # Over TLS there is no plain HTTP to refuse: the statement must let requests through.
    tls = s3.url.startswith("https://")
    assert (reads, writes) == (tls, tls)


def test_a_write_only_principal_gets_an_honest_upload_result(
    iam_moto: S3Endpoint, roles: RoleLakes, tmp_path: Path
) -> None:
    """Success is reported from the write's own response: no read permission is needed."""
    set_auth_enforcement(iam_moto, enforced=False)
    put_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{roles.buckets[SILVER]}/*",
            }
        ],
    }
    user = create_iam_user(iam_moto, f"drop-box-{uuid.uuid4().hex[:6]}", put_only)
    lake = lake_as(iam_moto, roles.buckets, user)
    set_auth_enforcement(iam_moto, enforced=True)
    source = tmp_path / "drop.csv"
    source.write_bytes(b"x")

    result = lake.put_file(source, SILVER, "cleaned/drop.csv")

    assert result.created and result.version_id
    assert stored(roles, SILVER, "cleaned/drop.csv")


def test_the_dataset_workflow_runs_under_the_least_privilege_roles(
    roles: RoleLakes, tmp_path: Path
) -> None:
    """ingest uploads a folder to bronze, transform promotes it to silver, publish to gold,
    analyst downloads it: each with only its role's policy, manifests and listings included."""
    source = tmp_path / "orders"
    source.mkdir()
    for n in range(3):
        (source / f"part-{n}.csv").write_bytes(f"id\n{n}\n".encode())
    run = uuid.uuid4().hex[:6]
    raw, clean, report = (f"files/orders-{run}/", f"cleaned/orders-{run}/", f"reports/o-{run}/")

    uploaded = roles.lakes["ingest"].upload_folder(source, BRONZE, raw)
    cleaned = roles.lakes["transform"].promote_prefix(BRONZE, raw, SILVER, clean)
    published = roles.lakes["publish"].promote_prefix(SILVER, clean, GOLD, report)
    read = roles.lakes["analyst"].download_prefix(GOLD, report, tmp_path / "out")

    assert uploaded.published and cleaned.published and published.published
    assert read.transferred == 3
    assert (tmp_path / "out" / "part-2.csv").read_bytes() == b"id\n2\n"
    # And no role reaches past its layers, whatever the job.
    assert not allowed(lambda: roles.lakes["analyst"].promote_prefix(SILVER, clean, GOLD, report))
    assert not allowed(lambda: roles.lakes["ingest"].download_prefix(SILVER, clean, tmp_path / "x"))


def test_ingest_may_not_change_the_tags_of_bronze_objects(roles: RoleLakes) -> None:
    """Bronze keeps objects exactly as received, their tags included."""
    tags: TaggingTypeDef = {"TagSet": [{"Key": "quality", "Value": "checked"}]}
    bronze = roles.buckets[BRONZE]
    assert not allowed(
        lambda: roles.clients["ingest"].put_object_tagging(
            Bucket=bronze, Key=seed_key(BRONZE), Tagging=tags
        )
    )
    silver = roles.buckets[SILVER]
    assert allowed(
        lambda: roles.clients["transform"].put_object_tagging(
            Bucket=silver, Key=seed_key(SILVER), Tagging=tags
        )
    )


def test_bronze_settings_that_keep_objects_are_denied_to_all_but_the_administrators(
    iam_moto: S3Endpoint, roles: RoleLakes
) -> None:
    """Bronze's DenyBucketConfigurationChanges, applied to a principal that may do anything
    else in the bucket. moto checks bucket policies on object requests only, so the statement
    is attached as the principal's own policy (less its Principal): the same actions and
    resource. moto treats ArnNotLike as met, so this principal stands for anyone who is not
    a deployer or break-glass principal; test_prod_stack pins the exemption."""
    bucket = roles.buckets[BRONZE]
    (deny,) = [
        s
        for s in bucket_policy(BRONZE, bucket, deployer_principals=["arn:aws:iam::1:role/d"])[
            "Statement"
        ]
        if s["Sid"] == "DenyBucketConfigurationChanges"
    ]
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            },
            {key: value for key, value in deny.items() if key != "Principal"},
        ],
    }
    set_auth_enforcement(iam_moto, enforced=False)
    try:
        user = create_iam_user(iam_moto, f"owner-{uuid.uuid4().hex[:6]}", document)
    finally:
        set_auth_enforcement(iam_moto, enforced=True)
    client = s3_client(iam_moto, user.access_key_id, user.secret_access_key)
    expire_everything: BucketLifecycleConfigurationTypeDef = {
        "Rules": [
            {"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}
        ]
    }
    changes = {
        "lifecycle": lambda: client.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration=expire_everything
        ),
        "policy": lambda: client.put_bucket_policy(
            Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": []})
        ),
        "policy removal": lambda: client.delete_bucket_policy(Bucket=bucket),
        "versioning": lambda: client.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}
        ),
    }
    assert {what for what, change in changes.items() if allowed(change)} == set()
    assert allowed(
        lambda: client.put_object(Bucket=bucket, Key=f"files/{uuid.uuid4().hex}.csv", Body=b"x")
    )
    set_auth_enforcement(iam_moto, enforced=False)
    try:
        admin = s3_client(iam_moto)
        assert admin.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert "Rules" not in _lifecycle_of(admin, bucket)
    finally:
        set_auth_enforcement(iam_moto, enforced=True)


def _lifecycle_of(admin: S3Client, bucket: str) -> dict[str, Any]:
    try:
        return dict(admin.get_bucket_lifecycle_configuration(Bucket=bucket))
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
            return {}
        raise


def test_the_access_log_bucket_refuses_deletes(admin: S3Client, policy_bucket: str) -> None:
    document = access_log_bucket_policy(policy_bucket, ["source"], "111122223333")
    (deny,) = [s for s in document["Statement"] if s["Sid"] == "DenyObjectDeletion"]
    admin.put_bucket_policy(
        Bucket=policy_bucket, Policy=json.dumps({**document, "Statement": [deny]})
    )
    assert not allowed(lambda: admin.delete_object(Bucket=policy_bucket, Key="postgres/a.csv"))
    version = admin.head_object(Bucket=policy_bucket, Key="postgres/a.csv")["VersionId"]
    assert not allowed(
        lambda: admin.delete_object(Bucket=policy_bucket, Key="postgres/a.csv", VersionId=version)
    )
    assert admin.get_object(Bucket=policy_bucket, Key="postgres/a.csv")["Body"].read() == b"a"
