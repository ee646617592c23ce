"""The committed Pulumi project and stack files agree with each other and with the docs."""

from __future__ import annotations

import base64
import hashlib

import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.support.pulumi_stack import REPO

DEV_PASSPHRASE = "lakeops-dev"


def stack_file(stack: str) -> dict[str, object]:
    document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    assert isinstance(document, dict)
    return document


def decrypt_salt_check(salt_state: str, passphrase: str) -> str:
    """Pulumi's passphrase check: v1:<salt>:v1:<nonce>:<AES-256-GCM("pulumi")>, with the key
    from PBKDF2-SHA256 (1,000,000 rounds), as pkg/secrets/passphrase does."""
    version, salt, inner_version, nonce, ciphertext = salt_state.split(":")
    assert (version, inner_version) == ("v1", "v1")
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), base64.b64decode(salt), 1_000_000, 32)
    plain = AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(ciphertext), None)
    return plain.decode()


def test_the_dev_salt_belongs_to_the_documented_dev_passphrase() -> None:
    salt = stack_file("dev")["encryptionsalt"]
    assert isinstance(salt, str)
    assert decrypt_salt_check(salt, DEV_PASSPHRASE) == "pulumi"


def test_the_documented_passphrase_is_the_one_the_tools_use() -> None:
    env_example = (REPO / ".env.example").read_text()
    assert f"PULUMI_CONFIG_PASSPHRASE={DEV_PASSPHRASE}\n" in env_example
    assert f"PULUMI_CONFIG_PASSPHRASE ?= {DEV_PASSPHRASE}" in (REPO / "Makefile").read_text()


def test_the_project_runs_infra_in_the_makefile_venv() -> None:
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["name"] == "lake"
    assert project["main"] == "infra/"
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }
    assert project["options"] == {"refresh": "always"}
    assert (REPO / "infra" / "__main__.py").is_file()
    assert "VENV := .venv" in (REPO / "Makefile").read_text()


def test_both_stacks_disable_default_providers() -> None:
    for stack in ("dev", "prod"):
        config = stack_file(stack)["config"]
        assert isinstance(config, dict)
        assert config["pulumi:disable-default-providers"] == ["*"]


def test_dev_credentials_match_the_compose_defaults() -> None:
    config = stack_file("dev")["config"]
    assert isinstance(config, dict)
    env_example = (REPO / ".env.example").read_text()
    assert f"MINIO_ROOT_USER={config['minio:minioUser']}\n" in env_example
    assert f"MINIO_ROOT_PASSWORD={config['minio:minioPassword']}\n" in env_example


def test_local_state_and_secrets_stay_out_of_git() -> None:
    ignored = (REPO / ".gitignore").read_text().split()
    for entry in (".pulumi-state/", ".lakeops/", ".env", ".venv/"):
        assert entry in ignored
