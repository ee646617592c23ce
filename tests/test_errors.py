"""Failures a pipeline meets: unreachable endpoints, bad credentials, denied access.

Each one raises one lakeops error that names the endpoint and the fix, quickly, and never
shows a secret.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from lakeops import (
    AccessDeniedError,
    Backend,
    CredentialsRejectedError,
    EndpointUnreachableError,
    Lake,
    LakeConfig,
    LakeOpsError,
    StorageLayer,
)
from tests.conftest import config_for, s3_client
from tests.support.buckets import create_versioned_bucket, unique_bucket_names
from tests.support.faults import blackholed
from tests.support.iam import create_iam_user
from tests.support.s3server import S3Endpoint, free_port, set_auth_enforcement

SECRET = "never-show-this-secret-0123456789"


def unreachable_lake(endpoint: str) -> Lake:
    return Lake(
        LakeConfig.resolve(
            endpoint_url=endpoint, access_key_id="k", secret_access_key=SECRET, env={}
        )
    )


def test_a_refused_connection_names_the_endpoint_and_how_to_start_it(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(EndpointUnreachableError) as caught:
        unreachable_lake(endpoint).list_objects(StorageLayer.BRONZE)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert endpoint in message
    assert "make up" in message and "docker compose ps minio" in message
    assert SECRET not in message


@pytest.mark.slow
def test_an_endpoint_that_never_answers_fails_within_about_ten_seconds() -> None:
    # A firewall that swallows packets: each attempt waits for the connect timeout.
    with blackholed() as url:
        started = time.monotonic()
        with pytest.raises(EndpointUnreachableError, match=url.removeprefix("http://")):
            unreachable_lake(url).list_objects(StorageLayer.BRONZE)
        elapsed = time.monotonic() - started
    assert 2 <= elapsed < 12


def test_rejected_credentials_are_reported_without_the_secret(
    iam_moto: S3Endpoint, tmp_path: Path
) -> None:
    names = unique_bucket_names()
    lake = Lake(
        config_for(iam_moto, names, access_key_id="AKIANOSUCHKEY0000", secret_access_key=SECRET)
    )
    set_auth_enforcement(iam_moto, enforced=True)
    try:
        with pytest.raises(AccessDeniedError) as caught:
            lake.list_objects(StorageLayer.GOLD)
    finally:
        set_auth_enforcement(iam_moto, enforced=False)
    message = str(caught.value)
    assert "rejected the credentials" in message
    assert iam_moto.url in message
    assert "AWS_ACCESS_KEY_ID" in message
    assert SECRET not in message


def test_denied_access_names_the_object_and_the_policy_scope(
    iam_moto: S3Endpoint, tmp_path: Path
) -> None:
    names = unique_bucket_names()
    create_versioned_bucket(s3_client(iam_moto), names[StorageLayer.GOLD])
    nobody = create_iam_user(iam_moto, f"nobody-{uuid.uuid4().hex[:6]}")
    lake = Lake(
        config_for(
            iam_moto,
            names,
            access_key_id=nobody.access_key_id,
            secret_access_key=nobody.secret_access_key,
        )
    )
    set_auth_enforcement(iam_moto, enforced=True)
    try:
        with pytest.raises(AccessDeniedError) as caught:
            lake.list_objects(StorageLayer.GOLD, "reports/")
    finally:
        set_auth_enforcement(iam_moto, enforced=False)
    message = str(caught.value)
    assert f"s3://{names[StorageLayer.GOLD]}/reports/" in message
    assert "access denied to list" in message
    assert "access matrix" in message
    assert nobody.secret_access_key not in message


def test_no_secret_reaches_any_log_record(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    lake = unreachable_lake(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(LakeOpsError):
        lake.list_objects(StorageLayer.BRONZE)
    source = tmp_path / "f.csv"
    source.write_bytes(b"x")
    with pytest.raises(LakeOpsError):
        lake.upload(source, StorageLayer.BRONZE, "files/f.csv")
    assert caplog.records, "botocore logs at DEBUG; the check must have something to read"
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert SECRET not in repr(lake)


@pytest.mark.parametrize("command", ["download", "promote", "stat", "list"])
def test_rejected_credentials_read_the_same_in_every_operation(
    iam_moto: S3Endpoint, tmp_path: Path, command: str
) -> None:
    # download, promote and stat start with a HEAD, whose 403 has no body to tell bad
    # credentials from a policy refusal; lakeops must still say which it is.
    names = unique_bucket_names()
    admin = s3_client(iam_moto)
    for name in names.values():
        create_versioned_bucket(admin, name)
    admin.put_object(Bucket=names[StorageLayer.SILVER], Key="cleaned/a.csv", Body=b"a\n")
    lake = Lake(
        config_for(iam_moto, names, access_key_id="AKIANOSUCHKEY0000", secret_access_key=SECRET)
    )
    actions: dict[str, Callable[[], object]] = {
        "download": lambda: lake.download(StorageLayer.SILVER, "cleaned/a.csv", tmp_path / "a"),
        "promote": lambda: lake.promote("cleaned/a.csv", "silver", "gold", "reports/a.csv"),
        "stat": lambda: lake.stat(StorageLayer.SILVER, "cleaned/a.csv"),
        "list": lambda: lake.list_objects(StorageLayer.SILVER),
    }
    set_auth_enforcement(iam_moto, enforced=True)
    try:
        with pytest.raises(CredentialsRejectedError) as caught:
            actions[command]()
    finally:
        set_auth_enforcement(iam_moto, enforced=False)
    assert "rejected the credentials (InvalidAccessKeyId)" in str(caught.value)
    assert caught.value.exit_code == 6
    assert SECRET not in str(caught.value)


def test_a_registered_secret_is_scrubbed_from_any_message() -> None:
    # An error that quotes something the server echoed, or an input that carried a secret.
    config = LakeConfig.resolve(access_key_id="AKIAX", secret_access_key="wJal/rXUtn+FEMI", env={})
    error = LakeOpsError(f"the server said: bad secret wJal/rXUtn+FEMI for {config.region}")
    assert "wJal/rXUtn+FEMI" not in str(error)
    assert "****" in str(error)


@pytest.mark.parametrize("backend", list(Backend))
def test_the_rejected_credentials_hint_shows_no_password_and_names_minio_only_there(
    backend: Backend,
) -> None:
    from lakeops.s3errors import Target, credentials_rejected

    target = Target("list", "http://localhost:9000", backend, StorageLayer.BRONZE, "raw")
    hint = credentials_rejected(target, "SignatureDoesNotMatch").hint or ""

    assert "minio123" not in hint and "minio /" not in hint
    assert ("MINIO_ROOT_USER / MINIO_ROOT_PASSWORD in .env" in hint) is (backend is Backend.MINIO)
    assert "AWS_ACCESS_KEY_ID" in hint
