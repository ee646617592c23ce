"""The lakeops command, driven as a user drives it, against the loopback S3 server."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lakeops.cli import main
from lakeops.layout import StorageLayer
from lakeops.sample import SAMPLE_FILES
from tests.support.buckets import purge_bucket
from tests.support.capabilities import Capabilities
from tests.support.cli_lake import DeployedLake, Result, deploy
from tests.support.commands import use_server_login
from tests.support.s3server import REGION, S3Endpoint, free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def credentials(s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command reads its credentials from the environment, as it would for a user."""
    use_server_login(s3, monkeypatch)


@pytest.fixture
def aws_lake(s3: S3Endpoint, admin: S3Client, tmp_path: Path) -> Iterator[DeployedLake]:
    if not s3.is_moto:
        pytest.skip("the AWS-only checks need an endpoint with AWS's bucket APIs (moto)")
    yield from deploy("prod", s3, admin, tmp_path)


def rows(result: Result) -> dict[tuple[str, str], dict[str, str]]:
    return {(c["check"], c["layer"]): c for c in result.json()["checks"]}


# -- verify --------------------------------------------------------------------------------


@pytest.mark.requires("put_if_none_match_versioned")
def test_verify_passes_on_the_lake_the_dev_stack_declares(dev_lake: DeployedLake) -> None:
    result = dev_lake.run("verify")

    assert result.code == 0, result.out
    assert "the lake matches its layout" in result.out
    lines = result.out.splitlines()
    assert lines[0].split() == ["CHECK", "LAYER", "BUCKET", "RESULT", "DETAIL"]
    as_json = dev_lake.run("--json", "verify").json()
    assert as_json["ok"] is True
    checks = {(c["check"], c["layer"]) for c in as_json["checks"]}
    assert len(checks) == 21
    assert ("prefix postgres/", "bronze") in checks
    assert {("conditional writes", "bronze"), ("written over", "bronze")} <= checks
    assert ("encryption", "bronze") not in checks, "encryption is an AWS-only check"


def test_verify_passes_on_the_lake_the_prod_stack_declares(aws_lake: DeployedLake) -> None:
    result = aws_lake.run("--json", "verify")
    assert result.code == 0, result.out
    checks = rows(result)
    assert checks[("encryption", "gold")]["detail"] == "AES256"
    assert checks[("public access block", "silver")]["detail"] == "all four on"
    assert len(checks) == 27


def drift_delete_bucket(lake: DeployedLake) -> None:
    purge_bucket(lake.admin, lake.buckets["bronze"])


def drift_suspend_versioning(lake: DeployedLake) -> None:
    lake.admin.put_bucket_versioning(
        Bucket=lake.buckets["silver"], VersioningConfiguration={"Status": "Suspended"}
    )


def drift_remove_prefix(lake: DeployedLake) -> None:
    lake.admin.delete_object(Bucket=lake.buckets["gold"], Key="ml/")


def drift_remove_lifecycle(lake: DeployedLake) -> None:
    lake.admin.delete_bucket_lifecycle(Bucket=lake.buckets["bronze"])


def drift_change_lifecycle(lake: DeployedLake) -> None:
    lake.admin.put_bucket_lifecycle_configuration(
        Bucket=lake.buckets["silver"],
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "hand-edited",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 5},
                }
            ]
        },
    )


@pytest.mark.parametrize(
    ("drift", "failing", "detail"),
    [
        (drift_delete_bucket, ("bucket exists", "bronze"), "missing: run `make up`"),
        (drift_suspend_versioning, ("versioning", "silver"), "Suspended"),
        (drift_remove_prefix, ("prefix ml/", "gold"), "marker ml/ missing"),
        (drift_remove_lifecycle, ("lifecycle", "bronze"), "no lifecycle configuration"),
        (drift_change_lifecycle, ("lifecycle", "silver"), "the stack declares 30"),
    ],
)
def test_verify_detects_each_kind_of_drift_on_its_own(
    dev_lake: DeployedLake,
    capabilities: Capabilities,
    drift: Any,
    failing: tuple[str, str],
    detail: str,
) -> None:
    drift(dev_lake)

    result = dev_lake.run("--json", "verify")

    assert result.code == 1
    checks = rows(result)
    assert checks[failing]["result"] == "FAIL"
    assert detail in checks[failing]["detail"]
    # A server that ignores If-None-Match fails that row whatever else is wrong.
    expected = (
        set()
        if capabilities.has("put_if_none_match_versioned")
        else {("conditional writes", "bronze")}
    )
    others = {key for key, c in checks.items() if c["result"] == "FAIL" and key != failing}
    assert others == expected - {failing} or (failing[0] == "bucket exists" and not others)
    if failing[0] == "bucket exists":
        skipped = [key for key, c in checks.items() if c["result"] == "skipped"]
        assert len(skipped) == 8 and all(layer == "bronze" for _, layer in skipped)
    human = dev_lake.run("verify")
    assert human.code == 1
    assert f"drift: {1 + len(others)} check(s) failed" in human.out


