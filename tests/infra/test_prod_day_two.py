"""Day two of the prod stack, under Pulumi's mocks: what a teardown keeps, what a routine edit
does (in place, replaced, refused), and the guards around who and where.

The engine's and the providers' behaviour these tests rely on, as read in their source:

- protect: a child takes its parent's ``protect`` unless it sets its own
  (pulumi/pulumi sdk/python/lib/pulumi/resource.py, Resource.__init__), and the engine refuses
  to delete or replace a protected resource, preview included (pkg/resource/deploy/step.go,
  DeleteStep.Apply; step_generator.go, generateSteps: "unable to replace resource").
- retain_on_delete: DeleteStep.Apply drops the resource from the state without calling the
  provider.
- ForceNew inputs of the fixed-name AWS resources, from terraform-provider-aws as bridged by
  pulumi-aws 7.51.1 (below, FORCE_NEW); the engine replaces create-before-delete unless told
  otherwise, so a ForceNew change to a resource with a fixed name collides with itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from lakeinfra import aws_lake
from lakeinfra.policies import ROLES
from lakeops.layout import LAYOUT, StorageLayer
from tests.infra.test_prod_stack import TRUST
from tests.support.pulumi_stack import StackRun, run_stack

PREFIX = "acme-lake-prod"
BRONZE = f"{PREFIX}-raw"
DEPLOYER = "arn:aws:iam::111122223333:role/lake-deployer"
LAYER_COMPONENTS = ("lakeops:aws:LakeLayer", "lakeops:aws:AccessLogBucket")
MARKER = "aws:s3/bucketObjectv2:BucketObjectv2"

# Inputs whose change replaces the resource (terraform-provider-aws schemas): aws_iam_policy
# (internal/service/iam/policy.go, resourcePolicy: name, name_prefix, description, path),
# aws_iam_role (internal/service/iam/role.go: name, name_prefix, path; description and the
# trust policy update in place), aws_s3_bucket (internal/service/s3/bucket.go: bucket,
# bucket_prefix, object_lock_enabled).
FORCE_NEW = {
    "aws:iam/policy:Policy": {"name", "namePrefix", "description", "path"},
    "aws:iam/role:Role": {"name", "namePrefix", "path"},
    "aws:s3/bucket:Bucket": {"bucket", "bucketPrefix", "objectLockEnabled"},
}
# The input that fixes each one's name, when given.
FIXED_NAME = {
    "aws:iam/policy:Policy": "name",
    "aws:iam/role:Role": "name",
    "aws:s3/bucket:Bucket": "bucket",
}


@pytest.fixture(scope="module")
def prod() -> StackRun:
    return run_stack("prod")


# -- 1. a teardown by automation --------------------------------------------------------------


def test_nothing_of_a_layer_or_the_log_bucket_can_be_deleted_but_its_markers(
    prod: StackRun,
) -> None:
    """`destroy --skip-preview`, or `up` after turning accessLogs off, deletes dependents
    before the bucket: every one of them must be refused, not only the bucket."""
    components = [r for r in prod.registrations if r.type in LAYER_COMPONENTS]
    assert len(components) == 4
    assert all(c.protect for c in components)
    children = [r for r in prod.registrations if r.parent in {c.urn for c in components}]
    assert len(children) == 41
    for child in children:
        if child.type == MARKER:
            assert not child.protect and child.retain_on_delete, child.name
        else:
            assert child.protect, f"{child.name} would be deleted before its bucket refuses"
    versionings = prod.of_type("aws:s3/bucketVersioning:BucketVersioning")
    assert len(versionings) == 4
    assert all(v.retain_on_delete for v in versionings), "deleting it suspends versioning"


# -- 2. bronzeObjectLock -----------------------------------------------------------------------


def test_object_lock_is_turned_on_on_the_existing_bucket_after_versioning() -> None:
    run = run_stack("prod", {"lake:bronzeObjectLock": True})
    for bucket in run.of_type("aws:s3/bucket:Bucket"):
        assert "objectLockEnabled" not in bucket.inputs, "ForceNew: a toggle replaced the bucket"
    (lock,) = run.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["objectLockEnabled"] == "Enabled"
    assert lock.protect
    versioning = run.one("aws:s3/bucketVersioning:BucketVersioning", "lake-bronze-versioning")
    assert versioning.urn in lock.dependencies
    assert run.outputs["bronzeObjectLock"] is True


def test_object_lock_on_a_bucket_that_has_it_stays_on() -> None:
    """Enabled by an earlier `up`, or out of band: refresh reads it, and no diff follows."""
    locked = {"lake-bronze-bucket": {"objectLockEnabled": True}}
    run = run_stack("prod", {"lake:bronzeObjectLock": True}, provider_state=locked)
    assert run.outputs["bronzeObjectLock"] is True


def test_turning_object_lock_off_is_refused() -> None:
    locked = {"lake-bronze-bucket": {"objectLockEnabled": True}}
    with pytest.raises(ValueError, match="AWS cannot turn it off"):
        run_stack("prod", {"lake:bronzeObjectLock": False}, provider_state=locked)
    with pytest.raises(ValueError, match="AWS cannot turn it off"):
        run_stack("prod", {"lake:bronzeObjectLock": False}, provider_state=locked, preview=True)


# -- 3. routine edits of roles and policies ----------------------------------------------------


def colliding_replacements(before: StackRun, after: StackRun) -> list[str]:
    """Resources the second run replaces although their name is fixed: Pulumi creates the
    replacement first, under the same name, and the cloud refuses it."""
    old = {r.urn: r for r in before.registrations}
    found = []
    for new in after.registrations:
        if new.type not in FORCE_NEW or new.urn not in old:
            continue
        previous = old[new.urn].inputs
        changed = {
            key for key in {*previous, *new.inputs} if previous.get(key) != new.inputs.get(key)
        }
        if changed & FORCE_NEW[new.type] and FIXED_NAME[new.type] in new.inputs:
            found.append(f"{new.name}: {sorted(changed & FORCE_NEW[new.type])}")
    return found


@pytest.fixture
def edited_purposes(monkeypatch: pytest.MonkeyPatch) -> None:
    edited = {
        role: dataclasses.replace(spec, purpose=f"{spec.purpose}, as edited")
        for role, spec in ROLES.items()
    }
    monkeypatch.setattr(aws_lake, "ROLES", edited)


def test_editing_a_roles_purpose_replaces_nothing_under_a_fixed_name(
    prod: StackRun, edited_purposes: None
) -> None:
    with_roles = {"lake:roleTrust": {"ingest": TRUST}}
    before = run_stack("prod", with_roles)
    after = run_stack("prod", with_roles)
    assert colliding_replacements(before, after) == []
    described = after.one("aws:iam/policy:Policy", "lake-access-ingest-policy")
    assert described.inputs["description"].endswith("as edited.")
    assert colliding_replacements(prod, run_stack("prod")) == []


def test_the_policy_names_are_exported(prod: StackRun) -> None:
    for role in ROLES:
        policy = prod.one("aws:iam/policy:Policy", f"lake-access-{role}-policy")
        assert prod.outputs["rolePolicies"][role] == policy.state["name"]
        assert policy.state["name"].startswith(f"{PREFIX}-lake-{role}-")


def test_a_changed_trust_policy_updates_the_role_in_place() -> None:
    before = run_stack("prod", {"lake:roleTrust": {"ingest": TRUST}})
    other = {**TRUST, "Statement": [{**TRUST["Statement"][0], "Principal": {"Service": "x.aws"}}]}
    after = run_stack("prod", {"lake:roleTrust": {"ingest": other}})
    assert colliding_replacements(before, after) == []


# -- 4. a layout change ------------------------------------------------------------------------


@pytest.fixture
def bronze_with_an_extra_prefix() -> Iterator[str]:
    """LAYOUT with bronze's prefixes plus 'events/', as a commit that adds one would have it."""
    spec = LAYOUT[StorageLayer.BRONZE]
    declared = spec.prefixes
    object.__setattr__(spec, "prefixes", (*declared, "events/"))
    try:
        yield "events/"
    finally:
        object.__setattr__(spec, "prefixes", declared)


