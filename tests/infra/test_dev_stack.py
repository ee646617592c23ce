"""The dev stack (MinIO), run under Pulumi's mocks with the committed Pulumi.dev.yaml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from pulumi.runtime import rpc

from lakeinfra.args import LakeArgsError
from lakeinfra.markers import DELETE_MARKER, PUT_MARKER, curl_login
from lakeinfra.policies import ROLES, role_policy
from lakeops import Backend, LakeConfig, StorageLayer
from lakeops.layout import LAYOUT, marker_key
from tests.support.pulumi_stack import REPO, Registration, StackRun, run_stack

BUCKETS = {StorageLayer.BRONZE: "raw", StorageLayer.SILVER: "staging", StorageLayer.GOLD: "curated"}

EXPECTED_TYPES = Counter(
    {
        "pulumi:providers:minio": 1,
        "pulumi:providers:command": 1,
        "command:local:Command": 10,
        "lakeops:index:MedallionLake": 1,
        "lakeops:minio:LakeLayer": 3,
        "minio:index/s3Bucket:S3Bucket": 3,
        "minio:index/s3BucketVersioning:S3BucketVersioning": 3,
        "minio:index/ilmPolicy:IlmPolicy": 3,
        "lakeops:minio:LakeAccess": 1,
        "minio:index/iamPolicy:IamPolicy": 4,
        "minio:index/iamUser:IamUser": 4,
        "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment": 4,
    }
)


@pytest.fixture(scope="module")
def dev() -> StackRun:
    return run_stack("dev")


def test_the_dev_stack_declares_exactly_this_graph(dev: StackRun) -> None:
    assert dev.type_counts() == EXPECTED_TYPES
    assert len(dev.registrations) == 38


def test_dev_declares_no_aws_resources(dev: StackRun) -> None:
    assert not [
        r.type for r in dev.registrations if r.type.startswith(("aws:", "pulumi:providers:aws"))
    ]


def test_every_resource_uses_an_explicit_provider_of_its_package(dev: StackRun) -> None:
    (provider,) = dev.of_type("pulumi:providers:minio")
    assert provider.inputs["minioServer"] == "localhost:9000"
    assert provider.inputs["minioUser"] == "minio"
    assert provider.inputs["minioRegion"] == "us-east-1"
    assert provider.inputs["minioSsl"] == "false"
    (commands,) = dev.of_type("pulumi:providers:command")
    custom = [r for r in dev.registrations if r.custom and not r.type.startswith("pulumi:")]
    assert custom
    for resource in custom:
        expected = commands if resource.type.startswith("command:") else provider
        assert resource.provider.startswith(expected.urn + "::"), resource.name


def test_layers_are_children_of_the_lake_and_resources_of_their_layer(dev: StackRun) -> None:
    (lake,) = dev.of_type("lakeops:index:MedallionLake")
    for layer in StorageLayer:
        component = dev.one("lakeops:minio:LakeLayer", f"lake-{layer}")
        assert component.parent == lake.urn
        bucket = dev.one("minio:index/s3Bucket:S3Bucket", f"lake-{layer}-bucket")
        assert bucket.parent == component.urn


def test_buckets_are_private_versioned_and_named_by_the_layout(dev: StackRun) -> None:
    for layer, name in BUCKETS.items():
        bucket = dev.one("minio:index/s3Bucket:S3Bucket", f"lake-{layer}-bucket")
        # The provider ignores later changes to locking; a change must replace the bucket.
        assert bucket.replace_on_changes == ("objectLocking",)
        assert bucket.inputs["bucket"] == name
        assert bucket.inputs["acl"] == "private"
        assert bucket.inputs["objectLocking"] is False
        versioning = dev.one(
            "minio:index/s3BucketVersioning:S3BucketVersioning", f"lake-{layer}-versioning"
        )
        assert versioning.inputs["bucket"] == name
        assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}


@pytest.mark.parametrize("overrides", [{}, {"lake:bronzeObjectLock": True}])
def test_a_bucket_replacement_deletes_the_old_bucket_first(overrides: dict[str, object]) -> None:
    """Bucket names are fixed, and provider 1.20.1 refuses to create a bucket that exists
    ("bucket already exists!"), so Pulumi's default create-then-delete replacement cannot
    work: the old bucket must go first. Its versioning and ILM policy name it as an input
    (ForceNew in the provider), so the engine deletes them before it and recreates them after
    the new bucket; the program writes the markers into the new bucket once its versioning
    is on (test_a_marker_resource_establishes_every_declared_prefix)."""
    run = run_stack("dev", overrides)
    for layer in StorageLayer:
        bucket = run.one("minio:index/s3Bucket:S3Bucket", f"lake-{layer}-bucket")
        assert bucket.replace_on_changes == ("objectLocking",)
        assert bucket.delete_before_replace
        for kind, name in [
            ("minio:index/s3BucketVersioning:S3BucketVersioning", f"lake-{layer}-versioning"),
            ("minio:index/ilmPolicy:IlmPolicy", f"lake-{layer}-lifecycle"),
        ]:
            assert bucket.urn in run.one(kind, name).dependencies


def test_destroying_versioning_leaves_it_on(dev: StackRun) -> None:
    """Deleting the versioning resource suspends versioning, which MinIO refuses on a bucket
    with object lock; the bucket's own deletion (force_destroy) removes it anyway."""
    for layer in StorageLayer:
        versioning = dev.one(
            "minio:index/s3BucketVersioning:S3BucketVersioning", f"lake-{layer}-versioning"
        )
        assert versioning.retain_on_delete