def test_verify_detects_aws_drift(aws_lake: DeployedLake) -> None:
    aws_lake.admin.delete_bucket_encryption(Bucket=aws_lake.buckets["gold"])
    aws_lake.admin.delete_public_access_block(Bucket=aws_lake.buckets["bronze"])

    aws_lake.admin.put_bucket_encryption(
        Bucket=aws_lake.buckets["silver"],
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )

    result = aws_lake.run("--json", "verify")

    assert result.code == 1
    checks = rows(result)
    failed = {key for key, c in checks.items() if c["result"] == "FAIL"}
    assert failed == {
        ("public access block", "bronze"),
        ("encryption", "gold"),
        ("encryption", "silver"),
    }
    assert checks[("encryption", "silver")]["detail"] == "aws:kms, the stack declares AES256"
    assert "BlockPublicAcls" in checks[("public access block", "bronze")]["detail"]


def test_verify_creates_no_object_where_a_marker_is_missing(dev_lake: DeployedLake) -> None:
    """The conditional-write probe writes bronze's first marker: on a missing one it would
    create it, and hide the drift from the next run."""
    bronze = dev_lake.buckets["bronze"]
    dev_lake.admin.delete_object(Bucket=bronze, Key="postgres/")

    first = dev_lake.run("--json", "verify")
    second = dev_lake.run("--json", "verify")

    assert first.code == second.code == 1
    for result in (first, second):
        checks = rows(result)
        assert checks[("prefix postgres/", "bronze")]["result"] == "FAIL"
        assert checks[("conditional writes", "bronze")]["result"] == "skipped"
        assert "marker postgres/ missing" in checks[("conditional writes", "bronze")]["detail"]
    listed = dev_lake.admin.list_object_versions(Bucket=bronze, Prefix="postgres/")
    # Only the deleted marker's version, under its delete marker: nothing was written.
    assert [v["IsLatest"] for v in listed.get("Versions", [])] == [False]


def test_verify_lists_a_bounded_bronze_history_unless_asked_for_all(
    dev_lake: DeployedLake,
) -> None:
    from lakeops import Lake, LakeConfig
    from lakeops.verify import verify_lake

    bronze = dev_lake.buckets["bronze"]
    for n in range(4):
        dev_lake.admin.put_object(Bucket=bronze, Key=f"files/{n}.csv", Body=b"a\n")
    # Written over, and listed last: files/ sorts before the keys of the other prefixes.
    dev_lake.admin.put_object(Bucket=bronze, Key="streaming/z.csv", Body=b"a\n")
    dev_lake.admin.put_object(Bucket=bronze, Key="streaming/z.csv", Body=b"b\n")
    lake = Lake(
        LakeConfig.resolve(
            endpoint_url=dev_lake.endpoint.url,
            outputs_file=dev_lake.outputs_file,
            access_key_id=dev_lake.endpoint.access_key,
            secret_access_key=dev_lake.endpoint.secret_key,
            env={},
        )
    )

    (bounded,) = [c for c in verify_lake(lake, history_limit=5) if c.check == "written over"]
    (whole,) = [c for c in verify_lake(lake, history_limit=None) if c.check == "written over"]
    cli = dev_lake.run("--json", "verify", "--history")

    assert bounded.ok
    assert "among the first 5 versions (`lakeops verify --history` lists them all)" in (
        bounded.detail
    )
    assert not whole.ok and "streaming/z.csv" in whole.detail
    assert cli.code == 1
    assert "streaming/z.csv" in rows(cli)[("written over", "bronze")]["detail"]


# -- sample, ls, upload, download, promote ----------------------------------------------------


