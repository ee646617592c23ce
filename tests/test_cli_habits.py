"""The command line as aws-cli, s5cmd and mc users expect it (issue 17): options spelt out,
examples in --help, `ls` one level at a time, one JSON schema with NDJSON listings, hints that
help, and plain words for another kind of server, a refused look, and aws-cli's filter idiom."""

from __future__ import annotations

import io
import json
import re
import shlex
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lakeops.cli import build_parser, main
from tests.support.cli_lake import DeployedLake, Result
from tests.support.commands import use_server_login
from tests.support.faults import FaultProxy
from tests.support.s3server import S3Endpoint, free_port

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.fixture(autouse=True)
def credentials(s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command reads the server's login from the environment, as it would a user's."""
    use_server_login(s3, monkeypatch)


def ndjson(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.out.splitlines()]


def put(lake: DeployedLake, layer: str, *keys: str) -> None:
    for key in keys:
        lake.admin.put_object(Bucket=lake.buckets[layer], Key=key, Body=b"x" * 10)


# -- 8: no abbreviations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["ls", "bronze", "--al"],
        ["upload", "-r", ".", "silver", "cleaned/x/", "--dry"],
        ["download", "gold", "reports/r.csv", "--forc"],
        ["verify", "--hist"],
    ],
)
def test_abbreviated_options_are_refused(argv: list[str]) -> None:
    err = io.StringIO()
    # An endpoint nobody answers at: had the option been taken, the command would fail there
    # (exit 7) instead of at the grammar (exit 2).
    code = main(
        ["--endpoint-url", f"http://127.0.0.1:{free_port()}", *argv], out=io.StringIO(), err=err
    )

    assert code == 2, err.getvalue()
    assert "unrecognized arguments" in err.getvalue()


# -- 21: examples in --help -------------------------------------------------------------------


def _subcommands() -> dict[str, Any]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return dict(action.choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_command_help_shows_examples_that_parse(name: str) -> None:
    text = _subcommands()[name].format_help()
    assert "\nexamples:\n" in text
    shown = text.split("\nexamples:\n", 1)[1]
    lines = [line.strip() for line in shown.splitlines() if line.strip()]
    commands = [line for line in lines if not line.startswith("#")]
    assert commands and len(commands) == sum(line.startswith("#") for line in lines)
    for line in commands:
        # eval "$(lakeops ... env)": the lakeops command inside.
        words = shlex.split(line.removeprefix('eval "$(').removesuffix(')"'))
        assert words[0] == "lakeops" and name in words
        args = build_parser().parse_args(words[1:])
        assert args.command == name


# -- 16: ls one level at a time, --recursive, wildcards, --summarize -------------------------

TREE = ("files/a/1.csv", "files/a/2.csv", "files/b.csv", "files/c.parquet", "files/d.csv")


def test_ls_lists_one_level_with_prefix_rollups(dev_lake: DeployedLake) -> None:
    put(dev_lake, "bronze", *TREE)

    level = dev_lake.run("ls", "bronze", "files/")
    top = dev_lake.run("ls", "bronze")
    everything = dev_lake.run("ls", "bronze", "files/", "--recursive")

    assert level.code == top.code == everything.code == 0, level.err
    shown = [line.split()[-1] for line in level.out.splitlines()]
    assert shown == ["files/a/", "files/b.csv", "files/c.parquet", "files/d.csv"]
    assert level.out.splitlines()[0].split() == ["PRE", "files/a/"]
    # The layout's prefixes, as roll-ups: the markers stay hidden.
    assert [line.split() for line in top.out.splitlines()] == [
        ["PRE", p] for p in ("api/", "files/", "postgres/", "streaming/")
    ]
    assert [line.split()[-1] for line in everything.out.splitlines()] == sorted(TREE)


def test_ls_takes_wildcards_in_the_last_part_of_the_path(dev_lake: DeployedLake) -> None:
    put(dev_lake, "bronze", *TREE)

    one_level = dev_lake.run("ls", "bronze", "files/*.csv")
    recursive = dev_lake.run("ls", "-r", "bronze", "files/*.csv")
    single = dev_lake.run("ls", "bronze", "files/?.parquet")
    prefixes = dev_lake.run("ls", "bronze", "files/a*")
    uri = dev_lake.run("ls", f"s3://{dev_lake.buckets['bronze']}/files/*.parquet")
    misplaced = dev_lake.run("ls", "bronze", "fil*/b.csv")
    nothing = dev_lake.run("ls", "bronze", "files/*.json")

    def keys(result: Result) -> list[str]:
        assert result.code == 0, result.err
        return [line.split()[-1] for line in result.out.splitlines()]

    assert keys(one_level) == ["files/b.csv", "files/d.csv"]
    assert keys(recursive) == ["files/a/1.csv", "files/a/2.csv", "files/b.csv", "files/d.csv"]
    assert keys(single) == keys(uri) == ["files/c.parquet"]
    assert keys(prefixes) == ["files/a/"]
    assert misplaced.code == 2 and "last part of the path" in misplaced.err
    assert nothing.code == 4 and "nothing matched" in nothing.err


def test_ls_summarizes_and_writes_ndjson_with_types(dev_lake: DeployedLake) -> None:
    put(dev_lake, "bronze", *TREE)

    human = dev_lake.run("ls", "bronze", "files/", "-r", "--summarize")
    level = dev_lake.run("ls", "bronze", "files/", "--json", "--summarize")

    assert human.code == 0
    assert "Total Objects: 5" in human.out and "Total Size: 50 " in human.out
    lines = ndjson(level)
    assert [(e["type"], e["key"]) for e in lines[:2]] == [
        ("prefix", "files/a/"),
        ("object", "files/b.csv"),
    ]
    assert lines[1]["size"] == 10 and not lines[1]["etag"].startswith('"')
    assert lines[-1] == {"type": "summary", "objects": 3, "bytes": 30}
    assert all(SNAKE_CASE.match(name) for line in lines for name in line)


# -- 9: one JSON schema ----------------------------------------------------------------------


def _names(document: Any, path: str = "") -> Iterator[str]:
    """Every name in a document, but not those inside maps of the user's own names."""
    if isinstance(document, list):
        for item in document:
            yield from _names(item, path)
    elif isinstance(document, dict):
        for name, value in document.items():
            yield name
            if name not in ("metadata", "settings"):
                yield from _names(value, f"{path}.{name}")


def _etags(document: Any) -> Iterator[str]:
    if isinstance(document, list):
        for item in document:
            yield from _etags(item)
    elif isinstance(document, dict):
        for name, value in document.items():
            if name == "etag" or name.endswith("_etag"):
                yield value
            else:
                yield from _etags(value)


def test_every_command_speaks_one_json_schema(dev_lake: DeployedLake, tmp_path: Path) -> None:
    source = tmp_path / "u.csv"
    source.write_text("id\n1\n")
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "part.csv").write_text("id\n2\n")

    documents = [
        dev_lake.run("--json", "upload", str(source), "silver", "cleaned/u/u.csv").json(),
        dev_lake.run("--json", "upload", str(source), "silver", "cleaned/u/u.csv").json(),
        dev_lake.run("--json", "stat", "silver", "cleaned/u/u.csv").json(),
        dev_lake.run(
            "--json", "promote", "silver", "cleaned/u/u.csv", "gold", "reports/u.csv"
        ).json(),
        dev_lake.run("--json", "stat", "gold", "reports/u.csv").json(),
        dev_lake.run("--json", "upload", "-r", str(folder), "silver", "cleaned/ds/").json(),
        dev_lake.run("--json", "config").json(),
    ]
    versions = dev_lake.run("--json", "versions", "silver", "cleaned/u/u.csv")
    listed = dev_lake.run("--json", "ls", "-r", "silver", "cleaned/")
    documents += ndjson(versions) + ndjson(listed)

    assert len(ndjson(versions)) == 2 and len(ndjson(listed)) >= 2
    names = set(_names(documents))
    assert all(SNAKE_CASE.match(name) for name in names), sorted(names)
    etags = list(_etags(documents))
    assert len(etags) >= 6 and not any(e and e.startswith('"') for e in etags)
    stat = documents[2]
    # No raw HEAD response: no request ids, no header dumps.
    assert "head" not in stat and "RequestId" not in json.dumps(stat)
    assert "x-amz" not in json.dumps(stat).lower()


