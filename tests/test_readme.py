"""The README is a tested tutorial: every block it shows either runs here, in order, against a
stand-in for the dev lake with the pipeline roles enforced, or says why it cannot."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakeops.cli import EXIT_CODES, build_parser
from tests.support.walkthrough import (
    README,
    REPO,
    Block,
    DevLake,
    Step,
    dev_lake,
    readme_blocks,
    run_block,
)


@dataclass
class Walkthrough:
    steps: list[Step]
    checkout: Path  # the stand-in checkout the session started in
    cwd: Path  # where its last `cd` left it


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walkthrough]:
    workdir = tmp_path_factory.mktemp("walkthrough")
    with dev_lake(workdir) as lake:
        steps: list[Step] = []
        for block in readme_blocks():
            if block.run:
                steps.extend(_run(block, lake))
        yield Walkthrough(steps, lake.checkout, lake.cwd)


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


def test_the_command_summary_names_every_command() -> None:
    summary = next(b for b in readme_blocks() if b.lang == "text" and "lakeops [" in b.body)
    import argparse

    parser = build_parser()
    (subcommands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands = set(subcommands.choices)
    shown = {line.split()[0] for line in summary.body.splitlines()[2:] if line.strip()}
    assert shown == commands


def test_the_exit_code_table_is_the_commands_own() -> None:
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", README.read_text(), re.MULTILINE)
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