def test_sample_uploads_to_bronze_and_is_idempotent(dev_lake: DeployedLake) -> None:
    first = dev_lake.run("sample")
    second = dev_lake.run("--json", "sample")

    assert first.code == 0 and second.code == 0
    assert first.out.count("uploaded") == len(SAMPLE_FILES)
    assert [r["created"] for r in second.json()] == [False] * len(SAMPLE_FILES)
    for sample in SAMPLE_FILES:
        head = dev_lake.admin.head_object(Bucket=dev_lake.buckets["bronze"], Key=sample.key)
        assert head["Metadata"]["source"] == sample.metadata["source"]
        assert head["ContentType"] == "text/csv"
    assert {s.key.split("/")[0] for s in SAMPLE_FILES} == {"postgres", "files"}


def test_ls_lists_human_and_json(dev_lake: DeployedLake) -> None:
    dev_lake.run("sample")

    # Recursive: every object (one level at a time is the default: tests/test_cli_habits.py).
    human = dev_lake.run("ls", "bronze", "postgres/", "--recursive")
    as_json = dev_lake.run("ls", "bronze", "postgres/", "-r", "--json")
    with_markers = dev_lake.run("ls", "raw", "--all", "-r", "--json")

    assert human.code == 0
    assert human.out.strip().endswith("postgres/users/2024-01-15/users.csv")
    listed = [json.loads(line) for line in as_json.out.splitlines()]
    assert [e["key"] for e in listed] == ["postgres/users/2024-01-15/users.csv"]
    assert {"type", "key", "size", "last_modified", "etag"} <= set(listed[0])
    assert listed[0]["type"] == "object" and not listed[0]["etag"].startswith('"')
    assert "postgres/" in {json.loads(line)["key"] for line in with_markers.out.splitlines()}


def test_upload_download_promote_round_trip(dev_lake: DeployedLake, tmp_path: Path) -> None:
    source = tmp_path / "events.json"
    source.write_text('{"event": "signup"}\n')

    uploaded = dev_lake.run(
        "upload", str(source), "bronze", "api/events/e.json", "-m", "source=api"
    )
    again = dev_lake.run("upload", str(source), "bronze", "api/events/e.json")
    promoted = dev_lake.run(
        "--json", "promote", "bronze", "api/events/e.json", "silver", "cleaned/events/e.json"
    )
    downloaded = dev_lake.run(
        "download", "silver", "cleaned/events/e.json", str(tmp_path / "out" / "e.json"), "--json"
    )

    bronze = dev_lake.buckets["bronze"]
    assert uploaded.out == f"s3://{bronze}/api/events/e.json\n"
    assert again.out.endswith("(already there, identical content)\n")
    assert promoted.json()["source_uri"] == f"s3://{bronze}/api/events/e.json"
    assert downloaded.json()["verified"] is True
    assert (tmp_path / "out" / "e.json").read_text() == '{"event": "signup"}\n'


@pytest.mark.parametrize("destination", ["file", "folder", "current-folder"])
def test_download_never_replaces_a_local_file_without_force(
    dev_lake: DeployedLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, destination: str
) -> None:
    source = tmp_path / "h.csv"
    source.write_text("from the lake\n")
    dev_lake.run("upload", str(source), "silver", "cleaned/h/h.csv")
    local = tmp_path / "dd"
    local.mkdir()
    (local / "h.csv").write_text("PRECIOUS LOCAL\n")
    monkeypatch.chdir(local)
    dest = {"file": str(local / "h.csv"), "folder": f"{local}/", "current-folder": "."}

    refused = dev_lake.run("download", "silver", "cleaned/h/h.csv", dest[destination])
    forced = dev_lake.run("download", "silver", "cleaned/h/h.csv", dest[destination], "--force")

    assert refused.code == 5, refused.err
    assert "exists; nothing was downloaded" in refused.err and "--force" in refused.err
    assert forced.code == 0, forced.err
    assert (local / "h.csv").read_text() == "from the lake\n"


