"""Before `pulumi up` of the dev stack: do Pulumi's state and MinIO's data still agree?

The dev lake keeps its Pulumi state in ./.pulumi-state and its data in a Docker volume, and
either can be lost alone (`docker compose down -v`, a fresh clone, `git clean`). Pulumi does
not recover from that by itself: MinIO provider 1.20.1 fails to refresh objects of a bucket
that is gone, and fails to create a bucket that already exists. This check says which of the
two happened and how to start over, instead of letting `pulumi up` fail obscurely.

    python infra/dev_preflight.py --project-dir . [--stack dev]

Run it with the environment `pulumi` needs (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE) and
MinIO credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Exit status 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.exceptions
import yaml

from lakeinfra.args import minio_endpoint, prefixed
from lakeops import LakeConfig, LakeOpsError, StorageLayer
from lakeops.client import make_s3_client
from lakeops.layout import LAYOUT
from lakeops.s3errors import NOT_FOUND_CODES, error_code

RESET_HINT = (
    "Start over with `make reset` (it deletes the dev lake's data and state), then `make up`."
)


def stack_resource_count(stack_ls_json: str, stack: str) -> int:
    """Resources in ``stack``, from `pulumi stack ls --json` (0 if it has none or is absent)."""
    for summary in json.loads(stack_ls_json or "[]"):
        if summary.get("name") == stack:
            return int(summary.get("resourceCount") or 0)
    return 0


def diagnose(resource_count: int, bucket: str, bucket_exists: bool) -> str | None:
    """What is wrong, if state and data disagree; None when they agree."""
    if resource_count and not bucket_exists:
        return (
            f"the dev stack's state holds {resource_count} resources, but MinIO has no bucket "
            f"{bucket!r}: its data volume was reset or removed. {RESET_HINT}"
        )
    if not resource_count and bucket_exists:
        return (
            f"MinIO already has bucket {bucket!r}, but the dev stack's state is empty: the "
            "state was deleted, or another checkout provisioned this MinIO. " + RESET_HINT
        )
    return None


def _pulumi(project: Path, *args: str) -> str:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise RuntimeError("the pulumi CLI is not on PATH")
    done = subprocess.run(
        [pulumi, "--cwd", str(project), *args, "--non-interactive"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pulumi {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _config(project: Path, stack: str) -> dict[str, Any]:
    document = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text())
    config = document.get("config", {}) if isinstance(document, dict) else {}
    return config if isinstance(config, dict) else {}


def _bucket_exists(endpoint: str, bucket: str) -> bool:
    client = make_s3_client(LakeConfig.resolve(endpoint_url=endpoint))
    try:
        client.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return False
        raise
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    config = _config(args.project_dir, args.stack)
    count = stack_resource_count(_pulumi(args.project_dir, "stack", "ls", "--json"), args.stack)
    if count:
        outputs = json.loads(
            _pulumi(args.project_dir, "stack", "output", "--stack", args.stack, "--json")
        )
        bucket = outputs["buckets"]["bronze"]
    else:
        bucket = prefixed(
            config.get("lake:bucketPrefix") or None, LAYOUT[StorageLayer.BRONZE].default_bucket
        )
    endpoint = minio_endpoint(
        str(config["minio:minioServer"]),
        str(config.get("minio:minioSsl", False)).lower() == "true",
        config.get("lake:endpoint") or None,
    )
    try:
        exists = _bucket_exists(str(endpoint), bucket)
    except (
        LakeOpsError,
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
    ) as exc:
        print(f"dev preflight: cannot check MinIO ({exc}); going on.", file=sys.stderr)
        return 0
    problem = diagnose(count, bucket, exists)
    if problem:
        print(f"dev preflight: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
