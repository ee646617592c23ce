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

It also stops one change that would delete data without asking: lake:bronzeObjectLock can only
be chosen when a bucket is created, so when the config's value differs from the one the state
records for the bronze bucket, `pulumi up` replaces that bucket (force_destroy,
delete-before-replace; `make up` passes --yes), and with it every object bronze holds. When
bronze holds data, the preflight refuses unless LAKE_REPLACE_BRONZE=yes says to go ahead.

    python infra/dev_preflight.py --project-dir . [--stack dev]

Run it with the environment `pulumi` needs (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE).
Exit status 0 when `pulumi up` may go on, 1 (with the reason on stderr) when it must not.
"""

from __future__ import annotations

import argparse
import json
import os
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
from lakeinfra.markers import S3Login, s3_client
from lakeops import StorageLayer
from lakeops.layout import LAYOUT, is_marker_key
from lakeops.s3errors import error_code

BUCKET_TYPE = "minio:index/s3Bucket:S3Bucket"
RESET_HINT = (
    "Start over with `make reset` (it deletes the dev lake's data and state), then `make up`."
)
LOCK_KEY = "lake:bronzeObjectLock"
# Set to "yes" to let `pulumi up` replace a bronze bucket that holds data (it deletes the data).
REPLACE_BRONZE_VAR = "LAKE_REPLACE_BRONZE"
# Enough to say "it holds data" and roughly how much, without listing a large bucket to the end.
COUNT_LIMIT = 1000
# What MinIO answers a login it refuses (cmd/signature-v4-utils.go, checkKeyValid; and
# cmd/signature-v4.go, doesSignatureMatch).
UNKNOWN_USER = "InvalidAccessKeyId"
BAD_SIGNATURE = "SignatureDoesNotMatch"


class PreflightError(Exception):
    """`pulumi up` must not run; the message says why and what to do."""


@dataclass(frozen=True)
class State:
    """What the stack's state says of its buckets."""

    # Buckets the state holds, hence believes exist in MinIO.
    buckets: frozenset[str]
    # Buckets an interrupted `pulumi up` was creating: they may or may not exist.
    pending_creates: frozenset[str]
    # Buckets the state records as created with object locking (objectLocking true).
    locked: frozenset[str] = frozenset()


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
    locked = {
        name
        for resource in deployment.get("resources") or []
        if resource.get("type") == BUCKET_TYPE
        and (name := _bucket_name(resource)) in buckets
        and _object_locking(resource)
    }
    return State(frozenset(buckets), frozenset(creating - buckets), frozenset(locked))


def _object_locking(resource: Mapping[str, Any]) -> bool:
    """objectLocking as the state records it (the provider's default is false)."""
    for properties in (resource.get("outputs"), resource.get("inputs")):
        if isinstance(properties, Mapping) and "objectLocking" in properties:
            return _true(properties["objectLocking"])
    return False


def _true(value: object) -> bool:
    """A Pulumi config or state boolean: true, or the string "true"."""
    return str(value).strip().lower() == "true"


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


@dataclass(frozen=True)
class LockChange:
    """bronzeObjectLock in the config differs from the bronze bucket's in the state."""

    bucket: str
    wanted: bool
    current: bool


def bronze_lock_change(state: State, config: Mapping[str, Any]) -> LockChange | None:
    """The change that makes `pulumi up` replace the bronze bucket, if the config makes one."""
    bronze = bronze_bucket(config)
    if bronze not in state.buckets:
        return None  # not created yet, or already deleted for its replacement
    wanted, current = _true(config.get(LOCK_KEY, False)), bronze in state.locked
    return None if wanted == current else LockChange(bronze, wanted, current)


