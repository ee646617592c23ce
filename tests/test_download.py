"""Downloads: atomic, verified, version-pinned, and never leaving a partial file behind."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakeops import (
    BucketNotFoundError,
    IntegrityError,
    Lake,
    LocalFileError,
    ObjectNotFoundError,
    ReplacedObjectError,
    StorageLayer,
    TransferSettings,
)
from lakeops.metadata import META_SHA256
from lakeops.transfers import MiB
from tests.conftest import config_for
from tests.support.s3server import S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SILVER, GOLD = StorageLayer.SILVER, StorageLayer.GOLD


def leftovers(folder: Path) -> list[str]:
    """Names in ``folder`` that look like temporary download files."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or "partial" in p.name]


def test_download_creates_parents_and_returns_the_path(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    admin.put_object(Bucket=buckets[SILVER], Key="cleaned/users.parquet", Body=b"PAR1")
    target = tmp_path / "deep" / "er" / "users.parquet"

    returned = lake.download(SILVER, "cleaned/users.parquet", target)

    assert returned == str(target)
    assert target.read_bytes() == b"PAR1"
    assert leftovers(target.parent) == []


def test_download_verifies_the_recorded_checksum(
    lake: Lake, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"a,b\n1,2\n")
    lake.upload(source, GOLD, "reports/r.csv")

    result = lake.get_file(GOLD, "reports/r.csv", tmp_path / "out.csv")

    assert result.verified
    assert result.size == 8
    assert result.path.read_bytes() == b"a,b\n1,2\n"


def test_a_checksum_mismatch_raises_and_leaves_the_old_target_untouched(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    admin.put_object(
        Bucket=buckets[GOLD],
        Key="reports/damaged.csv",
        Body=b"what is stored",
        Metadata={META_SHA256: hashlib.sha256(b"what was uploaded").hexdigest()},
    )
    target = tmp_path / "damaged.csv"
    target.write_bytes(b"previous content")

    with pytest.raises(IntegrityError, match=r"reports/damaged\.csv.*was not written"):
        lake.download(GOLD, "reports/damaged.csv", target)

    assert target.read_bytes() == b"previous content"
    assert leftovers(tmp_path) == []


def test_download_of_a_given_version(
    lake: Lake, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = tmp_path / "t.csv"
    source.write_bytes(b"first")
    first = lake.put_file(source, SILVER, "validated/t.csv")
    source.write_bytes(b"second")
    lake.put_file(source, SILVER, "validated/t.csv")

    old = lake.get_file(
        SILVER, "validated/t.csv", tmp_path / "old.csv", version_id=first.version_id
    )
    new = lake.get_file(SILVER, "validated/t.csv", tmp_path / "new.csv")

    assert (tmp_path / "old.csv").read_bytes() == b"first"
    assert (tmp_path / "new.csv").read_bytes() == b"second"
    assert old.version_id == first.version_id
    assert new.version_id != first.version_id


class Interrupted(Exception):
    pass


def test_an_interrupted_multipart_download_leaves_nothing_at_the_target(
    s3: S3Endpoint, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    settings = TransferSettings(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    lake = Lake(config_for(s3, buckets), transfer=settings)
    admin.put_object(Bucket=buckets[SILVER], Key="cleaned/big.bin", Body=os.urandom(12 * MiB))
    received: list[int] = []

    def stop_midway(amount: int) -> None:
        received.append(amount)
        if sum(received) > 6 * MiB:
            raise Interrupted

    target = tmp_path / "big.bin"
    with pytest.raises(Interrupted):
        lake.download(SILVER, "cleaned/big.bin", target, progress=stop_midway)

    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_missing_object_is_named_and_nothing_is_written(
    lake: Lake, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    target = tmp_path / "x.csv"
    with pytest.raises(ObjectNotFoundError) as caught:
        lake.download(SILVER, "cleaned/missing.csv", target)
    assert f"s3://{buckets[SILVER]}/cleaned/missing.csv" in str(caught.value)
    assert "lakeops ls silver" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_version_is_named(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    admin.put_object(Bucket=buckets[SILVER], Key="cleaned/v.csv", Body=b"x")
    with pytest.raises(ObjectNotFoundError, match="version"):
        lake.download(SILVER, "cleaned/v.csv", tmp_path / "v.csv", version_id="no-such-version")


def test_a_missing_bucket_is_told_apart_from_a_missing_key(
    s3: S3Endpoint, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    lake = Lake(config_for(s3, {**buckets, SILVER: "lkt-absent-silver"}))
    with pytest.raises(BucketNotFoundError, match=r"lkt-absent-silver.*silver.*make up"):
        lake.download(SILVER, "cleaned/x.csv", tmp_path / "x.csv")


def test_a_directory_as_target_fails_before_any_request(lake: Lake, tmp_path: Path) -> None:
    with pytest.raises(LocalFileError, match="is a directory"):
        lake.download(SILVER, "cleaned/x.csv", tmp_path)


def test_objects_written_by_other_tools_can_be_downloaded(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    admin.put_object(Bucket=buckets[SILVER], Key="cleaned//twice/../x.csv", Body=b"odd")
    lake.download(SILVER, "cleaned//twice/../x.csv", tmp_path / "x.csv")
    assert (tmp_path / "x.csv").read_bytes() == b"odd"


def test_a_malformed_version_id_is_named_with_a_hint(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    admin.put_object(Bucket=buckets[SILVER], Key="cleaned/v.csv", Body=b"x")
    with pytest.raises(ObjectNotFoundError, match="version"):
        lake.download(SILVER, "cleaned/v.csv", tmp_path / "v.csv", version_id="!!bogus!!")


def test_a_long_target_name_still_downloads_atomically(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    admin.put_object(Bucket=buckets[SILVER], Key="cleaned/long.csv", Body=b"x")
    target = tmp_path / ("n" * 240 + ".csv")
    lake.download(SILVER, "cleaned/long.csv", target)
    assert target.read_bytes() == b"x"
    assert leftovers(tmp_path) == []


def test_a_failed_download_creates_no_folders(lake: Lake, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError):
        lake.download(SILVER, "cleaned/missing.csv", tmp_path / "new" / "deeper" / "m.csv")
    assert list(tmp_path.iterdir()) == []


def test_a_target_under_a_file_fails_before_any_request(lake: Lake, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(LocalFileError, match="is a file, not a folder"):
        lake.download(SILVER, "cleaned/x.csv", tmp_path / "file" / "x.csv")


def test_a_bronze_object_written_over_by_another_client_is_not_served_silently(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = tmp_path / "orders.csv"
    source.write_bytes(b"id\n1\n")
    first = lake.put_file(source, "bronze", "files/orders.csv")
    # Another tool with the root login replaces it (no If-None-Match, so nothing stops it).
    admin.put_object(Bucket=buckets[StorageLayer.BRONZE], Key="files/orders.csv", Body=b"id\n9\n")
    target = tmp_path / "out.csv"

    with pytest.raises(ReplacedObjectError) as replaced:
        lake.download("bronze", "files/orders.csv", target)

    message = str(replaced.value)
    assert f"is not the original {first.version_id}" in message
    assert f"--version-id {first.version_id}" in message
    assert not target.exists()
    # The history shows both versions, newest first, and the original can still be had.
    history = lake.list_versions("bronze", "files/orders.csv")
    assert [v.version_id for v in history][-1] == first.version_id
    assert history[0].is_latest
    lake.download("bronze", "files/orders.csv", target, version_id=first.version_id)
    assert target.read_bytes() == b"id\n1\n"


def test_an_untouched_bronze_object_downloads_with_its_history_checked(
    lake: Lake, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = tmp_path / "orders.csv"
    source.write_bytes(b"id\n1\n")
    lake.upload(source, "bronze", "files/orders.csv")
    operations: list[str] = []
    lake.client.meta.events.register(
        "before-call.s3", lambda model, **_: operations.append(model.name)
    )

    lake.download("bronze", "files/orders.csv", tmp_path / "out.csv")

    assert operations == ["HeadObject", "ListObjectVersions", "GetObject"]