def bronze_policy(run: StackRun) -> dict[str, Any]:
    policy = run.one("aws:s3/bucketPolicy:BucketPolicy", "lake-bronze-policy")
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


def test_adding_a_bronze_prefix_adds_a_marker_the_deployer_may_write(
    prod: StackRun, bronze_with_an_extra_prefix: str
) -> None:
    run = run_stack("prod")
    marker = run.one(MARKER, "lake-bronze-marker-events")
    assert marker.inputs == {"bucket": BRONZE, "key": "events/"}
    assert not marker.protect and marker.retain_on_delete
    statements = bronze_policy(run)
    # The deployer is exempt from the If-None-Match rule (BucketObjectv2 sends none) ...
    assert (
        DEPLOYER
        in statements["DenyUnconditionalObjectCreation"]["Condition"]["ArnNotLike"][
            "aws:PrincipalArn"
        ]
    )
    # ... for the markers alone, the new one included.
    outside = statements["DenyDeployerWritesOutsideMarkers"]
    assert f"arn:aws:s3:::{BRONZE}/events/" in outside["NotResource"]
    assert outside["Condition"]["ArnLike"] == {"aws:PrincipalArn": [DEPLOYER]}
    # Every role that reads or writes bronze gets the new prefix.
    ingest = json.loads(
        run.one("aws:iam/policy:Policy", "lake-access-ingest-policy").inputs["policy"]
    )
    assert f"arn:aws:s3:::{BRONZE}/events/*" in json.dumps(ingest)
    assert colliding_replacements(prod, run) == []


