"""S3 endpoints for the tests: a moto server on loopback, or an external one (MinIO, Ceph RGW)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

EXTERNAL_ENDPOINT_VAR = "LAKEOPS_TEST_S3_ENDPOINT"
EXTERNAL_ACCESS_KEY_VAR = "LAKEOPS_TEST_S3_ACCESS_KEY"
EXTERNAL_SECRET_KEY_VAR = "LAKEOPS_TEST_S3_SECRET_KEY"
# What the external server is: a kind tests/support/capabilities.py knows ("moto", "rgw"), whose
# capabilities are then checked against the probe; unset or unknown, the probe alone decides.
EXTERNAL_KIND_VAR = "LAKEOPS_TEST_S3_KIND"
# boto3's own variables, as a user of a private-CA or checksum-shy server sets them; tests that
# start a client in a subprocess pass them on.
CA_BUNDLE_VAR = "AWS_CA_BUNDLE"
CHECKSUM_CALCULATION_VAR = "AWS_REQUEST_CHECKSUM_CALCULATION"
CLIENT_ENV_VARS = (
    CA_BUNDLE_VAR,
    CHECKSUM_CALCULATION_VAR,
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
)
REGION = "us-east-1"
MOTO_CREDENTIALS = ("testing-key", "testing-secret")


@dataclass
class S3Endpoint:
    url: str
    access_key: str
    secret_key: str
    kind: str  # "moto", "rgw", or what LAKEOPS_TEST_S3_KIND says ("external" when unset)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # The client settings of this run (CA bundle, checksum mode) for clients in subprocesses.
    client_env: dict[str, str] = field(default_factory=dict)

    @property
    def is_moto(self) -> bool:
        return self.kind == "moto"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(
    extra_env: Mapping[str, str] | None = None, *, own_session: bool = False
) -> S3Endpoint:
    """Start moto's server in its own process on a free loopback port, and wait until it serves.
    ``own_session``: out of the caller's process group, so a terminal's Ctrl-C reaches the
    caller alone (which then stops the server)."""
    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    # moto must not pick up the developer's real AWS settings.
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=own_session,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310 - http URL
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("moto server did not start within 30 s")
    return S3Endpoint(url, *MOTO_CREDENTIALS, kind="moto", process=process)


def external_endpoint() -> S3Endpoint | None:
    url = os.environ.get(EXTERNAL_ENDPOINT_VAR, "").strip()
    if not url:
        return None
    return S3Endpoint(
        url.rstrip("/"),
        os.environ.get(EXTERNAL_ACCESS_KEY_VAR, "minio"),
        os.environ.get(EXTERNAL_SECRET_KEY_VAR, "minio123"),
        kind=os.environ.get(EXTERNAL_KIND_VAR, "").strip().lower() or "external",
        client_env={name: os.environ[name] for name in CLIENT_ENV_VARS if os.environ.get(name)},
    )


def set_auth_enforcement(endpoint: S3Endpoint, *, enforced: bool) -> None:
    """Switch moto's IAM checks on or off. While on, every request is authenticated and
    checked against the caller's IAM policies (and bucket policies)."""
    free_requests = b"0" if enforced else b"1000000000"
    request = urllib.request.Request(  # noqa: S310 - loopback http URL
        f"{endpoint.url}/moto-api/reset-auth",
        data=free_requests,
        method="POST",
        headers={"Content-Type": "text/plain"},  # a form body would hide it from moto
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback http URL
        pass
