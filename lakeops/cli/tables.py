"""The table commands: ``tables``, ``table``, ``history``, ``rollback``, ``expire``, and
``verify LAYER NAMESPACE.TABLE``. Their grammar is added to the parser by
:func:`add_table_commands`; :class:`TableCommand` runs them (and every other command, through
:class:`~lakeops.cli.commands.Command`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from lakeops.cli.commands import Command
from lakeops.cli.exits import EXIT_DRIFT, EXIT_OK, UsageError
from lakeops.cli.output import size, table
from lakeops.layout import StorageLayer

TABLE_COMMANDS = ("tables", "table", "history", "rollback", "expire")
TABLE_LAYERS = "silver or gold (or their buckets: staging, curated)"
NAME_HELP = "the table: NAMESPACE.TABLE, the namespace one of the layer's prefixes (cleaned.users)"


def add_table_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the table commands with the parser's own ``command(name, summary, usage)``."""
    tables = command("tables", "List a layer's tables.", "lakeops tables LAYER")
    tables.add_argument("layer", metavar="LAYER", help=f"the layer: {TABLE_LAYERS}")

    one = command(
        "table",
        "Show a table: schema, partitioning, location, current snapshot, files, rows.",
        "lakeops table LAYER NAME",
    )
    _layer_and_name(one)

    history = command(
        "history",
        "List a table's snapshots: time, operation, rows added and removed, lineage.",
        "lakeops history LAYER NAME",
    )
    _layer_and_name(history)
    history.add_argument(
        "--trace",
        action="store_true",
        help="follow the current snapshot's inputs through every table down to the objects "
        "and datasets they read",
    )

    rollback = command(
        "rollback",
        "Make an earlier snapshot of a table current again (one commit; no file changes).",
        "lakeops rollback LAYER NAME SNAPSHOT_ID",
    )
    _layer_and_name(rollback)
    rollback.add_argument("snapshot_id", type=int, metavar="SNAPSHOT_ID", help="see `history`")

    expire = command(
        "expire",
        "Expire a table's old snapshots and delete the files only they referenced.",
        "lakeops expire LAYER NAME --older-than DURATION [--retain-last N]",
    )
    _layer_and_name(expire)
    expire.add_argument(
        "--older-than",
        required=True,
        metavar="DURATION",
        help="expire snapshots older than this: 7d, 12h, 30m, 2w (0s: all but the kept ones)",
    )
    expire.add_argument(
        "--retain-last",
        type=int,
        default=1,
        metavar="N",
        help="keep at least the N latest snapshots, however old (1)",
    )


def _layer_and_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("layer", metavar="LAYER", help=f"the layer: {TABLE_LAYERS}")
    parser.add_argument("name", metavar="NAME", help=NAME_HELP)


def names_a_table(words: list[str]) -> bool:
    """``verify LAYER NAMESPACE.TABLE``: a declared namespace, a dot, and no '/'. A dataset's
    prefix always has a '/' after its first part (``cleaned/users/``), so the two never meet."""
    if len(words) != 2 or "/" in words[1] or "." not in words[1]:
        return False
    try:
        layer = StorageLayer.parse(words[0])
    except Exception:
        return False
    from lakeops.tables.names import namespaces

    return layer is not StorageLayer.BRONZE and words[1].partition(".")[0] in namespaces(layer)


