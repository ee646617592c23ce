"""Before Pulumi touches the dev stack: may it log in to MinIO; do its state and MinIO agree;
would the change delete data without being told to?

The dev lake keeps its Pulumi state in ./.pulumi-state and its data in a Docker volume, and
either can be lost alone (`docker compose down -v`, a fresh clone, `git clean`); a first run
can also fail or be interrupted half-way. Pulumi does not recover from these by itself, and
one case does damage: with `refresh: always`, MinIO provider 1.20.1 drops from the state
every bucket it cannot see (resource_minio_s3_bucket.go, minioReadBucket: any BucketExists
error, a refused login or an unreachable server included, counts as "gone"; minioReadILMPolicy
likewise), after which `pulumi up` fails on "bucket already exists!" (minioCreateBucket). So
this check logs in as the provider will, with the stack's own minio:minioUser and
minio:minioPassword and nothing else (lakeinfra.minio_login), compares the buckets the state
holds with those MinIO has, and says what is wrong and how to fix it.

Before `pulumi up` it also asks `pulumi preview --json` which buckets the update would delete
or replace (bucket names and objectLocking are ForceNew; the dev buckets are force_destroy and
delete-before-replace; `make up` passes --yes), and refuses when one of them holds objects,
unless LAKE_REPLACE_BUCKETS names it. Before a replacement or `make destroy`, it refuses a
bucket with an object-lock default retention: the provider's bucket delete (minioDeleteBucket)
removes objects without the governance bypass and retries until its timeout.

    python infra/dev_preflight.py --project-dir . [--stack dev] [--for up|preview|destroy|login]

Run it with the environment `pulumi` needs (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE).
Exit status 0 when Pulumi may go on, 1 (with the reason on stderr) when it must not.
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
from lakeinfra.minio_login import S3Login, s3_client
from lakeops import StorageLayer
from lakeops.layout import LAYOUT
from lakeops.s3errors import error_code

BUCKET_TYPE = "minio:index/s3Bucket:S3Bucket"
PROVIDER_TYPE = "pulumi:providers:minio"
LAYER_TYPE = "lakeops:minio:LakeLayer"
RESET_HINT = (
    "Start over with `make reset` (it deletes the dev lake's data and state), then `make up`."
)
LOCK_KEY = "lake:bronzeObjectLock"
# Bucket names, comma-separated, that `pulumi up` may delete or replace with their objects.
REPLACE_VAR = "LAKE_REPLACE_BUCKETS"
# The steps of `pulumi preview --json` that delete a bucket (pkg/resource/deploy/step.go, the
# StepOp constants; a delete-before-replace shows as "replace", then "delete-replaced").
DELETING_OPS = frozenset({"delete", "replace", "delete-replaced", "create-replacement"})
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
    # What `pulumi import` of a bucket needs: the MinIO provider's URN, the layer components'.
    provider: str | None = None
    layers: frozenset[str] = frozenset()


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
    resources = deployment.get("resources") or []
    provider = next((r.get("urn") for r in resources if r.get("type") == PROVIDER_TYPE), None)
    layers = {r["urn"] for r in resources if r.get("type") == LAYER_TYPE and r.get("urn")}
    return State(
        frozenset(buckets),
        frozenset(creating - buckets),
        frozenset(locked),
        provider,
        frozenset(layers),
    )


def _object_locking(resource: Mapping[str, Any]) -> bool:
    """objectLocking as the state records it (the provider's default is false)."""
    for properties in (resource.get("outputs"), resource.get("inputs")):
        if isinstance(properties, Mapping) and "objectLocking" in properties:
            return _true(properties["objectLocking"])
    return False


def _true(value: object) -> bool:
    """A Pulumi config or state boolean: true, or the string "true"."""
    return str(value).strip().lower() == "true"


def import_commands(state: State, untracked: list[str], layer_of: Mapping[str, str]) -> str:
    """`pulumi import` of each bucket into the resource the program declares for it, where
    the state has its parent layer component and the MinIO provider (`pulumi import`
    --parent and --provider take name=URN: pkg/cmd/pulumi/operations/import.go,
    parseResourceSpec); empty when it has not."""
    if state.provider is None:
        return ""
    commands = []
    for bucket in untracked:
        layer = layer_of.get(bucket)
        parent = next((u for u in state.layers if u.endswith(f"::lake-{layer}")), None)
        if layer is None or parent is None:
            return ""
        commands.append(
            f'make pulumi ARGS="import --stack dev --yes --generate-code=false '
            f"--parent lake-{layer}={parent} --provider minio={state.provider} "
            f'{BUCKET_TYPE} lake-{layer}-bucket {bucket}"'
        )
    return (
        " To keep the data, adopt the bucket(s) into the state instead: "
        + "; ".join(commands)
        + ", then `make up` again."
    )


def diagnose(
    state: State,
    expected: frozenset[str],
    in_minio: frozenset[str],
    layer_of: Mapping[str, str] | None = None,
) -> str | None:
    """What is wrong, if the state and MinIO's buckets disagree; None when `pulumi up` may run.

    ``expected`` are the buckets the stack config names, which `pulumi up` will create if the
    state lacks them; ``layer_of`` maps each to its layer."""
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
        adopt = import_commands(state, sorted(untracked), layer_of or {})
        return (
            f"MinIO already has bucket(s) {_names(untracked)}, but {known}: the state was "
            "deleted, or another checkout provisioned this MinIO, and `pulumi up` would fail "
            f'with "bucket already exists!".{adopt} {RESET_HINT}'
        )
    return None


def doomed_buckets(preview_json: str) -> dict[str, list[str]]:
    """The buckets an update would delete or replace, from `pulumi preview --json` (its
    steps: op, urn, oldState as ResourceV3, replaceReasons; pkg/display/json.go, PreviewStep),
    each with the inputs that force it."""
    doomed: dict[str, list[str]] = {}
    for step in json.loads(preview_json or "{}").get("steps") or []:
        old = step.get("oldState") or {}
        if step.get("op") not in DELETING_OPS or old.get("type") != BUCKET_TYPE:
            continue
        name = _bucket_name(old)
        if name:
            reasons = doomed.setdefault(name, [])
            reasons += [r for r in step.get("replaceReasons") or [] if r not in reasons]
    return doomed


@dataclass(frozen=True)
class Contents:
    """What deleting a bucket would lose, and whether MinIO's provider can delete it."""

    objects: int
    # The object-lock default retention ("GOVERNANCE 365 days"), if the bucket has one.
    default_retention: str | None = None


def _why(reasons: list[str]) -> str:
    if "objectLocking" in reasons:
        return (
            f"{LOCK_KEY} changed, and locking is chosen when a bucket is created, so `pulumi up` "
            "would replace it"
        )
    if "bucket" in reasons:
        return "its name changed (lake:bucketPrefix), so `pulumi up` would replace it"
    return "`pulumi up` would delete it"


def _held(objects: int) -> str:
    if objects >= COUNT_LIMIT:
        return f"{COUNT_LIMIT} or more object versions"
    return f"{objects} object version{'s' if objects != 1 else ''}"


def allowed_replacements(environ: Mapping[str, str]) -> frozenset[str]:
    """The buckets the user said may go with their data (LAKE_REPLACE_BUCKETS=raw,staging)."""
    return frozenset(n.strip() for n in environ.get(REPLACE_VAR, "").split(",") if n.strip())


def retention_refusal(bucket: str, contents: Contents) -> str | None:
    if contents.default_retention is None or not contents.objects:
        return None
    return (
        f"bucket {bucket!r} has an object-lock default retention ({contents.default_retention}) "
        f"and holds {_held(contents.objects)}: the MinIO provider deletes a bucket's objects "
        "without the governance bypass and retries until it times out (20 minutes), so "
        "Pulumi cannot delete it. Empty it first, by hand: docker compose exec minio sh -c "
        '\'mc alias set local http://localhost:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" '
        f"&& mc retention clear --default local/{bucket} "
        f"&& mc rm --recursive --versions --force --bypass local/{bucket}' (COMPLIANCE retention "
        "cannot be bypassed: wait for it to end, or `make reset`)."
    )


def deletion_refusal(
    doomed: Mapping[str, list[str]],
    contents: Mapping[str, Contents],
    allowed: frozenset[str],
) -> str | None:
    """Why `pulumi up` must not go on, if it would delete a bucket that holds objects (and
    nobody named it in LAKE_REPLACE_BUCKETS), or one that Pulumi cannot delete."""
    problems = []
    for bucket, reasons in sorted(doomed.items()):
        found = contents.get(bucket)
        if found is None or not found.objects:
            continue
        retention = retention_refusal(bucket, found)
        if retention:
            problems.append(retention)
        elif bucket not in allowed:
            problems.append(
                f"bucket {bucket!r}: {_why(reasons)}, deleting it with the "
                f"{_held(found.objects)} it holds, without asking"
            )
    if not problems:
        return None
    stuck = [b for b in sorted(doomed) if b in contents and b not in allowed]
    fix = (
        f" To keep the data, undo the change in Pulumi.dev.yaml (set {LOCK_KEY} or "
        f"lake:bucketPrefix back). To delete it, run `make up {REPLACE_VAR}={','.join(stuck)}`."
        if stuck
        else ""
    )
    return "; ".join(problems) + f". Stopped before `pulumi up`.{fix}"


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


def layers_of(config: Mapping[str, Any]) -> dict[str, str]:
    """The config's bucket name of each layer: {bucket: layer}."""
    prefix = config.get("lake:bucketPrefix") or None
    return {prefixed(prefix, LAYOUT[layer].default_bucket): layer.value for layer in StorageLayer}


def expected_buckets(config: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(layers_of(config))


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


def _is_folder_marker(entry: Mapping[str, Any]) -> bool:
    """A zero-byte "<prefix>/" object (or a delete marker of one) holds no data, declared in
    the layout or left by a prefix it no longer declares."""
    return str(entry["Key"]).endswith("/") and not entry.get("Size")


def contents_of(login: S3Login, bucket: str) -> Contents:
    """How many object versions and delete markers ``bucket`` holds, folder markers aside,
    counted up to COUNT_LIMIT; and its object-lock default retention."""
    client = s3_client(login)
    count = 0
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            count += sum(not _is_folder_marker(entry) for entry in entries)
            if count >= COUNT_LIMIT:
                count = COUNT_LIMIT
                break
        retention = None
        try:
            lock = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
            rule = lock.get("Rule", {}).get("DefaultRetention")
            if rule:
                span = f"{rule['Days']} days" if "Days" in rule else f"{rule.get('Years')} years"
                retention = f"{rule.get('Mode')} {span}"
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ObjectLockConfigurationNotFoundError":
                raise
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise PreflightError(
            f"cannot read bucket {bucket!r} to see whether deleting it would lose data "
            f"({exc}). Stopped before Pulumi changes anything."
        ) from None
    return Contents(count, retention)


MODES = ("up", "preview", "destroy", "login")


def check(project: Path, stack: str, mode: str = "up") -> None:
    """``login``: MinIO is up and takes the stack's login (before any Pulumi command, whose
    refresh would otherwise drop every bucket it cannot see). ``preview``: and the state agrees
    with MinIO. ``up``: and the update deletes no bucket holding data unasked. ``destroy``: and
    Pulumi can delete every bucket."""
    config = _config_file(project, stack)
    login = login_of(project, stack, config)
    in_minio = minio_buckets(login, stack)
    if mode == "login":
        return
    state = NO_STATE
    if stack_exists(_pulumi(project, "stack", "ls", "--json"), stack):
        state = state_of(_pulumi(project, "stack", "export", "--stack", stack))
    if mode == "destroy":
        for bucket in sorted(state.buckets & in_minio):
            problem = retention_refusal(bucket, contents_of(login, bucket))
            if problem:
                raise PreflightError(f"{problem} Stopped before `pulumi destroy`.")
        return
    problem = diagnose(state, expected_buckets(config), in_minio, layers_of(config))
    if problem:
        raise PreflightError(problem)
    if mode == "preview" or not state.buckets:
        return
    doomed = doomed_buckets(_pulumi(project, "preview", "--json", "--stack", stack))
    contents = {bucket: contents_of(login, bucket) for bucket in doomed if bucket in in_minio}
    problem = deletion_refusal(doomed, contents, allowed_replacements(os.environ))
    if problem:
        raise PreflightError(problem)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--for", dest="mode", choices=MODES, default="up")
    args = parser.parse_args(argv)
    try:
        check(args.project_dir, args.stack, args.mode)
    except PreflightError as exc:
        print(f"dev preflight: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
