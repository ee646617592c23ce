"""The dev stack's prefix-marker commands (lakeinfra.markers), run as the command provider runs
them (`/bin/sh -c`, the environment and stdin the resource declares) against a loopback S3
server that checks the request's signature and the login's rights.

moto stands in for MinIO here: with its IAM checks on it verifies SigV4 signatures
(SignatureDoesNotMatch) and refuses actions the login's policy lacks, and it honours
If-None-Match on PutObject, as MinIO does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lakeinfra.markers import DELETE_MARKER, PUT_MARKER, curl_login
from tests.conftest import s3_client
from tests.support.buckets import all_versions, create_versioned_bucket, purge_bucket
from tests.support.iam import IamUser, create_iam_user
from tests.support.s3server import REGION, S3Endpoint, set_auth_enforcement


def _curl_signs_requests() -> bool:
    curl = shutil.which("curl")
    if curl is None:
        return False
    done = subprocess.run([curl, "--help", "all"], capture_output=True, text=True, check=False)
    return "--aws-sigv4" in done.stdout


pytestmark = pytest.mark.skipif(
    not _curl_signs_requests(), reason="curl 7.75 or newer (--aws-sigv4) is not installed"
)


@dataclass
class Site:
    endpoint: S3Endpoint
    bucket: str
    user: IamUser


@pytest.fixture
def site(iam_moto: S3Endpoint) -> Iterator[Site]:
    """A versioned bucket and a login that may write and delete its objects, nothing else;
    IAM checks on while the test runs."""
    admin = s3_client(iam_moto)
    bucket = f"markers-{uuid.uuid4().hex[:8]}"
    create_versioned_bucket(admin, bucket)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    user = create_iam_user(iam_moto, f"marker-writer-{uuid.uuid4().hex[:6]}", policy)
    set_auth_enforcement(iam_moto, enforced=True)
    try:
        yield Site(iam_moto, bucket, user)
    finally:
        set_auth_enforcement(iam_moto, enforced=False)
        purge_bucket(admin, bucket)


def run(
    script: str, site: Site, key: str, *, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """As the provider runs a Command: `/bin/sh -c`, its environment added, its stdin piped."""
    environment = {
        "LAKE_S3_ENDPOINT": site.endpoint.url,
        "LAKE_S3_REGION": REGION,
        "LAKE_BUCKET": site.bucket,
        "LAKE_MARKER_KEY": key,
    }
    login = curl_login(site.user.access_key_id, password or site.user.secret_access_key)
    return subprocess.run(
        ["/bin/sh", "-c", script],
        input=login,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def versions_of(site: Site, key: str) -> list[tuple[object, object]]:
    """Versions and delete markers of ``key``: (key, size), size None for a delete marker."""
    set_auth_enforcement(site.endpoint, enforced=False)
    try:
        return [
            (v["Key"], v.get("Size"))
            for v in all_versions(s3_client(site.endpoint), site.bucket, key)
            if v["Key"] == key
        ]
    finally:
        set_auth_enforcement(site.endpoint, enforced=True)


def test_a_marker_is_one_signed_zero_byte_put(site: Site) -> None:
    done = run(PUT_MARKER, site, "cleaned/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"created prefix marker s3://{site.bucket}/cleaned/"
    assert versions_of(site, "cleaned/") == [("cleaned/", 0)]


def test_running_it_again_changes_nothing(site: Site) -> None:
    """An update of the resource runs create again (pulumi-command: Update falls back to
    Create); If-None-Match makes that a no-op, and two runs cannot both write."""
    assert run(PUT_MARKER, site, "cleaned/").returncode == 0
    again = run(PUT_MARKER, site, "cleaned/")
    assert again.returncode == 0, again.stderr
    assert "is there" in again.stdout
    assert versions_of(site, "cleaned/") == [("cleaned/", 0)]


def test_a_marker_hidden_by_a_delete_marker_is_written_again(site: Site) -> None:
    assert run(PUT_MARKER, site, "cleaned/").returncode == 0
    removed = run(DELETE_MARKER, site, "cleaned/")
    assert removed.returncode == 0, removed.stderr
    assert run(PUT_MARKER, site, "cleaned/").stdout.startswith("created")


def test_a_refused_login_fails_the_command_without_showing_the_password(site: Site) -> None:
    wrong = "not-the-password-" + uuid.uuid4().hex
    done = run(PUT_MARKER, site, "cleaned/", password=wrong)
    assert done.returncode == 1
    assert f"prefix marker s3://{site.bucket}/cleaned/: HTTP 403" in done.stderr
    assert wrong not in done.stderr + done.stdout
    assert versions_of(site, "cleaned/") == []


def test_the_login_is_on_stdin_only() -> None:
    """Nothing in the commands names the login: it reaches curl as a config file on stdin."""
    for script in (PUT_MARKER, DELETE_MARKER):
        assert "--config -" in script
        assert "AWS_SECRET" not in script and "--user" not in script
    assert curl_login('a"b', "c\\d") == 'user = "a\\"b:c\\\\d"\n'