class TableCommand(Command):
    def tables(self) -> int:
        names = self.lake().tables(self.args.layer)
        if self.args.json:
            self.emit(names)
        elif names:
            self.out.write("".join(f"{name}\n" for name in names))
        else:
            self.err.write(f"lakeops: {self.args.layer} has no tables yet.\n")
        return EXIT_OK

    def table(self) -> int:
        info = self.lake().describe_table(self.args.layer, self.args.name)
        if self.args.json:
            self.emit(info)
            return EXIT_OK
        rows: list[tuple[str, str]] = [
            ("table", f"{info.layer} {info.name}"),
            ("catalog name", info.identifier),
            ("location", info.location),
            ("current snapshot", str(info.current_snapshot_id or "none (empty)")),
            ("last updated", info.last_updated),
            ("snapshots", str(info.snapshots)),
            ("data files", str(info.files)),
            ("rows", str(info.rows)),
            ("size", size(info.bytes)),
            ("partitioning", ", ".join(info.partitioning) or "none"),
            *(
                (f"column {c['name']}", f"{c['type']}{' (required)' if c['required'] else ''}")
                for c in info.schema
            ),
        ]
        table(rows, ("FIELD", "VALUE"), self.out)
        return EXIT_OK

    def history(self) -> int:
        lake = self.lake()
        if self.args.trace:
            traced = lake.table_lineage(self.args.layer, self.args.name)
            if self.args.json:
                self.emit(traced)
            else:
                _print_trace(traced, self.out.write)
            return EXIT_OK
        entries = lake.table_history(self.args.layer, self.args.name)
        if self.args.json:
            self.emit(entries)
            return EXIT_OK
        rows = [
            (
                entry.snapshot_id,
                entry.time,
                entry.operation,
                f"+{entry.rows_added}",
                f"-{entry.rows_removed}",
                entry.rows,
                "current" if entry.current else "",
                _lineage_line(entry.inputs, entry.role),
            )
            for entry in entries
        ]
        table(
            rows,
            ("SNAPSHOT", "TIME", "OPERATION", "ADDED", "REMOVED", "ROWS", "", "FROM"),
            self.out,
        )
        return EXIT_OK

    def rollback(self) -> int:
        entry = self.lake().rollback_table(self.args.layer, self.args.name, self.args.snapshot_id)
        return self.finish(
            entry,
            f"{self.args.layer} {self.args.name}: snapshot {entry.snapshot_id} ({entry.time}, "
            f"{entry.rows} rows) is current",
        )

    def expire(self) -> int:
        if self.args.retain_last < 1:
            raise UsageError(
                "--retain-last must be at least 1.", hint="The current snapshot stays."
            )
        result = self.lake().expire_snapshots(
            self.args.layer,
            self.args.name,
            older_than=self.args.older_than,
            retain_last=self.args.retain_last,
        )
        return self.finish(
            result,
            f"{self.args.layer} {self.args.name}: expired {len(result.expired)} snapshots, kept "
            f"{len(result.retained)}; deleted {len(result.deleted_files)} files no snapshot "
            "references",
        )

    def verify(self) -> int:
        words = list(self.words._words)
        if not names_a_table(words):
            return super().verify()
        report = self.lake().verify_table(words[0], words[1], deep=self.args.deep)
        if self.args.json:
            self.emit({"ok": report.ok, **_plain(report)})
        else:
            bad = [(row.path, row.result, row.detail) for row in report.rows if not row.ok]
            if bad:
                table(bad, ("FILE", "RESULT", "DETAIL"), self.out)
                self.out.write("\n")
            self.out.write(f"{report.table}: {report.summary()}\n")
        return EXIT_OK if report.ok else EXIT_DRIFT


def _plain(value: Any) -> dict[str, Any]:
    from lakeops.cli.output import jsonable

    found = jsonable(value)
    assert isinstance(found, dict)
    return found


def _lineage_line(inputs: list[dict[str, str]], role: str | None) -> str:
    shown = []
    for item in inputs:
        if item.get("kind") == "table":
            shown.append(f"{item.get('layer')} {item.get('name')}@{item.get('version')}")
        else:
            version = item.get("version")
            shown.append(f"{item.get('uri')}{f'?versionId={version}' if version else ''}")
    by = f" (as {role})" if role else ""
    return (", ".join(shown) or "-") + by


def _print_trace(node: Any, write: Callable[[str], Any], depth: int = 0) -> None:
    source = node.source
    if source.kind == "table":
        what = f"table {source.layer} {source.name} snapshot {source.version}"
    else:
        what = f"{source.kind} {source.uri}" + (
            f" version {source.version}" if source.version else ""
        )
    write(f"{'  ' * depth}{'- ' if depth else ''}{what}{f'  ({node.note})' if node.note else ''}\n")
    for child in node.inputs:
        _print_trace(child, write, depth + 1)
