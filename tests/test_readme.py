"""The README is a tested tutorial: every block it shows either runs here, in order, against a
stand-in for the dev lake with the pipeline roles enforced, or says why it cannot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from lakeops.cli import EXIT_CODES, build_parser
from tests.support.s3server import EXTERNAL_ENDPOINT_VAR, S3Endpoint
from tests.support.walkthrough import (
    README,
    REFERENCE,
    REPO,
    Block,
    DevLake,
    Step,
    dev_lake,
    readme_blocks,
    run_block,
    walkthrough_blocks,
)


@dataclass
class Walkthrough:
    steps: list[Step]
    checkout: Path  # the stand-in checkout the session started in
    cwd: Path  # where its last `cd` left it
    lake: DevLake  # still up: the shell's environment and folder as the session left them
    admin_key: str  # the administrator's key id the session started with


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walkthrough]:
    workdir = tmp_path_factory.mktemp("walkthrough")
    with dev_lake(workdir) as lake:
        admin_key = lake.env["AWS_ACCESS_KEY_ID"]
        steps: list[Step] = []
        for block in walkthrough_blocks():
            steps.extend(_run(block, lake))
        yield Walkthrough(steps, lake.checkout, lake.cwd, lake, admin_key)


@pytest.fixture(scope="module")
def walkthrough(session: Walkthrough) -> list[Step]:
    return session.steps


def _run(block: Block, lake: DevLake) -> list[Step]:
    steps = []
    for step in run_block(block, lake):
        steps.append(step)
        if not step.ok:
            break  # later steps build on this one
    return steps


def test_every_block_runs_or_says_why_not() -> None:
    blocks = readme_blocks()
    unmarked = [block.line for block in blocks if not block.run and not block.why]
    assert unmarked == [], f"README blocks without <!-- walkthrough --> or a reason: {unmarked}"
    assert sum(block.run for block in blocks) >= 10


def test_the_walkthrough_runs_top_to_bottom(walkthrough: list[Step]) -> None:
    failed = [step for step in walkthrough if not step.ok]
    assert not failed, "\n\n".join(
        f"$ {s.command}\n(exit {s.code}, the README says {s.expected})\n{s.output}" for s in failed
    )
    commands = [step.command for step in walkthrough]
    assert any(c.startswith("lakeops --role ingest sample") for c in commands)
    assert len(walkthrough) >= 20


def test_the_walkthrough_shows_what_the_page_says(walkthrough: list[Step]) -> None:
    output = {step.command: step.output for step in walkthrough}
    sample = output["lakeops --role ingest sample"]
    assert "s3://raw/postgres/users/2024-01-15/users.csv" in sample
    refused = next(s for s in walkthrough if "changed.csv bronze" in s.command)
    assert "already exists with different content" in refused.output
    stat = next(s for s in walkthrough if s.command.startswith("lakeops --role analyst stat"))
    assert (
        "promoted from" in stat.output and "s3://staging/cleaned/users/2024-01-15/" in stat.output
    )
    duckdb = next(s for s in walkthrough if "GROUP BY country" in s.command)
    # The sample's users, cleaned: the invalid and the missing e-mails and a duplicate gone.
    assert "('GB', 2)" in duckdb.output and "('US', 6)" in duckdb.output
    readers = next(s for s in walkthrough if "pl.read_parquet" in s.command)
    assert readers.output.split() == ["10", "10", "[(10,)]", "10"]
    again = [
        s
        for s in walkthrough
        if s.command.startswith("lakeops --role ingest upload --recursive events/")
    ]
    assert "40 skipped as already there" in again[-1].output


def test_the_walkthrough_works_in_scratch_and_finds_the_lake_from_there(
    session: Walkthrough,
) -> None:
    """The page's files land in scratch/ (git ignores it), not in the checkout, and lakeops
    finds the dev stack's export from that subfolder by itself: no LAKEOPS_* is set."""
    assert session.cwd == (session.checkout / "scratch").resolve()
    config = next(s for s in session.steps if s.command == "lakeops config")
    # Shown absolute (issue 17, 15): relative to the project, it says nothing from scratch/.
    exported = (session.checkout / ".lakeops" / "outputs-dev.json").resolve()
    assert f"stack outputs (file '{exported}')" in config.output
    made = {path.name for path in session.cwd.iterdir()}
    expected = {"changed.csv", "users-clean", "users-report", "events", "events-copy"}
    expected |= {"orders-2024-01-16.csv", "orders-clean.csv"}
    assert expected <= made
    assert not expected & {path.name for path in session.checkout.iterdir()}
    assert "/scratch/" in (REPO / ".gitignore").read_text().splitlines()


