"""Configuration: the documented order of precedence, stack outputs, and masking."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lakeops import Backend, ConfigurationError, Lake, LakeConfig, StorageLayer, Timeouts
from lakeops.stack_outputs import exported_outputs_path

BRONZE, SILVER, GOLD = StorageLayer.BRONZE, StorageLayer.SILVER, StorageLayer.GOLD

DEV_OUTPUTS: dict[str, Any] = {
    "backend": "minio",
    "endpoint": "http://minio.internal:9000",
    "region": "eu-central-1",
    "buckets": {"bronze": "dev-raw", "silver": "dev-staging", "gold": "dev-curated"},
    "lifecycle": {"noncurrentVersionDays": 30},
}
AWS_OUTPUTS: dict[str, Any] = {
    "backend": "aws",
    "endpoint": None,
    "region": "eu-west-1",
    "buckets": {
        "bronze": "acme-prod-raw",
        "silver": "acme-prod-staging",
        "gold": "acme-prod-curated",
    },
    "lifecycle": {"noncurrentVersionDays": 90, "abortIncompleteMultipartDays": 7},
}


def outputs_file(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(data))
    return path


def test_dev_defaults_apply_when_nothing_is_set() -> None:
    config = LakeConfig.resolve(env={})
    assert config.backend is Backend.MINIO
    assert config.endpoint_url == "http://localhost:9000"
    assert config.region == "us-east-1"
    assert dict(config.buckets) == {BRONZE: "raw", SILVER: "staging", GOLD: "curated"}
    assert (config.access_key_id, config.secret_access_key) == ("minio", "minio123")
    assert config.sources["endpoint"] == "dev default"


def test_stack_outputs_override_dev_defaults(tmp_path: Path) -> None:
    config = LakeConfig.resolve(
        env={"LAKEOPS_OUTPUTS_FILE": str(outputs_file(tmp_path, DEV_OUTPUTS))}
    )
    assert config.endpoint_url == "http://minio.internal:9000"
    assert config.region == "eu-central-1"
    assert config.bucket(BRONZE) == "dev-raw"
    assert config.lifecycle is not None and config.lifecycle.noncurrent_version_days == 30
    assert config.sources["bucket.bronze"].startswith("stack outputs (file ")


def test_environment_overrides_stack_outputs(tmp_path: Path) -> None:
    env = {
        "LAKEOPS_OUTPUTS_FILE": str(outputs_file(tmp_path, DEV_OUTPUTS)),
        "AWS_ENDPOINT_URL": "http://generic:1",
        "AWS_ENDPOINT_URL_S3": "http://s3-specific:2",
        "AWS_DEFAULT_REGION": "ap-south-1",
        "AWS_REGION": "ap-east-1",
        "LAKEOPS_BUCKET_SILVER": "env-staging",
        "AWS_ACCESS_KEY_ID": "AKIAENVKEY123",
        "AWS_SECRET_ACCESS_KEY": "env-secret",
        "AWS_SESSION_TOKEN": "env-token",
    }
    config = LakeConfig.resolve(env=env)
    assert config.endpoint_url == "http://s3-specific:2"
    assert config.region == "ap-east-1"
    assert config.bucket(SILVER) == "env-staging"
    assert config.bucket(BRONZE) == "dev-raw"
    assert (config.access_key_id, config.secret_access_key) == ("AKIAENVKEY123", "env-secret")
    assert config.session_token == "env-token"
    assert config.sources["endpoint"] == "env AWS_ENDPOINT_URL_S3"
    assert config.sources["region"] == "env AWS_REGION"


def test_generic_endpoint_and_default_region_variables_are_used_too() -> None:
    config = LakeConfig.resolve(
        env={"AWS_ENDPOINT_URL": "http://generic:1", "AWS_DEFAULT_REGION": "ap-south-1"}
    )
    assert config.endpoint_url == "http://generic:1"
    assert config.region == "ap-south-1"


def test_arguments_override_everything(tmp_path: Path) -> None:
    env = {
        "LAKEOPS_OUTPUTS_FILE": str(outputs_file(tmp_path, DEV_OUTPUTS)),
        "AWS_ENDPOINT_URL": "http://env:1",
        "AWS_REGION": "ap-east-1",
        "LAKEOPS_BUCKET_GOLD": "env-curated",
        "AWS_ACCESS_KEY_ID": "envkey",
        "AWS_SECRET_ACCESS_KEY": "envsecret",
    }
    config = LakeConfig.resolve(
        endpoint_url="http://arg:3",
        region="sa-east-1",
        buckets={"gold": "arg-curated"},
        access_key_id="argkey",
        secret_access_key="argsecret",
        env=env,
    )
    assert config.endpoint_url == "http://arg:3"
    assert config.region == "sa-east-1"
    assert config.bucket(GOLD) == "arg-curated"
    assert config.access_key_id == "argkey"
    assert {config.sources[name] for name in ("endpoint", "region", "bucket.gold")} == {"argument"}


def test_aws_outputs_mean_aws_endpoint_and_the_default_credential_chain(tmp_path: Path) -> None:
    config = LakeConfig.resolve(
        env={"LAKEOPS_OUTPUTS_FILE": str(outputs_file(tmp_path, AWS_OUTPUTS))}
    )
    assert config.backend is Backend.AWS
    assert config.endpoint_url is None
    assert config.region == "eu-west-1"
    assert config.access_key_id is None and config.secret_access_key is None
    assert config.sources["access_key_id"] == "boto3 default credential chain"
    lake = Lake(config)
    assert lake.client.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"


AWS_BUCKET_VARIABLES = {
    "LAKEOPS_BUCKET_BRONZE": "acme-raw",
    "LAKEOPS_BUCKET_SILVER": "acme-staging",
    "LAKEOPS_BUCKET_GOLD": "acme-curated",
}


def test_backend_aws_from_the_environment_drops_the_dev_endpoint() -> None:
    env = {"LAKEOPS_BACKEND": "aws", "AWS_REGION": "us-west-2", **AWS_BUCKET_VARIABLES}
    config = LakeConfig.resolve(env=env)
    assert config.endpoint_url is None
    assert config.access_key_id is None


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({"env": {"LAKEOPS_BACKEND": "aws"}}, "bronze, silver, gold"),
        ({"backend": "aws", "env": {"LAKEOPS_BUCKET_BRONZE": "acme-raw"}}, "silver, gold"),
    ],
)
def test_on_aws_the_dev_bucket_names_are_refused(settings: dict[str, Any], missing: str) -> None:
    """raw, staging and curated are global AWS names: somebody else's buckets."""
    with pytest.raises(ConfigurationError, match=f"no bucket is named for {missing}:") as caught:
        LakeConfig.resolve(**settings)
    assert "LAKEOPS_OUTPUTS_FILE" in str(caught.value) and "LAKEOPS_STACK" in str(caught.value)
    assert "LAKEOPS_BUCKET_SILVER" in str(caught.value)
    # `lakeops config` still shows the table, with the problem.
    lenient = LakeConfig.resolve(lenient=True, **settings)
    assert lenient.bucket(GOLD) == "curated"
    assert [p for p in lenient.problems if "no bucket is named" in p]
    # Named in every layer, or from the stack's outputs, they are used.
    named = LakeConfig.resolve(backend="aws", env=AWS_BUCKET_VARIABLES)
    assert named.bucket(GOLD) == "acme-curated"


