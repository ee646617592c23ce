"""How results are shown: aligned tables and sizes for people, JSON for scripts."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TextIO


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dataclasses as objects, times as ISO 8601."""
    if hasattr(value, "to_json"):
        value = value.to_json()
    elif is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return (
        value.value if isinstance(value, Enum) else str(value) if isinstance(value, Path) else value
    )


def emit(document: Any, out: TextIO) -> None:
    out.write(json.dumps(jsonable(document), indent=2) + "\n")


def size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


# Control characters (C0, DEL, C1) and lone surrogates: a key another tool wrote may hold
# any of them, and printed raw they would move the cursor or recolour the terminal.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with its unprintable characters shown as escapes (``\x1b``)."""
    return _UNPRINTABLE.sub(lambda found: ascii(found.group())[1:-1], text)


def table(rows: Sequence[Sequence[object]], headers: Sequence[str], out: TextIO) -> None:
    table_of(lambda: rows, headers, out)


def table_of(
    rows: Callable[[], Iterable[Sequence[object]]], headers: Sequence[str], out: TextIO
) -> None:
    """An aligned table of the rows ``rows()`` gives, called twice (widths first, then the
    lines), so that a plan of millions of rows is never held as text all at once."""
    widths = [len(h) for h in headers]
    for row in rows():
        widths = [max(w, len(printable(str(c)))) for w, c in zip(widths, row, strict=True)]
    for line in itertools.chain([headers], rows()):
        cells = (printable(str(c)).ljust(w) for c, w in zip(line, widths, strict=True))
        out.write("  ".join(cells).rstrip() + "\n")


def emit_with_items(document: Mapping[str, Any], items: Iterable[Any], out: TextIO) -> None:
    """``document`` as JSON with an ``items`` list written one item at a time."""
    head = json.dumps({**jsonable(document), "items": []}, indent=2)
    out.write(head.removesuffix("[]\n}"))
    emit_list(items, out, indent="  ")
    out.write("}\n")


def emit_list(items: Iterable[Any], out: TextIO, *, indent: str = "") -> None:
    """A JSON list written one item (one line) at a time, so that millions of items never sit
    in memory at once."""
    out.write("[")
    for index, item in enumerate(items):
        out.write(("," if index else "") + f"\n{indent}  " + json.dumps(jsonable(item)))
    out.write(f"\n{indent}]\n")
