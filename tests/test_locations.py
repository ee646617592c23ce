"""URIs of the lake are taken wherever a layer and a key are: what one call prints, the next
one accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeops import Lake, StorageLayer, UnknownLayerError, ValidationError
from lakeops.locations import resolve

BUCKETS = {StorageLayer.BRONZE: "raw", StorageLayer.SILVER: "staging", StorageLayer.GOLD: "curated"}


@pytest.mark.parametrize(
    ("layer", "key"),
    [
        ("bronze", "postgres/x.csv"),
        ("raw", "postgres/x.csv"),
        ("s3://raw/postgres/x.csv", None),
        (None, "s3://raw/postgres/x.csv"),
        ("bronze", "s3://raw/postgres/x.csv"),
    ],
)
def test_a_layer_and_key_or_a_uri_name_the_same_object(layer: str | None, key: str | None) -> None:
    assert resolve(BUCKETS, layer, key) == (StorageLayer.BRONZE, "postgres/x.csv")


@pytest.mark.parametrize(
    ("layer", "key", "error", "message"),
    [
        ("s3://elsewhere/x.csv", None, ValidationError, "is not in this lake"),
        ("s3://raw/a", "b", ValidationError, "both a URI"),
        ("silver", "s3://raw/postgres/x.csv", ValidationError, "is in bronze, not in silver"),
        ("s3:/raw/x", None, UnknownLayerError, "unknown layer"),
    ],
)
def test_uris_outside_the_lake_or_contradicting_it_are_refused(
    layer: str | None, key: str | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        resolve(BUCKETS, layer, key)


def test_the_lake_names_its_buckets_when_a_uri_is_not_in_it() -> None:
    with pytest.raises(ValidationError) as refused:
        resolve(BUCKETS, "s3://other/x", None)
    assert "raw (bronze), staging (silver), curated (gold)" in str(refused.value)


def test_every_operation_takes_the_uris_it_prints(
    lake: Lake, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    source = tmp_path / "users.csv"
    source.write_bytes(b"id\n1\n")
    bronze, silver = buckets[StorageLayer.BRONZE], buckets[StorageLayer.SILVER]

    uri = lake.upload(source, f"s3://{bronze}/postgres/users.csv")
    listed = lake.list_objects(f"s3://{bronze}/postgres/")
    info = lake.stat(uri)
    promoted = lake.promote(uri, target_key=f"s3://{silver}/cleaned/users.csv")
    path = lake.download(promoted, None, tmp_path / "out.csv")

    assert uri == f"s3://{bronze}/postgres/users.csv"
    assert [entry["Key"] for entry in listed] == ["postgres/users.csv"]
    assert info.uri == uri and info.size == 5
    assert promoted == f"s3://{silver}/cleaned/users.csv"
    assert Path(path).read_bytes() == b"id\n1\n"
