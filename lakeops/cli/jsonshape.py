"""One JSON schema for every command (docs/reference.md, "JSON output"): snake_case names,
ETags without S3's quotes, times in ISO 8601, no raw server responses; listings as NDJSON, one
entry per line with a ``type``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import fields
from typing import Any, TextIO

from lakeops.cli.output import jsonable
from lakeops.datasets.results import DatasetResult


def shaped(value: Any) -> Any:
    """``value`` as the documented JSON: plain types, then the schema's rules applied."""
    return _tidy(jsonable(value))


def _tidy(value: Any) -> Any:
    if isinstance(value, list):
        return [_tidy(item) for item in value]
    if not isinstance(value, dict):
        return value
    tidy = {}
    for name, item in value.items():
        # stat's raw HEAD response: request ids and every header, nothing a script should
        # depend on (the fields it needs are all named beside it).
        if name == "head" and "uri" in value and "etag" in value:
            continue
        if name == "metadata":  # the caller's own names and values, kept as they are
            tidy[name] = item
            continue
        etag = (name == "etag" or name.endswith("_etag")) and isinstance(item, str)
        tidy[name] = unquoted_etag(item) if etag else _tidy(item)
    return tidy


def unquoted_etag(etag: str) -> str:
    """S3 sends an ETag in double quotes (it is an HTTP entity tag); JSON gives it bare."""
    return etag.strip('"')


def listed_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A listing entry of S3's (``Key``, ``Size``, ...), or a roll-up (``Prefix``), as one
    line of ``ls --json``."""
    if "Prefix" in entry:
        return {"type": "prefix", "key": entry["Prefix"]}
    return {
        "type": "object",
        "key": entry["Key"],
        "size": entry["Size"],
        "last_modified": jsonable(entry.get("LastModified")),
        "etag": unquoted_etag(str(entry.get("ETag", ""))),
        "storage_class": entry.get("StorageClass"),
    }


def dataset_document(result: DatasetResult) -> dict[str, Any]:
    """A dataset job's result without its items. ``published`` says whether the dataset is
    published once the job is done; ``already_published`` that an identical manifest was there
    and nothing needed writing (the text says "already published, identical")."""
    document = {f.name: getattr(result, f.name) for f in fields(result) if f.name != "items"}
    already = bool(result.manifest_uri) and not result.published and not result.dry_run
    document["published"] = result.published or already
    document["already_published"] = already
    return dict(shaped(document))


def emit_ndjson(items: Iterable[Any], out: TextIO) -> None:
    """One compact JSON document per line, written as each comes."""
    for item in items:
        out.write(json.dumps(shaped(item)) + "\n")
