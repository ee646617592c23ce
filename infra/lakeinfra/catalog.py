"""The table catalog of each stack, and who may use it.

* dev (MinIO): no resource. The default catalog is a SQLite file in the checkout's
  ``.lakeops/`` that lakeops makes on first write; ``lake:catalog: postgres`` names the shared
  PostgreSQL catalog instead (the compose service ``catalog-db``). Either way the stack only
  declares it, in the ``catalog`` output (and ``catalogPassword``, a secret). The dev catalogs
  enforce no roles: S3 still checks every data file against the role's policy.
* prod (AWS): the Glue Data Catalog. One Glue database per table layer, located in that layer's
  bucket, and one IAM policy per pipeline role that touches tables, granting exactly the Glue
  actions pyiceberg and lakeops use, on exactly its layers' databases and their tables:
  transform reads and writes silver; publish reads silver and writes gold; analyst reads gold;
  ingest gets none. Roles created from ``roleTrust`` get it attached, beside their S3 policy.

Policies are data here too (:func:`catalog_policy`), so tests apply the very documents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from lakeinfra.policies import ROLES, PolicyDocument
from lakeops.catalog_contract import (
    CATALOG,
    CATALOG_PASSWORD,
    CATALOG_POLICY_ARNS,
    DEFAULT_POSTGRES_PORT,
    DEFAULT_SQLITE_FILE,
    TABLE_LAYERS,
    CatalogKind,
    CatalogSpec,
    database_name,
)
from lakeops.contract import Backend
from lakeops.layout import StorageLayer

# What pyiceberg's Glue catalog calls (pyiceberg/catalog/glue.py, 0.12): load_table and the
# commit's read are GetTable, list_tables is GetTables; a namespace is looked up with
# GetDatabase. Writing creates a table (CreateTable) and commits a new metadata location
# (UpdateTable, with the version id as the compare-and-swap). Nothing deletes a table or a
# database, so no role may.
GLUE_READ_ACTIONS = ("glue:GetDatabase", "glue:GetTable", "glue:GetTables")
GLUE_WRITE_ACTIONS = ("glue:CreateTable", "glue:UpdateTable")


class CatalogArgsError(ValueError):
    pass


@dataclass(frozen=True)
class CatalogArgs:
    """The stack's catalog: on MinIO ``sqlite`` (default) or ``postgres``; on AWS ``glue``."""

    kind: CatalogKind | None = None  # None: the backend's default
    host: str = "localhost"
    port: int = DEFAULT_POSTGRES_PORT
    database: str = "lakeops_catalog"
    user: str = "lakeops"
    password: pulumi.Input[str] | None = None

    def resolved_kind(self, backend: Backend) -> CatalogKind:
        default = CatalogKind.GLUE if backend is Backend.AWS else CatalogKind.SQLITE
        kind = self.kind or default
        if (kind is CatalogKind.GLUE) != (backend is Backend.AWS):
            allowed = "glue" if backend is Backend.AWS else "sqlite or postgres"
            raise CatalogArgsError(
                f"lake:catalog is {kind.value}; on {backend.value} use {allowed}."
            )
        if kind is CatalogKind.POSTGRES and self.password is None:
            raise CatalogArgsError(
                "lake:catalog postgres needs lake:catalogPassword (a secret): "
                'make pulumi ARGS="config set --stack dev --secret lake:catalogPassword"'
            )
        return kind


def load_catalog_args(lake: pulumi.Config) -> CatalogArgs:
    raw = lake.get("catalog")
    try:
        kind = CatalogKind(raw) if raw else None
    except ValueError:
        raise CatalogArgsError(
            f"lake:catalog is {raw!r}; use sqlite or postgres (dev), glue (prod)."
        ) from None
    port = lake.get_int("catalogPort")
    return CatalogArgs(
        kind=kind,
        host=lake.get("catalogHost") or "localhost",
        port=DEFAULT_POSTGRES_PORT if port is None else port,
        database=lake.get("catalogDatabase") or "lakeops_catalog",
        user=lake.get("catalogUser") or "lakeops",
        password=lake.get_secret("catalogPassword"),
    )


def databases(bucket_prefix: str | None) -> dict[StorageLayer, str]:
    return {layer: database_name(bucket_prefix, layer) for layer in TABLE_LAYERS}


def dev_catalog_outputs(args: CatalogArgs, bucket_prefix: str | None) -> dict[str, Any]:
    """The ``catalog`` (and ``catalogPassword``) outputs of the dev stack."""
    kind = args.resolved_kind(Backend.MINIO)
    names = databases(bucket_prefix)
    if kind is CatalogKind.SQLITE:
        from pathlib import Path

        spec = CatalogSpec(kind, names, path=Path(DEFAULT_SQLITE_FILE))
        return {CATALOG: spec.to_output()}
    spec = CatalogSpec(
        kind, names, host=args.host, port=args.port, database=args.database, user=args.user
    )
    assert args.password is not None
    return {CATALOG: spec.to_output(), CATALOG_PASSWORD: pulumi.Output.secret(args.password)}


