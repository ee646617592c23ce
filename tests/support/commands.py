"""Running the installed ``lakeops`` command in its own process, as a pipeline would, against
a test server (directly or through a fault proxy)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

import pytest

from lakeops.config import bucket_env_var
from lakeops.layout import StorageLayer
from tests.support.s3server import REGION, S3Endpoint


def use_server_login(s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-process command reads the server's login from the environment, as it would a
    user's, and none of the machine's AWS profile, endpoint or lakeops settings."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("LAKEOPS_OUTPUTS_FILE", "LAKEOPS_STACK", "LAKEOPS_BACKEND", "LAKEOPS_ROLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("AWS_REGION", REGION)


def command_env(
    s3: S3Endpoint,
    buckets: dict[StorageLayer, str],
    *,
    endpoint_url: str | None = None,
    transport: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of a command acting on the test buckets: the server's own login, at
    ``endpoint_url`` (a proxy in front of it) when given, on ``transport`` when given."""
    env = {
        **os.environ,
        **s3.client_env,
        "AWS_ENDPOINT_URL": endpoint_url or s3.url,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_REGION": REGION,
        "LAKEOPS_READ_TIMEOUT": "10",
    }
    for variable in ("AWS_ENDPOINT_URL_S3", "LAKEOPS_TRANSPORT", "LAKEOPS_ROLE", "AWS_PROFILE"):
        env.pop(variable, None)
    if transport is not None:
        env["LAKEOPS_TRANSPORT"] = transport
    env.update({bucket_env_var(layer): name for layer, name in buckets.items()})
    env.update(extra)
    return env


def start_lakeops(argv: Sequence[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lakeops", "--no-progress", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_lakeops(
    argv: Sequence[str], env: dict[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the command to its end; its exit status, stdout and stderr."""
    process = start_lakeops(argv, env)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"lakeops {' '.join(argv)} ran over {timeout} s: {err}") from None
    return subprocess.CompletedProcess(list(argv), process.returncode, out, err)