def bronze_replacement(change: LockChange, objects_in_bronze: int) -> str | None:
    """Why `pulumi up` must not go on: it would replace a bronze bucket that holds data.

    ``objects_in_bronze`` counts its versions and delete markers, prefix markers aside."""
    if not objects_in_bronze:
        return None
    if os.environ.get(REPLACE_BRONZE_VAR, "").strip().lower() == "yes":
        return None
    bronze, wanted, current = change.bucket, change.wanted, change.current
    held = (
        f"{COUNT_LIMIT} or more object versions"
        if objects_in_bronze >= COUNT_LIMIT
        else f"{objects_in_bronze} object version{'s' if objects_in_bronze != 1 else ''}"
    )
    return (
        f"{LOCK_KEY} is {str(wanted).lower()} in the dev stack's config, but bronze's bucket "
        f"{bronze!r} was created with object locking {str(current).lower()}. Locking can only "
        f"be chosen when a bucket is created, so `pulumi up` would replace {bronze!r}: delete "
        f"it, with the {held} it holds, and create it again, empty, without asking. Stopped "
        f"before `pulumi up`. To keep the data, set {LOCK_KEY} back to "
        f"{str(current).lower()} in Pulumi.dev.yaml. To replace bronze and lose its data, run "
        f"`make up {REPLACE_BRONZE_VAR}=yes`."
    )


def bronze_bucket(config: Mapping[str, Any]) -> str:
    prefix = config.get("lake:bucketPrefix") or None
    return prefixed(prefix, LAYOUT[StorageLayer.BRONZE].default_bucket)


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


def login_of(project: Path, stack: str, config: Mapping[str, Any]) -> S3Login:
    """The login the MinIO provider will use: server and region from the stack file, user and
    password from `pulumi config get` (the password may be a secret)."""
    ssl = str(config.get("minio:minioSsl", False)).lower() == "true"
    return S3Login(
        endpoint=minio_endpoint(str(config["minio:minioServer"]), ssl),
        region=str(config.get("minio:minioRegion") or "us-east-1"),
        access_key_id=_config_value(project, stack, "minio:minioUser"),
        secret_access_key=_config_value(project, stack, "minio:minioPassword"),
    )


def minio_buckets(login: S3Login, stack: str) -> frozenset[str]:
    """The buckets MinIO has, listed with the stack's login; a refused login or an unreachable
    server stops the preflight with what to do."""
    client = s3_client(login)
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
                f"{wrong} is wrong). Pulumi logs in as minio:minioUser "
                f"{login.access_key_id!r} with minio:minioPassword from the {stack} stack's "
                "config; MinIO's login is MINIO_ROOT_USER / MINIO_ROOT_PASSWORD in .env "
                "(defaults in .env.example). "
                f"Make them match: {fix}. {stop}"
            ) from None
        raise PreflightError(
            f"MinIO at {login.endpoint} refused to list buckets for minio:minioUser "
            f"{login.access_key_id!r} ({code}). The {stack} stack needs MinIO's root login "
            f"(MINIO_ROOT_USER / MINIO_ROOT_PASSWORD in .env). {stop}"
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise PreflightError(
            f"cannot reach MinIO at {login.endpoint} (minio:minioServer in Pulumi.{stack}.yaml): "
            f"{exc}. Start it with `docker compose up -d --wait minio` (`make up` does), and "
            f"check that minio:minioServer is where it listens. {stop}"
        ) from None
    return frozenset(bucket["Name"] for bucket in listing.get("Buckets", []))


def objects_in(login: S3Login, bucket: str) -> int:
    """How many object versions and delete markers ``bucket`` holds, its prefix markers aside,
    counted up to COUNT_LIMIT."""
    client = s3_client(login)
    count = 0
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            count += sum(not is_marker_key(StorageLayer.BRONZE, e["Key"]) for e in entries)
            if count >= COUNT_LIMIT:
                return COUNT_LIMIT
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise PreflightError(
            f"cannot list bucket {bucket!r} to see whether replacing it would delete data "
            f"({exc}). Stopped before `pulumi up`."
        ) from None
    return count


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
    change = bronze_lock_change(state, config)
    if change is not None:
        problem = bronze_replacement(change, objects_in(login, change.bucket))
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
