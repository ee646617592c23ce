"""The stack-outputs contract between the Pulumi program and lakeops.

The program in ``infra/`` exports exactly these names; lakeops reads them from
``pulumi stack output --json`` or from a file exported by ``make outputs``. The names are
declared here, once, and the program imports them. docs/reference.md ("Stack outputs")
documents each one.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from lakeops.catalog_contract import CATALOG, CATALOG_PASSWORD, CatalogSpec
from lakeops.errors import ConfigurationError
from lakeops.layout import StorageLayer
from lakeops.redaction import register_secret


class Backend(StrEnum):
    """Where the lake lives. It decides the few things MinIO and AWS do differently."""

    # MinIO, or any other S3-compatible server reached through an endpoint URL.
    MINIO = "minio"
    AWS = "aws"

    @classmethod
    def parse(cls, value: str, *, source: str) -> Backend:
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ConfigurationError(
                f"{source} names backend {value!r}.", hint="Use 'minio' or 'aws'."
            ) from None


# Output names. camelCase, as Pulumi outputs conventionally are.
BACKEND = "backend"  # "minio" | "aws"
ENDPOINT = "endpoint"  # S3 API URL for clients; null on AWS
REGION = "region"
BUCKETS = "buckets"  # {"bronze": name, "silver": name, "gold": name}
BUCKET_ARNS = "bucketArns"  # {"bronze": arn, ...}
# The pipeline roles every stack declares; infra/lakeinfra/policies.py grants each its access.
PIPELINE_ROLES = ("ingest", "transform", "publish", "analyst")
ROLE_POLICIES = "rolePolicies"  # {"ingest": policy name, ...}
ROLE_ARNS = "roleArns"  # AWS: {"ingest": role ARN, ...} for the roles created; else {}
ROLE_POLICY_ARNS = "rolePolicyArns"  # AWS: {"ingest": policy ARN, ...}
ACCESS_LOG_BUCKET = "accessLogBucket"  # AWS, when access logging is on
ROLE_CREDENTIALS = "roleCredentials"  # MinIO: {"ingest": {accessKeyId, secretAccessKey}} (secret)
LIFECYCLE = "lifecycle"  # LifecycleIntent as a dict
DEFAULT_ENCRYPTION = "defaultEncryption"  # "AES256" | "aws:kms" on AWS; null on MinIO
BRONZE_OBJECT_LOCK = "bronzeObjectLock"  # bool
MASKED_SECRET = "[secret]"  # noqa: S105 - a placeholder, not a secret
# The table catalog's outputs are declared in lakeops.catalog_contract: CATALOG (its kind,
# location and databases) and CATALOG_PASSWORD (the shared dev catalog's password, a secret).

# Keys inside LIFECYCLE.
NONCURRENT_VERSION_DAYS = "noncurrentVersionDays"
ABORT_INCOMPLETE_MULTIPART_DAYS = "abortIncompleteMultipartDays"
BRONZE_TRANSITION_DAYS = "bronzeTransitionDays"
BRONZE_STORAGE_CLASS = "bronzeStorageClass"


def export_hint() -> str:
    """How to export a stack's outputs, with the tools this machine has."""
    if shutil.which("pulumi"):
        return "`make outputs` (STACK=prod for production)"
    return (
        "`docker compose up -d` (its minio-init service exports .lakeops/outputs-dev.json; the "
        "Pulumi CLI is not installed here, which `make outputs` needs)"
    )


@dataclass(frozen=True)
class LifecycleIntent:
    """What the stack declared for object lifecycles; ``verify`` compares the live lake to it."""

    noncurrent_version_days: int
    abort_incomplete_multipart_days: int | None = None
    bronze_transition_days: int | None = None
    bronze_storage_class: str | None = None

    def to_output(self) -> dict[str, Any]:
        return {
            NONCURRENT_VERSION_DAYS: self.noncurrent_version_days,
            ABORT_INCOMPLETE_MULTIPART_DAYS: self.abort_incomplete_multipart_days,
            BRONZE_TRANSITION_DAYS: self.bronze_transition_days,
            BRONZE_STORAGE_CLASS: self.bronze_storage_class,
        }