def test_the_files_the_walkthrough_writes_are_what_they_claim(session: Walkthrough) -> None:
    events = sorted((session.cwd / "events").glob("*.json"))
    assert [p.name for p in events[:2]] == ["page-01.json", "page-02.json"] and len(events) == 40
    pages = [json.loads(path.read_text()) for path in events]
    assert pages == [{"page": n} for n in range(1, 41)]


def test_the_blocks_that_do_not_run_name_real_make_targets() -> None:
    for block in readme_blocks():
        for line in block.body.splitlines():
            if line.startswith("make "):
                target = line.split()[1]
                done = subprocess.run(
                    ["make", "-n", target], cwd=REPO, capture_output=True, text=True, check=False
                )
                assert "No rule to make target" not in done.stderr, target


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as
    hyphens, and -1, -2... on repeats."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_FENCED.sub("", text)):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _relative_links(page: Path) -> list[str]:
    links = _LINK.findall(_FENCED.sub("", page.read_text()))
    return [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


@pytest.mark.parametrize(
    "page",
    [README, *sorted((REPO / "docs").glob("*.md"))],
    ids=lambda page: str(page.relative_to(REPO)),
)
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    broken = []
    for link in _relative_links(page):
        path, _, fragment = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no {target.relative_to(REPO.resolve())}")
        elif fragment and target.suffix == ".md" and fragment not in _anchors(target.read_text()):
            broken.append(f"{link}: no heading #{fragment} in {target.name}")
    assert broken == [], broken


def test_the_link_checker_sees_what_it_checks() -> None:
    assert "where-minio-and-aws-differ" in _anchors("## Where MinIO and AWS differ\n")
    assert _anchors("## Running `lakeops`\n## A, b.\n## A, b.\n") == {
        "running-lakeops",
        "a-b",
        "a-b-1",
    }
    readme = _relative_links(README)
    assert "docs/development.md" in readme
    assert not [link for link in readme if link.startswith("http")]


def _command_summary() -> list[list[str]]:
    """The README's command summary: its header row, then a row per command."""
    text = README.read_text()
    section = text[text.index("## The command line") :]
    rows = re.findall(r"^\|(.+)\|$", section.split("\n## ", 1)[0], re.MULTILINE)
    cells = [re.split(r"(?<!\\)\|", row) for row in rows]
    return [[cell.strip() for cell in row] for row in cells if not set(row[0]) <= {"-", " "}]


def test_the_command_summary_names_every_command_under_labelled_columns() -> None:
    import argparse

    header, *rows = _command_summary()
    assert header == ["command and arguments", "what it does", "on a whole prefix, as one dataset"]
    parser = build_parser()
    (subcommands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands = set(subcommands.choices)
    shown = {row[0].strip("`").split()[0] for row in rows}
    assert shown == commands
    assert all(len(row) == 3 and row[1] for row in rows)


def test_the_exit_code_table_is_the_commands_own() -> None:
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", REFERENCE.read_text(), re.MULTILINE)
    shown = [(int(code), meaning.replace("`", "")) for code, meaning in rows]
    assert shown == EXIT_CODES


def test_the_tables_walkthrough_traces_gold_to_bronze_and_reads_back(
    walkthrough: list[Step],
) -> None:
    silver = next(s for s in walkthrough if "checks=[valid_emails]" in s.command)
    assert "created and wrote silver cleaned.users: append of 10 rows" in silver.output
    gold = next(s for s in walkthrough if '"gold", "reports.users_by_country"' in s.command)
    assert "created and wrote gold reports.users_by_country" in gold.output
    trace = next(s for s in walkthrough if s.command.endswith("--trace"))
    lines = trace.output.splitlines()
    assert lines[0].startswith("table gold reports.users_by_country snapshot ")
    assert lines[1].startswith("  - table silver cleaned.users snapshot ")
    assert lines[2].startswith("    - object s3://raw/postgres/users/2024-01-15/users.csv version ")
    denied = next(s for s in walkthrough if "history silver cleaned.users" in s.command)
    assert "AccessDenied" in denied.output or "refused" in denied.output
    readers = next(s for s in walkthrough if "pl.scan_iceberg" in s.command)
    # (Polars may print a PerformanceWarning suggesting its optional planner plugin.)
    shown = [line for line in readers.output.splitlines() if line and "Warning" not in line]
    shown = [line for line in shown if not line.startswith(" ")]
    assert "('GB', 2)" in shown[0] and "('US', 6)" in shown[0]
    assert shown[-3:] == ["4", "4", "4"]
    travel = next(s for s in walkthrough if "as_of=moment" in s.command)
    assert travel.output.split()[-3:] == ["11", "10", "10"]


# -- one shell, a role on every block (the walkthrough followed line by line) -----------------


def test_the_shell_keeps_its_folder_and_environment_from_line_to_line_and_block_to_block(
    tmp_path: Path,
) -> None:
    """What the walkthrough is tested with is one shell session, as a reader's is: an `export`
    or `eval` in one line is still there in the next line, the next block and Python blocks."""
    shell = DevLake(
        S3Endpoint("http://127.0.0.1:9", "", "", kind="none"),
        outputs=tmp_path / "unused.json",
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        checkout=tmp_path,
        cwd=tmp_path,
    )
    first = Block("bash", 'mkdir -p sub && cd sub\neval "export GREETING=hello"\n', True, "", 1)
    second = Block("bash", 'echo "$GREETING from $(basename "$PWD")"\n', True, "", 2)
    third = Block("python", 'import os\nprint(os.environ["GREETING"], os.getcwd())\n', True, "", 3)
    (subshell,) = run_block(Block("bash", "( export GREETING=gone )\n", True, "", 4), shell)
    steps = [step for block in (first, second, third) for step in run_block(block, shell)]
    assert all(step.ok for step in [*steps, subshell]), steps
    assert steps[-2].output.strip() == "hello from sub"
    assert steps[-1].output.split() == ["hello", str((tmp_path / "sub").resolve())]
    assert shell.env["GREETING"] == "hello", "a subshell's export stays in the subshell"


_MODULE_FUNCTIONS = re.compile(
    r"(?<![.\w])(upload_to_layer|download_from_layer|promote_data|list_layer_objects"
    r"|iter_layer_objects|upload_folder|download_prefix|promote_prefix)\("
)


def test_every_walkthrough_step_names_its_role() -> None:
    """Followed in one shell, a step without a role would run as whatever keys the shell has
    (the analyst's, after an `eval` of `lakeops env`): every step names its role instead."""
    roleless = []
    for block in walkthrough_blocks():
        where = f"{block.page.name}:{block.line}"
        if block.lang == "python":
            if re.search(r"Lake\((?![^)]*role=)", block.body):
                roleless.append(f"{where}: Lake() without role=")
            roleless += [
                f"{where}: {m[1]}() acts as no role" for m in _MODULE_FUNCTIONS.finditer(block.body)
            ]
            continue
        for line in block.body.splitlines():
            for command in re.findall(r"\blakeops\b[^;&|)\"]*", line):
                if command.split()[1:2] != ["config"] and "--role" not in command:
                    roleless.append(f"{where}: {command.strip()}")
            if "--show-secrets" in line and "eval" in line and not line.startswith("("):
                roleless.append(f"{where}: keys loaded into the shell itself: {line}")
    assert roleless == []


def test_no_block_is_left_out_for_want_of_a_tool() -> None:
    """aws-cli is in the test extra, so the README's aws-cli block runs like the rest."""
    left_out = [block.why for block in readme_blocks() if not block.run and "aws" in block.why]
    assert left_out == []
    assert any("aws s3 ls" in block.body for block in walkthrough_blocks())


def test_aws_cli_reads_gold_with_the_keys_of_lakeops_env_in_a_subshell_only(
    session: Walkthrough,
) -> None:
    aws = next(s for s in session.steps if "aws s3 ls" in s.command)
    assert aws.ok and "part-0.parquet" in aws.output, aws.output
    # The analyst's keys went with the subshell: the session's shell has the login it started
    # with, and the blocks after it ran as their own roles.
    assert session.lake.env["AWS_ACCESS_KEY_ID"] == session.admin_key
    pipeline = next(s for s in session.steps if "ingest.list_objects" in s.command)
    assert pipeline.ok and "files/orders/2024-01-16/orders.csv (37 bytes)" in pipeline.output


# -- readers fed from the published dataset -------------------------------------------------


def test_the_readers_read_the_published_dataset_not_what_was_written_beside_or_over_it(
    session: Walkthrough,
) -> None:
    """The README's "Query the lake" block, run again once the silver dataset's prefix has a
    stray file beside the published ones (a later --no-publish upload, say), then once a
    published file was overwritten by another tool: the stray is never read, and the tampered
    file stops the readers with DatasetChangedError before any of them reads it."""
    query = next(b for b in readme_blocks() if b.run and "pl.read_parquet" in b.body)
    lake = session.lake
    admin = boto3.client(
        "s3",
        endpoint_url=lake.server.url,
        aws_access_key_id=lake.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=lake.env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    prefix = "cleaned/users/2024-01-15/"
    stray = pa.table({"id": ["900", "901"], "email": ["a@x", "b@x"], "country": ["GB", "GB"]})
    sink = pa.BufferOutputStream()
    pq.write_table(stray, sink)
    admin.put_object(
        Bucket="staging", Key=prefix + "stray.parquet", Body=sink.getvalue().to_pybytes()
    )

    (beside,) = run_block(query, lake)
    assert beside.ok, beside.output
    assert beside.output.split() == ["10", "10", "[(10,)]", "10"]

    admin.put_object(Bucket="staging", Key=prefix + "part-0.parquet", Body=b"not parquet")
    (over,) = run_block(query, lake)
    assert not over.ok
    assert "DatasetChangedError" in over.output and "part-0.parquet (modified)" in over.output
    assert "10" not in over.output.split(), "no reader ran"


# -- facts the pages state ----------------------------------------------------------------------


def test_the_install_block_upgrades_pip_before_installing_the_extras() -> None:
    """Python 3.11's bundled pip (23.2) cannot resolve the pandas extra against the newest
    boto3; the page upgrades pip first."""
    (install,) = [b for b in readme_blocks() if 'pip install -e ".[' in b.body]
    lines = install.body.splitlines()
    upgrade = next(i for i, line in enumerate(lines) if "pip install --upgrade pip" in line)
    assert upgrade < next(i for i, line in enumerate(lines) if "pip install -e" in line)


@pytest.mark.slow
def test_development_md_counts_the_tests_about_right() -> None:
    """docs/development.md says how many tests there are and how many are deselected, "about":
    within a fifth of what pytest collects today."""
    text = (REPO / "docs" / "development.md").read_text()
    (said_tests,) = re.findall(r"the whole suite, about (\d+) tests", text)
    (said_deselected,) = re.findall(r"reported as deselected, about (\d+) today", text)
    # The count docs/development.md gives is `make test`'s, on moto alone: not the count of a
    # run against an external server (make test-rgw), which deselects nothing.
    env = {name: value for name, value in os.environ.items() if name != EXTERNAL_ENDPOINT_VAR}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    counted = re.search(r"(\d+)/\d+ tests collected \((\d+) deselected\)", done.stdout)
    assert counted, done.stdout[-2000:]
    for said, real in ((said_tests, counted[1]), (said_deselected, counted[2])):
        assert abs(int(said) - int(real)) <= int(real) / 5, (said, real)


# -- the first screen, the pictures, the length ----------------------------------------------------


def test_the_first_screen_says_why_this_rather_than_aws_s3_cp() -> None:
    first_screen = "\n".join(README.read_text().splitlines()[:15])
    assert "aws s3 cp" in first_screen
    for reason in ("append-only", "publishes whole datasets as commits", "SHA-256", "role"):
        assert reason in first_screen, reason
    # What lakeops depends on is for people working on it: docs/development.md says it.
    assert "boto3[crt]" not in README.read_text()
    assert "`boto3[crt]`" in (REPO / "docs" / "development.md").read_text()


def _mermaid(index: int) -> str:
    pictures = [b.body for b in readme_blocks() if b.lang == "mermaid"]
    assert len(pictures) == 2, "the layers and roles; what make up wires together"
    return pictures[index]


_NODE = re.compile(r"^\s*(\w+)(?:\[\(|\{\{|\(\[|\[)\"(.+?)\"", re.MULTILINE)
_EDGE = re.compile(r"^\s*(\w+)\s*(?:--\s*\"?([^\"\n]*?)\"?\s*)?-->\s*(\w+)\s*$", re.MULTILINE)


def test_the_layers_picture_draws_each_roles_access_as_its_policy_grants() -> None:
    from lakeinfra.policies import ROLES
    from lakeops.layout import LAYOUT, StorageLayer

    picture = _mermaid(0)
    labels = dict(_NODE.findall(picture))
    layer_of = {}
    for node, label in labels.items():
        for layer in StorageLayer:
            if label.startswith(f"{layer.value}: "):
                layer_of[node] = layer
                spec = LAYOUT[layer]
                assert f"s3://{spec.default_bucket}<br/>" in label, label
                assert label.split("<br/>")[1].split() == list(spec.prefixes), label
    assert set(layer_of.values()) == set(StorageLayer)
    drawn: dict[str, dict[str, set[StorageLayer]]] = {
        role: {"reads": set(), "writes": set()} for role in ROLES
    }
    for source, label, target in _EDGE.findall(picture):
        if source in drawn and target in layer_of:
            if "write" in label:
                drawn[source]["writes"].add(layer_of[target])
            if "read" in label:
                drawn[source]["reads"].add(layer_of[target])
        elif source in layer_of and target in drawn:
            assert label == "read", label
            drawn[target]["reads"].add(layer_of[source])
    for role, grant in ROLES.items():
        assert drawn[role] == {"reads": set(grant.reads), "writes": set(grant.writes)}, role


def test_the_make_up_picture_names_what_the_makefile_and_compose_wire_together() -> None:
    picture = _mermaid(1)
    makefile = (REPO / "Makefile").read_text()
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert {"minio", "minio-init"} <= set(compose["services"])
    assert "minio-data" in compose["volumes"]
    ports = compose["services"]["minio"]["ports"]
    assert any(p.startswith("127.0.0.1:9000:") for p in ports)
    assert any(p.startswith("127.0.0.1:9001:") for p in ports)
    for shown in ("minio:", "minio-init", "minio-data", "127.0.0.1:9000", ":9001"):
        assert shown in picture, shown
    assert "file://$(CURDIR)/.pulumi-state" in makefile and ".pulumi-state/" in picture
    assert "OUTPUTS = .lakeops/outputs-$(STACK).json" in makefile
    assert ".lakeops/outputs-dev.json" in picture and "make outputs" in picture
    assert (
        "PULUMI_BACKEND_URL: file:///project/.pulumi-state"
        in (REPO / "docker-compose.yml").read_text()
    )
    for reader in ("pandas", "Polars", "DuckDB", "PyArrow", "lakeops"):
        assert reader in picture, reader


def test_the_readme_is_a_tutorial_and_the_reference_holds_the_rest() -> None:
    readme = README.read_text()
    assert len(readme.splitlines()) <= 460
    for moved in ("What you can rely on", "The library in a pipeline", "Exit codes"):
        anchor = moved.lower().replace(" ", "-")
        assert f"## {moved}" in REFERENCE.read_text(), moved
        assert f"docs/reference.md#{anchor}" in readme, moved
    assert "| 130 |" not in readme, "the exit-code table lives in docs/reference.md"
