"""The local platform's files: docker-compose.yml, the provisioner image and the Makefile.

Where Docker runs, `docker compose config` validates the compose file too; without it, the
compose-spec parser does. The Makefile's targets are checked with `make -n`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose

from tests.support.pulumi_stack import REPO

COMPOSE = REPO / "docker-compose.yml"


def compose() -> dict[str, Any]:
    document = PyCompose.from_yaml(COMPOSE.read_text()).to_dict()
    assert isinstance(document, dict)
    return document


def make(*args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
    """Run make in the checkout; ``answer`` is what a user types at its prompts."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        input=answer,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_compose_file_is_valid_compose() -> None:
    # catalog-db: the optional shared table catalog (tests/test_catalog_service.py).
    assert set(compose()["services"]) == {"minio", "minio-init", "catalog-db"}


def test_docker_compose_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed; the compose-spec parser checked the file instead")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("docker has no compose plugin here; the compose-spec parser checked the file")
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr


def test_minio_is_pinned_healthy_persistent_and_on_the_seed_ports() -> None:
    minio = compose()["services"]["minio"]
    image = minio["image"]
    assert re.fullmatch(r"quay\.io/minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", image)
    # Published on loopback only: the login is public and the image has known issues.
    assert {str(p) for p in minio["ports"]} == {"127.0.0.1:9000:9000", "127.0.0.1:9001:9001"}
    assert minio["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert "minio-data:/data" in minio["volumes"]
    assert "minio-data" in compose()["volumes"]
    assert minio["environment"]["MINIO_ROOT_USER"] == "${MINIO_ROOT_USER:-minio}"
    assert minio["environment"]["MINIO_ROOT_PASSWORD"] == "${MINIO_ROOT_PASSWORD:-minio123}"


def test_minio_init_provisions_with_the_same_program_and_state_as_make_up() -> None:
    init = compose()["services"]["minio-init"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert init["network_mode"] == "service:minio"
    assert init["init"] is True, "signals must reach the script, so its cleanup runs"
    assert init["environment"]["PYTHONDONTWRITEBYTECODE"] == "1"
    assert ".:/project" in init["volumes"]
    # A volume inside the checkout would make Docker create a root-owned .venv there.
    assert "provisioner-venv:/venv" in init["volumes"]
    assert not [v for v in init["volumes"] if str(v).split(":")[-1].startswith("/project/")]
    assert init["environment"]["PULUMI_BACKEND_URL"] == "file:///project/.pulumi-state"
    assert "PULUMI_BACKEND_URL=file://$(CURDIR)/.pulumi-state" in (REPO / "Makefile").read_text()
    dockerfile = REPO / init["build"]["dockerfile"]
    assert dockerfile.is_file()
    script = (REPO / "infra" / "provision.sh").read_text()
    steps = [
        '-e "$project[infra-minio]"',
        "stack select dev --create",
        "infra/dev_preflight.py",
        "up --stack dev --yes",
        "stack output --stack dev --json --show-secrets",
        'lakeops" --role ingest sample',
        'lakeops" verify',
    ]
    positions = [script.find(step) for step in steps]
    assert all(p >= 0 for p in positions), [
        s for s, p in zip(steps, positions, strict=True) if p < 0
    ]
    assert positions == sorted(positions)


def test_the_container_runs_pulumi_with_its_own_virtualenv() -> None:
    """provision.sh rewrites Pulumi.yaml's virtualenv for its shadow project; check the rewrite."""
    script = (REPO / "infra" / "provision.sh").read_text()
    (sed_line,) = [line for line in script.splitlines() if line.startswith("sed ")]
    expression = sed_line.split('"')[1].replace("$venv", "/venv")
    done = subprocess.run(
        ["sed", expression, "Pulumi.yaml"], cwd=REPO, capture_output=True, text=True, check=True
    )
    shadow = yaml.safe_load(done.stdout)
    original = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert shadow["runtime"]["options"]["virtualenv"] == "/venv"
    shadow["runtime"]["options"]["virtualenv"] = original["runtime"]["options"]["virtualenv"]
    assert shadow == original


def test_the_provisioner_image_pins_the_cli_and_plugin_the_sdk_expects() -> None:
    dockerfile = (REPO / "infra" / "provisioner.Dockerfile").read_text()
    assert f"ARG PULUMI_VERSION={version('pulumi')}" in dockerfile
    assert f"ARG PULUMI_MINIO_VERSION={version('pulumi_minio')}" in dockerfile
    image = compose()["services"]["minio-init"]["image"]
    assert image.endswith(f":{version('pulumi')}")


def test_the_provisioner_image_is_built_never_pulled() -> None:
    """With both `image` and `build` and no pull_policy, Compose tries to pull the image first
    (compose-file reference, "Using build and image"); lake-provisioner is only ever built here,
    so that pull can only fail: slowly, offline, or against a registry's rate limit."""
    init = compose()["services"]["minio-init"]
    assert init["image"] and init["build"]
    assert init.get("pull_policy") == "build"


def test_make_help_lists_every_target_with_one_line() -> None:
    listed = {line.split()[0] for line in make("help").stdout.splitlines() if line.strip()}
    makefile = (REPO / "Makefile").read_text()
    documented = set(re.findall(r"^([a-z0-9-]+):.*## ", makefile, flags=re.M))
    wanted = {
        "minio-buckets",
        "minio-upload-sample",
        "minio-verify",
        "minio-console",
        "up",
        "down",
        "preview",
        "destroy",
        "outputs",
        "test",
        "lint",
        "prod-preview",
        "prod-up",
        "help",
        "reset",
        "pulumi",
    }
    assert wanted <= documented
    assert listed == documented


def test_make_up_starts_minio_waits_provisions_loads_and_verifies() -> None:
    done = make("-n", "-W", "pyproject.toml", "up")
    assert done.returncode == 0, done.stderr
    steps = done.stdout
    order = [
        "docker compose up -d --wait minio",
        "pulumi stack select dev --create",
        "infra/dev_preflight.py --project-dir .",
        "pulumi up --stack dev --yes",
        "pulumi stack output --stack dev --json --show-secrets",
        "lakeops --role ingest sample",
        "lakeops verify",
    ]
    positions = [steps.find(step) for step in order]
    assert all(p >= 0 for p in positions), steps
    assert positions == sorted(positions)


@pytest.mark.parametrize("target", ["prod-preview", "prod-up"])
def test_prod_targets_name_the_stack_and_ask_first(target: str) -> None:
    steps = make("-n", target).stdout
    assert "Type 'prod' to continue" in steps
    assert "--stack prod" in steps
    assert steps.find("Type 'prod'") < steps.find("--stack prod")
    assert ".pulumi-state" not in steps.split("Type 'prod'")[1], "prod never uses the dev state"


def test_confirm_prod_answers_pulumis_question_too() -> None:
    """Unattended, `pulumi up` refuses to run without --yes; CONFIRM=prod is for automation."""
    asked = make("-n", "prod-up").stdout
    assert "pulumi up --stack prod\n" in asked and "--yes" not in asked
    unattended = make("-n", "prod-up", "CONFIRM=prod").stdout
    assert "pulumi up --stack prod --yes --non-interactive" in unattended
    assert "--yes" not in make("-n", "prod-preview", "CONFIRM=prod").stdout


def test_prod_targets_refuse_without_confirmation() -> None:
    done = make("confirm-prod", answer="no\n")
    assert done.returncode != 0
    assert "Not confirmed; nothing done." in done.stdout


def test_dev_targets_ignore_the_shells_aws_settings_and_never_print_a_secret() -> None:
    for target in ("minio-verify", "minio-buckets", "minio-upload-sample", "test-minio", "up"):
        steps = make("-n", "-W", "pyproject.toml", target).stdout
        assert "minio123" not in steps, target
    verify = make("-n", "minio-verify").stdout
    for variable in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        assert f"-u {variable} " in verify
    # Administration gets the root login through the environment, not the command line.
    assert 'AWS_SECRET_ACCESS_KEY="$LAKE_ADMIN_PASSWORD"' in verify
    assert "lakeops verify" in verify


# Every target that runs Pulumi on the dev stack, or lakeops as the MinIO root, or that a
# recipe above reaches through $(MAKE); the prod ones must not carry the dev passphrase either.
SECRET_FREE_TARGETS = (
    "up",
    "preview",
    "destroy",
    "pulumi",
    "outputs",
    "reset",
    "minio-buckets",
    "minio-upload-sample",
    "minio-verify",
    "test-minio",
    "prod-preview",
    "prod-up",
)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"PULUMI_CONFIG_PASSPHRASE": "own-passphrase-5f1c", "MINIO_ROOT_PASSWORD": "own-root-9e2d"},
    ],
    ids=["defaults", "own-settings"],
)
def test_no_recipe_line_prints_a_secret(settings: dict[str, str]) -> None:
    """make prints every recipe line it runs: the dev passphrase and the MinIO root password
    reach the commands through the environment, never on a printed line. The advised way to
    set the stack's password (`config set --secret` without a value) lets Pulumi prompt."""
    secrets = {"lakeops-dev", "minio123", *settings.values()}
    assigned = [f"{name}={value}" for name, value in settings.items()]
    args = "ARGS=config set --stack dev --secret minio:minioPassword"
    for target in SECRET_FREE_TARGETS:
        done = make("-n", "-W", "pyproject.toml", *assigned, args, target)
        assert done.returncode == 0, (target, done.stderr)
        assert done.stdout.strip(), target
        printed = [line for line in done.stdout.splitlines() if any(s in line for s in secrets)]
        assert printed == [], (target, printed)
    dev_pulumi = make("-n", "preview").stdout
    assert 'PULUMI_CONFIG_PASSPHRASE="$LAKE_DEV_PASSPHRASE"' in dev_pulumi
    assert "LAKE_DEV_PASSPHRASE" not in make("-n", "prod-up").stdout


