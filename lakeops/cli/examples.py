"""Examples for each command's ``--help``, as aws-cli shows them: a line saying what, then the
command. tests/test_cli_habits.py parses every one with the real parser, so none goes stale."""

from __future__ import annotations

Example = tuple[str, str]  # (what it does, the command line)

EXAMPLES: dict[str, tuple[Example, ...]] = {
    "config": (
        ("Show every setting and where it came from", "lakeops config"),
        ("The same for a role, as JSON", "lakeops --role analyst config --json"),
    ),
    "env": (
        ("Export a role's keys into this shell only", 'eval "$(lakeops --role analyst env)"'),
        ("Write a .env file with the secrets", "lakeops env --format dotenv --show-secrets"),
    ),
    "ls": (
        ("List the top level of bronze (PRE lines are prefixes)", "lakeops ls bronze"),
        ("One level under a prefix", "lakeops ls bronze postgres/users/"),
        ("Everything under a prefix, with a total", "lakeops ls bronze files/ -r --summarize"),
        ("Wildcards in the last part of the path", "lakeops ls bronze 'files/orders/*.csv'"),
        ("As NDJSON, one object per line", "lakeops ls silver cleaned/ -r --json"),
        ("The same place as a URI", "lakeops ls s3://raw/postgres/"),
    ),
    "stat": (
        ("An object's size, checksum and lineage", "lakeops stat silver cleaned/users/u.csv"),
        (
            "An earlier version, as JSON",
            "lakeops stat silver cleaned/users/u.csv --version-id 3HL4kqtJ --json",
        ),
    ),
    "versions": (
        ("Every version of an object, newest first", "lakeops versions silver cleaned/u.csv"),
        ("As NDJSON", "lakeops versions silver cleaned/u.csv --json"),
    ),
    "upload": (
        (
            "One file into bronze, with metadata",
            "lakeops --role ingest upload users.csv bronze postgres/users/users.csv "
            "-m source=postgres",
        ),
        (
            "A folder as one published dataset",
            "lakeops upload -r ./orders silver cleaned/orders/",
        ),
        (
            "Only its Parquet files (no --exclude '*' needed)",
            "lakeops upload -r ./orders silver cleaned/orders/ --include '*.parquet'",
        ),
        (
            "See the plan first; nothing is written",
            "lakeops upload -r ./orders bronze files/o/ --dry-run",
        ),
    ),
    "download": (
        ("One object, verified, into this folder", "lakeops download gold reports/r.csv"),
        ("To a chosen path", "lakeops download s3://curated/reports/r.csv out/r.csv"),
        (
            "A published dataset into a folder",
            "lakeops download -r gold aggregated/daily/ ./daily",
        ),
    ),
    "promote": (
        (
            "One object from bronze to silver (server-side)",
            "lakeops --role transform promote bronze postgres/u.csv silver cleaned/u.csv",
        ),
        (
            "A prefix, published as a dataset in gold",
            "lakeops promote -r silver cleaned/orders/ gold aggregated/orders/",
        ),
    ),
    "rm": (
        (
            "One object from silver (a delete marker; older versions stay)",
            "lakeops --role transform rm silver cleaned/users/u.csv",
        ),
        ("See what a prefix's removal would take", "lakeops rm -r gold reports/old/ --dry-run"),
        (
            "A published dataset, as a whole (unpublishes it)",
            "lakeops --role publish rm -r gold aggregated/daily/",
        ),
    ),
    "verify": (
        ("The whole lake against its layout (admin login)", "lakeops verify"),
        (
            "A published dataset, reading every byte",
            "lakeops verify gold aggregated/orders/ --deep",
        ),
        ("A table's files against its snapshot", "lakeops verify silver cleaned.users"),
    ),
    "sample": (("Upload the bundled sample data to bronze", "lakeops --role ingest sample"),),
    "tables": (("The tables in silver", "lakeops tables silver"),),
    "table": (("A table's schema and snapshot", "lakeops table silver cleaned.users"),),
    "history": (
        ("A table's snapshots", "lakeops history gold aggregated.daily"),
        ("Trace its inputs down to bronze", "lakeops history gold aggregated.daily --trace"),
    ),
    "rollback": (
        ("Make a snapshot current again", "lakeops rollback silver cleaned.users 4923112"),
    ),
    "expire": (
        (
            "Drop snapshots older than a week, keep the last 3",
            "lakeops expire silver cleaned.users --older-than 7d --retain-last 3",
        ),
    ),
}


def examples_epilog(command: str) -> str | None:
    """The ``examples:`` block of a command's help, laid out as it is to be shown."""
    examples = EXAMPLES.get(command)
    if not examples:
        return None
    lines = ["examples:"]
    for what, line in examples:
        lines += [f"  # {what}", f"  {line}", ""]
    return "\n".join(lines).rstrip() + "\n"
