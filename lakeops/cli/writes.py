"""What the single-object writes (upload, download, promote) add to the library's operations
on the command line: options that mean nothing for one object refused, ``--dry-run`` shown,
aws-cli's destinations (a folder, ``-`` for stdout), and a word when a download is not
verified or replaced something."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from lakeops.cli.exits import UsageError
from lakeops.cli.output import printable, size
from lakeops.results import DownloadResult, PlannedWrite, PromotionResult, UploadResult

# Options of the dataset jobs (--recursive), by their argparse names.
_RECURSIVE_ONLY = {
    "include": "--include",
    "exclude": "--exclude",
    "workers": "--workers",
    "skip_conflicts": "--skip-conflicts",
    "no_publish": "--no-publish",
    "lineage": "--lineage",
}
# Options of one object that a dataset job has no use for.
_SINGLE_ONLY = {"version_id": "--version-id", "content_type": "--content-type"}


def refuse_meaningless_options(args: argparse.Namespace) -> None:
    """Exit 2, naming the option, rather than ignore an option that cannot apply: a user who
    gives --include to a one-object upload expects it to do something."""

    def given(name: str) -> bool:
        return getattr(args, name, None) not in (None, False, [])

    if args.recursive:
        for name, flag in _SINGLE_ONLY.items():
            if given(name):
                raise UsageError(
                    f"{flag} applies to one object, not to --recursive.",
                    hint=f"Leave out {flag}, or {args.command} the object on its own.",
                )
        return
    for name, flag in _RECURSIVE_ONLY.items():
        if given(name):
            raise UsageError(
                f"{flag} applies to --recursive only; it means nothing for one object.",
                hint=f"Leave out {flag}, or add --recursive to {args.command} a prefix.",
            )


def destination(word: str | None, key: str) -> Path:
    """Where a one-object download goes, as aws-cli has it: by default the key's last
    segment here; inside a folder that exists or that the destination names with a trailing
    '/' (created then); else the path given."""
    name = Path(key.rstrip("/")).name
    if not word:
        return Path(name)
    separators = ("/", os.sep) if os.altsep is None else ("/", os.sep, os.altsep)
    if word.endswith(separators) or Path(word).is_dir():
        return Path(word) / name
    return Path(word)


def binary_out(out: TextIO) -> BinaryIO:
    """The binary stream under a text output (stdout's buffer); a stand-in that decodes into
    a text-only one (an in-memory stream)."""
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        out.flush()
        return buffer  # type: ignore[no-any-return]
    return cast(BinaryIO, _Decoding(out))


class _Decoding(io.RawIOBase):
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._out.write(bytes(data).decode("utf-8", errors="surrogateescape"))
        return len(data)


def unverified_warning(result: DownloadResult) -> str | None:
    if result.verified:
        return None
    return (
        f"lakeops: warning: {printable(result.uri)} has no recorded SHA-256 (another tool wrote "
        "it) and belongs to no published dataset that records one: the download was not "
        "verified.\n"
    )


def planned_line(plan: PlannedWrite) -> str:
    """One line for people: what the write would do. Nothing was written."""
    amount = size(plan.size)
    if plan.operation == "download":
        check = "verified" if plan.verified else "NOT verifiable: no recorded SHA-256"
        what = f"would download {plan.source} ({amount}) to {plan.target} ({check})"
    elif plan.action == "identical":
        what = f"{plan.target} already holds this content: the upload would write nothing"
    else:
        verb = "upload" if plan.operation == "upload" else "copy"
        outcome = "a new object" if plan.action == "create" else _replacing(plan)
        what = f"would {verb} {plan.source} ({amount}) to {plan.target} ({outcome})"
    return f"{printable(what)}. Nothing was written (--dry-run)."


def _replacing(plan: PlannedWrite) -> str:
    return (
        f"replacing version {plan.replaced_version_id}"
        if plan.replaced_version_id
        else "replacing the object there"
    )


def replaced_note(result: UploadResult | PromotionResult) -> str:
    """ "  (replaced version V)" after a silver or gold write that replaced an object."""
    if not result.replaced:
        return ""
    if result.replaced_version_id:
        return f"  (replaced version {result.replaced_version_id})"
    return "  (replaced the object there: the bucket keeps no versions)"