def test_the_advice_never_puts_the_minio_password_on_a_command_line() -> None:
    """Wherever the files tell a user how to set the stack's MinIO password, Pulumi asks for
    it: a value in ARGS would be printed by make and kept in the shell's history."""
    advised = 'make pulumi ARGS="config set --stack dev --secret minio:minioPassword"'
    for name in ("docs/reference.md", ".env.example", "Pulumi.dev.yaml"):
        text = " ".join((REPO / name).read_text().replace("#", " ").split())
        assert advised in text, name
        assert "minio:minioPassword <" not in text, name


def test_day_to_day_targets_run_as_the_least_privilege_role() -> None:
    steps = make("-n", "minio-upload-sample").stdout
    assert "lakeops --role ingest sample" in steps
    assert "AWS_SECRET_ACCESS_KEY=" not in steps.replace("-u AWS_SECRET_ACCESS_KEY", "")


def test_minio_console_prints_the_url_and_where_the_login_is() -> None:
    done = make("minio-console")
    assert done.returncode == 0
    assert "http://localhost:9001" in done.stdout
    assert "MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from .env" in done.stdout
    assert "minio123" not in done.stdout


def test_make_up_checks_every_prerequisite_first_and_names_all_that_are_missing(
    tmp_path: Path,
) -> None:
    # A PATH with python alone: no docker, no pulumi.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    for tool in ("bash", "env", "sh", "printf"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    done = subprocess.run(
        [shutil.which("make") or "make", "--no-print-directory", "prerequisites"],
        cwd=REPO,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "Docker: https://docs.docker.com/get-docker/" in done.stderr
    assert "the Pulumi CLI" in done.stderr
    assert "make demo" in done.stderr
    # And it comes before anything is built.
    order = make("-n", "-W", "pyproject.toml", "up").stdout
    assert order.find("make up needs") < order.find("-m venv") or "-m venv" not in order


