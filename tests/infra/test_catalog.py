"""The table catalog each stack declares, under Pulumi's mocks: the dev stack's SQLite and
PostgreSQL catalogs (outputs only), the prod stack's Glue databases and role policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakeinfra.catalog import (
    GLUE_READ_ACTIONS,
    GLUE_WRITE_ACTIONS,
    CatalogArgsError,
    catalog_policy,
    glue_arns,
)
from lakeops import ConfigurationError, LakeConfig, StorageLayer
from lakeops.catalog_contract import CatalogKind
from tests.infra.test_prod_stack import TRUST
from tests.support.pulumi_stack import ACCOUNT_ID, UNIQUE_SUFFIX, StackRun, run_stack

SILVER, GOLD = StorageLayer.SILVER, StorageLayer.GOLD
PREFIX = "acme-lake-prod"
DATABASES = {SILVER: "acme_lake_prod_silver", GOLD: "acme_lake_prod_gold"}
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def prod() -> StackRun:
    return run_stack("prod", {"lake:roleTrust": {"transform": TRUST, "ingest": TRUST}})


# -- dev ----------------------------------------------------------------------------------------


def test_dev_declares_the_embedded_sqlite_catalog_and_no_resource_for_it(tmp_path: Path) -> None:
    dev = run_stack("dev")
    assert dev.outputs["catalog"] == {
        "kind": "sqlite",
        "path": "catalog-dev.db",
        "databases": {"silver": "silver", "gold": "gold"},
    }
    assert not [r for r in dev.registrations if "glue" in r.type or "Catalog" in r.type]
    # Exported by `make outputs` into the checkout's .lakeops/, the file sits beside it.
    exported = tmp_path / ".lakeops" / "outputs-dev.json"
    exported.parent.mkdir()
    exported.write_text(json.dumps({**dev.outputs, "roleCredentials": "[secret]"}))
    spec = LakeConfig.resolve(outputs_file=exported, env={}).catalog
    assert spec is not None and spec.kind is CatalogKind.SQLITE
    assert spec.path == (tmp_path / ".lakeops" / "catalog-dev.db").resolve()


def test_the_shared_dev_catalog_is_postgres_with_its_password_a_secret(tmp_path: Path) -> None:
    dev = run_stack("dev", {"lake:catalog": "postgres", "lake:catalogPassword": "a-dev-password"})
    assert dev.outputs["catalog"] == {
        "kind": "postgres",
        "host": "localhost",
        "port": 5432,
        "database": "lakeops_catalog",
        "user": "lakeops",
        "databases": {"silver": "silver", "gold": "gold"},
    }
    assert dev.outputs["catalogPassword"] == "a-dev-password"
    assert dev.secret_outputs == {"roleCredentials", "catalogPassword"}
    exported = tmp_path / "outputs-dev.json"
    exported.write_text(json.dumps(dev.outputs))
    config = LakeConfig.resolve(outputs_file=exported, env={})
    assert config.catalog is not None and config.catalog.password == "a-dev-password"
    assert "a-dev-password" not in repr(config)
    shown = {name: value for name, value, _ in config.describe()}
    assert shown["catalog"] == "postgres lakeops@localhost:5432/lakeops_catalog"


@pytest.mark.parametrize(
    ("stack", "overrides", "message"),
    [
        ("dev", {"lake:catalog": "postgres"}, "needs lake:catalogPassword"),
        ("dev", {"lake:catalog": "glue"}, "on minio use sqlite or postgres"),
        ("dev", {"lake:catalog": "oracle"}, "use sqlite or postgres (dev), glue (prod)"),
        ("prod", {"lake:catalog": "sqlite"}, "on aws use glue"),
    ],
)
def test_a_catalog_the_stack_cannot_have_is_refused(
    stack: str, overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(CatalogArgsError) as refused:
        run_stack(stack, overrides)
    assert message in str(refused.value)


# -- prod ---------------------------------------------------------------------------------------


def test_prod_declares_a_glue_database_per_table_layer_in_its_bucket(prod: StackRun) -> None:
    databases = prod.of_type("aws:glue/catalogDatabase:CatalogDatabase")
    assert {d.inputs["name"]: d.inputs["locationUri"] for d in databases} == {
        "acme_lake_prod_silver": "s3://acme-lake-prod-staging/",
        "acme_lake_prod_gold": "s3://acme-lake-prod-curated/",
    }
    (provider,) = prod.of_type("pulumi:providers:aws")
    (component,) = prod.of_type("lakeops:aws:LakeCatalog")
    for database in databases:
        assert database.protect, "dropping one drops every table's catalog entry"
        assert database.provider.startswith(provider.urn + "::")
        assert database.parent == component.urn
    assert prod.outputs["catalog"] == {
        "kind": "glue",
        "region": REGION,
        "catalogId": ACCOUNT_ID,
        "databases": {"silver": "acme_lake_prod_silver", "gold": "acme_lake_prod_gold"},
    }


def test_each_role_gets_exactly_its_glue_grants(prod: StackRun) -> None:
    # Named from a prefix, like the S3 role policies: a fixed name would make a routine edit
    # (a ForceNew description) fail with EntityAlreadyExists (issue 14, finding 3).
    policies = {
        r.inputs["namePrefix"]: json.loads(r.inputs["policy"])
        for r in prod.of_type("aws:iam/policy:Policy")
        if r.inputs["namePrefix"].endswith("-catalog-")
    }
    assert all("name" not in r.inputs for r in prod.of_type("aws:iam/policy:Policy"))
    assert set(policies) == {
        f"{PREFIX}-lake-transform-catalog-",
        f"{PREFIX}-lake-publish-catalog-",
        f"{PREFIX}-lake-analyst-catalog-",
    }
    silver = glue_arns(REGION, ACCOUNT_ID, DATABASES[SILVER])
    gold = glue_arns(REGION, ACCOUNT_ID, DATABASES[GOLD])

    def grants(role: str) -> set[tuple[str, str]]:
        document = policies[f"{PREFIX}-lake-{role}-catalog-"]
        assert all(s["Effect"] == "Allow" for s in document["Statement"])
        return {
            (action, resource)
            for statement in document["Statement"]
            for action in statement["Action"]
            for resource in statement["Resource"]
        }

    def on(actions: tuple[str, ...], arns: list[str]) -> set[tuple[str, str]]:
        return {(action, arn) for action in actions for arn in arns}

    everything = GLUE_READ_ACTIONS + GLUE_WRITE_ACTIONS
    assert grants("transform") == on(everything, silver)
    assert grants("publish") == on(GLUE_READ_ACTIONS, silver) | on(everything, gold)
    assert grants("analyst") == on(GLUE_READ_ACTIONS, gold)
    assert catalog_policy("ingest", DATABASES, REGION, ACCOUNT_ID) is None
    assert set(prod.outputs["catalogPolicyArns"]) == {"transform", "publish", "analyst"}
    assert silver == [
        f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:catalog",
        f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:database/acme_lake_prod_silver",
        f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:table/acme_lake_prod_silver/*",
    ]


def test_roles_the_stack_creates_get_their_glue_policy_after_they_exist(prod: StackRun) -> None:
    role = next(
        r for r in prod.of_type("aws:iam/role:Role") if r.inputs["name"].endswith("-transform")
    )
    catalog_attachments = [
        r
        for r in prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.inputs["policyArn"].endswith(f"-catalog-{UNIQUE_SUFFIX}")
    ]
    # transform has a role and Glue grants; ingest has a role and none.
    assert [(a.inputs["role"], a.inputs["policyArn"]) for a in catalog_attachments] == [
        (
            f"{PREFIX}-lake-transform",
            f"arn:aws:iam::{ACCOUNT_ID}:policy/{PREFIX}-lake-transform-catalog-{UNIQUE_SUFFIX}",
        )
    ]
    assert role.urn in catalog_attachments[0].dependencies


def test_lakeops_reads_the_glue_catalog_from_the_prod_outputs(
    prod: StackRun, tmp_path: Path
) -> None:
    exported = tmp_path / "outputs-prod.json"
    exported.write_text(json.dumps(prod.outputs))
    spec = LakeConfig.resolve(outputs_file=exported, env={}).catalog
    assert spec is not None and spec.kind is CatalogKind.GLUE
    assert (spec.region, spec.catalog_id, spec.endpoint) == (REGION, ACCOUNT_ID, None)
    assert dict(spec.databases) == DATABASES


def test_a_malformed_catalog_output_is_a_configuration_error(tmp_path: Path) -> None:
    exported = tmp_path / "outputs.json"
    exported.write_text(
        json.dumps(
            {
                "backend": "aws",
                "buckets": {"bronze": "a-raw", "silver": "a-staging", "gold": "a-curated"},
                "catalog": {"kind": "glue", "databases": {"silver": "Not Valid"}},
            }
        )
    )
    with pytest.raises(ConfigurationError, match="no usable name for silver"):
        LakeConfig.resolve(outputs_file=exported, env={})
