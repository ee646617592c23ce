"""Opt-in: the real `pulumi preview / up / destroy` of the dev stack against a live MinIO.

Needs the Pulumi CLI, a MinIO (for example `docker compose up -d minio`) named by
LAKEOPS_TEST_S3_ENDPOINT, and LAKEOPS_TEST_PULUMI=1. It works on a copy of the project with
its own file:// backend and a unique bucket prefix, so it never touches the dev lake's state.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lakeops import Lake, LakeConfig, StorageLayer
from lakeops.cli import main
from tests.support.pulumi_stack import REPO
from tests.support.s3server import external_endpoint

OPT_IN = "LAKEOPS_TEST_PULUMI"


def _skip_reason() -> str | None:
    if shutil.which("pulumi") is None:
        return "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/)"
    endpoint = external_endpoint()
    if endpoint is None:
        return "no MinIO named: set LAKEOPS_TEST_S3_ENDPOINT (make up starts one)"
    if endpoint.kind not in ("external", "minio"):  # the MinIO provider needs MinIO's admin API
        return f"the dev stack's MinIO provider needs a MinIO, not {endpoint.kind}"
    if os.environ.get(OPT_IN) != "1":
        return f"opt-in: set {OPT_IN}=1 to run pulumi up/destroy against that MinIO"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(REPO / name, copy / name)
    shutil.copytree(REPO / "infra", copy / "infra")
    (copy / ".venv").symlink_to(REPO / ".venv")
    return copy


def pulumi(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{project / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "lakeops-dev",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    (project / "state").mkdir(exist_ok=True)
    done = subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def test_preview_up_verify_and_destroy(project: Path) -> None:
    endpoint = external_endpoint()
    assert endpoint is not None
    prefix = f"it-{uuid.uuid4().hex[:8]}"
    pulumi(project, "stack", "init", "dev")
    for key, value in {
        "lake:bucketPrefix": prefix,
        "lake:endpoint": endpoint.url,
        "minio:minioServer": urlsplit(endpoint.url).netloc,
        "minio:minioUser": endpoint.access_key,
    }.items():
        pulumi(project, "config", "set", "--stack", "dev", key, value)
    pulumi(
        project,
        "config",
        "set",
        "--stack",
        "dev",
        "--secret",
        "minio:minioPassword",
        endpoint.secret_key,
    )

    pulumi(project, "preview", "--stack", "dev")
    try:
        pulumi(project, "up", "--stack", "dev", "--yes")
        outputs_file = project / "outputs.json"
        outputs_file.write_text(
            pulumi(project, "stack", "output", "--stack", "dev", "--json").stdout
        )
        outputs = json.loads(outputs_file.read_text())
        assert outputs["buckets"]["bronze"] == f"{prefix}-raw"

        out = io.StringIO()
        os.environ.setdefault("AWS_ACCESS_KEY_ID", endpoint.access_key)
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", endpoint.secret_key)
        assert main(["--outputs-file", str(outputs_file), "--json", "verify"], out=out) == 0, (
            out.getvalue()
        )

        # The ingest role's generated credentials work, and cannot delete in bronze.
        secrets = json.loads(
            pulumi(project, "stack", "output", "--stack", "dev", "--json", "--show-secrets").stdout
        )
        ingest = secrets["roleCredentials"]["ingest"]
        lake = Lake(
            LakeConfig.resolve(
                outputs_file=outputs_file,
                access_key_id=ingest["accessKeyId"],
                secret_access_key=ingest["secretAccessKey"],
                env={},
            )
        )
        sample = project / "sample.csv"
        sample.write_text("id\n1\n")
        lake.upload(sample, StorageLayer.BRONZE, "files/it.csv")
        with pytest.raises(Exception, match="AccessDenied"):
            lake.client.delete_object(Bucket=f"{prefix}-raw", Key="files/it.csv")

        # A second run changes nothing.
        pulumi(project, "preview", "--stack", "dev", "--expect-no-changes")
    finally:
        pulumi(project, "destroy", "--stack", "dev", "--yes")