@dataclass(frozen=True)
class StackOutputs:
    """The parts of a stack's outputs that lakeops uses."""

    source: str
    backend: Backend | None
    endpoint_url: str | None
    region: str | None
    buckets: Mapping[StorageLayer, str]
    lifecycle: LifecycleIntent | None
    default_encryption: str | None
    # The pipeline roles: MinIO users' keys (dev), IAM role ARNs (prod, where created).
    # "[secret]" is how `pulumi stack output --json` shows secrets it was not asked to show.
    role_credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    role_credentials_masked: bool = False
    role_arns: Mapping[str, str] = field(default_factory=dict)
    role_policies: Mapping[str, str] = field(default_factory=dict)
    # Where the stack catalogues its tables; None for a stack that declares no catalog.
    catalog: CatalogSpec | None = None

    @property
    def roles(self) -> list[str]:
        return sorted({*self.role_policies, *self.role_credentials, *self.role_arns})

    @classmethod
    def parse(
        cls, data: Mapping[str, Any], *, source: str, base_dir: Path | None = None
    ) -> StackOutputs:
        """``base_dir``: the folder the outputs were exported to, which a relative SQLite
        catalog path is relative to."""
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"stack outputs from {source} are not a JSON object.",
                hint=f"Export them with {export_hint()}.",
            )
        missing = [name for name in (BACKEND, BUCKETS) if name not in data]
        if missing:
            raise ConfigurationError(
                f"stack outputs from {source} lack {', '.join(missing)}.",
                hint="They do not come from this project's stack; run `pulumi up` for the "
                f"stack, then export them with {export_hint()}.",
            )
        backend = Backend.parse(str(data[BACKEND]), source=f"stack outputs from {source}")
        endpoint = data.get(ENDPOINT)
        if backend is Backend.MINIO and not endpoint:
            raise ConfigurationError(
                f"stack outputs from {source} declare a MinIO backend without an endpoint.",
                hint="Re-run `pulumi up` so the stack exports its endpoint.",
            )
        raw_buckets = data[BUCKETS]
        if not isinstance(raw_buckets, Mapping):
            raise ConfigurationError(
                f"stack output {BUCKETS!r} from {source} is not an object.",
                hint='Expected {"bronze": ..., "silver": ..., "gold": ...}.',
            )
        buckets = {}
        for layer in StorageLayer:
            name = raw_buckets.get(layer.value)
            if not isinstance(name, str) or not name:
                raise ConfigurationError(
                    f"stack output {BUCKETS!r} from {source} has no bucket for {layer}.",
                    hint=f"Re-run `pulumi up` for the stack, then export with {export_hint()}.",
                )
            buckets[layer] = name
        region = data.get(REGION)
        encryption = data.get(DEFAULT_ENCRYPTION)
        if encryption is not None and not isinstance(encryption, str):
            raise ConfigurationError(
                f"stack output {DEFAULT_ENCRYPTION!r} from {source} is not a string.",
                hint="Expected 'AES256', 'aws:kms' or null.",
            )
        raw_credentials = data.get(ROLE_CREDENTIALS)
        return cls(
            source=source,
            backend=backend,
            endpoint_url=str(endpoint) if endpoint else None,
            region=str(region) if region else None,
            buckets=buckets,
            lifecycle=_parse_lifecycle(data.get(LIFECYCLE), source),
            default_encryption=encryption,
            role_credentials=_parse_credentials(raw_credentials),
            role_credentials_masked=raw_credentials == MASKED_SECRET,
            role_arns=_string_map(data.get(ROLE_ARNS)),
            role_policies=_string_map(data.get(ROLE_POLICIES)),
            catalog=_parse_catalog(data, source, base_dir),
        )


def _parse_catalog(
    data: Mapping[str, Any], source: str, base_dir: Path | None
) -> CatalogSpec | None:
    if data.get(CATALOG) is None:
        return None
    password = data.get(CATALOG_PASSWORD)
    if isinstance(password, str) and password != MASKED_SECRET:
        register_secret(password)
    return CatalogSpec.parse(data[CATALOG], source=source, base_dir=base_dir, password=password)


def _string_map(raw: object) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items() if isinstance(v, str) and v}


def _parse_credentials(raw: object) -> dict[str, tuple[str, str]]:
    if not isinstance(raw, Mapping):
        return {}
    found = {}
    for role, keys in raw.items():
        if isinstance(keys, Mapping) and keys.get("accessKeyId") and keys.get("secretAccessKey"):
            found[str(role)] = (str(keys["accessKeyId"]), str(keys["secretAccessKey"]))
            # Every role's, not only the one acted as: no message may show any of them.
            register_secret(found[str(role)][1])
    return found


def _parse_lifecycle(raw: object, source: str) -> LifecycleIntent | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not isinstance(raw.get(NONCURRENT_VERSION_DAYS), int):
        raise ConfigurationError(
            f"stack output {LIFECYCLE!r} from {source} is malformed.",
            hint=f"Expected an object with an integer {NONCURRENT_VERSION_DAYS!r}.",
        )
    return LifecycleIntent(
        noncurrent_version_days=raw[NONCURRENT_VERSION_DAYS],
        abort_incomplete_multipart_days=raw.get(ABORT_INCOMPLETE_MULTIPART_DAYS),
        bronze_transition_days=raw.get(BRONZE_TRANSITION_DAYS),
        bronze_storage_class=raw.get(BRONZE_STORAGE_CLASS),
    )
