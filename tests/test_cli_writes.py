"""One-object writes on the command line, as a user of aws-cli expects them: --dry-run that
writes nothing, options that cannot apply refused, downloads that say when they cannot be
verified or check a published dataset's manifest, folders and stdout as destinations, and
replacements in silver and gold named. Against the loopback S3 server, over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lakeops.cli import main
from lakeops.ops.conditional import forget_probes
from tests.support.capabilities import Capabilities
from tests.support.cli_lake import DeployedLake

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def versions_of(admin: S3Client, bucket: str, key: str) -> list[dict[str, Any]]:
    found = admin.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return [dict(v) for v in found if v["Key"] == key]


def local_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- finding 1: --dry-run on one object --------------------------------------------------------


def test_a_one_object_dry_run_writes_nothing_and_exits_as_the_real_run_would(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    bronze, silver = dev_lake.buckets["bronze"], dev_lake.buckets["silver"]
    admin = dev_lake.admin
    first = local_file(tmp_path, "dr.csv", "id\n1\n")
    other = local_file(tmp_path, "other.csv", "id\n2\n")

    new = dev_lake.run("upload", str(first), "bronze", "files/dr/dr.csv", "--dry-run")
    assert new.code == 0, new.err
    assert "would upload" in new.out and "Nothing was written" in new.out
    assert versions_of(admin, bronze, "files/dr/dr.csv") == []

    dev_lake.run("upload", str(first), "bronze", "files/dr/dr.csv")
    same = dev_lake.run("--json", "upload", str(first), "bronze", "files/dr/dr.csv", "--dry-run")
    conflict = dev_lake.run("upload", str(other), "bronze", "files/dr/dr.csv", "--dry-run")
    real_conflict = dev_lake.run("upload", str(other), "bronze", "files/dr/dr.csv")
    assert same.code == 0 and same.json()["action"] == "identical" and same.json()["dry_run"]
    assert conflict.code == real_conflict.code == 5, conflict.err
    assert "append-only" in conflict.err
    assert len(versions_of(admin, bronze, "files/dr/dr.csv")) == 1

    dev_lake.run("upload", str(first), "silver", "cleaned/dr/dr.csv")
    (version,) = versions_of(admin, silver, "cleaned/dr/dr.csv")
    replace = dev_lake.run("upload", str(other), "silver", "cleaned/dr/dr.csv", "--dry-run")
    promote = dev_lake.run(
        "promote", "bronze", "files/dr/dr.csv", "gold", "reports/dr.csv", "--dry-run"
    )
    download = dev_lake.run(
        "download", "silver", "cleaned/dr/dr.csv", str(tmp_path / "got.csv"), "--dry-run"
    )
    missing = dev_lake.run(
        "download", "silver", "cleaned/dr/none.csv", str(tmp_path / "n.csv"), "--dry-run"
    )
    backwards = dev_lake.run(
        "promote", "silver", "cleaned/dr/dr.csv", "bronze", "files/x.csv", "--dry-run"
    )

    assert replace.code == 0 and f"replacing version {version['VersionId']}" in replace.out
    assert len(versions_of(admin, silver, "cleaned/dr/dr.csv")) == 1
    assert promote.code == 0 and "would copy" in promote.out
    assert versions_of(admin, dev_lake.buckets["gold"], "reports/dr.csv") == []
    assert download.code == 0 and "would download" in download.out
    assert not (tmp_path / "got.csv").exists()
    assert missing.code == 4 and backwards.code == 2


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["upload", "{file}", "bronze", "files/o/o.csv", "--include", "*.csv"], "--include"),
        (["upload", "{file}", "bronze", "files/o/o.csv", "--exclude", "*.tmp"], "--exclude"),
        (["upload", "{file}", "bronze", "files/o/o.csv", "--workers", "4"], "--workers"),
        (["upload", "{file}", "bronze", "files/o/o.csv", "--skip-conflicts"], "--skip-conflicts"),
        (["upload", "{file}", "bronze", "files/o/o.csv", "--no-publish"], "--no-publish"),
        (["download", "bronze", "files/o/o.csv", "{dir}/o.csv", "--include", "*"], "--include"),
        (["promote", "bronze", "files/o/o.csv", "silver", "cleaned/o.csv", "--lineage", "file:x"],
         "--lineage"),
        (["download", "-r", "bronze", "files/o/", "{dir}", "--version-id", "v1"], "--version-id"),
    ],
)  # fmt: skip
def test_options_that_mean_nothing_for_one_object_are_refused(
    dev_lake: DeployedLake, tmp_path: Path, argv: list[str], option: str
) -> None:
    file = local_file(tmp_path, "o.csv", "id\n1\n")
    words = [w.format(file=file, dir=tmp_path / "out") for w in argv]

    result = dev_lake.run(*words)

    assert result.code == 2, result.err
    assert option in result.err
    assert versions_of(dev_lake.admin, dev_lake.buckets["bronze"], "files/o/o.csv") == []
    assert not (tmp_path / "out").exists()


def test_help_says_next_to_dry_run_that_a_bronze_mistake_is_forever(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("upload", "download", "promote"):
        assert main([command, "--help"]) == 0
        shown = capsys.readouterr().out
        dry_run = shown[shown.index("--dry-run") :][:400]
        assert "in bronze a mistake is forever" in " ".join(dry_run.split())


# -- finding 2: downloads that cannot be verified, and published datasets -----------------------


def _published_gold_dataset(dev_lake: DeployedLake, tmp_path: Path) -> str:
    folder = tmp_path / "sales"
    folder.mkdir()
    (folder / "a.csv").write_text("region,total\neu,10\n")
    (folder / "b.csv").write_text("region,total\nus,20\n")
    published = dev_lake.run("--json", "upload", "-r", str(folder), "gold", "aggregated/sales/")
    assert published.code == 0, published.err
    manifest = dev_lake.admin.get_object(
        Bucket=dev_lake.buckets["gold"], Key="aggregated/sales/_lakeops_manifest.json"
    )
    entries = {e["key"]: e for e in json.loads(manifest["Body"].read())["files"]}
    return str(entries["a.csv"]["version_id"])


def test_a_tampered_object_of_a_published_dataset_is_refused_naming_the_published_version(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    gold = dev_lake.buckets["gold"]
    published_version = _published_gold_dataset(dev_lake, tmp_path)
    # Another tool overwrites it, without lakeops' recorded SHA-256.
    dev_lake.admin.put_object(Bucket=gold, Key="aggregated/sales/a.csv", Body=b"11 bytes!!\n")

    refused = dev_lake.run("download", "gold", "aggregated/sales/a.csv", str(tmp_path / "a.csv"))
    planned = dev_lake.run(
        "download", "gold", "aggregated/sales/a.csv", str(tmp_path / "a.csv"), "--dry-run"
    )
    live = dev_lake.run(
        "--json", "download", "--live", "gold", "aggregated/sales/a.csv", str(tmp_path / "l.csv")
    )
    whole = dev_lake.run("download", "-r", "gold", "aggregated/sales/", str(tmp_path / "whole"))

    assert refused.code == planned.code == 8, refused.err + planned.err
    for said in (refused.err, planned.err):
        assert published_version in said and "_lakeops_manifest.json" in said
    assert not (tmp_path / "a.csv").exists()
    # Asked for the live object: served, and said to be unverified.
    assert live.code == 0, live.err
    assert live.json()["verified"] is False
    assert "was not verified" in live.err
    # The whole dataset: the published versions, and one line saying the live ones differ.
    assert whole.code == 0, whole.err
    assert (tmp_path / "whole" / "a.csv").read_text() == "region,total\neu,10\n"
    notes = [line for line in whole.err.splitlines() if "changed since it was published" in line]
    assert len(notes) == 1 and "1 object of" in notes[0]


def test_an_object_another_tool_wrote_downloads_with_a_warning(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    gold = dev_lake.buckets["gold"]
    dev_lake.admin.put_object(Bucket=gold, Key="reports/theirs.csv", Body=b"x\n")
    mine = local_file(tmp_path, "mine.csv", "y\n")
    dev_lake.run("upload", str(mine), "gold", "reports/mine.csv")

    theirs = dev_lake.run(
        "--json", "download", "gold", "reports/theirs.csv", str(tmp_path / "t.csv")
    )
    own = dev_lake.run("--json", "download", "gold", "reports/mine.csv", str(tmp_path / "m.csv"))

    assert theirs.code == 0 and theirs.json()["verified"] is False
    assert "lakeops: warning:" in theirs.err and "not verified" in theirs.err
    assert own.code == 0 and own.json()["verified"] is True and own.err == ""


def test_a_published_object_downloads_verified_against_its_manifest(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    _published_gold_dataset(dev_lake, tmp_path)

    got = dev_lake.run(
        "--json", "download", "gold", "aggregated/sales/b.csv", str(tmp_path / "b.csv")
    )

    assert got.code == 0, got.err
    assert got.json()["verified"] is True
    assert got.json()["published_in"].endswith("aggregated/sales/_lakeops_manifest.json")


# -- finding 6: a destination that names a folder --------------------------------------------


def test_a_destination_ending_in_a_slash_is_a_folder_the_file_goes_into(
    dev_lake: DeployedLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = local_file(tmp_path, "x.csv", "id\n1\n")
    dev_lake.run("upload", str(source), "bronze", "files/x.csv")
    monkeypatch.chdir(tmp_path)

    result = dev_lake.run("download", f"s3://{dev_lake.buckets['bronze']}/files/x.csv", "out/")

    assert result.code == 0, result.err
    assert (tmp_path / "out").is_dir()
    assert (tmp_path / "out" / "x.csv").read_text() == "id\n1\n"


# -- finding 7: '-' streams to stdout ----------------------------------------------------------


def test_a_download_to_dash_streams_to_stdout_and_still_verifies(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 64
    (tmp_path / "bin.dat").write_bytes(data)
    dev_lake.run("upload", str(tmp_path / "bin.dat"), "silver", "cleaned/bin.dat")
    _published_gold_dataset(dev_lake, tmp_path)
    dev_lake.admin.put_object(
        Bucket=dev_lake.buckets["gold"], Key="aggregated/sales/a.csv", Body=b"tampered\n"
    )
    base = [sys.executable, "-m", "lakeops", *dev_lake.address, "download"]

    streamed = subprocess.run(
        [*base, "silver", "cleaned/bin.dat", "-"], capture_output=True, check=False
    )
    tampered = subprocess.run(
        [*base, "gold", "aggregated/sales/a.csv", "-"], capture_output=True, check=False
    )

    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout == data
    assert not (tmp_path / "-").exists() and not Path("-").exists()
    assert tampered.returncode == 8
    assert b"not to be trusted" in tampered.stderr
    assert b"tampered" in tampered.stdout  # what was streamed, and then disowned


# -- finding 13: a replacement in silver or gold is named -----------------------------------


def test_replacing_an_object_in_silver_or_gold_names_the_version_replaced(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    first = local_file(tmp_path, "v1.csv", "id\n1\n")
    second = local_file(tmp_path, "v2.csv", "id\n2\n")
    created = dev_lake.run("--json", "upload", str(first), "silver", "cleaned/r/r.csv")
    replaced = dev_lake.run("upload", str(second), "silver", "cleaned/r/r.csv")
    again = dev_lake.run("--json", "upload", str(first), "silver", "cleaned/r/r.csv")
    promoted = dev_lake.run("promote", "silver", "cleaned/r/r.csv", "gold", "reports/r.csv")
    repromoted = dev_lake.run(
        "--json", "promote", "silver", "cleaned/r/r.csv", "gold", "reports/r.csv"
    )

    assert created.json()["replaced"] is False
    v1 = created.json()["version_id"]
    assert replaced.code == 0 and f"(replaced version {v1})" in replaced.out
    assert again.json()["replaced"] is True and again.json()["replaced_version_id"] != v1
    assert "replaced" not in promoted.out
    first_copy = versions_of(dev_lake.admin, dev_lake.buckets["gold"], "reports/r.csv")[-1]
    assert repromoted.json()["replaced_version_id"] == first_copy["VersionId"]


# -- finding 14: a one-file bronze upload does not probe the server ----------------------------


def _requests(dev_lake: DeployedLake, *argv: str) -> list[str]:
    """The requests one `lakeops --debug` process made (its own process: nothing kept in
    memory from another command)."""
    ran = subprocess.run(
        [sys.executable, "-m", "lakeops", "--debug", *dev_lake.address, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    return [line for line in ran.stderr.splitlines() if "lakeops.requests:" in line]


def test_a_one_file_bronze_upload_never_probes_and_uses_the_answer_kept_on_disk(
    dev_lake: DeployedLake, tmp_path: Path, capabilities: Capabilities
) -> None:
    bronze = dev_lake.buckets["bronze"]
    for n in range(3):
        local_file(tmp_path, f"f{n}.csv", f"id\n{n}\n")
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "b.csv").write_text("id\n9\n")

    cold = _requests(dev_lake, "upload", str(tmp_path / "f0.csv"), "bronze", "files/one/f0.csv")
    _requests(dev_lake, "upload", "-r", str(folder), "bronze", "files/batch/")  # probes once
    warm = _requests(dev_lake, "upload", str(tmp_path / "f1.csv"), "bronze", "files/one/f1.csv")

    # No look at, and no write to, any prefix marker: a HEAD of the key and the PUT at most.
    for lines in (cold, warm):
        assert not [line for line in lines if f"/{bronze}/postgres/ " in line], lines
        assert all("files/one/" in line for line in lines), lines
    assert len(cold) == 2
    assert len(warm) == (1 if capabilities.has("put_if_none_match_versioned") else 2)
    markers = dev_lake.admin.list_object_versions(Bucket=bronze, Prefix="postgres/")
    assert len(markers.get("Versions", [])) == 1


def test_verify_probes_bronze_on_its_own_marker_and_creates_no_missing_one(
    dev_lake: DeployedLake, capabilities: Capabilities
) -> None:
    # Silver's marker gone: bronze's answer does not depend on it, and verify creates none.
    silver, bronze = dev_lake.buckets["silver"], dev_lake.buckets["bronze"]
    dev_lake.admin.delete_object(Bucket=silver, Key="cleaned/")
    forget_probes()
    before = dev_lake.admin.list_object_versions(Bucket=bronze, Prefix="postgres/")

    checked = dev_lake.run("--json", "verify")

    rows = {(c["check"], c["layer"]): c for c in checked.json()["checks"]}
    expected = "pass" if capabilities.has("put_if_none_match_versioned") else "FAIL"
    assert rows[("conditional writes", "bronze")]["result"] == expected
    listed = dev_lake.admin.list_object_versions(Bucket=silver, Prefix="cleaned/")
    assert [v["IsLatest"] for v in listed.get("Versions", [])] == [False]
    after = dev_lake.admin.list_object_versions(Bucket=bronze, Prefix="postgres/")
    assert after.get("Versions") == before.get("Versions")
    forget_probes()
