"""Acting as a pipeline role: its keys from the dev stack's outputs, or its IAM role assumed
through STS on AWS, and every reader setting following it. Role effects are checked on the
IAM-enforcing test server with the stack's own policy documents."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from lakeinfra.policies import role_policy
from lakeops import AccessDeniedError, ConfigurationError, Lake, LakeConfig, StorageLayer
from lakeops.cli import main
from tests.conftest import s3_client
from tests.support.apply_stack import apply_s3_resources
from tests.support.buckets import purge_bucket
from tests.support.iam import create_iam_user
from tests.support.pulumi_stack import run_stack
from tests.support.s3server import REGION, S3Endpoint, set_auth_enforcement

BRONZE, SILVER, GOLD = StorageLayer.BRONZE, StorageLayer.SILVER, StorageLayer.GOLD


def dev_outputs(
    endpoint: str, buckets: dict[StorageLayer, str], credentials: Any
) -> dict[str, Any]:
    return {
        "backend": "minio",
        "endpoint": endpoint,
        "region": REGION,
        "buckets": {layer.value: name for layer, name in buckets.items()},
        "rolePolicies": {role: f"lake-{role}" for role in ("ingest", "analyst")},
        "roleCredentials": credentials,
    }


def _first_prefix(layer: StorageLayer) -> str:
    from lakeops.layout import LAYOUT

    return LAYOUT[layer].prefixes[0]


def test_a_dev_role_signs_with_its_own_keys_from_the_stack_outputs(
    iam_moto: S3Endpoint, lake_buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    analyst = create_iam_user(
        iam_moto, f"analyst-{uuid.uuid4().hex[:6]}", role_policy("analyst", lake_buckets)
    )
    ingest = create_iam_user(
        iam_moto, f"ingest-{uuid.uuid4().hex[:6]}", role_policy("ingest", lake_buckets)
    )
    outputs = tmp_path / "outputs-dev.json"
    outputs.write_text(
        json.dumps(
            dev_outputs(
                iam_moto.url,
                lake_buckets,
                {
                    "analyst": {
                        "accessKeyId": analyst.access_key_id,
                        "secretAccessKey": analyst.secret_access_key,
                    },
                    "ingest": {
                        "accessKeyId": ingest.access_key_id,
                        "secretAccessKey": ingest.secret_access_key,
                    },
                },
            )
        )
    )
    # The root login in the environment is what a role replaces.
    env = {
        "LAKEOPS_OUTPUTS_FILE": str(outputs),
        "LAKEOPS_ROLE": "analyst",
        "AWS_ACCESS_KEY_ID": iam_moto.access_key,
        "AWS_SECRET_ACCESS_KEY": iam_moto.secret_key,
    }
    config = LakeConfig.resolve(env=env)
    lake = Lake(config)
    set_auth_enforcement(iam_moto, enforced=True)

    assert config.role == "analyst"
    assert config.access_key_id == analyst.access_key_id
    assert config.sources["access_key_id"].startswith("role 'analyst' (stack outputs")
    assert lake.storage_options()["key"] == analyst.access_key_id
    assert lake.polars_storage_options()["aws_access_key_id"] == analyst.access_key_id
    assert [e["Key"] for e in lake.list_objects(GOLD)] == ["aggregated/seed.csv"]
    source = tmp_path / "r.csv"
    source.write_text("x\n")
    with pytest.raises(
        AccessDeniedError, match=r"access denied to upload to gold .*, as role 'analyst'"
    ):
        lake.upload(source, GOLD, "reports/r.csv")
    with pytest.raises(AccessDeniedError, match="the key is outside gold's prefixes"):
        lake.stat(GOLD, "elsewhere/seed.csv")
    ingest_lake = Lake(outputs_file=outputs, role="ingest", env={})
    ingest_lake.upload(source, BRONZE, "files/r.csv")
    with pytest.raises(AccessDeniedError):
        ingest_lake.list_objects(SILVER)


@pytest.mark.parametrize(
    ("credentials", "role", "message"),
    [
        ("[secret]", "analyst", "exported without --show-secrets"),
        ({}, "analyst", "hold no keys for role 'analyst'"),
        ({}, "janitor", "has no role 'janitor'"),
    ],
)
def test_a_role_the_outputs_cannot_provide_is_refused_with_the_fix(
    tmp_path: Path, credentials: Any, role: str, message: str
) -> None:
    outputs = tmp_path / "o.json"
    buckets = {layer: layer.value for layer in StorageLayer}
    outputs.write_text(json.dumps(dev_outputs("http://localhost:9000", buckets, credentials)))

    with pytest.raises(ConfigurationError, match=message):
        LakeConfig.resolve(outputs_file=outputs, role=role, env={})
    # `lakeops config` still shows everything, and the problem.
    lenient = LakeConfig.resolve(outputs_file=outputs, role=role, env={}, lenient=True)
    assert any(message in problem for problem in lenient.problems)


def test_a_dev_role_is_read_through_the_pulumi_cli_with_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LAKEOPS_STACK=dev, as the role error's hint says, with `pulumi` installed: a stand-in
    answers as `pulumi stack output --json` does, masking secrets without --show-secrets."""
    keys = {"analyst": {"accessKeyId": "AKIAANALYSTKEY", "secretAccessKey": "analyst-secret-0"}}
    buckets = {layer: layer.value for layer in StorageLayer}
    outputs = dev_outputs("http://localhost:9000", buckets, keys)
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "pulumi"
    stand_in.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, sys
            with open({str(calls)!r}, "a") as calls:
                calls.write(" ".join(sys.argv[1:]) + "\\n")
            outputs = json.loads({json.dumps(json.dumps(outputs))})
            if "--show-secrets" not in sys.argv:
                outputs["roleCredentials"] = "[secret]"
            print(json.dumps(outputs))
            """
        )
    )
    stand_in.chmod(0o755)
    (tmp_path / "Pulumi.yaml").write_text("name: lake\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    env = {"LAKEOPS_STACK": "dev", "LAKEOPS_PROJECT_DIR": str(tmp_path)}

    config = LakeConfig.resolve(role="analyst", env=env)
    plain = LakeConfig.resolve(env=env)

    assert config.access_key_id == "AKIAANALYSTKEY"
    assert config.secret_access_key == "analyst-secret-0"
    assert config.sources["access_key_id"] == "role 'analyst' (stack outputs, pulumi stack 'dev')"
    # Secrets are asked for only when a role needs them.
    with_role, without = calls.read_text().splitlines()
    assert "--show-secrets" in with_role.split()
    assert "--show-secrets" not in without.split()
    assert plain.access_key_id == "minio"


def test_no_role_secret_shows_in_any_repr_or_message(tmp_path: Path) -> None:
    from lakeops import LakeOpsError
    from lakeops.roles import grant_for
    from lakeops.stack_outputs import read_outputs_file

    keys = {
        role: {"accessKeyId": f"AKIA{role.upper()}KEY", "secretAccessKey": f"{role}-secret-9f3"}
        for role in ("ingest", "analyst")
    }
    path = tmp_path / "o.json"
    buckets = {layer: f"t-{layer.value}" for layer in StorageLayer}
    path.write_text(json.dumps(dev_outputs("http://localhost:9000", buckets, keys)))

    outputs = read_outputs_file(path)
    grant = grant_for("ingest", outputs, outputs.backend)  # type: ignore[arg-type]
    config = LakeConfig.resolve(outputs_file=path, role="ingest", env={})
    shown = " ".join(f"{o!r} {o!s}" for o in (outputs, grant, config))

    assert "ingest-secret-9f3" not in shown and "analyst-secret-9f3" not in shown
    assert "AKIAINGESTKEY" not in shown
    assert outputs.role_credentials["analyst"][1] == "analyst-secret-9f3"
    # Every role's secret is scrubbed from messages, not only the one acted as.
    assert "analyst-secret-9f3" not in str(LakeOpsError("server said: analyst-secret-9f3"))


def test_explicit_keys_and_a_dev_role_together_are_refused(tmp_path: Path) -> None:
    """A dev role is a MinIO user with keys of its own: explicit keys would be dropped. Keys in
    the environment are another matter: the admin shell's root login, which a role replaces."""
    outputs = tmp_path / "o.json"
    buckets = {layer: layer.value for layer in StorageLayer}
    keys = {"ingest": {"accessKeyId": "AKIAINGESTKEY", "secretAccessKey": "ingest-secret-0"}}
    outputs.write_text(json.dumps(dev_outputs("http://localhost:9000", buckets, keys)))

    with pytest.raises(ConfigurationError, match="both access keys and role 'ingest'") as caught:
        LakeConfig.resolve(
            outputs_file=outputs,
            role="ingest",
            access_key_id="AKIAEXPLICIT",
            secret_access_key="explicit-secret-0",
            env={},
        )
    assert "explicit-secret-0" not in str(caught.value)
    root_login = {"AWS_ACCESS_KEY_ID": "minio", "AWS_SECRET_ACCESS_KEY": "minio123"}
    from_env = LakeConfig.resolve(outputs_file=outputs, role="ingest", env=root_login)
    assert from_env.access_key_id == "AKIAINGESTKEY"


