"""Shared fixtures: the S3 server, throwaway buckets, and a Lake pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import botocore.config
import pytest

from lakeops import Lake, LakeConfig, StorageLayer
from tests.support.buckets import create_versioned_bucket, purge_bucket, unique_bucket_names
from tests.support.s3server import (
    EXTERNAL_ENDPOINT_VAR,
    REGION,
    S3Endpoint,
    external_endpoint,
    start_moto,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


EXTERNAL_SKIP_REASON = (
    f"external S3 endpoint mode skipped: set {EXTERNAL_ENDPOINT_VAR} (for example "
    "http://localhost:9000 after `make up`) to run the suite against it too"
)


def pytest_report_header() -> str:
    external = external_endpoint()
    if external is None:
        return f"S3 endpoints: moto on loopback; {EXTERNAL_SKIP_REASON}"
    return f"S3 endpoints: moto on loopback, and external {external.url}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without an external endpoint, drop that mode's tests once instead of skipping each."""
    if external_endpoint() is not None:
        return
    dropped = [item for item in items if _endpoint_param(item) == "external"]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if _endpoint_param(item) != "external"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if external_endpoint() is None:
        terminalreporter.write_line(EXTERNAL_SKIP_REASON)


def _endpoint_param(item: pytest.Item) -> object:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("s3") if callspec is not None else None


@pytest.fixture(scope="session", params=["moto", "external"])
def s3(request: pytest.FixtureRequest) -> Iterator[S3Endpoint]:
    """The S3 server under test: moto on loopback, and an external one when it is named."""
    if request.param == "moto":
        endpoint = start_moto()
        yield endpoint
        endpoint.stop()
        return
    external = external_endpoint()
    if external is None:
        pytest.skip(EXTERNAL_SKIP_REASON)
    yield external


@pytest.fixture(scope="session")
def iam_moto() -> Iterator[S3Endpoint]:
    """A moto server of its own whose IAM checks tests switch on (set_auth_enforcement)."""
    endpoint = start_moto()
    yield endpoint
    endpoint.stop()


def s3_client(
    endpoint: S3Endpoint, access_key: str | None = None, secret_key: str | None = None
) -> S3Client:
    """A plain boto3 client: the server's own credentials, or the given ones."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=access_key or endpoint.access_key,
        aws_secret_access_key=secret_key or endpoint.secret_key,
        region_name=REGION,
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="session")
def admin(s3: S3Endpoint) -> S3Client:
    """A plain boto3 client, for setting up and for checking what is really stored."""
    return s3_client(s3)


@pytest.fixture
def buckets(admin: S3Client) -> Iterator[dict[StorageLayer, str]]:
    """Three fresh versioned buckets, one per layer, removed afterwards."""
    names = unique_bucket_names()
    for name in names.values():
        create_versioned_bucket(admin, name)
    yield names
    for name in names.values():
        purge_bucket(admin, name)


def config_for(s3: S3Endpoint, buckets: dict[StorageLayer, str], **overrides: object) -> LakeConfig:
    """A configuration for the test server, independent of the developer's environment."""
    settings: dict[str, object] = {
        "endpoint_url": s3.url,
        "access_key_id": s3.access_key,
        "secret_access_key": s3.secret_key,
        "region": REGION,
        "buckets": buckets,
        "env": {},
    }
    settings.update(overrides)
    return LakeConfig.resolve(**settings)  # type: ignore[arg-type]


@pytest.fixture
def lake(s3: S3Endpoint, buckets: dict[StorageLayer, str]) -> Lake:
    return Lake(config_for(s3, buckets))
