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
    assert re.fullmatch(r"quay\.io/minio/minio@sha256:[0-9a-f]{64}", image)
    # The release it is, named beside it.
    assert "RELEASE.2025-09-07T16-13-09Z" in COMPOSE.read_text()
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
    # The checkout alone: the image holds the CLI, the plugins and the packages.
    assert init["volumes"] == [".:/project"]
    assert init["environment"]["PULUMI_BACKEND_URL"] == "file:///project/.pulumi-state"
    assert "PULUMI_BACKEND_URL=file://$(CURDIR)/.pulumi-state" in (REPO / "Makefile").read_text()
    dockerfile = REPO / init["build"]["dockerfile"]
    assert dockerfile.is_file()
    script = (REPO / "infra" / "provision.sh").read_text()
    steps = [
        "infra/shadow-project.sh",
        "stack select dev --create",
        'infra/dev_preflight.py --project-dir "$shadow" --for up',
        "up --stack dev --yes",
        "stack output --stack dev --json --show-secrets",
        "-m lakeops --role ingest sample",
        "-m lakeops verify",
    ]
    positions = [script.find(step) for step in steps]
    assert all(p >= 0 for p in positions), [
        s for s, p in zip(steps, positions, strict=True) if p < 0
    ]
    assert positions == sorted(positions)


def test_the_container_runs_pulumi_with_its_own_virtualenv(tmp_path: Path) -> None:
    """provision.sh and make up share infra/shadow-project.sh; check what it writes."""
    shadow = tmp_path / "shadow"
    subprocess.run(
        ["sh", str(REPO / "infra" / "shadow-project.sh"), "/opt/venv", str(shadow)], check=True
    )
    written = yaml.safe_load((shadow / "Pulumi.yaml").read_text())
    original = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert written["runtime"]["options"]["virtualenv"] == "/opt/venv"
    written["runtime"]["options"]["virtualenv"] = original["runtime"]["options"]["virtualenv"]
    assert written == original


def test_the_provisioner_image_pins_the_cli_and_plugin_the_sdk_expects() -> None:
    dockerfile = (REPO / "infra" / "provisioner.Dockerfile").read_text()
    assert f"ARG PULUMI_VERSION={version('pulumi')}" in dockerfile
    assert f"ARG PULUMI_MINIO_VERSION={version('pulumi_minio')}" in dockerfile
    assert f"ARG PULUMI_COMMAND_VERSION={version('pulumi_command')}" in dockerfile
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
        "pulumi --cwd .lakeops/dev-project stack select dev --create",
        "infra/dev_preflight.py --project-dir .lakeops/dev-project --for up",
        "pulumi --cwd .lakeops/dev-project up --stack dev --yes",
        "stack output --stack dev --json --show-secrets",
        "lakeops --role ingest sample",
        "lakeops verify",
    ]
    positions = [steps.find(step) for step in order]
    assert all(p >= 0 for p in positions), steps
    assert positions == sorted(positions)


def test_the_dev_stack_runs_in_a_virtualenv_without_the_aws_provider(tmp_path: Path) -> None:
    """Pulumi installs the plugin of every provider SDK in the program's virtualenv: the dev
    flow's holds lakeops[infra-minio] alone, from its own lock file."""
    steps = make("-n", "-B", "dev-stack").stdout
    assert "-r requirements/infra-minio.txt" in steps
    assert "-r requirements/lock.txt" not in steps
    locked = (REPO / "requirements" / "infra-minio.txt").read_text()
    pins = set(re.findall(r"^([a-z0-9_.-]+)==", locked, flags=re.M))
    assert {"pulumi", "pulumi-minio", "pulumi-command", "boto3"} <= pins
    assert not {name for name in pins if name.startswith("pulumi-aws")}
    # The same versions as the test environment's lock.
    full = dict(
        re.findall(
            r"^([a-z0-9_.-]+)==(\S+) ", (REPO / "requirements" / "lock.txt").read_text(), flags=re.M
        )
    )
    for name, pinned in re.findall(r"^([a-z0-9_.-]+)==(\S+) ", locked, flags=re.M):
        assert full.get(name) == pinned, name
    shadow = tmp_path / "shadow"
    subprocess.run(
        ["sh", str(REPO / "infra" / "shadow-project.sh"), "/abs/.venv-dev-stack", str(shadow)],
        check=True,
    )
    project = yaml.safe_load((shadow / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"]["virtualenv"] == "/abs/.venv-dev-stack"
    assert (shadow / "Pulumi.dev.yaml").resolve() == REPO / "Pulumi.dev.yaml"
    assert (shadow / "infra").resolve() == REPO / "infra"


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
    assert "make demo" in done.stderr and "make dev-lake" in done.stderr
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


def test_the_provisioner_image_verifies_the_cli_and_bakes_everything_in() -> None:
    """No unverified `curl | sh`, and nothing installed at provisioning time: re-provisioning
    needs no network."""
    dockerfile = (REPO / "infra" / "provisioner.Dockerfile").read_text()
    assert "| sh" not in dockerfile and "get.pulumi.com | " not in dockerfile
    assert "sha256sum -c" in dockerfile
    assert "checksums.txt" in dockerfile and "github.com/pulumi/pulumi/releases" in dockerfile
    assert "--require-hashes" in dockerfile and "requirements/infra-minio.txt" in dockerfile
    script = (REPO / "infra" / "provision.sh").read_text()
    assert "pip install" not in script and "python -m venv" not in script


def test_every_image_is_pinned_by_digest() -> None:
    for dockerfile in (REPO / "infra").glob("*.Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("FROM "):
                assert re.search(r"@sha256:[0-9a-f]{64}", line), f"{dockerfile.name}: {line}"
    assert "@sha256:" in compose()["services"]["minio"]["image"]


def test_the_cve_fixed_minio_is_an_opt_in_build_pinned_by_commit() -> None:
    override = yaml.safe_load((REPO / "docker-compose.minio-source.yml").read_text())
    assert "build" not in compose()["services"]["minio"], "the default stays the published image"
    minio = override["services"]["minio"]
    assert minio["build"]["dockerfile"] == "infra/minio-source.Dockerfile"
    assert minio["pull_policy"] == "build"
    assert minio["image"].endswith(":RELEASE.2025-10-15T17-29-55Z")
    assert "curl" in minio["healthcheck"]["test"], "the source build has no mc"
    source = (REPO / "infra" / "minio-source.Dockerfile").read_text()
    assert "ARG MINIO_RELEASE=RELEASE.2025-10-15T17-29-55Z" in source
    assert "ARG MINIO_COMMIT=9e49d5e7a648f00e26f2246f4dc28e6b07f8c84a" in source
    assert 'test "$(git -C /src rev-parse HEAD)" = "${MINIO_COMMIT}"' in source
    readme = (REPO / "README.md").read_text()
    assert "CVE-2025-62506" in readme and "docker-compose.minio-source.yml" in readme


def test_documented_ways_to_rerun_provisioning_work_with_a_recreated_minio() -> None:
    """`restart` keeps a minio-init container bound to the old minio's network namespace."""
    for path in [COMPOSE, REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        assert "restart minio-init" not in path.read_text(), path.name
    assert "docker compose up minio-init" in COMPOSE.read_text()


def test_shell_scripts_and_the_makefile_keep_lf_line_endings() -> None:
    files = [
        "Makefile",
        "infra/provision.sh",
        "infra/shadow-project.sh",
        "infra/provisioner.Dockerfile",
        "docker-compose.yml",
    ]
    done = subprocess.run(
        ["git", "check-attr", "eol", "--", *files],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == [f"{name}: eol: lf" for name in files]
