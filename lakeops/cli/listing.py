"""``lakeops ls``: one level at a time with ``PRE prefix/`` roll-ups (as aws-cli and mc list),
everything with ``--recursive``, wildcards in the last part of the path (as s5cmd and mc take
them), and a total with ``--summarize``. With ``--json``: NDJSON, one entry per line, each with
a ``type`` (docs/reference.md, "JSON output")."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, TextIO

from lakeops.cli.exits import UsageError
from lakeops.cli.jsonshape import listed_entry
from lakeops.cli.output import printable, size
from lakeops.redaction import quoted

WILDCARDS = ("*", "?")
# The width of an object line's time and size columns, under which "PRE" stands right-aligned.
_COLUMNS = len("2024-01-01 00:00:00") + 2 + 10


@dataclass(frozen=True)
class Selection:
    """What ``ls`` asks the server for, and which of the answers it shows."""

    prefix: str  # the listing's prefix: up to the first wildcard
    parent: str  # everything up to the last '/', with it
    pattern: str | None  # the glob the rest of each key must match, if any
    recursive: bool

    @classmethod
    def of(cls, typed: str, *, recursive: bool) -> Selection:
        parent, slash, last = typed.rpartition("/")
        parent += slash
        if any(w in parent for w in WILDCARDS):
            raise UsageError(
                f"wildcards are taken in the last part of the path only, not in {quoted(parent)}.",
                hint="Put the wildcard after the last '/' (files/2024-*.csv), or list the parent "
                "with --recursive and filter it with a wildcard (ls -r bronze 'files/*.csv').",
            )
        if not any(w in last for w in WILDCARDS):
            return cls(typed, parent, None, recursive)
        literal = last[: min(last.find(w) for w in WILDCARDS if w in last)]
        return cls(parent + literal, parent, last, recursive)

    def shows(self, entry: dict[str, Any]) -> bool:
        if self.pattern is None:
            return True
        name = (entry.get("Key") or entry["Prefix"])[len(self.parent) :]
        # One level: a roll-up "dir/" matches as "dir". Recursively, '*' also crosses '/', as
        # in s5cmd and in the dataset filters (ls -r bronze 'files/*.csv' finds them all).
        return fnmatchcase(name if self.recursive else name.rstrip("/"), self.pattern)


@dataclass
class Totals:
    objects: int = 0
    bytes: int = 0


def write_listing(
    entries: Iterable[dict[str, Any]], out: TextIO, *, as_json: bool, summarize: bool
) -> Totals:
    """Each entry on its own line, as it comes (millions never sit in memory), then the totals
    when asked for."""
    totals = Totals()
    for entry in entries:
        if "Prefix" not in entry:
            totals.objects += 1
            totals.bytes += int(entry["Size"])
        out.write(_json_line(entry) if as_json else _human_line(entry))
    if summarize:
        if as_json:
            summary = {"type": "summary", "objects": totals.objects, "bytes": totals.bytes}
            out.write(json.dumps(summary) + "\n")
        else:
            out.write(
                f"\nTotal Objects: {totals.objects}\n   Total Size: {totals.bytes} "
                f"({size(totals.bytes)})\n"
            )
    return totals


def _json_line(entry: dict[str, Any]) -> str:
    return json.dumps(listed_entry(entry)) + "\n"


def _human_line(entry: dict[str, Any]) -> str:
    if "Prefix" in entry:
        return f"{'PRE':>{_COLUMNS}}  {printable(entry['Prefix'])}\n"
    when = entry["LastModified"].strftime("%Y-%m-%d %H:%M:%S")
    return f"{when}  {size(entry['Size']):>10}  {printable(entry['Key'])}\n"


def selected(entries: Iterator[dict[str, Any]], selection: Selection) -> Iterator[dict[str, Any]]:
    return (entry for entry in entries if selection.shows(entry))