def test_a_rerun_of_a_published_dataset_says_published(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "part.csv").write_text("id\n2\n")
    argv = ("upload", "-r", str(folder), "silver", "cleaned/ds/")

    first = dev_lake.run("--json", *argv).json()
    again = dev_lake.run("--json", *argv).json()
    text = dev_lake.run(*argv)

    assert (first["published"], first["already_published"]) == (True, False)
    assert (again["published"], again["already_published"]) == (True, True)
    assert "already published, identical" in text.out
    assert again["manifest_uri"] == first["manifest_uri"]


# -- 10: did you mean ---------------------------------------------------------------------------


def test_did_you_mean_offers_close_names_only(dev_lake: DeployedLake) -> None:
    put(dev_lake, "bronze", *(f"files/dr/part-{n:04d}.csv" for n in range(12)))

    numbered = dev_lake.run("ls", "bronze", "files/dr/part-0200.csv")
    top_typo = dev_lake.run("ls", "bronze", "file/dr/")
    leaf_typo = dev_lake.run("ls", "bronze", "files/dr/part-0003.cvs")
    folder_typo = dev_lake.run("ls", "bronze", "file/")
    missing_key = dev_lake.run("stat", "bronze", "files/dr/part-0200.csv")

    assert numbered.code == 4
    assert "part-00" not in numbered.err
    assert "`lakeops ls bronze files/dr/` lists what is there" in numbered.err
    assert top_typo.code == 4 and "Did you mean 'files/dr/'?" in top_typo.err
    assert "Did you mean 'files/dr/part-0003.csv'?" in leaf_typo.err
    assert "Did you mean 'files/'?" in folder_typo.err
    # A missing object points at its siblings, not at the whole layer.
    assert missing_key.code == 4 and "`lakeops ls bronze files/dr/`" in missing_key.err


