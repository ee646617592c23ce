"""The dev preflight: it tells a lost volume and a lost state apart, and stays quiet otherwise."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest
from dev_preflight import diagnose, main, stack_resource_count

from tests.conftest import s3_client
from tests.support.buckets import create_versioned_bucket, purge_bucket
from tests.support.pulumi_stack import REPO
from tests.support.s3server import S3Endpoint


def test_resource_counts_come_from_pulumi_stack_ls() -> None:
    listing = json.dumps(
        [
            {"name": "prod", "current": False, "resourceCount": 51},
            {"name": "dev", "current": True, "resourceCount": 37},
        ]
    )
    assert stack_resource_count(listing, "dev") == 37
    assert stack_resource_count(json.dumps([{"name": "dev", "current": True}]), "dev") == 0
    assert stack_resource_count("[]", "dev") == 0


@pytest.mark.parametrize(
    ("count", "exists", "expected"),
    [
        (37, True, None),
        (0, False, None),
        (37, False, "data volume was reset"),
        (0, True, "state is empty"),
    ],
)
def test_diagnosis(count: int, exists: bool, expected: str | None) -> None:
    problem = diagnose(count, "raw", exists)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem and "make reset" in problem


@pytest.fixture
def project(tmp_path: Path, s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the dev stack file pointing at the test server, with a stand-in pulumi that
    reports a stack of 37 resources whose bronze bucket is `lkt-preflight-raw`."""
    folder = tmp_path / "project"
    folder.mkdir()
    config = (
        (REPO / "Pulumi.dev.yaml")
        .read_text()
        .replace("lake:endpoint: http://localhost:9000", f"lake:endpoint: {s3.url}")
    )
    (folder / "Pulumi.dev.yaml").write_text(config)
    answers = {
        "ls": [{"name": "dev", "current": True, "resourceCount": 37}],
        "output": {"buckets": {"bronze": "lkt-preflight-raw"}},
    }
    stand_in = tmp_path / "bin" / "pulumi"
    stand_in.parent.mkdir()
    stand_in.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, sys
            answers = json.loads({json.dumps(json.dumps(answers))})
            print(json.dumps(answers["ls" if "ls" in sys.argv else "output"]))
            """
        )
    )
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    return folder


def test_a_lost_volume_stops_the_preflight(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--project-dir", str(project)]) == 1
    assert "no bucket 'lkt-preflight-raw'" in capsys.readouterr().err


def test_state_and_data_that_agree_pass(project: Path, s3: S3Endpoint) -> None:
    admin = s3_client(s3)
    create_versioned_bucket(admin, "lkt-preflight-raw")
    try:
        assert main(["--project-dir", str(project)]) == 0
    finally:
        purge_bucket(admin, "lkt-preflight-raw")
