"""The dev preflight, in every state a user can be in, before `pulumi up` runs.

A stand-in `pulumi` on PATH answers `stack ls --json`, `stack export` and `config get` as the
CLI does (shapes from pkg/cmd/pulumi/stack/stack_ls.go, stackSummaryJSON; stack_export.go and
the diy backend's ExportDeployment, which exports a never-updated stack's deployment as null;
apitype.DeploymentV3 and ResourceV3), from a state built out of the dev stack's own mocks
run. A moto server stands in for MinIO; with its IAM checks on, it refuses a wrong login as
MinIO does (InvalidAccessKeyId, SignatureDoesNotMatch).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from dev_preflight import NO_STATE, State, diagnose, main, state_of

from tests.conftest import s3_client
from tests.support.buckets import purge_bucket
from tests.support.iam import IamUser, create_iam_user
from tests.support.pulumi_stack import REPO, Registration, run_stack
from tests.support.s3server import S3Endpoint, free_port, set_auth_enforcement, start_moto

BUCKET = "minio:index/s3Bucket:S3Bucket"
LAKE = frozenset({"raw", "staging", "curated"})
STACK_URN = "urn:pulumi:dev::lake::pulumi:pulumi:Stack::lake-dev"


# -- the state, as `pulumi stack export` prints it ----------------------------------------------


def resource_of(registration: Registration) -> dict[str, Any]:
    """A registration as ResourceV3 serialises it."""
    resource: dict[str, Any] = {
        "urn": registration.urn,
        "custom": registration.custom,
        "type": registration.type,
        "parent": registration.parent or STACK_URN,
    }
    if registration.custom:
        resource["id"] = str(registration.state.get("bucket") or registration.name)
        resource["inputs"] = registration.inputs
        resource["outputs"] = registration.state
    if registration.provider:
        resource["provider"] = registration.provider
    if registration.dependencies:
        resource["dependencies"] = list(registration.dependencies)
    return resource


@pytest.fixture(scope="module")
def dev_resources() -> list[dict[str, Any]]:
    return [resource_of(r) for r in run_stack("dev").registrations]


def export(
    resources: list[dict[str, Any]] | None, pending: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`pulumi stack export` output: null deployment for a stack that was never updated."""
    if resources is None:
        return {"version": 3, "deployment": None}
    stack = {"urn": STACK_URN, "custom": False, "type": "pulumi:pulumi:Stack"}
    deployment: dict[str, Any] = {
        "manifest": {"time": "2026-11-25T12:00:00Z", "magic": "0" * 64, "version": "v3.272.0"},
        "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:abc"}},
        "resources": [stack, *resources],
    }
    if pending:
        deployment["pending_operations"] = pending
    return {"version": 3, "deployment": deployment}


def buckets_of(resources: list[dict[str, Any]], keep: frozenset[str]) -> list[dict[str, Any]]:
    """The resources, without the buckets not in ``keep`` (and what hangs off them)."""
    gone = {
        r["urn"] for r in resources if r["type"] == BUCKET and r["outputs"]["bucket"] not in keep
    }
    return [
        r for r in resources if r["urn"] not in gone and not gone & set(r.get("dependencies", []))
    ]