def glue_arns(region: str, account: str, database: str) -> list[str]:
    """The catalog, a database and its tables: a Glue request on a table is authorised
    against all three (AWS Glue, "Specifying AWS Glue resource ARNs")."""
    base = f"arn:aws:glue:{region}:{account}"
    return [f"{base}:catalog", f"{base}:database/{database}", f"{base}:table/{database}/*"]


def catalog_policy(
    role: str, names: Mapping[StorageLayer, str], region: str, account: str
) -> PolicyDocument | None:
    """The Glue policy of a pipeline role; None for a role that touches no table layer."""
    spec = ROLES[role]
    statements = []
    for layer in TABLE_LAYERS:
        arns = glue_arns(region, account, names[layer])
        if layer in spec.reads or layer in spec.writes:
            statements.append(
                {
                    "Sid": f"ReadTables{layer.value.capitalize()}",
                    "Effect": "Allow",
                    "Action": list(GLUE_READ_ACTIONS),
                    "Resource": arns,
                }
            )
        if layer in spec.writes:
            statements.append(
                {
                    "Sid": f"WriteTables{layer.value.capitalize()}",
                    "Effect": "Allow",
                    "Action": list(GLUE_WRITE_ACTIONS),
                    "Resource": arns,
                }
            )
    if not statements:
        return None
    return {"Version": "2012-10-17", "Statement": statements}


class AwsLakeCatalog(pulumi.ComponentResource):
    """The Glue databases of the table layers and each role's Glue policy."""

    def __init__(
        self,
        name: str,
        *,
        buckets: Mapping[StorageLayer, str],
        bucket_prefix: str | None,
        region: str,
        name_for: Mapping[str, str],
        roles_created: Sequence[str],
        roles_exist_after: Sequence[pulumi.Resource] = (),
        tags: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        import pulumi_aws as aws

        super().__init__("lakeops:aws:LakeCatalog", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        names = databases(bucket_prefix)
        self.databases = {
            layer: aws.glue.CatalogDatabase(
                f"{name}-{layer}-database",
                name=names[layer],
                location_uri=f"s3://{buckets[layer]}/",
                description=f"The lake's {layer} tables (lakeops NAMESPACE.TABLE as "
                "<prefix>_<table>), their files in the layer's bucket.",
                # Dropping a database drops its tables' catalog entries: every table is lost
                # to its readers, though its files remain.
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            for layer in TABLE_LAYERS
        }
        self.policy_arns: dict[str, pulumi.Output[str]] = {}
        for role in ROLES:
            # Whether a role gets a policy does not depend on the account, only its ARNs do.
            if catalog_policy(role, names, region, "0" * 12) is None:
                continue

            def document(account_id: str, role: str = role) -> str:
                return json.dumps(catalog_policy(role, names, region, account_id))

            # Named from a prefix, as the S3 role policies are (aws_lake.AwsLakeAccess): name
            # and description are ForceNew, and a fixed name would make the replacement's
            # CreatePolicy fail with EntityAlreadyExists.
            policy = aws.iam.Policy(
                f"{name}-{role}-policy",
                name_prefix=f"{name_for[role]}-catalog-",
                description=f"Lake pipeline role '{role}': its tables in the Glue catalog.",
                policy=account.account_id.apply(document),
                tags=dict(tags or {}),
                opts=child,
            )
            self.policy_arns[role] = policy.arn
            if role in roles_created:
                aws.iam.RolePolicyAttachment(
                    f"{name}-{role}-attachment",
                    role=name_for[role],
                    policy_arn=policy.arn,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(roles_exist_after)),
                )
        database_outputs = [self.databases[layer].name for layer in TABLE_LAYERS]
        self.catalog_output: pulumi.Output[dict[str, Any]] = pulumi.Output.all(
            account.account_id, *database_outputs
        ).apply(
            lambda values: CatalogSpec(
                CatalogKind.GLUE,
                dict(zip(TABLE_LAYERS, values[1:], strict=True)),
                region=region,
                catalog_id=values[0],
            ).to_output()
        )
        self.register_outputs({"catalog": self.catalog_output, "policies": self.policy_arns})

    @property
    def outputs(self) -> dict[str, Any]:
        return {CATALOG: self.catalog_output, CATALOG_POLICY_ARNS: self.policy_arns}
