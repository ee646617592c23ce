"""Trust nothing the lake holds: whoever can write to a bucket (another pipeline, a compromised
job, a tool run as root) or into a download folder must not be able to make lakeops write
outside that folder, delete a user's files, publish what it did not check, follow a manifest
elsewhere, or print a secret.

Each test plants hostile content with a plain admin client and runs lakeops as a pipeline
would: the installed command in its own process (or the library, for library calls), over
real HTTP, on both transports of the dataset jobs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import pytest

from lakeops import (
    ConfigurationError,
    DatasetChangedError,
    Lake,
    StorageLayer,
    ValidationError,
)
from lakeops.cli.exits import EXIT_DRIFT
from lakeops.errors import (
    DatasetConflictError,
    DatasetInvalidError,
    EndpointUnreachableError,
    LocalFileError,
    StorageError,
)
from lakeops.ops.download_folder import DownloadFolder
from tests.conftest import config_for
from tests.support.commands import command_env, run_lakeops, start_lakeops
from tests.support.faults import FaultProxy
from tests.support.s3server import S3Endpoint, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

BRONZE, SILVER, GOLD = StorageLayer.BRONZE, StorageLayer.SILVER, StorageLayer.GOLD
MANIFEST = "_lakeops_manifest.json"
transports = pytest.mark.parametrize("transport", ["crt", "boto3"])


@pytest.fixture
def proxy(s3: S3Endpoint) -> Iterator[FaultProxy]:
    proxied = FaultProxy(s3.url)
    yield proxied
    proxied.stop()


Plant = Callable[[str, str, bytes], None]


@pytest.fixture
def plant(admin: S3Client, buckets: dict[StorageLayer, str]) -> Iterator[Plant]:
    """Put an object with a key some servers cannot list versions of (moto answers 500 to
    ListObjectVersions with a control character in a key), removed by its version after."""
    planted: list[tuple[str, str, str | None]] = []

    def put(bucket: str, key: str, body: bytes) -> None:
        written = admin.put_object(Bucket=bucket, Key=key, Body=body)
        planted.append((bucket, key, written.get("VersionId")))

    yield put
    for bucket, key, version in planted:
        if version:
            admin.delete_object(Bucket=bucket, Key=key, VersionId=version)
        else:
            admin.delete_object(Bucket=bucket, Key=key)


def folder_of(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def files_below(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def read_manifest_document(admin: S3Client, bucket: str, prefix: str) -> dict[str, Any]:
    body = admin.get_object(Bucket=bucket, Key=prefix + MANIFEST)["Body"].read()
    document: dict[str, Any] = json.loads(body)
    return document


def plant_manifest(admin: S3Client, bucket: str, prefix: str, document: dict[str, Any]) -> None:
    admin.put_object(Bucket=bucket, Key=prefix + MANIFEST, Body=json.dumps(document).encode())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- 1: a lineage token is never printed --------------------------------------------------------


@transports
@pytest.mark.parametrize("given", ["option", "environment"])
def test_a_lineage_token_is_never_printed(
    s3: S3Endpoint,
    lake: Lake,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
    given: str,
) -> None:
    lake.upload_folder(folder_of(tmp_path / "in", {"a.csv": b"id\n1\n"}), SILVER, "cleaned/l/")
    # Nothing listens there: every event "could not be sent", with the URL in the warning.
    port = free_port()
    url = f"http://lineage:S3cretT0ken@127.0.0.1:{port}/api/v1/lineage?api_key=K3yT0ken99"
    env = command_env(s3, buckets, transport=transport)
    argv = ["promote", "--recursive", "silver", "cleaned/l/", "gold", "aggregated/l/"]
    if given == "option":
        argv += ["--lineage", url]
    else:
        env["LAKEOPS_LINEAGE"] = url

    ended = run_lakeops(["--debug", *argv], env)

    assert ended.returncode == 0, ended.stderr
    assert "could not be sent" in ended.stderr
    printed = ended.stdout + ended.stderr
    assert "S3cretT0ken" not in printed
    assert "K3yT0ken99" not in printed
    assert f"127.0.0.1:{port}/api/v1/lineage?api_key=****" in ended.stderr  # where, still shown


# -- 2: a link swapped in mid-download is never written through ---------------------------------


@transports
def test_a_link_swapped_in_during_a_download_is_never_written_through(
    s3: S3Endpoint,
    proxy: FaultProxy,
    lake: Lake,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
) -> None:
    files = {"first.txt": b"first\n", **{f"sub/f{n:02}.txt": b"x" * n for n in range(10)}}
    lake.upload_folder(folder_of(tmp_path / "in", files), SILVER, "cleaned/fs/")
    # The GETs below sub/ wait until the link is in place: after the first file landed and
    # once both workers are busy with sub/, the swap happens; then they go on.
    proxy.faults.hold_when = lambda method, path: method == "GET" and "/cleaned/fs/sub/" in path
    download, outside = tmp_path / "dl", tmp_path / "outside"
    outside.mkdir()
    env = command_env(s3, buckets, endpoint_url=proxy.url, transport=transport)
    argv = ["download", "--recursive", "--workers", "2", "silver", "cleaned/fs/", str(download)]
    process = start_lakeops(argv, env)
    deadline = time.monotonic() + 60
    while not ((download / "first.txt").exists() and len(proxy.faults.held) >= 2):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the download never reached sub/"
        time.sleep(0.05)
    (download / "sub").rename(download / "sub-before")
    (download / "sub").symlink_to(outside, target_is_directory=True)
    proxy.release_held()
    _, err = process.communicate(timeout=60)

    assert files_below(outside) == []
    assert process.returncode == 2, err
    assert "link" in err
    # What the job had begun before the swap finished in the folder it began in.
    assert set(files_below(download / "sub-before")) <= {f"f{n:02}.txt" for n in range(10)}
    assert (download / "first.txt").read_bytes() == b"first\n"


# -- 3 and 9: lakeops removes only its own temporaries; such names are ordinary ----------------


@transports
def test_a_download_removes_only_the_temporaries_it_would_have_made(
    s3: S3Endpoint, lake: Lake, buckets: dict[StorageLayer, str], tmp_path: Path, transport: str
) -> None:
    files = {"a.csv": b"a\n", "mine/b.csv": b"b\n"}
    lake.upload_folder(folder_of(tmp_path / "in", files), SILVER, "cleaned/x/")
    download = folder_of(
        tmp_path / "dl",
        {
            "mine/thesis.lakeops-partial": b"three years of work",
            "mine/.b.csv.not-twelve-hex.lakeops-partial": b"not lakeops' shape",
            ".other.csv.0123456789ab.lakeops-partial": b"no such object in the dataset",
            # An interrupted download of this very dataset left these: they go.
            ".a.csv.0123456789ab.lakeops-partial": b"stale",
            "mine/.b.csv.ba9876543210.lakeops-partial": b"stale",
        },
    )
    env = command_env(s3, buckets, transport=transport)

    ended = run_lakeops(["download", "--recursive", "silver", "cleaned/x/", str(download)], env)

    assert ended.returncode == 0, ended.stderr
    assert (download / "mine/thesis.lakeops-partial").read_bytes() == b"three years of work"
    assert files_below(download) == [
        ".other.csv.0123456789ab.lakeops-partial",
        "a.csv",
        "mine/.b.csv.not-twelve-hex.lakeops-partial",
        "mine/b.csv",
        "mine/thesis.lakeops-partial",
    ]


@transports
def test_an_object_named_like_a_temporary_is_downloaded_and_kept(
    s3: S3Endpoint,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
) -> None:
    admin.put_object(Bucket=buckets[SILVER], Key="cleaned/p/data.lakeops-partial", Body=b"data")
    admin.put_object(Bucket=buckets[SILVER], Key="cleaned/p/other.csv", Body=b"other")
    env = command_env(s3, buckets, transport=transport)
    argv = ["download", "--recursive", "silver", "cleaned/p/", str(tmp_path / "dl")]

    first, again = run_lakeops(argv, env), run_lakeops(argv, env)

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "dl/data.lakeops-partial").read_bytes() == b"data"
    assert files_below(tmp_path / "dl") == ["data.lakeops-partial", "other.csv"]


@transports
def test_an_upload_takes_files_named_like_temporaries_or_says_why_not(
    s3: S3Endpoint,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
) -> None:
    env = command_env(s3, buckets, transport=transport)
    ordinary = folder_of(tmp_path / "model", {"model.lakeops-partial": b"w", "a.csv": b"a"})

    ended = run_lakeops(["upload", "--recursive", str(ordinary), "silver", "cleaned/m/"], env)

    assert ended.returncode == 0, ended.stderr
    document = read_manifest_document(admin, buckets[SILVER], "cleaned/m/")
    assert sorted(entry["key"] for entry in document["files"]) == ["a.csv", "model.lakeops-partial"]

    # One of lakeops' own temporaries (an interrupted download left it): reported, not skipped.
    left = folder_of(tmp_path / "left", {"a.csv": b"a", ".a.csv.0123456789ab.lakeops-partial": b""})
    refused = run_lakeops(["upload", "--recursive", str(left), "silver", "cleaned/t/"], env)

    assert refused.returncode == DatasetInvalidError.exit_code, refused.stderr
    assert ".a.csv.0123456789ab.lakeops-partial" in refused.stderr
    assert "temporary" in refused.stderr
    assert "Contents" not in admin.list_objects_v2(Bucket=buckets[SILVER], Prefix="cleaned/t/")


# -- 4: a resume never calls an object with an unverified recorded SHA-256 identical -----------


@transports
@pytest.mark.parametrize("layer", [SILVER, BRONZE], ids=["silver", "bronze"])
def test_a_resume_never_publishes_an_object_whose_recorded_sha256_is_not_its_own(
    s3: S3Endpoint,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
    layer: StorageLayer,
) -> None:
    # What a first run leaves when the file changed between its hashing and its upload: the
    # new bytes stored, the old hash recorded. Its ETag matches the local file now.
    before, after = b"id\n1\n" * 1000, b"id\n2\n" * 1000
    prefix = "cleaned/r/" if layer is SILVER else "files/r/"
    admin.put_object(
        Bucket=buckets[layer],
        Key=prefix + "data.csv",
        Body=after,
        Metadata={"lakeops-sha256": sha256(before)},
    )
    folder = folder_of(tmp_path / "in", {"data.csv": after})
    env = command_env(s3, buckets, transport=transport)

    ended = run_lakeops(["upload", "--recursive", str(folder), layer.value, prefix], env)

    if layer is SILVER:
        # Silver may be replaced: the object is written again, with its true hash.
        assert ended.returncode == 0, ended.stderr
        document = read_manifest_document(admin, buckets[layer], prefix)
        assert [entry["sha256"] for entry in document["files"]] == [sha256(after)]
        fetched = run_lakeops(
            ["download", "--recursive", layer.value, prefix, str(tmp_path / "dl")], env
        )
        assert fetched.returncode == 0, fetched.stderr
    else:
        # Bronze never overwrites: refused, and nothing published.
        assert ended.returncode == DatasetConflictError.exit_code, ended.stderr
        assert "SHA-256" in ended.stderr
        listed = admin.list_objects_v2(Bucket=buckets[layer], Prefix=prefix)
        assert [o["Key"] for o in listed["Contents"]] == [prefix + "data.csv"]


# -- 5: verify and dataset_files check what a reader would read --------------------------------


@transports
@pytest.mark.parametrize("deep", [True, False], ids=["deep", "by-version"])
def test_an_object_replaced_with_its_old_metadata_is_found(
    s3: S3Endpoint,
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
    deep: bool,
) -> None:
    lake.upload_folder(
        folder_of(tmp_path / "in", {"a.csv": b"id\n1\n", "b.csv": b"id\n2\n"}), SILVER, "cleaned/v/"
    )
    head = admin.head_object(Bucket=buckets[SILVER], Key="cleaned/v/a.csv")
    admin.put_object(
        Bucket=buckets[SILVER], Key="cleaned/v/a.csv", Body=b"id\n6\n", Metadata=head["Metadata"]
    )
    env = command_env(s3, buckets, transport=transport)

    ended = run_lakeops(["verify", "silver", "cleaned/v/", *(["--deep"] if deep else [])], env)

    assert ended.returncode == EXIT_DRIFT, ended.stdout + ended.stderr
    assert "1 of 2 objects differ" in ended.stdout
    with pytest.raises(DatasetChangedError, match=r"a\.csv"):
        Lake(config_for(s3, buckets, transport=transport)).dataset_files(SILVER, "cleaned/v/")


# -- 6, 7, 8: a manifest is checked before it steers anything ----------------------------------


@transports
@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"headers": {"StorageClass": "GLACIER"}}, "StorageClass"),
        ({"headers": {"WebsiteRedirectLocation": "http://evil.example/"}}, "WebsiteRedirect"),
        ({"headers": {"CacheControl": "no-cache\r\nx-amz-storage-class: GLACIER"}}, "CacheControl"),
        ({"headers": {"ContentLanguage": 7}}, "ContentLanguage"),
        ({"metadata": {"a\r\nx-amz-storage-class": "GLACIER"}}, "metadata"),
        ({"content_type": "text/csv\nx: y"}, "content type"),
    ],
    ids=["storage-class", "redirect", "header-injection", "not-a-string", "metadata", "type"],
)
def test_a_source_manifest_cannot_steer_a_promotions_writes(
    s3: S3Endpoint,
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
    change: dict[str, Any],
    named: str,
) -> None:
    files = {"a.csv": b"id\n1\n", "b.csv": b"id\n2\n"}
    lake.upload_folder(folder_of(tmp_path / "in", files), SILVER, "cleaned/h/")
    document = read_manifest_document(admin, buckets[SILVER], "cleaned/h/")
    document["files"][1].update(change)
    plant_manifest(admin, buckets[SILVER], "cleaned/h/", document)
    env = command_env(s3, buckets, transport=transport)

    ended = run_lakeops(
        ["promote", "--recursive", "silver", "cleaned/h/", "gold", "aggregated/h/"], env
    )

    assert ended.returncode == ConfigurationError.exit_code, ended.stderr
    assert "b.csv" in ended.stderr and named in ended.stderr
    assert "Traceback" not in ended.stderr
    assert "Contents" not in admin.list_objects_v2(Bucket=buckets[GOLD])


@transports
def test_a_manifest_naming_another_prefix_is_refused(
    s3: S3Endpoint,
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
) -> None:
    lake.upload_folder(folder_of(tmp_path / "a", {"a.csv": b"a\n"}), SILVER, "cleaned/a/")
    lake.upload_folder(folder_of(tmp_path / "b", {"b.csv": b"b\n"}), SILVER, "cleaned/b/")
    admin.copy_object(
        Bucket=buckets[SILVER],
        Key="cleaned/a/" + MANIFEST,
        CopySource={"Bucket": buckets[SILVER], "Key": "cleaned/b/" + MANIFEST},
    )
    env = command_env(s3, buckets, transport=transport)

    with pytest.raises(ConfigurationError, match="cleaned/b/"):
        Lake(config_for(s3, buckets, transport=transport)).dataset_files(SILVER, "cleaned/a/")
    ended = run_lakeops(["download", "--recursive", "silver", "cleaned/a/", str(tmp_path)], env)

    assert ended.returncode == ConfigurationError.exit_code, ended.stderr
    assert "cleaned/b/" in ended.stderr
    assert not (tmp_path / "b.csv").exists() and not (tmp_path / "a.csv").exists()


def _object_gets(method: str, path: str) -> bool:
    return method == "GET" and "/cleaned/s/" in path and MANIFEST not in path


@transports
@pytest.mark.parametrize("claimed", [10**10, 10], ids=["larger", "smaller"])
def test_a_manifests_size_is_checked_before_any_part_is_planned(
    s3: S3Endpoint,
    proxy: FaultProxy,
    lake: Lake,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
    claimed: int,
) -> None:
    lake.upload_folder(folder_of(tmp_path / "in", {"a.csv": b"x" * 100}), SILVER, "cleaned/s/")
    document = read_manifest_document(admin, buckets[SILVER], "cleaned/s/")
    document["files"][0]["size"] = claimed
    plant_manifest(admin, buckets[SILVER], "cleaned/s/", document)
    env = command_env(s3, buckets, endpoint_url=proxy.url, transport=transport)

    ended = run_lakeops(
        ["download", "--recursive", "silver", "cleaned/s/", str(tmp_path / "dl")], env
    )

    assert ended.returncode == DatasetInvalidError.exit_code, ended.stderr
    assert f"{claimed} bytes" in ended.stderr and "a.csv" in ended.stderr
    assert [seen for seen in proxy.faults.seen if _object_gets(*seen)] == []
    assert not (tmp_path / "dl").exists() or files_below(tmp_path / "dl") == []


# -- 10, 11, 12: errors say what happened, safely, before anything is written ------------------


@transports
def test_throttling_is_reported_as_such_on_both_transports(
    s3: S3Endpoint,
    proxy: FaultProxy,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
) -> None:
    # Every object write is refused with 503 SlowDown; listings and HEADs go through.
    proxy.faults.refuse_when = lambda method, path: method == "PUT" and "/cleaned/" in path
    folder = folder_of(tmp_path / "in", {"a.csv": b"a\n", "b.csv": b"b\n"})
    env = command_env(s3, buckets, endpoint_url=proxy.url, transport=transport)

    ended = run_lakeops(["upload", "--recursive", str(folder), "silver", "cleaned/slow/"], env)

    assert ended.returncode == StorageError.exit_code, ended.stderr
    assert "overloaded (SlowDown)" in ended.stderr
    assert "Is MinIO running" not in ended.stderr


@transports
def test_control_characters_in_keys_never_reach_the_terminal_raw(
    s3: S3Endpoint,
    plant: Plant,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
) -> None:
    name = "\x1b]0;owned\x07\x1b[2Jred.csv"
    plant(buckets[SILVER], f"cleaned/c/{name}", b"theirs")
    download = folder_of(tmp_path / "dl", {name: b"mine, longer"})
    env = command_env(s3, buckets, transport=transport)

    ended = run_lakeops(["download", "--recursive", "silver", "cleaned/c/", str(download)], env)

    assert ended.returncode == DatasetConflictError.exit_code, ended.stderr
    assert "\x1b" not in ended.stderr and "\x07" not in ended.stderr
    assert "\\x1b]0;owned\\x07\\x1b[2Jred.csv" in ended.stderr


@transports
@pytest.mark.parametrize(
    ("bad", "reason"),
    [("x" * 256 + ".csv", "255 bytes"), ("a\x00b.csv", "NUL")],
    ids=["long-segment", "nul"],
)
def test_unusable_local_names_are_reported_at_plan_time(
    s3: S3Endpoint,
    plant: Plant,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
    bad: str,
    reason: str,
) -> None:
    try:
        plant(buckets[SILVER], f"cleaned/u/{bad}", b"bad")
    except botocore.exceptions.ClientError as refused:  # a server may refuse such a key itself
        pytest.skip(f"{s3.kind} does not store the key: {refused}")
    plant(buckets[SILVER], "cleaned/u/ok.csv", b"ok")
    env = command_env(s3, buckets, transport=transport)
    argv = ["download", "--recursive", "silver", "cleaned/u/", str(tmp_path / "dl")]

    first, again = run_lakeops(argv, env), run_lakeops(argv, env)

    for ended in (first, again):
        assert ended.returncode == DatasetInvalidError.exit_code, ended.stderr
        assert "nothing was" in ended.stderr and reason in ended.stderr
    assert not (tmp_path / "dl").exists() or files_below(tmp_path / "dl") == []


# -- 13, 14, 15: bad input is refused before any request, on either transport ------------------


@transports
def test_an_empty_access_key_is_a_configuration_error_before_any_request(
    s3: S3Endpoint,
    proxy: FaultProxy,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
) -> None:
    folder = folder_of(tmp_path / "in", {"a.csv": b"a\n"})
    with pytest.raises(ConfigurationError, match="access key"):
        Lake(
            config_for(s3, buckets, endpoint_url=proxy.url, transport=transport, access_key_id="")
        ).upload_folder(folder, SILVER, "cleaned/e/")
    # From an AWS profile whose key is empty.
    credentials = tmp_path / "credentials"
    credentials.write_text("[empty]\naws_access_key_id =\naws_secret_access_key = secret-key\n")
    env = command_env(s3, buckets, endpoint_url=proxy.url, transport=transport)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env.update(
        AWS_PROFILE="empty",
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
    )

    ended = run_lakeops(["upload", "--recursive", str(folder), "silver", "cleaned/e/"], env)

    assert ended.returncode == ConfigurationError.exit_code, ended.stderr
    assert "access key" in ended.stderr and "Traceback" not in ended.stderr
    assert proxy.faults.seen == []


@transports
def test_bad_paths_and_keys_are_validation_errors_before_any_request(
    s3: S3Endpoint,
    proxy: FaultProxy,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
) -> None:
    lake = Lake(config_for(s3, buckets, endpoint_url=proxy.url, transport=transport))

    with pytest.raises(ValidationError, match="NUL"):
        lake.download(SILVER, "cleaned/x.csv", str(tmp_path / "a\x00b.csv"))
    with pytest.raises(ValidationError, match="NUL"):
        lake.download_prefix(SILVER, "cleaned/", str(tmp_path / "d\x00l"))
    with pytest.raises(ValidationError, match="NUL"):
        lake.upload(str(tmp_path / "a\x00b.csv"), SILVER, "cleaned/x.csv")
    with pytest.raises(ValidationError, match="object key must be a string, not 42"):
        lake.download(SILVER, 42, tmp_path / "x.csv")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="object key must be a string, not 42"):
        lake.upload(tmp_path, SILVER, 42)  # type: ignore[arg-type]

    assert proxy.faults.seen == []


# -- 16: a silent server is given up on within 30 s by default ---------------------------------


@pytest.mark.slow
@transports
def test_a_silent_server_is_given_up_on_within_thirty_seconds(
    s3: S3Endpoint,
    proxy: FaultProxy,
    lake: Lake,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
) -> None:
    lake.upload_folder(folder_of(tmp_path / "in", {"a.csv": b"a\n"}), SILVER, "cleaned/q/")
    # The listing is answered; the object's GET (on the transport under test) never is.
    proxy.faults.hold_when = lambda method, path: method == "GET" and "/cleaned/q/a.csv" in path
    env = command_env(s3, buckets, endpoint_url=proxy.url, transport=transport)
    del env["LAKEOPS_READ_TIMEOUT"]
    for variable in ("LAKEOPS_CONNECT_TIMEOUT", "LAKEOPS_MAX_ATTEMPTS"):
        env.pop(variable, None)

    process = start_lakeops(
        ["download", "--recursive", "silver", "cleaned/q/", str(tmp_path / "dl")], env
    )
    deadline = time.monotonic() + 60
    while not proxy.faults.held:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the GET never came"
        time.sleep(0.02)
    asked = time.monotonic()
    _, err = process.communicate(timeout=120)
    elapsed = time.monotonic() - asked

    assert process.returncode == EndpointUnreachableError.exit_code, err
    assert "did not answer in time" in err
    # From the first attempt to the command's end: every attempt and pause, and its exit.
    assert elapsed <= 30, elapsed
    assert not (tmp_path / "dl").exists() or files_below(tmp_path / "dl") == []


# -- the download folder where the platform has no *at calls (Windows) -------------------------


@pytest.mark.parametrize("held", [True, False], ids=["descriptor", "by-path"])
def test_the_download_folder_never_writes_through_a_link(tmp_path: Path, held: bool) -> None:
    root, outside = tmp_path / "dl", tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    # Without a descriptor, as on a platform without openat: the folders are checked by path.
    folder = DownloadFolder.open(root) if held else DownloadFolder(root, None)
    with folder:
        with folder.temporary("sub/a.txt") as written:
            written.file.write(b"a")
            written.commit()
        (root / "sub").rename(root / "was-sub")
        (root / "sub").symlink_to(outside, target_is_directory=True)

        with pytest.raises(LocalFileError, match="is a link"):
            folder.temporary("sub/b.txt")
        stale = root / "was-sub" / ".a.txt.0123456789ab.lakeops-partial"
        stale.write_bytes(b"")
        (outside / ".b.txt.0123456789ab.lakeops-partial").write_bytes(b"")
        folder.remove_temporary("was-sub/.a.txt.0123456789ab.lakeops-partial")
        folder.remove_temporary("sub/.b.txt.0123456789ab.lakeops-partial")

    assert files_below(root) == ["was-sub/a.txt"]
    assert files_below(outside) == [".b.txt.0123456789ab.lakeops-partial"]
