"""The library under injected faults: every failure is one lakeops error with its exit code,
found in bounded time, leaving nothing partial behind."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakeops import (
    DatasetIncompleteError,
    EndpointUnreachableError,
    ImmutableObjectError,
    IntegrityError,
    JobProgress,
    Lake,
    LakeOpsError,
    LocalFileError,
    StorageLayer,
    Timeouts,
    TransferSettings,
    ValidationError,
)
from lakeops.cli import main
from lakeops.layout import LAYOUT, is_marker_key
from lakeops.ops.conditional import conditional_writes_enforced, forget_probes
from lakeops.transfers import MiB
from tests.conftest import config_for
from tests.support.buckets import all_versions, layout_buckets, purge_bucket
from tests.support.capabilities import Capabilities
from tests.support.faults import FaultProxy, SilentServer, always
from tests.support.s3server import S3Endpoint

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

BRONZE, SILVER = StorageLayer.BRONZE, StorageLayer.SILVER
SMALL = TransferSettings(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)


@pytest.fixture
def proxy(s3: S3Endpoint) -> Iterator[FaultProxy]:
    proxied = FaultProxy(s3.url)
    yield proxied
    proxied.stop()


def proxied_lake(
    s3: S3Endpoint, proxy: FaultProxy, buckets: dict[StorageLayer, str], **timeouts: float
) -> Lake:
    settings = Timeouts(**timeouts) if timeouts else Timeouts(read_seconds=5)  # type: ignore[arg-type]
    return Lake(config_for(s3, buckets, endpoint_url=proxy.url, timeouts=settings), transfer=SMALL)


def stack_marker(admin: S3Client, buckets: dict[StorageLayer, str]) -> str:
    """Bronze's first prefix marker, as the stack creates it: what the probe asks about."""
    marker = LAYOUT[BRONZE].prefixes[0]
    admin.put_object(Bucket=buckets[BRONZE], Key=marker, Body=b"")
    return marker


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("size", [100_000, 6 * MiB + 7], ids=["single-get", "ranged-gets"])
def test_a_download_whose_connection_keeps_dropping_is_an_unreachable_error(
    s3: S3Endpoint,
    proxy: FaultProxy,
    lake: Lake,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    size: int,
) -> None:
    source = tmp_path / "in" / "data.bin"
    source.parent.mkdir()
    source.write_bytes(os.urandom(size))
    lake.upload(source, SILVER, "cleaned/data.bin")
    proxy.faults.cut_body_after = 1000
    out = tmp_path / "out"
    out.mkdir()
    broken = proxied_lake(s3, proxy, buckets)

    with pytest.raises(EndpointUnreachableError, match="kept breaking off"):
        broken.download(SILVER, "cleaned/data.bin", out / "data.bin")

    assert leftovers(out) == []
    gets = [path for method, path in proxy.faults.seen if method == "GET"]
    assert 3 <= len(gets) <= 3 * (1 + size // SMALL.multipart_chunksize)


def test_the_command_reports_a_dropping_download_in_one_line_with_its_exit_code(
    s3: S3Endpoint,
    proxy: FaultProxy,
    lake: Lake,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(50_000))
    lake.upload(source, SILVER, "cleaned/data.bin")
    proxy.faults.cut_body_after = 100
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("LAKEOPS_READ_TIMEOUT", "5")
    for layer in StorageLayer:
        monkeypatch.setenv(f"LAKEOPS_BUCKET_{layer.name}", buckets[layer])

    code = main(
        ["--endpoint-url", proxy.url, "download", "silver", "cleaned/data.bin", str(tmp_path / "o")]
    )

    err = capsys.readouterr().err
    assert code == EndpointUnreachableError.exit_code == 7
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("size", [100_000, 6 * MiB + 7], ids=["single-get", "ranged-gets"])
def test_a_corrupted_download_is_an_integrity_error_whatever_its_size(
    s3: S3Endpoint,
    proxy: FaultProxy,
    lake: Lake,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    size: int,
) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(size))
    lake.upload(source, SILVER, "cleaned/data.bin")
    proxy.faults.corrupt_when = lambda method, path: method == "GET" and "data.bin" in path
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")

    with pytest.raises(IntegrityError):
        proxied_lake(s3, proxy, buckets).download(SILVER, "cleaned/data.bin", target)

    assert target.read_bytes() == b"previous"
    assert leftovers(tmp_path) == ["data.bin", "out.bin"]