def test_removing_a_bronze_prefix_keeps_its_marker_and_asks_nobody(
    bronze_with_an_extra_prefix: str,
) -> None:
    """The marker's last registration is what the engine acts on when it leaves the program:
    unprotected (nothing refuses the delete) and retained (no DeleteObject, which bronze's
    policy would refuse)."""
    with_it = run_stack("prod")
    marker = with_it.one(MARKER, "lake-bronze-marker-events")
    assert not marker.protect and marker.retain_on_delete


# -- 6. tags -----------------------------------------------------------------------------------


def test_objects_carry_no_tags_however_many_the_stack_sets() -> None:
    """Provider default tags went onto every marker as object tags; S3 takes 10 per object."""
    many = {f"cost-centre-{n}": str(n) for n in range(12)}
    run = run_stack("prod", {"lake:tags": many})
    (provider,) = run.of_type("pulumi:providers:aws")
    assert "defaultTags" not in provider.inputs
    markers = run.of_type(MARKER)
    assert len(markers) == 10
    assert all("tags" not in m.inputs for m in markers)
    expected = {"managed-by": "pulumi", "system": "lake", **many}
    for bucket in run.of_type("aws:s3/bucket:Bucket"):
        layer = bucket.inputs["tags"].pop("lake-layer")
        assert layer in {"bronze", "silver", "gold", "access-logs"}
        assert bucket.inputs["tags"] == expected
    for policy in run.of_type("aws:iam/policy:Policy"):
        assert policy.inputs["tags"] == expected


# -- 7. the account guard ----------------------------------------------------------------------


def test_the_provider_acts_in_the_configured_account_only(prod: StackRun) -> None:
    (provider,) = prod.of_type("pulumi:providers:aws")
    assert json.loads(provider.inputs["allowedAccountIds"]) == ["111122223333"]


# -- 8. least privilege ------------------------------------------------------------------------


def statements_of(run: StackRun, role: str) -> dict[str, dict[str, Any]]:
    policy = run.one("aws:iam/policy:Policy", f"lake-access-{role}-policy")
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


def test_roles_list_only_under_their_layers_prefixes(prod: StackRun) -> None:
    statements = statements_of(prod, "transform")
    for layer, bucket in (
        (StorageLayer.BRONZE, BRONZE),
        (StorageLayer.SILVER, f"{PREFIX}-staging"),
    ):
        listing = statements[f"List{layer.value.capitalize()}"]
        assert listing["Action"] == ["s3:ListBucket", "s3:ListBucketVersions"]
        assert listing["Resource"] == f"arn:aws:s3:::{bucket}"
        assert listing["Condition"] == {
            "StringLike": {"s3:prefix": [f"{p}*" for p in LAYOUT[layer].prefixes]}
        }
    unconditioned = [
        s
        for s in statements.values()
        if s["Effect"] == "Allow" and "Condition" not in s and "s3:ListBucket" in s["Action"]
    ]
    assert unconditioned == []


def test_ingest_may_not_retag_bronze_objects(prod: StackRun) -> None:
    assert "s3:PutObjectTagging" not in statements_of(prod, "ingest")["WriteBronze"]["Action"]
    assert "s3:PutObjectTagging" in statements_of(prod, "transform")["WriteSilver"]["Action"]


def test_the_access_log_bucket_is_versioned_and_refuses_deletes(prod: StackRun) -> None:
    versioning = prod.one("aws:s3/bucketVersioning:BucketVersioning", "lake-access-logs-versioning")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    policy = prod.one("aws:s3/bucketPolicy:BucketPolicy", "lake-access-logs-policy")
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["DenyObjectDeletion"]["Action"] == [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
    ]
    lifecycle = prod.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "lake-access-logs-lifecycle",
    )
    assert versioning.urn in lifecycle.dependencies
    expiry = lifecycle.inputs["rules"][1]
    assert expiry["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