def failed_first_run(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a first `pulumi up` that failed at its first bucket leaves: provider, components."""
    return [r for r in resources if not r["custom"] or r["type"].startswith("pulumi:providers:")]


def test_the_state_holds_the_buckets_the_export_lists(dev_resources: list[dict[str, Any]]) -> None:
    state = state_of(json.dumps(export(dev_resources)))
    assert (state.buckets, state.pending_creates) == (LAKE, frozenset())
    assert state.provider is not None and state.provider.endswith("pulumi:providers:minio::minio")
    assert len(state.layers) == 3
    assert state_of(json.dumps(export(None))) == NO_STATE
    failed = state_of(json.dumps(export(failed_first_run(dev_resources))))
    assert (failed.buckets, failed.pending_creates) == (frozenset(), frozenset())


def test_a_bucket_deleted_for_its_replacement_is_not_in_the_state(
    dev_resources: list[dict[str, Any]],
) -> None:
    resources = [
        {**r, "pendingReplacement": True} if r.get("id") == "raw" else r for r in dev_resources
    ]
    assert state_of(json.dumps(export(resources))).buckets == {"staging", "curated"}


def test_buckets_being_created_are_pending_creates(dev_resources: list[dict[str, Any]]) -> None:
    raw = next(r for r in dev_resources if r["type"] == BUCKET and r["id"] == "raw")
    pending = [{"resource": {k: v for k, v in raw.items() if k != "id"}, "type": "creating"}]
    state = state_of(json.dumps(export(failed_first_run(dev_resources), pending)))
    assert (state.buckets, state.pending_creates) == (frozenset(), frozenset({"raw"}))


@pytest.mark.parametrize(
    ("state", "in_minio", "expected"),
    [
        (NO_STATE, set(), None),
        (State(LAKE, frozenset()), LAKE, None),
        (State(LAKE, frozenset()), LAKE | {"other"}, None),
        (State(LAKE, frozenset()), {"staging", "curated"}, "data volume was reset"),
        (NO_STATE, {"raw"}, "state has no buckets"),
        (State(frozenset({"raw"}), frozenset()), LAKE, "does not hold them"),
        (State(frozenset(), frozenset({"raw"})), {"raw"}, "interrupted `pulumi up`"),
        (State(frozenset(), frozenset({"raw"})), set(), None),
    ],
)
def test_diagnosis(state: State, in_minio: set[str], expected: str | None) -> None:
    problem = diagnose(state, LAKE, frozenset(in_minio))
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem
        assert "make reset" in problem or "import" in problem


# -- the preflight as `make up` runs it ------------------------------------------------------------


FAKE_PULUMI = """\
#!{python}
# Answers as the pulumi CLI does, from {world} (written by the test) and the stack file.
import json, pathlib, sys
import yaml

world = json.loads(pathlib.Path({world!r}).read_text())
args = sys.argv[1:]
with open(world["log"], "a") as log:
    log.write(json.dumps(args) + "\\n")
project = pathlib.Path(args[args.index("--cwd") + 1])
rest = [a for i, a in enumerate(args) if a != "--non-interactive"
        and a != "--cwd" and (i == 0 or args[i - 1] != "--cwd")]

def fail(message):
    print("error: " + message, file=sys.stderr)
    sys.exit(255)

if rest == ["stack", "ls", "--json"]:
    print(json.dumps(world["stacks"], indent=4))
elif rest[:2] == ["stack", "export"] and rest[2:] == ["--stack", "dev"]:
    if not any(s["name"] == "dev" for s in world["stacks"]):
        fail("no stack named 'dev' found")
    print(json.dumps(world["export"], indent=4))
elif rest == ["preview", "--json", "--stack", "dev"]:
    print(json.dumps(world.get("preview") or {{"steps": []}}, indent=4))
elif rest[:2] == ["config", "get"] and rest[3:] == ["--stack", "dev"]:
    key = rest[2]
    if key in world.get("config_errors", {{}}):
        fail(world["config_errors"][key])
    if key in world.get("secrets", {{}}):
        print(world["secrets"][key])
    else:
        config = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())["config"]
        if key not in config:
            fail(f"configuration key '{{key}}' not found for stack 'dev'")
        value = config[key]
        print(str(value).lower() if isinstance(value, bool) else value)
else:
    print("fake pulumi: unexpected arguments " + json.dumps(args), file=sys.stderr)
    sys.exit(2)