def test_a_server_that_never_answers_fails_after_the_configured_attempts(
    buckets: dict[StorageLayer, str], s3: S3Endpoint
) -> None:
    silent = SilentServer()
    try:
        lake = Lake(
            config_for(
                s3,
                buckets,
                endpoint_url=silent.url,
                timeouts=Timeouts(read_seconds=1, max_attempts=2),
            )
        )
        started = time.monotonic()
        with pytest.raises(EndpointUnreachableError, match="did not answer in time"):
            lake.list_objects(SILVER)
        elapsed = time.monotonic() - started
    finally:
        silent.stop()
    # Two attempts, not three: max_attempts counts the first one.
    assert silent.connections == 2
    assert 2 <= elapsed < 5


@pytest.mark.requires("put_if_none_match_versioned")
def test_bronze_stays_append_only_on_a_server_that_ignores_if_none_match(
    s3: S3Endpoint,
    proxy: FaultProxy,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
) -> None:
    # The proxy drops If-None-Match on the way, as Ceph RGW 16.2 ignores it on versioned
    # buckets. lakeops finds that out and looks before each write instead. (On a server that
    # ignores it already, this emulation is moot: the other tests run against the real thing;
    # and a signing server would refuse the altered request.)
    proxy.faults.strip_headers = ("If-None-Match",)
    proxy.faults.check_digest = True
    forget_probes()
    marker = stack_marker(admin, buckets)
    lake = proxied_lake(s3, proxy, buckets)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_bytes(b"id\n1\n")
    second.write_bytes(b"id\n2\n")

    assert conditional_writes_enforced(lake.context, BRONZE) is False
    lake.upload(first, BRONZE, "files/a.csv")
    with pytest.raises(ImmutableObjectError):
        lake.upload(second, BRONZE, "files/a.csv")

    versions = admin.list_object_versions(Bucket=buckets[BRONZE])
    # One version of the data and of the marker the probe sent a bad digest for: nothing else.
    assert sorted(v["Key"] for v in versions.get("Versions", [])) == ["files/a.csv", marker]
    forget_probes()


@pytest.mark.requires("put_if_none_match_versioned")
@pytest.mark.parametrize("transport", ["crt", "boto3"])
def test_a_dataset_upload_keeps_bronze_append_only_on_a_server_that_ignores_if_none_match(
    s3: S3Endpoint,
    proxy: FaultProxy,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    transport: str,
) -> None:
    # Another writer takes a key between the plan's listing and the job's write: where the
    # server ignores the condition, only a look before each write can notice.
    proxy.faults.strip_headers = ("If-None-Match",)
    proxy.faults.check_digest = True
    forget_probes()
    stack_marker(admin, buckets)
    lake = Lake(
        config_for(s3, buckets, endpoint_url=proxy.url, transport=transport, timeouts=Timeouts(5))
    )
    assert conditional_writes_enforced(lake.context, BRONZE) is False
    folder = tmp_path / "pages"
    folder.mkdir()
    for n in range(4):
        (folder / f"page-{n}.json").write_text(f'{{"page": {n}}}')
    key = "api/pages/page-2.json"

    def race(progress: JobProgress) -> None:
        if progress.phase == "transferring" and not all_versions(admin, buckets[BRONZE], key):
            admin.put_object(Bucket=buckets[BRONZE], Key=key, Body=b"theirs")

    with pytest.raises(DatasetIncompleteError) as failed:
        lake.upload_folder(folder, BRONZE, "api/pages/", progress=race)

    assert [f.relative for f in failed.value.result.failures] == ["page-2.json"]  # type: ignore[attr-defined]
    assert len(all_versions(admin, buckets[BRONZE], key)) == 1
    assert admin.get_object(Bucket=buckets[BRONZE], Key=key)["Body"].read() == b"theirs"
    forget_probes()


