"""Shared fixtures: the S3 server, throwaway buckets, and a Lake pointed at them."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import botocore.config
import pytest

from lakeops import Lake, LakeConfig, StorageLayer
from lakeops.layout import LAYOUT
from tests.support.buckets import create_versioned_bucket, purge_bucket, unique_bucket_names
from tests.support.capabilities import FEATURES, Capabilities, probe
from tests.support.cli_lake import DeployedLake, deploy
from tests.support.commands import use_server_login
from tests.support.iam import iam_enforcement_faults
from tests.support.s3server import (
    CHECKSUM_CALCULATION_VAR,
    EXTERNAL_ENDPOINT_VAR,
    REGION,
    S3Endpoint,
    external_endpoint,
    set_auth_enforcement,
    start_moto,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


EXTERNAL_SKIP_REASON = (
    f"external S3 endpoint mode skipped: set {EXTERNAL_ENDPOINT_VAR} (for example "
    "http://localhost:9000 after `make up`) to run the suite against it too"
)
ENDPOINT_CHOICES = ("all", "moto", "external")
_probed: dict[str, Capabilities] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--s3-endpoints",
        choices=ENDPOINT_CHOICES,
        default="all",
        help="run the tests of the s3 fixture against moto, the external endpoint, or both "
        f"(all, the default; the external one only when {EXTERNAL_ENDPOINT_VAR} is set). Tests "
        "with servers of their own (iam_moto) and tests without a server run either way.",
    )


def pytest_report_header(config: pytest.Config) -> str:
    external = external_endpoint()
    if external is None:
        return f"S3 endpoints: moto on loopback; {EXTERNAL_SKIP_REASON}"
    wanted = config.getoption("s3_endpoints")
    settings = "".join(f", {name}={value}" for name, value in external.client_env.items())
    shown = [
        *(["moto on loopback"] if wanted != "external" else []),
        *(
            [f"external {external.url} (kind {external.kind}{settings})"]
            if wanted != "moto"
            else []
        ),
    ]
    return f"S3 endpoints: {', and '.join(shown)}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the s3 parametrisations not wanted once, instead of skipping each test; mark the
    lakeops bugs known on the external server's kind as expected failures there."""
    external = external_endpoint()
    wanted = config.getoption("s3_endpoints")
    if wanted == "external" and external is None:
        raise pytest.UsageError(f"--s3-endpoints=external needs {EXTERNAL_ENDPOINT_VAR}")
    for item in items:
        for mark in item.iter_markers("requires"):
            unknown = set(mark.args) - set(FEATURES)
            if unknown or not mark.args:
                raise pytest.UsageError(f"{item.nodeid}: unknown capability {unknown or '(none)'}")
        if external is not None and _endpoint_param(item) == "external":
            for mark in item.iter_markers("lakeops_bug"):
                kind, reason = mark.args
                if kind == external.kind:
                    item.add_marker(
                        pytest.mark.xfail(reason=f"lakeops bug on {kind}: {reason}", strict=True)
                    )

    def unwanted(item: pytest.Item) -> bool:
        param = _endpoint_param(item)
        if param == "external" and external is None:
            return True
        return param is not None and wanted not in ("all", param)

    dropped = [item for item in items if unwanted(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not unwanted(item)]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if external_endpoint() is None:
        terminalreporter.write_line(EXTERNAL_SKIP_REASON)
    for url, found in _probed.items():
        terminalreporter.write_line(f"capabilities of {found.kind} at {url}:")
        for line in found.table():
            terminalreporter.write_line(line)


def _endpoint_param(item: pytest.Item) -> object:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("s3") if callspec is not None else None


@pytest.fixture(scope="session", params=["moto", "external"])
def s3(request: pytest.FixtureRequest) -> Iterator[S3Endpoint]:
    """The S3 server under test: moto on loopback, and an external one when it is named.

    Its capabilities are probed first: the session stops if they contradict what a known kind
    of server is declared to do."""
    if request.param == "moto":
        endpoint = start_moto()
        try:
            _probe(endpoint)
            yield endpoint
        finally:
            endpoint.stop()
        return
    external = external_endpoint()
    if external is None:
        pytest.skip(EXTERNAL_SKIP_REASON)
    _probe(external)
    yield external


def _probe(endpoint: S3Endpoint) -> None:
    found = _probed[endpoint.url] = probe(endpoint)
    wrong = found.disagreements()
    if wrong:
        pytest.exit(
            f"the capability probe of {endpoint.kind} at {endpoint.url} contradicts its "
            f"declaration in tests/support/capabilities.py: {'; '.join(wrong)}",
            returncode=3,
        )
    checksums = endpoint.client_env.get(CHECKSUM_CALCULATION_VAR)
    if found.found["checksum_trailers"] is False and checksums != "when_required":
        pytest.exit(
            f"{found.missing_reason('checksum_trailers')} over HTTPS: run with "
            f"{CHECKSUM_CALCULATION_VAR}=when_required, as the README says for such servers",
            returncode=3,
        )


@pytest.fixture(scope="session")
def capabilities(s3: S3Endpoint) -> Capabilities:
    """What the server under test does, as probed at the start of the session."""
    return _probed[s3.url]


@pytest.fixture(autouse=True)
def _required_capabilities(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.requires(feature, ...)``: skip unless the server under test has them."""
    features = [feature for mark in request.node.iter_markers("requires") for feature in mark.args]
    if features:
        request.getfixturevalue("capabilities").require(*features)


@pytest.fixture(autouse=True)
def _outside_the_project(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test runs in a folder of its own: inside the project, lakeops would find the
    developer's exported dev outputs (.lakeops/outputs-dev.json) by itself. The answers lakeops
    keeps on disk (lakeops.ops.probe_cache) go to the session's own cache folder, not the
    user's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@pytest.fixture(scope="session")
def iam_moto() -> Iterator[S3Endpoint]:
    """A moto server of its own whose IAM checks tests switch on (set_auth_enforcement).

    Calibrated first: on a moto that checks API operation names instead of IAM actions (5.2.6),
    every test of a least-privilege policy would mean nothing, so each of them errors here.
    """
    endpoint = start_moto()
    faults = iam_enforcement_faults(endpoint)
    if faults:
        endpoint.stop()
        pytest.fail(
            f"this moto ({importlib.metadata.version('moto')}) does not check IAM policies as "
            f"AWS does ({'; '.join(faults)}): the policy tests would mean nothing. Install the "
            "locked versions (make venv; requirements/lock.txt).",
            pytrace=False,
        )
    yield endpoint
    endpoint.stop()


@pytest.fixture
def lake_buckets(iam_moto: S3Endpoint) -> Iterator[dict[StorageLayer, str]]:
    """A lake's three versioned buckets on the IAM-enforcing server, each with a seed object
    under its layer's first prefix; IAM checks switched off again and the buckets purged after."""
    admin = s3_client(iam_moto)
    names = unique_bucket_names()
    for layer, name in names.items():
        create_versioned_bucket(admin, name)
        admin.put_object(Bucket=name, Key=f"{LAYOUT[layer].prefixes[0]}seed.csv", Body=b"id\n1\n")
    yield names
    set_auth_enforcement(iam_moto, enforced=False)
    for name in names.values():
        purge_bucket(admin, name)


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


@pytest.fixture
def dev_lake(
    s3: S3Endpoint, admin: S3Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DeployedLake]:
    """The dev stack's lake on the test server, for the command-line tests; the command reads
    the server's login from the environment, as it would a user's."""
    use_server_login(s3, monkeypatch)
    yield from deploy("dev", s3, admin, tmp_path)