"""


@dataclass
class Project:
    folder: Path
    world_file: Path
    world: dict[str, Any] = field(default_factory=dict)

    def set_state(self, document: dict[str, Any] | None, *, listed: bool = True) -> None:
        resources = ((document or {}).get("deployment") or {}).get("resources") or []
        self.world["stacks"] = (
            [
                {
                    "name": "dev",
                    "current": True,
                    "lastUpdate": "2026-11-25T12:00:00.000Z",
                    "resourceCount": len(resources),
                }
            ]
            if listed
            else []
        )
        self.world["export"] = document
        self.save()

    def save(self) -> None:
        self.world_file.write_text(json.dumps(self.world))

    def calls(self) -> list[list[str]]:
        log = Path(self.world["log"])
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def run(self) -> int:
        return main(["--project-dir", str(self.folder)])


@pytest.fixture(scope="module")
def minio() -> Iterator[S3Endpoint]:
    """The MinIO stand-in: a moto server of this module's own, IAM checks off unless a test
    turns them on."""
    endpoint = start_moto()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def project(tmp_path: Path, minio: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A copy of the dev stack file whose minio:minioServer is the stand-in, and a stand-in
    pulumi whose dev stack has never been updated."""
    folder = tmp_path / "project"
    folder.mkdir()
    server = urlsplit(minio.url).netloc
    config = (REPO / "Pulumi.dev.yaml").read_text()
    assert "minio:minioServer: localhost:9000" in config
    (folder / "Pulumi.dev.yaml").write_text(
        config.replace("minio:minioServer: localhost:9000", f"minio:minioServer: {server}")
    )
    world_file = tmp_path / "world.json"
    stand_in = tmp_path / "bin" / "pulumi"
    stand_in.parent.mkdir()
    stand_in.write_text(FAKE_PULUMI.format(python=sys.executable, world=str(world_file)))
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}")
    # The preflight must log in with the stack's login, not whatever the shell has.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not-the-stack-login")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-stack-login")
    built = Project(folder, world_file, {"log": str(tmp_path / "pulumi-calls.log")})
    built.set_state(export(None))
    return built


@pytest.fixture
def lake_in_minio(minio: S3Endpoint) -> Iterator[set[str]]:
    """The buckets a test puts in MinIO (by name), removed afterwards."""
    admin = s3_client(minio)
    made: set[str] = set()
    yield made
    for name in made:
        purge_bucket(admin, name)


def make_buckets(minio: S3Endpoint, made: set[str], names: frozenset[str] | set[str]) -> None:
    admin = s3_client(minio)
    for name in names:
        admin.create_bucket(Bucket=name)
        made.add(name)


def test_no_state_and_no_buckets_go_on(project: Project) -> None:
    project.set_state(None, listed=False)
    assert project.run() == 0
    project.set_state(export(None))
    assert project.run() == 0


def test_a_failed_first_run_is_not_a_dead_end(
    project: Project, dev_resources: list[dict[str, Any]]
) -> None:
    """A first `make up` that failed before any bucket: state, no outputs, no buckets."""
    project.set_state(export(failed_first_run(dev_resources)))
    assert project.run() == 0


def test_state_and_buckets_that_agree_go_on(
    project: Project, minio: S3Endpoint, lake_in_minio: set[str], dev_resources: list[Any]
) -> None:
    make_buckets(minio, lake_in_minio, LAKE)
    project.set_state(export(dev_resources))
    assert project.run() == 0


