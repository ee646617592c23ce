"""Before `pulumi up` of the dev stack: may Pulumi log in to MinIO; do its state and MinIO agree?

The dev lake keeps its Pulumi state in ./.pulumi-state and its data in a Docker volume, and
either can be lost alone (`docker compose down -v`, a fresh clone, `git clean`); a first run
can also fail or be interrupted half-way. Pulumi does not recover from these by itself, and
one case does damage: with `refresh: always`, MinIO provider 1.20.1 drops from the state
every bucket it cannot see (resource_minio_s3_bucket.go, minioReadBucket: any BucketExists
error, a refused login or an unreachable server included, counts as "gone"), after which
`pulumi up` fails on "bucket already exists!" (minioCreateBucket). So this check logs in as
the provider will, with the stack's own minio:minioUser and minio:minioPassword, compares
the buckets the state holds with those MinIO has, and says what is wrong and how to fix it
before `pulumi up` runs.

    python infra/dev_preflight.py --project-dir . [--stack dev]

Run it with the environment `pulumi` needs (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE).
Exit status 0 when `pulumi up` may go on, 1 (with the reason on stderr) when it must not.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import yaml

from lakeinfra.args import minio_endpoint, prefixed
from lakeops import LakeConfig, StorageLayer
from lakeops.client import make_s3_client
from lakeops.layout import LAYOUT
from lakeops.s3errors import error_code

BUCKET_TYPE = "minio:index/s3Bucket:S3Bucket"
RESET_HINT = (
    "Start over with `make reset` (it deletes the dev lake's data and state), then `make up`."
)
# What MinIO answers a login it refuses (cmd/signature-v4-utils.go, checkKeyValid; and
# cmd/signature-v4.go, doesSignatureMatch).
UNKNOWN_USER = "InvalidAccessKeyId"
BAD_SIGNATURE = "SignatureDoesNotMatch"


class PreflightError(Exception):
    """`pulumi up` must not run; the message says why and what to do."""


@dataclass(frozen=True)
class Login:
    endpoint: str
    region: str
    user: str
    password: str


@dataclass(frozen=True)
class State:
    """What the stack's state says of its buckets."""

    # Buckets the state holds, hence believes exist in MinIO.
    buckets: frozenset[str]
    # Buckets an interrupted `pulumi up` was creating: they may or may not exist.
    pending_creates: frozenset[str]


NO_STATE = State(frozenset(), frozenset())


def stack_exists(stack_ls_json: str, stack: str) -> bool:
    """Whether `pulumi stack ls --json` lists ``stack`` (an array of {"name", ...})."""
    return any(summary.get("name") == stack for summary in json.loads(stack_ls_json or "[]"))


def _bucket_name(resource: Mapping[str, Any]) -> str | None:
    outputs = resource.get("outputs") or {}
    inputs = resource.get("inputs") or {}
    name = outputs.get("bucket") or inputs.get("bucket") or resource.get("id")
    return name if isinstance(name, str) and name else None


def state_of(stack_export_json: str) -> State:
    """The buckets in `pulumi stack export` output: {"version": 3, "deployment": ...}, where
    the deployment is null for a stack that has never been updated (apitype.DeploymentV3)."""
    deployment = json.loads(stack_export_json).get("deployment") or {}
    buckets = {
        name
        for resource in deployment.get("resources") or []
        if resource.get("type") == BUCKET_TYPE
        # Deleted by a delete-before-replace that has not recreated it yet: gone from MinIO.
        and not resource.get("pendingReplacement")
        and (name := _bucket_name(resource))
    }
    creating = {
        name
        for operation in deployment.get("pending_operations") or []
        if operation.get("type") == "creating"
        and (operation.get("resource") or {}).get("type") == BUCKET_TYPE
        and (name := _bucket_name(operation["resource"]))
    }
    return State(frozenset(buckets), frozenset(creating - buckets))


def diagnose(state: State, expected: frozenset[str], in_minio: frozenset[str]) -> str | None:
    """What is wrong, if the state and MinIO's buckets disagree; None when `pulumi up` may run.

    ``expected`` are the buckets the stack config names, which `pulumi up` will create if the
    state lacks them."""
    missing = sorted(state.buckets - in_minio)
    if missing:
        return (
            f"the dev stack's state holds bucket(s) {_names(missing)}, but MinIO has no such "
            f"bucket: its data volume was reset or removed. {RESET_HINT}"
        )
    untracked = (expected - state.buckets) & in_minio
    interrupted = sorted(untracked & state.pending_creates)
    if interrupted:
        return (
            f"MinIO has bucket(s) {_names(interrupted)}, which an interrupted `pulumi up` was "
            "creating; the state does not hold them yet, so `pulumi up` would fail with "
            '"bucket already exists!". Adopt them: run `make pulumi ARGS="refresh --stack '
            'dev"`, choose to import each pending create (its ID is the bucket name), then '
            "`make up` again. No data is lost."
        )
    if untracked:
        known = (
            "the dev stack's state has no buckets"
            if not state.buckets
            else f"the dev stack's state does not hold them (it holds {_names(state.buckets)})"
        )
        return (
            f"MinIO already has bucket(s) {_names(untracked)}, but {known}: the state was "
            "deleted, or another checkout provisioned this MinIO, and `pulumi up` would fail "
            f'with "bucket already exists!". {RESET_HINT}'
        )
    return None


