"""Writers in processes of their own, appending to one table at once, each recording what it
committed and what it lost to another writer (a TableCommitConflictError), for the tests to
compare with what the table holds."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pandas as pd

from lakeops import Lake, LakeConfig, StorageLayer, TableCommitConflictError


def frame(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": ids, "email": [f"user{i}@example.com" for i in ids], "country": ["GB"] * len(ids)}
    )


def _append(settings: dict[str, Any], name: str, writer: int, count: int, record: str) -> None:
    lake = Lake(LakeConfig.resolve(**settings))
    outcome: dict[str, list[int]] = {"committed": [], "conflicts": []}
    for n in range(count):
        row = writer * 1000 + n
        try:
            lake.write_table(StorageLayer.SILVER, name, frame([row]))
        except TableCommitConflictError:
            outcome["conflicts"].append(row)
        else:
            outcome["committed"].append(row)
    Path(record).write_text(json.dumps(outcome))


def append_at_once(
    settings: dict[str, Any], name: str, folder: Path, *, writers: int = 2, count: int = 6
) -> dict[str, list[int]]:
    """Run ``writers`` processes appending ``count`` one-row batches each; return every row
    committed and every row refused as a conflict."""
    context = multiprocessing.get_context("spawn")
    records = [folder / f"writer-{n}.json" for n in range(1, writers + 1)]
    processes = [
        context.Process(target=_append, args=(settings, name, n, count, str(records[n - 1])))
        for n in range(1, writers + 1)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    codes = [process.exitcode for process in processes]
    if codes != [0] * writers:
        raise AssertionError(f"a writer failed otherwise than by a conflict: exit codes {codes}")
    total: dict[str, list[int]] = {"committed": [], "conflicts": []}
    for record in records:
        outcome = json.loads(record.read_text())
        for key in total:
            total[key] += outcome[key]
    return total


def check_nothing_lost(
    lake: Lake, name: str, before: list[int], outcome: dict[str, list[int]]
) -> None:
    """Every committed row is in the table, no refused one is, and the history is one chain."""
    ids = sorted(lake.read_table(StorageLayer.SILVER, name)["id"].to_pylist())
    assert ids == sorted(before + outcome["committed"])
    # Most commits got in; a refusal is allowed only as the clear conflict error.
    assert len(outcome["committed"]) > len(outcome["conflicts"])
    history = lake.table_history(StorageLayer.SILVER, name)
    assert len(history) == 1 + len(outcome["committed"])
    assert [h.parent_id for h in history[1:]] == [h.snapshot_id for h in history[:-1]]
    assert lake.verify_table(StorageLayer.SILVER, name).ok