def test_a_reset_volume_stops_with_the_way_out(
    project: Project,
    minio: S3Endpoint,
    lake_in_minio: set[str],
    dev_resources: list[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_buckets(minio, lake_in_minio, {"staging"})
    project.set_state(export(dev_resources))
    assert project.run() == 1
    err = capsys.readouterr().err
    assert "'curated', 'raw'" in err and "data volume was reset" in err
    assert "make reset" in err


def test_buckets_without_state_stop_with_the_way_out(
    project: Project,
    minio: S3Endpoint,
    lake_in_minio: set[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_buckets(minio, lake_in_minio, LAKE)
    assert project.run() == 1
    err = capsys.readouterr().err
    assert "state has no buckets" in err and "bucket already exists!" in err
    assert "make reset" in err


def test_a_bucket_an_interrupted_run_created_is_adopted_not_reset(
    project: Project,
    minio: S3Endpoint,
    lake_in_minio: set[str],
    dev_resources: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    raw = next(r for r in dev_resources if r["type"] == BUCKET and r["id"] == "raw")
    pending = [{"resource": {k: v for k, v in raw.items() if k != "id"}, "type": "creating"}]
    project.set_state(export(failed_first_run(dev_resources), pending))
    assert project.run() == 0, "not created after all: pulumi up creates it"
    make_buckets(minio, lake_in_minio, {"raw"})
    assert project.run() == 1
    err = capsys.readouterr().err
    assert "'raw'" in err and "import each pending create" in err and "make reset" not in err


def test_bucket_names_come_from_the_config(
    project: Project, minio: S3Endpoint, lake_in_minio: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = project.folder / "Pulumi.dev.yaml"
    config.write_text(
        config.read_text().replace(
            "  lake:backend: minio\n", "  lake:backend: minio\n  lake:bucketPrefix: pf\n"
        )
    )
    make_buckets(minio, lake_in_minio, LAKE)
    assert project.run() == 0, "another prefix's buckets are none of this stack's business"
    make_buckets(minio, lake_in_minio, {"pf-curated"})
    assert project.run() == 1
    assert "'pf-curated'" in capsys.readouterr().err


# -- logging in as the stack does ----------------------------------------------------------------


@pytest.fixture
def iam_login(minio: S3Endpoint) -> Iterator[IamUser]:
    """A user the stand-in knows (as MinIO knows its root user); its IAM checks on meanwhile."""
    user = create_iam_user(
        minio,
        f"root-{uuid.uuid4().hex[:6]}",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        },
    )
    set_auth_enforcement(minio, enforced=True)
    yield user
    set_auth_enforcement(minio, enforced=False)


def use_login(project: Project, user: str, password: str) -> None:
    config = project.folder / "Pulumi.dev.yaml"
    text = config.read_text()
    assert "  minio:minioUser: minio\n" in text and "  minio:minioPassword: minio123\n" in text
    config.write_text(
        text.replace("  minio:minioUser: minio\n", f"  minio:minioUser: {user}\n").replace(
            "  minio:minioPassword: minio123\n", f"  minio:minioPassword: {password}\n"
        )
    )


def use_secret_password(project: Project, password: str) -> None:
    """minio:minioPassword as `config set --secret` leaves it: ciphertext in the stack file,
    the value from `pulumi config get`."""
    config = project.folder / "Pulumi.dev.yaml"
    text = config.read_text()
    lines = [
        "  minio:minioPassword:\n    secure: v1:c2FsdA==:djE6Y2lwaGVydGV4dA==\n"
        if line.startswith("  minio:minioPassword:")
        else line
        for line in text.splitlines(keepends=True)
    ]
    config.write_text("".join(lines))
    project.world["secrets"] = {"minio:minioPassword": password}
    project.save()


def test_the_stack_login_is_used_secret_or_not(project: Project, iam_login: IamUser) -> None:
    use_login(project, iam_login.access_key_id, iam_login.secret_access_key)
    assert project.run() == 0
    use_secret_password(project, iam_login.secret_access_key)
    assert project.run() == 0
    assert [
        "--cwd",
        str(project.folder),
        "config",
        "get",
        "minio:minioPassword",
        "--stack",
        "dev",
        "--non-interactive",
    ] in project.calls()


def test_a_wrong_password_stops_before_the_refresh_drops_the_buckets(
    project: Project, iam_login: IamUser, capsys: pytest.CaptureFixture[str]
) -> None:
    use_login(project, iam_login.access_key_id, "minio123")
    use_secret_password(project, "not-the-password")
    assert project.run() == 1
    err = capsys.readouterr().err
    assert "SignatureDoesNotMatch" in err and "password is wrong" in err
    assert "minio:minioPassword" in err and "MINIO_ROOT_PASSWORD in .env" in err
    # No value: Pulumi asks for it, so the password is on no command line make prints.
    assert 'ARGS="config set --stack dev --secret minio:minioPassword"' in err
    assert "drop it from the state" in err
    assert not [c for c in project.calls() if "export" in c], "stopped before reading state"


def test_a_wrong_user_stops_with_the_fix(
    project: Project, iam_login: IamUser, capsys: pytest.CaptureFixture[str]
) -> None:
    use_login(project, "nobody", iam_login.secret_access_key)
    assert project.run() == 1
    err = capsys.readouterr().err
    assert "InvalidAccessKeyId" in err and "user is wrong" in err
    assert "config set --stack dev minio:minioUser <MINIO_ROOT_USER from .env>" in err


def test_an_unreachable_minio_stops_instead_of_going_on(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project.folder / "Pulumi.dev.yaml"
    text = config.read_text()
    start = text.index("minio:minioServer: ") + len("minio:minioServer: ")
    end = text.index("\n", start)
    config.write_text(text[:start] + f"127.0.0.1:{free_port()}" + text[end:])
    assert project.run() == 1
    err = capsys.readouterr().err
    assert "cannot reach MinIO" in err and "docker compose up -d --wait minio" in err


def test_an_unreadable_secret_says_which_passphrase(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.world["config_errors"] = {
        "minio:minioPassword": "could not decrypt configuration value: incorrect passphrase"
    }
    project.save()
    assert project.run() == 1
    err = capsys.readouterr().err
    assert "minio:minioPassword" in err and "incorrect passphrase" in err
    assert "PULUMI_CONFIG_PASSPHRASE" in err


def test_make_up_and_minio_init_run_the_preflight_before_pulumi_up() -> None:
    makefile = (REPO / "Makefile").read_text()
    up = makefile[makefile.index("\nup:") : makefile.index("\n.PHONY: down")]
    assert up.index("$(PREFLIGHT) up") < up.index("up --stack dev")
    script = (REPO / "infra" / "provision.sh").read_text()
    assert script.index("infra/dev_preflight.py") < script.index("up --stack dev")
    assert "set -eu" in textwrap.dedent(script)


# -- a config change that would delete a bucket, and its data -------------------------------


def replacing(resources: list[dict[str, Any]], buckets: set[str], reason: str) -> dict[str, Any]:
    """`pulumi preview --json` of an update that replaces these buckets delete-before-replace:
    a "replace" step, then "delete-replaced" (pkg/display/json.go, PreviewStep)."""
    steps = []
    for resource in resources:
        if resource["type"] == BUCKET and resource["id"] in buckets:
            for op in ("replace", "delete-replaced", "create-replacement"):
                steps.append(
                    {
                        "op": op,
                        "urn": resource["urn"],
                        "oldState": resource,
                        "newState": resource,
                        "replaceReasons": [reason],
                    }
                )
        else:
            steps.append({"op": "same", "urn": resource["urn"], "oldState": resource})
    return {"steps": steps, "changeSummary": {"replace": len(buckets)}}


def put(minio: S3Endpoint, bucket: str, *keys: str) -> None:
    admin = s3_client(minio)
    for key in keys:
        body = b"" if key.endswith("/") else b"data"
        # Content-MD5 always: a bucket with a default retention refuses a PUT without it (or a
        # flexible checksum, which servers that take no checksum trailers refuse over HTTPS).
        digest = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - S3's own
        admin.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=digest)


def test_the_state_says_which_buckets_are_locked(dev_resources: list[dict[str, Any]]) -> None:
    assert state_of(json.dumps(export(dev_resources))).locked == frozenset()
    locked = [
        {**r, "outputs": {**r["outputs"], "objectLocking": True}}
        if r["type"] == BUCKET and r["id"] == "raw"
        else r
        for r in dev_resources
    ]
    assert state_of(json.dumps(export(locked))).locked == frozenset({"raw"})


@pytest.fixture
def lake_with_state(
    project: Project,
    minio: S3Endpoint,
    lake_in_minio: set[str],
    dev_resources: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> list[dict[str, Any]]:
    monkeypatch.delenv("LAKE_REPLACE_BUCKETS", raising=False)
    make_buckets(minio, lake_in_minio, LAKE)
    project.set_state(export(dev_resources))
    return dev_resources


def test_a_config_change_that_replaces_buckets_with_data_stops_before_pulumi_up(
    project: Project,
    minio: S3Endpoint,
    lake_with_state: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new lake:bucketPrefix renames (so replaces) every bucket; `make up` passes --yes and
    the dev buckets are force_destroy: without this stop, their data goes unasked."""
    put(minio, "raw", "postgres/", "files/", "postgres/users/2024-01-15/users.csv")
    put(minio, "staging", "cleaned/", "cleaned/users/part-0.parquet")
    project.world["preview"] = replacing(lake_with_state, set(LAKE), "bucket")
    project.save()
    assert project.run() == 1
    err = capsys.readouterr().err
    assert "bucket 'raw': its name changed (lake:bucketPrefix)" in err
    assert "1 object version it holds" in err
    assert "bucket 'staging'" in err and "'curated'" not in err, "curated holds nothing"
    assert "make up LAKE_REPLACE_BUCKETS=curated,raw,staging" in err
    assert ["--cwd", str(project.folder), "preview", "--json", "--stack", "dev"] in [
        call[:6] for call in project.calls()
    ]

    monkeypatch.setenv("LAKE_REPLACE_BUCKETS", "raw")
    assert project.run() == 1, "staging was not named"
    monkeypatch.setenv("LAKE_REPLACE_BUCKETS", "raw, staging")
    assert project.run() == 0, "told to go ahead"


def test_flipping_bronze_object_lock_says_why_bronze_would_go(
    project: Project,
    minio: S3Endpoint,
    lake_with_state: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    put(minio, "raw", "api/events/e.json")
    project.world["preview"] = replacing(lake_with_state, {"raw"}, "objectLocking")
    project.save()
    assert project.run() == 1
    err = capsys.readouterr().err
    assert "lake:bronzeObjectLock changed, and locking is chosen when a bucket is created" in err
    assert "set lake:bronzeObjectLock" in err and "LAKE_REPLACE_BUCKETS=raw" in err


def test_buckets_holding_only_folder_markers_go_on(
    project: Project, minio: S3Endpoint, lake_with_state: list[dict[str, Any]]
) -> None:
    """Markers, declared or left by a prefix the layout dropped (and their delete markers),
    are not data."""
    put(minio, "raw", "postgres/", "files/", "api/", "streaming/", "retired/")
    s3_client(minio).delete_object(Bucket="raw", Key="retired/")
    project.world["preview"] = replacing(lake_with_state, set(LAKE), "bucket")
    project.save()
    assert project.run() == 0


def test_an_update_that_replaces_nothing_goes_on(
    project: Project, minio: S3Endpoint, lake_with_state: list[dict[str, Any]]
) -> None:
    put(minio, "raw", "files/data.csv")
    assert project.run() == 0


def lock_with_default_retention(minio: S3Endpoint, bucket: str) -> None:
    admin = s3_client(minio)
    admin.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 365}},
        },
    )


@pytest.fixture
def locked_raw(minio: S3Endpoint, lake_in_minio: set[str]) -> Iterator[str]:
    """Bronze with a GOVERNANCE default retention, and objects it holds; emptied afterwards
    with the bypass (lake_in_minio's purge cannot delete them)."""
    admin = s3_client(minio)
    admin.create_bucket(Bucket="raw", ObjectLockEnabledForBucket=True)
    lake_in_minio.add("raw")
    lock_with_default_retention(minio, "raw")
    put(minio, "raw", "postgres/", "files/batch.csv")
    yield "raw"
    versions = admin.list_object_versions(Bucket="raw")
    for entry in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]:
        admin.delete_object(
            Bucket="raw",
            Key=entry["Key"],
            VersionId=entry["VersionId"],
            BypassGovernanceRetention=True,
        )


def test_a_default_retention_stops_a_replacement_however_it_is_allowed(
    project: Project,
    minio: S3Endpoint,
    lake_in_minio: set[str],
    locked_raw: str,
    dev_resources: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_buckets(minio, lake_in_minio, {"staging", "curated"})
    project.set_state(export(dev_resources))
    project.world["preview"] = replacing(dev_resources, {"raw"}, "objectLocking")
    project.save()
    monkeypatch.setenv("LAKE_REPLACE_BUCKETS", "raw")
    assert project.run() == 1
    err = capsys.readouterr().err
    assert "default retention (GOVERNANCE 365 days)" in err
    assert "mc retention clear --default local/raw" in err
    assert "mc rm --recursive --versions --force --bypass local/raw" in err


def test_destroy_stops_on_a_default_retention_and_goes_on_without(
    project: Project,
    minio: S3Endpoint,
    lake_in_minio: set[str],
    locked_raw: str,
    dev_resources: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_buckets(minio, lake_in_minio, {"staging", "curated"})
    project.set_state(export(dev_resources))
    assert main(["--project-dir", str(project.folder), "--for", "destroy"]) == 1
    assert "Stopped before `pulumi destroy`" in capsys.readouterr().err
    # Emptied as the message says (mc rm --versions --bypass): the provider can delete it.
    admin = s3_client(minio)
    for version in admin.list_object_versions(Bucket="raw").get("Versions", []):
        admin.delete_object(
            Bucket="raw",
            Key=version["Key"],
            VersionId=version["VersionId"],
            BypassGovernanceRetention=True,
        )
    assert main(["--project-dir", str(project.folder), "--for", "destroy"]) == 0


# -- the client: the stack's login, and nothing else -------------------------------------------


def test_the_checkouts_outputs_and_the_shells_profile_do_not_matter(
    project: Project,
    iam_login: IamUser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make outputs` writes `{}` for an empty stack; AWS_PROFILE may name another tool's
    profile. Neither is the stack's MinIO login."""
    use_login(project, iam_login.access_key_id, iam_login.secret_access_key)
    (project.folder / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (project.folder / ".lakeops").mkdir()
    (project.folder / ".lakeops" / "outputs-dev.json").write_text("{}")
    monkeypatch.chdir(project.folder)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = eu-west-1\ns3 =\n  addressing_style = virtual\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    for mode in ("login", "up"):
        assert main(["--project-dir", str(project.folder), "--for", mode]) == 0


# -- buckets the state does not track -----------------------------------------------------------


def test_untracked_buckets_can_be_imported_where_the_state_has_their_parents(
    project: Project,
    minio: S3Endpoint,
    lake_in_minio: set[str],
    dev_resources: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_buckets(minio, lake_in_minio, LAKE)
    project.set_state(export(buckets_of(dev_resources, frozenset({"staging", "curated"}))))
    assert project.run() == 1
    err = capsys.readouterr().err
    urns = {r["urn"].rsplit("::", 1)[-1]: r["urn"] for r in dev_resources if not r["custom"]}
    layer = urns["lake-bronze"]
    provider = next(r["urn"] for r in dev_resources if r["type"] == "pulumi:providers:minio")
    assert (
        'make pulumi ARGS="import --stack dev --yes --generate-code=false '
        f"--parent lake-bronze={layer} --provider minio={provider} "
        'minio:index/s3Bucket:S3Bucket lake-bronze-bucket raw"'
    ) in err
    assert "make reset" in err


# -- what the Makefile runs first ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "mode"),
    [("up", "up"), ("preview", "preview"), ("destroy", "destroy"), ("pulumi", "login")],
)
def test_every_dev_pulumi_target_starts_minio_and_runs_the_preflight_first(
    target: str, mode: str
) -> None:
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", target, "ARGS=stack ls"],
        cwd=REPO,
        input="dev\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()

    def first(text: str) -> int:
        return next(n for n, line in enumerate(lines) if text in line)

    pulumi_line = next(
        n
        for n, line in enumerate(lines)
        if re.search(r"pulumi (--cwd \S+ )?(up|preview|destroy|stack ls)", line)
        and "dev_preflight" not in line
    )
    assert first("docker compose up -d --wait minio") < first("infra/dev_preflight.py")
    assert first(f"--for {mode}") < pulumi_line