def test_a_dry_run_exits_as_the_job_would_and_says_why(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    folder = tmp_path / "users"
    folder.mkdir()
    (folder / "users.csv").write_text("id\n1\n")
    dev_lake.run("upload", "--recursive", str(folder), "silver", "cleaned/users/")
    (folder / "late.csv").write_text("id\n2\n")

    planned = dev_lake.run(
        "upload", "--recursive", "--dry-run", str(folder), "silver", "cleaned/users/"
    )
    as_json = dev_lake.run(
        "--json", "upload", "--recursive", "--dry-run", str(folder), "silver", "cleaned/users/"
    )
    real = dev_lake.run("upload", "--recursive", str(folder), "silver", "cleaned/users/")

    assert planned.code == as_json.code == real.code == 5
    assert "late.csv" in planned.out and "Nothing was written" in planned.out
    assert "the job would be refused" in planned.err and "was published" in planned.err
    assert as_json.json()["refusal_exit_code"] == 5
    rows = {line.split()[-1]: line.split()[0] for line in planned.out.splitlines()[1:3]}
    assert rows == {"users.csv": "identical", "late.csv": "new"}
    items = {item["path"]: item for item in as_json.json()["items"]}
    assert items["late.csv"]["action"] == "new" and items["late.csv"]["size"] == 5
    assert items["users.csv"]["action"] == "identical"
    assert items["late.csv"]["target"] == "cleaned/users/late.csv"


def test_reading_an_unpublished_prefix_says_so(dev_lake: DeployedLake, tmp_path: Path) -> None:
    folder = tmp_path / "users"
    folder.mkdir()
    (folder / "users.csv").write_text("id\n1\n")
    dev_lake.run("upload", "--recursive", "--no-publish", str(folder), "silver", "cleaned/u/")
    dev_lake.run("upload", "--recursive", str(folder), "silver", "cleaned/p/")

    live = dev_lake.run("download", "--recursive", "silver", "cleaned/u/", str(tmp_path / "a"))
    published = dev_lake.run("download", "--recursive", "silver", "cleaned/p/", str(tmp_path / "b"))
    asked = dev_lake.run(
        "download", "--recursive", "--live", "silver", "cleaned/p/", str(tmp_path / "c")
    )

    assert live.code == published.code == asked.code == 0
    assert "is not published (no manifest): the live objects were read" in live.err
    assert "not published" not in published.err + asked.err


def test_progress_bars_show_on_a_terminal_only(dev_lake: DeployedLake, tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(b"x" * 200_000)
    terminal = FakeTerminal()

    shown = dev_lake.run("upload", str(source), "silver", "cleaned/data.bin", err=terminal)
    hidden = dev_lake.run("upload", str(source), "silver", "cleaned/data2.bin")

    assert shown.code == 0 and "uploading" in shown.err and "hashing" in shown.err
    assert hidden.code == 0 and hidden.err == ""


# -- config ---------------------------------------------------------------------------------


def test_config_shows_sources_and_masks_secrets(dev_lake: DeployedLake) -> None:
    result = dev_lake.run("--json", "config")
    settings = result.json()["settings"]
    assert result.json()["problems"] == []

    assert settings["endpoint"] == {"value": dev_lake.endpoint.url, "source": "argument"}
    assert settings["bucket.bronze"]["value"] == dev_lake.buckets["bronze"]
    assert settings["bucket.bronze"]["source"].startswith("stack outputs (file ")
    assert settings["secret_access_key"] == {
        "value": "****",
        "source": "env AWS_SECRET_ACCESS_KEY",
    }
    assert dev_lake.endpoint.secret_key not in result.out
    human = dev_lake.run("config")
    assert human.out.splitlines()[0].split() == ["SETTING", "VALUE", "SOURCE"]


# -- errors and exit codes ----------------------------------------------------------------------


def test_errors_are_one_line_with_a_documented_exit_code(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    source = tmp_path / "a.csv"
    source.write_text("a\n")
    dev_lake.run("upload", str(source), "bronze", "files/a.csv")
    source.write_text("b\n")
    cases = {
        ("ls", "platinum"): 2,
        ("upload", str(tmp_path / "missing.csv"), "bronze", "files/x.csv"): 2,
        ("upload", str(source), "bronze", "/files/x.csv"): 2,
        ("upload", str(source), "bronze", "files/x.csv", "-m", "novalue"): 2,
        ("promote", "gold", "reports/x.csv", "silver", "cleaned/x.csv"): 2,
        ("promote", "bronze", "files/a.csv", "silver"): 2,
        ("download", "silver", "cleaned/missing.csv", str(tmp_path / "m.csv")): 4,
        ("upload", str(source), "bronze", "files/a.csv"): 5,
        ("ls",): 2,
    }
    for argv, code in cases.items():
        result = dev_lake.run(*argv)
        assert result.code == code, (argv, result.err)
        assert result.err.startswith("lakeops: error: "), result.err
        assert result.err.count("\n") == 1, result.err
        assert "Traceback" not in result.err


def test_configuration_and_connection_errors(tmp_path: Path) -> None:
    broken = tmp_path / "outputs.json"
    broken.write_text("{oops")
    bad_outputs = io.StringIO()
    assert main(["--outputs-file", str(broken), "verify"], out=io.StringIO(), err=bad_outputs) == 3
    assert "not valid JSON" in bad_outputs.getvalue()

    unreachable = io.StringIO()
    code = main(
        ["--endpoint-url", f"http://127.0.0.1:{free_port()}", "ls", "bronze"],
        out=io.StringIO(),
        err=unreachable,
    )
    assert code == 7
    assert "cannot reach the S3 endpoint" in unreachable.getvalue()


def test_json_errors_and_debug_tracebacks(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    as_json = io.StringIO()
    main(["--endpoint-url", endpoint, "--json", "ls", "bronze"], out=io.StringIO(), err=as_json)
    error = json.loads(as_json.getvalue())
    assert error["error"] == "EndpointUnreachableError"
    assert endpoint in error["message"]

    debug = io.StringIO()
    main(["--endpoint-url", endpoint, "ls", "bronze", "--debug"], out=io.StringIO(), err=debug)
    assert "Traceback" in debug.getvalue()


def test_an_unexpected_failure_is_one_line_and_exit_10(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lakeops.cli.commands import Command

    def broken(self: object) -> int:
        raise RuntimeError("something lakeops did not foresee")

    monkeypatch.setattr(Command, "config", broken)
    plain, debug = io.StringIO(), io.StringIO()

    assert main(["config"], out=io.StringIO(), err=plain) == 10
    assert main(["config", "--debug"], out=io.StringIO(), err=debug) == 10

    assert plain.getvalue().startswith("lakeops: error: internal error: RuntimeError: something")
    assert "--debug" in plain.getvalue() and "Traceback" not in plain.getvalue()
    assert "Traceback" in debug.getvalue() and "def broken" not in plain.getvalue()


def test_the_installed_command_documents_itself() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lakeops", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    for word in ("ls", "upload", "download", "promote", "verify", "sample", "config"):
        assert word in done.stdout
    assert "exit codes:" in done.stdout
    assert "verify found drift" in done.stdout


@pytest.mark.parametrize(
    ("command", "takes_uris"),
    [("config", False), ("env", False), ("sample", False), ("ls", True), ("download", True)],
)
def test_only_commands_that_take_a_location_offer_uris(
    command: str, takes_uris: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    assert ("s3://bucket/key URI" in capsys.readouterr().out) is takes_uris


def test_ls_shows_control_characters_in_keys_as_escapes(dev_lake: DeployedLake) -> None:
    # A key another tool wrote: printed raw, it would recolour the terminal.
    bronze, key = dev_lake.buckets["bronze"], "files/\x1b[31mred.csv"
    written = dev_lake.admin.put_object(Bucket=bronze, Key=key, Body=b"")
    try:
        listed = dev_lake.run("ls", "bronze", "files/")
    finally:
        # moto cannot list such a key's versions (its XML breaks), so the purge could not.
        dev_lake.admin.delete_object(Bucket=bronze, Key=key, VersionId=written["VersionId"])

    assert listed.code == 0, listed.err
    assert "files/\\x1b[31mred.csv" in listed.out
    assert "\x1b" not in listed.out


def test_the_endpoint_option_names_its_variables_in_their_order() -> None:
    from lakeops.cli import build_parser

    help_text = " ".join(build_parser().format_help().split())
    assert "S3 API URL (AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL)" in help_text


def test_layers_in_commands_accept_layer_and_bucket_aliases(dev_lake: DeployedLake) -> None:
    for layer in ("curated", StorageLayer.GOLD.value, f"s3://{dev_lake.buckets['gold']}"):
        listed = dev_lake.run("ls", layer, "--recursive")
        assert listed.code == 0
        assert "holds no objects yet" in listed.err


def test_ls_json_writes_nothing_to_stdout_when_it_fails(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--endpoint-url", f"http://127.0.0.1:{free_port()}", "ls", "bronze", "--json"],
        out=out,
        err=err,
    )
    assert code == 7
    assert out.getvalue() == ""
    assert json.loads(err.getvalue())["error"] == "EndpointUnreachableError"


def test_usage_errors_honour_json() -> None:
    err = io.StringIO()
    assert main(["--json", "ls"], out=io.StringIO(), err=err) == 2
    assert json.loads(err.getvalue())["error"] == "UsageError"


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError


def test_a_closed_output_pipe_ends_quietly(dev_lake: DeployedLake) -> None:
    dev_lake.run("sample")
    err = io.StringIO()
    code = main([*dev_lake.address, "ls", "bronze"], out=ClosedPipe(), err=err)
    assert code == 141
    assert err.getvalue() == ""


def test_repeated_metadata_names_are_refused(dev_lake: DeployedLake, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("a\n")
    result = dev_lake.run("upload", str(source), "bronze", "files/a.csv", "-m", "a=1", "-m", "a=2")
    assert result.code == 2
    assert "given twice" in result.err


def test_verify_says_plainly_when_the_server_does_not_keep_bronze_append_only(
    dev_lake: DeployedLake, capabilities: Capabilities
) -> None:
    if capabilities.has("put_if_none_match_versioned"):
        pytest.skip(f"{capabilities.kind} refuses overwrites under If-None-Match")

    result = dev_lake.run("--json", "verify")

    assert result.code == 1
    failed = {key: c for key, c in rows(result).items() if c["result"] == "FAIL"}
    assert list(failed) == [("conditional writes", "bronze")]
    assert "IGNORES If-None-Match" in failed[("conditional writes", "bronze")]["detail"]


# -- datasets from the command line ------------------------------------------------------------


def test_three_commands_move_a_2000_file_partition_and_a_killed_job_resumes(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    """The issue's acceptance: local folder -> bronze -> silver -> local folder, with the
    upload killed (SIGKILL, no clean-up at all) part way and run again."""
    source = tmp_path / "partition"
    source.mkdir()
    for n in range(2000):
        (source / f"part-{n:05d}.json").write_bytes(f'{{"n": {n}}}\n'.encode() * 100)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": dev_lake.endpoint.url,
        "AWS_ACCESS_KEY_ID": dev_lake.endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": dev_lake.endpoint.secret_key,
        "AWS_REGION": REGION,
        "LAKEOPS_OUTPUTS_FILE": str(dev_lake.outputs_file),
    }
    lakeops = [sys.executable, "-m", "lakeops", "--no-progress"]
    raw, clean = "api/partition/2024-01-15/", "cleaned/partition/2024-01-15/"
    bronze = dev_lake.buckets["bronze"]

    killed = subprocess.Popen(
        [*lakeops, "upload", "--recursive", str(source), "bronze", raw], env=env
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and killed.poll() is None:
        listed = dev_lake.admin.list_objects_v2(Bucket=bronze, Prefix=raw).get("KeyCount", 0)
        if listed >= 300:
            break
        time.sleep(0.2)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    partial = dev_lake.admin.list_objects_v2(Bucket=bronze, Prefix=raw, MaxKeys=1000)["KeyCount"]
    assert 300 <= partial < 2000

    upload = subprocess.run(
        [*lakeops, "--json", "upload", "--recursive", str(source), "bronze", raw],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    promote = subprocess.run(
        [*lakeops, "--json", "promote", "--recursive", "bronze", raw, "silver", clean],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    download = subprocess.run(
        [*lakeops, "--json", "download", "--recursive", "silver", clean, str(tmp_path / "back")],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip

    for step in (upload, promote, download):
        assert step.returncode == 0, step.stderr
    resumed = json.loads(upload.stdout)
    assert resumed["identical"] >= 300 and resumed["identical"] + resumed["transferred"] == 2000
    assert resumed["published"] is True
    assert json.loads(promote.stdout)["transferred"] == 2000
    back = {p.name: p.read_bytes() for p in (tmp_path / "back").iterdir()}
    assert back == {p.name: p.read_bytes() for p in source.iterdir()}
    # Every bronze key was written once: the killed run's objects were not sent again.
    versions = dev_lake.admin.get_paginator("list_object_versions").paginate(
        Bucket=bronze, Prefix=raw
    )
    keys = [v["Key"] for page in versions for v in page.get("Versions", [])]
    assert len(keys) == len(set(keys)) == 2002  # the data, the manifest and _SUCCESS


def test_debug_logs_each_request_without_secrets(dev_lake: DeployedLake) -> None:
    err = io.StringIO()

    result = dev_lake.run("--debug", "ls", "bronze", "postgres/", err=err)

    assert result.code == 0
    lines = [line for line in err.getvalue().splitlines() if "lakeops.requests" in line]
    assert lines, err.getvalue()
    bucket = dev_lake.buckets["bronze"]
    assert any(
        "GET 127.0.0.1" in line and f"/{bucket}" in line and "-> 200 in" in line for line in lines
    )
    assert dev_lake.endpoint.secret_key not in err.getvalue()
    assert "Authorization" not in err.getvalue() and "X-Amz-Security-Token" not in err.getvalue()
