"""`make dev-lake`: the local lake without Docker stays up, serves the roles as the dev lake
does, says it is a test server, and leaves nothing behind when Ctrl-C stops it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.s3server import S3Endpoint
from tests.support.walkthrough import REPO, DevLake, run_block, walkthrough_blocks

pytestmark = pytest.mark.slow

OUTPUTS = Path(".lakeops/outputs-dev.json")


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEOPS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(checkout: Path, *args: str, background: bool = False) -> subprocess.Popen[str]:
    """``background``: as a shell script's `cmd &` starts it, with SIGINT ignored."""
    return subprocess.Popen(
        [sys.executable, "-m", "demo.dev_lake", "--project-dir", str(checkout), *args],
        cwd=REPO,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_ignore_sigint if background else None,  # noqa: PLW1509 - no threads here
    )


@dataclass
class Running:
    process: subprocess.Popen[str]
    banner: str


def _wait_until_up(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C" in line:
            return "".join(lines)
    process.kill()
    raise AssertionError("make dev-lake did not come up:\n" + "".join(lines))


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    folder = tmp_path / "checkout"
    folder.mkdir()
    shutil.copyfile(REPO / "Pulumi.yaml", folder / "Pulumi.yaml")
    return folder


@pytest.fixture
def running(checkout: Path) -> Iterator[Running]:
    process = _start(checkout)
    try:
        yield Running(process, _wait_until_up(process))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _lakeops(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lakeops"), *args],
        cwd=where,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback http URL
            return True
    except urllib.error.HTTPError:
        return True  # it answered, with an error
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def test_dev_lake_serves_the_roles_until_ctrl_c_then_removes_its_outputs(
    running: Running, checkout: Path
) -> None:
    assert "LOCAL TEST SERVER" in running.banner and "not MinIO" in running.banner
    exported = checkout / OUTPUTS
    outputs = json.loads(exported.read_text())
    assert exported.stat().st_mode & 0o077 == 0, "the roles' keys are readable by their owner only"
    endpoint = outputs["endpoint"]
    # Tables it catalogues go to a file of its own, not to make up's catalog-dev.db.
    assert outputs["catalog"]["kind"] == "sqlite"
    assert outputs["catalog"]["path"] == "catalog-dev-lake.db"
    assert endpoint.startswith("http://127.0.0.1:") and endpoint in running.banner

    # From a folder below the checkout, as a user would: lakeops finds the outputs by itself.
    work = checkout / "scratch"
    work.mkdir()
    (work / "orders.csv").write_text("order_id,amount\n1,2.50\n")
    uploaded = _lakeops(work, "--role", "ingest", "upload", "orders.csv", "bronze", "files/o/o.csv")
    assert uploaded.returncode == 0, uploaded.stderr
    assert uploaded.stdout.strip() == "s3://raw/files/o/o.csv"
    # The roles are the dev lake's: the analyst reads gold only.
    denied = _lakeops(work, "--role", "analyst", "ls", "bronze", "files/")
    assert denied.returncode == 6, denied.stdout + denied.stderr
    again = _lakeops(work, "--role", "ingest", "stat", "bronze", "files/o/o.csv")
    assert again.returncode == 0 and "files/o/o.csv" in again.stdout

    running.process.send_signal(signal.SIGINT)
    rest, _ = running.process.communicate(timeout=60)
    assert running.process.returncode == 0, rest
    assert "stopped" in rest
    assert not exported.exists(), "a later make up or lakeops must not find a dead endpoint"
    assert list((checkout / ".lakeops").iterdir()) == []
    assert not _answers(endpoint + "/"), "the test server is stopped too"


def test_dev_lake_stops_cleanly_on_sigterm(running: Running, checkout: Path) -> None:
    running.process.terminate()
    running.process.communicate(timeout=60)
    assert running.process.returncode == 0
    assert not (checkout / OUTPUTS).exists()


def test_dev_lake_stops_on_sigint_even_when_started_in_the_background(checkout: Path) -> None:
    process = _start(checkout, background=True)
    try:
        _wait_until_up(process)
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    assert not (checkout / OUTPUTS).exists()


def test_the_readme_walkthrough_runs_against_make_dev_lake(
    running: Running, checkout: Path
) -> None:
    """The Quickstart's promise: with `make dev-lake` up in one terminal, the walkthrough runs
    in another, line by line in one shell that has no AWS keys of its own."""
    shell = DevLake(
        S3Endpoint("unused", "", "", kind="none"),
        outputs=checkout / OUTPUTS,
        env=_environment(),
        checkout=checkout,
        cwd=checkout,
    )
    failed = [
        f"$ {step.command}\n(exit {step.code}, the page says {step.expected})\n{step.output}"
        for block in walkthrough_blocks()
        for step in run_block(block, shell)
        if not step.ok
    ]
    assert failed == [], "\n\n".join(failed[:3])
    assert (checkout / ".lakeops" / "catalog-dev-lake.db").is_file()
    running.process.send_signal(signal.SIGINT)
    running.process.communicate(timeout=60)
    assert sorted(p.name for p in (checkout / ".lakeops").iterdir()) == []


def test_dev_lake_never_replaces_the_outputs_make_up_exported(checkout: Path) -> None:
    exported = checkout / OUTPUTS
    exported.parent.mkdir()
    exported.write_text('{"backend": "minio"}')
    done = _start(checkout)
    out, _ = done.communicate(timeout=60)
    assert done.returncode == 3
    assert "outputs of the dev lake `make up` built" in out
    assert "DEV_LAKE_OUTPUTS=" in out
    assert exported.read_text() == '{"backend": "minio"}'


def test_dev_lake_with_a_file_of_its_own_says_which_variable_to_set(checkout: Path) -> None:
    (checkout / OUTPUTS).parent.mkdir()
    (checkout / OUTPUTS).write_text('{"backend": "minio"}')
    own = checkout / ".lakeops" / "outputs-local.json"
    process = _start(checkout, "--outputs-file", ".lakeops/outputs-local.json")
    try:
        banner = _wait_until_up(process)
        assert f"export LAKEOPS_OUTPUTS_FILE={own}" in banner
        assert own.is_file()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert not own.exists()
    assert (checkout / OUTPUTS).read_text() == '{"backend": "minio"}'


def test_a_killed_dev_lakes_files_are_replaced_by_the_next_one(checkout: Path) -> None:
    first = _start(checkout)
    _wait_until_up(first)
    orphan = json.loads((checkout / OUTPUTS).read_text())["endpoint"]
    first.kill()  # no clean-up: its files stay behind, its server runs on alone
    first.wait()
    assert (checkout / OUTPUTS).is_file()
    second = _start(checkout)
    try:
        banner = _wait_until_up(second)
        endpoint = json.loads((checkout / OUTPUTS).read_text())["endpoint"]
        assert endpoint in banner and _answers(endpoint + "/")
    finally:
        second.send_signal(signal.SIGINT)
        second.communicate(timeout=60)
    assert second.returncode == 0
    assert not _answers(orphan + "/"), "the killed one's server was stopped by the next one"


def test_make_dev_lake_is_a_target() -> None:
    done = subprocess.run(
        ["make", "-n", "dev-lake"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "-m demo.dev_lake" in done.stdout