def test_custom_endpoints_use_path_style_addressing() -> None:
    lake = Lake(LakeConfig.resolve(env={}))
    request_url = lake.client.generate_presigned_url(
        "get_object", Params={"Bucket": "raw", "Key": "files/a.csv"}
    )
    assert request_url.startswith("http://localhost:9000/raw/files/a.csv?")


def test_a_named_stack_reads_the_exported_file_when_the_cli_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: lake\n")
    exported = exported_outputs_path(tmp_path, "dev")
    exported.parent.mkdir()
    exported.write_text(json.dumps(DEV_OUTPUTS))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    config = LakeConfig.resolve(env={"LAKEOPS_STACK": "dev", "LAKEOPS_PROJECT_DIR": str(tmp_path)})

    assert config.bucket(BRONZE) == "dev-raw"


def test_a_named_stack_without_cli_or_export_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: lake\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ConfigurationError, match=r"pulumi CLI is not on PATH.*make outputs"):
        LakeConfig.resolve(env={"LAKEOPS_STACK": "dev", "LAKEOPS_PROJECT_DIR": str(tmp_path)})


def test_a_named_stack_is_read_through_the_pulumi_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in `pulumi` executable checks the arguments lakeops passes and answers as
    `pulumi stack output --json` does. The real CLI is exercised by the infra integration
    test where it is installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "pulumi"
    stand_in.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, os, sys
            assert sys.argv[1:] == ["stack", "output", "--json", "--stack", "prod",
                                    "--non-interactive"], sys.argv
            assert os.path.exists("Pulumi.yaml"), "runs in the project folder"
            print({json.dumps(json.dumps(AWS_OUTPUTS))})
            """
        )
    )
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "Pulumi.yaml").write_text("name: lake\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)

    config = LakeConfig.resolve(stack="prod", env={})

    assert config.bucket(BRONZE) == "acme-prod-raw"
    assert config.sources["bucket.bronze"] == "stack outputs (pulumi stack 'prod')"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"buckets": {}}), "lack backend"),
        (json.dumps({**DEV_OUTPUTS, "buckets": {"bronze": "a"}}), "no bucket for silver"),
        (json.dumps({**DEV_OUTPUTS, "backend": "gcs"}), "backend 'gcs'"),
        (json.dumps({**DEV_OUTPUTS, "endpoint": None}), "without an endpoint"),
    ],
)
def test_bad_outputs_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=message) as caught:
        LakeConfig.resolve(outputs_file=path, env={})
    assert str(path) in str(caught.value)


def test_a_missing_outputs_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nope\.json.*does not exist"):
        LakeConfig.resolve(env={"LAKEOPS_OUTPUTS_FILE": str(tmp_path / "nope.json")})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"endpoint_url": "localhost:9000"}, "not an http"),
        ({"buckets": {"bronze": "Bad_Name"}}, "not a valid S3 bucket name"),
        ({"access_key_id": "only-key"}, "only one of"),
        ({"backend": "azure"}, "backend 'azure'"),
        ({"profile": "lakeops-no-such-profile"}, "profile 'lakeops-no-such-profile'"),
    ],
)
def test_bad_settings_are_refused_with_the_fix(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LakeConfig.resolve(env={}, **settings)


def test_half_a_key_pair_in_the_environment_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="AWS_ACCESS_KEY_ID is set but its partner"):
        LakeConfig.resolve(env={"AWS_ACCESS_KEY_ID": "k"})


def test_secrets_are_masked_in_repr_and_describe() -> None:
    config = LakeConfig.resolve(
        access_key_id="AKIAEXAMPLEKEYID",
        secret_access_key="s3cr3t-never-shown",
        session_token="t0ken-never-shown",
        env={},
    )
    shown = repr(config) + repr(Lake(config)) + str(config.describe())
    assert "s3cr3t-never-shown" not in shown
    assert "t0ken-never-shown" not in shown
    assert "AKIAEXAMPLEKEYID" not in shown
    rows = {name: value for name, value, _ in config.describe()}
    assert rows["secret_access_key"] == "****"
    assert rows["access_key_id"] == "AKIA****"


def test_without_a_role_the_dev_defaults_are_shown_as_the_root_login() -> None:
    rows = {name: (value, source) for name, value, source in LakeConfig.resolve(env={}).describe()}
    assert rows["role"] == (
        "(none: the MinIO root login, for administration only; jobs use --role)",
        "dev default",
    )
    keys = {"AWS_ACCESS_KEY_ID": "AKIAENVKEY", "AWS_SECRET_ACCESS_KEY": "env-secret"}
    own = {name: value for name, value, _ in LakeConfig.resolve(env=keys).describe()}
    assert own["role"] == "(none: the credentials' own rights)"


def test_an_explicit_profile_outranks_keys_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[pipeline]\naws_access_key_id = AKIAPROFILEKEY\naws_secret_access_key = profile-secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    env = {"AWS_ACCESS_KEY_ID": "AKIAENVKEY", "AWS_SECRET_ACCESS_KEY": "env-secret"}

    config = LakeConfig.resolve(profile="pipeline", env=env)

    assert config.access_key_id is None
    assert config.sources["access_key_id"] == "AWS profile 'pipeline'"
    # The credentials the client really signs with (botocore keeps them private).
    client: Any = Lake(config).client
    assert client._request_signer._credentials.access_key == "AKIAPROFILEKEY"


def test_two_layers_may_not_share_a_bucket() -> None:
    with pytest.raises(ConfigurationError, match="bronze and silver both use bucket 'raw'"):
        LakeConfig.resolve(buckets={"silver": "raw"}, env={})


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://admin:S3cr3tPass@minio:9000",
        # A '/' in the secret (as AWS secret keys often have) ends the URL's netloc early.
        "http://AKIAEXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCY@minio:9000",
    ],
)
def test_an_endpoint_with_credentials_in_it_is_refused_without_repeating_them(
    endpoint: str,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        LakeConfig.resolve(env={"AWS_ENDPOINT_URL": endpoint})
    message = str(caught.value)
    assert "user name or password" in message
    for secret in ("S3cr3tPass", "wJalrXUtnFEMI", "K7MDENG", "AKIAEXAMPLE"):
        assert secret not in message


def test_the_config_of_a_lake_is_read_only() -> None:
    lake = Lake(LakeConfig.resolve(env={}))
    with pytest.raises(AttributeError):
        lake.config = LakeConfig.resolve(env={}, buckets={"bronze": "other"})  # type: ignore[misc]


@pytest.mark.parametrize(
    ("settings", "env", "expected", "source"),
    [
        ({}, {}, None, None),
        ({}, {"AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED"}, "when_required", "env AWS"),
        (
            {},
            {
                "AWS_REQUEST_CHECKSUM_CALCULATION": "when_supported",
                "LAKEOPS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            },
            "when_required",
            "env LAKEOPS",
        ),
        (
            {"request_checksum_calculation": "when_supported"},
            {"LAKEOPS_REQUEST_CHECKSUM_CALCULATION": "when_required"},
            "when_supported",
            "argument",
        ),
    ],
)
def test_request_checksum_calculation_honours_boto3s_setting_and_lakeops_own(
    settings: dict[str, Any],
    env: dict[str, str],
    expected: str | None,
    source: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # boto3 reads the process environment too; the test's own `env` is what counts here.
    monkeypatch.delenv("AWS_REQUEST_CHECKSUM_CALCULATION", raising=False)
    config = LakeConfig.resolve(env=env, **settings)

    assert config.request_checksum_calculation == expected
    assert config.sources.get("request_checksum_calculation", "").startswith(source or "")
    # The client is built with it; None leaves boto3 to its own default chain.
    client: Any = Lake(config).client
    assert client.meta.config.request_checksum_calculation == (expected or "when_supported")


def test_an_unknown_checksum_calculation_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="when_supported, when_required"):
        LakeConfig.resolve(env={"LAKEOPS_REQUEST_CHECKSUM_CALCULATION": "always"})


def test_a_lake_gives_the_credentials_it_signs_with() -> None:
    lake = Lake(LakeConfig.resolve(access_key_id="AKIAKEY", secret_access_key="sec", env={}))

    frozen = lake.credentials()

    assert frozen is not None
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("AKIAKEY", "sec", None)


def test_timeouts_come_from_the_environment_with_their_sources() -> None:
    config = LakeConfig.resolve(env={"LAKEOPS_READ_TIMEOUT": "7.5", "LAKEOPS_MAX_ATTEMPTS": "5"})
    assert config.timeouts == Timeouts(connect_seconds=2.0, read_seconds=7.5, max_attempts=5)
    assert config.sources["read_timeout"] == "env LAKEOPS_READ_TIMEOUT"
    assert config.sources["connect_timeout"] == "lakeops default"
    client: Any = Lake(config).client
    assert client.meta.config.read_timeout == 7.5
    assert client.meta.config.retries["total_max_attempts"] == 5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LAKEOPS_READ_TIMEOUT": "soon"}, "LAKEOPS_READ_TIMEOUT is 'soon', not a number"),
        ({"LAKEOPS_CONNECT_TIMEOUT": "0"}, "positive number of seconds"),
        ({"LAKEOPS_MAX_ATTEMPTS": "0"}, "whole number from 1 to 20"),
    ],
)
def test_bad_timeouts_are_refused_with_the_variable_named(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LakeConfig.resolve(env=env)


def test_config_shows_its_table_and_the_problem_when_the_profile_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakeops.cli import main

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    out = __import__("io").StringIO()

    code = main(["--profile", "lakeops-no-such-profile", "config"], out=out)

    assert code == 3
    assert out.getvalue().splitlines()[0].split() == ["SETTING", "VALUE", "SOURCE"]
    assert "problem: AWS profile 'lakeops-no-such-profile' is not defined" in out.getvalue()


def test_config_shows_the_keys_a_profile_really_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakeops.cli import main

    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[pipeline]\naws_access_key_id = AKIAPROFILEKEY1\naws_secret_access_key = prof-secret-1\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    out = __import__("io").StringIO()

    code = main(["--profile", "pipeline", "--json", "config"], out=out)

    settings = json.loads(out.getvalue())["settings"]
    assert code == 0
    assert settings["access_key_id"] == {
        "value": "AKIA****",
        "source": "AWS profile 'pipeline' (shared-credentials-file)",
    }
    assert settings["secret_access_key"]["value"] == "****"
    assert "prof-secret-1" not in out.getvalue()


@pytest.mark.parametrize("profile", [None, "empty"])
def test_config_says_where_it_looked_when_no_credentials_are_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str | None
) -> None:
    from lakeops.cli import main

    (tmp_path / "config").write_text("[profile empty]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    if profile:
        monkeypatch.setenv("AWS_PROFILE", profile)
    for name, value in AWS_BUCKET_VARIABLES.items():
        monkeypatch.setenv(name, value)
    out = __import__("io").StringIO()

    code = main(["--backend", "aws", "--json", "config"], out=out)

    (problem,) = json.loads(out.getvalue())["problems"]
    assert code == 3
    if profile:
        assert "no credentials found in AWS profile 'empty' (from env AWS_PROFILE)" in problem
        assert "aws sso login --profile empty" in problem
    else:
        assert "no credentials found in boto3's default chain" in problem
        assert "AWS_PROFILE is not set" in problem


def test_inside_the_project_the_exported_dev_outputs_are_found_like_make_uses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: lake\n")
    exported = exported_outputs_path(tmp_path, "dev")
    exported.parent.mkdir()
    exported.write_text(json.dumps(DEV_OUTPUTS))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")

    config = LakeConfig.resolve(env={})

    assert config.bucket(BRONZE) == "dev-raw"
    # Absolute: shown relative to the project, it would mean nothing from sub/ (issue 17, 15).
    assert config.sources["bucket.bronze"] == f"stack outputs (file '{exported.resolve()}')"
    assert config.sources["outputs_file"].startswith("found in the project")
    assert config.problems == ()
    # Naming another backend, or a file, or a stack, turns the finding off.
    assert LakeConfig.resolve(env={"LAKEOPS_BACKEND": "minio"}).bucket(BRONZE) == "raw"


@pytest.mark.parametrize("backend", ["aws", "minio"])
def test_a_backend_named_as_an_argument_turns_the_finding_off_as_the_variable_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: lake\n")
    exported = exported_outputs_path(tmp_path, "dev")
    exported.parent.mkdir()
    exported.write_text(json.dumps(DEV_OUTPUTS))
    monkeypatch.chdir(tmp_path)
    buckets = {"bronze": "acme-raw", "silver": "acme-staging", "gold": "acme-curated"}

    config = LakeConfig.resolve(backend=backend, buckets=buckets, env={})

    assert "outputs_file" not in config.sources
    assert config.endpoint_url != DEV_OUTPUTS["endpoint"]
    assert config.region != DEV_OUTPUTS["region"]


def test_an_export_older_than_the_stack_is_reported_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: lake\n")
    exported = exported_outputs_path(tmp_path, "dev")
    exported.parent.mkdir()
    exported.write_text(json.dumps(DEV_OUTPUTS))
    checkpoint = tmp_path / ".pulumi-state" / ".pulumi" / "stacks" / "lake" / "dev.json"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_text("{}")
    os.utime(exported, (1_000_000, 1_000_000))
    monkeypatch.chdir(tmp_path)

    config = LakeConfig.resolve(env={})

    assert any("older than the dev stack's last update" in p for p in config.problems)


def test_every_command_warns_once_when_it_uses_a_stale_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: lake\n")
    exported = exported_outputs_path(tmp_path, "dev")
    exported.parent.mkdir()
    exported.write_text(json.dumps(DEV_OUTPUTS))
    checkpoint = tmp_path / ".pulumi-state" / ".pulumi" / "stacks" / "lake" / "dev.json"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_text("{}")
    os.utime(exported, (1_000_000, 1_000_000))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEOPS_"))}

    done = subprocess.run(
        [sys.executable, "-m", "lakeops", "env"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "http://minio.internal:9000" in done.stdout
    (warning,) = done.stderr.splitlines()
    assert warning.startswith("lakeops: warning: .lakeops/outputs-dev.json is older than")
    # Once per process, however often the configuration is resolved.
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.WARNING, logger="lakeops")
    for _ in range(3):
        LakeConfig.resolve(env={})
    assert len([r for r in caplog.records if "is older than" in r.getMessage()]) == 1
    # The same export, read for LAKEOPS_STACK=dev without the pulumi CLI, is just as old.
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    named = LakeConfig.resolve(env={"LAKEOPS_STACK": "dev", "LAKEOPS_PROJECT_DIR": str(tmp_path)})
    assert any("older than the dev stack's last update" in p for p in named.problems)
