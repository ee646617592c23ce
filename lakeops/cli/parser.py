"""The command line's grammar: every command, option and argument, each with its help."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from lakeops._version import __version__
from lakeops.cli.examples import examples_epilog
from lakeops.cli.exits import EXIT_CODES, UsageError
from lakeops.cli.tables import add_table_commands
from lakeops.contract import PIPELINE_ROLES

LAYERS = "bronze, silver or gold (or their buckets: raw, staging, curated)"
URI_NOTE = "Any LAYER KEY pair may be given as one s3://bucket/key URI of the lake instead."


class Parser(argparse.ArgumentParser):
    """Options are spelt out: with abbreviations allowed, `--dry` would mean `--dry-run` today
    and break a script the day another `--dry...` option is added."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # argparse's own errors become one clean line
        raise UsageError(f"{message}.", hint=f"See `{self.prog} --help`.")


class _ExamplesFormatter(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal as usual; the examples, laid out line by line,
    kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _global_options(defaults: bool) -> Parser:
    """Options valid before and after the command; after it, they only override."""
    unset = None if defaults else argparse.SUPPRESS
    flag = False if defaults else argparse.SUPPRESS
    parser = Parser(add_help=False)
    where = parser.add_argument_group("where the lake is (overrides the environment and stack)")
    where.add_argument(
        "--endpoint-url",
        default=unset,
        help="S3 API URL (AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL)",
    )
    where.add_argument("--region", default=unset, help="region (AWS_REGION)")
    where.add_argument("--profile", default=unset, help="AWS profile (AWS_PROFILE)")
    where.add_argument(
        "--backend",
        choices=["minio", "aws"],
        default=unset,
        help="minio (any S3-compatible endpoint) or aws (LAKEOPS_BACKEND)",
    )
    where.add_argument(
        "--stack", default=unset, help="Pulumi stack whose outputs to use (LAKEOPS_STACK)"
    )
    where.add_argument(
        "--outputs-file",
        default=unset,
        help="stack outputs exported as JSON by `make outputs` (LAKEOPS_OUTPUTS_FILE)",
    )
    where.add_argument(
        "--role",
        default=unset,
        help=f"act as a pipeline role of the stack: {', '.join(PIPELINE_ROLES)} (LAKEOPS_ROLE)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--json", action="store_true", default=flag, help="machine-readable output on stdout"
    )
    output.add_argument(
        "--no-progress",
        action="store_true",
        default=flag,
        help="no progress bars (they show only when stderr is a terminal)",
    )
    output.add_argument(
        "--debug",
        action="store_true",
        default=flag,
        help="log every request (method, bucket, key, status, time) and show tracebacks",
    )
    return parser


# Next to --dry-run, because it is the reason to use it.
BRONZE_IS_FOREVER = (
    "in bronze a mistake is forever: no role can replace or remove what was written there"
)


def _dry_run(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument(
        "--dry-run",
        action="store_true",
        help=f"say what would happen ({what}), write nothing, and exit as the real run would; "
        f"{BRONZE_IS_FOREVER}",
    )


def _dataset_options(command: argparse.ArgumentParser) -> None:
    _dry_run(command, "with --recursive, the plan: new, identical, conflicting, bytes")
    group = command.add_argument_group("with --recursive")
    group.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="only files matching the glob ('*.parquet' matches names, 'date=*/*' paths); "
        "repeat for more",
    )
    group.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave these files out; an exclude always wins over an include, whatever the "
        "order (not aws-cli's --exclude '*' --include GLOB: give --include GLOB alone)",
    )
    group.add_argument("--workers", type=int, default=None, help="objects at once (default 32)")


def _add_rm(command: Callable[..., argparse.ArgumentParser]) -> None:
    rm = command(
        "rm",
        "Remove an object, or a prefix (--recursive), from silver or gold; never from bronze.",
        "lakeops rm LAYER KEY\n       lakeops rm --recursive LAYER PREFIX",
    )
    rm.add_argument("where", nargs="+", metavar="LAYER KEY", help="the object or prefix")
    rm.add_argument(
        "--recursive",
        "-r",
        action="store_true",
        help="every object under the prefix; a published dataset goes only as a whole, and "
        "is unpublished first",
    )
    rm.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be removed, and remove nothing",
    )
    # The examples are the epilog (as for every command); what rm keeps goes with the summary.
    rm.description = f"{rm.description} " + (
        "Versioned buckets (all of the lake's) keep what rm removes: each removal adds a delete "
        "marker, and the old versions stay recoverable (`lakeops versions`, then `download "
        "--version-id`). Bronze is append-only: rm refuses it, and "
        f"{BRONZE_IS_FOREVER}."
    )


