"""Datasets: whole folders and prefixes through the lake, planned, resumable and published."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lakeops import (
    Action,
    DatasetChangedError,
    DatasetConflictError,
    DatasetIncompleteError,
    DatasetInvalidError,
    DatasetPublishedError,
    EmptyDatasetError,
    InvalidKeyError,
    JobInterrupted,
    JobProgress,
    Lake,
    NotPublishedError,
    StorageLayer,
    Timeouts,
    TransferSettings,
)
from lakeops.layout import LAYOUT, marker_key
from lakeops.metadata import META_SHA256, META_SOURCE_URI, META_SOURCE_VERSION_ID
from lakeops.ops.conditional import conditional_writes_enforced
from lakeops.validation import MANIFEST_NAME, SUCCESS_NAME
from tests.conftest import config_for
from tests.support.buckets import all_versions
from tests.support.faults import FaultProxy
from tests.support.s3server import S3Endpoint, free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BRONZE, SILVER, GOLD = StorageLayer.BRONZE, StorageLayer.SILVER, StorageLayer.GOLD
RAW_PREFIX = "api/events/2024-01-15/"
CLEAN_PREFIX = "cleaned/events/2024-01-15/"


def make_folder(root: Path, count: int = 12, size: int = 2048) -> dict[str, bytes]:
    """A dataset folder: ``count`` JSON pages, some in a subfolder, and their bytes."""
    files: dict[str, bytes] = {}
    for n in range(count):
        relative = f"page-{n:03d}.json" if n % 3 else f"late/page-{n:03d}.json"
        data = os.urandom(size)
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
        files[relative] = data
    return files


def keys(admin: S3Client, bucket: str, prefix: str) -> list[str]:
    listing = admin.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(entry["Key"] for entry in listing.get("Contents", []))


def manifest_of(admin: S3Client, bucket: str, prefix: str) -> dict[str, Any]:
    body = admin.get_object(Bucket=bucket, Key=prefix + MANIFEST_NAME)["Body"].read()
    document: dict[str, Any] = json.loads(body)
    return document


def operations(lake: Lake) -> list[str]:
    """The S3 operations the lake sends from now on. The per-bucket probe of conditional
    writes (lakeops.ops.conditional) is run first, so that its requests are not counted, on
    the prefix marker the stack creates in each bucket."""
    for layer in StorageLayer:
        marker = marker_key(LAYOUT[layer].prefixes[0])
        lake.client.put_object(Bucket=lake.config.bucket(layer), Key=marker, Body=b"")
        conditional_writes_enforced(lake.context, layer)
    seen: list[str] = []
    lock = threading.Lock()

    def note(operation: str) -> None:
        with lock:
            seen.append(operation)

    lake.client.meta.events.register("before-call.s3", lambda model, **_: note(model.name))
    transport = lake.context.fast()
    if transport is not None:
        transport.observers.append(note)
    return seen


@pytest.fixture(params=["crt", "boto3"])
def transport(request: pytest.FixtureRequest) -> str:
    """Dataset jobs send single-request transfers on the CRT or on boto3: both must behave."""
    return str(request.param)


@pytest.fixture
def lake(s3: S3Endpoint, buckets: dict[StorageLayer, str], transport: str) -> Lake:
    return Lake(config_for(s3, buckets, transport=transport))


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path / "events"
    root.mkdir()
    return root, make_folder(root)


# -- upload ------------------------------------------------------------------------------------


def test_a_folder_uploads_as_one_published_dataset(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    root, files = folder
    bronze = buckets[BRONZE]

    result = lake.upload_folder(root, BRONZE, RAW_PREFIX)

    assert result.ok and result.published
    assert (result.new, result.transferred, result.identical) == (12, 12, 0)
    assert result.bytes_transferred == sum(len(data) for data in files.values())
    stored = keys(admin, bronze, RAW_PREFIX)
    expected = sorted(RAW_PREFIX + name for name in files)
    assert stored == sorted([*expected, RAW_PREFIX + MANIFEST_NAME, RAW_PREFIX + SUCCESS_NAME])
    manifest = manifest_of(admin, bronze, RAW_PREFIX)
    assert manifest["format"] == "lakeops.manifest/1"
    assert manifest["dataset"] == f"s3://{bronze}/{RAW_PREFIX}"
    assert manifest["source"] == f"file://{root}"
    assert manifest["objects"] == 12
    by_key = {entry["key"]: entry for entry in manifest["files"]}
    assert set(by_key) == set(files)
    for name, data in files.items():
        head = admin.head_object(Bucket=bronze, Key=RAW_PREFIX + name)
        entry = by_key[name]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
        assert entry["etag"] == head["ETag"].strip('"')
        assert entry["version_id"] == head["VersionId"]
        assert entry["content_type"] == "application/json"
    assert result.manifest_uri == f"s3://{bronze}/{RAW_PREFIX}{MANIFEST_NAME}"


def test_include_and_exclude_choose_the_files(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    root, _ = folder
    (root / "notes.txt").write_text("not data\n")

    result = lake.upload_folder(
        root, BRONZE, RAW_PREFIX, include="*.json", exclude=["late/*", "page-00[12].json"]
    )

    names = {k[len(RAW_PREFIX) :] for k in keys(admin, buckets[BRONZE], RAW_PREFIX)}
    data = names - {MANIFEST_NAME, SUCCESS_NAME}
    assert data == {f"page-{n:03d}.json" for n in range(12) if n % 3 and n not in (1, 2)}
    assert result.transferred == len(data)


def test_a_dry_run_shows_the_plan_and_writes_nothing(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    root, files = folder
    lake.upload_folder(root, BRONZE, RAW_PREFIX, include="late/*", publish=False)
    before = all_versions(admin, buckets[BRONZE])
    (root / "late" / "page-000.json").write_bytes(b"changed")

    plan = lake.upload_folder(root, BRONZE, RAW_PREFIX, dry_run=True)

    assert all_versions(admin, buckets[BRONZE]) == before
    assert plan.dry_run and plan.transferred == 0
    actions = {item.relative: item.action for item in plan.items}
    assert actions["late/page-000.json"] is Action.CONFLICT
    assert actions["late/page-003.json"] is Action.IDENTICAL
    assert actions["page-001.json"] is Action.NEW
    assert (plan.new, plan.identical, plan.conflicts) == (8, 3, 1)
    assert plan.bytes_total == sum(len(d) for d in files.values()) - 2048 + len(b"changed")
    # The dry run says what the real run would do about the conflict: refuse, exit 5.
    assert not plan.ok and plan.refusal_exit_code == 5
    assert plan.refusal is not None and "late/page-000.json" in plan.refusal


def test_a_dry_run_says_a_published_dataset_would_refuse_the_change(
    lake: Lake, tmp_path: Path
) -> None:
    root = tmp_path / "users"
    root.mkdir()
    (root / "users.csv").write_text("id\n1\n")
    lake.upload_folder(root, SILVER, CLEAN_PREFIX)
    (root / "more.csv").write_text("id\n2\n")

    plan = lake.upload_folder(root, SILVER, CLEAN_PREFIX, dry_run=True)
    unpublished = lake.upload_folder(root, SILVER, CLEAN_PREFIX, dry_run=True, publish=False)

    assert (plan.new, plan.identical) == (1, 1)
    assert plan.refusal is not None and "was published" in plan.refusal
    assert plan.refusal_exit_code == 5
    assert unpublished.ok and unpublished.refusal is None


def test_bronze_conflicts_are_all_reported_before_anything_is_written(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    root, _ = folder
    bronze = buckets[BRONZE]
    # Two keys hold other content already: one of another size, one of the same size.
    admin.put_object(Bucket=bronze, Key=RAW_PREFIX + "page-001.json", Body=b"old")
    admin.put_object(Bucket=bronze, Key=RAW_PREFIX + "page-002.json", Body=os.urandom(2048))
    before = all_versions(admin, bronze)

    with pytest.raises(DatasetConflictError) as refused:
        lake.upload_folder(root, BRONZE, RAW_PREFIX)

    message = str(refused.value)
    assert "2 of 12 objects already exist with other content" in message
    assert "page-001.json (stored size 3, local size 2048)" in message
    assert "page-002.json (stored content differs (same size))" in message
    assert "--skip-conflicts" in message
    assert all_versions(admin, bronze) == before

    # Asked to, it uploads the rest and leaves the conflicts alone, but publishes nothing:
    # the dataset in bronze is not the folder.
    result = lake.upload_folder(root, BRONZE, RAW_PREFIX, skip_conflicts=True)
    assert (result.transferred, result.conflicts, result.skipped) == (10, 2, 2)
    assert not result.published and result.manifest_uri is None
    assert (
        admin.get_object(Bucket=bronze, Key=RAW_PREFIX + "page-001.json")["Body"].read() == b"old"
    )
    assert RAW_PREFIX + MANIFEST_NAME not in keys(admin, bronze, RAW_PREFIX)


def test_silver_replaces_changed_objects_and_keeps_their_history(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    root, _ = folder
    silver = buckets[SILVER]
    lake.upload_folder(root, SILVER, CLEAN_PREFIX, publish=False)
    (root / "page-001.json").write_bytes(b"new content")

    result = lake.upload_folder(root, SILVER, CLEAN_PREFIX)

    assert (result.changed, result.identical, result.transferred) == (1, 11, 1)
    versions = all_versions(admin, silver, CLEAN_PREFIX + "page-001.json")
    assert len(versions) == 2


def test_a_dataset_outside_the_layers_prefixes_is_refused_before_any_request(
    lake: Lake, folder: tuple[Path, dict[str, bytes]]
) -> None:
    root, _ = folder
    sent = operations(lake)
    with pytest.raises(InvalidKeyError, match="outside silver's prefixes"):
        lake.upload_folder(root, SILVER, "events/2024-01-15/")
    with pytest.raises(InvalidKeyError, match="needs a prefix under one of"):
        lake.upload_folder(root, SILVER, "")
    assert sent == []


def test_files_that_cannot_become_keys_stop_the_job_before_any_write(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    (tmp_path / "good.csv").write_text("a\n")
    (tmp_path / "bad\nname.csv").write_text("b\n")

    with pytest.raises(DatasetInvalidError, match="1 of 2 objects cannot be transferred"):
        lake.upload_folder(tmp_path, BRONZE, "files/drop/")

    assert keys(admin, buckets[BRONZE], "files/") == []


def test_what_a_folder_holds_besides_files_is_reported_not_left_out(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    root = tmp_path / "export"
    (root / "sub").mkdir(parents=True)
    (root / "good.csv").write_text("a\n")
    (root / "sub" / "_SUCCESS").write_text("")
    (root / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "more.csv").write_text("b\n")
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    os.mkfifo(root / "pipe")
    (root / os.fsdecode(b"caf\xe9.csv")).write_text("latin-1 name\n")

    with pytest.raises(DatasetInvalidError) as failed:
        lake.upload_folder(root, SILVER, "cleaned/export/")

    notes = {item.relative: item.note for item in failed.value.result.items if item.note}  # type: ignore[attr-defined]
    assert set(notes) == {
        "sub/_SUCCESS",
        "dangling.csv",
        "linked",
        "pipe",
        os.fsdecode(b"caf\xe9.csv"),
    }
    assert "broken link" in notes["dangling.csv"]
    assert "link to a folder" in notes["linked"]
    assert "not a regular file" in notes["pipe"]
    assert "only lakeops writes" in notes["sub/_SUCCESS"]
    assert "not valid UTF-8" in notes[os.fsdecode(b"caf\xe9.csv")]
    assert failed.value.exit_code == 2
    assert keys(admin, buckets[SILVER], "cleaned/") == []


def test_a_folder_that_cannot_be_read_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "export"
    (root / "locked").mkdir(parents=True)
    (root / "good.csv").write_text("a\n")
    (root / "locked" / "b.csv").write_text("b\n")
    (root / "locked").chmod(0)
    walk = (
        "from pathlib import Path; from lakeops.datasets.plan import walk_folder; "
        f"print(list(walk_folder(Path({str(root)!r}))))"
    )
    # Root reads any folder: drop the capabilities that let it, as an ordinary user lacks them.
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux) to drop root's file access")
    try:
        found = subprocess.run(
            [*(drop if os.geteuid() == 0 else []), sys.executable, "-c", walk],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        (root / "locked").chmod(0o700)

    assert "'good.csv', None" in found
    assert "'locked', 'folder cannot be read: Permission denied'" in found


def test_single_writes_cannot_forge_a_publication(lake: Lake, tmp_path: Path) -> None:
    forged = tmp_path / "manifest.json"
    forged.write_text('{"files": []}')
    for name in (MANIFEST_NAME, SUCCESS_NAME):
        with pytest.raises(InvalidKeyError, match="only lakeops writes"):
            lake.upload(forged, SILVER, CLEAN_PREFIX + name)


@pytest.mark.parametrize(
    "case", ["empty-folder", "nothing-matches", "typo-prefix", "empty-download"]
)
def test_a_job_with_nothing_to_do_fails_and_publishes_nothing(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
    tmp_path: Path,
    case: str,
) -> None:
    root, _ = folder
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EmptyDatasetError) as failed:
        if case == "empty-folder":
            lake.upload_folder(empty, BRONZE, RAW_PREFIX)
        elif case == "nothing-matches":
            lake.upload_folder(root, BRONZE, RAW_PREFIX, include="*.parquet")
        elif case == "typo-prefix":
            lake.upload_folder(root, BRONZE, RAW_PREFIX)
            lake.promote_prefix(BRONZE, "api/evnets/2024-01-15/", SILVER, CLEAN_PREFIX)
        else:
            lake.download_prefix(SILVER, CLEAN_PREFIX, tmp_path / "out")

    assert failed.value.exit_code == 4
    if case == "nothing-matches":
        assert "12 left out by --include/--exclude" in failed.value.message
    assert keys(admin, buckets[SILVER], CLEAN_PREFIX) == []
    if case != "typo-prefix":
        assert keys(admin, buckets[BRONZE], RAW_PREFIX) == []
    # The real job afterwards is not refused as a change to a published (empty) dataset.
    assert lake.upload_folder(root, SILVER, CLEAN_PREFIX).published


def test_a_local_success_marker_is_left_to_lakeops(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    # Spark writes _SUCCESS into its output folders; lakeops writes its own on publish.
    (tmp_path / "part-0.csv").write_text("a\n")
    (tmp_path / "_SUCCESS").write_text("spark\n")

    result = lake.upload_folder(tmp_path, BRONZE, "files/spark/")

    success = admin.get_object(Bucket=buckets[BRONZE], Key="files/spark/_SUCCESS")
    assert success["Body"].read() == b""
    assert result.transferred == 1


# -- resuming, failing, interrupting -----------------------------------------------------------


def test_stopping_a_plan_gives_up_the_hashing_under_way(tmp_path: Path) -> None:
    from lakeops.datasets.plan import digest_many

    # Large files, all hashed at once: the ones under way are what an interrupt waits for.
    files = []
    for n in range(8):
        path = tmp_path / f"part-{n}.bin"
        path.write_bytes(os.urandom(24 * 1024 * 1024) if n else b"small")
        files.append(path)
    started = time.monotonic()
    assert len(list(digest_many(files, 8, 8 * 1024 * 1024))) == 8
    all_of_them = time.monotonic() - started

    hashing = digest_many(files, 8, 8 * 1024 * 1024)
    next(hashing)
    started = time.monotonic()
    hashing.close()  # what Ctrl-C in the planning thread does to it
    stopping = time.monotonic() - started

    # The seven large files under way stop at their next chunk instead of being finished.
    assert stopping < all_of_them / 3


def test_an_interrupted_upload_finishes_when_run_again_and_equals_a_clean_run(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
) -> None:
    root = tmp_path / "many"
    root.mkdir()
    files = make_folder(root, count=90, size=512)

    def stop_after_five(progress: JobProgress) -> None:
        if progress.phase == "transferring" and progress.files_done >= 5:
            raise KeyboardInterrupt

    with pytest.raises(JobInterrupted) as stopped:
        lake.upload_folder(root, BRONZE, RAW_PREFIX, workers=2, progress=stop_after_five)
    done = len(keys(admin, buckets[BRONZE], RAW_PREFIX))
    assert 5 <= done < 90
    assert stopped.value.result.interrupted  # type: ignore[attr-defined]
    assert RAW_PREFIX + MANIFEST_NAME not in keys(admin, buckets[BRONZE], RAW_PREFIX)

    again = lake.upload_folder(root, BRONZE, RAW_PREFIX)

    assert (again.identical, again.transferred) == (done, 90 - done)
    assert again.published
    manifest = manifest_of(admin, buckets[BRONZE], RAW_PREFIX)
    assert {e["key"]: e["sha256"] for e in manifest["files"]} == {
        name: hashlib.sha256(data).hexdigest() for name, data in files.items()
    }
    # Every entry carries what a later promotion needs, resumed ones included.
    assert all(e["content_type"] == "application/json" for e in manifest["files"])
    assert all(len(all_versions(admin, buckets[BRONZE], RAW_PREFIX + n)) == 1 for n in files)


def test_one_failed_object_does_not_hide_the_others(
    s3: S3Endpoint,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    lake: Lake,
    tmp_path: Path,
    transport: str,
) -> None:
    lake.upload_folder(make_folder_at(tmp_path / "src"), SILVER, CLEAN_PREFIX)
    proxy = FaultProxy(s3.url)
    try:
        proxy.faults.cut_body_after = 10
        proxy.faults.cut_when = lambda method, path: (
            method == "GET" and ("page-004" in path or "page-007" in path)
        )
        broken = Lake(config_for(s3, buckets, endpoint_url=proxy.url, transport=transport))
        out = tmp_path / "out"

        with pytest.raises(DatasetIncompleteError) as failed:
            broken.download_prefix(SILVER, CLEAN_PREFIX, out)
    finally:
        proxy.stop()

    result = failed.value.result
    assert [f.relative for f in result.failures] == ["page-004.json", "page-007.json"]  # type: ignore[attr-defined]
    assert all("kept breaking off" in f.message for f in result.failures)  # type: ignore[attr-defined]
    assert failed.value.exit_code == 7
    local = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert len(local) == 10
    assert not [name for name in local if "partial" in name]
    again = lake.download_prefix(SILVER, CLEAN_PREFIX, out)
    assert (again.identical, again.transferred) == (10, 2)


@pytest.mark.parametrize("operation", ["upload", "promote", "download"])
def test_a_server_that_stops_answering_fails_the_job_within_the_timeouts(
    s3: S3Endpoint,
    buckets: dict[StorageLayer, str],
    lake: Lake,
    tmp_path: Path,
    transport: str,
    operation: str,
) -> None:
    """The CRT has no read timeout of its own; lakeops gives it the configured one."""
    source = make_folder_at(tmp_path / "src")
    if operation != "upload":
        lake.upload_folder(source, BRONZE, RAW_PREFIX)
    proxy = FaultProxy(s3.url)
    try:
        proxy.faults.slow_seconds = 60
        proxy.faults.slow_when = lambda method, path: (
            "page-004" in path and method in ("GET", "PUT") and "list-type" not in path
        )
        stalled = Lake(
            config_for(
                s3,
                buckets,
                endpoint_url=proxy.url,
                transport=transport,
                timeouts=Timeouts(read_seconds=1, max_attempts=2),
            )
        )
        started = time.monotonic()
        with pytest.raises(DatasetIncompleteError) as failed:
            if operation == "upload":
                stalled.upload_folder(source, SILVER, CLEAN_PREFIX)
            elif operation == "promote":
                stalled.promote_prefix(BRONZE, RAW_PREFIX, SILVER, CLEAN_PREFIX)
            else:
                stalled.download_prefix(BRONZE, RAW_PREFIX, tmp_path / "out")
        elapsed = time.monotonic() - started
    finally:
        proxy.stop()

    failures = failed.value.result.failures  # type: ignore[attr-defined]
    assert [f.relative for f in failures] == ["page-004.json"]
    assert "did not answer in time" in failures[0].message
    # Two attempts of one second each, give or take a retry's back-off; not minutes.
    assert 2 <= elapsed < 12


def make_folder_at(root: Path) -> Path:
    root.mkdir(parents=True)
    make_folder(root)
    return root


# -- the manifest ------------------------------------------------------------------------------


def test_only_the_first_publish_of_a_dataset_wins(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "part-0.csv").write_text("a\n")
    (second / "part-0.csv").write_text("b\n")
    lake.upload_folder(first, SILVER, CLEAN_PREFIX)

    with pytest.raises(DatasetPublishedError, match="was published"):
        lake.upload_folder(second, SILVER, CLEAN_PREFIX)

    assert (
        admin.get_object(Bucket=buckets[SILVER], Key=CLEAN_PREFIX + "part-0.csv")["Body"].read()
        == b"a\n"
    )
    again = lake.upload_folder(first, SILVER, CLEAN_PREFIX)
    assert again.ok and not again.published and again.identical == 1


def test_an_object_replaced_before_publishing_stops_the_publication(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    # _SUCCESS tells tools that read the live objects that they are complete: what another
    # writer replaced after this job wrote it must not be declared part of the dataset.
    root, _ = folder
    silver = buckets[SILVER]

    def overwrite(progress: JobProgress) -> None:
        if progress.phase == "publishing":
            admin.put_object(Bucket=silver, Key=CLEAN_PREFIX + "page-001.json", Body=b"other")

    with pytest.raises(DatasetIncompleteError, match="changed by another writer"):
        lake.upload_folder(root, SILVER, CLEAN_PREFIX, progress=overwrite)

    stored = keys(admin, silver, CLEAN_PREFIX)
    assert CLEAN_PREFIX + MANIFEST_NAME not in stored
    assert CLEAN_PREFIX + SUCCESS_NAME not in stored


@pytest.mark.requires("put_if_none_match_versioned")
def test_concurrent_publishes_of_different_data_leave_exactly_one_manifest(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    from lakeops.datasets.manifest import ManifestEntry, new_manifest, publish

    ctx = lake.context
    manifests = [
        new_manifest(
            ctx, SILVER, CLEAN_PREFIX, operation="upload", source=f"run {n}",
            source_manifest_version_id=None,
            entries=[ManifestEntry(f"part-{n}.csv", 1, "0" * 64, "e", None)],
        )
        for n in range(6)
    ]  # fmt: skip
    outcomes: list[object] = []

    def attempt(manifest: Any) -> None:
        try:
            outcomes.append(publish(ctx, manifest)[1])
        except DatasetPublishedError as refused:
            outcomes.append(refused)

    threads = [threading.Thread(target=attempt, args=(m,)) for m in manifests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count(True) == 1
    assert sum(isinstance(o, DatasetPublishedError) for o in outcomes) == 5
    assert len(all_versions(admin, buckets[SILVER], CLEAN_PREFIX + MANIFEST_NAME)) == 1


def test_dataset_files_come_from_the_manifest_or_not_at_all(
    lake: Lake, buckets: dict[StorageLayer, str], folder: tuple[Path, dict[str, bytes]]
) -> None:
    root, files = folder
    with pytest.raises(NotPublishedError, match="never published"):
        lake.dataset_files(BRONZE, RAW_PREFIX)
    lake.upload_folder(root, BRONZE, RAW_PREFIX)

    uris = lake.dataset_files(BRONZE, RAW_PREFIX)

    assert sorted(uris) == sorted(f"s3://{buckets[BRONZE]}/{RAW_PREFIX}{n}" for n in files)


def test_dataset_files_refuses_once_the_live_objects_are_not_the_dataset(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    root, files = folder
    lake.upload_folder(root, SILVER, CLEAN_PREFIX)
    silver = buckets[SILVER]
    # Beside the dataset, or the same bytes again: the URIs still read the dataset.
    admin.put_object(Bucket=silver, Key=CLEAN_PREFIX + "stray.json", Body=b"{}")
    lake.upload(root / "page-004.json", SILVER, CLEAN_PREFIX + "page-004.json")
    assert len(lake.dataset_files(SILVER, CLEAN_PREFIX)) == len(files)

    admin.put_object(Bucket=silver, Key=CLEAN_PREFIX + "page-001.json", Body=b"CHANGED")

    with pytest.raises(DatasetChangedError, match=r"page-001\.json \(modified\)") as refused:
        lake.dataset_files(SILVER, CLEAN_PREFIX)
    assert refused.value.exit_code == 8


# -- promotion ---------------------------------------------------------------------------------


def test_a_published_dataset_promotes_with_one_copy_per_object_and_lineage(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    root, files = folder
    lake.upload_folder(root, BRONZE, RAW_PREFIX)
    raw_manifest = manifest_of(admin, buckets[BRONZE], RAW_PREFIX)
    sent = operations(lake)

    result = lake.promote_prefix(BRONZE, RAW_PREFIX, SILVER, CLEAN_PREFIX)

    assert result.ok and result.published and result.transferred == 12
    copies = [op for op in sent if op == "CopyObject"]
    assert len(copies) == 12
    assert "HeadObject" not in sent, "the source manifest gives what a HEAD would"
    silver = buckets[SILVER]
    source_versions = {e["key"]: e["version_id"] for e in raw_manifest["files"]}
    for name in files:
        head = admin.head_object(Bucket=silver, Key=CLEAN_PREFIX + name)
        assert head["Metadata"][META_SOURCE_URI] == f"s3://{buckets[BRONZE]}/{RAW_PREFIX}{name}"
        assert head["Metadata"][META_SOURCE_VERSION_ID] == source_versions[name]
        assert head["ContentType"] == "application/json"
    manifest = manifest_of(admin, silver, CLEAN_PREFIX)
    assert manifest["operation"] == "promote"
    assert manifest["source"] == f"s3://{buckets[BRONZE]}/{RAW_PREFIX}"
    assert manifest["source_manifest_version_id"] is not None
    entry = {e["key"]: e for e in manifest["files"]}["page-001.json"]
    assert entry["source"]["key"] == RAW_PREFIX + "page-001.json"
    assert entry["sha256"] == hashlib.sha256(files["page-001.json"]).hexdigest()


def test_an_unpublished_prefix_promotes_with_a_head_per_object(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    for n in range(3):
        admin.put_object(
            Bucket=buckets[SILVER],
            Key=f"{CLEAN_PREFIX}p{n}.csv",
            Body=b"x\n",
            ContentType="text/csv",
            ContentEncoding="gzip",
            CacheControl="max-age=60",
            ContentDisposition='attachment; filename="p.csv"',
            ContentLanguage="en",
        )
    sent = operations(lake)

    result = lake.promote_prefix(SILVER, CLEAN_PREFIX, GOLD, "reports/events/")

    assert result.transferred == 3
    assert sent.count("HeadObject") == 3 and sent.count("CopyObject") == 3
    head = admin.head_object(Bucket=buckets[GOLD], Key="reports/events/p1.csv")
    # The head of each source says what the copy carries over, whichever transport asked.
    assert head["ContentType"] == "text/csv"
    assert head["ContentEncoding"] == "gzip"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == 'attachment; filename="p.csv"'
    assert head["ContentLanguage"] == "en"


def test_promotion_into_a_prefix_outside_the_target_layer_is_refused(
    lake: Lake, folder: tuple[Path, dict[str, bytes]]
) -> None:
    root, _ = folder
    lake.upload_folder(root, BRONZE, RAW_PREFIX)
    with pytest.raises(InvalidKeyError, match="outside silver's prefixes"):
        lake.promote_prefix(BRONZE, RAW_PREFIX, SILVER, RAW_PREFIX)


def test_a_resumed_promotion_skips_what_was_copied(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    root, _ = folder
    lake.upload_folder(root, BRONZE, RAW_PREFIX)
    lake.promote_prefix(BRONZE, RAW_PREFIX, SILVER, CLEAN_PREFIX, include="late/*", publish=False)

    result = lake.promote_prefix(BRONZE, RAW_PREFIX, SILVER, CLEAN_PREFIX)

    assert (result.identical, result.transferred) == (4, 8)
    manifest = manifest_of(admin, buckets[SILVER], CLEAN_PREFIX)
    assert len(manifest["files"]) == 12
    assert all(e["source"]["key"].startswith(RAW_PREFIX) for e in manifest["files"])


def test_the_same_bytes_written_by_others_are_copied_again_to_carry_lineage(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    root, files = folder
    lake.upload_folder(root, BRONZE, RAW_PREFIX)
    silver = buckets[SILVER]
    admin.put_object(Bucket=silver, Key=CLEAN_PREFIX + "page-001.json", Body=files["page-001.json"])

    result = lake.promote_prefix(BRONZE, RAW_PREFIX, SILVER, CLEAN_PREFIX)

    assert (result.changed, result.transferred) == (1, 12)
    head = admin.head_object(Bucket=silver, Key=CLEAN_PREFIX + "page-001.json")
    assert head["Metadata"][META_SOURCE_URI] == f"s3://{buckets[BRONZE]}/{RAW_PREFIX}page-001.json"
    entry = {e["key"]: e for e in manifest_of(admin, silver, CLEAN_PREFIX)["files"]}
    assert entry["page-001.json"]["version_id"] == head.get("VersionId")


# -- download ----------------------------------------------------------------------------------


def test_a_published_dataset_downloads_as_published_whatever_was_written_since(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
    tmp_path: Path,
) -> None:
    root, files = folder
    lake.upload_folder(root, SILVER, CLEAN_PREFIX)
    admin.put_object(Bucket=buckets[SILVER], Key=CLEAN_PREFIX + "page-001.json", Body=b"later")
    admin.put_object(Bucket=buckets[SILVER], Key=CLEAN_PREFIX + "unpublished.json", Body=b"{}")
    out = tmp_path / "out"
    sent = operations(lake)

    result = lake.download_prefix(SILVER, CLEAN_PREFIX, out)

    assert result.transferred == 12
    assert {
        p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
    } == files
    assert "HeadObject" not in sent and sent.count("GetObject") == 13  # the manifest, and each
    live = lake.download_prefix(SILVER, CLEAN_PREFIX, tmp_path / "live", use_manifest=False)
    assert live.transferred == 15  # the live objects, the manifest and _SUCCESS among them


@pytest.mark.parametrize("size", [2048, 6 * 1024 * 1024], ids=["single-get", "ranged-gets"])
def test_a_live_download_checks_every_object_against_its_recorded_sha256(
    s3: S3Endpoint,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
    size: int,
) -> None:
    # An unpublished prefix: the listing gives no SHA-256, so each object's own does.
    silver = buckets[SILVER]
    lie = {META_SHA256: hashlib.sha256(b"something else").hexdigest()}
    admin.put_object(
        Bucket=silver, Key=CLEAN_PREFIX + "bad.bin", Body=os.urandom(size), Metadata=lie
    )
    admin.put_object(Bucket=silver, Key=CLEAN_PREFIX + "good.bin", Body=b"fine")
    small_parts = TransferSettings(multipart_threshold=5 * 1024 * 1024)
    lake = Lake(config_for(s3, buckets, transport=transport), transfer=small_parts)
    out = tmp_path / "out"

    with pytest.raises(DatasetIncompleteError) as failed:
        lake.download_prefix(SILVER, CLEAN_PREFIX, out)

    failures = failed.value.result.failures  # type: ignore[attr-defined]
    assert [(f.relative, f.exit_code) for f in failures] == [("bad.bin", 8)]
    assert sorted(p.name for p in out.iterdir()) == ["good.bin"]


@pytest.mark.parametrize("operation", ["download", "promote"])
def test_a_dataset_whose_published_version_is_gone_is_read_whole_or_not_at_all(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
    tmp_path: Path,
    operation: str,
) -> None:
    root, _ = folder
    lake.upload_folder(root, SILVER, CLEAN_PREFIX)
    silver = buckets[SILVER]
    # What noncurrent-version expiry does to a published version once it has been replaced.
    gone = CLEAN_PREFIX + "page-002.json"
    published = admin.head_object(Bucket=silver, Key=gone)["VersionId"]
    admin.put_object(Bucket=silver, Key=gone, Body=b"later")
    admin.delete_object(Bucket=silver, Key=gone, VersionId=published)
    out = tmp_path / "out"

    with pytest.raises(DatasetInvalidError, match="no longer exists") as refused:
        if operation == "download":
            lake.download_prefix(SILVER, CLEAN_PREFIX, out)
        else:
            lake.promote_prefix(SILVER, CLEAN_PREFIX, GOLD, "aggregated/events/")

    assert "page-002.json" in refused.value.message
    assert not out.exists() or not any(out.iterdir())
    assert keys(admin, buckets[GOLD], "aggregated/") == []


def test_keys_a_disk_cannot_hold_together_stop_a_download_before_it_starts(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    for key in ("x", "x/y", "x/z/w", "fine.csv"):
        admin.put_object(Bucket=buckets[SILVER], Key=CLEAN_PREFIX + key, Body=b"1")
    out = tmp_path / "out"

    with pytest.raises(DatasetInvalidError) as refused:
        lake.download_prefix(SILVER, CLEAN_PREFIX, out)

    notes = {i.relative: i.note for i in refused.value.result.items if i.note}  # type: ignore[attr-defined]
    assert set(notes) == {"x", "x/y", "x/z/w"}
    assert "both an object and a folder" in notes["x"]
    assert not out.exists() or not any(out.iterdir())


def test_a_download_never_writes_through_a_link_in_its_folder(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    admin.put_object(Bucket=buckets[SILVER], Key=CLEAN_PREFIX + "sub/a.csv", Body=b"1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(DatasetInvalidError, match="a link is in the way"):
        lake.download_prefix(SILVER, CLEAN_PREFIX, out, overwrite=True)

    assert list(elsewhere.iterdir()) == []


def test_local_files_in_the_way_are_conflicts_unless_overwritten(
    lake: Lake, folder: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    root, files = folder
    lake.upload_folder(root, SILVER, CLEAN_PREFIX)
    out = tmp_path / "out"
    (out / "late").mkdir(parents=True)
    (out / "page-001.json").write_bytes(b"mine")
    (out / "late" / "page-000.json").write_bytes(files["late/page-000.json"])

    with pytest.raises(DatasetConflictError, match="1 of 12 objects already exist"):
        lake.download_prefix(SILVER, CLEAN_PREFIX, out)
    assert (out / "page-001.json").read_bytes() == b"mine"
    assert sorted(p.name for p in out.iterdir()) == ["late", "page-001.json"]

    result = lake.download_prefix(SILVER, CLEAN_PREFIX, out, overwrite=True)
    assert (result.changed, result.identical, result.new) == (1, 1, 10)
    assert (out / "page-001.json").read_bytes() == files["page-001.json"]


def test_a_rerun_download_removes_stale_partial_files(
    lake: Lake, folder: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    root, _ = folder
    lake.upload_folder(root, SILVER, CLEAN_PREFIX)
    out = tmp_path / "out"
    out.mkdir()
    # What a download killed with SIGKILL leaves: its temporary file.
    (out / ".page-001.json.0123456789ab.lakeops-partial").write_bytes(b"half")

    lake.download_prefix(SILVER, CLEAN_PREFIX, out)

    assert not list(out.rglob("*.lakeops-partial"))


def test_a_replaced_bronze_object_stops_a_live_download(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
    tmp_path: Path,
) -> None:
    root, _ = folder
    lake.upload_folder(root, BRONZE, RAW_PREFIX, publish=False)
    admin.put_object(Bucket=buckets[BRONZE], Key=RAW_PREFIX + "page-002.json", Body=b"forged")

    with pytest.raises(DatasetInvalidError, match=r"page-002.json \(bronze object replaced"):
        lake.download_prefix(BRONZE, RAW_PREFIX, tmp_path / "out")


# -- progress ----------------------------------------------------------------------------------


# -- verify ------------------------------------------------------------------------------------


def test_verify_compares_a_published_dataset_with_its_manifest(
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
) -> None:
    root, files = folder
    lake.upload_folder(root, SILVER, CLEAN_PREFIX)
    silver = buckets[SILVER]
    assert lake.verify_dataset(SILVER, CLEAN_PREFIX, deep=True).ok

    admin.put_object(Bucket=silver, Key=CLEAN_PREFIX + "page-001.json", Body=b"other")
    admin.delete_object(Bucket=silver, Key=CLEAN_PREFIX + "page-002.json")
    admin.put_object(Bucket=silver, Key=CLEAN_PREFIX + "stray.json", Body=b"{}")
    lake.upload(root / "page-004.json", SILVER, CLEAN_PREFIX + "page-004.json")

    report = lake.verify_dataset(SILVER, CLEAN_PREFIX)

    results = {row.key: row.result for row in report.rows if row.result != "ok"}
    assert results == {
        "page-001.json": "modified",
        "page-002.json": "deleted",
        "stray.json": "extra",
        "page-004.json": "ok (rewritten, same content)",
    }
    assert not report.ok and report.summary().startswith("3 of 13 objects differ")
    assert len(files) == 12


def test_deep_verify_checks_objects_other_tools_wrote_by_their_md5(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    # Written by another tool: no recorded SHA-256, so the manifest has none either.
    for n in range(3):
        admin.put_object(Bucket=buckets[BRONZE], Key=f"api/foreign/p{n}.json", Body=b"{}")
    lake.promote_prefix(BRONZE, "api/foreign/", SILVER, "cleaned/foreign/")

    report = lake.verify_dataset(SILVER, "cleaned/foreign/", deep=True)

    assert report.ok, report.rows
    assert [row.result for row in report.rows] == ["ok"] * 3


def test_progress_reports_the_whole_job(lake: Lake, folder: tuple[Path, dict[str, bytes]]) -> None:
    root, files = folder
    seen: list[JobProgress] = []
    record: Callable[[JobProgress], None] = seen.append

    lake.upload_folder(root, BRONZE, RAW_PREFIX, progress=record)

    phases = [p.phase for p in seen]
    assert phases[0] == "planning" and phases[-1] == "done"
    assert "transferring" in phases and "publishing" in phases
    transferring = [p for p in seen if p.phase == "transferring"]
    assert transferring[-1].files_done == transferring[-1].files_total == 12
    assert max(p.bytes_done for p in transferring) == sum(len(d) for d in files.values())


# -- lineage -----------------------------------------------------------------------------------


def test_a_promotion_emits_openlineage_events_the_client_model_accepts(
    lake: Lake,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
    tmp_path: Path,
) -> None:
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
    from openlineage.client.event_v2 import RunState as EventType
    from openlineage.client.serde import Serde

    root, files = folder
    lake.upload_folder(root, BRONZE, RAW_PREFIX)
    events_file = tmp_path / "lineage.jsonl"

    result = lake.promote_prefix(
        BRONZE, RAW_PREFIX, SILVER, CLEAN_PREFIX, lineage=f"file:{events_file}"
    )

    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"]
    endpoint = lake.config.endpoint_url
    (source,) = events[1]["inputs"]
    (target,) = events[1]["outputs"]
    # The namespace carries the endpoint, so dev's "raw" and a production "raw" never meet.
    assert (source["namespace"], source["name"]) == (
        endpoint,
        f"{buckets[BRONZE]}/{RAW_PREFIX}".rstrip("/"),
    )
    assert (target["namespace"], target["name"]) == (
        endpoint,
        f"{buckets[SILVER]}/{CLEAN_PREFIX}".rstrip("/"),
    )
    assert target["facets"]["outputStatistics"]["fileCount"] == 12
    assert target["facets"]["outputStatistics"]["size"] == sum(len(d) for d in files.values())
    assert target["facets"]["version"]["datasetVersion"] == result.manifest_version_id
    assert source["facets"]["version"]["datasetVersion"] is not None
    # Rebuilt through the OpenLineage client's own model (which validates run ids, times and
    # event types), each event serialises back to exactly what was emitted.
    for emitted in events:
        rebuilt = RunEvent(
            eventType=EventType[emitted["eventType"]],
            eventTime=emitted["eventTime"],
            run=Run(runId=emitted["run"]["runId"]),
            job=Job(namespace=emitted["job"]["namespace"], name=emitted["job"]["name"]),
            inputs=[
                InputDataset(namespace=d["namespace"], name=d["name"]) for d in emitted["inputs"]
            ],
            outputs=[
                OutputDataset(namespace=d["namespace"], name=d["name"]) for d in emitted["outputs"]
            ],
            producer=emitted["producer"],
        )
        again = Serde.to_dict(rebuilt)
        for field in ("eventType", "eventTime", "job", "producer", "schemaURL"):
            assert again[field] == emitted[field]
        # (The client adds a run facet of its own: its version, as a tag.)
        assert again["run"]["runId"] == emitted["run"]["runId"]
        assert [(d["namespace"], d["name"]) for d in again["outputs"]] == [
            (d["namespace"], d["name"]) for d in emitted["outputs"]
        ]


def test_a_lineage_server_that_is_down_neither_stops_nor_fails_a_promotion(
    s3: S3Endpoint,
    buckets: dict[StorageLayer, str],
    folder: tuple[Path, dict[str, bytes]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("openlineage.client")
    lake = Lake(config_for(s3, buckets))
    root, _ = folder
    lake.upload_folder(root, BRONZE, RAW_PREFIX)
    nobody = f"http://127.0.0.1:{free_port()}"

    with caplog.at_level("WARNING", logger="lakeops"):
        result = lake.promote_prefix(BRONZE, RAW_PREFIX, SILVER, CLEAN_PREFIX, lineage=nobody)

    assert result.ok and result.published and result.transferred == 12
    warnings = [r.getMessage() for r in caplog.records if "OpenLineage" in r.getMessage()]
    assert len(warnings) == 2
    assert "START" in warnings[0] and "COMPLETE" in warnings[1] and nobody in warnings[0]


def test_lineage_on_aws_uses_the_s3_naming_of_the_spec() -> None:
    from lakeops import LakeConfig
    from lakeops.datasets.lineage import dataset_name

    buckets = {"bronze": "acme-raw", "silver": "acme-staging", "gold": "acme-curated"}
    config = LakeConfig.resolve(backend="aws", region="eu-west-1", buckets=buckets, env={})

    assert dataset_name(config, "acme-raw", "postgres/users/") == (
        "s3://acme-raw",
        "postgres/users",
    )