# -- 11: a server that is not S3 ----------------------------------------------------------------


class _WebPage(BaseHTTPRequestHandler):
    """A web console, as MinIO's on port 9001: a page for every path."""

    status = 200

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _page(self) -> None:
        body = b"<!doctype html><html><body>MinIO Console</body></html>"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._page()

    do_HEAD = do_PUT = do_POST = do_GET


class _NotFoundPage(_WebPage):
    status = 404


@pytest.fixture(params=[_WebPage, _NotFoundPage], ids=["pages", "not-found-pages"])
def web_server(request: pytest.FixtureRequest) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "argv",
    [("ls", "bronze"), ("stat", "bronze", "files/x.csv"), ("versions", "bronze", "files/x.csv")],
)
def test_an_endpoint_that_is_not_s3_is_named_as_such(
    web_server: str, argv: tuple[str, ...]
) -> None:
    err = io.StringIO()
    code = main(["--endpoint-url", web_server, *argv], out=io.StringIO(), err=err)

    assert code == 3, err.getvalue()
    assert f"the endpoint {web_server} does not answer like S3" in err.getvalue()
    assert "does not exist" not in err.getvalue() and "Create the lake" not in err.getvalue()
    assert len(err.getvalue().splitlines()) == 1


# -- 12: a refused look during an upload ------------------------------------------------------


def test_a_refused_head_during_an_upload_is_access_denied(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    proxy = FaultProxy(dev_lake.endpoint.url)
    proxy.faults.refuse_when = lambda method, path: method == "HEAD"
    proxy.faults.refuse_status, proxy.faults.refuse_code = 403, "AccessDenied"
    source = tmp_path / "dr.csv"
    source.write_text("id\n1\n")
    out, err = io.StringIO(), io.StringIO()
    try:
        code = main(
            [
                "--endpoint-url",
                proxy.url,
                "--outputs-file",
                str(dev_lake.outputs_file),
                "upload",
                str(source),
                "bronze",
                "files/dr/dr.csv",
            ],
            out=out,
            err=err,
        )
    finally:
        proxy.stop()

    assert code == 6, err.getvalue()
    assert "access denied to upload to bronze" in err.getvalue()
    assert "HEAD" in err.getvalue()
    assert "does not exist" not in err.getvalue() and "List what is there" not in err.getvalue()
    bronze = dev_lake.buckets["bronze"]
    assert "Contents" not in dev_lake.admin.list_objects_v2(Bucket=bronze, Prefix="files/dr/")


# -- 15: the outputs file, shown absolute --------------------------------------------------------


def test_config_shows_the_outputs_file_absolute(
    dev_lake: DeployedLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(dev_lake.outputs_file.parent)
    out = io.StringIO()
    main(
        [
            "--endpoint-url",
            dev_lake.endpoint.url,
            "--outputs-file",
            dev_lake.outputs_file.name,
            "--json",
            "config",
        ],
        out=out,
        err=io.StringIO(),
    )

    source = json.loads(out.getvalue())["settings"]["bucket.bronze"]["source"]
    assert f"'{dev_lake.outputs_file.resolve()}'" in source


# -- 18: aws-cli's --exclude '*' --include GLOB ------------------------------------------------


def test_the_aws_filter_idiom_is_answered_with_the_lakeops_way(
    dev_lake: DeployedLake, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.parquet").write_bytes(b"PAR1")
    (folder / "b.csv").write_text("id\n1\n")

    refused = dev_lake.run(
        "upload",
        "-r",
        str(folder),
        "silver",
        "cleaned/m/",
        "--exclude",
        "*",
        "--include",
        "*.parquet",
    )
    lakeops_way = dev_lake.run(
        "--json", "upload", "-r", str(folder), "silver", "cleaned/m/", "--include", "*.parquet"
    )

    assert refused.code == 2, refused.err
    assert "--include '*.parquet' (no --exclude)" in refused.err
    assert len(refused.err.splitlines()) == 1
    assert lakeops_way.code == 0 and lakeops_way.json()["transferred"] == 1