def test_make_up_explains_a_missing_docker_engine() -> None:
    docker = shutil.which("docker")
    engine_up = (
        docker is not None
        and subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0
    )
    if engine_up:
        pytest.skip("Docker runs here; the failure message is for machines without it")
    done = make("check-docker")
    assert done.returncode != 0
    expected = "Docker is not installed" if docker is None else "Docker engine is not running"
    assert expected in done.stderr


def test_env_example_covers_what_compose_interpolates() -> None:
    variables = set(re.findall(r"\$\{([A-Z_]+):-", COMPOSE.read_text()))
    example = (REPO / ".env.example").read_text()
    defined = {
        line.split("=")[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert variables <= defined


def test_stack_files_parse() -> None:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        assert isinstance(yaml.safe_load((REPO / name).read_text()), dict)


def test_reset_asks_before_deleting_anything() -> None:
    done = make("reset", answer="no\n")
    steps = make("-n", "reset").stdout
    if "Docker" in done.stderr:  # no engine here: check-docker stops first, which is also safe
        assert done.returncode != 0
    else:
        assert "Not confirmed; nothing deleted." in done.stdout
    assert "docker compose down -v" in steps and "rm -rf .pulumi-state" in steps
    assert steps.find("Type 'reset'") < steps.find("docker compose down -v")
