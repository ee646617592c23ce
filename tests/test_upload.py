"""Uploads over HTTP: metadata, checksums, multipart, and bronze's append-only rule."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lakeops import (
    BucketNotFoundError,
    ImmutableObjectError,
    InvalidKeyError,
    InvalidMetadataError,
    Lake,
    LocalFileError,
    StorageLayer,
    TransferSettings,
    UnknownLayerError,
)
from lakeops.metadata import META_SHA256
from lakeops.ops.upload import IN_MEMORY_BYTES
from lakeops.transfers import MiB
from tests.conftest import config_for
from tests.support.buckets import all_versions
from tests.support.s3server import S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BRONZE, SILVER = StorageLayer.BRONZE, StorageLayer.SILVER


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_upload_returns_uri_and_stores_bytes_metadata_and_checksum(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    data = b"id,name\n1,Ada\n"
    source = write(tmp_path / "users.csv", data)

    uri = lake.upload(source, BRONZE, "postgres/users/2024-01-15/users.csv", {"source": "postgres"})

    assert uri == f"s3://{buckets[BRONZE]}/postgres/users/2024-01-15/users.csv"
    stored = admin.get_object(
        Bucket=buckets[BRONZE], Key="postgres/users/2024-01-15/users.csv", ChecksumMode="ENABLED"
    )
    assert stored["Body"].read() == data
    assert stored["Metadata"]["source"] == "postgres"
    assert stored["Metadata"][META_SHA256] == hashlib.sha256(data).hexdigest()
    assert stored["ContentType"] == "text/csv"


@pytest.mark.requires("flexible_checksums", "checksum_trailers")
def test_uploads_carry_an_s3_integrity_checksum_by_default(
    s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    # boto3's default, whatever this run's environment chose for its server.
    lake = Lake(config_for(s3, buckets, request_checksum_calculation="when_supported"))
    data = b"id,name\n1,Ada\n"
    crc32 = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()

    lake.upload(write(tmp_path / "users.csv", data), BRONZE, "postgres/users.csv")

    head = admin.head_object(
        Bucket=buckets[BRONZE], Key="postgres/users.csv", ChecksumMode="ENABLED"
    )
    assert head.get("ChecksumCRC32") == crc32


def test_uploads_send_no_checksum_when_told_only_when_required(
    s3: S3Endpoint,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The opt-out for servers that refuse boto3's checksum trailers over HTTPS (Ceph RGW 16.2).
    # lakeops' own setting must do it, not boto3's variable, which a run may set for its server.
    monkeypatch.delenv("AWS_REQUEST_CHECKSUM_CALCULATION", raising=False)
    lake = Lake(config_for(s3, buckets, request_checksum_calculation="when_required"))
    source = write(tmp_path / "users.csv", b"id\n1\n")

    lake.upload(source, SILVER, "cleaned/users.csv")

    head = admin.head_object(
        Bucket=buckets[SILVER], Key="cleaned/users.csv", ChecksumMode="ENABLED"
    )
    assert not head.get("ChecksumCRC32")
    assert head["Metadata"][META_SHA256] == hashlib.sha256(b"id\n1\n").hexdigest()


def test_large_upload_is_multipart_with_bounded_parts_and_reports_progress(
    s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    settings = TransferSettings(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    lake = Lake(config_for(s3, buckets), transfer=settings)
    data = os.urandom(12 * MiB + 3)
    source = write(tmp_path / "big.bin", data)
    seen: list[int] = []
    hashed: list[int] = []

    result = lake.put_file(
        source, SILVER, "cleaned/big.bin", progress=seen.append, hash_progress=hashed.append
    )

    # The multipart ETag's "-<parts>" suffix: PartsCount is missing on some servers (Ceph RGW).
    head = admin.head_object(Bucket=buckets[SILVER], Key="cleaned/big.bin")
    assert head["ETag"].strip('"').endswith("-3")
    assert sum(seen) == len(data)
    assert sum(hashed) == len(data)
    assert result.size == len(data)
    assert result.created
    body = admin.get_object(Bucket=buckets[SILVER], Key="cleaned/big.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()


def test_bronze_reupload_of_identical_content_is_idempotent(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = write(tmp_path / "a.csv", b"same bytes\n")
    first = lake.put_file(source, BRONZE, "files/a.csv")
    second = lake.put_file(source, BRONZE, "files/a.csv")

    assert first.created and not second.created
    assert second.uri == first.uri
    assert second.version_id == first.version_id
    assert len(all_versions(admin, buckets[BRONZE], "files/a.csv")) == 1


def test_bronze_refuses_different_content_and_keeps_the_stored_object(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    lake.upload(write(tmp_path / "v1.csv", b"version one\n"), BRONZE, "api/orders.json")

    with pytest.raises(ImmutableObjectError) as caught:
        lake.upload(write(tmp_path / "v2.csv", b"version two\n"), BRONZE, "api/orders.json")

    assert f"s3://{buckets[BRONZE]}/api/orders.json" in str(caught.value)
    assert "new key" in str(caught.value)
    versions = all_versions(admin, buckets[BRONZE], "api/orders.json")
    assert len(versions) == 1
    body = admin.get_object(Bucket=buckets[BRONZE], Key="api/orders.json")["Body"].read()
    assert body == b"version one\n"


def test_bronze_refuses_different_multipart_content_and_leaves_no_upload_behind(
    s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    settings = TransferSettings(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    lake = Lake(config_for(s3, buckets), transfer=settings)
    lake.upload(write(tmp_path / "one.bin", b"1" * (11 * MiB)), BRONZE, "streaming/big.bin")

    with pytest.raises(ImmutableObjectError):
        lake.upload(write(tmp_path / "two.bin", b"2" * (11 * MiB)), BRONZE, "streaming/big.bin")

    assert admin.list_multipart_uploads(Bucket=buckets[BRONZE]).get("Uploads", []) == []
    assert len(all_versions(admin, buckets[BRONZE], "streaming/big.bin")) == 1
    head = admin.get_object(Bucket=buckets[BRONZE], Key="streaming/big.bin", Range="bytes=0-0")
    assert head["Body"].read() == b"1"


def test_bronze_compares_bytes_when_the_stored_object_has_no_checksum_metadata(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    admin.put_object(Bucket=buckets[BRONZE], Key="files/by-other-tool.csv", Body=b"abc\n")

    same = lake.put_file(write(tmp_path / "same.csv", b"abc\n"), BRONZE, "files/by-other-tool.csv")
    assert not same.created
    with pytest.raises(ImmutableObjectError):
        lake.upload(write(tmp_path / "diff.csv", b"abd\n"), BRONZE, "files/by-other-tool.csv")


def test_silver_and_gold_may_be_overwritten_and_keep_history(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    lake.upload(write(tmp_path / "v1", b"one"), SILVER, "validated/t.csv")
    lake.upload(write(tmp_path / "v2", b"two"), SILVER, "validated/t.csv")

    body = admin.get_object(Bucket=buckets[SILVER], Key="validated/t.csv")["Body"].read()
    assert body == b"two"
    assert len(all_versions(admin, buckets[SILVER], "validated/t.csv")) == 2


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "empty"),
        ("/postgres/a.csv", "starts with '/'"),
        ("postgres/../etc/passwd", "'..'"),
        ("postgres/./a.csv", "'.'"),
        ("postgres//a.csv", "'//'"),
        ("postgres/", "prefix"),
        ("postgres/a\nb.csv", "control"),
        ("k/" + "x" * 1100, "1024"),
    ],
)
def test_invalid_keys_fail_before_any_request(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    key: str,
    fragment: str,
) -> None:
    with pytest.raises(InvalidKeyError, match="key") as caught:
        lake.upload(write(tmp_path / "f", b"x"), BRONZE, key)
    assert fragment in str(caught.value)
    assert all_versions(admin, buckets[BRONZE]) == []


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({"note": "café"}, "non-ASCII"),
        ({"bad name": "x"}, "not allowed"),
        ({"lakeops-sha256": "forged"}, "reserved"),
        ({"big": "x" * 2100}, "2048"),
        ({"Source": "a", "source": "b"}, "twice"),
        ({"n": 1}, "str to str"),
    ],
)
def test_invalid_metadata_fails_before_any_request(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    metadata: dict[str, str],
    fragment: str,
) -> None:
    with pytest.raises(InvalidMetadataError) as caught:
        lake.upload(write(tmp_path / "f", b"x"), BRONZE, "files/f.csv", metadata)
    assert fragment in str(caught.value)
    assert all_versions(admin, buckets[BRONZE]) == []


def test_missing_and_unreadable_local_files_are_named(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(LocalFileError, match=r"nope\.csv.*does not exist"):
        lake.upload(missing, BRONZE, "files/nope.csv")
    with pytest.raises(LocalFileError, match="not a regular file"):
        lake.upload(tmp_path, BRONZE, "files/dir.csv")
    if os.geteuid() != 0:  # root reads any file, so only others can see this refusal
        locked = write(tmp_path / "locked.csv", b"x")
        locked.chmod(0)
        with pytest.raises(LocalFileError, match="cannot be read"):
            lake.upload(locked, BRONZE, "files/locked.csv")
    assert all_versions(admin, buckets[BRONZE]) == []


def test_unknown_layer_fails_before_any_request(lake: Lake, tmp_path: Path) -> None:
    with pytest.raises(UnknownLayerError, match="platinum"):
        lake.upload(write(tmp_path / "f", b"x"), "platinum", "files/f.csv")


def test_layer_accepts_names_and_seed_bucket_aliases(
    lake: Lake, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = write(tmp_path / "f.csv", b"x")
    assert lake.upload(source, "raw", "files/f.csv").startswith(f"s3://{buckets[BRONZE]}/")
    assert lake.upload(source, "Silver", "cleaned/f.csv").startswith(f"s3://{buckets[SILVER]}/")


def test_upload_to_a_missing_bucket_points_at_provisioning(
    s3: S3Endpoint, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    lake = Lake(config_for(s3, {**buckets, BRONZE: "lkt-no-such-bucket"}))
    with pytest.raises(BucketNotFoundError) as caught:
        lake.upload(write(tmp_path / "f", b"x"), BRONZE, "files/f.csv")
    message = str(caught.value)
    assert "lkt-no-such-bucket" in message
    assert "bronze" in message
    assert "make up" in message and "pulumi up" in message


def record_operations(lake: Lake) -> list[str]:
    seen: list[str] = []

    def record(model: Any, **kwargs: Any) -> None:
        seen.append(model.name)

    lake.client.meta.events.register("before-call.s3", record)
    return seen


def test_an_identical_bronze_reupload_sends_no_bytes(
    s3: S3Endpoint, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    settings = TransferSettings(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    lake = Lake(config_for(s3, buckets), transfer=settings)
    source = write(tmp_path / "big.bin", os.urandom(11 * MiB))
    lake.upload(source, BRONZE, "streaming/once.bin")
    operations = record_operations(lake)

    again = lake.put_file(source, BRONZE, "streaming/once.bin")

    assert not again.created
    assert operations == ["HeadObject"]


def test_a_file_that_changes_while_hashed_is_not_uploaded(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = write(tmp_path / "growing.log", b"line\n" * 1000)

    def append(amount: int) -> None:
        if source.stat().st_size < 6000:  # once: a file growing forever would never hash
            with source.open("ab") as handle:
                handle.write(b"more\n" * 300)

    with pytest.raises(LocalFileError, match="changed while it was being read; nothing was"):
        lake.put_file(source, BRONZE, "streaming/growing.log", hash_progress=append)
    assert all_versions(admin, buckets[BRONZE]) == []


def test_a_file_that_changes_during_the_upload_is_reported(
    lake: Lake, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    # Large enough to be sent from the file (smaller ones are read once and sent from memory).
    source = write(tmp_path / "growing.log", b"line\n" * (IN_MEMORY_BYTES // 5 + 1000))
    start = source.stat().st_size

    def append(amount: int) -> None:
        if source.stat().st_size == start:  # once: a file growing forever would never hash
            with source.open("ab") as handle:
                handle.write(b"more\n" * 300)

    with pytest.raises(LocalFileError) as caught:
        lake.put_file(source, SILVER, "cleaned/growing.log", progress=append)
    message = str(caught.value)
    assert "changed while it was being uploaded" in message
    assert f"s3://{buckets[SILVER]}/cleaned/growing.log" in message


def test_a_small_file_is_sent_as_it_was_read_whatever_happens_to_it_after(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = write(tmp_path / "small.log", b"line\n" * 100)

    def append(amount: int) -> None:
        with source.open("ab") as handle:
            handle.write(b"later\n")

    result = lake.put_file(source, SILVER, "cleaned/small.log", progress=append)

    stored = admin.get_object(Bucket=buckets[SILVER], Key="cleaned/small.log")
    body = stored["Body"].read()
    assert body == b"line\n" * 100
    assert stored["Metadata"][META_SHA256] == hashlib.sha256(body).hexdigest() == result.sha256


def test_concurrent_uploads_of_one_key_each_get_their_own_version(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    sources = [write(tmp_path / f"v{n}.csv", f"version {n}\n".encode()) for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda p: lake.put_file(p, SILVER, "validated/race.csv"), sources))

    for result in results:
        stored = admin.head_object(
            Bucket=buckets[SILVER], Key="validated/race.csv", VersionId=str(result.version_id)
        )
        assert stored["Metadata"][META_SHA256] == result.sha256


def test_a_bad_content_type_fails_before_any_request(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    with pytest.raises(InvalidMetadataError, match="content type"):
        lake.upload(write(tmp_path / "f", b"x"), BRONZE, "files/f", content_type="text/csv\r\nX: y")
    assert all_versions(admin, buckets[BRONZE]) == []


@pytest.mark.parametrize(
    ("layer", "key", "prefixes"),
    [
        (BRONZE, "exports/users.csv", "postgres/, files/, api/, streaming/"),
        (SILVER, "postgres/users.csv", "cleaned/, validated/, deduplicated/"),
        (StorageLayer.GOLD, "clean/report.csv", "aggregated/, reports/, ml/"),
    ],
)
def test_writes_outside_the_layers_prefixes_are_refused_before_any_request(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    layer: StorageLayer,
    key: str,
    prefixes: str,
) -> None:
    # The pipeline roles may write only under the declared prefixes, so lakeops refuses the
    # rest for every login: dev must not accept what prod refuses.
    source = write(tmp_path / "f.csv", b"x\n")
    sent: list[str] = []
    lake.client.meta.events.register("before-call.s3", lambda model, **_: sent.append(model.name))

    with pytest.raises(InvalidKeyError, match=f"outside {layer}'s prefixes \\({prefixes}\\)"):
        lake.upload(source, layer, key)

    assert sent == []
    assert all_versions(admin, buckets[layer]) == []


@pytest.mark.requires("put_if_none_match_versioned")
def test_a_small_bronze_upload_is_one_conditional_put(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    # The probe of conditional writes runs once per bucket and process, before this counts; it
    # asks about the prefix marker the stack creates.
    admin.put_object(Bucket=buckets[BRONZE], Key="postgres/", Body=b"")
    assert lake.enforces_conditional_writes(BRONZE)
    sent: list[str] = []
    lake.client.meta.events.register("before-call.s3", lambda model, **_: sent.append(model.name))
    source = write(tmp_path / "f.csv", b"x\n")

    lake.upload(source, BRONZE, "files/f.csv")
    lake.upload(source, BRONZE, "files/f.csv")  # identical: refused, then recognised

    assert sent == ["PutObject", "PutObject", "HeadObject"]
