"""A stack's declared S3 resources applied to the test server, and the command run against
them with the stack's exported outputs: what the CLI tests share (the ``dev_lake`` fixture in
tests/conftest.py builds on it)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeops.cli import main
from tests.support.apply_stack import apply_s3_resources
from tests.support.buckets import purge_bucket
from tests.support.pulumi_stack import run_stack
from tests.support.s3server import S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class DeployedLake:
    """A stack's declared S3 resources applied to the test server, and its exported outputs."""

    outputs_file: Path
    buckets: dict[str, str]
    endpoint: S3Endpoint
    admin: S3Client

    @property
    def address(self) -> list[str]:
        """The options that point a lakeops command at this lake."""
        return ["--endpoint-url", self.endpoint.url, "--outputs-file", str(self.outputs_file)]

    def run(self, *argv: str, err: io.StringIO | None = None) -> Result:
        out = io.StringIO()
        err = err if err is not None else io.StringIO()
        code = main([*self.address, *argv], out=out, err=err)
        return Result(code, out.getvalue(), err.getvalue())


def deploy(stack: str, s3: S3Endpoint, admin: S3Client, tmp_path: Path) -> Iterator[DeployedLake]:
    run = run_stack(stack, {"lake:bucketPrefix": f"lkt-{uuid.uuid4().hex[:10]}"})
    applied = apply_s3_resources(run, admin)
    outputs_file = tmp_path / f"outputs-{stack}.json"
    outputs_file.write_text(json.dumps({**run.outputs, "roleCredentials": "[secret]"}))
    yield DeployedLake(outputs_file, dict(run.outputs["buckets"]), s3, admin)
    for name in {r.inputs["bucket"] for r in applied if r.type.endswith("Bucket")}:
        purge_bucket(admin, name)