def build_parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES)
    parser = Parser(
        prog="lakeops",
        description="Move data through the lake's layers: bronze (raw), silver (staging), "
        f"gold (curated). {URI_NOTE}",
        epilog=f"exit codes:\n{codes}\n\nSettings come from options, then AWS_* and LAKEOPS_* "
        "variables, then the stack's outputs, then the dev defaults: see `lakeops config`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"lakeops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = [_global_options(defaults=False)]

    def command(name: str, summary: str, usage: str | None = None) -> argparse.ArgumentParser:
        # Only commands that take a LAYER KEY pair accept a URI for it.
        described = f"{summary} {URI_NOTE}" if usage and "LAYER" in usage else summary
        return commands.add_parser(
            name,
            help=summary,
            description=described,
            parents=common,
            usage=usage,
            epilog=examples_epilog(name),
            formatter_class=_ExamplesFormatter,
        )

    command("config", "Show the settings lakeops will use and where each one came from.")

    env = command("env", "Print the variables aws-cli, s5cmd, rclone and DuckDB read.")
    env.add_argument(
        "--format", choices=["sh", "dotenv", "json"], default="sh", help="output format (sh)"
    )
    env.add_argument(
        "--show-secrets", action="store_true", help="print secret keys instead of masking them"
    )

    ls = command(
        "ls",
        "List a layer one level at a time under a prefix (PRE lines roll up the prefixes below), "
        "or everything under it with --recursive.",
        "lakeops ls LAYER [PREFIX] [--recursive] [--summarize]",
    )
    ls.add_argument(
        "where",
        nargs="+",
        metavar="LAYER [PREFIX]",
        help=f"the layer: {LAYERS}; the prefix may end in a wildcard part: * and ? "
        "(files/2024-*.csv)",
    )
    ls.add_argument("--recursive", "-r", action="store_true", help="every object under the prefix")
    ls.add_argument(
        "--summarize", action="store_true", help="end with the number of objects and their size"
    )
    ls.add_argument("--all", action="store_true", help="show the layout's prefix markers too")

    stat = command(
        "stat",
        "Show an object's size, version, checksum, metadata and lineage.",
        "lakeops stat LAYER KEY",
    )
    stat.add_argument("where", nargs="+", metavar="LAYER KEY", help="the object")
    stat.add_argument("--version-id", help="show this version (see `lakeops versions`)")

    versions = command(
        "versions", "List an object's versions, newest first.", "lakeops versions LAYER KEY"
    )
    versions.add_argument("where", nargs="+", metavar="LAYER KEY", help="the object")

    upload = command(
        "upload",
        "Upload a file to a layer, or a folder as a dataset (--recursive).",
        "lakeops upload FILE LAYER KEY\n       lakeops upload --recursive DIR LAYER PREFIX",
    )
    upload.add_argument(
        "words", nargs="+", metavar="FILE LAYER KEY", help="what to upload and where"
    )
    upload.add_argument(
        "--recursive",
        "-r",
        action="store_true",
        help="upload a folder as one dataset, and publish it",
    )
    upload.add_argument(
        "--metadata",
        "-m",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="user metadata; repeat for more",
    )
    upload.add_argument("--content-type", help="media type (default: guessed from the name)")
    _dataset_options(upload)
    upload.add_argument(
        "--skip-conflicts",
        action="store_true",
        help=(
            "upload the rest when some keys hold other content (bronze); the dataset is then"
            " not published"
        ),
    )
    upload.add_argument(
        "--no-publish", action="store_true", help="write no manifest or _SUCCESS marker"
    )

    download = command(
        "download",
        "Download an object, or a prefix (--recursive), verified and atomically.",
        "lakeops download LAYER KEY [DEST]\n       lakeops download --recursive LAYER PREFIX DIR",
    )
    download.add_argument(
        "words",
        nargs="+",
        metavar="LAYER KEY [DEST]",
        help="the object, and the local path (default: the key's file name here)",
    )
    download.add_argument("--recursive", "-r", action="store_true", help="download a prefix")
    download.add_argument("--version-id", help="download this version (see `lakeops versions`)")
    download.add_argument(
        "--force",
        "-f",
        action="store_true",
        help="replace local files that exist (with --recursive: that differ)",
    )
    _dataset_options(download)
    download.add_argument(
        "--live",
        action="store_true",
        help="read the live objects even where a manifest publishes the dataset (one object: "
        "check it against its own recorded SHA-256, not the manifest of its dataset)",
    )

    promote = command(
        "promote",
        "Copy an object, or a prefix (--recursive), forward to a later layer, server-side.",
        "lakeops promote SOURCE_LAYER KEY TARGET_LAYER TARGET_KEY\n"
        "       lakeops promote --recursive SOURCE_LAYER PREFIX TARGET_LAYER TARGET_PREFIX",
    )
    promote.add_argument(
        "words",
        nargs="+",
        metavar="SOURCE_LAYER KEY TARGET_LAYER TARGET_KEY",
        help="the source object and where to copy it: each layer has its own prefixes, so "
        "the target key differs (bronze postgres/x.csv -> silver cleaned/x.csv)",
    )
    promote.add_argument("--recursive", "-r", action="store_true", help="promote a prefix")
    promote.add_argument("--version-id", help="promote this version of the source")
    _dataset_options(promote)
    promote.add_argument(
        "--no-publish", action="store_true", help="write no manifest or _SUCCESS marker"
    )
    promote.add_argument(
        "--lineage",
        metavar="TARGET",
        help="send OpenLineage events to file:PATH or an http(s) endpoint (LAKEOPS_LINEAGE)",
    )

    _add_rm(command)

    verify = command(
        "verify",
        "Check the lake against its layout, a published dataset against its manifest, or a "
        "table's files against its current snapshot.",
        "lakeops verify [--history]\n       lakeops verify LAYER PREFIX [--deep]\n"
        "       lakeops verify LAYER NAMESPACE.TABLE [--deep]",
    )
    verify.add_argument(
        "where",
        nargs="*",
        metavar="LAYER PREFIX",
        help="a published dataset, or a table (default: the whole lake's layout)",
    )
    verify.add_argument(
        "--deep",
        action="store_true",
        help="read every object's bytes and hash them, instead of trusting stored checksums",
    )
    verify.add_argument(
        "--history",
        action="store_true",
        help="the lake: list every bronze version to find keys written over (default: the "
        "first 10,000)",
    )

    command("sample", "Upload the bundled sample dataset to bronze (idempotent).")
    add_table_commands(command)
    return parser