def test_a_role_needs_stack_outputs() -> None:
    with pytest.raises(ConfigurationError, match="no stack outputs say what it is"):
        LakeConfig.resolve(role="analyst", env={})


def test_an_aws_role_is_assumed_with_a_session_name_that_says_who_and_what(
    iam_moto: S3Endpoint,
    lake_buckets: dict[StorageLayer, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arn, base, outputs = aws_role(iam_moto, lake_buckets, tmp_path)
    name = arn.rsplit("/", 1)[-1]
    # The test server stands in for AWS: S3 and STS endpoints from boto3's own variables.
    monkeypatch.setenv("AWS_ENDPOINT_URL", iam_moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", base.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", base.secret_access_key)
    config = LakeConfig.resolve(outputs_file=outputs, role="analyst", purpose="tests")
    lake = Lake(config)
    set_auth_enforcement(iam_moto, enforced=True)

    assert config.role_arn == arn
    assert config.role_session_name is not None
    assert config.role_session_name.startswith("lakeops-")
    assert config.role_session_name.endswith("-analyst-tests")
    caller = lake.session.client("sts", endpoint_url=iam_moto.url).get_caller_identity()
    assert caller["Arn"].endswith(f"assumed-role/{name}/{config.role_session_name}")
    frozen = lake.credentials()
    assert frozen is not None and frozen.token
    assert frozen.access_key != base.access_key_id
    # Readers get the assumed keys, not the base ones.
    assert lake.storage_options()["token"] == frozen.token
    assert [e["Key"] for e in lake.list_objects(GOLD)] == ["aggregated/seed.csv"]
    with pytest.raises(AccessDeniedError):
        lake.list_objects(SILVER)


def aws_role(
    iam_moto: S3Endpoint, buckets: dict[StorageLayer, str], tmp_path: Path
) -> tuple[str, Any, Path]:
    """An analyst IAM role, a user allowed to assume it, and prod outputs that name it."""
    iam = boto3.client(
        "iam",
        endpoint_url=iam_moto.url,
        region_name=REGION,
        aws_access_key_id=iam_moto.access_key,
        aws_secret_access_key=iam_moto.secret_key,
    )
    name = f"lake-analyst-{uuid.uuid4().hex[:6]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="analyst",
        PolicyDocument=json.dumps(role_policy("analyst", buckets)),
    )
    # A principal allowed to assume it: the base credentials of the default chain.
    allowed = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn}
    base = create_iam_user(
        iam_moto,
        f"deployer-{uuid.uuid4().hex[:6]}",
        {"Version": "2012-10-17", "Statement": [allowed]},
    )
    outputs = tmp_path / "outputs-prod.json"
    outputs.write_text(
        json.dumps(
            {
                "backend": "aws",
                "endpoint": None,
                "region": REGION,
                "buckets": {layer.value: n for layer, n in buckets.items()},
                "rolePolicies": {"analyst": name},
                "roleArns": {"analyst": arn},
            }
        )
    )
    return arn, base, outputs


