"""The dev stack's prefix markers, written by the program's own code to a live S3 server.

With LAKEOPS_TEST_S3_ENDPOINT naming the compose MinIO (`make test-minio`), these run against
MinIO too: the server that refuses a multipart upload to a key ending in '/'.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import pytest

from lakeinfra import markers
from lakeinfra.markers import S3Login, put_missing_markers, write_markers
from lakeops.layout import LAYOUT, StorageLayer, marker_key
from tests.support.buckets import all_versions
from tests.support.s3server import REGION, S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SILVER_MARKERS = [marker_key(prefix) for prefix in LAYOUT[StorageLayer.SILVER].prefixes]


@contextmanager
def operations(client: S3Client) -> Iterator[list[str]]:
    """The S3 operations the client sends meanwhile, in order."""
    sent: list[str] = []

    def note(model: Any, **_: Any) -> None:
        sent.append(model.name)

    client.meta.events.register("before-call.s3", note)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-call.s3", note)


def test_markers_are_zero_byte_folder_objects_put_in_one_request(
    admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    bucket = buckets[StorageLayer.SILVER]
    with operations(admin) as sent:
        written = put_missing_markers(admin, bucket, SILVER_MARKERS)

    assert written == SILVER_MARKERS
    assert "cleaned/" in written
    # A single PutObject each: MinIO refuses a multipart upload to a key ending in '/'.
    assert [op for op in sent if op != "HeadObject"] == ["PutObject"] * len(SILVER_MARKERS)
    for key in SILVER_MARKERS:
        assert admin.head_object(Bucket=bucket, Key=key)["ContentLength"] == 0


def test_markers_that_exist_are_left_alone(
    admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    bucket = buckets[StorageLayer.SILVER]
    put_missing_markers(admin, bucket, SILVER_MARKERS)
    before = all_versions(admin, bucket)

    assert put_missing_markers(admin, bucket, SILVER_MARKERS) == []
    assert all_versions(admin, bucket) == before


def test_a_marker_hidden_by_a_delete_marker_is_written_again(
    admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    bucket = buckets[StorageLayer.SILVER]
    put_missing_markers(admin, bucket, SILVER_MARKERS)
    admin.delete_object(Bucket=bucket, Key="cleaned/")

    assert put_missing_markers(admin, bucket, SILVER_MARKERS) == ["cleaned/"]
    assert admin.head_object(Bucket=bucket, Key="cleaned/")["ContentLength"] == 0


def test_the_program_writes_with_the_login_it_is_given(
    s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    bucket = buckets[StorageLayer.GOLD]
    keys = [marker_key(prefix) for prefix in LAYOUT[StorageLayer.GOLD].prefixes]
    login = S3Login(s3.url, REGION, s3.access_key, s3.secret_key)

    assert write_markers(login, bucket, keys) == keys
    listed = admin.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted((o["Key"], o["Size"]) for o in listed) == sorted((k, 0) for k in keys)


class SlowServer:
    """A stand-in S3 client that takes a while per request and counts requests in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.puts: list[tuple[str, str]] = []

    def _request(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(0.01)
        with self.lock:
            self.in_flight -= 1

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._request()
        raise botocore.exceptions.ClientError({"Error": {"Code": "404"}}, "HeadObject")

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> dict[str, Any]:
        self._request()
        self.puts.append((Bucket, Key))
        return {}


def test_the_program_sends_one_marker_request_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """However the three layers' writes are scheduled, one request is in flight at a time."""
    server = SlowServer()
    monkeypatch.setattr(markers, "s3_client", lambda login: server)
    login = S3Login("http://localhost:9000", REGION, "minio", "minio123")
    layers = {
        layer: [marker_key(prefix) for prefix in spec.prefixes] for layer, spec in LAYOUT.items()
    }
    threads = [
        threading.Thread(target=write_markers, args=(login, layer.value, keys))
        for layer, keys in layers.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(server.puts) == sum(len(keys) for keys in layers.values())
    assert server.most_in_flight == 1
