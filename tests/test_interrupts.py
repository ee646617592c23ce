"""Ctrl-C and SIGTERM in the middle of real transfers: the command stops promptly with exit
130 and one line, gives up what is under way, and leaves nothing half-written behind.

Each test runs the installed command in its own process, against the test server behind a
proxy that answers object transfers slowly, so that a signal finds them in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakeops.layout import StorageLayer
from tests.support import commands
from tests.support.faults import FaultProxy
from tests.support.s3server import S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
LARGE = 40 * MiB  # above the 16 MiB multipart threshold: several parts in flight at once


@pytest.fixture
def slow_proxy(s3: S3Endpoint) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3.url)
    yield proxy
    proxy.stop()


def command_env(
    s3: S3Endpoint, proxy: FaultProxy, buckets: dict[StorageLayer, str]
) -> dict[str, str]:
    return commands.command_env(s3, buckets, endpoint_url=proxy.url)


def interrupt_when(
    proxy: FaultProxy, argv: list[str], env: dict[str, str], sig: signal.Signals
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the command, send ``sig`` once the proxy has seen a request it answers slowly,
    and return how the command ended and how long it took to stop."""
    slow = proxy.faults.slow_when
    assert slow is not None
    process = commands.start_lakeops(argv, env)
    deadline = time.monotonic() + 60
    while not any(slow(method, path) for method, path in proxy.faults.seen):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the transfer never started"
        time.sleep(0.05)
    time.sleep(0.3)
    signalled = time.monotonic()
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    stopping = time.monotonic() - signalled
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr), stopping


def parts(method: str, path: str) -> bool:
    return "partNumber=" in path


def object_gets(method: str, path: str) -> bool:
    return method == "GET" and "big.bin" in path


def assert_stopped_cleanly(ended: subprocess.CompletedProcess[str], stopping: float) -> None:
    assert ended.returncode == 130, ended.stderr
    assert "interrupted" in ended.stderr
    assert "Traceback" not in ended.stderr
    # Parts in flight finish (each answered after the proxy's one-second pause); nothing more.
    assert stopping < 10


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_folder_upload_aborts_its_multipart_upload(
    s3: S3Endpoint,
    slow_proxy: FaultProxy,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    sig: signal.Signals,
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "big.bin").write_bytes(os.urandom(LARGE))
    for n in range(5):
        (folder / f"small-{n}.csv").write_text(f"id\n{n}\n")
    slow_proxy.faults.slow_when = parts
    argv = ["upload", "--recursive", str(folder), "silver", "cleaned/export/"]

    ended, stopping = interrupt_when(slow_proxy, argv, command_env(s3, slow_proxy, buckets), sig)

    assert_stopped_cleanly(ended, stopping)
    silver = buckets[StorageLayer.SILVER]
    listing = admin.list_objects_v2(Bucket=silver, Prefix="cleaned/export/")
    stored = {entry["Key"] for entry in listing.get("Contents", [])}
    assert "cleaned/export/big.bin" not in stored
    assert not any(key.endswith("_lakeops_manifest.json") for key in stored)
    assert admin.list_multipart_uploads(Bucket=silver).get("Uploads", []) == []


def test_an_interrupted_single_upload_aborts_its_multipart_upload(
    s3: S3Endpoint,
    slow_proxy: FaultProxy,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(LARGE))
    slow_proxy.faults.slow_when = parts
    argv = ["upload", str(source), "silver", "cleaned/big.bin"]

    ended, stopping = interrupt_when(
        slow_proxy, argv, command_env(s3, slow_proxy, buckets), signal.SIGINT
    )

    assert_stopped_cleanly(ended, stopping)
    silver = buckets[StorageLayer.SILVER]
    assert admin.list_objects_v2(Bucket=silver).get("KeyCount", 0) == 0
    assert admin.list_multipart_uploads(Bucket=silver).get("Uploads", []) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("recursive", [False, True], ids=["one-object", "dataset"])
def test_an_interrupted_download_leaves_no_file_behind(
    s3: S3Endpoint,
    slow_proxy: FaultProxy,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    recursive: bool,
    sig: signal.Signals,
) -> None:
    silver = buckets[StorageLayer.SILVER]
    admin.put_object(Bucket=silver, Key="cleaned/big/big.bin", Body=os.urandom(LARGE))
    slow_proxy.faults.slow_when = object_gets
    out = tmp_path / "out"
    out.mkdir()
    argv = (
        ["download", "--recursive", "silver", "cleaned/big/", str(out)]
        if recursive
        else ["download", "silver", "cleaned/big/big.bin", str(out / "big.bin")]
    )

    ended, stopping = interrupt_when(slow_proxy, argv, command_env(s3, slow_proxy, buckets), sig)

    assert_stopped_cleanly(ended, stopping)
    assert sorted(p.name for p in out.rglob("*")) == []