def markers_of(run: StackRun) -> dict[tuple[str, str], Registration]:
    """The marker Commands, by (bucket, key)."""
    found = {}
    for command in run.of_type("command:local:Command"):
        environment = command.inputs["environment"]
        found[(environment["LAKE_BUCKET"], environment["LAKE_MARKER_KEY"])] = command
    return found


def test_a_marker_resource_establishes_every_declared_prefix(dev: StackRun) -> None:
    """The MinIO provider cannot create a '<prefix>/' object (lakeinfra.markers): each marker
    is a Command that PUTs it with the provider's own server and login, once the bucket's
    versioning exists, and deletes it when the prefix goes."""
    expected = {
        (BUCKETS[layer], marker_key(prefix))
        for layer, spec in LAYOUT.items()
        for prefix in spec.prefixes
    }
    markers = markers_of(dev)
    assert set(markers) == expected
    layer_of = {bucket: layer for layer, bucket in BUCKETS.items()}
    for (bucket, key), command in markers.items():
        layer = layer_of[bucket]
        assert command.name == f"lake-{layer}-marker-{key.rstrip('/')}"
        assert command.inputs["create"] == PUT_MARKER
        assert command.inputs["delete"] == DELETE_MARKER
        assert command.inputs["environment"] == {
            "LAKE_S3_ENDPOINT": "http://localhost:9000",
            "LAKE_S3_REGION": "us-east-1",
            "LAKE_BUCKET": bucket,
            "LAKE_MARKER_KEY": key,
        }
        # The login reaches curl on stdin, a Pulumi secret: never in the environment.
        assert command.inputs["stdin"] == {
            rpc._special_sig_key: rpc._special_secret_sig,
            "value": curl_login("minio", "minio123"),
        }
        versioning = dev.one(
            "minio:index/s3BucketVersioning:S3BucketVersioning", f"lake-{layer}-versioning"
        )
        bucket_resource = dev.one("minio:index/s3Bucket:S3Bucket", f"lake-{layer}-bucket")
        assert versioning.urn in command.dependencies
        # Replaced with the bucket (triggers are replaceOnChanges in pulumi-command).
        assert command.inputs["triggers"] == [bucket, bucket]
        assert bucket_resource.urn in command.dependencies
    assert dev.of_type("minio:index/s3Object:S3Object") == []


def test_a_preview_declares_the_same_markers_and_a_second_run_changes_nothing(
    dev: StackRun,
) -> None:
    """What preview shows is what an update does, and running the program again declares
    the same inputs for every resource: no diff, so no marker command runs again."""
    preview = run_stack("dev", preview=True)
    assert set(markers_of(preview)) == set(markers_of(dev))
    again = run_stack("dev")
    first = {r.urn: r.inputs for r in dev.registrations}
    assert {r.urn: r.inputs for r in again.registrations} == first
    assert {r.urn: r.inputs for r in preview.registrations if r.type.startswith("command:")} == {
        urn: inputs for urn, inputs in first.items() if "command:local:Command" in urn
    }


def test_one_ilm_policy_per_bucket_expires_noncurrent_versions(dev: StackRun) -> None:
    policies = dev.of_type("minio:index/ilmPolicy:IlmPolicy")
    assert sorted(p.inputs["bucket"] for p in policies) == sorted(BUCKETS.values())
    for policy in policies:
        assert policy.inputs["rules"] == [
            {"id": "expire-noncurrent-versions", "noncurrentVersionExpirationDays": 30}
        ]


def test_each_role_gets_its_policy_a_user_and_the_attachment(dev: StackRun) -> None:
    for role in ROLES:
        policy = dev.one("minio:index/iamPolicy:IamPolicy", f"lake-access-{role}-policy")
        assert policy.inputs["name"] == f"lake-{role}"
        document = json.loads(policy.inputs["policy"])
        assert document == role_policy(role, BUCKETS)
        # MinIO checks s3:DeleteObjectVersion with DenyOnly: only this Deny keeps versions.
        assert {
            "Sid": "DenyRemovingVersions",
            "Effect": "Deny",
            "Action": ["s3:DeleteObjectVersion"],
            "Resource": [f"arn:aws:s3:::{bucket}/*" for bucket in ("raw", "staging", "curated")],
        } in document["Statement"]
        user = dev.one("minio:index/iamUser:IamUser", f"lake-access-{role}-user")
        assert user.inputs["name"] == f"lake-{role}"
        attachment = dev.one(
            "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment",
            f"lake-access-{role}-attachment",
        )
        assert attachment.inputs == {"userName": f"lake-{role}", "policyName": f"lake-{role}"}


