"""The seed document's four snippets run unchanged, apart from the import line.

Each runs in a fresh interpreter that knows the lake only from the environment, as a
pipeline would: the module functions build their default Lake from AWS_* and LAKEOPS_*.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakeops import StorageLayer
from tests.support.s3server import REGION, S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BRONZE, SILVER = StorageLayer.BRONZE, StorageLayer.SILVER

# Verbatim from ../shared/seed/minio-storage-architecture.md, but for
# "from utils.storage import" -> "from lakeops import".
UPLOAD = """
from lakeops import StorageLayer, upload_to_layer

uri = upload_to_layer(
    file_path="/tmp/users.csv",
    layer=StorageLayer.BRONZE,
    object_key="postgres/users/2024-01-15/users.csv",
    metadata={"source": "postgres", "table": "users"},
)
print(uri)  # s3://raw/postgres/users/2024-01-15/users.csv
"""
DOWNLOAD = """
from lakeops import StorageLayer, download_from_layer

local_path = download_from_layer(
    layer=StorageLayer.SILVER,
    object_key="cleaned/users/users_clean.parquet",
    file_path="/tmp/users_clean.parquet",
)
"""
LIST = """
from lakeops import StorageLayer, list_layer_objects

objects = list_layer_objects(StorageLayer.BRONZE, prefix="postgres/")
for obj in objects:
    print(f"{obj['Key']} ({obj['Size']} bytes)")
"""
PROMOTE = """
from lakeops import StorageLayer, promote_data

# After cleaning, promote from bronze to silver
uri = promote_data(
    object_key="postgres/users/users.csv",
    source_layer=StorageLayer.BRONZE,
    target_layer=StorageLayer.SILVER,
    target_key="cleaned/users/users_clean.csv",
)
"""

# The snippets name these fixed paths; the test keeps whatever was there before.
FIXED_PATHS = (Path("/tmp/users.csv"), Path("/tmp/users_clean.parquet"))
USERS_CSV = b"id,email\n1,ada@example.com\n2,grace@example.com\n"


@pytest.fixture
def fixed_paths() -> Iterator[None]:
    saved = {path: path.read_bytes() for path in FIXED_PATHS if path.exists()}
    yield
    for path in FIXED_PATHS:
        if path in saved:
            path.write_bytes(saved[path])
        else:
            path.unlink(missing_ok=True)


def run_snippet(code: str, s3: S3Endpoint, buckets: dict[StorageLayer, str]) -> str:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LAKEOPS_"))
    }
    env.update(
        {
            "AWS_ENDPOINT_URL": s3.url,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_REGION": REGION,
            **s3.client_env,  # the run's CA bundle and checksum setting, for HTTPS servers
            **{f"LAKEOPS_BUCKET_{layer.name}": name for layer, name in buckets.items()},
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_upload_snippet(
    s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str], fixed_paths: None
) -> None:
    Path("/tmp/users.csv").write_bytes(USERS_CSV)

    printed = run_snippet(UPLOAD, s3, buckets)

    assert printed == f"s3://{buckets[BRONZE]}/postgres/users/2024-01-15/users.csv\n"
    stored = admin.get_object(Bucket=buckets[BRONZE], Key="postgres/users/2024-01-15/users.csv")
    assert stored["Body"].read() == USERS_CSV
    assert stored["Metadata"]["source"] == "postgres"
    assert stored["Metadata"]["table"] == "users"


def test_download_snippet(
    s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str], fixed_paths: None
) -> None:
    admin.put_object(Bucket=buckets[SILVER], Key="cleaned/users/users_clean.parquet", Body=b"PAR1")
    Path("/tmp/users_clean.parquet").unlink(missing_ok=True)

    run_snippet(DOWNLOAD, s3, buckets)

    assert Path("/tmp/users_clean.parquet").read_bytes() == b"PAR1"


def test_list_snippet(s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str]) -> None:
    admin.put_object(Bucket=buckets[BRONZE], Key="postgres/users/a.csv", Body=b"123")
    admin.put_object(Bucket=buckets[BRONZE], Key="postgres/orders/b.csv", Body=b"12345")
    admin.put_object(Bucket=buckets[BRONZE], Key="files/c.csv", Body=b"1")

    printed = run_snippet(LIST, s3, buckets)

    assert printed.splitlines() == [
        "postgres/orders/b.csv (5 bytes)",
        "postgres/users/a.csv (3 bytes)",
    ]


def test_promote_snippet(s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str]) -> None:
    admin.put_object(Bucket=buckets[BRONZE], Key="postgres/users/users.csv", Body=USERS_CSV)

    run_snippet(PROMOTE, s3, buckets)

    promoted = admin.get_object(Bucket=buckets[SILVER], Key="cleaned/users/users_clean.csv")
    assert promoted["Body"].read() == USERS_CSV
    assert promoted["Metadata"]["lakeops-source-uri"] == (
        f"s3://{buckets[BRONZE]}/postgres/users/users.csv"
    )