def _names(names: frozenset[str] | list[str]) -> str:
    return ", ".join(repr(name) for name in sorted(names))


def _pulumi(project: Path, *args: str) -> str:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise PreflightError("the pulumi CLI is not on PATH")
    done = subprocess.run(
        [pulumi, "--cwd", str(project), *args, "--non-interactive"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise PreflightError(f"`pulumi {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout


def _config_file(project: Path, stack: str) -> dict[str, Any]:
    document = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text())
    config = document.get("config", {}) if isinstance(document, dict) else {}
    return config if isinstance(config, dict) else {}


def _config_value(project: Path, stack: str, key: str) -> str:
    """A config value as the program sees it, decrypted if it is a secret (`config get`
    prints the value and a newline)."""
    try:
        output = _pulumi(project, "config", "get", key, "--stack", stack)
    except PreflightError as exc:
        raise PreflightError(
            f"cannot read {key} from the {stack} stack's config ({exc}). A secret needs the "
            "PULUMI_CONFIG_PASSPHRASE it was set with (PULUMI_CONFIG_PASSPHRASE in .env)."
        ) from None
    return output.removesuffix("\n")


def expected_buckets(config: Mapping[str, Any]) -> frozenset[str]:
    prefix = config.get("lake:bucketPrefix") or None
    return frozenset(prefixed(prefix, LAYOUT[layer].default_bucket) for layer in StorageLayer)


def login_of(project: Path, stack: str, config: Mapping[str, Any]) -> Login:
    """The login the MinIO provider will use: server and region from the stack file, user and
    password from `pulumi config get` (the password may be a secret)."""
    ssl = str(config.get("minio:minioSsl", False)).lower() == "true"
    return Login(
        endpoint=minio_endpoint(str(config["minio:minioServer"]), ssl),
        region=str(config.get("minio:minioRegion") or "us-east-1"),
        user=_config_value(project, stack, "minio:minioUser"),
        password=_config_value(project, stack, "minio:minioPassword"),
    )


def minio_buckets(login: Login, stack: str) -> frozenset[str]:
    """The buckets MinIO has, listed with the stack's login; a refused login or an unreachable
    server stops the preflight with what to do."""
    client = make_s3_client(
        LakeConfig.resolve(
            endpoint_url=login.endpoint,
            region=login.region,
            access_key_id=login.user,
            secret_access_key=login.password,
            env={},
        )
    )
    stop = (
        "Stopped before `pulumi up`: its refresh would take every bucket it cannot see for "
        "gone and drop it from the state."
    )
    try:
        listing = client.list_buckets()
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code in (UNKNOWN_USER, BAD_SIGNATURE):
            wrong, key, env = (
                ("user", "minio:minioUser", "MINIO_ROOT_USER")
                if code == UNKNOWN_USER
                else ("password", "minio:minioPassword", "MINIO_ROOT_PASSWORD")
            )
            # The password is never put on a command line (make prints it, shells keep it):
            # without a value, `pulumi config set` asks for it.
            fix = (
                f'make pulumi ARGS="config set --stack {stack} {key} <{env} from .env>"'
                if code == UNKNOWN_USER
                else f'make pulumi ARGS="config set --stack {stack} --secret {key}" (it asks '
                f"for the value: {env} from .env)"
            )
            raise PreflightError(
                f"MinIO at {login.endpoint} refused the {stack} stack's login ({code}: the "
                f"{wrong} is wrong). Pulumi logs in as minio:minioUser {login.user!r} with "
                f"minio:minioPassword from the {stack} stack's config; MinIO's login is "
                f"MINIO_ROOT_USER / MINIO_ROOT_PASSWORD in .env (defaults in .env.example). "
                f"Make them match: {fix}. {stop}"
            ) from None
        raise PreflightError(
            f"MinIO at {login.endpoint} refused to list buckets for minio:minioUser "
            f"{login.user!r} ({code}). The {stack} stack needs MinIO's root login "
            f"(MINIO_ROOT_USER / MINIO_ROOT_PASSWORD in .env). {stop}"
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise PreflightError(
            f"cannot reach MinIO at {login.endpoint} (minio:minioServer in Pulumi.{stack}.yaml): "
            f"{exc}. Start it with `docker compose up -d --wait minio` (`make up` does), and "
            f"check that minio:minioServer is where it listens. {stop}"
        ) from None
    return frozenset(bucket["Name"] for bucket in listing.get("Buckets", []))


def check(project: Path, stack: str) -> None:
    config = _config_file(project, stack)
    login = login_of(project, stack, config)
    in_minio = minio_buckets(login, stack)
    state = NO_STATE
    if stack_exists(_pulumi(project, "stack", "ls", "--json"), stack):
        state = state_of(_pulumi(project, "stack", "export", "--stack", stack))
    problem = diagnose(state, expected_buckets(config), in_minio)
    if problem:
        raise PreflightError(problem)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    try:
        check(args.project_dir, args.stack)
    except PreflightError as exc:
        print(f"dev preflight: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
