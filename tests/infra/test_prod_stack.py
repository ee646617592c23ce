"""The prod stack (AWS S3), run under Pulumi's mocks with the committed Pulumi.prod.yaml."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lakeinfra.args import LakeArgsError
from lakeinfra.policies import ROLES, access_log_bucket_policy, bucket_policy, role_policy
from lakeops import Backend, Lake, LakeConfig, StorageLayer
from lakeops.layout import LAYOUT, marker_key
from tests.support.pulumi_stack import ACCOUNT_ID, UNIQUE_SUFFIX, StackRun, run_stack

PREFIX = "acme-lake-prod"
BUCKETS = {
    StorageLayer.BRONZE: f"{PREFIX}-raw",
    StorageLayer.SILVER: f"{PREFIX}-staging",
    StorageLayer.GOLD: f"{PREFIX}-curated",
}
LOG_BUCKET = f"{PREFIX}-access-logs"
S3 = "aws:s3/"
DEPLOYERS = ("arn:aws:iam::111122223333:role/lake-deployer",)
TAGS = {"managed-by": "pulumi", "system": "lake", "environment": "prod", "owner": "data-platform"}

EXPECTED_TYPES = Counter(
    {
        "pulumi:providers:aws": 1,
        "lakeops:index:MedallionLake": 1,
        "lakeops:aws:LakeLayer": 3,
        "lakeops:aws:AccessLogBucket": 1,
        "lakeops:aws:LakeAccess": 1,
        "aws:s3/bucket:Bucket": 4,
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 4,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 4,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 4,
        "aws:s3/bucketPolicy:BucketPolicy": 4,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 4,
        "aws:s3/bucketVersioning:BucketVersioning": 4,
        "aws:s3/bucketLogging:BucketLogging": 3,
        "aws:s3/bucketObjectv2:BucketObjectv2": 10,
        # 4 S3 role policies, and the Glue policies of transform, publish and analyst.
        "aws:iam/policy:Policy": 4 + 3,
        # The table catalog (tests/infra/test_catalog.py).
        "lakeops:aws:LakeCatalog": 1,
        "aws:glue/catalogDatabase:CatalogDatabase": 2,
    }
)


@pytest.fixture(scope="module")
def prod() -> StackRun:
    return run_stack("prod")


def resource(run: StackRun, kind: str, name: str) -> dict[str, Any]:
    """Inputs of the one resource of ``aws:s3/<kind>:...`` called ``name``."""
    matches = [
        r for r in run.registrations if r.type.startswith(S3 + kind + ":") and r.name == name
    ]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0].inputs


def test_the_prod_stack_declares_exactly_this_graph(prod: StackRun) -> None:
    assert prod.type_counts() == EXPECTED_TYPES
    assert len(prod.registrations) == 58


def test_prod_declares_no_minio_resources(prod: StackRun) -> None:
    assert not [r.type for r in prod.registrations if "minio" in r.type]


def test_every_resource_uses_the_explicit_aws_provider(prod: StackRun) -> None:
    (provider,) = prod.of_type("pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-west-1"
    custom = [r for r in prod.registrations if r.custom and not r.type.startswith("pulumi:")]
    assert custom and all(r.provider.startswith(provider.urn + "::") for r in custom)


def test_buckets_are_protected_and_never_force_destroyed(prod: StackRun) -> None:
    buckets = prod.of_type("aws:s3/bucket:Bucket")
    assert sorted(b.inputs["bucket"] for b in buckets) == sorted([*BUCKETS.values(), LOG_BUCKET])
    for bucket in buckets:
        assert bucket.protect
        assert bucket.inputs["forceDestroy"] is False
        # ForceNew on aws_s3_bucket: never an input (Object Lock has a resource of its own).
        assert "objectLockEnabled" not in bucket.inputs


@pytest.mark.parametrize("layer", list(StorageLayer))
def test_each_layer_is_hardened(prod: StackRun, layer: StorageLayer) -> None:
    name = f"lake-{layer}"
    bucket_id = BUCKETS[layer]
    assert resource(prod, "bucketVersioning", f"{name}-versioning") == {
        "bucket": bucket_id,
        "versioningConfiguration": {"status": "Enabled"},
    }
    assert resource(prod, "bucketServerSideEncryptionConfiguration", f"{name}-encryption") == {
        "bucket": bucket_id,
        "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}],
    }
    assert resource(prod, "bucketPublicAccessBlock", f"{name}-public-access-block") == {
        "bucket": bucket_id,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    assert resource(prod, "bucketOwnershipControls", f"{name}-ownership") == {
        "bucket": bucket_id,
        "rule": {"objectOwnership": "BucketOwnerEnforced"},
    }
    policy = resource(prod, "bucketPolicy", f"{name}-policy")
    assert json.loads(policy["policy"]) == bucket_policy(layer, bucket_id, (), DEPLOYERS)
    assert resource(prod, "bucketLogging", f"{name}-access-logging") == {
        "bucket": bucket_id,
        "targetBucket": LOG_BUCKET,
        "targetPrefix": f"{bucket_id}/",
    }
    markers = [
        r.inputs
        for r in prod.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if r.inputs["bucket"] == bucket_id
    ]
    assert {m["key"] for m in markers} == {marker_key(p) for p in LAYOUT[layer].prefixes}
    # Zero-byte folder markers: no content, no source.
    assert all(not ({"content", "source", "contentBase64"} & set(m)) for m in markers)


def test_lifecycle_rules(prod: StackRun) -> None:
    common = [
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
        },
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "noncurrentVersionExpiration": {"noncurrentDays": 90},
            "expiration": {"expiredObjectDeleteMarker": True},
        },
    ]
    bronze_transition = {
        "id": "bronze-to-standard-ia",
        "status": "Enabled",
        "filter": {"prefix": ""},
        "transitions": [{"days": 30, "storageClass": "STANDARD_IA"}],
    }
    rules = {
        layer: resource(prod, "bucketLifecycleConfiguration", f"lake-{layer}-lifecycle")["rules"]
        for layer in StorageLayer
    }
    assert rules[StorageLayer.BRONZE] == [*common, bronze_transition]
    assert rules[StorageLayer.SILVER] == common
    assert rules[StorageLayer.GOLD] == common


def test_ordering_that_aws_needs(prod: StackRun) -> None:
    def depends_on(resource_name: str) -> set[str]:
        (found,) = [r for r in prod.registrations if r.name == resource_name]
        return {prod.by_urn(urn).name for urn in found.dependencies}

    for layer in StorageLayer:
        name = f"lake-{layer}"
        assert f"{name}-public-access-block" in depends_on(f"{name}-policy")
        markers = {f"{name}-marker-{p.rstrip('/')}" for p in LAYOUT[layer].prefixes}
        # Bronze's policy refuses writes without If-None-Match, which the markers lack.
        assert markers <= depends_on(f"{name}-policy")
        assert f"{name}-versioning" in depends_on(f"{name}-lifecycle")
        assert {f"{name}-encryption", f"{name}-ownership", f"{name}-versioning"} <= depends_on(
            f"{name}-marker-{LAYOUT[layer].prefixes[0].rstrip('/')}"
        )


def test_access_logging_starts_after_the_log_bucket_accepts_logs(prod: StackRun) -> None:
    """With object ownership enforced on the log bucket, only its bucket policy lets the
    logging service write there: logging configured before both exist loses its first logs."""
    for layer in StorageLayer:
        (logging,) = [r for r in prod.registrations if r.name == f"lake-{layer}-access-logging"]
        after = {prod.by_urn(urn).name for urn in logging.dependencies}
        assert {"lake-access-logs-policy", "lake-access-logs-ownership"} <= after


def test_the_access_log_bucket(prod: StackRun) -> None:
    policy = resource(prod, "bucketPolicy", "lake-access-logs-policy")
    assert json.loads(policy["policy"]) == access_log_bucket_policy(
        LOG_BUCKET, list(BUCKETS.values()), ACCOUNT_ID, ()
    )
    (provider,) = prod.of_type("pulumi:providers:aws")
    # The access-log bucket's and the table catalog's (its Glue ARNs) account lookups.
    assert len(prod.calls) == 2
    for token, through in prod.calls:
        assert token == "aws:index/getCallerIdentity:getCallerIdentity"
        assert through.startswith(provider.urn + "::"), "the account comes from the provider"
    encryption = resource(
        prod, "bucketServerSideEncryptionConfiguration", "lake-access-logs-encryption"
    )
    assert encryption["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]
    lifecycle = resource(prod, "bucketLifecycleConfiguration", "lake-access-logs-lifecycle")
    assert [rule["id"] for rule in lifecycle["rules"]] == [
        "abort-incomplete-multipart-uploads",
        "expire-access-logs",
        "remove-expired-delete-markers",
    ]


def test_bronze_refuses_deletes_and_unconditional_writes_from_anyone(prod: StackRun) -> None:
    policy = json.loads(resource(prod, "bucketPolicy", "lake-bronze-policy")["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert set(statements) == {
        "DenyInsecureTransport",
        "DenyObjectDeletion",
        "DenyUnconditionalObjectCreation",
        "DenyDeployerWritesOutsideMarkers",
        "DenyBucketConfigurationChanges",
    }
    assert statements["DenyUnconditionalObjectCreation"] == {
        "Sid": "DenyUnconditionalObjectCreation",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKETS[StorageLayer.BRONZE]}/*",
        "Condition": {
            "Null": {"s3:if-none-match": "true"},
            "Bool": {"s3:ObjectCreationOperation": "true"},
            "ArnNotLike": {"aws:PrincipalArn": list(DEPLOYERS)},
        },
    }
    assert "Condition" not in statements["DenyObjectDeletion"]
    assert statements["DenyInsecureTransport"]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    silver = json.loads(resource(prod, "bucketPolicy", "lake-silver-policy")["policy"])
    assert [s["Sid"] for s in silver["Statement"]] == ["DenyInsecureTransport"]


def test_role_policies_need_no_kms_without_a_key(prod: StackRun) -> None:
    for policy in prod.of_type("aws:iam/policy:Policy"):
        actions = json.dumps(json.loads(policy.inputs["policy"]))
        assert "kms:" not in actions


def test_role_policies_without_trust_config_create_no_roles(prod: StackRun) -> None:
    for role in ROLES:
        (policy,) = [
            r
            for r in prod.of_type("aws:iam/policy:Policy")
            if r.name == f"lake-access-{role}-policy"
        ]
        assert "name" not in policy.inputs
        assert policy.inputs["namePrefix"] == f"{PREFIX}-lake-{role}-"
        assert json.loads(policy.inputs["policy"]) == role_policy(role, BUCKETS)
    assert prod.of_type("aws:iam/role:Role") == []


def test_the_outputs_contract(prod: StackRun) -> None:
    assert prod.outputs == {
        "backend": "aws",
        "endpoint": None,
        "region": "eu-west-1",
        "buckets": {layer.value: name for layer, name in BUCKETS.items()},
        "bucketArns": {layer.value: f"arn:aws:s3:::{name}" for layer, name in BUCKETS.items()},
        "rolePolicies": {role: f"{PREFIX}-lake-{role}-{UNIQUE_SUFFIX}" for role in ROLES},
        "rolePolicyArns": {
            role: f"arn:aws:iam::111122223333:policy/{PREFIX}-lake-{role}-{UNIQUE_SUFFIX}"
            for role in ROLES
        },
        "roleArns": {},
        "accessLogBucket": LOG_BUCKET,
        "lifecycle": {
            "noncurrentVersionDays": 90,
            "abortIncompleteMultipartDays": 7,
            "bronzeTransitionDays": 30,
            "bronzeStorageClass": "STANDARD_IA",
        },
        "bronzeObjectLock": False,
        "defaultEncryption": "AES256",
        "catalog": {
            "kind": "glue",
            "region": "eu-west-1",
            "catalogId": "111122223333",
            "databases": {"silver": "acme_lake_prod_silver", "gold": "acme_lake_prod_gold"},
        },
        "catalogPolicyArns": {
            role: f"arn:aws:iam::111122223333:policy/{PREFIX}-lake-{role}-catalog-{UNIQUE_SUFFIX}"
            for role in ("transform", "publish", "analyst")
        },
    }
    assert prod.secret_outputs == set()


def test_lakeops_reads_the_outputs_as_an_aws_lake(prod: StackRun, tmp_path: Path) -> None:
    exported = tmp_path / "outputs-prod.json"
    exported.write_text(json.dumps(prod.outputs))

    config = LakeConfig.resolve(outputs_file=exported, env={})

    assert config.backend is Backend.AWS
    assert config.endpoint_url is None
    assert dict(config.buckets) == BUCKETS
    assert Lake(config).client.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"


TRUST: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
BREAK_GLASS = "arn:aws:iam::111122223333:role/lake-break-glass"
KMS_KEY = "arn:aws:kms:eu-west-1:111122223333:key/abcd"


@pytest.fixture(scope="module")
def prod_with_options() -> StackRun:
    return run_stack(
        "prod",
        {
            "lake:kmsKeyId": KMS_KEY,
            "lake:bronzeObjectLock": True,
            "lake:bronzeObjectLockMode": "COMPLIANCE",
            "lake:bronzeObjectLockDays": 400,
            "lake:breakGlassPrincipals": [BREAK_GLASS],
            "lake:roleTrust": {"ingest": TRUST, "analyst": TRUST},
            "lake:accessLogs": False,
        },
    )


def test_kms_encryption_uses_the_key_with_bucket_keys(prod_with_options: StackRun) -> None:
    assert prod_with_options.outputs["defaultEncryption"] == "aws:kms"
    for layer in StorageLayer:
        encryption = resource(
            prod_with_options, "bucketServerSideEncryptionConfiguration", f"lake-{layer}-encryption"
        )
        assert encryption["rules"] == [
            {
                "applyServerSideEncryptionByDefault": {
                    "sseAlgorithm": "aws:kms",
                    "kmsMasterKeyId": KMS_KEY,
                },
                "bucketKeyEnabled": True,
            }
        ]


def test_object_lock_is_on_bronze_only_with_default_retention(prod_with_options: StackRun) -> None:
    for bucket in prod_with_options.of_type("aws:s3/bucket:Bucket"):
        assert "objectLockEnabled" not in bucket.inputs
    (lock,) = prod_with_options.of_type(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
    )
    assert lock.inputs == {
        "bucket": BUCKETS[StorageLayer.BRONZE],
        "objectLockEnabled": "Enabled",
        "rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 400}},
    }
    assert prod_with_options.outputs["bronzeObjectLock"] is True


def test_break_glass_principals_are_exempt_from_the_bronze_denies(
    prod_with_options: StackRun,
) -> None:
    policy = json.loads(resource(prod_with_options, "bucketPolicy", "lake-bronze-policy")["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["DenyObjectDeletion"]["Condition"] == {
        "ArnNotLike": {"aws:PrincipalArn": [BREAK_GLASS]}
    }
    administrators = {"ArnNotLike": {"aws:PrincipalArn": [*DEPLOYERS, BREAK_GLASS]}}
    assert statements["DenyUnconditionalObjectCreation"]["Condition"] == {
        "Null": {"s3:if-none-match": "true"},
        "Bool": {"s3:ObjectCreationOperation": "true"},
        **administrators,
    }
    assert statements["DenyBucketConfigurationChanges"]["Condition"] == administrators


def test_with_kms_every_role_may_use_the_key_through_s3_only(prod_with_options: StackRun) -> None:
    for role, spec in ROLES.items():
        (policy,) = [
            r
            for r in prod_with_options.of_type("aws:iam/policy:Policy")
            if r.name == f"lake-access-{role}-policy"
        ]
        statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
        kms = statements["UseTheLakeKeyThroughS3"]
        assert kms["Resource"] == KMS_KEY
        assert kms["Condition"] == {
            "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
        }
        expected = ["kms:Decrypt", "kms:GenerateDataKey"] if spec.writes else ["kms:Decrypt"]
        assert kms["Action"] == expected


def test_roles_are_created_where_trust_is_configured(prod_with_options: StackRun) -> None:
    roles = {r.inputs["name"]: r.inputs for r in prod_with_options.of_type("aws:iam/role:Role")}
    assert all(role["tags"] == TAGS for role in roles.values())
    assert set(roles) == {f"{PREFIX}-lake-ingest", f"{PREFIX}-lake-analyst"}
    assert json.loads(roles[f"{PREFIX}-lake-ingest"]["assumeRolePolicy"]) == TRUST
    attachments = prod_with_options.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    policy_arn = f"arn:aws:iam::111122223333:policy/{PREFIX}-lake-{{}}-{UNIQUE_SUFFIX}"
    assert sorted((a.inputs["role"], a.inputs["policyArn"]) for a in attachments) == [
        (f"{PREFIX}-lake-analyst", policy_arn.format("analyst")),
        # The analyst's Glue policy too (tests/infra/test_catalog.py); ingest has none.
        (f"{PREFIX}-lake-analyst", policy_arn.format("analyst-catalog")),
        (f"{PREFIX}-lake-ingest", policy_arn.format("ingest")),
    ]
    assert set(prod_with_options.outputs["roleArns"]) == {"ingest", "analyst"}


def test_without_access_logs_there_is_no_log_bucket(prod_with_options: StackRun) -> None:
    assert prod_with_options.of_type("lakeops:aws:AccessLogBucket") == []
    assert prod_with_options.of_type("aws:s3/bucketLogging:BucketLogging") == []
    assert "accessLogBucket" not in prod_with_options.outputs


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lake:bucketPrefix": ""}, "needs lake:bucketPrefix"),
        ({"lake:bronzeStorageClass": "COLD"}, "bronzeStorageClass must be one of"),
        ({"lake:breakGlassPrincipals": ["root"]}, "is not an ARN"),
        ({"lake:accountId": None}, "lake:accountId must be the 12-digit ID"),
        ({"lake:accountId": "acme"}, "lake:accountId must be the 12-digit ID"),
        ({"lake:deployerPrincipals": None}, "lake:deployerPrincipals must name who runs"),
        (
            {"lake:deployerPrincipals": ["arn:aws:iam::444455556666:role/deployer"]},
            "is in account 444455556666, not in lake:accountId 111122223333",
        ),
        (
            {"lake:kmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/abcd"},
            "is a key in us-east-1, but the stack's buckets are in eu-west-1",
        ),
        (
            {
                "lake:roleTrust": {
                    "ingest": {"Statement": [{**TRUST["Statement"][0], "Principal": "*"}]}
                }
            },
            "lets anyone assume the role",
        ),
        (
            {
                "lake:roleTrust": {
                    "ingest": {"Statement": [{**TRUST["Statement"][0], "Principal": {"AWS": "*"}}]}
                }
            },
            "lets anyone assume the role",
        ),
        (
            {
                "lake:roleTrust": {
                    "ingest": {"Statement": [{**TRUST["Statement"][0], "Action": "sts:*"}]}
                }
            },
            "must be among",
        ),
        ({"lake:roleTrust": {"ingest": {"Version": "2012-10-17"}}}, "is not a trust policy"),
        ({"lake:tags": {"managed-by": "me"}}, "may not set"),
        ({"lake:tags": {f"k{n}": "v" for n in range(48)}}, "at most 47"),
        ({"lake:roleTrust": {"admin": TRUST}}, "unknown roles"),
        ({"lake:abortIncompleteMultipartDays": 0}, "abortIncompleteMultipartDays"),
        ({"lake:bronzeTransitionDays": 7}, "at least 30 for STANDARD_IA"),
        ({"lake:kmsKeyId": "alias/lake"}, "not a key ARN"),
    ],
)
def test_bad_config_fails_with_the_key_and_the_fix(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(LakeArgsError, match=message):
        run_stack("prod", overrides)
