"""Acting as one of the stack's pipeline roles (ingest, transform, publish, analyst).

On the dev stack (MinIO) each role is a MinIO user: its keys are a stack output (a Pulumi
secret, exported by `make outputs`). On AWS each role is an IAM role, assumed through STS
from whatever credentials the default chain finds, with a session name that says who asked
and for what, so that CloudTrail shows it. Temporary credentials refresh themselves.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass, field

import boto3
import botocore.credentials
import botocore.session

from lakeops.contract import Backend, StackOutputs, export_hint
from lakeops.errors import ConfigurationError
from lakeops.redaction import quoted

ENV_ROLE = "LAKEOPS_ROLE"
# STS accepts 2-64 characters of [\w+=,.@-] as a session name.
_SESSION_NAME_CHARACTERS = re.compile(r"[^\w+=,.@-]")
_SESSION_NAME_LENGTH = 64


@dataclass(frozen=True)
class RoleGrant:
    role: str
    source: str
    # MinIO: the role's own keys (never in repr).
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    # AWS: the IAM role to assume.
    role_arn: str | None = None


def grant_for(role: str, outputs: StackOutputs | None, backend: Backend) -> RoleGrant:
    """How to act as ``role``: from the stack's outputs, or a ConfigurationError saying why not."""
    if outputs is None:
        raise ConfigurationError(
            f"role {quoted(role)} is asked for, but no stack outputs say what it is.",
            hint="Point lakeops at the stack: LAKEOPS_OUTPUTS_FILE=.lakeops/outputs-dev.json "
            f"or LAKEOPS_STACK=dev; to export the outputs: {export_hint()}.",
        )
    known = outputs.roles
    if role not in known:
        raise ConfigurationError(
            f"the stack ({outputs.source}) has no role {quoted(role)}.",
            hint=f"Its roles are: {', '.join(known) or 'none'}.",
        )
    source = f"role {role!r} (stack outputs, {outputs.source})"
    if backend is Backend.AWS:
        arn = outputs.role_arns.get(role)
        if arn is None:
            raise ConfigurationError(
                f"the stack created no IAM role for {quoted(role)}: its roleTrust config names "
                "no principal that may assume it.",
                hint=f"Add lake:roleTrust.{role} to the stack and `pulumi up`, or attach its "
                f"policy ({outputs.role_policies.get(role, 'see rolePolicyArns')}) to your "
                "principal and drop --role.",
            )
        return RoleGrant(role, source, role_arn=arn)
    keys = outputs.role_credentials.get(role)
    if keys is None:
        masked = outputs.role_credentials_masked
        raise ConfigurationError(
            f"the stack outputs ({outputs.source}) hold no keys for role {quoted(role)}"
            + (": they were exported without --show-secrets." if masked else "."),
            hint=f"Export them again with {export_hint()}: dev exports the role keys, to a "
            "file only you can read.",
        )
    return RoleGrant(role, source, access_key_id=keys[0], secret_access_key=keys[1])


def session_name(role: str, purpose: str | None) -> str:
    """``lakeops-<user>-<role>-<purpose>``: who assumed the role, and for what."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    name = "-".join(part for part in ("lakeops", user, role, purpose or "library") if part)
    return _SESSION_NAME_CHARACTERS.sub("_", name)[:_SESSION_NAME_LENGTH]


def assumed_session(base: boto3.session.Session, role_arn: str, name: str) -> boto3.session.Session:
    """A session whose credentials are ``role_arn``'s, assumed from ``base``'s and refreshed
    before they expire."""
    source = base.get_credentials()
    if source is None:
        raise ConfigurationError(
            f"no credentials to assume {role_arn} with.",
            hint="Log in first (aws sso login, AWS_PROFILE, or the instance's role).",
        )
    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        client_creator=base._session.create_client,
        source_credentials=source,
        role_arn=role_arn,
        extra_args={"RoleSessionName": name},
    )
    assumed = botocore.credentials.DeferredRefreshableCredentials(
        method="assume-role", refresh_using=fetcher.fetch_credentials
    )
    # The base profile's settings (ca_bundle, retries, ...) apply to the role's requests too.
    core = botocore.session.Session(profile=base._session.profile)
    # botocore has no public setter for refreshable credentials; this is how boto3's own
    # documentation and botocore's tests give a session a RefreshableCredentials.
    core._credentials = assumed  # type: ignore[attr-defined]
    return boto3.session.Session(botocore_session=core, region_name=base.region_name)