def test_the_outputs_contract(dev: StackRun) -> None:
    assert dev.outputs == {
        "backend": "minio",
        "endpoint": "http://localhost:9000",
        "region": "us-east-1",
        "buckets": {"bronze": "raw", "silver": "staging", "gold": "curated"},
        "bucketArns": {
            "bronze": "arn:aws:s3:::raw",
            "silver": "arn:aws:s3:::staging",
            "gold": "arn:aws:s3:::curated",
        },
        "rolePolicies": {role: f"lake-{role}" for role in ROLES},
        "roleArns": {},
        "roleCredentials": {
            role: {
                "accessKeyId": f"lake-{role}",
                "secretAccessKey": f"generated-secret-of-lake-{role}",
            }
            for role in ROLES
        },
        "lifecycle": {
            "noncurrentVersionDays": 30,
            "abortIncompleteMultipartDays": None,
            "bronzeTransitionDays": None,
            "bronzeStorageClass": None,
        },
        "bronzeObjectLock": False,
        "defaultEncryption": None,
        # The embedded SQLite catalog, beside the exported outputs (tests/infra/test_catalog.py).
        "catalog": {
            "kind": "sqlite",
            "path": "catalog-dev.db",
            "databases": {"silver": "silver", "gold": "gold"},
        },
    }
    assert dev.secret_outputs == {"roleCredentials"}


def test_lakeops_reads_the_outputs_as_the_dev_lake(dev: StackRun, tmp_path: Path) -> None:
    # What `make outputs` exports (pulumi stack output --json): secrets masked.
    exported = tmp_path / "outputs-dev.json"
    exported.write_text(json.dumps({**dev.outputs, "roleCredentials": "[secret]"}))

    from_stack = LakeConfig.resolve(outputs_file=exported, env={})
    defaults = LakeConfig.resolve(env={})

    assert from_stack.backend is Backend.MINIO
    assert from_stack.endpoint_url == defaults.endpoint_url == "http://localhost:9000"
    assert from_stack.region == defaults.region == "us-east-1"
    assert dict(from_stack.buckets) == dict(defaults.buckets) == BUCKETS
    assert from_stack.lifecycle is not None
    assert from_stack.lifecycle.noncurrent_version_days == 30


def test_object_lock_applies_to_the_bronze_bucket_only() -> None:
    run = run_stack("dev", {"lake:bronzeObjectLock": True})
    locking = {
        r.inputs["bucket"]: r.inputs["objectLocking"]
        for r in run.of_type("minio:index/s3Bucket:S3Bucket")
    }
    assert locking == {"raw": True, "staging": False, "curated": False}
    assert run.outputs["bronzeObjectLock"] is True


def test_a_bucket_prefix_renames_buckets_and_principals() -> None:
    run = run_stack("dev", {"lake:bucketPrefix": "team-a"})
    assert run.outputs["buckets"] == {
        "bronze": "team-a-raw",
        "silver": "team-a-staging",
        "gold": "team-a-curated",
    }
    assert run.outputs["rolePolicies"]["ingest"] == "team-a-lake-ingest"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lake:backend": "gcs"}, "lake:backend is 'gcs'"),
        ({"lake:noncurrentVersionDays": 0}, "noncurrentVersionDays must be"),
        ({"lake:bucketPrefix": "Team_A"}, "bucketPrefix 'Team_A'"),
        ({"lake:bronzeObjectLock": True, "lake:bronzeObjectLockMode": "STRICT"}, "GOVERNANCE"),
    ],
)
def test_bad_config_fails_with_the_key_and_the_fix(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(LakeArgsError, match=message):
        run_stack("dev", overrides)


def test_the_dev_stack_runs_without_the_aws_provider_installed() -> None:
    """minio-init installs only lakeops[infra-minio]: Pulumi fetches a plugin per installed SDK."""
    script = (
        "import sys\n"
        "sys.modules['pulumi_aws'] = None  # importing it now fails\n"
        "from tests.support.pulumi_stack import run_stack\n"
        "run = run_stack('dev')\n"
        "print(len(run.registrations))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": f"{REPO / 'infra'}{os.pathsep}{REPO}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "38"


def test_role_policies_come_after_the_buckets_they_name(dev: StackRun) -> None:
    """depends_on set on a component does not reach its children (the SDK inherits only
    protect and providers), so it is on each policy."""
    buckets = {r.urn for r in dev.of_type("minio:index/s3Bucket:S3Bucket")}
    for policy in dev.of_type("minio:index/iamPolicy:IamPolicy"):
        assert buckets <= set(policy.dependencies), policy.name