def test_a_bucket_is_probed_once_however_many_workers_ask_at_once(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    forget_probes()
    stack_marker(admin, buckets)
    puts: list[str] = []
    lake.client.meta.events.register(
        "before-parameter-build.s3.PutObject", lambda params, **_: puts.append(params["Key"])
    )
    answers: list[bool | None] = []
    start = threading.Barrier(16)

    def ask() -> None:
        start.wait()
        answers.append(conditional_writes_enforced(lake.context, BRONZE))

    workers = [threading.Thread(target=ask) for _ in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert len(set(answers)) == 1 and len(answers) == 16
    # One conditional write of the marker, with a digest no server stores: the probe.
    assert puts == ["postgres/"]
    forget_probes()


def test_conditional_writes_are_found_enforced_where_they_are_and_no_probe_adds_a_version(
    s3: S3Endpoint, capabilities: Capabilities, admin: S3Client
) -> None:
    # Each layer is probed on its own marker (bronze too), and the probe is never stored:
    # RGW, which ignores the condition on versioned buckets, refuses its digest.
    forget_probes()
    names = layout_buckets(admin)
    try:
        probed = Lake(config_for(s3, names))
        before = {layer: all_versions(admin, name) for layer, name in names.items()}
        expected = capabilities.has("put_if_none_match_versioned")

        for layer in StorageLayer:
            assert conditional_writes_enforced(probed.context, layer) is expected, layer

        assert {layer: all_versions(admin, name) for layer, name in names.items()} == before
    finally:
        for name in names.values():
            purge_bucket(admin, name)
        forget_probes()


def test_the_probe_of_a_bucket_without_its_marker_writes_nothing_and_tells_nothing(
    lake: Lake, admin: S3Client, buckets: dict[StorageLayer, str]
) -> None:
    # On a new key even an honouring server reads the body: the answer would mean nothing.
    forget_probes()

    assert conditional_writes_enforced(lake.context, BRONZE) is None
    assert all_versions(admin, buckets[BRONZE]) == []
    forget_probes()


@pytest.mark.requires("put_if_none_match_versioned")
def test_a_server_that_stores_a_bad_digest_is_reported_and_taken_as_ignoring(
    s3: S3Endpoint,
    proxy: FaultProxy,
    admin: S3Client,
    buckets: dict[StorageLayer, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # moto checks no Content-MD5: with If-None-Match dropped, the probe is stored, which the
    # probe says, and lakeops looks before each write.
    proxy.faults.strip_headers = ("If-None-Match",)
    forget_probes()
    stack_marker(admin, buckets)
    lake = proxied_lake(s3, proxy, buckets)

    assert conditional_writes_enforced(lake.context, BRONZE) is False
    assert "stored a write whose Content-MD5 is not its body's" in caplog.text
    forget_probes()


@pytest.mark.requires("put_if_none_match_versioned")
def test_the_probe_never_adds_a_version_to_bronze_on_a_server_that_ignores_if_none_match(
    s3: S3Endpoint, proxy: FaultProxy, admin: S3Client, tmp_path: Path
) -> None:
    # A lake as the stack makes it (every marker there), behind a proxy that drops
    # If-None-Match as RGW 16.2 does on versioned buckets; a dataset job probes.
    proxy.faults.strip_headers = ("If-None-Match",)
    proxy.faults.check_digest = True
    forget_probes()
    names = layout_buckets(admin)
    try:
        lake = proxied_lake(s3, proxy, names)
        sent: list[tuple[str, str]] = []
        lake.client.meta.events.register(
            "before-parameter-build.s3.PutObject",
            lambda params, **_: sent.append((params["Bucket"], params["Key"])),
        )
        folder = tmp_path / "pages"
        folder.mkdir()
        (folder / "p.json").write_text("{}")

        lake.upload_folder(folder, BRONZE, "api/pages/")

        assert lake.enforces_conditional_writes(BRONZE) is False
        # The probe's one write of a marker, refused for its digest.
        assert [k for b, k in sent if b == names[BRONZE] and is_marker_key(BRONZE, k)] == [
            "postgres/"
        ]
        for prefix in LAYOUT[BRONZE].prefixes:
            kept = [v for v in all_versions(admin, names[BRONZE], prefix) if v["Key"] == prefix]
            assert len(kept) == 1, kept
    finally:
        for name in names.values():
            purge_bucket(admin, name)
        forget_probes()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda lake, tmp: lake.upload(12, BRONZE, "files/x.csv"), "must be a path"),
        (lambda lake, tmp: lake.download(SILVER, "cleaned/x", 3.5), "must be a path"),
        (
            lambda lake, tmp: lake.download(SILVER, "cleaned/x", tmp / "x", version_id=7),
            "version id must be a non-empty string",
        ),
        (
            lambda lake, tmp: lake.upload(tmp / "f.csv", SILVER, "cleaned/f", progress="bar"),
            "progress must be a callable",
        ),
        (lambda lake, tmp: lake.upload(tmp / "f.csv", SILVER, "cleaned/f", ["m"]), "mapping"),
        (lambda lake, tmp: lake.list_objects(SILVER, 5), "not a string"),
    ],
)
def test_bad_argument_types_are_validation_errors_before_any_request(
    s3: S3Endpoint,
    proxy: FaultProxy,
    buckets: dict[StorageLayer, str],
    tmp_path: Path,
    call: object,
    message: str,
) -> None:
    (tmp_path / "f.csv").write_bytes(b"x\n")
    lake = proxied_lake(s3, proxy, buckets)

    with pytest.raises(ValidationError, match=message):
        call(lake, tmp_path)  # type: ignore[operator]

    assert proxy.faults.seen == []


def test_error_messages_bound_the_inputs_they_quote(lake: Lake, tmp_path: Path) -> None:
    long_key = "cleaned/" + "k" * 5000

    with pytest.raises(LocalFileError) as missing:
        lake.upload(tmp_path / ("n" * 3000), SILVER, "cleaned/x.csv")
    with pytest.raises(LakeOpsError) as too_long:
        lake.upload(tmp_path, SILVER, long_key)

    for error in (missing.value, too_long.value):
        assert len(str(error)) < 500, str(error)
        assert "characters)" in str(error) or "bytes long" in str(error)


def test_every_failure_of_a_transfer_future_is_translated(
    s3: S3Endpoint, proxy: FaultProxy, lake: Lake, buckets: dict[StorageLayer, str], tmp_path: Path
) -> None:
    # A multipart upload through a proxy that cuts every response off: whatever s3transfer
    # raises, the caller sees a lakeops error.
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(6 * MiB))
    proxy.faults.cut_body_after = 0
    proxy.faults.cut_when = always

    with pytest.raises(LakeOpsError):
        proxied_lake(s3, proxy, buckets, read_seconds=2, max_attempts=1).upload(
            source, SILVER, "cleaned/big.bin"
        )


def test_a_tls_handshake_that_fails_is_an_unreachable_endpoint_with_the_fix(
    buckets: dict[StorageLayer, str], s3: S3Endpoint
) -> None:
    if s3.url.startswith("https://"):
        pytest.skip("this server speaks TLS; the case is https:// to a plain HTTP port")
    plain = s3.url.replace("http://", "https://")
    lake = Lake(config_for(s3, buckets, endpoint_url=plain, timeouts=Timeouts(max_attempts=1)))

    with pytest.raises(EndpointUnreachableError) as failed:
        lake.list_objects(SILVER)

    assert "TLS handshake" in str(failed.value)
    assert "AWS_CA_BUNDLE" in str(failed.value)
    assert failed.value.exit_code == 7
