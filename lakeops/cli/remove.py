"""``lakeops rm``: shown for people or as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakeops.cli.exits import EXIT_OK
from lakeops.cli.output import emit, printable, size
from lakeops.datasets.results import plural

if TYPE_CHECKING:
    from lakeops.cli.commands import Command


def rm(command: Command) -> int:
    args = command.args
    place = command.words.place("LAYER KEY")
    command.words.done()
    lake = command.lake()
    result = lake.remove(place.layer, place.key, recursive=args.recursive, dry_run=args.dry_run)
    if args.json:
        emit(result, command.out)
        return EXIT_OK
    out = command.out
    verb = "would remove" if result.dry_run else "removed"
    bucket = result.target[5:].split("/", 1)[0]
    for key in result.keys:
        out.write(f"{verb}: {printable(f's3://{bucket}/{key}')}\n")
    for dataset in result.unpublished:
        out.write(f"{'would unpublish' if result.dry_run else 'unpublished'}: {dataset}\n")
    summary = f"{verb} {plural(len(result.keys), 'object')} ({size(result.bytes)})"
    if result.dry_run:
        out.write(f"{summary}. Nothing was removed (--dry-run).\n")
    elif result.delete_markers is False:
        out.write(f"{summary}, for good: the bucket keeps no versions.\n")
    else:
        out.write(
            f"{summary}: each removal added a delete marker; the old versions stay "
            "recoverable (`lakeops versions LAYER KEY`, then `download --version-id`).\n"
        )
    return EXIT_OK