def test_env_with_an_aws_role_prints_the_assumed_keys_not_the_base_profile(
    iam_moto: S3Endpoint,
    lake_buckets: dict[StorageLayer, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, base, outputs = aws_role(iam_moto, lake_buckets, tmp_path)
    (tmp_path / "credentials").write_text(
        f"[base]\naws_access_key_id = {base.access_key_id}\n"
        f"aws_secret_access_key = {base.secret_access_key}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "base")
    monkeypatch.setenv("AWS_ENDPOINT_URL", iam_moto.url)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    out, err = io.StringIO(), io.StringIO()

    code = main(
        ["--outputs-file", str(outputs), "--role", "analyst", "env", "--show-secrets"],
        out=out,
        err=err,
    )

    assert code == 0, err.getvalue()
    shown = dict(
        line.removeprefix("export ").split("=", 1)
        for line in out.getvalue().splitlines()
        if line.startswith("export ")
    )
    assert "AWS_PROFILE" not in shown
    assert shown["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert shown["AWS_ACCESS_KEY_ID"] != base.access_key_id
    assert shown["AWS_SESSION_TOKEN"]
    assert "role analyst's keys are temporary: they expire at" in err.getvalue()


def test_an_assumed_role_keeps_the_profiles_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The role's session is built on the base profile's settings: its ca_bundle (a company
    proxy's CA, say) still applies. Nothing is sent: the role is assumed on first use."""
    ca = tmp_path / "company-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "config").write_text(f"[profile base]\nregion = eu-west-1\nca_bundle = {ca}\n")
    (tmp_path / "credentials").write_text(
        "[base]\naws_access_key_id = AKIABASEKEY\naws_secret_access_key = base-secret\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    buckets = {layer: f"acme-{layer.value}" for layer in StorageLayer}
    outputs = tmp_path / "outputs-prod.json"
    outputs.write_text(
        json.dumps(
            {
                "backend": "aws",
                "region": "eu-west-1",
                "buckets": {layer.value: name for layer, name in buckets.items()},
                "roleArns": {"analyst": "arn:aws:iam::123456789012:role/lake-analyst"},
            }
        )
    )

    lake = Lake(profile="base", outputs_file=outputs, role="analyst", env={})

    client: Any = lake.client
    assert lake.config.role_arn is not None
    assert client._endpoint.http_session._verify == str(ca)


def test_verify_as_a_role_says_what_it_could_not_check_and_exits_6(
    iam_moto: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The analyst may read gold only: verify's other checks are not drift but access denied."""
    admin = s3_client(iam_moto)
    run = run_stack("dev", {"lake:bucketPrefix": f"lkr-{uuid.uuid4().hex[:10]}"})
    applied = apply_s3_resources(run, admin)
    buckets = {StorageLayer(layer): name for layer, name in run.outputs["buckets"].items()}
    analyst = create_iam_user(
        iam_moto, f"analyst-{uuid.uuid4().hex[:6]}", role_policy("analyst", buckets)
    )
    keys = {"accessKeyId": analyst.access_key_id, "secretAccessKey": analyst.secret_access_key}
    outputs = tmp_path / "outputs-dev.json"
    outputs.write_text(
        json.dumps({**run.outputs, "endpoint": iam_moto.url, "roleCredentials": {"analyst": keys}})
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", iam_moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", iam_moto.secret_key)
    argv = ["--outputs-file", str(outputs), "--role", "analyst"]
    set_auth_enforcement(iam_moto, enforced=True)
    try:
        out, err = io.StringIO(), io.StringIO()
        code = main([*argv, "--json", "verify"], out=out, err=err)
        human = io.StringIO()
        main([*argv, "verify"], out=human, err=io.StringIO())
    finally:
        set_auth_enforcement(iam_moto, enforced=False)
        for name in {r.inputs["bucket"] for r in applied if r.type.endswith("Bucket")}:
            purge_bucket(admin, name)

    checks = {(c["check"], c["layer"]): c for c in json.loads(out.getvalue())["checks"]}
    assert code == 6, out.getvalue()
    assert json.loads(err.getvalue())["error"] == "AccessDeniedError"
    assert "admin login" in err.getvalue()
    results = {c["result"] for c in checks.values()}
    assert results == {"pass", "not checked"}, checks
    bronze = checks[("bucket exists", "bronze")]
    assert bronze["detail"] == "access denied: role 'analyst' lacks s3:ListBucket (HeadBucket)"
    assert checks[("versioning", "silver")]["result"] == "not checked"
    assert checks[("bucket exists", "gold")]["result"] == "pass"
    assert checks[("prefix reports/", "gold")]["result"] == "pass"
    assert "lacks s3:GetBucketVersioning" in checks[("versioning", "gold")]["detail"]
    assert "no drift in the 4 checks made; 17 not checked (access denied)" in human.getvalue()


def test_the_command_takes_a_role_and_config_names_it(tmp_path: Path) -> None:
    outputs = tmp_path / "o.json"
    buckets = {layer: layer.value for layer in StorageLayer}
    keys = {"analyst": {"accessKeyId": "AKIAANALYSTKEY", "secretAccessKey": "analyst-secret-0"}}
    outputs.write_text(json.dumps(dev_outputs("http://localhost:9000", buckets, keys)))
    out = __import__("io").StringIO()

    code = main(["--outputs-file", str(outputs), "--role", "analyst", "--json", "config"], out=out)

    settings = json.loads(out.getvalue())["settings"]
    assert code == 0
    assert settings["role"]["value"] == "analyst"
    assert settings["access_key_id"] == {
        "value": "AKIA****",
        "source": f"role 'analyst' (stack outputs, file '{outputs}')",
    }
    assert "analyst-secret-0" not in out.getvalue()


def test_a_writer_that_may_not_look_is_not_told_the_key_is_free(
    iam_moto: S3Endpoint, lake_buckets: dict[StorageLayer, str]
) -> None:
    # Where the server ignores If-None-Match, bronze's rule rests on looking before each
    # write (lakeops.ops.upload): a refused look must stop the write, not pass for "absent".
    bronze = lake_buckets[BRONZE]
    write_only = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": f"arn:aws:s3:::{bronze}/*"}
        ],
    }
    writer = create_iam_user(iam_moto, f"blind-{uuid.uuid4().hex[:6]}", write_only)
    lake = Lake(
        endpoint_url=iam_moto.url,
        access_key_id=writer.access_key_id,
        secret_access_key=writer.secret_access_key,
        region=REGION,
        buckets=lake_buckets,
        env={},
    )
    ctx = lake.context
    set_auth_enforcement(iam_moto, enforced=True)
    try:
        with pytest.raises(AccessDeniedError):
            ctx.peek(ctx.target("upload to", BRONZE, "postgres/seed.csv"))
        with pytest.raises(AccessDeniedError):
            ctx.peek(ctx.target("upload to", BRONZE, "postgres/absent.csv"))
    finally:
        set_auth_enforcement(iam_moto, enforced=False)


def test_an_ingest_dataset_upload_to_bronze_probes_bronze_and_sends_one_request_per_object(
    iam_moto: S3Endpoint, lake_buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    # The ingest role may write neither silver nor gold: bronze's probe is its own, and never
    # stored. Where the server enforces the condition, each object is then one PUT, no look.
    from lakeops.ops.conditional import forget_probes

    ingest = create_iam_user(
        iam_moto, f"ingest-{uuid.uuid4().hex[:6]}", role_policy("ingest", lake_buckets)
    )
    credentials = {
        "ingest": {
            "accessKeyId": ingest.access_key_id,
            "secretAccessKey": ingest.secret_access_key,
        }
    }
    outputs = tmp_path / "outputs-dev.json"
    outputs.write_text(json.dumps(dev_outputs(iam_moto.url, lake_buckets, credentials)))
    admin = s3_client(iam_moto)
    bronze, marker = lake_buckets[BRONZE], _first_prefix(BRONZE)
    admin.put_object(Bucket=bronze, Key=marker, Body=b"")
    folder = tmp_path / "batch"
    folder.mkdir()
    for n in range(3):
        (folder / f"b{n}.csv").write_text(f"id\n{n}\n")
    forget_probes()
    set_auth_enforcement(iam_moto, enforced=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEOPS_"))}

    ran = subprocess.run(
        [
            *(sys.executable, "-m", "lakeops", "--debug", "--outputs-file", str(outputs)),
            *("--role", "ingest", "upload", "-r", str(folder), "bronze", "files/batch/"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )

    assert ran.returncode == 0, ran.stderr
    sent = [line for line in ran.stderr.splitlines() if "lakeops.requests:" in line]
    objects = [line for line in sent if f"/{bronze}/files/batch/b" in line]
    assert len(objects) == 3, sent
    probe = [line for line in sent if f"/{bronze}/{marker} " in line]
    assert len(probe) == 2, sent  # HEAD, then the conditional PUT refused (412)
    set_auth_enforcement(iam_moto, enforced=False)
    kept = admin.list_object_versions(Bucket=bronze, Prefix=marker).get("Versions", [])
    assert [v["Key"] for v in kept].count(marker) == 1
    forget_probes()
